//! What buckets and accounts hold (every version but delete markers, and the parts of uploads
//! in progress), and their quotas. Triggers on `versions` keep each bucket's count
//! (`schema::USAGE_TRIGGERS_*`), so reading it costs one bucket's rows, never a scan of its
//! versions; on PostgreSQL they append deltas, which [`Meta::fold_usage`] adds into
//! `bucket_usage` now and then.

use std::collections::BTreeMap;

use osg_model::{Quota, Usage};
use sqlx::Row;

use crate::shard::Shard;
use crate::write::{Isolation, transaction};
use crate::{Account, Backend, Error, Meta, Result};

/// Usage of the buckets named, on one shard, by bucket.
async fn usage_on(shard: &Shard, buckets: &[&str]) -> Result<BTreeMap<String, Usage>> {
    let mut found = BTreeMap::new();
    // A bounded list of parameters per statement.
    for chunk in buckets.chunks(100) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let list = marks.join(", ");
        // Counted versions, deltas not folded yet, and the parts of uploads in progress (bytes
        // stored, no object yet; few, as quotas bound them).
        let sql = format!(
            "SELECT bucket, CAST(SUM(objects) AS BIGINT) AS objects, CAST(SUM(bytes) AS BIGINT) AS bytes FROM (
                 SELECT bucket, objects, bytes FROM bucket_usage WHERE bucket IN ({list})
                 UNION ALL SELECT bucket, objects, bytes FROM usage_deltas WHERE bucket IN ({list})
                 UNION ALL SELECT u.bucket, 0, p.size FROM uploads u JOIN parts p ON p.upload_id = u.upload_id
                     WHERE u.bucket IN ({list})
             ) u GROUP BY bucket"
        );
        let mut query = sqlx::query(&sql);
        for b in chunk {
            query = query.bind(*b);
        }
        for row in query.fetch_all(&shard.pool).await? {
            let count = |c: &str| -> Result<u64> { Ok(u64::try_from(row.try_get::<i64, _>(c)?).unwrap_or(0)) };
            let usage = Usage {
                objects: count("objects")?,
                bytes: count("bytes")?,
            };
            found.insert(row.try_get("bucket")?, usage);
        }
    }
    Ok(found)
}

impl Meta {
    /// What `bucket` holds: its versions other than delete markers and their bytes, and the
    /// bytes of its uploads' parts.
    pub async fn bucket_usage(&self, bucket: &str) -> Result<Usage> {
        self.on_shard(bucket, |shard, _route| async move {
            Ok(usage_on(&shard, &[bucket]).await?.remove(bucket).unwrap_or_default())
        })
        .await
    }

    /// What each of an account's buckets holds, by bucket name (every bucket, empty ones too).
    pub async fn usage_by_bucket(&self, account_id: &str) -> Result<BTreeMap<String, Usage>> {
        let mut by_shard: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for bucket in self.buckets_of(account_id).await? {
            by_shard.entry(bucket.shard).or_default().push(bucket.name);
        }
        let mut usage = BTreeMap::new();
        for (shard, buckets) in by_shard {
            let names: Vec<&str> = buckets.iter().map(String::as_str).collect();
            let found = usage_on(&*self.shard(&shard).await?, &names).await?;
            for name in buckets {
                let u = found.get(&name).copied().unwrap_or_default();
                usage.insert(name, u);
            }
        }
        Ok(usage)
    }

    /// What an account's buckets hold together.
    pub async fn account_usage(&self, account_id: &str) -> Result<Usage> {
        let mut total = Usage::default();
        for u in self.usage_by_bucket(account_id).await?.into_values() {
            total += u;
        }
        Ok(total)
    }

    /// An account's quota (unlimited when never set).
    pub async fn account_quota(&self, account_id: &str) -> Result<Quota> {
        let stored: Option<String> = sqlx::query_scalar("SELECT quota FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&self.catalog.pool)
            .await?;
        let stored = stored.ok_or_else(|| Error::NoSuchEntity(format!("account {account_id}")))?;
        Quota::decode(&stored).map_err(|e| Error::Corrupt(format!("account quota: {e}")))
    }

    pub async fn set_account_quota(&self, account: &Account, quota: Quota) -> Result<()> {
        transaction!(&self.catalog, Isolation::ReadCommitted, |tx| {
            let changed = sqlx::query("UPDATE accounts SET quota = $1 WHERE id = $2")
                .bind(quota.encode())
                .bind(&account.id)
                .execute(&mut *tx)
                .await?;
            if changed.rows_affected() == 0 {
                return Err(Error::NoSuchEntity(format!("account {}", account.name)));
            }
            Ok(())
        })
    }

    /// Adds the deltas the PostgreSQL triggers appended into their buckets' counts, on every
    /// shard; safe to run on every gateway at once (each delta is taken by one of them).
    pub async fn fold_usage(&self) -> Result<()> {
        let mut failed = None;
        for name in self.shard_names().await? {
            // A shard that does not answer waits for the next round; the others go on.
            let shard = match self.shard(&name).await {
                Ok(shard) => shard,
                Err(e) => {
                    failed = Some(e);
                    continue;
                }
            };
            if shard.backend != Backend::Postgres {
                continue;
            }
            // Buckets in one order, so folders running together never wait on each other
            // in a cycle.
            let folded = sqlx::query(
                "WITH gone AS (DELETE FROM usage_deltas RETURNING bucket, objects, bytes)
                 INSERT INTO bucket_usage (bucket, objects, bytes)
                 SELECT bucket, SUM(objects), SUM(bytes) FROM gone GROUP BY bucket ORDER BY bucket
                 ON CONFLICT (bucket) DO UPDATE
                     SET objects = bucket_usage.objects + excluded.objects, bytes = bucket_usage.bytes + excluded.bytes",
            )
            .execute(&shard.pool)
            .await;
            if let Err(e) = folded {
                failed = Some(e.into());
            }
        }
        failed.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::tests::new_version;
    use crate::{BY_O, Condition, Versioning, test_bucket, test_store};

    async fn put(meta: &Meta, key: &str, blob: &str, size: u64) {
        meta.begin_blob(blob, "b").await.unwrap();
        let mut new = new_version("b", key, blob);
        new.size = size;
        new.pieces[0].size = size;
        meta.commit_object(&new, &Condition::None).await.unwrap();
    }

    const fn usage(objects: u64, bytes: u64) -> Usage {
        Usage { objects, bytes }
    }

    /// What the triggers count matches what is stored, through overwrites, versions, delete
    /// markers and deletes, before and after PostgreSQL's deltas are folded.
    #[tokio::test]
    async fn counts_follow_every_write_and_delete() {
        let (_dir, meta) = test_store().await;
        let a = test_bucket(&meta).await;
        assert_eq!(meta.bucket_usage("b").await.unwrap(), usage(0, 0));
        put(&meta, "k1", "x1", 10).await;
        put(&meta, "k2", "x2", 20).await;
        // An overwrite in an unversioned bucket replaces.
        put(&meta, "k1", "x3", 15).await;
        assert_eq!(meta.bucket_usage("b").await.unwrap(), usage(2, 35));
        meta.fold_usage().await.unwrap();
        assert_eq!(meta.bucket_usage("b").await.unwrap(), usage(2, 35));
        // Versions are kept, and counted; delete markers hold nothing.
        meta.set_versioning("b", Versioning::Enabled).await.unwrap();
        put(&meta, "k1", "x4", 100).await;
        meta.delete_object("b", "k2", None, BY_O).await.unwrap();
        assert_eq!(meta.bucket_usage("b").await.unwrap(), usage(3, 135));
        meta.delete_object("b", "k2", Some("null"), BY_O).await.unwrap();
        meta.fold_usage().await.unwrap();
        assert_eq!(meta.bucket_usage("b").await.unwrap(), usage(2, 115));
        assert_eq!(meta.account_usage(&a.id).await.unwrap(), usage(2, 115));
        let stats = meta.bucket_stats("b").await.unwrap();
        assert_eq!((stats.versions - 1, stats.version_bytes), (2, 115), "one delete marker");
        assert!(matches!(meta.bucket_usage("nob").await, Err(Error::NoSuchBucket)));
    }

    #[tokio::test]
    async fn account_quotas_are_kept_with_the_account() {
        let (_dir, meta) = test_store().await;
        let a = test_bucket(&meta).await;
        assert!(meta.account_quota(&a.id).await.unwrap().is_unlimited());
        let q = Quota {
            max_bytes: Some(1 << 30),
            max_objects: None,
        };
        meta.set_account_quota(&a, q).await.unwrap();
        assert_eq!(meta.account_quota(&a.id).await.unwrap(), q);
        meta.set_account_quota(&a, Quota::default()).await.unwrap();
        assert!(meta.account_quota(&a.id).await.unwrap().is_unlimited());
        assert!(matches!(
            meta.account_quota("nobody").await,
            Err(Error::NoSuchEntity(_))
        ));
    }
}
