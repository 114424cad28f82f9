//! ListObjects (v1), ListObjectsV2 and ListObjectVersions, served from the metadata store's
//! indexes.

use std::collections::HashMap;

use base64::Engine as _;
use osg_meta::{ListEntry, ListPage, VersionEntry};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::*;
use s3s::{S3Request, S3Response, s3_error};

use super::{access, etag, owner_of, timestamp};
use crate::Gateway;
use crate::error::Result;

/// Most keys one page returns, as in S3.
const MAX_KEYS: i32 = 1000;

/// What `encoding-type=url` leaves alone (as S3 does, `/` stays readable).
const URL_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

struct Encoder(bool);

impl Encoder {
    fn new(encoding: Option<&EncodingType>) -> Result<Self> {
        match encoding.map(EncodingType::as_str) {
            None => Ok(Self(false)),
            Some(EncodingType::URL) => Ok(Self(true)),
            Some(other) => {
                Err(s3_error!(InvalidArgument, "Invalid Encoding Method specified in Request: {other}").into())
            }
        }
    }

    fn apply(&self, s: &str) -> String {
        if self.0 {
            utf8_percent_encode(s, URL_SAFE).to_string()
        } else {
            s.to_owned()
        }
    }
}

fn max_keys(requested: Option<i32>) -> Result<usize> {
    match requested {
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys must not be negative.").into()),
        Some(n) => Ok(usize::try_from(n.min(MAX_KEYS)).unwrap_or(0)),
        None => Ok(1000),
    }
}

/// Turns a page into S3's Contents and CommonPrefixes, with owners when asked for.
async fn contents(
    gw: &Gateway,
    page: &ListPage,
    enc: &Encoder,
    with_owner: bool,
) -> Result<(Vec<Object>, Vec<CommonPrefix>)> {
    let mut owners = HashMap::new();
    let mut objects = Vec::new();
    let mut prefixes = Vec::new();
    for entry in &page.entries {
        match entry {
            ListEntry::Prefix(p) => prefixes.push(CommonPrefix {
                prefix: Some(enc.apply(p)),
            }),
            ListEntry::Object(v) => {
                let owner = if with_owner {
                    if !owners.contains_key(&v.owner) {
                        let account = gw.meta.account(&v.owner).await?;
                        owners.insert(v.owner.clone(), account.as_ref().map(owner_of));
                    }
                    owners[&v.owner].clone()
                } else {
                    None
                };
                objects.push(Object {
                    key: Some(enc.apply(&v.key)),
                    size: Some(i64::try_from(v.size).unwrap_or(i64::MAX)),
                    e_tag: Some(etag(&v.etag)),
                    last_modified: Some(timestamp(v.modified_ms)),
                    storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
                    owner,
                    ..Default::default()
                });
            }
        }
    }
    Ok((objects, prefixes))
}

pub async fn list_objects(gw: &Gateway, req: S3Request<ListObjectsInput>) -> Result<S3Response<ListObjectsOutput>> {
    access::bucket(&req)?;
    let i = &req.input;
    let enc = Encoder::new(i.encoding_type.as_ref())?;
    let max = max_keys(i.max_keys)?;
    let prefix = i.prefix.as_deref().unwrap_or("");
    let marker = i.marker.as_deref().unwrap_or("");
    let page = gw
        .meta
        .list_objects(&i.bucket, prefix, i.delimiter.as_deref(), marker, max)
        .await?;
    let (objects, prefixes) = contents(gw, &page, &enc, true).await?;
    // S3 gives NextMarker only with a delimiter; without one clients use the last key.
    let next_marker = (page.truncated && i.delimiter.is_some())
        .then(|| page.entries.last().map(|e| enc.apply(e.marker())))
        .flatten();
    Ok(S3Response::new(ListObjectsOutput {
        name: Some(i.bucket.clone()),
        prefix: Some(enc.apply(prefix)),
        marker: Some(enc.apply(marker)),
        delimiter: i.delimiter.as_deref().map(|d| enc.apply(d)),
        max_keys: Some(i32::try_from(max).unwrap_or(MAX_KEYS)),
        is_truncated: Some(page.truncated),
        next_marker,
        contents: Some(objects),
        common_prefixes: Some(prefixes),
        encoding_type: i.encoding_type.clone(),
        ..Default::default()
    }))
}

/// Continuation tokens are opaque to clients: the base64 of the key or prefix to resume after.
fn decode_token(token: &str) -> Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token provided is incorrect").into())
}

fn encode_token(after: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(after)
}

pub async fn list_objects_v2(
    gw: &Gateway,
    req: S3Request<ListObjectsV2Input>,
) -> Result<S3Response<ListObjectsV2Output>> {
    access::bucket(&req)?;
    let i = &req.input;
    let enc = Encoder::new(i.encoding_type.as_ref())?;
    let max = max_keys(i.max_keys)?;
    let prefix = i.prefix.as_deref().unwrap_or("");
    let after = match &i.continuation_token {
        Some(token) => decode_token(token)?,
        None => i.start_after.clone().unwrap_or_default(),
    };
    let page = gw
        .meta
        .list_objects(&i.bucket, prefix, i.delimiter.as_deref(), &after, max)
        .await?;
    let (objects, prefixes) = contents(gw, &page, &enc, i.fetch_owner.unwrap_or(false)).await?;
    let next = page
        .truncated
        .then(|| page.entries.last().map(|e| encode_token(e.marker())))
        .flatten();
    Ok(S3Response::new(ListObjectsV2Output {
        name: Some(i.bucket.clone()),
        prefix: Some(enc.apply(prefix)),
        delimiter: i.delimiter.as_deref().map(|d| enc.apply(d)),
        max_keys: Some(i32::try_from(max).unwrap_or(MAX_KEYS)),
        key_count: Some(i32::try_from(page.entries.len()).unwrap_or(MAX_KEYS)),
        is_truncated: Some(page.truncated),
        continuation_token: i.continuation_token.clone(),
        next_continuation_token: next,
        start_after: i.start_after.as_deref().map(|s| enc.apply(s)),
        contents: Some(objects),
        common_prefixes: Some(prefixes),
        encoding_type: i.encoding_type.clone(),
        ..Default::default()
    }))
}

/// The owner S3 shows, looked up once per account a page names.
async fn owner_cached(gw: &Gateway, owners: &mut HashMap<String, Option<Owner>>, id: &str) -> Result<Option<Owner>> {
    if !owners.contains_key(id) {
        let account = gw.meta.account(id).await?;
        owners.insert(id.to_owned(), account.as_ref().map(owner_of));
    }
    Ok(owners[id].clone())
}

/// ListObjectVersions: every version and delete marker, by key, newest first within a key.
pub async fn list_object_versions(
    gw: &Gateway,
    req: S3Request<ListObjectVersionsInput>,
) -> Result<S3Response<ListObjectVersionsOutput>> {
    access::bucket(&req)?;
    let i = &req.input;
    let enc = Encoder::new(i.encoding_type.as_ref())?;
    let max = max_keys(i.max_keys)?;
    let prefix = i.prefix.as_deref().unwrap_or("");
    let key_marker = i.key_marker.as_deref().unwrap_or("");
    let version_marker = i.version_id_marker.as_deref().filter(|v| !v.is_empty());
    if let Some(v) = version_marker {
        // As S3: a version marker needs a key marker, and must be a version id.
        if key_marker.is_empty() {
            return Err(s3_error!(
                InvalidArgument,
                "A version-id marker cannot be specified without a key marker."
            )
            .into());
        }
        if !osg_model::is_version_id(v) {
            return Err(s3_error!(InvalidArgument, "Invalid version id specified").into());
        }
    }
    let page = gw
        .meta
        .list_versions(
            &i.bucket,
            prefix,
            i.delimiter.as_deref(),
            key_marker,
            version_marker,
            max,
        )
        .await?;
    let mut owners = HashMap::new();
    let (mut versions, mut markers, mut prefixes) = (Vec::new(), Vec::new(), Vec::new());
    for entry in &page.entries {
        match entry {
            VersionEntry::Prefix(p) => prefixes.push(CommonPrefix {
                prefix: Some(enc.apply(p)),
            }),
            VersionEntry::Version(v) if v.delete_marker => markers.push(DeleteMarkerEntry {
                key: Some(enc.apply(&v.key)),
                version_id: Some(v.version_id.clone()),
                is_latest: Some(v.latest),
                last_modified: Some(timestamp(v.modified_ms)),
                owner: owner_cached(gw, &mut owners, &v.owner).await?,
            }),
            VersionEntry::Version(v) => versions.push(ObjectVersion {
                key: Some(enc.apply(&v.key)),
                version_id: Some(v.version_id.clone()),
                is_latest: Some(v.latest),
                last_modified: Some(timestamp(v.modified_ms)),
                e_tag: Some(etag(&v.etag)),
                size: Some(i64::try_from(v.size).unwrap_or(i64::MAX)),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                owner: owner_cached(gw, &mut owners, &v.owner).await?,
                ..Default::default()
            }),
        }
    }
    let (next_key, next_version) = match page.entries.last().filter(|_| page.truncated) {
        Some(VersionEntry::Version(v)) => (Some(enc.apply(&v.key)), Some(v.version_id.clone())),
        Some(VersionEntry::Prefix(p)) => (Some(enc.apply(p)), None),
        None => (None, None),
    };
    Ok(S3Response::new(ListObjectVersionsOutput {
        name: Some(i.bucket.clone()),
        prefix: Some(enc.apply(prefix)),
        key_marker: Some(enc.apply(key_marker)),
        version_id_marker: Some(version_marker.unwrap_or_default().to_owned()),
        delimiter: i.delimiter.as_deref().map(|d| enc.apply(d)),
        max_keys: Some(i32::try_from(max).unwrap_or(MAX_KEYS)),
        is_truncated: Some(page.truncated),
        next_key_marker: next_key,
        next_version_id_marker: next_version,
        versions: Some(versions),
        delete_markers: Some(markers),
        common_prefixes: Some(prefixes),
        encoding_type: i.encoding_type.clone(),
        ..Default::default()
    }))
}
