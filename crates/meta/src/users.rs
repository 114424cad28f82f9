//! IAM users of an account, and their inline policies.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::identity::random_hex;
use crate::write::{Isolation, transaction};
use crate::{Error, Meta, Result, now_ms};

/// An IAM user of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub account_id: String,
    pub name: String,
    /// `/` or `/division/team/`.
    pub path: String,
    /// Stable unique id (`AIDA...`), what `aws:userid` holds.
    pub user_id: String,
    pub created_ms: i64,
}

impl User {
    #[must_use]
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:user{}{}", self.account_id, self.path, self.name)
    }
}

pub(crate) fn user_from(row: &AnyRow) -> Result<User> {
    Ok(User {
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        path: row.try_get("path")?,
        user_id: row.try_get("user_id")?,
        created_ms: row.try_get("created_ms")?,
    })
}

impl Meta {
    /// Creates user `name` (IAM's rules: 1 to 64 letters, digits and `+=,.@_-`) with `path`
    /// (`/`, or `/` separated names ending in `/`), whoever asks (IAM or `osg admin`).
    pub async fn create_user(&self, account_id: &str, name: &str, path: &str) -> Result<User> {
        if !osg_model::names::is_iam_name(name) {
            return Err(Error::Invalid(format!(
                "user name {name:?}: use 1 to 64 letters, digits and +=,.@_-"
            )));
        }
        if !osg_model::names::is_iam_path(path) {
            return Err(Error::Invalid(format!(
                "path {path:?}: a path starts and ends with / (at most 512 characters, no //)"
            )));
        }
        let user = User {
            account_id: account_id.to_owned(),
            name: name.to_owned(),
            path: path.to_owned(),
            user_id: format!("AIDA{}", random_hex(17)),
            created_ms: now_ms(),
        };
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            let taken = "SELECT 1 FROM users WHERE account_id = $1 AND name = $2";
            if Self::exists(&mut tx, taken, &[account_id, name]).await? {
                return Err(Error::EntityExists(format!("user {name}")));
            }
            sqlx::query("INSERT INTO users (account_id, name, path, user_id, created_ms) VALUES ($1, $2, $3, $4, $5)")
                .bind(&user.account_id)
                .bind(&user.name)
                .bind(&user.path)
                .bind(&user.user_id)
                .bind(user.created_ms)
                .execute(&mut *tx)
                .await?;
            Ok(user.clone())
        })
    }

    pub async fn user(&self, account_id: &str, name: &str) -> Result<User> {
        let row = sqlx::query(
            "SELECT account_id, name, path, user_id, created_ms FROM users WHERE account_id = $1 AND name = $2",
        )
        .bind(account_id)
        .bind(name)
        .fetch_optional(&self.catalog.pool)
        .await?;
        row.as_ref()
            .map(user_from)
            .transpose()?
            .ok_or_else(|| Error::NoSuchEntity(format!("user {name}")))
    }

    /// Users whose path starts with `path_prefix`, by name after `marker`; the flag tells
    /// whether more follow.
    pub async fn list_users(
        &self,
        account_id: &str,
        path_prefix: &str,
        marker: &str,
        max: usize,
    ) -> Result<(Vec<User>, bool)> {
        let rows = sqlx::query(
            "SELECT account_id, name, path, user_id, created_ms FROM users
             WHERE account_id = $1 AND name > $2 AND substr(path, 1, length($3)) = $3
             ORDER BY name LIMIT $4",
        )
        .bind(account_id)
        .bind(marker)
        .bind(path_prefix)
        .bind(i64::try_from(max + 1).unwrap_or(i64::MAX))
        .fetch_all(&self.catalog.pool)
        .await?;
        let mut users = rows.iter().map(user_from).collect::<Result<Vec<_>>>()?;
        let truncated = users.len() > max;
        users.truncate(max);
        Ok((users, truncated))
    }

    /// Renames a user or moves it to another path; its keys and policies follow.
    pub async fn update_user(&self, user: &User, new_name: Option<&str>, new_path: Option<&str>) -> Result<User> {
        let name = new_name.unwrap_or(&user.name);
        let path = new_path.unwrap_or(&user.path);
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            if name != user.name
                && Self::exists(
                    &mut tx,
                    "SELECT 1 FROM users WHERE account_id = $1 AND name = $2",
                    &[&user.account_id, name],
                )
                .await?
            {
                return Err(Error::EntityExists(format!("user {name}")));
            }
            sqlx::query("UPDATE users SET name = $1, path = $2 WHERE account_id = $3 AND name = $4")
                .bind(name)
                .bind(path)
                .bind(&user.account_id)
                .bind(&user.name)
                .execute(&mut *tx)
                .await?;
            for update in [
                "UPDATE access_keys SET user_name = $1 WHERE account_id = $2 AND user_name = $3",
                "UPDATE group_members SET user_name = $1 WHERE account_id = $2 AND user_name = $3",
                "UPDATE inline_policies SET principal_name = $1
                 WHERE account_id = $2 AND principal_kind = 'user' AND principal_name = $3",
                "UPDATE policy_attachments SET principal_name = $1
                 WHERE account_id = $2 AND principal_kind = 'user' AND principal_name = $3",
            ] {
                sqlx::query(update)
                    .bind(name)
                    .bind(&user.account_id)
                    .bind(&user.name)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(User {
                name: name.to_owned(),
                path: path.to_owned(),
                ..user.clone()
            })
        })
    }

    /// Deletes a user that has no access keys, policies or group memberships left, as IAM
    /// requires.
    pub async fn delete_user(&self, user: &User) -> Result<()> {
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            let args = [user.account_id.as_str(), user.name.as_str()];
            if Self::exists(
                &mut tx,
                "SELECT 1 FROM access_keys WHERE account_id = $1 AND user_name = $2",
                &args,
            )
            .await?
            {
                return Err(Error::DeleteConflict(
                    "Cannot delete entity, must delete access keys first.".into(),
                ));
            }
            let policies = "SELECT 1 FROM inline_policies
                 WHERE account_id = $1 AND principal_kind = 'user' AND principal_name = $2
                 UNION ALL SELECT 1 FROM policy_attachments
                 WHERE account_id = $1 AND principal_kind = 'user' AND principal_name = $2";
            if Self::exists(&mut tx, policies, &args).await? {
                return Err(Error::DeleteConflict(
                    "Cannot delete entity, must delete policies first.".into(),
                ));
            }
            let groups = "SELECT 1 FROM group_members WHERE account_id = $1 AND user_name = $2";
            if Self::exists(&mut tx, groups, &args).await? {
                return Err(Error::DeleteConflict(
                    "Cannot delete entity, must remove users from group first.".into(),
                ));
            }
            sqlx::query("DELETE FROM users WHERE account_id = $1 AND name = $2")
                .bind(&user.account_id)
                .bind(&user.name)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{Error, Owner, test_store};

    #[tokio::test]
    async fn list_rename_and_delete_users() {
        let (_dir, meta) = test_store().await;
        let a = meta.create_account("tenant").await.unwrap();
        for (name, path) in [("ann", "/eng/"), ("ben", "/ops/"), ("cat", "/eng/web/")] {
            meta.create_user(&a.id, name, path).await.unwrap();
        }
        let (eng, more) = meta.list_users(&a.id, "/eng/", "", 10).await.unwrap();
        assert_eq!(eng.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["ann", "cat"]);
        assert!(!more);
        let (page, more) = meta.list_users(&a.id, "/", "", 2).await.unwrap();
        assert_eq!((page.len(), more), (2, true));
        let (rest, _) = meta.list_users(&a.id, "/", &page[1].name, 2).await.unwrap();
        assert_eq!(rest.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["cat"]);

        let ann = meta.user(&a.id, "ann").await.unwrap();
        let (key, _) = meta.create_access_key(&a.id, Some("ann")).await.unwrap();
        meta.create_access_key(&a.id, Some("ann")).await.unwrap();
        assert!(matches!(
            meta.create_access_key(&a.id, Some("ann")).await,
            Err(Error::LimitExceeded(_))
        ));
        meta.put_inline_policy(&Owner::User(&ann), "p", "{}").await.unwrap();
        assert!(matches!(
            meta.update_user(&ann, Some("ben"), None).await,
            Err(Error::EntityExists(_))
        ));
        let anna = meta.update_user(&ann, Some("anna"), Some("/x/")).await.unwrap();
        assert_eq!(
            meta.caller(&key).await.unwrap().unwrap().user.unwrap().name,
            "anna",
            "keys follow"
        );
        assert_eq!(
            meta.inline_policy_names(&Owner::User(&anna)).await.unwrap(),
            ["p"],
            "policies follow"
        );

        assert!(matches!(meta.delete_user(&anna).await, Err(Error::DeleteConflict(_))));
        for k in meta.access_keys_of(&a.id, Some("anna")).await.unwrap() {
            meta.delete_access_key(&k.access_key).await.unwrap();
        }
        assert!(matches!(meta.delete_user(&anna).await, Err(Error::DeleteConflict(_))));
        meta.delete_inline_policy(&Owner::User(&anna), "p").await.unwrap();
        assert!(matches!(
            meta.delete_inline_policy(&Owner::User(&anna), "p").await,
            Err(Error::NoSuchEntity(_))
        ));
        meta.delete_user(&anna).await.unwrap();
        assert!(matches!(meta.user(&a.id, "anna").await, Err(Error::NoSuchEntity(_))));

        assert!(
            matches!(meta.delete_account(&a).await, Err(Error::DeleteConflict(_))),
            "users remain"
        );
        for name in ["ben", "cat"] {
            let u = meta.user(&a.id, name).await.unwrap();
            meta.delete_user(&u).await.unwrap();
        }
        let (root_key, _) = meta.create_access_key(&a.id, None).await.unwrap();
        meta.set_access_key_active(&root_key, false).await.unwrap();
        assert!(
            meta.secret_key(&root_key).await.unwrap().is_none(),
            "inactive keys sign nothing"
        );
        meta.delete_account(&a).await.unwrap();
        assert!(matches!(meta.access_key(&root_key).await, Err(Error::NoSuchEntity(_))));
    }
}
