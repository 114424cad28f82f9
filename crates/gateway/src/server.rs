//! The listener: accepts connections (TLS optional), serves HTTP/1.1 and HTTP/2, and gives
//! every response a request id. Errors from s3s carry Code and Message; here they also get the
//! Resource and RequestId that S3 clients log.

use std::convert::Infallible;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use s3s::Body;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::Frontend;
use crate::connection::{Activity, Watched};
use crate::observe::Observed;

/// The readiness and liveness endpoints; no bucket can be named `.osg`.
const READY_PATH: &str = "/.osg/ready";
const LIVE_PATH: &str = "/.osg/live";
/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Cap on the bytes of request headers buffered per connection.
const MAX_HEADER_BYTES: usize = 64 << 10;

/// PEM files for HTTPS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How a server stops: when `signal` completes, readiness turns false; the listener keeps
/// accepting for `delay` (load balancers see the readiness change and move away), then closes;
/// requests in flight get `grace` to finish before the connections are dropped.
pub struct Shutdown<F> {
    pub signal: F,
    pub delay: Duration,
    pub grace: Duration,
}

/// Serves `frontend` on `listener` until `shutdown` says to stop, then drains.
pub async fn serve<F: Future<Output = ()>>(
    listener: TcpListener,
    frontend: Frontend,
    tls: Option<&TlsFiles>,
    shutdown: Shutdown<F>,
) -> io::Result<()> {
    let acceptor = tls.map(load_tls).transpose()?;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .max_header_list_size(u32::try_from(MAX_HEADER_BYTES).unwrap_or(u32::MAX));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let signal = shutdown.signal;
    tokio::pin!(signal);
    let mut close_at: Option<tokio::time::Instant> = None;
    // At most this many connections at once: past it, new ones wait in the listen backlog
    // rather than take the file descriptors the store and providers need.
    let slots = Arc::new(tokio::sync::Semaphore::new(frontend.max_connections));
    let first_request = HEADER_TIMEOUT.min(frontend.idle_timeout);
    loop {
        let accepted = tokio::select! {
            accepted = async {
                let slot = Arc::clone(&slots).acquire_owned().await.expect("the semaphore is never closed");
                (listener.accept().await, slot)
            } => accepted,
            () = &mut signal, if close_at.is_none() => {
                tracing::info!(delay = ?shutdown.delay, "shutting down: readiness is false");
                frontend.draining.store(true, std::sync::atomic::Ordering::Relaxed);
                close_at = Some(tokio::time::Instant::now() + shutdown.delay);
                continue;
            }
            () = tokio::time::sleep_until(close_at.unwrap_or_else(tokio::time::Instant::now)), if close_at.is_some() => break,
        };
        let (accepted, slot) = accepted;
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Headers and body go out in separate writes; without this, Nagle plus delayed ACK
        // stalls every small response by 40 ms.
        let _ = stream.set_nodelay(true);
        let frontend = frontend.clone();
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        let idle_timeout = frontend.idle_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            let conn = crate::authz::Connection {
                peer,
                tls: acceptor.is_some(),
            };
            let activity = Activity::new();
            let stream = Watched::new(stream, Arc::clone(&activity));
            let requests = Arc::clone(&activity);
            let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(conn);
                let handling = requests.request();
                let frontend = frontend.clone();
                async move {
                    let resp = handle(frontend, req).await;
                    drop(handling);
                    resp
                }
            });
            let serving = async {
                match acceptor {
                    Some(acceptor) => match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => watcher.watch(builder.serve_connection(TokioIo::new(tls), svc)).await,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            Ok(())
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake timed out");
                            Ok(())
                        }
                    },
                    None => watcher.watch(builder.serve_connection(TokioIo::new(stream), svc)).await,
                }
            };
            let result = tokio::select! {
                result = serving => result,
                () = activity.idle(first_request, idle_timeout) => {
                    tracing::debug!(%peer, "closing an idle connection");
                    Ok(())
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    // Idle connections close now; busy ones after their current request.
    match tokio::time::timeout(shutdown.grace, graceful.shutdown()).await {
        Ok(()) => tracing::info!("every request finished"),
        Err(_) => tracing::warn!(grace = ?shutdown.grace, "requests still running at the end of the grace period"),
    }
    Ok(())
}

impl TlsFiles {
    /// Whether the files hold a certificate chain and its key, so that a bad flag is an error
    /// before the server announces itself.
    pub fn check(&self) -> io::Result<()> {
        load_tls(self).map(drop)
    }
}

fn load_tls(files: &TlsFiles) -> io::Result<TlsAcceptor> {
    let read =
        |path: &PathBuf| std::fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())));
    let certs = rustls_pemfile::certs(&mut read(&files.cert)?.as_slice()).collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut read(&files.key)?.as_slice())?
        .ok_or_else(|| io::Error::other(format!("{}: no private key found", files.key.display())))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(io::Error::other)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn handle(frontend: Frontend, mut req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let request_id = new_request_id();
    let observed = Observed::start(&req);
    req.extensions_mut().insert(observed.outcome.clone());
    let resource = req.uri().path().to_owned();
    let (op, resp) = respond(frontend, req, &request_id).await;
    let resp = finish(resp, &request_id, &resource);
    observed.finish(op, &request_id, &resp);
    Ok(resp)
}

/// The response, and the operation's name for the log when the access check did not name it.
/// S3's answers to a browser's cross-origin requests carry the bucket's CORS headers.
async fn respond(frontend: Frontend, req: Request<Incoming>, request_id: &str) -> (&'static str, Response<Body>) {
    let gateway = frontend.gateway.clone();
    let cross_origin = gateway
        .as_ref()
        .and_then(|_| crate::s3::cors::CrossOrigin::of(&req, frontend.domain.as_deref()));
    let (op, mut resp) = route(frontend, req, request_id).await;
    if let (Some(cross_origin), Some(gateway)) = (cross_origin, &gateway)
        && !matches!(op, "Live" | "Ready" | "IAM" | "Preflight")
    {
        cross_origin.answer(gateway, &mut resp).await;
    }
    (op, resp)
}

async fn route(frontend: Frontend, req: Request<Incoming>, request_id: &str) -> (&'static str, Response<Body>) {
    let resource = req.uri().path().to_owned();
    if let Err(refusal) = crate::s3s_gaps::skew::check(req.headers()) {
        return ("S3", refusal.into_response());
    }
    // Every body, IAM's and S3's, is cut when its client stops sending.
    let req = req.map(|body| crate::idle::IdleTimeout::new(body, frontend.idle_timeout));
    if req.method() == http::Method::GET && resource == LIVE_PATH {
        return ("Live", Response::new(Body::from(Bytes::from_static(b"live"))));
    }
    if let Some(providers) = &frontend.providers
        && req.method() == http::Method::GET
        && resource == READY_PATH
    {
        let (ready, report) = if frontend.draining.load(std::sync::atomic::Ordering::Relaxed) {
            (false, r#"{"state":"shutting down"}"#.to_owned())
        } else {
            crate::providers::readiness(providers).await
        };
        let mut resp = Response::new(Body::from(report));
        *resp.status_mut() = if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return ("Ready", resp);
    }
    if let Some(iam) = &frontend.iam
        && crate::iam::is_iam_request(req.method(), req.uri(), req.headers())
    {
        return ("IAM", iam.handle(req.map(Body::http_body), request_id).await);
    }
    // A browser's preflight carries no credentials: answered from the bucket's CORS rules.
    if let Some(gateway) = &frontend.gateway
        && req.method() == http::Method::OPTIONS
    {
        return (
            "Preflight",
            crate::s3::cors::preflight(gateway, &req, frontend.domain.as_deref()).await,
        );
    }
    if let Err(refusal) = crate::s3s_gaps::screen(&req, frontend.region.as_deref(), frontend.domain.as_deref()) {
        return ("S3", refusal.into_response());
    }
    if crate::s3::post_object::is_form(&req) {
        let bucket = crate::s3::post_object::target(&req, frontend.domain.as_deref());
        return match (&frontend.gateway, bucket) {
            (Some(gateway), Some(bucket)) => ("PostObject", crate::s3::post_object::serve(gateway, req, bucket).await),
            _ => {
                let refusal = crate::s3s_gaps::Refusal::new(
                    "MethodNotAllowed",
                    StatusCode::METHOD_NOT_ALLOWED,
                    "The specified method is not allowed against this resource.",
                );
                ("S3", refusal.into_response())
            }
        };
    }
    let req = crate::s3s_gaps::prepare(req, frontend.domain.as_deref());
    let resp = match frontend.s3.call(req).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::error!(error = ?e, "request failed outside any operation");
            let mut resp = Response::new(Body::from(Bytes::from_static(
                b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code>\
                  <Message>We encountered an internal error. Please try again.</Message></Error>",
            )));
            *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            resp
        }
    };
    ("S3", resp)
}

/// 16 hex digits, like S3's request ids.
fn new_request_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string().to_ascii_uppercase();
    id[..16].to_owned()
}

fn finish(mut resp: Response<Body>, request_id: &str, resource: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amz-request-id", v);
    }
    if resp.status() == StatusCode::NOT_MODIFIED {
        // A 304 carries no body.
        *resp.body_mut() = Body::empty();
        resp.headers_mut().remove(header::CONTENT_TYPE);
        resp.headers_mut().remove(header::CONTENT_LENGTH);
        return resp;
    }
    let is_error = resp.status().is_client_error() || resp.status().is_server_error();
    // S3 errors only; IAM's <ErrorResponse> carries its own RequestId.
    if is_error
        && let Some(xml) = resp.body().bytes().and_then(|b| String::from_utf8(b.to_vec()).ok())
        && !xml.contains("<ErrorResponse")
        && let Some(at) = xml.rfind("</Error>")
    {
        let mut extra = String::new();
        if !xml.contains("<Message>")
            && let Some(message) = error_code(&xml).and_then(crate::error::default_message)
        {
            extra = format!("<Message>{message}</Message>");
        }
        extra += &format!(
            "<Resource>{}</Resource><RequestId>{request_id}</RequestId>",
            crate::iam::escape_xml(resource)
        );
        let body = format!("{}{extra}{}", &xml[..at], &xml[at..]);
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        *resp.body_mut() = Body::from(body);
    }
    resp
}

fn error_code(xml: &str) -> Option<&str> {
    let start = xml.find("<Code>")? + "<Code>".len();
    let len = xml[start..].find("</Code>")?;
    Some(&xml[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_get_resource_and_request_id() {
        let mut resp = Response::new(Body::from("<Error><Code>NoSuchKey</Code></Error>".to_owned()));
        *resp.status_mut() = StatusCode::NOT_FOUND;
        let resp = finish(resp, "ABC", "/b/a&b");
        let body = String::from_utf8(resp.body().bytes().unwrap().to_vec()).unwrap();
        assert_eq!(
            body,
            "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>\
             <Resource>/b/a&amp;b</Resource><RequestId>ABC</RequestId></Error>"
        );
        assert_eq!(resp.headers()["x-amz-request-id"], "ABC");
        assert_eq!(resp.headers()[header::CONTENT_LENGTH], body.len().to_string().as_str());
    }
}
