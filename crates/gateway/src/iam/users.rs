//! Users and their inline policies.

use osg_meta::User;

use super::xml::{Xml, date, element};
use super::{Call, IamError};

pub fn check_name(name: &str, what: &str) -> Result<(), IamError> {
    if osg_model::names::is_iam_name(name) {
        Ok(())
    } else {
        Err(IamError::validation(format!(
            "The specified value for {what} is invalid: {name}"
        )))
    }
}

pub fn check_path(path: &str) -> Result<(), IamError> {
    if osg_model::names::is_iam_path(path) {
        Ok(())
    } else {
        Err(IamError::validation(format!(
            "The specified value for path is invalid: {path}"
        )))
    }
}

pub fn user_xml(tag: &str, user: &User) -> String {
    element(
        tag,
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
    Ok(Xml::result("CreateUser").raw(&user_xml("User", &user)))
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
    Ok(Xml::result("GetUser").raw(&user_xml("User", &user)))
}

pub async fn list_users(call: &Call<'_>) -> Result<Xml, IamError> {
    call.authorize("ListUsers", &call.account_arn("user/")).await?;
    let prefix = call.param("PathPrefix").unwrap_or("/");
    let (marker, max) = call.page()?;
    let (users, truncated) = call
        .meta
        .list_users(&call.caller.account.id, prefix, marker, max)
        .await?;
    let members: String = users.iter().map(|u| user_xml("member", u)).collect();
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
    // Renaming or moving needs permission on the new ARN as well as the old.
    let new_arn = call.account_arn(&format!(
        "user{}{}",
        new_path.unwrap_or(&user.path),
        new_name.unwrap_or(&user.name)
    ));
    call.authorize("UpdateUser", &new_arn).await?;
    call.meta.update_user(&user, new_name, new_path).await?;
    Ok(Xml::empty("UpdateUser"))
}

pub async fn delete_user(call: &Call<'_>) -> Result<Xml, IamError> {
    let user = target(call, "DeleteUser").await?;
    call.meta.delete_user(&user).await?;
    Ok(Xml::empty("DeleteUser"))
}
