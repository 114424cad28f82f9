//! Object bytes on the move: storing an upload while hashing and verifying it, and reading an
//! object's pieces back as one stream. Nothing here holds more than a chunk in memory.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use futures::{StreamExt, TryStreamExt};
use md5::{Digest as _, Md5};
use osg_meta::{Condition, NewVersion, ObjectAttrs, Part, Piece, Upload, Version};
use osg_provider::{BoxError, ByteStream};
use s3s::TrailingHeaders;
use s3s::checksum::ChecksumHasher;
use s3s::s3_error;

use super::checksum::Wanted;
use crate::Gateway;
use crate::encryption::{self, DataKey};
use crate::error::Result;

/// Largest object a single PUT (or part, or copy, or form upload) may carry, as in S3.
pub const MAX_PUT_SIZE: u64 = 5 << 30;

/// How much of a body of unknown length is held in memory at a time for a provider that needs
/// each blob's length: the body is stored as pieces of this size.
const PIECE_SIZE: usize = 8 << 20;

/// What an upload promises about its length.
#[derive(Debug, Clone, Copy)]
pub enum Length {
    /// `Content-Length` (or the decoded length of an aws-chunked body).
    Exactly(u64),
    /// A form upload's file: known when it ends, and then within these bounds.
    Within { min: u64, max: u64 },
}

impl Length {
    /// The most bytes the body may bring.
    pub fn at_most(&self) -> u64 {
        match self {
            Self::Exactly(n) | Self::Within { max: n, .. } => *n,
        }
    }
}

/// What an upload promises about its body.
pub struct Expected {
    pub length: Length,
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
        Ok(Self {
            length: Length::Exactly(length),
            md5,
            checksums,
        })
    }

    /// A body whose length is known only at its end, between `min` and `max` bytes.
    pub fn within(min: u64, max: u64) -> Self {
        Self {
            length: Length::Within {
                min,
                max: max.min(MAX_PUT_SIZE),
            },
            md5: None,
            checksums: Wanted::default(),
        }
    }
}

/// A body now durable on the provider, not yet referenced by any version.
pub struct Stored {
    /// One piece, unless a body of unknown length went to a provider that needs lengths.
    pub pieces: Vec<Piece>,
    pub size: u64,
    /// Hex MD5: the object's ETag.
    pub md5: String,
    pub checksums: BTreeMap<String, String>,
}

struct Digests {
    md5: Md5,
    checksums: ChecksumHasher,
}

/// The stream failed: more bytes than a form upload allows. Told apart from other stream
/// failures by its text (`crate::error`).
#[derive(Debug, thiserror::Error)]
#[error("EntityTooLarge: the upload exceeds {0} bytes")]
struct TooLarge(u64);

impl Gateway {
    /// Streams `body` to new blobs while hashing it (encrypted under `key`, if given), then
    /// verifies length, Content-MD5 and flexible checksums (s3s checks signed payload hashes and
    /// chunk signatures as the body streams). On any failure the blobs are given up.
    pub(crate) async fn store(
        &self,
        bucket: &osg_meta::Bucket,
        body: ByteStream,
        expected: Expected,
        trailers: Option<TrailingHeaders>,
        key: Option<&DataKey>,
    ) -> Result<Stored> {
        let provider = self.providers.get(&bucket.provider)?;
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
        let pieces = match expected.length {
            Length::Exactly(n) => vec![self.put_piece(&*provider, bucket, body, Some(n), key).await?],
            Length::Within { max, .. } => {
                let body = capped(body, max);
                if provider.needs_length() {
                    self.put_in_pieces(&*provider, bucket, body, key).await?
                } else {
                    vec![self.put_piece(&*provider, bucket, body, None, key).await?]
                }
            }
        };
        let size = pieces.iter().map(|p| p.size).sum();
        let digests = digests
            .lock()
            .expect("digest lock")
            .take()
            .expect("digests are taken once");
        match verify(size, digests, &expected, trailers) {
            Ok((md5, checksums)) => Ok(Stored {
                pieces,
                size,
                md5,
                checksums,
            }),
            Err(e) => {
                self.discard_all(&bucket.name, &pieces).await;
                Err(e)
            }
        }
    }

    /// One new blob holding `body` (of `length` bytes, if known), encrypted under `key` if
    /// given; given up if the provider fails. The piece's size is the plaintext's.
    async fn put_piece(
        &self,
        provider: &dyn osg_provider::Provider,
        bucket: &osg_meta::Bucket,
        body: ByteStream,
        length: Option<u64>,
        key: Option<&DataKey>,
    ) -> Result<Piece> {
        let name = uuid::Uuid::new_v4().simple().to_string();
        let blob = osg_model::BlobId::new(&name, &bucket.provider).to_string();
        self.meta.begin_blob(&blob, &bucket.name).await?;
        let plain = Arc::new(AtomicU64::new(0));
        let (body, length) = match key {
            None => (body, length),
            Some(key) => {
                let counted = Arc::clone(&plain);
                let body: ByteStream = Box::pin(body.inspect_ok(move |chunk| {
                    counted.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }));
                (
                    encryption::encrypt(body, key, &name),
                    length.map(encryption::sealed_len),
                )
            }
        };
        let stored = match provider.put_blob(&name, body, length).await {
            Ok(size) if key.is_none() => return Ok(Piece::whole(blob, size)),
            Ok(size) => {
                // The provider must hold every sealed byte, or the object would never open.
                let plain = plain.load(Ordering::Relaxed);
                if size == encryption::sealed_len(plain) {
                    return Ok(Piece::whole(blob, plain));
                }
                tracing::error!(blob, size, plain, "the provider stored an encrypted blob short");
                Err(s3_error!(InternalError, "The storage provider did not store the whole object.").into())
            }
            Err(e) => Err(e.into()),
        };
        self.discard(&bucket.name, &blob).await;
        stored
    }

    /// A body of unknown length, for a provider that needs each blob's length: stored in
    /// pieces of [`PIECE_SIZE`], each held in memory only until it is sent.
    async fn put_in_pieces(
        &self,
        provider: &dyn osg_provider::Provider,
        bucket: &osg_meta::Bucket,
        mut body: ByteStream,
        key: Option<&DataKey>,
    ) -> Result<Vec<Piece>> {
        let mut pieces = Vec::new();
        loop {
            let mut chunks = Vec::new();
            let mut len = 0;
            let mut ended = false;
            while len < PIECE_SIZE {
                match body.next().await {
                    Some(Ok(chunk)) => {
                        len += chunk.len();
                        chunks.push(Ok(chunk));
                    }
                    Some(Err(e)) => {
                        self.discard_all(&bucket.name, &pieces).await;
                        return Err(osg_provider::Error::Body(e).into());
                    }
                    None => {
                        ended = true;
                        break;
                    }
                }
            }
            if len > 0 || pieces.is_empty() {
                let piece = Box::pin(futures::stream::iter(chunks));
                match self.put_piece(provider, bucket, piece, Some(len as u64), key).await {
                    Ok(p) => pieces.push(p),
                    Err(e) => {
                        self.discard_all(&bucket.name, &pieces).await;
                        return Err(e);
                    }
                }
            }
            if ended {
                return Ok(pieces);
            }
        }
    }

    /// Makes a stored body the current version of `bucket/key` (with its checksums); if the
    /// commit fails, the blobs are given up.
    pub(crate) async fn commit_stored(
        &self,
        bucket: String,
        key: String,
        stored: Stored,
        mut attrs: ObjectAttrs,
        owner: String,
        condition: &Condition,
    ) -> Result<Version> {
        attrs.checksums.clone_from(&stored.checksums);
        let new = NewVersion {
            bucket,
            key,
            size: stored.size,
            etag: stored.md5,
            parts_count: None,
            pieces: stored.pieces,
            attrs,
            owner,
        };
        match self.meta.commit_object(&new, condition).await {
            Ok(version) => Ok(version),
            Err(e) => {
                self.discard_all(&new.bucket, &new.pieces).await;
                Err(e.into())
            }
        }
    }

    /// Makes a stored body (of known length: one blob) part `number` of an upload; if the
    /// commit fails, the blob is given up.
    pub(crate) async fn commit_stored_part(&self, upload: &Upload, number: u32, stored: &Stored) -> Result<Part> {
        let [piece] = stored.pieces.as_slice() else {
            return Err(s3_error!(InternalError, "A part is stored as one blob.").into());
        };
        match self
            .meta
            .commit_part(
                &upload.bucket,
                &upload.upload_id,
                osg_meta::NewPart {
                    number,
                    blob: piece.blob.clone(),
                    size: stored.size,
                    etag: stored.md5.clone(),
                    checksums: stored.checksums.clone(),
                },
            )
            .await
        {
            Ok(part) => Ok(part),
            Err(e) => {
                self.discard(&upload.bucket, &piece.blob).await;
                Err(e.into())
            }
        }
    }

    pub(crate) async fn discard_all(&self, bucket: &str, pieces: &[Piece]) {
        for piece in pieces {
            self.discard(bucket, &piece.blob).await;
        }
    }

    /// Gives up a blob of `bucket` that will not be committed; the reaper deletes it.
    pub(crate) async fn discard(&self, bucket: &str, blob: &str) {
        if let Err(e) = self.meta.abandon_blob(bucket, blob).await {
            tracing::warn!(blob, error = %e, "could not queue blob for reaping; its lease will expire");
        }
    }

    /// The bytes of `range` of an object made of `pieces`, decrypted with `key` if it is
    /// encrypted. The first piece is opened before returning (and, encrypted, its first chunk
    /// checked), so an unavailable provider or a tampered blob is an error, not a broken body.
    pub(crate) async fn read(
        &self,
        pieces: &[Piece],
        range: Range<u64>,
        key: Option<Arc<DataKey>>,
    ) -> Result<ByteStream> {
        let mut spans = Vec::new();
        let mut start = 0u64;
        for piece in pieces {
            let end = start + piece.size;
            if end > range.start && start < range.end {
                spans.push((
                    piece.clone(),
                    range.start.max(start) - start..range.end.min(end) - start,
                ));
            }
            start = end;
        }
        let mut spans = spans.into_iter();
        let Some((piece, r)) = spans.next() else {
            return Ok(Box::pin(futures::stream::empty()));
        };
        let first = read_piece(&self.providers, &piece, r, key.as_deref()).await?;
        let providers = Arc::clone(&self.providers);
        let rest_key = key.clone();
        let rest = futures::stream::iter(spans)
            .then(move |(piece, r)| {
                let providers = Arc::clone(&providers);
                let key = rest_key.clone();
                async move {
                    read_piece(&providers, &piece, r, key.as_deref())
                        .await
                        .map_err(BoxError::from)
                }
            })
            .try_flatten();
        let mut body: ByteStream = Box::pin(sync_wrapper::SyncStream::new(first.chain(rest)));
        if key.is_none() {
            return Ok(body);
        }
        match body.next().await {
            Some(Err(e)) => Err(osg_provider::Error::Body(e).into()),
            Some(Ok(opened)) => Ok(Box::pin(futures::stream::once(async { Ok(opened) }).chain(body))),
            None => Ok(body),
        }
    }
}

/// The bytes of `range` of one piece, decrypted with `key` if given.
async fn read_piece(
    providers: &crate::providers::Providers,
    piece: &Piece,
    range: Range<u64>,
    key: Option<&DataKey>,
) -> Result<ByteStream, osg_provider::Error> {
    let id = osg_model::BlobId::parse(&piece.blob);
    let provider = providers.get(&id.provider)?;
    match key {
        None => provider.get_blob(&id.key, range).await,
        Some(key) => {
            let sealed = provider
                .get_blob(&id.key, encryption::sealed_range(piece.size, &range))
                .await?;
            Ok(encryption::decrypt(sealed, key, &id.key, piece.size, range))
        }
    }
}

fn verify(
    size: u64,
    d: Digests,
    expected: &Expected,
    trailers: Option<TrailingHeaders>,
) -> Result<(String, BTreeMap<String, String>)> {
    match expected.length {
        Length::Exactly(n) if size != n => {
            return Err(s3_error!(IncompleteBody, "The request body ended before its declared length.").into());
        }
        Length::Within { min, .. } if size < min => {
            return Err(s3_error!(
                EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed object size."
            )
            .into());
        }
        Length::Within { max, .. } if size > max => return Err(s3_error!(EntityTooLarge).into()),
        _ => {}
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
    Ok((hex::encode(md5), checksums))
}

/// `body`, failing as soon as more than `max` bytes have passed.
fn capped(body: ByteStream, max: u64) -> ByteStream {
    let mut seen = 0u64;
    Box::pin(body.and_then(move |chunk| {
        seen += chunk.len() as u64;
        let result = if seen > max {
            Err(BoxError::from(TooLarge(max)))
        } else {
            Ok(chunk)
        };
        futures::future::ready(result)
    }))
}
