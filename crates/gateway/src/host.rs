//! Virtual-hosted-style addressing under one configured domain. s3s's `SingleDomain` compares
//! the Host header with its port and takes any other host name for a bucket, which would turn
//! path-style requests to `localhost:8773` into requests for a bucket named `localhost:8773`.
//! Here `BUCKET.DOMAIN[:port]` names a bucket and every other host is path style.

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

pub struct Domain(String);

impl Domain {
    pub fn new(domain: &str) -> Self {
        Self(domain.trim_end_matches('.').to_ascii_lowercase())
    }
}

fn without_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

impl S3Host for Domain {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = without_port(host);
        let bucket = name
            .strip_suffix(self.0.as_str())
            .and_then(|rest| rest.strip_suffix('.'))
            .filter(|b| !b.is_empty());
        Ok(match bucket {
            Some(bucket) => VirtualHost::new(self.0.as_str()).with_bucket(bucket),
            None => VirtualHost::new(name),
        })
    }
}

/// The bucket a request names (`BUCKET.DOMAIN`, else the path's first segment), and the rest
/// of its path (the key, still percent-encoded; empty for the bucket itself).
pub fn addressed<'a, B>(req: &'a http::Request<B>, domain: Option<&str>) -> Option<(String, &'a str)> {
    let path = req.uri().path();
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(http::uri::Authority::as_str))
        .unwrap_or_default();
    let host = without_port(host).to_ascii_lowercase();
    let domain = domain.map(|d| Domain::new(d).0);
    if let Some(bucket) = domain.and_then(|d| host.strip_suffix(&d)?.strip_suffix('.').map(str::to_owned))
        && !bucket.is_empty()
    {
        return Some((bucket, path.strip_prefix('/').unwrap_or(path)));
    }
    let rest = path.strip_prefix('/')?;
    let (name, key) = rest.split_once('/').unwrap_or((rest, ""));
    let name = percent_encoding::percent_decode_str(name)
        .decode_utf8_lossy()
        .into_owned();
    (!name.is_empty()).then_some((name, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_only_under_the_domain() {
        let d = Domain::new("s3.example.com");
        let bucket = |h: &'static str| d.parse_host_header(h).unwrap().bucket().map(str::to_owned);
        assert_eq!(bucket("photos.s3.example.com:8773").as_deref(), Some("photos"));
        assert_eq!(bucket("a.b.s3.example.com").as_deref(), Some("a.b"));
        assert_eq!(bucket("s3.example.com:8773"), None);
        assert_eq!(bucket("localhost:8773"), None);
        assert_eq!(bucket("other.example.org"), None);
    }

    #[test]
    fn requests_address_a_bucket_and_key() {
        let at = |host: &str, path: &str| {
            let req = http::Request::builder()
                .uri(path)
                .header("host", host)
                .body(())
                .unwrap();
            addressed(&req, Some("s3.example.com")).map(|(b, k)| (b, k.to_owned()))
        };
        let pair = |b: &str, k: &str| Some((b.to_owned(), k.to_owned()));
        assert_eq!(at("photos.S3.example.com:8773", "/a/b%20c"), pair("photos", "a/b%20c"));
        assert_eq!(at("photos.s3.example.com", "/"), pair("photos", ""));
        assert_eq!(at("localhost:8773", "/photos/a/b"), pair("photos", "a/b"));
        assert_eq!(at("localhost:8773", "/photos/"), pair("photos", ""));
        assert_eq!(at("s3.example.com", "/photos"), pair("photos", ""));
        assert_eq!(at("localhost", "/"), None);
    }
}
