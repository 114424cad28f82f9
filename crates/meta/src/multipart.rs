//! Multipart uploads. Parts are blobs; completing an upload writes a version whose pieces are
//! the chosen parts' blobs, so no byte is copied.

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::objects::{db_size, decode_checksums, encode_checksums, hold_bucket, replace_current, version_of};
use crate::write::{Isolation, Lock, transaction};
use crate::{Error, Meta, NewVersion, ObjectAttrs, Piece, Result, Version, now_ms};

#[derive(Debug, Clone)]
pub struct Upload {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub initiated_ms: i64,
    /// Headers given at creation, applied to the object on completion.
    pub attrs: ObjectAttrs,
    pub owner: String,
}

#[derive(Debug, Clone)]
pub struct Part {
    pub number: u32,
    pub blob: String,
    pub size: u64,
    /// Hex MD5 of the part's bytes (unquoted).
    pub etag: String,
    pub modified_ms: i64,
    /// Verified checksums (base64) by algorithm name.
    pub checksums: BTreeMap<String, String>,
}

/// A part's bytes, stored: what UploadPart records.
#[derive(Debug, Clone)]
pub struct NewPart {
    pub number: u32,
    pub blob: String,
    pub size: u64,
    /// Hex MD5 of the part's bytes (unquoted).
    pub etag: String,
    pub checksums: BTreeMap<String, String>,
}

/// A CompleteMultipartUpload request.
#[derive(Debug, Clone, Copy)]
pub struct Completion<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub upload_id: &'a str,
    /// The parts, in the request's order.
    pub parts: &'a [PartChoice],
    /// `If-Match` / `If-None-Match`, judged against the key's object.
    pub condition: &'a crate::Condition,
    /// The object's checksums, made from the parts' (see `MultipartChecksum`).
    pub checksums: &'a BTreeMap<String, String>,
}

/// The ETag of a multipart object made of parts with these ETags: the MD5 of their MD5s,
/// then `-` and their count.
fn multipart_etag<'a>(etags: impl ExactSizeIterator<Item = &'a str>) -> Option<String> {
    let count = etags.len();
    let mut md5s = Md5::new();
    for etag in etags {
        md5s.update(hex::decode(etag).ok()?);
    }
    Some(format!("{}-{count}", hex::encode(md5s.finalize())))
}

/// A part the client names in CompleteMultipartUpload.
#[derive(Debug, Clone)]
pub struct PartChoice {
    pub number: u32,
    /// Unquoted ETag the client expects the part to have.
    pub etag: String,
}

#[derive(Debug, Default)]
pub struct UploadPage {
    pub uploads: Vec<Upload>,
    pub truncated: bool,
}

fn upload_from(row: &AnyRow) -> Result<Upload> {
    let attrs: String = row.try_get("attrs")?;
    Ok(Upload {
        upload_id: row.try_get("upload_id")?,
        bucket: row.try_get("bucket")?,
        key: row.try_get("key")?,
        initiated_ms: row.try_get("initiated_ms")?,
        attrs: serde_json::from_str(&attrs)?,
        owner: row.try_get("owner")?,
    })
}

fn part_from(row: &AnyRow) -> Result<Part> {
    let number: i64 = row.try_get("part_number")?;
    let size: i64 = row.try_get("size")?;
    Ok(Part {
        number: u32::try_from(number).map_err(|_| Error::Corrupt("part number".into()))?,
        blob: row.try_get("blob")?,
        size: u64::try_from(size).map_err(|_| Error::Corrupt("part size".into()))?,
        etag: row.try_get("etag")?,
        modified_ms: row.try_get("modified_ms")?,
        checksums: decode_checksums(&row.try_get::<String, _>("checksums")?)?,
    })
}

const UPLOAD_COLUMNS: &str = "upload_id, bucket, key, initiated_ms, attrs, owner";

/// Upload `upload_id` of `bucket`, locked as `lock` says (`""` for none, or [`Lock::sql`]).
async fn upload_in(conn: &mut AnyConnection, bucket: &str, upload_id: &str, lock: &str) -> Result<Upload> {
    let row = sqlx::query(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = $1 AND bucket = $2{lock}"
    ))
    .bind(upload_id)
    .bind(bucket)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(upload_from).transpose()?.ok_or(Error::NoSuchUpload)
}

impl Meta {
    pub async fn create_upload(&self, bucket: &str, key: &str, attrs: &ObjectAttrs, owner: &str) -> Result<Upload> {
        let upload = &Upload {
            upload_id: uuid::Uuid::new_v4().simple().to_string(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            initiated_ms: now_ms(),
            attrs: attrs.clone(),
            owner: owner.to_owned(),
        };
        self.on_shard(bucket, |shard, route| async move {
            transaction!(&shard, Isolation::ReadCommitted, |tx| {
                hold_bucket(&mut tx, shard.backend, bucket, &route.incarnation).await?;
                sqlx::query(&format!(
                    "INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
                ))
                .bind(&upload.upload_id)
                .bind(&upload.bucket)
                .bind(&upload.key)
                .bind(upload.initiated_ms)
                .bind(serde_json::to_string(&upload.attrs)?)
                .bind(&upload.owner)
                .execute(&mut *tx)
                .await?;
                Ok(upload.clone())
            })
        })
        .await
    }

    /// Upload `upload_id` of `bucket`.
    pub async fn upload(&self, bucket: &str, upload_id: &str) -> Result<Upload> {
        let shard = self.shard_of(bucket).await?;
        let mut conn = shard.pool.acquire().await?;
        upload_in(&mut conn, bucket, upload_id, "").await
    }

    /// Records an uploaded part, replacing (and marking dead) an earlier part of that number.
    /// The upload is locked `FOR SHARE`: it cannot complete or be aborted under the part.
    pub async fn commit_part(&self, bucket: &str, upload_id: &str, new: NewPart) -> Result<Part> {
        let shard = self.shard_of(bucket).await?;
        let (bucket, upload_id) = (bucket.to_owned(), upload_id.to_owned());
        let (number, size) = (new.number, new.size);
        let part = Part {
            number,
            blob: new.blob,
            size,
            etag: new.etag,
            modified_ms: now_ms(),
            checksums: new.checksums,
        };
        let checksums = encode_checksums(&part.checksums)?;
        let share = Lock::Share.sql(shard.backend);
        shard
            .write(Box::new(move |conn| {
                let (bucket, upload_id, part) = (bucket.clone(), upload_id.clone(), part.clone());
                let checksums = checksums.clone();
                Box::pin(async move {
                    upload_in(&mut *conn, &bucket, &upload_id, share).await?;
                    drop_parts(&mut *conn, &upload_id, Some(number), &[], part.modified_ms).await?;
                    sqlx::query(
                        "INSERT INTO parts (upload_id, part_number, blob, size, etag, modified_ms, checksums)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&upload_id)
                    .bind(i64::from(number))
                    .bind(&part.blob)
                    .bind(db_size(size))
                    .bind(&part.etag)
                    .bind(part.modified_ms)
                    .bind(&checksums)
                    .execute(&mut *conn)
                    .await?;
                    crate::blobs::make_live(&mut *conn, &[(part.blob.clone(), size)]).await?;
                    Ok(part)
                })
            }))
            .await
    }

    /// Parts numbered above `after`, at most `max`; the flag tells whether more follow.
    pub async fn parts(&self, bucket: &str, upload_id: &str, after: u32, max: usize) -> Result<(Vec<Part>, bool)> {
        let shard = self.shard_of(bucket).await?;
        let rows = sqlx::query(
            "SELECT part_number, blob, size, etag, modified_ms, checksums FROM parts
             WHERE upload_id = $1 AND part_number > $2 ORDER BY part_number LIMIT $3",
        )
        .bind(upload_id)
        .bind(i64::from(after))
        .bind(i64::try_from(max + 1).unwrap_or(i64::MAX))
        .fetch_all(&shard.pool)
        .await?;
        let mut parts = rows.iter().map(part_from).collect::<Result<Vec<_>>>()?;
        let truncated = parts.len() > max;
        parts.truncate(max);
        Ok((parts, truncated))
    }

    /// Uploads in progress in `bucket` under `prefix`, in (key, upload id) order after the
    /// markers.
    pub async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
        max: usize,
    ) -> Result<UploadPage> {
        let shard = self.shard_of(bucket).await?;
        let rows = sqlx::query(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads
             WHERE bucket = $1 AND key >= $2 AND (key > $3 OR (key = $3 AND upload_id > $4))
             ORDER BY key, upload_id LIMIT $5"
        ))
        .bind(bucket)
        .bind(prefix)
        .bind(key_marker)
        .bind(upload_id_marker)
        .bind(i64::try_from(max + 1).unwrap_or(i64::MAX))
        .fetch_all(&shard.pool)
        .await?;
        let mut uploads = Vec::new();
        for row in &rows {
            let upload = upload_from(row)?;
            if !upload.key.starts_with(prefix) {
                break;
            }
            uploads.push(upload);
        }
        let truncated = uploads.len() > max;
        uploads.truncate(max);
        Ok(UploadPage { uploads, truncated })
    }

    /// Completes an upload: checks the chosen parts, makes the object current, and drops the
    /// upload (unchosen parts become dead blobs).
    ///
    /// An upload that is gone was completed if the key's object is still the one it made, from
    /// the same parts: the retry of a completion whose answer was lost succeeds with it.
    pub async fn complete_upload(&self, c: Completion<'_>, min_part_size: u64) -> Result<Version> {
        let Completion {
            bucket,
            key,
            upload_id,
            parts: chosen,
            condition,
            checksums,
        } = c;
        self.on_shard(bucket, |shard, route| async move {
        let done = transaction!(&shard, Isolation::ReadCommitted, |tx| {
            // Locked: no part lands, and no other completion or abort runs, meanwhile.
            let upload = upload_in(&mut tx, bucket, upload_id, Lock::Update.sql(shard.backend)).await?;
            if upload.key != key {
                return Err(Error::NoSuchUpload);
            }
            let bucket_state = hold_bucket(&mut tx, shard.backend, bucket, &route.incarnation).await?;
            let rows = sqlx::query(
                "SELECT part_number, blob, size, etag, modified_ms, checksums FROM parts WHERE upload_id = $1 ORDER BY part_number",
            )
            .bind(upload_id)
            .fetch_all(&mut *tx)
            .await?;
            let stored = rows.iter().map(part_from).collect::<Result<Vec<_>>>()?;
            let mut parts = Vec::with_capacity(chosen.len());
            for (i, choice) in chosen.iter().enumerate() {
                if i > 0 && choice.number <= chosen[i - 1].number {
                    return Err(Error::InvalidPartOrder);
                }
                let part = stored
                    .iter()
                    .find(|p| p.number == choice.number && p.etag == choice.etag)
                    .ok_or(Error::InvalidPart(choice.number))?;
                parts.push(part);
            }
            if parts.is_empty() {
                return Err(Error::InvalidPart(0));
            }
            if let Some(small) = parts[..parts.len() - 1].iter().find(|p| p.size < min_part_size) {
                return Err(Error::EntityTooSmall(small.number));
            }
            let etag = multipart_etag(parts.iter().map(|p| p.etag.as_str()))
                .ok_or_else(|| Error::Corrupt("part etag".into()))?;
            let mut attrs = upload.attrs.clone();
            attrs.completed_upload = Some(upload.upload_id.clone());
            attrs.checksums = checksums.clone();
            let new = NewVersion {
                bucket: upload.bucket.clone(),
                key: upload.key.clone(),
                size: parts.iter().map(|p| p.size).sum(),
                etag,
                parts_count: u32::try_from(parts.len()).ok(),
                pieces: parts
                    .iter()
                    .map(|p| Piece {
                        blob: p.blob.clone(),
                        size: p.size,
                        part: Some(p.number),
                        checksums: p.checksums.clone(),
                    })
                    .collect(),
                attrs,
                owner: upload.owner.clone(),
            };
            let mut version = version_of(&new, now_ms());
            bucket_state.shape(&mut version)?;
            replace_current(&mut tx, shard.backend, &version, condition).await?;
            let kept: Vec<&str> = parts.iter().map(|p| p.blob.as_str()).collect();
            drop_upload(&mut tx, upload_id, Some(&kept)).await?;
            Ok(version)
        });
        match done {
            Err(Error::NoSuchUpload) => {
                let made = multipart_etag(chosen.iter().map(|p| p.etag.as_str()));
                match shard.object(&route, bucket, key).await {
                    Ok(v) if v.attrs.completed_upload.as_deref() == Some(upload_id) && Some(&v.etag) == made.as_ref() => {
                        Ok(v)
                    }
                    Ok(_) | Err(Error::NoSuchKey) => Err(Error::NoSuchUpload),
                    Err(e) => Err(e),
                }
            }
            done => done,
        }
        })
        .await
    }

    pub async fn abort_upload(&self, bucket: &str, upload_id: &str) -> Result<()> {
        let shard = self.shard_of(bucket).await?;
        transaction!(&shard, Isolation::ReadCommitted, |tx| {
            upload_in(&mut tx, bucket, upload_id, Lock::Update.sql(shard.backend)).await?;
            drop_upload(&mut tx, upload_id, None).await?;
            Ok(())
        })
    }
}

/// Deletes an upload and its parts; part blobs not in `keep` become dead.
pub(crate) async fn drop_upload(conn: &mut AnyConnection, upload_id: &str, keep: Option<&[&str]>) -> Result<()> {
    drop_parts(conn, upload_id, None, keep.unwrap_or_default(), now_ms()).await?;
    sqlx::query("DELETE FROM uploads WHERE upload_id = $1")
        .bind(upload_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Deletes an upload's parts (or just part `only`), marking their blobs dead unless kept.
async fn drop_parts(
    conn: &mut AnyConnection,
    upload_id: &str,
    only: Option<u32>,
    keep: &[&str],
    now: i64,
) -> Result<()> {
    let only = only.map(i64::from);
    let blobs: Vec<String> =
        sqlx::query_scalar("SELECT blob FROM parts WHERE upload_id = $1 AND ($2 IS NULL OR part_number = $2)")
            .bind(upload_id)
            .bind(only)
            .fetch_all(&mut *conn)
            .await?;
    let dead: Vec<String> = blobs.into_iter().filter(|b| !keep.contains(&b.as_str())).collect();
    crate::blobs::mark_dead(conn, &dead, now).await?;
    sqlx::query("DELETE FROM parts WHERE upload_id = $1 AND ($2 IS NULL OR part_number = $2)")
        .bind(upload_id)
        .bind(only)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Condition, test_store};

    #[tokio::test]
    async fn complete_checks_parts_and_reuses_blobs() {
        let (_dir, meta) = test_store().await;
        let a = crate::test_bucket(&meta).await;
        let up = meta
            .create_upload("b", "k", &ObjectAttrs::default(), &a.id)
            .await
            .unwrap();
        let md5_a = "0cc175b9c0f1b6a831c399e269772661";
        let md5_b = "92eb5ffee6ae2fec3ad71c777531578f";
        for (n, blob, etag, size) in [(1, "p1", md5_a, 10), (2, "p2", md5_b, 3), (3, "p3", md5_b, 3)] {
            meta.begin_blob(blob, "b").await.unwrap();
            let part = NewPart {
                number: n,
                blob: blob.into(),
                size,
                etag: etag.into(),
                checksums: [("CRC32".to_owned(), format!("crc-of-{n}"))].into(),
            };
            meta.commit_part("b", &up.upload_id, part).await.unwrap();
        }
        let choice = |n: u32, etag: &str| PartChoice {
            number: n,
            etag: etag.into(),
        };
        let complete = |parts: &[PartChoice], condition: Condition| {
            let (meta, upload_id, parts) = (&meta, up.upload_id.clone(), parts.to_vec());
            async move {
                let c = Completion {
                    bucket: "b",
                    key: "k",
                    upload_id: &upload_id,
                    parts: &parts,
                    condition: &condition,
                    checksums: &BTreeMap::new(),
                };
                meta.complete_upload(c, 5).await
            }
        };
        let none = || Condition::None;
        assert!(matches!(
            complete(&[choice(2, md5_b), choice(1, md5_a)], none()).await,
            Err(Error::InvalidPartOrder)
        ));
        assert!(matches!(
            complete(&[choice(1, md5_b)], none()).await,
            Err(Error::InvalidPart(1))
        ));
        assert!(matches!(
            complete(&[choice(2, md5_b), choice(3, md5_b)], none()).await,
            Err(Error::EntityTooSmall(2))
        ));
        // The key holds no object: If-Match fails, If-None-Match passes.
        let chosen = [choice(1, md5_a), choice(2, md5_b)];
        assert!(matches!(
            complete(&chosen, Condition::ETag("*".into())).await,
            Err(Error::NoSuchKey)
        ));
        let v = complete(&chosen, Condition::NotETag(md5_a.into())).await.unwrap();
        assert_eq!(v.size, 13);
        assert_eq!(v.parts_count, Some(2));
        assert!(v.etag.ends_with("-2"));
        assert_eq!(
            v.pieces.iter().map(|p| p.blob.as_str()).collect::<Vec<_>>(),
            ["p1", "p2"]
        );
        // The pieces keep their parts' numbers and checksums.
        let read = meta.object("b", "k").await.unwrap();
        for piece in [&v.pieces, &read.pieces] {
            let parts: Vec<_> = piece.iter().map(|p| (p.part, p.checksums["CRC32"].as_str())).collect();
            assert_eq!(parts, [(Some(1), "crc-of-1"), (Some(2), "crc-of-2")]);
        }
        assert_eq!(read.attrs.completed_upload.as_deref(), Some(up.upload_id.as_str()));
        assert!(matches!(
            meta.upload("b", &up.upload_id).await,
            Err(Error::NoSuchUpload)
        ));
        // Part 3 was not chosen: its blob is dead; the chosen ones are not.
        let reap = meta.claim_blobs(crate::MAIN, now_ms() + 86_400_000, 10).await.unwrap();
        assert_eq!(reap, vec!["p3".to_owned()]);
        // A retry of the completion gets the same object; other parts, or an object written
        // since, make it NoSuchUpload.
        let again = complete(&chosen, none()).await.unwrap();
        assert_eq!(
            (again.etag.as_str(), again.modified_ms),
            (v.etag.as_str(), v.modified_ms)
        );
        assert!(matches!(complete(&chosen[..1], none()).await, Err(Error::NoSuchUpload)));
        // An object written since.
        meta.begin_blob("p4", "b").await.unwrap();
        let plain = crate::objects::tests::new_version("b", "k", "p4");
        meta.commit_object(&plain, &Condition::None).await.unwrap();
        assert!(matches!(complete(&chosen, none()).await, Err(Error::NoSuchUpload)));
        let other = meta
            .create_upload("b", "k", &ObjectAttrs::default(), &a.id)
            .await
            .unwrap();
        assert!(matches!(
            meta.complete_upload(
                Completion {
                    bucket: "b",
                    key: "other",
                    upload_id: &other.upload_id,
                    parts: &chosen,
                    condition: &none(),
                    checksums: &BTreeMap::new(),
                },
                5
            )
            .await,
            Err(Error::NoSuchUpload)
        ));
    }
}
