//! Bucket versioning (PutBucketVersioning) and version ids.

/// A bucket's versioning. A bucket starts unversioned: each key holds one version, the `null`
/// one, replaced by each write. Once versioning is enabled, writes add versions and deletes
/// add delete markers; it can then be suspended (writes replace the `null` version again,
/// keeping the others), never turned off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Versioning {
    #[default]
    Unversioned,
    Enabled,
    Suspended,
}

/// The version id of the versions written while a bucket was unversioned or suspended.
pub const NULL_VERSION: &str = "null";

/// A change S3 refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersioningError {
    #[error("A bucket's versioning can be Enabled or Suspended, not turned off.")]
    CannotTurnOff,
}

impl Versioning {
    /// As stored, and as GetBucketVersioning's `Status` shows it (`""`: never configured).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unversioned => "",
            Self::Enabled => "Enabled",
            Self::Suspended => "Suspended",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" => Some(Self::Unversioned),
            "Enabled" => Some(Self::Enabled),
            "Suspended" => Some(Self::Suspended),
            _ => None,
        }
    }

    /// The state after a PutBucketVersioning asking for `to`.
    pub fn change(self, to: Self) -> Result<Self, VersioningError> {
        match to {
            Self::Unversioned => Err(VersioningError::CannotTurnOff),
            to => Ok(to),
        }
    }

    /// Whether a write gets a version id of its own; otherwise it is the `null` version.
    #[must_use]
    pub fn keeps_versions(self) -> bool {
        self == Self::Enabled
    }

    /// Whether S3 shows version ids (`null` too) in answers about this bucket's objects.
    #[must_use]
    pub fn shows_version_ids(self) -> bool {
        self != Self::Unversioned
    }
}

/// Whether `id` may be a version id: `null`, or the 32 letters and digits ids made here have.
/// Anything else is refused before it is looked up.
#[must_use]
pub fn is_version_id(id: &str) -> bool {
    id == NULL_VERSION || (id.len() == 32 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioning_is_never_turned_off() {
        for from in [Versioning::Unversioned, Versioning::Enabled, Versioning::Suspended] {
            assert_eq!(from.change(Versioning::Enabled), Ok(Versioning::Enabled));
            assert_eq!(from.change(Versioning::Suspended), Ok(Versioning::Suspended));
            assert_eq!(
                from.change(Versioning::Unversioned),
                Err(VersioningError::CannotTurnOff)
            );
            assert_eq!(Versioning::parse(from.as_str()), Some(from));
        }
        assert_eq!(Versioning::parse("enabled"), None);
    }

    #[test]
    fn version_ids() {
        assert!(is_version_id("null"));
        assert!(is_version_id("0123456789abcdef0123456789ABCDEF"));
        for bad in [
            "",
            "NULL",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcde/",
            "../x",
        ] {
            assert!(!is_version_id(bad), "{bad}");
        }
    }
}
