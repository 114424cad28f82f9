//! Accounts and their access keys: who may sign requests.

use secrecy::SecretString;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Error, Meta, Result, now_ms};

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

/// An IAM user of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub account_id: String,
    pub name: String,
    /// `/` or `/division/team/`.
    pub path: String,
    /// Stable unique id (`AIDA...`), what `aws:userid` holds.
    pub user_id: String,
}

impl User {
    #[must_use]
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:user{}{}", self.account_id, self.path, self.name)
    }
}

/// The authenticated principal behind a request: an account's root, or one of its users.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access_key: String,
    pub account: Account,
    pub user: Option<User>,
}

fn account_from(row: &AnyRow) -> Result<Account> {
    Ok(Account {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        canonical_id: row.try_get("canonical_id")?,
    })
}

fn user_from(row: &AnyRow) -> Result<User> {
    Ok(User {
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        path: row.try_get("path")?,
        user_id: row.try_get("user_id")?,
    })
}

/// What an access key's sealed secret is bound to.
fn key_row(access_key: &str) -> String {
    format!("access_key:{access_key}")
}

/// Random upper-case hex, for generated ids and keys.
fn random_hex(len: usize) -> String {
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
    pub async fn ensure_system_account(&self, access_key: &str, secret: &str) -> Result<bool> {
        if self.account_by_name(SYSTEM_ACCOUNT).await?.is_some() {
            return Ok(false);
        }
        let account = self.create_account(SYSTEM_ACCOUNT).await?;
        self.add_access_key(&account.id, None, access_key, secret).await?;
        Ok(true)
    }

    pub async fn create_account(&self, name: &str) -> Result<Account> {
        let random = uuid::Uuid::new_v4().as_u128();
        let account = Account {
            id: format!("{:012}", random % 1_000_000_000_000),
            name: name.to_owned(),
            canonical_id: random_hex(64).to_ascii_lowercase(),
        };
        let (_guard, mut tx) = self.begin_write().await?;
        if Self::exists(&mut tx, "SELECT 1 FROM accounts WHERE name = $1", &[name]).await? {
            return Err(Error::EntityExists(format!("account {name}")));
        }
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

    async fn exists(conn: &mut sqlx::AnyConnection, sql: &str, args: &[&str]) -> Result<bool> {
        let mut q = sqlx::query_scalar::<_, i64>(sql);
        for a in args {
            q = q.bind(*a);
        }
        Ok(q.fetch_optional(&mut *conn).await?.is_some())
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

    pub async fn create_user(&self, account_id: &str, name: &str, path: &str) -> Result<User> {
        let user = User {
            account_id: account_id.to_owned(),
            name: name.to_owned(),
            path: path.to_owned(),
            user_id: format!("AIDA{}", random_hex(17)),
        };
        let (_guard, mut tx) = self.begin_write().await?;
        let taken = "SELECT 1 FROM users WHERE account_id = $1 AND name = $2";
        if Self::exists(&mut tx, taken, &[account_id, name]).await? {
            return Err(Error::EntityExists(format!("user {name}")));
        }
        sqlx::query("INSERT INTO users (account_id, name, path, user_id, created_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(&user.account_id)
            .bind(&user.name)
            .bind(&user.path)
            .bind(&user.user_id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn user(&self, account_id: &str, name: &str) -> Result<User> {
        let row = sqlx::query("SELECT account_id, name, path, user_id FROM users WHERE account_id = $1 AND name = $2")
            .bind(account_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(user_from)
            .transpose()?
            .ok_or_else(|| Error::NoSuchEntity(format!("user {name}")))
    }

    /// Adds a key pair for the account's root (`user` None) or one of its users.
    pub async fn add_access_key(
        &self,
        account_id: &str,
        user: Option<&str>,
        access_key: &str,
        secret: &str,
    ) -> Result<()> {
        let (_guard, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO access_keys (access_key, account_id, user_name, secret, active, created_ms)
             VALUES ($1, $2, $3, $4, 1, $5)",
        )
        .bind(access_key)
        .bind(account_id)
        .bind(user.unwrap_or(""))
        .bind(self.sealer.seal(&key_row(access_key), secret))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Generates and stores a key pair; returns `(access key, secret)`.
    pub async fn create_access_key(&self, account_id: &str, user: Option<&str>) -> Result<(String, String)> {
        let access_key = format!("AKOS{}", random_hex(16));
        let secret = random_hex(40);
        self.add_access_key(account_id, user, &access_key, &secret).await?;
        Ok((access_key, secret))
    }

    /// The secret of an active access key, for checking a signature.
    pub async fn secret_key(&self, access_key: &str) -> Result<Option<SecretString>> {
        let sealed: Option<String> =
            sqlx::query_scalar("SELECT secret FROM access_keys WHERE access_key = $1 AND active = 1")
                .bind(access_key)
                .fetch_optional(&self.pool)
                .await?;
        sealed.map(|s| self.sealer.open(&key_row(access_key), &s)).transpose()
    }

    /// Who signs with `access_key` (already authenticated by its signature).
    pub async fn caller(&self, access_key: &str) -> Result<Option<Caller>> {
        let row = sqlx::query(
            "SELECT a.id, a.name, a.canonical_id, k.user_name FROM access_keys k JOIN accounts a ON a.id = k.account_id
             WHERE k.access_key = $1 AND k.active = 1",
        )
        .bind(access_key)
        .fetch_optional(&self.pool)
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

    /// Sets (or replaces) a user's inline policy; the document is validated by the caller.
    pub async fn put_user_policy(&self, user: &User, name: &str, document: &str) -> Result<()> {
        let (_guard, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO user_policies (account_id, user_name, policy_name, document) VALUES ($1, $2, $3, $4)
             ON CONFLICT (account_id, user_name, policy_name) DO UPDATE SET document = excluded.document",
        )
        .bind(&user.account_id)
        .bind(&user.name)
        .bind(name)
        .bind(document)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every identity policy document that applies to `user`.
    pub async fn user_policies(&self, user: &User) -> Result<Vec<String>> {
        let docs = sqlx::query_scalar("SELECT document FROM user_policies WHERE account_id = $1 AND user_name = $2")
            .bind(&user.account_id)
            .bind(&user.name)
            .fetch_all(&self.pool)
            .await?;
        Ok(docs)
    }
}

#[cfg(test)]
mod tests {
    use crate::test_store;
    use secrecy::ExposeSecret;

    #[tokio::test]
    async fn system_account_is_created_once() {
        let (_dir, meta) = test_store().await;
        assert!(meta.ensure_system_account("AK1", "secret1").await.unwrap());
        assert!(!meta.ensure_system_account("AK2", "secret2").await.unwrap());
        let secret = meta.secret_key("AK1").await.unwrap().unwrap();
        assert_eq!(secret.expose_secret(), "secret1");
        let stored: String = sqlx::query_scalar("SELECT secret FROM access_keys")
            .fetch_one(&meta.pool)
            .await
            .unwrap();
        assert!(!stored.contains("secret1"), "sealed at rest");
        assert!(meta.secret_key("AK2").await.unwrap().is_none());
        let caller = meta.caller("AK1").await.unwrap().unwrap();
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
        meta.put_user_policy(&alice, "p", "{}").await.unwrap();
        meta.put_user_policy(&alice, "p", "{\"v\":2}").await.unwrap();
        assert_eq!(meta.user_policies(&alice).await.unwrap(), vec!["{\"v\":2}".to_owned()]);
        assert!(matches!(
            meta.user(&a.id, "bob").await,
            Err(crate::Error::NoSuchEntity(_))
        ));
    }
}
