//! The gateway's one error type, and the one place where errors become S3 errors.

use http::{HeaderValue, StatusCode};
use s3s::{S3Error, S3ErrorCode, s3_error};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The metadata store refused or failed.
    #[error(transparent)]
    Meta(#[from] osg_meta::Error),
    /// The provider refused or failed.
    #[error(transparent)]
    Provider(#[from] osg_provider::Error),
    /// A change the model refuses.
    #[error(transparent)]
    Model(#[from] osg_model::ConfigError),
    /// A write past a bucket's or an account's quota.
    #[error(transparent)]
    Quota(#[from] osg_model::Exceeded),
    /// Already an S3 error (bad input detected by the gateway itself).
    #[error(transparent)]
    S3(#[from] S3Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Seconds a client should wait before retrying when the provider is down.
const RETRY_AFTER_SECS: &str = "5";

impl From<Error> for S3Error {
    fn from(e: Error) -> Self {
        use osg_meta::Error as M;
        use osg_provider::Error as P;
        match e {
            Error::S3(e) => e,
            Error::Model(e) => model_error(e),
            // Ceph RGW's answer, which S3 clients know not to retry. The limit and what is
            // stored are the owner's business, not every writer's.
            Error::Quota(e) => custom(
                "QuotaExceeded",
                StatusCode::FORBIDDEN,
                format!("The {}'s quota of {} would be exceeded.", e.scope, e.unit),
            ),
            Error::Meta(e) => match e {
                M::BucketExists { owned_by_caller: true } => s3_error!(BucketAlreadyOwnedByYou),
                M::BucketExists { owned_by_caller: false } => s3_error!(BucketAlreadyExists),
                M::NoSuchBucket => s3_error!(NoSuchBucket),
                M::TooManyBuckets(n) => s3_error!(
                    TooManyBuckets,
                    "You have attempted to create more buckets than allowed ({n})."
                ),
                M::BucketNotEmpty => s3_error!(BucketNotEmpty),
                M::NoSuchKey => s3_error!(NoSuchKey),
                M::NoSuchVersion => s3_error!(NoSuchVersion, "The specified version does not exist."),
                M::DeleteMarker => s3_error!(
                    MethodNotAllowed,
                    "The specified method is not allowed against this resource."
                ),
                M::Versioning(e) => s3_error!(IllegalVersioningConfigurationException, "{e}"),
                M::Lock(e) => lock_error(&e),
                M::NoSuchUpload => s3_error!(NoSuchUpload),
                M::PreconditionFailed => s3_error!(PreconditionFailed),
                M::InvalidPart(n) => s3_error!(
                    InvalidPart,
                    "Part {n} could not be found or its ETag does not match the part's ETag."
                ),
                M::InvalidPartOrder => s3_error!(InvalidPartOrder),
                M::EntityTooSmall(n) => {
                    s3_error!(
                        EntityTooSmall,
                        "Part {n} is smaller than the minimum allowed object size."
                    )
                }
                M::EntityExists(what) => s3_error!(InvalidRequest, "{what} already exists."),
                M::DeleteConflict(why) | M::LimitExceeded(why) | M::Invalid(why) => s3_error!(InvalidRequest, "{why}"),
                M::NoSuchEntity(what) => s3_error!(AccessDenied, "{what} does not exist."),
                M::LeaseLost(_) => s3_error!(RequestTimeout, "The upload took too long and was abandoned."),
                M::Config(e) => model_error(e),
                M::Conflict => unavailable("Too many concurrent writes of this key; try again."),
                M::Corrupt(_) | M::Db(_) => {
                    tracing::error!(error = %e, "metadata store failure");
                    unavailable("The metadata store is unavailable.")
                }
            },
            Error::Provider(e) => match e {
                P::NotFound(blob) => {
                    tracing::error!(blob, "object bytes missing from provider");
                    s3_error!(InternalError, "The object's data is missing from its storage provider.")
                }
                P::Unavailable(reason) => {
                    tracing::warn!(reason, "provider unavailable");
                    unavailable("The storage provider is unavailable.")
                }
                P::Config(reason) => {
                    tracing::error!(reason, "provider misconfigured");
                    unavailable("The storage provider is unavailable.")
                }
                P::Body(e) => body_error(&*e),
            },
        }
    }
}

/// The model's refusals of a bucket configuration, in S3's terms.
fn lock_error(e: &osg_model::LockError) -> S3Error {
    use osg_model::LockError as L;
    match e {
        L::Protected => s3_error!(AccessDenied, "{e}"),
        L::NotEnabled => s3_error!(InvalidRequest, "{e}"),
        L::BucketState(_) => s3_error!(InvalidBucketState, "{e}"),
        L::Invalid(_) => s3_error!(InvalidArgument, "{e}"),
    }
}

fn model_error(e: osg_model::ConfigError) -> S3Error {
    use osg_model::ConfigError as C;
    match e {
        C::AclsDisabled => s3_error!(AccessControlListNotSupported, "The bucket does not allow ACLs"),
        C::AclInTheWay => s3_error!(
            InvalidBucketAclWithObjectOwnership,
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
        ),
        C::PublicAclBlocked => s3_error!(
            AccessDenied,
            "Public ACLs are blocked by this bucket's Public Access Block."
        ),
        C::MalformedPolicy(why) => s3_error!(MalformedPolicy, "{why}"),
        C::Lifecycle(e) => {
            use osg_model::LifecycleError as L;
            match e {
                L::Malformed(why) => s3_error!(MalformedXML, "{why}"),
                L::InvalidArgument(why) => s3_error!(InvalidArgument, "{why}"),
                L::InvalidRequest(why) => s3_error!(InvalidRequest, "{why}"),
                L::Transition(why) => s3_error!(NotImplemented, "{why}"),
            }
        }
        C::Tags(e) => s3_error!(InvalidTag, "{e}"),
        C::Cors(osg_model::CorsError::Malformed(why)) => s3_error!(MalformedXML, "{why}"),
        C::Cors(osg_model::CorsError::Invalid(why)) => s3_error!(InvalidRequest, "{why}"),
        C::PublicPolicyBlocked => s3_error!(
            AccessDenied,
            "Public policies are blocked by this bucket's Public Access Block."
        ),
        C::Format(reason) => {
            tracing::error!(reason, "stored bucket configuration unreadable");
            unavailable("The metadata store is unavailable.")
        }
    }
}

/// 503 with `Retry-After`: the seed's "still answer, with HTTP 50X".
fn unavailable(message: &'static str) -> S3Error {
    let mut err = S3Error::with_message(S3ErrorCode::ServiceUnavailable, message);
    err.set_status_code(StatusCode::SERVICE_UNAVAILABLE);
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    err.set_headers(headers);
    err
}

/// An upload stream that failed while we read it. s3s does not export its aws-chunked error
/// type, and the stream's errors reach here boxed through the provider, so they are told apart
/// by their text (ours start with the S3 code they stand for).
fn body_error(e: &(dyn std::error::Error + 'static)) -> S3Error {
    let text = e.to_string();
    tracing::debug!(error = %text, "upload stream failed");
    if text.contains("RequestTimeout") {
        s3_error!(
            RequestTimeout,
            "Your socket connection to the server was not read from or written to within the timeout period."
        )
    } else if text.contains("EntityTooLarge") {
        s3_error!(
            EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed object size."
        )
    } else if text.contains("DataCorrupt") {
        tracing::error!(error = %text, "encrypted object data failed its integrity check");
        s3_error!(InternalError, "The object's data failed its integrity check.")
    } else if text.contains("SignatureMismatch") {
        s3_error!(SignatureDoesNotMatch, "A chunk signature does not match.")
    } else if text.contains("Sha256Mismatch") {
        custom(
            "XAmzContentSHA256Mismatch",
            StatusCode::BAD_REQUEST,
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    } else if text.contains("FormatError") || text.contains("TooLarge") || text.contains("TooMany") {
        s3_error!(InvalidRequest, "The aws-chunked body is malformed.")
    } else {
        s3_error!(IncompleteBody, "The request body ended before its declared length.")
    }
}

/// An S3 error code that s3s has no constant for.
pub fn custom(code: &'static str, status: StatusCode, message: impl Into<String>) -> S3Error {
    let mut err = S3Error::with_message(S3ErrorCode::Custom(code.into()), message.into());
    err.set_status_code(status);
    err
}

/// AWS's wording for error codes raised without a message (s3s raises most of its own so).
pub fn default_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "AccessDenied" => "Access Denied",
        "BucketAlreadyExists" => {
            "The requested bucket name is not available. Please select a different name and try again."
        }
        "BucketAlreadyOwnedByYou" => {
            "Your previous request to create the named bucket succeeded and you already own it."
        }
        "BucketNotEmpty" => "The bucket you tried to delete is not empty",
        "EntityTooLarge" => "Your proposed upload exceeds the maximum allowed object size.",
        "InvalidAccessKeyId" => "The AWS Access Key Id you provided does not exist in our records.",
        "InvalidBucketName" => "The specified bucket is not valid.",
        "InvalidPartOrder" => "The list of parts was not in ascending order. Parts must be ordered by part number.",
        "KeyTooLongError" => "Your key is too long",
        "MalformedXML" => "The XML you provided was not well-formed or did not validate against our published schema",
        "MissingContentLength" => "You must provide the Content-Length HTTP header.",
        "NoSuchBucket" => "The specified bucket does not exist",
        "NoSuchKey" => "The specified key does not exist.",
        "NoSuchUpload" => "The specified upload does not exist. It may have been aborted or completed.",
        "NoSuchVersion" => "The specified version does not exist.",
        "NotImplemented" => "A header or operation you provided implies functionality that is not implemented.",
        "PreconditionFailed" => "At least one of the pre-conditions you specified did not hold",
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        }
        _ => return None,
    })
}
