//! Entry points for the fuzz targets under `fuzz/` (the `fuzzing` feature; not part of the
//! product). Each feeds arbitrary bytes to one of the gateway's own parsers and checks what
//! must hold whatever the input; any panic is a finding.

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

/// A request as text: the first line a URI, then `name: value` header lines.
fn request(data: &[u8]) -> Option<(Uri, HeaderMap)> {
    let text = std::str::from_utf8(data).ok()?;
    let mut lines = text.split('\n');
    let uri: Uri = lines.next()?.parse().ok()?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.trim()), HeaderValue::try_from(value.trim())) {
            headers.append(name, value);
        }
    }
    Some((uri, headers))
}

/// SigV4 and SigV2 screening (`s3s_gaps::signed`), SigV2 path canonicalization, clock skew
/// and the document-size check, over any request line and headers.
pub fn request_screen(data: &[u8]) {
    let Some((uri, headers)) = request(data) else { return };
    let now = time::OffsetDateTime::now_utc();
    if let Err(refusal) = crate::s3s_gaps::signed::check(&uri, &headers, Some("us-east-1"), now) {
        assert!(refusal.status.is_client_error());
        let _ = refusal.into_response();
    }
    if let Some(fixed) = crate::s3s_gaps::sigv2_path::canonical_uri(&uri, &headers, Some("s3.example.com")) {
        // Only a trailing slash is ever added to a one-segment path.
        assert_eq!(fixed.path(), format!("{}/", uri.path()));
        assert_eq!(fixed.query(), uri.query());
    }
    let _ = crate::s3s_gaps::skew::too_skewed(&headers, now);
    for method in [Method::PUT, Method::POST] {
        let _ = crate::s3s_gaps::xml_body::check(&method, &uri, &headers, true, true, 1024);
    }
}

/// The `aws-chunked` limiter: the verdict on a body does not depend on how it is split into
/// frames.
pub fn chunk_framing(data: &[u8]) {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let declared = 1 << 20;
    let whole = crate::s3s_gaps::chunk_limit::verdict(&[rest], declared);
    let pieces: Vec<&[u8]> = rest.chunks(step).collect();
    assert_eq!(crate::s3s_gaps::chunk_limit::verdict(&pieces, declared), whole);
}

/// Query strings and IAM Query forms, IAM's SigV4 header parsing and verification, and IAM's
/// name and path rules.
pub fn iam_query(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let pairs: Vec<(String, String)> = crate::authz::form_pairs(text).collect();
    for (k, v) in &pairs {
        let _ = crate::iam::check_name(v, k);
        let _ = crate::iam::check_path(v);
    }
    if let Some(auth) = crate::sigv4::parse_authorization(text)
        && let Some((uri, headers)) = request(data)
    {
        let _ = crate::sigv4::verify(&Method::POST, &uri, &headers, data, &auth, "secret");
    }
}

/// ACL grant headers and documents, tagging headers and documents.
pub fn acl_and_tags(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(grantees) = crate::s3::acl::parse_grant_header(text) {
            assert!(!grantees.is_empty());
        }
        if let Ok(tags) = crate::s3::tagging::from_header(Some(text)) {
            assert!(tags.len() <= 10);
        }
    }
    if let Some(policy) = xml::<s3s::dto::AccessControlPolicy>(data) {
        let _ = crate::s3::acl::body_grants(&policy);
    }
    if let Some(tagging) = xml::<s3s::dto::Tagging>(data)
        && let Ok(tags) = crate::s3::tagging::from_tag_set(&tagging.tag_set)
    {
        assert!(tags.len() <= 10);
    }
}

fn xml<T: for<'x> s3s::xml::Deserialize<'x>>(data: &[u8]) -> Option<T> {
    let mut d = s3s::xml::Deserializer::new(data);
    let value = T::deserialize(&mut d).ok()?;
    d.expect_eof().ok()?;
    Some(value)
}

/// Form uploads: the fields before the file, read within their budget whatever the body,
/// and the POST policy's conditions against them.
pub fn post_form(data: &[u8]) {
    crate::s3::post_object::fuzz_form(data);
}

/// The refusal of what is not implemented, for any header name and value.
pub fn unhonoured(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let pairs: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once(':')).collect();
    for op in ["PutObject", "DeleteObject", "CompleteMultipartUpload", "CreateBucket"] {
        if let Err(e) = crate::s3::unhonoured::check(op, pairs.iter().copied()) {
            assert!(
                e.status_code()
                    .is_some_and(|s| s.is_client_error() || s.as_u16() == 501)
            );
        }
    }
}
