//! Lifecycle through the gateway: configurations checked as the S3 API reference documents
//! (error codes and statuses), and rules run by the gateway on a day shortened to seconds
//! (`osg.lifecycle.day-seconds`): current objects, noncurrent versions (keeping the newest),
//! lone delete markers and incomplete uploads expire; locked versions stay.

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketVersioningStatus, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleAndOperator, LifecycleRuleFilter, NoncurrentVersionExpiration,
    Tag, Transition, TransitionStorageClass, VersioningConfiguration,
};

use crate::common::*;

/// The shortened day of these tests, in seconds.
const DAY: u64 = 2;

fn rule(id: &str, prefix: &str) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
}

fn expire_after(days: i32) -> LifecycleExpiration {
    LifecycleExpiration::builder().days(days).build()
}

fn config(rules: Vec<LifecycleRule>) -> BucketLifecycleConfiguration {
    BucketLifecycleConfiguration::builder()
        .set_rules(Some(rules))
        .build()
        .unwrap()
}

async fn put_config(c: &aws_sdk_s3::Client, bucket: &str, rules: Vec<LifecycleRule>) -> Result<(), (String, u16)> {
    let r = c
        .put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(config(rules))
        .send()
        .await;
    match r {
        Ok(_) => Ok(()),
        Err(e) => Err(error_of::<(), _, _>(Err(e))),
    }
}

async fn put(c: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &'static [u8]) -> Option<String> {
    let out = c
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(body))
        .send()
        .await
        .unwrap();
    out.version_id().map(str::to_owned)
}

/// Shortens the gateway's lifecycle day (the gateway reads it before each round).
async fn short_days() {
    let meta = server().meta().await;
    meta.set_property("osg.lifecycle.day-seconds", &DAY.to_string())
        .await
        .unwrap();
}

/// Waits (up to `days` shortened days, plus the gateway's first pause) until `done`.
async fn eventually<F, Fut>(days: u64, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(days * DAY + 12);
    while !done().await {
        assert!(Instant::now() < deadline, "{what}: not within {days} lifecycle days");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn versions_of(c: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<(String, bool)> {
    let out = c
        .list_object_versions()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    let mut all: Vec<(String, bool)> = out
        .versions()
        .iter()
        .map(|v| (v.version_id().unwrap().to_owned(), false))
        .collect();
    all.extend(
        out.delete_markers()
            .iter()
            .map(|m| (m.version_id().unwrap().to_owned(), true)),
    );
    all
}

#[tokio::test]
async fn configurations_are_checked_as_s3_checks_them() {
    let c = client();
    let b = new_bucket(&c, "lc-conf").await;
    let missing = c.get_bucket_lifecycle_configuration().bucket(&b).send().await;
    assert_eq!(error_of(missing), ("NoSuchLifecycleConfiguration".into(), 404));

    let days = |n| vec![rule("r", "").expiration(expire_after(n)).build().unwrap()];
    assert_eq!(put_config(&c, &b, days(0)).await, Err(("InvalidArgument".into(), 400)));
    assert_eq!(put_config(&c, &b, days(-1)).await, Err(("InvalidArgument".into(), 400)));
    let noon = LifecycleExpiration::builder()
        .date(DateTime::from_secs(1_767_225_600 + 43_200))
        .build();
    let at_noon = vec![rule("r", "").expiration(noon).build().unwrap()];
    assert_eq!(put_config(&c, &b, at_noon).await, Err(("InvalidArgument".into(), 400)));
    let twice = vec![
        rule("same", "a/").expiration(expire_after(1)).build().unwrap(),
        rule("same", "b/").expiration(expire_after(1)).build().unwrap(),
    ];
    assert_eq!(put_config(&c, &b, twice).await, Err(("InvalidArgument".into(), 400)));
    let long_id = vec![rule(&"i".repeat(256), "").expiration(expire_after(1)).build().unwrap()];
    assert_eq!(put_config(&c, &b, long_id).await, Err(("InvalidArgument".into(), 400)));
    let no_action = vec![rule("r", "").build().unwrap()];
    assert_eq!(put_config(&c, &b, no_action).await, Err(("InvalidRequest".into(), 400)));
    let too_many: Vec<_> = (0..1001)
        .map(|i| rule(&format!("r{i}"), "").expiration(expire_after(1)).build().unwrap())
        .collect();
    assert_eq!(put_config(&c, &b, too_many).await, Err(("InvalidRequest".into(), 400)));
    // No storage classes here: a transition is refused, never accepted and ignored.
    let transition = vec![
        rule("r", "")
            .transitions(
                Transition::builder()
                    .days(30)
                    .storage_class(TransitionStorageClass::Glacier)
                    .build(),
            )
            .build()
            .unwrap(),
    ];
    assert_eq!(
        put_config(&c, &b, transition).await,
        Err(("NotImplemented".into(), 501))
    );
    // An upload has no tags or size yet: aborting by them cannot be honoured.
    let tagged = LifecycleRuleFilter::builder()
        .tag(Tag::builder().key("k").value("v").build().unwrap())
        .build();
    let sized = LifecycleRuleFilter::builder().object_size_greater_than(1 << 20).build();
    for filter in [tagged, sized] {
        let abort = vec![
            rule("r", "")
                .filter(filter)
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(1)
                        .build(),
                )
                .build()
                .unwrap(),
        ];
        assert_eq!(put_config(&c, &b, abort).await, Err(("InvalidRequest".into(), 400)));
    }
    // The rule-level Prefix is deprecated, and S3 takes it only without a Filter.
    #[allow(deprecated)]
    let both = vec![
        rule("r", "a/")
            .prefix("b/")
            .expiration(expire_after(1))
            .build()
            .unwrap(),
    ];
    assert_eq!(put_config(&c, &b, both).await, Err(("MalformedXML".into(), 400)));
    let missing = c.get_bucket_lifecycle_configuration().bucket(&b).send().await;
    assert_eq!(
        error_of(missing),
        ("NoSuchLifecycleConfiguration".into(), 404),
        "nothing stored"
    );

    // A configuration S3 takes comes back as it was given; a rule without an id gets one.
    let and = LifecycleRuleFilter::builder()
        .and(
            LifecycleRuleAndOperator::builder()
                .prefix("logs/")
                .tags(Tag::builder().key("class").value("tmp").build().unwrap())
                .object_size_greater_than(100)
                .build(),
        )
        .build();
    let rules = vec![
        rule("logs", "")
            .filter(and.clone())
            .expiration(expire_after(7))
            .build()
            .unwrap(),
        LifecycleRule::builder()
            .status(ExpirationStatus::Disabled)
            .filter(LifecycleRuleFilter::builder().prefix("old/").build())
            .noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder()
                    .noncurrent_days(3)
                    .newer_noncurrent_versions(2)
                    .build(),
            )
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(2)
                    .build(),
            )
            .build()
            .unwrap(),
    ];
    put_config(&c, &b, rules).await.unwrap();
    let got = c.get_bucket_lifecycle_configuration().bucket(&b).send().await.unwrap();
    let got = got.rules();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id(), Some("logs"));
    assert_eq!(got[0].filter(), Some(&and));
    assert_eq!(got[0].expiration().and_then(LifecycleExpiration::days), Some(7));
    assert_eq!(got[1].status(), &ExpirationStatus::Disabled);
    assert!(!got[1].id().unwrap_or_default().is_empty(), "an id was given");
    let nc = got[1].noncurrent_version_expiration().unwrap();
    assert_eq!(
        (nc.noncurrent_days(), nc.newer_noncurrent_versions()),
        (Some(3), Some(2))
    );
    let abort = got[1].abort_incomplete_multipart_upload().unwrap();
    assert_eq!(abort.days_after_initiation(), Some(2));

    c.delete_bucket_lifecycle().bucket(&b).send().await.unwrap();
    let gone = c.get_bucket_lifecycle_configuration().bucket(&b).send().await;
    assert_eq!(error_of(gone), ("NoSuchLifecycleConfiguration".into(), 404));
}

#[tokio::test]
async fn current_objects_and_uploads_expire() {
    short_days().await;
    let c = client();
    let b = new_bucket(&c, "lc-current").await;
    let rules = vec![
        rule("tmp", "tmp/").expiration(expire_after(1)).build().unwrap(),
        rule("uploads", "up/")
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(1)
                    .build(),
            )
            .build()
            .unwrap(),
    ];
    put_config(&c, &b, rules).await.unwrap();
    let out = c
        .put_object()
        .bucket(&b)
        .key("tmp/a")
        .body(ByteStream::from_static(b"gone soon"))
        .send()
        .await
        .unwrap();
    let expiration = out.expiration().expect("x-amz-expiration on PUT").to_owned();
    assert!(expiration.starts_with("expiry-date=\""), "{expiration}");
    assert!(expiration.ends_with("GMT\", rule-id=\"tmp\""), "{expiration}");
    let head = c.head_object().bucket(&b).key("tmp/a").send().await.unwrap();
    assert_eq!(head.expiration(), Some(expiration.as_str()));
    put(&c, &b, "keep/b", b"stays").await;
    let kept = c.head_object().bucket(&b).key("keep/b").send().await.unwrap();
    assert_eq!(kept.expiration(), None, "no rule applies");
    let doomed = c.create_multipart_upload().bucket(&b).key("up/x").send().await.unwrap();
    assert_eq!(doomed.abort_rule_id(), Some("uploads"));
    let abort_at = doomed.abort_date().expect("x-amz-abort-date").secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let day = i64::try_from(DAY).unwrap();
    assert_eq!(abort_at % day, 0, "on a day boundary");
    assert!(
        (1..=2 * day).contains(&(abort_at - i64::try_from(now).unwrap())),
        "{abort_at} vs {now}"
    );
    let spared = c
        .create_multipart_upload()
        .bucket(&b)
        .key("other/y")
        .send()
        .await
        .unwrap();
    assert_eq!(spared.abort_date(), None);

    eventually(3, "tmp/a expired", || async {
        c.head_object().bucket(&b).key("tmp/a").send().await.is_err()
    })
    .await;
    eventually(3, "up/x aborted", || async {
        let uploads = c.list_multipart_uploads().bucket(&b).send().await.unwrap();
        !uploads.uploads().iter().any(|u| u.upload_id() == doomed.upload_id())
    })
    .await;
    let missing = c.head_object().bucket(&b).key("tmp/a").send().await;
    assert_eq!(error_of(missing), ("NotFound".into(), 404));
    assert_eq!(get_bytes(&c, &b, "keep/b").await, b"stays");
    let uploads = c.list_multipart_uploads().bucket(&b).send().await.unwrap();
    let left: Vec<_> = uploads.uploads().iter().filter_map(|u| u.upload_id()).collect();
    assert_eq!(left, [spared.upload_id().unwrap()]);
}

#[tokio::test]
async fn noncurrent_versions_and_lone_delete_markers_expire() {
    short_days().await;
    let c = client();
    let b = new_bucket(&c, "lc-versions").await;
    c.put_bucket_versioning()
        .bucket(&b)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let noncurrent = |newer: Option<i32>| {
        NoncurrentVersionExpiration::builder()
            .noncurrent_days(1)
            .set_newer_noncurrent_versions(newer)
            .build()
    };
    let rules = vec![
        rule("keep-one", "k/")
            .noncurrent_version_expiration(noncurrent(Some(1)))
            .build()
            .unwrap(),
        rule("markers", "d/")
            .noncurrent_version_expiration(noncurrent(None))
            .build()
            .unwrap(),
        rule("lone", "d/")
            .expiration(
                LifecycleExpiration::builder()
                    .expired_object_delete_marker(true)
                    .build(),
            )
            .build()
            .unwrap(),
    ];
    put_config(&c, &b, rules).await.unwrap();
    let v1 = put(&c, &b, "k/x", b"one").await.unwrap();
    let v2 = put(&c, &b, "k/x", b"two").await.unwrap();
    let v3 = put(&c, &b, "k/x", b"three").await.unwrap();
    put(&c, &b, "d/y", b"deleted").await.unwrap();
    c.delete_object().bucket(&b).key("d/y").send().await.unwrap();

    eventually(4, "the delete marker alone and then removed", || async {
        versions_of(&c, &b, "d/").await.is_empty()
    })
    .await;
    eventually(4, "the oldest noncurrent version removed", || async {
        versions_of(&c, &b, "k/").await.len() == 2
    })
    .await;
    // Days later the current version and the newest noncurrent one are still there.
    tokio::time::sleep(Duration::from_secs(2 * DAY)).await;
    let left: Vec<String> = versions_of(&c, &b, "k/").await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        left,
        [v3, v2.clone()],
        "the current version and the newest noncurrent one stay"
    );
    assert!(!left.contains(&v1));
    let old = c
        .get_object()
        .bucket(&b)
        .key("k/x")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(old.body.collect().await.unwrap().into_bytes().as_ref(), b"two");
}

#[tokio::test]
async fn lifecycle_never_removes_a_locked_version() {
    short_days().await;
    let c = client();
    let b = bucket_name("lc-locked");
    c.create_bucket()
        .bucket(&b)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let rules = vec![
        rule("all", "")
            .expiration(expire_after(1))
            .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(1).build())
            .build()
            .unwrap(),
    ];
    put_config(&c, &b, rules).await.unwrap();
    let locked = c
        .put_object()
        .bucket(&b)
        .key("held")
        .body(ByteStream::from_static(b"evidence"))
        .object_lock_legal_hold_status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap();
    let locked = locked.version_id().unwrap().to_owned();
    let retained = c
        .put_object()
        .bucket(&b)
        .key("retained")
        .body(ByteStream::from_static(b"governed"))
        .object_lock_mode(aws_sdk_s3::types::ObjectLockMode::Governance)
        .object_lock_retain_until_date(DateTime::from(std::time::SystemTime::now() + Duration::from_secs(3600)))
        .send()
        .await
        .unwrap();
    let retained = retained.version_id().unwrap().to_owned();
    // The current version expires as a delete marker (that removes nothing) ...
    eventually(3, "a delete marker on the held object", || async {
        versions_of(&c, &b, "held").await.iter().any(|(_, marker)| *marker)
    })
    .await;
    // ... and the noncurrent version under legal hold stays, day after day.
    tokio::time::sleep(Duration::from_secs(3 * DAY)).await;
    let got = c
        .get_object()
        .bucket(&b)
        .key("held")
        .version_id(&locked)
        .send()
        .await
        .unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"evidence");
    let versions = versions_of(&c, &b, "retained").await;
    assert!(versions.iter().any(|(_, marker)| *marker), "{versions:?}");
    assert!(
        versions.iter().any(|(id, _)| *id == retained),
        "GOVERNANCE retention holds too"
    );
    // Released, it goes at the next run.
    c.put_object_legal_hold()
        .bucket(&b)
        .key("held")
        .version_id(&locked)
        .legal_hold(
            aws_sdk_s3::types::ObjectLockLegalHold::builder()
                .status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::Off)
                .build(),
        )
        .send()
        .await
        .unwrap();
    eventually(2, "the released version removed", || async {
        !versions_of(&c, &b, "held").await.iter().any(|(id, _)| *id == locked)
    })
    .await;
}
