//! The S3 operations, one module per area. `impl S3` below only routes; each operation lives
//! in the module named for its area and returns the gateway's own error type.

mod access;
pub(crate) mod acl;
mod bucket;
mod checksum;
mod copy;
pub(crate) mod cors;
mod delete;
mod get;
mod lifecycle;
mod list;
mod lock;
mod multipart;
mod multipart_checksum;
mod policy;
pub(crate) mod post_object;
mod put;
mod quota;
pub(crate) mod sse;
mod stream;
pub(crate) mod tagging;
pub(crate) mod unhonoured;
mod versioning;

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};

use crate::Gateway;

pub(crate) use self::bucket::BucketNames;

/// Wraps an operation: its `crate::error::Error` becomes an S3 error here.
macro_rules! ops {
    ($($name:ident: $module:ident, $input:ty => $output:ty;)*) => {
        /// The operations served, by their method names (`list_objects_v2`).
        #[cfg(test)]
        pub const SERVED: &[&str] = &[$(stringify!($name)),*];

        #[async_trait::async_trait]
        impl S3 for Gateway {
            $(
                async fn $name(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    Ok($module::$name(self, req).await?)
                }
            )*
        }
    };
}

ops! {
    list_buckets: bucket, ListBucketsInput => ListBucketsOutput;
    create_bucket: bucket, CreateBucketInput => CreateBucketOutput;
    head_bucket: bucket, HeadBucketInput => HeadBucketOutput;
    delete_bucket: bucket, DeleteBucketInput => DeleteBucketOutput;
    get_bucket_location: bucket, GetBucketLocationInput => GetBucketLocationOutput;
    put_object: put, PutObjectInput => PutObjectOutput;
    get_object: get, GetObjectInput => GetObjectOutput;
    head_object: get, HeadObjectInput => HeadObjectOutput;
    get_object_attributes: get, GetObjectAttributesInput => GetObjectAttributesOutput;
    copy_object: copy, CopyObjectInput => CopyObjectOutput;
    delete_object: delete, DeleteObjectInput => DeleteObjectOutput;
    delete_objects: delete, DeleteObjectsInput => DeleteObjectsOutput;
    list_objects: list, ListObjectsInput => ListObjectsOutput;
    list_objects_v2: list, ListObjectsV2Input => ListObjectsV2Output;
    list_object_versions: list, ListObjectVersionsInput => ListObjectVersionsOutput;
    put_bucket_versioning: versioning, PutBucketVersioningInput => PutBucketVersioningOutput;
    get_bucket_versioning: versioning, GetBucketVersioningInput => GetBucketVersioningOutput;
    put_object_lock_configuration: lock, PutObjectLockConfigurationInput => PutObjectLockConfigurationOutput;
    get_object_lock_configuration: lock, GetObjectLockConfigurationInput => GetObjectLockConfigurationOutput;
    put_object_retention: lock, PutObjectRetentionInput => PutObjectRetentionOutput;
    get_object_retention: lock, GetObjectRetentionInput => GetObjectRetentionOutput;
    put_object_legal_hold: lock, PutObjectLegalHoldInput => PutObjectLegalHoldOutput;
    get_object_legal_hold: lock, GetObjectLegalHoldInput => GetObjectLegalHoldOutput;
    put_bucket_lifecycle_configuration: lifecycle, PutBucketLifecycleConfigurationInput => PutBucketLifecycleConfigurationOutput;
    get_bucket_lifecycle_configuration: lifecycle, GetBucketLifecycleConfigurationInput => GetBucketLifecycleConfigurationOutput;
    delete_bucket_lifecycle: lifecycle, DeleteBucketLifecycleInput => DeleteBucketLifecycleOutput;
    create_multipart_upload: multipart, CreateMultipartUploadInput => CreateMultipartUploadOutput;
    upload_part: multipart, UploadPartInput => UploadPartOutput;
    upload_part_copy: copy, UploadPartCopyInput => UploadPartCopyOutput;
    complete_multipart_upload: multipart, CompleteMultipartUploadInput => CompleteMultipartUploadOutput;
    abort_multipart_upload: multipart, AbortMultipartUploadInput => AbortMultipartUploadOutput;
    list_parts: multipart, ListPartsInput => ListPartsOutput;
    list_multipart_uploads: multipart, ListMultipartUploadsInput => ListMultipartUploadsOutput;
    put_bucket_policy: policy, PutBucketPolicyInput => PutBucketPolicyOutput;
    get_bucket_policy: policy, GetBucketPolicyInput => GetBucketPolicyOutput;
    delete_bucket_policy: policy, DeleteBucketPolicyInput => DeleteBucketPolicyOutput;
    get_bucket_policy_status: policy, GetBucketPolicyStatusInput => GetBucketPolicyStatusOutput;
    get_bucket_acl: acl, GetBucketAclInput => GetBucketAclOutput;
    put_bucket_acl: acl, PutBucketAclInput => PutBucketAclOutput;
    get_object_acl: acl, GetObjectAclInput => GetObjectAclOutput;
    put_object_acl: acl, PutObjectAclInput => PutObjectAclOutput;
    put_bucket_ownership_controls: acl, PutBucketOwnershipControlsInput => PutBucketOwnershipControlsOutput;
    get_bucket_ownership_controls: acl, GetBucketOwnershipControlsInput => GetBucketOwnershipControlsOutput;
    delete_bucket_ownership_controls: acl, DeleteBucketOwnershipControlsInput => DeleteBucketOwnershipControlsOutput;
    put_public_access_block: acl, PutPublicAccessBlockInput => PutPublicAccessBlockOutput;
    get_public_access_block: acl, GetPublicAccessBlockInput => GetPublicAccessBlockOutput;
    delete_public_access_block: acl, DeletePublicAccessBlockInput => DeletePublicAccessBlockOutput;
    put_object_tagging: tagging, PutObjectTaggingInput => PutObjectTaggingOutput;
    get_object_tagging: tagging, GetObjectTaggingInput => GetObjectTaggingOutput;
    delete_object_tagging: tagging, DeleteObjectTaggingInput => DeleteObjectTaggingOutput;
    put_bucket_cors: cors, PutBucketCorsInput => PutBucketCorsOutput;
    get_bucket_cors: cors, GetBucketCorsInput => GetBucketCorsOutput;
    delete_bucket_cors: cors, DeleteBucketCorsInput => DeleteBucketCorsOutput;
    put_bucket_encryption: sse, PutBucketEncryptionInput => PutBucketEncryptionOutput;
    get_bucket_encryption: sse, GetBucketEncryptionInput => GetBucketEncryptionOutput;
    delete_bucket_encryption: sse, DeleteBucketEncryptionInput => DeleteBucketEncryptionOutput;
    put_bucket_tagging: tagging, PutBucketTaggingInput => PutBucketTaggingOutput;
    get_bucket_tagging: tagging, GetBucketTaggingInput => GetBucketTaggingOutput;
    delete_bucket_tagging: tagging, DeleteBucketTaggingInput => DeleteBucketTaggingOutput;
}

/// A store time (milliseconds) as an S3 timestamp, to the second as HTTP dates carry it.
fn timestamp(ms: i64) -> Timestamp {
    let secs = ms.div_euclid(1000);
    Timestamp::from(time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH))
}

impl Gateway {
    /// The bucket owner, as S3 shows owners.
    async fn owner(&self, bucket: &osg_meta::Bucket) -> crate::error::Result<Owner> {
        Ok(owner_of(&self.account(&bucket.owner).await?))
    }

    /// The account with this id, which must exist: it owns a bucket or an object.
    async fn account(&self, id: &str) -> crate::error::Result<osg_meta::Account> {
        let account = self.meta.account(id).await?;
        Ok(account.ok_or_else(|| s3s::s3_error!(InternalError, "The owning account is missing."))?)
    }
}

fn owner_of(account: &osg_meta::Account) -> Owner {
    Owner {
        display_name: Some(account.name.clone()),
        id: Some(account.canonical_id.clone()),
    }
}

fn etag(hex: &str) -> ETag {
    ETag::Strong(hex.to_owned())
}

/// The headers S3 keeps with an object, as given on PUT, copy (REPLACE) or multipart creation.
fn attrs_from(
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<&Timestamp>,
    metadata: Option<Metadata>,
) -> osg_meta::ObjectAttrs {
    let expires = expires.and_then(|t| {
        let mut buf = Vec::new();
        t.format(TimestampFormat::HttpDate, &mut buf).ok()?;
        String::from_utf8(buf).ok()
    });
    osg_meta::ObjectAttrs {
        content_type,
        content_encoding,
        content_disposition,
        content_language,
        cache_control,
        expires,
        user: metadata.unwrap_or_default().into_iter().collect(),
        acl: None,
        tags: std::collections::BTreeMap::new(),
        checksums: std::collections::BTreeMap::new(),
        completed_upload: None,
        multipart_checksum: None,
        lock: osg_meta::VersionLock::default(),
        encryption: None,
    }
}

/// A conditional write's condition, from `If-Match` / `If-None-Match` on PUT and
/// CompleteMultipartUpload.
fn write_condition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> crate::error::Result<osg_meta::Condition> {
    match (if_match, if_none_match) {
        (Some(_), Some(_)) => {
            Err(s3s::s3_error!(InvalidRequest, "If-Match and If-None-Match cannot be used together.").into())
        }
        (Some(ETagCondition::Any), None) => Ok(osg_meta::Condition::ETag("*".into())),
        (Some(ETagCondition::ETag(e)), None) => Ok(osg_meta::Condition::ETag(e.value().to_owned())),
        (None, Some(ETagCondition::Any)) => Ok(osg_meta::Condition::Absent),
        (None, Some(ETagCondition::ETag(e))) => Ok(osg_meta::Condition::NotETag(e.value().to_owned())),
        (None, None) => Ok(osg_meta::Condition::None),
    }
}

/// Fails a conditional write that cannot succeed before its body is read; the commit checks
/// the condition again.
async fn precheck(gw: &Gateway, bucket: &str, key: &str, condition: &osg_meta::Condition) -> crate::error::Result<()> {
    if matches!(condition, osg_meta::Condition::None) {
        return Ok(());
    }
    let current = match gw.meta.object(bucket, key).await {
        Ok(version) => Some(version.etag),
        Err(osg_meta::Error::NoSuchKey) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(condition.admits(current.as_deref())?)
}
