//! Bucket policies: PutBucketPolicy (validated by the model), GetBucketPolicy,
//! DeleteBucketPolicy, GetBucketPolicyStatus.

use osg_policy::{Kind, Policy};
use s3s::dto::*;
use s3s::{S3Request, S3Response, s3_error};

use super::access;
use crate::Gateway;
use crate::error::Result;

pub async fn put_bucket_policy(
    gw: &Gateway,
    req: S3Request<PutBucketPolicyInput>,
) -> Result<S3Response<PutBucketPolicyOutput>> {
    let bucket = access::bucket(&req)?;
    let doc = &req.input.policy;
    gw.meta
        .update_bucket_config(&bucket.name, |c| c.set_policy(doc, &bucket.name))
        .await?;
    gw.dir.forget_bucket(&bucket.name);
    Ok(S3Response::with_status(
        PutBucketPolicyOutput {},
        http::StatusCode::NO_CONTENT,
    ))
}

/// The bucket's policy as stored now (not as this gateway cached it).
async fn stored_policy(gw: &Gateway, bucket: &str) -> Result<String> {
    let bucket = gw.meta.bucket(bucket).await?;
    Ok(bucket
        .config
        .policy()
        .ok_or_else(|| s3_error!(NoSuchBucketPolicy))?
        .to_owned())
}

pub async fn get_bucket_policy(
    gw: &Gateway,
    req: S3Request<GetBucketPolicyInput>,
) -> Result<S3Response<GetBucketPolicyOutput>> {
    let bucket = access::bucket(&req)?;
    let policy = stored_policy(gw, &bucket.name).await?;
    Ok(S3Response::new(GetBucketPolicyOutput { policy: Some(policy) }))
}

pub async fn delete_bucket_policy(
    gw: &Gateway,
    req: S3Request<DeleteBucketPolicyInput>,
) -> Result<S3Response<DeleteBucketPolicyOutput>> {
    let bucket = access::bucket(&req)?;
    gw.meta
        .update_bucket_config(&bucket.name, |c| {
            c.delete_policy();
            Ok(())
        })
        .await?;
    gw.dir.forget_bucket(&bucket.name);
    Ok(S3Response::with_status(
        DeleteBucketPolicyOutput {},
        http::StatusCode::NO_CONTENT,
    ))
}

pub async fn get_bucket_policy_status(
    gw: &Gateway,
    req: S3Request<GetBucketPolicyStatusInput>,
) -> Result<S3Response<GetBucketPolicyStatusOutput>> {
    let bucket = access::bucket(&req)?;
    let policy = stored_policy(gw, &bucket.name).await?;
    let public = Policy::parse(&policy, Kind::Resource).is_ok_and(|p| p.is_public());
    Ok(S3Response::new(GetBucketPolicyStatusOutput {
        policy_status: Some(PolicyStatus {
            is_public: Some(public),
        }),
    }))
}
