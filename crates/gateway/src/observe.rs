//! What each request did, for the access log and the metrics: the operation and the caller
//! come from the access check, the rest from the listener.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use http::{HeaderMap, Response, header};
use s3s::Body;

/// Filled in by the access check: the S3 operation and the access key that signed it.
#[derive(Clone, Default)]
pub struct Outcome(Arc<OnceLock<(String, Option<String>)>>);

impl Outcome {
    pub fn record(&self, op: &str, access_key: Option<&str>) {
        let _ = self.0.set((op.to_owned(), access_key.map(str::to_owned)));
    }
}

/// A request being served.
pub struct Observed {
    started: Instant,
    method: http::Method,
    path: String,
    bytes_in: u64,
    pub outcome: Outcome,
}

fn content_length(headers: &HeaderMap) -> u64 {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Observed {
    pub fn start<B>(req: &http::Request<B>) -> Self {
        Self {
            started: Instant::now(),
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
            bytes_in: content_length(req.headers()),
            outcome: Outcome::default(),
        }
    }

    /// One access-log line and the request metrics. The time is to the response's head;
    /// bodies stream on after it.
    pub fn finish(self, op_default: &str, request_id: &str, resp: &Response<Body>) {
        let status = resp.status().as_u16();
        let (op, caller) = self
            .outcome
            .0
            .get()
            .cloned()
            .unwrap_or_else(|| (op_default.to_owned(), None));
        let bytes_out = content_length(resp.headers());
        let seconds = self.started.elapsed().as_secs_f64();
        tracing::info!(
            target: "osg::access",
            request_id,
            method = %self.method,
            path = %self.path,
            op,
            caller = caller.as_deref().unwrap_or("-"),
            status,
            bytes_in = self.bytes_in,
            bytes_out,
            ms = seconds * 1000.0,
        );
        metrics::counter!("osg_requests_total", "op" => op.clone(), "status" => status.to_string()).increment(1);
        metrics::histogram!("osg_request_duration_seconds", "op" => op).record(seconds);
        metrics::counter!("osg_received_bytes_total").increment(self.bytes_in);
        metrics::counter!("osg_sent_bytes_total").increment(bytes_out);
    }
}
