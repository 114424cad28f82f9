//! IAM groups of an account and their members.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::identity::random_hex;
use crate::users::user_from;
use crate::write::{Isolation, transaction};
use crate::{Error, Meta, Result, User, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub account_id: String,
    pub name: String,
    pub path: String,
    /// Stable unique id (`AGPA...`).
    pub group_id: String,
    pub created_ms: i64,
}

impl Group {
    #[must_use]
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:group{}{}", self.account_id, self.path, self.name)
    }
}

fn group_from(row: &AnyRow) -> Result<Group> {
    Ok(Group {
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        path: row.try_get("path")?,
        group_id: row.try_get("group_id")?,
        created_ms: row.try_get("created_ms")?,
    })
}

const GROUP_COLUMNS: &str = "account_id, name, path, group_id, created_ms";

impl Meta {
    pub async fn create_group(&self, account_id: &str, name: &str, path: &str) -> Result<Group> {
        let group = Group {
            account_id: account_id.to_owned(),
            name: name.to_owned(),
            path: path.to_owned(),
            group_id: format!("AGPA{}", random_hex(17)),
            created_ms: now_ms(),
        };
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            let taken = "SELECT 1 FROM groups WHERE account_id = $1 AND name = $2";
            if Self::exists(&mut tx, taken, &[account_id, name]).await? {
                return Err(Error::EntityExists(format!("group {name}")));
            }
            sqlx::query(&format!(
                "INSERT INTO groups ({GROUP_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
            ))
            .bind(&group.account_id)
            .bind(&group.name)
            .bind(&group.path)
            .bind(&group.group_id)
            .bind(group.created_ms)
            .execute(&mut *tx)
            .await?;
            Ok(group.clone())
        })
    }

    pub async fn group(&self, account_id: &str, name: &str) -> Result<Group> {
        let row = sqlx::query(&format!(
            "SELECT {GROUP_COLUMNS} FROM groups WHERE account_id = $1 AND name = $2"
        ))
        .bind(account_id)
        .bind(name)
        .fetch_optional(&self.catalog.pool)
        .await?;
        row.as_ref()
            .map(group_from)
            .transpose()?
            .ok_or_else(|| Error::NoSuchEntity(format!("group {name}")))
    }

    /// Groups whose path starts with `path_prefix`, by name after `marker`.
    pub async fn list_groups(
        &self,
        account_id: &str,
        path_prefix: &str,
        marker: &str,
        max: usize,
    ) -> Result<(Vec<Group>, bool)> {
        let rows = sqlx::query(&format!(
            "SELECT {GROUP_COLUMNS} FROM groups
             WHERE account_id = $1 AND name > $2 AND substr(path, 1, length($3)) = $3
             ORDER BY name LIMIT $4"
        ))
        .bind(account_id)
        .bind(marker)
        .bind(path_prefix)
        .bind(i64::try_from(max + 1).unwrap_or(i64::MAX))
        .fetch_all(&self.catalog.pool)
        .await?;
        let mut groups = rows.iter().map(group_from).collect::<Result<Vec<_>>>()?;
        let truncated = groups.len() > max;
        groups.truncate(max);
        Ok((groups, truncated))
    }

    pub async fn groups_of(&self, user: &User) -> Result<Vec<Group>> {
        let rows = sqlx::query(
            "SELECT g.account_id, g.name, g.path, g.group_id, g.created_ms FROM groups g
             JOIN group_members m ON m.account_id = g.account_id AND m.group_name = g.name
             WHERE m.account_id = $1 AND m.user_name = $2 ORDER BY g.name",
        )
        .bind(&user.account_id)
        .bind(&user.name)
        .fetch_all(&self.catalog.pool)
        .await?;
        rows.iter().map(group_from).collect()
    }

    pub async fn members(&self, group: &Group) -> Result<Vec<User>> {
        let rows = sqlx::query(
            "SELECT u.account_id, u.name, u.path, u.user_id, u.created_ms FROM users u
             JOIN group_members m ON m.account_id = u.account_id AND m.user_name = u.name
             WHERE m.account_id = $1 AND m.group_name = $2 ORDER BY u.name",
        )
        .bind(&group.account_id)
        .bind(&group.name)
        .fetch_all(&self.catalog.pool)
        .await?;
        rows.iter().map(user_from).collect()
    }

    /// Adds a user to a group; adding a member again changes nothing.
    pub async fn add_to_group(&self, group: &Group, user: &User) -> Result<()> {
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            sqlx::query(
                "INSERT INTO group_members (account_id, group_name, user_name) VALUES ($1, $2, $3)
                 ON CONFLICT (account_id, group_name, user_name) DO NOTHING",
            )
            .bind(&group.account_id)
            .bind(&group.name)
            .bind(&user.name)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    pub async fn remove_from_group(&self, group: &Group, user: &User) -> Result<()> {
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            let removed =
                sqlx::query("DELETE FROM group_members WHERE account_id = $1 AND group_name = $2 AND user_name = $3")
                    .bind(&group.account_id)
                    .bind(&group.name)
                    .bind(&user.name)
                    .execute(&mut *tx)
                    .await?;
            if removed.rows_affected() == 0 {
                return Err(Error::NoSuchEntity(format!(
                    "user {} in group {}",
                    user.name, group.name
                )));
            }
            Ok(())
        })
    }

    /// Deletes a group with no members and no policies, as IAM requires.
    pub async fn delete_group(&self, group: &Group) -> Result<()> {
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            let args = [group.account_id.as_str(), group.name.as_str()];
            if Self::exists(
                &mut tx,
                "SELECT 1 FROM group_members WHERE account_id = $1 AND group_name = $2",
                &args,
            )
            .await?
            {
                return Err(Error::DeleteConflict(
                    "Cannot delete entity, must remove users from group first.".into(),
                ));
            }
            let policies = "SELECT 1 FROM inline_policies
                 WHERE account_id = $1 AND principal_kind = 'group' AND principal_name = $2
                 UNION ALL SELECT 1 FROM policy_attachments
                 WHERE account_id = $1 AND principal_kind = 'group' AND principal_name = $2";
            if Self::exists(&mut tx, policies, &args).await? {
                return Err(Error::DeleteConflict(
                    "Cannot delete entity, must delete policies first.".into(),
                ));
            }
            sqlx::query("DELETE FROM groups WHERE account_id = $1 AND name = $2")
                .bind(&group.account_id)
                .bind(&group.name)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }
}
