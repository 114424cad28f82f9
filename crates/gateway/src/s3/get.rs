//! GetObject and HeadObject: conditional requests, ranges, `partNumber`, response overrides.

use std::ops::Range as Span;

use http::StatusCode;
use osg_meta::Version;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, s3_error};

use super::checksum::{self, with_checksums};
use super::{access, etag, timestamp};
use crate::Gateway;
use crate::error::{Result, custom};

/// The request fields GET and HEAD share.
struct Read<'a> {
    bucket: &'a str,
    key: &'a str,
    if_match: Option<&'a ETagCondition>,
    if_none_match: Option<&'a ETagCondition>,
    if_modified_since: Option<&'a Timestamp>,
    if_unmodified_since: Option<&'a Timestamp>,
    range: Option<&'a Range>,
    part_number: Option<i32>,
    checksum_mode: Option<&'a ChecksumMode>,
}

/// What to send: the version, the byte span, and whether it is partial.
struct Plan {
    version: Version,
    span: Span<u64>,
    partial: bool,
    checksums: Checksum,
}

fn not_modified() -> S3Error {
    let mut e = S3Error::new(S3ErrorCode::NotModified);
    e.set_status_code(StatusCode::NOT_MODIFIED);
    e
}

fn etag_matches(cond: &ETagCondition, v: &Version) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == v.etag,
    }
}

fn modified_secs(v: &Version) -> i64 {
    v.modified_ms.div_euclid(1000)
}

fn secs(t: &Timestamp) -> i64 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp()
}

/// RFC 7232 order: If-Match, then If-Unmodified-Since (412); If-None-Match, then
/// If-Modified-Since (304).
fn check_conditions(r: &Read<'_>, v: &Version) -> Result<()> {
    match r.if_match {
        Some(cond) if !etag_matches(cond, v) => return Err(s3_error!(PreconditionFailed).into()),
        None if r.if_unmodified_since.is_some_and(|t| modified_secs(v) > secs(t)) => {
            return Err(s3_error!(PreconditionFailed).into());
        }
        _ => {}
    }
    match r.if_none_match {
        Some(cond) if etag_matches(cond, v) => return Err(not_modified().into()),
        None if r.if_modified_since.is_some_and(|t| modified_secs(v) <= secs(t)) => {
            return Err(not_modified().into());
        }
        _ => {}
    }
    Ok(())
}

async fn plan(gw: &Gateway, r: &Read<'_>) -> Result<Plan> {
    let version = gw.meta.object(r.bucket, r.key).await?;
    check_conditions(r, &version)?;
    let size = version.size;
    let (span, partial) = match (r.part_number, r.range) {
        (Some(_), Some(_)) => {
            return Err(s3_error!(
                InvalidRequest,
                "Cannot specify both Range header and partNumber query parameter."
            )
            .into());
        }
        (Some(n), None) => (part_span(&version, n)?, version.parts_count.is_some()),
        (None, Some(range)) => {
            let span = range.check(size).map_err(|_| {
                custom(
                    "InvalidRange",
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "The requested range is not satisfiable",
                )
            })?;
            (span, true)
        }
        (None, None) => (0..size, false),
    };
    let whole = span == (0..size);
    let wants_checksums = r.checksum_mode.is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
    let checksums = if wants_checksums && whole {
        checksum::to_dto(&version.attrs.checksums)
    } else {
        Checksum::default()
    };
    Ok(Plan {
        version,
        span,
        partial,
        checksums,
    })
}

/// The bytes of part `n` of a multipart object; part 1 of a plain object is all of it.
fn part_span(v: &Version, n: i32) -> Result<Span<u64>> {
    let invalid = || {
        custom(
            "InvalidPartNumber",
            StatusCode::RANGE_NOT_SATISFIABLE,
            "The requested partnumber is not satisfiable",
        )
    };
    let n = usize::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(invalid)?;
    if v.parts_count.is_none() {
        return if n == 1 { Ok(0..v.size) } else { Err(invalid().into()) };
    }
    let piece = v.pieces.get(n - 1).ok_or_else(invalid)?;
    let start: u64 = v.pieces[..n - 1].iter().map(|p| p.size).sum();
    Ok(start..start + piece.size)
}

fn content_range(p: &Plan) -> Option<String> {
    p.partial.then(|| {
        if p.span.is_empty() {
            format!("bytes */{}", p.version.size)
        } else {
            format!("bytes {}-{}/{}", p.span.start, p.span.end - 1, p.version.size)
        }
    })
}

fn expires(v: &Version) -> Option<Timestamp> {
    v.attrs
        .expires
        .as_deref()
        .and_then(|e| Timestamp::parse(TimestampFormat::HttpDate, e).ok())
}

fn length(span: &Span<u64>) -> i64 {
    i64::try_from(span.end - span.start).unwrap_or(i64::MAX)
}

/// The request fields GET and HEAD share, read off either input.
macro_rules! read_of {
    ($i:expr) => {
        Read {
            bucket: &$i.bucket,
            key: &$i.key,
            if_match: $i.if_match.as_ref(),
            if_none_match: $i.if_none_match.as_ref(),
            if_modified_since: $i.if_modified_since.as_ref(),
            if_unmodified_since: $i.if_unmodified_since.as_ref(),
            range: $i.range.as_ref(),
            part_number: $i.part_number,
            checksum_mode: $i.checksum_mode.as_ref(),
        }
    };
}

/// The headers GET and HEAD both answer with, as either output type.
macro_rules! object_output {
    ($ty:ident, $plan:expr, $part_number:expr) => {{
        let p = &$plan;
        let (v, a) = (&p.version, &p.version.attrs);
        with_checksums!(
            $ty {
                accept_ranges: Some("bytes".into()),
                content_length: Some(length(&p.span)),
                content_range: content_range(p),
                e_tag: Some(etag(&v.etag)),
                last_modified: Some(timestamp(v.modified_ms)),
                parts_count: $part_number.and(v.parts_count).and_then(|n| i32::try_from(n).ok()),
                metadata: Some(a.user.clone().into_iter().collect()),
                content_type: a.content_type.clone(),
                content_encoding: a.content_encoding.clone(),
                content_disposition: a.content_disposition.clone(),
                content_language: a.content_language.clone(),
                cache_control: a.cache_control.clone(),
                expires: expires(v),
            },
            p.checksums.clone()
        )
    }};
}

fn status(plan: &Plan) -> StatusCode {
    if plan.partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    }
}

pub async fn get_object(gw: &Gateway, req: S3Request<GetObjectInput>) -> Result<S3Response<GetObjectOutput>> {
    access::bucket(&req)?;
    let i = &req.input;
    let overriding = [
        &i.response_content_type,
        &i.response_content_encoding,
        &i.response_content_disposition,
        &i.response_content_language,
        &i.response_cache_control,
    ]
    .iter()
    .any(|v| v.is_some())
        || i.response_expires.is_some();
    // As S3: anonymous requests may not rewrite response headers (a public object must not
    // become, say, text/html at a requester's wish).
    if overriding && access::authorized(&req)?.caller.is_none() {
        return Err(s3_error!(
            InvalidRequest,
            "Request specific response headers cannot be used for anonymous GET requests."
        )
        .into());
    }
    let plan = plan(gw, &read_of!(i)).await?;
    let body = gw.read(&plan.version.pieces, plan.span.clone()).await?;
    let body = futures::TryStreamExt::map_err(body, std::io::Error::other);
    let mut out = object_output!(GetObjectOutput, plan, i.part_number);
    out.body = Some(StreamingBlob::wrap(body));
    let tags = plan.version.attrs.tags.len();
    out.tag_count = (tags > 0).then(|| i32::try_from(tags).unwrap_or(i32::MAX));
    // response-* query parameters override what was stored.
    let overrides = [
        (&mut out.content_type, &i.response_content_type),
        (&mut out.content_encoding, &i.response_content_encoding),
        (&mut out.content_disposition, &i.response_content_disposition),
        (&mut out.content_language, &i.response_content_language),
        (&mut out.cache_control, &i.response_cache_control),
    ];
    for (field, value) in overrides {
        if value.is_some() {
            field.clone_from(value);
        }
    }
    if i.response_expires.is_some() {
        out.expires.clone_from(&i.response_expires);
    }
    Ok(S3Response::with_status(out, status(&plan)))
}

pub async fn head_object(gw: &Gateway, req: S3Request<HeadObjectInput>) -> Result<S3Response<HeadObjectOutput>> {
    access::bucket(&req)?;
    let i = &req.input;
    let plan = plan(gw, &read_of!(i)).await?;
    let out = object_output!(HeadObjectOutput, plan, i.part_number);
    Ok(S3Response::with_status(out, status(&plan)))
}
