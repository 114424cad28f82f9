//! The providers a gateway can reach, by name: the embedded Walrus, and the instances
//! registered in the metadata store (`osg admin provider add`), reloaded every second so a
//! new or changed provider reaches every gateway without a restart.
//!
//! Blob ids carry their provider (`KEY@PROVIDER`), so a blob is always deleted or read where
//! it was written, whatever the cluster's default provider is now.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use osg_meta::{Meta, ProviderRecord};
use osg_provider::{Error, Provider, connect};

use crate::metered::Metered;

/// The name of the embedded Walrus.
pub const EMBEDDED: &str = osg_model::blob::EMBEDDED;
/// How often the registry is reloaded.
const REFRESH: Duration = Duration::from_secs(1);
/// How long a readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A client for a registered provider.
pub async fn build(
    meta: &Meta,
    record: &ProviderRecord,
) -> Result<Arc<dyn Provider>, Box<dyn std::error::Error + Send + Sync>> {
    let secret = meta.provider_secret(&record.name).await?;
    Ok(Metered::wrap(
        &record.name,
        connect(record.kind, &record.settings, secret)?,
    ))
}

/// Each provider's state, `up` or why it is down, as the readiness endpoint reports it.
/// The gateway is ready when its metadata store answers: a provider that is down only makes
/// its own buckets answer 503, so it must not take every gateway out of a load balancer.
pub async fn readiness(providers: &Providers) -> (bool, String) {
    let probes = providers
        .all()
        .into_iter()
        .map(|(name, provider)| async move { (name, serde_json::Value::String(probe(provider.health()).await)) });
    let states: serde_json::Map<_, _> = futures::future::join_all(probes).await.into_iter().collect();
    let metadata = probe(providers.meta.ping()).await;
    let ready = metadata == "up";
    (
        ready,
        serde_json::json!({ "metadata": metadata, "providers": states }).to_string(),
    )
}

/// `up`, or why not, within the probe timeout.
async fn probe<E: std::fmt::Display>(check: impl Future<Output = Result<(), E>>) -> String {
    match tokio::time::timeout(PROBE_TIMEOUT, check).await {
        Ok(Ok(())) => "up".to_owned(),
        Ok(Err(e)) => format!("down: {e}"),
        Err(_) => "down: no answer".to_owned(),
    }
}

struct Remote {
    record: ProviderRecord,
    provider: Arc<dyn Provider>,
    /// Whether its blob bucket is known to exist; retried every refresh until it does.
    ready: std::sync::atomic::AtomicBool,
}

pub struct Providers {
    meta: Arc<Meta>,
    /// The embedded Walrus, on gateways that keep bytes themselves (`osg serve`).
    embedded: Option<Arc<dyn Provider>>,
    remote: RwLock<HashMap<String, Remote>>,
}

impl Providers {
    pub fn new(meta: Arc<Meta>, embedded: Option<Arc<dyn Provider>>) -> Self {
        Self {
            meta,
            embedded: embedded.map(|p| Metered::wrap(EMBEDDED, p)),
            remote: RwLock::new(HashMap::new()),
        }
    }

    /// The provider named `name`; unknown names are unavailable (503), not errors of the
    /// client's making.
    pub fn get(&self, name: &str) -> Result<Arc<dyn Provider>, Error> {
        if name == EMBEDDED {
            return self
                .embedded
                .clone()
                .ok_or_else(|| Error::Unavailable("this gateway has no embedded Walrus: register a provider".into()));
        }
        let remote = self.remote.read().expect("provider map lock");
        let found = remote.get(name).map(|r| Arc::clone(&r.provider));
        found.ok_or_else(|| Error::Unavailable(format!("provider {name} is not known to this gateway")))
    }

    /// Makes sure `name` can take writes (its blob bucket exists), as placing a bucket on it
    /// requires.
    pub async fn ensure_ready(&self, name: &str) -> Result<(), Error> {
        if name == EMBEDDED {
            return self.get(name).map(drop);
        }
        let provider = {
            let remote = self.remote.read().expect("provider map lock");
            let r = remote
                .get(name)
                .ok_or_else(|| Error::Unavailable(format!("provider {name} is not known to this gateway")))?;
            if r.ready.load(std::sync::atomic::Ordering::Relaxed) {
                return Ok(());
            }
            Arc::clone(&r.provider)
        };
        provider.prepare().await?;
        if let Some(r) = self.remote.read().expect("provider map lock").get(name) {
            r.ready.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    /// Every provider by name, the embedded one first.
    pub fn all(&self) -> Vec<(String, Arc<dyn Provider>)> {
        let mut out: Vec<_> = self
            .embedded
            .iter()
            .map(|e| (EMBEDDED.to_owned(), Arc::clone(e)))
            .collect();
        let remote = self.remote.read().expect("provider map lock");
        out.extend(remote.iter().map(|(n, r)| (n.clone(), Arc::clone(&r.provider))));
        out
    }

    /// Brings the registry in line with the metadata store.
    pub async fn refresh(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let records = self.meta.providers().await?;
        let mut built = Vec::new();
        for record in &records {
            let known = self
                .remote
                .read()
                .expect("provider map lock")
                .get(&record.name)
                .map(|r| {
                    (
                        r.record == *record,
                        r.ready.load(std::sync::atomic::Ordering::Relaxed),
                        Arc::clone(&r.provider),
                    )
                });
            match known {
                Some((true, true, _)) => {}
                // A provider that was down when it was first seen gets its bucket made now.
                Some((true, false, provider)) => {
                    if provider.prepare().await.is_ok()
                        && let Some(r) = self.remote.read().expect("provider map lock").get(&record.name)
                    {
                        r.ready.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                _ => {
                    let provider = match build(&self.meta, record).await {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::warn!(provider = record.name, error = %e, "provider cannot be built");
                            continue;
                        }
                    };
                    let ready = match provider.prepare().await {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::warn!(provider = record.name, error = %e, "provider not ready");
                            false
                        }
                    };
                    built.push(Remote {
                        record: record.clone(),
                        provider,
                        ready: ready.into(),
                    });
                }
            }
        }
        let mut remote = self.remote.write().expect("provider map lock");
        remote.retain(|name, _| records.iter().any(|r| r.name == *name));
        for r in built {
            remote.insert(r.record.name.clone(), r);
        }
        Ok(())
    }

    /// Reloads the registry every second, for ever.
    pub async fn run_refresh(self: Arc<Self>) {
        let mut tick = tokio::time::interval(REFRESH);
        loop {
            tick.tick().await;
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "could not reload providers");
            }
        }
    }
}
