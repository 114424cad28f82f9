//! The shared metadata store: accounts and access keys, buckets, object versions, multipart
//! uploads and the blob bookkeeping that makes writes crash-safe.
//!
//! Every gateway talks to the same store, so nothing a gateway needs to serve a request lives
//! anywhere else. The store speaks sqlx's `Any` driver: SQLite embedded by default, PostgreSQL
//! for many gateways; the schema and queries stay portable (`$n` placeholders, 0/1 integers for
//! flags, milliseconds for times).

mod batch;
mod blobs;
mod buckets;
#[cfg(test)]
mod concurrency;
mod error;
mod groups;
mod identity;
mod keys;
mod lifecycle;
mod list;
mod multipart;
mod objects;
mod policies;
mod properties;
mod providers;
mod rewrap;
mod schema;
mod seal;
mod shard;
mod usage;
mod users;
mod write;

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Executor;
use sqlx::any::AnyPoolOptions;

pub use self::buckets::{Bucket, BucketStats, NewBucket};
pub use self::error::{Error, Result};
pub use self::groups::Group;
pub use self::identity::{Account, Caller, SYSTEM_ACCOUNT};
pub use self::keys::{AccessKey, new_key_pair};
pub use self::lifecycle::Claimed;
pub use self::list::{ListEntry, ListPage, VersionEntry, VersionPage};
pub use self::multipart::{Completion, NewPart, Part, PartChoice, Upload, UploadPage};
pub use self::objects::{Condition, Deleted, Deleter, Expiry, ExpiryKind};
pub use self::policies::{ManagedPolicy, Owner, PolicyVersion};
pub use self::rewrap::Rewrapped;
pub use self::seal::{KEY_LEN, Sealer};
use self::shard::Shard;
pub use self::shard::{MAIN, ShardStats};
pub use self::users::User;
pub use osg_model::{
    BucketConfig, ChecksumType, LockConfig, LockError, MultipartChecksum, NULL_VERSION, NewVersion, ObjectAttrs, Piece,
    ProviderRecord, Retention, RetentionMode, Version, VersionLock, Versioning,
};

/// Which database the store is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// Handle on the metadata store; cheap to share behind an `Arc`.
pub struct Meta {
    /// The database the store was opened on: identity, settings, buckets and their shards;
    /// also shard [`MAIN`].
    catalog: Arc<Shard>,
    shards: shard::Shards,
    /// Seals secrets (access keys' secrets, provider credentials, shard URLs) before they
    /// reach the database.
    sealer: Sealer,
}

impl Meta {
    /// The master key's sealer, which also seals the data keys of SSE-S3 objects.
    #[must_use]
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// Opens the store `url` names: `postgres://...`, or a SQLite file (`sqlite://PATH` or a
    /// plain path), creating the schema if needed; secrets are sealed with `sealer`.
    pub async fn open(url: &str, sealer: Sealer) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::open_postgres(url, sealer).await
        } else {
            Self::open_sqlite(Path::new(url.strip_prefix("sqlite://").unwrap_or(url)), sealer).await
        }
    }

    /// Opens the PostgreSQL store at `url`, creating the schema if needed.
    pub async fn open_postgres(url: &str, sealer: Sealer) -> Result<Self> {
        Self::with_catalog(Shard::postgres(MAIN, url)?, sealer).await
    }

    /// Fails when the database does not answer.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.catalog.pool).await?;
        Ok(())
    }

    /// Opens (creating if needed) the SQLite store at `path`; secrets are sealed with `sealer`.
    /// The database file is the owner's alone (0600), and so are its WAL and shared-memory
    /// files, which SQLite creates with the database file's mode.
    pub async fn open_sqlite(path: &Path, sealer: Sealer) -> Result<Self> {
        sqlx::any::install_default_drivers();
        private_file(path)?;
        // A store made by an older version may have them already, with wider modes.
        for suffix in ["-wal", "-shm"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            if Path::new(&side).exists() {
                private_file(Path::new(&side))?;
            }
        }
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
            .after_release(|conn, _| Box::pin(clean_after_release(conn)))
            .connect(&url)
            .await?;
        Self::with_catalog(Arc::new(Shard::new(MAIN, pool, Backend::Sqlite)), sealer).await
    }

    /// The store whose catalog is `catalog`, its schema created or brought up to date.
    async fn with_catalog(catalog: Arc<Shard>, sealer: Sealer) -> Result<Self> {
        catalog.ready().await?;
        Ok(Self {
            shards: shard::Shards::new(Arc::clone(&catalog)),
            catalog,
            sealer,
        })
    }
}

/// Creates `path` (mode 0600) unless it exists, and takes group and other permissions away
/// from it if it does.
fn private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(sqlx::Error::Io)?;
    let mut permissions = file.metadata().map_err(sqlx::Error::Io)?.permissions();
    if permissions.mode() & 0o077 != 0 {
        permissions.set_mode(permissions.mode() & 0o700);
        file.set_permissions(permissions).map_err(sqlx::Error::Io)?;
    }
    Ok(())
}

/// Whether a connection handed back to the pool may serve again. A transaction whose COMMIT
/// or ROLLBACK failed (SQLite rolls back by itself when the disk is full) leaves sqlx believing
/// the connection is still inside it, and every later `BEGIN` on it fails: such a connection
/// is closed instead. The ping first lets a rollback queued by a dropped transaction run.
/// (PostgreSQL ends a transaction whose COMMIT fails, so its connections need no such check.)
async fn clean_after_release(conn: &mut sqlx::AnyConnection) -> std::result::Result<bool, sqlx::Error> {
    use sqlx::Connection as _;
    conn.ping().await?;
    Ok(!conn.is_in_transaction())
}

/// Milliseconds since the Unix epoch: the store's one time unit.
#[must_use]
pub fn now_ms() -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A fresh, empty store for a test: SQLite in a temp dir, or, with `OSG_TEST_META=postgres`, a
/// new database on the server `OSG_TEST_POSTGRES_URL` names (`scripts/testbed/postgres`).
/// A deleter for tests: owner `o`, no bypass.
#[cfg(test)]
pub(crate) const BY_O: Deleter<'static> = Deleter {
    owner: "o",
    bypass_governance: false,
};

#[cfg(test)]
pub(crate) async fn test_store() -> (tempfile::TempDir, Meta) {
    let (dir, url) = test_url().await;
    let meta = Meta::open(&url, Sealer::new(&Sealer::generate_key())).await.unwrap();
    (dir, meta)
}

/// Where [`test_store`] would open a store: to open one several times (with other sealers).
#[cfg(test)]
pub(crate) async fn test_url() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = if std::env::var("OSG_TEST_META").as_deref() == Ok("postgres") {
        let url = std::env::var("OSG_TEST_POSTGRES_URL").expect("OSG_TEST_POSTGRES_URL (scripts/testbed/postgres)");
        new_database(&url).await
    } else {
        dir.path().join("meta.db").to_str().unwrap().to_owned()
    };
    (dir, url)
}

/// Creates an empty database on the PostgreSQL server of `url`; returns its URL.
#[cfg(test)]
pub(crate) async fn new_database(url: &str) -> String {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    let (server, _) = url.rsplit_once('/').unwrap();
    format!("{server}/{name}")
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
        object_lock: false,
    };
    meta.create_bucket(new, crate::BucketConfig::default(), 100)
        .await
        .unwrap();
    a
}
