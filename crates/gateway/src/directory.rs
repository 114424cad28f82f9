//! What every request's authentication and authorization read, cached: an access key's secret
//! and who is behind it, a user's policies, a bucket and its policy. Entries live for [`TTL`],
//! so a change made elsewhere (on another gateway, or with `osg admin`) takes effect within
//! that time; a change made through this gateway drops the entries it affects at once.
//! Unknown and inactive keys are never cached, so a new key works at once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use osg_meta::{Bucket, Caller, Meta, User};
use osg_model::{Quota, Usage};
use osg_policy::{Kind, Policy};
use secrecy::SecretString;

use crate::error::Result;

/// How long an entry is trusted.
pub const TTL: Duration = Duration::from_secs(1);
/// Entries kept per cache before expired ones are swept.
const SWEEP_AT: usize = 10_000;

struct Ttl<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> Ttl<K, V> {
    fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().expect("cache lock");
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, v)| v.clone())
    }

    /// The value of `key` however old: for when fetching it again fails.
    fn get_stale(&self, key: &K) -> Option<V> {
        self.entries
            .lock()
            .expect("cache lock")
            .get(key)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: K, value: V) {
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= SWEEP_AT {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
        }
        entries.insert(key, (Instant::now(), value));
    }

    /// The cached value of `key`, or what `fetch` finds, cached when it finds one (so a key
    /// made a moment ago is seen at once).
    async fn get_or_fetch<E>(
        &self,
        key: K,
        fetch: impl Future<Output = std::result::Result<Option<V>, E>>,
    ) -> std::result::Result<Option<V>, E> {
        if let Some(v) = self.get(&key) {
            return Ok(Some(v));
        }
        let found = fetch.await?;
        if let Some(v) = &found {
            self.put(key, v.clone());
        }
        Ok(found)
    }

    fn forget(&self, key: &K) {
        self.entries.lock().expect("cache lock").remove(key);
    }

    fn clear(&self) {
        self.entries.lock().expect("cache lock").clear();
    }
}

pub struct Directory {
    meta: Arc<Meta>,
    secrets: Ttl<String, SecretString>,
    callers: Ttl<String, Caller>,
    user_policies: Ttl<(String, String), Arc<Vec<Policy>>>,
    buckets: Ttl<String, Bucket>,
    /// Bucket policies parsed, by document.
    bucket_policies: Ttl<String, Arc<Policy>>,
    /// Cluster properties read on the request path (`None`: not set).
    properties: Ttl<String, Option<String>>,
    /// Accounts' quotas, and what their buckets hold when they have one.
    account_quotas: Ttl<String, (Quota, Usage)>,
}

impl Directory {
    pub fn new(meta: Arc<Meta>) -> Self {
        Self {
            meta,
            secrets: Ttl::new(),
            callers: Ttl::new(),
            user_policies: Ttl::new(),
            buckets: Ttl::new(),
            bucket_policies: Ttl::new(),
            properties: Ttl::new(),
            account_quotas: Ttl::new(),
        }
    }

    /// A cluster property's value (`None`: not set).
    pub async fn property(&self, name: &str) -> Result<Option<String>> {
        if let Some(value) = self.properties.get(&name.to_owned()) {
            return Ok(value);
        }
        let value = self.meta.property(name).await?;
        self.properties.put(name.to_owned(), value.clone());
        Ok(value)
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The secret of `access_key`, unsealed; `None` for an unknown or inactive key.
    pub async fn secret(&self, access_key: &str) -> Result<Option<SecretString>> {
        let fetch = self.meta.secret_key(access_key);
        Ok(self.secrets.get_or_fetch(access_key.to_owned(), fetch).await?)
    }

    /// Who signs with `access_key`; `None` for an unknown or inactive key.
    pub async fn caller(&self, access_key: &str) -> Result<Option<Caller>> {
        let fetch = self.meta.caller(access_key);
        Ok(self.callers.get_or_fetch(access_key.to_owned(), fetch).await?)
    }

    /// A user's identity policies, parsed once per cache lifetime.
    pub async fn identity_policies(&self, user: &User) -> Result<Arc<Vec<Policy>>> {
        let key = (user.account_id.clone(), user.name.clone());
        if let Some(policies) = self.user_policies.get(&key) {
            return Ok(policies);
        }
        let docs = self.meta.identity_policies(user).await?;
        let policies = Arc::new(docs.iter().map(|d| parse(d, Kind::Identity)).collect::<Vec<_>>());
        self.user_policies.put(key, Arc::clone(&policies));
        Ok(policies)
    }

    /// A bucket (`NoSuchBucket` is not cached, so a new bucket is seen at once).
    pub async fn bucket(&self, name: &str) -> Result<Bucket> {
        if let Some(b) = self.buckets.get(&name.to_owned()) {
            return Ok(b);
        }
        let bucket = self.meta.bucket(name).await?;
        self.buckets.put(name.to_owned(), bucket.clone());
        Ok(bucket)
    }

    /// A bucket's policy, parsed once per cache lifetime.
    pub fn bucket_policy(&self, bucket: &Bucket) -> Option<Arc<Policy>> {
        let doc = bucket.config.policy()?.to_owned();
        if let Some(p) = self.bucket_policies.get(&doc) {
            return Some(p);
        }
        let policy = Arc::new(parse(&doc, Kind::Resource));
        self.bucket_policies.put(doc, Arc::clone(&policy));
        Some(policy)
    }

    /// An account's quota and, if it has one, what its buckets hold: counting them takes a
    /// query per shard, so writes a second apart share one count. While a shard holding some
    /// of its buckets does not answer, the last count stands in, so the account's buckets on
    /// the other shards stay writable.
    pub async fn account_quota(&self, account_id: &str) -> Result<(Quota, Usage)> {
        let key = account_id.to_owned();
        if let Some(found) = self.account_quotas.get(&key) {
            return Ok(found);
        }
        let quota = self.meta.account_quota(account_id).await?;
        let usage = if quota.is_unlimited() {
            Usage::default()
        } else {
            match self.meta.account_usage(account_id).await {
                Ok(usage) => usage,
                Err(e) => match self.account_quotas.get_stale(&key) {
                    Some((_, last)) => {
                        tracing::warn!(account_id, error = %e, "account usage not counted; using the last count");
                        last
                    }
                    None => return Err(e.into()),
                },
            }
        };
        self.account_quotas.put(key, (quota, usage));
        Ok((quota, usage))
    }

    /// Drops what is cached about a bucket this gateway just changed.
    pub fn forget_bucket(&self, name: &str) {
        self.buckets.forget(&name.to_owned());
    }

    /// Drops every cached identity after this gateway changed users, keys or policies.
    pub fn forget_identities(&self) {
        self.secrets.clear();
        self.callers.clear();
        self.user_policies.clear();
    }
}

/// Policies are validated when stored; one that no longer parses is a bug, and denies.
fn parse(doc: &str, kind: Kind) -> Policy {
    Policy::parse(doc, kind).unwrap_or_else(|e| {
        tracing::error!(error = %e, "stored policy does not parse");
        Policy::deny_all()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_dropped() {
        let cache: Ttl<String, u32> = Ttl::new();
        cache.put("a".into(), 1);
        assert_eq!(cache.get(&"a".into()), Some(1));
        cache.forget(&"a".into());
        assert_eq!(cache.get(&"a".into()), None);
        cache.put("b".into(), 2);
        cache.entries.lock().unwrap().get_mut("b").unwrap().0 -= TTL;
        assert_eq!(cache.get(&"b".into()), None, "expired");
        cache.put("c".into(), 3);
        cache.clear();
        assert_eq!(cache.get(&"c".into()), None);
    }
}
