//! The reaper: deletes blobs that no object needs (abandoned writes, replaced versions,
//! aborted uploads) from the provider, then forgets them. Safe to run on every gateway.

use std::sync::Arc;
use std::time::Duration;

use osg_meta::{Meta, now_ms};
use osg_provider::Provider;

/// How often each gateway looks for work.
const PERIOD: Duration = Duration::from_secs(30);
/// Blobs handled per round.
const BATCH: i64 = 1000;

/// Runs forever, one round per period.
pub async fn run_reaper(meta: Arc<Meta>, provider: Arc<dyn Provider>) {
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        tick.tick().await;
        match reap_once(&meta, provider.as_ref()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(blobs = n, "reaped"),
            Err(e) => tracing::warn!(error = %e, "reaper round failed"),
        }
    }
}

async fn reap_once(meta: &Meta, provider: &dyn Provider) -> Result<usize, Box<dyn std::error::Error>> {
    let blobs = meta.blobs_to_reap(now_ms(), BATCH).await?;
    for blob in &blobs {
        provider.delete_blob(blob).await?;
        meta.forget_blob(blob).await?;
    }
    Ok(blobs.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use osg_walrus::Walrus;

    fn body(data: &'static [u8]) -> osg_provider::ByteStream {
        Box::pin(futures::stream::iter([Ok(Bytes::from_static(data))]))
    }

    #[tokio::test]
    async fn reaps_abandoned_blobs_and_keeps_leased_ones() {
        let dir = tempfile::tempdir().unwrap();
        let sealer = osg_meta::Sealer::new(&osg_meta::Sealer::generate_key());
        let meta = Meta::open_sqlite(&dir.path().join("meta.db"), sealer).await.unwrap();
        let walrus = Walrus::open(&dir.path().join("walrus")).await.unwrap();
        for blob in ["aa11", "bb22"] {
            meta.begin_blob(blob).await.unwrap();
            walrus.put_blob(blob, body(b"bytes"), 5).await.unwrap();
        }
        meta.abandon_blob("aa11").await.unwrap();
        assert_eq!(reap_once(&meta, &walrus).await.unwrap(), 1);
        assert!(!dir.path().join("walrus/blobs/aa/aa11").exists());
        assert!(
            dir.path().join("walrus/blobs/bb/bb22").exists(),
            "a blob still being written stays"
        );
        assert_eq!(reap_once(&meta, &walrus).await.unwrap(), 0);
    }
}
