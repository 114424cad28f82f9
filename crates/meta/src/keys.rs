//! Access keys: a key id and a secret, sealed at rest, for an account's root or a user.

use secrecy::SecretString;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::identity::random_hex;

/// A fresh key pair in the one format every key made here has (IAM's CreateAccessKey, `osg
/// admin key create`, the system account's and a standalone Walrus's first key): an id of
/// `AKOS` and 16 uppercase hex digits (20 characters, as AWS's), a secret of 40 hex digits.
#[must_use]
pub fn new_key_pair() -> (String, String) {
    (format!("AKOS{}", random_hex(16)), random_hex(40))
}
use crate::write::{Isolation, transaction};
use crate::{Error, Meta, Result, now_ms};

/// Keys one user (or an account's root) may hold at once, as in IAM.
const MAX_KEYS: usize = 2;

/// An access key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub access_key: String,
    pub account_id: String,
    /// `None` for the account's root identity.
    pub user_name: Option<String>,
    pub active: bool,
    pub created_ms: i64,
}

fn key_from(row: &AnyRow) -> Result<AccessKey> {
    let user: String = row.try_get("user_name")?;
    let active: i64 = row.try_get("active")?;
    Ok(AccessKey {
        access_key: row.try_get("access_key")?,
        account_id: row.try_get("account_id")?,
        user_name: (!user.is_empty()).then_some(user),
        active: active != 0,
        created_ms: row.try_get("created_ms")?,
    })
}

const KEY_COLUMNS: &str = "access_key, account_id, user_name, active, created_ms";

/// What an access key's sealed secret is bound to.
pub(crate) fn key_row(access_key: &str) -> String {
    format!("access_key:{access_key}")
}

impl Meta {
    /// Adds a key pair for the account's root (`user` None) or one of its users; at most two
    /// per owner.
    pub async fn add_access_key(
        &self,
        account_id: &str,
        user: Option<&str>,
        access_key: &str,
        secret: &str,
    ) -> Result<()> {
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            self.insert_access_key(&mut tx, account_id, user, access_key, secret)
                .await?;
            Ok(())
        })
    }

    pub(crate) async fn insert_access_key(
        &self,
        conn: &mut sqlx::AnyConnection,
        account_id: &str,
        user: Option<&str>,
        access_key: &str,
        secret: &str,
    ) -> Result<()> {
        if !osg_model::names::is_access_key_id(access_key) {
            return Err(Error::Invalid(format!(
                "access key id {access_key:?}: use 16 to 128 letters, digits and underscores"
            )));
        }
        // Counted inside the transaction, so concurrent creations cannot pass the limit.
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_keys WHERE account_id = $1 AND user_name = $2")
            .bind(account_id)
            .bind(user.unwrap_or(""))
            .fetch_one(&mut *conn)
            .await?;
        if usize::try_from(held).unwrap_or(usize::MAX) >= MAX_KEYS {
            return Err(Error::LimitExceeded(format!(
                "Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS}"
            )));
        }
        sqlx::query(
            "INSERT INTO access_keys (access_key, account_id, user_name, secret, active, created_ms)
             VALUES ($1, $2, $3, $4, 1, $5)",
        )
        .bind(access_key)
        .bind(account_id)
        .bind(user.unwrap_or(""))
        .bind(self.sealer.seal(&key_row(access_key), secret))
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Generates and stores a key pair; returns `(access key, secret)`.
    pub async fn create_access_key(&self, account_id: &str, user: Option<&str>) -> Result<(String, String)> {
        let (access_key, secret) = new_key_pair();
        self.add_access_key(account_id, user, &access_key, &secret).await?;
        Ok((access_key, secret))
    }

    /// The secret of an active access key, for checking a signature.
    pub async fn secret_key(&self, access_key: &str) -> Result<Option<SecretString>> {
        let sealed: Option<String> =
            sqlx::query_scalar("SELECT secret FROM access_keys WHERE access_key = $1 AND active = 1")
                .bind(access_key)
                .fetch_optional(&self.catalog.pool)
                .await?;
        sealed.map(|s| self.sealer.open(&key_row(access_key), &s)).transpose()
    }

    /// The keys of an account's root (`user` None) or of one user.
    pub async fn access_keys_of(&self, account_id: &str, user: Option<&str>) -> Result<Vec<AccessKey>> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM access_keys WHERE account_id = $1 AND user_name = $2 ORDER BY created_ms"
        ))
        .bind(account_id)
        .bind(user.unwrap_or(""))
        .fetch_all(&self.catalog.pool)
        .await?;
        rows.iter().map(key_from).collect()
    }

    pub async fn access_key(&self, access_key: &str) -> Result<AccessKey> {
        let row = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM access_keys WHERE access_key = $1"))
            .bind(access_key)
            .fetch_optional(&self.catalog.pool)
            .await?;
        row.as_ref()
            .map(key_from)
            .transpose()?
            .ok_or_else(|| Error::NoSuchEntity(format!("access key {access_key}")))
    }

    /// Activates or deactivates a key; an inactive key signs nothing.
    pub async fn set_access_key_active(&self, access_key: &str, active: bool) -> Result<()> {
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            sqlx::query("UPDATE access_keys SET active = $1 WHERE access_key = $2")
                .bind(i64::from(active))
                .bind(access_key)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }

    pub async fn delete_access_key(&self, access_key: &str) -> Result<()> {
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            sqlx::query("DELETE FROM access_keys WHERE access_key = $1")
                .bind(access_key)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_have_one_format() {
        let (id, secret) = super::new_key_pair();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("AKOS"), "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()), "{id}");
        assert!(osg_model::names::is_access_key_id(&id), "{id}");
        assert_eq!(secret.len(), 40);
        assert_ne!(super::new_key_pair(), (id, secret));
    }
}
