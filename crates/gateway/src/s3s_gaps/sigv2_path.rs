//! SigV2 canonicalisation fix-up. For a path-style bucket request (`/bucket`), SigV2 clients
//! (botocore, s3cmd) sign the resource `/bucket/`, as AWS documents, while s3s 0.14 signs the
//! path as sent. Adding the slash before s3s sees the request makes both agree; s3s routes
//! `/bucket/` to the bucket, exactly as `/bucket`.

use http::Uri;
use http::uri::PathAndQuery;

fn is_sigv2(uri: &Uri, headers: &http::HeaderMap) -> bool {
    let header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS "));
    let presigned = uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("AWSAccessKeyId=")));
    header || presigned
}

/// Returns the URI to use: `uri` itself, or with the bucket's trailing slash added. Only for
/// path-style requests: under `domain`, a host `BUCKET.DOMAIN` names the bucket and the path
/// is a key.
pub fn canonical_uri(uri: &Uri, headers: &http::HeaderMap, domain: Option<&str>) -> Option<Uri> {
    let path = uri.path();
    let one_segment = path.len() > 1 && !path[1..].contains('/');
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(name, _)| name);
    let virtual_hosted = domain.is_some_and(|d| host.ends_with(&format!(".{d}")));
    if !one_segment || virtual_hosted || !is_sigv2(uri, headers) {
        return None;
    }
    let path_and_query = match uri.query() {
        Some(q) => format!("{path}/?{q}"),
        None => format!("{path}/"),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sigv2_bucket_paths_change() {
        let mut v2 = http::HeaderMap::new();
        v2.insert(http::header::AUTHORIZATION, "AWS AK:sig".parse().unwrap());
        let v4 = http::HeaderMap::new();
        let fix = |u: &str, h: &http::HeaderMap| canonical_uri(&u.parse().unwrap(), h, None).map(|u| u.to_string());
        assert_eq!(fix("/bucket?acl", &v2).as_deref(), Some("/bucket/?acl"));
        assert_eq!(fix("/bucket", &v2).as_deref(), Some("/bucket/"));
        assert_eq!(fix("/bucket/key", &v2), None);
        assert_eq!(fix("/", &v2), None);
        assert_eq!(fix("/bucket", &v4), None);
        let mut vhost = v2.clone();
        vhost.insert(http::header::HOST, "bucket.s3.example.com:8773".parse().unwrap());
        assert_eq!(
            canonical_uri(&"/photo.jpg".parse().unwrap(), &vhost, Some("s3.example.com")),
            None
        );
        assert_eq!(
            fix("/bucket?AWSAccessKeyId=AK&Signature=s", &v4).as_deref(),
            Some("/bucket/?AWSAccessKeyId=AK&Signature=s")
        );
    }
}
