//! Blob bookkeeping: leases on blobs being written and the queue of blobs no version needs.
//! The reaper on every gateway drains both; deleting a blob twice is harmless.

use sqlx::AnyConnection;

use crate::{Backend, Error, Meta, Result, now_ms};

/// How long a write may take before its blob counts as abandoned.
const PENDING_LEASE_MS: i64 = 6 * 3600 * 1000;
/// How long a dead blob is kept, so that reads that started before it died can finish.
const DEAD_GRACE_MS: i64 = 10 * 60 * 1000;
/// How long a reaper's claim on a blob lasts before another reaper may take it.
const CLAIM_MS: i64 = 5 * 60 * 1000;

impl Meta {
    /// Records that `blob` is about to be written; call before the first byte goes out.
    pub async fn begin_blob(&self, blob: &str) -> Result<()> {
        let blob = blob.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO pending_blobs (blob, expires_ms) VALUES ($1, $2) ON CONFLICT (blob) DO NOTHING",
                )
                .bind(blob)
                .bind(now_ms() + PENDING_LEASE_MS)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Gives up a blob that will never be committed (failed upload, bad digest): reap it now.
    /// Only a blob still under its lease is given up: if a commit that reported an error did
    /// happen after all, the lease is gone and the blob is a version's.
    pub async fn abandon_blob(&self, blob: &str) -> Result<()> {
        let blob = blob.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let leased = sqlx::query("DELETE FROM pending_blobs WHERE blob = $1")
                    .bind(&blob)
                    .execute(&mut *conn)
                    .await?;
                if leased.rows_affected() > 0 {
                    sqlx::query(
                        "INSERT INTO dead_blobs (blob, after_ms) VALUES ($1, $2) ON CONFLICT (blob) DO NOTHING",
                    )
                    .bind(&blob)
                    .bind(now_ms())
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Claims up to `limit` blobs to delete from their providers at `now`: blobs whose write
    /// lease has expired (a late commit of one now fails with `LeaseLost`) and dead blobs past
    /// their grace period. A claimed blob is not offered again for [`CLAIM_MS`], so reapers on
    /// many gateways share the work; one that dies mid-way leaves its claims to expire.
    pub async fn claim_blobs(&self, now: i64, limit: i64) -> Result<Vec<String>> {
        let (_guard, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO dead_blobs (blob, after_ms) SELECT blob, expires_ms FROM pending_blobs WHERE expires_ms <= $1
             ON CONFLICT (blob) DO NOTHING",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM pending_blobs WHERE expires_ms <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let claimed = sqlx::query_scalar(&format!(
            "UPDATE dead_blobs SET after_ms = $3 WHERE blob IN
                (SELECT blob FROM dead_blobs WHERE after_ms <= $1 ORDER BY after_ms LIMIT $2 {lock})
             RETURNING blob"
        ))
        .bind(now)
        .bind(limit)
        .bind(now + CLAIM_MS)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// How many blobs wait for the reaper: `(being written, no longer needed)`.
    pub async fn blob_backlog(&self) -> Result<(i64, i64)> {
        let pending = sqlx::query_scalar("SELECT COUNT(*) FROM pending_blobs")
            .fetch_one(&self.pool)
            .await?;
        let dead = sqlx::query_scalar("SELECT COUNT(*) FROM dead_blobs")
            .fetch_one(&self.pool)
            .await?;
        Ok((pending, dead))
    }

    /// Forgets a blob after the provider has deleted it.
    pub async fn forget_blob(&self, blob: &str) -> Result<()> {
        let blob = blob.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                for table in ["pending_blobs", "dead_blobs"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE blob = $1"))
                        .bind(&blob)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            })
        })
        .await
    }
}

/// Ends a blob's lease as it becomes referenced. Fails if the lease is gone (the write took
/// longer than the lease and the reaper may already have deleted the blob).
pub(crate) async fn clear_pending(conn: &mut AnyConnection, blob: &str) -> Result<()> {
    let cleared = sqlx::query("DELETE FROM pending_blobs WHERE blob = $1")
        .bind(blob)
        .execute(&mut *conn)
        .await?;
    if cleared.rows_affected() == 0 {
        return Err(Error::LeaseLost(blob.to_owned()));
    }
    Ok(())
}

/// Queues a blob that no version or part references any more.
pub(crate) async fn mark_dead(conn: &mut AnyConnection, blob: &str, now: i64) -> Result<()> {
    sqlx::query("INSERT INTO dead_blobs (blob, after_ms) VALUES ($1, $2) ON CONFLICT (blob) DO NOTHING")
        .bind(blob)
        .bind(now + DEAD_GRACE_MS)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::CLAIM_MS;
    use crate::{now_ms, test_store};

    /// Many writers at once: every lease is recorded, most of them in shared transactions.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_leases_are_all_recorded() {
        let (_dir, meta) = test_store().await;
        let meta = std::sync::Arc::new(meta);
        let writers: Vec<_> = (0..64)
            .map(|i| {
                let meta = std::sync::Arc::clone(&meta);
                tokio::spawn(async move { meta.begin_blob(&format!("lease{i}")).await })
            })
            .collect();
        for w in writers {
            w.await.unwrap().unwrap();
        }
        assert_eq!(meta.blob_backlog().await.unwrap(), (64, 0));
        let later = now_ms() + 7 * 3600 * 1000;
        assert_eq!(meta.claim_blobs(later, 100).await.unwrap().len(), 64);
    }

    #[tokio::test]
    async fn reapers_claim_expired_and_dead_blobs_once() {
        let (_dir, meta) = test_store().await;
        meta.begin_blob("p1").await.unwrap();
        meta.begin_blob("p2").await.unwrap();
        meta.abandon_blob("p2").await.unwrap();
        assert_eq!(meta.blob_backlog().await.unwrap(), (1, 1));
        assert_eq!(meta.claim_blobs(now_ms(), 10).await.unwrap(), vec!["p2".to_owned()]);
        // Claimed: another reaper does not get it, unless the claim runs out.
        assert!(meta.claim_blobs(now_ms(), 10).await.unwrap().is_empty());
        let reclaimed = meta.claim_blobs(now_ms() + CLAIM_MS + 1000, 10).await.unwrap();
        assert_eq!(reclaimed, vec!["p2".to_owned()]);
        meta.forget_blob("p2").await.unwrap();
        assert_eq!(meta.blob_backlog().await.unwrap(), (1, 0));
        // A write lease that runs out: the blob is the reaper's, and the write can no longer
        // commit it.
        let later = now_ms() + 7 * 3600 * 1000;
        assert_eq!(meta.claim_blobs(later, 10).await.unwrap(), vec!["p1".to_owned()]);
        let mut conn = meta.pool.acquire().await.unwrap();
        assert!(matches!(
            super::clear_pending(&mut conn, "p1").await,
            Err(crate::Error::LeaseLost(_))
        ));
        // A commit that reported an error but happened: its blob is no longer leased, and
        // giving it up must not hand it to the reaper.
        meta.begin_blob("c1").await.unwrap();
        super::clear_pending(&mut conn, "c1").await.unwrap();
        meta.abandon_blob("c1").await.unwrap();
        let due = meta.claim_blobs(later + CLAIM_MS * 2, 10).await.unwrap();
        assert_eq!(due, vec!["p1".to_owned()], "only p1's expired claim, never c1");
    }
}
