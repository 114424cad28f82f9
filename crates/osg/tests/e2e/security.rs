//! The findings of the adversarial review (issue 11), each reproduced through the real gateway
//! and asserted refused. Raw HTTP where SDKs will not send the request (`crate::raw`).

use std::time::{Duration, Instant};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{ObjectOwnership, OwnershipControls, OwnershipControlsRule};

use crate::common::*;
use crate::raw::{self, Req, Signer};

fn signer() -> Signer {
    let s = server();
    Signer::s3(&s.access_key, &s.secret_key)
}

fn host() -> String {
    raw::host_of(&server().endpoint)
}

/// A new account with a user whose only identity policy is `policy`; its client and keys.
async fn user_with(account: &str, policy: &str) -> (aws_sdk_s3::Client, Signer) {
    let meta = server().meta().await;
    let a = meta.create_account(account).await.unwrap();
    let user = meta.create_user(&a.id, "u", "/").await.unwrap();
    meta.put_inline_policy(&osg_meta::Owner::User(&user), "p", policy)
        .await
        .unwrap();
    let keys = meta.create_access_key(&a.id, Some("u")).await.unwrap();
    (client_with(&keys.0, &keys.1, None), Signer::s3(&keys.0, &keys.1))
}

/// Turns ACLs on for `bucket` (ObjectWriter), so ACL headers mean something.
async fn with_acls(c: &aws_sdk_s3::Client, bucket: &str) {
    let rule = OwnershipControlsRule::builder()
        .object_ownership(ObjectOwnership::ObjectWriter)
        .build()
        .unwrap();
    let controls = OwnershipControls::builder().rules(rule).build().unwrap();
    c.put_bucket_ownership_controls()
        .bucket(bucket)
        .ownership_controls(controls)
        .send()
        .await
        .unwrap();
}

// ---- High 1: unsigned x-amz-* headers ----

#[tokio::test]
async fn a_presigned_put_with_added_headers_is_refused_and_copies_nothing() {
    let c = client();
    let private = new_bucket(&c, "sec-private").await;
    c.put_object()
        .bucket(&private)
        .key("secret")
        .body(b"private bytes".to_vec().into())
        .send()
        .await
        .unwrap();
    let public = new_bucket(&c, "sec-public").await;
    with_acls(&c, &public).await;
    let cfg = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();
    let url = c.put_object().bucket(&public).key("drop").presigned(cfg).await.unwrap();
    let resp = reqwest::Client::new()
        .put(url.uri())
        .header("x-amz-copy-source", format!("{private}/secret"))
        .header("x-amz-acl", "public-read")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body = resp.text().await.unwrap();
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    assert!(
        body.contains("<Message>There were headers present in the request which were not signed</Message>"),
        "{body}"
    );
    assert!(
        body.contains("<HeadersNotSigned>x-amz-copy-source, x-amz-acl</HeadersNotSigned>"),
        "{body}"
    );
    let r = c.head_object().bucket(&public).key("drop").send().await;
    assert_eq!(error_of(r).1, 404, "nothing was written");
    // The URL as signed still works.
    let cfg = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();
    let url = c.put_object().bucket(&public).key("drop").presigned(cfg).await.unwrap();
    let resp = reqwest::Client::new().put(url.uri()).body("ok").send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_replayed_signed_request_with_added_headers_is_refused() {
    let c = client();
    let b = new_bucket(&c, "sec-replay").await;
    let endpoint = &server().endpoint;
    let signed = signer().sign(Req::new("PUT", &format!("/{b}/k")).body("v1"), &host(), true);
    assert_eq!(raw::send(endpoint, &signed).await.status, 200);
    for (name, value) in [
        ("x-amz-copy-source", format!("{b}/k")),
        ("x-amz-meta-injected", "1".into()),
        ("x-amz-tagging", "owner=attacker".into()),
        ("x-amz-acl", "public-read".into()),
    ] {
        let replay = signed.clone().header(name, &value);
        let a = raw::send(endpoint, &replay).await;
        assert_eq!((a.status, a.code()), (403, "AccessDenied"), "{name}: {}", a.body);
        assert_eq!(a.element("HeadersNotSigned"), Some(name));
    }
    let head = c.head_object().bucket(&b).key("k").send().await.unwrap();
    assert!(head.metadata().is_none_or(|m| m.is_empty()));
    // Host must be signed too.
    let unsigned_host = signer().sign(Req::new("GET", &format!("/{b}/k")), &host(), false);
    let a = raw::send(endpoint, &unsigned_host).await;
    assert_eq!((a.status, a.code()), (403, "AccessDenied"), "{}", a.body);
    assert_eq!(a.element("HeadersNotSigned"), Some("host"));
}

#[tokio::test]
async fn sigv2_covers_x_amz_headers() {
    let c = client();
    let b = new_bucket(&c, "sec-v2").await;
    let endpoint = &server().endpoint;
    let resource = format!("/{b}/k");
    let signed = signer().sign_v2(Req::new("PUT", &resource).body("v2"), &resource);
    assert_eq!(raw::send(endpoint, &signed).await.status, 200);
    let tampered = signed.clone().header("x-amz-meta-injected", "1");
    let a = raw::send(endpoint, &tampered).await;
    assert_eq!((a.status, a.code()), (403, "SignatureDoesNotMatch"), "{}", a.body);
}

// ---- High 2: wildcard matching ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adversarial_wildcards_cost_microseconds_not_seconds() {
    let c = client();
    let b = new_bucket(&c, "sec-glob").await;
    let policy = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
            "Resource":"arn:aws:s3:::{b}/*${{*}}*${{*}}*${{?}}"}},
           {{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/ua",
            "Condition":{{"StringLike":{{"aws:UserAgent":"{}b"}}}}}}]}}"#,
        "*a".repeat(300)
    );
    c.put_bucket_policy().bucket(&b).policy(policy).send().await.unwrap();
    let key = "*".repeat(800);
    let started = Instant::now();
    let resp = reqwest::get(format!("{}/{b}/{key}", server().endpoint)).await.unwrap();
    // The key does not match the pattern (it lacks the final `*?` of literal characters).
    assert_eq!(resp.status(), 403);
    let resp = reqwest::Client::builder()
        .user_agent("a".repeat(6000))
        .build()
        .unwrap()
        .get(format!("{}/{b}/ua", server().endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // Before the fix: 34 s for the key alone, on one core. Now: a few milliseconds.
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

// ---- High 3: POST form uploads ----

/// A multipart form: fields, then the file.
pub(crate) fn form(boundary: &str, fields: &[(&str, &str)], file: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in fields {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    out.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
    );
    out.extend_from_slice(file);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// The gateway's peak resident memory (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb >> 10
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_form_uploads_are_refused_before_their_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let (gateway, port) = spawn_osg_anywhere(
        "serve",
        dir.path(),
        &[
            ("OSG_ADMIN_ACCESS_KEY", "AKFORMTEST0000000000"),
            ("OSG_ADMIN_SECRET_KEY", "form-secret-0000000"),
        ],
    );
    let addr = format!("127.0.0.1:{port}");
    let pid = gateway.0.id();
    let before = peak_rss_mib(pid);
    // Sixteen anonymous clients each send a 60 MiB form to a bucket that does not exist.
    let file = vec![b'x'; 60 << 20];
    let body = std::sync::Arc::new(form("B0UNDARY", &[("key", "k")], &file));
    let senders: Vec<_> = (0..16)
        .map(|_| {
            let (addr, body) = (addr.clone(), std::sync::Arc::clone(&body));
            std::thread::spawn(move || {
                let head = format!(
                    "POST /no-such-bucket HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary=B0UNDARY\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let parts: Vec<&[u8]> = body.chunks(1 << 20).collect();
                raw::raw_exchange(&addr, &head, &parts, Duration::ZERO, Duration::from_secs(20))
            })
        })
        .collect();
    for s in senders {
        let answer = s.join().unwrap().expect("an answer");
        assert!(
            answer.starts_with("HTTP/1.1 403"),
            "{}",
            &answer[..answer.len().min(300)]
        );
        assert!(answer.contains("<Code>AccessDenied</Code>"));
    }
    let after = peak_rss_mib(pid);
    // Before the fix the gateway held every file: +900 MB here. Now each holds at most the
    // fields' budget.
    assert!(after < before + 64, "peak RSS {before} MiB -> {after} MiB");

    // Fields before the file are bounded, signed or not.
    let big = "v".repeat(30 << 10);
    let body = form("B0UNDARY", &[("key", "k"), ("x-ignore-pad", &big)], b"x");
    let head = format!(
        "POST /no-such-bucket HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary=B0UNDARY\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let answer = raw::raw_exchange(&addr, &head, &[&body], Duration::ZERO, Duration::from_secs(10)).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("<Code>MaxPostPreDataLengthExceededError</Code>"),
        "{answer}"
    );
}

/// A SigV4-signed POST policy, as browsers get it from a server that holds the keys.
pub(crate) fn signed_form_fields(s: &Signer, bucket: &str, key: &str, max: u64) -> Vec<(String, String)> {
    signed_form_fields_with(s, bucket, key, max, &[])
}

/// [`signed_form_fields`] with `extra` fields, which the policy names too.
fn signed_form_fields_with(
    s: &Signer,
    bucket: &str,
    key: &str,
    max: u64,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    use base64::Engine as _;
    let now = time::OffsetDateTime::now_utc();
    let date = format!("{:04}{:02}{:02}T000000Z", now.year(), u8::from(now.month()), now.day());
    let credential = format!("{}/{}/us-east-1/s3/aws4_request", s.access_key, &date[..8]);
    let expiration = (now + time::Duration::minutes(10))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let policy = format!(
        r#"{{"expiration":"{expiration}","conditions":[{{"bucket":"{bucket}"}},{{"key":"{key}"}},
            ["content-length-range",1,{max}],{{"x-amz-algorithm":"AWS4-HMAC-SHA256"}},
            {{"x-amz-credential":"{credential}"}},{{"x-amz-date":"{date}"}},["starts-with","$Content-Type",""]{}]}}"#,
        extra
            .iter()
            .map(|(k, v)| format!(r#",{{"{k}":"{v}"}}"#))
            .collect::<String>()
    );
    let policy = base64::engine::general_purpose::STANDARD.encode(policy);
    let mut k = format!("AWS4{}", s.secret_key).into_bytes();
    for part in [&date[..8], "us-east-1", "s3", "aws4_request"] {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&k).unwrap();
        mac.update(part.as_bytes());
        k = mac.finalize().into_bytes().to_vec();
    }
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&k).unwrap();
    mac.update(policy.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let extra = extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
    [
        ("key", key.to_owned()),
        ("Content-Type", "application/octet-stream".to_owned()),
        ("x-amz-algorithm", "AWS4-HMAC-SHA256".to_owned()),
        ("x-amz-credential", credential),
        ("x-amz-date", date),
        ("policy", policy),
        ("x-amz-signature", signature),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .chain(extra)
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_form_uploads_stream_and_keep_their_limits() {
    let c = client();
    let b = new_bucket(&c, "sec-form").await;
    // Larger than a piece (8 MiB), so providers that need lengths get several.
    let file = pattern(20 << 20, 9);
    let fields = signed_form_fields(&signer(), &b, "up/big", 32 << 20);
    let field_refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let body = form("SEC0FORM", &field_refs, &file);
    let resp = reqwest::Client::new()
        .post(format!("{}/{b}", server().endpoint))
        .header("content-type", "multipart/form-data; boundary=SEC0FORM")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());
    let got = c.get_object().bucket(&b).key("up/big").send().await.unwrap();
    assert_eq!(got.e_tag(), Some(format!("\"{}\"", md5_hex(&file)).as_str()));
    assert_eq!(get_bytes(&c, &b, "up/big").await, file);

    // Over the policy's content-length-range: refused, nothing stored.
    let small = signed_form_fields(&signer(), &b, "up/small", 1000);
    let refs: Vec<(&str, &str)> = small.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let resp = reqwest::Client::new()
        .post(format!("{}/{b}", server().endpoint))
        .header("content-type", "multipart/form-data; boundary=SEC0FORM")
        .body(form("SEC0FORM", &refs, &pattern(5000, 1)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("<Code>EntityTooLarge</Code>"));
    assert_eq!(error_of(c.head_object().bucket(&b).key("up/small").send().await).1, 404);

    // A field the policy does not name, or a wrong signature: refused.
    let mut extra = refs.clone();
    extra.insert(1, ("acl", "public-read"));
    let resp = reqwest::Client::new()
        .post(format!("{}/{b}", server().endpoint))
        .header("content-type", "multipart/form-data; boundary=SEC0FORM")
        .body(form("SEC0FORM", &extra, b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let mut forged = refs.clone();
    let last = forged.len() - 1;
    forged[last].1 = "0000000000000000000000000000000000000000000000000000000000000000";
    let resp = reqwest::Client::new()
        .post(format!("{}/{b}", server().endpoint))
        .header("content-type", "multipart/form-data; boundary=SEC0FORM")
        .body(form("SEC0FORM", &forged, b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<Code>SignatureDoesNotMatch</Code>")
    );
    // SSE-C asked for in a form field: refused, not ignored.
    let mut sse = refs.clone();
    sse.insert(1, ("x-amz-server-side-encryption-customer-algorithm", "AES256"));
    let resp = reqwest::Client::new()
        .post(format!("{}/{b}", server().endpoint))
        .header("content-type", "multipart/form-data; boundary=SEC0FORM")
        .body(form("SEC0FORM", &sse, b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 501);
    // A bucket's default encryption applies to form uploads too.
    let encrypted = new_bucket(&c, "sec-form-sse").await;
    let rule = aws_sdk_s3::types::ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            aws_sdk_s3::types::ServerSideEncryptionByDefault::builder()
                .sse_algorithm(aws_sdk_s3::types::ServerSideEncryption::Aes256)
                .build()
                .unwrap(),
        )
        .build();
    c.put_bucket_encryption()
        .bucket(&encrypted)
        .server_side_encryption_configuration(
            aws_sdk_s3::types::ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let fields = signed_form_fields(&signer(), &encrypted, "f", 1000);
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let resp = reqwest::Client::new()
        .post(format!("{}/{encrypted}", server().endpoint))
        .header("content-type", "multipart/form-data; boundary=SEC0FORM")
        .body(form("SEC0FORM", &refs, b"form bytes"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(resp.headers()["x-amz-server-side-encryption"], "AES256");
    let head = c.head_object().bucket(&encrypted).key("f").send().await.unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );
    assert_eq!(get_bytes(&c, &encrypted, "f").await, b"form bytes");
    // A policy requiring encryption sees a form's `x-amz-server-side-encryption` field.
    let policy = format!(
        r#"{{"Statement":[{{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::{b}/*",
            "Condition":{{"StringNotEquals":{{"s3:x-amz-server-side-encryption":"AES256"}}}}}}]}}"#
    );
    c.put_bucket_policy().bucket(&b).policy(policy).send().await.unwrap();
    for (extra, status) in [(vec![], 403), (vec![("x-amz-server-side-encryption", "AES256")], 204)] {
        let fields = signed_form_fields_with(&signer(), &b, "required", 1000, &extra);
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let resp = reqwest::Client::new()
            .post(format!("{}/{b}", server().endpoint))
            .header("content-type", "multipart/form-data; boundary=SEC0FORM")
            .body(form("SEC0FORM", &refs, b"form bytes"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{extra:?}: {}", resp.text().await.unwrap());
    }
    let head = c.head_object().bucket(&b).key("required").send().await.unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );
}

// ---- High 4: protection headers ----

#[tokio::test]
async fn encryption_and_retention_requests_are_refused_not_ignored() {
    let c = client();
    let b = new_bucket(&c, "sec-protect").await;
    let endpoint = &server().endpoint;
    let key_b64 = "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=";
    let key_md5 = "KYvwGXoFFJ42a2u2GDWhwQ==";
    // SSE-S3 and SSE-C are honoured (`encryption::*`); SSE-KMS is not.
    let cases: &[&[(&str, &str)]] = &[
        &[
            ("x-amz-server-side-encryption", "aws:kms"),
            ("x-amz-server-side-encryption-aws-kms-key-id", "k"),
        ],
        &[("x-amz-server-side-encryption", "aws:kms:dsse")],
        &[
            ("x-amz-server-side-encryption", "AES256"),
            ("x-amz-server-side-encryption-bucket-key-enabled", "true"),
        ],
        &[("x-amz-storage-class", "GLACIER")],
        &[("x-amz-website-redirect-location", "/elsewhere")],
    ];
    for headers in cases {
        let mut req = Req::new("PUT", &format!("/{b}/protected")).body("data");
        for (k, v) in *headers {
            req = req.header(k, v);
        }
        let a = raw::send(endpoint, &signer().sign(req, &host(), true)).await;
        assert_eq!((a.status, a.code()), (501, "NotImplemented"), "{headers:?}: {}", a.body);
        assert_eq!(
            error_of(c.head_object().bucket(&b).key("protected").send().await).1,
            404
        );
    }
    // Object Lock on a bucket without it: refused, nothing stored.
    let locks: &[&[(&str, &str)]] = &[
        &[
            ("x-amz-object-lock-mode", "COMPLIANCE"),
            ("x-amz-object-lock-retain-until-date", "2030-01-01T00:00:00Z"),
        ],
        &[("x-amz-object-lock-legal-hold", "ON")],
    ];
    for headers in locks {
        let mut req = Req::new("PUT", &format!("/{b}/protected")).body("data");
        for (k, v) in *headers {
            req = req.header(k, v);
        }
        let a = raw::send(endpoint, &signer().sign(req, &host(), true)).await;
        assert_eq!((a.status, a.code()), (400, "InvalidRequest"), "{headers:?}: {}", a.body);
        assert_eq!(
            error_of(c.head_object().bucket(&b).key("protected").send().await).1,
            404
        );
    }
    let a = raw::send(
        endpoint,
        &signer().sign(
            Req::new("PUT", &format!("/{b}/protected"))
                .header("x-amz-storage-class", "COLD")
                .body("x"),
            &host(),
            true,
        ),
    )
    .await;
    assert_eq!((a.status, a.code()), (400, "InvalidStorageClass"));
    // A bucket created with Object Lock has it (it is honoured, not ignored).
    let locked = bucket_name("sec-locked");
    let a = raw::send(
        endpoint,
        &signer().sign(
            Req::new("PUT", &format!("/{locked}")).header("x-amz-bucket-object-lock-enabled", "true"),
            &host(),
            true,
        ),
    )
    .await;
    assert_eq!(a.status, 200);
    let lock = c.get_object_lock_configuration().bucket(&locked).send().await.unwrap();
    assert!(lock.object_lock_configuration().is_some());
    // SSE-C on a GET of an object stored without it is refused: no object is ever served as
    // if it were decrypted with the key given.
    c.put_object()
        .bucket(&b)
        .key("plain")
        .body(b"p".to_vec().into())
        .send()
        .await
        .unwrap();
    let get = Req::new("GET", &format!("/{b}/plain"))
        .header("x-amz-server-side-encryption-customer-algorithm", "AES256")
        .header("x-amz-server-side-encryption-customer-key", key_b64)
        .header("x-amz-server-side-encryption-customer-key-md5", key_md5);
    let a = raw::send(endpoint, &signer().sign(get, &host(), true)).await;
    assert_eq!((a.status, a.code()), (400, "InvalidRequest"), "{}", a.body);
}

/// Each request header of the S3 API reference for the object operations served: honoured
/// (its effect is checked) or refused with the error AWS gives.
#[tokio::test]
async fn every_request_header_is_honoured_or_refused() {
    let c = client();
    let b = new_bucket(&c, "sec-headers").await;
    let account = server().meta().await.bucket(&b).await.unwrap().owner;
    let endpoint = &server().endpoint;
    let put = |headers: &[(&str, &str)], body: &str| {
        let mut req = Req::new("PUT", &format!("/{b}/h")).body(body.to_owned());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        signer().sign(req, &host(), true)
    };
    // Refused with the error AWS gives.
    let refused: &[(&str, &str, u16, &str)] = &[
        ("x-amz-server-side-encryption", "aws:kms", 501, "NotImplemented"),
        ("x-amz-server-side-encryption", "AES512", 400, "InvalidArgument"),
        (
            "x-amz-server-side-encryption-aws-kms-key-id",
            "k",
            501,
            "NotImplemented",
        ),
        ("x-amz-server-side-encryption-context", "e30=", 501, "NotImplemented"),
        (
            "x-amz-server-side-encryption-bucket-key-enabled",
            "true",
            501,
            "NotImplemented",
        ),
        // SSE-C without its key.
        (
            "x-amz-server-side-encryption-customer-algorithm",
            "AES256",
            400,
            "InvalidArgument",
        ),
        ("x-amz-storage-class", "STANDARD_IA", 501, "NotImplemented"),
        ("x-amz-storage-class", "NOPE", 400, "InvalidStorageClass"),
        ("x-amz-website-redirect-location", "/x", 501, "NotImplemented"),
        // Half a retention is refused; a legal hold needs a bucket with Object Lock.
        ("x-amz-object-lock-mode", "GOVERNANCE", 400, "InvalidArgument"),
        (
            "x-amz-object-lock-retain-until-date",
            "2030-01-01T00:00:00Z",
            400,
            "InvalidArgument",
        ),
        ("x-amz-object-lock-legal-hold", "ON", 400, "InvalidRequest"),
        ("x-amz-write-offset-bytes", "0", 501, "NotImplemented"),
        ("x-amz-checksum-type", "FULL_OBJECT", 501, "NotImplemented"),
        ("x-amz-security-token", "token", 400, "InvalidToken"),
        ("x-amz-expected-bucket-owner", "999999999999", 403, "AccessDenied"),
    ];
    for (name, value, status, code) in refused {
        let a = raw::send(endpoint, &put(&[(name, value)], "x")).await;
        assert_eq!((a.status, a.code()), (*status, *code), "{name}: {}", a.body);
    }
    assert_eq!(
        error_of(c.head_object().bucket(&b).key("h").send().await).1,
        404,
        "nothing stored"
    );

    // Honoured: stored and returned.
    let stored = [
        ("Cache-Control", "max-age=60"),
        ("Content-Disposition", "attachment"),
        ("Content-Encoding", "identity"),
        ("Content-Language", "en"),
        ("Content-Type", "text/plain"),
        ("Expires", "Thu, 01 Jan 2037 00:00:00 GMT"),
        ("x-amz-meta-colour", "blue"),
        ("x-amz-tagging", "a=1"),
        ("x-amz-acl", "bucket-owner-full-control"),
        ("x-amz-storage-class", "STANDARD"),
        ("x-amz-checksum-crc32", "26gLsg=="),
        ("Content-MD5", "hBotaJrYa9FhFEdFPCLG/A=="),
        ("x-amz-expected-bucket-owner", &account),
        ("x-amz-request-payer", "requester"),
    ];
    let a = raw::send(endpoint, &put(&stored, "body")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let head = c
        .head_object()
        .bucket(&b)
        .key("h")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.cache_control(), Some("max-age=60"));
    assert_eq!(head.content_disposition(), Some("attachment"));
    assert_eq!(head.content_encoding(), Some("identity"));
    assert_eq!(head.content_language(), Some("en"));
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(head.expires_string(), Some("Thu, 01 Jan 2037 00:00:00 GMT"));
    assert_eq!(head.metadata().unwrap()["colour"], "blue");
    assert_eq!(head.checksum_crc32(), Some("26gLsg=="));
    let tags = c.get_object_tagging().bucket(&b).key("h").send().await.unwrap();
    assert_eq!(tags.tag_set()[0].key(), "a");
    // Honoured by refusing what does not hold.
    let a = raw::send(endpoint, &put(&[("Content-MD5", "AAAAAAAAAAAAAAAAAAAAAA==")], "body")).await;
    assert_eq!((a.status, a.code()), (400, "BadDigest"));
    let a = raw::send(endpoint, &put(&[("x-amz-checksum-crc32", "AAAAAA==")], "body")).await;
    assert_eq!(a.status, 400, "{}", a.body);
    let a = raw::send(endpoint, &put(&[("If-None-Match", "*")], "body")).await;
    assert_eq!((a.status, a.code()), (412, "PreconditionFailed"));
    let a = raw::send(endpoint, &put(&[("If-Match", "\"0000\"")], "body")).await;
    assert_eq!((a.status, a.code()), (412, "PreconditionFailed"));

    // GET and HEAD.
    let get = |headers: &[(&str, &str)], query: &[(&str, &str)]| {
        let mut req = Req::new("GET", &format!("/{b}/h"));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        for (k, v) in query {
            req = req.query(k, v);
        }
        signer().sign(req, &host(), true)
    };
    assert_eq!(
        raw::send(endpoint, &get(&[("Range", "bytes=1-2")], &[])).await.body,
        "od"
    );
    assert_eq!(
        raw::send(endpoint, &get(&[("If-None-Match", "*")], &[])).await.status,
        304
    );
    assert_eq!(
        raw::send(endpoint, &get(&[("If-Match", "\"0\"")], &[])).await.status,
        412
    );
    assert_eq!(
        raw::send(
            endpoint,
            &get(&[("If-Modified-Since", "Thu, 01 Jan 2037 00:00:00 GMT")], &[])
        )
        .await
        .status,
        304
    );
    assert_eq!(
        raw::send(
            endpoint,
            &get(&[("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")], &[])
        )
        .await
        .status,
        412
    );
    let a = raw::send(endpoint, &get(&[], &[("response-content-type", "x/y")])).await;
    assert_eq!(a.header("content-type"), Some("x/y"));
    assert_eq!(
        raw::send(endpoint, &get(&[], &[("versionId", "null")])).await.status,
        200
    );
    let a = raw::send(endpoint, &get(&[], &[("versionId", "3sL4kqtJlcpXroDTDmJ")])).await;
    assert_eq!((a.status, a.code()), (400, "InvalidArgument"));
    let a = raw::send(
        endpoint,
        &get(&[("x-amz-server-side-encryption-customer-algorithm", "AES256")], &[]),
    )
    .await;
    assert_eq!((a.status, a.code()), (400, "InvalidArgument"), "SSE-C without its key");
    let a = raw::send(endpoint, &get(&[("x-amz-checksum-mode", "ENABLED")], &[])).await;
    assert_eq!(a.header("x-amz-checksum-crc32"), Some("26gLsg=="));
    let a = raw::send(endpoint, &get(&[("x-amz-expected-bucket-owner", "111111111111")], &[])).await;
    assert_eq!((a.status, a.code()), (403, "AccessDenied"));

    // DELETE: conditional and MFA deletes are not implemented.
    for (name, value) in [
        ("If-Match", "\"e\""),
        ("x-amz-if-match-size", "4"),
        ("x-amz-mfa", "123 456"),
    ] {
        let del = signer().sign(
            Req::new("DELETE", &format!("/{b}/h")).header(name, value),
            &host(),
            true,
        );
        let a = raw::send(endpoint, &del).await;
        assert_eq!((a.status, a.code()), (501, "NotImplemented"), "{name}");
    }
    c.head_object().bucket(&b).key("h").send().await.unwrap();
    let del = signer().sign(
        Req::new("DELETE", &format!("/{b}/h")).query("versionId", "v9"),
        &host(),
        true,
    );
    assert_eq!(raw::send(endpoint, &del).await.status, 400);
    c.head_object().bucket(&b).key("h").send().await.unwrap();

    // Copies: a malformed source version, encryption of the source.
    let copy = |headers: &[(&str, &str)]| {
        let mut req = Req::new("PUT", &format!("/{b}/copy"));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        signer().sign(req, &host(), true)
    };
    let src = format!("{b}/h");
    let a = raw::send(
        endpoint,
        &copy(&[("x-amz-copy-source", &format!("{src}?versionId=v1"))]),
    )
    .await;
    assert_eq!((a.status, a.code()), (400, "InvalidArgument"));
    let a = raw::send(
        endpoint,
        &copy(&[
            ("x-amz-copy-source", &src),
            ("x-amz-copy-source-server-side-encryption-customer-algorithm", "AES256"),
        ]),
    )
    .await;
    assert_eq!((a.status, a.code()), (400, "InvalidArgument"), "SSE-C without its key");
    let a = raw::send(
        endpoint,
        &copy(&[
            ("x-amz-copy-source", &src),
            ("x-amz-source-expected-bucket-owner", "111111111111"),
        ]),
    )
    .await;
    assert_eq!((a.status, a.code()), (403, "AccessDenied"));
    let a = raw::send(
        endpoint,
        &copy(&[
            ("x-amz-copy-source", &src),
            ("x-amz-source-expected-bucket-owner", &account),
        ]),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = raw::send(
        endpoint,
        &copy(&[("x-amz-copy-source", &src), ("x-amz-copy-source-if-match", "\"0\"")]),
    )
    .await;
    assert_eq!(a.status, 412);
}

// ---- Medium ----

#[tokio::test]
async fn presigned_urls_live_at_most_a_week() {
    let c = client();
    let b = new_bucket(&c, "sec-presign").await;
    c.put_object()
        .bucket(&b)
        .key("k")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let endpoint = &server().endpoint;
    let req = Req::new("GET", &format!("/{b}/k"));
    let week = signer().presign(req.clone(), &host(), 604_800);
    assert_eq!(raw::send(endpoint, &week).await.status, 200);
    let longer = signer().presign(req.clone(), &host(), 604_801);
    let a = raw::send(endpoint, &longer).await;
    assert_eq!(
        (a.status, a.code()),
        (400, "AuthorizationQueryParametersError"),
        "{}",
        a.body
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let resource = format!("/{b}/k");
    let v2 = signer().presign_v2(req.clone(), &resource, now + 3600);
    assert_eq!(raw::send(endpoint, &v2).await.status, 200);
    let v2_long = signer().presign_v2(req, &resource, now + 8 * 24 * 3600);
    let a = raw::send(endpoint, &v2_long).await;
    assert_eq!(
        (a.status, a.code()),
        (400, "AuthorizationQueryParametersError"),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn acl_headers_need_put_object_acl_and_tags_put_object_tagging() {
    let owner = client();
    let b = new_bucket(&owner, "sec-aclperm").await;
    with_acls(&owner, &b).await;
    let policy =
        format!(r#"{{"Statement":{{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::{b}/*"}}}}"#);
    let (only_put, _) = user_with("sec-putonly", &policy).await;
    // The bucket is another account's: let that account's users in through the bucket policy.
    let meta = server().meta().await;
    let account = meta.account_by_name("sec-putonly").await.unwrap().unwrap();
    let bucket_policy = format!(
        r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":["s3:PutObject","s3:PutObjectAcl","s3:PutObjectTagging"],"Resource":"arn:aws:s3:::{b}/*"}}}}"#,
        account.id
    );
    owner
        .put_bucket_policy()
        .bucket(&b)
        .policy(bucket_policy)
        .send()
        .await
        .unwrap();
    only_put
        .put_object()
        .bucket(&b)
        .key("plain")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let r = only_put
        .put_object()
        .bucket(&b)
        .key("public")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("AccessDenied".into(), 403));
    let r = only_put
        .put_object()
        .bucket(&b)
        .key("granted")
        .grant_read("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("AccessDenied".into(), 403));
    let r = only_put
        .put_object()
        .bucket(&b)
        .key("tagged")
        .tagging("a=b")
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(error_of(r), ("AccessDenied".into(), 403));
    let r = only_put
        .create_multipart_upload()
        .bucket(&b)
        .key("mp")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
        .send()
        .await;
    assert_eq!(error_of(r), ("AccessDenied".into(), 403));
    let anonymous = reqwest::get(format!("{}/{b}/public", server().endpoint)).await.unwrap();
    assert_eq!(anonymous.status(), 403, "nothing was made public");
}

#[tokio::test]
async fn put_object_tagging_conditions_read_the_body_tags() {
    let owner = client();
    let b = new_bucket(&owner, "sec-tagcond").await;
    owner
        .put_object()
        .bucket(&b)
        .key("k")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let policy = format!(
        r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":"s3:PutObjectTagging","Resource":"arn:aws:s3:::{b}/*",
            "Condition":{{"StringEquals":{{"s3:RequestObjectTag/class":"public"}}}}}}}}"#
    );
    owner
        .put_bucket_policy()
        .bucket(&b)
        .policy(policy)
        .send()
        .await
        .unwrap();
    let (other, signer) = user_with(
        "sec-tagger",
        r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
    )
    .await;
    let tagging = |class: &str| {
        aws_sdk_s3::types::Tagging::builder()
            .tag_set(
                aws_sdk_s3::types::Tag::builder()
                    .key("class")
                    .value(class)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    other
        .put_object_tagging()
        .bucket(&b)
        .key("k")
        .tagging(tagging("public"))
        .send()
        .await
        .unwrap();
    let r = other
        .put_object_tagging()
        .bucket(&b)
        .key("k")
        .tagging(tagging("secret"))
        .send()
        .await;
    assert_eq!(error_of(r), ("AccessDenied".into(), 403));
    // A header claiming the allowed tag does not stand in for the body's.
    let body = "<Tagging><TagSet><Tag><Key>class</Key><Value>secret</Value></Tag></TagSet></Tagging>";
    let req = Req::new("PUT", &format!("/{b}/k"))
        .query("tagging", "")
        .header("x-amz-tagging", "class=public")
        .header("content-md5", &{
            use base64::Engine as _;
            use md5::Digest as _;
            base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body.as_bytes()))
        })
        .body(body);
    let a = raw::send(&server().endpoint, &signer.sign(req, &host(), true)).await;
    assert_eq!((a.status, a.code()), (403, "AccessDenied"), "{}", a.body);
    let tags = owner.get_object_tagging().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(tags.tag_set()[0].value(), "public");
}

// ---- Low ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_is_cut_and_its_blob_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd_env = vec![
        ("OSG_ADMIN_ACCESS_KEY", "AKIDLETEST0000000000"),
        ("OSG_ADMIN_SECRET_KEY", "idle-secret-0000000"),
    ];
    cmd_env.push(("OSG_IDLE_TIMEOUT", "2"));
    let (_gateway, port) = spawn_osg_anywhere("serve", dir.path(), &cmd_env);
    let endpoint = format!("http://127.0.0.1:{port}");
    let c = client_at(&endpoint, "AKIDLETEST0000000000", "idle-secret-0000000");
    c.create_bucket().bucket("idle").send().await.unwrap();
    let s = Signer::s3("AKIDLETEST0000000000", "idle-secret-0000000");
    let req = s.sign(
        Req::new("PUT", "/idle/stalled")
            .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
            .header("content-length", "1048576"),
        &raw::host_of(&endpoint),
        true,
    );
    let head: String = std::iter::once(format!("PUT /idle/stalled HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"))
        .chain(req.headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")))
        .chain(std::iter::once("\r\n".to_owned()))
        .collect();
    let started = Instant::now();
    let answer = raw::raw_exchange(
        &format!("127.0.0.1:{port}"),
        &head,
        &[&[7u8; 65536]],
        Duration::ZERO,
        Duration::from_secs(20),
    )
    .expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("<Code>RequestTimeout</Code>"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(15));
    // The half-written blob is gone and its lease handed to the reaper.
    let blobs = dir.path().join("walrus/blobs");
    let files: Vec<_> = walk_files(&blobs);
    assert!(files.is_empty(), "{files:?}");
    let meta = osg::bootstrap::StoreOptions::in_dir(dir.path()).open().await.unwrap();
    let (writing, _dead) = meta.blob_backlog(osg_meta::MAIN).await.unwrap();
    assert_eq!(writing, 0);
    assert_eq!(
        error_of(c.head_object().bucket("idle").key("stalled").send().await).1,
        404
    );
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn aws_chunked_data_past_the_declared_length_is_refused_as_it_arrives() {
    let c = client();
    let b = new_bucket(&c, "sec-chunked").await;
    let req = signer().sign(
        Req::new("PUT", &format!("/{b}/over"))
            .header("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
            .header("x-amz-decoded-content-length", "10")
            .header("content-encoding", "aws-chunked")
            .header("content-length", "2000000"),
        &host(),
        true,
    );
    let head: String = std::iter::once(format!("PUT /{b}/over HTTP/1.1\r\nHost: {}\r\n", host()))
        .chain(req.headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")))
        .chain(std::iter::once("\r\n".to_owned()))
        .collect();
    // Only the first chunk's header is sent: a chunk of 1 MiB against 10 declared bytes.
    let chunk_header = format!("100000;chunk-signature={}\r\n", "0".repeat(64));
    let answer = raw::raw_exchange(
        &host(),
        &head,
        &[chunk_header.as_bytes()],
        Duration::ZERO,
        Duration::from_secs(10),
    )
    .expect("answered before the data was sent");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(error_of(c.head_object().bucket(&b).key("over").send().await).1, 404);
}

#[tokio::test]
async fn oversized_xml_bodies_are_400_not_500() {
    let c = client();
    let b = new_bucket(&c, "sec-xml").await;
    let big = format!("<Delete>{}</Delete>", "<Object><Key>k</Key></Object>".repeat(200_000));
    for (method, query) in [("POST", "delete"), ("PUT", "acl"), ("PUT", "tagging")] {
        let req = Req::new(method, &format!("/{b}"))
            .query(query, "")
            .header("content-length", &big.len().to_string())
            .body(big.clone());
        let req = signer().sign(req, &host(), true);
        // Raw, because the answer comes before the body is read.
        let head: String = std::iter::once(format!("{method} /{b}?{query}= HTTP/1.1\r\nHost: {}\r\n", host()))
            .chain(req.headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")))
            .chain(std::iter::once("\r\n".to_owned()))
            .collect();
        let answer = raw::raw_exchange(
            &host(),
            &head,
            &[big.as_bytes()],
            Duration::ZERO,
            Duration::from_secs(10),
        )
        .expect("an answer");
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "{query}: {}",
            &answer[..answer.len().min(300)]
        );
        assert!(
            answer.contains("<Code>MaxMessageLengthExceeded</Code>"),
            "{query}: {answer}"
        );
    }
}

#[tokio::test]
async fn credentials_must_be_scoped_to_this_region_and_s3() {
    let c = client();
    let b = new_bucket(&c, "sec-scope").await;
    let endpoint = &server().endpoint;
    let mut west = signer();
    west.region = "us-west-2".into();
    let a = raw::send(endpoint, &west.sign(Req::new("GET", &format!("/{b}")), &host(), true)).await;
    assert_eq!(
        (a.status, a.code()),
        (400, "AuthorizationHeaderMalformed"),
        "{}",
        a.body
    );
    assert_eq!(a.element("Region"), Some("us-east-1"));
    let a = raw::send(endpoint, &west.presign(Req::new("GET", &format!("/{b}")), &host(), 60)).await;
    assert_eq!(
        (a.status, a.code()),
        (400, "AuthorizationQueryParametersError"),
        "{}",
        a.body
    );
    let mut sts = signer();
    sts.service = "sts".into();
    let a = raw::send(endpoint, &sts.sign(Req::new("GET", &format!("/{b}")), &host(), true)).await;
    assert_eq!(
        (a.status, a.code()),
        (400, "AuthorizationHeaderMalformed"),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn anonymous_delete_objects_is_refused_before_its_body() {
    let c = client();
    let b = new_bucket(&c, "sec-anondel").await;
    c.put_object()
        .bucket(&b)
        .key("k")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let body = "<Delete><Object><Key>k</Key></Object></Delete>";
    for bucket in [b.as_str(), "sec-anondel-missing"] {
        let resp = reqwest::Client::new()
            .post(format!("{}/{bucket}?delete", server().endpoint))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{bucket}");
        assert!(resp.text().await.unwrap().contains("<Code>AccessDenied</Code>"));
    }
    c.head_object().bucket(&b).key("k").send().await.unwrap();
}

#[tokio::test]
async fn files_are_the_owners_alone() {
    use std::os::unix::fs::PermissionsExt as _;
    let c = client();
    let b = new_bucket(&c, "sec-files").await;
    c.put_object()
        .bucket(&b)
        .key("k")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let data = &server().store.data_dir;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(data), 0o700);
    if server().store.db.is_none() {
        for f in ["meta.db", "meta.db-wal", "meta.db-shm"] {
            assert_eq!(mode(&data.join(f)), 0o600, "{f}");
        }
    }
    if let Blobs::Dir(root) = &server().blobs {
        assert_eq!(mode(root), 0o700);
        let files = walk_files(root);
        assert!(!files.is_empty());
        for f in files {
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
    }
}

#[tokio::test]
async fn reserved_names_duplicate_keys_and_unknown_groups_are_refused() {
    let c = client();
    // Raw requests: SDKs route some of these names elsewhere (`--x-s3` to S3 Express).
    for name in [
        "sec-x-s3alias",
        "sec-y--ol-s3",
        "sthree-sec",
        "xn--sec",
        "amzn-s3-demo-sec",
        "sec--x-s3",
        "sec.mrap",
        "sec--table-s3",
    ] {
        let a = raw::send(
            &server().endpoint,
            &signer().sign(Req::new("PUT", &format!("/{name}")), &host(), true),
        )
        .await;
        assert_eq!((a.status, a.code()), (400, "InvalidBucketName"), "{name}: {}", a.body);
    }
    let b = new_bucket(&c, "sec-dups").await;
    let dup = format!(
        r#"{{"Statement":{{"Effect":"Deny","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*"}}}}"#
    );
    let r = c.put_bucket_policy().bucket(&b).policy(dup).send().await;
    assert_eq!(error_of(r), ("MalformedPolicy".into(), 400));
    with_acls(&c, &b).await;
    let r = c
        .put_bucket_acl()
        .bucket(&b)
        .grant_read("uri=\"http://acs.amazonaws.com/groups/global/Everyone\"")
        .send()
        .await;
    assert_eq!(error_of(r), ("InvalidArgument".into(), 400));
}

#[tokio::test]
async fn operations_without_an_action_are_denied_even_to_the_owner() {
    let c = client();
    let b = new_bucket(&c, "sec-closed").await;
    // CreateSession (directory buckets) has no S3 action here.
    let a = raw::send(
        &server().endpoint,
        &signer().sign(Req::new("GET", &format!("/{b}")).query("session", ""), &host(), true),
    )
    .await;
    assert_eq!((a.status, a.code()), (403, "AccessDenied"), "{}", a.body);
    // An operation with an action but no implementation says so to whoever may call it.
    let r = c.get_bucket_website().bucket(&b).send().await;
    assert_eq!(error_of(r), ("NotImplemented".into(), 501));
}

// ---- Found by the second review ----

#[tokio::test]
async fn a_sigv4_header_under_another_algorithm_name_is_refused() {
    let c = client();
    let b = new_bucket(&c, "sec-rename").await;
    c.put_object()
        .bucket(&b)
        .key("secret")
        .body(b"TOPSECRET".to_vec().into())
        .send()
        .await
        .unwrap();
    let endpoint = &server().endpoint;
    let mut signed = signer().sign(Req::new("PUT", &format!("/{b}/up")).body("hello"), &host(), true);
    let auth = signed.headers.iter_mut().find(|(k, _)| k == "authorization").unwrap();
    auth.1 = auth.1.replacen("AWS4-HMAC-SHA256 ", "AWS ", 1);
    let tampered = signed
        .header("x-amz-copy-source", &format!("/{b}/secret"))
        .header("x-amz-meta-evil", "1");
    let a = raw::send(endpoint, &tampered).await;
    assert_eq!(
        (a.status, a.code()),
        (400, "AuthorizationHeaderMalformed"),
        "{}",
        a.body
    );
    assert_eq!(error_of(c.head_object().bucket(&b).key("up").send().await).1, 404);
}

#[tokio::test]
async fn a_sigv2_url_cannot_be_turned_into_another_operation() {
    let c = client();
    let b = new_bucket(&c, "sec-v2sub").await;
    with_acls(&c, &b).await;
    c.put_object()
        .bucket(&b)
        .key("private.txt")
        .body(b"private data".to_vec().into())
        .send()
        .await
        .unwrap();
    let endpoint = &server().endpoint;
    let resource = format!("/{b}/private.txt");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let url = signer().presign_v2(Req::new("PUT", &resource), &resource, now + 300);
    let acl = r#"<AccessControlPolicy><Owner><ID>x</ID></Owner><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>"#;
    for extra in [
        &[("acl", ""), ("acl", "")][..],
        &[("tagging", ""), ("tagging", "")],
        &[("publicAccessBlock", "")],
    ] {
        let mut req = url.clone().body(acl);
        for (k, v) in extra {
            req = req.query(k, v);
        }
        let a = raw::send(endpoint, &req).await;
        assert_eq!((a.status, a.code()), (400, "InvalidRequest"), "{extra:?}: {}", a.body);
    }
    let anonymous = reqwest::get(format!("{endpoint}{resource}")).await.unwrap();
    assert_eq!(anonymous.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_capped() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("OSG_ADMIN_ACCESS_KEY", "AKCONNTEST0000000000"),
        ("OSG_ADMIN_SECRET_KEY", "conn-secret-0000000"),
        ("OSG_IDLE_TIMEOUT", "2"),
        ("OSG_MAX_CONNECTIONS", "4"),
    ];
    let (_gateway, port) = spawn_osg_anywhere("serve", dir.path(), &env);
    let addr = format!("127.0.0.1:{port}");
    let closed_within = |stream: &mut std::net::TcpStream, limit: Duration| {
        use std::io::Read as _;
        stream.set_read_timeout(Some(limit)).unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    };
    // A connection that sends nothing, and an HTTP/2 one that only says hello.
    let started = Instant::now();
    let mut silent = std::net::TcpStream::connect(&addr).unwrap();
    let mut h2 = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(
        &mut h2,
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
    )
    .unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(10)));
    assert!(closed_within(&mut h2, Duration::from_secs(10)));
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    // A kept-alive connection after its request.
    let mut kept = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(
        &mut kept,
        format!("GET /.osg/live HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    )
    .unwrap();
    assert!(closed_within(&mut kept, Duration::from_secs(10)));
    // Four idle connections fill the gateway; a fifth is served once they are closed.
    let idle: Vec<_> = (0..4).map(|_| std::net::TcpStream::connect(&addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let resp = reqwest::get(format!("http://{addr}/.osg/live")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    drop(idle);
}

#[tokio::test]
async fn a_document_without_a_length_is_411_and_anonymous_body_operations_are_denied() {
    let c = client();
    let b = new_bucket(&c, "sec-411").await;
    c.put_object()
        .bucket(&b)
        .key("k")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let head = format!(
        "PUT /sec-411-new HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        host()
    );
    let chunk = format!("{:x}\r\n{}\r\n0\r\n\r\n", 6 << 20, "x".repeat(6 << 20));
    let answer = raw::raw_exchange(
        &host(),
        &head,
        &[chunk.as_bytes()],
        Duration::ZERO,
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 411"),
        "{}",
        &answer[..answer.len().min(300)]
    );
    // Anonymous PutObjectTagging: the same answer for a bucket that exists and one that does not.
    for bucket in [b.as_str(), "sec-411-missing"] {
        let resp = reqwest::Client::new()
            .put(format!("{}/{bucket}/k?tagging", server().endpoint))
            .body("not xml")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{bucket}");
        assert!(resp.text().await.unwrap().contains("<Code>AccessDenied</Code>"));
    }
}

#[tokio::test]
async fn tags_that_differ_in_case_both_meet_tag_conditions() {
    let c = client();
    let b = new_bucket(&c, "sec-tagcase").await;
    let policy = format!(
        r#"{{"Statement":{{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::{b}/*",
            "Condition":{{"StringEquals":{{"s3:RequestObjectTag/Confidential":"true"}}}}}}}}"#
    );
    c.put_bucket_policy().bucket(&b).policy(policy).send().await.unwrap();
    for tagging in [
        "Confidential=true",
        "Confidential=true&confidential=no",
        "confidential=no&Confidential=true",
    ] {
        let r = c
            .put_object()
            .bucket(&b)
            .key("k")
            .tagging(tagging)
            .body(b"x".to_vec().into())
            .send()
            .await;
        assert_eq!(error_of(r), ("AccessDenied".into(), 403), "{tagging}");
    }
}

#[tokio::test]
async fn form_uploads_take_no_x_amz_headers() {
    let c = client();
    let b = new_bucket(&c, "sec-formhdr").await;
    let fields = signed_form_fields(&signer(), &b, "k", 100);
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let resp = reqwest::Client::new()
        .post(format!("{}/{b}", server().endpoint))
        .header("content-type", "multipart/form-data; boundary=SEC0FORM")
        .header("x-amz-acl", "bucket-owner-full-control")
        .body(form("SEC0FORM", &refs, b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(error_of(c.head_object().bucket(&b).key("k").send().await).1, 404);
    // A form posted anywhere but a bucket is refused before it is read.
    let big = "v".repeat(19 << 20);
    let body = form("SEC0FORM", &[("key", "k"), ("pad", &big)], b"x");
    let head = format!(
        "POST /{b}/k HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary=SEC0FORM\r\nContent-Length: {}\r\n\r\n",
        host(),
        body.len()
    );
    let started = Instant::now();
    let answer = raw::raw_exchange(
        &host(),
        &head,
        &[&body[..1 << 20]],
        Duration::ZERO,
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 405"),
        "{}",
        &answer[..answer.len().min(300)]
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
