//! Object versions: what a key currently holds and where its bytes are.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::shard::{Route, Shard};
use crate::write::{Isolation, Lock, transaction};
use crate::{
    Backend, Error, LockConfig, Meta, NULL_VERSION, NewVersion, ObjectAttrs, Piece, Result, Version, Versioning, now_ms,
};

/// A new version id (32 hex digits; see `osg_model::is_version_id`).
pub(crate) fn new_version_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Who deletes: the owner of any delete marker added, and whether GOVERNANCE retention is
/// bypassed.
#[derive(Debug, Clone, Copy)]
pub struct Deleter<'a> {
    pub owner: &'a str,
    pub bypass_governance: bool,
}

/// What a DeleteObject did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// The version removed, or the delete marker added (`None`: an unversioned bucket).
    pub version_id: Option<String>,
    /// Whether that version is a delete marker.
    pub delete_marker: bool,
}

/// A conditional write, checked against the current version inside the commit.
#[derive(Debug, Clone, Default)]
pub enum Condition {
    #[default]
    None,
    /// `If-None-Match: *`: only if the key holds no object.
    Absent,
    /// `If-Match: etag`: only if the current object has this ETag (`*` for any).
    ETag(String),
    /// `If-None-Match: etag`: only if the key holds no object, or one with another ETag.
    NotETag(String),
}

impl Condition {
    /// Whether a write may replace `current`, the ETag of the key's object (`None`: the key
    /// holds none). `osg_commit_object` (PL/pgSQL) judges the same way.
    pub fn admits(&self, current: Option<&str>) -> Result<()> {
        match (self, current) {
            (Condition::None, _) | (Condition::Absent | Condition::NotETag(_), None) => Ok(()),
            (Condition::Absent, Some(_)) => Err(Error::PreconditionFailed),
            (Condition::ETag(_), None) => Err(Error::NoSuchKey),
            (Condition::ETag(want), Some(cur)) if want != "*" && want != cur => Err(Error::PreconditionFailed),
            (Condition::NotETag(not), Some(cur)) if not == cur => Err(Error::PreconditionFailed),
            (Condition::ETag(_) | Condition::NotETag(_), Some(_)) => Ok(()),
        }
    }
}

/// The columns [`version_from`] reads.
pub(crate) const VERSION_COLUMNS: &str =
    "bucket, key, version_id, size, etag, modified_ms, parts_count, attrs, owner, is_latest, delete_marker";

/// A version's row, without its pieces (listings need none; [`Meta::object`] adds them).
pub(crate) fn version_from(row: &AnyRow) -> Result<Version> {
    let size: i64 = row.try_get("size")?;
    let parts_count: Option<i64> = row.try_get("parts_count")?;
    let attrs: String = row.try_get("attrs")?;
    Ok(Version {
        bucket: row.try_get("bucket")?,
        key: row.try_get("key")?,
        version_id: row.try_get("version_id")?,
        size: u64::try_from(size).map_err(|_| Error::Corrupt("negative size".into()))?,
        etag: row.try_get("etag")?,
        modified_ms: row.try_get("modified_ms")?,
        parts_count: parts_count.and_then(|n| u32::try_from(n).ok()),
        pieces: Vec::new(),
        attrs: serde_json::from_str(&attrs)?,
        owner: row.try_get("owner")?,
        latest: row.try_get::<i64, _>("is_latest")? != 0,
        delete_marker: row.try_get::<i64, _>("delete_marker")? != 0,
        versioning: Versioning::Unversioned,
    })
}

pub(crate) fn db_size(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

impl Meta {
    /// The current version of `key`, with its pieces, if the key holds an object (its latest
    /// version, not a delete marker).
    pub async fn object(&self, bucket: &str, key: &str) -> Result<Version> {
        match self.object_version(bucket, key, None).await? {
            v if v.delete_marker => Err(Error::NoSuchKey),
            v => Ok(v),
        }
    }

    /// Version `version_id` of `key` (`None`: its latest), delete markers too, with its
    /// pieces and its bucket's versioning. `NoSuchKey` if the key has no versions,
    /// `NoSuchVersion` if it has not that one.
    pub async fn object_version(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<Version> {
        self.on_shard(bucket, |shard, route| async move {
            shard.object_version(&route, bucket, key, version_id).await
        })
        .await
    }

    /// Makes `new` the current version of its key in one transaction: checks the bucket and
    /// `condition`, and as the bucket's versioning says, adds a version or replaces the `null`
    /// one (whose blobs become dead); clears the new blobs' pending leases. Nothing is visible
    /// until this commits.
    pub async fn commit_object(&self, new: &NewVersion, condition: &Condition) -> Result<Version> {
        self.on_shard(&new.bucket, |shard, route| async move {
            shard.commit_object(&route, new, condition).await
        })
        .await
    }

    /// Changes the attributes (ACL, tags) of version `version_id` of `key` (`None`: the
    /// current object) in place; returns the id of the version changed.
    pub async fn update_object_attrs(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        update: impl Fn(&mut ObjectAttrs) -> Result<()> + Send + Sync,
    ) -> Result<String> {
        let update = &update;
        self.on_shard(bucket, |shard, _| async move {
            shard.update_object_attrs(bucket, key, version_id, update).await
        })
        .await
    }

    /// DeleteObject: without a version id, removes the `null` version of an unversioned
    /// bucket's key, or adds a delete marker (owned by `owner`) in a bucket with versioning;
    /// with one, removes that version (the next newest becomes latest). Deleting what is not
    /// there succeeds, as in S3.
    ///
    /// A version under Object Lock is not removed (`LockError::Protected`) unless its
    /// retention is GOVERNANCE and `bypass` (the caller may and asked to bypass it).
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        by: Deleter<'_>,
    ) -> Result<Deleted> {
        self.on_shard(bucket, |shard, route| async move {
            shard.delete_object(&route, bucket, key, version_id, by).await
        })
        .await
    }

    /// The bucket's versioning.
    pub async fn versioning(&self, bucket: &str) -> Result<Versioning> {
        Ok(self.bucket_state(bucket).await?.versioning)
    }

    /// The bucket's Object Lock configuration, if Object Lock is enabled.
    pub async fn object_lock(&self, bucket: &str) -> Result<Option<LockConfig>> {
        Ok(self.bucket_state(bucket).await?.lock)
    }

    async fn bucket_state(&self, bucket: &str) -> Result<BucketState> {
        self.on_shard(bucket, |shard, route| async move {
            let mut conn = shard.pool.acquire().await?;
            bucket_state(&mut conn, bucket, &route.incarnation, "").await
        })
        .await
    }

    /// PutObjectLockConfiguration: enables Object Lock (on a bucket with versioning enabled;
    /// for good) and sets its default retention.
    pub async fn set_object_lock(&self, bucket: &str, config: LockConfig) -> Result<()> {
        self.on_shard(bucket, |shard, route| async move {
            transaction!(&shard, Isolation::ReadCommitted, |tx| {
                let now = bucket_locked(&mut tx, shard.backend, bucket, &route.incarnation).await?;
                osg_model::lock::check_versioning(now.versioning, true)?;
                sqlx::query("UPDATE shard_buckets SET object_lock = $1 WHERE name = $2 AND incarnation = $3")
                    .bind(LockConfig::encode(Some(&config)))
                    .bind(bucket)
                    .bind(&route.incarnation)
                    .execute(&mut *tx)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// PutBucketVersioning: the model says which changes are allowed.
    pub async fn set_versioning(&self, bucket: &str, to: Versioning) -> Result<Versioning> {
        self.on_shard(bucket, |shard, route| async move {
            transaction!(&shard, Isolation::ReadCommitted, |tx| {
                let now = bucket_locked(&mut tx, shard.backend, bucket, &route.incarnation).await?;
                let next = now.versioning.change(to)?;
                osg_model::lock::check_versioning(next, now.lock.is_some())?;
                sqlx::query("UPDATE shard_buckets SET versioning = $1 WHERE name = $2 AND incarnation = $3")
                    .bind(next.as_str())
                    .bind(bucket)
                    .bind(&route.incarnation)
                    .execute(&mut *tx)
                    .await?;
                Ok(next)
            })
        })
        .await
    }
}

fn parse_versioning(stored: &str) -> Result<Versioning> {
    Versioning::parse(stored).ok_or_else(|| Error::Corrupt(format!("bucket versioning {stored:?}")))
}

impl Shard {
    /// See [`Meta::object_version`] (one query: the version's row once per piece).
    pub(crate) async fn object_version(
        &self,
        route: &Route,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Version> {
        let which = if version_id.is_some() {
            "v.version_id = $4"
        } else {
            "v.is_latest = 1"
        };
        let rows = sqlx::query(&format!(
            "SELECT v.bucket, v.key, v.version_id, v.size, v.etag, v.modified_ms, v.parts_count, v.attrs, v.owner,
                    v.is_latest, v.delete_marker, sb.versioning,
                    p.blob AS piece_blob, p.size AS piece_size, p.part_number, p.checksums AS piece_checksums
             FROM versions v
             JOIN shard_buckets sb ON sb.name = v.bucket AND sb.incarnation = $3
             LEFT JOIN pieces p ON p.bucket = v.bucket AND p.key = v.key AND p.version_id = v.version_id
             WHERE v.bucket = $1 AND v.key = $2 AND {which}
             ORDER BY p.seq"
        ))
        .bind(bucket)
        .bind(key)
        .bind(&route.incarnation)
        .bind(version_id.unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        let missing = if version_id.is_some() {
            Error::NoSuchVersion
        } else {
            Error::NoSuchKey
        };
        let first = rows.first().ok_or(missing)?;
        let mut version = version_from(first)?;
        version.versioning = parse_versioning(&first.try_get::<String, _>("versioning")?)?;
        for row in &rows {
            if let Some(blob) = row.try_get::<Option<String>, _>("piece_blob")? {
                let size: i64 = row.try_get("piece_size")?;
                let part: Option<i64> = row.try_get("part_number")?;
                let checksums: String = row.try_get("piece_checksums")?;
                version.pieces.push(Piece {
                    blob,
                    size: u64::try_from(size).map_err(|_| Error::Corrupt("negative size".into()))?,
                    part: part.and_then(|n| u32::try_from(n).ok()),
                    checksums: decode_checksums(&checksums)?,
                });
            }
        }
        Ok(version)
    }

    /// The current object of `key` (for a retried completion).
    pub(crate) async fn object(&self, route: &Route, bucket: &str, key: &str) -> Result<Version> {
        match self.object_version(route, bucket, key, None).await? {
            v if v.delete_marker => Err(Error::NoSuchKey),
            v => Ok(v),
        }
    }

    /// See [`Meta::commit_object`]: on PostgreSQL in the next batch of commits, on SQLite in the
    /// next group commit.
    pub(crate) async fn commit_object(
        &self,
        route: &Route,
        new: &NewVersion,
        condition: &Condition,
    ) -> Result<Version> {
        let mut version = version_of(new, now_ms());
        // Used if the bucket keeps versions; the commit decides.
        version.version_id = new_version_id();
        match self.backend {
            Backend::Postgres => {
                let commit = crate::batch::Commit::new(version, &route.incarnation, condition)?;
                self.commits.submit(&self.pool, commit).await
            }
            Backend::Sqlite => {
                let (condition, incarnation) = (condition.clone(), route.incarnation.clone());
                self.write(Box::new(move |conn| {
                    let (version, condition) = (version.clone(), condition.clone());
                    let incarnation = incarnation.clone();
                    Box::pin(async move { commit_in(conn, Backend::Sqlite, version, &incarnation, &condition).await })
                }))
                .await
            }
        }
    }

    pub(crate) async fn update_object_attrs(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        update: &(impl Fn(&mut ObjectAttrs) -> Result<()> + Send + Sync),
    ) -> Result<String> {
        transaction!(self, Isolation::ReadCommitted, |tx| {
            let row = sqlx::query(&format!(
                "SELECT version_id, attrs, delete_marker FROM versions
                 WHERE bucket = $1 AND key = $2 AND {}{}",
                if version_id.is_some() {
                    "version_id = $3"
                } else {
                    "is_latest = 1"
                },
                Lock::Update.sql(self.backend)
            ))
            .bind(bucket)
            .bind(key)
            .bind(version_id.unwrap_or_default())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                if version_id.is_some() {
                    return Err(Error::NoSuchVersion);
                }
                no_latest_now(&mut tx, bucket, key).await?;
                return Err(Error::NoSuchKey);
            };
            match (row.try_get::<i64, _>("delete_marker")? != 0, version_id) {
                (false, _) => {}
                (true, None) => return Err(Error::NoSuchKey),
                (true, Some(_)) => return Err(Error::DeleteMarker),
            }
            let id: String = row.try_get("version_id")?;
            let mut attrs: ObjectAttrs = serde_json::from_str(&row.try_get::<String, _>("attrs")?)?;
            update(&mut attrs)?;
            sqlx::query("UPDATE versions SET attrs = $1 WHERE bucket = $2 AND key = $3 AND version_id = $4")
                .bind(serde_json::to_string(&attrs)?)
                .bind(bucket)
                .bind(key)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            Ok(id)
        })
    }

    pub(crate) async fn delete_object(
        &self,
        route: &Route,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        by: Deleter<'_>,
    ) -> Result<Deleted> {
        let (bucket, key, backend) = (bucket.to_owned(), key.to_owned(), self.backend);
        let (version_id, owner, bypass) = (version_id.map(str::to_owned), by.owner.to_owned(), by.bypass_governance);
        let incarnation = route.incarnation.clone();
        self.write(Box::new(move |conn| {
            let (bucket, key, incarnation) = (bucket.clone(), key.clone(), incarnation.clone());
            let (version_id, owner) = (version_id.clone(), owner.clone());
            Box::pin(async move {
                let versioning = hold_bucket(&mut *conn, backend, &bucket, &incarnation)
                    .await?
                    .versioning;
                let now = now_ms();
                match (version_id, versioning) {
                    (Some(id), _) => remove_named_version(conn, backend, &bucket, &key, &id, now, bypass).await,
                    (None, Versioning::Unversioned) => {
                        remove_version(&mut *conn, &bucket, &key, NULL_VERSION, now).await?;
                        Ok(Deleted {
                            version_id: None,
                            delete_marker: false,
                        })
                    }
                    (None, versioning) => add_delete_marker(conn, backend, &bucket, &key, versioning, owner, now).await,
                }
            })
        }))
        .await
    }
}

impl Shard {
    /// A lifecycle expiration of version `version_id` of `key`, if it is still what the run
    /// saw (`what`; a client may have changed it since): `None` when it is not, or is gone.
    /// Locked versions are never removed (`LockError::Protected`).
    pub(crate) async fn expire(
        &self,
        route: &Route,
        bucket: &str,
        key: &str,
        version_id: &str,
        what: &Expiry,
        owner: &str,
    ) -> Result<Option<Deleted>> {
        let (bucket, key, version_id, owner) = (
            bucket.to_owned(),
            key.to_owned(),
            version_id.to_owned(),
            owner.to_owned(),
        );
        let (backend, incarnation, what) = (self.backend, route.incarnation.clone(), what.clone());
        self.write(Box::new(move |conn| {
            let (bucket, key, version_id, owner, incarnation) = (
                bucket.clone(),
                key.clone(),
                version_id.clone(),
                owner.clone(),
                incarnation.clone(),
            );
            let what = what.clone();
            Box::pin(async move {
                let versioning = hold_bucket(&mut *conn, backend, &bucket, &incarnation)
                    .await?
                    .versioning;
                let row = sqlx::query(&format!(
                    "SELECT is_latest, delete_marker, modified_ms, attrs FROM versions
                     WHERE bucket = $1 AND key = $2 AND version_id = $3{}",
                    Lock::Update.sql(backend)
                ))
                .bind(&bucket)
                .bind(&key)
                .bind(&version_id)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let latest = row.try_get::<i64, _>("is_latest")? != 0;
                let marker = row.try_get::<i64, _>("delete_marker")? != 0;
                let attrs: ObjectAttrs = serde_json::from_str(&row.try_get::<String, _>("attrs")?)?;
                // Written again (a `null` version replaced) or retagged since the run looked.
                if row.try_get::<i64, _>("modified_ms")? != what.modified_ms || attrs.tags != what.tags {
                    return Ok(None);
                }
                let still = match what.kind {
                    ExpiryKind::Current => latest && !marker,
                    ExpiryKind::Noncurrent => !latest,
                    ExpiryKind::LoneMarker => {
                        let others = "SELECT 1 FROM versions WHERE bucket = $1 AND key = $2 AND is_latest = 0";
                        latest && marker && !Meta::exists(conn, others, &[&bucket, &key]).await?
                    }
                };
                if !still {
                    return Ok(None);
                }
                let now = now_ms();
                let deleted = match what.kind {
                    ExpiryKind::Current if versioning != Versioning::Unversioned => {
                        add_delete_marker(conn, backend, &bucket, &key, versioning, owner, now).await?
                    }
                    _ => remove_named_version(conn, backend, &bucket, &key, &version_id, now, false).await?,
                };
                Ok(Some(deleted))
            })
        }))
        .await
    }
}

/// What a lifecycle run expires: the current version, a noncurrent version, or a delete
/// marker that is its key's only version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryKind {
    Current,
    Noncurrent,
    LoneMarker,
}

/// A lifecycle expiration as the run decided it, with what it saw of the version: the store
/// expires the version only if it is still so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    pub kind: ExpiryKind,
    /// When the version was written.
    pub modified_ms: i64,
    /// Its tags (rules may choose by them).
    pub tags: BTreeMap<String, String>,
}

/// DeleteObject without a version id in a bucket with versioning: a delete marker (owned by
/// `owner`) becomes the key's latest version.
async fn add_delete_marker(
    conn: &mut AnyConnection,
    backend: Backend,
    bucket: &str,
    key: &str,
    versioning: Versioning,
    owner: String,
    now: i64,
) -> Result<Deleted> {
    let current = latest_locked(conn, backend, bucket, key).await?;
    let marker = Version {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id: if versioning.keeps_versions() {
            new_version_id()
        } else {
            NULL_VERSION.to_owned()
        },
        size: 0,
        etag: String::new(),
        modified_ms: now,
        parts_count: None,
        pieces: Vec::new(),
        attrs: ObjectAttrs::default(),
        owner,
        latest: true,
        delete_marker: true,
        versioning,
    };
    write_latest(conn, &marker, current.as_ref()).await?;
    Ok(Deleted {
        version_id: Some(marker.version_id),
        delete_marker: true,
    })
}

/// The commit of [`Meta::commit_object`] in a write transaction (on PostgreSQL, batches of
/// commits run `osg_commit_object`, which does the same: see `crate::schema`).
async fn commit_in(
    conn: &mut AnyConnection,
    backend: Backend,
    mut version: Version,
    incarnation: &str,
    condition: &Condition,
) -> Result<Version> {
    hold_bucket(&mut *conn, backend, &version.bucket, incarnation)
        .await?
        .shape(&mut version)?;
    replace_current(&mut *conn, backend, &version, condition).await?;
    let blobs: Vec<(String, u64)> = version.pieces.iter().map(|p| (p.blob.clone(), p.size)).collect();
    crate::blobs::make_live(&mut *conn, &blobs).await?;
    Ok(version)
}

/// The version `new` becomes when committed at `now` (its id and versioning are the commit's
/// to set).
pub(crate) fn version_of(new: &NewVersion, now: i64) -> Version {
    Version {
        bucket: new.bucket.clone(),
        key: new.key.clone(),
        version_id: NULL_VERSION.to_owned(),
        size: new.size,
        etag: new.etag.clone(),
        modified_ms: now,
        parts_count: new.parts_count,
        pieces: new.pieces.clone(),
        attrs: new.attrs.clone(),
        owner: new.owner.clone(),
        latest: true,
        delete_marker: false,
        versioning: Versioning::Unversioned,
    }
}

/// What a bucket's shard row says about how its objects are written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BucketState {
    pub versioning: Versioning,
    pub lock: Option<LockConfig>,
}

impl BucketState {
    /// Gives `version`, about to be written at its `modified_ms`, what the bucket decides: its
    /// id (its own, or `null`), and the bucket's default retention if it names none. A version
    /// with Object Lock settings needs a bucket with Object Lock. `osg_commit_object` does the
    /// same.
    pub(crate) fn shape(&self, version: &mut Version) -> Result<()> {
        version.versioning = self.versioning;
        if self.versioning.keeps_versions() {
            if version.version_id == NULL_VERSION {
                version.version_id = new_version_id();
            }
        } else {
            NULL_VERSION.clone_into(&mut version.version_id);
        }
        match &self.lock {
            None if !version.attrs.lock.is_empty() => return Err(osg_model::LockError::NotEnabled.into()),
            Some(lock) if version.attrs.lock.retention.is_none() => {
                version.attrs.lock.retention = lock.default_retention(version.modified_ms);
            }
            None | Some(_) => {}
        }
        Ok(())
    }
}

/// Fails unless this shard holds `bucket` (this incarnation of it), and keeps it from being
/// deleted, and its versioning and Object Lock from changing, until the write commits.
pub(crate) async fn hold_bucket(
    conn: &mut AnyConnection,
    backend: Backend,
    bucket: &str,
    incarnation: &str,
) -> Result<BucketState> {
    bucket_state(conn, bucket, incarnation, Lock::Share.sql(backend)).await
}

/// The bucket's state, locked for a change to it.
async fn bucket_locked(
    conn: &mut AnyConnection,
    backend: Backend,
    bucket: &str,
    incarnation: &str,
) -> Result<BucketState> {
    bucket_state(conn, bucket, incarnation, Lock::Update.sql(backend)).await
}

async fn bucket_state(conn: &mut AnyConnection, bucket: &str, incarnation: &str, lock: &str) -> Result<BucketState> {
    let row = sqlx::query(&format!(
        "SELECT versioning, object_lock FROM shard_buckets WHERE name = $1 AND incarnation = $2{lock}"
    ))
    .bind(bucket)
    .bind(incarnation)
    .fetch_optional(&mut *conn)
    .await?;
    let row = row.ok_or(Error::NoSuchBucket)?;
    Ok(BucketState {
        versioning: parse_versioning(&row.try_get::<String, _>("versioning")?)?,
        lock: LockConfig::decode(&row.try_get::<String, _>("object_lock")?)?,
    })
}

/// A key's latest version, as a write that replaces it needs it.
pub(crate) struct Latest {
    version_id: String,
    etag: String,
    delete_marker: bool,
    seq: i64,
}

/// The key's latest version, locked: writes of one key serialize on it, a second waiting for
/// the first and then seeing its result. When the key has none, two writes both insert, and
/// the second fails (`versions_latest` is unique) and is run again.
async fn latest_locked(conn: &mut AnyConnection, backend: Backend, bucket: &str, key: &str) -> Result<Option<Latest>> {
    let row = sqlx::query(&format!(
        "SELECT version_id, etag, delete_marker, seq FROM versions
         WHERE bucket = $1 AND key = $2 AND is_latest = 1{}",
        Lock::Update.sql(backend)
    ))
    .bind(bucket)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    if row.is_none() {
        no_latest_now(conn, bucket, key).await?;
    }
    row.map(|row| {
        Ok(Latest {
            version_id: row.try_get("version_id")?,
            etag: row.try_get("etag")?,
            delete_marker: row.try_get::<i64, _>("delete_marker")? != 0,
            seq: row.try_get("seq")?,
        })
    })
    .transpose()
}

/// Fails with a conflict (the write is run again) if the key has a latest version after all:
/// on PostgreSQL a row lock waited for may end with the row no longer latest, and the new
/// latest one unseen by the statement that waited.
async fn no_latest_now(conn: &mut AnyConnection, bucket: &str, key: &str) -> Result<()> {
    let sql = "SELECT 1 FROM versions WHERE bucket = $1 AND key = $2 AND is_latest = 1";
    if Meta::exists(conn, sql, &[bucket, key]).await? {
        return Err(Error::Conflict);
    }
    Ok(())
}

/// Makes `version` the key's latest version if `condition` holds (judged against the current
/// object: the latest version unless it is a delete marker).
pub(crate) async fn replace_current(
    conn: &mut AnyConnection,
    backend: Backend,
    version: &Version,
    condition: &Condition,
) -> Result<()> {
    let current = latest_locked(conn, backend, &version.bucket, &version.key).await?;
    let visible = current.as_ref().filter(|c| !c.delete_marker).map(|c| c.etag.as_str());
    condition.admits(visible)?;
    write_latest(conn, version, current.as_ref()).await
}

/// Writes `version` (a version or a delete marker) as the key's latest, above `current` (the
/// latest, locked): `current` becomes noncurrent, and a `null` version replaces the key's
/// `null` version wherever it is (its blobs become dead). `osg_commit_object` does the same.
async fn write_latest(conn: &mut AnyConnection, version: &Version, current: Option<&Latest>) -> Result<()> {
    let (bucket, key, id) = (&version.bucket, &version.key, &version.version_id);
    let seq = match current {
        Some(c) => c.seq + 1,
        None => {
            let max: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM versions WHERE bucket = $1 AND key = $2")
                .bind(bucket)
                .bind(key)
                .fetch_one(&mut *conn)
                .await?;
            max.unwrap_or(0) + 1
        }
    };
    if let Some(c) = current.filter(|c| c.version_id != *id) {
        sqlx::query("UPDATE versions SET is_latest = 0 WHERE bucket = $1 AND key = $2 AND version_id = $3")
            .bind(bucket)
            .bind(key)
            .bind(&c.version_id)
            .execute(&mut *conn)
            .await?;
    }
    // A key with no latest version has no versions at all.
    if id == NULL_VERSION && current.is_some() {
        remove_version(conn, bucket, key, NULL_VERSION, version.modified_ms).await?;
    }
    sqlx::query(
        "INSERT INTO versions (bucket, key, version_id, is_latest, delete_marker, size, etag, modified_ms,
                               parts_count, attrs, owner, seq)
         VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(bucket)
    .bind(key)
    .bind(id)
    .bind(i64::from(version.delete_marker))
    .bind(db_size(version.size))
    .bind(&version.etag)
    .bind(version.modified_ms)
    .bind(version.parts_count.map(i64::from))
    .bind(serde_json::to_string(&version.attrs)?)
    .bind(&version.owner)
    .bind(seq)
    .execute(&mut *conn)
    .await?;
    for (n, piece) in version.pieces.iter().enumerate() {
        sqlx::query(
            "INSERT INTO pieces (bucket, key, version_id, seq, blob, size, part_number, checksums)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(bucket)
        .bind(key)
        .bind(id)
        .bind(i64::try_from(n).unwrap_or(i64::MAX))
        .bind(&piece.blob)
        .bind(db_size(piece.size))
        .bind(piece.part.map(i64::from))
        .bind(encode_checksums(&piece.checksums)?)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Removes version `id` of `key`, if there is one; when it was the latest, the newest left
/// becomes latest.
async fn remove_named_version(
    conn: &mut AnyConnection,
    backend: Backend,
    bucket: &str,
    key: &str,
    id: &str,
    now: i64,
    bypass: bool,
) -> Result<Deleted> {
    let row = sqlx::query(&format!(
        "SELECT is_latest, delete_marker, attrs FROM versions WHERE bucket = $1 AND key = $2 AND version_id = $3{}",
        Lock::Update.sql(backend)
    ))
    .bind(bucket)
    .bind(key)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let mut deleted = Deleted {
        version_id: Some(id.to_owned()),
        delete_marker: false,
    };
    let Some(row) = row else { return Ok(deleted) };
    let attrs: ObjectAttrs = serde_json::from_str(&row.try_get::<String, _>("attrs")?)?;
    attrs.lock.may_delete(now, bypass)?;
    deleted.delete_marker = row.try_get::<i64, _>("delete_marker")? != 0;
    remove_version(conn, bucket, key, id, now).await?;
    if row.try_get::<i64, _>("is_latest")? != 0 {
        promote_newest(conn, bucket, key).await?;
    }
    Ok(deleted)
}

/// Makes the newest version left of `key` its latest. On PostgreSQL a concurrent delete may
/// take the version chosen before this statement gets its lock: the statement then changes
/// nothing, and the next one (which sees that delete) chooses again.
async fn promote_newest(conn: &mut AnyConnection, bucket: &str, key: &str) -> Result<()> {
    for _ in 0..100 {
        let promoted = sqlx::query(
            "UPDATE versions SET is_latest = 1 WHERE bucket = $1 AND key = $2
                AND seq = (SELECT MAX(seq) FROM versions WHERE bucket = $1 AND key = $2)",
        )
        .bind(bucket)
        .bind(key)
        .execute(&mut *conn)
        .await?;
        let any = "SELECT 1 FROM versions WHERE bucket = $1 AND key = $2";
        if promoted.rows_affected() > 0 || !Meta::exists(conn, any, &[bucket, key]).await? {
            return Ok(());
        }
    }
    Err(Error::Conflict)
}

/// Checksums as a column keeps them: a JSON object, `''` for none.
pub(crate) fn encode_checksums(checksums: &BTreeMap<String, String>) -> Result<String> {
    if checksums.is_empty() {
        Ok(String::new())
    } else {
        Ok(serde_json::to_string(checksums)?)
    }
}

pub(crate) fn decode_checksums(column: &str) -> Result<BTreeMap<String, String>> {
    if column.is_empty() {
        Ok(BTreeMap::new())
    } else {
        Ok(serde_json::from_str(column)?)
    }
}

/// Deletes a version's pieces; their blobs become dead.
async fn drop_pieces(conn: &mut AnyConnection, bucket: &str, key: &str, version_id: &str, now: i64) -> Result<()> {
    let blobs: Vec<String> =
        sqlx::query_scalar("DELETE FROM pieces WHERE bucket = $1 AND key = $2 AND version_id = $3 RETURNING blob")
            .bind(bucket)
            .bind(key)
            .bind(version_id)
            .fetch_all(&mut *conn)
            .await?;
    crate::blobs::mark_dead(conn, &blobs, now).await
}

/// Deletes one version row and marks its blobs dead; returns whether it existed.
async fn remove_version(conn: &mut AnyConnection, bucket: &str, key: &str, version_id: &str, now: i64) -> Result<bool> {
    let deleted = sqlx::query("DELETE FROM versions WHERE bucket = $1 AND key = $2 AND version_id = $3")
        .bind(bucket)
        .bind(key)
        .bind(version_id)
        .execute(&mut *conn)
        .await?;
    if deleted.rows_affected() == 0 {
        return Ok(false);
    }
    drop_pieces(conn, bucket, key, version_id, now).await?;
    Ok(true)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::test_store;

    pub(crate) fn new_version(bucket: &str, key: &str, blob: &str) -> NewVersion {
        NewVersion {
            bucket: bucket.into(),
            key: key.into(),
            size: 3,
            etag: format!("etag-{blob}"),
            parts_count: None,
            pieces: vec![Piece::whole(blob.into(), 3)],
            attrs: ObjectAttrs::default(),
            owner: "o".into(),
        }
    }

    #[tokio::test]
    async fn replace_marks_old_blob_dead_and_conditions_hold() {
        let (_dir, meta) = test_store().await;
        crate::test_bucket(&meta).await;
        for blob in ["blob1", "blob2"] {
            meta.begin_blob(blob, "b").await.unwrap();
        }
        meta.commit_object(&new_version("b", "k", "blob1"), &Condition::Absent)
            .await
            .unwrap();
        assert!(matches!(
            meta.commit_object(&new_version("b", "k", "blob2"), &Condition::Absent)
                .await,
            Err(Error::PreconditionFailed)
        ));
        assert!(matches!(
            meta.commit_object(&new_version("b", "k", "blob2"), &Condition::ETag("nope".into()))
                .await,
            Err(Error::PreconditionFailed)
        ));
        assert!(matches!(
            meta.commit_object(&new_version("b", "other", "blob2"), &Condition::ETag("*".into()))
                .await,
            Err(Error::NoSuchKey)
        ));
        assert!(matches!(
            meta.commit_object(&new_version("b", "k", "never-begun"), &Condition::None)
                .await,
            Err(Error::LeaseLost(_))
        ));
        assert!(matches!(
            meta.commit_object(
                &new_version("b", "k", "blob2"),
                &Condition::NotETag("etag-blob1".into())
            )
            .await,
            Err(Error::PreconditionFailed)
        ));
        meta.commit_object(&new_version("b", "k", "blob2"), &Condition::ETag("etag-blob1".into()))
            .await
            .unwrap();
        assert_eq!(meta.object("b", "k").await.unwrap().pieces[0].blob, "blob2");
        // blob1 is dead but within its grace period; far in the future it is reaped.
        assert!(meta.claim_blobs(crate::MAIN, now_ms(), 10).await.unwrap().is_empty());
        assert_eq!(
            meta.claim_blobs(crate::MAIN, now_ms() + 86_400_000, 10).await.unwrap(),
            vec!["blob1".to_owned()]
        );
        let unversioned = Deleted {
            version_id: None,
            delete_marker: false,
        };
        assert_eq!(
            meta.delete_object("b", "k", None, crate::BY_O).await.unwrap(),
            unversioned
        );
        assert_eq!(
            meta.delete_object("b", "k", None, crate::BY_O).await.unwrap(),
            unversioned
        );
        assert!(matches!(meta.object("b", "k").await, Err(Error::NoSuchKey)));
        assert!(matches!(
            meta.delete_object("nob", "k", None, crate::BY_O).await,
            Err(Error::NoSuchBucket)
        ));
        // If-None-Match with an ETag: any other object, or none, passes.
        for (blob, not) in [("blob3", "etag-blob1"), ("blob4", "etag-blob1")] {
            meta.begin_blob(blob, "b").await.unwrap();
            meta.commit_object(&new_version("b", "k", blob), &Condition::NotETag(not.into()))
                .await
                .unwrap();
        }
        assert_eq!(meta.object("b", "k").await.unwrap().pieces[0].blob, "blob4");
    }

    async fn put(meta: &Meta, key: &str, blob: &str) -> Version {
        meta.begin_blob(blob, "b").await.unwrap();
        meta.commit_object(&new_version("b", key, blob), &Condition::None)
            .await
            .unwrap()
    }

    async fn history(meta: &Meta, key: &str) -> Vec<(String, bool, bool)> {
        let page = meta.list_versions("b", key, None, "", None, 100).await.unwrap();
        page.entries
            .iter()
            .map(|e| match e {
                crate::VersionEntry::Version(v) => (v.version_id.clone(), v.latest, v.delete_marker),
                crate::VersionEntry::Prefix(p) => panic!("prefix {p}"),
            })
            .collect()
    }

    /// A versioned key's life: versions kept newest first, delete markers, deletes by id
    /// (the next newest becomes latest), suspension's single `null` version, and never back
    /// to unversioned.
    #[tokio::test]
    async fn versions_markers_and_the_null_version() {
        let (_dir, meta) = test_store().await;
        crate::test_bucket(&meta).await;
        let before = put(&meta, "k", "b0").await;
        assert_eq!((before.version_id.as_str(), before.shown_id()), ("null", None));
        assert_eq!(
            meta.set_versioning("b", Versioning::Enabled).await.unwrap(),
            Versioning::Enabled
        );
        let v1 = put(&meta, "k", "b1").await;
        let v2 = put(&meta, "k", "b2").await;
        assert!(osg_model::is_version_id(&v1.version_id) && v1.version_id != v2.version_id);
        assert_eq!(v2.shown_id().as_deref(), Some(v2.version_id.as_str()));
        assert_eq!(meta.object("b", "k").await.unwrap().version_id, v2.version_id);
        let old = meta.object_version("b", "k", Some("null")).await.unwrap();
        assert_eq!((old.pieces[0].blob.as_str(), old.latest), ("b0", false));
        assert_eq!(old.shown_id().as_deref(), Some("null"));
        let id = |v: &Version| v.version_id.clone();
        assert_eq!(
            history(&meta, "k").await,
            [
                (id(&v2), true, false),
                (id(&v1), false, false),
                ("null".into(), false, false)
            ]
        );
        // A delete adds a marker: the key reads as gone, its versions stay.
        let gone = meta.delete_object("b", "k", None, crate::BY_O).await.unwrap();
        assert!(gone.delete_marker);
        let marker = gone.version_id.unwrap();
        assert!(matches!(meta.object("b", "k").await, Err(Error::NoSuchKey)));
        assert!(meta.object_version("b", "k", None).await.unwrap().delete_marker);
        assert_eq!(history(&meta, "k").await[0], (marker.clone(), true, true));
        assert!(matches!(
            meta.update_object_attrs("b", "k", Some(&marker), |a| {
                a.tags.clear();
                Ok(())
            })
            .await,
            Err(Error::DeleteMarker)
        ));
        // Deleting the marker by id brings v2 back; deleting v2 by id, v1.
        let undone = meta.delete_object("b", "k", Some(&marker), crate::BY_O).await.unwrap();
        assert_eq!(
            (undone.version_id.as_deref(), undone.delete_marker),
            (Some(marker.as_str()), true)
        );
        assert_eq!(meta.object("b", "k").await.unwrap().version_id, v2.version_id);
        meta.delete_object("b", "k", Some(&v2.version_id), crate::BY_O)
            .await
            .unwrap();
        assert_eq!(meta.object("b", "k").await.unwrap().version_id, v1.version_id);
        assert!(matches!(
            meta.object_version("b", "k", Some(&v2.version_id)).await,
            Err(Error::NoSuchVersion)
        ));
        // Its blob goes to the reaper; the others' do not.
        let reaped = meta.claim_blobs(crate::MAIN, now_ms() + 86_400_000, 10).await.unwrap();
        assert_eq!(reaped, ["b2".to_owned()]);
        // Suspended: writes replace the null version, wherever it is, and become latest.
        meta.set_versioning("b", Versioning::Suspended).await.unwrap();
        let n1 = put(&meta, "k", "b3").await;
        assert_eq!(n1.shown_id().as_deref(), Some("null"));
        put(&meta, "k", "b4").await;
        assert_eq!(
            history(&meta, "k").await,
            [("null".into(), true, false), (id(&v1), false, false)]
        );
        let marker = meta.delete_object("b", "k", None, crate::BY_O).await.unwrap();
        assert_eq!(
            (marker.version_id.as_deref(), marker.delete_marker),
            (Some("null"), true)
        );
        assert_eq!(
            history(&meta, "k").await,
            [("null".into(), true, true), (id(&v1), false, false)]
        );
        let mut reaped = meta.claim_blobs(crate::MAIN, now_ms() + 86_400_000, 10).await.unwrap();
        reaped.sort();
        assert_eq!(reaped, ["b0", "b3", "b4"]);
        assert!(matches!(
            meta.set_versioning("b", Versioning::Unversioned).await,
            Err(Error::Versioning(_))
        ));
        assert_eq!(meta.versioning("b").await.unwrap(), Versioning::Suspended);
    }

    /// Attributes holding what PostgreSQL's jsonb refuses (a NUL, which JSON writes as
    /// `\u0000`) are stored as they are, in buckets with and without Object Lock.
    #[tokio::test]
    async fn attributes_with_a_nul_are_stored() {
        let (_dir, meta) = test_store().await;
        let a = crate::test_bucket(&meta).await;
        let locked = crate::NewBucket {
            name: "locked",
            owner: &a.id,
            region: "us-east-1",
            provider: "walrus",
            object_lock: true,
        };
        meta.create_bucket(locked, crate::BucketConfig::default(), 100)
            .await
            .unwrap();
        let config = LockConfig::with_default(osg_model::RetentionMode::Governance, Some(1), None).unwrap();
        meta.set_object_lock("locked", config).await.unwrap();
        for (bucket, blob) in [("b", "n1"), ("locked", "n2")] {
            meta.begin_blob(blob, bucket).await.unwrap();
            let mut new = new_version(bucket, "k", blob);
            new.attrs.tags.insert("a".into(), "x\0y".into());
            meta.commit_object(&new, &Condition::None).await.unwrap();
            let read = meta.object(bucket, "k").await.unwrap();
            assert_eq!(read.attrs.tags["a"], "x\0y");
            assert_eq!(read.attrs.lock.retention.is_some(), bucket == "locked");
        }
    }

    /// ListObjectVersions pages resume at key and version markers, and roll keys up to common
    /// prefixes.
    #[tokio::test]
    async fn version_listings_page_and_roll_up() {
        let (_dir, meta) = test_store().await;
        crate::test_bucket(&meta).await;
        meta.set_versioning("b", Versioning::Enabled).await.unwrap();
        let mut made = Vec::new();
        for (i, key) in ["a/1", "a/2", "b", "b", "b", "c"].iter().enumerate() {
            made.push(put(&meta, key, &format!("blob{i}")).await);
        }
        let all = meta.list_versions("b", "", None, "", None, 100).await.unwrap();
        let order: Vec<String> = all
            .entries
            .iter()
            .map(|e| match e {
                crate::VersionEntry::Version(v) => v.version_id.clone(),
                crate::VersionEntry::Prefix(p) => p.clone(),
            })
            .collect();
        let id = |n: usize| made[n].version_id.clone();
        assert_eq!(order, [id(0), id(1), id(4), id(3), id(2), id(5)]);
        // Two at a time, resuming inside key b.
        let mut seen = Vec::new();
        let (mut key, mut version) = (String::new(), None::<String>);
        loop {
            let page = meta
                .list_versions("b", "", None, &key, version.as_deref(), 2)
                .await
                .unwrap();
            for e in &page.entries {
                if let crate::VersionEntry::Version(v) = e {
                    seen.push(v.version_id.clone());
                    key.clone_from(&v.key);
                    version = Some(v.version_id.clone());
                }
            }
            if !page.truncated {
                break;
            }
        }
        assert_eq!(seen, order);
        // A key marker alone resumes after all of that key's versions.
        let after_b = meta.list_versions("b", "", None, "b", None, 100).await.unwrap();
        assert_eq!(after_b.entries.len(), 1);
        let rolled = meta.list_versions("b", "", Some("/"), "", None, 100).await.unwrap();
        let shown: Vec<String> = rolled
            .entries
            .iter()
            .map(|e| match e {
                crate::VersionEntry::Version(v) => v.key.clone(),
                crate::VersionEntry::Prefix(p) => p.clone(),
            })
            .collect();
        assert_eq!(shown, ["a/", "b", "b", "b", "c"]);
        // A key past the jump over its prefix does not bring the listing back to it.
        put(&meta, "a/\u{10FFFF}x", "blob9").await;
        let listing = meta.list_versions("b", "", Some("/"), "", None, 100);
        let rolled = tokio::time::timeout(std::time::Duration::from_secs(10), listing)
            .await
            .expect("the listing ends")
            .unwrap();
        assert_eq!(rolled.entries.len(), 5);
    }

    /// Object Lock: a bucket made with it has versioning, keeps it, and gives new versions its
    /// default retention; a locked version is deleted only past its retention (GOVERNANCE: or
    /// with bypass), never under a legal hold; and lock settings need a bucket with Object Lock.
    #[tokio::test]
    async fn object_lock_protects_versions() {
        use osg_model::{LockError, Retention, RetentionMode};
        let (_dir, meta) = test_store().await;
        let a = crate::test_bucket(&meta).await;
        let new = crate::NewBucket {
            name: "locked",
            owner: &a.id,
            region: "us-east-1",
            provider: "walrus",
            object_lock: true,
        };
        meta.create_bucket(new, crate::BucketConfig::default(), 100)
            .await
            .unwrap();
        assert_eq!(meta.versioning("locked").await.unwrap(), Versioning::Enabled);
        assert_eq!(meta.object_lock("locked").await.unwrap(), Some(LockConfig::default()));
        assert_eq!(meta.object_lock("b").await.unwrap(), None);
        assert!(matches!(
            meta.set_versioning("locked", Versioning::Suspended).await,
            Err(Error::Lock(LockError::BucketState(_)))
        ));
        assert!(matches!(
            meta.set_object_lock("b", LockConfig::default()).await,
            Err(Error::Lock(LockError::BucketState(_)))
        ));
        let config = LockConfig::with_default(RetentionMode::Governance, Some(1), None).unwrap();
        meta.set_object_lock("locked", config).await.unwrap();
        let put = |key: &'static str, blob: &'static str, lock: VersionLock| {
            let meta = &meta;
            async move {
                meta.begin_blob(blob, "locked").await.unwrap();
                let mut new = new_version("locked", key, blob);
                new.attrs.lock = lock;
                meta.commit_object(&new, &Condition::None).await
            }
        };
        use osg_model::VersionLock;
        // The default retention: GOVERNANCE, a day from the write.
        let v = put("k", "l1", VersionLock::default()).await.unwrap();
        let read = meta.object("locked", "k").await.unwrap();
        let retention = read.attrs.lock.retention.unwrap();
        assert_eq!(retention.mode, RetentionMode::Governance);
        assert!((retention.until_ms - read.modified_ms - 86_400_000).abs() < 1000);
        let by = |bypass_governance| crate::Deleter {
            owner: "o",
            bypass_governance,
        };
        assert!(matches!(
            meta.delete_object("locked", "k", Some(&v.version_id), by(false)).await,
            Err(Error::Lock(LockError::Protected))
        ));
        // A delete marker hides it; the version stays.
        meta.delete_object("locked", "k", None, by(false)).await.unwrap();
        meta.delete_object("locked", "k", Some(&v.version_id), by(true))
            .await
            .unwrap();
        // COMPLIANCE: no bypass; a legal hold: none either.
        let compliance = VersionLock {
            retention: Some(Retention {
                mode: RetentionMode::Compliance,
                until_ms: now_ms() + 60_000,
            }),
            legal_hold: false,
        };
        let c = put("c", "l2", compliance).await.unwrap();
        assert!(matches!(
            meta.delete_object("locked", "c", Some(&c.version_id), by(true)).await,
            Err(Error::Lock(LockError::Protected))
        ));
        let held = VersionLock {
            retention: Some(Retention {
                mode: RetentionMode::Governance,
                until_ms: now_ms() - 1,
            }),
            legal_hold: true,
        };
        let h = put("h", "l3", held).await.unwrap();
        assert!(matches!(
            meta.delete_object("locked", "h", Some(&h.version_id), by(true)).await,
            Err(Error::Lock(LockError::Protected))
        ));
        meta.update_object_attrs("locked", "h", Some(&h.version_id), |attrs| {
            attrs.lock.legal_hold = false;
            Ok(())
        })
        .await
        .unwrap();
        meta.delete_object("locked", "h", Some(&h.version_id), by(false))
            .await
            .unwrap();
        // Lock settings on a bucket without Object Lock are refused.
        meta.begin_blob("l4", "b").await.unwrap();
        let mut plain = new_version("b", "k", "l4");
        plain.attrs.lock = held;
        assert!(matches!(
            meta.commit_object(&plain, &Condition::None).await,
            Err(Error::Lock(LockError::NotEnabled))
        ));
    }
}
