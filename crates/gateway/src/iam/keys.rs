//! Access keys. Without `UserName` an action is about the caller's own keys.

use osg_meta::AccessKey;

use super::xml::{Xml, date, element};
use super::{Call, IamError, users};

/// Whose keys an action is about: `(user name, the ARN to authorize on)`; `None` is the root.
async fn owner(call: &Call<'_>, action: &str) -> Result<Option<String>, IamError> {
    if call.param("UserName").is_some() {
        let user = users::target(call, action).await?;
        return Ok(Some(user.name));
    }
    match &call.caller.user {
        Some(me) => {
            call.authorize(action, &me.arn()).await?;
            Ok(Some(me.name.clone()))
        }
        None => Ok(None),
    }
}

/// The key `AccessKeyId`, which must belong to `owner`.
async fn key_of(call: &Call<'_>, owner: Option<&str>) -> Result<AccessKey, IamError> {
    let id = call.required("AccessKeyId")?;
    let key = call.meta.access_key(id).await?;
    if key.account_id != call.caller.account.id || key.user_name.as_deref() != owner {
        return Err(IamError::no_such_entity(format!(
            "The Access Key with id {id} cannot be found."
        )));
    }
    Ok(key)
}

fn status(active: bool) -> &'static str {
    if active { "Active" } else { "Inactive" }
}

pub async fn create_access_key(call: &Call<'_>) -> Result<Xml, IamError> {
    let owner = owner(call, "CreateAccessKey").await?;
    let (id, secret) = call
        .meta
        .create_access_key(&call.caller.account.id, owner.as_deref())
        .await?;
    let key = call.meta.access_key(&id).await?;
    let xml = element(
        "AccessKey",
        &[
            ("UserName", owner.as_deref().unwrap_or("")),
            ("AccessKeyId", &id),
            ("Status", "Active"),
            ("SecretAccessKey", &secret),
            ("CreateDate", &date(key.created_ms)),
        ],
    );
    Ok(Xml::result("CreateAccessKey").raw(&xml))
}

pub async fn list_access_keys(call: &Call<'_>) -> Result<Xml, IamError> {
    let owner = owner(call, "ListAccessKeys").await?;
    let keys = call
        .meta
        .access_keys_of(&call.caller.account.id, owner.as_deref())
        .await?;
    let members: String = keys
        .iter()
        .map(|k| {
            element(
                "member",
                &[
                    ("UserName", k.user_name.as_deref().unwrap_or("")),
                    ("AccessKeyId", &k.access_key),
                    ("Status", status(k.active)),
                    ("CreateDate", &date(k.created_ms)),
                ],
            )
        })
        .collect();
    let mut xml = Xml::result("ListAccessKeys").raw(&format!("<AccessKeyMetadata>{members}</AccessKeyMetadata>"));
    if let Some(name) = &owner {
        xml = xml.field("UserName", name);
    }
    Ok(xml.field("IsTruncated", "false"))
}

pub async fn update_access_key(call: &Call<'_>) -> Result<Xml, IamError> {
    let owner = owner(call, "UpdateAccessKey").await?;
    let key = key_of(call, owner.as_deref()).await?;
    let active = match call.required("Status")? {
        "Active" => true,
        "Inactive" => false,
        other => {
            return Err(IamError::validation(format!(
                "Status must be Active or Inactive, not {other}."
            )));
        }
    };
    call.meta.set_access_key_active(&key.access_key, active).await?;
    Ok(Xml::empty("UpdateAccessKey"))
}

pub async fn delete_access_key(call: &Call<'_>) -> Result<Xml, IamError> {
    let owner = owner(call, "DeleteAccessKey").await?;
    let key = key_of(call, owner.as_deref()).await?;
    call.meta.delete_access_key(&key.access_key).await?;
    Ok(Xml::empty("DeleteAccessKey"))
}

pub async fn get_access_key_last_used(call: &Call<'_>) -> Result<Xml, IamError> {
    let id = call.required("AccessKeyId")?;
    let key = call.meta.access_key(id).await?;
    if key.account_id != call.caller.account.id {
        return Err(IamError::no_such_entity(format!(
            "The Access Key with id {id} cannot be found."
        )));
    }
    let arn = match &key.user_name {
        Some(name) => call.meta.user(&key.account_id, name).await?.arn(),
        None => call.account_arn("root"),
    };
    call.authorize("GetAccessKeyLastUsed", &arn).await?;
    // Use is not recorded yet: IAM's answer for a key never used.
    let used = element("AccessKeyLastUsed", &[("Region", "N/A"), ("ServiceName", "N/A")]);
    Ok(Xml::result("GetAccessKeyLastUsed")
        .field("UserName", key.user_name.as_deref().unwrap_or(""))
        .raw(&used))
}
