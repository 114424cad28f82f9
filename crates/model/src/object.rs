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
}
