//! Bucket policies: PutBucketPolicy (validated), GetBucketPolicy, DeleteBucketPolicy,
//! GetBucketPolicyStatus.

use osg_policy::{Kind, Policy};
use s3s::dto::*;
use s3s::{S3Request, S3Response, s3_error};

use super::access;
use crate::Gateway;
use crate::error::Result;

/// Largest bucket policy, as in S3.
const MAX_POLICY_BYTES: usize = 20 << 10;

pub async fn put_bucket_policy(
    gw: &Gateway,
    req: S3Request<PutBucketPolicyInput>,
) -> Result<S3Response<PutBucketPolicyOutput>> {
    let bucket = access::bucket(&req)?;
    let doc = &req.input.policy;
    if doc.len() > MAX_POLICY_BYTES {
        return Err(s3_error!(MalformedPolicy, "Policies must be smaller than 20 KB.").into());
    }
    let policy = Policy::parse(doc, Kind::Resource).map_err(|e| s3_error!(MalformedPolicy, "{e}"))?;
    if super::acl::PublicAccessBlock::of(&bucket).block_public_policy && policy.is_public() {
        return Err(s3_error!(
            AccessDenied,
            "Public policies are blocked by this bucket's Public Access Block."
        )
        .into());
    }
    if let Some(outside) = policy.resources().find(|r| !within(r, &bucket.name)) {
        return Err(s3_error!(MalformedPolicy, "Policy has invalid resource {outside}").into());
    }
    gw.meta.put_bucket_policy(&bucket.name, doc).await?;
    gw.dir.forget_bucket(&bucket.name);
    Ok(S3Response::with_status(
        PutBucketPolicyOutput {},
        http::StatusCode::NO_CONTENT,
    ))
}

/// Whether a policy resource names this bucket or its objects.
fn within(resource: &str, bucket: &str) -> bool {
    let Some(rest) = resource.strip_prefix("arn:aws:s3:::") else {
        return false;
    };
    let name = rest.split('/').next().unwrap_or_default();
    osg_policy::wildcard_matches(name, bucket)
}

pub async fn get_bucket_policy(
    gw: &Gateway,
    req: S3Request<GetBucketPolicyInput>,
) -> Result<S3Response<GetBucketPolicyOutput>> {
    let bucket = access::bucket(&req)?;
    let policy = gw
        .meta
        .bucket_policy(&bucket.name)
        .await?
        .ok_or_else(|| s3_error!(NoSuchBucketPolicy))?;
    Ok(S3Response::new(GetBucketPolicyOutput { policy: Some(policy) }))
}

pub async fn delete_bucket_policy(
    gw: &Gateway,
    req: S3Request<DeleteBucketPolicyInput>,
) -> Result<S3Response<DeleteBucketPolicyOutput>> {
    let bucket = access::bucket(&req)?;
    gw.meta.delete_bucket_policy(&bucket.name).await?;
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
    let policy = gw
        .meta
        .bucket_policy(&bucket.name)
        .await?
        .ok_or_else(|| s3_error!(NoSuchBucketPolicy))?;
    let public = Policy::parse(&policy, Kind::Resource).is_ok_and(|p| p.is_public());
    Ok(S3Response::new(GetBucketPolicyStatusOutput {
        policy_status: Some(PolicyStatus {
            is_public: Some(public),
        }),
    }))
}
