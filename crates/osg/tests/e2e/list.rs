use crate::common::*;
use aws_sdk_s3::types::EncodingType;

const KEYS: [&str; 9] = ["a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d", "e f/g", "z"];

async fn bucket_with_keys(c: &aws_sdk_s3::Client) -> String {
    let b = new_bucket(c, "list").await;
    for k in KEYS {
        c.put_object()
            .bucket(&b)
            .key(k)
            .body(k.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }
    b
}

#[tokio::test]
async fn v2_pages_prefixes_and_delimiters() {
    let c = client();
    let b = bucket_with_keys(&c).await;

    let all = c.list_objects_v2().bucket(&b).send().await.unwrap();
    let keys: Vec<_> = all.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, KEYS);
    assert_eq!(all.key_count(), Some(9));
    assert_eq!(all.is_truncated(), Some(false));
    assert_eq!(all.contents()[0].size(), Some(3));
    assert!(all.contents()[0].owner().is_none(), "no owner unless fetch-owner");

    let top = c.list_objects_v2().bucket(&b).delimiter("/").send().await.unwrap();
    let prefixes: Vec<_> = top.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    let keys: Vec<_> = top.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(prefixes, ["a/", "c/", "e f/"]);
    assert_eq!(keys, ["b", "d", "z"]);

    let under = c
        .list_objects_v2()
        .bucket(&b)
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = under.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<_> = under.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!((keys, prefixes), (vec!["a/1", "a/2"], vec!["a/b/"]));

    // Two at a time with continuation tokens, delimited: prefixes and keys interleave in order.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .list_objects_v2()
            .bucket(&b)
            .delimiter("/")
            .max_keys(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        assert!(page.key_count().unwrap() <= 2);
        seen.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_owned)),
        );
        seen.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        if page.is_truncated() != Some(true) {
            break;
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
    seen.sort_unstable();
    assert_eq!(seen, ["a/", "b", "c/", "d", "e f/", "z"]);

    let after = c.list_objects_v2().bucket(&b).start_after("c/1").send().await.unwrap();
    let keys: Vec<_> = after.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["c/2", "d", "e f/g", "z"]);

    let owned = c
        .list_objects_v2()
        .bucket(&b)
        .fetch_owner(true)
        .max_keys(1)
        .send()
        .await
        .unwrap();
    assert!(owned.contents()[0].owner().and_then(|o| o.id()).is_some());

    let zero = c.list_objects_v2().bucket(&b).max_keys(0).send().await.unwrap();
    assert!(zero.contents().is_empty());

    let encoded = c
        .list_objects_v2()
        .bucket(&b)
        .prefix("e")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(encoded.contents()[0].key(), Some("e%20f/g"));

    let bad = c
        .list_objects_v2()
        .bucket(&b)
        .continuation_token("!!!not-a-token")
        .send()
        .await;
    assert_eq!(error_of(bad), ("InvalidArgument".into(), 400));
}

#[tokio::test]
async fn v1_markers() {
    let c = client();
    let b = bucket_with_keys(&c).await;
    let first = c.list_objects().bucket(&b).max_keys(4).send().await.unwrap();
    let keys: Vec<_> = first.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["a/1", "a/2", "a/b/3", "b"]);
    assert_eq!(first.is_truncated(), Some(true));
    assert!(first.contents()[0].owner().is_some(), "v1 always has owners");
    let rest = c.list_objects().bucket(&b).marker("b").send().await.unwrap();
    let keys: Vec<_> = rest.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["c/1", "c/2", "d", "e f/g", "z"]);

    let delimited = c
        .list_objects()
        .bucket(&b)
        .delimiter("/")
        .max_keys(1)
        .send()
        .await
        .unwrap();
    assert_eq!(delimited.next_marker(), Some("a/"));
    let next = c
        .list_objects()
        .bucket(&b)
        .delimiter("/")
        .marker("a/")
        .max_keys(1)
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = next.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["b"], "resuming after a common prefix skips everything under it");
}

#[tokio::test]
async fn pages_resume_deep_in_a_prefix() {
    let c = client();
    let b = new_bucket(&c, "deep").await;
    let mut handles = Vec::new();
    for i in 0..200 {
        let c = c.clone();
        let b = b.clone();
        handles.push(tokio::spawn(async move {
            c.put_object()
                .bucket(&b)
                .key(format!("p/{i:05}"))
                .body(Vec::new().into())
                .send()
                .await
                .unwrap();
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let page = c
        .list_objects_v2()
        .bucket(&b)
        .prefix("p/")
        .start_after("p/00150")
        .max_keys(10)
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = page.contents().iter().filter_map(|o| o.key()).collect();
    let want: Vec<String> = (151..161).map(|i| format!("p/{i:05}")).collect();
    assert_eq!(keys, want);
    assert_eq!(page.is_truncated(), Some(true));
}
