//! Bucket versioning through the gateway, as the S3 API reference describes it: version ids,
//! delete markers and their answers, the `null` version of unversioned and suspended buckets,
//! reads, copies, tags and deletes by version id, and ListObjectVersions.

use aws_sdk_s3::types::{
    BucketVersioningStatus, Delete, EncodingType, MfaDelete, ObjectIdentifier, Tag, Tagging, VersioningConfiguration,
};

use crate::common::*;

async fn set_versioning(c: &aws_sdk_s3::Client, bucket: &str, status: BucketVersioningStatus) {
    c.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .unwrap();
}

async fn put(c: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) -> Option<String> {
    let out = c
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap();
    out.version_id().map(str::to_owned)
}

async fn get_version(c: &aws_sdk_s3::Client, bucket: &str, key: &str, version: &str) -> (Vec<u8>, Option<String>) {
    let out = c
        .get_object()
        .bucket(bucket)
        .key(key)
        .version_id(version)
        .send()
        .await
        .unwrap();
    let id = out.version_id().map(str::to_owned);
    (out.body.collect().await.unwrap().to_vec(), id)
}

#[tokio::test]
async fn a_versioned_buckets_life() {
    let c = client();
    let b = new_bucket(&c, "ver").await;
    let status = c.get_bucket_versioning().bucket(&b).send().await.unwrap();
    assert_eq!(status.status(), None, "a new bucket has never had versioning");
    assert_eq!(
        put(&c, &b, "k", b"v0").await,
        None,
        "no version id in an unversioned bucket"
    );

    set_versioning(&c, &b, BucketVersioningStatus::Enabled).await;
    let status = c.get_bucket_versioning().bucket(&b).send().await.unwrap();
    assert_eq!(status.status(), Some(&BucketVersioningStatus::Enabled));
    let v1 = put(&c, &b, "k", b"v1").await.expect("a version id");
    let v2 = put(&c, &b, "k", b"v2").await.expect("a version id");
    assert_ne!(v1, v2);
    assert_ne!(v1, "null");

    // Reads: the current object, and each version by id, with its id.
    let head = c.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(head.version_id(), Some(v2.as_str()));
    assert_eq!(get_bytes(&c, &b, "k").await, b"v2");
    assert_eq!(get_version(&c, &b, "k", &v1).await, (b"v1".to_vec(), Some(v1.clone())));
    assert_eq!(
        get_version(&c, &b, "k", "null").await,
        (b"v0".to_vec(), Some("null".into()))
    );
    assert_eq!(
        error_of(
            c.get_object()
                .bucket(&b)
                .key("k")
                .version_id("not/a-version")
                .send()
                .await
        ),
        ("InvalidArgument".into(), 400)
    );
    assert_eq!(
        error_of(
            c.get_object()
                .bucket(&b)
                .key("k")
                .version_id("0123456789abcdef0123456789abcdef")
                .send()
                .await
        ),
        ("NoSuchVersion".into(), 404)
    );
    let listed = c.list_object_versions().bucket(&b).send().await.unwrap();
    let versions: Vec<(&str, bool, i64)> = listed
        .versions()
        .iter()
        .map(|v| (v.version_id().unwrap(), v.is_latest().unwrap(), v.size().unwrap()))
        .collect();
    assert_eq!(
        versions,
        [(v2.as_str(), true, 2), (v1.as_str(), false, 2), ("null", false, 2)]
    );
    assert!(listed.delete_markers().is_empty());

    // A delete adds a delete marker: the key is gone from reads and listings, not its versions.
    let deleted = c.delete_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(deleted.delete_marker(), Some(true));
    let marker = deleted.version_id().unwrap().to_owned();
    let Err(e) = c.get_object().bucket(&b).key("k").send().await else {
        panic!("the key reads as deleted")
    };
    let raw = e.raw_response().unwrap();
    assert_eq!(raw.status().as_u16(), 404);
    assert_eq!(raw.headers().get("x-amz-delete-marker"), Some("true"));
    assert_eq!(raw.headers().get("x-amz-version-id"), Some(marker.as_str()));
    // The marker named by its id: 405 MethodNotAllowed, GET and HEAD.
    let Err(e) = c.get_object().bucket(&b).key("k").version_id(&marker).send().await else {
        panic!("a delete marker has no bytes")
    };
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e),
        Some("MethodNotAllowed")
    );
    let raw = e.raw_response().unwrap();
    assert_eq!(raw.status().as_u16(), 405);
    assert_eq!(raw.headers().get("x-amz-delete-marker"), Some("true"));
    assert!(raw.headers().get("last-modified").is_some());
    assert_eq!(
        error_of(c.head_object().bucket(&b).key("k").version_id(&marker).send().await).1,
        405
    );
    let current = c.list_objects_v2().bucket(&b).send().await.unwrap();
    assert!(current.contents().is_empty(), "a deleted key is not listed");
    let listed = c.list_object_versions().bucket(&b).send().await.unwrap();
    assert_eq!(listed.delete_markers().len(), 1);
    let m = &listed.delete_markers()[0];
    assert_eq!((m.version_id(), m.is_latest()), (Some(marker.as_str()), Some(true)));
    assert!(m.owner().is_some());
    assert_eq!(listed.versions().len(), 3);
    assert!(listed.versions().iter().all(|v| v.is_latest() == Some(false)));

    // Copies and tags by version id.
    let copied = c
        .copy_object()
        .bucket(&b)
        .key("copy")
        .copy_source(format!("{b}/k?versionId={v1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(copied.copy_source_version_id(), Some(v1.as_str()));
    assert!(copied.version_id().is_some());
    assert_eq!(get_bytes(&c, &b, "copy").await, b"v1");
    assert_eq!(
        error_of(
            c.copy_object()
                .bucket(&b)
                .key("copy2")
                .copy_source(format!("{b}/k?versionId={marker}"))
                .send()
                .await
        ),
        ("InvalidRequest".into(), 400)
    );
    assert_eq!(
        error_of(
            c.copy_object()
                .bucket(&b)
                .key("copy2")
                .copy_source(format!("{b}/k"))
                .send()
                .await
        ),
        ("NoSuchKey".into(), 404)
    );
    let tags = Tagging::builder()
        .tag_set(Tag::builder().key("era").value("first").build().unwrap())
        .build()
        .unwrap();
    let tagged = c
        .put_object_tagging()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .tagging(tags)
        .send()
        .await
        .unwrap();
    assert_eq!(tagged.version_id(), Some(v1.as_str()));
    let read = c
        .get_object_tagging()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!((read.version_id(), read.tag_set().len()), (Some(v1.as_str()), 1));
    let other = c
        .get_object_tagging()
        .bucket(&b)
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    assert!(other.tag_set().is_empty());

    // Deleting the marker by id brings v2 back; deleting v2 by id, v1.
    let undone = c
        .delete_object()
        .bucket(&b)
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (undone.delete_marker(), undone.version_id()),
        (Some(true), Some(marker.as_str()))
    );
    assert_eq!(get_bytes(&c, &b, "k").await, b"v2");
    let gone = c
        .delete_object()
        .bucket(&b)
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!((gone.delete_marker(), gone.version_id()), (None, Some(v2.as_str())));
    assert_eq!(get_bytes(&c, &b, "k").await, b"v1");
    assert_eq!(
        error_of(c.get_object().bucket(&b).key("k").version_id(&v2).send().await),
        ("NoSuchVersion".into(), 404)
    );

    // DeleteObjects by version id, and without one (a marker).
    let id = |key: &str, version: Option<&str>| {
        ObjectIdentifier::builder()
            .key(key)
            .set_version_id(version.map(str::to_owned))
            .build()
            .unwrap()
    };
    let out = c
        .delete_objects()
        .bucket(&b)
        .delete(
            Delete::builder()
                .objects(id("k", Some(&v1)))
                .objects(id("k", Some("null")))
                .objects(id("copy", None))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    let mut deleted: Vec<(&str, Option<&str>, Option<bool>, bool)> = out
        .deleted()
        .iter()
        .map(|d| {
            (
                d.key().unwrap(),
                d.version_id(),
                d.delete_marker(),
                d.delete_marker_version_id().is_some(),
            )
        })
        .collect();
    deleted.sort_unstable();
    let mut expected = vec![
        ("copy", None, Some(true), true),
        ("k", Some("null"), None, false),
        ("k", Some(v1.as_str()), None, false),
    ];
    expected.sort_unstable();
    assert_eq!(deleted, expected);
    assert_eq!(error_of(c.head_object().bucket(&b).key("k").send().await).1, 404);
    assert!(
        c.list_object_versions()
            .bucket(&b)
            .prefix("k")
            .send()
            .await
            .unwrap()
            .versions()
            .is_empty()
    );
    // Versions and markers keep a bucket from being deleted.
    assert_eq!(
        error_of(c.delete_bucket().bucket(&b).send().await),
        ("BucketNotEmpty".into(), 409)
    );
}

#[tokio::test]
async fn suspended_versioning_keeps_one_null_version() {
    let c = client();
    let b = new_bucket(&c, "suspend").await;
    set_versioning(&c, &b, BucketVersioningStatus::Enabled).await;
    let v1 = put(&c, &b, "a", b"one").await.unwrap();
    set_versioning(&c, &b, BucketVersioningStatus::Suspended).await;
    let status = c.get_bucket_versioning().bucket(&b).send().await.unwrap();
    assert_eq!(status.status(), Some(&BucketVersioningStatus::Suspended));
    assert_eq!(put(&c, &b, "a", b"two").await.as_deref(), Some("null"));
    assert_eq!(put(&c, &b, "a", b"three").await.as_deref(), Some("null"));
    let listed = c.list_object_versions().bucket(&b).send().await.unwrap();
    let versions: Vec<(&str, bool)> = listed
        .versions()
        .iter()
        .map(|v| (v.version_id().unwrap(), v.is_latest().unwrap()))
        .collect();
    assert_eq!(
        versions,
        [("null", true), (v1.as_str(), false)],
        "one null version, replaced"
    );
    assert_eq!(get_version(&c, &b, "a", "null").await.0, b"three");
    // A delete: a delete marker that is the null version.
    let deleted = c.delete_object().bucket(&b).key("a").send().await.unwrap();
    assert_eq!(
        (deleted.delete_marker(), deleted.version_id()),
        (Some(true), Some("null"))
    );
    let listed = c.list_object_versions().bucket(&b).send().await.unwrap();
    assert_eq!(listed.versions().len(), 1);
    assert_eq!(listed.delete_markers()[0].version_id(), Some("null"));
    assert_eq!(get_version(&c, &b, "a", &v1).await.0, b"one");
    // MFA delete is not implemented: refused, not ignored.
    let r = c
        .put_bucket_versioning()
        .bucket(&b)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .mfa_delete(MfaDelete::Enabled)
                .build(),
        )
        .send()
        .await;
    assert_eq!(error_of(r), ("NotImplemented".into(), 501));
}

#[tokio::test]
async fn version_listings_page_roll_up_and_encode() {
    let c = client();
    let b = new_bucket(&c, "verlist").await;
    set_versioning(&c, &b, BucketVersioningStatus::Enabled).await;
    let mut expected = Vec::new();
    for key in ["a/1", "a/2", "b", "c d"] {
        let mut ids = Vec::new();
        for n in 0..if key == "b" { 3 } else { 1 } {
            ids.push(put(&c, &b, key, format!("{key}{n}").as_bytes()).await.unwrap());
        }
        // Newest first within a key.
        expected.extend(ids.into_iter().rev().map(|id| (key.to_owned(), id)));
    }
    // Pages of two, resumed at the markers each page gives.
    let mut seen = Vec::new();
    let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
    loop {
        let page = c
            .list_object_versions()
            .bucket(&b)
            .max_keys(2)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .unwrap();
        seen.extend(
            page.versions()
                .iter()
                .map(|v| (v.key().unwrap().to_owned(), v.version_id().unwrap().to_owned())),
        );
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
    assert_eq!(seen, expected);
    // A delimiter rolls keys up; url encoding encodes keys.
    let rolled = c
        .list_object_versions()
        .bucket(&b)
        .delimiter("/")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = rolled.common_prefixes().iter().map(|p| p.prefix().unwrap()).collect();
    assert_eq!(prefixes, ["a/"]);
    let keys: Vec<&str> = rolled.versions().iter().map(|v| v.key().unwrap()).collect();
    assert_eq!(keys, ["b", "b", "b", "c%20d"]);
    // A version marker without a key marker is refused, as S3 does.
    let r = c
        .list_object_versions()
        .bucket(&b)
        .version_id_marker(&expected[0].1)
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidArgument".into(), 400));
}

/// Reading, tagging or deleting a version needs the version actions (s3:GetObjectVersion,
/// s3:DeleteObjectVersion ...), as in AWS; the unversioned actions do not give them.
#[tokio::test]
async fn version_requests_need_version_actions() {
    let c = client();
    let b = new_bucket(&c, "veriam").await;
    set_versioning(&c, &b, BucketVersioningStatus::Enabled).await;
    let v1 = put(&c, &b, "k", b"one").await.unwrap();
    let account = server().meta().await.bucket(&b).await.unwrap().owner;
    let reader = user_allowed(&account, "reader", &b, &["s3:GetObject", "s3:DeleteObject"]).await;
    assert_eq!(get_bytes(&reader, &b, "k").await, b"one");
    assert_eq!(
        error_of(reader.get_object().bucket(&b).key("k").version_id(&v1).send().await),
        ("AccessDenied".into(), 403)
    );
    assert_eq!(
        error_of(reader.delete_object().bucket(&b).key("k").version_id(&v1).send().await),
        ("AccessDenied".into(), 403)
    );
    assert_eq!(get_version(&c, &b, "k", &v1).await.0, b"one");
}

/// A completed multipart upload is a version like any other: its id in the answer, the same
/// one when the completion is retried.
#[tokio::test]
async fn completed_uploads_are_versions() {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let c = client();
    let b = new_bucket(&c, "vermp").await;
    set_versioning(&c, &b, BucketVersioningStatus::Enabled).await;
    let first = put(&c, &b, "mp", b"plain").await.unwrap();
    let id = c
        .create_multipart_upload()
        .bucket(&b)
        .key("mp")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let part = c
        .upload_part()
        .bucket(&b)
        .key("mp")
        .upload_id(&id)
        .part_number(1)
        .body(b"multipart".to_vec().into())
        .send()
        .await
        .unwrap();
    let parts = CompletedMultipartUpload::builder()
        .parts(
            CompletedPart::builder()
                .part_number(1)
                .e_tag(part.e_tag().unwrap())
                .build(),
        )
        .build();
    let complete = || {
        c.complete_multipart_upload()
            .bucket(&b)
            .key("mp")
            .upload_id(&id)
            .multipart_upload(parts.clone())
            .send()
    };
    let done = complete().await.unwrap();
    let made = done.version_id().unwrap().to_owned();
    assert_ne!(made, first);
    assert_eq!(complete().await.unwrap().version_id(), Some(made.as_str()));
    assert_eq!(get_version(&c, &b, "mp", &made).await.0, b"multipart");
    assert_eq!(get_version(&c, &b, "mp", &first).await.0, b"plain");
}

/// Restoring an old version by copying it onto its own key, as S3 allows (a copy onto itself
/// naming no version, with nothing changed, stays refused).
#[tokio::test]
async fn an_old_version_is_restored_by_copying_it_onto_its_key() {
    let c = client();
    let b = new_bucket(&c, "restore").await;
    set_versioning(&c, &b, BucketVersioningStatus::Enabled).await;
    let v1 = put(&c, &b, "k", b"first").await.unwrap();
    put(&c, &b, "k", b"second").await.unwrap();
    let restored = c
        .copy_object()
        .bucket(&b)
        .key("k")
        .copy_source(format!("{b}/k?versionId={v1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(restored.copy_source_version_id(), Some(v1.as_str()));
    assert_eq!(get_bytes(&c, &b, "k").await, b"first");
    let r = c
        .copy_object()
        .bucket(&b)
        .key("k")
        .copy_source(format!("{b}/k"))
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidRequest".into(), 400));
    let listed = c.list_object_versions().bucket(&b).send().await.unwrap();
    assert_eq!(listed.versions().len(), 3);
}
