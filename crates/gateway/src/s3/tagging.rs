//! Tags: of objects (Put/Get/DeleteObjectTagging, the `x-amz-tagging` header on writes) and of
//! buckets (Put/Get/DeleteBucketTagging). Policies can test them: `s3:ExistingObjectTag/KEY`,
//! `s3:RequestObjectTag/KEY`, and `aws:ResourceTag/KEY` for the bucket's tags.

use osg_model::{TagScope, Tags};
use s3s::dto::*;
use s3s::{S3Request, S3Response, s3_error};

use super::access;
use crate::Gateway;
use crate::error::Result;

fn check(pairs: Vec<(String, String)>) -> Result<Tags> {
    Ok(osg_model::tags::tag_set(pairs, TagScope::Object).map_err(osg_model::ConfigError::from)?)
}

fn pairs(tag_set: &[Tag]) -> Vec<(String, String)> {
    tag_set
        .iter()
        .map(|t| (t.key.clone().unwrap_or_default(), t.value.clone().unwrap_or_default()))
        .collect()
}

fn shown(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

/// The tags of a `<TagSet>` (PutObjectTagging's body, a form upload's `tagging` field).
pub fn from_tag_set(tag_set: &[Tag]) -> Result<Tags> {
    check(pairs(tag_set))
}

/// The tags of an `x-amz-tagging: k1=v1&k2=v2` header.
pub fn from_header(header: Option<&str>) -> Result<Tags> {
    check(
        header
            .map(|h| crate::authz::form_pairs(h).collect())
            .unwrap_or_default(),
    )
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
    Ok(S3Response::new(PutObjectTaggingOutput {
        version_id: shown_version(id),
    }))
}

pub async fn get_object_tagging(
    gw: &Gateway,
    req: S3Request<GetObjectTaggingInput>,
) -> Result<S3Response<GetObjectTaggingOutput>> {
    let bucket = access::bucket(&req)?;
    let i = &req.input;
    let version = super::get::readable(gw, &bucket.name, &i.key, i.version_id.as_deref()).await?;
    Ok(S3Response::new(GetObjectTaggingOutput {
        tag_set: shown(&version.attrs.tags),
        version_id: version.shown_id(),
    }))
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
        DeleteObjectTaggingOutput {
            version_id: shown_version(id),
        },
        http::StatusCode::NO_CONTENT,
    ))
}

/// A version id to show after a change made without knowing the bucket's versioning: any but
/// the `null` version's.
fn shown_version(id: String) -> Option<String> {
    (id != osg_meta::NULL_VERSION).then_some(id)
}

pub async fn put_bucket_tagging(
    gw: &Gateway,
    req: S3Request<PutBucketTaggingInput>,
) -> Result<S3Response<PutBucketTaggingOutput>> {
    let bucket = access::bucket(&req)?;
    let tags = pairs(&req.input.tagging.tag_set);
    gw.meta
        .update_bucket_config(&bucket.name, |c| c.set_tags(tags.clone()))
        .await?;
    gw.dir.forget_bucket(&bucket.name);
    Ok(S3Response::with_status(
        PutBucketTaggingOutput::default(),
        http::StatusCode::NO_CONTENT,
    ))
}

pub async fn get_bucket_tagging(
    _gw: &Gateway,
    req: S3Request<GetBucketTaggingInput>,
) -> Result<S3Response<GetBucketTaggingOutput>> {
    let bucket = access::bucket(&req)?;
    let tags = bucket.config.tags();
    if tags.is_empty() {
        return Err(s3_error!(NoSuchTagSet, "The TagSet does not exist").into());
    }
    Ok(S3Response::new(GetBucketTaggingOutput { tag_set: shown(tags) }))
}

pub async fn delete_bucket_tagging(
    gw: &Gateway,
    req: S3Request<DeleteBucketTaggingInput>,
) -> Result<S3Response<DeleteBucketTaggingOutput>> {
    let bucket = access::bucket(&req)?;
    gw.meta
        .update_bucket_config(&bucket.name, |c| c.set_tags(Vec::new()))
        .await?;
    gw.dir.forget_bucket(&bucket.name);
    Ok(S3Response::with_status(
        DeleteBucketTaggingOutput::default(),
        http::StatusCode::NO_CONTENT,
    ))
}
