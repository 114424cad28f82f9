//! Capacity quotas (`osg bucket quota`, `osg account quota`), checked before a write reads its
//! body: the bucket's against what the bucket holds now, its owner account's against what the
//! account held at most a second ago (a count costs a query per shard). Writes under way
//! together are each checked alone, so together they may pass a limit by what they carry, as
//! with Ceph RGW's quotas.

use osg_meta::Bucket;
use osg_model::{Quota, Usage};

use crate::Gateway;
use crate::error::Result;

/// The quotas a write to a bucket is held to, each with what is stored under it.
pub struct Limits(Vec<(&'static str, Quota, Usage)>);

/// The limits on writes to `bucket`: none when neither it nor its owner has a quota.
pub async fn limits(gw: &Gateway, bucket: &Bucket) -> Result<Limits> {
    let mut limits = Vec::new();
    if !bucket.config.quota.is_unlimited() {
        limits.push(("bucket", bucket.config.quota, gw.meta.bucket_usage(&bucket.name).await?));
    }
    let (quota, used) = gw.dir.account_quota(&bucket.owner).await?;
    if !quota.is_unlimited() {
        limits.push(("account", quota, used));
    }
    Ok(Limits(limits))
}

/// Refuses a write of `objects` objects and `bytes` bytes to `bucket` that a quota forbids.
pub async fn admit(gw: &Gateway, bucket: &Bucket, objects: u64, bytes: u64) -> Result<()> {
    limits(gw, bucket).await?.admit(objects, bytes)
}

impl Limits {
    pub fn admit(&self, objects: u64, bytes: u64) -> Result<()> {
        for (scope, quota, used) in &self.0 {
            quota.admits(scope, *used, Usage { objects, bytes })?;
        }
        Ok(())
    }
}
