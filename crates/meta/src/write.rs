//! Write transactions. No lock is shared by the writers of the whole cluster: a write locks
//! what it touches and nothing more.
//!
//! - **PostgreSQL.** Every write is a transaction of its own, run beside the others; concurrent
//!   commits share PostgreSQL's WAL flushes (its group commit). Writes on the request path
//!   (objects, parts, blob leases) run under READ COMMITTED and lock the rows they depend on:
//!   the bucket row `FOR SHARE` (so a bucket cannot be deleted under them), the key's version
//!   row by deleting or updating it. Identity and catalog writes run SERIALIZABLE, so their
//!   checks (name taken, key limits, nothing left to delete) hold without explicit locks.
//!   Two writes that collide (the same key's first version inserted twice, a serialization
//!   failure, a deadlock) make one of them fail; it is run again, with back-off, a bounded
//!   number of times, never surfaced as an error unless the conflict persists.
//! - **SQLite.** One writer at a time (its database lock). The request path's writes queue up
//!   while a transaction runs and go together into the next one: group commit, one fsync for
//!   all of them, each in a savepoint of its own so one's failure undoes only its part.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use sqlx::{Any, AnyConnection, AnyPool, Executor, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

use crate::shard::Shard;
use crate::{Backend, Error, Result};

/// How often a conflicting write is tried before its error is returned.
pub(crate) const MAX_ATTEMPTS: u32 = 30;

/// How a write transaction sees concurrent ones on PostgreSQL (SQLite has one writer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isolation {
    /// Each statement sees what committed before it; the write locks the rows it depends on.
    ReadCommitted,
    /// One snapshot; a concurrent change to what the transaction read fails it (to be run
    /// again): checks hold without locks.
    Serializable,
}

/// A write on the request path: run with a connection inside a transaction (or given the
/// reason there is none). It may run more than once, so it is `Fn`.
pub(crate) type WriteFn<T> = Box<dyn for<'c> Fn(&'c mut AnyConnection) -> BoxFuture<'c, Result<T>> + Send + Sync>;

/// A queued SQLite write. Run with the shared transaction (or the reason there is none), it
/// reports whether it succeeded and returns how to tell its caller once the transaction's
/// fate is known.
type Job = Box<dyn for<'c> FnOnce(std::result::Result<&'c mut AnyConnection, &'c str>) -> BoxFuture<'c, Ran> + Send>;
type Ran = (bool, Box<dyn FnOnce(std::result::Result<(), &str>) + Send>);

/// SQLite's writer: whose turn it is, and the writes waiting for the next turn.
#[derive(Default)]
pub(crate) struct Writer {
    turn: Arc<Mutex<()>>,
    queue: std::sync::Mutex<Vec<Job>>,
}

/// Runs `$body`, an expression of type `Result<T>` that uses the write transaction `$tx`, and
/// commits when it succeeds. A conflict with a concurrent transaction runs it again (see the
/// module's doc), so the body must have no effect but on the database.
macro_rules! transaction {
    ($meta:expr, $isolation:expr, |$tx:ident| $body:expr) => {{
        let meta: &$crate::shard::Shard = $meta;
        let mut attempt = 0;
        loop {
            let (turn, mut $tx) = meta.begin_write($isolation).await?;
            let result = async { $body }.await;
            let result = match result {
                Ok(value) => $tx.commit().await.map(|()| value).map_err($crate::Error::from),
                Err(e) => Err(e),
            };
            drop(turn);
            match result {
                Err(e) if meta.conflicted(&e, attempt) => {
                    attempt += 1;
                    $crate::write::back_off(attempt).await;
                }
                done => break done,
            }
        }
    }};
}
pub(crate) use transaction;

impl Shard {
    /// Runs a request-path write and returns its result once committed: on PostgreSQL in a
    /// transaction of its own (READ COMMITTED, run again on conflict), on SQLite in the next
    /// group commit.
    pub(crate) async fn write<T: Send + 'static>(&self, op: WriteFn<T>) -> Result<T> {
        match self.backend {
            Backend::Postgres => {
                let op = &op;
                transaction!(self, Isolation::ReadCommitted, |tx| op(&mut tx).await)
            }
            Backend::Sqlite => self.group_commit(op).await,
        }
    }

    /// Runs a request-path write that is one statement (or one call of a function of the
    /// store's): on PostgreSQL without a transaction around it, so that it costs one round
    /// trip and commits by itself (run again on conflict); on SQLite in the next group commit.
    pub(crate) async fn write_single<T: Send + 'static>(&self, op: WriteFn<T>) -> Result<T> {
        if self.backend == Backend::Sqlite {
            return self.group_commit(op).await;
        }
        let mut attempt = 0;
        loop {
            let queued = Instant::now();
            let mut conn = self.pool.acquire().await?;
            waited(&self.pool, queued);
            match op(&mut conn).await {
                Err(e) if self.conflicted(&e, attempt) => {
                    attempt += 1;
                    back_off(attempt).await;
                }
                done => break done,
            }
        }
    }

    /// SQLite: queues `op` for the next group commit.
    async fn group_commit<T: Send + 'static>(&self, op: WriteFn<T>) -> Result<T> {
        let (reply, mut outcome) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let result = match conn {
                    Ok(conn) => op(conn).await,
                    Err(e) => Err(failed(e)),
                };
                let ran: Ran = (
                    result.is_ok(),
                    Box::new(move |committed| {
                        let _ = reply.send(result.and_then(|v| committed.map(|()| v).map_err(failed)));
                    }),
                );
                ran
            })
        });
        let queued = Instant::now();
        self.writer.queue.lock().expect("write queue").push(job);
        let turn = Arc::clone(&self.writer.turn).lock_owned().await;
        // The writer before took this write into its transaction: the turn is handed on only
        // after the outcome is.
        if let Ok(result) = outcome.try_recv() {
            return result;
        }
        let batch = std::mem::take(&mut *self.writer.queue.lock().expect("write queue"));
        // A task of its own: a caller that goes away (its client hung up) cannot abandon the
        // writes of the others in its batch.
        tokio::spawn(run_batch(self.pool.clone(), (turn, queued), batch));
        outcome.await.unwrap_or_else(|_| Err(failed("write abandoned")))
    }

    /// A write transaction of its own; on SQLite, in turn with every other writer of the
    /// store. Use through [`transaction!`], which commits it and runs it again on conflict.
    pub(crate) async fn begin_write(
        &self,
        isolation: Isolation,
    ) -> Result<(Option<OwnedMutexGuard<()>>, Transaction<'static, Any>)> {
        let queued = Instant::now();
        let (turn, tx) = match self.backend {
            Backend::Sqlite => {
                let turn = Arc::clone(&self.writer.turn).lock_owned().await;
                (Some(turn), begin(&self.pool, Backend::Sqlite, queued).await?)
            }
            Backend::Postgres => {
                let mut tx = begin(&self.pool, Backend::Postgres, queued).await?;
                if isolation == Isolation::Serializable {
                    tx.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE").await?;
                }
                (None, tx)
            }
        };
        Ok((turn, tx))
    }

    /// Whether `e` is a conflict with a concurrent write that trying again may resolve, and
    /// the write has tries left.
    pub(crate) fn conflicted(&self, e: &Error, attempt: u32) -> bool {
        let conflict = match self.backend {
            Backend::Postgres => is_conflict(e),
            // SQLITE_BUSY: another process (an admin command) held the database too long.
            Backend::Sqlite => matches!(e, Error::Db(sqlx::Error::Database(db)) if db.code().as_deref() == Some("5")),
        };
        if conflict {
            metrics::counter!("osg_db_write_conflicts_total").increment(1);
        }
        conflict && attempt + 1 < MAX_ATTEMPTS
    }
}

/// PostgreSQL: whether `e` is a collision with a concurrent write (a serialization failure, a
/// deadlock, a racing insert of the same key) that running the write again may resolve.
pub(crate) fn is_conflict(e: &Error) -> bool {
    match e {
        Error::Conflict => true,
        Error::Db(sqlx::Error::Database(db)) => matches!(db.code().as_deref(), Some("40001" | "40P01" | "23505")),
        _ => false,
    }
}

/// A row lock a write takes on a row it reads (on PostgreSQL; SQLite's writer holds the whole
/// database).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lock {
    /// The row must not change or go until the write commits (its bucket, its upload).
    Share,
    /// The write changes the row: others wait.
    Update,
}

impl Lock {
    /// The clause to end the `SELECT` with.
    pub(crate) fn sql(self, backend: Backend) -> &'static str {
        match (backend, self) {
            (Backend::Sqlite, _) => "",
            (Backend::Postgres, Self::Share) => " FOR SHARE",
            (Backend::Postgres, Self::Update) => " FOR UPDATE",
        }
    }
}

/// Waits before the next try of a conflicting write: exponential from 1 ms to 64 ms, with
/// jitter so that colliding writers do not collide again.
pub(crate) async fn back_off(attempt: u32) {
    let ceiling = 1u64 << attempt.min(6);
    let jitter = u64::from(rand_u32()) % (ceiling * 1000);
    tokio::time::sleep(Duration::from_micros(ceiling * 500 + jitter / 2)).await;
}

fn rand_u32() -> u32 {
    uuid::Uuid::new_v4().as_fields().0
}

/// One transaction for `batch`, each write in a savepoint; the caller holds the turn.
async fn run_batch(pool: AnyPool, turn: (OwnedMutexGuard<()>, Instant), batch: Vec<Job>) {
    metrics::histogram!("osg_db_writes_per_transaction").record(batch.len() as f64);
    let (_turn, queued) = turn;
    // A write alone needs no savepoint: if it fails, the transaction is rolled back.
    let alone = batch.len() == 1;
    let mut tx = begin(&pool, Backend::Sqlite, queued).await.map_err(|e| e.to_string());
    let mut told = Vec::with_capacity(batch.len());
    for job in batch {
        if let (Ok(t), false) = (&mut tx, alone)
            && let Err(e) = savepoint(t, "SAVEPOINT w").await
        {
            tx = Err(e);
        }
        let (ok, tell) = job(tx.as_mut().map(|t| &mut **t).map_err(|e| e.as_str())).await;
        told.push(tell);
        if let Ok(t) = &mut tx {
            let ended = match (alone, ok) {
                (true, true) => Ok(()),
                (true, false) => Err("rolled back".to_owned()),
                (false, true) => savepoint(t, "RELEASE SAVEPOINT w").await,
                (false, false) => savepoint(t, "ROLLBACK TO SAVEPOINT w; RELEASE SAVEPOINT w").await,
            };
            if let Err(e) = ended {
                tx = Err(e);
            }
        }
    }
    let committed = match tx {
        Ok(tx) => tx.commit().await.map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    for tell in told {
        tell(committed.as_ref().map(drop).map_err(String::as_str));
    }
}

async fn savepoint(tx: &mut Transaction<'static, Any>, statement: &str) -> std::result::Result<(), String> {
    tx.execute(statement).await.map(drop).map_err(|e| e.to_string())
}

/// A write transaction, asked for at `queued`.
async fn begin(pool: &AnyPool, backend: Backend, queued: Instant) -> Result<Transaction<'static, Any>> {
    let tx = match backend {
        // IMMEDIATE takes SQLite's write lock up front (waiting up to busy_timeout), so
        // other processes on the same file cannot make this transaction fail halfway.
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => pool.begin().await?,
    };
    waited(pool, queued);
    Ok(tx)
}

/// Records how long a writer waited to start (its turn on SQLite, a connection on
/// PostgreSQL) since `queued`, and how busy the pool is.
fn waited(pool: &AnyPool, queued: Instant) {
    metrics::histogram!("osg_db_write_wait_seconds").record(queued.elapsed().as_secs_f64());
    let idle = pool.num_idle();
    metrics::gauge!("osg_db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("osg_db_pool_connections", "state" => "busy").set(f64::from(pool.size()) - idle as f64);
}

/// The error of a shared transaction, for each write that was in it.
pub(crate) fn failed(e: &str) -> Error {
    Error::Db(sqlx::Error::Io(std::io::Error::other(e.to_owned())))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::objects::tests::new_version;
    use crate::{Backend, Condition, Error, test_bucket, test_store};

    /// SQLite: writes queued behind a running transaction share the next one; one that fails
    /// (here after inserting its version row) is undone alone. PostgreSQL: the same writes
    /// run side by side, with the same outcome.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_commit_and_a_failed_one_alone_is_undone() {
        let (_dir, meta) = test_store().await;
        let meta = Arc::new(meta);
        test_bucket(&meta).await;
        for i in (0..16).step_by(2) {
            meta.begin_blob(&format!("blob{i}@walrus"), "b").await.unwrap();
        }
        // On SQLite, hold the writer's turn so that the writes queue up into one batch.
        let held = match meta.catalog.backend {
            Backend::Sqlite => Some(meta.catalog.begin_write(super::Isolation::ReadCommitted).await.unwrap()),
            Backend::Postgres => None,
        };
        let writers: Vec<_> = (0..16)
            .map(|i| {
                let meta = Arc::clone(&meta);
                // Odd writes reference blobs never leased: their commit fails at the end.
                tokio::spawn(async move {
                    let new = new_version("b", &format!("k{i}"), &format!("blob{i}@walrus"));
                    meta.commit_object(&new, &Condition::None).await
                })
            })
            .collect();
        if let Some((turn, tx)) = held {
            while meta.catalog.writer.queue.lock().unwrap().len() < 16 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            tx.rollback().await.unwrap();
            drop(turn);
        }
        for (i, w) in writers.into_iter().enumerate() {
            let result = w.await.unwrap();
            if i % 2 == 0 {
                assert_eq!(result.unwrap().key, format!("k{i}"));
                assert_eq!(
                    meta.object("b", &format!("k{i}")).await.unwrap().pieces[0].blob,
                    format!("blob{i}@walrus")
                );
            } else {
                assert!(matches!(result, Err(Error::LeaseLost(_))), "{result:?}");
                assert!(matches!(
                    meta.object("b", &format!("k{i}")).await,
                    Err(Error::NoSuchKey)
                ));
            }
        }
        assert!(meta.catalog.writer.queue.lock().unwrap().is_empty());
    }
}
