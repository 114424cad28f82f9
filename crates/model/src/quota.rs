//! Capacity quotas on a bucket or an account, and what they are measured against.
//!
//! Usage counts every stored version (noncurrent ones included: they take space) and its
//! bytes; delete markers and incomplete multipart uploads' parts count as nothing, and parts
//! are checked against the bytes limit as they arrive. A write is admitted when what is stored
//! plus what it adds stays within every limit; an overwrite counts as an addition, as in Ceph
//! RGW, since its predecessor may stay (versioning) or go only once the write commits.

use serde::{Deserialize, Serialize};

/// Limits on a bucket or an account; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Quota {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_objects: Option<u64>,
}

/// What a bucket or an account holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub objects: u64,
    pub bytes: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Self) {
        self.objects = self.objects.saturating_add(other.objects);
        self.bytes = self.bytes.saturating_add(other.bytes);
    }
}

/// A write that would take usage past a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {scope}'s quota of {limit} {unit} would be exceeded ({used} stored, {adding} more asked for)")]
pub struct Exceeded {
    /// `bucket` or `account`.
    pub scope: &'static str,
    /// `bytes` or `objects`.
    pub unit: &'static str,
    pub limit: u64,
    pub used: u64,
    pub adding: u64,
}

impl Quota {
    /// No limit at all.
    pub fn is_unlimited(&self) -> bool {
        self.max_bytes.is_none() && self.max_objects.is_none()
    }

    /// Whether `used` plus `adding` stays within every limit of this `scope`'s quota.
    pub fn admits(&self, scope: &'static str, used: Usage, adding: Usage) -> Result<(), Exceeded> {
        let checks = [
            ("bytes", self.max_bytes, used.bytes, adding.bytes),
            ("objects", self.max_objects, used.objects, adding.objects),
        ];
        for (unit, limit, used, adding) in checks {
            // A write adding nothing of a unit is never refused for it: deleting and shrinking
            // stay possible over a limit lowered below what is stored.
            if let Some(limit) = limit.filter(|_| adding > 0)
                && used.saturating_add(adding) > limit
            {
                return Err(Exceeded {
                    scope,
                    unit,
                    limit,
                    used,
                    adding,
                });
            }
        }
        Ok(())
    }

    /// The stored form (`''` for no limit), as a column keeps it.
    pub fn encode(&self) -> String {
        if self.is_unlimited() {
            String::new()
        } else {
            serde_json::to_string(self).expect("a quota always serializes")
        }
    }

    pub fn decode(text: &str) -> Result<Self, serde_json::Error> {
        if text.is_empty() {
            Ok(Self::default())
        } else {
            serde_json::from_str(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn usage(objects: u64, bytes: u64) -> Usage {
        Usage { objects, bytes }
    }

    #[test]
    fn admits_up_to_each_limit_and_not_past_it() {
        let q = Quota {
            max_bytes: Some(100),
            max_objects: Some(2),
        };
        assert_eq!(q.admits("bucket", usage(1, 40), usage(1, 60)), Ok(()));
        let e = q.admits("bucket", usage(1, 40), usage(1, 61)).unwrap_err();
        assert_eq!((e.unit, e.limit, e.used, e.adding), ("bytes", 100, 40, 61));
        let e = q.admits("account", usage(2, 0), usage(1, 0)).unwrap_err();
        assert_eq!((e.scope, e.unit), ("account", "objects"));
        assert_eq!(
            e.to_string(),
            "the account's quota of 2 objects would be exceeded (2 stored, 1 more asked for)"
        );
    }

    #[test]
    fn a_write_adding_nothing_of_a_unit_passes_a_limit_already_passed() {
        let q = Quota {
            max_bytes: Some(10),
            max_objects: Some(1),
        };
        // A part (bytes, no object) in a bucket over its object limit; an empty object in a
        // bucket over its bytes limit is still an object.
        assert_eq!(q.admits("bucket", usage(5, 0), usage(0, 10)), Ok(()));
        assert!(q.admits("bucket", usage(0, 50), usage(1, 0)).is_ok());
        assert!(q.admits("bucket", usage(1, 50), usage(1, 0)).is_err());
        assert_eq!(
            Quota::default().admits("bucket", usage(u64::MAX, u64::MAX), usage(1, 1)),
            Ok(())
        );
    }

    #[test]
    fn round_trips_its_stored_form() {
        assert_eq!(Quota::default().encode(), "");
        assert_eq!(Quota::decode("").unwrap(), Quota::default());
        let q = Quota {
            max_bytes: None,
            max_objects: Some(7),
        };
        assert_eq!(q.encode(), r#"{"max_objects":7}"#);
        assert_eq!(Quota::decode(&q.encode()).unwrap(), q);
    }
}
