//! Providers on their own, against the real servers they talk to: a standalone Walrus (`osg
//! walrus`) on a loopback port, and the lane's provider (Swift, Ceph RGW, ...).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use osg_provider::{ByteStream, Error, Flavour, Kind, Provider, Settings, SwiftAuth, connect};

use crate::common::{Osg, free_port, lane, pattern, server, spawn_osg};

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

/// A stream that fails after its first chunk, as a client that goes away does.
fn failing_stream() -> ByteStream {
    let chunks: Vec<Result<Bytes, osg_provider::BoxError>> =
        vec![Ok(Bytes::from(vec![7u8; 1000])), Err("client went away".into())];
    Box::pin(futures::stream::iter(chunks))
}

async fn read(mut s: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

/// What every provider must do: store and return bytes (whole and ranged), delete
/// idempotently, tell a missing blob from a failing provider, and leave nothing readable
/// behind a failed upload stream. An impostor (wrong secret) must be refused.
async fn contract(provider: Arc<dyn Provider>, impostor: Option<Arc<dyn Provider>>) {
    provider.prepare().await.unwrap();
    provider.prepare().await.unwrap();
    provider.health().await.unwrap();
    let key = format!("{:032x}", rand::random::<u128>());
    let data = pattern(3 << 20, 11);
    assert_eq!(
        provider
            .put_blob(&key, stream(&data), Some(data.len() as u64))
            .await
            .unwrap(),
        data.len() as u64
    );
    assert_eq!(
        read(provider.get_blob(&key, 0..data.len() as u64).await.unwrap()).await,
        data
    );
    assert_eq!(
        read(provider.get_blob(&key, 1000..200_000).await.unwrap()).await,
        &data[1000..200_000]
    );
    let end = data.len() as u64;
    assert_eq!(
        read(provider.get_blob(&key, end - 1..end).await.unwrap()).await,
        &data[data.len() - 1..]
    );
    assert!(read(provider.get_blob(&key, 5..5).await.unwrap()).await.is_empty());
    provider.delete_blob(&key).await.unwrap();
    provider.delete_blob(&key).await.unwrap();
    assert!(matches!(provider.get_blob(&key, 0..1).await, Err(Error::NotFound(_))));

    // A provider that does not need the length takes a stream of unknown length (POST form
    // uploads); one that does refuses it without storing anything.
    let unsized_key = format!("{:032x}", rand::random::<u128>());
    let r = provider.put_blob(&unsized_key, stream(&data), None).await;
    if provider.needs_length() {
        assert!(matches!(r, Err(Error::Config(_))), "{r:?}");
    } else {
        assert_eq!(r.unwrap(), data.len() as u64);
        assert_eq!(
            read(provider.get_blob(&unsized_key, 0..data.len() as u64).await.unwrap()).await,
            data
        );
        provider.delete_blob(&unsized_key).await.unwrap();
    }

    let torn = format!("{:032x}", rand::random::<u128>());
    let r = provider.put_blob(&torn, failing_stream(), Some(1 << 20)).await;
    assert!(matches!(r, Err(Error::Body(_))), "{r:?}");
    assert!(
        matches!(provider.get_blob(&torn, 0..1).await, Err(Error::NotFound(_))),
        "a failed upload leaves nothing"
    );

    if let Some(impostor) = impostor {
        assert!(matches!(impostor.health().await, Err(Error::Unavailable(_))));
        let r = impostor.put_blob(&key, stream(b"x"), Some(1)).await;
        assert!(matches!(r, Err(Error::Unavailable(_))), "{r:?}");
    }
}

fn walrus_settings(port: u16, flavour: Flavour) -> Settings {
    Settings {
        flavour,
        ..Settings::new(&format!("http://127.0.0.1:{port}"), "AKWALRUSTEST", "blobs")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_provider_over_standalone_walrus() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut walrus = start_walrus(dir.path(), port);
    let settings = walrus_settings(port, Flavour::Generic);
    let provider = connect(Kind::S3, &settings, "walrus-test-secret".to_owned().into()).unwrap();
    let impostor = connect(Kind::S3, &settings, "not-the-secret".to_owned().into()).unwrap();
    contract(Arc::clone(&provider), Some(impostor)).await;

    provider
        .put_blob("0123abcd", stream(b"on disk"), Some(7))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("buckets/blobs/blobs/01/0123abcd")).unwrap(),
        b"on disk",
        "stored by the Walrus engine"
    );

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

/// The `riakcs` flavour signs with SigV2, which `osg walrus` (s3s) verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv2_flavour_over_standalone_walrus() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _walrus = start_walrus(dir.path(), port);
    let settings = walrus_settings(port, Flavour::Riakcs);
    let provider = connect(Kind::S3, &settings, "walrus-test-secret".to_owned().into()).unwrap();
    let impostor = connect(Kind::S3, &settings, "not-the-secret".to_owned().into()).unwrap();
    contract(provider, Some(impostor)).await;
}

/// The provider of the lane under test (the embedded Walrus when none is chosen).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lane_provider_contract() {
    let Some(lane) = &server().provider else {
        let dir = tempfile::tempdir().unwrap();
        let walrus = osg_walrus::Walrus::open(dir.path()).await.unwrap();
        return contract(Arc::new(walrus), None).await;
    };
    let provider = connect(lane.kind, &lane.settings, lane.secret.clone().into()).unwrap();
    let impostor = connect(lane.kind, &lane.settings, "not-the-secret".to_owned().into()).unwrap();
    contract(provider, Some(impostor)).await;
    // Swift's other ways to log in: Keystone v3 (scripts/testbed/keystone) in front of the same
    // Swift cluster.
    if lane.kind == Kind::Swift {
        let env = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name}: start scripts/testbed/keystone"));
        let ways = [
            (
                SwiftAuth::KeystonePassword,
                "OSG_TEST_KEYSTONE_USER",
                "OSG_TEST_KEYSTONE_PASSWORD",
            ),
            (
                SwiftAuth::KeystoneApplicationCredential,
                "OSG_TEST_KEYSTONE_APPCRED_ID",
                "OSG_TEST_KEYSTONE_APPCRED_SECRET",
            ),
        ];
        for (auth, user, secret) in ways {
            let settings = Settings {
                swift_auth: auth,
                project: Some(env("OSG_TEST_KEYSTONE_PROJECT")),
                ..Settings::new(&env("OSG_TEST_KEYSTONE_URL"), &env(user), &lane.settings.bucket)
            };
            let provider = connect(Kind::Swift, &settings, env(secret).into()).unwrap();
            let impostor = connect(Kind::Swift, &settings, "not-the-secret".to_owned().into()).unwrap();
            contract(provider, Some(impostor)).await;
        }
    }
    // Services that speak SigV2 as well take the `riakcs` flavour's signatures.
    if lane.kind == Kind::S3 && lane.settings.flavour == Flavour::CephRgw {
        let sigv2 = Settings {
            flavour: Flavour::Riakcs,
            ..lane.settings.clone()
        };
        let provider = connect(Kind::S3, &sigv2, lane.secret.clone().into()).unwrap();
        let impostor = connect(Kind::S3, &sigv2, "not-the-secret".to_owned().into()).unwrap();
        contract(provider, Some(impostor)).await;
    }
}

/// Swift refuses a token that has gone (expired, revoked, or, here, dropped from TempAuth's
/// memcached): the provider logs in again and the request goes through. It drops every
/// token of the cluster, so it is ignored in the parallel run and scripts/test runs it alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "drops the Swift lane's tokens: scripts/test runs it alone"]
async fn swift_logs_in_again_when_its_token_is_refused() {
    let (Some("swift"), Some(lane)) = (lane().as_deref(), &server().provider) else {
        println!("only in the swift lane");
        return;
    };
    let provider = connect(lane.kind, &lane.settings, lane.secret.clone().into()).unwrap();
    provider.prepare().await.unwrap();
    provider.put_blob("0ld70ken", stream(b"before"), Some(6)).await.unwrap();

    let http = reqwest::Client::new();
    let login = || {
        http.get(&lane.settings.endpoint)
            .header("X-Auth-User", &lane.settings.access_key)
            .header("X-Auth-Key", &lane.secret)
            .send()
    };
    let answer = login().await.unwrap();
    let token = answer.headers()["x-auth-token"].to_str().unwrap().to_owned();
    let account = answer.headers()["x-storage-url"].to_str().unwrap().to_owned();
    let with_token = || http.head(&account).header("X-Auth-Token", &token).send();
    assert!(with_token().await.unwrap().status().is_success());

    // TempAuth keeps its tokens in memcached only.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut memcached = tokio::net::TcpStream::connect("127.0.0.1:11911").await.unwrap();
    memcached.write_all(b"flush_all\r\n").await.unwrap();
    let mut ok = [0u8; 4];
    memcached.read_exact(&mut ok).await.unwrap();
    assert_eq!(&ok, b"OK\r\n");
    assert_eq!(with_token().await.unwrap().status(), 401, "the old token is gone");

    assert_eq!(
        read(provider.get_blob("0ld70ken", 0..6).await.unwrap()).await,
        b"before"
    );
    provider.delete_blob("0ld70ken").await.unwrap();
}
