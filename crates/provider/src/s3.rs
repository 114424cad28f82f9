//! The `s3` provider: blobs as objects in one bucket of any S3-compatible service (a
//! standalone Walrus, Ceph RGW, Swift's s3api, MinIO, Garage, AWS S3).

use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream as SdkStream;
use aws_smithy_types::body::SdkBody;
use futures::TryStreamExt;
use http_body::Frame;
use secrecy::{ExposeSecret, SecretString};

use crate::{BoxError, ByteStream, Error, Provider, Result};

/// Where and how to reach the service.
pub struct S3Config {
    pub endpoint: String,
    pub region: String,
    /// The bucket that holds this provider's blobs.
    pub bucket: String,
    pub access_key: String,
    pub secret_key: SecretString,
    /// Path-style addressing (`endpoint/bucket/key`), which most self-hosted services want.
    pub path_style: bool,
    /// How long to wait for a connection: a provider that is down must fail fast.
    pub connect_timeout: Duration,
}

pub struct S3Provider {
    client: Client,
    bucket: String,
}

impl S3Provider {
    #[must_use]
    pub fn new(config: &S3Config) -> Self {
        let credentials = Credentials::new(
            &config.access_key,
            config.secret_key.expose_secret(),
            None,
            None,
            "osg-provider",
        );
        let timeouts = TimeoutConfig::builder().connect_timeout(config.connect_timeout).build();
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&config.endpoint)
            .region(Region::new(config.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(config.path_style)
            .timeout_config(timeouts)
            // Many S3-compatible services reject the checksums the SDK adds by default.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            // One quick retry; a provider that is down must not hold requests for long.
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(Duration::from_millis(50)),
            )
            .build();
        Self {
            client: Client::from_conf(conf),
            bucket: config.bucket.clone(),
        }
    }

    /// Creates the bucket unless it exists.
    pub async fn ensure_bucket(&self) -> Result<()> {
        if self.health().await.is_ok() {
            return Ok(());
        }
        match self.client.create_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.code(), Some("BucketAlreadyOwnedByYou")) => Ok(()),
            Err(e) => Err(unavailable(&e)),
        }
    }
}

fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(e: &SdkError<E, R>) -> Error {
    Error::Unavailable(aws_sdk_s3::error::DisplayErrorContext(e).to_string())
}

/// NoSuchKey (or a bare 404) is a missing blob; anything else means the provider failed.
fn classify<E>(key: &str, e: &SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let not_found = e.raw_response().is_some_and(|r| r.status().as_u16() == 404);
    if not_found || matches!(e.code(), Some("NoSuchKey")) {
        Error::NotFound(key.to_owned())
    } else {
        unavailable(e)
    }
}

#[async_trait]
impl Provider for S3Provider {
    async fn put_blob(&self, key: &str, body: ByteStream, length: u64) -> Result<u64> {
        let frames = body.map_ok(Frame::data);
        let body = SdkBody::from_body_1_x(http_body_util::StreamBody::new(frames));
        let size = i64::try_from(length).map_err(|_| Error::Unavailable("object too large".into()))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(size)
            .body(SdkStream::new(body))
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(length)
    }

    async fn get_blob(&self, key: &str, range: Range<u64>) -> Result<ByteStream> {
        if range.is_empty() {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .await
            .map_err(|e| classify(key, &e))?;
        let chunks = futures::stream::unfold(out.body, |mut body| async move {
            body.next().await.map(|chunk| (chunk.map_err(BoxError::from), body))
        });
        Ok(Box::pin(sync_wrapper::SyncStream::new(chunks)))
    }

    async fn delete_blob(&self, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    async fn health(&self) -> Result<()> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }
}
