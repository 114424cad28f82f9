//! Provider calls, measured: latency by operation, errors, and bytes each way, labelled with
//! the provider's name.

use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use futures::TryStreamExt;
use osg_provider::{ByteStream, Provider, Result};

pub struct Metered {
    name: String,
    inner: Arc<dyn Provider>,
}

impl Metered {
    pub fn wrap(name: &str, inner: Arc<dyn Provider>) -> Arc<dyn Provider> {
        Arc::new(Self {
            name: name.to_owned(),
            inner,
        })
    }

    fn observe<T>(&self, op: &'static str, started: Instant, result: &Result<T>) {
        let provider = self.name.clone();
        metrics::histogram!("osg_provider_request_duration_seconds", "provider" => provider.clone(), "op" => op)
            .record(started.elapsed().as_secs_f64());
        if result.is_err() {
            metrics::counter!("osg_provider_errors_total", "provider" => provider, "op" => op).increment(1);
        }
    }

    fn bytes(&self, direction: &'static str, n: u64) {
        metrics::counter!("osg_provider_bytes_total", "provider" => self.name.clone(), "direction" => direction)
            .increment(n);
    }
}

#[async_trait]
impl Provider for Metered {
    async fn put_blob(&self, key: &str, body: ByteStream, length: Option<u64>) -> Result<u64> {
        let started = Instant::now();
        let result = self.inner.put_blob(key, body, length).await;
        self.observe("put", started, &result);
        if let Ok(n) = result {
            self.bytes("out", n);
        }
        result
    }

    fn needs_length(&self) -> bool {
        self.inner.needs_length()
    }

    async fn get_blob(&self, key: &str, range: Range<u64>) -> Result<ByteStream> {
        let started = Instant::now();
        let result = self.inner.get_blob(key, range).await;
        self.observe("get", started, &result);
        let stream = result?;
        let counter =
            metrics::counter!("osg_provider_bytes_total", "provider" => self.name.clone(), "direction" => "in");
        Ok(Box::pin(
            stream.inspect_ok(move |chunk| counter.increment(chunk.len() as u64)),
        ))
    }

    async fn delete_blob(&self, key: &str) -> Result<()> {
        let started = Instant::now();
        let result = self.inner.delete_blob(key).await;
        self.observe("delete", started, &result);
        result
    }

    async fn health(&self) -> Result<()> {
        let started = Instant::now();
        let result = self.inner.health().await;
        self.observe("health", started, &result);
        result
    }

    async fn prepare(&self) -> Result<()> {
        self.inner.prepare().await
    }
}
