//! Group commit on PostgreSQL for the request path's two hottest writes: a PUT's blob lease
//! ([`crate::Meta::begin_blob`]) and its commit ([`crate::Meta::commit_object`]). Writers
//! queue up while the gateway's batches in flight run and go together into the next one: one
//! statement, one round trip and one commit for all of them (the functions `osg_lease_blobs`
//! and `osg_commit_objects` in `crate::schema`). Two batches of a kind run at once per shard,
//! so a writer waits for at most one batch ahead of its own; batches of different gateways run
//! side by side. (SQLite's group commit is in `crate::write`: one writer, any write.)

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use sqlx::AnyPool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::objects::{Condition, db_size};
use crate::write::{MAX_ATTEMPTS, back_off, failed};
use crate::{Error, Piece, Result, Version, Versioning};

/// How many batches of one kind a gateway runs at once: one on the wire while the next fills.
/// More let writers arriving meanwhile start small batches of their own, and lose PostgreSQL
/// more per commit than they gain (measured: `scripts/bench-cluster`).
const SLOTS: usize = 2;
/// Most writes in one batch: a batch run again with its commits isolated makes each a
/// subtransaction, and PostgreSQL keeps up to 64 of a transaction's in shared memory before
/// every snapshot gets slower.
const MAX_BATCH: usize = 48;

/// A write that goes into batches: how a batch of them runs.
pub(crate) trait Batched: Sized + Send + Sync + 'static {
    type Output: Send + 'static;
    /// Runs `batch` in one statement; one outcome per write, in order.
    fn run(pool: &AnyPool, batch: &[&Self]) -> impl Future<Output = Result<Vec<Outcome<Self::Output>>>> + Send;
}

/// What became of one write of a batch.
pub(crate) enum Outcome<T> {
    Done(Result<T>),
    /// It collided with a concurrent write and was undone; it goes into a later batch.
    Conflict,
}

/// The writes of one kind waiting for a batch.
pub(crate) struct Batcher<W: Batched> {
    queue: std::sync::Mutex<Vec<Waiting<W>>>,
    slots: Arc<Semaphore>,
}

struct Waiting<W: Batched> {
    write: W,
    reply: oneshot::Sender<Result<W::Output>>,
    attempt: u32,
}

impl<W: Batched> Default for Batcher<W> {
    fn default() -> Self {
        Self {
            queue: std::sync::Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(SLOTS)),
        }
    }
}

impl<W: Batched> Batcher<W> {
    /// Runs `write` in the next batch and returns its outcome once that has committed.
    pub(crate) async fn submit(&self, pool: &AnyPool, write: W) -> Result<W::Output> {
        let (reply, mut outcome) = oneshot::channel();
        let queued = Instant::now();
        self.queue.lock().expect("batch queue").push(Waiting {
            write,
            reply,
            attempt: 0,
        });
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .expect("slots never close");
        metrics::histogram!("osg_db_write_wait_seconds").record(queued.elapsed().as_secs_f64());
        // A batch that started meanwhile may have taken this write, and others may be waiting.
        if let Ok(done) = outcome.try_recv() {
            return done;
        }
        let batch = self.take();
        if !batch.is_empty() {
            // A task of its own: a caller that goes away (its client hung up) cannot abandon
            // the writes of the others in its batch.
            tokio::spawn(run(pool.clone(), slot, batch));
        }
        outcome.await.unwrap_or_else(|_| Err(failed("write abandoned")))
    }

    /// Up to a batch's worth of waiting writes, the oldest first. Every write's caller takes
    /// from the queue once it holds a slot, so none is left behind.
    fn take(&self) -> Vec<Waiting<W>> {
        let mut queue = self.queue.lock().expect("batch queue");
        let n = queue.len().min(MAX_BATCH);
        queue.drain(..n).collect()
    }
}

/// Runs `batch` while holding `_slot`, trying its conflicting writes again (with back-off)
/// until each has an outcome, and tells each caller.
async fn run<W: Batched>(pool: AnyPool, _slot: OwnedSemaphorePermit, mut batch: Vec<Waiting<W>>) {
    while !batch.is_empty() {
        metrics::histogram!("osg_db_writes_per_transaction").record(batch.len() as f64);
        let outcomes = W::run(&pool, &batch.iter().map(|w| &w.write).collect::<Vec<_>>()).await;
        let mut again = Vec::new();
        match outcomes {
            Ok(outcomes) => {
                for (waiting, outcome) in batch.into_iter().zip(outcomes) {
                    match outcome {
                        Outcome::Done(result) => {
                            let _ = waiting.reply.send(result);
                        }
                        Outcome::Conflict if waiting.attempt + 1 < MAX_ATTEMPTS => again.push(waiting),
                        Outcome::Conflict => {
                            let _ = waiting.reply.send(Err(failed("write conflicted too often")));
                        }
                    }
                }
            }
            // A conflict of the whole statement (none is expected: each write's are caught in
            // its subtransaction): the batch is run again.
            Err(e) if crate::write::is_conflict(&e) => {
                for waiting in batch {
                    if waiting.attempt + 1 < MAX_ATTEMPTS {
                        again.push(waiting);
                    } else {
                        let _ = waiting.reply.send(Err(failed("write conflicted too often")));
                    }
                }
            }
            Err(e) => {
                let e = e.to_string();
                for waiting in batch {
                    let _ = waiting.reply.send(Err(failed(&e)));
                }
            }
        }
        for waiting in &mut again {
            waiting.attempt += 1;
        }
        if let Some(first) = again.first() {
            metrics::counter!("osg_db_write_conflicts_total").increment(again.len() as u64);
            back_off(first.attempt).await;
        }
        batch = again;
    }
}

/// A blob lease to record (see [`crate::Meta::begin_blob`]), as `osg_lease_blobs` takes it.
#[derive(Clone, Serialize)]
pub(crate) struct Lease {
    pub(crate) id: String,
    pub(crate) provider: String,
    pub(crate) bucket: String,
    pub(crate) incarnation: String,
    pub(crate) due: i64,
}

impl Batched for Lease {
    type Output = ();

    async fn run(pool: &AnyPool, batch: &[&Self]) -> Result<Vec<Outcome<()>>> {
        let outcomes = call(pool, "SELECT osg_lease_blobs($1)", batch).await?;
        Ok(outcomes
            .iter()
            .map(|outcome| {
                Outcome::Done(match outcome.as_str() {
                    "ok" => Ok(()),
                    "NoSuchBucket" => Err(Error::NoSuchBucket),
                    other => Err(Error::Corrupt(format!("osg_lease_blobs answered {other}"))),
                })
            })
            .collect())
    }
}

/// Calls the batch function of `sql` with `batch`; one outcome per write, in order.
async fn call<W: Serialize>(pool: &AnyPool, sql: &str, batch: &[&W]) -> Result<Vec<String>> {
    let answer: String = sqlx::query_scalar(sql)
        .bind(serde_json::to_string(batch)?)
        .fetch_one(pool)
        .await?;
    let outcomes: Vec<String> = serde_json::from_str(&answer)?;
    if outcomes.len() != batch.len() {
        return Err(Error::Corrupt(format!("a batch of {} answered {answer}", batch.len())));
    }
    Ok(outcomes)
}

/// A version to make current (see [`crate::Meta::commit_object`]), as `osg_commit_objects` takes it.
#[derive(Serialize)]
pub(crate) struct Commit {
    bucket: String,
    incarnation: String,
    key: String,
    version_id: String,
    condition: &'static str,
    expected: String,
    size: i64,
    etag: String,
    modified_ms: i64,
    parts_count: Option<i64>,
    /// The stored document (JSON in a string), without its lock.
    attrs: String,
    /// The version's Object Lock settings (JSON, `{}` for none).
    lock: String,
    owner: String,
    pieces: Vec<Piece>,
    dead_due: i64,
    #[serde(skip)]
    version: Version,
}

impl Commit {
    pub(crate) fn new(version: Version, incarnation: &str, condition: &Condition) -> Result<Self> {
        let (condition, expected) = match condition {
            Condition::None => ("none", String::new()),
            Condition::Absent => ("absent", String::new()),
            Condition::ETag(etag) => ("etag", etag.clone()),
            Condition::NotETag(etag) => ("not_etag", etag.clone()),
        };
        Ok(Self {
            bucket: version.bucket.clone(),
            incarnation: incarnation.to_owned(),
            key: version.key.clone(),
            version_id: version.version_id.clone(),
            condition,
            expected,
            size: db_size(version.size),
            etag: version.etag.clone(),
            modified_ms: version.modified_ms,
            parts_count: version.parts_count.map(i64::from),
            attrs: serde_json::to_string(&osg_model::ObjectAttrs {
                lock: osg_model::VersionLock::default(),
                ..version.attrs.clone()
            })?,
            lock: serde_json::to_string(&version.attrs.lock)?,
            owner: version.owner.clone(),
            pieces: version.pieces.clone(),
            dead_due: version.modified_ms + crate::blobs::DEAD_GRACE_MS,
            version,
        })
    }
}

impl Batched for Commit {
    type Output = Version;

    async fn run(pool: &AnyPool, batch: &[&Self]) -> Result<Vec<Outcome<Version>>> {
        // Commits rarely fail (a racing first write of a key, a lost blob lease): a batch runs
        // whole, and only one that failed runs again with each commit isolated, which costs a
        // subtransaction per commit.
        let outcomes = match call(pool, "SELECT osg_commit_objects($1, false)", batch).await {
            Ok(outcomes) => outcomes,
            Err(Error::Db(sqlx::Error::Database(_))) => {
                call(pool, "SELECT osg_commit_objects($1, true)", batch).await?
            }
            Err(e) => return Err(e),
        };
        Ok(batch
            .iter()
            .zip(outcomes)
            .map(|(commit, outcome)| outcome_of(&commit.version, &outcome))
            .collect())
    }
}

/// A commit's outcome as `osg_commit_objects` reports it.
fn outcome_of(version: &Version, outcome: &str) -> Outcome<Version> {
    // `ok VERSIONING VERSION_ID`: how the bucket's versioning made the write.
    if let Some((versioning, id)) = outcome.strip_prefix("ok ").and_then(|rest| rest.rsplit_once(' ')) {
        let Some(versioning) = Versioning::parse(versioning) else {
            return Outcome::Done(Err(Error::Corrupt(format!("bucket versioning {versioning:?}"))));
        };
        let mut version = version.clone();
        version.version_id = id.to_owned();
        version.versioning = versioning;
        return Outcome::Done(Ok(version));
    }
    let result = match outcome {
        "NoSuchBucket" => Err(Error::NoSuchBucket),
        "NoSuchKey" => Err(Error::NoSuchKey),
        "PreconditionFailed" => Err(Error::PreconditionFailed),
        "NoObjectLock" => Err(osg_model::LockError::NotEnabled.into()),
        _ => match outcome.strip_prefix("error ").and_then(|e| e.split_once(' ')) {
            Some(("OSG01", blob)) => Err(Error::LeaseLost(blob.to_owned())),
            // A racing first write of the key, a deadlock, a serialization failure.
            Some(("23505" | "40P01" | "40001", _)) => return Outcome::Conflict,
            _ => Err(failed(outcome)),
        },
    };
    Outcome::Done(result)
}
