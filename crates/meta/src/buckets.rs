//! Buckets: a name, an owner, the region it was created in, and its access settings.

use sqlx::Row;
use sqlx::any::AnyRow;

use osg_model::{BucketConfig, ConfigError, LockConfig, Versioning};

use crate::shard::{Route, Shard};
use crate::write::{Isolation, Lock, transaction};
use crate::{Error, Meta, Result, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    /// Owning account id.
    pub owner: String,
    pub region: String,
    pub created_ms: i64,
    /// The provider holding the bucket's bytes, chosen at creation.
    pub provider: String,
    /// The metadata shard holding its objects' metadata, chosen at creation.
    pub shard: String,
    /// Which creation of the name this is: a bucket deleted and made again is another one.
    pub incarnation: String,
    pub config: BucketConfig,
}

/// What a bucket holds (`Meta::bucket_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BucketStats {
    /// Current objects (not delete markers) and their bytes.
    pub objects: u64,
    pub bytes: u64,
    /// Every version, noncurrent ones and delete markers included, and their bytes.
    pub versions: u64,
    pub version_bytes: u64,
}

/// What a new bucket is: its name, owning account id, region and provider.
#[derive(Debug, Clone, Copy)]
pub struct NewBucket<'a> {
    pub name: &'a str,
    pub owner: &'a str,
    pub region: &'a str,
    pub provider: &'a str,
    /// Object Lock enabled at creation (and versioning with it).
    pub object_lock: bool,
}

const BUCKET_COLUMNS: &str = "name, account_id, region, created_ms, provider, config, shard, incarnation";

fn bucket_from(row: &AnyRow) -> Result<Bucket> {
    let config: String = row.try_get("config")?;
    Ok(Bucket {
        name: row.try_get("name")?,
        owner: row.try_get("account_id")?,
        region: row.try_get("region")?,
        created_ms: row.try_get("created_ms")?,
        provider: row.try_get("provider")?,
        shard: row.try_get("shard")?,
        incarnation: row.try_get("incarnation")?,
        config: BucketConfig::decode(&config)?,
    })
}

fn route_from(row: &AnyRow) -> Result<Route> {
    Ok(Route {
        shard: row.try_get("shard")?,
        incarnation: row.try_get("incarnation")?,
    })
}

impl Meta {
    /// Creates a bucket unless the name is taken or `owner` already has `max_buckets`, on the
    /// shard with the fewest objects.
    pub async fn create_bucket(&self, new: NewBucket<'_>, config: BucketConfig, max_buckets: i64) -> Result<Bucket> {
        let NewBucket {
            name,
            owner,
            region,
            provider,
            object_lock,
        } = new;
        // A name taken is refused before any shard is touched (the transaction below decides).
        if let Ok(existing) = self.bucket(name).await {
            return Err(Error::BucketExists {
                owned_by_caller: existing.owner == owner,
            });
        }
        // The shard's row first: once the catalog names the bucket, its writes can go. If the
        // catalog refuses, the row is taken away again; one left by a crash names an
        // incarnation the catalog never will, and no write can use it.
        let shard = self.place_bucket().await?;
        let route = Route {
            shard: shard.name.clone(),
            incarnation: uuid::Uuid::new_v4().simple().to_string(),
        };
        shard.hold_new_bucket(name, &route.incarnation, object_lock).await?;
        let created = transaction!(&self.catalog, Isolation::ReadCommitted, |tx| {
            // The owner's buckets are counted under a lock on the owner, so that creations by
            // one account take turns (two concurrent ones cannot both pass the limit); a name
            // taken by a concurrent creation fails the insert, and the retry finds it.
            let account = format!(
                "SELECT 1 FROM accounts WHERE id = $1{}",
                Lock::Update.sql(self.catalog.backend)
            );
            if !Self::exists(&mut tx, &account, &[owner]).await? {
                return Err(Error::NoSuchEntity(format!("account {owner}")));
            }
            let existing: Option<String> = sqlx::query_scalar("SELECT account_id FROM buckets WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(existing) = existing {
                return Err(Error::BucketExists {
                    owned_by_caller: existing == owner,
                });
            }
            let owned: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM buckets WHERE account_id = $1")
                .bind(owner)
                .fetch_one(&mut *tx)
                .await?;
            if owned >= max_buckets {
                return Err(Error::TooManyBuckets(max_buckets));
            }
            let bucket = Bucket {
                name: name.to_owned(),
                owner: owner.to_owned(),
                region: region.to_owned(),
                created_ms: now_ms(),
                provider: provider.to_owned(),
                shard: route.shard.clone(),
                incarnation: route.incarnation.clone(),
                config: config.clone(),
            };
            sqlx::query(&format!(
                "INSERT INTO buckets ({BUCKET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ))
            .bind(&bucket.name)
            .bind(&bucket.owner)
            .bind(&bucket.region)
            .bind(bucket.created_ms)
            .bind(&bucket.provider)
            .bind(bucket.config.encode())
            .bind(&route.shard)
            .bind(&route.incarnation)
            .execute(&mut *tx)
            .await?;
            Ok(bucket)
        });
        match &created {
            Ok(_) => self.shards.remember(name, route),
            Err(_) => {
                if let Err(e) = shard.drop_bucket(name, &route.incarnation).await {
                    tracing::warn!(bucket = name, error = %e, "could not take back a refused bucket's shard row");
                }
            }
        }
        created
    }

    pub async fn bucket(&self, name: &str) -> Result<Bucket> {
        let row = sqlx::query(&format!("SELECT {BUCKET_COLUMNS} FROM buckets WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.catalog.pool)
            .await?;
        let row = row.ok_or(Error::NoSuchBucket)?;
        self.shards.remember(name, route_from(&row)?);
        bucket_from(&row)
    }

    /// Every bucket, by name.
    pub async fn all_buckets(&self) -> Result<Vec<Bucket>> {
        let rows = sqlx::query(&format!("SELECT {BUCKET_COLUMNS} FROM buckets ORDER BY name"))
            .fetch_all(&self.catalog.pool)
            .await?;
        rows.iter().map(bucket_from).collect()
    }

    /// What a bucket holds: its current objects and their bytes, and every version (noncurrent
    /// ones and delete markers included) and their bytes.
    pub async fn bucket_stats(&self, bucket: &str) -> Result<BucketStats> {
        self.on_shard(bucket, |shard, _route| async move {
                let row = sqlx::query(
                    "SELECT
                       CAST(COALESCE(SUM(CASE WHEN is_latest = 1 AND delete_marker = 0 THEN 1 ELSE 0 END), 0) AS BIGINT),
                       CAST(COALESCE(SUM(CASE WHEN is_latest = 1 AND delete_marker = 0 THEN size ELSE 0 END), 0) AS BIGINT),
                       CAST(COUNT(*) AS BIGINT),
                       CAST(COALESCE(SUM(size), 0) AS BIGINT)
                     FROM versions WHERE bucket = $1",
                )
                .bind(bucket)
                .fetch_one(&shard.pool)
                .await?;
                let n = |i: usize| -> Result<u64> { Ok(u64::try_from(row.try_get::<i64, _>(i)?).unwrap_or(0)) };
                Ok(BucketStats {
                    objects: n(0)?,
                    bytes: n(1)?,
                    versions: n(2)?,
                    version_bytes: n(3)?,
                })
        })
        .await
    }

    pub async fn buckets_of(&self, owner: &str) -> Result<Vec<Bucket>> {
        let rows = sqlx::query(&format!(
            "SELECT {BUCKET_COLUMNS} FROM buckets WHERE account_id = $1 ORDER BY name"
        ))
        .bind(owner)
        .fetch_all(&self.catalog.pool)
        .await?;
        rows.iter().map(bucket_from).collect()
    }

    /// Deletes an empty bucket. Multipart uploads still in progress are aborted with it. The
    /// bucket goes from its shard first (where its emptiness is decided), then from the
    /// catalog; a crash between the two leaves a bucket that holds nothing and takes no
    /// writes until deleted again.
    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        let route = self.route(name, true).await?;
        self.shard(&route.shard)
            .await?
            .drop_bucket_if_empty(name, &route.incarnation)
            .await?;
        self.shards.forget(name);
        transaction!(&self.catalog, Isolation::ReadCommitted, |tx| {
            let deleted = sqlx::query("DELETE FROM buckets WHERE name = $1 AND incarnation = $2")
                .bind(name)
                .bind(&route.incarnation)
                .execute(&mut *tx)
                .await?;
            if deleted.rows_affected() == 0 {
                return Err(Error::NoSuchBucket);
            }
            // A lifecycle run of the bucket stops at its next page (its lease is gone).
            sqlx::query("DELETE FROM lifecycle_runs WHERE bucket = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }
}

impl Shard {
    /// Records that this shard holds `bucket` (this incarnation of it); with Object Lock, its
    /// versioning enabled.
    pub(crate) async fn hold_new_bucket(&self, bucket: &str, incarnation: &str, object_lock: bool) -> Result<()> {
        let (versioning, lock) = if object_lock {
            (Versioning::Enabled, LockConfig::encode(Some(&LockConfig::default())))
        } else {
            (Versioning::Unversioned, String::new())
        };
        transaction!(self, Isolation::ReadCommitted, |tx| {
            sqlx::query(
                "INSERT INTO shard_buckets (name, incarnation, versioning, object_lock) VALUES ($1, $2, $3, $4)",
            )
            .bind(bucket)
            .bind(incarnation)
            .bind(versioning.as_str())
            .bind(&lock)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    /// Forgets `bucket` (this incarnation), whatever it holds: a creation the catalog refused.
    async fn drop_bucket(&self, bucket: &str, incarnation: &str) -> Result<()> {
        transaction!(self, Isolation::ReadCommitted, |tx| {
            sqlx::query("DELETE FROM shard_buckets WHERE name = $1 AND incarnation = $2")
                .bind(bucket)
                .bind(incarnation)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }

    /// Forgets `bucket` unless it holds objects, aborting its uploads. A bucket this shard no
    /// longer holds is taken as dropped already.
    async fn drop_bucket_if_empty(&self, bucket: &str, incarnation: &str) -> Result<()> {
        transaction!(self, Isolation::ReadCommitted, |tx| {
            // Locked first: the writes of its objects hold it `FOR SHARE`, so once the lock is
            // held none is under way, and the checks below see every one that committed.
            let locked = format!(
                "SELECT 1 FROM shard_buckets WHERE name = $1 AND incarnation = $2{}",
                Lock::Update.sql(self.backend)
            );
            if !Meta::exists(&mut tx, &locked, &[bucket, incarnation]).await? {
                return Ok(());
            }
            if Meta::exists(&mut tx, "SELECT 1 FROM versions WHERE bucket = $1 LIMIT 1", &[bucket]).await? {
                return Err(Error::BucketNotEmpty);
            }
            let upload_ids: Vec<String> = sqlx::query_scalar("SELECT upload_id FROM uploads WHERE bucket = $1")
                .bind(bucket)
                .fetch_all(&mut *tx)
                .await?;
            for upload_id in &upload_ids {
                crate::multipart::drop_upload(&mut tx, upload_id, None).await?;
            }
            sqlx::query("DELETE FROM shard_buckets WHERE name = $1 AND incarnation = $2")
                .bind(bucket)
                .bind(incarnation)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }
}

impl Meta {
    /// Changes a bucket's configuration with `change`, which refuses what the model forbids;
    /// concurrent changes of one bucket take turns (each sees the one before). Returns the
    /// configuration stored.
    pub async fn update_bucket_config(
        &self,
        bucket: &str,
        change: impl Fn(&mut BucketConfig) -> std::result::Result<(), ConfigError> + Send + Sync,
    ) -> Result<BucketConfig> {
        transaction!(&self.catalog, Isolation::ReadCommitted, |tx| {
            change_config(&mut tx, self.catalog.backend, bucket, &change).await
        })
    }
}

/// Changes `bucket`'s configuration with `change` in the catalog transaction `conn`, the
/// bucket's row locked until it ends.
pub(crate) async fn change_config(
    conn: &mut sqlx::AnyConnection,
    backend: crate::Backend,
    bucket: &str,
    change: &(impl Fn(&mut BucketConfig) -> std::result::Result<(), ConfigError> + Send + Sync),
) -> Result<BucketConfig> {
    let stored: Option<String> = sqlx::query_scalar(&format!(
        "SELECT config FROM buckets WHERE name = $1{}",
        Lock::Update.sql(backend)
    ))
    .bind(bucket)
    .fetch_optional(&mut *conn)
    .await?;
    let mut config = BucketConfig::decode(&stored.ok_or(Error::NoSuchBucket)?)?;
    change(&mut config)?;
    sqlx::query("UPDATE buckets SET config = $1 WHERE name = $2")
        .bind(config.encode())
        .bind(bucket)
        .execute(&mut *conn)
        .await?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use crate::{Error, test_store};

    #[tokio::test]
    async fn create_get_list_delete() {
        let (_dir, meta) = test_store().await;
        let a = meta.create_account("a").await.unwrap();
        let b = meta.create_account("b").await.unwrap();
        meta.create_bucket(
            crate::NewBucket {
                name: "one",
                owner: &a.id,
                region: "us-east-1",
                provider: "walrus",
                object_lock: false,
            },
            crate::BucketConfig::default(),
            100,
        )
        .await
        .unwrap();
        assert!(matches!(
            meta.create_bucket(
                crate::NewBucket {
                    name: "one",
                    owner: &a.id,
                    region: "us-east-1",
                    provider: "walrus",
                    object_lock: false,
                },
                crate::BucketConfig::default(),
                100
            )
            .await,
            Err(Error::BucketExists { owned_by_caller: true })
        ));
        assert!(matches!(
            meta.create_bucket(
                crate::NewBucket {
                    name: "one",
                    owner: &b.id,
                    region: "us-east-1",
                    provider: "walrus",
                    object_lock: false,
                },
                crate::BucketConfig::default(),
                100
            )
            .await,
            Err(Error::BucketExists { owned_by_caller: false })
        ));
        assert_eq!(meta.bucket("one").await.unwrap().owner, a.id);
        assert_eq!(meta.buckets_of(&a.id).await.unwrap().len(), 1);
        assert!(meta.buckets_of(&b.id).await.unwrap().is_empty());
        assert!(matches!(
            meta.create_bucket(
                crate::NewBucket {
                    name: "two",
                    owner: &a.id,
                    region: "us-east-1",
                    provider: "walrus",
                    object_lock: false,
                },
                crate::BucketConfig::default(),
                1
            )
            .await,
            Err(Error::TooManyBuckets(1))
        ));
        let policy = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
            "Resource":"arn:aws:s3:::one/*"}]}"#;
        meta.update_bucket_config("one", |c| c.set_policy(policy, "one"))
            .await
            .unwrap();
        assert_eq!(meta.bucket("one").await.unwrap().config.policy(), Some(policy));
        meta.delete_bucket("one").await.unwrap();
        assert!(matches!(meta.bucket("one").await, Err(Error::NoSuchBucket)));
        assert!(matches!(meta.delete_bucket("one").await, Err(Error::NoSuchBucket)));
        let again = crate::NewBucket {
            name: "one",
            owner: &a.id,
            region: "us-east-1",
            provider: "walrus",
            object_lock: false,
        };
        let again = meta
            .create_bucket(again, crate::BucketConfig::default(), 100)
            .await
            .unwrap();
        assert_eq!(again.config.policy(), None, "the policy went with the bucket");
    }
}
