//! Write transactions, in turn. SQLite has one writer; on PostgreSQL every write transaction
//! holds an advisory lock ([`WRITE_LOCK`]), so the writers of a whole cluster take turns as
//! they would on SQLite and each sees the last one's result (quotas, key counts, current
//! versions) without retry loops.
//!
//! The writes of the request path ([`Meta::write`]) queue up while a transaction runs and go
//! together into the next one: group commit, one fsync for all of them. Each runs in a
//! savepoint of its own, so one's failure undoes only its part.

use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use sqlx::{Any, AnyConnection, AnyPool, Executor, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

use crate::{Backend, Error, Meta, Result};

/// The PostgreSQL advisory lock every write transaction holds.
const WRITE_LOCK: i64 = 0x6f73_6702;

/// A queued write. Run with the shared transaction (or the reason there is none), it reports
/// whether it succeeded and returns how to tell its caller once the transaction's fate is known.
type Job = Box<dyn for<'c> FnOnce(std::result::Result<&'c mut AnyConnection, &'c str>) -> BoxFuture<'c, Ran> + Send>;
type Ran = (bool, Box<dyn FnOnce(std::result::Result<(), &str>) + Send>);

/// Whose turn it is to write, and the writes waiting for the next turn.
#[derive(Default)]
pub(crate) struct Writer {
    turn: Arc<Mutex<()>>,
    queue: std::sync::Mutex<Vec<Job>>,
}

impl Meta {
    /// Runs `op` in a write transaction shared with the writes queued beside it, and returns
    /// its result once that transaction has committed.
    pub(crate) async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
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
        tokio::spawn(run_batch(self.pool.clone(), self.backend, (turn, queued), batch));
        outcome.await.unwrap_or_else(|_| Err(failed("write abandoned")))
    }

    /// A write transaction of its own, in turn with every other writer of the store.
    pub(crate) async fn begin_write(&self) -> Result<(OwnedMutexGuard<()>, Transaction<'static, Any>)> {
        let queued = Instant::now();
        let turn = Arc::clone(&self.writer.turn).lock_owned().await;
        let tx = begin(&self.pool, self.backend, queued).await?;
        Ok((turn, tx))
    }
}

/// One transaction for `batch`, each write in a savepoint; the caller holds the turn.
async fn run_batch(pool: AnyPool, backend: Backend, turn: (OwnedMutexGuard<()>, Instant), batch: Vec<Job>) {
    metrics::histogram!("osg_db_writes_per_transaction").record(batch.len() as f64);
    let (_turn, queued) = turn;
    // A write alone needs no savepoint: if it fails, the transaction is rolled back.
    let alone = batch.len() == 1;
    let mut tx = begin(&pool, backend, queued).await.map_err(|e| e.to_string());
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

/// A write transaction; the caller holds the turn, which it asked for at `queued`.
async fn begin(pool: &AnyPool, backend: Backend, queued: Instant) -> Result<Transaction<'static, Any>> {
    let tx = match backend {
        // IMMEDIATE takes SQLite's write lock up front (waiting up to busy_timeout), so
        // other processes on the same file cannot make this transaction fail halfway.
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(WRITE_LOCK)
                .execute(&mut *tx)
                .await?;
            tx
        }
    };
    // How long writers queue for their turn, and how busy the pool is.
    metrics::histogram!("osg_db_write_wait_seconds").record(queued.elapsed().as_secs_f64());
    let idle = pool.num_idle();
    metrics::gauge!("osg_db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("osg_db_pool_connections", "state" => "busy").set(f64::from(pool.size()) - idle as f64);
    Ok(tx)
}

/// The error of a shared transaction, for each write that was in it.
fn failed(e: &str) -> Error {
    Error::Db(sqlx::Error::Io(std::io::Error::other(e.to_owned())))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::objects::tests::new_version;
    use crate::{Condition, Error, test_bucket, test_store};

    /// Writes queued behind a running transaction share the next one; one that fails (here
    /// after inserting its version row) is undone alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_commits_together_and_a_failed_write_alone_is_undone() {
        let (_dir, meta) = test_store().await;
        let meta = Arc::new(meta);
        test_bucket(&meta).await;
        for i in (0..16).step_by(2) {
            meta.begin_blob(&format!("blob{i}")).await.unwrap();
        }
        let (turn, tx) = meta.begin_write().await.unwrap();
        let writers: Vec<_> = (0..16)
            .map(|i| {
                let meta = Arc::clone(&meta);
                // Odd writes reference blobs never leased: their commit fails at the end.
                tokio::spawn(async move {
                    let new = new_version("b", &format!("k{i}"), &format!("blob{i}"));
                    meta.commit_object(&new, &Condition::None).await
                })
            })
            .collect();
        while meta.writer.queue.lock().unwrap().len() < 16 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        tx.rollback().await.unwrap();
        drop(turn);
        for (i, w) in writers.into_iter().enumerate() {
            let result = w.await.unwrap();
            if i % 2 == 0 {
                assert_eq!(result.unwrap().key, format!("k{i}"));
                assert_eq!(
                    meta.object("b", &format!("k{i}")).await.unwrap().pieces[0].blob,
                    format!("blob{i}")
                );
            } else {
                assert!(matches!(result, Err(Error::LeaseLost(_))), "{result:?}");
                assert!(matches!(
                    meta.object("b", &format!("k{i}")).await,
                    Err(Error::NoSuchKey)
                ));
            }
        }
        assert!(meta.writer.queue.lock().unwrap().is_empty());
    }
}
