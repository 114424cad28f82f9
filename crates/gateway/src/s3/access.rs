//! What the access check (`crate::authz`) hands each operation: the caller and the bucket.

use osg_meta::{Bucket, Caller};
use s3s::{S3Request, s3_error};

use crate::authz::Authorized;
use crate::error::Result;

/// The access check's outcome for `req`; every served operation has one.
pub fn authorized<T>(req: &S3Request<T>) -> Result<&Authorized> {
    req.extensions
        .get::<Authorized>()
        .ok_or_else(|| s3_error!(InternalError, "The request was not authorized.").into())
}

/// The authenticated caller; anonymous requests get AccessDenied.
pub fn caller<T>(req: &S3Request<T>) -> Result<Caller> {
    authorized(req)?
        .caller
        .clone()
        .ok_or_else(|| s3_error!(AccessDenied).into())
}

/// The bucket the request names, which the access check found to exist.
pub fn bucket<T>(req: &S3Request<T>) -> Result<Bucket> {
    authorized(req)?
        .bucket
        .clone()
        .ok_or_else(|| s3_error!(NoSuchBucket).into())
}
