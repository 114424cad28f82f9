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
}
