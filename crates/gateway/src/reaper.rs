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
