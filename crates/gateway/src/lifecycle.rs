//! Lifecycle runs. Every gateway looks for buckets whose run of the day is due and takes one
//! at a time through a lease in the metadata store (`osg_meta::Meta::claim_lifecycle_run`),
//! so one gateway works through a bucket while the others take other buckets; a gateway that
//! dies loses its lease and another carries on from the last key it recorded. A run goes
//! through the bucket's versions in key order at a paced rate, expiring what the rules say
//! (each expiration re-checked in its write, so running a key twice changes nothing), then
//! through its multipart uploads. Removed versions' blobs go to the reaper.

use std::sync::Arc;
use std::time::{Duration, Instant};

use osg_meta::{Bucket, Expiry, ExpiryKind, Meta, Version, VersionEntry, now_ms};
use osg_model::Lifecycle;
use osg_model::lifecycle::{DAY_MS, Subject};
use osg_model::properties;

/// Versions listed at a time (fewer when the rate is lower, so a page takes about a second).
const PAGE: u64 = 200;

/// The lifecycle day in milliseconds, from `osg.lifecycle.day-seconds`'s stored value.
pub fn day_ms(seconds: Option<&str>) -> i64 {
    let seconds = properties::LIFECYCLE_DAY_SECONDS.integer(seconds);
    i64::try_from(seconds).unwrap_or(DAY_MS / 1000).saturating_mul(1000)
}

/// Versions a run examines per second, on each gateway.
async fn rate(meta: &Meta) -> osg_meta::Result<u64> {
    let rate = meta.property(properties::LIFECYCLE_RATE.name).await?;
    Ok(properties::LIFECYCLE_RATE.integer(rate.as_deref()))
}

/// How long a run is held without news from its gateway: long enough for a page, short
/// enough that a dead gateway's run resumes soon (and within a shortened day).
fn lease_ms(day_ms: i64) -> i64 {
    (day_ms / 2).clamp(5_000, 60_000)
}

/// Runs forever: looks for due runs several times a lifecycle day (at most every 10 s).
pub async fn run_lifecycle(meta: Arc<Meta>) {
    let holder = uuid::Uuid::new_v4().simple().to_string();
    loop {
        let day = meta
            .property(properties::LIFECYCLE_DAY_SECONDS.name)
            .await
            .map_or(DAY_MS, |v| day_ms(v.as_deref()));
        if let Err(e) = round(&meta, &holder, day).await {
            tracing::warn!(error = %e, "lifecycle round failed");
        }
        let pause = u64::try_from((day / 4).clamp(250, 10_000)).unwrap_or(10_000);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

async fn round(meta: &Meta, holder: &str, day: i64) -> osg_meta::Result<()> {
    let now = now_ms();
    let day_start = now - now.rem_euclid(day);
    for bucket in meta.due_lifecycle_runs(holder, day_start, now).await? {
        let now = now_ms();
        let Some(claimed) = meta
            .claim_lifecycle_run(&bucket, holder, day_start, now, now + lease_ms(day))
            .await?
        else {
            continue;
        };
        let mut run = Run {
            meta,
            holder,
            bucket: &bucket,
            day,
            rate: rate(meta).await?,
            examined: 0,
            started: Instant::now(),
        };
        match run.bucket_run(claimed.cursor).await {
            Ok(true) => {
                // Done for the day it was claimed on, however late it ends.
                if meta.finish_lifecycle_run(&bucket, holder, day_start).await? {
                    #[allow(clippy::cast_precision_loss)]
                    metrics::gauge!("osg_lifecycle_last_run_timestamp_seconds", "bucket" => bucket.clone())
                        .set(now_ms() as f64 / 1000.0);
                    tracing::info!(bucket, examined = run.examined, "lifecycle run finished");
                }
            }
            Ok(false) => tracing::info!(bucket, "lifecycle run taken over by another gateway"),
            Err(osg_meta::Error::NoSuchBucket) => meta.forget_lifecycle_run(&bucket).await?,
            // The lease runs out and the run is tried again, here or elsewhere.
            Err(e) => tracing::warn!(bucket, error = %e, "lifecycle run failed"),
        }
    }
    Ok(())
}

/// What a run does to one version.
struct Action {
    key: String,
    version_id: String,
    expiry: Expiry,
    /// Bytes freed when it is done.
    size: u64,
}

/// Where a run is within a key: versions come newest first.
struct KeyState {
    key: String,
    /// When the version seen last (the next newer one) was written: when the one after it
    /// stopped being current.
    newer_modified_ms: i64,
    /// Noncurrent versions (not delete markers) seen so far.
    noncurrent: u32,
}

impl KeyState {
    fn new(key: &str) -> Self {
        Self {
            key: key.to_owned(),
            // Until the key's newest version is seen, none of its versions is old enough.
            newer_modified_ms: i64::MAX,
            noncurrent: 0,
        }
    }
}

struct Run<'a> {
    meta: &'a Meta,
    holder: &'a str,
    bucket: &'a str,
    day: i64,
    rate: u64,
    examined: u64,
    started: Instant,
}

impl Run<'_> {
    /// Renews the lease, checking the run is still this gateway's (not taken over, its rules
    /// not replaced, its bucket not deleted), and records `cursor`, the last key wholly done.
    async fn renew(&self, cursor: &str) -> osg_meta::Result<bool> {
        let lease = now_ms() + lease_ms(self.day);
        self.meta
            .lifecycle_progress(self.bucket, self.holder, cursor, lease)
            .await
    }

    /// Runs the bucket's rules from `cursor` (the last key done; empty: the start). `false`
    /// if the run stopped being this gateway's on the way.
    async fn bucket_run(&mut self, mut cursor: String) -> osg_meta::Result<bool> {
        let bucket = self.meta.bucket(self.bucket).await?;
        let Some(rules) = bucket.config.lifecycle().cloned() else {
            self.meta.forget_lifecycle_run(self.bucket).await?;
            return Ok(true);
        };
        let page_size = usize::try_from(PAGE.min(self.rate)).unwrap_or(1);
        let mut state = KeyState::new("");
        let mut page = self
            .meta
            .list_versions(self.bucket, "", None, &cursor, None, page_size)
            .await?;
        loop {
            // The next page is listed before this one's expirations: the marker it starts
            // after is this page's last version, which may be about to go.
            let next = match page.entries.last() {
                Some(VersionEntry::Version(last)) if page.truncated => Some(
                    self.meta
                        .list_versions(self.bucket, "", None, &last.key, Some(&last.version_id), page_size)
                        .await?,
                ),
                _ => None,
            };
            let versions: Vec<&Version> = page
                .entries
                .iter()
                .filter_map(|e| match e {
                    VersionEntry::Version(v) => Some(v.as_ref()),
                    VersionEntry::Prefix(_) => None,
                })
                .collect();
            let following = next.as_ref().and_then(|n| match n.entries.first() {
                Some(VersionEntry::Version(v)) => Some(v.key.as_str()),
                _ => None,
            });
            let actions = self.decide(&rules, &versions, following, &mut state);
            // Checked before acting, so that no more than this page acts on rules replaced
            // meanwhile; the cursor recorded is the previous pages' (a takeover redoes this
            // one, which changes nothing twice).
            if !self.renew(&cursor).await? {
                return Ok(false);
            }
            for action in actions {
                self.act(&bucket, action).await?;
            }
            // Keys wholly done: all but the last one, unless the next page starts another.
            let done = match versions.last() {
                Some(last) if following != Some(last.key.as_str()) => Some(last.key.as_str()),
                Some(last) => versions.iter().rev().map(|v| v.key.as_str()).find(|k| *k != last.key),
                None => None,
            };
            if let Some(done) = done {
                done.clone_into(&mut cursor);
            }
            self.pace().await;
            match next {
                Some(n) => page = n,
                None => break,
            }
        }
        if rules.aborts_uploads() {
            return self.abort_uploads(&rules, &cursor).await;
        }
        Ok(true)
    }

    /// What the rules expire among `versions` (in listing order), `following` the key of
    /// the version listed after them.
    fn decide(
        &mut self,
        rules: &Lifecycle,
        versions: &[&Version],
        following: Option<&str>,
        state: &mut KeyState,
    ) -> Vec<Action> {
        let now = now_ms();
        let mut actions = Vec::new();
        for (i, v) in versions.iter().enumerate() {
            self.examined += 1;
            metrics::counter!("osg_lifecycle_examined_total", "bucket" => self.bucket.to_owned()).increment(1);
            if state.key != v.key {
                *state = KeyState::new(&v.key);
            }
            let subject = Subject {
                key: &v.key,
                size: v.size,
                tags: &v.attrs.tags,
            };
            let kind = if v.latest && !v.delete_marker {
                rules
                    .current_expiry(&subject, v.modified_ms, self.day)
                    .is_some_and(|(at, _)| now >= at)
                    .then_some(ExpiryKind::Current)
            } else if v.latest {
                let next_key = versions.get(i + 1).map_or(following, |n| Some(n.key.as_str()));
                (next_key != Some(v.key.as_str()) && rules.removes_lone_marker(&v.key))
                    .then_some(ExpiryKind::LoneMarker)
            } else {
                let newer = if v.delete_marker { u32::MAX } else { state.noncurrent };
                rules
                    .noncurrent_expired(&subject, state.newer_modified_ms, newer, now, self.day)
                    .then_some(ExpiryKind::Noncurrent)
            };
            if !v.latest && !v.delete_marker {
                state.noncurrent += 1;
            }
            state.newer_modified_ms = v.modified_ms;
            if let Some(kind) = kind {
                // Bytes go with removed versions, not with a current one under a delete marker.
                let freed =
                    !v.delete_marker && (kind == ExpiryKind::Noncurrent || v.version_id == osg_model::NULL_VERSION);
                actions.push(Action {
                    key: v.key.clone(),
                    version_id: v.version_id.clone(),
                    expiry: Expiry {
                        kind,
                        modified_ms: v.modified_ms,
                        tags: v.attrs.tags.clone(),
                    },
                    size: if freed { v.size } else { 0 },
                });
            }
        }
        actions
    }

    async fn act(&self, bucket: &Bucket, a: Action) -> osg_meta::Result<()> {
        let what = match a.expiry.kind {
            ExpiryKind::Current => "current",
            ExpiryKind::Noncurrent => "noncurrent",
            ExpiryKind::LoneMarker => "delete_marker",
        };
        match self.meta.expire(bucket, &a.key, &a.version_id, &a.expiry).await {
            Ok(Some(_)) => {
                metrics::counter!("osg_lifecycle_expired_total", "bucket" => self.bucket.to_owned(), "what" => what)
                    .increment(1);
                metrics::counter!("osg_lifecycle_freed_bytes_total", "bucket" => self.bucket.to_owned())
                    .increment(a.size);
                Ok(())
            }
            Ok(None) => Ok(()),
            // Object Lock wins over lifecycle: the version stays until its lock ends.
            Err(osg_meta::Error::Lock(_)) => {
                metrics::counter!("osg_lifecycle_kept_locked_total", "bucket" => self.bucket.to_owned()).increment(1);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Aborts the bucket's expired uploads; `cursor` is where the versions' pass ended.
    async fn abort_uploads(&mut self, rules: &Lifecycle, cursor: &str) -> osg_meta::Result<bool> {
        let (mut key, mut id) = (String::new(), String::new());
        loop {
            let page = self.meta.list_uploads(self.bucket, "", &key, &id, 1000).await?;
            if !self.renew(cursor).await? {
                return Ok(false);
            }
            let now = now_ms();
            for upload in &page.uploads {
                self.examined += 1;
                if rules
                    .upload_abort(&upload.key, upload.initiated_ms, self.day)
                    .is_none_or(|(at, _)| now < at)
                {
                    continue;
                }
                match self.meta.abort_upload(self.bucket, &upload.upload_id).await {
                    Ok(()) => {
                        metrics::counter!("osg_lifecycle_expired_total", "bucket" => self.bucket.to_owned(), "what" => "upload")
                            .increment(1);
                    }
                    Err(osg_meta::Error::NoSuchUpload) => {}
                    Err(e) => return Err(e),
                }
            }
            self.pace().await;
            match page.uploads.last() {
                Some(last) if page.truncated => (key, id) = (last.key.clone(), last.upload_id.clone()),
                _ => return Ok(true),
            }
        }
    }

    /// Waits until the run has taken as long as examining what it has at its rate takes.
    #[allow(clippy::cast_precision_loss)]
    async fn pace(&self) {
        let due = Duration::from_secs_f64(self.examined as f64 / self.rate as f64);
        if let Some(wait) = due.checked_sub(self.started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
}
