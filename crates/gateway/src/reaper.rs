//! The reaper: deletes blobs that no object needs (abandoned writes, replaced versions,
//! aborted uploads) from the provider that holds each, then forgets them. Safe to run on
//! every gateway.

use std::sync::Arc;
use std::time::Duration;

use osg_meta::{Meta, now_ms};

use crate::providers::Providers;

/// How often each gateway looks for work.
const PERIOD: Duration = Duration::from_secs(30);
/// Blobs handled per round.
const BATCH: i64 = 1000;

/// How often each gateway folds the usage deltas of PostgreSQL shards (`Meta::fold_usage`):
/// often, so that reading a bucket's usage stays a read of a few rows.
const FOLD_PERIOD: Duration = Duration::from_secs(2);

/// Runs forever, one round per period.
pub async fn run_reaper(meta: Arc<Meta>, providers: Arc<Providers>) {
    tokio::spawn(fold_usage(Arc::clone(&meta)));
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        tick.tick().await;
        match reap_once(&meta, &providers).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(blobs = n, "reaped"),
            Err(e) => tracing::warn!(error = %e, "reaper round failed"),
        }
    }
}

async fn fold_usage(meta: Arc<Meta>) {
    let mut tick = tokio::time::interval(FOLD_PERIOD);
    loop {
        tick.tick().await;
        if let Err(e) = meta.fold_usage().await {
            tracing::warn!(error = %e, "usage fold failed");
        }
    }
}

async fn reap_once(meta: &Meta, providers: &Providers) -> Result<usize, Box<dyn std::error::Error>> {
    let (mut deleted, mut pending, mut dead) = (0, 0, 0);
    // Each shard's ledger in turn; one that does not answer waits for the next round.
    for shard in meta.shard_names().await? {
        match reap_shard(meta, providers, &shard).await {
            Ok((n, backlog)) => {
                deleted += n;
                pending += backlog.0;
                dead += backlog.1;
            }
            Err(e) => tracing::warn!(shard, error = %e, "reaper round failed on a shard"),
        }
    }
    metrics::gauge!("osg_reaper_backlog_blobs", "state" => "writing").set(pending as f64);
    metrics::gauge!("osg_reaper_backlog_blobs", "state" => "dead").set(dead as f64);
    Ok(deleted)
}

/// One round on `shard`'s ledger: how many blobs it deleted, and the backlog left.
async fn reap_shard(meta: &Meta, providers: &Providers, shard: &str) -> osg_meta::Result<(usize, (i64, i64))> {
    let blobs = meta.claim_blobs(shard, now_ms(), BATCH).await?;
    let mut deleted = 0;
    for blob in &blobs {
        let id = osg_model::BlobId::parse(blob);
        // A provider that is down keeps its blobs claimed until the claim runs out; the others'
        // blobs go on being deleted.
        let gone = match providers.get(&id.provider) {
            Ok(p) => p.delete_blob(&id.key).await,
            Err(e) => Err(e),
        };
        if let Err(e) = gone {
            tracing::debug!(blob, error = %e, "blob not reaped this round");
            continue;
        }
        meta.forget_blob(shard, blob).await?;
        deleted += 1;
        metrics::counter!("osg_reaper_deleted_blobs_total").increment(1);
    }
    Ok((deleted, meta.blob_backlog(shard).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use osg_provider::Provider as _;
    use osg_walrus::Walrus;

    fn body(data: &'static [u8]) -> osg_provider::ByteStream {
        Box::pin(futures::stream::iter([Ok(Bytes::from_static(data))]))
    }

    #[tokio::test]
    async fn reaps_abandoned_blobs_and_keeps_leased_ones() {
        let dir = tempfile::tempdir().unwrap();
        let sealer = osg_meta::Sealer::new(&osg_meta::Sealer::generate_key());
        let meta = Meta::open_sqlite(&dir.path().join("meta.db"), sealer).await.unwrap();
        let meta = Arc::new(meta);
        let walrus = Arc::new(Walrus::open(&dir.path().join("walrus")).await.unwrap());
        let providers = Providers::new(
            Arc::clone(&meta),
            Some(Arc::clone(&walrus) as Arc<dyn osg_provider::Provider>),
        );
        let owner = meta.create_account("a").await.unwrap();
        let new = osg_meta::NewBucket {
            name: "b",
            owner: &owner.id,
            region: "us-east-1",
            provider: osg_model::blob::EMBEDDED,
            object_lock: false,
        };
        meta.create_bucket(new, osg_meta::BucketConfig::default(), 1)
            .await
            .unwrap();
        for blob in ["aa11", "bb22"] {
            meta.begin_blob(blob, "b").await.unwrap();
            walrus.put_blob(blob, body(b"bytes"), Some(5)).await.unwrap();
        }
        meta.abandon_blob("b", "aa11").await.unwrap();
        assert_eq!(reap_once(&meta, &providers).await.unwrap(), 1);
        assert!(!dir.path().join("walrus/blobs/aa/aa11").exists());
        assert!(
            dir.path().join("walrus/blobs/bb/bb22").exists(),
            "a blob still being written stays"
        );
        assert_eq!(reap_once(&meta, &providers).await.unwrap(), 0);
    }
}
