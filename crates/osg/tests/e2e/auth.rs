use std::time::{Duration, SystemTime};

use crate::common::*;
use aws_sdk_s3::operation::RequestId;
use aws_sdk_s3::presigning::PresigningConfig;

#[tokio::test]
async fn bad_credentials_and_clock_skew_are_refused() {
    let s = server();
    let c = client();
    let b = new_bucket(&c, "auth").await;

    let wrong_secret = client_with(&s.access_key, "not-the-secret", None);
    assert_eq!(
        error_of(wrong_secret.list_buckets().send().await),
        ("SignatureDoesNotMatch".into(), 403)
    );
    let r = wrong_secret
        .put_object()
        .bucket(&b)
        .key("k")
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("SignatureDoesNotMatch".into(), 403));

    let unknown = client_with("AKUNKNOWNUNKNOWN0000", &s.secret_key, None);
    assert_eq!(
        error_of(unknown.list_buckets().send().await),
        ("InvalidAccessKeyId".into(), 403)
    );

    let skewed = client_with(
        &s.access_key,
        &s.secret_key,
        Some(SystemTime::now() - Duration::from_secs(20 * 60)),
    );
    assert_eq!(
        error_of(skewed.list_buckets().send().await),
        ("RequestTimeTooSkewed".into(), 403)
    );
    let slight = client_with(
        &s.access_key,
        &s.secret_key,
        Some(SystemTime::now() - Duration::from_secs(5 * 60)),
    );
    slight.list_buckets().send().await.unwrap();
}

#[tokio::test]
async fn presigned_get_and_put() {
    let c = client();
    let b = new_bucket(&c, "presign").await;
    let http = reqwest::Client::new();
    let cfg = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();

    let put = c.put_object().bucket(&b).key("p").presigned(cfg.clone()).await.unwrap();
    let resp = http.put(put.uri()).body("presigned body").send().await.unwrap();
    assert_eq!(resp.status(), 200);

    let get = c.get_object().bucket(&b).key("p").presigned(cfg).await.unwrap();
    let resp = http.get(get.uri()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "presigned body");

    // Tampering with the signed URL breaks the signature.
    let tampered = get.uri().replace("/p?", "/q?");
    let resp = http.get(&tampered).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<Code>SignatureDoesNotMatch</Code>")
    );
}

#[tokio::test]
async fn anonymous_requests_are_denied_with_s3_xml() {
    let c = client();
    let b = new_bucket(&c, "anon").await;
    let resp = reqwest::get(format!("{}/{b}/k", server().endpoint)).await.unwrap();
    assert_eq!(resp.status(), 403);
    let id = resp
        .headers()
        .get("x-amz-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let body = resp.text().await.unwrap();
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    assert!(body.contains(&format!("<RequestId>{id}</RequestId>")), "{body}");
    assert!(body.contains(&format!("<Resource>/{b}/k</Resource>")), "{body}");
}

#[tokio::test]
async fn every_response_has_a_request_id_and_unbuilt_operations_say_so() {
    let c = client();
    let out = c.list_buckets().send().await.unwrap();
    assert!(out.request_id().is_some_and(|id| id.len() == 16));
    let b = new_bucket(&c, "unbuilt").await;
    let r = c.get_bucket_website().bucket(&b).send().await;
    assert_eq!(error_of(r), ("NotImplemented".into(), 501));
}
