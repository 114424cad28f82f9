//! Blob ids: where a run of an object's bytes is, as `KEY@PROVIDER`. The key is chosen by the
//! gateway (a fresh UUID, never a user's name); the provider is the instance that holds it.

use std::fmt;

/// The provider of blob ids written before ids named theirs: the embedded Walrus.
pub const EMBEDDED: &str = "walrus";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobId {
    /// The blob's name on its provider.
    pub key: String,
    /// The provider instance's name.
    pub provider: String,
}

impl BlobId {
    /// A new blob on `provider`.
    #[must_use]
    pub fn new(key: &str, provider: &str) -> Self {
        Self {
            key: key.to_owned(),
            provider: provider.to_owned(),
        }
    }

    /// Reads `KEY@PROVIDER` (a bare key is the embedded Walrus's).
    #[must_use]
    pub fn parse(id: &str) -> Self {
        match id.rsplit_once('@') {
            Some((key, provider)) => Self::new(key, provider),
            None => Self::new(id, EMBEDDED),
        }
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.key, self.provider)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_their_provider() {
        let id = BlobId::new("0a1b2c", "rgw");
        assert_eq!(id.to_string(), "0a1b2c@rgw");
        assert_eq!(BlobId::parse("0a1b2c@rgw"), id);
        assert_eq!(BlobId::parse("0a1b2c").provider, EMBEDDED);
    }
}
