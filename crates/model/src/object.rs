//! Object versions: what each keeps besides its bytes, and the pieces that hold the bytes.

use std::collections::BTreeMap;

use osg_policy::acl::Acl;
use serde::{Deserialize, Serialize};

/// An object version, as the store keeps it.
#[derive(Debug, Clone)]
pub struct Version {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub size: u64,
    /// Hex MD5 of the bytes, or `md5-of-part-md5s-N` for a multipart object (unquoted).
    pub etag: String,
    pub modified_ms: i64,
    /// Number of parts for an object made by a multipart upload.
    pub parts_count: Option<u32>,
    pub pieces: Vec<Piece>,
    pub attrs: ObjectAttrs,
    /// Owning account id.
    pub owner: String,
    /// Whether this is the key's latest version (its current object, unless a delete marker).
    pub latest: bool,
    /// A delete marker: no bytes; as the latest version it hides the key.
    pub delete_marker: bool,
    /// The bucket's versioning as the read or write that made this value saw it: S3 shows
    /// version ids (`null` too) only in buckets that have versioning.
    pub versioning: crate::Versioning,
}

impl Version {
    /// The `x-amz-version-id` S3 answers with for this version, if any.
    #[must_use]
    pub fn shown_id(&self) -> Option<String> {
        (self.version_id != crate::NULL_VERSION || self.versioning.shows_version_ids()).then(|| self.version_id.clone())
    }
}

/// A version about to be made current; its blobs are already durable on the provider.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub parts_count: Option<u32>,
    pub pieces: Vec<Piece>,
    pub attrs: ObjectAttrs,
    pub owner: String,
}

/// One blob holding a run of an object's bytes; an object's pieces, in order, hold all of
/// them (one for a plain PUT, one per part for a completed multipart upload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piece {
    /// The blob's id (`KEY@PROVIDER`, see [`crate::BlobId`]).
    pub blob: String,
    pub size: u64,
    /// For a part of a multipart object: its part number and verified checksums (base64, by
    /// algorithm name), as GetObjectAttributes and GET with `partNumber` show them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<u32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checksums: BTreeMap<String, String>,
}

impl Piece {
    /// A piece holding a plain object's bytes.
    pub fn whole(blob: String, size: u64) -> Self {
        Self {
            blob,
            size,
            part: None,
            checksums: BTreeMap::new(),
        }
    }
}

/// How a multipart object's checksum is made from its parts' (`x-amz-checksum-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChecksumType {
    /// A checksum of the parts' checksums, `-N` after it.
    Composite,
    /// The checksum of all the bytes (CRCs only, combined from the parts').
    FullObject,
}

impl ChecksumType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Composite => "COMPOSITE",
            Self::FullObject => "FULL_OBJECT",
        }
    }
}

/// The checksum a multipart upload was created with: every part gets it, and the object one
/// made from the parts'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultipartChecksum {
    /// `CRC32`, `CRC32C`, `CRC64NVME`, `SHA1` or `SHA256`.
    pub algorithm: String,
    pub kind: ChecksumType,
}

/// What S3 stores and returns with an object besides its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ObjectAttrs {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// The `Expires` header as the client sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `x-amz-meta-*` headers, names without the prefix.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub user: BTreeMap<String, String>,
    /// Object tags.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The object's ACL, when one was set (ACLs are on in its bucket, or it names only owners).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acl: Option<Acl>,
    /// Verified checksums by algorithm name (`CRC32`, `SHA256`, ...), base64.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub checksums: BTreeMap<String, String>,
    /// The multipart upload this version completed: a retried completion finds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_upload: Option<String>,
    /// An upload's (and then its object's) multipart checksum; none for plain objects, whose
    /// checksums are of all their bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multipart_checksum: Option<MultipartChecksum>,
    /// Object Lock: the version's retention and legal hold (an upload's, for its object).
    #[serde(skip_serializing_if = "crate::VersionLock::is_empty")]
    pub lock: crate::VersionLock,
    /// Server-side encryption of the version's bytes (an upload's, for its parts and object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<crate::Encryption>,
}
