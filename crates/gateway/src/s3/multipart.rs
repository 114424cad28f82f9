//! Multipart uploads. Each part is its own blob; completing writes a version that lists the
//! part blobs in order, so no byte is copied.

use std::collections::BTreeMap;

use osg_meta::{Completion, PartChoice, Upload};
use s3s::dto::*;
use s3s::{S3Request, S3Response, s3_error};

use super::acl::{self, grant_headers};
use super::checksum::{self, Wanted, stated, with_checksums};
use super::stream::Expected;
use super::{access, attrs_from, etag, multipart_checksum, sse, tagging, timestamp, write_condition};
use crate::Gateway;
use crate::error::Result;

/// Smallest part other than the last, as in S3.
const MIN_PART_SIZE: u64 = 5 << 20;
/// Part numbers run from 1 to this.
const MAX_PART_NUMBER: i32 = 10_000;
/// Most parts or uploads one listing page returns.
const MAX_PAGE: i32 = 1000;

pub fn part_number(n: i32) -> Result<u32> {
    if (1..=MAX_PART_NUMBER).contains(&n) {
        Ok(n.unsigned_abs())
    } else {
        Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        )
        .into())
    }
}

fn page_size(requested: Option<i32>) -> usize {
    usize::try_from(requested.unwrap_or(MAX_PAGE).clamp(0, MAX_PAGE)).unwrap_or(0)
}

/// The upload `upload_id`, if it is for this bucket and key.
async fn upload_of(gw: &Gateway, bucket: &str, key: &str, upload_id: &str) -> Result<Upload> {
    let upload = gw.meta.upload(bucket, upload_id).await?;
    if upload.bucket != bucket || upload.key != key {
        return Err(s3_error!(NoSuchUpload).into());
    }
    Ok(upload)
}

/// The encryption of an upload's parts, and the key to encrypt them with: the upload's, opened
/// with the request's customer key for SSE-C (which every part must send, as in S3).
pub fn upload_encryption(
    gw: &Gateway,
    upload: &Upload,
    customer: Option<&sse::CustomerKey>,
) -> Result<Option<(osg_model::Encryption, std::sync::Arc<crate::encryption::DataKey>)>> {
    let key = sse::for_read(gw, upload.attrs.encryption.as_ref(), customer)?;
    Ok(upload.attrs.encryption.clone().zip(key))
}

/// Whether an answer may show the checksums (of plaintext) of an upload or object encrypted as
/// `encryption`, with a multipart checksum or not: for SSE-C only to a request with the right
/// key, which S3 requires when there is a checksum to show; without one, the answer leaves part
/// checksums out.
fn checksums_shown(
    gw: &Gateway,
    encryption: Option<&osg_model::Encryption>,
    multipart_checksum: bool,
    customer: Option<&sse::CustomerKey>,
) -> Result<bool> {
    let needs_key = encryption.is_some_and(|e| e.mode == osg_model::SseMode::Customer);
    if needs_key && customer.is_none() {
        return if multipart_checksum {
            Err(s3_error!(
                InvalidRequest,
                "The multipart upload initiate requested encryption. Subsequent part requests must include the \
                 appropriate encryption parameters."
            )
            .into())
        } else {
            Ok(false)
        };
    }
    sse::for_read(gw, encryption, customer)?;
    Ok(true)
}

/// The checksum an upload was created with, as S3 shows it.
fn checksum_choice(upload: &Upload) -> (Option<ChecksumAlgorithm>, Option<ChecksumType>) {
    let choice = upload.attrs.multipart_checksum.as_ref();
    (
        choice.map(|c| ChecksumAlgorithm::from(c.algorithm.clone())),
        choice.map(|c| ChecksumType::from(c.kind.as_str().to_owned())),
    )
}

pub async fn create_multipart_upload(
    gw: &Gateway,
    req: S3Request<CreateMultipartUploadInput>,
) -> Result<S3Response<CreateMultipartUploadOutput>> {
    let bucket = access::bucket(&req)?;
    let writer = access::authorized(&req)?.caller.as_ref().map(|c| c.account.clone());
    let customer = sse::customer_headers!(req.input).key(gw, &req.extensions).await?;
    let encryption = sse::for_write(
        gw,
        &bucket,
        req.input.server_side_encryption.as_ref(),
        customer.as_ref(),
    )?;
    let i = req.input;
    let canned = i.acl.as_ref().map(ObjectCannedACL::as_str);
    let (owner, acl) = acl::new_object_acl(gw, &bucket, writer.as_ref(), canned, &grant_headers!(i)).await?;
    let mut attrs = attrs_from(
        i.content_type,
        i.content_encoding,
        i.content_disposition,
        i.content_language,
        i.cache_control,
        i.expires.as_ref(),
        i.metadata,
    );
    attrs.acl = acl;
    attrs.tags = tagging::from_header(i.tagging.as_deref())?;
    attrs.lock = super::lock::requested(
        i.object_lock_mode.as_ref(),
        i.object_lock_retain_until_date.as_ref(),
        i.object_lock_legal_hold_status.as_ref(),
    )?;
    attrs.multipart_checksum = multipart_checksum::chosen(i.checksum_algorithm.as_ref(), i.checksum_type.as_ref())?;
    attrs.encryption = encryption.map(|(e, _)| e);
    let upload = gw.meta.create_upload(&i.bucket, &i.key, &attrs, &owner).await?;
    let (algorithm, kind) = checksum_choice(&upload);
    let (abort_date, abort_rule_id) = super::lifecycle::abort_date(gw, &bucket, &upload).await;
    let shown = sse::shown(upload.attrs.encryption.as_ref());
    let out = CreateMultipartUploadOutput {
        bucket: Some(i.bucket),
        key: Some(i.key),
        upload_id: Some(upload.upload_id),
        checksum_algorithm: algorithm,
        checksum_type: kind,
        abort_date,
        abort_rule_id,
        ..Default::default()
    };
    Ok(S3Response::new(sse::with_encryption!(out, shown)))
}

pub async fn upload_part(gw: &Gateway, req: S3Request<UploadPartInput>) -> Result<S3Response<UploadPartOutput>> {
    let bucket = access::bucket(&req)?;
    let i = req.input;
    let number = part_number(i.part_number)?;
    let upload = upload_of(gw, &i.bucket, &i.key, &i.upload_id).await?;
    let customer = sse::customer_headers!(i).key(gw, &req.extensions).await?;
    let encryption = upload_encryption(gw, &upload, customer.as_ref())?;
    let stated = stated!(i);
    let wanted = Wanted::new(&stated, i.checksum_algorithm.as_ref(), &req.headers)?;
    let wanted = multipart_checksum::for_part(wanted, upload.attrs.multipart_checksum.as_ref())?;
    let expected = Expected::new(i.content_length, i.content_md5.as_deref(), wanted)?;
    super::quota::admit(gw, &bucket, 0, expected.length.at_most()).await?;
    let body = match i.body {
        Some(body) => Box::pin(body),
        None => Box::pin(futures::stream::empty()) as osg_provider::ByteStream,
    };
    let key = encryption.as_ref().map(|(_, k)| &**k);
    let mut stored = gw.store(&bucket, body, expected, req.trailing_headers, key).await?;
    stored.md5 = sse::etag(stored.md5, encryption.as_ref());
    gw.commit_stored_part(&upload, number, &stored).await?;
    let out = with_checksums!(
        UploadPartOutput {
            e_tag: Some(etag(&stored.md5))
        },
        checksum::to_dto(&stored.checksums)
    );
    Ok(S3Response::new(sse::with_encryption!(
        out,
        sse::shown(upload.attrs.encryption.as_ref())
    )))
}

pub async fn complete_multipart_upload(
    gw: &Gateway,
    req: S3Request<CompleteMultipartUploadInput>,
) -> Result<S3Response<CompleteMultipartUploadOutput>> {
    let bucket = access::bucket(&req)?;
    let i = &req.input;
    let condition = write_condition(i.if_match.as_ref(), i.if_none_match.as_ref())?;
    let customer = sse::customer_headers!(i).key(gw, &req.extensions).await?;
    // The key is checked before completing; a completion retried after the upload completed
    // is checked against its object below.
    let in_progress = match gw.meta.upload(&i.bucket, &i.upload_id).await {
        Ok(upload) => {
            let a = &upload.attrs;
            checksums_shown(
                gw,
                a.encryption.as_ref(),
                a.multipart_checksum.is_some(),
                customer.as_ref(),
            )?;
            true
        }
        Err(osg_meta::Error::NoSuchUpload) => false,
        Err(e) => return Err(e.into()),
    };
    let parts = i
        .multipart_upload
        .as_ref()
        .and_then(|m| m.parts.as_ref())
        .filter(|p| !p.is_empty());
    let Some(parts) = parts else {
        return Err(s3_error!(MalformedXML, "You must specify at least one part.").into());
    };
    let mut chosen = Vec::with_capacity(parts.len());
    let mut listed = Vec::with_capacity(parts.len());
    for part in parts {
        let (Some(number), Some(tag)) = (part.part_number, part.e_tag.as_ref()) else {
            return Err(s3_error!(MalformedXML, "Each part needs a PartNumber and an ETag.").into());
        };
        let number = part_number(number)?;
        chosen.push(PartChoice {
            number,
            etag: tag.value().to_owned(),
        });
        let part = part.clone();
        listed.push((number, checksum::to_map(&stated!(part))));
    }
    let checksums = object_checksums(gw, i, &chosen, &listed).await?;
    let completion = Completion {
        bucket: &i.bucket,
        key: &i.key,
        upload_id: &i.upload_id,
        parts: &chosen,
        condition: &condition,
        checksums: &checksums,
    };
    // The parts' bytes count already, as the upload's; completing it adds an object. A
    // completion retried after the upload completed adds nothing.
    if in_progress {
        super::quota::admit(gw, &bucket, 1, 0).await?;
    }
    let version = gw.meta.complete_upload(completion, MIN_PART_SIZE).await?;
    let a = &version.attrs;
    let shown = checksums_shown(
        gw,
        a.encryption.as_ref(),
        a.multipart_checksum.is_some(),
        customer.as_ref(),
    )?;
    let kind = version.attrs.multipart_checksum.as_ref();
    Ok(S3Response::new(with_checksums!(
        CompleteMultipartUploadOutput {
            bucket: Some(version.bucket.clone()),
            key: Some(version.key.clone()),
            e_tag: Some(etag(&version.etag)),
            location: Some(format!("/{}/{}", version.bucket, version.key)),
            checksum_type: kind.map(|c| ChecksumType::from(c.kind.as_str().to_owned())),
            version_id: version.shown_id(),
            expiration: super::lifecycle::expiration(gw, &bucket, &version).await,
            server_side_encryption: sse::shown(version.attrs.encryption.as_ref()).server_side_encryption,
        },
        if shown {
            checksum::to_dto(&version.attrs.checksums)
        } else {
            Checksum::default()
        }
    )))
}

/// The object's checksum, made from its parts' if its upload was created with one, once the
/// checksums the request states (of parts, of the whole object, its checksum type) are found
/// to match. An upload that is gone, or parts that are not the upload's, are left to the
/// store to judge (a retried completion; `InvalidPart`).
async fn object_checksums(
    gw: &Gateway,
    i: &CompleteMultipartUploadInput,
    chosen: &[PartChoice],
    listed: &[(u32, BTreeMap<&'static str, String>)],
) -> Result<BTreeMap<String, String>> {
    let upload = match gw.meta.upload(&i.bucket, &i.upload_id).await {
        Ok(upload) if upload.key == i.key => upload,
        Ok(_) | Err(osg_meta::Error::NoSuchUpload) => return Ok(BTreeMap::new()),
        Err(e) => return Err(e.into()),
    };
    let max = usize::try_from(MAX_PART_NUMBER).unwrap_or(usize::MAX);
    let (stored, _) = gw.meta.parts(&upload.bucket, &upload.upload_id, 0, max).await?;
    let found: Option<Vec<&osg_meta::Part>> = chosen
        .iter()
        .map(|c| stored.iter().find(|p| p.number == c.number && p.etag == c.etag))
        .collect();
    let Some(found) = found else {
        return Ok(BTreeMap::new());
    };
    let choice = upload.attrs.multipart_checksum.as_ref();
    if let Some(kind) = &i.checksum_type
        && choice.is_none_or(|c| !c.kind.as_str().eq_ignore_ascii_case(kind.as_str()))
    {
        return Err(s3_error!(
            BadDigest,
            "The upload was created with the {} checksum type, not {}.",
            choice.map_or("no", |c| c.kind.as_str()),
            kind.as_str()
        )
        .into());
    }
    let whole = choice.map(|c| multipart_checksum::of_parts(c, &found)).transpose()?;
    let stated_whole = checksum::to_map(&Checksum {
        checksum_crc32: i.checksum_crc32.clone(),
        checksum_crc32c: i.checksum_crc32c.clone(),
        checksum_crc64nvme: i.checksum_crc64nvme.clone(),
        checksum_sha1: i.checksum_sha1.clone(),
        checksum_sha256: i.checksum_sha256.clone(),
        checksum_type: None,
    });
    multipart_checksum::check_stated(listed, &found, whole.as_ref(), &stated_whole)?;
    Ok(whole.into_iter().collect())
}

pub async fn abort_multipart_upload(
    gw: &Gateway,
    req: S3Request<AbortMultipartUploadInput>,
) -> Result<S3Response<AbortMultipartUploadOutput>> {
    access::bucket(&req)?;
    let i = &req.input;
    let upload = upload_of(gw, &i.bucket, &i.key, &i.upload_id).await?;
    gw.meta.abort_upload(&upload.bucket, &upload.upload_id).await?;
    Ok(S3Response::with_status(
        AbortMultipartUploadOutput::default(),
        http::StatusCode::NO_CONTENT,
    ))
}

pub async fn list_parts(gw: &Gateway, req: S3Request<ListPartsInput>) -> Result<S3Response<ListPartsOutput>> {
    let bucket = access::bucket(&req)?;
    let i = &req.input;
    let upload = upload_of(gw, &i.bucket, &i.key, &i.upload_id).await?;
    let customer = sse::customer_headers!(i).key(gw, &req.extensions).await?;
    let attrs = &upload.attrs;
    let shown = checksums_shown(
        gw,
        attrs.encryption.as_ref(),
        attrs.multipart_checksum.is_some(),
        customer.as_ref(),
    )?;
    let after = u32::try_from(i.part_number_marker.unwrap_or(0).max(0)).unwrap_or(0);
    let max = page_size(i.max_parts);
    let (parts, truncated) = gw.meta.parts(&upload.bucket, &upload.upload_id, after, max).await?;
    let next = parts.last().map(|p| i32::try_from(p.number).unwrap_or(MAX_PART_NUMBER));
    let owner = gw.owner(&bucket).await?;
    let (algorithm, kind) = checksum_choice(&upload);
    Ok(S3Response::new(ListPartsOutput {
        checksum_algorithm: algorithm,
        checksum_type: kind,
        bucket: Some(upload.bucket.clone()),
        key: Some(upload.key.clone()),
        upload_id: Some(upload.upload_id.clone()),
        part_number_marker: i.part_number_marker,
        next_part_number_marker: next,
        max_parts: Some(i32::try_from(max).unwrap_or(MAX_PAGE)),
        is_truncated: Some(truncated),
        initiator: Some(Initiator {
            display_name: owner.display_name.clone(),
            id: owner.id.clone(),
        }),
        owner: Some(owner),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        parts: Some(
            parts
                .iter()
                .map(|p| {
                    with_checksums!(
                        Part {
                            part_number: i32::try_from(p.number).ok(),
                            e_tag: Some(etag(&p.etag)),
                            size: i64::try_from(p.size).ok(),
                            last_modified: Some(timestamp(p.modified_ms)),
                        },
                        if shown {
                            checksum::to_dto(&p.checksums)
                        } else {
                            Checksum::default()
                        }
                    )
                })
                .collect(),
        ),
        ..Default::default()
    }))
}

pub async fn list_multipart_uploads(
    gw: &Gateway,
    req: S3Request<ListMultipartUploadsInput>,
) -> Result<S3Response<ListMultipartUploadsOutput>> {
    let bucket = access::bucket(&req)?;
    let i = &req.input;
    let max = page_size(i.max_uploads);
    let prefix = i.prefix.as_deref().unwrap_or("");
    let key_marker = i.key_marker.as_deref().unwrap_or("");
    // Without a key marker the upload id marker is ignored, as in S3.
    let id_marker = if key_marker.is_empty() {
        ""
    } else {
        i.upload_id_marker.as_deref().unwrap_or("")
    };
    let page = gw
        .meta
        .list_uploads(&i.bucket, prefix, key_marker, id_marker, max)
        .await?;
    let last = page.uploads.last();
    let owner = gw.owner(&bucket).await?;
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(i.bucket.clone()),
        prefix: Some(prefix.to_owned()),
        key_marker: Some(key_marker.to_owned()),
        upload_id_marker: Some(id_marker.to_owned()),
        next_key_marker: last.map(|u| u.key.clone()),
        next_upload_id_marker: last.map(|u| u.upload_id.clone()),
        max_uploads: Some(i32::try_from(max).unwrap_or(MAX_PAGE)),
        is_truncated: Some(page.truncated),
        uploads: Some(
            page.uploads
                .iter()
                .map(|u| MultipartUpload {
                    key: Some(u.key.clone()),
                    upload_id: Some(u.upload_id.clone()),
                    initiated: Some(timestamp(u.initiated_ms)),
                    initiator: Some(Initiator {
                        display_name: owner.display_name.clone(),
                        id: owner.id.clone(),
                    }),
                    owner: Some(owner.clone()),
                    storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    }))
}
