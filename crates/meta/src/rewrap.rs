//! After a master key rotation: every sealed value sealed under an older key is sealed again
//! under the current one (access keys' secrets, provider credentials and shard URLs in the
//! catalog; the data keys of SSE-S3 objects and uploads in every shard). Once a rewrap has
//! left nothing under an older key, that key can leave the key file.

use osg_model::encryption::SSE_S3_SEAL_ROW;
use osg_model::{ObjectAttrs, SseMode};
use sqlx::Row;

use crate::{Meta, Result};

/// Rows read per query while walking a shard's versions or uploads.
const PAGE: i64 = 500;

/// A catalog table's sealed column: table, id column, sealed column, and the row each value is
/// bound to.
type SealedColumn = (&'static str, &'static str, &'static str, fn(&str) -> String);

/// What a rewrap did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rewrapped {
    /// Secrets, credentials and URLs sealed again.
    pub secrets: u64,
    /// Data keys of SSE-S3 versions and uploads sealed again.
    pub data_keys: u64,
    /// Values still under an older key when the rewrap stopped (changed by writes while it
    /// ran): run it again. Zero when the last pass found nothing to do.
    pub changed: u64,
}

/// Passes a rewrap makes at most: each but the last finds something left by writes that raced
/// the one before (an upload completed into a version already passed, a gateway still sealing
/// with an older key).
const MAX_PASSES: u32 = 5;

impl Meta {
    /// Seals again, under the current master key, every value sealed under an older one; pass
    /// after pass until one finds nothing left to do (`changed` is then 0), or
    /// [`MAX_PASSES`] have run (`changed` counts what the last one still found).
    pub async fn rewrap(&self) -> Result<Rewrapped> {
        let mut total = Rewrapped::default();
        for _ in 0..MAX_PASSES {
            let pass = self.rewrap_pass().await?;
            total.secrets += pass.secrets;
            total.data_keys += pass.data_keys;
            total.changed = pass.secrets + pass.data_keys + pass.changed;
            if total.changed == 0 {
                break;
            }
        }
        Ok(total)
    }

    async fn rewrap_pass(&self) -> Result<Rewrapped> {
        let mut done = Rewrapped::default();
        let catalog: [SealedColumn; 3] = [
            ("access_keys", "access_key", "secret", crate::keys::key_row),
            ("providers", "name", "secret", crate::providers::provider_row),
            ("shards", "name", "url", crate::shard::shard_row),
        ];
        for (table, id, column, row_of) in catalog {
            let rows: Vec<(String, String)> = sqlx::query_as(&format!("SELECT {id}, {column} FROM {table}"))
                .fetch_all(&self.catalog.pool)
                .await?;
            for (name, sealed) in rows {
                let row = row_of(&name);
                if self.sealer.is_current(&row, &sealed) {
                    continue;
                }
                let again = self.sealer.seal_bytes(&row, &self.sealer.open_bytes(&row, &sealed)?);
                let updated = sqlx::query(&format!(
                    "UPDATE {table} SET {column} = $1 WHERE {id} = $2 AND {column} = $3"
                ))
                .bind(&again)
                .bind(&name)
                .bind(&sealed)
                .execute(&self.catalog.pool)
                .await?;
                if updated.rows_affected() == 1 {
                    done.secrets += 1;
                } else {
                    done.changed += 1;
                }
            }
        }
        for shard in self.shard_names().await? {
            let pool = &self.shard(&shard).await?.pool;
            // Uploads, by their id.
            let mut after = String::new();
            loop {
                let rows: Vec<(String, String)> = sqlx::query_as(&format!(
                    "SELECT upload_id, attrs FROM uploads WHERE upload_id > $1 AND attrs LIKE '%\"sealed_key\"%'
                     ORDER BY upload_id LIMIT {PAGE}"
                ))
                .bind(&after)
                .fetch_all(pool)
                .await?;
                for (id, text) in &rows {
                    after.clone_from(id);
                    let Some((old, new)) = self.rewrapped_attrs(text)? else {
                        continue;
                    };
                    let updated = sqlx::query("UPDATE uploads SET attrs = $1 WHERE upload_id = $2 AND attrs = $3")
                        .bind(&new)
                        .bind(id)
                        .bind(&old)
                        .execute(pool)
                        .await?;
                    done.count_data_key(updated.rows_affected());
                }
                if (rows.len() as i64) < PAGE {
                    break;
                }
            }
            // Versions, by their primary key (after uploads: one completing meanwhile moves
            // its data key into a version).
            let mut after = (String::new(), String::new(), String::new());
            loop {
                let rows = sqlx::query(&format!(
                    "SELECT bucket, key, version_id, attrs FROM versions
                     WHERE (bucket, key, version_id) > ($1, $2, $3) AND attrs LIKE '%\"sealed_key\"%'
                     ORDER BY bucket, key, version_id LIMIT {PAGE}"
                ))
                .bind(&after.0)
                .bind(&after.1)
                .bind(&after.2)
                .fetch_all(pool)
                .await?;
                for r in &rows {
                    after = (r.try_get("bucket")?, r.try_get("key")?, r.try_get("version_id")?);
                    let Some((old, new)) = self.rewrapped_attrs(&r.try_get::<String, _>("attrs")?)? else {
                        continue;
                    };
                    let updated = sqlx::query(
                        "UPDATE versions SET attrs = $1 WHERE bucket = $2 AND key = $3 AND version_id = $4 AND attrs = $5",
                    )
                    .bind(&new)
                    .bind(&after.0)
                    .bind(&after.1)
                    .bind(&after.2)
                    .bind(&old)
                    .execute(pool)
                    .await?;
                    done.count_data_key(updated.rows_affected());
                }
                if (rows.len() as i64) < PAGE {
                    break;
                }
            }
        }
        Ok(done)
    }

    /// Stored attributes `text` with their SSE-S3 data key sealed again under the current key:
    /// `(text, new text)`, or `None` when there is nothing to do.
    fn rewrapped_attrs(&self, text: &str) -> Result<Option<(String, String)>> {
        let mut attrs: ObjectAttrs = serde_json::from_str(text)?;
        let Some(e) = attrs.encryption.as_mut().filter(|e| e.mode == SseMode::S3) else {
            return Ok(None);
        };
        if self.sealer.is_current(SSE_S3_SEAL_ROW, &e.sealed_key) {
            return Ok(None);
        }
        let key = self.sealer.open_bytes(SSE_S3_SEAL_ROW, &e.sealed_key)?;
        e.sealed_key = self.sealer.seal_bytes(SSE_S3_SEAL_ROW, &key);
        Ok(Some((text.to_owned(), serde_json::to_string(&attrs)?)))
    }
}

impl Rewrapped {
    fn count_data_key(&mut self, rows: u64) {
        if rows == 1 {
            self.data_keys += 1;
        } else {
            self.changed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use osg_model::{BucketConfig, Encryption, NewVersion, ObjectAttrs, Piece, SseMode};

    use super::SSE_S3_SEAL_ROW;
    use crate::{Condition, Meta, Rewrapped, Sealer, test_url};

    fn encrypted(sealer: &Sealer) -> ObjectAttrs {
        ObjectAttrs {
            encryption: Some(Encryption {
                mode: SseMode::S3,
                format: 1,
                sealed_key: sealer.seal_bytes(SSE_S3_SEAL_ROW, &[7; 32]),
                customer_key_md5: None,
            }),
            ..ObjectAttrs::default()
        }
    }

    #[tokio::test]
    async fn a_rewrap_moves_every_sealed_value_to_the_current_key() {
        let (_dir, url) = test_url().await;
        let (old, new) = (Sealer::generate_key(), Sealer::generate_key());
        let before = Meta::open(&url, Sealer::new(&old)).await.unwrap();
        let account = before.create_account("a").await.unwrap();
        let (access_key, secret) = before.create_access_key(&account.id, None).await.unwrap();
        let bucket = crate::NewBucket {
            name: "b",
            owner: &account.id,
            region: "us-east-1",
            provider: "walrus",
            object_lock: false,
        };
        before
            .create_bucket(bucket, BucketConfig::default(), 100)
            .await
            .unwrap();
        for key in ["k1", "k2"] {
            before.begin_blob(&format!("{key}@walrus"), "b").await.unwrap();
            let version = NewVersion {
                bucket: "b".into(),
                key: key.into(),
                size: 0,
                etag: "e".into(),
                parts_count: None,
                pieces: vec![Piece::whole(format!("{key}@walrus"), 0)],
                attrs: encrypted(before.sealer()),
                owner: account.id.clone(),
            };
            before.commit_object(&version, &Condition::None).await.unwrap();
        }
        let upload = before
            .create_upload("b", "u", &encrypted(before.sealer()), &account.id)
            .await
            .unwrap();
        drop(before);

        let rotated = Meta::open(&url, Sealer::with_older(&new, &[old])).await.unwrap();
        let done = rotated.rewrap().await.unwrap();
        assert_eq!(
            (done.secrets, done.data_keys, done.changed),
            (1, 3, 0),
            "the account's key; two versions and an upload"
        );
        assert_eq!(rotated.rewrap().await.unwrap(), Rewrapped::default());
        drop(rotated);

        // Only the new key left: everything opens.
        let after = Meta::open(&url, Sealer::new(&new)).await.unwrap();
        let opened = after.secret_key(&access_key).await.unwrap().unwrap();
        assert_eq!(secrecy::ExposeSecret::expose_secret(&opened), secret);
        for key in ["k1", "k2"] {
            let e = after.object("b", key).await.unwrap().attrs.encryption.unwrap();
            assert_eq!(
                after
                    .sealer()
                    .open_bytes(SSE_S3_SEAL_ROW, &e.sealed_key)
                    .unwrap()
                    .as_slice(),
                &[7; 32]
            );
        }
        let e = after
            .upload("b", &upload.upload_id)
            .await
            .unwrap()
            .attrs
            .encryption
            .unwrap();
        assert!(after.sealer().open_bytes(SSE_S3_SEAL_ROW, &e.sealed_key).is_ok());
    }
}
