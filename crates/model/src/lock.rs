//! Object Lock: a bucket's default retention, each version's retention and legal hold, and
//! the rules that keep a locked version from being deleted or its protection weakened.

use serde::{Deserialize, Serialize};

use crate::Versioning;

const DAY_MS: i64 = 86_400_000;
/// AWS's longest default retention: 100 years, 36500 days.
const MAX_DAYS: u32 = 36_500;
const MAX_YEARS: u32 = 100;

/// GOVERNANCE: lifted or shortened by who may bypass it. COMPLIANCE: by no one, until it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RetentionMode {
    Governance,
    Compliance,
}

impl RetentionMode {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Governance => "GOVERNANCE",
            Self::Compliance => "COMPLIANCE",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GOVERNANCE" => Some(Self::Governance),
            "COMPLIANCE" => Some(Self::Compliance),
            _ => None,
        }
    }
}

/// A version's retention: it may not be deleted before `until_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub mode: RetentionMode,
    pub until_ms: i64,
}

/// A bucket's default retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Days(u32),
    Years(u32),
}

impl Period {
    fn ms(self) -> i64 {
        match self {
            Self::Days(d) => i64::from(d) * DAY_MS,
            Self::Years(y) => i64::from(y) * 365 * DAY_MS,
        }
    }
}

/// A bucket's Object Lock configuration; a bucket has one once Object Lock is enabled (for
/// good: it cannot be turned off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockConfig {
    /// The retention new versions get when their write names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<(RetentionMode, Period)>,
}

/// What Object Lock refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// Deleting a version under retention or legal hold, or weakening a retention.
    #[error("Access Denied because object protected by object lock.")]
    Protected,
    #[error("Bucket is missing Object Lock Configuration")]
    NotEnabled,
    /// Object Lock needs versioning enabled, and keeps it so.
    #[error("{0}")]
    BucketState(&'static str),
    #[error("{0}")]
    Invalid(&'static str),
}

impl LockConfig {
    /// A default retention as PutObjectLockConfiguration gives it: a mode and exactly one of a
    /// positive number of days or years.
    pub fn with_default(mode: RetentionMode, days: Option<i32>, years: Option<i32>) -> Result<Self, LockError> {
        let positive = |n: i32, max: u32| u32::try_from(n).ok().filter(|n| (1..=max).contains(n));
        let period = match (days, years) {
            (Some(d), None) => Period::Days(positive(d, MAX_DAYS).ok_or(LockError::Invalid(
                "Default retention period must be a positive integer value.",
            ))?),
            (None, Some(y)) => Period::Years(positive(y, MAX_YEARS).ok_or(LockError::Invalid(
                "Default retention period must be a positive integer value.",
            ))?),
            _ => {
                return Err(LockError::Invalid(
                    "A default retention needs either Days or Years, not both.",
                ));
            }
        };
        Ok(Self {
            default: Some((mode, period)),
        })
    }

    /// The retention a new version gets at `now_ms` when its write names none.
    #[must_use]
    pub fn default_retention(&self, now_ms: i64) -> Option<Retention> {
        self.default.map(|(mode, period)| Retention {
            mode,
            until_ms: now_ms.saturating_add(period.ms()),
        })
    }

    /// As stored on the bucket's shard (`''`: Object Lock not enabled).
    #[must_use]
    pub fn encode(config: Option<&Self>) -> String {
        config.map_or_else(String::new, |c| serde_json::to_string(c).unwrap_or_default())
    }

    pub fn decode(stored: &str) -> Result<Option<Self>, serde_json::Error> {
        if stored.is_empty() {
            Ok(None)
        } else {
            serde_json::from_str(stored).map(Some)
        }
    }
}

/// Object Lock needs versioning enabled, and keeps it enabled.
pub fn check_versioning(versioning: Versioning, locked: bool) -> Result<(), LockError> {
    match (locked, versioning) {
        (true, Versioning::Enabled) | (false, _) => Ok(()),
        (true, _) => Err(LockError::BucketState(
            "Object Lock configuration cannot be enabled on existing buckets unless versioning is enabled; \
             versioning cannot be suspended on a bucket with Object Lock.",
        )),
    }
}

/// A version's protection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionLock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legal_hold: bool,
}

impl VersionLock {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.retention.is_none() && !self.legal_hold
    }

    /// Whether the version may be deleted at `now_ms`; `bypass`: the request bypasses
    /// GOVERNANCE retention (and may).
    pub fn may_delete(&self, now_ms: i64, bypass: bool) -> Result<(), LockError> {
        let retained = self.retention.filter(|r| r.until_ms > now_ms);
        match (self.legal_hold, retained) {
            (true, _)
            | (
                false,
                Some(Retention {
                    mode: RetentionMode::Compliance,
                    ..
                }),
            ) => Err(LockError::Protected),
            (false, Some(_)) if !bypass => Err(LockError::Protected),
            _ => Ok(()),
        }
    }

    /// Whether the retention may become `new` (`None`: removed) at `now_ms`. Extending is always
    /// allowed; shortening, removing or changing the mode only of an expired retention, or of a
    /// GOVERNANCE one with `bypass`.
    pub fn may_retain(&self, new: Option<&Retention>, now_ms: i64, bypass: bool) -> Result<(), LockError> {
        let Some(old) = self.retention.filter(|r| r.until_ms > now_ms) else {
            return Ok(());
        };
        let stronger = new
            .is_some_and(|n| n.until_ms >= old.until_ms && (n.mode == old.mode || n.mode == RetentionMode::Compliance));
        match old.mode {
            _ if stronger => Ok(()),
            RetentionMode::Governance if bypass => Ok(()),
            _ => Err(LockError::Protected),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000_000;

    fn retained(mode: RetentionMode, for_ms: i64) -> VersionLock {
        VersionLock {
            retention: Some(Retention {
                mode,
                until_ms: NOW + for_ms,
            }),
            legal_hold: false,
        }
    }

    #[test]
    fn locked_versions_are_not_deleted() {
        let g = retained(RetentionMode::Governance, 1000);
        let c = retained(RetentionMode::Compliance, 1000);
        assert_eq!(g.may_delete(NOW, false), Err(LockError::Protected));
        assert_eq!(g.may_delete(NOW, true), Ok(()));
        assert_eq!(c.may_delete(NOW, true), Err(LockError::Protected));
        // Expired retention protects nothing; a legal hold protects until lifted.
        assert_eq!(c.may_delete(NOW + 1000, false), Ok(()));
        let held = VersionLock {
            retention: None,
            legal_hold: true,
        };
        assert_eq!(held.may_delete(NOW, true), Err(LockError::Protected));
        assert_eq!(VersionLock::default().may_delete(NOW, false), Ok(()));
    }

    #[test]
    fn compliance_is_never_weakened_governance_only_with_bypass() {
        let until = |mode, ms| Retention {
            mode,
            until_ms: NOW + ms,
        };
        let c = retained(RetentionMode::Compliance, 1000);
        assert_eq!(
            c.may_retain(Some(&until(RetentionMode::Compliance, 2000)), NOW, false),
            Ok(())
        );
        for weaker in [
            Some(until(RetentionMode::Compliance, 500)),
            Some(until(RetentionMode::Governance, 5000)),
            None,
        ] {
            assert_eq!(c.may_retain(weaker.as_ref(), NOW, true), Err(LockError::Protected));
        }
        let g = retained(RetentionMode::Governance, 1000);
        assert_eq!(
            g.may_retain(Some(&until(RetentionMode::Governance, 2000)), NOW, false),
            Ok(())
        );
        assert_eq!(
            g.may_retain(Some(&until(RetentionMode::Compliance, 1000)), NOW, false),
            Ok(())
        );
        assert_eq!(g.may_retain(None, NOW, false), Err(LockError::Protected));
        assert_eq!(g.may_retain(None, NOW, true), Ok(()));
        assert_eq!(
            g.may_retain(Some(&until(RetentionMode::Governance, 10)), NOW, true),
            Ok(())
        );
    }

    #[test]
    fn default_retention_is_checked_and_applied() {
        let c = LockConfig::with_default(RetentionMode::Governance, Some(2), None).unwrap();
        assert_eq!(c.default_retention(NOW).unwrap().until_ms, NOW + 2 * DAY_MS);
        let y = LockConfig::with_default(RetentionMode::Compliance, None, Some(1)).unwrap();
        assert_eq!(y.default_retention(NOW).unwrap().until_ms, NOW + 365 * DAY_MS);
        for (d, y) in [
            (Some(0), None),
            (None, Some(-1)),
            (Some(1), Some(1)),
            (None, None),
            (Some(36_501), None),
        ] {
            assert!(
                LockConfig::with_default(RetentionMode::Governance, d, y).is_err(),
                "{d:?} {y:?}"
            );
        }
        assert_eq!(LockConfig::decode(&LockConfig::encode(Some(&c))).unwrap(), Some(c));
        assert_eq!(LockConfig::decode("").unwrap(), None);
        assert!(check_versioning(Versioning::Suspended, true).is_err());
        assert!(check_versioning(Versioning::Enabled, true).is_ok());
    }
}
