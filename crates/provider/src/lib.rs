//! The Object Storage Provider (OSP) seam.
//!
//! A provider stores opaque blobs under keys the gateway chooses (never user-supplied object
//! names) and returns their bytes. Everything S3 means by a bucket or an object (names,
//! metadata, versions, listings) lives in the metadata store, so a provider only needs these
//! few calls.

pub mod s3;
mod settings;
mod sigv2;
pub mod swift;

pub use osg_model::provider::{Flavour, Kind, Settings, SwiftAuth};

use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

/// A client for a provider instance.
pub fn connect(kind: Kind, settings: &Settings, secret: secrecy::SecretString) -> Result<Arc<dyn Provider>> {
    Ok(match kind {
        Kind::S3 => Arc::new(s3::S3Provider::new(settings, secret)?),
        Kind::Swift => Arc::new(swift::SwiftProvider::new(settings, secret)?),
    })
}

/// Any error a body stream may carry (the client's upload stream, or a provider's read stream).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A stream of bytes flowing into or out of a provider (`Sync` because HTTP bodies must be).
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send + Sync + 'static>>;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The blob does not exist on the provider.
    #[error("blob {0} not found")]
    NotFound(String),
    /// The provider cannot be reached or is failing; the gateway answers 503.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The stream being stored failed (client went away, bad chunk signature, ...).
    /// Nothing was stored.
    #[error("upload stream failed: {0}")]
    Body(#[source] BoxError),
    /// The provider's settings cannot work (a missing CA file, a bad endpoint URL, ...).
    #[error("provider settings: {0}")]
    Config(String),
}

/// Where object bytes live.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// Stores the whole stream under `key` and returns the length stored. `length` is the
    /// stream's length when known; a provider that [`needs_length`](Self::needs_length) is
    /// always given it. When this returns `Ok` the bytes are durable; on `Err` nothing readable
    /// is left under `key`.
    async fn put_blob(&self, key: &str, body: ByteStream, length: Option<u64>) -> Result<u64>;

    /// Whether [`put_blob`](Self::put_blob) must know the length before the first byte (an S3
    /// service does; a local disk and Swift's chunked uploads do not).
    fn needs_length(&self) -> bool {
        true
    }

    /// Streams the bytes of `key` within `range` (which the caller has checked against the
    /// blob's size).
    async fn get_blob(&self, key: &str, range: Range<u64>) -> Result<ByteStream>;

    /// Deletes `key`. Deleting a missing blob succeeds, so reaping is idempotent.
    async fn delete_blob(&self, key: &str) -> Result<()>;

    /// Fails fast when the provider cannot serve requests.
    async fn health(&self) -> Result<()>;

    /// Makes the provider ready to take blobs (creates its bucket or container unless it
    /// exists).
    async fn prepare(&self) -> Result<()>;
}

/// Watches an upload stream, so that a failed store can be blamed on the stream (the client
/// went away, a chunk signature was wrong) rather than on the provider.
#[derive(Clone, Default)]
pub(crate) struct BodyWatch(std::sync::Arc<std::sync::Mutex<Option<String>>>);

impl BodyWatch {
    /// `body`, recording its first error here.
    pub(crate) fn watch(&self, body: ByteStream) -> ByteStream {
        use futures::TryStreamExt;
        let seen = self.clone();
        Box::pin(body.inspect_err(move |e| {
            seen.0
                .lock()
                .expect("body watch lock")
                .get_or_insert_with(|| e.to_string());
        }))
    }

    /// The error to report for a failed store: the stream's, when it failed.
    pub(crate) fn blame(&self, provider_error: Error) -> Error {
        match self.0.lock().expect("body watch lock").take() {
            Some(e) => Error::Body(e.into()),
            None => provider_error,
        }
    }
}
