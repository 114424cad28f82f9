//! ACLs, Object Ownership and Public Access Block: Get/PutBucketAcl, Get/PutObjectAcl,
//! Put/Get/DeleteBucketOwnershipControls, Put/Get/DeletePublicAccessBlock, and the ACLs given
//! with CreateBucket and PutObject.
//!
//! The S3 side only translates: which ACL combinations a bucket takes is the model's rule
//! (`osg_model::BucketConfig`). New buckets are `BucketOwnerEnforced`, as AWS creates them:
//! ACLs are off, every object belongs to the bucket owner, and only owner-only ACLs are
//! accepted. `BucketOwnerPreferred` and `ObjectWriter` turn ACLs on.

use http::StatusCode;
use osg_meta::{Account, Bucket, BucketConfig, Meta};
use osg_model::{Ownership, PublicAccessBlock};
use osg_policy::acl::{Acl, Grant, Grantee, Permission};
use s3s::dto::{self, ObjectOwnership};
use s3s::{S3Request, S3Response, s3_error};

use super::access;
use crate::Gateway;
use crate::error::{Result, custom};

/// The grant headers of a request: `x-amz-grant-read: id="...", uri="..."`, ...
pub struct GrantHeaders<'a> {
    pub read: Option<&'a str>,
    pub write: Option<&'a str>,
    pub read_acp: Option<&'a str>,
    pub write_acp: Option<&'a str>,
    pub full_control: Option<&'a str>,
}

/// Reads the five grant headers off any input that has them.
macro_rules! grant_headers {
    ($i:expr) => {
        crate::s3::acl::GrantHeaders {
            read: $i.grant_read.as_deref(),
            write: None,
            read_acp: $i.grant_read_acp.as_deref(),
            write_acp: $i.grant_write_acp.as_deref(),
            full_control: $i.grant_full_control.as_deref(),
        }
    };
    ($i:expr, with_write) => {
        crate::s3::acl::GrantHeaders {
            write: $i.grant_write.as_deref(),
            ..grant_headers!($i)
        }
    };
}
pub(crate) use grant_headers;

impl GrantHeaders<'_> {
    fn is_empty(&self) -> bool {
        [self.read, self.write, self.read_acp, self.write_acp, self.full_control]
            .iter()
            .all(Option::is_none)
    }

    /// The grants the headers name, for a resource owned by `owner` (canonical id).
    async fn grants(&self, meta: &Meta, owner: &str) -> Result<Acl> {
        let mut named = Vec::new();
        for (header, permission) in [
            (self.read, Permission::Read),
            (self.write, Permission::Write),
            (self.read_acp, Permission::ReadAcp),
            (self.write_acp, Permission::WriteAcp),
            (self.full_control, Permission::FullControl),
        ] {
            for grantee in header.map(parse_grant_header).transpose()?.unwrap_or_default() {
                named.push((grantee, permission));
            }
        }
        let mut acl = resolve(meta, named).await?;
        acl.grants.insert(
            0,
            Grant {
                grantee: Grantee::Account(owner.to_owned()),
                permission: Permission::FullControl,
            },
        );
        Ok(acl)
    }
}

/// A grantee as a request names it, before an e-mail address is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    Id(String),
    Group(String),
    Email(String),
}

/// The grantees of one `x-amz-grant-*` header: `id="..."`, `uri="..."` or
/// `emailAddress="..."`, comma-separated. A group must be one of S3's.
pub fn parse_grant_header(header: &str) -> Result<Vec<Named>> {
    let invalid = || s3_error!(InvalidArgument, "Invalid grant header.");
    header
        .split(',')
        .map(|item| {
            let (kind, value) = item.trim().split_once('=').ok_or_else(invalid)?;
            let value = value.trim().trim_matches('"').to_owned();
            Ok(match kind.trim() {
                "id" => Named::Id(value),
                "uri" => group(value)?,
                "emailAddress" => Named::Email(value),
                _ => return Err(invalid().into()),
            })
        })
        .collect()
}

/// The grants of an `AccessControlPolicy` document.
pub fn body_grants(policy: &dto::AccessControlPolicy) -> Result<Vec<(Named, Permission)>> {
    let mut grants = Vec::new();
    for g in policy.grants.iter().flatten() {
        let (Some(grantee), Some(permission)) = (&g.grantee, &g.permission) else {
            return Err(s3_error!(MalformedACLError).into());
        };
        let permission = Permission::parse(permission.as_str()).ok_or_else(|| s3_error!(MalformedACLError))?;
        let named = match (
            grantee.type_.as_str(),
            &grantee.id,
            &grantee.uri,
            &grantee.email_address,
        ) {
            (dto::Type::CANONICAL_USER, Some(id), _, _) => Named::Id(id.clone()),
            (dto::Type::GROUP, _, Some(uri), _) => group(uri.clone())?,
            (dto::Type::AMAZON_CUSTOMER_BY_EMAIL, _, _, Some(email)) => Named::Email(email.clone()),
            _ => return Err(s3_error!(MalformedACLError).into()),
        };
        grants.push((named, permission));
    }
    Ok(grants)
}

/// The ACL of named grants, e-mail addresses looked up.
async fn resolve(meta: &Meta, named: Vec<(Named, Permission)>) -> Result<Acl> {
    let mut grants = Vec::with_capacity(named.len());
    for (who, permission) in named {
        let grantee = match who {
            Named::Id(id) => Grantee::Account(id),
            Named::Group(uri) => Grantee::Group(uri),
            Named::Email(email) => Grantee::Account(by_email(meta, &email).await?),
        };
        grants.push(Grant { grantee, permission });
    }
    Ok(Acl { grants })
}

/// A grant to a predefined group; any other URI is refused, as S3 refuses it.
fn group(uri: String) -> Result<Named> {
    if osg_policy::acl::is_known_group(&uri) {
        Ok(Named::Group(uri))
    } else {
        Err(s3_error!(InvalidArgument, "Invalid group uri").into())
    }
}

/// The canonical id of the account with this e-mail address.
async fn by_email(meta: &Meta, email: &str) -> Result<String> {
    let account = meta.account_by_email(email).await?;
    Ok(account
        .ok_or_else(|| s3_error!(UnresolvableGrantByEmailAddress))?
        .canonical_id)
}

/// The ACL a request asks for: a canned ACL, grant headers, or (for Put*Acl) a body.
async fn requested_acl(
    meta: &Meta,
    canned: Option<&str>,
    headers: &GrantHeaders<'_>,
    body: Option<&dto::AccessControlPolicy>,
    owner: &str,
    bucket_owner: &str,
) -> Result<Option<Acl>> {
    if let Some(name) = canned {
        let acl = Acl::canned(name, owner, bucket_owner)
            .ok_or_else(|| s3_error!(InvalidArgument, "Unknown canned ACL {name}."))?;
        return Ok(Some(acl));
    }
    if !headers.is_empty() {
        return headers.grants(meta, owner).await.map(Some);
    }
    let Some(policy) = body else { return Ok(None) };
    resolve(meta, body_grants(policy)?).await.map(Some)
}

/// For CreateBucket: the configuration from `x-amz-object-ownership`, `x-amz-acl` and the
/// grant headers.
pub async fn new_bucket_config(
    meta: &Meta,
    i: &dto::CreateBucketInput,
    owner: &Account,
    default_ownership: Ownership,
) -> Result<BucketConfig> {
    let ownership = match &i.object_ownership {
        Some(o) => Ownership::parse(o.as_str())
            .ok_or_else(|| s3_error!(InvalidArgument, "Invalid x-amz-object-ownership header: {}", o.as_str()))?,
        None => default_ownership,
    };
    let canned = i.acl.as_ref().map(dto::BucketCannedACL::as_str);
    let headers = grant_headers!(i, with_write);
    let acl = requested_acl(meta, canned, &headers, None, &owner.canonical_id, &owner.canonical_id).await?;
    Ok(BucketConfig::new(ownership, acl, &owner.canonical_id)?)
}

/// For object writes: who owns the new object (account id) and its ACL, from the request's
/// canned ACL or grant headers and the bucket's Object Ownership.
pub async fn new_object_acl(
    gw: &Gateway,
    bucket: &Bucket,
    writer: Option<&Account>,
    canned: Option<&str>,
    headers: &GrantHeaders<'_>,
) -> Result<(String, Option<Acl>)> {
    let bucket_owner = gw.account(&bucket.owner).await?;
    let writer = writer.unwrap_or(&bucket_owner);
    let owner = match bucket.config.ownership {
        Ownership::ObjectWriter => writer,
        Ownership::BucketOwnerPreferred if canned != Some("bucket-owner-full-control") => writer,
        _ => &bucket_owner,
    };
    let acl = requested_acl(
        &gw.meta,
        canned,
        headers,
        None,
        &owner.canonical_id,
        &bucket_owner.canonical_id,
    )
    .await?;
    if let Some(acl) = &acl {
        bucket
            .config
            .admit_acl(acl, &[&owner.canonical_id, &bucket_owner.canonical_id])?;
    }
    Ok((owner.id.clone(), acl))
}

fn dto_grants(acl: &Acl, owner: &Account) -> Vec<dto::Grant> {
    let grants = if acl.grants.is_empty() {
        vec![Grant {
            grantee: Grantee::Account(owner.canonical_id.clone()),
            permission: Permission::FullControl,
        }]
    } else {
        acl.grants.clone()
    };
    grants
        .iter()
        .map(|g| {
            let grantee = match &g.grantee {
                Grantee::Account(id) => dto::Grantee {
                    type_: dto::Type::from_static(dto::Type::CANONICAL_USER),
                    id: Some(id.clone()),
                    display_name: (*id == owner.canonical_id).then(|| owner.name.clone()),
                    email_address: None,
                    uri: None,
                },
                Grantee::Group(uri) => dto::Grantee {
                    type_: dto::Type::from_static(dto::Type::GROUP),
                    uri: Some(uri.clone()),
                    id: None,
                    display_name: None,
                    email_address: None,
                },
            };
            dto::Grant {
                grantee: Some(grantee),
                permission: Some(dto::Permission::from(g.permission.as_str().to_owned())),
            }
        })
        .collect()
}

pub async fn get_bucket_acl(
    gw: &Gateway,
    req: S3Request<dto::GetBucketAclInput>,
) -> Result<S3Response<dto::GetBucketAclOutput>> {
    let bucket = access::bucket(&req)?;
    let owner = gw.account(&bucket.owner).await?;
    let grants = dto_grants(&bucket.config.acl, &owner);
    Ok(S3Response::new(dto::GetBucketAclOutput {
        grants: Some(grants),
        owner: Some(super::owner_of(&owner)),
    }))
}

/// The ACL a Put*Acl request sets: canned, by grant headers or in the body; one is required.
async fn required_acl(
    meta: &Meta,
    canned: Option<&str>,
    headers: &GrantHeaders<'_>,
    body: Option<&dto::AccessControlPolicy>,
    owner: &str,
    bucket_owner: &str,
) -> Result<Acl> {
    let acl = requested_acl(meta, canned, headers, body, owner, bucket_owner).await?;
    Ok(acl.ok_or_else(|| s3_error!(MissingSecurityHeader, "An ACL is required."))?)
}

pub async fn put_bucket_acl(
    gw: &Gateway,
    req: S3Request<dto::PutBucketAclInput>,
) -> Result<S3Response<dto::PutBucketAclOutput>> {
    let bucket = access::bucket(&req)?;
    let owner = gw.account(&bucket.owner).await?;
    let i = &req.input;
    let canned = i.acl.as_ref().map(dto::BucketCannedACL::as_str);
    let headers = grant_headers!(i, with_write);
    let body = i.access_control_policy.as_ref();
    let acl = required_acl(
        &gw.meta,
        canned,
        &headers,
        body,
        &owner.canonical_id,
        &owner.canonical_id,
    )
    .await?;
    gw.meta
        .update_bucket_config(&bucket.name, |c| c.set_acl(acl.clone(), &owner.canonical_id))
        .await?;
    gw.dir.forget_bucket(&bucket.name);
    Ok(S3Response::new(dto::PutBucketAclOutput {}))
}

pub async fn get_object_acl(
    gw: &Gateway,
    req: S3Request<dto::GetObjectAclInput>,
) -> Result<S3Response<dto::GetObjectAclOutput>> {
    let bucket = access::bucket(&req)?;
    let i = &req.input;
    let version = super::get::readable(gw, &bucket.name, &i.key, i.version_id.as_deref()).await?;
    let owner = gw.account(&version.owner).await?;
    let acl = version.attrs.acl.unwrap_or_default();
    Ok(S3Response::new(dto::GetObjectAclOutput {
        grants: Some(dto_grants(&acl, &owner)),
        owner: Some(super::owner_of(&owner)),
        ..Default::default()
    }))
}

pub async fn put_object_acl(
    gw: &Gateway,
    req: S3Request<dto::PutObjectAclInput>,
) -> Result<S3Response<dto::PutObjectAclOutput>> {
    let bucket = access::bucket(&req)?;
    let i = &req.input;
    let version = super::get::readable(gw, &bucket.name, &i.key, i.version_id.as_deref()).await?;
    let owner = gw.account(&version.owner).await?;
    let bucket_owner = gw.account(&bucket.owner).await?;
    let canned = i.acl.as_ref().map(dto::ObjectCannedACL::as_str);
    let headers = grant_headers!(i, with_write);
    let body = i.access_control_policy.as_ref();
    let acl = required_acl(
        &gw.meta,
        canned,
        &headers,
        body,
        &owner.canonical_id,
        &bucket_owner.canonical_id,
    )
    .await?;
    bucket
        .config
        .admit_acl(&acl, &[&owner.canonical_id, &bucket_owner.canonical_id])?;
    gw.meta
        .update_object_attrs(&bucket.name, &i.key, Some(&version.version_id), |attrs| {
            attrs.acl = Some(acl.clone());
            Ok(())
        })
        .await?;
    Ok(S3Response::new(dto::PutObjectAclOutput::default()))
}

pub async fn put_bucket_ownership_controls(
    gw: &Gateway,
    req: S3Request<dto::PutBucketOwnershipControlsInput>,
) -> Result<S3Response<dto::PutBucketOwnershipControlsOutput>> {
    let bucket = access::bucket(&req)?;
    let [rule] = req.input.ownership_controls.rules.as_slice() else {
        return Err(s3_error!(MalformedXML, "Ownership controls take exactly one rule.").into());
    };
    let ownership = Ownership::parse(rule.object_ownership.as_str()).ok_or_else(|| {
        s3_error!(
            MalformedXML,
            "Unknown ObjectOwnership {}.",
            rule.object_ownership.as_str()
        )
    })?;
    set_ownership(gw, &bucket, ownership).await?;
    Ok(S3Response::new(dto::PutBucketOwnershipControlsOutput {}))
}

async fn set_ownership(gw: &Gateway, bucket: &Bucket, ownership: Ownership) -> Result<()> {
    let owner = gw.account(&bucket.owner).await?;
    gw.meta
        .update_bucket_config(&bucket.name, |c| c.set_ownership(ownership, &owner.canonical_id))
        .await?;
    gw.dir.forget_bucket(&bucket.name);
    Ok(())
}

pub async fn get_bucket_ownership_controls(
    _gw: &Gateway,
    req: S3Request<dto::GetBucketOwnershipControlsInput>,
) -> Result<S3Response<dto::GetBucketOwnershipControlsOutput>> {
    let bucket = access::bucket(&req)?;
    let rule = dto::OwnershipControlsRule {
        object_ownership: ObjectOwnership::from(bucket.config.ownership.as_str().to_owned()),
    };
    Ok(S3Response::new(dto::GetBucketOwnershipControlsOutput {
        ownership_controls: Some(dto::OwnershipControls { rules: vec![rule] }),
    }))
}

/// Deleting the controls returns the bucket to the default, BucketOwnerEnforced.
pub async fn delete_bucket_ownership_controls(
    gw: &Gateway,
    req: S3Request<dto::DeleteBucketOwnershipControlsInput>,
) -> Result<S3Response<dto::DeleteBucketOwnershipControlsOutput>> {
    let bucket = access::bucket(&req)?;
    set_ownership(gw, &bucket, Ownership::BucketOwnerEnforced).await?;
    Ok(S3Response::with_status(
        dto::DeleteBucketOwnershipControlsOutput {},
        StatusCode::NO_CONTENT,
    ))
}

pub async fn put_public_access_block(
    gw: &Gateway,
    req: S3Request<dto::PutPublicAccessBlockInput>,
) -> Result<S3Response<dto::PutPublicAccessBlockOutput>> {
    let bucket = access::bucket(&req)?;
    let c = &req.input.public_access_block_configuration;
    let pab = PublicAccessBlock {
        block_public_acls: c.block_public_acls.unwrap_or(false),
        ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
        block_public_policy: c.block_public_policy.unwrap_or(false),
        restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
    };
    gw.meta
        .update_bucket_config(&bucket.name, |c| {
            c.public_access_block = Some(pab);
            Ok(())
        })
        .await?;
    gw.dir.forget_bucket(&bucket.name);
    Ok(S3Response::new(dto::PutPublicAccessBlockOutput {}))
}

pub async fn get_public_access_block(
    _gw: &Gateway,
    req: S3Request<dto::GetPublicAccessBlockInput>,
) -> Result<S3Response<dto::GetPublicAccessBlockOutput>> {
    let bucket = access::bucket(&req)?;
    let Some(pab) = bucket.config.public_access_block else {
        return Err(custom(
            "NoSuchPublicAccessBlockConfiguration",
            StatusCode::NOT_FOUND,
            "The public access block configuration was not found",
        )
        .into());
    };
    Ok(S3Response::new(dto::GetPublicAccessBlockOutput {
        public_access_block_configuration: Some(dto::PublicAccessBlockConfiguration {
            block_public_acls: Some(pab.block_public_acls),
            ignore_public_acls: Some(pab.ignore_public_acls),
            block_public_policy: Some(pab.block_public_policy),
            restrict_public_buckets: Some(pab.restrict_public_buckets),
        }),
    }))
}

pub async fn delete_public_access_block(
    gw: &Gateway,
    req: S3Request<dto::DeletePublicAccessBlockInput>,
) -> Result<S3Response<dto::DeletePublicAccessBlockOutput>> {
    let bucket = access::bucket(&req)?;
    gw.meta
        .update_bucket_config(&bucket.name, |c| {
            c.public_access_block = None;
            Ok(())
        })
        .await?;
    gw.dir.forget_bucket(&bucket.name);
    Ok(S3Response::with_status(
        dto::DeletePublicAccessBlockOutput {},
        StatusCode::NO_CONTENT,
    ))
}
