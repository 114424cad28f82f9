//! What s3s 0.14.1 lacks, filled in front of it. Every request bound for s3s passes through
//! [`skew::check`] and [`screen`] (refusals that need no secret) and [`prepare`] (rewrites and
//! body guards):
//!
//! - [`signed`]: s3s verifies a SigV4 signature over the headers `SignedHeaders` names, but
//!   does not refuse `x-amz-*` headers left out of it (a FIXME in its code), does not require
//!   `Host` to be signed, takes a credential scope for any region and for the service `sts`,
//!   and takes presigned URLs valid for any length of time.
//! - [`skew`]: s3s checks SigV4 header-signed requests' dates, not SigV2's, and takes a
//!   request without a readable date.
//! - [`sigv2_path`]: s3s signs a SigV2 bucket path as sent, clients sign `/bucket/`.
//! - [`chunk_limit`]: s3s gathers each signed `aws-chunked` chunk whole, of whatever size the
//!   client declares, and notices data past `x-amz-decoded-content-length` only at the end.
//! - [`xml_body`]: s3s answers 500 to a request document over its size limit.
//! - [`empty_header`]: s3s takes an empty header as absent, an empty `Content-MD5` too.
//!
//! Two more gaps are closed elsewhere: s3s gathers a POST form's file in memory before the
//! access check, so form uploads never reach it (`crate::s3::post_object`); and its debug
//! output prints request DTOs, SSE-C keys included, so its logging stays off (`osg`'s main).

pub mod chunk_limit;
pub mod empty_header;
pub mod signed;
pub mod sigv2_path;
pub mod skew;
pub mod xml_body;

/// The largest request document (XML, or a bucket policy's JSON) s3s is let read.
pub const MAX_DOCUMENT: u64 = 4 << 20;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use s3s::Body;

use crate::idle::IdleTimeout;

/// An answer given before s3s sees the request: an S3 error, with the extra elements AWS puts
/// in it (`HeadersNotSigned`, `Region`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub status: StatusCode,
    pub message: String,
    pub extra: Option<(&'static str, String)>,
}

impl Refusal {
    pub fn new(code: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            code,
            status,
            message: message.into(),
            extra: None,
        }
    }

    #[must_use]
    pub fn with(mut self, element: &'static str, value: impl Into<String>) -> Self {
        self.extra = Some((element, value.into()));
        self
    }

    /// The S3 error document; the listener adds `Resource` and `RequestId`.
    pub fn into_response(self) -> Response<Body> {
        let escape = crate::iam::escape_xml;
        let extra = self
            .extra
            .map(|(name, value)| format!("<{name}>{}</{name}>", escape(&value)))
            .unwrap_or_default();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{}</Code><Message>{}</Message>{extra}</Error>",
            self.code,
            escape(&self.message)
        );
        let mut resp = Response::new(Body::from(Bytes::from(body)));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/xml"),
        );
        resp
    }
}

/// Refuses an S3 request s3s would take but AWS refuses, before any secret is looked up.
/// `region` is the one requests must be signed for (`None`: any, for a standalone Walrus);
/// `domain` the virtual-hosting domain, if any.
pub fn screen<B: http_body::Body>(req: &Request<B>, region: Option<&str>, domain: Option<&str>) -> Result<(), Refusal> {
    signed::check(req.uri(), req.headers(), region, time::OffsetDateTime::now_utc())?;
    empty_header::check(req.headers())?;
    let has_body = !req.body().is_end_stream();
    let object = names_object(req, domain);
    xml_body::check(req.method(), req.uri(), req.headers(), object, has_body, MAX_DOCUMENT)
}

/// Whether a request names an object: a path `/BUCKET/KEY`, or any path but `/` on a virtual
/// host `BUCKET.DOMAIN`.
fn names_object<B>(req: &Request<B>, domain: Option<&str>) -> bool {
    let path = req.uri().path().trim_start_matches('/');
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(name, _)| name);
    let virtual_hosted = domain.is_some_and(|d| host.to_ascii_lowercase().ends_with(&format!(".{d}")));
    if virtual_hosted {
        !path.is_empty()
    } else {
        path.split_once('/').is_some_and(|(_, key)| !key.is_empty())
    }
}

/// The request as s3s should see it: a SigV2 bucket path with its slash, and an
/// `aws-chunked` body behind the chunk limits.
pub fn prepare(mut req: Request<IdleTimeout<Incoming>>, domain: Option<&str>) -> Request<Body> {
    if let Some(uri) = sigv2_path::canonical_uri(req.uri(), req.headers(), domain) {
        *req.uri_mut() = uri;
    }
    let chunked = req
        .headers()
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("STREAMING-"));
    if chunked {
        let declared = req
            .headers()
            .get("x-amz-decoded-content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        req.map(|b| Body::http_body(chunk_limit::ChunkLimit::new(b, declared)))
    } else {
        req.map(Body::http_body)
    }
}
