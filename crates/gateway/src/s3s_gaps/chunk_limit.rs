//! A cap on `aws-chunked` chunk sizes and on their sum. s3s 0.14 gathers each signed chunk
//! whole in memory before checking its signature, and takes the chunk size from the client;
//! this watches the framing as it streams past and fails the body before an oversized chunk
//! is gathered (SDKs send chunks of 64 KiB to a few MiB), and as soon as the chunks carry more
//! than `x-amz-decoded-content-length` declared, before the excess reaches a provider.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// Largest chunk accepted.
pub const MAX_CHUNK: u64 = 16 << 20;
/// Largest chunk header line (`hex-size;chunk-signature=...`).
const MAX_HEADER_LINE: usize = 4096;

#[derive(Debug, thiserror::Error)]
#[error("aws-chunked framing rejected: {0}")]
pub struct ChunkError(&'static str);

enum State {
    /// Reading a chunk header line; holds what has arrived of it.
    Header(Vec<u8>),
    /// Passing chunk data (and its trailing CRLF) through.
    Data(u64),
    /// After the final zero-size chunk: trailers, passed through.
    Done,
}

pub struct ChunkLimit<B> {
    inner: B,
    state: State,
    /// Data bytes the chunks may still carry (`x-amz-decoded-content-length`; s3s refuses a
    /// streaming request without it).
    left: u64,
}

impl<B> ChunkLimit<B> {
    pub fn new(inner: B, declared: Option<u64>) -> Self {
        Self {
            inner,
            state: State::Header(Vec::new()),
            left: declared.unwrap_or(0),
        }
    }

    fn observe(&mut self, mut data: &[u8]) -> Result<(), ChunkError> {
        while !data.is_empty() {
            match &mut self.state {
                State::Done => return Ok(()),
                State::Data(left) => {
                    let n = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
                    data = &data[n..];
                    *left -= n as u64;
                    if *left == 0 {
                        self.state = State::Header(Vec::new());
                    }
                }
                State::Header(line) => {
                    let end = data.iter().position(|&b| b == b'\n');
                    let take = end.map_or(data.len(), |i| i + 1);
                    line.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if line.len() > MAX_HEADER_LINE {
                        return Err(ChunkError("FormatError: chunk header too long"));
                    }
                    if end.is_none() {
                        continue;
                    }
                    let size = chunk_size(line).ok_or(ChunkError("FormatError: bad chunk size"))?;
                    if size > MAX_CHUNK {
                        return Err(ChunkError("ChunkTooLarge: chunk exceeds 16 MiB"));
                    }
                    self.left = self.left.checked_sub(size).ok_or(ChunkError(
                        "FormatError: the chunks carry more than x-amz-decoded-content-length",
                    ))?;
                    // Data is followed by CRLF; the zero-size chunk ends the chunks.
                    self.state = if size == 0 { State::Done } else { State::Data(size + 2) };
                }
            }
        }
        Ok(())
    }
}

/// Whether a body framed as `pieces` passes, with `declared` data bytes.
#[cfg(any(test, feature = "fuzzing"))]
pub fn verdict(pieces: &[&[u8]], declared: u64) -> bool {
    let mut guard = ChunkLimit::new((), Some(declared));
    pieces.iter().try_for_each(|p| guard.observe(p)).is_ok()
}

fn chunk_size(line: &[u8]) -> Option<u64> {
    let hex = line.split(|&b| b == b';' || b == b'\r' || b == b'\n').next()?;
    let hex = std::str::from_utf8(hex).ok()?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

impl<B> Body for ChunkLimit<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let data = data.clone();
                    self.observe(&data)?;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(pieces: &[&[u8]]) -> Result<(), ()> {
        feed_declared(pieces, 1 << 30)
    }

    fn feed_declared(pieces: &[&[u8]], declared: u64) -> Result<(), ()> {
        if verdict(pieces, declared) { Ok(()) } else { Err(()) }
    }

    #[test]
    fn follows_framing_across_frames() {
        let sig = ";chunk-signature=0123456789abcdef\r\n";
        let body = format!("5{sig}hello\r\n3{sig}abc\r\n0{sig}\r\n");
        assert!(feed(&[body.as_bytes()]).is_ok());
        // Split at every byte: the framing is followed wherever frames break.
        let bytes = body.as_bytes();
        let singles: Vec<&[u8]> = (0..bytes.len()).map(|i| &bytes[i..=i]).collect();
        assert!(feed(&singles).is_ok());
        // Data that looks like a header is not taken for one.
        assert!(feed(&[b"4\r\nffff\r\n0\r\n\r\n"]).is_ok());
    }

    #[test]
    fn refuses_oversized_and_malformed_chunks() {
        assert!(feed(&[b"1000001;chunk-signature=x\r\n"]).is_err());
        assert!(feed(&[b"zz\r\n"]).is_err());
        assert!(feed(&[&[b'1'; 5000]]).is_err());
    }

    #[test]
    fn refuses_data_past_the_declared_length_when_its_chunk_header_arrives() {
        let sig = ";chunk-signature=0123456789abcdef\r\n";
        let body = format!("5{sig}hello\r\n3{sig}abc\r\n0{sig}\r\n");
        assert!(feed_declared(&[body.as_bytes()], 8).is_ok());
        let first = format!("5{sig}hello\r\n");
        assert!(
            feed_declared(&[first.as_bytes()], 4).is_err(),
            "the first chunk is already too long"
        );
        let second = format!("3{sig}");
        assert!(feed_declared(&[first.as_bytes(), second.as_bytes()], 7).is_err());
    }
}
