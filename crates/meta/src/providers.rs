//! Provider instances: where buckets' bytes can live. Settings are kept as JSON the gateway
//! understands; the secret (a service credential) is sealed like access-key secrets.

use secrecy::SecretString;
use sqlx::Row;

use crate::{Error, Meta, Result, now_ms};

/// A provider instance as stored, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRecord {
    pub name: String,
    /// `s3`, `swift`, ...
    pub kind: String,
    /// Non-secret settings as JSON.
    pub config: String,
}

/// What a provider's sealed secret is bound to.
fn provider_row(name: &str) -> String {
    format!("provider:{name}")
}

impl Meta {
    pub async fn add_provider(&self, record: &ProviderRecord, secret: &str) -> Result<()> {
        let (_guard, mut tx) = self.begin_write().await?;
        if Self::exists(&mut tx, "SELECT 1 FROM providers WHERE name = $1", &[&record.name]).await? {
            return Err(Error::EntityExists(format!("provider {}", record.name)));
        }
        sqlx::query("INSERT INTO providers (name, kind, config, secret, created_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(&record.name)
            .bind(&record.kind)
            .bind(&record.config)
            .bind(self.sealer.seal(&provider_row(&record.name), secret))
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn providers(&self) -> Result<Vec<ProviderRecord>> {
        let rows = sqlx::query("SELECT name, kind, config FROM providers ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ProviderRecord {
                    name: r.try_get("name")?,
                    kind: r.try_get("kind")?,
                    config: r.try_get("config")?,
                })
            })
            .collect()
    }

    pub async fn provider_secret(&self, name: &str) -> Result<SecretString> {
        let sealed: Option<String> = sqlx::query_scalar("SELECT secret FROM providers WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        let sealed = sealed.ok_or_else(|| Error::NoSuchEntity(format!("provider {name}")))?;
        self.sealer.open(&provider_row(name), &sealed)
    }

    /// Removes a provider no bucket lives on.
    pub async fn remove_provider(&self, name: &str) -> Result<()> {
        let (_guard, mut tx) = self.begin_write().await?;
        if Self::exists(&mut tx, "SELECT 1 FROM buckets WHERE provider = $1", &[name]).await? {
            return Err(Error::DeleteConflict(format!("Buckets live on provider {name}.")));
        }
        // Blob ids end in `@PROVIDER`: the reaper still has blobs to delete there.
        let queued =
            "SELECT 1 FROM pending_blobs WHERE blob LIKE $1 UNION ALL SELECT 1 FROM dead_blobs WHERE blob LIKE $1";
        if Self::exists(&mut tx, queued, &[&format!("%@{name}")]).await? {
            return Err(Error::DeleteConflict(format!(
                "The reaper still has blobs to delete on provider {name}; try again later."
            )));
        }
        let removed = sqlx::query("DELETE FROM providers WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if removed.rows_affected() == 0 {
            return Err(Error::NoSuchEntity(format!("provider {name}")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_store;
    use secrecy::ExposeSecret;

    #[tokio::test]
    async fn secrets_are_sealed_and_buckets_pin_providers() {
        let (_dir, meta) = test_store().await;
        let record = ProviderRecord {
            name: "rgw".into(),
            kind: "s3".into(),
            config: "{}".into(),
        };
        meta.add_provider(&record, "very-secret").await.unwrap();
        assert!(matches!(
            meta.add_provider(&record, "x").await,
            Err(Error::EntityExists(_))
        ));
        assert_eq!(meta.providers().await.unwrap(), vec![record]);
        assert_eq!(
            meta.provider_secret("rgw").await.unwrap().expose_secret(),
            "very-secret"
        );
        let stored: String = sqlx::query_scalar("SELECT secret FROM providers")
            .fetch_one(&meta.pool)
            .await
            .unwrap();
        assert!(!stored.contains("very-secret"));
        let a = meta.create_account("a").await.unwrap();
        let new = crate::NewBucket {
            name: "b",
            owner: &a.id,
            region: "us-east-1",
            provider: "rgw",
        };
        meta.create_bucket(new, crate::BucketAccess::default(), 10)
            .await
            .unwrap();
        assert!(matches!(
            meta.remove_provider("rgw").await,
            Err(Error::DeleteConflict(_))
        ));
        meta.delete_bucket("b").await.unwrap();
        meta.remove_provider("rgw").await.unwrap();
        assert!(matches!(meta.remove_provider("rgw").await, Err(Error::NoSuchEntity(_))));
    }
}
