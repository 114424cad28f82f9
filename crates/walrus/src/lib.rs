//! Walrus: the built-in provider that keeps blobs as files on local disk.
//!
//! Layout: `ROOT/blobs/XY/KEY`, where `XY` is the first two characters of the key (keys are
//! gateway-chosen hex ids, so 256 fan-out directories made once at open). A blob is written
//! under its final name, then the file and its directory are fsync'd before `put_blob`
//! returns; a small blob is created, written and fsync'd in one trip to a blocking thread.
//! Nothing reads a blob until the metadata store references it, so a crash mid-write leaves
//! only an orphan that the reaper removes.
//!
//! [`standalone`] serves the same store to gateways on other hosts through a small S3 subset.

pub mod standalone;

use std::io::{self, Read, Seek, Write};
use std::ops::Range;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use osg_provider::{ByteStream, Error, Provider, Result};
use tokio::fs;
use tokio::io::AsyncSeekExt;

/// Bytes gathered before each write: large writes keep the disk, not syscalls, the limit.
const WRITE_BUFFER: usize = 1 << 20;
/// At most this many chunks per write (the kernel takes up to 1024 buffers in one writev).
const MAX_CHUNKS: usize = 1024;
/// Size of each chunk read back from disk.
const READ_CHUNK: usize = 256 << 10;

pub struct Walrus {
    blobs: PathBuf,
}

impl Walrus {
    /// Opens (creating if needed) a Walrus store rooted at `root`. Its directories are the
    /// owner's alone (0700), as are its blobs (0600): object bytes are no one else's to read.
    pub async fn open(root: &Path) -> io::Result<Self> {
        let blobs = root.join("blobs");
        let dirs = blobs.clone();
        blocking(move || {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true).mode(0o700);
            for i in 0..=255u8 {
                builder.create(dirs.join(format!("{i:02x}")))?;
            }
            Ok(())
        })
        .await?;
        Ok(Self { blobs })
    }

    /// The size of a stored blob.
    pub async fn size(&self, key: &str) -> Result<u64> {
        match fs::metadata(self.path(key)?).await {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NotFound(key.to_owned())),
            Err(e) => Err(unavailable(&e)),
        }
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        // Keys come from the gateway; refuse anything that could escape the store.
        if key.len() < 3 || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(Error::NotFound(key.to_owned()));
        }
        Ok(self.blobs.join(key[..2].to_ascii_lowercase()).join(key))
    }
}

fn unavailable(e: &io::Error) -> Error {
    Error::Unavailable(e.to_string())
}

#[async_trait]
impl Provider for Walrus {
    async fn put_blob(&self, key: &str, mut body: ByteStream, _length: Option<u64>) -> Result<u64> {
        let path = self.path(key)?;
        let mut file = None;
        // Chunks as they came (no copy), written together with one writev(2).
        let mut pending = Vec::new();
        let mut pending_len = 0;
        let mut written = 0u64;
        let result = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(Error::Body)?;
                written += chunk.len() as u64;
                pending_len += chunk.len();
                pending.push(chunk);
                if pending_len >= WRITE_BUFFER || pending.len() >= MAX_CHUNKS {
                    let (path, full) = (path.clone(), std::mem::take(&mut pending));
                    pending_len = 0;
                    let appended = blocking(move || append(file, &path, &full)).await;
                    file = Some(appended.map_err(|e| unavailable(&e))?);
                }
            }
            // The rest, the fsyncs, and for a small blob the whole write: one trip to a blocking thread.
            let (path, rest) = (path.clone(), pending);
            blocking(move || {
                append(file, &path, &rest)?.sync_all()?;
                std::fs::File::open(path.parent().expect("blob paths have a parent"))?.sync_all()
            })
            .await
            .map_err(|e| unavailable(&e))
        }
        .await;
        if let Err(e) = result {
            let _ = fs::remove_file(&path).await;
            return Err(e);
        }
        Ok(written)
    }

    fn needs_length(&self) -> bool {
        false
    }

    async fn get_blob(&self, key: &str, range: Range<u64>) -> Result<ByteStream> {
        let path = self.path(key)?;
        let len = range.end.saturating_sub(range.start);
        let not_found = |e: io::Error| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound(key.to_owned()),
            _ => unavailable(&e),
        };
        if len <= READ_CHUNK as u64 {
            // Small reads (most objects) in one trip to a blocking thread.
            let bytes = blocking(move || {
                let mut file = std::fs::File::open(path)?;
                let mut bytes = vec![0; len as usize];
                file.seek(io::SeekFrom::Start(range.start))?;
                file.read_exact(&mut bytes)?;
                Ok(Bytes::from(bytes))
            })
            .await
            .map_err(not_found)?;
            return Ok(Box::pin(futures::stream::once(async { Ok(bytes) })));
        }
        let mut file = fs::File::open(&path).await.map_err(not_found)?;
        if range.start > 0 {
            file.seek(io::SeekFrom::Start(range.start))
                .await
                .map_err(|e| unavailable(&e))?;
        }
        let reader = tokio::io::AsyncReadExt::take(file, len);
        let stream = tokio_util::io::ReaderStream::with_capacity(reader, READ_CHUNK);
        Ok(Box::pin(stream.map(|r| r.map_err(Into::into))))
    }

    async fn delete_blob(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(unavailable(&e)),
        }
    }

    async fn health(&self) -> Result<()> {
        fs::metadata(&self.blobs).await.map(drop).map_err(|e| unavailable(&e))
    }

    /// The store was made when it was opened.
    async fn prepare(&self) -> Result<()> {
        Ok(())
    }
}

/// Writes `chunks` at the end of the blob's file, creating the file with the first write.
fn append(file: Option<std::fs::File>, path: &Path, chunks: &[Bytes]) -> io::Result<std::fs::File> {
    let mut file = match file {
        Some(file) => file,
        None => std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?,
    };
    let mut slices: Vec<io::IoSlice> = chunks.iter().map(|c| io::IoSlice::new(c)).collect();
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        match file.write_vectored(slices)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => io::IoSlice::advance_slices(&mut slices, n),
        }
    }
    Ok(file)
}

/// Runs file work on a blocking thread.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn body(parts: &[&'static [u8]]) -> ByteStream {
        let parts: Vec<_> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Box::pin(futures::stream::iter(parts))
    }

    async fn read_all(mut s: ByteStream) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn put_get_range_delete() {
        let dir = tempfile::tempdir().unwrap();
        let w = Walrus::open(dir.path()).await.unwrap();
        let n = w
            .put_blob("ab12cd", body(&[b"hello ", b"world"]), Some(11))
            .await
            .unwrap();
        assert_eq!(n, 11);
        assert!(dir.path().join("blobs/ab/ab12cd").is_file());
        assert_eq!(
            read_all(w.get_blob("ab12cd", 0..11).await.unwrap()).await,
            b"hello world"
        );
        assert_eq!(read_all(w.get_blob("ab12cd", 6..9).await.unwrap()).await, b"wor");
        w.delete_blob("ab12cd").await.unwrap();
        w.delete_blob("ab12cd").await.unwrap();
        assert!(matches!(w.get_blob("ab12cd", 0..1).await, Err(Error::NotFound(_))));
    }

    /// A blob of several write buffers, read whole and in ranges larger and smaller than a read chunk.
    #[tokio::test]
    async fn large_blob_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let w = Walrus::open(dir.path()).await.unwrap();
        let data: Vec<u8> = (0..(3 * WRITE_BUFFER + 12345)).map(|i| (i % 251) as u8).collect();
        let chunks: Vec<_> = data.chunks(64 << 10).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let n = w
            .put_blob("cd34", Box::pin(futures::stream::iter(chunks)), None)
            .await
            .unwrap();
        assert_eq!(n, data.len() as u64);
        let len = data.len() as u64;
        assert_eq!(read_all(w.get_blob("cd34", 0..len).await.unwrap()).await, data);
        let big = 1000..(1000 + 2 * READ_CHUNK as u64);
        assert_eq!(
            read_all(w.get_blob("cd34", big.clone()).await.unwrap()).await,
            &data[1000..1000 + 2 * READ_CHUNK]
        );
        assert_eq!(
            read_all(w.get_blob("cd34", (len - 10)..len).await.unwrap()).await,
            &data[data.len() - 10..]
        );
    }

    #[tokio::test]
    async fn failed_stream_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let w = Walrus::open(dir.path()).await.unwrap();
        let failing: ByteStream = Box::pin(futures::stream::iter(vec![
            Ok(Bytes::from_static(b"partial")),
            Err::<Bytes, osg_provider::BoxError>("client went away".into()),
        ]));
        assert!(matches!(
            w.put_blob("ef01", failing, Some(100)).await,
            Err(Error::Body(_))
        ));
        assert!(!dir.path().join("blobs/ef/ef01").exists());
        // Failing after a first write: the file was made, and is gone.
        let big = Bytes::from(vec![7u8; WRITE_BUFFER + 1]);
        let failing: ByteStream = Box::pin(futures::stream::iter(vec![
            Ok(big),
            Err::<Bytes, osg_provider::BoxError>("client went away".into()),
        ]));
        assert!(matches!(
            w.put_blob("ef02", failing, Some(1 << 30)).await,
            Err(Error::Body(_))
        ));
        assert!(!dir.path().join("blobs/ef/ef02").exists());
    }

    #[tokio::test]
    async fn refuses_keys_that_escape() {
        let dir = tempfile::tempdir().unwrap();
        let w = Walrus::open(dir.path()).await.unwrap();
        for key in ["../../etc/passwd", "a/b", "x", "ab cd"] {
            assert!(w.put_blob(key, body(&[b"x"]), Some(1)).await.is_err(), "{key}");
        }
    }
}
