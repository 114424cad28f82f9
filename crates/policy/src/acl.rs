//! S3 access control lists: grants of READ, WRITE, READ_ACP, WRITE_ACP and FULL_CONTROL to
//! accounts (by canonical id) and to the predefined groups, canned ACLs, and which ACL
//! permission an S3 action needs.

use serde::{Deserialize, Serialize};

use crate::Caller;

pub const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
pub const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
pub const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

/// Whether `uri` names one of S3's predefined groups (any other is refused, not stored as a
/// grant that no one could ever hold).
#[must_use]
pub fn is_known_group(uri: &str) -> bool {
    [ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY].contains(&uri)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    Read,
    Write,
    ReadAcp,
    WriteAcp,
    FullControl,
}

impl Permission {
    /// As S3 writes it: `READ`, `WRITE`, `READ_ACP`, `WRITE_ACP`, `FULL_CONTROL`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "READ",
            Self::Write => "WRITE",
            Self::ReadAcp => "READ_ACP",
            Self::WriteAcp => "WRITE_ACP",
            Self::FullControl => "FULL_CONTROL",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Read,
            Self::Write,
            Self::ReadAcp,
            Self::WriteAcp,
            Self::FullControl,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grantee {
    /// An account, by canonical user id.
    Account(String),
    /// A predefined group, by URI.
    Group(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

/// The grants of a bucket or an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub grants: Vec<Grant>,
}

impl Acl {
    /// A canned ACL, for a resource owned by `owner` in a bucket owned by `bucket_owner`
    /// (canonical ids). `None` for an unknown name.
    #[must_use]
    pub fn canned(name: &str, owner: &str, bucket_owner: &str) -> Option<Self> {
        let grant = |grantee: Grantee, permission| Grant { grantee, permission };
        let mut grants = vec![grant(Grantee::Account(owner.to_owned()), Permission::FullControl)];
        let group = |uri: &str| Grantee::Group(uri.to_owned());
        match name {
            "private" | "aws-exec-read" => {}
            "public-read" => grants.push(grant(group(ALL_USERS), Permission::Read)),
            "public-read-write" => {
                grants.push(grant(group(ALL_USERS), Permission::Read));
                grants.push(grant(group(ALL_USERS), Permission::Write));
            }
            "authenticated-read" => grants.push(grant(group(AUTHENTICATED_USERS), Permission::Read)),
            "bucket-owner-read" => grants.push(grant(Grantee::Account(bucket_owner.to_owned()), Permission::Read)),
            "bucket-owner-full-control" => {
                grants.push(grant(
                    Grantee::Account(bucket_owner.to_owned()),
                    Permission::FullControl,
                ));
            }
            "log-delivery-write" => {
                grants.push(grant(group(LOG_DELIVERY), Permission::Write));
                grants.push(grant(group(LOG_DELIVERY), Permission::ReadAcp));
            }
            _ => return None,
        }
        grants.dedup();
        Some(Self { grants })
    }

    /// Whether the ACL grants nothing to anyone but the accounts `owners` (canonical ids).
    #[must_use]
    pub fn grants_only(&self, owners: &[&str]) -> bool {
        self.grants
            .iter()
            .all(|g| matches!(&g.grantee, Grantee::Account(id) if owners.contains(&id.as_str())))
    }

    /// Whether the ACL gives `caller` `permission` (FULL_CONTROL gives every permission).
    /// With `ignore_public`, grants to AllUsers and AuthenticatedUsers count for nothing.
    /// Without `account_grants`, grants to the caller's account do not count: a grant to an
    /// account reaches that account's users only when the account delegates it to them by
    /// policy, which the caller of this decides.
    #[must_use]
    pub fn allows(&self, caller: &Caller, permission: Permission, ignore_public: bool, account_grants: bool) -> bool {
        self.grants.iter().any(|g| {
            let holds = g.permission == permission || g.permission == Permission::FullControl;
            let matches = match (&g.grantee, caller) {
                (Grantee::Account(id), Caller::Principal(p)) => account_grants && *id == p.canonical_id,
                (Grantee::Group(uri), _) if uri == ALL_USERS => !ignore_public,
                (Grantee::Group(uri), Caller::Principal(_)) if uri == AUTHENTICATED_USERS => !ignore_public,
                _ => false,
            };
            holds && matches
        })
    }

    /// Whether anyone outside the listed accounts is granted anything.
    #[must_use]
    pub fn is_public(&self) -> bool {
        self.grants
            .iter()
            .any(|g| matches!(&g.grantee, Grantee::Group(u) if u == ALL_USERS || u == AUTHENTICATED_USERS))
    }
}

/// Which ACL, bucket's or object's, can grant an S3 action, and with what permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclNeed {
    Bucket(Permission),
    Object(Permission),
}

/// The ACL permission behind an S3 action, as the S3 documentation maps them.
#[must_use]
pub fn permission_for(action: &str) -> Option<AclNeed> {
    use AclNeed::{Bucket, Object};
    Some(match action {
        "s3:ListBucket" | "s3:ListBucketVersions" | "s3:ListBucketMultipartUploads" => Bucket(Permission::Read),
        "s3:PutObject" | "s3:DeleteObject" | "s3:AbortMultipartUpload" | "s3:ListMultipartUploadParts" => {
            Bucket(Permission::Write)
        }
        "s3:GetBucketAcl" => Bucket(Permission::ReadAcp),
        "s3:PutBucketAcl" => Bucket(Permission::WriteAcp),
        "s3:GetObject" | "s3:GetObjectVersion" => Object(Permission::Read),
        "s3:GetObjectAcl" | "s3:GetObjectVersionAcl" => Object(Permission::ReadAcp),
        "s3:PutObjectAcl" | "s3:PutObjectVersionAcl" => Object(Permission::WriteAcp),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Principal;

    fn account(canonical: &str) -> Caller {
        Caller::Principal(Principal {
            account: "1".into(),
            arn: "arn".into(),
            canonical_id: canonical.into(),
        })
    }

    #[test]
    fn canned_acls_grant_what_s3_documents() {
        let private = Acl::canned("private", "own", "bkt").unwrap();
        assert!(private.allows(&account("own"), Permission::WriteAcp, false, true));
        assert!(!private.allows(&account("other"), Permission::Read, false, true));
        assert!(!private.is_public());

        let public = Acl::canned("public-read", "own", "bkt").unwrap();
        assert!(public.allows(&Caller::Anonymous, Permission::Read, false, true));
        assert!(!public.allows(&Caller::Anonymous, Permission::Write, false, true));
        assert!(
            !public.allows(&Caller::Anonymous, Permission::Read, true, true),
            "IgnorePublicAcls"
        );
        assert!(public.is_public());

        let authed = Acl::canned("authenticated-read", "own", "bkt").unwrap();
        assert!(authed.allows(&account("anyone"), Permission::Read, false, true));
        assert!(!authed.allows(&Caller::Anonymous, Permission::Read, false, true));

        let bofc = Acl::canned("bucket-owner-full-control", "writer", "bkt").unwrap();
        assert!(bofc.allows(&account("bkt"), Permission::ReadAcp, false, true));
        assert!(
            !bofc.allows(&account("bkt"), Permission::ReadAcp, false, false),
            "not delegated"
        );
        let owner_read = Acl::canned("bucket-owner-read", "writer", "bkt").unwrap();
        assert!(owner_read.allows(&account("bkt"), Permission::Read, false, true));
        let public_write = Acl::canned("public-read-write", "o", "b").unwrap();
        assert!(public_write.allows(&Caller::Anonymous, Permission::Write, false, false));
        assert!(Acl::canned("log-delivery-write", "o", "b").unwrap().grants.len() == 3);
        assert!(Acl::canned("nonsense", "o", "b").is_none());
    }

    #[test]
    fn actions_map_to_permissions() {
        assert_eq!(permission_for("s3:ListBucket"), Some(AclNeed::Bucket(Permission::Read)));
        assert_eq!(permission_for("s3:PutObject"), Some(AclNeed::Bucket(Permission::Write)));
        assert_eq!(permission_for("s3:GetObject"), Some(AclNeed::Object(Permission::Read)));
        assert_eq!(
            permission_for("s3:PutBucketPolicy"),
            None,
            "only the owner, or policy, can"
        );
        assert_eq!(Permission::parse("READ_ACP"), Some(Permission::ReadAcp));
    }
}
