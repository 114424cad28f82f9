//! PutObject.

use s3s::dto::*;
use s3s::{S3Request, S3Response};

use super::acl::{self, grant_headers};
use super::checksum::{self, Wanted, stated, with_checksums};
use super::stream::Expected;
use super::{access, attrs_from, etag, precheck, sse, tagging, write_condition};
use crate::Gateway;
use crate::error::Result;

pub async fn put_object(gw: &Gateway, req: S3Request<PutObjectInput>) -> Result<S3Response<PutObjectOutput>> {
    let bucket = access::bucket(&req)?;
    let writer = access::authorized(&req)?.caller.as_ref().map(|c| c.account.clone());
    let input = req.input;
    let canned = input.acl.as_ref().map(ObjectCannedACL::as_str);
    let tags = tagging::from_header(input.tagging.as_deref())?;
    let lock = super::lock::requested(
        input.object_lock_mode.as_ref(),
        input.object_lock_retain_until_date.as_ref(),
        input.object_lock_legal_hold_status.as_ref(),
    )?;
    let (owner, acl) = acl::new_object_acl(gw, &bucket, writer.as_ref(), canned, &grant_headers!(input)).await?;
    let condition = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
    precheck(gw, &input.bucket, &input.key, &condition).await?;
    let customer = sse::customer_headers!(input).key(gw, &req.extensions).await?;
    let encryption = sse::for_write(gw, &bucket, input.server_side_encryption.as_ref(), customer.as_ref())?;
    let stated = stated!(input);
    let wanted = Wanted::new(&stated, input.checksum_algorithm.as_ref(), &req.headers)?;
    // A request without Content-Length (HTTP/2 needs none) whose body's length is known.
    let length = input.content_length.or_else(|| {
        let exact = input
            .body
            .as_ref()
            .map(|b| s3s::stream::ByteStream::remaining_length(b).exact());
        exact.flatten().and_then(|n| i64::try_from(n).ok())
    });
    let expected = Expected::new(length, input.content_md5.as_deref(), wanted)?;
    super::quota::admit(gw, &bucket, 1, expected.length.at_most()).await?;
    let body = match input.body {
        Some(body) => Box::pin(body),
        None => Box::pin(futures::stream::empty()) as osg_provider::ByteStream,
    };
    let key = encryption.as_ref().map(|(_, k)| &**k);
    let mut stored = gw.store(&bucket, body, expected, req.trailing_headers, key).await?;
    stored.md5 = sse::etag(stored.md5, encryption.as_ref());
    let mut attrs = attrs_from(
        input.content_type,
        input.content_encoding,
        input.content_disposition,
        input.content_language,
        input.cache_control,
        input.expires.as_ref(),
        input.metadata,
    );
    attrs.acl = acl;
    attrs.tags = tags;
    attrs.lock = lock;
    attrs.encryption = encryption.map(|(e, _)| e);
    let checksums = checksum::to_dto(&stored.checksums);
    let version = gw
        .commit_stored(input.bucket, input.key, stored, attrs, owner, &condition)
        .await?;
    let out = with_checksums!(
        PutObjectOutput {
            e_tag: Some(etag(&version.etag)),
            version_id: version.shown_id(),
            expiration: super::lifecycle::expiration(gw, &bucket, &version).await,
        },
        checksums
    );
    Ok(S3Response::new(sse::with_encryption!(
        out,
        sse::shown(version.attrs.encryption.as_ref())
    )))
}
