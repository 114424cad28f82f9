//! Tag sets, of objects and of buckets, with S3's limits.

use std::collections::BTreeMap;

/// A tag set: keys to values, each key once.
pub type Tags = BTreeMap<String, String>;

/// What a tag set belongs to, which sets how many tags it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagScope {
    Object,
    Bucket,
}

impl TagScope {
    /// Most tags in one set, as in S3.
    #[must_use]
    pub fn max_tags(self) -> usize {
        match self {
            Self::Object => 10,
            Self::Bucket => 50,
        }
    }
}

/// Longest key and value, in characters.
const MAX_KEY: usize = 128;
const MAX_VALUE: usize = 256;

/// Why a tag set is refused (S3 answers `InvalidTag` for each).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("Object tags cannot be greater than 10")]
    TooManyObjectTags,
    #[error("Bucket tag count cannot be greater than 50")]
    TooManyBucketTags,
    #[error("The TagKey or TagValue you have provided is invalid")]
    Invalid,
    #[error("Cannot provide multiple Tags with the same key")]
    Duplicate,
    /// Keys starting `aws:` are AWS's own.
    #[error("System tags cannot be added/updated by requester")]
    Reserved,
}

/// The tag set of `pairs`, in `scope`'s limits.
pub fn tag_set(pairs: impl IntoIterator<Item = (String, String)>, scope: TagScope) -> Result<Tags, TagError> {
    let mut tags = Tags::new();
    for (k, v) in pairs {
        if k.is_empty() || k.chars().count() > MAX_KEY || v.chars().count() > MAX_VALUE {
            return Err(TagError::Invalid);
        }
        if scope == TagScope::Bucket && k.to_ascii_lowercase().starts_with("aws:") {
            return Err(TagError::Reserved);
        }
        if tags.insert(k, v).is_some() {
            return Err(TagError::Duplicate);
        }
        if tags.len() > scope.max_tags() {
            return Err(match scope {
                TagScope::Object => TagError::TooManyObjectTags,
                TagScope::Bucket => TagError::TooManyBucketTags,
            });
        }
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(n: usize) -> Vec<(String, String)> {
        (0..n).map(|i| (format!("k{i}"), format!("v{i}"))).collect()
    }

    #[test]
    fn limits_follow_the_scope() {
        assert_eq!(tag_set(pairs(10), TagScope::Object).unwrap().len(), 10);
        assert_eq!(tag_set(pairs(11), TagScope::Object), Err(TagError::TooManyObjectTags));
        assert_eq!(tag_set(pairs(50), TagScope::Bucket).unwrap().len(), 50);
        assert_eq!(tag_set(pairs(51), TagScope::Bucket), Err(TagError::TooManyBucketTags));
    }

    #[test]
    fn keys_and_values_are_checked() {
        let one = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert_eq!(tag_set(one("", "v"), TagScope::Object), Err(TagError::Invalid));
        assert_eq!(
            tag_set(one(&"k".repeat(129), "v"), TagScope::Object),
            Err(TagError::Invalid)
        );
        assert_eq!(
            tag_set(one("k", &"v".repeat(257)), TagScope::Bucket),
            Err(TagError::Invalid)
        );
        // Lengths count characters, not bytes.
        assert!(tag_set(one(&"é".repeat(128), &"é".repeat(256)), TagScope::Object).is_ok());
        assert_eq!(tag_set(one("AWS:x", "v"), TagScope::Bucket), Err(TagError::Reserved));
        let twice = vec![("k".to_owned(), "1".to_owned()), ("k".to_owned(), "2".to_owned())];
        assert_eq!(tag_set(twice, TagScope::Bucket), Err(TagError::Duplicate));
    }
}
