//! Groups and their members.

use osg_meta::Group;

use super::users::{check_name, check_path, user_xml};
use super::xml::{Xml, date, element};
use super::{Call, IamError, users};

pub fn group_xml(tag: &str, g: &Group) -> String {
    element(
        tag,
        &[
            ("Path", &g.path),
            ("GroupName", &g.name),
            ("GroupId", &g.group_id),
            ("Arn", &g.arn()),
            ("CreateDate", &date(g.created_ms)),
        ],
    )
}

/// The group named by `GroupName`, authorized for `action`.
pub async fn target(call: &Call<'_>, action: &str) -> Result<Group, IamError> {
    let name = call.required("GroupName")?;
    let found = call.meta.group(&call.caller.account.id, name).await;
    let arn = found
        .as_ref()
        .map_or_else(|_| call.account_arn(&format!("group/{name}")), Group::arn);
    call.authorize(action, &arn).await?;
    Ok(found?)
}

pub async fn create_group(call: &Call<'_>) -> Result<Xml, IamError> {
    let name = call.required("GroupName")?;
    let path = call.param("Path").unwrap_or("/");
    check_name(name, "groupName")?;
    check_path(path)?;
    call.authorize("CreateGroup", &call.account_arn(&format!("group{path}{name}")))
        .await?;
    let group = call.meta.create_group(&call.caller.account.id, name, path).await?;
    Ok(Xml::result("CreateGroup").raw(&group_xml("Group", &group)))
}

pub async fn get_group(call: &Call<'_>) -> Result<Xml, IamError> {
    let group = target(call, "GetGroup").await?;
    let users = call.meta.members(&group).await?;
    Ok(Xml::result("GetGroup")
        .raw(&group_xml("Group", &group))
        .raw(&format!(
            "<Users>{}</Users>",
            users.iter().map(|u| user_xml("member", u)).collect::<String>()
        ))
        .field("IsTruncated", "false"))
}

pub async fn list_groups(call: &Call<'_>) -> Result<Xml, IamError> {
    call.authorize("ListGroups", &call.account_arn("group/")).await?;
    let (marker, max) = call.page()?;
    let prefix = call.param("PathPrefix").unwrap_or("/");
    let (groups, truncated) = call
        .meta
        .list_groups(&call.caller.account.id, prefix, marker, max)
        .await?;
    let mut xml = Xml::result("ListGroups")
        .raw(&format!(
            "<Groups>{}</Groups>",
            groups.iter().map(|g| group_xml("member", g)).collect::<String>()
        ))
        .field("IsTruncated", &truncated.to_string());
    if truncated && let Some(last) = groups.last() {
        xml = xml.field("Marker", &last.name);
    }
    Ok(xml)
}

pub async fn list_groups_for_user(call: &Call<'_>) -> Result<Xml, IamError> {
    let user = users::target(call, "ListGroupsForUser").await?;
    let groups = call.meta.groups_of(&user).await?;
    Ok(Xml::result("ListGroupsForUser")
        .raw(&format!(
            "<Groups>{}</Groups>",
            groups.iter().map(|g| group_xml("member", g)).collect::<String>()
        ))
        .field("IsTruncated", "false"))
}

pub async fn add_user_to_group(call: &Call<'_>) -> Result<Xml, IamError> {
    let group = target(call, "AddUserToGroup").await?;
    let user = call
        .meta
        .user(&call.caller.account.id, call.required("UserName")?)
        .await?;
    call.meta.add_to_group(&group, &user).await?;
    Ok(Xml::empty("AddUserToGroup"))
}

pub async fn remove_user_from_group(call: &Call<'_>) -> Result<Xml, IamError> {
    let group = target(call, "RemoveUserFromGroup").await?;
    let user = call
        .meta
        .user(&call.caller.account.id, call.required("UserName")?)
        .await?;
    call.meta.remove_from_group(&group, &user).await?;
    Ok(Xml::empty("RemoveUserFromGroup"))
}

pub async fn delete_group(call: &Call<'_>) -> Result<Xml, IamError> {
    let group = target(call, "DeleteGroup").await?;
    call.meta.delete_group(&group).await?;
    Ok(Xml::empty("DeleteGroup"))
}
