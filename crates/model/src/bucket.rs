//! A bucket's configuration: Object Ownership, its ACL, its Public Access Block, its policy.
//! Kept as one document whose changes go through the methods here, so that a combination S3
//! forbids (an ACL granting others while ACLs are off, a public ACL under BlockPublicAcls, a
//! public policy under BlockPublicPolicy) cannot be stored, whichever API asks for it. Later
//! settings (lifecycle, tags, CORS, encryption) join it as fields.

use osg_policy::acl::Acl;
use osg_policy::{Kind, Policy};
use serde::{Deserialize, Serialize};

/// Largest bucket policy, as in S3.
pub const MAX_POLICY_BYTES: usize = 20 << 10;

/// The stored document's format; [`BucketConfig::decode`] reads every earlier one.
const FORMAT: u32 = 1;

/// S3's Object Ownership: who owns the objects written to a bucket, and whether ACLs count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ownership {
    /// ACLs off; the bucket owner owns every object (how AWS creates buckets).
    #[default]
    BucketOwnerEnforced,
    /// ACLs on; objects written with `bucket-owner-full-control` become the bucket owner's.
    BucketOwnerPreferred,
    /// ACLs on; the writer owns what it writes.
    ObjectWriter,
}

impl Ownership {
    /// As S3 writes it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BucketOwnerEnforced => "BucketOwnerEnforced",
            Self::BucketOwnerPreferred => "BucketOwnerPreferred",
            Self::ObjectWriter => "ObjectWriter",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::BucketOwnerEnforced,
            Self::BucketOwnerPreferred,
            Self::ObjectWriter,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }

    /// Whether ACLs take part in access decisions.
    #[must_use]
    pub fn acls_enabled(self) -> bool {
        self != Self::BucketOwnerEnforced
    }
}

/// A bucket's Public Access Block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

/// Why a change to a bucket's configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// An ACL granting others on a bucket whose ACLs are off.
    #[error("the bucket does not allow ACLs")]
    AclsDisabled,
    /// Turning ACLs off (BucketOwnerEnforced) while the bucket's ACL grants others.
    #[error("the bucket's ACL grants others: ACLs cannot be turned off")]
    AclInTheWay,
    /// A public ACL on a bucket that blocks them.
    #[error("public ACLs are blocked by the bucket's Public Access Block")]
    PublicAclBlocked,
    /// A bucket policy that is not one (too large, not a resource policy, naming other
    /// buckets).
    #[error("{0}")]
    MalformedPolicy(String),
    /// A public policy on a bucket that blocks them.
    #[error("public policies are blocked by the bucket's Public Access Block")]
    PublicPolicyBlocked,
    /// A lifecycle configuration S3 would refuse.
    #[error(transparent)]
    Lifecycle(#[from] crate::LifecycleError),
    /// A CORS configuration S3 would refuse.
    #[error(transparent)]
    Cors(#[from] crate::CorsError),
    /// A tag set S3 would refuse.
    #[error(transparent)]
    Tags(#[from] crate::TagError),
    /// A stored document this binary cannot read.
    #[error("bucket configuration: {0}")]
    Format(String),
}

/// A bucket's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BucketConfig {
    pub ownership: Ownership,
    /// The bucket's ACL; empty when never set (the owner alone).
    pub acl: Acl,
    /// `None` when never set (S3 answers NoSuchPublicAccessBlockConfiguration).
    pub public_access_block: Option<PublicAccessBlock>,
    /// The bucket policy as its owner wrote it (S3 gives it back as written); set only
    /// through [`BucketConfig::set_policy`].
    policy: Option<String>,
    /// Lifecycle rules; set only through [`BucketConfig::set_lifecycle`], which checks them.
    lifecycle: Option<crate::Lifecycle>,
    /// The bucket's tags; set only through [`BucketConfig::set_tags`], which checks them.
    tags: crate::Tags,
    /// CORS rules; set only through [`BucketConfig::set_cors`], which checks them.
    cors: Option<crate::Cors>,
    /// Default encryption of new objects; `None` when never set (objects are stored as sent).
    pub encryption: Option<crate::DefaultEncryption>,
    /// Capacity limits (`osg bucket quota`); none when never set.
    #[serde(skip_serializing_if = "crate::Quota::is_unlimited")]
    pub quota: crate::Quota,
}

/// The stored document: the configuration and its format.
#[derive(Serialize, Deserialize)]
struct Stored {
    format: u32,
    #[serde(flatten)]
    config: BucketConfig,
}

impl BucketConfig {
    /// A new bucket's configuration: `ownership`, and `acl` if one was asked for, checked as
    /// [`set_acl`](Self::set_acl) checks it (a new bucket has no Public Access Block).
    pub fn new(ownership: Ownership, acl: Option<Acl>, owner: &str) -> Result<Self, ConfigError> {
        let mut config = Self {
            ownership,
            ..Self::default()
        };
        if let Some(acl) = acl {
            if !ownership.acls_enabled() && !acl.grants_only(&[owner]) {
                return Err(ConfigError::AclInTheWay);
            }
            config.acl = acl;
        }
        Ok(config)
    }

    /// The Public Access Block in force (all off when none is set).
    #[must_use]
    pub fn public_access_block(&self) -> PublicAccessBlock {
        self.public_access_block.unwrap_or_default()
    }

    /// Whether `acl`, for the bucket or one of its objects, may be stored: with ACLs off only
    /// one naming nobody but `owners` (canonical ids), and no public one under
    /// BlockPublicAcls.
    pub fn admit_acl(&self, acl: &Acl, owners: &[&str]) -> Result<(), ConfigError> {
        if !self.ownership.acls_enabled() && !acl.grants_only(owners) {
            return Err(ConfigError::AclsDisabled);
        }
        if self.public_access_block().block_public_acls && acl.is_public() {
            return Err(ConfigError::PublicAclBlocked);
        }
        Ok(())
    }

    /// Sets the bucket's ACL; `owner` is the bucket owner's canonical id.
    pub fn set_acl(&mut self, acl: Acl, owner: &str) -> Result<(), ConfigError> {
        self.admit_acl(&acl, &[owner])?;
        self.acl = acl;
        Ok(())
    }

    /// Sets Object Ownership; ACLs cannot be turned off while the bucket's ACL grants others.
    pub fn set_ownership(&mut self, ownership: Ownership, owner: &str) -> Result<(), ConfigError> {
        if !ownership.acls_enabled() && !self.acl.grants_only(&[owner]) {
            return Err(ConfigError::AclInTheWay);
        }
        self.ownership = ownership;
        Ok(())
    }

    /// The bucket policy's document, if one is set.
    #[must_use]
    pub fn policy(&self) -> Option<&str> {
        self.policy.as_deref()
    }

    /// Sets the policy of bucket `bucket` to `document`: a resource policy of at most
    /// [`MAX_POLICY_BYTES`] whose resources are this bucket and its objects, and not a public
    /// one when the Public Access Block blocks public policies.
    pub fn set_policy(&mut self, document: &str, bucket: &str) -> Result<(), ConfigError> {
        if document.len() > MAX_POLICY_BYTES {
            return Err(ConfigError::MalformedPolicy(
                "Policies must be smaller than 20 KB.".into(),
            ));
        }
        let policy =
            Policy::parse(document, Kind::Resource).map_err(|e| ConfigError::MalformedPolicy(e.to_string()))?;
        if let Some(outside) = policy.resources().find(|r| !names_bucket(r, bucket)) {
            return Err(ConfigError::MalformedPolicy(format!(
                "Policy has invalid resource {outside}"
            )));
        }
        if self.public_access_block().block_public_policy && policy.is_public() {
            return Err(ConfigError::PublicPolicyBlocked);
        }
        self.policy = Some(document.to_owned());
        Ok(())
    }

    /// Removes the bucket policy; returns whether there was one.
    pub fn delete_policy(&mut self) -> bool {
        self.policy.take().is_some()
    }

    /// The lifecycle configuration, if one is set.
    #[must_use]
    pub fn lifecycle(&self) -> Option<&crate::Lifecycle> {
        self.lifecycle.as_ref()
    }

    /// Sets the lifecycle configuration, checked as S3 checks it (`None` removes it).
    pub fn set_lifecycle(&mut self, lifecycle: Option<crate::Lifecycle>) -> Result<(), ConfigError> {
        self.lifecycle = lifecycle.map(crate::Lifecycle::validated).transpose()?;
        Ok(())
    }

    /// The bucket's tags (empty when none are set).
    #[must_use]
    pub fn tags(&self) -> &crate::Tags {
        &self.tags
    }

    /// Replaces the bucket's tags with `pairs`, checked as S3 checks a bucket's tag set.
    pub fn set_tags(&mut self, pairs: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
        self.tags = crate::tags::tag_set(pairs, crate::TagScope::Bucket)?;
        Ok(())
    }

    /// The CORS configuration, if one is set.
    #[must_use]
    pub fn cors(&self) -> Option<&crate::Cors> {
        self.cors.as_ref()
    }

    /// Sets the CORS configuration, checked as S3 checks it (`None` removes it).
    pub fn set_cors(&mut self, cors: Option<crate::Cors>) -> Result<(), ConfigError> {
        self.cors = cors.map(crate::Cors::validated).transpose()?;
        Ok(())
    }

    /// The stored document.
    #[must_use]
    pub fn encode(&self) -> String {
        let stored = Stored {
            format: FORMAT,
            config: self.clone(),
        };
        serde_json::to_string(&stored).expect("a bucket configuration always serializes")
    }

    /// Reads a stored document, of this format or an earlier one.
    pub fn decode(text: &str) -> Result<Self, ConfigError> {
        let stored: Stored = serde_json::from_str(text).map_err(|e| ConfigError::Format(e.to_string()))?;
        match stored.format {
            FORMAT => Ok(stored.config),
            other => Err(ConfigError::Format(format!(
                "format {other} is not one this binary reads (it reads {FORMAT})"
            ))),
        }
    }
}

/// Whether a policy resource names `bucket` or its objects.
fn names_bucket(resource: &str, bucket: &str) -> bool {
    let Some(rest) = resource.strip_prefix("arn:aws:s3:::") else {
        return false;
    };
    let name = rest.split('/').next().unwrap_or_default();
    osg_policy::wildcard_matches(name, bucket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use osg_policy::acl::{ALL_USERS, Grant, Grantee, Permission};

    fn acl(grants: &[(Grantee, Permission)]) -> Acl {
        Acl {
            grants: grants
                .iter()
                .map(|(grantee, permission)| Grant {
                    grantee: grantee.clone(),
                    permission: *permission,
                })
                .collect(),
        }
    }

    #[test]
    fn acls_follow_ownership_and_the_public_access_block() {
        let owner = "owner-canonical";
        let public = acl(&[(Grantee::Group(ALL_USERS.into()), Permission::Read)]);
        let own = acl(&[(Grantee::Account(owner.into()), Permission::FullControl)]);
        // New buckets: ACLs off; only an owner-only ACL is taken.
        let mut c = BucketConfig::default();
        assert_eq!(c.clone().set_acl(public.clone(), owner), Err(ConfigError::AclsDisabled));
        c.set_acl(own, owner).unwrap();
        assert_eq!(
            BucketConfig::new(Ownership::BucketOwnerEnforced, Some(public.clone()), owner),
            Err(ConfigError::AclInTheWay)
        );
        // ACLs on, then a public ACL, then ACLs cannot go off again.
        c.set_ownership(Ownership::ObjectWriter, owner).unwrap();
        c.set_acl(public.clone(), owner).unwrap();
        assert_eq!(
            c.clone().set_ownership(Ownership::BucketOwnerEnforced, owner),
            Err(ConfigError::AclInTheWay)
        );
        // BlockPublicAcls refuses public ACLs, for the bucket and its objects.
        c.public_access_block = Some(PublicAccessBlock {
            block_public_acls: true,
            ..PublicAccessBlock::default()
        });
        assert_eq!(
            c.clone().set_acl(public.clone(), owner),
            Err(ConfigError::PublicAclBlocked)
        );
        assert_eq!(c.admit_acl(&public, &[owner]), Err(ConfigError::PublicAclBlocked));
    }

    #[test]
    fn policies_name_their_bucket_and_obey_the_public_access_block() {
        let public = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",
            "Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
        let elsewhere = public.replace(":::b/*", ":::other/*");
        let mut c = BucketConfig::default();
        assert!(matches!(
            c.set_policy(&elsewhere, "b"),
            Err(ConfigError::MalformedPolicy(_))
        ));
        assert!(matches!(c.set_policy("{}", "b"), Err(ConfigError::MalformedPolicy(_))));
        let huge = public.replace("s3:GetObject", &"s3:GetObject*".repeat(2000));
        assert!(matches!(c.set_policy(&huge, "b"), Err(ConfigError::MalformedPolicy(_))));
        assert_eq!(c.policy(), None);
        c.set_policy(public, "b").unwrap();
        assert_eq!(c.policy(), Some(public));
        c.public_access_block = Some(PublicAccessBlock {
            block_public_policy: true,
            ..PublicAccessBlock::default()
        });
        assert_eq!(c.clone().set_policy(public, "b"), Err(ConfigError::PublicPolicyBlocked));
        // The policy already there stays (access to it is what RestrictPublicBuckets limits).
        assert_eq!(BucketConfig::decode(&c.encode()).unwrap().policy(), Some(public));
        assert!(c.delete_policy());
        assert!(!c.delete_policy());
    }

    #[test]
    fn the_stored_document_is_versioned() {
        let mut c = BucketConfig::new(Ownership::ObjectWriter, None, "o").unwrap();
        c.public_access_block = Some(PublicAccessBlock::default());
        let text = c.encode();
        assert!(text.starts_with(r#"{"format":1,"#), "{text}");
        assert_eq!(BucketConfig::decode(&text).unwrap(), c);
        assert!(matches!(
            BucketConfig::decode(r#"{"format":99}"#),
            Err(ConfigError::Format(_))
        ));
        // Fields a later format adds are absent from older documents: they take defaults.
        assert_eq!(
            BucketConfig::decode(r#"{"format":1}"#).unwrap(),
            BucketConfig::default()
        );
    }
}
