use crate::common::*;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

const MIB: usize = 1 << 20;

fn completed(parts: &[(i32, &str)]) -> CompletedMultipartUpload {
    let parts = parts
        .iter()
        .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(*e).build())
        .collect();
    CompletedMultipartUpload::builder().set_parts(Some(parts)).build()
}

/// Sizes of every blob the provider holds. Other tests write blobs at the same time, so the
/// check below looks for a blob the size of the whole object rather than counting.
async fn blob_sizes() -> Vec<u64> {
    server().blobs.list().await.into_iter().map(|(_, size)| size).collect()
}

#[tokio::test]
async fn upload_list_complete_and_read_parts() {
    let c = client();
    let b = new_bucket(&c, "mpu").await;
    let up = c
        .create_multipart_upload()
        .bucket(&b)
        .key("big")
        .content_type("video/x-test")
        .metadata("m", "v")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let parts = [pattern(5 * MIB, 1), pattern(5 * MIB, 2), pattern(1234, 3)];
    let mut etags = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap();
        let out = c
            .upload_part()
            .bucket(&b)
            .key("big")
            .upload_id(id)
            .part_number(n)
            .body(data.clone().into())
            .send()
            .await
            .unwrap();
        assert_eq!(out.e_tag(), Some(format!("\"{}\"", md5_hex(data)).as_str()));
        etags.push(out.e_tag().unwrap().to_owned());
    }

    let page1 = c
        .list_parts()
        .bucket(&b)
        .key("big")
        .upload_id(id)
        .max_parts(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page1.parts().len(), 2);
    assert_eq!(page1.is_truncated(), Some(true));
    let page2 = c
        .list_parts()
        .bucket(&b)
        .key("big")
        .upload_id(id)
        .part_number_marker(page1.next_part_number_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page2.parts().len(), 1);
    assert_eq!(page2.parts()[0].size(), Some(1234));

    let uploads = c.list_multipart_uploads().bucket(&b).send().await.unwrap();
    assert_eq!(uploads.uploads().len(), 1);
    assert_eq!(uploads.uploads()[0].upload_id(), Some(id));

    // Completing is metadata only: no blob holding the whole object appears.
    let done = c
        .complete_multipart_upload()
        .bucket(&b)
        .key("big")
        .upload_id(id)
        .multipart_upload(completed(&[(1, &etags[0]), (2, &etags[1]), (3, &etags[2])]))
        .send()
        .await
        .unwrap();
    let whole_len = (parts.iter().map(Vec::len).sum::<usize>()) as u64;
    assert!(
        !blob_sizes().await.contains(&whole_len),
        "completion wrote the object's bytes again"
    );
    let mut md5s = Vec::new();
    for data in &parts {
        md5s.extend(hex::decode(md5_hex(data)).unwrap());
    }
    assert_eq!(done.e_tag(), Some(format!("\"{}-3\"", md5_hex(&md5s)).as_str()));

    let whole: Vec<u8> = parts.concat();
    let got = c.get_object().bucket(&b).key("big").send().await.unwrap();
    assert_eq!(got.content_type(), Some("video/x-test"));
    assert_eq!(got.metadata().unwrap().get("m").map(String::as_str), Some("v"));
    assert_eq!(got.body.collect().await.unwrap().to_vec(), whole);

    // A range across the part boundary, and each part by number.
    let span = c
        .get_object()
        .bucket(&b)
        .key("big")
        .range(format!("bytes={}-{}", 5 * MIB - 10, 5 * MIB + 9))
        .send()
        .await
        .unwrap();
    assert_eq!(
        span.body.collect().await.unwrap().to_vec(),
        &whole[5 * MIB - 10..5 * MIB + 10]
    );
    let p2 = c
        .get_object()
        .bucket(&b)
        .key("big")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(p2.parts_count(), Some(3));
    assert_eq!(
        p2.content_range(),
        Some(format!("bytes {}-{}/{}", 5 * MIB, 10 * MIB - 1, whole.len()).as_str())
    );
    assert_eq!(p2.body.collect().await.unwrap().to_vec(), parts[1]);
    // A part the object does not have: 400 InvalidPartNumber (not 416), GET and HEAD.
    assert_eq!(
        error_of(c.get_object().bucket(&b).key("big").part_number(4).send().await),
        ("InvalidPartNumber".into(), 400)
    );
    assert_eq!(
        error_of(c.head_object().bucket(&b).key("big").part_number(4).send().await).1,
        400
    );
    assert!(
        c.list_multipart_uploads()
            .bucket(&b)
            .send()
            .await
            .unwrap()
            .uploads()
            .is_empty()
    );
}

#[tokio::test]
async fn completion_errors() {
    let c = client();
    let b = new_bucket(&c, "mpuerr").await;
    let id = c
        .create_multipart_upload()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let mut etags = Vec::new();
    for (n, len) in [(1, 1000), (2, 1000)] {
        let out = c
            .upload_part()
            .bucket(&b)
            .key("k")
            .upload_id(&id)
            .part_number(n)
            .body(pattern(len, 4).into())
            .send()
            .await
            .unwrap();
        etags.push(out.e_tag().unwrap().to_owned());
    }
    let complete = |parts: CompletedMultipartUpload| {
        c.complete_multipart_upload()
            .bucket(&b)
            .key("k")
            .upload_id(&id)
            .multipart_upload(parts)
            .send()
    };
    assert_eq!(
        error_of(complete(completed(&[(1, &etags[0]), (2, &etags[1])])).await),
        ("EntityTooSmall".into(), 400)
    );
    assert_eq!(
        error_of(complete(completed(&[(2, &etags[1]), (1, &etags[0])])).await),
        ("InvalidPartOrder".into(), 400)
    );
    assert_eq!(
        error_of(complete(completed(&[(1, "\"0000\"")])).await),
        ("InvalidPart".into(), 400)
    );
    assert_eq!(
        error_of(complete(completed(&[(7, &etags[0])])).await),
        ("InvalidPart".into(), 400)
    );
    let r = c
        .upload_part()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .part_number(10_001)
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidArgument".into(), 400));

    c.abort_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(complete(completed(&[(1, &etags[0])])).await),
        ("NoSuchUpload".into(), 404)
    );
    let r = c
        .upload_part()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("NoSuchUpload".into(), 404));
    let r = c
        .abort_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .send()
        .await;
    assert_eq!(error_of(r), ("NoSuchUpload".into(), 404));
    let r = c.list_parts().bucket(&b).key("k").upload_id("nonexistent").send().await;
    assert_eq!(error_of(r), ("NoSuchUpload".into(), 404));
}

#[tokio::test]
async fn upload_part_copy_with_ranges() {
    let c = client();
    let b = new_bucket(&c, "upc").await;
    let src = pattern(6 * MIB + 100, 8);
    c.put_object()
        .bucket(&b)
        .key("src")
        .body(src.clone().into())
        .send()
        .await
        .unwrap();
    let id = c
        .create_multipart_upload()
        .bucket(&b)
        .key("dst")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let p1 = c
        .upload_part_copy()
        .bucket(&b)
        .key("dst")
        .upload_id(&id)
        .part_number(1)
        .copy_source(format!("{b}/src"))
        .copy_source_range(format!("bytes=0-{}", 5 * MIB - 1))
        .send()
        .await
        .unwrap();
    let p2 = c
        .upload_part_copy()
        .bucket(&b)
        .key("dst")
        .upload_id(&id)
        .part_number(2)
        .copy_source(format!("{b}/src"))
        .copy_source_range(format!("bytes={}-{}", 5 * MIB, 6 * MIB + 99))
        .send()
        .await
        .unwrap();
    let e1 = p1.copy_part_result().unwrap().e_tag().unwrap().to_owned();
    let e2 = p2.copy_part_result().unwrap().e_tag().unwrap().to_owned();
    assert_eq!(e1, format!("\"{}\"", md5_hex(&src[..5 * MIB])));
    let r = c
        .upload_part_copy()
        .bucket(&b)
        .key("dst")
        .upload_id(&id)
        .part_number(3)
        .copy_source(format!("{b}/src"))
        .copy_source_range(format!("bytes=0-{}", 7 * MIB))
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidRange".into(), 416));
    c.complete_multipart_upload()
        .bucket(&b)
        .key("dst")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, &e1), (2, &e2)]))
        .send()
        .await
        .unwrap();
    let got = c.get_object().bucket(&b).key("dst").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().to_vec(), src);
}

/// Conditional completions (If-Match, If-None-Match) and a retried completion whose first
/// answer was lost.
#[tokio::test]
async fn completion_conditions_and_retries() {
    let c = client();
    let b = new_bucket(&c, "mpucond").await;
    let upload = |key: &'static str, data: Vec<u8>| {
        let (c, b) = (&c, &b);
        async move {
            let id = c
                .create_multipart_upload()
                .bucket(b)
                .key(key)
                .send()
                .await
                .unwrap()
                .upload_id()
                .unwrap()
                .to_owned();
            let part = c
                .upload_part()
                .bucket(b)
                .key(key)
                .upload_id(&id)
                .part_number(1)
                .body(data.into())
                .send()
                .await
                .unwrap();
            (id, part.e_tag().unwrap().to_owned())
        }
    };
    let complete = |key: &'static str, id: &str, etag: &str| {
        c.complete_multipart_upload()
            .bucket(&b)
            .key(key)
            .upload_id(id)
            .multipart_upload(completed(&[(1, etag)]))
    };
    // Nothing at the key: If-Match is NoSuchKey; If-None-Match: * passes.
    let (id, etag) = upload("k", pattern(1000, 5)).await;
    assert_eq!(
        error_of(complete("k", &id, &etag).if_match("\"abc\"").send().await),
        ("NoSuchKey".into(), 404)
    );
    let first = complete("k", &id, &etag).if_none_match("*").send().await.unwrap();
    let made = first.e_tag().unwrap().to_owned();
    assert!(made.ends_with("-1\""), "{made}");
    // The retry of a completion that succeeded succeeds with the same object.
    let again = complete("k", &id, &etag).send().await.unwrap();
    assert_eq!(again.e_tag(), Some(made.as_str()));
    assert_eq!(get_bytes(&c, &b, "k").await, pattern(1000, 5));
    // ...but not with other parts, nor for another key.
    assert_eq!(
        error_of(complete("k", &id, "\"0cc175b9c0f1b6a831c399e269772661\"").send().await),
        ("NoSuchUpload".into(), 404)
    );
    assert_eq!(
        error_of(complete("other", &id, &etag).send().await),
        ("NoSuchUpload".into(), 404)
    );
    // Now the key holds an object: If-None-Match: * and If-None-Match with its ETag fail,
    // If-Match with another ETag fails, and If-Match with its ETag passes.
    let (id2, etag2) = upload("k", pattern(2000, 6)).await;
    for r in [
        complete("k", &id2, &etag2).if_none_match("*").send().await,
        complete("k", &id2, &etag2).if_none_match(&made).send().await,
        complete("k", &id2, &etag2).if_match("\"abc\"").send().await,
    ] {
        assert_eq!(error_of(r), ("PreconditionFailed".into(), 412));
    }
    complete("k", &id2, &etag2).if_match(&made).send().await.unwrap();
    assert_eq!(get_bytes(&c, &b, "k").await, pattern(2000, 6));
    // The first upload's object is gone: its retry is NoSuchUpload now.
    assert_eq!(
        error_of(complete("k", &id, &etag).send().await),
        ("NoSuchUpload".into(), 404)
    );
}

/// Parts of an upload created with a checksum algorithm carry that checksum; completing makes
/// the object's from them (COMPOSITE: the checksum of the part checksums, `-N`; FULL_OBJECT:
/// the CRC of all the bytes), which GET, HEAD, ListParts and GetObjectAttributes show.
#[tokio::test]
async fn multipart_checksums_composite_and_full_object() {
    use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ChecksumType, ObjectAttributes};
    use base64::Engine as _;
    use sha2::Digest as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let c = client();
    let b = new_bucket(&c, "mpusum").await;
    let data = [pattern(5 * MIB, 7), pattern(3000, 8)];

    // COMPOSITE SHA256, the expected value computed here from the bytes.
    let up = c
        .create_multipart_upload()
        .bucket(&b)
        .key("composite")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    assert_eq!(up.checksum_algorithm(), Some(&ChecksumAlgorithm::Sha256));
    assert_eq!(up.checksum_type(), Some(&ChecksumType::Composite));
    let id = up.upload_id().unwrap();
    let mut completed_parts = Vec::new();
    let mut raw = Vec::new();
    for (n, part) in (1..).zip(&data) {
        let sha = sha2::Sha256::digest(part);
        raw.extend_from_slice(&sha);
        let out = c
            .upload_part()
            .bucket(&b)
            .key("composite")
            .upload_id(id)
            .part_number(n)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .body(part.clone().into())
            .send()
            .await
            .unwrap();
        assert_eq!(out.checksum_sha256(), Some(b64(&sha).as_str()));
        completed_parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .checksum_sha256(b64(&sha))
                .build(),
        );
    }
    let listed = c
        .list_parts()
        .bucket(&b)
        .key("composite")
        .upload_id(id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.checksum_algorithm(), Some(&ChecksumAlgorithm::Sha256));
    assert_eq!(
        listed.parts()[1].checksum_sha256(),
        Some(b64(&sha2::Sha256::digest(&data[1])).as_str())
    );
    // A part listed with another checksum than its own is InvalidPart.
    let mut wrong = completed_parts.clone();
    wrong[0] = CompletedPart::builder()
        .part_number(1)
        .e_tag(completed_parts[0].e_tag().unwrap())
        .checksum_sha256(b64(&sha2::Sha256::digest(b"other")))
        .build();
    let complete = |parts: Vec<CompletedPart>| {
        c.complete_multipart_upload()
            .bucket(&b)
            .key("composite")
            .upload_id(id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
    };
    assert_eq!(error_of(complete(wrong).send().await), ("InvalidPart".into(), 400));
    let expected = format!("{}-2", b64(&sha2::Sha256::digest(&raw)));
    let done = complete(completed_parts).send().await.unwrap();
    assert_eq!(done.checksum_sha256(), Some(expected.as_str()));
    assert_eq!(done.checksum_type(), Some(&ChecksumType::Composite));
    let head = c
        .head_object()
        .bucket(&b)
        .key("composite")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.checksum_sha256(), Some(expected.as_str()));
    assert_eq!(head.checksum_type(), Some(&ChecksumType::Composite));
    let part2 = c
        .head_object()
        .bucket(&b)
        .key("composite")
        .part_number(2)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(
        part2.checksum_sha256(),
        Some(b64(&sha2::Sha256::digest(&data[1])).as_str())
    );
    // GetObjectAttributes, its parts a page at a time.
    let attributes = |marker: Option<i32>| {
        c.get_object_attributes()
            .bucket(&b)
            .key("composite")
            .object_attributes(ObjectAttributes::Etag)
            .object_attributes(ObjectAttributes::Checksum)
            .object_attributes(ObjectAttributes::ObjectParts)
            .object_attributes(ObjectAttributes::ObjectSize)
            .object_attributes(ObjectAttributes::StorageClass)
            .max_parts(1)
            .set_part_number_marker(marker.map(|m| m.to_string()))
            .send()
    };
    let first = attributes(None).await.unwrap();
    assert_eq!(
        first.e_tag().map(|e| e.trim_matches('"')),
        head.e_tag().map(|e| e.trim_matches('"'))
    );
    assert_eq!(first.object_size(), Some(i64::try_from(5 * MIB + 3000).unwrap()));
    assert_eq!(first.storage_class().map(|s| s.as_str()), Some("STANDARD"));
    assert_eq!(
        first.checksum().and_then(|s| s.checksum_sha256()),
        Some(expected.as_str())
    );
    assert_eq!(
        first.checksum().and_then(|s| s.checksum_type()),
        Some(&ChecksumType::Composite)
    );
    let parts = first.object_parts().unwrap();
    assert_eq!((parts.total_parts_count(), parts.is_truncated()), (Some(2), Some(true)));
    assert_eq!(parts.parts().len(), 1);
    assert_eq!(parts.parts()[0].size(), Some(i64::try_from(5 * MIB).unwrap()));
    let next = attributes(parts.next_part_number_marker().map(|m| m.parse().unwrap()))
        .await
        .unwrap();
    let parts = next.object_parts().unwrap();
    assert_eq!(parts.is_truncated(), Some(false));
    assert_eq!(parts.parts()[0].part_number(), Some(2));
    assert_eq!(
        parts.parts()[0].checksum_sha256(),
        Some(b64(&sha2::Sha256::digest(&data[1])).as_str())
    );

    // FULL_OBJECT CRC32: the CRC32 of all the bytes, as a single PUT of them gets (the SDK
    // computes it and the gateway checks it).
    let whole: Vec<u8> = data.concat();
    let single = c
        .put_object()
        .bucket(&b)
        .key("single")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(whole.clone().into())
        .send()
        .await
        .unwrap();
    let crc = single.checksum_crc32().unwrap().to_owned();
    let up = c
        .create_multipart_upload()
        .bucket(&b)
        .key("full")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .checksum_type(ChecksumType::FullObject)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, part) in (1..).zip(&data) {
        let out = c
            .upload_part()
            .bucket(&b)
            .key("full")
            .upload_id(id)
            .part_number(n)
            .body(part.clone().into())
            .send()
            .await
            .unwrap();
        parts.push((n, out.e_tag().unwrap().to_owned()));
    }
    let refs: Vec<(i32, &str)> = parts.iter().map(|(n, e)| (*n, e.as_str())).collect();
    let complete = || {
        c.complete_multipart_upload()
            .bucket(&b)
            .key("full")
            .upload_id(id)
            .multipart_upload(completed(&refs))
    };
    // A whole-object checksum that is not the bytes' is BadDigest; so is another checksum type.
    assert_eq!(
        error_of(complete().checksum_crc32("AAAAAA==").send().await),
        ("BadDigest".into(), 400)
    );
    assert_eq!(
        error_of(complete().checksum_type(ChecksumType::Composite).send().await),
        ("BadDigest".into(), 400)
    );
    let done = complete()
        .checksum_crc32(&crc)
        .checksum_type(ChecksumType::FullObject)
        .send()
        .await
        .unwrap();
    assert_eq!(done.checksum_crc32(), Some(crc.as_str()));
    assert_eq!(done.checksum_type(), Some(&ChecksumType::FullObject));
    let got = c
        .get_object()
        .bucket(&b)
        .key("full")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(got.checksum_crc32(), Some(crc.as_str()));
    assert_eq!(got.checksum_type(), Some(&ChecksumType::FullObject));
    assert_eq!(got.body.collect().await.unwrap().to_vec(), whole);

    // Refused as S3 refuses them.
    let create = |algorithm: ChecksumAlgorithm, kind: ChecksumType| {
        c.create_multipart_upload()
            .bucket(&b)
            .key("x")
            .checksum_algorithm(algorithm)
            .checksum_type(kind)
            .send()
    };
    assert_eq!(
        error_of(create(ChecksumAlgorithm::Sha1, ChecksumType::FullObject).await),
        ("InvalidRequest".into(), 400)
    );
    assert_eq!(
        error_of(create(ChecksumAlgorithm::Crc64Nvme, ChecksumType::Composite).await),
        ("InvalidRequest".into(), 400)
    );
    let up = c
        .create_multipart_upload()
        .bucket(&b)
        .key("x")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .unwrap();
    let r = c
        .upload_part()
        .bucket(&b)
        .key("x")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(b"other algorithm".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidRequest".into(), 400));
}
