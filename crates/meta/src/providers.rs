//! Provider instances: where buckets' bytes can live (`osg_model::ProviderRecord`). Settings
//! are stored as their JSON; the secret (a service credential) is sealed like access-key
//! secrets.

use osg_model::ProviderRecord;
use osg_model::provider::Kind;
use secrecy::SecretString;
use sqlx::Row;

use crate::write::{Isolation, transaction};
use crate::{Error, Meta, Result, now_ms};

/// What a provider's sealed secret is bound to.
pub(crate) fn provider_row(name: &str) -> String {
    format!("provider:{name}")
}

impl Meta {
    /// Registers a provider instance: a name of the model's rules, not the embedded Walrus's.
    pub async fn add_provider(&self, record: &ProviderRecord, secret: &str) -> Result<()> {
        if !osg_model::names::is_resource_name(&record.name) {
            return Err(Error::Invalid(
                "provider names are 1 to 63 lowercase letters, digits and dashes".into(),
            ));
        }
        if record.name == osg_model::blob::EMBEDDED {
            return Err(Error::Invalid(format!("{} is the embedded Walrus", record.name)));
        }
        let settings = serde_json::to_string(&record.settings)?;
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            if Self::exists(&mut tx, "SELECT 1 FROM providers WHERE name = $1", &[&record.name]).await? {
                return Err(Error::EntityExists(format!("provider {}", record.name)));
            }
            sqlx::query("INSERT INTO providers (name, kind, config, secret, created_ms) VALUES ($1, $2, $3, $4, $5)")
                .bind(&record.name)
                .bind(record.kind.as_str())
                .bind(&settings)
                .bind(self.sealer.seal(&provider_row(&record.name), secret))
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }

    pub async fn providers(&self) -> Result<Vec<ProviderRecord>> {
        let rows = sqlx::query("SELECT name, kind, config FROM providers ORDER BY name")
            .fetch_all(&self.catalog.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                Ok(ProviderRecord {
                    name: r.try_get("name")?,
                    kind: Kind::parse(&kind).ok_or_else(|| Error::Corrupt(format!("provider kind {kind}")))?,
                    settings: serde_json::from_str(&r.try_get::<String, _>("config")?)?,
                })
            })
            .collect()
    }

    pub async fn provider_secret(&self, name: &str) -> Result<SecretString> {
        let sealed: Option<String> = sqlx::query_scalar("SELECT secret FROM providers WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.catalog.pool)
            .await?;
        let sealed = sealed.ok_or_else(|| Error::NoSuchEntity(format!("provider {name}")))?;
        self.sealer.open(&provider_row(name), &sealed)
    }

    /// Removes a provider that holds no bucket and no blob (the reaper may still have some to
    /// delete there).
    pub async fn remove_provider(&self, name: &str) -> Result<()> {
        no_buckets_on(&mut *self.catalog.pool.acquire().await?, name).await?;
        // The ledgers are on the shards; one that does not answer keeps the provider too.
        for shard in self.shard_names().await? {
            let shard = self.shard(&shard).await?;
            let mut conn = shard.pool.acquire().await?;
            if Self::exists(&mut conn, "SELECT 1 FROM blobs WHERE provider = $1 LIMIT 1", &[name]).await? {
                return Err(Error::DeleteConflict(format!(
                    "The reaper still has blobs to delete on provider {name}; try again later."
                )));
            }
        }
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            // Again: a bucket may have been created on it meanwhile.
            no_buckets_on(&mut tx, name).await?;
            let removed = sqlx::query("DELETE FROM providers WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            if removed.rows_affected() == 0 {
                return Err(Error::NoSuchEntity(format!("provider {name}")));
            }
            Ok(())
        })
    }
}

/// Fails if a bucket lives on provider `name`.
async fn no_buckets_on(conn: &mut sqlx::AnyConnection, name: &str) -> Result<()> {
    if Meta::exists(conn, "SELECT 1 FROM buckets WHERE provider = $1", &[name]).await? {
        return Err(Error::DeleteConflict(format!("Buckets live on provider {name}.")));
    }
    Ok(())
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
            kind: Kind::S3,
            settings: osg_model::provider::Settings::new("http://rgw", "AK", "blobs"),
        };
        for name in ["walrus", "Bad_Name", ""] {
            let bad = ProviderRecord {
                name: name.into(),
                ..record.clone()
            };
            assert!(
                matches!(meta.add_provider(&bad, "s").await, Err(Error::Invalid(_))),
                "{name}"
            );
        }
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
            .fetch_one(&meta.catalog.pool)
            .await
            .unwrap();
        assert!(!stored.contains("very-secret"));
        let a = meta.create_account("a").await.unwrap();
        let new = crate::NewBucket {
            name: "b",
            owner: &a.id,
            region: "us-east-1",
            provider: "rgw",
            object_lock: false,
        };
        meta.create_bucket(new, crate::BucketConfig::default(), 10)
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
