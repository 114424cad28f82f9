//! Policies: inline policies of users and groups, and customer-managed policies with versions
//! and attachments. Every document is validated before it is stored.

use osg_meta::{ManagedPolicy, Owner};
use osg_policy::{Kind, Policy};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::users::{check_name, check_path};
use super::xml::{Xml, date, element, escape};
use super::{Call, IamError, groups, users};

/// The quotas on a policy document's size, as AWS counts it (characters other than white
/// space): a managed policy, a user's inline policy, a group's inline policy.
const MANAGED_POLICY_SIZE: (&str, usize) = ("PolicySize", 6144);
const USER_POLICY_SIZE: (&str, usize) = ("UserPolicySize", 2048);
const GROUP_POLICY_SIZE: (&str, usize) = ("GroupPolicySize", 5120);

/// Whether an action is about a user's or a group's policies.
#[derive(Debug, Clone, Copy)]
pub enum On {
    User,
    Group,
}

/// A loaded user or group, to build an [`Owner`] from.
enum Principal {
    User(osg_meta::User),
    Group(osg_meta::Group),
}

impl Principal {
    fn owner(&self) -> Owner<'_> {
        match self {
            Self::User(u) => Owner::User(u),
            Self::Group(g) => Owner::Group(g),
        }
    }

    fn name_field(&self) -> (&'static str, &str) {
        match self {
            Self::User(u) => ("UserName", &u.name),
            Self::Group(g) => ("GroupName", &g.name),
        }
    }
}

async fn principal(call: &Call<'_>, on: On, action: &str) -> Result<Principal, IamError> {
    Ok(match on {
        On::User => Principal::User(users::target(call, action).await?),
        On::Group => Principal::Group(groups::target(call, action).await?),
    })
}

/// A policy document from `PolicyDocument`, checked, within the quota `(name, size)`.
fn document<'a>(call: &'a Call<'_>, (quota, size): (&str, usize)) -> Result<&'a str, IamError> {
    let document = call.required("PolicyDocument")?;
    if document.chars().filter(|c| !c.is_whitespace()).count() > size {
        return Err(IamError::new(
            "LimitExceeded",
            409,
            format!("Cannot exceed quota for {quota}: {size}"),
        ));
    }
    Policy::parse(document, Kind::Identity).map_err(|e| IamError::malformed_policy(e.to_string()))?;
    Ok(document)
}

/// IAM returns policy documents URL-encoded.
fn encoded(document: &str) -> String {
    utf8_percent_encode(document, NON_ALPHANUMERIC).to_string()
}

pub async fn put_inline(call: &Call<'_>, on: On, action: &'static str) -> Result<Xml, IamError> {
    let who = principal(call, on, action).await?;
    let name = call.required("PolicyName")?;
    check_name(name, "policyName")?;
    let quota = match on {
        On::User => USER_POLICY_SIZE,
        On::Group => GROUP_POLICY_SIZE,
    };
    call.meta
        .put_inline_policy(&who.owner(), name, document(call, quota)?)
        .await?;
    Ok(Xml::empty(action))
}

pub async fn get_inline(call: &Call<'_>, on: On, action: &'static str) -> Result<Xml, IamError> {
    let who = principal(call, on, action).await?;
    let name = call.required("PolicyName")?;
    let doc = call.meta.inline_policy(&who.owner(), name).await?;
    let (field, value) = who.name_field();
    Ok(Xml::result(action)
        .field(field, value)
        .field("PolicyName", name)
        .field("PolicyDocument", &encoded(&doc)))
}

pub async fn list_inline(call: &Call<'_>, on: On, action: &'static str) -> Result<Xml, IamError> {
    let who = principal(call, on, action).await?;
    let names = call.meta.inline_policy_names(&who.owner()).await?;
    let members: String = names
        .iter()
        .map(|n| format!("<member>{}</member>", escape(n)))
        .collect();
    Ok(Xml::result(action)
        .raw(&format!("<PolicyNames>{members}</PolicyNames>"))
        .field("IsTruncated", "false"))
}

pub async fn delete_inline(call: &Call<'_>, on: On, action: &'static str) -> Result<Xml, IamError> {
    let who = principal(call, on, action).await?;
    call.meta
        .delete_inline_policy(&who.owner(), call.required("PolicyName")?)
        .await?;
    Ok(Xml::empty(action))
}

fn policy_xml(tag: &str, p: &ManagedPolicy) -> String {
    element(
        tag,
        &[
            ("PolicyName", &p.name),
            ("PolicyId", &p.policy_id),
            ("Arn", &p.arn()),
            ("Path", &p.path),
            ("DefaultVersionId", &p.default_version),
            ("AttachmentCount", &p.attachments.to_string()),
            ("IsAttachable", "true"),
            ("CreateDate", &date(p.created_ms)),
            ("UpdateDate", &date(p.created_ms)),
        ],
    )
}

/// The managed policy `PolicyArn` names, in the caller's account, authorized for `action`.
async fn managed(call: &Call<'_>, action: &str) -> Result<ManagedPolicy, IamError> {
    let arn = call.required("PolicyArn")?;
    let prefix = call.account_arn("policy/");
    let not_found = || IamError::no_such_entity(format!("Policy {arn} does not exist or is not attachable."));
    let name = arn
        .strip_prefix(&prefix)
        .and_then(|rest| rest.rsplit('/').next())
        .ok_or_else(not_found)?;
    call.authorize(action, arn).await?;
    let policy = call
        .meta
        .managed_policy(&call.caller.account.id, name)
        .await
        .map_err(|_| not_found())?;
    // The ARN must name this very policy, path included: authorized on one path, acting on
    // another policy of the same name would be an escalation.
    if policy.arn() != arn {
        return Err(not_found());
    }
    Ok(policy)
}

pub async fn create_policy(call: &Call<'_>) -> Result<Xml, IamError> {
    let name = call.required("PolicyName")?;
    let path = call.param("Path").unwrap_or("/");
    check_name(name, "policyName")?;
    check_path(path)?;
    call.authorize("CreatePolicy", &call.account_arn(&format!("policy{path}{name}")))
        .await?;
    let policy = call
        .meta
        .create_policy(
            &call.caller.account.id,
            name,
            path,
            document(call, MANAGED_POLICY_SIZE)?,
        )
        .await?;
    Ok(Xml::result("CreatePolicy").raw(&policy_xml("Policy", &policy)))
}

pub async fn get_policy(call: &Call<'_>) -> Result<Xml, IamError> {
    let policy = managed(call, "GetPolicy").await?;
    Ok(Xml::result("GetPolicy").raw(&policy_xml("Policy", &policy)))
}

pub async fn list_policies(call: &Call<'_>) -> Result<Xml, IamError> {
    call.authorize("ListPolicies", &call.account_arn("policy/")).await?;
    let (marker, max) = call.page()?;
    let only_attached = call.param("OnlyAttached") == Some("true");
    let prefix = call.param("PathPrefix").unwrap_or("/");
    // Only customer-managed policies exist here; Scope=AWS lists nothing.
    let (policies, truncated) = if call.param("Scope") == Some("AWS") {
        (Vec::new(), false)
    } else {
        call.meta
            .list_policies(&call.caller.account.id, prefix, only_attached, marker, max)
            .await?
    };
    let members: String = policies.iter().map(|p| policy_xml("member", p)).collect();
    let mut xml = Xml::result("ListPolicies")
        .raw(&format!("<Policies>{members}</Policies>"))
        .field("IsTruncated", &truncated.to_string());
    if truncated && let Some(last) = policies.last() {
        xml = xml.field("Marker", &last.name);
    }
    Ok(xml)
}

pub async fn delete_policy(call: &Call<'_>) -> Result<Xml, IamError> {
    let policy = managed(call, "DeletePolicy").await?;
    call.meta.delete_policy(&policy).await?;
    Ok(Xml::empty("DeletePolicy"))
}

fn version_xml(tag: &str, v: &osg_meta::PolicyVersion, with_document: bool) -> String {
    let doc = if with_document {
        encoded(&v.document)
    } else {
        String::new()
    };
    let mut fields = vec![
        ("VersionId", v.version_id.as_str()),
        ("IsDefaultVersion", if v.is_default { "true" } else { "false" }),
    ];
    if with_document {
        fields.push(("Document", &doc));
    }
    let created = date(v.created_ms);
    fields.push(("CreateDate", &created));
    element(tag, &fields)
}

pub async fn create_policy_version(call: &Call<'_>) -> Result<Xml, IamError> {
    let policy = managed(call, "CreatePolicyVersion").await?;
    let set_default = call.param("SetAsDefault") == Some("true");
    let id = call
        .meta
        .create_policy_version(&policy, document(call, MANAGED_POLICY_SIZE)?, set_default)
        .await?;
    let policy = call.meta.managed_policy(&policy.account_id, &policy.name).await?;
    let version = call
        .meta
        .policy_versions(&policy)
        .await?
        .into_iter()
        .find(|v| v.version_id == id);
    let version = version.ok_or_else(|| IamError::no_such_entity(format!("Policy version {id} vanished.")))?;
    Ok(Xml::result("CreatePolicyVersion").raw(&version_xml("PolicyVersion", &version, false)))
}

pub async fn get_policy_version(call: &Call<'_>) -> Result<Xml, IamError> {
    let policy = managed(call, "GetPolicyVersion").await?;
    let id = call.required("VersionId")?;
    let version = call
        .meta
        .policy_versions(&policy)
        .await?
        .into_iter()
        .find(|v| v.version_id == id);
    let version = version.ok_or_else(|| IamError::no_such_entity(format!("Policy version {id} does not exist.")))?;
    Ok(Xml::result("GetPolicyVersion").raw(&version_xml("PolicyVersion", &version, true)))
}

pub async fn list_policy_versions(call: &Call<'_>) -> Result<Xml, IamError> {
    let policy = managed(call, "ListPolicyVersions").await?;
    let versions = call.meta.policy_versions(&policy).await?;
    let members: String = versions.iter().map(|v| version_xml("member", v, false)).collect();
    Ok(Xml::result("ListPolicyVersions")
        .raw(&format!("<Versions>{members}</Versions>"))
        .field("IsTruncated", "false"))
}

pub async fn set_default_policy_version(call: &Call<'_>) -> Result<Xml, IamError> {
    let policy = managed(call, "SetDefaultPolicyVersion").await?;
    call.meta
        .set_default_version(&policy, call.required("VersionId")?)
        .await?;
    Ok(Xml::empty("SetDefaultPolicyVersion"))
}

pub async fn delete_policy_version(call: &Call<'_>) -> Result<Xml, IamError> {
    let policy = managed(call, "DeletePolicyVersion").await?;
    call.meta
        .delete_policy_version(&policy, call.required("VersionId")?)
        .await?;
    Ok(Xml::empty("DeletePolicyVersion"))
}

pub async fn attach(call: &Call<'_>, on: On, action: &'static str) -> Result<Xml, IamError> {
    let who = principal(call, on, action).await?;
    let policy = managed(call, action).await?;
    call.meta.attach_policy(&policy, &who.owner()).await?;
    Ok(Xml::empty(action))
}

pub async fn detach(call: &Call<'_>, on: On, action: &'static str) -> Result<Xml, IamError> {
    let who = principal(call, on, action).await?;
    let policy = managed(call, action).await?;
    call.meta.detach_policy(&policy, &who.owner()).await?;
    Ok(Xml::empty(action))
}

pub async fn list_attached(call: &Call<'_>, on: On, action: &'static str) -> Result<Xml, IamError> {
    let who = principal(call, on, action).await?;
    let policies = call.meta.attached_policies(&who.owner()).await?;
    let members: String = policies
        .iter()
        .map(|p| element("member", &[("PolicyName", &p.name), ("PolicyArn", &p.arn())]))
        .collect();
    Ok(Xml::result(action)
        .raw(&format!("<AttachedPolicies>{members}</AttachedPolicies>"))
        .field("IsTruncated", "false"))
}
