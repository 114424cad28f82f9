//! CopyObject and UploadPartCopy: the source streams from the provider into a new blob.

use std::ops::Range as Span;

use http::StatusCode;
use osg_meta::Version;
use s3s::dto::*;
use s3s::{S3Request, S3Response, s3_error};

use super::access;
use super::acl::{self, grant_headers};
use super::checksum::{self, Wanted, with_checksums};
use super::stream::{Expected, MAX_PUT_SIZE};
use super::{attrs_from, etag, sse, tagging, timestamp};
use crate::error::{Result, custom};
use crate::{Gateway, authz};

/// The `x-amz-copy-source-if-*` conditions; any that fails is a 412.
struct SourceConditions<'a> {
    if_match: Option<&'a ETagCondition>,
    if_none_match: Option<&'a ETagCondition>,
    if_modified_since: Option<&'a Timestamp>,
    if_unmodified_since: Option<&'a Timestamp>,
}

/// The conditions, read off a CopyObject or UploadPartCopy input.
macro_rules! source_conditions {
    ($i:expr) => {
        SourceConditions {
            if_match: $i.copy_source_if_match.as_ref(),
            if_none_match: $i.copy_source_if_none_match.as_ref(),
            if_modified_since: $i.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: $i.copy_source_if_unmodified_since.as_ref(),
        }
    };
}

impl SourceConditions<'_> {
    fn check(&self, v: &Version) -> Result<()> {
        let matches = |c: &ETagCondition| match c {
            ETagCondition::Any => true,
            ETagCondition::ETag(e) => e.value() == v.etag,
        };
        let modified = v.modified_ms.div_euclid(1000);
        let secs = |t: &Timestamp| time::OffsetDateTime::from(t.clone()).unix_timestamp();
        let ok = self.if_match.is_none_or(matches)
            && !self.if_none_match.is_some_and(matches)
            // If-Match that holds overrides a failing If-Unmodified-Since, as in S3.
            && (self.if_match.is_some() || self.if_unmodified_since.is_none_or(|t| modified <= secs(t)))
            && (self.if_none_match.is_some() || self.if_modified_since.is_none_or(|t| modified > secs(t)));
        if ok {
            Ok(())
        } else {
            Err(s3_error!(PreconditionFailed).into())
        }
    }
}

/// Resolves and authorizes `x-amz-copy-source`.
async fn source<T>(gw: &Gateway, req: &S3Request<T>, source: &CopySource) -> Result<Version> {
    let CopySource::Bucket {
        bucket,
        key,
        version_id,
    } = source
    else {
        return Err(s3_error!(NotImplemented, "Copying from an access point is not supported.").into());
    };
    if version_id.as_deref().is_some_and(|v| !osg_model::is_version_id(v)) {
        return Err(s3_error!(InvalidArgument, "Invalid version id specified").into());
    }
    let auth = access::authorized(req)?;
    let source_bucket = gw.dir.bucket(bucket).await?;
    if let Some(expected) = req.headers.get("x-amz-source-expected-bucket-owner")
        && expected.as_bytes() != source_bucket.owner.as_bytes()
    {
        return Err(s3_error!(AccessDenied).into());
    }
    let resource = authz::resource_arn(Some(bucket), Some(key));
    let action = if version_id.is_some() {
        "s3:GetObjectVersion"
    } else {
        "s3:GetObject"
    };
    authz::authorize(
        &gw.dir,
        auth.caller.as_ref(),
        action,
        &authz::Target::new(Some(&source_bucket), Some(key), &resource).version(version_id.as_deref()),
        &auth.context,
    )
    .await?;
    let version = gw.meta.object_version(bucket, key, version_id.as_deref()).await?;
    match (version.delete_marker, version_id) {
        (false, _) => Ok(version),
        (true, None) => Err(s3_error!(NoSuchKey).into()),
        (true, Some(_)) => Err(s3_error!(
            InvalidRequest,
            "The source of a copy request may not specifically refer to a delete marker by version id."
        )
        .into()),
    }
}

pub async fn copy_object(gw: &Gateway, req: S3Request<CopyObjectInput>) -> Result<S3Response<CopyObjectOutput>> {
    let bucket = access::bucket(&req)?;
    let writer = access::authorized(&req)?.caller.as_ref().map(|c| c.account.clone());
    let src = source(gw, &req, &req.input.copy_source).await?;
    let source_customer = sse::customer_headers!(req.input, copy_source)
        .key(gw, &req.extensions)
        .await?;
    let source_key = sse::for_read(gw, src.attrs.encryption.as_ref(), source_customer.as_ref())?;
    let customer = sse::customer_headers!(req.input).key(gw, &req.extensions).await?;
    let encryption = sse::for_write(
        gw,
        &bucket,
        req.input.server_side_encryption.as_ref(),
        customer.as_ref(),
    )?;
    let input = req.input;
    let canned = input.acl.as_ref().map(ObjectCannedACL::as_str);
    let replace_tags = input
        .tagging_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
    let tags = if replace_tags {
        tagging::from_header(input.tagging.as_deref())?
    } else {
        src.attrs.tags.clone()
    };
    let (owner, acl) = acl::new_object_acl(gw, &bucket, writer.as_ref(), canned, &grant_headers!(input)).await?;
    source_conditions!(input).check(&src)?;
    let replace = input
        .metadata_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
    // Copying a named version onto its key restores it, as S3 allows.
    let named = matches!(
        &input.copy_source,
        CopySource::Bucket {
            version_id: Some(_),
            ..
        }
    );
    let reencrypting = input.server_side_encryption.is_some() || customer.is_some();
    if !replace && !named && !reencrypting && src.bucket == input.bucket && src.key == input.key {
        return Err(s3_error!(
            InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the \
             object's metadata, storage class, website redirect location or encryption attributes."
        )
        .into());
    }
    if src.size > MAX_PUT_SIZE {
        return Err(s3_error!(
            InvalidRequest,
            "The specified copy source is larger than the maximum allowable size for a copy source: {MAX_PUT_SIZE}"
        )
        .into());
    }
    let mut attrs = if replace {
        attrs_from(
            input.content_type,
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
            input.expires.as_ref(),
            input.metadata,
        )
    } else {
        src.attrs.clone()
    };
    super::quota::admit(gw, &bucket, 1, src.size).await?;
    let body = gw.read(&src.pieces, 0..src.size, source_key).await?;
    let wanted = Wanted::same_as(&src.attrs.checksums);
    let expected = Expected::new(i64::try_from(src.size).ok(), None, wanted)?;
    let key = encryption.as_ref().map(|(_, k)| &**k);
    let mut stored = gw.store(&bucket, body, expected, None, key).await?;
    stored.md5 = sse::etag(stored.md5, encryption.as_ref());
    attrs.encryption = encryption.map(|(e, _)| e);
    attrs.acl = acl;
    attrs.tags = tags;
    attrs.completed_upload = None;
    // A copy's lock is its request's (or the bucket's default), never its source's.
    attrs.lock = super::lock::requested(
        input.object_lock_mode.as_ref(),
        input.object_lock_retain_until_date.as_ref(),
        input.object_lock_legal_hold_status.as_ref(),
    )?;
    let checksums = checksum::to_dto(&stored.checksums);
    let condition = osg_meta::Condition::None;
    let version = gw
        .commit_stored(input.bucket, input.key, stored, attrs, owner, &condition)
        .await?;
    let result = with_checksums!(
        CopyObjectResult {
            e_tag: Some(etag(&version.etag)),
            last_modified: Some(timestamp(version.modified_ms)),
        },
        checksums
    );
    let out = CopyObjectOutput {
        copy_object_result: Some(result),
        version_id: version.shown_id(),
        copy_source_version_id: src.shown_id(),
        expiration: super::lifecycle::expiration(gw, &bucket, &version).await,
        ..Default::default()
    };
    Ok(S3Response::new(sse::with_encryption!(
        out,
        sse::shown(version.attrs.encryption.as_ref())
    )))
}

/// `bytes=first-last` of `x-amz-copy-source-range`, checked against the source's size.
fn copy_range(header: Option<&str>, size: u64) -> Result<Span<u64>> {
    let Some(header) = header else { return Ok(0..size) };
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last."
        )
    };
    let (first, last) = header
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(invalid)?;
    let first: u64 = first.trim().parse().map_err(|_| invalid())?;
    let last: u64 = last.trim().parse().map_err(|_| invalid())?;
    if first > last || last >= size {
        return Err(custom(
            "InvalidRange",
            StatusCode::RANGE_NOT_SATISFIABLE,
            "The requested range is not satisfiable",
        )
        .into());
    }
    Ok(first..last + 1)
}

pub async fn upload_part_copy(
    gw: &Gateway,
    req: S3Request<UploadPartCopyInput>,
) -> Result<S3Response<UploadPartCopyOutput>> {
    let bucket = access::bucket(&req)?;
    let number = super::multipart::part_number(req.input.part_number)?;
    let upload = gw.meta.upload(&req.input.bucket, &req.input.upload_id).await?;
    if upload.bucket != req.input.bucket || upload.key != req.input.key {
        return Err(s3_error!(NoSuchUpload).into());
    }
    let src = source(gw, &req, &req.input.copy_source).await?;
    let input = &req.input;
    source_conditions!(input).check(&src)?;
    let source_customer = sse::customer_headers!(input, copy_source)
        .key(gw, &req.extensions)
        .await?;
    let source_key = sse::for_read(gw, src.attrs.encryption.as_ref(), source_customer.as_ref())?;
    let customer = sse::customer_headers!(input).key(gw, &req.extensions).await?;
    let encryption = super::multipart::upload_encryption(gw, &upload, customer.as_ref())?;
    let span = copy_range(input.copy_source_range.as_deref(), src.size)?;
    if span.end - span.start > MAX_PUT_SIZE {
        return Err(s3_error!(EntityTooLarge).into());
    }
    super::quota::admit(gw, &bucket, 0, span.end - span.start).await?;
    let body = gw.read(&src.pieces, span.clone(), source_key).await?;
    let length = i64::try_from(span.end - span.start).ok();
    // A part of an upload with a checksum gets it, as an uploaded part does.
    let wanted = super::multipart_checksum::for_part(Wanted::default(), upload.attrs.multipart_checksum.as_ref())?;
    let expected = Expected::new(length, None, wanted)?;
    let key = encryption.as_ref().map(|(_, k)| &**k);
    let mut stored = gw.store(&bucket, body, expected, None, key).await?;
    stored.md5 = sse::etag(stored.md5, encryption.as_ref());
    let part = gw.commit_stored_part(&upload, number, &stored).await?;
    let result = with_checksums!(
        CopyPartResult {
            e_tag: Some(etag(&part.etag)),
            last_modified: Some(timestamp(part.modified_ms)),
        },
        checksum::to_dto(&part.checksums)
    );
    let out = UploadPartCopyOutput {
        copy_part_result: Some(result),
        copy_source_version_id: src.shown_id(),
        ..Default::default()
    };
    Ok(S3Response::new(sse::with_encryption!(
        out,
        sse::shown(upload.attrs.encryption.as_ref())
    )))
}
