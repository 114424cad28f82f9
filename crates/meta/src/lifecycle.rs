//! Lifecycle: a bucket's rules (in its configuration) and their runs. Every gateway runs
//! lifecycle; a run of one bucket is leased (`lifecycle_runs`, in the catalog) so that one
//! gateway at a time works through it, saving where it is as it goes; when its lease runs out
//! (the gateway died), another takes the run over from there. Expirations re-check inside
//! their write that what the run saw is still so ([`Expiry`]): running a bucket twice, or
//! racing a client's write, expires nothing that should stay.

use osg_model::Lifecycle;
use sqlx::Row;

use crate::buckets::change_config;
#[cfg(test)]
use crate::objects::ExpiryKind;
use crate::objects::{Deleted, Expiry};
use crate::write::{Isolation, transaction};
use crate::{Bucket, BucketConfig, Error, Meta, Result};

/// A run a gateway holds: where it resumes (empty: from the start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub cursor: String,
}

impl Meta {
    /// Sets (or with `None` removes) `bucket`'s lifecycle configuration, checked by the
    /// model; a bucket with one is scheduled for runs.
    pub async fn set_lifecycle(&self, bucket: &str, lifecycle: Option<Lifecycle>) -> Result<()> {
        transaction!(&self.catalog, Isolation::ReadCommitted, |tx| {
            let change = |c: &mut BucketConfig| c.set_lifecycle(lifecycle.clone());
            let config = change_config(&mut tx, self.catalog.backend, bucket, &change).await?;
            // New rules start a new run: one in progress loses its lease at its next page.
            let schedule = if config.lifecycle().is_some() {
                "INSERT INTO lifecycle_runs (bucket) VALUES ($1) ON CONFLICT (bucket) DO UPDATE
                 SET holder = '', lease_until_ms = 0, run_day_ms = 0, cursor = '', done_day_ms = 0"
            } else {
                "DELETE FROM lifecycle_runs WHERE bucket = $1"
            };
            sqlx::query(schedule).bind(bucket).execute(&mut *tx).await?;
            Ok(())
        })
    }

    /// Buckets whose run for the day that began at `day_start_ms` has not finished and that no
    /// other gateway holds at `now_ms` (`holder`'s own included).
    pub async fn due_lifecycle_runs(&self, holder: &str, day_start_ms: i64, now_ms: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT bucket FROM lifecycle_runs
             WHERE done_day_ms < $1 AND (holder = '' OR holder = $2 OR lease_until_ms < $3) ORDER BY bucket",
        )
        .bind(day_start_ms)
        .bind(holder)
        .bind(now_ms)
        .fetch_all(&self.catalog.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("bucket")?)).collect()
    }

    /// Takes `bucket`'s run for `holder` until `until_ms`, if it is due (not finished since
    /// `day_start_ms`) and nobody else holds it at `now_ms`. A run left unfinished on an
    /// earlier day starts again from the beginning.
    pub async fn claim_lifecycle_run(
        &self,
        bucket: &str,
        holder: &str,
        day_start_ms: i64,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Option<Claimed>> {
        transaction!(&self.catalog, Isolation::ReadCommitted, |tx| {
            let taken = sqlx::query(
                "UPDATE lifecycle_runs SET holder = $1, lease_until_ms = $2, run_day_ms = $4,
                    cursor = CASE WHEN run_day_ms = $4 THEN cursor ELSE '' END
                 WHERE bucket = $3 AND done_day_ms < $4 AND (holder = '' OR holder = $1 OR lease_until_ms < $5)",
            )
            .bind(holder)
            .bind(until_ms)
            .bind(bucket)
            .bind(day_start_ms)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            if taken.rows_affected() == 0 {
                return Ok(None);
            }
            let cursor: String = sqlx::query_scalar("SELECT cursor FROM lifecycle_runs WHERE bucket = $1")
                .bind(bucket)
                .fetch_one(&mut *tx)
                .await?;
            Ok(Some(Claimed { cursor }))
        })
    }

    /// Records that `holder`'s run of `bucket` is done up to `cursor`, and extends its lease
    /// to `until_ms`; `false` if the run is no longer `holder`'s (its lease ran out and
    /// another gateway took it).
    pub async fn lifecycle_progress(&self, bucket: &str, holder: &str, cursor: &str, until_ms: i64) -> Result<bool> {
        transaction!(&self.catalog, Isolation::ReadCommitted, |tx| {
            let kept = sqlx::query(
                "UPDATE lifecycle_runs SET cursor = $1, lease_until_ms = $2 WHERE bucket = $3 AND holder = $4",
            )
            .bind(cursor)
            .bind(until_ms)
            .bind(bucket)
            .bind(holder)
            .execute(&mut *tx)
            .await?;
            Ok(kept.rows_affected() == 1)
        })
    }

    /// Ends `holder`'s run of `bucket` for the day that began at `day_start_ms`: the next
    /// starts from the beginning on a later day. `false` if the run was no longer `holder`'s.
    pub async fn finish_lifecycle_run(&self, bucket: &str, holder: &str, day_start_ms: i64) -> Result<bool> {
        transaction!(&self.catalog, Isolation::ReadCommitted, |tx| {
            let done = sqlx::query(
                "UPDATE lifecycle_runs SET holder = '', lease_until_ms = 0, cursor = '', done_day_ms = $1
                 WHERE bucket = $2 AND holder = $3",
            )
            .bind(day_start_ms)
            .bind(bucket)
            .bind(holder)
            .execute(&mut *tx)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Stops scheduling runs of `bucket` if it has no lifecycle configuration any more (it
    /// was deleted, or created again without one).
    pub async fn forget_lifecycle_run(&self, bucket: &str) -> Result<()> {
        let config = match self.bucket(bucket).await {
            Ok(b) => b.config,
            Err(Error::NoSuchBucket) => BucketConfig::default(),
            Err(e) => return Err(e),
        };
        if config.lifecycle().is_none() {
            transaction!(&self.catalog, Isolation::ReadCommitted, |tx| {
                sqlx::query("DELETE FROM lifecycle_runs WHERE bucket = $1")
                    .bind(bucket)
                    .execute(&mut *tx)
                    .await?;
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Expires version `version_id` of `key` in `bucket` (this incarnation of it) if it is
    /// still what the run saw (`what`), as the bucket's owner would delete it (a delete marker
    /// for a current version of a bucket with versioning): `None` if it no longer is. A locked version is refused
    /// (`LockError::Protected`), GOVERNANCE included.
    pub async fn expire(&self, bucket: &Bucket, key: &str, version_id: &str, what: &Expiry) -> Result<Option<Deleted>> {
        self.on_shard(&bucket.name, |shard, route| async move {
            // The run's bucket, not one made again under its name since.
            if route.incarnation != bucket.incarnation {
                return Err(Error::NoSuchBucket);
            }
            shard
                .expire(&route, &bucket.name, key, version_id, what, &bucket.owner)
                .await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use osg_model::lifecycle::{Expiration, Rule};

    use super::*;
    use crate::objects::tests::new_version;
    use crate::{Condition, NULL_VERSION, Versioning, test_store};

    fn rules() -> Lifecycle {
        Lifecycle {
            rules: vec![Rule {
                id: "r".into(),
                enabled: true,
                expiration: Some(Expiration::Days(1)),
                ..Rule::default()
            }],
        }
    }

    async fn bucket(meta: &Meta, name: &str) {
        let owner = meta
            .create_account(&format!("acct-{}", uuid::Uuid::new_v4().simple()))
            .await
            .unwrap();
        let new = crate::NewBucket {
            name,
            owner: &owner.id,
            region: "us-east-1",
            provider: "walrus",
            object_lock: false,
        };
        meta.create_bucket(new, BucketConfig::default(), 100).await.unwrap();
    }

    #[tokio::test]
    async fn one_gateway_holds_a_run_until_its_lease_runs_out() {
        let (_dir, meta) = test_store().await;
        bucket(&meta, "b").await;
        assert!(meta.due_lifecycle_runs("g1", 1000, 0).await.unwrap().is_empty());
        meta.set_lifecycle("b", Some(rules())).await.unwrap();
        assert_eq!(
            meta.bucket("b").await.unwrap().config.lifecycle().unwrap().rules[0].id,
            "r"
        );
        assert_eq!(meta.due_lifecycle_runs("g1", 1000, 0).await.unwrap(), ["b"]);
        let claimed = meta.claim_lifecycle_run("b", "g1", 1000, 1000, 2000).await.unwrap();
        assert_eq!(claimed, Some(Claimed { cursor: String::new() }));
        // Another gateway neither sees nor takes it while the lease holds.
        assert!(meta.due_lifecycle_runs("g2", 1000, 1500).await.unwrap().is_empty());
        assert_eq!(
            meta.claim_lifecycle_run("b", "g2", 1000, 1500, 3000).await.unwrap(),
            None
        );
        assert!(meta.lifecycle_progress("b", "g1", "k1", 2500).await.unwrap());
        // g1 stops renewing (it died): at 2600 g2 takes over where g1 was.
        let taken = meta.claim_lifecycle_run("b", "g2", 1000, 2600, 4000).await.unwrap();
        assert_eq!(taken, Some(Claimed { cursor: "k1".into() }));
        assert!(
            !meta.lifecycle_progress("b", "g1", "k2", 5000).await.unwrap(),
            "g1 lost it"
        );
        assert!(!meta.finish_lifecycle_run("b", "g1", 1000).await.unwrap());
        assert!(meta.finish_lifecycle_run("b", "g2", 1000).await.unwrap());
        // Done for the day; due again the next one, from the start.
        assert!(meta.due_lifecycle_runs("g1", 1000, 3500).await.unwrap().is_empty());
        assert_eq!(
            meta.claim_lifecycle_run("b", "g1", 1000, 3500, 5000).await.unwrap(),
            None
        );
        let next = meta.claim_lifecycle_run("b", "g1", 4000, 4000, 5000).await.unwrap();
        assert_eq!(next, Some(Claimed { cursor: String::new() }));
        assert!(meta.lifecycle_progress("b", "g1", "k7", 6000).await.unwrap());
        // Left unfinished, the run starts over on a later day rather than skip keys that day.
        let later = meta.claim_lifecycle_run("b", "g2", 7000, 7000, 8000).await.unwrap();
        assert_eq!(later, Some(Claimed { cursor: String::new() }));
        // New rules start a new run: the one in progress loses its lease.
        assert!(meta.lifecycle_progress("b", "g2", "k3", 8000).await.unwrap());
        meta.set_lifecycle("b", Some(rules())).await.unwrap();
        assert!(!meta.lifecycle_progress("b", "g2", "k4", 8000).await.unwrap());
        let fresh = meta.claim_lifecycle_run("b", "g1", 7000, 7500, 8000).await.unwrap();
        assert_eq!(fresh, Some(Claimed { cursor: String::new() }));
        // Removing the configuration unschedules the bucket.
        meta.set_lifecycle("b", None).await.unwrap();
        assert!(meta.due_lifecycle_runs("g1", 9000, 9000).await.unwrap().is_empty());
        // Deleting the bucket ends its runs; the name made again has none.
        meta.set_lifecycle("b", Some(rules())).await.unwrap();
        assert!(
            meta.claim_lifecycle_run("b", "g1", 9000, 9000, 9500)
                .await
                .unwrap()
                .is_some()
        );
        meta.delete_bucket("b").await.unwrap();
        assert!(!meta.lifecycle_progress("b", "g1", "k1", 9500).await.unwrap());
        bucket(&meta, "b").await;
        assert!(meta.due_lifecycle_runs("g1", 9000, 9000).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn refuses_a_configuration_s3_refuses() {
        let (_dir, meta) = test_store().await;
        bucket(&meta, "b").await;
        let mut bad = rules();
        bad.rules[0].expiration = Some(Expiration::Days(0));
        assert!(matches!(
            meta.set_lifecycle("b", Some(bad)).await,
            Err(Error::Config(osg_model::ConfigError::Lifecycle(_)))
        ));
        assert!(meta.bucket("b").await.unwrap().config.lifecycle().is_none());
        assert!(matches!(
            meta.set_lifecycle("nope", Some(rules())).await,
            Err(Error::NoSuchBucket)
        ));
    }

    fn seen(kind: ExpiryKind, v: &crate::Version) -> Expiry {
        Expiry {
            kind,
            modified_ms: v.modified_ms,
            tags: v.attrs.tags.clone(),
        }
    }

    #[tokio::test]
    async fn expires_only_what_the_run_saw() {
        let (_dir, meta) = test_store().await;
        bucket(&meta, "b").await;
        let b = meta.bucket("b").await.unwrap();
        meta.begin_blob("aa01", "b").await.unwrap();
        let v1 = meta
            .commit_object(&new_version("b", "k", "aa01"), &Condition::None)
            .await
            .unwrap();
        // The key was written again since the run looked: not expired.
        let stale = Expiry {
            modified_ms: v1.modified_ms - 1,
            ..seen(ExpiryKind::Current, &v1)
        };
        assert_eq!(meta.expire(&b, "k", NULL_VERSION, &stale).await.unwrap(), None);
        // Nor if it was retagged (rules may choose by tags).
        let mut retagged = seen(ExpiryKind::Current, &v1);
        retagged.tags.insert("class".into(), "tmp".into());
        assert_eq!(meta.expire(&b, "k", NULL_VERSION, &retagged).await.unwrap(), None);
        let current = seen(ExpiryKind::Current, &v1);
        let gone = meta.expire(&b, "k", NULL_VERSION, &current).await.unwrap().unwrap();
        assert!(!gone.delete_marker);
        assert!(matches!(meta.object("b", "k").await, Err(Error::NoSuchKey)));
        assert_eq!(
            meta.expire(&b, "k", NULL_VERSION, &current).await.unwrap(),
            None,
            "twice"
        );

        // With versioning: a delete marker; the noncurrent version, then the lone marker go.
        meta.set_versioning("b", Versioning::Enabled).await.unwrap();
        meta.begin_blob("aa02", "b").await.unwrap();
        let v2 = meta
            .commit_object(&new_version("b", "v", "aa02"), &Condition::None)
            .await
            .unwrap();
        let marker = meta
            .expire(&b, "v", &v2.version_id, &seen(ExpiryKind::Current, &v2))
            .await
            .unwrap()
            .unwrap();
        assert!(marker.delete_marker);
        let marker = meta
            .object_version("b", "v", marker.version_id.as_deref())
            .await
            .unwrap();
        let lone = seen(ExpiryKind::LoneMarker, &marker);
        assert_eq!(meta.expire(&b, "v", &marker.version_id, &lone).await.unwrap(), None);
        let as_noncurrent = seen(ExpiryKind::Noncurrent, &marker);
        assert_eq!(
            meta.expire(&b, "v", &marker.version_id, &as_noncurrent).await.unwrap(),
            None
        );
        let old = seen(ExpiryKind::Noncurrent, &v2);
        assert!(meta.expire(&b, "v", &v2.version_id, &old).await.unwrap().is_some());
        assert!(meta.expire(&b, "v", &marker.version_id, &lone).await.unwrap().is_some());
        let page = meta.list_versions("b", "v", None, "", None, 10).await.unwrap();
        assert!(page.entries.is_empty());

        // A bucket made again under the name is not the run's.
        meta.begin_blob("aa03", "b").await.unwrap();
        let v3 = meta
            .commit_object(&new_version("b", "w", "aa03"), &Condition::None)
            .await
            .unwrap();
        let other = crate::Bucket {
            incarnation: "an earlier one".into(),
            ..b.clone()
        };
        let r = meta
            .expire(&other, "w", &v3.version_id, &seen(ExpiryKind::Current, &v3))
            .await;
        assert!(matches!(r, Err(Error::NoSuchBucket)));
        assert!(meta.object("b", "w").await.is_ok());
    }
}
