//! Who may touch a bucket. Until IAM policies arrive, a bucket and its objects belong to the
//! account that created the bucket, and only that account may use them.

use osg_meta::{Bucket, Caller};
use s3s::{S3Request, s3_error};

use crate::Gateway;
use crate::error::Result;

impl Gateway {
    /// The account that signed `req`. s3s has verified the signature already.
    pub(crate) async fn caller<T>(&self, req: &S3Request<T>) -> Result<Caller> {
        let Some(creds) = &req.credentials else {
            return Err(s3_error!(AccessDenied, "Anonymous requests are not allowed.").into());
        };
        self.meta
            .caller(&creds.access_key)
            .await?
            .ok_or_else(|| s3_error!(InvalidAccessKeyId).into())
    }

    /// `name`, if it exists and the caller may use it.
    pub(crate) async fn owned_bucket<T>(&self, req: &S3Request<T>, name: &str) -> Result<(Caller, Bucket)> {
        let caller = self.caller(req).await?;
        let bucket = self.meta.bucket(name).await?;
        if bucket.owner != caller.account.id {
            return Err(s3_error!(AccessDenied).into());
        }
        Ok((caller, bucket))
    }
}
