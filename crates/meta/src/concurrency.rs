//! What concurrent writes must never break, on SQLite and on PostgreSQL (where nothing makes
//! writers take turns): one current version per key, one winner per bucket name, exact limits,
//! no object in a deleted bucket. Conflicts are resolved inside the store: no write here may
//! fail with a database error.

use std::sync::Arc;

use futures::future::join_all;

use crate::objects::tests::new_version;
use crate::{Condition, Error, Meta, NewBucket, test_bucket, test_store};

/// Runs `n` copies of `f` at once on a multi-threaded runtime.
async fn all<T, F, Fut>(meta: &Arc<Meta>, n: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<Meta>, usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let tasks = (0..n).map(|i| tokio::spawn(f(Arc::clone(meta), i)));
    join_all(tasks).await.into_iter().map(Result::unwrap).collect()
}

fn no_db_errors<T: std::fmt::Debug>(results: &[crate::Result<T>]) {
    for r in results {
        assert!(!matches!(r, Err(Error::Db(_))), "a conflict leaked out: {r:?}");
    }
}

/// In a versioned bucket, concurrent PUTs and deletes of one key each leave a version or a
/// delete marker, in a strict order, exactly one of them latest.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_versioned_writes_keep_every_version_in_order() {
    let (_dir, meta) = test_store().await;
    let meta = Arc::new(meta);
    test_bucket(&meta).await;
    meta.set_versioning("b", crate::Versioning::Enabled).await.unwrap();
    let results = all(&meta, 24, move |meta, i| async move {
        if i % 4 == 3 {
            return meta
                .delete_object("b", "hot", None, crate::BY_O)
                .await
                .map(|d| d.version_id.unwrap());
        }
        let blob = format!("w{i}@walrus");
        meta.begin_blob(&blob, "b").await?;
        meta.commit_object(&new_version("b", "hot", &blob), &Condition::None)
            .await
            .map(|v| v.version_id)
    })
    .await;
    no_db_errors(&results);
    let mut made: Vec<String> = results.into_iter().map(Result::unwrap).collect();
    let page = meta.list_versions("b", "hot", None, "", None, 100).await.unwrap();
    let mut listed: Vec<String> = Vec::new();
    let mut latest = 0;
    for entry in &page.entries {
        let crate::VersionEntry::Version(v) = entry else {
            panic!("no prefixes here")
        };
        latest += usize::from(v.latest);
        listed.push(v.version_id.clone());
    }
    assert_eq!(latest, 1, "one latest version");
    assert!(matches!(&page.entries[0], crate::VersionEntry::Version(v) if v.latest));
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM versions WHERE bucket = 'b' AND key = 'hot' ORDER BY seq")
        .fetch_all(&meta.catalog.pool)
        .await
        .unwrap();
    assert_eq!(seqs, (1..=24).collect::<Vec<i64>>(), "each write a place of its own");
    made.sort();
    listed.sort();
    assert_eq!(made, listed, "every write is a version");
}

/// Concurrent deletes of a key's versions by id (the latest among them) leave the newest
/// version left as the one latest version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deletes_by_id_keep_one_latest_version() {
    let (_dir, meta) = test_store().await;
    let meta = Arc::new(meta);
    test_bucket(&meta).await;
    meta.set_versioning("b", crate::Versioning::Enabled).await.unwrap();
    for round in 0..3 {
        let mut ids = Vec::new();
        for i in 0..12 {
            let blob = format!("r{round}v{i}@walrus");
            meta.begin_blob(&blob, "b").await.unwrap();
            let v = meta
                .commit_object(&new_version("b", "hot", &blob), &Condition::None)
                .await
                .unwrap();
            ids.push(v.version_id);
        }
        // The newest eight go at once; the oldest four stay.
        let doomed: Arc<Vec<String>> = Arc::new(ids[4..].to_vec());
        let results = all(&meta, doomed.len(), move |meta, i| {
            let doomed = Arc::clone(&doomed);
            async move { meta.delete_object("b", "hot", Some(&doomed[i]), crate::BY_O).await }
        })
        .await;
        no_db_errors(&results);
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(meta.object("b", "hot").await.unwrap().version_id, ids[3]);
        let latest: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM versions WHERE bucket = 'b' AND key = 'hot' AND is_latest = 1")
                .fetch_one(&meta.catalog.pool)
                .await
                .unwrap();
        assert_eq!(latest, 1);
        // Clear the key for the next round.
        for id in &ids[..4] {
            meta.delete_object("b", "hot", Some(id), crate::BY_O).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_of_one_key_leave_one_current_version() {
    let (_dir, meta) = test_store().await;
    let meta = Arc::new(meta);
    test_bucket(&meta).await;
    for round in 0..3 {
        let results = all(&meta, 24, move |meta, i| async move {
            let blob = format!("r{round}w{i}@walrus");
            meta.begin_blob(&blob, "b").await?;
            meta.commit_object(&new_version("b", "hot", &blob), &Condition::None)
                .await
        })
        .await;
        no_db_errors(&results);
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        // One current version, holding one of the writers' blobs; the others' blobs are dead.
        let current = meta.object("b", "hot").await.unwrap();
        assert_eq!(current.pieces.len(), 1);
        assert!(current.pieces[0].blob.starts_with(&format!("r{round}w")));
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM versions WHERE bucket = 'b' AND key = 'hot'")
            .fetch_one(&meta.catalog.pool)
            .await
            .unwrap();
        assert_eq!(rows, 1);
    }
    let dead: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blobs WHERE state = 2")
        .fetch_one(&meta.catalog.pool)
        .await
        .unwrap();
    assert_eq!(dead, 3 * 24 - 1, "every replaced blob, and only those, is dead");
}

/// `If-Match: *` on a key that holds an object all along, while the key is replaced by
/// others: every write succeeds. (On PostgreSQL a write that waited for the latest version may
/// find it no longer latest and the new one not yet visible; it must not answer NoSuchKey.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn if_match_on_a_key_being_replaced_always_finds_it() {
    let (_dir, meta) = test_store().await;
    let meta = Arc::new(meta);
    test_bucket(&meta).await;
    meta.begin_blob("first@walrus", "b").await.unwrap();
    meta.commit_object(&new_version("b", "busy", "first@walrus"), &Condition::None)
        .await
        .unwrap();
    let results = all(&meta, 16, |meta, i| async move {
        let mut outcomes = Vec::new();
        for n in 0..10 {
            let blob = format!("m{i}n{n}@walrus");
            meta.begin_blob(&blob, "b").await?;
            let any = Condition::ETag("*".into());
            outcomes.push(
                meta.commit_object(&new_version("b", "busy", &blob), &any)
                    .await
                    .map(|_| ()),
            );
        }
        outcomes.into_iter().collect::<crate::Result<Vec<()>>>()
    })
    .await;
    no_db_errors(&results);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conditional_creates_of_one_key_have_one_winner() {
    let (_dir, meta) = test_store().await;
    let meta = Arc::new(meta);
    test_bucket(&meta).await;
    let results = all(&meta, 16, |meta, i| async move {
        let blob = format!("c{i}@walrus");
        meta.begin_blob(&blob, "b").await?;
        meta.commit_object(&new_version("b", "once", &blob), &Condition::Absent)
            .await
    })
    .await;
    no_db_errors(&results);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(Error::PreconditionFailed)))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bucket_name_has_one_winner_and_limits_are_exact() {
    let (_dir, meta) = test_store().await;
    let meta = Arc::new(meta);
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(meta.create_account(&format!("racer{i}")).await.unwrap().id);
    }
    let ids = Arc::new(ids);
    // Sixteen creations of one name by four accounts: one wins.
    let ids2 = Arc::clone(&ids);
    let results = all(&meta, 16, move |meta, i| {
        let owner = ids2[i % 4].clone();
        async move {
            let new = NewBucket {
                name: "contested",
                owner: &owner,
                region: "us-east-1",
                provider: "walrus",
                object_lock: false,
            };
            meta.create_bucket(new, crate::BucketConfig::default(), 100).await
        }
    })
    .await;
    no_db_errors(&results);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(Error::BucketExists { .. })))
    );
    // One account racing for twelve buckets with a limit of five (it owns one if it won).
    let owner = ids[1].clone();
    let owned = meta.buckets_of(&owner).await.unwrap().len();
    let owner2 = owner.clone();
    let results = all(&meta, 12, move |meta, i| {
        let owner = owner2.clone();
        async move {
            let name = format!("mine-{i}");
            let new = NewBucket {
                name: &name,
                owner: &owner,
                region: "us-east-1",
                provider: "walrus",
                object_lock: false,
            };
            meta.create_bucket(new, crate::BucketConfig::default(), 5).await
        }
    })
    .await;
    no_db_errors(&results);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 5 - owned, "{results:?}");
    assert_eq!(meta.buckets_of(&owner).await.unwrap().len(), 5);
    // Access keys: at most two per user, however many are asked for at once.
    let user = meta.create_user(&ids[2], "u", "/").await.unwrap();
    let account = ids[2].clone();
    let results = all(&meta, 10, move |meta, _| {
        let account = account.clone();
        async move { meta.create_access_key(&account, Some("u")).await }
    })
    .await;
    no_db_errors(&results);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 2, "{results:?}");
    assert_eq!(meta.access_keys_of(&user.account_id, Some("u")).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bucket_is_never_deleted_with_an_object_in_it() {
    let (_dir, meta) = test_store().await;
    let meta = Arc::new(meta);
    let owner = test_bucket(&meta).await.id;
    for round in 0..10 {
        let name = format!("gone{round}");
        let new = NewBucket {
            name: &name,
            owner: &owner,
            region: "us-east-1",
            provider: "walrus",
            object_lock: false,
        };
        meta.create_bucket(new, crate::BucketConfig::default(), 100)
            .await
            .unwrap();
        let blob = format!("g{round}@walrus");
        meta.begin_blob(&blob, "b").await.unwrap();
        let (put, delete) = tokio::join!(
            {
                let meta = Arc::clone(&meta);
                let name = name.clone();
                tokio::spawn(async move {
                    meta.commit_object(&new_version(&name, "k", &blob), &Condition::None)
                        .await
                })
            },
            {
                let meta = Arc::clone(&meta);
                let name = name.clone();
                tokio::spawn(async move { meta.delete_bucket(&name).await })
            }
        );
        let (put, delete) = (put.unwrap(), delete.unwrap());
        match (&put, &delete) {
            (Ok(_), Err(Error::BucketNotEmpty)) | (Err(Error::NoSuchBucket), Ok(())) => {}
            other => panic!("round {round}: {other:?}"),
        }
        let orphans: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM versions v WHERE NOT EXISTS (SELECT 1 FROM buckets b WHERE b.name = v.bucket)",
        )
        .fetch_one(&meta.catalog.pool)
        .await
        .unwrap();
        assert_eq!(orphans, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parts_land_once_and_a_completion_sees_them_all() {
    let (_dir, meta) = test_store().await;
    let meta = Arc::new(meta);
    let owner = test_bucket(&meta).await.id;
    let upload = meta
        .create_upload("b", "mp", &crate::ObjectAttrs::default(), &owner)
        .await
        .unwrap();
    let id = Arc::new(upload.upload_id);
    // Part 1 uploaded eight times at once, parts 2 and 3 once each.
    let md5 = "0cc175b9c0f1b6a831c399e269772661";
    let id2 = Arc::clone(&id);
    let results = all(&meta, 10, move |meta, i| {
        let id = Arc::clone(&id2);
        async move {
            let number = u32::try_from(i.saturating_sub(6).max(1)).unwrap();
            let blob = format!("part{i}@walrus");
            meta.begin_blob(&blob, "b").await?;
            let part = crate::NewPart {
                number,
                blob,
                size: 10,
                etag: md5.into(),
                checksums: std::collections::BTreeMap::new(),
            };
            meta.commit_part("b", &id, part).await
        }
    })
    .await;
    no_db_errors(&results);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let (parts, _) = meta.parts("b", &id, 0, 10).await.unwrap();
    assert_eq!(parts.iter().map(|p| p.number).collect::<Vec<_>>(), [1, 2, 3]);
    let choice = |number| crate::PartChoice {
        number,
        etag: md5.into(),
    };
    let completion = crate::Completion {
        bucket: "b",
        key: "mp",
        upload_id: &id,
        parts: &[choice(1), choice(2), choice(3)],
        condition: &crate::Condition::None,
        checksums: &std::collections::BTreeMap::new(),
    };
    let version = meta.complete_upload(completion, 5).await.unwrap();
    assert_eq!(version.pieces.len(), 3);
}
