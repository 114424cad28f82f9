//! Accounts and their access keys: who may sign requests.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Meta, Result, now_ms};

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

/// The authenticated principal behind a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access_key: String,
    pub account: Account,
}

fn account_from(row: &AnyRow) -> Result<Account> {
    Ok(Account {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        canonical_id: row.try_get("canonical_id")?,
    })
}

impl Meta {
    /// Creates the system account with this key pair unless it exists; returns whether it was
    /// created.
    pub async fn ensure_system_account(&self, access_key: &str, secret: &str) -> Result<bool> {
        if self.account_by_name(SYSTEM_ACCOUNT).await?.is_some() {
            return Ok(false);
        }
        let account = self.create_account(SYSTEM_ACCOUNT).await?;
        self.add_access_key(&account.id, access_key, secret).await?;
        Ok(true)
    }

    pub async fn create_account(&self, name: &str) -> Result<Account> {
        let random = uuid::Uuid::new_v4().as_u128();
        let account = Account {
            id: format!("{:012}", random % 1_000_000_000_000),
            name: name.to_owned(),
            canonical_id: format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()),
        };
        let (_guard, mut tx) = self.begin_write().await?;
        sqlx::query("INSERT INTO accounts (id, name, canonical_id, created_ms) VALUES ($1, $2, $3, $4)")
            .bind(&account.id)
            .bind(&account.name)
            .bind(&account.canonical_id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(account)
    }

    pub async fn account_by_name(&self, name: &str) -> Result<Option<Account>> {
        let row = sqlx::query("SELECT id, name, canonical_id FROM accounts WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from).transpose()
    }

    pub async fn account(&self, id: &str) -> Result<Option<Account>> {
        let row = sqlx::query("SELECT id, name, canonical_id FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from).transpose()
    }

    pub async fn add_access_key(&self, account_id: &str, access_key: &str, secret: &str) -> Result<()> {
        let (_guard, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO access_keys (access_key, account_id, secret, active, created_ms) VALUES ($1, $2, $3, 1, $4)",
        )
        .bind(access_key)
        .bind(account_id)
        .bind(secret)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The secret of an active access key, for checking a signature.
    pub async fn secret_key(&self, access_key: &str) -> Result<Option<String>> {
        let secret = sqlx::query_scalar("SELECT secret FROM access_keys WHERE access_key = $1 AND active = 1")
            .bind(access_key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(secret)
    }

    /// Who signs with `access_key` (already authenticated by its signature).
    pub async fn caller(&self, access_key: &str) -> Result<Option<Caller>> {
        let row = sqlx::query(
            "SELECT a.id, a.name, a.canonical_id FROM access_keys k JOIN accounts a ON a.id = k.account_id
             WHERE k.access_key = $1 AND k.active = 1",
        )
        .bind(access_key)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Caller {
            access_key: access_key.to_owned(),
            account: account_from(&row)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::test_store;

    #[tokio::test]
    async fn system_account_is_created_once() {
        let (_dir, meta) = test_store().await;
        assert!(meta.ensure_system_account("AK1", "secret1").await.unwrap());
        assert!(!meta.ensure_system_account("AK2", "secret2").await.unwrap());
        assert_eq!(meta.secret_key("AK1").await.unwrap().as_deref(), Some("secret1"));
        assert_eq!(meta.secret_key("AK2").await.unwrap(), None);
        let caller = meta.caller("AK1").await.unwrap().unwrap();
        assert_eq!(caller.account.name, "system");
        assert_eq!(caller.account.id.len(), 12);
        assert_eq!(caller.account.canonical_id.len(), 64);
    }
}
