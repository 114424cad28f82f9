//! Accounts, and who is behind an access key.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::write::{Isolation, transaction};
use crate::{Error, Meta, Result, User, now_ms};

/// The name of the account created on first start, which administers the others.
pub const SYSTEM_ACCOUNT: &str = "system";

/// A tenant: owns buckets and objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// 12-digit account id.
    pub id: String,
    pub name: String,
    /// 64 hex digits, the id S3 shows as an owner's `ID`.
    pub canonical_id: String,
}

/// The authenticated principal behind a request: an account's root, or one of its users.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access_key: String,
    pub account: Account,
    pub user: Option<User>,
}

async fn insert_account(conn: &mut sqlx::AnyConnection, name: &str) -> Result<Account> {
    let random = uuid::Uuid::new_v4().as_u128();
    let account = Account {
        id: format!("{:012}", random % 1_000_000_000_000),
        name: name.to_owned(),
        canonical_id: random_hex(64).to_ascii_lowercase(),
    };
    sqlx::query("INSERT INTO accounts (id, name, canonical_id, email, created_ms) VALUES ($1, $2, $3, '', $4)")
        .bind(&account.id)
        .bind(&account.name)
        .bind(&account.canonical_id)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
    Ok(account)
}

fn account_from(row: &AnyRow) -> Result<Account> {
    Ok(Account {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        canonical_id: row.try_get("canonical_id")?,
    })
}

/// Random upper-case hex, for generated ids and keys.
pub(crate) fn random_hex(len: usize) -> String {
    let mut out = String::new();
    while out.len() < len {
        out.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    out.truncate(len);
    out.to_ascii_uppercase()
}

impl Meta {
    /// Creates the system account with this key pair unless it exists; returns whether it was
    /// created.
    /// Creates the system account and its key unless it exists, in one transaction: of
    /// gateways starting together on an empty store, one creates it and the others see it.
    pub async fn ensure_system_account(&self, access_key: &str, secret: &str) -> Result<bool> {
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            if Self::exists(&mut tx, "SELECT 1 FROM accounts WHERE name = $1", &[SYSTEM_ACCOUNT]).await? {
                return Ok(false);
            }
            let account = insert_account(&mut tx, SYSTEM_ACCOUNT).await?;
            self.insert_access_key(&mut tx, &account.id, None, access_key, secret)
                .await?;
            Ok(true)
        })
    }

    pub async fn create_account(&self, name: &str) -> Result<Account> {
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            if Self::exists(&mut tx, "SELECT 1 FROM accounts WHERE name = $1", &[name]).await? {
                return Err(Error::EntityExists(format!("account {name}")));
            }
            let account = insert_account(&mut tx, name).await?;
            Ok(account)
        })
    }

    pub(crate) async fn exists(conn: &mut sqlx::AnyConnection, sql: &str, args: &[&str]) -> Result<bool> {
        // Untyped: `SELECT 1` is a 32-bit integer on PostgreSQL and a 64-bit one on SQLite.
        let mut q = sqlx::query(sql);
        for a in args {
            q = q.bind(*a);
        }
        Ok(q.fetch_optional(&mut *conn).await?.is_some())
    }

    pub async fn accounts(&self) -> Result<Vec<Account>> {
        let rows = sqlx::query("SELECT id, name, canonical_id FROM accounts ORDER BY name")
            .fetch_all(&self.catalog.pool)
            .await?;
        rows.iter().map(account_from).collect()
    }

    /// Deletes an account that owns no buckets and no users; its root keys go with it.
    pub async fn delete_account(&self, account: &Account) -> Result<()> {
        if account.name == SYSTEM_ACCOUNT {
            return Err(Error::DeleteConflict("The system account cannot be deleted.".into()));
        }
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            let id = [account.id.as_str()];
            if Self::exists(&mut tx, "SELECT 1 FROM buckets WHERE account_id = $1", &id).await? {
                return Err(Error::DeleteConflict(
                    "Cannot delete an account that owns buckets.".into(),
                ));
            }
            let owned = "SELECT 1 FROM groups WHERE account_id = $1 UNION ALL SELECT 1 FROM managed_policies WHERE account_id = $1";
            if Self::exists(&mut tx, owned, &id).await? {
                return Err(Error::DeleteConflict(
                    "Cannot delete an account that has groups or policies.".into(),
                ));
            }
            if Self::exists(&mut tx, "SELECT 1 FROM users WHERE account_id = $1", &id).await? {
                return Err(Error::DeleteConflict("Cannot delete an account that has users.".into()));
            }
            sqlx::query("DELETE FROM access_keys WHERE account_id = $1")
                .bind(&account.id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM accounts WHERE id = $1")
                .bind(&account.id)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }

    /// Sets the e-mail address S3 ACL grants may name the account by.
    pub async fn set_account_email(&self, account: &Account, email: &str) -> Result<()> {
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            let taken = "SELECT 1 FROM accounts WHERE email = $1 AND id <> $2";
            if Self::exists(&mut tx, taken, &[email, &account.id]).await? {
                return Err(Error::EntityExists(format!("an account with e-mail {email}")));
            }
            sqlx::query("UPDATE accounts SET email = $1 WHERE id = $2")
                .bind(email)
                .bind(&account.id)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }

    pub async fn account_by_email(&self, email: &str) -> Result<Option<Account>> {
        if email.is_empty() {
            return Ok(None);
        }
        let row = sqlx::query("SELECT id, name, canonical_id FROM accounts WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.catalog.pool)
            .await?;
        row.as_ref().map(account_from).transpose()
    }

    pub async fn account_by_name(&self, name: &str) -> Result<Option<Account>> {
        let row = sqlx::query("SELECT id, name, canonical_id FROM accounts WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.catalog.pool)
            .await?;
        row.as_ref().map(account_from).transpose()
    }

    pub async fn account(&self, id: &str) -> Result<Option<Account>> {
        let row = sqlx::query("SELECT id, name, canonical_id FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.catalog.pool)
            .await?;
        row.as_ref().map(account_from).transpose()
    }

    /// Who signs with `access_key` (already authenticated by its signature).
    pub async fn caller(&self, access_key: &str) -> Result<Option<Caller>> {
        let row = sqlx::query(
            "SELECT a.id, a.name, a.canonical_id, k.user_name FROM access_keys k JOIN accounts a ON a.id = k.account_id
             WHERE k.access_key = $1 AND k.active = 1",
        )
        .bind(access_key)
        .fetch_optional(&self.catalog.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let account = account_from(&row)?;
        let user_name: String = row.try_get("user_name")?;
        let user = if user_name.is_empty() {
            None
        } else {
            Some(self.user(&account.id, &user_name).await?)
        };
        Ok(Some(Caller {
            access_key: access_key.to_owned(),
            account,
            user,
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::test_store;
    use secrecy::ExposeSecret;

    #[tokio::test]
    async fn system_account_is_created_once() {
        let (_dir, meta) = test_store().await;
        assert!(meta.ensure_system_account("AKSYSTEM00000001", "secret1").await.unwrap());
        assert!(!meta.ensure_system_account("AKSYSTEM00000002", "secret2").await.unwrap());
        let secret = meta.secret_key("AKSYSTEM00000001").await.unwrap().unwrap();
        assert_eq!(secret.expose_secret(), "secret1");
        let stored: String = sqlx::query_scalar("SELECT secret FROM access_keys")
            .fetch_one(&meta.catalog.pool)
            .await
            .unwrap();
        assert!(!stored.contains("secret1"), "sealed at rest");
        assert!(meta.secret_key("AKSYSTEM00000002").await.unwrap().is_none());
        // An id that would break the signature formats carrying it is refused.
        let (_dir, other) = test_store().await;
        let refused = other.ensure_system_account("AK/1:2,3=4 5678901", "secret").await;
        assert!(matches!(refused, Err(crate::Error::Invalid(_))), "{refused:?}");
        let caller = meta.caller("AKSYSTEM00000001").await.unwrap().unwrap();
        assert_eq!(caller.account.name, "system");
        assert!(caller.user.is_none());
        assert_eq!(caller.account.id.len(), 12);
        assert_eq!(caller.account.canonical_id.len(), 64);
    }

    #[tokio::test]
    async fn users_keys_and_policies() {
        let (_dir, meta) = test_store().await;
        let a = meta.create_account("tenant").await.unwrap();
        assert!(matches!(
            meta.create_account("tenant").await,
            Err(crate::Error::EntityExists(_))
        ));
        let alice = meta.create_user(&a.id, "alice", "/eng/").await.unwrap();
        assert!(matches!(
            meta.create_user(&a.id, "alice", "/").await,
            Err(crate::Error::EntityExists(_))
        ));
        assert_eq!(alice.arn(), format!("arn:aws:iam::{}:user/eng/alice", a.id));
        let (ak, secret) = meta.create_access_key(&a.id, Some("alice")).await.unwrap();
        assert_eq!(meta.secret_key(&ak).await.unwrap().unwrap().expose_secret(), secret);
        let caller = meta.caller(&ak).await.unwrap().unwrap();
        assert_eq!(caller.user.as_ref().map(|u| u.name.as_str()), Some("alice"));
        meta.put_inline_policy(&crate::Owner::User(&alice), "p", "{}")
            .await
            .unwrap();
        meta.put_inline_policy(&crate::Owner::User(&alice), "p", "{\"v\":2}")
            .await
            .unwrap();
        assert_eq!(
            meta.identity_policies(&alice).await.unwrap(),
            vec!["{\"v\":2}".to_owned()]
        );
        assert!(matches!(
            meta.user(&a.id, "bob").await,
            Err(crate::Error::NoSuchEntity(_))
        ));
    }
}
