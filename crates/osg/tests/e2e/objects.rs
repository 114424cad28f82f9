use std::time::{Duration, SystemTime};

use crate::common::*;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, Delete, MetadataDirective, ObjectIdentifier};

#[tokio::test]
async fn put_get_head_delete_round_trip_bytes_and_headers() {
    let c = client();
    let b = new_bucket(&c, "obj").await;
    let data = pattern(3 << 20, 7);
    let expires = DateTime::from_secs(2_000_000_000);
    let put = c
        .put_object()
        .bucket(&b)
        .key("dir/file.bin")
        .body(data.clone().into())
        .content_type("application/x-test")
        .content_encoding("identity")
        .content_disposition("attachment; filename=\"f.bin\"")
        .content_language("en-GB")
        .cache_control("max-age=60")
        .expires(expires)
        .metadata("color", "blue")
        .metadata("Mixed-Case", "Value with spaces")
        .send()
        .await
        .unwrap();
    assert_eq!(put.e_tag(), Some(format!("\"{}\"", md5_hex(&data)).as_str()));

    let got = c.get_object().bucket(&b).key("dir/file.bin").send().await.unwrap();
    assert_eq!(got.content_type(), Some("application/x-test"));
    assert_eq!(got.content_encoding(), Some("identity"));
    assert_eq!(got.content_disposition(), Some("attachment; filename=\"f.bin\""));
    assert_eq!(got.content_language(), Some("en-GB"));
    assert_eq!(got.cache_control(), Some("max-age=60"));
    assert_eq!(got.expires_string(), Some("Wed, 18 May 2033 03:33:20 GMT"));
    assert_eq!(got.metadata().unwrap().get("color").map(String::as_str), Some("blue"));
    assert_eq!(
        got.metadata().unwrap().get("mixed-case").map(String::as_str),
        Some("Value with spaces")
    );
    assert_eq!(got.content_length(), Some(3 << 20));
    assert_eq!(got.body.collect().await.unwrap().to_vec(), data);

    let head = c.head_object().bucket(&b).key("dir/file.bin").send().await.unwrap();
    assert_eq!(head.content_length(), Some(3 << 20));
    assert_eq!(head.e_tag(), put.e_tag());
    assert_eq!(head.content_type(), Some("application/x-test"));

    // Overwrite, then delete; deleting again still succeeds.
    c.put_object()
        .bucket(&b)
        .key("dir/file.bin")
        .body(b"new".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&c, &b, "dir/file.bin").await, b"new");
    c.delete_object().bucket(&b).key("dir/file.bin").send().await.unwrap();
    c.delete_object().bucket(&b).key("dir/file.bin").send().await.unwrap();
    assert_eq!(
        error_of(c.get_object().bucket(&b).key("dir/file.bin").send().await),
        ("NoSuchKey".into(), 404)
    );
    assert_eq!(
        error_of(c.head_object().bucket(&b).key("dir/file.bin").send().await).1,
        404
    );

    // An empty object.
    c.put_object()
        .bucket(&b)
        .key("empty")
        .body(Vec::new().into())
        .send()
        .await
        .unwrap();
    assert!(get_bytes(&c, &b, "empty").await.is_empty());
}

#[tokio::test]
async fn response_overrides() {
    let c = client();
    let b = new_bucket(&c, "ovr").await;
    c.put_object()
        .bucket(&b)
        .key("k")
        .body(b"x".to_vec().into())
        .content_type("text/plain")
        .send()
        .await
        .unwrap();
    let got = c
        .get_object()
        .bucket(&b)
        .key("k")
        .response_content_type("application/json")
        .response_content_disposition("inline")
        .response_cache_control("no-cache")
        .response_content_language("fr")
        .response_content_encoding("gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("application/json"));
    assert_eq!(got.content_disposition(), Some("inline"));
    assert_eq!(got.cache_control(), Some("no-cache"));
    assert_eq!(got.content_language(), Some("fr"));
    assert_eq!(got.content_encoding(), Some("gzip"));
}

#[tokio::test]
async fn ranges() {
    let c = client();
    let b = new_bucket(&c, "rng").await;
    let data = pattern(1000, 3);
    c.put_object()
        .bucket(&b)
        .key("k")
        .body(data.clone().into())
        .send()
        .await
        .unwrap();
    for (range, want, content_range) in [
        ("bytes=0-9", &data[0..10], "bytes 0-9/1000"),
        ("bytes=990-", &data[990..], "bytes 990-999/1000"),
        ("bytes=-5", &data[995..], "bytes 995-999/1000"),
        ("bytes=500-5000", &data[500..], "bytes 500-999/1000"),
    ] {
        let got = c.get_object().bucket(&b).key("k").range(range).send().await.unwrap();
        assert_eq!(got.content_range(), Some(content_range), "{range}");
        assert_eq!(got.body.collect().await.unwrap().to_vec(), want, "{range}");
    }
    assert_eq!(
        error_of(c.get_object().bucket(&b).key("k").range("bytes=1000-").send().await),
        ("InvalidRange".into(), 416)
    );
    // partNumber on a plain object: part 1 is the whole object, part 2 does not exist.
    let p1 = c.get_object().bucket(&b).key("k").part_number(1).send().await.unwrap();
    assert_eq!(p1.content_length(), Some(1000));
    assert_eq!(
        error_of(c.get_object().bucket(&b).key("k").part_number(2).send().await),
        ("InvalidPartNumber".into(), 400)
    );
}

#[tokio::test]
async fn conditional_reads() {
    let c = client();
    let b = new_bucket(&c, "cond").await;
    let put = c
        .put_object()
        .bucket(&b)
        .key("k")
        .body(b"abc".to_vec().into())
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap().to_owned();
    let past = DateTime::from(SystemTime::now() - Duration::from_secs(3600));
    let future = DateTime::from(SystemTime::now() + Duration::from_secs(3600));

    c.get_object().bucket(&b).key("k").if_match(&etag).send().await.unwrap();
    assert_eq!(
        error_of(c.get_object().bucket(&b).key("k").if_match("\"nope\"").send().await).1,
        412
    );
    // 304 carries the object's ETag and Last-Modified (RFC 9110), and no body.
    let Err(e) = c.get_object().bucket(&b).key("k").if_none_match(&etag).send().await else {
        panic!("expected 304");
    };
    let raw = e.raw_response().unwrap();
    assert_eq!(raw.status().as_u16(), 304);
    assert_eq!(raw.headers().get("etag"), Some(etag.as_str()));
    let modified = c.head_object().bucket(&b).key("k").send().await.unwrap();
    let modified = modified
        .last_modified()
        .unwrap()
        .fmt(aws_smithy_types::date_time::Format::HttpDate)
        .unwrap();
    assert_eq!(raw.headers().get("last-modified"), Some(modified.as_str()));
    assert!(raw.body().bytes().is_none_or(<[u8]>::is_empty));
    c.get_object()
        .bucket(&b)
        .key("k")
        .if_none_match("\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(
            c.get_object()
                .bucket(&b)
                .key("k")
                .if_modified_since(future)
                .send()
                .await
        )
        .1,
        304
    );
    c.get_object()
        .bucket(&b)
        .key("k")
        .if_modified_since(past)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(
            c.get_object()
                .bucket(&b)
                .key("k")
                .if_unmodified_since(past)
                .send()
                .await
        )
        .1,
        412
    );
    c.get_object()
        .bucket(&b)
        .key("k")
        .if_unmodified_since(future)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(c.head_object().bucket(&b).key("k").if_none_match(&etag).send().await).1,
        304
    );
    assert_eq!(
        error_of(c.head_object().bucket(&b).key("k").if_match("\"nope\"").send().await).1,
        412
    );
}

#[tokio::test]
async fn conditional_writes() {
    let c = client();
    let b = new_bucket(&c, "cw").await;
    let first = c
        .put_object()
        .bucket(&b)
        .key("k")
        .if_none_match("*")
        .body(b"1".to_vec().into())
        .send()
        .await
        .unwrap();
    let r = c
        .put_object()
        .bucket(&b)
        .key("k")
        .if_none_match("*")
        .body(b"2".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("PreconditionFailed".into(), 412));
    let r = c
        .put_object()
        .bucket(&b)
        .key("k")
        .if_match("\"wrong\"")
        .body(b"2".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("PreconditionFailed".into(), 412));
    let r = c
        .put_object()
        .bucket(&b)
        .key("absent")
        .if_match("\"x\"")
        .body(b"2".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("NoSuchKey".into(), 404));
    c.put_object()
        .bucket(&b)
        .key("k")
        .if_match(first.e_tag().unwrap())
        .body(b"3".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&c, &b, "k").await, b"3");
    // If-None-Match with an ETag: refused while the key holds an object with that ETag.
    let third = c.head_object().bucket(&b).key("k").send().await.unwrap();
    let r = c
        .put_object()
        .bucket(&b)
        .key("k")
        .if_none_match(third.e_tag().unwrap())
        .body(b"4".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("PreconditionFailed".into(), 412));
    for key in ["k", "fresh"] {
        c.put_object()
            .bucket(&b)
            .key(key)
            .if_none_match("\"0cc175b9c0f1b6a831c399e269772661\"")
            .body(b"5".to_vec().into())
            .send()
            .await
            .unwrap();
        assert_eq!(get_bytes(&c, &b, key).await, b"5");
    }
}

/// DeleteObjects with per-object conditions (ETag, Size) is refused, and deletes nothing.
#[tokio::test]
async fn conditional_delete_objects_are_refused_not_ignored() {
    let c = client();
    let b = new_bucket(&c, "delcond").await;
    c.put_object()
        .bucket(&b)
        .key("k")
        .body(b"k".to_vec().into())
        .send()
        .await
        .unwrap();
    for id in [
        ObjectIdentifier::builder().key("k").e_tag("\"nope\"").build().unwrap(),
        ObjectIdentifier::builder().key("k").size(99).build().unwrap(),
    ] {
        let r = c
            .delete_objects()
            .bucket(&b)
            .delete(Delete::builder().objects(id).build().unwrap())
            .send()
            .await;
        assert_eq!(error_of(r), ("NotImplemented".into(), 501));
    }
    assert_eq!(get_bytes(&c, &b, "k").await, b"k");
}

#[tokio::test]
async fn delete_objects_quiet_and_verbose() {
    let c = client();
    let b = new_bucket(&c, "dels").await;
    for k in ["a", "b", "c"] {
        c.put_object()
            .bucket(&b)
            .key(k)
            .body(k.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let ids = |keys: &[&str]| {
        let objects = keys
            .iter()
            .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
            .collect();
        Delete::builder().set_objects(Some(objects))
    };
    let verbose = c
        .delete_objects()
        .bucket(&b)
        .delete(ids(&["a", "missing"]).build().unwrap())
        .send()
        .await
        .unwrap();
    let mut deleted: Vec<_> = verbose.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort_unstable();
    assert_eq!(deleted, ["a", "missing"]);
    let quiet = c
        .delete_objects()
        .bucket(&b)
        .delete(ids(&["b", "c"]).quiet(true).build().unwrap())
        .send()
        .await
        .unwrap();
    assert!(quiet.deleted().is_empty());
    let left = c.list_objects_v2().bucket(&b).send().await.unwrap();
    assert_eq!(left.key_count(), Some(0));
}

#[tokio::test]
async fn copy_object_copy_and_replace() {
    let c = client();
    let src = new_bucket(&c, "cpsrc").await;
    let dst = new_bucket(&c, "cpdst").await;
    let data = pattern(200_000, 9);
    c.put_object()
        .bucket(&src)
        .key("s")
        .body(data.clone().into())
        .content_type("text/x-src")
        .metadata("m", "1")
        .send()
        .await
        .unwrap();
    let etag = format!("\"{}\"", md5_hex(&data));

    // COPY (default) across buckets keeps headers and metadata.
    let out = c
        .copy_object()
        .bucket(&dst)
        .key("d")
        .copy_source(format!("{src}/s"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.copy_object_result().and_then(|r| r.e_tag()), Some(etag.as_str()));
    let got = c.get_object().bucket(&dst).key("d").send().await.unwrap();
    assert_eq!(got.content_type(), Some("text/x-src"));
    assert_eq!(got.metadata().unwrap().get("m").map(String::as_str), Some("1"));
    assert_eq!(got.body.collect().await.unwrap().to_vec(), data);

    // REPLACE within the bucket, even onto itself.
    c.copy_object()
        .bucket(&src)
        .key("s")
        .copy_source(format!("{src}/s"))
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/x-new")
        .metadata("m", "2")
        .send()
        .await
        .unwrap();
    let head = c.head_object().bucket(&src).key("s").send().await.unwrap();
    assert_eq!(head.content_type(), Some("text/x-new"));
    assert_eq!(head.metadata().unwrap().get("m").map(String::as_str), Some("2"));

    // Onto itself without REPLACE is illegal; failing source conditions are 412.
    let r = c
        .copy_object()
        .bucket(&src)
        .key("s")
        .copy_source(format!("{src}/s"))
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidRequest".into(), 400));
    let r = c
        .copy_object()
        .bucket(&dst)
        .key("x")
        .copy_source(format!("{src}/s"))
        .copy_source_if_match("\"no\"")
        .send()
        .await;
    assert_eq!(error_of(r), ("PreconditionFailed".into(), 412));
    let r = c
        .copy_object()
        .bucket(&dst)
        .key("x")
        .copy_source(format!("{src}/s"))
        .copy_source_if_none_match(&etag)
        .send()
        .await;
    assert_eq!(error_of(r), ("PreconditionFailed".into(), 412));
    let r = c
        .copy_object()
        .bucket(&dst)
        .key("x")
        .copy_source(format!("{src}/missing"))
        .send()
        .await;
    assert_eq!(error_of(r), ("NoSuchKey".into(), 404));
}

#[tokio::test]
async fn flexible_checksums_are_verified_stored_and_returned() {
    let c = client();
    let b = new_bucket(&c, "ck").await;
    let data = pattern(100_000, 5);
    for algo in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32C,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ] {
        let key = format!("k-{}", algo.as_str());
        let put = c
            .put_object()
            .bucket(&b)
            .key(&key)
            .checksum_algorithm(algo.clone())
            .body(data.clone().into())
            .send()
            .await
            .unwrap();
        let got = c
            .get_object()
            .bucket(&b)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        let (put_sum, got_sum) = match algo {
            ChecksumAlgorithm::Crc32 => (put.checksum_crc32(), got.checksum_crc32()),
            ChecksumAlgorithm::Crc32C => (put.checksum_crc32_c(), got.checksum_crc32_c()),
            ChecksumAlgorithm::Crc64Nvme => (put.checksum_crc64_nvme(), got.checksum_crc64_nvme()),
            ChecksumAlgorithm::Sha1 => (put.checksum_sha1(), got.checksum_sha1()),
            _ => (put.checksum_sha256(), got.checksum_sha256()),
        };
        assert!(put_sum.is_some(), "{algo:?}: PUT returns the checksum");
        assert_eq!(put_sum, got_sum, "{algo:?}");
        assert_eq!(got.body.collect().await.unwrap().to_vec(), data);
    }
    // A stated checksum that does not match the body.
    let r = c
        .put_object()
        .bucket(&b)
        .key("bad")
        .checksum_crc32("AAAAAA==")
        .body(data.clone().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("BadDigest".into(), 400));
    assert_eq!(
        error_of(c.head_object().bucket(&b).key("bad").send().await).1,
        404,
        "nothing was stored"
    );
}

#[tokio::test]
async fn content_md5_is_checked() {
    use base64::Engine;
    let c = client();
    let b = new_bucket(&c, "md5").await;
    let good = base64::engine::general_purpose::STANDARD.encode(hex::decode(md5_hex(b"hello")).unwrap());
    c.put_object()
        .bucket(&b)
        .key("ok")
        .content_md5(&good)
        .body(b"hello".to_vec().into())
        .send()
        .await
        .unwrap();
    let r = c
        .put_object()
        .bucket(&b)
        .key("bad")
        .content_md5(&good)
        .body(b"hellO".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("BadDigest".into(), 400));
    let r = c
        .put_object()
        .bucket(&b)
        .key("bad")
        .content_md5("not-base64!")
        .body(b"hello".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidDigest".into(), 400));
    // An empty Content-MD5 (SDKs never send one; s3s would take it as absent), signed.
    let s = server();
    let req = crate::raw::Req::new("PUT", &format!("/{b}/bad"))
        .header("content-md5", "")
        .body("hello");
    let req = crate::raw::Signer::s3(&s.access_key, &s.secret_key).sign(req, &crate::raw::host_of(&s.endpoint), true);
    let answer = crate::raw::send(&s.endpoint, &req).await;
    assert_eq!((answer.status, answer.code()), (400, "InvalidDigest"));
    assert_eq!(error_of(c.head_object().bucket(&b).key("bad").send().await).1, 404);
}

#[tokio::test]
async fn awkward_keys_are_stored_and_listed() {
    let c = client();
    let b = new_bucket(&c, "keys").await;
    let long = "é".repeat(512); // 1024 bytes
    let keys = [
        "../../etc/passwd",
        "a/b/c",
        "100%",
        "with space",
        "ünïcødé/日本語",
        "?query&x=1",
        "tab\there",
        &long,
    ];
    for k in keys {
        c.put_object()
            .bucket(&b)
            .key(k)
            .body(ByteStream::from(k.as_bytes().to_vec()))
            .send()
            .await
            .unwrap();
    }
    for k in keys {
        assert_eq!(get_bytes(&c, &b, k).await, k.as_bytes(), "{k}");
    }
    let listed = c.list_objects_v2().bucket(&b).send().await.unwrap();
    let mut want: Vec<&str> = keys.to_vec();
    want.sort_unstable();
    let got: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, want);
    // Nothing on disk is named after a key.
    for (name, _) in server().blobs.list().await {
        assert!(name.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
    }
    let too_long = "k".repeat(1025);
    let r = c
        .put_object()
        .bucket(&b)
        .key(&too_long)
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("KeyTooLongError".into(), 400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_all_succeed_and_the_last_write_wins_whole() {
    let c = client_without_retries();
    let b = new_bucket(&c, "conc").await;
    let mut tasks = Vec::new();
    for t in 0..32u8 {
        let (c, b) = (c.clone(), b.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..5 {
                let body = pattern(4096 + usize::from(t), t);
                c.put_object()
                    .bucket(&b)
                    .key(format!("own/{t}/{i}"))
                    .body(body.clone().into())
                    .send()
                    .await
                    .unwrap();
                c.put_object()
                    .bucket(&b)
                    .key("shared")
                    .body(body.into())
                    .send()
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let listed = c.list_objects_v2().bucket(&b).prefix("own/").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(160));
    // The shared key holds exactly one writer's body, never a mix.
    let shared = get_bytes(&c, &b, "shared").await;
    let t = u8::try_from(shared.len() - 4096).unwrap();
    assert_eq!(shared, pattern(4096 + usize::from(t), t));
}
