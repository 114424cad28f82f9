//! Lifecycle rules: which objects, versions and uploads of a bucket expire, and when. The
//! rules are checked here as S3 checks a PutBucketLifecycleConfiguration, and evaluated here
//! for the gateways that run them and for the `x-amz-expiration` answers.
//!
//! Times are in milliseconds; a "day" is a parameter (86 400 000 in production, shorter in
//! tests), and an expiry falls on the first day boundary (midnight UTC) at or after its
//! due time, as in S3.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A day, unless the cluster shortens it.
pub const DAY_MS: i64 = 86_400_000;
/// Rules one configuration may hold, as in S3.
pub const MAX_RULES: usize = 1000;
/// Longest rule id, as in S3.
pub const MAX_ID_LEN: usize = 255;
/// Most noncurrent versions a rule may keep, as in S3.
pub const MAX_NEWER_NONCURRENT: u32 = 100;

/// A bucket's lifecycle configuration: its rules, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub rules: Vec<Rule>,
}

/// One rule: what it applies to and what it does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rule {
    pub id: String,
    pub enabled: bool,
    pub filter: Filter,
    pub expiration: Option<Expiration>,
    pub noncurrent: Option<NoncurrentExpiration>,
    /// Days after initiation an incomplete multipart upload is aborted.
    pub abort_upload_days: Option<u32>,
}

/// Which objects a rule applies to: all of these hold (an empty filter: every object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Filter {
    pub prefix: String,
    pub tags: BTreeMap<String, String>,
    /// Only objects larger than this many bytes.
    pub size_greater_than: Option<u64>,
    /// Only objects smaller than this many bytes.
    pub size_less_than: Option<u64>,
}

/// When current objects expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiration {
    /// Days after the object was written.
    Days(u32),
    /// On this date (midnight UTC, in milliseconds).
    Date(i64),
    /// Remove a delete marker that is the only version of its key left.
    ExpiredDeleteMarker,
}

/// When noncurrent versions expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentExpiration {
    /// Days after the version stopped being current.
    pub days: u32,
    /// How many of the newest noncurrent versions are kept whatever their age.
    pub newer_versions: Option<u32>,
}

/// Why S3 refuses a lifecycle configuration; each variant is one S3 error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// `MalformedXML`: the document's shape is wrong.
    #[error("{0}")]
    Malformed(String),
    /// `InvalidArgument`: a value out of its range.
    #[error("{0}")]
    InvalidArgument(String),
    /// `InvalidRequest`: a combination S3 does not allow.
    #[error("{0}")]
    InvalidRequest(String),
    /// `NotImplemented`: transitions (this service has no storage classes).
    #[error("{0}")]
    Transition(String),
}

/// What a version is, as rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub key: &'a str,
    pub size: u64,
    pub tags: &'a BTreeMap<String, String>,
}

/// The first day boundary at or after `due_ms`.
#[must_use]
pub fn day_boundary(due_ms: i64, day_ms: i64) -> i64 {
    let day_ms = day_ms.max(1);
    due_ms
        .div_euclid(day_ms)
        .saturating_add(i64::from(due_ms.rem_euclid(day_ms) != 0))
        * day_ms
}

/// When something that started at `since_ms` is `days` old, rounded up to a day boundary.
#[must_use]
pub fn after_days(since_ms: i64, days: u32, day_ms: i64) -> i64 {
    day_boundary(since_ms.saturating_add(i64::from(days).saturating_mul(day_ms)), day_ms)
}

impl Filter {
    #[must_use]
    pub fn matches(&self, s: &Subject<'_>) -> bool {
        s.key.starts_with(&self.prefix)
            && self.size_greater_than.is_none_or(|n| s.size > n)
            && self.size_less_than.is_none_or(|n| s.size < n)
            && self.tags.iter().all(|(k, v)| s.tags.get(k) == Some(v))
    }

    /// Whether only the key decides (no tag or size conditions).
    #[must_use]
    pub fn by_prefix_only(&self) -> bool {
        self.tags.is_empty() && self.size_greater_than.is_none() && self.size_less_than.is_none()
    }
}

impl Lifecycle {
    /// Checks a configuration as S3 does, giving rules without an id one.
    pub fn validated(mut self) -> Result<Self, LifecycleError> {
        if self.rules.is_empty() {
            return Err(LifecycleError::Malformed(
                "A lifecycle configuration needs at least one rule.".into(),
            ));
        }
        if self.rules.len() > MAX_RULES {
            return Err(LifecycleError::InvalidRequest(format!(
                "A lifecycle configuration holds at most {MAX_RULES} rules."
            )));
        }
        let mut ids = std::collections::HashSet::new();
        for rule in &mut self.rules {
            if rule.id.is_empty() {
                rule.id = uuid::Uuid::new_v4().simple().to_string();
            }
            if rule.id.len() > MAX_ID_LEN {
                return Err(LifecycleError::InvalidArgument(format!(
                    "ID length should not exceed allowed limit of {MAX_ID_LEN}"
                )));
            }
            if !ids.insert(rule.id.clone()) {
                return Err(LifecycleError::InvalidArgument(
                    "Rule ID must be unique. Found same ID for more than one rule".into(),
                ));
            }
            rule.check()?;
        }
        Ok(self)
    }

    fn enabled(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(|r| r.enabled)
    }

    /// When the current version described by `s`, written at `modified_ms`, expires, and by
    /// which rule: the earliest of the rules that apply (`x-amz-expiration`).
    #[must_use]
    pub fn current_expiry(&self, s: &Subject<'_>, modified_ms: i64, day_ms: i64) -> Option<(i64, &str)> {
        self.enabled()
            .filter(|r| r.filter.matches(s))
            .filter_map(|r| {
                let at = match r.expiration? {
                    Expiration::Days(days) => after_days(modified_ms, days, day_ms),
                    Expiration::Date(date) => date,
                    Expiration::ExpiredDeleteMarker => return None,
                };
                Some((at, r.id.as_str()))
            })
            .min_by_key(|(at, _)| *at)
    }

    /// Whether a delete marker of `key` that is its key's only version is removed.
    #[must_use]
    pub fn removes_lone_marker(&self, key: &str) -> bool {
        self.enabled().any(|r| {
            r.expiration == Some(Expiration::ExpiredDeleteMarker)
                && r.filter.by_prefix_only()
                && key.starts_with(&r.filter.prefix)
        })
    }

    /// Whether a noncurrent version described by `s`, noncurrent since `since_ms` and with
    /// `newer` noncurrent versions of its key newer than it, has expired at `now_ms`.
    #[must_use]
    pub fn noncurrent_expired(&self, s: &Subject<'_>, since_ms: i64, newer: u32, now_ms: i64, day_ms: i64) -> bool {
        self.enabled().filter(|r| r.filter.matches(s)).any(|r| {
            r.noncurrent.is_some_and(|n| {
                newer >= n.newer_versions.unwrap_or(0) && now_ms >= after_days(since_ms, n.days, day_ms)
            })
        })
    }

    /// When an upload of `key` initiated at `initiated_ms` is aborted, and by which rule: the
    /// earliest of the rules that apply (`x-amz-abort-date`).
    #[must_use]
    pub fn upload_abort(&self, key: &str, initiated_ms: i64, day_ms: i64) -> Option<(i64, &str)> {
        self.enabled()
            .filter(|r| key.starts_with(&r.filter.prefix))
            .filter_map(|r| Some((after_days(initiated_ms, r.abort_upload_days?, day_ms), r.id.as_str())))
            .min_by_key(|(at, _)| *at)
    }

    /// Whether any rule aborts uploads.
    #[must_use]
    pub fn aborts_uploads(&self) -> bool {
        self.enabled().any(|r| r.abort_upload_days.is_some())
    }
}

impl Rule {
    fn check(&self) -> Result<(), LifecycleError> {
        use LifecycleError as E;
        if self.expiration.is_none() && self.noncurrent.is_none() && self.abort_upload_days.is_none() {
            return Err(E::InvalidRequest(
                "At least one action needs to be specified in a rule".into(),
            ));
        }
        match self.expiration {
            Some(Expiration::Days(0)) => {
                return Err(E::InvalidArgument(
                    "'Days' for Expiration action must be a positive integer".into(),
                ));
            }
            Some(Expiration::Date(ms)) if ms.rem_euclid(DAY_MS) != 0 => {
                return Err(E::InvalidArgument("'Date' must be at midnight GMT".into()));
            }
            Some(Expiration::ExpiredDeleteMarker) if !self.filter.by_prefix_only() => {
                return Err(E::InvalidRequest(
                    "ExpiredObjectDeleteMarker cannot be specified with a tag or size filter.".into(),
                ));
            }
            _ => {}
        }
        if let Some(n) = self.noncurrent {
            if n.days == 0 {
                return Err(E::InvalidArgument(
                    "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer".into(),
                ));
            }
            if n.newer_versions.is_some_and(|v| v == 0 || v > MAX_NEWER_NONCURRENT) {
                return Err(E::InvalidArgument(format!(
                    "'NewerNoncurrentVersions' must be between 1 and {MAX_NEWER_NONCURRENT}"
                )));
            }
        }
        if self.abort_upload_days == Some(0) {
            return Err(E::InvalidArgument(
                "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer".into(),
            ));
        }
        // An upload has no tags or size yet: such a filter could not be honoured.
        if self.abort_upload_days.is_some() && !self.filter.by_prefix_only() {
            return Err(E::InvalidRequest(
                "AbortIncompleteMultipartUpload cannot be specified with Tags or object size filters.".into(),
            ));
        }
        if let (Some(gt), Some(lt)) = (self.filter.size_greater_than, self.filter.size_less_than)
            && gt >= lt
        {
            return Err(E::InvalidRequest(
                "ObjectSizeGreaterThan must be less than ObjectSizeLessThan".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str) -> Rule {
        Rule {
            id: id.into(),
            enabled: true,
            expiration: Some(Expiration::Days(1)),
            ..Rule::default()
        }
    }

    fn config(rules: Vec<Rule>) -> Result<Lifecycle, LifecycleError> {
        Lifecycle { rules }.validated()
    }

    #[test]
    fn expiry_falls_on_the_next_day_boundary() {
        // S3's example: written 2014-01-15 10:30 UTC, 3 days: expires 2014-01-19 00:00 UTC.
        let written = 1_389_781_800_000;
        assert_eq!(after_days(written, 3, DAY_MS), 1_390_089_600_000);
        assert_eq!(after_days(0, 1, DAY_MS), DAY_MS, "already on a boundary");
        assert_eq!(after_days(1500, 1, 1000), 3000);
    }

    #[test]
    fn refuses_what_s3_refuses() {
        use LifecycleError as E;
        assert!(matches!(config(vec![]), Err(E::Malformed(_))));
        assert!(matches!(
            config(vec![rule("a"); MAX_RULES + 1]),
            Err(E::InvalidRequest(_))
        ));
        assert!(matches!(config(vec![rule("a"), rule("a")]), Err(E::InvalidArgument(_))));
        assert!(matches!(
            config(vec![rule(&"x".repeat(256))]),
            Err(E::InvalidArgument(_))
        ));
        assert!(config(vec![rule(&"x".repeat(255))]).is_ok());
        let bare = Rule {
            expiration: None,
            ..rule("a")
        };
        assert!(matches!(config(vec![bare.clone()]), Err(E::InvalidRequest(_))));
        let zero = Rule {
            expiration: Some(Expiration::Days(0)),
            ..rule("a")
        };
        assert!(matches!(config(vec![zero]), Err(E::InvalidArgument(_))));
        let noon = Rule {
            expiration: Some(Expiration::Date(DAY_MS / 2)),
            ..rule("a")
        };
        assert!(matches!(config(vec![noon]), Err(E::InvalidArgument(_))));
        let mut tagged = Filter::default();
        tagged.tags.insert("k".into(), "v".into());
        let abort = Rule {
            abort_upload_days: Some(1),
            filter: tagged.clone(),
            ..bare.clone()
        };
        assert!(matches!(config(vec![abort]), Err(E::InvalidRequest(_))));
        let abort_sized = Rule {
            abort_upload_days: Some(1),
            filter: Filter {
                size_greater_than: Some(1 << 30),
                ..Filter::default()
            },
            ..bare.clone()
        };
        assert!(matches!(config(vec![abort_sized]), Err(E::InvalidRequest(_))));
        let marker = Rule {
            expiration: Some(Expiration::ExpiredDeleteMarker),
            filter: tagged,
            ..bare.clone()
        };
        assert!(matches!(config(vec![marker]), Err(E::InvalidRequest(_))));
        for newer in [0, 101] {
            let keep = Rule {
                noncurrent: Some(NoncurrentExpiration {
                    days: 1,
                    newer_versions: Some(newer),
                }),
                ..bare.clone()
            };
            assert!(matches!(config(vec![keep]), Err(E::InvalidArgument(_))));
        }
        let sizes = Rule {
            filter: Filter {
                size_greater_than: Some(10),
                size_less_than: Some(10),
                ..Filter::default()
            },
            ..rule("a")
        };
        assert!(matches!(config(vec![sizes]), Err(E::InvalidRequest(_))));
        let unnamed = config(vec![rule("")]).unwrap();
        assert_eq!(unnamed.rules[0].id.len(), 32, "a rule without an id gets one");
    }

    #[test]
    fn rules_choose_by_prefix_size_and_tags() {
        let mut tags = BTreeMap::new();
        tags.insert("class".to_owned(), "tmp".to_owned());
        let mut filter = Filter {
            prefix: "logs/".into(),
            size_greater_than: Some(10),
            ..Filter::default()
        };
        filter.tags = tags.clone();
        let lc = Lifecycle {
            rules: vec![
                Rule {
                    filter,
                    ..rule("tagged")
                },
                Rule {
                    expiration: Some(Expiration::Days(5)),
                    ..rule("all")
                },
                Rule {
                    enabled: false,
                    ..rule("off")
                },
            ],
        };
        let none = BTreeMap::new();
        let small = Subject {
            key: "logs/a",
            size: 10,
            tags: &tags,
        };
        let big = Subject { size: 11, ..small };
        let untagged = Subject { tags: &none, ..big };
        assert_eq!(lc.current_expiry(&big, 0, 1000), Some((1000, "tagged")));
        assert_eq!(lc.current_expiry(&small, 0, 1000), Some((5000, "all")));
        assert_eq!(lc.current_expiry(&untagged, 0, 1000), Some((5000, "all")));
    }

    #[test]
    fn noncurrent_versions_keep_the_newest() {
        let lc = Lifecycle {
            rules: vec![Rule {
                expiration: None,
                noncurrent: Some(NoncurrentExpiration {
                    days: 2,
                    newer_versions: Some(2),
                }),
                ..rule("nc")
            }],
        };
        let tags = BTreeMap::new();
        let s = Subject {
            key: "k",
            size: 1,
            tags: &tags,
        };
        assert!(!lc.noncurrent_expired(&s, 0, 1, 10_000, 1000), "one of the two kept");
        assert!(!lc.noncurrent_expired(&s, 0, 2, 1999, 1000), "not old enough");
        assert!(lc.noncurrent_expired(&s, 0, 2, 2000, 1000));
    }
}
