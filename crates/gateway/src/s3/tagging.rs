//! Object tags: PutObjectTagging, GetObjectTagging, DeleteObjectTagging, and the
//! `x-amz-tagging` header on writes. Policies can test them (`s3:ExistingObjectTag/KEY`,
//! `s3:RequestObjectTag/KEY`).

use std::collections::BTreeMap;

use s3s::dto::*;
use s3s::{S3Request, S3Response, s3_error};

use super::access;
use crate::Gateway;
use crate::error::Result;

/// Limits on a tag set, as in S3.
const MAX_TAGS: usize = 10;
const MAX_KEY: usize = 128;
const MAX_VALUE: usize = 256;

fn check(tags: &[(String, String)]) -> Result<BTreeMap<String, String>> {
    if tags.len() > MAX_TAGS {
        return Err(s3_error!(InvalidTag, "Object tags cannot be greater than {MAX_TAGS}").into());
    }
    let mut out = BTreeMap::new();
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > MAX_KEY || v.chars().count() > MAX_VALUE {
            return Err(s3_error!(InvalidTag, "The TagKey or TagValue you have provided is invalid").into());
        }
        if out.insert(k.clone(), v.clone()).is_some() {
            return Err(s3_error!(InvalidTag, "Cannot provide multiple Tags with the same key").into());
        }
    }
    Ok(out)
}

/// The tags of a `<TagSet>` (PutObjectTagging's body, a form upload's `tagging` field).
pub fn from_tag_set(tag_set: &[Tag]) -> Result<BTreeMap<String, String>> {
    let pairs: Vec<(String, String)> = tag_set
        .iter()
        .map(|t| (t.key.clone().unwrap_or_default(), t.value.clone().unwrap_or_default()))
        .collect();
    check(&pairs)
}

/// The tags of an `x-amz-tagging: k1=v1&k2=v2` header.
pub fn from_header(header: Option<&str>) -> Result<BTreeMap<String, String>> {
    let pairs: Vec<(String, String)> = header
        .map(|h| crate::authz::form_pairs(h).collect())
        .unwrap_or_default();
    check(&pairs)
}

pub async fn put_object_tagging(
    gw: &Gateway,
    req: S3Request<PutObjectTaggingInput>,
) -> Result<S3Response<PutObjectTaggingOutput>> {
    let bucket = access::bucket(&req)?;
    let i = &req.input;
    let tags = from_tag_set(&i.tagging.tag_set)?;
    let id = gw
        .meta
        .update_object_attrs(&bucket.name, &i.key, i.version_id.as_deref(), |attrs| {
            attrs.tags.clone_from(&tags);
            Ok(())
        })
        .await?;
    Ok(S3Response::new(PutObjectTaggingOutput { version_id: shown(id) }))
}

pub async fn get_object_tagging(
    gw: &Gateway,
    req: S3Request<GetObjectTaggingInput>,
) -> Result<S3Response<GetObjectTaggingOutput>> {
    let bucket = access::bucket(&req)?;
    let i = &req.input;
    let version = super::get::readable(gw, &bucket.name, &i.key, i.version_id.as_deref()).await?;
    let version_id = version.shown_id();
    let tag_set = version
        .attrs
        .tags
        .into_iter()
        .map(|(k, v)| Tag {
            key: Some(k),
            value: Some(v),
        })
        .collect();
    Ok(S3Response::new(GetObjectTaggingOutput { tag_set, version_id }))
}

pub async fn delete_object_tagging(
    gw: &Gateway,
    req: S3Request<DeleteObjectTaggingInput>,
) -> Result<S3Response<DeleteObjectTaggingOutput>> {
    let bucket = access::bucket(&req)?;
    let i = &req.input;
    let id = gw
        .meta
        .update_object_attrs(&bucket.name, &i.key, i.version_id.as_deref(), |attrs| {
            attrs.tags.clear();
            Ok(())
        })
        .await?;
    Ok(S3Response::with_status(
        DeleteObjectTaggingOutput { version_id: shown(id) },
        http::StatusCode::NO_CONTENT,
    ))
}

/// A version id to show after a change made without knowing the bucket's versioning: any but
/// the `null` version's.
fn shown(id: String) -> Option<String> {
    (id != osg_meta::NULL_VERSION).then_some(id)
}
