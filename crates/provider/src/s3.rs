//! The `s3` provider: blobs as objects in one bucket of any S3-compatible service (a
//! standalone Walrus, Ceph RGW, Swift's s3api, MinIO, Garage, AWS S3).

use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::SharedHttpClient;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream as SdkStream;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_types::body::SdkBody;
use futures::TryStreamExt;
use http_body::Frame;
use secrecy::{ExposeSecret, SecretString};

use crate::sigv2::SigV2;
use crate::{BodyWatch, BoxError, ByteStream, Error, Flavour, Provider, Result, Settings};

pub struct S3Provider {
    client: Client,
    /// The same client without a read timeout, for uploads: the provider answers only once the
    /// whole body is in, which may take longer than the read timeout that bounds the wait for
    /// an answer everywhere else. (A second client, not a per-request override, which rebuilds
    /// the client's configuration on every request.)
    upload_client: Client,
    bucket: String,
}

impl S3Provider {
    /// A client for the service `settings` describe, signing with `secret_key`.
    pub fn new(settings: &Settings, secret_key: SecretString) -> Result<Self> {
        let http = http_client(crate::settings::ca_pem(settings)?, settings.pool_max_idle)?;
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(settings.connect_timeout())
            .read_timeout(settings.read_timeout())
            .build();
        let region = match (settings.region.as_str(), settings.flavour) {
            ("", Flavour::Garage) => "garage".to_owned(),
            ("", _) => "us-east-1".to_owned(),
            (region, _) => region.to_owned(),
        };
        let credentials = Credentials::new(
            &settings.access_key,
            secret_key.expose_secret(),
            None,
            None,
            "osg-provider",
        );
        let mut conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http)
            .endpoint_url(&settings.endpoint)
            .region(Region::new(region))
            .credentials_provider(credentials)
            .force_path_style(settings.path_style)
            .timeout_config(timeouts)
            // Many S3-compatible services reject the checksums the SDK adds by default.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            // One quick retry; a provider that is down must not hold requests for long.
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(Duration::from_millis(50)),
            );
        if settings.flavour == Flavour::Riakcs {
            conf = conf.interceptor(SigV2 {
                access_key: settings.access_key.clone(),
                secret_key,
                virtual_host_bucket: (!settings.path_style).then(|| settings.bucket.clone()),
            });
        }
        let conf = conf.build();
        let upload_conf = conf
            .to_builder()
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(settings.connect_timeout())
                    .disable_read_timeout()
                    .build(),
            )
            .build();
        Ok(Self {
            client: Client::from_conf(conf),
            upload_client: Client::from_conf(upload_conf),
            bucket: settings.bucket.clone(),
        })
    }
}

/// An HTTP(S) client for aws-sdk-s3 (rustls) that also trusts the PEM certificates `ca_pem`
/// holds, keeping up to `pool_max_idle` idle connections per host.
pub fn http_client(ca_pem: Option<Vec<u8>>, pool_max_idle: usize) -> Result<SharedHttpClient> {
    let mut trust = TrustStore::default();
    if let Some(pem) = ca_pem {
        trust = trust.with_pem_certificate(pem);
    }
    let tls = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| Error::Config(e.to_string()))?;
    Ok(aws_smithy_http_client::Builder::new()
        .pool_max_idle_per_host(pool_max_idle)
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .tls_context(tls)
        .build_https())
}

fn unavailable<E, R>(e: &SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    Error::Unavailable(describe(e))
}

/// What went wrong with a request to an S3 service, for a person: the service's error code and
/// message, or the chain of causes (connection refused, TLS verification failed, a timeout),
/// each by its message; never the SDK's debug dump.
pub fn describe<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let SdkError::ServiceError(service) = e {
        let err = service.err();
        let code = err.code().unwrap_or("an error");
        return match err.message() {
            Some(message) => format!("the service answered {code}: {message}"),
            None => format!("the service answered {code}"),
        };
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let line = c.to_string();
        if !text.ends_with(&line) {
            text = format!("{text}: {line}");
        }
        cause = c.source();
    }
    text
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
    async fn put_blob(&self, key: &str, body: ByteStream, length: Option<u64>) -> Result<u64> {
        let length = length.ok_or_else(|| Error::Config("an S3 provider needs each blob's length".into()))?;
        let watch = BodyWatch::default();
        let frames = watch.watch(body).map_ok(Frame::data);
        let body = SdkBody::from_body_1_x(http_body_util::StreamBody::new(frames));
        let size = i64::try_from(length).map_err(|_| Error::Unavailable("object too large".into()))?;
        self.upload_client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(size)
            .body(SdkStream::new(body))
            .send()
            .await
            .map_err(|e| watch.blame(unavailable(&e)))?;
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

    async fn prepare(&self) -> Result<()> {
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
