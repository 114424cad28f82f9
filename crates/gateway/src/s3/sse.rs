//! Server-side encryption in S3's terms: the SSE-S3 and SSE-C headers of writes and reads,
//! the answers' encryption headers, and Put/Get/DeleteBucketEncryption. The keys and the
//! encrypted format are `crate::encryption`'s.

use std::sync::Arc;

use base64::Engine as _;
use md5::{Digest as _, Md5};
use osg_model::{DefaultEncryption, Encryption, SseMode};
use s3s::dto::*;
use s3s::{S3Request, S3Response, s3_error};
use zeroize::Zeroizing;

use super::access;
use crate::Gateway;
use crate::encryption::{DataKey, FORMAT};
use crate::error::Result;

/// A customer's key (SSE-C), checked against the MD5 the request states.
pub struct CustomerKey {
    key: Zeroizing<[u8; 32]>,
    /// Base64, as S3 answers with it.
    md5: String,
}

/// The SSE-C headers as s3s parses them (`x-amz-server-side-encryption-customer-*`, or the
/// copy source's).
pub struct CustomerHeaders<'a> {
    pub algorithm: Option<&'a str>,
    pub key: Option<&'a str>,
    pub md5: Option<&'a str>,
}

/// The SSE-C headers of an input, or of its copy source (`copy_source_` fields).
macro_rules! customer_headers {
    ($i:expr) => {
        $crate::s3::sse::CustomerHeaders {
            algorithm: $i.sse_customer_algorithm.as_deref(),
            key: $i.sse_customer_key.as_deref(),
            md5: $i.sse_customer_key_md5.as_deref(),
        }
    };
    ($i:expr, copy_source) => {
        $crate::s3::sse::CustomerHeaders {
            algorithm: $i.copy_source_sse_customer_algorithm.as_deref(),
            key: $i.copy_source_sse_customer_key.as_deref(),
            md5: $i.copy_source_sse_customer_key_md5.as_deref(),
        }
    };
}
pub(crate) use customer_headers;

impl CustomerHeaders<'_> {
    /// The key the headers give, checked as S3 checks it; `None` without SSE-C headers. Keys
    /// travel only over HTTPS (as in S3) unless `s3.sse-c.allow-http` allows plain HTTP (a
    /// gateway behind a proxy that ends TLS).
    pub async fn key(&self, gw: &Gateway, extensions: &http::Extensions) -> Result<Option<CustomerKey>> {
        if self.algorithm.is_none() && self.key.is_none() && self.md5.is_none() {
            return Ok(None);
        }
        let tls = extensions.get::<crate::authz::Connection>().is_some_and(|c| c.tls);
        let allow_http = &osg_model::properties::SSE_C_ALLOW_HTTP;
        if !tls && !allow_http.bool(gw.dir.property(allow_http.name).await?.as_deref()) {
            return Err(s3_error!(
                InvalidRequest,
                "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure \
                 connection."
            )
            .into());
        }
        if self.algorithm != Some("AES256") {
            return Err(crate::error::custom(
                "InvalidEncryptionAlgorithmError",
                http::StatusCode::BAD_REQUEST,
                "The Encryption request you specified is not valid. Supported value: AES256.",
            )
            .into());
        }
        let Some(key) = self.key else {
            return Err(s3_error!(
                InvalidArgument,
                "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate \
                 secret key."
            )
            .into());
        };
        let Some(md5) = self.md5 else {
            return Err(s3_error!(
                InvalidArgument,
                "Requests specifying Server Side Encryption with Customer provided keys must provide the client \
                 calculated MD5 of the secret key."
            )
            .into());
        };
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(key.trim())
                .unwrap_or_default(),
        );
        let key: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            s3_error!(
                InvalidArgument,
                "The secret key was invalid for the specified algorithm."
            )
        })?;
        let key = Zeroizing::new(key);
        let actual = base64::engine::general_purpose::STANDARD.encode(Md5::digest(key.as_ref()));
        if actual != md5.trim() {
            return Err(s3_error!(
                InvalidArgument,
                "The calculated MD5 hash of the key did not match the hash that was provided."
            )
            .into());
        }
        Ok(Some(CustomerKey { key, md5: actual }))
    }
}

/// A new object's encryption: as its request asks (SSE-S3 or SSE-C), else the bucket's
/// default, else none. Returns what the version keeps and the key to encrypt with.
pub fn for_write(
    gw: &Gateway,
    bucket: &osg_meta::Bucket,
    asked: Option<&ServerSideEncryption>,
    customer: Option<&CustomerKey>,
) -> Result<Option<(Encryption, Arc<DataKey>)>> {
    let s3 = match asked.map(ServerSideEncryption::as_str) {
        None => customer.is_none() && bucket.config.encryption == Some(DefaultEncryption::Aes256),
        Some(ServerSideEncryption::AES256) => true,
        // The access check refuses the others (SSE-KMS) before this.
        Some(other) => {
            return Err(s3_error!(NotImplemented, "Server-side encryption {other} is not implemented.").into());
        }
    };
    let key = DataKey::generate();
    let encryption = match (s3, customer) {
        (true, Some(_)) => {
            return Err(s3_error!(
                InvalidArgument,
                "Server Side Encryption with Customer provided key is incompatible with the encryption method \
                 specified"
            )
            .into());
        }
        (true, None) => Encryption {
            mode: SseMode::S3,
            format: FORMAT,
            sealed_key: key.seal_for_s3(gw.meta.sealer()),
            customer_key_md5: None,
        },
        (false, Some(c)) => Encryption {
            mode: SseMode::Customer,
            format: FORMAT,
            sealed_key: key.seal_for_customer(&c.key),
            customer_key_md5: Some(c.md5.clone()),
        },
        (false, None) => return Ok(None),
    };
    Ok(Some((encryption, Arc::new(key))))
}

/// The data key that opens bytes encrypted as `encryption` (none: plaintext), given the
/// request's customer key: SSE-C needs the right one, and others none.
pub fn for_read(
    gw: &Gateway,
    encryption: Option<&Encryption>,
    customer: Option<&CustomerKey>,
) -> Result<Option<Arc<DataKey>>> {
    let not_applicable = || {
        s3_error!(
            InvalidRequest,
            "The encryption parameters are not applicable to this object."
        )
    };
    let Some(e) = encryption else {
        return match customer {
            Some(_) => Err(not_applicable().into()),
            None => Ok(None),
        };
    };
    if e.format != FORMAT {
        return Err(s3_error!(
            InternalError,
            "The object's encryption format is not one this gateway reads."
        )
        .into());
    }
    let key = match (e.mode, customer) {
        (SseMode::S3, None) => DataKey::open_for_s3(gw.meta.sealer(), &e.sealed_key)?,
        (SseMode::S3, Some(_)) => return Err(not_applicable().into()),
        (SseMode::Customer, None) => {
            return Err(s3_error!(
                InvalidRequest,
                "The object was stored using a form of Server Side Encryption. The correct parameters must be \
                 provided to retrieve the object."
            )
            .into());
        }
        (SseMode::Customer, Some(c)) => {
            DataKey::open_for_customer(&c.key, &e.sealed_key).ok_or_else(|| s3_error!(AccessDenied))?
        }
    };
    Ok(Some(Arc::new(key)))
}

/// The ETag of an object of plaintext MD5 `md5`: the MD5 itself, but for SSE-C.
pub fn etag(md5: String, encryption: Option<&(Encryption, Arc<DataKey>)>) -> String {
    match encryption {
        Some((e, key)) if e.mode == SseMode::Customer => key.etag_for_customer(&md5),
        _ => md5,
    }
}

/// The encryption headers of an answer about an object so encrypted.
#[derive(Default)]
pub struct Shown {
    pub server_side_encryption: Option<ServerSideEncryption>,
    pub sse_customer_algorithm: Option<String>,
    pub sse_customer_key_md5: Option<String>,
}

#[must_use]
pub fn shown(encryption: Option<&Encryption>) -> Shown {
    match encryption {
        None => Shown::default(),
        Some(e) if e.mode == SseMode::S3 => Shown {
            server_side_encryption: Some(ServerSideEncryption::from_static(ServerSideEncryption::AES256)),
            ..Shown::default()
        },
        Some(e) => Shown {
            server_side_encryption: None,
            sse_customer_algorithm: Some("AES256".into()),
            sse_customer_key_md5: e.customer_key_md5.clone(),
        },
    }
}

/// Sets an output's encryption fields from [`Shown`].
macro_rules! with_encryption {
    ($out:expr, $shown:expr) => {{
        let mut out = $out;
        let shown = $shown;
        out.server_side_encryption = shown.server_side_encryption;
        out.sse_customer_algorithm = shown.sse_customer_algorithm;
        out.sse_customer_key_md5 = shown.sse_customer_key_md5;
        out
    }};
}
pub(crate) use with_encryption;

pub async fn put_bucket_encryption(
    gw: &Gateway,
    req: S3Request<PutBucketEncryptionInput>,
) -> Result<S3Response<PutBucketEncryptionOutput>> {
    let bucket = access::bucket(&req)?;
    let rules = &req.input.server_side_encryption_configuration.rules;
    let [rule] = rules.as_slice() else {
        return Err(s3_error!(MalformedXML, "An encryption configuration has exactly one Rule.").into());
    };
    let Some(default) = &rule.apply_server_side_encryption_by_default else {
        return Err(s3_error!(MalformedXML, "A Rule needs ApplyServerSideEncryptionByDefault.").into());
    };
    match default.sse_algorithm.as_str() {
        ServerSideEncryption::AES256 => {}
        "aws:kms" | "aws:kms:dsse" => {
            return Err(s3_error!(
                NotImplemented,
                "SSE-KMS is not implemented (no key management service)."
            )
            .into());
        }
        _ => return Err(s3_error!(MalformedXML, "The SSEAlgorithm is AES256, aws:kms or aws:kms:dsse.").into()),
    }
    if default.kms_master_key_id.is_some() {
        return Err(s3_error!(
            InvalidArgument,
            "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse"
        )
        .into());
    }
    if rule.bucket_key_enabled == Some(true) {
        return Err(s3_error!(
            NotImplemented,
            "S3 Bucket Keys (an SSE-KMS feature) are not implemented."
        )
        .into());
    }
    gw.meta
        .update_bucket_config(&bucket.name, |c| {
            c.encryption = Some(DefaultEncryption::Aes256);
            Ok(())
        })
        .await?;
    gw.dir.forget_bucket(&bucket.name);
    Ok(S3Response::new(PutBucketEncryptionOutput::default()))
}

pub async fn get_bucket_encryption(
    _gw: &Gateway,
    req: S3Request<GetBucketEncryptionInput>,
) -> Result<S3Response<GetBucketEncryptionOutput>> {
    let bucket = access::bucket(&req)?;
    let Some(DefaultEncryption::Aes256) = bucket.config.encryption else {
        return Err(crate::error::custom(
            "ServerSideEncryptionConfigurationNotFoundError",
            http::StatusCode::NOT_FOUND,
            "The server side encryption configuration was not found",
        )
        .into());
    };
    let rule = ServerSideEncryptionRule {
        apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
            sse_algorithm: ServerSideEncryption::from_static(ServerSideEncryption::AES256),
            kms_master_key_id: None,
        }),
        bucket_key_enabled: Some(false),
    };
    Ok(S3Response::new(GetBucketEncryptionOutput {
        server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration { rules: vec![rule] }),
    }))
}

pub async fn delete_bucket_encryption(
    gw: &Gateway,
    req: S3Request<DeleteBucketEncryptionInput>,
) -> Result<S3Response<DeleteBucketEncryptionOutput>> {
    let bucket = access::bucket(&req)?;
    gw.meta
        .update_bucket_config(&bucket.name, |c| {
            c.encryption = None;
            Ok(())
        })
        .await?;
    gw.dir.forget_bucket(&bucket.name);
    Ok(S3Response::with_status(
        DeleteBucketEncryptionOutput::default(),
        http::StatusCode::NO_CONTENT,
    ))
}
