//! Blob bookkeeping: leases on blobs being written and the queue of blobs no version needs.
//! The reaper on every gateway drains both; deleting a blob twice is harmless.

use sqlx::AnyConnection;

use crate::{Error, Meta, Result, now_ms};

/// How long a write may take before its blob counts as abandoned.
const PENDING_LEASE_MS: i64 = 6 * 3600 * 1000;
/// How long a dead blob is kept, so that reads that started before it died can finish.
const DEAD_GRACE_MS: i64 = 10 * 60 * 1000;

impl Meta {
    /// Records that `blob` is about to be written; call before the first byte goes out.
    pub async fn begin_blob(&self, blob: &str) -> Result<()> {
        let (_guard, mut tx) = self.begin_write().await?;
        sqlx::query("INSERT INTO pending_blobs (blob, expires_ms) VALUES ($1, $2)")
            .bind(blob)
            .bind(now_ms() + PENDING_LEASE_MS)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives up a blob that will never be committed (failed upload, bad digest): reap it now.
    pub async fn abandon_blob(&self, blob: &str) -> Result<()> {
        let (_guard, mut tx) = self.begin_write().await?;
        sqlx::query("DELETE FROM pending_blobs WHERE blob = $1")
            .bind(blob)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO dead_blobs (blob, after_ms) VALUES ($1, $2) ON CONFLICT (blob) DO NOTHING")
            .bind(blob)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Blobs that may be deleted from the provider at `now`: expired leases and dead blobs past
    /// their grace period.
    pub async fn blobs_to_reap(&self, now: i64, limit: i64) -> Result<Vec<String>> {
        let blobs = sqlx::query_scalar(
            "SELECT blob FROM pending_blobs WHERE expires_ms <= $1
             UNION ALL SELECT blob FROM dead_blobs WHERE after_ms <= $1
             LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(blobs)
    }

    /// Forgets a blob after the provider has deleted it.
    pub async fn forget_blob(&self, blob: &str) -> Result<()> {
        let (_guard, mut tx) = self.begin_write().await?;
        sqlx::query("DELETE FROM pending_blobs WHERE blob = $1")
            .bind(blob)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM dead_blobs WHERE blob = $1")
            .bind(blob)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
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
    use crate::{now_ms, test_store};

    #[tokio::test]
    async fn pending_blobs_expire_and_abandoned_blobs_go_at_once() {
        let (_dir, meta) = test_store().await;
        meta.begin_blob("p1").await.unwrap();
        meta.begin_blob("p2").await.unwrap();
        meta.abandon_blob("p2").await.unwrap();
        assert_eq!(meta.blobs_to_reap(now_ms(), 10).await.unwrap(), vec!["p2".to_owned()]);
        meta.forget_blob("p2").await.unwrap();
        assert!(meta.blobs_to_reap(now_ms(), 10).await.unwrap().is_empty());
        let later = now_ms() + 7 * 3600 * 1000;
        assert_eq!(meta.blobs_to_reap(later, 10).await.unwrap(), vec!["p1".to_owned()]);
    }
}
