//! Metadata shards: the databases that hold buckets' object metadata (versions and their
//! pieces, multipart uploads and parts, the blob ledger). The catalog, the database the store
//! is opened on, keeps everything else (accounts, users, keys, policies, properties, providers,
//! buckets and the shard each lives on) and is itself shard [`MAIN`]; a single-database
//! deployment has no other. `osg shard add` registers more PostgreSQL databases.
//!
//! A bucket lives on one shard, chosen when it is created (the one with the fewest objects),
//! so everything about its objects, its listings included, is on one database. Every shard
//! has a row for each bucket it holds (`shard_buckets`): writes of the bucket's objects lock
//! it `FOR SHARE`, so that a bucket cannot be deleted under them. The row is keyed by the
//! bucket's incarnation (a fresh id each time a name is created), so a gateway that routes by
//! what it cached before the bucket was deleted and created again elsewhere cannot write to
//! the old shard: it is told `NoSuchBucket` there, looks the route up again and goes on. (Its
//! reads by such a route, for the two seconds a route is trusted, find the old, empty shard:
//! a bucket deleted and created again is new, and empty, anyway.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret as _, SecretString};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Connection as _, Executor, Row};
use tokio::sync::OnceCell;

use crate::batch::{Batcher, Commit, Lease};
use crate::write::{Isolation, Writer, transaction};
use crate::{Backend, Error, Meta, Result, now_ms};

/// The catalog's own shard.
pub const MAIN: &str = "main";

/// How long a gateway trusts a bucket's route without looking at the catalog again (a route
/// changes only when a bucket is deleted and created again).
const ROUTE_TTL: Duration = Duration::from_secs(2);
/// Routes kept before expired ones are swept.
const ROUTES_KEPT: usize = 10_000;

/// One database holding buckets' object metadata, and how this process writes to it.
pub(crate) struct Shard {
    pub(crate) name: String,
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    /// SQLite's writer: group commit of any write, one transaction at a time.
    pub(crate) writer: Writer,
    /// PostgreSQL's group commit of blob leases and of object commits.
    pub(crate) leases: Batcher<Lease>,
    pub(crate) commits: Batcher<Commit>,
    /// Set once this process has brought the shard's schema up to date.
    migrated: OnceCell<()>,
    /// Whether the database answered its last check (see [`watch`]).
    answering: AtomicBool,
}

impl Shard {
    pub(crate) fn new(name: &str, pool: AnyPool, backend: Backend) -> Self {
        Self {
            name: name.to_owned(),
            pool,
            backend,
            writer: Writer::default(),
            leases: Batcher::default(),
            commits: Batcher::default(),
            migrated: OnceCell::new(),
            answering: AtomicBool::new(true),
        }
    }

    /// The PostgreSQL database at `url` as shard `name`, watched.
    pub(crate) fn postgres(name: &str, url: &str) -> Result<Arc<Self>> {
        let shard = Arc::new(Self::new(name, postgres_pool(url)?, Backend::Postgres));
        watch(&shard, SecretString::from(url));
        Ok(shard)
    }

    /// Fails at once while the database does not answer; otherwise creates or upgrades the
    /// shard's schema, once per process (again after a failure: a shard that was down when
    /// first used is migrated when it is back).
    pub(crate) async fn ready(&self) -> Result<&Self> {
        if !self.answering.load(Ordering::Relaxed) {
            return Err(crate::write::failed(&format!(
                "metadata shard {} does not answer",
                self.name
            )));
        }
        self.migrated
            .get_or_try_init(|| crate::schema::migrate(&self.pool, self.backend))
            .await?;
        Ok(self)
    }
}

/// How often, and how patiently, each gateway checks that a shard's database answers.
const WATCH_EVERY: Duration = Duration::from_secs(1);
const WATCH_TIMEOUT: Duration = Duration::from_secs(2);

/// Checks every second, on a connection of its own, that `shard`'s database answers. While it
/// does not, requests for its buckets fail at once (a 503) instead of each waiting for the
/// pool to give up on connecting; the pool cannot tell a database that is down from one that
/// is busy, and waits as long for either. Stops when the shard is dropped.
fn watch(shard: &Arc<Shard>, url: SecretString) {
    let shard = Arc::downgrade(shard);
    tokio::spawn(async move {
        let mut conn: Option<AnyConnection> = None;
        let mut tick = tokio::time::interval(WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(shard) = shard.upgrade() else { return };
            let answered = tokio::time::timeout(WATCH_TIMEOUT, async {
                let conn = match &mut conn {
                    Some(conn) => conn,
                    None => conn.insert(AnyConnection::connect(url.expose_secret()).await?),
                };
                conn.ping().await
            })
            .await;
            let answers = matches!(answered, Ok(Ok(())));
            if !answers {
                conn = None;
            }
            if shard.answering.swap(answers, Ordering::Relaxed) != answers {
                if answers {
                    tracing::warn!(shard = shard.name, "metadata shard answers again");
                } else {
                    tracing::error!(shard = shard.name, "metadata shard does not answer");
                }
            }
        }
    });
}

/// Where a bucket's object metadata is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) shard: String,
    /// Which creation of the bucket's name this is (see the module's doc).
    pub(crate) incarnation: String,
}

/// The shards this process has opened, and the routes it has looked up.
#[derive(Default)]
pub(crate) struct Shards {
    open: RwLock<HashMap<String, Arc<Shard>>>,
    routes: Mutex<HashMap<String, (Route, Instant)>>,
}

impl Shards {
    pub(crate) fn new(main: Arc<Shard>) -> Self {
        let shards = Self::default();
        shards.open.write().expect("shards").insert(MAIN.to_owned(), main);
        shards
    }

    fn get(&self, name: &str) -> Option<Arc<Shard>> {
        self.open.read().expect("shards").get(name).cloned()
    }

    fn cached_route(&self, bucket: &str) -> Option<Route> {
        let routes = self.routes.lock().expect("routes");
        routes
            .get(bucket)
            .filter(|(_, at)| at.elapsed() < ROUTE_TTL)
            .map(|(route, _)| route.clone())
    }

    pub(crate) fn remember(&self, bucket: &str, route: Route) {
        let mut routes = self.routes.lock().expect("routes");
        if routes.len() >= ROUTES_KEPT {
            routes.retain(|_, (_, at)| at.elapsed() < ROUTE_TTL);
        }
        routes.insert(bucket.to_owned(), (route, Instant::now()));
    }

    pub(crate) fn forget(&self, bucket: &str) {
        self.routes.lock().expect("routes").remove(bucket);
    }
}

/// A registered shard, as `osg shard list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardStats {
    pub name: String,
    pub buckets: i64,
    /// Current objects and their bytes, or why the shard could not be asked.
    pub contents: std::result::Result<(i64, i64), String>,
}

/// What a shard's database URL is sealed to.
pub(crate) fn shard_row(name: &str) -> String {
    format!("shard:{name}")
}

/// A PostgreSQL pool as the store uses it: lazily connected (a shard that is down fails only
/// the requests for its buckets, and is used again once it is back).
pub(crate) fn postgres_pool(url: &str) -> Result<AnyPool> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(16)
        // A database that does not answer turns into a 503 soon, not after sqlx's 30 s.
        .acquire_timeout(Duration::from_secs(5))
        .after_connect(|conn, _| {
            Box::pin(async move {
                // A gateway that stalls inside a transaction (and so holds row locks others
                // wait for) is cut off rather than stopping those writers for ever.
                conn.execute("SET idle_in_transaction_session_timeout = '30s'; SET lock_timeout = '60s'")
                    .await?;
                Ok(())
            })
        })
        // sqlx pings a connection when it comes back to the pool; pinging it again when it is
        // taken would cost a round trip per statement on the request path. A connection idle
        // for a while (the server may have restarted) is still checked.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > Duration::from_secs(5) {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_lazy(url)?;
    Ok(pool)
}

impl Meta {
    /// The shard `name`, opened (and its schema brought up to date) on first use; a shard
    /// registered since this process last looked is found in the catalog.
    pub(crate) async fn shard(&self, name: &str) -> Result<Arc<Shard>> {
        let shard = match self.shards.get(name) {
            Some(shard) => shard,
            None => self.open_shard(name).await?,
        };
        shard.ready().await?;
        Ok(shard)
    }

    async fn open_shard(&self, name: &str) -> Result<Arc<Shard>> {
        let sealed: Option<String> = sqlx::query_scalar("SELECT url FROM shards WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.catalog.pool)
            .await?;
        let sealed = sealed.ok_or_else(|| Error::Corrupt(format!("a bucket names unknown shard {name}")))?;
        let url = self.sealer.open(&shard_row(name), &sealed)?;
        let shard = Shard::postgres(name, url.expose_secret())?;
        let mut open = self.shards.open.write().expect("shards");
        Ok(Arc::clone(open.entry(name.to_owned()).or_insert(shard)))
    }

    /// Where `bucket`'s objects are: cached, or looked up in the catalog when `fresh`.
    pub(crate) async fn route(&self, bucket: &str, fresh: bool) -> Result<Route> {
        if !fresh && let Some(route) = self.shards.cached_route(bucket) {
            return Ok(route);
        }
        let row = sqlx::query("SELECT shard, incarnation FROM buckets WHERE name = $1")
            .bind(bucket)
            .fetch_optional(&self.catalog.pool)
            .await?;
        let Some(row) = row else {
            self.shards.forget(bucket);
            return Err(Error::NoSuchBucket);
        };
        let route = Route {
            shard: row.try_get("shard")?,
            incarnation: row.try_get("incarnation")?,
        };
        self.shards.remember(bucket, route.clone());
        Ok(route)
    }

    /// `bucket`'s shard, as the cached route says (for reads, and writes a stale route cannot
    /// misplace).
    pub(crate) async fn shard_of(&self, bucket: &str) -> Result<Arc<Shard>> {
        let route = self.route(bucket, false).await?;
        self.shard(&route.shard).await
    }

    /// Runs `op` on `bucket`'s shard. A shard that does not hold the bucket (the route was
    /// cached before the bucket was deleted, or created again elsewhere) answers
    /// `NoSuchBucket`; the route is then looked up again, and `op` run again if it changed.
    pub(crate) async fn on_shard<T, F, Fut>(&self, bucket: &str, op: F) -> Result<T>
    where
        F: Fn(Arc<Shard>, Route) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let route = self.route(bucket, false).await?;
        match op(self.shard(&route.shard).await?, route.clone()).await {
            Err(Error::NoSuchBucket) => {
                let fresh = self.route(bucket, true).await?;
                if fresh == route {
                    return Err(Error::NoSuchBucket);
                }
                op(self.shard(&fresh.shard).await?, fresh).await
            }
            done => done,
        }
    }

    /// The shard a new bucket goes to: the one with the fewest objects (as PostgreSQL's
    /// statistics count them), then the fewest buckets. Shards that do not answer are passed
    /// over.
    pub(crate) async fn place_bucket(&self) -> Result<Arc<Shard>> {
        let names = self.shard_names().await?;
        if names.len() == 1 {
            return self.shard(MAIN).await;
        }
        let buckets: Vec<(String, i64)> = sqlx::query_as("SELECT shard, COUNT(*) FROM buckets GROUP BY shard")
            .fetch_all(&self.catalog.pool)
            .await?;
        let mut best: Option<((i64, i64, String), Arc<Shard>)> = None;
        for name in names {
            let Ok(shard) = self.shard(&name).await else {
                continue;
            };
            let objects: std::result::Result<Option<i64>, _> = sqlx::query_scalar(
                "SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'versions' AND schemaname = current_schema()",
            )
            .fetch_optional(&shard.pool)
            .await;
            let Ok(objects) = objects else {
                continue;
            };
            let held = buckets.iter().find(|(s, _)| *s == name).map_or(0, |(_, n)| *n);
            let rank = (objects.unwrap_or(0), held, name);
            if best.as_ref().is_none_or(|(r, _)| rank < *r) {
                best = Some((rank, shard));
            }
        }
        best.map(|(_, shard)| shard)
            .ok_or_else(|| crate::write::failed("no metadata shard answers"))
    }

    /// Every shard's name, [`MAIN`] first.
    pub async fn shard_names(&self) -> Result<Vec<String>> {
        let mut names = vec![MAIN.to_owned()];
        names.extend(
            sqlx::query_scalar::<_, String>("SELECT name FROM shards ORDER BY name")
                .fetch_all(&self.catalog.pool)
                .await?,
        );
        Ok(names)
    }

    /// Registers the PostgreSQL database at `url` as shard `name`, creating its schema. The
    /// URL (which may hold a password) is sealed in the catalog. Refused on a SQLite catalog,
    /// for a name taken, and for a database that is the catalog or a shard already.
    pub async fn add_shard(&self, name: &str, url: &str) -> Result<()> {
        if self.catalog.backend != Backend::Postgres {
            return Err(Error::Invalid(
                "shards need a PostgreSQL catalog (osg gateway --db postgres://...)".into(),
            ));
        }
        if !osg_model::names::is_resource_name(name) {
            return Err(Error::Invalid(format!(
                "shard name {name:?}: use 1 to 63 lowercase letters, digits and hyphens"
            )));
        }
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(Error::Invalid(
                "a shard is a PostgreSQL database (postgres://...)".into(),
            ));
        }
        let shard = Shard::postgres(name, url)?;
        shard.ready().await?;
        // Every store's schema has an id of its own: a database registered twice has one.
        let new = crate::schema::store_id(&shard.pool).await?;
        for existing in self.shard_names().await? {
            if crate::schema::store_id(&self.shard(&existing).await?.pool).await? == new {
                return Err(Error::EntityExists(format!("that database (as shard {existing})")));
            }
        }
        let sealed = self.sealer.seal(&shard_row(name), url);
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            if name == MAIN || Self::exists(&mut tx, "SELECT 1 FROM shards WHERE name = $1", &[name]).await? {
                return Err(Error::EntityExists(format!("shard {name}")));
            }
            sqlx::query("INSERT INTO shards (name, url, added_ms) VALUES ($1, $2, $3)")
                .bind(name)
                .bind(&sealed)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            Ok(())
        })?;
        self.shards.open.write().expect("shards").insert(name.to_owned(), shard);
        Ok(())
    }

    /// Each shard's buckets, current objects and their bytes (`osg shard list`).
    pub async fn shard_stats(&self) -> Result<Vec<ShardStats>> {
        let buckets: Vec<(String, i64)> = sqlx::query_as("SELECT shard, COUNT(*) FROM buckets GROUP BY shard")
            .fetch_all(&self.catalog.pool)
            .await?;
        let mut stats = Vec::new();
        for name in self.shard_names().await? {
            let contents = match self.shard(&name).await {
                Ok(shard) => sqlx::query_as::<_, (i64, i64)>(
                    "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM versions
                     WHERE is_latest = 1 AND delete_marker = 0",
                )
                .fetch_one(&shard.pool)
                .await
                .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            stats.push(ShardStats {
                buckets: buckets.iter().find(|(s, _)| *s == name).map_or(0, |(_, n)| *n),
                name,
                contents,
            });
        }
        Ok(stats)
    }
}

/// PostgreSQL only (`OSG_TEST_META=postgres`): shards are PostgreSQL databases. The shard is
/// a database on `OSG_TEST_POSTGRES_SHARD_URL`'s server when that is set (two servers, as
/// `scripts/testbed/postgres` runs them), else on the catalog's.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::tests::new_version;
    use crate::{Condition, NewBucket, Sealer, new_database};

    struct Sharded {
        /// Two gateways' handles on one catalog.
        gw1: Meta,
        gw2: Meta,
        catalog_url: String,
        shard_url: String,
        owner: String,
    }

    async fn sharded() -> Option<Sharded> {
        if std::env::var("OSG_TEST_META").as_deref() != Ok("postgres") {
            return None;
        }
        let server = std::env::var("OSG_TEST_POSTGRES_URL").unwrap();
        let shard_server = std::env::var("OSG_TEST_POSTGRES_SHARD_URL").unwrap_or_else(|_| server.clone());
        let (catalog_url, shard_url) = (new_database(&server).await, new_database(&shard_server).await);
        let key = Sealer::generate_key();
        let gw1 = Meta::open_postgres(&catalog_url, Sealer::new(&key)).await.unwrap();
        let gw2 = Meta::open_postgres(&catalog_url, Sealer::new(&key)).await.unwrap();
        gw1.add_shard("s2", &shard_url).await.unwrap();
        let owner = gw1.create_account("a").await.unwrap().id;
        Some(Sharded {
            gw1,
            gw2,
            catalog_url,
            shard_url,
            owner,
        })
    }

    impl Sharded {
        async fn create(&self, name: &str) -> String {
            let new = NewBucket {
                name,
                owner: &self.owner,
                region: "us-east-1",
                provider: "walrus",
                object_lock: false,
            };
            let bucket = self
                .gw1
                .create_bucket(new, crate::BucketConfig::default(), 100)
                .await
                .unwrap();
            bucket.shard
        }

        async fn put(meta: &Meta, bucket: &str, key: &str) -> crate::Result<crate::Version> {
            let blob = format!("{}@walrus", uuid::Uuid::new_v4().simple());
            meta.begin_blob(&blob, bucket).await?;
            meta.commit_object(&new_version(bucket, key, &blob), &Condition::None)
                .await
        }
    }

    /// Rows of `table` for `bucket` in the database at `url`.
    async fn rows(url: &str, table: &str, bucket: &str) -> i64 {
        let pool = postgres_pool(url).unwrap();
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE bucket = $1"))
            .bind(bucket)
            .fetch_one(&pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn buckets_spread_and_their_objects_stay_on_their_shard() {
        let Some(s) = sharded().await else { return };
        // No objects anywhere: the shard with fewer buckets, then by name.
        assert_eq!(s.create("one").await, MAIN);
        assert_eq!(s.create("two").await, "s2");
        assert_eq!(s.gw2.bucket("two").await.unwrap().shard, "s2");
        for (bucket, key) in [("one", "k"), ("two", "k"), ("two", "l")] {
            Sharded::put(&s.gw2, bucket, key).await.unwrap();
        }
        // Each object's rows, its pieces and its blobs, on its bucket's shard only.
        for table in ["versions", "pieces", "blobs"] {
            assert_eq!(rows(&s.catalog_url, table, "one").await, 1, "{table}");
            assert_eq!(rows(&s.shard_url, table, "one").await, 0, "{table}");
            assert_eq!(rows(&s.shard_url, table, "two").await, 2, "{table}");
            assert_eq!(rows(&s.catalog_url, table, "two").await, 0, "{table}");
        }
        let page = s.gw1.list_objects("two", "", None, "", 10).await.unwrap();
        assert_eq!(
            page.entries.iter().map(crate::ListEntry::marker).collect::<Vec<_>>(),
            ["k", "l"]
        );
        let upload = s
            .gw1
            .create_upload("two", "mp", &crate::ObjectAttrs::default(), &s.owner)
            .await
            .unwrap();
        assert_eq!(rows(&s.shard_url, "uploads", "two").await, 1);
        assert!(matches!(s.gw1.delete_bucket("two").await, Err(Error::BucketNotEmpty)));
        for key in ["k", "l"] {
            s.gw2.delete_object("two", key, None, crate::BY_O).await.unwrap();
            assert!(matches!(s.gw2.object("two", key).await, Err(Error::NoSuchKey)));
        }
        // Empty but for an upload in progress: deleted, the upload with it.
        s.gw1.delete_bucket("two").await.unwrap();
        assert!(matches!(
            s.gw1.upload("two", &upload.upload_id).await,
            Err(Error::NoSuchBucket)
        ));
        assert_eq!(rows(&s.shard_url, "uploads", "two").await, 0);
        let stats = s.gw1.shard_stats().await.unwrap();
        assert_eq!(
            stats,
            [
                ShardStats {
                    name: MAIN.into(),
                    buckets: 1,
                    contents: Ok((1, 3))
                },
                ShardStats {
                    name: "s2".into(),
                    buckets: 0,
                    contents: Ok((0, 0))
                }
            ]
        );
    }

    /// A gateway that cached a bucket's route before the bucket was deleted and created again
    /// on another shard: its write reaches the bucket where it is now, never the old shard.
    #[tokio::test]
    async fn a_stale_route_is_looked_up_again() {
        let Some(s) = sharded().await else { return };
        assert_eq!(s.create("a1").await, MAIN);
        assert_eq!(s.create("moving").await, "s2");
        // gw2 routes "moving" to s2 from now on (for a while).
        s.gw2.bucket("moving").await.unwrap();
        s.gw1.delete_bucket("moving").await.unwrap();
        assert_eq!(s.create("a2").await, "s2");
        assert_eq!(s.create("moving").await, MAIN);
        Sharded::put(&s.gw2, "moving", "k").await.unwrap();
        assert_eq!(rows(&s.catalog_url, "versions", "moving").await, 1);
        assert_eq!(rows(&s.shard_url, "versions", "moving").await, 0);
        assert_eq!(s.gw2.object("moving", "k").await.unwrap().key, "k");
    }

    /// A shard whose database refuses connections: its buckets' requests fail (the gateway
    /// answers 503), soon; the other shard's go on; new buckets go elsewhere; once it is back,
    /// its buckets work again.
    #[tokio::test]
    async fn a_shard_that_is_down_fails_only_its_buckets() {
        let Some(s) = sharded().await else { return };
        assert_eq!(s.create("up").await, MAIN);
        assert_eq!(s.create("down").await, "s2");
        Sharded::put(&s.gw2, "down", "k").await.unwrap();
        let (server, db) = s.shard_url.rsplit_once('/').unwrap();
        let admin = postgres_pool(&format!("{server}/postgres")).unwrap();
        let outage = |allow: bool| {
            let (admin, db) = (admin.clone(), db.to_owned());
            async move {
                sqlx::query(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS {allow}"))
                    .execute(&admin)
                    .await
                    .unwrap();
                if !allow {
                    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
                        .bind(&db)
                        .execute(&admin)
                        .await
                        .unwrap();
                }
            }
        };
        outage(false).await;
        let started = Instant::now();
        for _ in 0..2 {
            let failed = s.gw2.object("down", "k").await;
            assert!(matches!(failed, Err(Error::Db(_))), "{failed:?}");
            let failed = Sharded::put(&s.gw2, "down", "k2").await;
            assert!(matches!(failed, Err(Error::Db(_))), "{failed:?}");
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
        Sharded::put(&s.gw2, "up", "k").await.unwrap();
        assert_eq!(s.create("new").await, MAIN, "a shard that is down gets no new bucket");
        let stats = s.gw1.shard_stats().await.unwrap();
        assert!(stats[0].contents.is_ok() && stats[1].contents.is_err(), "{stats:?}");
        outage(true).await;
        assert_eq!(s.gw2.object("down", "k").await.unwrap().key, "k");
        Sharded::put(&s.gw2, "down", "k2").await.unwrap();
    }

    #[tokio::test]
    async fn a_shard_is_registered_once() {
        let Some(s) = sharded().await else { return };
        for (name, url) in [("s3", &s.catalog_url), ("s3", &s.shard_url)] {
            let refused = s.gw1.add_shard(name, url).await;
            assert!(matches!(refused, Err(Error::EntityExists(_))), "{refused:?}");
        }
        let other = new_database(&std::env::var("OSG_TEST_POSTGRES_URL").unwrap()).await;
        for name in ["main", "s2"] {
            assert!(matches!(
                s.gw1.add_shard(name, &other).await,
                Err(Error::EntityExists(_))
            ));
        }
        for name in ["", "Upper", "a_b"] {
            assert!(matches!(s.gw1.add_shard(name, &other).await, Err(Error::Invalid(_))));
        }
        assert!(matches!(
            s.gw1.add_shard("s3", "sqlite://x.db").await,
            Err(Error::Invalid(_))
        ));
        s.gw1.add_shard("s3", &other).await.unwrap();
        assert_eq!(s.gw2.shard_names().await.unwrap(), [MAIN, "s2", "s3"]);
    }

    #[tokio::test]
    async fn a_sqlite_store_has_no_shards() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open_sqlite(&dir.path().join("meta.db"), Sealer::new(&Sealer::generate_key()))
            .await
            .unwrap();
        let refused = meta.add_shard("s2", "postgres://127.0.0.1:1/x").await;
        assert!(matches!(refused, Err(Error::Invalid(_))), "{refused:?}");
        assert_eq!(meta.shard_names().await.unwrap(), [MAIN]);
    }
}
