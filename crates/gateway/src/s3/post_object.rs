//! POST Object: browser form uploads (`multipart/form-data` posted to a bucket's URL).
//!
//! Served here, before s3s, which gathers the file in memory before the access check. The
//! fields before the file are read first (at most [`MAX_PRE_DATA`] bytes, within
//! [`PRE_DATA_TIME`]); then the policy's signature, expiry and conditions are checked, the
//! bucket found and the upload authorized like a PutObject of the form's key; only then is
//! the file read, and it streams to the provider as it arrives (a provider that needs each
//! blob's length gets it in pieces, `super::stream`). An unauthenticated client can make the
//! gateway hold no more than the fields' budget.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use hmac::{Hmac, Mac};
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use osg_meta::Caller;
use osg_provider::{BoxError, ByteStream};
use s3s::dto::{Tagging, Timestamp};
use s3s::post_policy::{PostPolicy, PostPolicyCondition};
use s3s::{Body, S3Error, s3_error};

use super::acl::{self, GrantHeaders};
use super::stream::{Expected, MAX_PUT_SIZE};
use super::{attrs_from, tagging, unhonoured};
use crate::Gateway;
use crate::authz::{self, Connection};

/// How many bytes of fields may come before the file (AWS's limit).
pub const MAX_PRE_DATA: u64 = 20 << 10;
/// How long the fields before the file may take to arrive.
pub const PRE_DATA_TIME: Duration = Duration::from_secs(30);

/// Whether a request is a form upload (a `multipart/form-data` POST), wherever it goes. s3s
/// would parse any such body before routing it, so none reaches s3s.
pub fn is_form<B>(req: &Request<B>) -> bool {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let mime = content_type.and_then(|v| v.parse::<mime::Mime>().ok());
    req.method() == http::Method::POST
        && mime.is_some_and(|m| m.type_() == mime::MULTIPART && m.subtype() == mime::FORM_DATA)
}

/// The bucket a form upload posts to: `POST /BUCKET` (or `/BUCKET/`), or `POST /` on a
/// virtual host `BUCKET.DOMAIN`; `None` for a form posted anywhere else.
pub fn target<B>(req: &Request<B>, domain: Option<&str>) -> Option<String> {
    crate::host::addressed(req, domain)
        .filter(|(_, key)| key.is_empty())
        .map(|(bucket, _)| bucket)
}

/// Serves a form upload to `bucket`.
pub async fn serve<B>(gw: &Gateway, req: Request<B>, bucket: String) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    match post(gw, req, bucket).await {
        Ok(resp) => resp,
        Err(e) => e.to_http_response().map_or_else(
            |_| {
                let mut resp = Response::new(Body::empty());
                *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                resp
            },
            Into::into,
        ),
    }
}

/// The form's fields before the file, by lower-case name, and the file's name.
struct Form {
    fields: HashMap<String, String>,
    filename: String,
}

impl Form {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Counts the bytes read before the file, failing the stream past the budget.
#[derive(Clone, Default)]
struct PreData {
    read: Arc<AtomicU64>,
    file_started: Arc<AtomicBool>,
}

impl PreData {
    /// `body`, counted; it fails once the fields before the file exceed the budget. multer
    /// reads ahead of the field it returns, so the budget allows one read's worth more.
    fn count<S>(&self, body: S) -> impl futures::Stream<Item = Result<Bytes, BoxError>> + Send + 'static
    where
        S: futures::Stream<Item = Result<Bytes, BoxError>> + Send + 'static,
    {
        let budget = self.clone();
        body.map(move |chunk| {
            let chunk = chunk?;
            budget.read.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            if budget.over() {
                return Err(BoxError::from(TooMuchPreData));
            }
            Ok(chunk)
        })
    }

    fn over(&self) -> bool {
        !self.file_started.load(Ordering::Relaxed) && self.read.load(Ordering::Relaxed) > MAX_PRE_DATA + (64 << 10)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the fields before the file exceed {MAX_PRE_DATA} bytes")]
struct TooMuchPreData;

async fn post<B>(gw: &Gateway, req: Request<B>, bucket_name: String) -> Result<Response<Body>, S3Error>
where
    B: http_body::Body<Data = Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = req.into_parts();
    // Its options are form fields: an `x-amz-*` header, which no signature covers here, would
    // be an option no one signed.
    if let Some(name) = parts.headers.keys().find(|k| k.as_str().starts_with("x-amz-")) {
        return Err(s3_error!(
            InvalidArgument,
            "A form upload takes its options as form fields, not as the header {name}."
        ));
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        s3_error!(
            MalformedPOSTRequest,
            "The body of your POST request is not well-formed multipart/form-data."
        )
    })?;
    let budget = PreData::default();
    let stream = budget.count(body.into_data_stream().map_err(Into::into));
    let mut multipart = multer::Multipart::new(stream, boundary);
    let read = tokio::time::timeout(PRE_DATA_TIME, fields(&mut multipart, &budget)).await;
    let (form, file) = match read {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(s3_error!(
                RequestTimeout,
                "Your socket connection to the server was not read from or written to within the timeout period."
            ));
        }
    };
    budget.file_started.store(true, Ordering::Relaxed);
    let inputs = form.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    unhonoured::check("PostObject", inputs)?;
    if let Some(name) = form
        .fields
        .keys()
        .find(|k| k.starts_with("x-amz-") && !honoured_field(k))
    {
        return Err(s3_error!(NotImplemented, "The form field {name} is not implemented."));
    }
    let Signed {
        access_key,
        caller,
        limits,
    } = authenticate(gw, &form, &bucket_name).await?;
    if let Some(outcome) = parts.extensions.get::<crate::observe::Outcome>() {
        outcome.record("PostObject", access_key.as_deref());
    }
    let key = form
        .get("key")
        .ok_or_else(|| s3_error!(InvalidArgument, "Bucket POST must contain a field named 'key'."))?
        .replace("${filename}", &form.filename);
    if key.is_empty() || key.len() > 1024 {
        return Err(s3_error!(KeyTooLongError));
    }
    let bucket = match gw.dir.bucket(&bucket_name).await {
        Ok(b) => b,
        Err(crate::error::Error::Meta(osg_meta::Error::NoSuchBucket)) if caller.is_none() => {
            return Err(s3_error!(AccessDenied));
        }
        Err(e) => return Err(e.into()),
    };
    let tags = match form.get("tagging") {
        Some(xml) => tagging::from_tag_set(&parse_tagging(xml)?.tag_set)?,
        None => BTreeMap::new(),
    };
    // Authorized as a PutObject of `key`, with the form's ACL and tags as condition keys.
    let conn = parts.extensions.get::<Connection>().copied();
    let mut context = authz::request_context(&parts.headers, &parts.uri, conn, caller.as_ref());
    if let Some(acl) = form.get("acl") {
        context.set("s3:x-amz-acl", acl);
    }
    if let Some(sse) = form.get("x-amz-server-side-encryption") {
        context.set("s3:x-amz-server-side-encryption", sse);
    }
    authz::set_request_tags(&mut context, tags.clone().into_iter().collect());
    let resource = authz::resource_arn(Some(&bucket.name), Some(&key));
    let target = authz::Target::new(Some(&bucket), Some(&key), &resource);
    authz::authorize(&gw.dir, caller.as_ref(), "s3:PutObject", &target, &context).await?;
    if form.get("acl").is_some() {
        authz::authorize(&gw.dir, caller.as_ref(), "s3:PutObjectAcl", &target, &context).await?;
    }
    if !tags.is_empty() {
        authz::authorize(&gw.dir, caller.as_ref(), "s3:PutObjectTagging", &target, &context).await?;
    }
    let no_grants = GrantHeaders {
        read: None,
        write: None,
        read_acp: None,
        write_acp: None,
        full_control: None,
    };
    let writer = caller.as_ref().map(|c| c.account.clone());
    let (owner, acl) = acl::new_object_acl(gw, &bucket, writer.as_ref(), form.get("acl"), &no_grants).await?;
    let expires = form
        .get("expires")
        .map(|v| Timestamp::parse(s3s::dto::TimestampFormat::HttpDate, v))
        .transpose()
        .map_err(|_| s3_error!(InvalidArgument, "Invalid Expires field."))?;
    let metadata = form
        .fields
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("x-amz-meta-").map(|m| (m.to_owned(), v.clone())))
        .collect();
    let mut attrs = attrs_from(
        form.get("content-type").map(str::to_owned),
        form.get("content-encoding").map(str::to_owned),
        form.get("content-disposition").map(str::to_owned),
        None,
        form.get("cache-control").map(str::to_owned),
        expires.as_ref(),
        Some(metadata),
    );
    attrs.acl = acl;
    attrs.tags = tags;
    let asked = form
        .get("x-amz-server-side-encryption")
        .map(|v| s3s::dto::ServerSideEncryption::from(v.to_owned()));
    let encryption = super::sse::for_write(gw, &bucket, asked.as_ref(), None)?;
    // A form's file has no length before it is read: the quota is checked for the object
    // first, then for the bytes that came.
    let quota = super::quota::limits(gw, &bucket).await?;
    quota.admit(1, 0)?;
    let file: ByteStream = Box::pin(sync_wrapper::SyncStream::new(file.map_err(BoxError::from)));
    let data_key = encryption.as_ref().map(|(_, k)| &**k);
    let stored = gw
        .store(&bucket, file, Expected::within(limits.0, limits.1), None, data_key)
        .await?;
    if let Err(e) = quota.admit(1, stored.size) {
        gw.discard_all(&bucket.name, &stored.pieces).await;
        return Err(e.into());
    }
    attrs.encryption = encryption.map(|(e, _)| e);
    drop(multipart);
    let version = gw
        .commit_stored(
            bucket.name.clone(),
            key.clone(),
            stored,
            attrs,
            owner,
            &osg_meta::Condition::None,
        )
        .await?;
    let tls = conn.is_some_and(|c| c.tls);
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let mut resp = answer(&form, &bucket.name, &key, &version.etag, tls, host);
    if let Some(id) = version.shown_id().and_then(|id| HeaderValue::from_str(&id).ok()) {
        resp.headers_mut().insert("x-amz-version-id", id);
    }
    if version.attrs.encryption.is_some() {
        resp.headers_mut()
            .insert("x-amz-server-side-encryption", HeaderValue::from_static("AES256"));
    }
    Ok(resp)
}

/// For the fuzz target: the fields of an arbitrary body (boundary `B`), and a POST policy and
/// form from arbitrary text, checked against each other.
#[cfg(feature = "fuzzing")]
pub fn fuzz_form(data: &[u8]) {
    let chunks: Vec<Result<Bytes, BoxError>> = data.chunks(97).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let budget = PreData::default();
    let mut multipart = multer::Multipart::new(budget.count(futures::stream::iter(chunks)), "B");
    if let Ok((form, _file)) = futures::executor::block_on(fields(&mut multipart, &budget)) {
        assert!(form.fields.values().all(|v| v.len() as u64 <= MAX_PRE_DATA));
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (policy, fields) = text.split_once('\0').unwrap_or((text, ""));
    if let Ok(policy) = PostPolicy::from_json(policy) {
        let form = Form {
            fields: fields
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                .collect(),
            filename: String::new(),
        };
        if let Ok((min, max)) = check_policy(&policy, &form, "b", time::OffsetDateTime::UNIX_EPOCH) {
            assert!(max <= MAX_PUT_SIZE, "{min}..{max}");
        }
    }
}

/// The fields up to the file, and the file's stream.
async fn fields(
    multipart: &mut multer::Multipart<'static>,
    budget: &PreData,
) -> Result<(Form, multer::Field<'static>), S3Error> {
    let mut fields = HashMap::new();
    loop {
        let field = multipart.next_field().await.map_err(|e| malformed(&e, budget))?;
        let Some(mut field) = field else {
            return Err(s3_error!(
                IncorrectNumberOfFilesInPostRequest,
                "POST requires exactly one file upload per request."
            ));
        };
        let name = field.name().unwrap_or_default().to_ascii_lowercase();
        if name == "file" {
            let form = Form {
                fields,
                filename: field.file_name().unwrap_or_default().to_owned(),
            };
            return Ok((form, field));
        }
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| malformed(&e, budget))? {
            value.extend_from_slice(&chunk);
            if value.len() as u64 > MAX_PRE_DATA {
                return Err(too_much_pre_data());
            }
        }
        let value =
            String::from_utf8(value).map_err(|_| s3_error!(InvalidArgument, "Form field {name} is not UTF-8."))?;
        if fields.insert(name.clone(), value).is_some() {
            return Err(s3_error!(
                InvalidArgument,
                "The form field {name} appears more than once."
            ));
        }
    }
}

fn too_much_pre_data() -> S3Error {
    s3_error!(
        MaxPostPreDataLengthExceededError,
        "Your POST request fields preceding the upload file were too large."
    )
}

fn malformed(e: &multer::Error, budget: &PreData) -> S3Error {
    if budget.over() {
        return too_much_pre_data();
    }
    if e.to_string().contains("RequestTimeout") {
        return s3_error!(
            RequestTimeout,
            "Your socket connection to the server was not read from or written to within the timeout period."
        );
    }
    s3_error!(
        MalformedPOSTRequest,
        "The body of your POST request is not well-formed multipart/form-data: {e}"
    )
}

/// Fields named `x-amz-*` that a form upload honours; any other is refused.
fn honoured_field(name: &str) -> bool {
    name.starts_with("x-amz-meta-")
        || matches!(
            name,
            "x-amz-algorithm"
                | "x-amz-credential"
                | "x-amz-date"
                | "x-amz-signature"
                | "x-amz-storage-class"
                | "x-amz-server-side-encryption"
        )
}

/// Who signed a form, and the bounds its policy puts on the file's length.
struct Signed {
    /// `None` (with `caller`) for an anonymous form.
    access_key: Option<String>,
    caller: Option<Caller>,
    limits: (u64, u64),
}

/// Checks the form's signature and policy.
async fn authenticate(gw: &Gateway, form: &Form, bucket: &str) -> Result<Signed, S3Error> {
    let access_key = if let Some(signature) = form.get("x-amz-signature") {
        let field = |name: &str| {
            form.get(name)
                .ok_or_else(|| s3_error!(InvalidArgument, "Bucket POST must contain a field named '{name}'."))
        };
        if field("x-amz-algorithm")? != "AWS4-HMAC-SHA256" {
            return Err(s3_error!(
                InvalidArgument,
                "Only AWS4-HMAC-SHA256 is supported as x-amz-algorithm."
            ));
        }
        let credential = field("x-amz-credential")?;
        let date = field("x-amz-date")?;
        let policy = field("policy")?;
        crate::s3s_gaps::signed::credential_scope(credential, Some(&gw.region))
            .map_err(|why| s3_error!(InvalidArgument, "Error parsing the X-Amz-Credential parameter; {why}"))?;
        let (access_key, scope) = credential
            .split_once('/')
            .ok_or_else(|| s3_error!(InvalidArgument, "Invalid x-amz-credential."))?;
        if !date.starts_with(scope.split('/').next().unwrap_or_default()) {
            return Err(s3_error!(
                InvalidArgument,
                "The x-amz-date does not match the credential's date."
            ));
        }
        let secret = secret(gw, access_key).await?;
        if !crate::sigv4::signature_matches(&secret, scope, policy, signature) {
            return Err(s3_error!(SignatureDoesNotMatch));
        }
        access_key
    } else if let Some(signature) = form.get("signature") {
        let access_key = form.get("awsaccesskeyid").ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "Bucket POST must contain a field named 'AWSAccessKeyId'."
            )
        })?;
        let policy = form
            .get("policy")
            .ok_or_else(|| s3_error!(InvalidArgument, "Bucket POST must contain a field named 'policy'."))?;
        let secret = secret(gw, access_key).await?;
        if !sigv2_matches(&secret, policy, signature) {
            return Err(s3_error!(SignatureDoesNotMatch));
        }
        access_key
    } else {
        if form.get("policy").is_some() {
            return Err(s3_error!(
                InvalidArgument,
                "Bucket POST with a policy must be signed: it must contain a field named 'x-amz-signature'."
            ));
        }
        return Ok(Signed {
            access_key: None,
            caller: None,
            limits: (0, MAX_PUT_SIZE),
        });
    };
    let policy = PostPolicy::from_base64(form.get("policy").unwrap_or_default())
        .map_err(|e| s3_error!(InvalidPolicyDocument, "Invalid Policy: {e}"))?;
    let limits = check_policy(&policy, form, bucket, time::OffsetDateTime::now_utc())?;
    let caller = gw
        .dir
        .caller(access_key)
        .await?
        .ok_or_else(|| s3_error!(InvalidAccessKeyId))?;
    Ok(Signed {
        access_key: Some(access_key.to_owned()),
        caller: Some(caller),
        limits,
    })
}

async fn secret(gw: &Gateway, access_key: &str) -> Result<String, S3Error> {
    use secrecy::ExposeSecret;
    let secret = gw
        .dir
        .secret(access_key)
        .await?
        .ok_or_else(|| s3_error!(InvalidAccessKeyId))?;
    Ok(secret.expose_secret().to_owned())
}

/// SigV2 form signature: base64 of HMAC-SHA1 of the policy, compared in constant time.
fn sigv2_matches(secret: &str, policy: &str, signature: &str) -> bool {
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(signature) else {
        return false;
    };
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(policy.as_bytes());
    mac.verify_slice(&given).is_ok()
}

/// The policy's expiry and conditions against the form: every field must be named by a
/// condition (but the signature, the policy, the file and `x-ignore-*`), and each condition
/// hold. Returns the file's length bounds.
fn check_policy(
    policy: &PostPolicy,
    form: &Form,
    bucket: &str,
    now: time::OffsetDateTime,
) -> Result<(u64, u64), S3Error> {
    if now >= time::OffsetDateTime::from(policy.expiration.clone()) {
        return Err(s3_error!(AccessDenied, "Invalid according to Policy: Policy expired."));
    }
    let value = |field: &str| {
        if field == "bucket" {
            Some(bucket)
        } else {
            form.get(field)
        }
    };
    let mut limits = (0, MAX_PUT_SIZE);
    for condition in &policy.conditions {
        let (field, holds) = match condition {
            PostPolicyCondition::Eq { field, value: want } => (field, value(field) == Some(want.as_str())),
            PostPolicyCondition::StartsWith { field, prefix } => {
                // Content-Type may list several types, each of which must start so.
                let have = value(field).unwrap_or_default();
                let holds = if field == "content-type" {
                    have.split(',').all(|t| t.trim_start().starts_with(prefix.as_str()))
                } else {
                    have.starts_with(prefix.as_str())
                };
                (field, holds)
            }
            PostPolicyCondition::ContentLengthRange { min, max } => {
                limits = (*min, (*max).min(MAX_PUT_SIZE));
                continue;
            }
        };
        if !holds {
            return Err(s3_error!(
                AccessDenied,
                "Invalid according to Policy: Policy Condition failed: {field}"
            ));
        }
    }
    let exempt = |name: &str| {
        matches!(
            name,
            "x-amz-signature" | "signature" | "awsaccesskeyid" | "policy" | "file"
        ) || name.starts_with("x-ignore-")
    };
    let named = |name: &str| {
        policy.conditions.iter().any(|c| match c {
            PostPolicyCondition::Eq { field, .. } | PostPolicyCondition::StartsWith { field, .. } => field == name,
            PostPolicyCondition::ContentLengthRange { .. } => false,
        })
    };
    if let Some(extra) = form.fields.keys().find(|k| !exempt(k) && !named(k)) {
        return Err(s3_error!(
            AccessDenied,
            "Invalid according to Policy: Extra input fields: {extra}"
        ));
    }
    Ok(limits)
}

/// The form's `tagging` field: a `<Tagging>` document.
fn parse_tagging(xml: &str) -> Result<Tagging, S3Error> {
    use s3s::xml::Deserialize as _;
    let mut d = s3s::xml::Deserializer::new(xml.as_bytes());
    let tagging = Tagging::deserialize(&mut d).map_err(|_| s3_error!(MalformedXML))?;
    d.expect_eof().map_err(|_| s3_error!(MalformedXML))?;
    Ok(tagging)
}

/// The answer S3 gives a form upload: a redirect, a `PostResponse` document (201), or an empty
/// 200 or 204 (the default), as `success_action_*` asks.
fn answer(form: &Form, bucket: &str, key: &str, etag: &str, tls: bool, host: &str) -> Response<Body> {
    let encode = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
    let quoted = format!("\"{etag}\"");
    let scheme = if tls { "https" } else { "http" };
    let location = format!(
        "{scheme}://{host}/{}/{}",
        encode(bucket),
        encode(key).replace("%2F", "/")
    );
    let redirect = form
        .get("success_action_redirect")
        .or_else(|| form.get("redirect"))
        .filter(|url| url.parse::<http::Uri>().is_ok_and(|u| u.scheme().is_some()));
    let mut resp = if let Some(url) = redirect {
        let sep = if url.contains('?') { '&' } else { '?' };
        let to = format!(
            "{url}{sep}bucket={}&key={}&etag={}",
            encode(bucket),
            encode(key),
            encode(&quoted)
        );
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::SEE_OTHER;
        if let Ok(v) = HeaderValue::from_str(&to) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        resp
    } else {
        match form.get("success_action_status") {
            Some("201") => {
                let escape = crate::iam::escape_xml;
                let xml = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><PostResponse><Location>{}</Location><Bucket>{}</Bucket>\
                     <Key>{}</Key><ETag>{}</ETag></PostResponse>",
                    escape(&location),
                    escape(bucket),
                    escape(key),
                    escape(&quoted)
                );
                let mut resp = Response::new(Body::from(xml));
                *resp.status_mut() = StatusCode::CREATED;
                resp.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
                resp
            }
            Some("200") => Response::new(Body::empty()),
            _ => {
                let mut resp = Response::new(Body::empty());
                *resp.status_mut() = StatusCode::NO_CONTENT;
                resp
            }
        }
    };
    if let Ok(v) = HeaderValue::from_str(&quoted) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form {
            fields: pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            filename: "f.txt".into(),
        }
    }

    fn policy(conditions: &str) -> PostPolicy {
        PostPolicy::from_json(&format!(
            r#"{{"expiration":"2030-01-01T00:00:00.000Z","conditions":[{conditions}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn policy_conditions_cover_and_bound_the_form() {
        let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let p = policy(r#"{"bucket":"b"},["starts-with","$key","up/"],["content-length-range",1,100]"#);
        assert_eq!(
            check_policy(&p, &form(&[("key", "up/x"), ("policy", "..")]), "b", now).unwrap(),
            (1, 100)
        );
        assert!(
            check_policy(&p, &form(&[("key", "down/x")]), "b", now).is_err(),
            "starts-with"
        );
        assert!(
            check_policy(&p, &form(&[("key", "up/x")]), "other", now).is_err(),
            "bucket"
        );
        let extra = form(&[("key", "up/x"), ("acl", "public-read")]);
        let e = check_policy(&p, &extra, "b", now).unwrap_err();
        assert_eq!(e.code().as_str(), "AccessDenied");
        assert!(check_policy(&p, &form(&[("key", "up/x"), ("x-ignore-me", "1")]), "b", now).is_ok());
        let later = time::OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
        assert!(
            check_policy(&p, &form(&[("key", "up/x")]), "b", later).is_err(),
            "expired"
        );
        let types = policy(r#"["starts-with","$Content-Type","image/"]"#);
        assert!(check_policy(&types, &form(&[("content-type", "image/png, image/gif")]), "b", now).is_ok());
        assert!(check_policy(&types, &form(&[("content-type", "image/png, text/html")]), "b", now).is_err());
    }

    #[test]
    fn sigv2_form_signature() {
        // HMAC-SHA1 of "policy" under "secret", base64.
        let good = base64::engine::general_purpose::STANDARD.encode({
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"secret").unwrap();
            mac.update(b"policy");
            mac.finalize().into_bytes()
        });
        assert!(sigv2_matches("secret", "policy", &good));
        assert!(!sigv2_matches("other", "policy", &good));
        assert!(!sigv2_matches("secret", "policy", "not base64!"));
    }

    #[test]
    fn form_targets() {
        let req = |method: &str, uri: &str, host: &str, ct: &str| {
            Request::builder()
                .method(method)
                .uri(uri)
                .header("host", host)
                .header("content-type", ct)
                .body(())
                .unwrap()
        };
        let form = "multipart/form-data; boundary=x";
        assert_eq!(target(&req("POST", "/b", "h:1", form), None).as_deref(), Some("b"));
        assert_eq!(target(&req("POST", "/b/", "h:1", form), None).as_deref(), Some("b"));
        assert_eq!(target(&req("POST", "/b/k", "h:1", form), None), None);
        assert_eq!(target(&req("POST", "/", "h:1", form), None), None);
        assert!(is_form(&req("POST", "/b/k", "h:1", "Multipart/Form-Data; boundary=x")));
        assert!(!is_form(&req("PUT", "/b", "h:1", form)));
        assert!(!is_form(&req("POST", "/b", "h:1", "application/x-www-form-urlencoded")));
        assert_eq!(
            target(
                &req(
                    "POST",
                    "/",
                    "pics.s3.example.com:8773",
                    "Multipart/Form-Data; boundary=x"
                ),
                Some("s3.example.com")
            )
            .as_deref(),
            Some("pics")
        );
    }
}
