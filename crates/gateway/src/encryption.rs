//! Encryption at rest: objects' data keys, and the encrypted blob format. The provider only
//! ever holds ciphertext; the gateway is the one place that sees plaintext.
//!
//! Each encrypted object has its own random 256-bit data key, kept in its metadata sealed
//! under the cluster's master key (SSE-S3) or under the customer's key (SSE-C), which is never
//! stored: a key that does not open the sealed data key is the wrong key.
//!
//! Format 1 (the number is kept in the object's metadata): each blob is encrypted under its own
//! key, HMAC-SHA256(data key, "osg-sse-1/" + the blob's name), so no two blobs share a key and
//! nonce, and a blob moved under another name does not open. The plaintext is cut in chunks of
//! 64 KiB (the last one shorter, or empty for an empty blob), each sealed with AES-256-GCM:
//! nonce = the chunk's index (8 bytes, big-endian) and 1 for the last chunk, else 0 (4 bytes);
//! each chunk's 16-byte tag follows it. A changed, swapped, dropped or truncated chunk does not
//! open, and nothing of a chunk is returned before it has opened.

use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use osg_provider::{BoxError, ByteStream};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// The format this gateway writes (and the only one it reads).
pub const FORMAT: u32 = 1;
/// Plaintext bytes per chunk.
const CHUNK: u64 = 64 << 10;
/// AES-GCM's tag.
const TAG: u64 = 16;
/// The associated data of a data key sealed under a customer's key.
const SSE_C_AAD: &[u8] = b"osg-sse-c-data-key";

/// An object's data key.
pub struct DataKey(Zeroizing<[u8; 32]>);

/// Why bytes did not open: told apart from other stream errors by its text (`crate::error`).
#[derive(Debug, thiserror::Error)]
#[error("DataCorrupt: {0}")]
pub struct Corrupt(&'static str);

impl DataKey {
    /// A fresh random key.
    #[must_use]
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(key.as_mut())
            .expect("the system's random source works");
        Self(key)
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let key: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(Zeroizing::new(key)))
    }

    /// This key sealed under the master key (SSE-S3).
    #[must_use]
    pub fn seal_for_s3(&self, sealer: &osg_meta::Sealer) -> String {
        sealer.seal_bytes(osg_model::encryption::SSE_S3_SEAL_ROW, self.0.as_ref())
    }

    /// Opens a data key sealed under the master key.
    pub fn open_for_s3(sealer: &osg_meta::Sealer, sealed: &str) -> osg_meta::Result<Self> {
        let bytes = sealer.open_bytes(osg_model::encryption::SSE_S3_SEAL_ROW, sealed)?;
        Self::from_bytes(&bytes).ok_or_else(|| osg_meta::Error::Corrupt("an SSE-S3 data key is not 32 bytes".into()))
    }

    /// This key sealed under a customer's key (SSE-C): `base64(nonce || ciphertext || tag)`.
    #[must_use]
    pub fn seal_for_customer(&self, customer: &[u8; 32]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system's random source works");
        let mut sealed = self.0.to_vec();
        aead_key(customer)
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(SSE_C_AAD), &mut sealed)
            .expect("AES-GCM sealing of 32 bytes does not fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    /// Opens a data key sealed under a customer's key; `None` for another key.
    #[must_use]
    pub fn open_for_customer(customer: &[u8; 32], sealed: &str) -> Option<Self> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut rest = Zeroizing::new(rest.to_vec());
        let plain = aead_key(customer)
            .open_in_place(nonce, Aad::from(SSE_C_AAD), &mut rest)
            .ok()?;
        Self::from_bytes(plain)
    }

    /// The key of one blob of the object.
    fn blob_key(&self, blob: &str) -> LessSafeKey {
        let mac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, self.0.as_ref());
        let derived = ring::hmac::sign(&mac, format!("osg-sse-{FORMAT}/{blob}").as_bytes());
        let key: &[u8; 32] = derived.as_ref().try_into().expect("HMAC-SHA256 gives 32 bytes");
        aead_key(key)
    }

    /// An ETag for an SSE-C object: not the plaintext's MD5 (which would let anyone confirm
    /// a guess of the content), as S3 does; stable for the object.
    #[must_use]
    pub fn etag_for_customer(&self, md5_hex: &str) -> String {
        let mac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, self.0.as_ref());
        let tag = ring::hmac::sign(&mac, format!("osg-sse-c-etag/{md5_hex}").as_bytes());
        hex::encode(&tag.as_ref()[..16])
    }
}

fn aead_key(key: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte AES-256 key"))
}

fn nonce(index: u64, last: bool) -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    n[..8].copy_from_slice(&index.to_be_bytes());
    n[8..].copy_from_slice(&u32::from(last).to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

/// Chunks of a blob of `plain` bytes (an empty blob has one, empty).
fn chunks(plain: u64) -> u64 {
    plain.div_ceil(CHUNK).max(1)
}

/// Bytes on the provider for `plain` bytes of plaintext.
#[must_use]
pub fn sealed_len(plain: u64) -> u64 {
    plain + TAG * chunks(plain)
}

/// `body` (plaintext) encrypted as blob `blob`; its length is [`sealed_len`] of the body's.
pub fn encrypt(body: ByteStream, key: &DataKey, blob: &str) -> ByteStream {
    Box::pin(Sealing {
        inner: body,
        key: key.blob_key(blob),
        buf: BytesMut::new(),
        index: 0,
        done: false,
    })
}

struct Sealing {
    inner: ByteStream,
    key: LessSafeKey,
    buf: BytesMut,
    index: u64,
    done: bool,
}

impl Sealing {
    fn seal(&mut self, len: usize, last: bool) -> Bytes {
        let mut chunk = self.buf.split_to(len);
        self.key
            .seal_in_place_append_tag(nonce(self.index, last), Aad::empty(), &mut chunk)
            .expect("AES-GCM sealing of a chunk does not fail");
        self.index += 1;
        chunk.freeze()
    }
}

impl Stream for Sealing {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let chunk = usize::try_from(CHUNK).expect("a chunk fits in memory");
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            // A full chunk is sealed once more bytes follow it: only then is it not the last.
            if self.buf.len() > chunk {
                return Poll::Ready(Some(Ok(self.seal(chunk, false))));
            }
            match ready!(self.inner.poll_next_unpin(cx)) {
                Some(Ok(bytes)) => self.buf.extend_from_slice(&bytes),
                Some(Err(e)) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    self.done = true;
                    let len = self.buf.len();
                    return Poll::Ready(Some(Ok(self.seal(len, true))));
                }
            }
        }
    }
}

/// The bytes of an encrypted blob of `plain` bytes to read for plaintext `range`: whole chunks.
#[must_use]
pub fn sealed_range(plain: u64, range: &Range<u64>) -> Range<u64> {
    if range.is_empty() {
        return 0..0;
    }
    let first = range.start / CHUNK;
    let last = (range.end - 1) / CHUNK;
    first * (CHUNK + TAG)..((last + 1) * (CHUNK + TAG)).min(sealed_len(plain))
}

/// The plaintext `range` of blob `blob` of `plain` bytes, from `body`: the blob's
/// [`sealed_range`] of that range.
pub fn decrypt(body: ByteStream, key: &DataKey, blob: &str, plain: u64, range: Range<u64>) -> ByteStream {
    let first = range.start / CHUNK;
    Box::pin(Opening {
        inner: body,
        key: key.blob_key(blob),
        buf: BytesMut::new(),
        index: first,
        last: chunks(plain) - 1,
        plain,
        skip: range.start - first * CHUNK,
        remaining: range.end - range.start,
    })
}

struct Opening {
    inner: ByteStream,
    key: LessSafeKey,
    buf: BytesMut,
    index: u64,
    /// The blob's last chunk.
    last: u64,
    plain: u64,
    /// Plaintext bytes of the next chunk before the range.
    skip: u64,
    /// Plaintext bytes of the range still to give.
    remaining: u64,
}

impl Opening {
    /// The ciphertext length of chunk `index`.
    fn sealed_chunk(&self) -> usize {
        let plain = if self.index == self.last {
            self.plain - self.last * CHUNK
        } else {
            CHUNK
        };
        usize::try_from(plain + TAG).expect("a chunk fits in memory")
    }
}

impl Stream for Opening {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.remaining == 0 {
                return Poll::Ready(None);
            }
            let want = self.sealed_chunk();
            if self.buf.len() >= want {
                let mut chunk = self.buf.split_to(want);
                let last = self.index == self.last;
                let n = nonce(self.index, last);
                let opened = self.key.open_in_place(n, Aad::empty(), &mut chunk).map(|p| p.len());
                let Ok(len) = opened else {
                    self.remaining = 0;
                    return Poll::Ready(Some(Err(Corrupt("an encrypted chunk does not open").into())));
                };
                chunk.truncate(len);
                let skip = usize::try_from(self.skip).unwrap_or(usize::MAX).min(len);
                let mut plain = chunk.split_off(skip);
                let take = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(plain.len());
                plain.truncate(take);
                self.remaining -= take as u64;
                self.skip = 0;
                self.index += 1;
                return Poll::Ready(Some(Ok(plain.freeze())));
            }
            match ready!(self.inner.poll_next_unpin(cx)) {
                Some(Ok(bytes)) => self.buf.extend_from_slice(&bytes),
                Some(Err(e)) => {
                    self.remaining = 0;
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    self.remaining = 0;
                    return Poll::Ready(Some(Err(Corrupt("an encrypted blob ends early").into())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    fn stream(data: &[u8], piece: usize) -> ByteStream {
        let parts: Vec<Result<Bytes, BoxError>> = data
            .chunks(piece.max(1))
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Box::pin(futures::stream::iter(parts))
    }

    async fn collect(s: ByteStream) -> Result<Vec<u8>, BoxError> {
        let parts: Vec<Bytes> = s.try_collect().await?;
        Ok(parts.concat())
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn ranges_round_trip_at_every_boundary() {
        let key = DataKey::generate();
        let chunk = CHUNK as usize;
        for n in [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 3 * chunk + 5] {
            let plain = data(n);
            for piece in [1000, chunk, 5 * chunk] {
                let sealed = collect(encrypt(stream(&plain, piece), &key, "b1")).await.unwrap();
                assert_eq!(sealed.len() as u64, sealed_len(n as u64), "n={n}");
                assert!(n < 32 || !sealed.windows(32).any(|w| w == &plain[..32]), "no plaintext");
                let ranges = [0..n, 0..n.min(1), n.saturating_sub(1)..n, n / 3..n / 2 + 1];
                for r in ranges.into_iter().filter(|r| r.start <= r.end && r.end <= n) {
                    let (start, end) = (r.start as u64, r.end as u64);
                    let s = sealed_range(n as u64, &(start..end));
                    let body = stream(&sealed[s.start as usize..s.end as usize], 777);
                    let out = collect(decrypt(body, &key, "b1", n as u64, start..end)).await.unwrap();
                    assert_eq!(out, &plain[r.clone()], "n={n} range={r:?}");
                }
            }
        }
    }

    #[tokio::test]
    async fn tampering_is_detected_never_returned() {
        let key = DataKey::generate();
        let n = 3 * CHUNK as usize + 10;
        let plain = data(n);
        let sealed = collect(encrypt(stream(&plain, 4096), &key, "b1")).await.unwrap();
        let whole =
            |bytes: Vec<u8>, key: &DataKey, blob: &str| decrypt(stream(&bytes, 9999), key, blob, n as u64, 0..n as u64);
        // A flipped bit, a dropped last chunk, a reordered pair of chunks, another blob name, another key.
        let mut flipped = sealed.clone();
        flipped[CHUNK as usize + 100] ^= 1;
        let truncated = sealed[..sealed.len() - 26].to_vec();
        let c = (CHUNK + TAG) as usize;
        let swapped = [&sealed[c..2 * c], &sealed[..c], &sealed[2 * c..]].concat();
        for (what, bytes, key, blob) in [
            ("flipped", flipped, &key, "b1"),
            ("truncated", truncated, &key, "b1"),
            ("swapped", swapped, &key, "b1"),
            ("renamed", sealed.clone(), &key, "b2"),
            ("rekeyed", sealed.clone(), &DataKey::generate(), "b1"),
        ] {
            let mut s = whole(bytes, key, blob);
            let mut good = Vec::new();
            let err = loop {
                match s.next().await {
                    Some(Ok(b)) => good.extend_from_slice(&b),
                    Some(Err(e)) => break e,
                    None => panic!("{what}: read to the end"),
                }
            };
            assert!(err.to_string().starts_with("DataCorrupt"), "{what}: {err}");
            // Only chunks that opened came out, and they are the plaintext's.
            assert_eq!(good, &plain[..good.len()], "{what}");
        }
        // Chunks with the last-chunk flag moved: a blob cut at a chunk boundary does not open.
        let cut = 2 * CHUNK;
        let first_two = sealed[..(2 * c)].to_vec();
        let out = collect(decrypt(stream(&first_two, 999), &key, "b1", cut, 0..cut)).await;
        assert!(out.is_err(), "a truncation at a chunk boundary");
    }

    #[test]
    fn customer_keys_seal_data_keys() {
        let key = DataKey::generate();
        let customer = [7u8; 32];
        let sealed = key.seal_for_customer(&customer);
        let opened = DataKey::open_for_customer(&customer, &sealed).unwrap();
        assert_eq!(opened.0.as_ref(), key.0.as_ref());
        assert!(DataKey::open_for_customer(&[8u8; 32], &sealed).is_none());
        assert_ne!(
            key.etag_for_customer("abc"),
            DataKey::generate().etag_for_customer("abc")
        );
    }
}
