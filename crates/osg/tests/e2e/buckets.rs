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
