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
    assert_eq!(
        error_of(c.get_object().bucket(&b).key("big").part_number(4).send().await).1,
        416
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
