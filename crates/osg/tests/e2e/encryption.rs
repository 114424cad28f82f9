//! Server-side encryption on every provider lane: SSE-S3 and bucket defaults, SSE-C, ranges,
//! multipart uploads and copies of encrypted objects; what the provider holds (ciphertext
//! only) and what happens when somebody changes it.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use base64::Engine as _;
use md5::Digest as _;

use crate::common::*;

/// Plaintext of `len` bytes no window of which repeats (so ciphertext cannot hide it by luck).
fn plaintext(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// An SSE-C key and its headers' values: the key and its MD5, base64.
struct CustomerKey {
    key: String,
    md5: String,
}

fn customer_key(byte: u8) -> CustomerKey {
    let raw = [byte; 32];
    let b64 = base64::engine::general_purpose::STANDARD;
    CustomerKey {
        key: b64.encode(raw),
        md5: b64.encode(md5::Md5::digest(raw)),
    }
}

/// The three SSE-C headers on a request: `.with_key(&k)`, and `.with_source_key(&k)` for a
/// copy's source.
trait WithKey {
    fn with_key(self, k: &CustomerKey) -> Self;
}

trait WithSourceKey {
    fn with_source_key(self, k: &CustomerKey) -> Self;
}

macro_rules! with_key {
    ($($builder:ty),*) => {$(
        impl WithKey for $builder {
            fn with_key(self, k: &CustomerKey) -> Self {
                self.sse_customer_algorithm("AES256")
                    .sse_customer_key(&k.key)
                    .sse_customer_key_md5(&k.md5)
            }
        }
    )*};
}

macro_rules! with_source_key {
    ($($builder:ty),*) => {$(
        impl WithSourceKey for $builder {
            fn with_source_key(self, k: &CustomerKey) -> Self {
                self.copy_source_sse_customer_algorithm("AES256")
                    .copy_source_sse_customer_key(&k.key)
                    .copy_source_sse_customer_key_md5(&k.md5)
            }
        }
    )*};
}

use aws_sdk_s3::operation as op;
with_key!(
    op::put_object::builders::PutObjectFluentBuilder,
    op::get_object::builders::GetObjectFluentBuilder,
    op::head_object::builders::HeadObjectFluentBuilder,
    op::copy_object::builders::CopyObjectFluentBuilder,
    op::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder,
    op::upload_part::builders::UploadPartFluentBuilder,
    op::upload_part_copy::builders::UploadPartCopyFluentBuilder,
    op::complete_multipart_upload::builders::CompleteMultipartUploadFluentBuilder,
    op::get_object_attributes::builders::GetObjectAttributesFluentBuilder
);
with_source_key!(
    op::copy_object::builders::CopyObjectFluentBuilder,
    op::upload_part_copy::builders::UploadPartCopyFluentBuilder
);

/// The blob names of the current version of `bucket/key`.
async fn blobs_of(bucket: &str, key: &str) -> Vec<String> {
    let v = server().meta().await.object(bucket, key).await.unwrap();
    v.pieces.iter().map(|p| osg_model::BlobId::parse(&p.blob).key).collect()
}

/// Whether `haystack` holds any 32-byte window of `needle`'s first 4 KiB.
fn holds_plaintext(haystack: &[u8], needle: &[u8]) -> bool {
    needle[..needle.len().min(4096)]
        .chunks(32)
        .filter(|w| w.len() == 32)
        .any(|w| haystack.windows(32).any(|h| h == w))
}

async fn range(c: &Client, b: &str, k: &str, r: &str, ssec: Option<&CustomerKey>) -> Vec<u8> {
    let mut get = c.get_object().bucket(b).key(k).range(r);
    if let Some(s) = ssec {
        get = get.with_key(s);
    }
    get.send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_s3_objects_are_ciphertext_on_the_provider() {
    let c = client();
    let b = new_bucket(&c, "sse-s3").await;
    let data = plaintext(3 * 65536 + 123, 1);
    let put = c
        .put_object()
        .bucket(&b)
        .key("k")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(data.clone().into())
        .send()
        .await
        .unwrap();
    assert_eq!(put.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    // SSE-S3 keeps the plaintext's MD5 as ETag, as S3 does.
    assert_eq!(put.e_tag(), Some(format!("\"{}\"", md5_hex(&data)).as_str()));
    let got = c.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(got.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), data.as_slice());
    let head = c.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    // A reader sends no SSE-S3 header: S3 answers 400 to one (SDKs cannot send it).
    let s = server();
    let signer = crate::raw::Signer::s3(&s.access_key, &s.secret_key);
    let get = crate::raw::Req::new("GET", &format!("/{b}/k")).header("x-amz-server-side-encryption", "AES256");
    let answer = crate::raw::send(&s.endpoint, &signer.sign(get, &crate::raw::host_of(&s.endpoint), true)).await;
    assert_eq!(
        (answer.status, answer.code()),
        (400, "InvalidArgument"),
        "{}",
        answer.body
    );
    assert_eq!(head.content_length(), Some(data.len() as i64));
    for (r, want) in [
        ("bytes=65535-65537", &data[65535..65538]),
        ("bytes=0-0", &data[..1]),
        ("bytes=-10", &data[data.len() - 10..]),
        ("bytes=131072-", &data[131072..]),
        ("bytes=70000-200000", &data[70000..]),
    ] {
        assert_eq!(range(&c, &b, "k", r, None).await, want, "{r}");
    }

    // The provider holds ciphertext only: 16 bytes of tag per 64 KiB chunk, no plaintext.
    let [blob] = blobs_of(&b, "k").await.try_into().unwrap();
    let sealed = server().blobs.read(&blob).await;
    assert_eq!(sealed.len(), data.len() + 4 * 16);
    assert!(!holds_plaintext(&sealed, &data));

    // Somebody changes a byte on the provider: the change is found, never served as data.
    let mut first = sealed.clone();
    first[10] ^= 0x40;
    server().blobs.write(&blob, first).await;
    let r = c.get_object().bucket(&b).key("k").send().await;
    assert_eq!(error_of(r), ("InternalError".into(), 500));
    let mut later = sealed.clone();
    later[2 * 65552 + 7] ^= 0x01;
    server().blobs.write(&blob, later).await;
    let got = c.get_object().bucket(&b).key("k").send().await.unwrap();
    assert!(got.body.collect().await.is_err(), "a tampered chunk ends the body");
    assert_eq!(
        range(&c, &b, "k", "bytes=0-1000", None).await,
        &data[..1001],
        "other chunks still read"
    );
    server().blobs.write(&blob, sealed[..sealed.len() - 16].to_vec()).await;
    let got = c.get_object().bucket(&b).key("k").range("bytes=196000-").send().await;
    let body = match got {
        Ok(got) => got.body.collect().await.map(|b| b.into_bytes().to_vec()),
        Err(_) => Ok(Vec::new()),
    };
    assert!(
        !matches!(body, Ok(ref b) if b == &data[196000..]),
        "a truncated blob is not read as whole"
    );

    // An empty encrypted object.
    c.put_object()
        .bucket(&b)
        .key("empty")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(Vec::new().into())
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&c, &b, "empty").await, b"");
}

#[tokio::test]
async fn bucket_default_encryption() {
    let c = client();
    let b = new_bucket(&c, "sse-default").await;
    let r = c.get_bucket_encryption().bucket(&b).send().await;
    assert_eq!(
        error_of(r),
        ("ServerSideEncryptionConfigurationNotFoundError".into(), 404)
    );
    let config = |algorithm: ServerSideEncryption| {
        let default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(algorithm)
            .build()
            .unwrap();
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(default)
            .build();
        ServerSideEncryptionConfiguration::builder()
            .rules(rule)
            .build()
            .unwrap()
    };
    let r = c
        .put_bucket_encryption()
        .bucket(&b)
        .server_side_encryption_configuration(config(ServerSideEncryption::AwsKms))
        .send()
        .await;
    assert_eq!(error_of(r), ("NotImplemented".into(), 501));
    c.put_bucket_encryption()
        .bucket(&b)
        .server_side_encryption_configuration(config(ServerSideEncryption::Aes256))
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_encryption().bucket(&b).send().await.unwrap();
    let rules = got.server_side_encryption_configuration().unwrap().rules();
    assert_eq!(
        rules[0]
            .apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm(),
        &ServerSideEncryption::Aes256
    );
    let data = plaintext(1000, 2);
    let put = c
        .put_object()
        .bucket(&b)
        .key("k")
        .body(data.clone().into())
        .send()
        .await
        .unwrap();
    assert_eq!(put.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    let [blob] = blobs_of(&b, "k").await.try_into().unwrap();
    assert!(!holds_plaintext(&server().blobs.read(&blob).await, &data));
    // A copy into the bucket gets the default too.
    let plain = new_bucket(&c, "sse-default-src").await;
    c.put_object()
        .bucket(&plain)
        .key("p")
        .body(data.clone().into())
        .send()
        .await
        .unwrap();
    let copied = c
        .copy_object()
        .bucket(&b)
        .key("copied")
        .copy_source(format!("{plain}/p"))
        .send()
        .await
        .unwrap();
    assert_eq!(copied.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(get_bytes(&c, &b, "copied").await, data);
    // And out of it, a copy without a default or a request for encryption is plaintext.
    let out = c
        .copy_object()
        .bucket(&plain)
        .key("back")
        .copy_source(format!("{b}/k"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.server_side_encryption(), None);
    assert_eq!(get_bytes(&c, &plain, "back").await, data);
    let deleted = c.delete_bucket_encryption().bucket(&b).send().await;
    assert!(deleted.is_ok(), "{deleted:?}");
    let r = c.get_bucket_encryption().bucket(&b).send().await;
    assert_eq!(
        error_of(r),
        ("ServerSideEncryptionConfigurationNotFoundError".into(), 404)
    );
    let put = c
        .put_object()
        .bucket(&b)
        .key("after")
        .body(data.into())
        .send()
        .await
        .unwrap();
    assert_eq!(put.server_side_encryption(), None);
}

#[tokio::test]
async fn sse_c_keys_are_checked_and_never_stored() {
    let c = client();
    let b = new_bucket(&c, "sse-c").await;
    let (k1, k2) = (customer_key(1), customer_key(2));
    let data = plaintext(70_000, 3);
    let put = c
        .put_object()
        .bucket(&b)
        .key("k")
        .with_key(&k1)
        .body(data.clone().into())
        .send()
        .await
        .unwrap();
    assert_eq!(put.sse_customer_algorithm(), Some("AES256"));
    assert_eq!(put.sse_customer_key_md5(), Some(k1.md5.as_str()));
    // Not the plaintext's MD5: that would let anyone confirm a guess of the content.
    assert_ne!(put.e_tag(), Some(format!("\"{}\"", md5_hex(&data)).as_str()));

    let get = |k: Option<&CustomerKey>, md5: Option<&str>| {
        let mut g = c.get_object().bucket(&b).key("k");
        if let Some(k) = k {
            g = g
                .sse_customer_algorithm("AES256")
                .sse_customer_key(&k.key)
                .sse_customer_key_md5(md5.unwrap_or(&k.md5));
        }
        g.send()
    };
    assert_eq!(error_of(get(None, None).await), ("InvalidRequest".into(), 400));
    assert_eq!(error_of(get(Some(&k2), None).await), ("AccessDenied".into(), 403));
    assert_eq!(
        error_of(get(Some(&k1), Some(&k2.md5)).await),
        ("InvalidArgument".into(), 400)
    );
    let got = get(Some(&k1), None).await.unwrap();
    assert_eq!(got.sse_customer_key_md5(), Some(k1.md5.as_str()));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), data.as_slice());
    assert_eq!(
        range(&c, &b, "k", "bytes=65530-65541", Some(&k1)).await,
        &data[65530..65542]
    );
    let head = c.head_object().bucket(&b).key("k").send().await;
    assert_eq!(error_of(head).1, 400);
    let head = c.head_object().bucket(&b).key("k").with_key(&k1).send().await.unwrap();
    assert_eq!(head.content_length(), Some(data.len() as i64));
    // A key for an object that is not encrypted with one is refused, not ignored.
    c.put_object()
        .bucket(&b)
        .key("plain")
        .body(b"p".to_vec().into())
        .send()
        .await
        .unwrap();
    let r = c.get_object().bucket(&b).key("plain").with_key(&k1).send().await;
    assert_eq!(error_of(r), ("InvalidRequest".into(), 400));

    // The key is nowhere in the metadata, raw, base64 or hex.
    let v = server().meta().await.object(&b, "k").await.unwrap();
    let kept = serde_json::to_string(&v.attrs).unwrap();
    for form in [k1.key.clone(), hex::encode([1u8; 32])] {
        assert!(!kept.contains(&form), "{kept}");
    }
    let [blob] = blobs_of(&b, "k").await.try_into().unwrap();
    assert!(!holds_plaintext(&server().blobs.read(&blob).await, &data));

    // A copy with the source's key and a new one for the copy.
    let copied = c
        .copy_object()
        .bucket(&b)
        .key("copy")
        .copy_source(format!("{b}/k"))
        .with_source_key(&k1)
        .with_key(&k2)
        .send()
        .await
        .unwrap();
    assert_eq!(copied.sse_customer_key_md5(), Some(k2.md5.as_str()));
    assert_eq!(range(&c, &b, "copy", "bytes=0-", Some(&k2)).await, data);
    let r = c.get_object().bucket(&b).key("copy").with_key(&k1).send().await;
    assert_eq!(error_of(r), ("AccessDenied".into(), 403));
    // Without the source's key, the copy is refused.
    let r = c
        .copy_object()
        .bucket(&b)
        .key("copy2")
        .copy_source(format!("{b}/k"))
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidRequest".into(), 400));
    // SSE-S3 and SSE-C at once are refused.
    let r = c
        .put_object()
        .bucket(&b)
        .key("both")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .with_key(&k1)
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidArgument".into(), 400));
}

/// Multipart uploads with SSE-C (every part sends the key) and SSE-S3, UploadPartCopy from an
/// encrypted source, ranges across parts and `partNumber`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_multipart_uploads_and_part_copies() {
    let c = client();
    let b = new_bucket(&c, "sse-mpu").await;
    let k = customer_key(9);
    let (p1, p2) = (plaintext(5 << 20, 4), plaintext(1 << 20, 5));
    let up = c
        .create_multipart_upload()
        .bucket(&b)
        .key("c")
        .with_key(&k)
        .send()
        .await
        .unwrap();
    assert_eq!(up.sse_customer_key_md5(), Some(k.md5.as_str()));
    let id = up.upload_id().unwrap();
    let r = c
        .upload_part()
        .bucket(&b)
        .key("c")
        .upload_id(id)
        .part_number(1)
        .body(p1.clone().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidRequest".into(), 400));
    let mut parts = Vec::new();
    for (n, body) in [(1, &p1), (2, &p2)] {
        let part = c
            .upload_part()
            .bucket(&b)
            .key("c")
            .upload_id(id)
            .part_number(n)
            .with_key(&k)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(part.e_tag().unwrap())
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket(&b)
        .key("c")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let whole = [p1.clone(), p2.clone()].concat();
    assert_eq!(range(&c, &b, "c", "bytes=0-", Some(&k)).await, whole);
    let across = (5 << 20) - 100..(5 << 20) + 100;
    let r = format!("bytes={}-{}", across.start, across.end - 1);
    assert_eq!(range(&c, &b, "c", &r, Some(&k)).await, &whole[across]);
    let part2 = c
        .get_object()
        .bucket(&b)
        .key("c")
        .part_number(2)
        .with_key(&k)
        .send()
        .await
        .unwrap();
    assert_eq!(part2.body.collect().await.unwrap().into_bytes().as_ref(), p2.as_slice());

    // An SSE-C upload with a checksum: completing it needs the key, as S3 requires.
    let up = c
        .create_multipart_upload()
        .bucket(&b)
        .key("checked")
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
        .with_key(&k)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = c
        .upload_part()
        .bucket(&b)
        .key("checked")
        .upload_id(id)
        .part_number(1)
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
        .with_key(&k)
        .body(b"checked part".to_vec().into())
        .send()
        .await
        .unwrap();
    let done = CompletedMultipartUpload::builder()
        .parts(
            CompletedPart::builder()
                .part_number(1)
                .e_tag(part.e_tag().unwrap())
                .checksum_crc32(part.checksum_crc32().unwrap())
                .build(),
        )
        .build();
    let r = c
        .complete_multipart_upload()
        .bucket(&b)
        .key("checked")
        .upload_id(id)
        .multipart_upload(done.clone())
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidRequest".into(), 400));
    let completed = c
        .complete_multipart_upload()
        .bucket(&b)
        .key("checked")
        .upload_id(id)
        .multipart_upload(done)
        .with_key(&k)
        .send()
        .await
        .unwrap();
    assert!(completed.checksum_crc32().is_some());
    assert_eq!(range(&c, &b, "checked", "bytes=0-", Some(&k)).await, b"checked part");

    // An SSE-S3 upload whose parts are copied from the SSE-C object.
    let up = c
        .create_multipart_upload()
        .bucket(&b)
        .key("s")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(up.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, r) in [
        (1, format!("bytes=0-{}", (5 << 20) - 1)),
        (2, "bytes=100-199".to_owned()),
    ] {
        let copied = c
            .upload_part_copy()
            .bucket(&b)
            .key("s")
            .upload_id(id)
            .part_number(n)
            .copy_source(format!("{b}/c"))
            .copy_source_range(r)
            .with_source_key(&k)
            .send()
            .await
            .unwrap();
        assert_eq!(copied.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
        let etag = copied.copy_part_result().unwrap().e_tag().unwrap().to_owned();
        parts.push(CompletedPart::builder().part_number(n).e_tag(etag).build());
    }
    let done = c
        .complete_multipart_upload()
        .bucket(&b)
        .key("s")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    assert_eq!(done.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    let want = [&whole[..5 << 20], &whole[100..200]].concat();
    assert_eq!(get_bytes(&c, &b, "s").await, want);
    for blob in blobs_of(&b, "s").await {
        assert!(!holds_plaintext(&server().blobs.read(&blob).await, &want));
    }
}

/// Policies can require encryption: `s3:x-amz-server-side-encryption`.
#[tokio::test]
async fn policies_can_require_encryption() {
    let c = client();
    let b = new_bucket(&c, "sse-policy").await;
    let policy = format!(
        r#"{{"Statement":[{{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::{b}/*",
            "Condition":{{"StringNotEquals":{{"s3:x-amz-server-side-encryption":"AES256"}}}}}}]}}"#
    );
    c.put_bucket_policy().bucket(&b).policy(policy).send().await.unwrap();
    let r = c
        .put_object()
        .bucket(&b)
        .key("k")
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("AccessDenied".into(), 403));
    c.put_object()
        .bucket(&b)
        .key("k")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
}

/// Rotating the master key: a new key first in the key file, the old one after it; objects
/// written before stay readable; `osg master-key rewrap` seals everything under the new key,
/// after which the old key can go. Also: SSE-C keys travel only over HTTPS by default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_key_rotation_keeps_objects_readable() {
    let dir = tempfile::tempdir().unwrap();
    let (data, key_file) = (dir.path().join("data"), dir.path().join("master.keys"));
    let b64 = base64::engine::general_purpose::STANDARD;
    let (old, new) = (b64.encode(plaintext(32, 11)), b64.encode(plaintext(32, 12)));
    let key_path = key_file.to_str().unwrap().to_owned();
    let (access, secret) = ("AKROTATION0000000000", "rotation-secret-0000");
    let env = [
        ("OSG_ADMIN_ACCESS_KEY", access),
        ("OSG_ADMIN_SECRET_KEY", secret),
        ("OSG_MASTER_KEY_FILE", key_path.as_str()),
    ];
    let start = || {
        let (gateway, port) = spawn_osg_anywhere("serve", &data, &env);
        (gateway, client_at(&format!("http://127.0.0.1:{port}"), access, secret))
    };
    let rewrap = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_osg"))
            .args(["master-key", "rewrap", "--json", "--data-dir"])
            .arg(&data)
            .env("OSG_MASTER_KEY_FILE", &key_file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            rows[0]["secrets"].as_u64().unwrap(),
            rows[0]["data_keys"].as_u64().unwrap(),
        )
    };
    let put = |c: &Client, key: &'static str| {
        let c = c.clone();
        async move {
            c.put_object()
                .bucket("rotated")
                .key(key)
                .server_side_encryption(ServerSideEncryption::Aes256)
                .body(plaintext(100_000, 13).into())
                .send()
                .await
                .unwrap();
        }
    };

    std::fs::write(&key_file, format!("{old}\n")).unwrap();
    let (gateway, c) = start();
    c.create_bucket().bucket("rotated").send().await.unwrap();
    put(&c, "before").await;
    let k = customer_key(5);
    let r = c
        .put_object()
        .bucket("rotated")
        .key("ssec")
        .with_key(&k)
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidRequest".into(), 400), "SSE-C over plain HTTP");
    drop(gateway);

    // The new key seals; the old one still opens.
    std::fs::write(&key_file, format!("# rotated\n{new}\n{old}\n")).unwrap();
    let (gateway, c) = start();
    assert_eq!(get_bytes(&c, "rotated", "before").await, plaintext(100_000, 13));
    put(&c, "after").await;
    drop(gateway);
    let (secrets, data_keys) = rewrap();
    assert!(secrets >= 1, "the admin's key was sealed by the old master key");
    assert_eq!(data_keys, 1, "one object's data key was sealed by the old master key");
    assert_eq!(rewrap(), (0, 0), "nothing left under the old key");

    // The old key retired: everything still opens.
    std::fs::write(&key_file, format!("{new}\n")).unwrap();
    let (_gateway, c) = start();
    for key in ["before", "after"] {
        assert_eq!(get_bytes(&c, "rotated", key).await, plaintext(100_000, 13), "{key}");
    }
}
