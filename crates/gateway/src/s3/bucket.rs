//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation.

use s3s::dto::*;
use s3s::{S3Request, S3Response, s3_error};

use super::{access, acl, owner_of, timestamp};
use crate::Gateway;
use crate::error::Result;
use osg_meta::NewBucket;
use osg_model::properties;

pub async fn list_buckets(gw: &Gateway, req: S3Request<ListBucketsInput>) -> Result<S3Response<ListBucketsOutput>> {
    let caller = access::caller(&req)?;
    let buckets = gw.meta.buckets_of(&caller.account.id).await?;
    let buckets = buckets
        .into_iter()
        .map(|b| Bucket {
            name: Some(b.name),
            creation_date: Some(timestamp(b.created_ms)),
            bucket_region: Some(b.region),
        })
        .collect();
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(owner_of(&caller.account)),
        ..Default::default()
    }))
}

pub async fn create_bucket(gw: &Gateway, req: S3Request<CreateBucketInput>) -> Result<S3Response<CreateBucketOutput>> {
    let caller = access::caller(&req)?;
    let input = &req.input;
    if let Some(c) = &input.create_bucket_configuration
        && (c.bucket.is_some() || c.location.is_some())
    {
        return Err(s3_error!(NotImplemented, "Directory buckets are not implemented.").into());
    }
    let constraint = input
        .create_bucket_configuration
        .as_ref()
        .and_then(|c| c.location_constraint.as_ref())
        .map(BucketLocationConstraint::as_str);
    // New buckets live on the cluster's current backend, and stay there. A constraint names
    // this gateway's region, or, when the cluster allows it, the provider to place the bucket on.
    let backend = gw.meta.property(properties::BACKEND.name).await?;
    let provider = match constraint.filter(|c| !c.is_empty() && *c != gw.region) {
        None => properties::BACKEND.value(backend.as_deref()),
        Some(name) if gw.placement_by_constraint().await? && gw.providers.get(name).is_ok() => name,
        Some(_) => {
            return Err(s3_error!(
                InvalidLocationConstraint,
                "The specified location-constraint is not valid for this endpoint ({}).",
                gw.region
            )
            .into());
        }
    };
    let ownership = gw.default_ownership().await?;
    let config = acl::new_bucket_config(&gw.meta, input, &caller.account, ownership).await?;
    let max_buckets = gw.max_buckets_per_account().await?;
    gw.providers.ensure_ready(provider).await?;
    let new = NewBucket {
        name: &input.bucket,
        owner: &caller.account.id,
        region: &gw.region,
        provider,
        object_lock: input.object_lock_enabled_for_bucket.unwrap_or(false),
    };
    gw.meta.create_bucket(new, config, max_buckets).await?;
    Ok(S3Response::new(CreateBucketOutput {
        location: Some(format!("/{}", input.bucket)),
    }))
}

/// The model's bucket naming rules (S3's, and the forms AWS reserves), for s3s to check
/// every request's bucket name by: a name they refuse answers `InvalidBucketName`.
pub struct BucketNames;

impl s3s::validation::NameValidation for BucketNames {
    fn validate_bucket_name(&self, name: &str) -> bool {
        osg_model::names::is_bucket_name(name)
    }
}

impl Gateway {
    async fn placement_by_constraint(&self) -> Result<bool> {
        let p = &properties::PLACEMENT_BY_LOCATION_CONSTRAINT;
        Ok(p.bool(self.meta.property(p.name).await?.as_deref()))
    }

    /// The Object Ownership of buckets created without one.
    async fn default_ownership(&self) -> Result<osg_model::Ownership> {
        let p = &properties::DEFAULT_OBJECT_OWNERSHIP;
        let value = self.meta.property(p.name).await?;
        Ok(osg_model::Ownership::parse(p.value(value.as_deref())).unwrap_or_default())
    }

    async fn max_buckets_per_account(&self) -> Result<i64> {
        let p = &properties::MAX_BUCKETS_PER_ACCOUNT;
        let value = self.meta.property(p.name).await?;
        Ok(i64::try_from(p.integer(value.as_deref())).unwrap_or(i64::MAX))
    }
}

pub async fn head_bucket(_gw: &Gateway, req: S3Request<HeadBucketInput>) -> Result<S3Response<HeadBucketOutput>> {
    let bucket = access::bucket(&req)?;
    Ok(S3Response::new(HeadBucketOutput {
        bucket_region: Some(bucket.region),
        ..Default::default()
    }))
}

pub async fn delete_bucket(gw: &Gateway, req: S3Request<DeleteBucketInput>) -> Result<S3Response<DeleteBucketOutput>> {
    access::bucket(&req)?;
    gw.meta.delete_bucket(&req.input.bucket).await?;
    gw.dir.forget_bucket(&req.input.bucket);
    Ok(S3Response::new(DeleteBucketOutput {}))
}

pub async fn get_bucket_location(
    _gw: &Gateway,
    req: S3Request<GetBucketLocationInput>,
) -> Result<S3Response<GetBucketLocationOutput>> {
    let bucket = access::bucket(&req)?;
    // S3 answers an empty LocationConstraint for us-east-1.
    let location_constraint = (bucket.region != "us-east-1").then(|| BucketLocationConstraint::from(bucket.region));
    Ok(S3Response::new(GetBucketLocationOutput { location_constraint }))
}
