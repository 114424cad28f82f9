//! GetObject and HeadObject: conditional requests, ranges, `partNumber`, response overrides.

use std::ops::Range as Span;

use http::StatusCode;
use osg_meta::Version;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, s3_error};

use super::checksum::{self, with_checksums};
use super::{access, etag, sse, timestamp};
use crate::Gateway;
use crate::error::{Result, custom};

/// The request fields GET and HEAD share.
struct Read<'a> {
    bucket: &'a str,
    key: &'a str,
    version_id: Option<&'a str>,
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

/// `304 Not Modified`, with the validators a `200` would carry (RFC 9110 15.4.5): caches
/// and clients compare them.
fn not_modified(v: &Version) -> S3Error {
    let mut e = S3Error::new(S3ErrorCode::NotModified);
    e.set_status_code(StatusCode::NOT_MODIFIED);
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_str(&format!("\"{}\"", v.etag)) {
        headers.insert(http::header::ETAG, value);
    }
    if let Some(date) = http_date(v.modified_ms) {
        headers.insert(http::header::LAST_MODIFIED, date);
    }
    e.set_headers(headers);
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
        Some(cond) if etag_matches(cond, v) => return Err(not_modified(v).into()),
        None if r.if_modified_since.is_some_and(|t| modified_secs(v) <= secs(t)) => {
            return Err(not_modified(v).into());
        }
        _ => {}
    }
    Ok(())
}

/// The version a read names (`None`: the current object), which must not be a delete marker.
pub(super) async fn readable(gw: &Gateway, bucket: &str, key: &str, version_id: Option<&str>) -> Result<Version> {
    let version = gw.meta.object_version(bucket, key, version_id).await?;
    if version.delete_marker {
        return Err(delete_marker(&version, version_id.is_some()).into());
    }
    Ok(version)
}

/// What a read of a delete marker answers, as S3 does: `405 MethodNotAllowed` when it was
/// named by its version id, else `404 NoSuchKey`; with `x-amz-delete-marker`,
/// `x-amz-version-id` and `Last-Modified`.
fn delete_marker(marker: &Version, named: bool) -> S3Error {
    let mut e = if named {
        s3_error!(
            MethodNotAllowed,
            "The specified method is not allowed against this resource."
        )
    } else {
        s3_error!(NoSuchKey)
    };
    let mut headers = http::HeaderMap::new();
    headers.insert("x-amz-delete-marker", http::HeaderValue::from_static("true"));
    if let Some(id) = marker.shown_id().and_then(|id| http::HeaderValue::from_str(&id).ok()) {
        headers.insert("x-amz-version-id", id);
    }
    if let Some(date) = http_date(marker.modified_ms) {
        headers.insert(http::header::LAST_MODIFIED, date);
    }
    e.set_headers(headers);
    e
}

fn http_date(ms: i64) -> Option<http::HeaderValue> {
    let mut date = Vec::new();
    timestamp(ms).format(TimestampFormat::HttpDate, &mut date).ok()?;
    http::HeaderValue::from_bytes(&date).ok()
}

async fn plan(gw: &Gateway, r: &Read<'_>) -> Result<Plan> {
    let version = readable(gw, r.bucket, r.key, r.version_id).await?;
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
    let wants_checksums = r.checksum_mode.is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
    let checksums = if wants_checksums {
        checksums_of(&version, &span, r.part_number)
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

/// The checksums a GET or HEAD of `span` returns: the object's for all of it (its type: FULL_OBJECT
/// for a plain object), a part's for a part of a multipart object, none for other ranges.
fn checksums_of(v: &Version, span: &Span<u64>, part_number: Option<i32>) -> Checksum {
    let part = part_number
        .filter(|_| v.parts_count.is_some())
        .and_then(|n| usize::try_from(n).ok()?.checked_sub(1))
        .and_then(|n| v.pieces.get(n));
    let (sums, kind) = match part {
        Some(piece) => (&piece.checksums, None),
        None if *span == (0..v.size) => {
            let kind = v
                .attrs
                .multipart_checksum
                .as_ref()
                .map_or(osg_meta::ChecksumType::FullObject, |c| c.kind);
            (&v.attrs.checksums, Some(kind))
        }
        None => return Checksum::default(),
    };
    let mut dto = checksum::to_dto(sums);
    if !sums.is_empty() {
        dto.checksum_type = kind.map(|k| ChecksumType::from(k.as_str().to_owned()));
    }
    dto
}

/// The bytes of part `n` of a multipart object; part 1 of a plain object is all of it. A part
/// the object does not have is `400 InvalidPartNumber`, as S3 answers.
fn part_span(v: &Version, n: i32) -> Result<Span<u64>> {
    let invalid = || {
        custom(
            "InvalidPartNumber",
            StatusCode::BAD_REQUEST,
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
            version_id: $i.version_id.as_deref(),
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
        let (lock_mode, retain_until, legal_hold) = super::lock::shown(&a.lock);
        let out = with_checksums!(
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
                checksum_type: p.checksums.checksum_type.clone(),
                version_id: v.shown_id(),
                object_lock_mode: lock_mode,
                object_lock_retain_until_date: retain_until,
                object_lock_legal_hold_status: legal_hold,
            },
            p.checksums.clone()
        );
        sse::with_encryption!(out, sse::shown(a.encryption.as_ref()))
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
    let bucket = access::bucket(&req)?;
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
    let customer = sse::customer_headers!(i).key(gw, &req.extensions).await?;
    let key = sse::for_read(gw, plan.version.attrs.encryption.as_ref(), customer.as_ref())?;
    let body = gw.read(&plan.version.pieces, plan.span.clone(), key).await?;
    let body = futures::TryStreamExt::map_err(body, std::io::Error::other);
    let mut out = object_output!(GetObjectOutput, plan, i.part_number);
    out.expiration = super::lifecycle::expiration(gw, &bucket, &plan.version).await;
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
    let bucket = access::bucket(&req)?;
    let i = &req.input;
    let plan = plan(gw, &read_of!(i)).await?;
    let customer = sse::customer_headers!(i).key(gw, &req.extensions).await?;
    sse::for_read(gw, plan.version.attrs.encryption.as_ref(), customer.as_ref())?;
    let mut out = object_output!(HeadObjectOutput, plan, i.part_number);
    out.expiration = super::lifecycle::expiration(gw, &bucket, &plan.version).await;
    Ok(S3Response::with_status(out, status(&plan)))
}

/// Most parts one GetObjectAttributes answer lists.
const MAX_ATTRIBUTE_PARTS: usize = 1000;

/// GetObjectAttributes: what HEAD tells, and a multipart object's parts, without the bytes.
/// As S3, it needs `s3:GetObject` besides `s3:GetObjectAttributes` (checked by the access
/// check); for a version, `s3:GetObjectVersion` and `s3:GetObjectVersionAttributes`.
pub async fn get_object_attributes(
    gw: &Gateway,
    req: S3Request<GetObjectAttributesInput>,
) -> Result<S3Response<GetObjectAttributesOutput>> {
    let bucket = access::bucket(&req)?;
    let auth = access::authorized(&req)?;
    let i = &req.input;
    let resource = crate::authz::resource_arn(Some(&i.bucket), Some(&i.key));
    let target = crate::authz::Target::new(Some(&bucket), Some(&i.key), &resource).version(i.version_id.as_deref());
    let action = if i.version_id.is_some() {
        "s3:GetObjectVersion"
    } else {
        "s3:GetObject"
    };
    crate::authz::authorize(&gw.dir, auth.caller.as_ref(), action, &target, &auth.context).await?;
    let mut wanted = [false; 5];
    // One header, comma-separated (botocore adds spaces), or several.
    let names = i.object_attributes.iter().flat_map(|a| a.as_str().split(','));
    for name in names {
        let n = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
            .iter()
            .position(|a| *a == name.trim())
            .ok_or_else(|| s3_error!(InvalidArgument, "Invalid attribute name specified."))?;
        wanted[n] = true;
    }
    if !wanted.contains(&true) {
        return Err(s3_error!(InvalidArgument, "Invalid attribute name specified.").into());
    }
    let [etag_wanted, checksum_wanted, parts_wanted, class_wanted, size_wanted] = wanted;
    let v = readable(gw, &i.bucket, &i.key, i.version_id.as_deref()).await?;
    let customer = sse::customer_headers!(i).key(gw, &req.extensions).await?;
    sse::for_read(gw, v.attrs.encryption.as_ref(), customer.as_ref())?;
    let checksum = checksums_of(&v, &(0..v.size), None);
    let has_checksum = checksum != Checksum::default();
    let parts = (parts_wanted && v.parts_count.is_some()).then(|| object_parts(&v, i.part_number_marker, i.max_parts));
    Ok(S3Response::new(GetObjectAttributesOutput {
        e_tag: etag_wanted.then(|| ETag::Strong(v.etag.clone())),
        checksum: (checksum_wanted && has_checksum).then_some(checksum),
        object_parts: parts,
        storage_class: class_wanted.then(|| StorageClass::from_static(StorageClass::STANDARD)),
        object_size: size_wanted.then(|| i64::try_from(v.size).unwrap_or(i64::MAX)),
        last_modified: Some(timestamp(v.modified_ms)),
        version_id: v.shown_id(),
        ..Default::default()
    }))
}

/// A page of a multipart object's parts (number, size, checksums), after part `marker`.
fn object_parts(v: &Version, marker: Option<i32>, max: Option<i32>) -> GetObjectAttributesParts {
    let max = max.map_or(MAX_ATTRIBUTE_PARTS, |m| {
        usize::try_from(m).unwrap_or(0).min(MAX_ATTRIBUTE_PARTS)
    });
    let after = u32::try_from(marker.unwrap_or(0)).unwrap_or(0);
    // Objects completed before parts kept their numbers count them in order.
    let numbered = v.pieces.iter().zip(1..).map(|(p, seq)| (p.part.unwrap_or(seq), p));
    let mut page: Vec<_> = numbered.filter(|(n, _)| *n > after).take(max + 1).collect();
    let truncated = page.len() > max;
    page.truncate(max);
    let number = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    GetObjectAttributesParts {
        total_parts_count: v.parts_count.map(number),
        part_number_marker: marker,
        next_part_number_marker: page.last().map(|(n, _)| number(*n)),
        max_parts: Some(number(u32::try_from(max).unwrap_or(u32::MAX))),
        is_truncated: Some(truncated),
        parts: Some(
            page.iter()
                .map(|(n, p)| {
                    with_checksums!(
                        ObjectPart {
                            part_number: Some(number(*n)),
                            size: i64::try_from(p.size).ok(),
                        },
                        checksum::to_dto(&p.checksums)
                    )
                })
                .collect(),
        ),
    }
}
