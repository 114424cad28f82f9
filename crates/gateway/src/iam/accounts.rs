//! Accounts (the system account's business, as in Eucalyptus's identity service) and STS
//! GetCallerIdentity.

use osg_meta::{Account, SYSTEM_ACCOUNT};

use super::xml::{Xml, element};
use super::{Call, IamError};

/// Only the system account manages accounts; within it, policy decides as usual.
async fn authorize_system(call: &Call<'_>, action: &str, target: &str) -> Result<(), IamError> {
    if call.caller.account.name != SYSTEM_ACCOUNT {
        return Err(IamError::access_denied(format!(
            "Only the system account may call {action}."
        )));
    }
    call.authorize(
        action,
        &format!("arn:aws:iam::{}:account/{target}", call.caller.account.id),
    )
    .await
}

fn account_xml(name: &str, a: &Account) -> String {
    element(
        name,
        &[
            ("AccountName", &a.name),
            ("AccountId", &a.id),
            ("CanonicalUserId", &a.canonical_id),
        ],
    )
}

fn check_account_name(name: &str) -> Result<(), IamError> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(IamError::validation(
            "Account names are 3 to 63 lowercase letters, digits and dashes.",
        ))
    }
}

pub async fn create_account(call: &Call<'_>) -> Result<Xml, IamError> {
    let name = call.required("AccountName")?;
    check_account_name(name)?;
    authorize_system(call, "CreateAccount", name).await?;
    let account = call.meta.create_account(name).await?;
    if let Some(email) = call.param("Email") {
        call.meta.set_account_email(&account, email).await?;
    }
    Ok(Xml::result("CreateAccount").raw(&account_xml("Account", &account)))
}

pub async fn list_accounts(call: &Call<'_>) -> Result<Xml, IamError> {
    authorize_system(call, "ListAccounts", "*").await?;
    let members: String = call
        .meta
        .accounts()
        .await?
        .iter()
        .map(|a| account_xml("member", a))
        .collect();
    Ok(Xml::result("ListAccounts")
        .raw(&format!("<Accounts>{members}</Accounts>"))
        .field("IsTruncated", "false"))
}

pub async fn delete_account(call: &Call<'_>) -> Result<Xml, IamError> {
    let name = call.required("AccountName")?;
    authorize_system(call, "DeleteAccount", name).await?;
    let account = call
        .meta
        .account_by_name(name)
        .await?
        .ok_or_else(|| IamError::no_such_entity(format!("The account {name} cannot be found.")))?;
    call.meta.delete_account(&account).await?;
    Ok(Xml::empty("DeleteAccount"))
}

pub fn get_caller_identity(call: &Call<'_>) -> Result<Xml, IamError> {
    let (arn, user_id) = match &call.caller.user {
        Some(u) => (u.arn(), u.user_id.clone()),
        None => (call.account_arn("root"), call.caller.account.id.clone()),
    };
    Ok(Xml::result("GetCallerIdentity")
        .sts()
        .field("Arn", &arn)
        .field("UserId", &user_id)
        .field("Account", &call.caller.account.id))
}
