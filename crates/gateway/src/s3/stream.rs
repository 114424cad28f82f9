//! Object bytes on the move: storing an upload while hashing and verifying it, and reading an
//! object's pieces back as one stream. Nothing here holds more than a chunk in memory.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use futures::{StreamExt, TryStreamExt};
use md5::{Digest as _, Md5};
use osg_meta::{Condition, NewVersion, ObjectAttrs, Piece, Version};
use osg_provider::{BoxError, ByteStream};
use s3s::TrailingHeaders;
use s3s::checksum::ChecksumHasher;
use s3s::s3_error;

use super::checksum::Wanted;
use crate::Gateway;
use crate::error::Result;

/// Largest object a single PUT (or part, or copy) may carry, as in S3.
pub const MAX_PUT_SIZE: u64 = 5 << 30;

/// What an upload promises about its body.
pub struct Expected {
    pub length: u64,
    /// Decoded `Content-MD5`.
    pub md5: Option<[u8; 16]>,
    pub checksums: Wanted,
}

impl Expected {
    pub fn new(length: Option<i64>, content_md5: Option<&str>, checksums: Wanted) -> Result<Self> {
        let length = length.ok_or_else(|| s3_error!(MissingContentLength))?;
        let length = u64::try_from(length).map_err(|_| s3_error!(InvalidArgument, "Negative Content-Length."))?;
        if length > MAX_PUT_SIZE {
            return Err(s3_error!(EntityTooLarge).into());
        }
        let md5 = content_md5
            .map(|v| {
                base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .ok()
                    .and_then(|d| <[u8; 16]>::try_from(d).ok())
                    .ok_or_else(|| s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid."))
            })
            .transpose()?;
        Ok(Self { length, md5, checksums })
    }
}

/// A body now durable on the provider, not yet referenced by any version.
pub struct Stored {
    pub blob: String,
    pub size: u64,
    /// Hex MD5: the object's ETag.
    pub md5: String,
    pub checksums: BTreeMap<String, String>,
}

struct Digests {
    md5: Md5,
    checksums: ChecksumHasher,
}

impl Gateway {
    /// Streams `body` to a new blob while hashing it, then verifies length, Content-MD5 and
    /// flexible checksums (s3s checks signed payload hashes and chunk signatures as the body
    /// streams). On any failure the blob is given up.
    pub(crate) async fn store(
        &self,
        provider_name: &str,
        body: ByteStream,
        expected: Expected,
        trailers: Option<TrailingHeaders>,
    ) -> Result<Stored> {
        let provider = self.providers.get(provider_name)?;
        let key = uuid::Uuid::new_v4().simple().to_string();
        let blob = crate::providers::blob_id(&key, provider_name);
        self.meta.begin_blob(&blob).await?;
        let digests = Arc::new(Mutex::new(Some(Digests {
            md5: Md5::new(),
            checksums: expected.checksums.hasher(),
        })));
        let hashing = Arc::clone(&digests);
        let body: ByteStream = Box::pin(body.inspect_ok(move |chunk| {
            let mut guard = hashing.lock().expect("digest lock");
            let Some(d) = guard.as_mut() else { return };
            d.md5.update(chunk);
            d.checksums.update(chunk);
        }));
        let result = match provider.put_blob(&key, body, expected.length).await {
            Ok(size) => {
                let digests = digests
                    .lock()
                    .expect("digest lock")
                    .take()
                    .expect("digests are taken once");
                verify(size, digests, &expected, trailers)
            }
            Err(e) => Err(e.into()),
        };
        match result {
            Ok((size, md5, checksums)) => Ok(Stored {
                blob,
                size,
                md5,
                checksums,
            }),
            Err(e) => {
                self.discard(&blob).await;
                Err(e)
            }
        }
    }

    /// Makes a stored body the current version of `bucket/key` (with its checksums); if the
    /// commit fails, the blob is given up.
    pub(crate) async fn commit_stored(
        &self,
        bucket: String,
        key: String,
        stored: &Stored,
        mut attrs: ObjectAttrs,
        owner: String,
        condition: &Condition,
    ) -> Result<Version> {
        attrs.checksums.clone_from(&stored.checksums);
        let new = NewVersion {
            bucket,
            key,
            size: stored.size,
            etag: stored.md5.clone(),
            parts_count: None,
            pieces: vec![Piece {
                blob: stored.blob.clone(),
                size: stored.size,
            }],
            attrs,
            owner,
        };
        match self.meta.commit_object(&new, condition).await {
            Ok(version) => Ok(version),
            Err(e) => {
                self.discard(&stored.blob).await;
                Err(e.into())
            }
        }
    }

    /// Gives up a blob that will not be committed; the reaper deletes it.
    pub(crate) async fn discard(&self, blob: &str) {
        if let Err(e) = self.meta.abandon_blob(blob).await {
            tracing::warn!(blob, error = %e, "could not queue blob for reaping; its lease will expire");
        }
    }

    /// The bytes of `range` of an object made of `pieces`. The first piece is opened before
    /// returning, so an unavailable provider is an error, not a broken body.
    pub(crate) async fn read(&self, pieces: &[Piece], range: Range<u64>) -> Result<ByteStream> {
        let mut spans = Vec::new();
        let mut start = 0u64;
        for piece in pieces {
            let end = start + piece.size;
            if end > range.start && start < range.end {
                spans.push((
                    piece.blob.clone(),
                    range.start.max(start) - start..range.end.min(end) - start,
                ));
            }
            start = end;
        }
        let mut spans = spans.into_iter();
        let Some((blob, r)) = spans.next() else {
            return Ok(Box::pin(futures::stream::empty()));
        };
        let (name, key) = crate::providers::split(&blob);
        let first = self.providers.get(name)?.get_blob(key, r).await?;
        let providers = Arc::clone(&self.providers);
        let rest = futures::stream::iter(spans)
            .then(move |(blob, r)| {
                let providers = Arc::clone(&providers);
                async move {
                    let (name, key) = crate::providers::split(&blob);
                    providers.get(name)?.get_blob(key, r).await.map_err(BoxError::from)
                }
            })
            .try_flatten();
        Ok(Box::pin(sync_wrapper::SyncStream::new(first.chain(rest))))
    }
}

fn verify(
    size: u64,
    d: Digests,
    expected: &Expected,
    trailers: Option<TrailingHeaders>,
) -> Result<(u64, String, BTreeMap<String, String>)> {
    if size != expected.length {
        return Err(s3_error!(IncompleteBody, "The request body ended before its declared length.").into());
    }
    let md5: [u8; 16] = d.md5.finalize().into();
    if expected.md5.is_some_and(|m| m != md5) {
        return Err(s3_error!(
            BadDigest,
            "The Content-MD5 you specified did not match what we received."
        )
        .into());
    }
    let trailers = trailers.and_then(|t| t.take());
    let checksums = expected.checksums.verify(&d.checksums.finalize(), trailers.as_ref())?;
    Ok((size, hex::encode(md5), checksums))
}
