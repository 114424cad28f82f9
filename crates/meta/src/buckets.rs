//! Buckets: a name, an owner, the region it was created in, and its access settings.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Error, Meta, Result, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    /// Owning account id.
    pub owner: String,
    pub region: String,
    pub created_ms: i64,
    /// The provider holding the bucket's bytes, chosen at creation.
    pub provider: String,
    pub access: BucketAccess,
}

/// How a bucket's access is set besides its policy. The gateway owns the formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketAccess {
    /// Object Ownership: `BucketOwnerEnforced` (ACLs off), `BucketOwnerPreferred` or
    /// `ObjectWriter`.
    pub ownership: String,
    /// The bucket ACL as JSON; empty for the owner alone.
    pub acl: String,
    /// The Public Access Block settings as JSON; empty when none is set.
    pub public_access_block: String,
}

impl Default for BucketAccess {
    fn default() -> Self {
        // As AWS creates buckets today: ACLs disabled.
        Self {
            ownership: "BucketOwnerEnforced".into(),
            acl: String::new(),
            public_access_block: String::new(),
        }
    }
}

/// What a new bucket is: its name, owning account id, region and provider.
#[derive(Debug, Clone, Copy)]
pub struct NewBucket<'a> {
    pub name: &'a str,
    pub owner: &'a str,
    pub region: &'a str,
    pub provider: &'a str,
}

/// One field of [`BucketAccess`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketSetting {
    Ownership,
    Acl,
    PublicAccessBlock,
}

const BUCKET_COLUMNS: &str = "name, account_id, region, created_ms, provider, ownership, acl, public_access_block";

fn bucket_from(row: &AnyRow) -> Result<Bucket> {
    Ok(Bucket {
        name: row.try_get("name")?,
        owner: row.try_get("account_id")?,
        region: row.try_get("region")?,
        created_ms: row.try_get("created_ms")?,
        provider: row.try_get("provider")?,
        access: BucketAccess {
            ownership: row.try_get("ownership")?,
            acl: row.try_get("acl")?,
            public_access_block: row.try_get("public_access_block")?,
        },
    })
}

impl Meta {
    /// Creates a bucket unless the name is taken or `owner` already has `max_buckets`.
    pub async fn create_bucket(&self, new: NewBucket<'_>, access: BucketAccess, max_buckets: i64) -> Result<Bucket> {
        let NewBucket {
            name,
            owner,
            region,
            provider,
        } = new;
        let (_guard, mut tx) = self.begin_write().await?;
        let existing: Option<String> = sqlx::query_scalar("SELECT account_id FROM buckets WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(existing) = existing {
            return Err(Error::BucketExists {
                owned_by_caller: existing == owner,
            });
        }
        let owned: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM buckets WHERE account_id = $1")
            .bind(owner)
            .fetch_one(&mut *tx)
            .await?;
        if owned >= max_buckets {
            return Err(Error::TooManyBuckets(max_buckets));
        }
        let bucket = Bucket {
            name: name.to_owned(),
            owner: owner.to_owned(),
            region: region.to_owned(),
            created_ms: now_ms(),
            provider: provider.to_owned(),
            access,
        };
        sqlx::query(&format!(
            "INSERT INTO buckets ({BUCKET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&bucket.name)
        .bind(&bucket.owner)
        .bind(&bucket.region)
        .bind(bucket.created_ms)
        .bind(&bucket.provider)
        .bind(&bucket.access.ownership)
        .bind(&bucket.access.acl)
        .bind(&bucket.access.public_access_block)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(bucket)
    }

    pub async fn bucket(&self, name: &str) -> Result<Bucket> {
        let row = sqlx::query(&format!("SELECT {BUCKET_COLUMNS} FROM buckets WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(bucket_from).transpose()?.ok_or(Error::NoSuchBucket)
    }

    pub async fn buckets_of(&self, owner: &str) -> Result<Vec<Bucket>> {
        let rows = sqlx::query(&format!(
            "SELECT {BUCKET_COLUMNS} FROM buckets WHERE account_id = $1 ORDER BY name"
        ))
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(bucket_from).collect()
    }

    /// Deletes an empty bucket. Multipart uploads still in progress are aborted with it.
    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        let (_guard, mut tx) = self.begin_write().await?;
        if Self::exists(&mut tx, "SELECT 1 FROM versions WHERE bucket = $1 LIMIT 1", &[name]).await? {
            return Err(Error::BucketNotEmpty);
        }
        let upload_ids: Vec<String> = sqlx::query_scalar("SELECT upload_id FROM uploads WHERE bucket = $1")
            .bind(name)
            .fetch_all(&mut *tx)
            .await?;
        for upload_id in &upload_ids {
            Self::drop_upload(&mut tx, upload_id, None).await?;
        }
        sqlx::query("DELETE FROM bucket_policies WHERE bucket = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM buckets WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(Error::NoSuchBucket);
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Meta {
    /// Sets one of a bucket's access settings; the others are left as they are, so changes
    /// to different settings made at the same time do not undo each other.
    pub async fn set_bucket_setting(&self, bucket: &str, setting: BucketSetting, value: &str) -> Result<()> {
        let column = match setting {
            BucketSetting::Ownership => "ownership",
            BucketSetting::Acl => "acl",
            BucketSetting::PublicAccessBlock => "public_access_block",
        };
        let (_guard, mut tx) = self.begin_write().await?;
        let updated = sqlx::query(&format!("UPDATE buckets SET {column} = $1 WHERE name = $2"))
            .bind(value)
            .bind(bucket)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if updated.rows_affected() == 0 {
            return Err(Error::NoSuchBucket);
        }
        Ok(())
    }

    /// Sets (or replaces) a bucket's policy; the document is validated by the caller.
    pub async fn put_bucket_policy(&self, bucket: &str, document: &str) -> Result<()> {
        let (_guard, mut tx) = self.begin_write().await?;
        crate::objects::ensure_bucket(&mut tx, bucket).await?;
        sqlx::query(
            "INSERT INTO bucket_policies (bucket, document) VALUES ($1, $2)
             ON CONFLICT (bucket) DO UPDATE SET document = excluded.document",
        )
        .bind(bucket)
        .bind(document)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn bucket_policy(&self, bucket: &str) -> Result<Option<String>> {
        let doc = sqlx::query_scalar("SELECT document FROM bucket_policies WHERE bucket = $1")
            .bind(bucket)
            .fetch_optional(&self.pool)
            .await?;
        Ok(doc)
    }

    /// Removes a bucket's policy; returns whether there was one.
    pub async fn delete_bucket_policy(&self, bucket: &str) -> Result<bool> {
        let (_guard, mut tx) = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM bucket_policies WHERE bucket = $1")
            .bind(bucket)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Error, test_store};

    #[tokio::test]
    async fn create_get_list_delete() {
        let (_dir, meta) = test_store().await;
        let a = meta.create_account("a").await.unwrap();
        let b = meta.create_account("b").await.unwrap();
        meta.create_bucket(
            crate::NewBucket {
                name: "one",
                owner: &a.id,
                region: "us-east-1",
                provider: "walrus",
            },
            crate::BucketAccess::default(),
            100,
        )
        .await
        .unwrap();
        assert!(matches!(
            meta.create_bucket(
                crate::NewBucket {
                    name: "one",
                    owner: &a.id,
                    region: "us-east-1",
                    provider: "walrus"
                },
                crate::BucketAccess::default(),
                100
            )
            .await,
            Err(Error::BucketExists { owned_by_caller: true })
        ));
        assert!(matches!(
            meta.create_bucket(
                crate::NewBucket {
                    name: "one",
                    owner: &b.id,
                    region: "us-east-1",
                    provider: "walrus"
                },
                crate::BucketAccess::default(),
                100
            )
            .await,
            Err(Error::BucketExists { owned_by_caller: false })
        ));
        assert_eq!(meta.bucket("one").await.unwrap().owner, a.id);
        assert_eq!(meta.buckets_of(&a.id).await.unwrap().len(), 1);
        assert!(meta.buckets_of(&b.id).await.unwrap().is_empty());
        assert!(matches!(
            meta.create_bucket(
                crate::NewBucket {
                    name: "two",
                    owner: &a.id,
                    region: "us-east-1",
                    provider: "walrus"
                },
                crate::BucketAccess::default(),
                1
            )
            .await,
            Err(Error::TooManyBuckets(1))
        ));
        meta.put_bucket_policy("one", "{}").await.unwrap();
        assert_eq!(meta.bucket_policy("one").await.unwrap().as_deref(), Some("{}"));
        assert!(meta.delete_bucket_policy("one").await.unwrap());
        assert!(!meta.delete_bucket_policy("one").await.unwrap());
        meta.put_bucket_policy("one", "{}").await.unwrap();
        meta.delete_bucket("one").await.unwrap();
        assert!(matches!(meta.bucket("one").await, Err(Error::NoSuchBucket)));
        assert_eq!(
            meta.bucket_policy("one").await.unwrap(),
            None,
            "the policy goes with the bucket"
        );
        assert!(matches!(meta.delete_bucket("one").await, Err(Error::NoSuchBucket)));
    }
}
