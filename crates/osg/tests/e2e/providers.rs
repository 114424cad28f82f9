//! The `s3` provider against a real standalone Walrus (`osg walrus`) on a loopback port.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use osg_provider::s3::{S3Config, S3Provider};
use osg_provider::{ByteStream, Error, Provider};

use crate::common::{Osg, free_port, pattern, spawn_osg};

fn start_walrus(dir: &std::path::Path, port: u16) -> Osg {
    spawn_osg(
        "walrus",
        dir,
        port,
        &[
            ("OSG_WALRUS_ACCESS_KEY", "AKWALRUSTEST"),
            ("OSG_WALRUS_SECRET_KEY", "walrus-test-secret"),
        ],
    )
}

fn stream(data: &[u8]) -> ByteStream {
    let chunks: Vec<Result<Bytes, osg_provider::BoxError>> =
        data.chunks(64 << 10).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    Box::pin(futures::stream::iter(chunks))
}

async fn read(mut s: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_provider_over_standalone_walrus() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut walrus = start_walrus(dir.path(), port);
    let provider = S3Provider::new(&S3Config {
        endpoint: format!("http://127.0.0.1:{port}"),
        region: "us-east-1".into(),
        bucket: "blobs".into(),
        access_key: "AKWALRUSTEST".into(),
        secret_key: "walrus-test-secret".to_owned().into(),
        path_style: true,
        connect_timeout: Duration::from_secs(1),
    });
    provider.ensure_bucket().await.unwrap();
    provider.ensure_bucket().await.unwrap();
    provider.health().await.unwrap();

    let data = pattern(3 << 20, 11);
    assert_eq!(
        provider
            .put_blob("0123abcd", stream(&data), data.len() as u64)
            .await
            .unwrap(),
        data.len() as u64
    );
    assert!(
        dir.path().join("buckets/blobs/blobs/01/0123abcd").is_file(),
        "stored by the Walrus engine"
    );
    assert_eq!(
        read(provider.get_blob("0123abcd", 0..data.len() as u64).await.unwrap()).await,
        data
    );
    assert_eq!(
        read(provider.get_blob("0123abcd", 1000..200_000).await.unwrap()).await,
        &data[1000..200_000]
    );
    assert!(
        read(provider.get_blob("0123abcd", 5..5).await.unwrap())
            .await
            .is_empty()
    );
    provider.delete_blob("0123abcd").await.unwrap();
    provider.delete_blob("0123abcd").await.unwrap();
    assert!(matches!(
        provider.get_blob("0123abcd", 0..1).await,
        Err(Error::NotFound(_))
    ));

    // A wrong secret is refused.
    let impostor = S3Provider::new(&S3Config {
        endpoint: format!("http://127.0.0.1:{port}"),
        region: "us-east-1".into(),
        bucket: "blobs".into(),
        access_key: "AKWALRUSTEST".into(),
        secret_key: "not-the-secret".to_owned().into(),
        path_style: true,
        connect_timeout: Duration::from_secs(1),
    });
    assert!(matches!(impostor.health().await, Err(Error::Unavailable(_))));

    // Provider gone: calls fail fast, well within a second, and do not hang.
    walrus.0.kill().unwrap();
    walrus.0.wait().unwrap();
    let started = Instant::now();
    assert!(matches!(provider.health().await, Err(Error::Unavailable(_))));
    assert!(matches!(
        provider.get_blob("0123abcd", 0..1).await,
        Err(Error::Unavailable(_))
    ));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "failing took {took:?}");
}
