use crate::common::*;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

#[tokio::test]
async fn create_list_head_locate_delete() {
    let c = client();
    let name = bucket_name("bkt");
    c.create_bucket().bucket(&name).send().await.unwrap();
    assert_eq!(
        error_of(c.create_bucket().bucket(&name).send().await),
        ("BucketAlreadyOwnedByYou".into(), 409)
    );

    let list = c.list_buckets().send().await.unwrap();
    assert!(list.buckets().iter().any(|b| b.name() == Some(name.as_str())));
    assert!(list.owner().and_then(|o| o.id()).is_some_and(|id| id.len() == 64));

    c.head_bucket().bucket(&name).send().await.unwrap();
    let loc = c.get_bucket_location().bucket(&name).send().await.unwrap();
    let constraint = loc.location_constraint().map_or("", |c| c.as_str());
    assert_eq!(constraint, "", "us-east-1 is the empty constraint");

    c.put_object()
        .bucket(&name)
        .key("k")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(c.delete_bucket().bucket(&name).send().await),
        ("BucketNotEmpty".into(), 409)
    );
    c.delete_object().bucket(&name).key("k").send().await.unwrap();
    c.delete_bucket().bucket(&name).send().await.unwrap();
    assert_eq!(error_of(c.head_bucket().bucket(&name).send().await).1, 404);
    assert_eq!(
        error_of(c.delete_bucket().bucket(&name).send().await),
        ("NoSuchBucket".into(), 404)
    );
    assert_eq!(
        error_of(c.get_object().bucket(&name).key("k").send().await),
        ("NoSuchBucket".into(), 404)
    );
}

#[tokio::test]
async fn bucket_names_follow_the_rules() {
    let c = client();
    for bad in [
        "ab",
        "Upper-Case",
        "under_score",
        "-leading",
        "trailing-",
        "192.168.1.1",
        "a..b",
        &"x".repeat(64),
    ] {
        assert_eq!(
            error_of(c.create_bucket().bucket(bad).send().await),
            ("InvalidBucketName".into(), 400),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn location_constraint_must_be_ours() {
    let c = client();
    let name = bucket_name("loc");
    let other = CreateBucketConfiguration::builder()
        .location_constraint(BucketLocationConstraint::EuWest1)
        .build();
    let r = c
        .create_bucket()
        .bucket(&name)
        .create_bucket_configuration(other)
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidLocationConstraint".into(), 400));
}

/// With `osg.placement-by-location-constraint=true`, a LocationConstraint naming a registered
/// provider places the bucket there, and IAM can restrict it with `s3:LocationConstraint`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn location_constraint_names_a_provider_when_allowed() {
    let meta = server().meta().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _walrus = spawn_osg(
        "walrus",
        dir.path(),
        port,
        &[
            ("OSG_WALRUS_ACCESS_KEY", "AKPLACED"),
            ("OSG_WALRUS_SECRET_KEY", "placed-secret"),
        ],
    );
    let settings = osg_provider::Settings::new(&format!("http://127.0.0.1:{port}"), "AKPLACED", "placed-blobs");
    add_provider(&meta, "placed", "s3", &settings, "placed-secret").await;
    let on = |name: &str| {
        CreateBucketConfiguration::builder()
            .location_constraint(BucketLocationConstraint::from(name))
            .build()
    };
    let c = client();
    let b = bucket_name("placed");
    let r = c
        .create_bucket()
        .bucket(&b)
        .create_bucket_configuration(on("placed"))
        .send()
        .await;
    assert_eq!(
        error_of(r),
        ("InvalidLocationConstraint".into(), 400),
        "not allowed by default"
    );

    meta.set_property("osg.placement-by-location-constraint", "true")
        .await
        .unwrap();
    let r = c
        .create_bucket()
        .bucket(&b)
        .create_bucket_configuration(on("nowhere"))
        .send()
        .await;
    assert_eq!(
        error_of(r),
        ("InvalidLocationConstraint".into(), 400),
        "no such provider"
    );
    // Gateways learn of a new provider within a second or two.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while let Err(e) = c
        .create_bucket()
        .bucket(&b)
        .create_bucket_configuration(on("placed"))
        .send()
        .await
    {
        assert!(std::time::Instant::now() < deadline, "{e:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(meta.bucket(&b).await.unwrap().provider, "placed");
    let data = pattern(100_000, 5);
    c.put_object()
        .bucket(&b)
        .key("k")
        .body(data.clone().into())
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&c, &b, "k").await, data);
    let blobs: usize = std::fs::read_dir(dir.path().join("buckets/placed-blobs/blobs"))
        .unwrap()
        .map(|fan| std::fs::read_dir(fan.unwrap().path()).unwrap().count())
        .sum();
    assert_eq!(blobs, 1, "the bytes went to the named provider");

    // A user whose policy denies that placement.
    let account = meta.create_account("placement").await.unwrap();
    let user = meta.create_user(&account.id, "u", "/").await.unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"s3:*","Resource":"*"},
        {"Effect":"Deny","Action":"s3:CreateBucket","Resource":"*",
         "Condition":{"StringEquals":{"s3:LocationConstraint":"placed"}}}]}"#;
    meta.put_inline_policy(&osg_meta::Owner::User(&user), "p", policy)
        .await
        .unwrap();
    let (key, secret) = meta.create_access_key(&account.id, Some("u")).await.unwrap();
    let u = client_with(&key, &secret, None);
    let denied = bucket_name("placed");
    let r = u
        .create_bucket()
        .bucket(&denied)
        .create_bucket_configuration(on("placed"))
        .send()
        .await;
    assert_eq!(error_of(r), ("AccessDenied".into(), 403));
    u.create_bucket().bucket(&denied).send().await.unwrap();

    // A user allowed to create buckets only on that provider.
    let only = meta.create_user(&account.id, "only-placed", "/").await.unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"s3:CreateBucket","Resource":"*",
         "Condition":{"StringEquals":{"s3:LocationConstraint":"placed"}}}]}"#;
    meta.put_inline_policy(&osg_meta::Owner::User(&only), "p", policy)
        .await
        .unwrap();
    let (key, secret) = meta.create_access_key(&account.id, Some("only-placed")).await.unwrap();
    let o = client_with(&key, &secret, None);
    let r = o.create_bucket().bucket(bucket_name("unplaced")).send().await;
    assert_eq!(error_of(r), ("AccessDenied".into(), 403));
    o.create_bucket()
        .bucket(bucket_name("placed"))
        .create_bucket_configuration(on("placed"))
        .send()
        .await
        .unwrap();
    meta.set_property("osg.placement-by-location-constraint", "false")
        .await
        .unwrap();
}
