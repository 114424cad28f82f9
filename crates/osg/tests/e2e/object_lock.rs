//! Object Lock through the gateway: buckets made with it, default retention, retention and
//! legal holds per version, every refusal the S3 API reference lists and the GOVERNANCE
//! bypass.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::{
    BucketVersioningStatus, DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockLegalHold,
    ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode, ObjectLockRule,
    VersioningConfiguration,
};

use crate::common::*;

async fn locked_bucket(c: &aws_sdk_s3::Client, tag: &str) -> String {
    let name = bucket_name(tag);
    c.create_bucket()
        .bucket(&name)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    name
}

fn in_secs(secs: u64) -> DateTime {
    DateTime::from(SystemTime::now() + Duration::from_secs(secs))
}

fn default_retention(mode: ObjectLockRetentionMode, days: i32) -> ObjectLockConfiguration {
    ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(
            ObjectLockRule::builder()
                .default_retention(DefaultRetention::builder().mode(mode).days(days).build())
                .build(),
        )
        .build()
}

#[tokio::test]
async fn a_locked_bucket_keeps_its_versions() {
    let c = client();
    let b = locked_bucket(&c, "lock").await;
    // Object Lock turns versioning on, for good.
    let v = c.get_bucket_versioning().bucket(&b).send().await.unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    let r = c
        .put_bucket_versioning()
        .bucket(&b)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidBucketState".into(), 409));
    let config = c.get_object_lock_configuration().bucket(&b).send().await.unwrap();
    let config = config.object_lock_configuration().unwrap();
    assert_eq!(config.object_lock_enabled(), Some(&ObjectLockEnabled::Enabled));
    assert!(config.rule().is_none());

    // A default retention: new versions get it.
    c.put_object_lock_configuration()
        .bucket(&b)
        .object_lock_configuration(default_retention(ObjectLockRetentionMode::Governance, 1))
        .send()
        .await
        .unwrap();
    let got = c.get_object_lock_configuration().bucket(&b).send().await.unwrap();
    let rule = got.object_lock_configuration().unwrap().rule().unwrap();
    let d = rule.default_retention().unwrap();
    assert_eq!(
        (d.mode(), d.days(), d.years()),
        (Some(&ObjectLockRetentionMode::Governance), Some(1), None)
    );
    let put = c
        .put_object()
        .bucket(&b)
        .key("k")
        .body(b"kept".to_vec().into())
        .send()
        .await
        .unwrap();
    let v1 = put.version_id().unwrap().to_owned();
    let head = c.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));
    let until = head.object_lock_retain_until_date().unwrap().secs();
    let in_a_day = in_secs(86_400).secs();
    assert!((until - in_a_day).abs() < 60, "{until} vs {in_a_day}");
    let retention = c.get_object_retention().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(
        retention.retention().unwrap().mode(),
        Some(&ObjectLockRetentionMode::Governance)
    );

    // The version cannot be deleted; a delete marker can be added.
    let del = |version: &str| c.delete_object().bucket(&b).key("k").version_id(version).send();
    assert_eq!(error_of(del(&v1).await), ("AccessDenied".into(), 403));
    let marker = c.delete_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(marker.delete_marker(), Some(true));
    assert_eq!(
        c.get_object()
            .bucket(&b)
            .key("k")
            .version_id(&v1)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .to_vec(),
        b"kept"
    );
    // GOVERNANCE: shortened or removed only with the bypass.
    let shorter = ObjectLockRetention::builder()
        .mode(ObjectLockRetentionMode::Governance)
        .retain_until_date(in_secs(60))
        .build();
    let r = c
        .put_object_retention()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .retention(shorter.clone())
        .send()
        .await;
    assert_eq!(error_of(r), ("AccessDenied".into(), 403));
    c.put_object_retention()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .retention(shorter)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap();
    // A user without s3:BypassGovernanceRetention cannot bypass, even asking.
    let account = server().meta().await.bucket(&b).await.unwrap().owner;
    let user = user_allowed(&account, "locker", &b, &["s3:DeleteObject", "s3:DeleteObjectVersion"]).await;
    let r = user
        .delete_object()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .bypass_governance_retention(true)
        .send()
        .await;
    assert_eq!(error_of(r), ("AccessDenied".into(), 403));
    // The account's root may.
    c.delete_object()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(c.head_object().bucket(&b).key("k").version_id(&v1).send().await).1,
        404
    );
}

#[tokio::test]
async fn compliance_and_legal_holds_yield_to_no_one() {
    let c = client();
    let b = locked_bucket(&c, "compliance").await;
    let put = c
        .put_object()
        .bucket(&b)
        .key("c")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(in_secs(3600))
        .body(b"evidence".to_vec().into())
        .send()
        .await
        .unwrap();
    let v = put.version_id().unwrap().to_owned();
    let del = c
        .delete_object()
        .bucket(&b)
        .key("c")
        .version_id(&v)
        .bypass_governance_retention(true)
        .send()
        .await;
    assert_eq!(error_of(del), ("AccessDenied".into(), 403));
    // Neither shortened nor turned to GOVERNANCE, bypass or not; extended, yes.
    for (mode, secs) in [
        (ObjectLockRetentionMode::Compliance, 60),
        (ObjectLockRetentionMode::Governance, 7200),
    ] {
        let r = c
            .put_object_retention()
            .bucket(&b)
            .key("c")
            .version_id(&v)
            .bypass_governance_retention(true)
            .retention(
                ObjectLockRetention::builder()
                    .mode(mode)
                    .retain_until_date(in_secs(secs))
                    .build(),
            )
            .send()
            .await;
        assert_eq!(error_of(r), ("AccessDenied".into(), 403));
    }
    c.put_object_retention()
        .bucket(&b)
        .key("c")
        .version_id(&v)
        .retention(
            ObjectLockRetention::builder()
                .mode(ObjectLockRetentionMode::Compliance)
                .retain_until_date(in_secs(7200))
                .build(),
        )
        .send()
        .await
        .unwrap();
    // A legal hold keeps a version with no retention at all.
    let held = c
        .put_object()
        .bucket(&b)
        .key("h")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .body(b"held".to_vec().into())
        .send()
        .await
        .unwrap();
    let h = held.version_id().unwrap().to_owned();
    let status = c
        .get_object_legal_hold()
        .bucket(&b)
        .key("h")
        .version_id(&h)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status.legal_hold().unwrap().status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    let del = |bypass| {
        c.delete_object()
            .bucket(&b)
            .key("h")
            .version_id(&h)
            .bypass_governance_retention(bypass)
            .send()
    };
    assert_eq!(error_of(del(true).await), ("AccessDenied".into(), 403));
    c.put_object_legal_hold()
        .bucket(&b)
        .key("h")
        .version_id(&h)
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::Off)
                .build(),
        )
        .send()
        .await
        .unwrap();
    del(false).await.unwrap();
    // DeleteObjects reports a locked version as an error and deletes the rest.
    let plain = c
        .put_object()
        .bucket(&b)
        .key("p")
        .body(b"p".to_vec().into())
        .send()
        .await
        .unwrap();
    let ids = [("c", v.as_str()), ("p", plain.version_id().unwrap())]
        .into_iter()
        .map(|(k, id)| {
            aws_sdk_s3::types::ObjectIdentifier::builder()
                .key(k)
                .version_id(id)
                .build()
                .unwrap()
        })
        .collect();
    let out = c
        .delete_objects()
        .bucket(&b)
        .delete(
            aws_sdk_s3::types::Delete::builder()
                .set_objects(Some(ids))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.deleted().len(), 1);
    let errors: Vec<(&str, &str)> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap(), e.code().unwrap()))
        .collect();
    assert_eq!(errors, [("c", "AccessDenied")]);
}

#[tokio::test]
async fn object_lock_refusals_are_as_aws_documents() {
    let c = client();
    let b = new_bucket(&c, "nolock").await;
    // No Object Lock: the configuration is not found; lock headers and calls are refused.
    assert_eq!(
        error_of(c.get_object_lock_configuration().bucket(&b).send().await),
        ("ObjectLockConfigurationNotFoundError".into(), 404)
    );
    let r = c
        .put_object()
        .bucket(&b)
        .key("k")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(in_secs(60))
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidRequest".into(), 400));
    assert_eq!(
        error_of(c.head_object().bucket(&b).key("k").send().await).1,
        404,
        "nothing stored"
    );
    c.put_object()
        .bucket(&b)
        .key("k")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(c.get_object_retention().bucket(&b).key("k").send().await),
        ("InvalidRequest".into(), 400)
    );
    // Enabling it needs versioning enabled.
    let r = c
        .put_object_lock_configuration()
        .bucket(&b)
        .object_lock_configuration(default_retention(ObjectLockRetentionMode::Governance, 1))
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidBucketState".into(), 409));
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
    // A default retention of zero days is refused; a good one enables Object Lock.
    let r = c
        .put_object_lock_configuration()
        .bucket(&b)
        .object_lock_configuration(default_retention(ObjectLockRetentionMode::Compliance, 0))
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidArgument".into(), 400));
    c.put_object_lock_configuration()
        .bucket(&b)
        .object_lock_configuration(default_retention(ObjectLockRetentionMode::Compliance, 1))
        .send()
        .await
        .unwrap();
    // Half a retention, or one in the past, is refused.
    let r = c
        .put_object()
        .bucket(&b)
        .key("half")
        .object_lock_mode(ObjectLockMode::Governance)
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidArgument".into(), 400));
    let r = c
        .put_object()
        .bucket(&b)
        .key("past")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(DateTime::from(SystemTime::now() - Duration::from_secs(60)))
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidArgument".into(), 400));
    // The object written before Object Lock has no retention.
    assert_eq!(
        error_of(c.get_object_retention().bucket(&b).key("k").send().await),
        ("NoSuchObjectLockConfiguration".into(), 404)
    );
}

/// Object Lock's condition keys reach policies (a Deny on long retentions holds), and creating
/// a bucket with Object Lock needs the lock and versioning actions too, as in AWS.
#[tokio::test]
async fn lock_condition_keys_and_actions() {
    let c = client();
    let b = locked_bucket(&c, "lockkeys").await;
    let meta = server().meta().await;
    let account = meta.bucket(&b).await.unwrap().owner;
    let user = meta.create_user(&account, "retainer", "/").await.unwrap();
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Action":["s3:PutObject","s3:PutObjectRetention","s3:CreateBucket"],"Resource":["arn:aws:s3:::{b}/*","arn:aws:s3:::*"]}},
            {{"Effect":"Deny","Action":"s3:PutObjectRetention","Resource":"arn:aws:s3:::{b}/*",
              "Condition":{{"NumericGreaterThan":{{"s3:object-lock-remaining-retention-days":"30"}}}}}}]}}"#
    );
    meta.put_inline_policy(&osg_meta::Owner::User(&user), "p", &policy)
        .await
        .unwrap();
    let keys = meta.create_access_key(&account, Some("retainer")).await.unwrap();
    let u = client_with(&keys.0, &keys.1, None);
    let put = |key: &'static str, days: u64| {
        u.put_object()
            .bucket(&b)
            .key(key)
            .object_lock_mode(ObjectLockMode::Governance)
            .object_lock_retain_until_date(in_secs(days * 86_400))
            .body(b"x".to_vec().into())
            .send()
    };
    put("short", 1).await.unwrap();
    assert_eq!(error_of(put("long", 365).await), ("AccessDenied".into(), 403));
    let retain = |days: u64| {
        u.put_object_retention()
            .bucket(&b)
            .key("short")
            .retention(
                ObjectLockRetention::builder()
                    .mode(ObjectLockRetentionMode::Governance)
                    .retain_until_date(in_secs(days * 86_400))
                    .build(),
            )
            .send()
    };
    retain(2).await.unwrap();
    assert_eq!(error_of(retain(36_500).await), ("AccessDenied".into(), 403));
    // s3:CreateBucket alone does not make a bucket with Object Lock.
    let r = u
        .create_bucket()
        .bucket(bucket_name("lockless"))
        .object_lock_enabled_for_bucket(true)
        .send()
        .await;
    assert_eq!(error_of(r), ("AccessDenied".into(), 403));
}
