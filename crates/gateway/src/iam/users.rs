//! Users and their inline policies.

use osg_meta::User;
use osg_policy::{Kind, Policy};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::xml::{Xml, date, element};
use super::{Call, IamError};

/// Largest inline policy document accepted.
const MAX_POLICY_BYTES: usize = 10 << 10;

fn check_name(name: &str, what: &str) -> Result<(), IamError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(IamError::validation(format!(
            "The specified value for {what} is invalid: {name}"
        )))
    }
}

fn check_path(path: &str) -> Result<(), IamError> {
    let ok = path.starts_with('/') && path.ends_with('/') && path.len() <= 512 && !path.contains("//");
    if ok {
        Ok(())
    } else {
        Err(IamError::validation(format!(
            "The specified value for path is invalid: {path}"
        )))
    }
}

pub fn user_xml(user: &User) -> String {
    element(
        "User",
        &[
            ("Path", &user.path),
            ("UserName", &user.name),
            ("UserId", &user.user_id),
            ("Arn", &user.arn()),
            ("CreateDate", &date(user.created_ms)),
        ],
    )
}

/// The user named by `UserName` in the caller's account, authorized for `action`.
pub async fn target(call: &Call<'_>, action: &str) -> Result<User, IamError> {
    let name = call.required("UserName")?;
    // Authorize on the ARN the user would have, so a missing user is not revealed to callers
    // who may not see it.
    let found = call.meta.user(&call.caller.account.id, name).await;
    let arn = found
        .as_ref()
        .map_or_else(|_| call.account_arn(&format!("user/{name}")), User::arn);
    call.authorize(action, &arn).await?;
    Ok(found?)
}

pub async fn create_user(call: &Call<'_>) -> Result<Xml, IamError> {
    let name = call.required("UserName")?;
    let path = call.param("Path").unwrap_or("/");
    check_name(name, "userName")?;
    check_path(path)?;
    call.authorize("CreateUser", &call.account_arn(&format!("user{path}{name}")))
        .await?;
    let user = call.meta.create_user(&call.caller.account.id, name, path).await?;
    Ok(Xml::result("CreateUser").raw(&user_xml(&user)))
}

pub async fn get_user(call: &Call<'_>) -> Result<Xml, IamError> {
    let user = match (call.param("UserName"), &call.caller.user) {
        (Some(_), _) => target(call, "GetUser").await?,
        (None, Some(me)) => me.clone(),
        (None, None) => {
            // The root identity describes itself.
            let root = call.account_arn("root");
            let xml = element("User", &[("UserId", &call.caller.account.id), ("Arn", &root)]);
            return Ok(Xml::result("GetUser").raw(&xml));
        }
    };
    Ok(Xml::result("GetUser").raw(&user_xml(&user)))
}

pub async fn list_users(call: &Call<'_>) -> Result<Xml, IamError> {
    call.authorize("ListUsers", &call.account_arn("user/")).await?;
    let prefix = call.param("PathPrefix").unwrap_or("/");
    let (marker, max) = call.page()?;
    let (users, truncated) = call
        .meta
        .list_users(&call.caller.account.id, prefix, marker, max)
        .await?;
    let members: String = users
        .iter()
        .map(|u| {
            user_xml(u)
                .replace("<User>", "<member>")
                .replace("</User>", "</member>")
        })
        .collect();
    let mut xml = Xml::result("ListUsers")
        .raw(&format!("<Users>{members}</Users>"))
        .field("IsTruncated", &truncated.to_string());
    if truncated && let Some(last) = users.last() {
        xml = xml.field("Marker", &last.name);
    }
    Ok(xml)
}

pub async fn update_user(call: &Call<'_>) -> Result<Xml, IamError> {
    let user = target(call, "UpdateUser").await?;
    let new_name = call.param("NewUserName");
    let new_path = call.param("NewPath");
    if let Some(name) = new_name {
        check_name(name, "newUserName")?;
    }
    if let Some(path) = new_path {
        check_path(path)?;
    }
    call.meta.update_user(&user, new_name, new_path).await?;
    Ok(Xml::empty("UpdateUser"))
}

pub async fn delete_user(call: &Call<'_>) -> Result<Xml, IamError> {
    let user = target(call, "DeleteUser").await?;
    call.meta.delete_user(&user).await?;
    Ok(Xml::empty("DeleteUser"))
}

pub async fn put_user_policy(call: &Call<'_>) -> Result<Xml, IamError> {
    let user = target(call, "PutUserPolicy").await?;
    let name = call.required("PolicyName")?;
    check_name(name, "policyName")?;
    let document = call.required("PolicyDocument")?;
    if document.len() > MAX_POLICY_BYTES {
        return Err(IamError::new(
            "LimitExceeded",
            409,
            "Maximum policy size of 10240 bytes exceeded.",
        ));
    }
    Policy::parse(document, Kind::Identity).map_err(|e| IamError::malformed_policy(e.to_string()))?;
    call.meta.put_user_policy(&user, name, document).await?;
    Ok(Xml::empty("PutUserPolicy"))
}

pub async fn get_user_policy(call: &Call<'_>) -> Result<Xml, IamError> {
    let user = target(call, "GetUserPolicy").await?;
    let name = call.required("PolicyName")?;
    let document = call.meta.user_policy(&user, name).await?;
    // IAM returns policy documents URL-encoded.
    let encoded = utf8_percent_encode(&document, NON_ALPHANUMERIC).to_string();
    Ok(Xml::result("GetUserPolicy")
        .field("UserName", &user.name)
        .field("PolicyName", name)
        .field("PolicyDocument", &encoded))
}

pub async fn list_user_policies(call: &Call<'_>) -> Result<Xml, IamError> {
    let user = target(call, "ListUserPolicies").await?;
    let names = call.meta.user_policy_names(&user).await?;
    let members: String = names
        .iter()
        .map(|n| format!("<member>{}</member>", super::xml::escape(n)))
        .collect();
    Ok(Xml::result("ListUserPolicies")
        .raw(&format!("<PolicyNames>{members}</PolicyNames>"))
        .field("IsTruncated", "false"))
}

pub async fn delete_user_policy(call: &Call<'_>) -> Result<Xml, IamError> {
    let user = target(call, "DeleteUserPolicy").await?;
    call.meta
        .delete_user_policy(&user, call.required("PolicyName")?)
        .await?;
    Ok(Xml::empty("DeleteUserPolicy"))
}
