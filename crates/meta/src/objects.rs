//! Object versions: what a key currently holds and where its bytes are.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::shard::{Route, Shard};
use crate::write::{Isolation, Lock, transaction};
use crate::{Backend, Error, Meta, NewVersion, ObjectAttrs, Piece, Result, Version, now_ms};

/// The version id S3 gives objects in buckets that have never had versioning enabled.
pub const NULL_VERSION: &str = "null";

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
    })
}

pub(crate) fn db_size(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

impl Meta {
    /// The current version of `key`, with its pieces, if the key holds an object.
    pub async fn object(&self, bucket: &str, key: &str) -> Result<Version> {
        self.on_shard(bucket, |shard, _| async move { shard.object(bucket, key).await })
            .await
    }

    /// Makes `new` the current version of its key in one transaction: checks the bucket and
    /// `condition`, replaces the previous version (whose blobs become dead) and clears the
    /// new blobs' pending leases. Nothing is visible until this commits.
    pub async fn commit_object(&self, new: &NewVersion, condition: &Condition) -> Result<Version> {
        self.on_shard(&new.bucket, |shard, route| async move {
            shard.commit_object(&route, new, condition).await
        })
        .await
    }

    /// Changes the attributes (ACL, tags) of the current version of `key` in place.
    pub async fn update_object_attrs(
        &self,
        bucket: &str,
        key: &str,
        update: impl Fn(&mut ObjectAttrs) + Send + Sync,
    ) -> Result<()> {
        let update = &update;
        self.on_shard(bucket, |shard, _| async move {
            shard.update_object_attrs(bucket, key, update).await
        })
        .await
    }

    /// Deletes the current version of `key`; returns whether there was one.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<bool> {
        self.on_shard(bucket, |shard, route| async move {
            shard.delete_object(&route, bucket, key).await
        })
        .await
    }
}

impl Shard {
    /// The current version of `key`, with its pieces (one query: the version's row once per
    /// piece).
    pub(crate) async fn object(&self, bucket: &str, key: &str) -> Result<Version> {
        let rows = sqlx::query(
            "SELECT v.bucket, v.key, v.version_id, v.size, v.etag, v.modified_ms, v.parts_count, v.attrs, v.owner,
                    p.blob AS piece_blob, p.size AS piece_size, p.part_number, p.checksums AS piece_checksums
             FROM versions v LEFT JOIN pieces p
               ON p.bucket = v.bucket AND p.key = v.key AND p.version_id = v.version_id
             WHERE v.bucket = $1 AND v.key = $2 AND v.is_latest = 1 AND v.delete_marker = 0
             ORDER BY p.seq",
        )
        .bind(bucket)
        .bind(key)
        .fetch_all(&self.pool)
        .await?;
        let mut version = version_from(rows.first().ok_or(Error::NoSuchKey)?)?;
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

    /// See [`Meta::commit_object`]: on PostgreSQL in the next batch of commits, on SQLite in the
    /// next group commit.
    pub(crate) async fn commit_object(
        &self,
        route: &Route,
        new: &NewVersion,
        condition: &Condition,
    ) -> Result<Version> {
        let version = version_of(new, now_ms());
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
        update: &(impl Fn(&mut ObjectAttrs) + Send + Sync),
    ) -> Result<()> {
        transaction!(self, Isolation::ReadCommitted, |tx| {
            let attrs: Option<String> = sqlx::query_scalar(&format!(
                "SELECT attrs FROM versions WHERE bucket = $1 AND key = $2 AND is_latest = 1 AND delete_marker = 0{}",
                Lock::Update.sql(self.backend)
            ))
            .bind(bucket)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            let mut attrs: ObjectAttrs = serde_json::from_str(&attrs.ok_or(Error::NoSuchKey)?)?;
            update(&mut attrs);
            sqlx::query("UPDATE versions SET attrs = $1 WHERE bucket = $2 AND key = $3 AND is_latest = 1")
                .bind(serde_json::to_string(&attrs)?)
                .bind(bucket)
                .bind(key)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }

    pub(crate) async fn delete_object(&self, route: &Route, bucket: &str, key: &str) -> Result<bool> {
        let (bucket, key, backend) = (bucket.to_owned(), key.to_owned(), self.backend);
        let incarnation = route.incarnation.clone();
        self.write(Box::new(move |conn| {
            let (bucket, key, incarnation) = (bucket.clone(), key.clone(), incarnation.clone());
            Box::pin(async move {
                hold_bucket(&mut *conn, backend, &bucket, &incarnation).await?;
                remove_version(&mut *conn, &bucket, &key, NULL_VERSION, now_ms()).await
            })
        }))
        .await
    }
}

/// The commit of [`Meta::commit_object`] in a write transaction (on PostgreSQL, batches of
/// commits run `osg_commit_object`, which does the same: see `crate::schema`).
async fn commit_in(
    conn: &mut AnyConnection,
    backend: Backend,
    version: Version,
    incarnation: &str,
    condition: &Condition,
) -> Result<Version> {
    hold_bucket(&mut *conn, backend, &version.bucket, incarnation).await?;
    replace_current(&mut *conn, backend, &version, condition).await?;
    let blobs: Vec<(String, u64)> = version.pieces.iter().map(|p| (p.blob.clone(), p.size)).collect();
    crate::blobs::make_live(&mut *conn, &blobs).await?;
    Ok(version)
}

/// The version `new` becomes when committed at `now`.
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
    }
}

/// Fails unless this shard holds `bucket` (this incarnation of it), and keeps it from being
/// deleted until the write commits.
pub(crate) async fn hold_bucket(
    conn: &mut AnyConnection,
    backend: Backend,
    bucket: &str,
    incarnation: &str,
) -> Result<()> {
    let sql = format!(
        "SELECT 1 FROM shard_buckets WHERE name = $1 AND incarnation = $2{}",
        Lock::Share.sql(backend)
    );
    if Meta::exists(conn, &sql, &[bucket, incarnation]).await? {
        Ok(())
    } else {
        Err(Error::NoSuchBucket)
    }
}

/// Makes `version` the key's current version if `condition` holds, replacing (and marking
/// dead the blobs of) the one before it. The current version's row is locked and updated in
/// place, so that writes of one key serialize on it: a second waits for the first and then
/// sees its result. When the key holds nothing, two writes both insert, and the second fails
/// (a unique violation) and is run again.
pub(crate) async fn replace_current(
    conn: &mut AnyConnection,
    backend: Backend,
    version: &Version,
    condition: &Condition,
) -> Result<()> {
    let current = sqlx::query(&format!(
        "SELECT etag, delete_marker FROM versions WHERE bucket = $1 AND key = $2 AND version_id = $3{}",
        Lock::Update.sql(backend)
    ))
    .bind(&version.bucket)
    .bind(&version.key)
    .bind(&version.version_id)
    .fetch_optional(&mut *conn)
    .await?;
    let visible = match &current {
        Some(row) => {
            let marker: i64 = row.try_get("delete_marker")?;
            (marker == 0).then(|| row.try_get::<String, _>("etag")).transpose()?
        }
        None => None,
    };
    condition.admits(visible.as_deref())?;
    let sql = if current.is_some() {
        "UPDATE versions SET is_latest = 1, delete_marker = 0, size = $4, etag = $5, modified_ms = $6,
                             parts_count = $7, attrs = $8, owner = $9
         WHERE bucket = $1 AND key = $2 AND version_id = $3"
    } else {
        "INSERT INTO versions (bucket, key, version_id, is_latest, delete_marker, size, etag, modified_ms,
                               parts_count, attrs, owner)
         VALUES ($1, $2, $3, 1, 0, $4, $5, $6, $7, $8, $9)"
    };
    sqlx::query(sql)
        .bind(&version.bucket)
        .bind(&version.key)
        .bind(&version.version_id)
        .bind(db_size(version.size))
        .bind(&version.etag)
        .bind(version.modified_ms)
        .bind(version.parts_count.map(i64::from))
        .bind(serde_json::to_string(&version.attrs)?)
        .bind(&version.owner)
        .execute(&mut *conn)
        .await?;
    if current.is_some() {
        let (bucket, key, id) = (&version.bucket, &version.key, &version.version_id);
        drop_pieces(&mut *conn, bucket, key, id, version.modified_ms).await?;
    }
    for (seq, piece) in version.pieces.iter().enumerate() {
        sqlx::query(
            "INSERT INTO pieces (bucket, key, version_id, seq, blob, size, part_number, checksums)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&version.bucket)
        .bind(&version.key)
        .bind(&version.version_id)
        .bind(i64::try_from(seq).unwrap_or(i64::MAX))
        .bind(&piece.blob)
        .bind(db_size(piece.size))
        .bind(piece.part.map(i64::from))
        .bind(encode_checksums(&piece.checksums)?)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
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
        assert!(meta.delete_object("b", "k").await.unwrap());
        assert!(!meta.delete_object("b", "k").await.unwrap());
        assert!(matches!(meta.object("b", "k").await, Err(Error::NoSuchKey)));
        assert!(matches!(meta.delete_object("nob", "k").await, Err(Error::NoSuchBucket)));
        // If-None-Match with an ETag: any other object, or none, passes.
        for (blob, not) in [("blob3", "etag-blob1"), ("blob4", "etag-blob1")] {
            meta.begin_blob(blob, "b").await.unwrap();
            meta.commit_object(&new_version("b", "k", blob), &Condition::NotETag(not.into()))
                .await
                .unwrap();
        }
        assert_eq!(meta.object("b", "k").await.unwrap().pieces[0].blob, "blob4");
    }
}
