//! CORS: Put/Get/DeleteBucketCors (S3's XML to and from the model's rules, which checks
//! them), the preflight `OPTIONS` a browser sends before a cross-origin request (answered from
//! the bucket's rules, without authentication, as in S3), and the `Access-Control-*` headers
//! on the answers to the requests themselves, errors included. The listener calls the last two
//! around every request (`crate::server`).

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use osg_model::{Cors, CorsRule};
use s3s::dto::*;
use s3s::{Body, S3Request, S3Response, s3_error};

use super::access;
use crate::Gateway;
use crate::error::Result;
use crate::s3s_gaps::Refusal;

fn rule_of(r: CORSRule) -> CorsRule {
    CorsRule {
        id: r.id,
        allowed_origins: r.allowed_origins,
        allowed_methods: r.allowed_methods,
        allowed_headers: r.allowed_headers.unwrap_or_default(),
        expose_headers: r.expose_headers.unwrap_or_default(),
        // A negative age is no age.
        max_age_seconds: r.max_age_seconds.and_then(|s| u32::try_from(s).ok()),
    }
}

fn shown(r: &CorsRule) -> CORSRule {
    let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    CORSRule {
        id: r.id.clone(),
        allowed_origins: r.allowed_origins.clone(),
        allowed_methods: r.allowed_methods.clone(),
        allowed_headers: some(&r.allowed_headers),
        expose_headers: some(&r.expose_headers),
        max_age_seconds: r.max_age_seconds.map(|s| i32::try_from(s).unwrap_or(i32::MAX)),
    }
}

pub async fn put_bucket_cors(
    gw: &Gateway,
    req: S3Request<PutBucketCorsInput>,
) -> Result<S3Response<PutBucketCorsOutput>> {
    let bucket = access::bucket(&req)?;
    let rules = req
        .input
        .cors_configuration
        .cors_rules
        .into_iter()
        .map(rule_of)
        .collect();
    let cors = Cors { rules };
    gw.meta
        .update_bucket_config(&bucket.name, |c| c.set_cors(Some(cors.clone())))
        .await?;
    gw.dir.forget_bucket(&bucket.name);
    Ok(S3Response::new(PutBucketCorsOutput::default()))
}

pub async fn get_bucket_cors(
    _gw: &Gateway,
    req: S3Request<GetBucketCorsInput>,
) -> Result<S3Response<GetBucketCorsOutput>> {
    let bucket = access::bucket(&req)?;
    let Some(cors) = bucket.config.cors() else {
        return Err(s3_error!(NoSuchCORSConfiguration, "The CORS configuration does not exist").into());
    };
    Ok(S3Response::new(GetBucketCorsOutput {
        cors_rules: Some(cors.rules.iter().map(shown).collect()),
    }))
}

pub async fn delete_bucket_cors(
    gw: &Gateway,
    req: S3Request<DeleteBucketCorsInput>,
) -> Result<S3Response<DeleteBucketCorsOutput>> {
    let bucket = access::bucket(&req)?;
    gw.meta.update_bucket_config(&bucket.name, |c| c.set_cors(None)).await?;
    gw.dir.forget_bucket(&bucket.name);
    Ok(S3Response::with_status(
        DeleteBucketCorsOutput::default(),
        StatusCode::NO_CONTENT,
    ))
}

/// What CORS needs of a request with an `Origin`, taken before the request is served.
pub struct CrossOrigin {
    bucket: String,
    origin: String,
    method: Method,
}

impl CrossOrigin {
    /// The request's origin and bucket, if it names both.
    pub fn of<B>(req: &Request<B>, domain: Option<&str>) -> Option<Self> {
        let origin = req.headers().get(header::ORIGIN)?.to_str().ok()?.to_owned();
        let (bucket, _) = crate::host::addressed(req, domain)?;
        Some(Self {
            bucket,
            origin,
            method: req.method().clone(),
        })
    }

    /// Adds the `Access-Control-*` headers of the bucket's first rule allowing the request's
    /// origin and method to `resp`, whatever its status.
    pub async fn answer(self, gw: &Gateway, resp: &mut Response<Body>) {
        let Some(cors) = bucket_cors(gw, &self.bucket).await else {
            return;
        };
        let headers = resp.headers_mut();
        headers.append(header::VARY, HeaderValue::from_static(VARY));
        if let Some(rule) = cors.rule_for(&self.origin, self.method.as_str(), &[]) {
            allow(rule, &self.origin, None, headers);
        }
    }
}

const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

/// The CORS rules of `bucket`, if it exists and has some.
async fn bucket_cors(gw: &Gateway, bucket: &str) -> Option<Cors> {
    match gw.dir.bucket(bucket).await {
        Ok(b) => b.config.cors().cloned(),
        Err(e) => {
            if !matches!(e, crate::error::Error::Meta(osg_meta::Error::NoSuchBucket)) {
                tracing::warn!(error = %e, "CORS headers left out");
            }
            None
        }
    }
}

/// The headers that let the browser through: the origin (`*` for a rule allowing any, without
/// credentials), the rule's methods, the request headers asked for (preflight), the headers
/// shown to the page, and how long to keep the answer.
fn allow(rule: &CorsRule, origin: &str, request_headers: Option<&str>, out: &mut HeaderMap) {
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            out.insert(name, v);
        }
    };
    if rule.any_origin() {
        set("access-control-allow-origin", "*");
    } else {
        set("access-control-allow-origin", origin);
        set("access-control-allow-credentials", "true");
    }
    set("access-control-allow-methods", &rule.allowed_methods.join(", "));
    if let Some(asked) = request_headers.filter(|h| !h.trim().is_empty()) {
        set("access-control-allow-headers", &asked.to_ascii_lowercase());
    }
    if !rule.expose_headers.is_empty() {
        set("access-control-expose-headers", &rule.expose_headers.join(", "));
    }
    if let Some(age) = rule.max_age_seconds {
        set("access-control-max-age", &age.to_string());
    }
}

/// Answers a preflight `OPTIONS` from the bucket's rules. Nothing is authenticated, and a
/// bucket that does not exist answers as one without CORS, so that a preflight tells nobody
/// which buckets exist.
pub async fn preflight<B>(gw: &Gateway, req: &Request<B>, domain: Option<&str>) -> Response<Body> {
    let forbidden = |why: &str| {
        Refusal::new("AccessForbidden", StatusCode::FORBIDDEN, format!("CORSResponse: {why}")).into_response()
    };
    let bad = |why: &str| Refusal::new("BadRequest", StatusCode::BAD_REQUEST, why).into_response();
    let headers = req.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(origin) = text("origin") else {
        return bad("Insufficient information. Origin request header needed.");
    };
    let Some(method) = text("access-control-request-method") else {
        return bad("Invalid Access-Control-Request-Method: null");
    };
    let Some((bucket, _)) = crate::host::addressed(req, domain) else {
        return forbidden("This CORS request is not allowed.");
    };
    let Some(cors) = bucket_cors(gw, &bucket).await else {
        return forbidden("CORS is not enabled for this bucket.");
    };
    let asked = text("access-control-request-headers");
    let names: Vec<&str> = asked
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let Some(rule) = cors.rule_for(origin, method, &names) else {
        return forbidden(
            "This CORS request is not allowed. This is usually because the evalution of Origin, request method / \
             Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's \
             CORS spec.",
        );
    };
    let mut resp = Response::new(Body::from(Bytes::new()));
    let out = resp.headers_mut();
    out.insert(header::VARY, HeaderValue::from_static(VARY));
    out.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    allow(rule, origin, asked, out);
    resp
}
