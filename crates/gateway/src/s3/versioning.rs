//! PutBucketVersioning and GetBucketVersioning. What versioning does to writes, reads and
//! deletes is the metadata store's (`osg_meta::Meta::commit_object`, `delete_object`).

use osg_meta::Versioning;
use s3s::dto::*;
use s3s::{S3Request, S3Response, s3_error};

use super::access;
use crate::Gateway;
use crate::error::Result;

pub async fn put_bucket_versioning(
    gw: &Gateway,
    req: S3Request<PutBucketVersioningInput>,
) -> Result<S3Response<PutBucketVersioningOutput>> {
    let bucket = access::bucket(&req)?;
    let config = &req.input.versioning_configuration;
    if config
        .mfa_delete
        .as_ref()
        .is_some_and(|m| m.as_str() == MFADelete::ENABLED)
    {
        return Err(s3_error!(NotImplemented, "MFA delete is not implemented.").into());
    }
    let to = match config.status.as_ref().map(BucketVersioningStatus::as_str) {
        // Asks for nothing: nothing changes.
        None => return Ok(S3Response::new(PutBucketVersioningOutput::default())),
        Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
        Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
        Some(_) => return Err(s3_error!(MalformedXML, "The Status must be Enabled or Suspended.").into()),
    };
    gw.meta.set_versioning(&bucket.name, to).await?;
    Ok(S3Response::new(PutBucketVersioningOutput::default()))
}

pub async fn get_bucket_versioning(
    gw: &Gateway,
    req: S3Request<GetBucketVersioningInput>,
) -> Result<S3Response<GetBucketVersioningOutput>> {
    let bucket = access::bucket(&req)?;
    let status = match gw.meta.versioning(&bucket.name).await? {
        Versioning::Unversioned => None,
        Versioning::Enabled => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::ENABLED)),
        Versioning::Suspended => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::SUSPENDED)),
    };
    Ok(S3Response::new(GetBucketVersioningOutput {
        status,
        mfa_delete: None,
    }))
}
