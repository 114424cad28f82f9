//! The shared metadata store: accounts and access keys, buckets, object versions, multipart
//! uploads and the blob bookkeeping that makes writes crash-safe.
//!
//! Every gateway talks to the same store, so nothing a gateway needs to serve a request lives
//! anywhere else. The store speaks sqlx's `Any` driver: SQLite embedded by default; the schema
//! and queries stay portable (`$n` placeholders, 0/1 integers for flags, milliseconds for times).

mod blobs;
mod buckets;
mod error;
mod groups;
mod identity;
mod keys;
mod list;
mod multipart;
mod objects;
mod policies;
mod properties;
mod providers;
mod schema;
mod seal;
mod users;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};
use tokio::sync::Mutex;

pub use self::buckets::{Bucket, BucketAccess, BucketSetting, NewBucket};
pub use self::error::{Error, Result};
pub use self::groups::Group;
pub use self::identity::{Account, Caller, SYSTEM_ACCOUNT};
pub use self::keys::AccessKey;
pub use self::list::{ListEntry, ListPage};
pub use self::multipart::{Part, PartChoice, Upload, UploadPage};
pub use self::objects::{Condition, NewVersion, ObjectAttrs, Piece, Version};
pub use self::policies::{ManagedPolicy, Owner, PolicyVersion};
pub use self::providers::ProviderRecord;
pub use self::seal::{KEY_LEN, Sealer};
pub use self::users::User;

/// Handle on the metadata store; cheap to share behind an `Arc`.
pub struct Meta {
    pool: AnyPool,
    /// SQLite allows one writer; every write takes this first, in turn, which avoids the
    /// `SQLITE_BUSY` a deferred transaction gets when it upgrades to a write lock after
    /// another connection has written.
    writer: Mutex<()>,
    /// Seals secrets (access keys' secrets) before they reach the database.
    sealer: Sealer,
}

impl Meta {
    /// Opens (creating if needed) the SQLite store at `path`; secrets are sealed with `sealer`.
    pub async fn open_sqlite(path: &Path, sealer: Sealer) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL lets readers run beside the writer; FULL makes each commit durable
                    // before the client is answered.
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;")
                        .await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let meta = Self {
            pool,
            writer: Mutex::new(()),
            sealer,
        };
        schema::migrate(&meta.pool).await?;
        Ok(meta)
    }

    async fn begin_write(&self) -> Result<(tokio::sync::MutexGuard<'_, ()>, sqlx::Transaction<'_, sqlx::Any>)> {
        let guard = self.writer.lock().await;
        // IMMEDIATE takes SQLite's write lock up front (waiting up to busy_timeout), so other
        // processes on the same file cannot make this transaction fail halfway.
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok((guard, tx))
    }
}

/// Milliseconds since the Unix epoch: the store's one time unit.
#[must_use]
pub fn now_ms() -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
pub(crate) async fn test_store() -> (tempfile::TempDir, Meta) {
    let dir = tempfile::tempdir().unwrap();
    let meta = Meta::open_sqlite(&dir.path().join("meta.db"), Sealer::new(&Sealer::generate_key()))
        .await
        .unwrap();
    (dir, meta)
}

/// Account `a` owning bucket `b` on the embedded provider, for tests.
#[cfg(test)]
pub(crate) async fn test_bucket(meta: &Meta) -> Account {
    let a = meta.create_account("a").await.unwrap();
    let new = NewBucket {
        name: "b",
        owner: &a.id,
        region: "us-east-1",
        provider: "walrus",
    };
    meta.create_bucket(new, BucketAccess::default(), 100).await.unwrap();
    a
}
