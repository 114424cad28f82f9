//! Walrus: the built-in provider that keeps blobs as files on local disk.
//!
//! Layout: `ROOT/blobs/XY/KEY`, where `XY` is the first two characters of the key (keys are
//! gateway-chosen hex ids, so 256 fan-out directories made once at open). A blob is written
//! under its final name, then the file and its directory are fsync'd before `put_blob`
//! returns. Nothing reads a blob until the metadata store references it, so a crash mid-write
//! leaves only an orphan that the reaper removes.
//!
//! [`standalone`] serves the same store to gateways on other hosts through a small S3 subset.

pub mod standalone;

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use futures::StreamExt;
use osg_provider::{ByteStream, Error, Provider, Result};
use tokio::fs;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

/// Bytes gathered before each write(2): large writes keep the disk, not syscalls, the limit.
const WRITE_BUFFER: usize = 1 << 20;
/// Size of each chunk read back from disk.
const READ_CHUNK: usize = 256 << 10;

pub struct Walrus {
    blobs: PathBuf,
}

impl Walrus {
    /// Opens (creating if needed) a Walrus store rooted at `root`.
    pub async fn open(root: &Path) -> io::Result<Self> {
        let blobs = root.join("blobs");
        for i in 0..=255u8 {
            fs::create_dir_all(blobs.join(format!("{i:02x}"))).await?;
        }
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
    async fn put_blob(&self, key: &str, mut body: ByteStream, _length: u64) -> Result<u64> {
        let path = self.path(key)?;
        let file = fs::File::create_new(&path).await.map_err(|e| unavailable(&e))?;
        let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut written = 0u64;
        let result = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(Error::Body)?;
                out.write_all(&chunk).await.map_err(|e| unavailable(&e))?;
                written += chunk.len() as u64;
            }
            out.flush().await.map_err(|e| unavailable(&e))?;
            out.get_ref().sync_all().await.map_err(|e| unavailable(&e))?;
            sync_dir(path.parent().expect("blob paths have a parent"))
                .await
                .map_err(|e| unavailable(&e))
        }
        .await;
        if let Err(e) = result {
            drop(out);
            let _ = fs::remove_file(&path).await;
            return Err(e);
        }
        Ok(written)
    }

    async fn get_blob(&self, key: &str, range: Range<u64>) -> Result<ByteStream> {
        let path = self.path(key)?;
        let mut file = match fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::NotFound(key.to_owned())),
            Err(e) => return Err(unavailable(&e)),
        };
        if range.start > 0 {
            file.seek(io::SeekFrom::Start(range.start))
                .await
                .map_err(|e| unavailable(&e))?;
        }
        let len = range.end.saturating_sub(range.start);
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

async fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir).await?.sync_all().await
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
        let n = w.put_blob("ab12cd", body(&[b"hello ", b"world"]), 11).await.unwrap();
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

    #[tokio::test]
    async fn failed_stream_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let w = Walrus::open(dir.path()).await.unwrap();
        let failing: ByteStream = Box::pin(futures::stream::iter(vec![
            Ok(Bytes::from_static(b"partial")),
            Err::<Bytes, osg_provider::BoxError>("client went away".into()),
        ]));
        assert!(matches!(w.put_blob("ef01", failing, 100).await, Err(Error::Body(_))));
        assert!(!dir.path().join("blobs/ef/ef01").exists());
    }

    #[tokio::test]
    async fn refuses_keys_that_escape() {
        let dir = tempfile::tempdir().unwrap();
        let w = Walrus::open(dir.path()).await.unwrap();
        for key in ["../../etc/passwd", "a/b", "x", "ab cd"] {
            assert!(w.put_blob(key, body(&[b"x"]), 1).await.is_err(), "{key}");
        }
    }
}
