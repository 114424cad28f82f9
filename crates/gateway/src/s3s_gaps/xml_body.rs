//! Oversized request documents. s3s reads an operation's XML (or JSON policy) body whole,
//! through `http_body_util::Limited`, and takes that limit's error for an internal one: a
//! large body answers 500. AWS answers `400 MaxMessageLengthExceeded`, and so do we, from the
//! declared length, before anything is read; a document sent without a length (chunked) is
//! `411 MissingContentLength`, as S3 wants one.

use http::{HeaderMap, Method, StatusCode, Uri};

use super::Refusal;

/// Subresources of an object whose PUT carries a document rather than object bytes.
const OBJECT_DOCUMENTS: &[&str] = &["acl", "tagging", "retention", "legal-hold"];
/// Subresources whose POST carries a document (or nothing).
const POST_DOCUMENTS: &[&str] = &["delete", "uploadId", "uploads", "restore", "select"];

/// Refuses a request that carries a document larger than `limit` bytes, by its
/// `Content-Length`, or a body without one. `object` says whether the request names an object
/// (not just a bucket); `has_body` whether anything follows the headers.
pub fn check(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    object: bool,
    has_body: bool,
    limit: u64,
) -> Result<(), Refusal> {
    let keys: Vec<String> = uri
        .query()
        .map(|q| crate::authz::form_pairs(q).map(|(k, _)| k).collect())
        .unwrap_or_default();
    let has = |names: &[&str]| keys.iter().any(|k| names.contains(&k.as_str()));
    let document = match *method {
        // A bucket's PUT is CreateBucket or a bucket setting; an object's, a document only for
        // its subresources (else it is object bytes: PutObject, UploadPart).
        Method::PUT => !object || has(OBJECT_DOCUMENTS),
        Method::POST => has(POST_DOCUMENTS),
        _ => false,
    };
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match length {
        Some(n) if document && n > limit => Err(Refusal::new(
            "MaxMessageLengthExceeded",
            StatusCode::BAD_REQUEST,
            "Your request was too big.",
        )),
        None if document && has_body => Err(Refusal::new(
            "MissingContentLength",
            StatusCode::LENGTH_REQUIRED,
            "You must provide the Content-Length HTTP header.",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(method: Method, uri: &str, object: bool, length: u64) -> bool {
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_LENGTH, length.into());
        check(&method, &uri.parse().unwrap(), &h, object, true, 100).is_err()
    }

    #[test]
    fn documents_are_bounded_object_bytes_are_not() {
        assert!(refused(Method::POST, "/b?delete", false, 101));
        assert!(!refused(Method::POST, "/b?delete", false, 100));
        assert!(refused(Method::PUT, "/b?acl", false, 101));
        assert!(refused(Method::PUT, "/b", false, 101), "CreateBucket");
        assert!(refused(Method::PUT, "/b/k?tagging", true, 101));
        assert!(
            refused(Method::POST, "/b/k?uploadId=x", true, 101),
            "CompleteMultipartUpload"
        );
        assert!(!refused(Method::PUT, "/b/k", true, 1 << 30), "PutObject");
        assert!(
            !refused(Method::PUT, "/b/k?partNumber=1&uploadId=x", true, 1 << 30),
            "UploadPart"
        );
        assert!(!refused(Method::POST, "/b", false, 1 << 30), "a form upload");
        assert!(!refused(Method::GET, "/b?acl", false, 1 << 30));
        let none = HeaderMap::new();
        let r = check(&Method::PUT, &"/b?acl".parse().unwrap(), &none, false, true, 100);
        assert_eq!(r.unwrap_err().code, "MissingContentLength");
        assert!(
            check(&Method::PUT, &"/b".parse().unwrap(), &none, false, false, 100).is_ok(),
            "no body"
        );
        assert!(
            check(&Method::PUT, &"/b/k".parse().unwrap(), &none, true, true, 100).is_ok(),
            "object bytes"
        );
    }
}
