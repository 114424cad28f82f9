//! Authorization of every S3 request, before any operation runs: who is asking (root, user or
//! anonymous), which IAM action on which resource the operation is, and what the caller's
//! identity policies and the bucket policy say, combined as AWS combines them:
//!
//! - an explicit Deny in any policy wins;
//! - within the bucket owner's account, an Allow from an identity policy or the bucket policy
//!   suffices, and the account's root may do anything not explicitly denied;
//! - across accounts, the bucket policy and the caller's identity must both allow;
//! - anonymous requests are allowed only by the bucket policy.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderMap, Uri};

use osg_meta::{Bucket, Caller, Meta};
use osg_policy::{Context, Decision, Principal, Request};
use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{S3Error, S3Result, s3_error};

use crate::directory::Directory;
use crate::error::Error;
use osg_policy::acl::{AclNeed, permission_for};

/// How the request reached us, put in the request's extensions by the listener.
#[derive(Debug, Clone, Copy)]
pub struct Connection {
    pub peer: SocketAddr,
    pub tls: bool,
}

/// The outcome of the access check, handed to the operation in the request's extensions.
#[derive(Debug, Clone)]
pub struct Authorized {
    /// The caller; `None` for an anonymous request.
    pub caller: Option<Caller>,
    /// The bucket the request names, if it exists.
    pub bucket: Option<Bucket>,
    /// Condition keys of this request, for checks the operation makes itself.
    pub context: Context,
}

/// The IAM action an operation needs, as AWS documents it. `Deferred` operations are checked
/// by the operation itself (per key, or on a second resource) or by a hook of [`Access`] once
/// their input is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Action(&'static str),
    Deferred,
    /// No action is known for the operation: denied to every caller (authorization fails
    /// closed, so an operation added to s3s cannot be served unchecked).
    Unknown,
}

/// The action an object action becomes when the request names a version (`versionId`).
pub(crate) fn on_version(action: &'static str) -> &'static str {
    match action {
        "s3:GetObject" => "s3:GetObjectVersion",
        "s3:DeleteObject" => "s3:DeleteObjectVersion",
        "s3:GetObjectTagging" => "s3:GetObjectVersionTagging",
        "s3:PutObjectTagging" => "s3:PutObjectVersionTagging",
        "s3:DeleteObjectTagging" => "s3:DeleteObjectVersionTagging",
        "s3:GetObjectAcl" => "s3:GetObjectVersionAcl",
        "s3:PutObjectAcl" => "s3:PutObjectVersionAcl",
        "s3:GetObjectAttributes" => "s3:GetObjectVersionAttributes",
        other => other,
    }
}

/// Every operation s3s routes, served or not (one that is not served answers NotImplemented
/// to a caller allowed to call it).
fn need(op: &str) -> Need {
    let action = match op {
        "ListBuckets" => "s3:ListAllMyBuckets",
        // Authorized in the create_bucket hook, where the body's LocationConstraint is known.
        "CreateBucket" => return Need::Deferred,
        "DeleteBucket" => "s3:DeleteBucket",
        "HeadBucket" | "ListObjects" | "ListObjectsV2" => "s3:ListBucket",
        "ListObjectVersions" => "s3:ListBucketVersions",
        "GetBucketLocation" => "s3:GetBucketLocation",
        "GetBucketPolicy" => "s3:GetBucketPolicy",
        "PutBucketPolicy" => "s3:PutBucketPolicy",
        "DeleteBucketPolicy" => "s3:DeleteBucketPolicy",
        "GetBucketPolicyStatus" => "s3:GetBucketPolicyStatus",
        "GetBucketAcl" => "s3:GetBucketAcl",
        "PutBucketAcl" => "s3:PutBucketAcl",
        "GetObjectAcl" => "s3:GetObjectAcl",
        "PutObjectAcl" => "s3:PutObjectAcl",
        "GetBucketOwnershipControls" => "s3:GetBucketOwnershipControls",
        "PutBucketOwnershipControls" | "DeleteBucketOwnershipControls" => "s3:PutBucketOwnershipControls",
        "GetPublicAccessBlock" => "s3:GetBucketPublicAccessBlock",
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => "s3:PutBucketPublicAccessBlock",
        "GetObjectTagging" => "s3:GetObjectTagging",
        // Authorized in the put_object_tagging hook, with the body's tags as condition keys.
        "PutObjectTagging" => return Need::Deferred,
        "DeleteObjectTagging" => "s3:DeleteObjectTagging",
        "ListMultipartUploads" => "s3:ListBucketMultipartUploads",
        "GetObject" | "HeadObject" | "SelectObjectContent" => "s3:GetObject",
        "GetObjectAttributes" => "s3:GetObjectAttributes",
        "PutObject" | "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload" => "s3:PutObject",
        // Also need s3:GetObject on the source, checked by the operation.
        "CopyObject" | "UploadPartCopy" => "s3:PutObject",
        "DeleteObject" => "s3:DeleteObject",
        "AbortMultipartUpload" => "s3:AbortMultipartUpload",
        "ListParts" => "s3:ListMultipartUploadParts",
        // s3:DeleteObject on each key named in the body.
        "DeleteObjects" => return Need::Deferred,
        "RestoreObject" => "s3:RestoreObject",
        "GetObjectTorrent" => "s3:GetObjectTorrent",
        "GetObjectLegalHold" => "s3:GetObjectLegalHold",
        // Authorized in their hooks, with the Object Lock condition keys of their bodies.
        "PutObjectLegalHold" | "PutObjectRetention" => return Need::Deferred,
        "GetObjectRetention" => "s3:GetObjectRetention",
        "GetObjectLockConfiguration" => "s3:GetBucketObjectLockConfiguration",
        "PutObjectLockConfiguration" => "s3:PutBucketObjectLockConfiguration",
        "GetBucketVersioning" => "s3:GetBucketVersioning",
        "PutBucketVersioning" => "s3:PutBucketVersioning",
        "GetBucketCors" => "s3:GetBucketCORS",
        "PutBucketCors" | "DeleteBucketCors" => "s3:PutBucketCORS",
        "GetBucketLifecycleConfiguration" => "s3:GetLifecycleConfiguration",
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => "s3:PutLifecycleConfiguration",
        "GetBucketEncryption" => "s3:GetEncryptionConfiguration",
        "PutBucketEncryption" | "DeleteBucketEncryption" => "s3:PutEncryptionConfiguration",
        "GetBucketTagging" => "s3:GetBucketTagging",
        // PutBucketTagging is authorized in its hook, with the body's tags as condition keys.
        "PutBucketTagging" => return Need::Deferred,
        "DeleteBucketTagging" => "s3:PutBucketTagging",
        "GetBucketWebsite" => "s3:GetBucketWebsite",
        "PutBucketWebsite" => "s3:PutBucketWebsite",
        "DeleteBucketWebsite" => "s3:DeleteBucketWebsite",
        "GetBucketLogging" => "s3:GetBucketLogging",
        "PutBucketLogging" => "s3:PutBucketLogging",
        "GetBucketNotificationConfiguration" => "s3:GetBucketNotification",
        "PutBucketNotificationConfiguration" => "s3:PutBucketNotification",
        "GetBucketReplication" => "s3:GetReplicationConfiguration",
        "PutBucketReplication" | "DeleteBucketReplication" => "s3:PutReplicationConfiguration",
        "GetBucketRequestPayment" => "s3:GetBucketRequestPayment",
        "PutBucketRequestPayment" => "s3:PutBucketRequestPayment",
        "GetBucketAccelerateConfiguration" => "s3:GetAccelerateConfiguration",
        "PutBucketAccelerateConfiguration" => "s3:PutAccelerateConfiguration",
        "GetBucketAnalyticsConfiguration" | "ListBucketAnalyticsConfigurations" => "s3:GetAnalyticsConfiguration",
        "PutBucketAnalyticsConfiguration" | "DeleteBucketAnalyticsConfiguration" => "s3:PutAnalyticsConfiguration",
        "GetBucketInventoryConfiguration" | "ListBucketInventoryConfigurations" => "s3:GetInventoryConfiguration",
        "PutBucketInventoryConfiguration" | "DeleteBucketInventoryConfiguration" => "s3:PutInventoryConfiguration",
        "GetBucketMetricsConfiguration" | "ListBucketMetricsConfigurations" => "s3:GetMetricsConfiguration",
        "PutBucketMetricsConfiguration" | "DeleteBucketMetricsConfiguration" => "s3:PutMetricsConfiguration",
        "GetBucketIntelligentTieringConfiguration" | "ListBucketIntelligentTieringConfigurations" => {
            "s3:GetIntelligentTieringConfiguration"
        }
        "PutBucketIntelligentTieringConfiguration" | "DeleteBucketIntelligentTieringConfiguration" => {
            "s3:PutIntelligentTieringConfiguration"
        }
        "GetBucketMetadataTableConfiguration" => "s3:GetBucketMetadataTableConfiguration",
        "CreateBucketMetadataTableConfiguration" => "s3:CreateBucketMetadataTableConfiguration",
        "DeleteBucketMetadataTableConfiguration" => "s3:DeleteBucketMetadataTableConfiguration",
        // Directory buckets (CreateSession, ListDirectoryBuckets) and Object Lambda
        // (WriteGetObjectResponse) are other services' actions: never allowed here. Form
        // uploads (PostObject) never reach s3s (`crate::s3::post_object`); if one did, it is
        // refused.
        _ => return Need::Unknown,
    };
    Need::Action(action)
}

/// Actions a write needs beside `s3:PutObject` when it sets an ACL or tags, as in S3.
fn also_needs(op: &str, headers: &HeaderMap) -> Vec<&'static str> {
    let mut also = Vec::new();
    if !matches!(op, "PutObject" | "CopyObject" | "CreateMultipartUpload") {
        return also;
    }
    if headers
        .keys()
        .any(|h| h.as_str() == "x-amz-acl" || h.as_str().starts_with("x-amz-grant-"))
    {
        also.push("s3:PutObjectAcl");
    }
    if headers.contains_key("x-amz-tagging") {
        also.push("s3:PutObjectTagging");
    }
    if headers.contains_key("x-amz-object-lock-mode") || headers.contains_key("x-amz-object-lock-retain-until-date") {
        also.push("s3:PutObjectRetention");
    }
    if headers.contains_key("x-amz-object-lock-legal-hold") {
        also.push("s3:PutObjectLegalHold");
    }
    also
}

/// Operations the bucket owner's root may always perform, so a policy cannot lock it out.
const OWNER_ALWAYS: &[&str] = &["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"];

pub struct Access {
    dir: Arc<Directory>,
}

impl Access {
    pub fn new(dir: Arc<Directory>) -> Self {
        Self { dir }
    }
}

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let op = cx.s3_op().name().to_owned();
        let access_key = cx.credentials().map(|c| c.access_key.clone());
        if let Some(outcome) = cx.extensions_mut().get::<crate::observe::Outcome>() {
            outcome.record(&op, access_key.as_deref());
        }
        // What the request asks for that is not implemented is refused before anything else.
        let headers = cx
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap_or_default()));
        crate::s3::unhonoured::check(&op, headers)?;
        let version_id = cx
            .uri()
            .query()
            .and_then(|q| form_pairs(q).find(|(k, _)| k == "versionId"))
            .map(|(_, v)| v);
        if version_id.as_deref().is_some_and(|v| !osg_model::is_version_id(v)) {
            return Err(s3_error!(InvalidArgument, "Invalid version id specified"));
        }
        let caller = match &access_key {
            Some(key) => Some(
                self.dir
                    .caller(key)
                    .await?
                    .ok_or_else(|| s3_error!(InvalidAccessKeyId))?,
            ),
            None => None,
        };
        let (bucket_name, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        let need = match need(&op) {
            Need::Action(action) if version_id.is_some() => Need::Action(on_version(action)),
            need => need,
        };
        // Fails closed: nothing is looked up for an operation no action is known for.
        if need == Need::Unknown {
            return Err(s3_error!(AccessDenied));
        }
        let bucket = match (&bucket_name, op.as_str()) {
            (Some(name), op) if op != "CreateBucket" => match self.dir.bucket(name).await {
                Ok(b) => Some(b),
                Err(Error::Meta(osg_meta::Error::NoSuchBucket)) => None,
                Err(e) => return Err(e.into()),
            },
            _ => None,
        };
        let conn = cx.extensions_mut().get::<Connection>().copied();
        let mut context = request_context(cx.headers(), cx.uri(), conn, caller.as_ref());
        if let Some(tagging) = cx.headers().get("x-amz-tagging").and_then(|v| v.to_str().ok())
            && matches!(op.as_str(), "PutObject" | "CopyObject" | "CreateMultipartUpload")
        {
            set_request_tags(&mut context, form_pairs(tagging).collect());
        }
        // An anonymous caller learns nothing of buckets that do not exist (the operation
        // answers NoSuchBucket to others), and never has a body read before it is authorized:
        // the operations authorized once their body is parsed (CreateBucket, DeleteObjects,
        // PutObjectTagging) are refused to it outright.
        let missing_bucket = bucket_name.is_some() && bucket.is_none() && op != "CreateBucket";
        if caller.is_none() && (missing_bucket || need == Need::Deferred) {
            return Err(s3_error!(AccessDenied));
        }
        if let (Some(expected), Some(b)) = (cx.headers().get("x-amz-expected-bucket-owner"), &bucket)
            && expected.as_bytes() != b.owner.as_bytes()
        {
            return Err(s3_error!(AccessDenied));
        }
        // Without the bucket (and with a caller), the operation answers NoSuchBucket.
        if let Need::Action(action) = need
            && (bucket.is_some() || bucket_name.is_none())
        {
            let resource = resource_arn(bucket_name.as_deref(), key.as_deref());
            let target = Target::new(bucket.as_ref(), key.as_deref(), &resource).version(version_id.as_deref());
            authorize(&self.dir, caller.as_ref(), action, &target, &context).await?;
            for also in also_needs(&op, cx.headers()) {
                authorize(&self.dir, caller.as_ref(), also, &target, &context).await?;
            }
        }
        cx.extensions_mut().insert(Authorized {
            caller,
            bucket,
            context,
        });
        Ok(())
    }

    /// CreateBucket's LocationConstraint is in its body, which the check above cannot see:
    /// CreateBucket is authorized here, with `s3:LocationConstraint` set when there is one.
    async fn create_bucket(&self, req: &mut s3s::S3Request<s3s::dto::CreateBucketInput>) -> S3Result<()> {
        let Some(auth) = req.extensions.get::<Authorized>() else {
            return Err(s3_error!(AccessDenied));
        };
        let mut context = auth.context.clone();
        if let Some(constraint) = req
            .input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
        {
            context.set("s3:LocationConstraint", constraint.as_str());
        }
        let resource = resource_arn(Some(&req.input.bucket), None);
        let target = Target::new(None, None, &resource);
        authorize(&self.dir, auth.caller.as_ref(), "s3:CreateBucket", &target, &context).await?;
        // Object Lock at creation also configures the bucket's lock and versioning.
        if req.input.object_lock_enabled_for_bucket == Some(true) {
            for also in ["s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning"] {
                authorize(&self.dir, auth.caller.as_ref(), also, &target, &context).await?;
            }
        }
        Ok(())
    }

    /// PutObjectRetention's retention is in its body: authorized here, with
    /// `s3:object-lock-mode`, `-retain-until-date` and `-remaining-retention-days` from it.
    async fn put_object_retention(&self, req: &mut s3s::S3Request<s3s::dto::PutObjectRetentionInput>) -> S3Result<()> {
        let retention = req.input.retention.as_ref();
        let mode = retention.and_then(|r| r.mode.as_ref()).map(|m| m.as_str().to_owned());
        let until = retention.and_then(|r| r.retain_until_date.as_ref()).map(until_ms);
        let (key, version) = (req.input.key.clone(), req.input.version_id.clone());
        authorize_lock_change(
            &self.dir,
            req,
            &key,
            version.as_deref(),
            "s3:PutObjectRetention",
            |context| {
                set_retention_keys(context, mode.as_deref(), until);
            },
        )
        .await
    }

    /// PutObjectLegalHold's status is in its body: authorized here, with
    /// `s3:object-lock-legal-hold` from it.
    async fn put_object_legal_hold(&self, req: &mut s3s::S3Request<s3s::dto::PutObjectLegalHoldInput>) -> S3Result<()> {
        let status = req
            .input
            .legal_hold
            .as_ref()
            .and_then(|h| h.status.as_ref())
            .map(|s| s.as_str().to_owned());
        let (key, version) = (req.input.key.clone(), req.input.version_id.clone());
        authorize_lock_change(
            &self.dir,
            req,
            &key,
            version.as_deref(),
            "s3:PutObjectLegalHold",
            |context| {
                if let Some(status) = &status {
                    context.set("s3:object-lock-legal-hold", status.clone());
                }
            },
        )
        .await
    }

    /// PutObjectTagging's tags are in its body, which the check above cannot see: it is
    /// authorized here, with `s3:RequestObjectTag/KEY` and `s3:RequestObjectTagKeys` from the
    /// body's TagSet.
    async fn put_object_tagging(&self, req: &mut s3s::S3Request<s3s::dto::PutObjectTaggingInput>) -> S3Result<()> {
        let Some(auth) = req.extensions.get::<Authorized>() else {
            return Err(s3_error!(AccessDenied));
        };
        let Some(bucket) = &auth.bucket else { return Ok(()) };
        let mut context = auth.context.clone();
        let tags = req
            .input
            .tagging
            .tag_set
            .iter()
            .map(|t| (t.key.clone().unwrap_or_default(), t.value.clone().unwrap_or_default()));
        set_request_tags(&mut context, tags.collect());
        let resource = resource_arn(Some(&bucket.name), Some(&req.input.key));
        let target =
            Target::new(Some(bucket), Some(&req.input.key), &resource).version(req.input.version_id.as_deref());
        let action = if req.input.version_id.is_some() {
            on_version("s3:PutObjectTagging")
        } else {
            "s3:PutObjectTagging"
        };
        authorize(&self.dir, auth.caller.as_ref(), action, &target, &context).await
    }

    /// PutBucketTagging's tags are in its body: authorized here, with `aws:RequestTag/KEY` and
    /// `aws:TagKeys` from the body's TagSet.
    async fn put_bucket_tagging(&self, req: &mut s3s::S3Request<s3s::dto::PutBucketTaggingInput>) -> S3Result<()> {
        let Some(auth) = req.extensions.get::<Authorized>() else {
            return Err(s3_error!(AccessDenied));
        };
        let Some(bucket) = &auth.bucket else { return Ok(()) };
        let mut context = auth.context.clone();
        let tags: Vec<(String, String)> = req
            .input
            .tagging
            .tag_set
            .iter()
            .map(|t| (t.key.clone().unwrap_or_default(), t.value.clone().unwrap_or_default()))
            .collect();
        set_tags(&mut context, "aws:RequestTag", &tags);
        context.set_all("aws:TagKeys", tags.into_iter().map(|(k, _)| k).collect());
        let resource = resource_arn(Some(&bucket.name), None);
        let target = Target::new(Some(bucket), None, &resource);
        authorize(
            &self.dir,
            auth.caller.as_ref(),
            "s3:PutBucketTagging",
            &target,
            &context,
        )
        .await
    }
}

/// Authorizes a change to an object's lock once its body is parsed: `action` (its version
/// form for a version), with the condition keys `set` adds.
async fn authorize_lock_change<T>(
    dir: &Directory,
    req: &s3s::S3Request<T>,
    key: &str,
    version: Option<&str>,
    action: &'static str,
    set: impl FnOnce(&mut Context),
) -> S3Result<()> {
    let Some(auth) = req.extensions.get::<Authorized>() else {
        return Err(s3_error!(AccessDenied));
    };
    // No caller: the access check refused already. No bucket: the operation says so.
    let Some(bucket) = &auth.bucket else { return Ok(()) };
    let mut context = auth.context.clone();
    set(&mut context);
    let resource = resource_arn(Some(&bucket.name), Some(key));
    let target = Target::new(Some(bucket), Some(key), &resource).version(version);
    let action = if version.is_some() { on_version(action) } else { action };
    authorize(dir, auth.caller.as_ref(), action, &target, &context).await
}

fn until_ms(t: &s3s::dto::Timestamp) -> i64 {
    let t = time::OffsetDateTime::from(t.clone());
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// `s3:object-lock-mode`, `s3:object-lock-retain-until-date` and
/// `s3:object-lock-remaining-retention-days` for a retention a request sets.
fn set_retention_keys(context: &mut Context, mode: Option<&str>, until_ms: Option<i64>) {
    if let Some(mode) = mode {
        context.set("s3:object-lock-mode", mode);
    }
    if let Some(until) = until_ms {
        if let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(until) * 1_000_000)
            && let Ok(text) = t.format(&time::format_description::well_known::Rfc3339)
        {
            context.set("s3:object-lock-retain-until-date", text);
        }
        let left = (until - osg_meta::now_ms()).max(0);
        let days = (left + 86_399_999) / 86_400_000;
        context.set("s3:object-lock-remaining-retention-days", days.to_string());
    }
}

/// `s3:RequestObjectTag/KEY` and `s3:RequestObjectTagKeys` for the tags a request sets.
pub fn set_request_tags(context: &mut Context, tags: Vec<(String, String)>) {
    set_tags(context, "s3:RequestObjectTag", &tags);
    context.set_all("s3:RequestObjectTagKeys", tags.into_iter().map(|(k, _)| k).collect());
}

/// `PREFIX/KEY` for each of `tags`.
fn set_tags(context: &mut Context, prefix: &str, tags: &[(String, String)]) {
    // Condition keys are case-insensitive and tag keys are not: tags whose keys differ only
    // in case give their key every value, so a condition on one sees the other's too.
    let mut by_key: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in tags {
        by_key.entry(k.to_ascii_lowercase()).or_default().push(v.clone());
    }
    for (k, values) in by_key {
        context.set_all(&format!("{prefix}/{k}"), values);
    }
}

/// `arn:aws:s3:::bucket`, `arn:aws:s3:::bucket/key`, or `*` for requests on no bucket.
pub fn resource_arn(bucket: Option<&str>, key: Option<&str>) -> String {
    match (bucket, key) {
        (Some(b), Some(k)) => format!("arn:aws:s3:::{b}/{k}"),
        (Some(b), None) => format!("arn:aws:s3:::{b}"),
        _ => "*".to_owned(),
    }
}

fn principal(caller: Option<&Caller>) -> osg_policy::Caller {
    match caller {
        None => osg_policy::Caller::Anonymous,
        Some(c) => osg_policy::Caller::Principal(Principal {
            account: c.account.id.clone(),
            arn: c
                .user
                .as_ref()
                .map_or_else(|| format!("arn:aws:iam::{}:root", c.account.id), osg_meta::User::arn),
            canonical_id: c.account.canonical_id.clone(),
        }),
    }
}

/// What an action is on: the resource ARN, and the bucket, key and version behind it, if any.
pub struct Target<'a> {
    pub bucket: Option<&'a Bucket>,
    pub key: Option<&'a str>,
    /// The version a request names (`None`: the current object), whose ACL and tags count.
    pub version: Option<&'a str>,
    pub resource: &'a str,
}

impl<'a> Target<'a> {
    pub fn new(bucket: Option<&'a Bucket>, key: Option<&'a str>, resource: &'a str) -> Self {
        Self {
            bucket,
            key,
            version: None,
            resource,
        }
    }

    #[must_use]
    pub fn version(mut self, version: Option<&'a str>) -> Self {
        self.version = version;
        self
    }
}

/// The object version whose ACL and tags an action on `target` is judged by.
async fn target_version(
    meta: &osg_meta::Meta,
    bucket: &Bucket,
    key: &str,
    target: &Target<'_>,
) -> Option<osg_meta::Version> {
    let version = meta.object_version(&bucket.name, key, target.version).await.ok()?;
    (!version.delete_marker).then_some(version)
}

/// Decides one action on one resource; `Err(AccessDenied)` unless allowed.
pub async fn authorize(
    dir: &Directory,
    caller: Option<&Caller>,
    action: &str,
    target: &Target<'_>,
    context: &Context,
) -> Result<(), S3Error> {
    let (bucket, resource) = (target.bucket, target.resource);
    let identity_policies = match caller.and_then(|c| c.user.as_ref()) {
        Some(user) => dir.identity_policies(user).await?,
        None => Arc::new(Vec::new()),
    };
    let bucket_policy = bucket.and_then(|b| dir.bucket_policy(b));
    // s3:ExistingObjectTag/KEY costs a lookup of the object, so only when a policy asks.
    let mut context = std::borrow::Cow::Borrowed(context);
    let uses = |prefix: &str| {
        identity_policies
            .iter()
            .chain(bucket_policy.as_deref())
            .any(|p| p.uses_condition_key(prefix))
    };
    // The bucket's tags, for a request on the bucket or its objects (AWS's ABAC for general
    // purpose buckets, always on here).
    if let Some(b) = bucket
        && uses("aws:ResourceTag/")
    {
        let tags: Vec<_> = b.config.tags().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        set_tags(context.to_mut(), "aws:ResourceTag", &tags);
    }
    if let (true, Some(b), Some(key)) = (uses("s3:ExistingObjectTag/"), bucket, target.key)
        && let Some(version) = target_version(dir.meta(), b, key, target).await
    {
        for (k, v) in &version.attrs.tags {
            context.to_mut().set(&format!("s3:ExistingObjectTag/{k}"), v.clone());
        }
    }
    let who = principal(caller);
    let request = Request {
        caller: &who,
        action,
        resource,
        context: &context,
    };
    let identity = match caller.map(|c| &c.user) {
        None => Decision::NotApplicable,
        // The root identity holds every permission of its account.
        Some(None) => Decision::Allow,
        Some(Some(_)) => identity_policies
            .iter()
            .fold(Decision::NotApplicable, |d, p| d.and(p.evaluate(&request))),
    };
    let same_account = match (caller, bucket) {
        (Some(c), Some(b)) => c.account.id == b.owner,
        (Some(_), None) => true,
        (None, _) => false,
    };
    let pab = bucket.map(|b| b.config.public_access_block()).unwrap_or_default();
    let mut resource_side = match &bucket_policy {
        Some(policy) => {
            let mut decision = policy.evaluate(&request);
            // A statement naming the account delegates to the account: its users need their
            // own policies for it. So for them only statements naming them (or everyone) allow.
            if decision == Decision::Allow
                && same_account
                && let Some(user) = caller.and_then(|c| c.user.as_ref())
            {
                let only_user = osg_policy::Caller::Principal(Principal {
                    account: String::new(),
                    arn: user.arn(),
                    canonical_id: String::new(),
                });
                let named = Request {
                    caller: &only_user,
                    action,
                    resource,
                    context: &context,
                };
                if policy.evaluate(&named) != Decision::Allow {
                    decision = Decision::NotApplicable;
                }
            }
            // RestrictPublicBuckets: a public policy grants nothing outside the account.
            if decision == Decision::Allow && pab.restrict_public_buckets && !same_account && policy.is_public() {
                decision = Decision::NotApplicable;
            }
            decision
        }
        None => Decision::NotApplicable,
    };
    // A grant to the bucket owner's own account reaches its users only through their policies.
    let account_grants = !(same_account && caller.is_some_and(|c| c.user.is_some()));
    if resource_side == Decision::NotApplicable
        && acl_allows(dir.meta(), &who, action, target, pab.ignore_public_acls, account_grants).await
    {
        resource_side = Decision::Allow;
    }
    let owner_root = caller.is_some_and(|c| c.user.is_none() && bucket.is_some_and(|b| b.owner == c.account.id));
    if owner_root && OWNER_ALWAYS.contains(&action) {
        return Ok(());
    }
    let allowed = match (identity, resource_side) {
        (Decision::Deny, _) | (_, Decision::Deny) => false,
        _ if caller.is_none() => resource_side == Decision::Allow,
        _ if same_account => identity == Decision::Allow || resource_side == Decision::Allow,
        _ => identity == Decision::Allow && resource_side == Decision::Allow,
    };
    if allowed { Ok(()) } else { Err(s3_error!(AccessDenied)) }
}

/// Whether the bucket's or object's ACL grants the action (only when the bucket has ACLs on).
async fn acl_allows(
    meta: &Meta,
    who: &osg_policy::Caller,
    action: &str,
    target: &Target<'_>,
    ignore_public: bool,
    account_grants: bool,
) -> bool {
    let Some(bucket) = target.bucket.filter(|b| b.config.ownership.acls_enabled()) else {
        return false;
    };
    match permission_for(action) {
        Some(AclNeed::Bucket(p)) => bucket.config.acl.allows(who, p, ignore_public, account_grants),
        Some(AclNeed::Object(p)) => {
            let Some(key) = target.key else { return false };
            let stored = target_version(meta, bucket, key, target)
                .await
                .and_then(|v| v.attrs.acl);
            stored.is_some_and(|a| a.allows(who, p, ignore_public, account_grants))
        }
        None => false,
    }
}

/// The condition keys a policy may test for this request.
pub fn request_context(headers: &HeaderMap, uri: &Uri, conn: Option<Connection>, caller: Option<&Caller>) -> Context {
    let mut context = Context::new();
    let now = time::OffsetDateTime::now_utc();
    context.set(
        "aws:CurrentTime",
        now.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    );
    context.set("aws:EpochTime", now.unix_timestamp().to_string());
    if let Some(conn) = conn {
        context.set("aws:SourceIp", conn.peer.ip().to_string());
        context.set("aws:SecureTransport", conn.tls.to_string());
    }
    if let Some(c) = caller {
        context.set("aws:PrincipalAccount", c.account.id.clone());
        match &c.user {
            Some(u) => {
                context.set("aws:username", u.name.clone());
                context.set("aws:userid", u.user_id.clone());
                context.set("aws:PrincipalArn", u.arn());
                context.set("aws:PrincipalType", "User");
            }
            None => {
                context.set("aws:userid", c.account.id.clone());
                context.set("aws:PrincipalArn", format!("arn:aws:iam::{}:root", c.account.id));
                context.set("aws:PrincipalType", "Account");
            }
        }
    } else {
        context.set("aws:PrincipalType", "Anonymous");
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    for (key, name) in [
        ("aws:Referer", "referer"),
        ("aws:UserAgent", "user-agent"),
        ("s3:x-amz-acl", "x-amz-acl"),
        ("s3:x-amz-content-sha256", "x-amz-content-sha256"),
        ("s3:x-amz-server-side-encryption", "x-amz-server-side-encryption"),
        (
            "s3:x-amz-server-side-encryption-customer-algorithm",
            "x-amz-server-side-encryption-customer-algorithm",
        ),
    ] {
        if let Some(v) = header(name) {
            context.set(key, v);
        }
    }
    let query: HashMap<String, String> = uri.query().map(|q| form_pairs(q).collect()).unwrap_or_default();
    for (key, name) in [
        ("s3:prefix", "prefix"),
        ("s3:delimiter", "delimiter"),
        ("s3:max-keys", "max-keys"),
        ("s3:versionid", "versionId"),
    ] {
        if let Some(v) = query.get(name) {
            context.set(key, v.clone());
        }
    }
    // Object Lock settings of a write (PutObject, CopyObject, CreateMultipartUpload).
    let until = header("x-amz-object-lock-retain-until-date")
        .and_then(|v| time::OffsetDateTime::parse(v.trim(), &time::format_description::well_known::Rfc3339).ok())
        .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX));
    let mode = header("x-amz-object-lock-mode");
    if mode.is_some() || until.is_some() {
        set_retention_keys(&mut context, mode, until);
    }
    if let Some(hold) = header("x-amz-object-lock-legal-hold") {
        context.set("s3:object-lock-legal-hold", hold);
    }
    let authorization = header("authorization");
    let (auth_type, version) = if let Some(a) = authorization {
        (
            "REST-HEADER",
            if a.starts_with("AWS4-") {
                "AWS4-HMAC-SHA256"
            } else {
                "AWS"
            },
        )
    } else if query.contains_key("X-Amz-Signature") {
        ("REST-QUERY-STRING", "AWS4-HMAC-SHA256")
    } else if query.contains_key("Signature") {
        ("REST-QUERY-STRING", "AWS")
    } else {
        ("POST", "AWS4-HMAC-SHA256")
    };
    if caller.is_some() {
        context.set("s3:authType", auth_type);
        context.set("s3:signatureversion", version);
        let signed = crate::s3s_gaps::skew::signed_at(headers)
            .or_else(|| query.get("X-Amz-Date").and_then(|d| crate::s3s_gaps::skew::amz_date(d)));
        if let Some(signed) = signed {
            let age = (now - signed).whole_milliseconds().max(0);
            context.set("s3:signatureAge", age.to_string());
        }
    }
    context
}

/// `name=value` pairs of a query string or form body, percent-decoded.
pub fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        (decode(k), decode(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation s3s 0.14.1 routes, by the name its access check sees.
    const S3S_OPERATIONS: &[&str] = &[
        "AbortMultipartUpload",
        "CompleteMultipartUpload",
        "CopyObject",
        "CreateBucket",
        "CreateBucketMetadataTableConfiguration",
        "CreateMultipartUpload",
        "CreateSession",
        "DeleteBucket",
        "DeleteBucketAnalyticsConfiguration",
        "DeleteBucketCors",
        "DeleteBucketEncryption",
        "DeleteBucketIntelligentTieringConfiguration",
        "DeleteBucketInventoryConfiguration",
        "DeleteBucketLifecycle",
        "DeleteBucketMetadataTableConfiguration",
        "DeleteBucketMetricsConfiguration",
        "DeleteBucketOwnershipControls",
        "DeleteBucketPolicy",
        "DeleteBucketReplication",
        "DeleteBucketTagging",
        "DeleteBucketWebsite",
        "DeleteObject",
        "DeleteObjectTagging",
        "DeleteObjects",
        "DeletePublicAccessBlock",
        "GetBucketAccelerateConfiguration",
        "GetBucketAcl",
        "GetBucketAnalyticsConfiguration",
        "GetBucketCors",
        "GetBucketEncryption",
        "GetBucketIntelligentTieringConfiguration",
        "GetBucketInventoryConfiguration",
        "GetBucketLifecycleConfiguration",
        "GetBucketLocation",
        "GetBucketLogging",
        "GetBucketMetadataTableConfiguration",
        "GetBucketMetricsConfiguration",
        "GetBucketNotificationConfiguration",
        "GetBucketOwnershipControls",
        "GetBucketPolicy",
        "GetBucketPolicyStatus",
        "GetBucketReplication",
        "GetBucketRequestPayment",
        "GetBucketTagging",
        "GetBucketVersioning",
        "GetBucketWebsite",
        "GetObject",
        "GetObjectAcl",
        "GetObjectAttributes",
        "GetObjectLegalHold",
        "GetObjectLockConfiguration",
        "GetObjectRetention",
        "GetObjectTagging",
        "GetObjectTorrent",
        "GetPublicAccessBlock",
        "HeadBucket",
        "HeadObject",
        "ListBucketAnalyticsConfigurations",
        "ListBucketIntelligentTieringConfigurations",
        "ListBucketInventoryConfigurations",
        "ListBucketMetricsConfigurations",
        "ListBuckets",
        "ListDirectoryBuckets",
        "ListMultipartUploads",
        "ListObjectVersions",
        "ListObjects",
        "ListObjectsV2",
        "ListParts",
        "PutBucketAccelerateConfiguration",
        "PutBucketAcl",
        "PutBucketAnalyticsConfiguration",
        "PutBucketCors",
        "PutBucketEncryption",
        "PutBucketIntelligentTieringConfiguration",
        "PutBucketInventoryConfiguration",
        "PutBucketLifecycleConfiguration",
        "PutBucketLogging",
        "PutBucketMetricsConfiguration",
        "PutBucketNotificationConfiguration",
        "PutBucketOwnershipControls",
        "PutBucketPolicy",
        "PutBucketReplication",
        "PutBucketRequestPayment",
        "PutBucketTagging",
        "PutBucketVersioning",
        "PutBucketWebsite",
        "PutObject",
        "PutObjectAcl",
        "PutObjectLegalHold",
        "PutObjectLockConfiguration",
        "PutObjectRetention",
        "PutObjectTagging",
        "PutPublicAccessBlock",
        "RestoreObject",
        "SelectObjectContent",
        "UploadPart",
        "UploadPartCopy",
        "WriteGetObjectResponse",
        "PostObject",
    ];

    /// Operations no caller may call here: other services' actions, and form uploads, which
    /// are served before s3s.
    const NEVER: &[&str] = &[
        "CreateSession",
        "ListDirectoryBuckets",
        "WriteGetObjectResponse",
        "PostObject",
    ];

    /// `list_objects_v2` -> `ListObjectsV2`.
    fn pascal(snake: &str) -> String {
        snake
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn every_served_operation_has_an_action() {
        assert!(!crate::s3::SERVED.is_empty());
        for op in crate::s3::SERVED {
            let op = pascal(op);
            assert!(
                S3S_OPERATIONS.contains(&op.as_str()),
                "{op} is not an s3s operation name"
            );
            assert!(
                matches!(need(&op), Need::Action(a) if a.starts_with("s3:")) || need(&op) == Need::Deferred,
                "{op} is served without an IAM action"
            );
        }
        for op in S3S_OPERATIONS {
            let expected_never = NEVER.contains(op);
            assert_eq!(need(op) == Need::Unknown, expected_never, "{op}");
        }
        assert_eq!(need("DeleteObjects"), Need::Deferred);
        assert_eq!(need("CreateBucket"), Need::Deferred);
        assert_eq!(need("PutObjectTagging"), Need::Deferred);
        assert_eq!(need("PutBucketVersioning"), Need::Action("s3:PutBucketVersioning"));
        assert_eq!(need("SomeFutureOperation"), Need::Unknown);
    }

    #[test]
    fn writes_that_set_acls_or_tags_need_those_actions_too() {
        let mut h = HeaderMap::new();
        assert!(also_needs("PutObject", &h).is_empty());
        h.insert("x-amz-grant-read", "uri=x".parse().unwrap());
        assert_eq!(also_needs("PutObject", &h), ["s3:PutObjectAcl"]);
        h.insert("x-amz-tagging", "a=b".parse().unwrap());
        assert_eq!(
            also_needs("CreateMultipartUpload", &h),
            ["s3:PutObjectAcl", "s3:PutObjectTagging"]
        );
        assert!(also_needs("GetObject", &h).is_empty());
    }

    #[test]
    fn query_pairs_are_decoded() {
        let pairs: Vec<_> = form_pairs("prefix=a%2Fb+c&max-keys=5&list-type").collect();
        assert_eq!(pairs[0], ("prefix".into(), "a/b c".into()));
        assert_eq!(pairs[1], ("max-keys".into(), "5".into()));
        assert_eq!(pairs[2], ("list-type".into(), String::new()));
    }
}
