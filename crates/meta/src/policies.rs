//! Identity policies: inline policies embedded in a user or group, and customer-managed
//! policies with versions, attached to users and groups. Documents are validated by callers.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::identity::random_hex;
use crate::write::{Isolation, transaction};
use crate::{Error, Group, Meta, Result, User, now_ms};

/// Versions a managed policy may keep, as in IAM.
const MAX_VERSIONS: usize = 5;

/// What a policy is embedded in or attached to.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    User(&'a User),
    Group(&'a Group),
}

impl Owner<'_> {
    fn key(&self) -> (&str, &'static str, &str) {
        match self {
            Self::User(u) => (&u.account_id, "user", &u.name),
            Self::Group(g) => (&g.account_id, "group", &g.name),
        }
    }

    fn describe(&self) -> String {
        let (_, kind, name) = self.key();
        format!("{kind} {name}")
    }
}

/// A customer-managed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPolicy {
    pub account_id: String,
    pub name: String,
    pub path: String,
    /// Stable unique id (`ANPA...`).
    pub policy_id: String,
    pub default_version: String,
    pub created_ms: i64,
    pub attachments: i64,
}

impl ManagedPolicy {
    #[must_use]
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:policy{}{}", self.account_id, self.path, self.name)
    }
}

/// One version of a managed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    pub version_id: String,
    pub document: String,
    pub created_ms: i64,
    pub is_default: bool,
}

const POLICY_COLUMNS: &str = "p.account_id, p.name, p.path, p.policy_id, p.default_version, p.created_ms,
    (SELECT COUNT(*) FROM policy_attachments a WHERE a.account_id = p.account_id AND a.policy_name = p.name)
    AS attachments";

fn policy_from(row: &AnyRow) -> Result<ManagedPolicy> {
    Ok(ManagedPolicy {
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        path: row.try_get("path")?,
        policy_id: row.try_get("policy_id")?,
        default_version: row.try_get("default_version")?,
        created_ms: row.try_get("created_ms")?,
        attachments: row.try_get("attachments")?,
    })
}

impl Meta {
    /// Sets (or replaces) an inline policy.
    pub async fn put_inline_policy(&self, owner: &Owner<'_>, name: &str, document: &str) -> Result<()> {
        let (account, kind, principal) = owner.key();
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            sqlx::query(
                "INSERT INTO inline_policies (account_id, principal_kind, principal_name, policy_name, document)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (account_id, principal_kind, principal_name, policy_name)
                 DO UPDATE SET document = excluded.document",
            )
            .bind(account)
            .bind(kind)
            .bind(principal)
            .bind(name)
            .bind(document)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    pub async fn inline_policy(&self, owner: &Owner<'_>, name: &str) -> Result<String> {
        let (account, kind, principal) = owner.key();
        sqlx::query_scalar(
            "SELECT document FROM inline_policies
             WHERE account_id = $1 AND principal_kind = $2 AND principal_name = $3 AND policy_name = $4",
        )
        .bind(account)
        .bind(kind)
        .bind(principal)
        .bind(name)
        .fetch_optional(&self.catalog.pool)
        .await?
        .ok_or_else(|| Error::NoSuchEntity(format!("policy {name} of {}", owner.describe())))
    }

    pub async fn inline_policy_names(&self, owner: &Owner<'_>) -> Result<Vec<String>> {
        let (account, kind, principal) = owner.key();
        let names = sqlx::query_scalar(
            "SELECT policy_name FROM inline_policies
             WHERE account_id = $1 AND principal_kind = $2 AND principal_name = $3 ORDER BY policy_name",
        )
        .bind(account)
        .bind(kind)
        .bind(principal)
        .fetch_all(&self.catalog.pool)
        .await?;
        Ok(names)
    }

    pub async fn delete_inline_policy(&self, owner: &Owner<'_>, name: &str) -> Result<()> {
        let (account, kind, principal) = owner.key();
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            let deleted = sqlx::query(
                "DELETE FROM inline_policies
                 WHERE account_id = $1 AND principal_kind = $2 AND principal_name = $3 AND policy_name = $4",
            )
            .bind(account)
            .bind(kind)
            .bind(principal)
            .bind(name)
            .execute(&mut *tx)
            .await?;
            if deleted.rows_affected() == 0 {
                return Err(Error::NoSuchEntity(format!("policy {name} of {}", owner.describe())));
            }
            Ok(())
        })
    }

    /// Every identity policy document that applies to `user`: its inline policies, its
    /// groups' inline policies, and the default versions of managed policies attached to it
    /// or to its groups.
    pub async fn identity_policies(&self, user: &User) -> Result<Vec<String>> {
        let docs = sqlx::query_scalar(
            "WITH principals (kind, name) AS (
                 SELECT 'user', $2
                 UNION ALL SELECT 'group', group_name FROM group_members WHERE account_id = $1 AND user_name = $2)
             SELECT i.document FROM inline_policies i JOIN principals p
                 ON i.principal_kind = p.kind AND i.principal_name = p.name
                 WHERE i.account_id = $1
             UNION ALL
             SELECT v.document FROM policy_attachments a
                 JOIN principals p ON a.principal_kind = p.kind AND a.principal_name = p.name
                 JOIN managed_policies m ON m.account_id = a.account_id AND m.name = a.policy_name
                 JOIN policy_versions v ON v.account_id = m.account_id AND v.policy_name = m.name
                     AND v.version_id = m.default_version
                 WHERE a.account_id = $1",
        )
        .bind(&user.account_id)
        .bind(&user.name)
        .fetch_all(&self.catalog.pool)
        .await?;
        Ok(docs)
    }

    /// Creates a managed policy whose first version, `v1`, is its default.
    pub async fn create_policy(
        &self,
        account_id: &str,
        name: &str,
        path: &str,
        document: &str,
    ) -> Result<ManagedPolicy> {
        let now = now_ms();
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            let taken = "SELECT 1 FROM managed_policies WHERE account_id = $1 AND name = $2";
            if Self::exists(&mut tx, taken, &[account_id, name]).await? {
                return Err(Error::EntityExists(format!("policy {name}")));
            }
            let policy_id = format!("ANPA{}", random_hex(17));
            sqlx::query(
                "INSERT INTO managed_policies (account_id, name, path, policy_id, default_version, next_version, created_ms)
                 VALUES ($1, $2, $3, $4, 'v1', 2, $5)",
            )
            .bind(account_id)
            .bind(name)
            .bind(path)
            .bind(&policy_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            insert_version(&mut tx, account_id, name, "v1", document, now).await
        })?;
        self.managed_policy(account_id, name).await
    }

    pub async fn managed_policy(&self, account_id: &str, name: &str) -> Result<ManagedPolicy> {
        let row = sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM managed_policies p WHERE p.account_id = $1 AND p.name = $2"
        ))
        .bind(account_id)
        .bind(name)
        .fetch_optional(&self.catalog.pool)
        .await?;
        row.as_ref()
            .map(policy_from)
            .transpose()?
            .ok_or_else(|| Error::NoSuchEntity(format!("policy {name}")))
    }

    /// Managed policies under `path_prefix`, by name after `marker`; only attached ones if asked.
    pub async fn list_policies(
        &self,
        account_id: &str,
        path_prefix: &str,
        only_attached: bool,
        marker: &str,
        max: usize,
    ) -> Result<(Vec<ManagedPolicy>, bool)> {
        let rows = sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM managed_policies p
             WHERE p.account_id = $1 AND p.name > $2 AND substr(p.path, 1, length($3)) = $3
             ORDER BY p.name"
        ))
        .bind(account_id)
        .bind(marker)
        .bind(path_prefix)
        .fetch_all(&self.catalog.pool)
        .await?;
        let mut policies = Vec::new();
        for row in &rows {
            let p = policy_from(row)?;
            if !only_attached || p.attachments > 0 {
                policies.push(p);
            }
            if policies.len() > max {
                break;
            }
        }
        let truncated = policies.len() > max;
        policies.truncate(max);
        Ok((policies, truncated))
    }

    /// Deletes a managed policy that is attached nowhere and has no version but its default.
    pub async fn delete_policy(&self, policy: &ManagedPolicy) -> Result<()> {
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            let args = [policy.account_id.as_str(), policy.name.as_str()];
            if Self::exists(
                &mut tx,
                "SELECT 1 FROM policy_attachments WHERE account_id = $1 AND policy_name = $2",
                &args,
            )
            .await?
            {
                return Err(Error::DeleteConflict(
                    "Cannot delete a policy attached to entities.".into(),
                ));
            }
            let others = "SELECT 1 FROM policy_versions v JOIN managed_policies m
                 ON m.account_id = v.account_id AND m.name = v.policy_name
                 WHERE v.account_id = $1 AND v.policy_name = $2 AND v.version_id <> m.default_version";
            if Self::exists(&mut tx, others, &args).await? {
                return Err(Error::DeleteConflict(
                    "Cannot delete a policy with versions other than its default.".into(),
                ));
            }
            for table in [
                "policy_versions WHERE account_id = $1 AND policy_name = $2",
                "managed_policies WHERE account_id = $1 AND name = $2",
            ] {
                sqlx::query(&format!("DELETE FROM {table}"))
                    .bind(&policy.account_id)
                    .bind(&policy.name)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(())
        })
    }

    /// Adds a version (`vN`), optionally as the default. At most five versions.
    pub async fn create_policy_version(
        &self,
        policy: &ManagedPolicy,
        document: &str,
        set_default: bool,
    ) -> Result<String> {
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            let count: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM policy_versions WHERE account_id = $1 AND policy_name = $2")
                    .bind(&policy.account_id)
                    .bind(&policy.name)
                    .fetch_one(&mut *tx)
                    .await?;
            if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_VERSIONS {
                return Err(Error::LimitExceeded(format!(
                    "A managed policy can have up to {MAX_VERSIONS} versions."
                )));
            }
            let next: i64 =
                sqlx::query_scalar("SELECT next_version FROM managed_policies WHERE account_id = $1 AND name = $2")
                    .bind(&policy.account_id)
                    .bind(&policy.name)
                    .fetch_one(&mut *tx)
                    .await?;
            let version = format!("v{next}");
            insert_version(&mut tx, &policy.account_id, &policy.name, &version, document, now_ms()).await?;
            sqlx::query("UPDATE managed_policies SET next_version = $1 WHERE account_id = $2 AND name = $3")
                .bind(next + 1)
                .bind(&policy.account_id)
                .bind(&policy.name)
                .execute(&mut *tx)
                .await?;
            if set_default {
                sqlx::query("UPDATE managed_policies SET default_version = $1 WHERE account_id = $2 AND name = $3")
                    .bind(&version)
                    .bind(&policy.account_id)
                    .bind(&policy.name)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(version)
        })
    }

    pub async fn policy_versions(&self, policy: &ManagedPolicy) -> Result<Vec<PolicyVersion>> {
        let rows = sqlx::query(
            "SELECT version_id, document, created_ms FROM policy_versions
             WHERE account_id = $1 AND policy_name = $2 ORDER BY created_ms DESC, version_id DESC",
        )
        .bind(&policy.account_id)
        .bind(&policy.name)
        .fetch_all(&self.catalog.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let version_id: String = r.try_get("version_id")?;
                Ok(PolicyVersion {
                    is_default: version_id == policy.default_version,
                    version_id,
                    document: r.try_get("document")?,
                    created_ms: r.try_get("created_ms")?,
                })
            })
            .collect()
    }

    pub async fn set_default_version(&self, policy: &ManagedPolicy, version: &str) -> Result<()> {
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            let known = "SELECT 1 FROM policy_versions WHERE account_id = $1 AND policy_name = $2 AND version_id = $3";
            if !Self::exists(&mut tx, known, &[&policy.account_id, &policy.name, version]).await? {
                return Err(Error::NoSuchEntity(format!(
                    "version {version} of policy {}",
                    policy.name
                )));
            }
            sqlx::query("UPDATE managed_policies SET default_version = $1 WHERE account_id = $2 AND name = $3")
                .bind(version)
                .bind(&policy.account_id)
                .bind(&policy.name)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }

    /// Deletes a version other than the default.
    pub async fn delete_policy_version(&self, policy: &ManagedPolicy, version: &str) -> Result<()> {
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            // Read the default inside the transaction: a concurrent SetDefault must not leave the
            // policy pointing at a deleted version.
            let default: Option<String> =
                sqlx::query_scalar("SELECT default_version FROM managed_policies WHERE account_id = $1 AND name = $2")
                    .bind(&policy.account_id)
                    .bind(&policy.name)
                    .fetch_optional(&mut *tx)
                    .await?;
            if default.as_deref() == Some(version) {
                return Err(Error::DeleteConflict(
                    "Cannot delete the default version of a policy.".into(),
                ));
            }
            let deleted = sqlx::query(
                "DELETE FROM policy_versions WHERE account_id = $1 AND policy_name = $2 AND version_id = $3",
            )
            .bind(&policy.account_id)
            .bind(&policy.name)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            if deleted.rows_affected() == 0 {
                return Err(Error::NoSuchEntity(format!(
                    "version {version} of policy {}",
                    policy.name
                )));
            }
            Ok(())
        })
    }

    /// Attaches a managed policy; attaching it again changes nothing.
    pub async fn attach_policy(&self, policy: &ManagedPolicy, owner: &Owner<'_>) -> Result<()> {
        let (_, kind, principal) = owner.key();
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            sqlx::query(
                "INSERT INTO policy_attachments (account_id, policy_name, principal_kind, principal_name)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account_id, policy_name, principal_kind, principal_name) DO NOTHING",
            )
            .bind(&policy.account_id)
            .bind(&policy.name)
            .bind(kind)
            .bind(principal)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    pub async fn detach_policy(&self, policy: &ManagedPolicy, owner: &Owner<'_>) -> Result<()> {
        let (_, kind, principal) = owner.key();
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            let deleted = sqlx::query(
                "DELETE FROM policy_attachments
                 WHERE account_id = $1 AND policy_name = $2 AND principal_kind = $3 AND principal_name = $4",
            )
            .bind(&policy.account_id)
            .bind(&policy.name)
            .bind(kind)
            .bind(principal)
            .execute(&mut *tx)
            .await?;
            if deleted.rows_affected() == 0 {
                return Err(Error::NoSuchEntity(format!(
                    "policy {} attached to {}",
                    policy.name,
                    owner.describe()
                )));
            }
            Ok(())
        })
    }

    /// The managed policies attached to a user or group.
    pub async fn attached_policies(&self, owner: &Owner<'_>) -> Result<Vec<ManagedPolicy>> {
        let (account, kind, principal) = owner.key();
        let rows = sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM managed_policies p JOIN policy_attachments a
                 ON a.account_id = p.account_id AND a.policy_name = p.name
             WHERE a.account_id = $1 AND a.principal_kind = $2 AND a.principal_name = $3 ORDER BY p.name"
        ))
        .bind(account)
        .bind(kind)
        .bind(principal)
        .fetch_all(&self.catalog.pool)
        .await?;
        rows.iter().map(policy_from).collect()
    }
}

async fn insert_version(
    conn: &mut sqlx::AnyConnection,
    account_id: &str,
    name: &str,
    version: &str,
    document: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO policy_versions (account_id, policy_name, version_id, document, created_ms)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(account_id)
    .bind(name)
    .bind(version)
    .bind(document)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_store;

    #[tokio::test]
    async fn groups_and_managed_policies_reach_their_users() {
        let (_dir, meta) = test_store().await;
        let a = meta.create_account("tenant").await.unwrap();
        let ann = meta.create_user(&a.id, "ann", "/").await.unwrap();
        let devs = meta.create_group(&a.id, "devs", "/").await.unwrap();
        meta.add_to_group(&devs, &ann).await.unwrap();
        meta.add_to_group(&devs, &ann).await.unwrap();
        assert_eq!(meta.members(&devs).await.unwrap(), vec![ann.clone()]);
        assert_eq!(meta.groups_of(&ann).await.unwrap(), vec![devs.clone()]);

        meta.put_inline_policy(&Owner::User(&ann), "own", "U").await.unwrap();
        meta.put_inline_policy(&Owner::Group(&devs), "grp", "G").await.unwrap();
        let p = meta.create_policy(&a.id, "shared", "/", "M1").await.unwrap();
        assert_eq!(p.arn(), format!("arn:aws:iam::{}:policy/shared", a.id));
        meta.attach_policy(&p, &Owner::Group(&devs)).await.unwrap();
        let mut docs = meta.identity_policies(&ann).await.unwrap();
        docs.sort();
        assert_eq!(docs, ["G", "M1", "U"]);

        // A new default version is what applies.
        let v2 = meta.create_policy_version(&p, "M2", true).await.unwrap();
        assert_eq!(v2, "v2");
        let mut docs = meta.identity_policies(&ann).await.unwrap();
        docs.sort();
        assert_eq!(docs, ["G", "M2", "U"]);
        let p = meta.managed_policy(&a.id, "shared").await.unwrap();
        assert_eq!((p.default_version.as_str(), p.attachments), ("v2", 1));
        for _ in 0..3 {
            meta.create_policy_version(&p, "Mx", false).await.unwrap();
        }
        assert!(matches!(
            meta.create_policy_version(&p, "M", false).await,
            Err(Error::LimitExceeded(_))
        ));
        meta.set_default_version(&p, "v1").await.unwrap();
        assert!(matches!(
            meta.set_default_version(&p, "v9").await,
            Err(Error::NoSuchEntity(_))
        ));

        // Nothing goes while something depends on it.
        assert!(matches!(meta.delete_group(&devs).await, Err(Error::DeleteConflict(_))));
        assert!(matches!(meta.delete_user(&ann).await, Err(Error::DeleteConflict(_))));
        let p = meta.managed_policy(&a.id, "shared").await.unwrap();
        assert!(matches!(meta.delete_policy(&p).await, Err(Error::DeleteConflict(_))));
        meta.detach_policy(&p, &Owner::Group(&devs)).await.unwrap();
        assert!(matches!(
            meta.detach_policy(&p, &Owner::Group(&devs)).await,
            Err(Error::NoSuchEntity(_))
        ));
        for v in meta.policy_versions(&p).await.unwrap().iter().filter(|v| !v.is_default) {
            meta.delete_policy_version(&p, &v.version_id).await.unwrap();
        }
        meta.delete_policy(&p).await.unwrap();
        meta.delete_inline_policy(&Owner::Group(&devs), "grp").await.unwrap();
        meta.remove_from_group(&devs, &ann).await.unwrap();
        meta.delete_group(&devs).await.unwrap();
        assert_eq!(meta.identity_policies(&ann).await.unwrap(), ["U"]);
    }
}
