//! The blob ledger: every blob the gateways have written or are writing, with its provider,
//! its bucket and its state. A blob is leased while it is written (`Pending`, until its lease
//! runs out), `Live` once a version's pieces or an upload's parts name it, and `Dead` when
//! nothing does any more: the reaper on every gateway deletes dead blobs from their providers
//! (deleting one twice is harmless) and then forgets them.
//!
//! Indexed: every blob of a bucket on a provider, every blob due for the reaper, and (in
//! `pieces`) every version a blob holds bytes of; a piece's blob is replaced by compare and
//! swap ([`Meta::replace_piece`]), which is what moving a bucket's bytes between providers
//! needs.

use sqlx::{AnyConnection, Row};

use crate::shard::{Route, Shard};
use crate::write::{Isolation, WriteFn, transaction};
use crate::{Backend, Error, Meta, Result, now_ms};

/// How long a write may take before its blob counts as abandoned.
const PENDING_LEASE_MS: i64 = 6 * 3600 * 1000;
/// How long a dead blob is kept, so that reads that started before it died can finish.
pub(crate) const DEAD_GRACE_MS: i64 = 10 * 60 * 1000;
/// How long a reaper's claim on a blob lasts before another reaper may take it.
const CLAIM_MS: i64 = 5 * 60 * 1000;

/// Where a blob is in its life, as the ledger stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobState {
    /// Being written, under a lease.
    Pending = 0,
    /// Named by a version's pieces or an upload's parts.
    Live = 1,
    /// Named by nothing: the reaper's.
    Dead = 2,
}

impl BlobState {
    fn from_db(n: i64) -> Result<Self> {
        match n {
            0 => Ok(Self::Pending),
            1 => Ok(Self::Live),
            2 => Ok(Self::Dead),
            other => Err(Error::Corrupt(format!("blob state {other}"))),
        }
    }
}

/// A blob as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRecord {
    /// `KEY@PROVIDER` (`osg_model::BlobId`).
    pub id: String,
    pub provider: String,
    pub bucket: String,
    pub state: BlobState,
    pub size: u64,
}

impl Meta {
    /// Records that `blob` of `bucket` is about to be written; call before the first byte goes
    /// out.
    pub async fn begin_blob(&self, blob: &str, bucket: &str) -> Result<()> {
        // Where the commit will go: a stale route is found out here, not at the commit.
        self.on_shard(bucket, |shard, route| async move {
            shard.begin_blob(&route, blob, bucket).await
        })
        .await
    }

    /// Gives up a blob that will never be committed (failed upload, bad digest): reap it now.
    /// Only a blob still under its lease is given up: if a commit that reported an error did
    /// happen after all, the blob is live, a version's.
    pub async fn abandon_blob(&self, bucket: &str, blob: &str) -> Result<()> {
        let shard = self.shard_of(bucket).await?;
        let blob = blob.to_owned();
        shard
            .write_single(Box::new(move |conn| {
                let blob = blob.clone();
                Box::pin(async move {
                    sqlx::query("UPDATE blobs SET state = 2, due_ms = $2 WHERE id = $1 AND state = 0")
                        .bind(&blob)
                        .bind(now_ms())
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            }))
            .await
    }

    /// Claims up to `limit` blobs to delete from their providers at `now`: blobs whose write
    /// lease has expired (a late commit of one now fails with `LeaseLost`) and dead blobs past
    /// their grace period. A claimed blob is not offered again for [`CLAIM_MS`], so reapers on
    /// many gateways share the work; one that dies mid-way leaves its claims to expire.
    pub async fn claim_blobs(&self, shard: &str, now: i64, limit: i64) -> Result<Vec<String>> {
        let shard = self.shard(shard).await?;
        let skip_locked = match shard.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        transaction!(&shard, Isolation::ReadCommitted, |tx| {
            sqlx::query("UPDATE blobs SET state = 2 WHERE state = 0 AND due_ms <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let claimed = sqlx::query_scalar(&format!(
                "UPDATE blobs SET due_ms = $3 WHERE id IN
                    (SELECT id FROM blobs WHERE state = 2 AND due_ms <= $1 ORDER BY due_ms LIMIT $2{skip_locked})
                 RETURNING id"
            ))
            .bind(now)
            .bind(limit)
            .bind(now + CLAIM_MS)
            .fetch_all(&mut *tx)
            .await?;
            Ok(claimed)
        })
    }

    /// How many blobs wait for the reaper: `(being written, no longer needed)`.
    pub async fn blob_backlog(&self, shard: &str) -> Result<(i64, i64)> {
        let shard = self.shard(shard).await?;
        let count = |state: i64| {
            sqlx::query_scalar("SELECT COUNT(*) FROM blobs WHERE state = $1")
                .bind(state)
                .fetch_one(&shard.pool)
        };
        Ok((count(0).await?, count(2).await?))
    }

    /// Forgets a dead blob after the provider has deleted it.
    pub async fn forget_blob(&self, shard: &str, blob: &str) -> Result<()> {
        let shard = self.shard(shard).await?;
        let blob = blob.to_owned();
        shard
            .write_single(Box::new(move |conn| {
                let blob = blob.clone();
                Box::pin(async move {
                    sqlx::query("DELETE FROM blobs WHERE id = $1 AND state = 2")
                        .bind(&blob)
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            }))
            .await
    }

    /// The blobs of `bucket` on `provider`, by id after `after`, at most `limit`.
    pub async fn blobs_in(&self, bucket: &str, provider: &str, after: &str, limit: i64) -> Result<Vec<BlobRecord>> {
        let shard = self.shard_of(bucket).await?;
        let rows = sqlx::query(
            "SELECT id, provider, bucket, state, size FROM blobs
             WHERE provider = $1 AND bucket = $2 AND id > $3 ORDER BY id LIMIT $4",
        )
        .bind(provider)
        .bind(bucket)
        .bind(after)
        .bind(limit)
        .fetch_all(&shard.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let size: i64 = r.try_get("size")?;
                Ok(BlobRecord {
                    id: r.try_get("id")?,
                    provider: r.try_get("provider")?,
                    bucket: r.try_get("bucket")?,
                    state: BlobState::from_db(r.try_get("state")?)?,
                    size: u64::try_from(size).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// The versions whose pieces name `blob`: `(bucket, key, version id, piece number)`.
    pub async fn pieces_of_blob(&self, bucket: &str, blob: &str) -> Result<Vec<(String, String, String, i64)>> {
        let shard = self.shard_of(bucket).await?;
        let rows = sqlx::query("SELECT bucket, key, version_id, seq FROM pieces WHERE blob = $1")
            .bind(blob)
            .fetch_all(&shard.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("bucket")?,
                    r.try_get("key")?,
                    r.try_get("version_id")?,
                    r.try_get("seq")?,
                ))
            })
            .collect()
    }

    /// Makes piece `seq` of a version hold `new` instead of `old`, if it still holds `old`
    /// (compare and swap): `new`, written under a lease with the same bytes, becomes live and
    /// `old` dead. Returns whether the swap happened; when it did not (the version changed
    /// meanwhile), `new` stays leased for its writer to give up.
    pub async fn replace_piece(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        seq: i64,
        old: &str,
        new: &str,
    ) -> Result<bool> {
        let shard = self.shard_of(bucket).await?;
        transaction!(&shard, Isolation::ReadCommitted, |tx| {
            let swapped: Option<i64> = sqlx::query_scalar(
                "UPDATE pieces SET blob = $5 WHERE bucket = $1 AND key = $2 AND version_id = $3 AND seq = $4 AND blob = $6
                 RETURNING size",
            )
            .bind(bucket)
            .bind(key)
            .bind(version_id)
            .bind(seq)
            .bind(new)
            .bind(old)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(size) = swapped else { return Ok(false) };
            make_live(&mut tx, &[(new.to_owned(), u64::try_from(size).unwrap_or_default())]).await?;
            mark_dead(&mut tx, &[old.to_owned()], now_ms()).await?;
            Ok(true)
        })
    }
}

impl Shard {
    async fn begin_blob(&self, route: &Route, blob: &str, bucket: &str) -> Result<()> {
        let lease = crate::batch::Lease {
            id: blob.to_owned(),
            provider: osg_model::BlobId::parse(blob).provider.to_owned(),
            bucket: bucket.to_owned(),
            incarnation: route.incarnation.clone(),
            due: now_ms() + PENDING_LEASE_MS,
        };
        if self.backend == Backend::Postgres {
            return self.leases.submit(&self.pool, lease).await;
        }
        let write: WriteFn<()> = Box::new(move |conn| {
            let lease = lease.clone();
            Box::pin(async move {
                let held = "SELECT 1 FROM shard_buckets WHERE name = $1 AND incarnation = $2";
                if !Meta::exists(&mut *conn, held, &[&lease.bucket, &lease.incarnation]).await? {
                    return Err(Error::NoSuchBucket);
                }
                sqlx::query(
                    "INSERT INTO blobs (id, provider, bucket, state, size, due_ms) VALUES ($1, $2, $3, 0, 0, $4)
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(&lease.id)
                .bind(&lease.provider)
                .bind(&lease.bucket)
                .bind(lease.due)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        });
        self.write(write).await
    }
}

/// Makes leased blobs live as a version or a part takes them, with their sizes. Fails if a
/// lease is gone (the write took longer than the lease and the reaper may already have
/// deleted the blob).
pub(crate) async fn make_live(conn: &mut AnyConnection, blobs: &[(String, u64)]) -> Result<()> {
    for (blob, size) in blobs {
        let made = sqlx::query("UPDATE blobs SET state = 1, size = $2 WHERE id = $1 AND state = 0")
            .bind(blob)
            .bind(crate::objects::db_size(*size))
            .execute(&mut *conn)
            .await?;
        if made.rows_affected() == 0 {
            return Err(Error::LeaseLost(blob.clone()));
        }
    }
    Ok(())
}

/// Hands blobs that nothing names any more to the reaper, after the grace period.
pub(crate) async fn mark_dead(conn: &mut AnyConnection, blobs: &[String], now: i64) -> Result<()> {
    for blob in blobs {
        sqlx::query("UPDATE blobs SET state = 2, due_ms = $2 WHERE id = $1")
            .bind(blob)
            .bind(now + DEAD_GRACE_MS)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::tests::new_version;
    use crate::{Condition, MAIN, test_bucket, test_store};

    /// Many writers at once: every lease is recorded, most of them in shared transactions.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_leases_are_all_recorded() {
        let (_dir, meta) = test_store().await;
        test_bucket(&meta).await;
        let meta = std::sync::Arc::new(meta);
        let writers: Vec<_> = (0..64)
            .map(|i| {
                let meta = std::sync::Arc::clone(&meta);
                tokio::spawn(async move { meta.begin_blob(&format!("lease{i}@walrus"), "b").await })
            })
            .collect();
        for w in writers {
            w.await.unwrap().unwrap();
        }
        assert_eq!(meta.blob_backlog(MAIN).await.unwrap(), (64, 0));
        let later = now_ms() + 7 * 3600 * 1000;
        assert_eq!(meta.claim_blobs(MAIN, later, 100).await.unwrap().len(), 64);
    }

    #[tokio::test]
    async fn reapers_claim_expired_and_dead_blobs_once() {
        let (_dir, meta) = test_store().await;
        test_bucket(&meta).await;
        meta.begin_blob("p1@walrus", "b").await.unwrap();
        meta.begin_blob("p2@walrus", "b").await.unwrap();
        meta.abandon_blob("b", "p2@walrus").await.unwrap();
        assert_eq!(meta.blob_backlog(MAIN).await.unwrap(), (1, 1));
        assert_eq!(
            meta.claim_blobs(MAIN, now_ms(), 10).await.unwrap(),
            vec!["p2@walrus".to_owned()]
        );
        // Claimed: another reaper does not get it, unless the claim runs out.
        assert!(meta.claim_blobs(MAIN, now_ms(), 10).await.unwrap().is_empty());
        let reclaimed = meta.claim_blobs(MAIN, now_ms() + CLAIM_MS + 1000, 10).await.unwrap();
        assert_eq!(reclaimed, vec!["p2@walrus".to_owned()]);
        meta.forget_blob(MAIN, "p2@walrus").await.unwrap();
        assert_eq!(meta.blob_backlog(MAIN).await.unwrap(), (1, 0));
        // A write lease that runs out: the blob is the reaper's, and the write can no longer
        // commit it.
        let later = now_ms() + 7 * 3600 * 1000;
        assert_eq!(
            meta.claim_blobs(MAIN, later, 10).await.unwrap(),
            vec!["p1@walrus".to_owned()]
        );
        let mut conn = meta.catalog.pool.acquire().await.unwrap();
        assert!(matches!(
            make_live(&mut conn, &[("p1@walrus".into(), 1)]).await,
            Err(crate::Error::LeaseLost(_))
        ));
        // A commit that reported an error but happened: its blob is live, and giving it up
        // must not hand it to the reaper.
        meta.begin_blob("c1@walrus", "b").await.unwrap();
        make_live(&mut conn, &[("c1@walrus".into(), 1)]).await.unwrap();
        meta.abandon_blob("b", "c1@walrus").await.unwrap();
        let due = meta.claim_blobs(MAIN, later + CLAIM_MS * 2, 10).await.unwrap();
        assert_eq!(due, vec!["p1@walrus".to_owned()], "only p1's expired claim, never c1");
        // Only a dead blob is forgotten.
        meta.forget_blob(MAIN, "c1@walrus").await.unwrap();
        assert_eq!(meta.blobs_in("b", "walrus", "", 10).await.unwrap().len(), 2);
    }

    /// The ledger's indexed queries, and swapping a piece's blob (what moving bytes between
    /// providers does) only when it still holds the expected one.
    #[tokio::test]
    async fn blobs_by_place_by_version_and_swapped() {
        let (_dir, meta) = test_store().await;
        test_bucket(&meta).await;
        meta.begin_blob("old@walrus", "b").await.unwrap();
        meta.commit_object(&new_version("b", "k", "old@walrus"), &Condition::None)
            .await
            .unwrap();
        let placed = meta.blobs_in("b", "walrus", "", 10).await.unwrap();
        assert_eq!(placed.len(), 1);
        assert_eq!((placed[0].state, placed[0].size), (BlobState::Live, 3));
        assert_eq!(
            meta.pieces_of_blob("b", "old@walrus").await.unwrap(),
            [("b".into(), "k".into(), "null".into(), 0)]
        );
        meta.begin_blob("new@rgw", "b").await.unwrap();
        assert!(
            !meta
                .replace_piece("b", "k", "null", 0, "other@walrus", "new@rgw")
                .await
                .unwrap()
        );
        assert!(
            meta.replace_piece("b", "k", "null", 0, "old@walrus", "new@rgw")
                .await
                .unwrap()
        );
        assert_eq!(meta.object("b", "k").await.unwrap().pieces[0].blob, "new@rgw");
        assert_eq!(
            meta.blobs_in("b", "rgw", "", 10).await.unwrap()[0].state,
            BlobState::Live
        );
        assert_eq!(
            meta.blobs_in("b", "walrus", "", 10).await.unwrap()[0].state,
            BlobState::Dead
        );
        assert!(meta.pieces_of_blob("b", "old@walrus").await.unwrap().is_empty());
    }
}
