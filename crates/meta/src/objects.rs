//! Object versions: what a key currently holds and where its bytes are.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::{Error, Meta, Result, now_ms};

/// The version id S3 gives objects in buckets that have never had versioning enabled.
pub const NULL_VERSION: &str = "null";

/// One blob holding a run of an object's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piece {
    pub blob: String,
    pub size: u64,
}

/// What S3 stores and returns with an object besides its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ObjectAttrs {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// The `Expires` header as the client sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `x-amz-meta-*` headers, names without the prefix.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub user: BTreeMap<String, String>,
    /// Object tags.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The object ACL as JSON (the gateway's format), when the bucket's ACLs are enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acl: Option<String>,
    /// Verified checksums by algorithm name (`CRC32`, `SHA256`, ...), base64.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub checksums: BTreeMap<String, String>,
}

/// A stored object version.
#[derive(Debug, Clone)]
pub struct Version {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub size: u64,
    /// Hex MD5 of the bytes, or `md5-of-part-md5s-N` for a multipart object (unquoted).
    pub etag: String,
    pub modified_ms: i64,
    /// Number of parts for an object made by a multipart upload.
    pub parts_count: Option<u32>,
    pub pieces: Vec<Piece>,
    pub attrs: ObjectAttrs,
    /// Owning account id.
    pub owner: String,
}

/// A version about to be made current; its blobs are already durable on the provider.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub parts_count: Option<u32>,
    pub pieces: Vec<Piece>,
    pub attrs: ObjectAttrs,
    pub owner: String,
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
}

const VERSION_COLUMNS: &str = "bucket, key, version_id, size, etag, modified_ms, parts_count, pieces, attrs, owner";

pub(crate) fn version_from(row: &AnyRow) -> Result<Version> {
    let size: i64 = row.try_get("size")?;
    let parts_count: Option<i64> = row.try_get("parts_count")?;
    let pieces: String = row.try_get("pieces")?;
    let attrs: String = row.try_get("attrs")?;
    Ok(Version {
        bucket: row.try_get("bucket")?,
        key: row.try_get("key")?,
        version_id: row.try_get("version_id")?,
        size: u64::try_from(size).map_err(|_| Error::Corrupt("negative size".into()))?,
        etag: row.try_get("etag")?,
        modified_ms: row.try_get("modified_ms")?,
        parts_count: parts_count.and_then(|n| u32::try_from(n).ok()),
        pieces: serde_json::from_str(&pieces)?,
        attrs: serde_json::from_str(&attrs)?,
        owner: row.try_get("owner")?,
    })
}

pub(crate) fn db_size(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

impl Meta {
    /// The current version of `key`, if the key holds an object.
    pub async fn object(&self, bucket: &str, key: &str) -> Result<Version> {
        let row = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM versions
             WHERE bucket = $1 AND key = $2 AND is_latest = 1 AND delete_marker = 0"
        ))
        .bind(bucket)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(version_from).transpose()?.ok_or(Error::NoSuchKey)
    }

    /// Makes `new` the current version of its key in one transaction: checks the bucket and
    /// `condition`, replaces the previous version (whose blobs become dead) and clears the
    /// new blobs' pending leases. Nothing is visible until this commits.
    pub async fn commit_object(&self, new: &NewVersion, condition: &Condition) -> Result<Version> {
        let (new, condition) = (new.clone(), condition.clone());
        self.write(move |conn| Box::pin(commit_in(conn, new, condition))).await
    }

    /// Changes the attributes (ACL, tags) of the current version of `key` in place.
    pub async fn update_object_attrs(
        &self,
        bucket: &str,
        key: &str,
        update: impl FnOnce(&mut ObjectAttrs) + Send,
    ) -> Result<()> {
        let (_guard, mut tx) = self.begin_write().await?;
        let attrs: Option<String> = sqlx::query_scalar(
            "SELECT attrs FROM versions WHERE bucket = $1 AND key = $2 AND is_latest = 1 AND delete_marker = 0",
        )
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
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the current version of `key`; returns whether there was one.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<bool> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                ensure_bucket(&mut *conn, &bucket).await?;
                remove_version(&mut *conn, &bucket, &key, NULL_VERSION, now_ms()).await
            })
        })
        .await
    }
}

/// The commit of [`Meta::commit_object`], in its write transaction.
async fn commit_in(conn: &mut AnyConnection, new: NewVersion, condition: Condition) -> Result<Version> {
    ensure_bucket(&mut *conn, &new.bucket).await?;
    // Only a conditional write reads the current version first; the others replace it blind.
    let expected = match &condition {
        Condition::None => None,
        Condition::Absent => Some(None),
        Condition::ETag(etag) => Some(Some(etag)),
    };
    if let Some(expected) = expected {
        let current: Option<String> = sqlx::query_scalar(
            "SELECT etag FROM versions WHERE bucket = $1 AND key = $2 AND is_latest = 1 AND delete_marker = 0",
        )
        .bind(&new.bucket)
        .bind(&new.key)
        .fetch_optional(&mut *conn)
        .await?;
        match (expected, current) {
            (None, None) => {}
            (None, Some(_)) => return Err(Error::PreconditionFailed),
            (Some(_), None) => return Err(Error::NoSuchKey),
            (Some(etag), Some(cur)) => {
                if etag != "*" && *etag != cur {
                    return Err(Error::PreconditionFailed);
                }
            }
        }
    }
    let version = replace_current(&mut *conn, &new, now_ms()).await?;
    for piece in &version.pieces {
        crate::blobs::clear_pending(&mut *conn, &piece.blob).await?;
    }
    Ok(version)
}

pub(crate) async fn ensure_bucket(conn: &mut AnyConnection, bucket: &str) -> Result<()> {
    if Meta::exists(conn, "SELECT 1 FROM buckets WHERE name = $1", &[bucket]).await? {
        Ok(())
    } else {
        Err(Error::NoSuchBucket)
    }
}

/// Makes `new` the key's current version, replacing (and marking dead the blobs of) the one
/// before it.
pub(crate) async fn replace_current(conn: &mut AnyConnection, new: &NewVersion, now: i64) -> Result<Version> {
    remove_version(conn, &new.bucket, &new.key, NULL_VERSION, now).await?;
    let version = Version {
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
    };
    sqlx::query(
        "INSERT INTO versions (bucket, key, version_id, is_latest, delete_marker, size, etag, modified_ms,
                               parts_count, pieces, attrs, owner)
         VALUES ($1, $2, $3, 1, 0, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&version.bucket)
    .bind(&version.key)
    .bind(&version.version_id)
    .bind(db_size(version.size))
    .bind(&version.etag)
    .bind(version.modified_ms)
    .bind(version.parts_count.map(i64::from))
    .bind(serde_json::to_string(&version.pieces)?)
    .bind(serde_json::to_string(&version.attrs)?)
    .bind(&version.owner)
    .execute(&mut *conn)
    .await?;
    Ok(version)
}

/// Deletes one version row and marks its blobs dead; returns whether it existed.
async fn remove_version(conn: &mut AnyConnection, bucket: &str, key: &str, version_id: &str, now: i64) -> Result<bool> {
    let pieces: Option<String> =
        sqlx::query_scalar("DELETE FROM versions WHERE bucket = $1 AND key = $2 AND version_id = $3 RETURNING pieces")
            .bind(bucket)
            .bind(key)
            .bind(version_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(pieces) = pieces else { return Ok(false) };
    let pieces: Vec<Piece> = serde_json::from_str(&pieces)?;
    for piece in &pieces {
        crate::blobs::mark_dead(conn, &piece.blob, now).await?;
    }
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
            pieces: vec![Piece {
                blob: blob.into(),
                size: 3,
            }],
            attrs: ObjectAttrs::default(),
            owner: "o".into(),
        }
    }

    #[tokio::test]
    async fn replace_marks_old_blob_dead_and_conditions_hold() {
        let (_dir, meta) = test_store().await;
        crate::test_bucket(&meta).await;
        for blob in ["blob1", "blob2"] {
            meta.begin_blob(blob).await.unwrap();
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
        meta.commit_object(&new_version("b", "k", "blob2"), &Condition::ETag("etag-blob1".into()))
            .await
            .unwrap();
        assert_eq!(meta.object("b", "k").await.unwrap().pieces[0].blob, "blob2");
        // blob1 is dead but within its grace period; far in the future it is reaped.
        assert!(meta.claim_blobs(now_ms(), 10).await.unwrap().is_empty());
        assert_eq!(
            meta.claim_blobs(now_ms() + 86_400_000, 10).await.unwrap(),
            vec!["blob1".to_owned()]
        );
        assert!(meta.delete_object("b", "k").await.unwrap());
        assert!(!meta.delete_object("b", "k").await.unwrap());
        assert!(matches!(meta.object("b", "k").await, Err(Error::NoSuchKey)));
        assert!(matches!(meta.delete_object("nob", "k").await, Err(Error::NoSuchBucket)));
    }
}
