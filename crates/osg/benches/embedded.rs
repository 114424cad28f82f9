//! Throughput of the embedded default, next to the raw disk it sits on, measured in one run:
//!
//! - raw disk: 64 MiB files written in 1 MiB writes then fsync'd; 4 KiB files written and
//!   fsync'd one by one (the floor under a durable small PUT);
//! - the gateway: 4 KiB PUT and GET ops/s and 64 MiB PUT and GET MB/s, with several concurrent
//!   aws-sdk-s3 clients on loopback.
//!
//! `cargo bench -p osg --bench embedded` (a release build). The data lives in a temp dir on the
//! same file system as `TMPDIR`.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use osg::serve::{ServeArgs, Server};

const SMALL: usize = 4 << 10;
const LARGE: usize = 64 << 20;
const SMALL_CLIENTS: usize = 16;
const LARGE_CLIENTS: usize = 2;
const SMALL_SECS: u64 = 5;
const LARGE_OBJECTS: usize = 8;

fn raw_disk(dir: &std::path::Path) -> (f64, f64) {
    let block = vec![0x5au8; 1 << 20];
    let start = Instant::now();
    for i in 0..LARGE_OBJECTS {
        let mut f = std::fs::File::create(dir.join(format!("raw{i}"))).unwrap();
        for _ in 0..(LARGE >> 20) {
            f.write_all(&block).unwrap();
        }
        f.sync_all().unwrap();
        std::fs::File::open(dir).unwrap().sync_all().unwrap();
    }
    let large_mbs = (LARGE * LARGE_OBJECTS) as f64 / start.elapsed().as_secs_f64() / 1e6;
    let small = vec![0x5au8; SMALL];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(SMALL_SECS) {
        let mut f = std::fs::File::create(dir.join(format!("small{n}"))).unwrap();
        f.write_all(&small).unwrap();
        f.sync_all().unwrap();
        std::fs::File::open(dir).unwrap().sync_all().unwrap();
        n += 1;
    }
    (large_mbs, n as f64 / start.elapsed().as_secs_f64())
}

/// 4 KiB PUTs (keys `small/T/0..`) or GETs of the keys the PUTs wrote; returns ops/s.
/// `written[t]` counts client t's keys.
async fn small_ops(c: &Client, put: bool, written: &Arc<Vec<AtomicU64>>) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let body = vec![7u8; SMALL];
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..SMALL_CLIENTS {
        let (c, done, body, written) = (c.clone(), Arc::clone(&done), body.clone(), Arc::clone(written));
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while start.elapsed() < Duration::from_secs(SMALL_SECS) {
                let keys = if put {
                    u64::MAX
                } else {
                    written[t].load(Ordering::Relaxed)
                };
                let key = format!("small/{t}/{}", i % keys);
                if put {
                    written[t].fetch_max(i + 1, Ordering::Relaxed);
                    c.put_object()
                        .bucket("bench")
                        .key(key)
                        .body(body.clone().into())
                        .send()
                        .await
                        .unwrap();
                } else {
                    let out = c.get_object().bucket("bench").key(key).send().await.unwrap();
                    assert_eq!(out.body.collect().await.unwrap().into_bytes().len(), SMALL);
                }
                i += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

async fn large_mbs(c: &Client, put: bool) -> f64 {
    let body = bytes::Bytes::from(vec![9u8; LARGE]);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..LARGE_CLIENTS {
        let (c, body) = (c.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            for i in (t..LARGE_OBJECTS).step_by(LARGE_CLIENTS) {
                let key = format!("large/{i}");
                if put {
                    c.put_object()
                        .bucket("bench")
                        .key(key)
                        .body(body.clone().into())
                        .send()
                        .await
                        .unwrap();
                } else {
                    let mut out = c.get_object().bucket("bench").key(key).send().await.unwrap();
                    let mut n = 0;
                    while let Some(chunk) = out.body.try_next().await.unwrap() {
                        n += chunk.len();
                    }
                    assert_eq!(n, LARGE);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (LARGE * LARGE_OBJECTS) as f64 / start.elapsed().as_secs_f64() / 1e6
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let raw_dir = dir.path().join("raw");
    std::fs::create_dir_all(&raw_dir).unwrap();
    let (raw_large, raw_small) = raw_disk(&raw_dir);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let args = ServeArgs {
            listen: "127.0.0.1:0".parse().unwrap(),
            store: osg::bootstrap::StoreOptions::in_dir(&dir.path().join("osg")),
            tls_cert: None,
            tls_key: None,
            domain: None,
            region: "us-east-1".into(),
            shutdown_delay: 0.0,
            shutdown_grace: 30.0,
            metrics_listen: None,
        };
        let server = Server::start(&args, true).await.unwrap();
        let endpoint = format!("http://{}", server.addr);
        let text = std::fs::read_to_string(&server.credentials).unwrap();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap()
                .trim_start_matches([' ', '='])
                .trim()
                .to_owned()
        };
        let creds = Credentials::new(
            field("aws_access_key_id"),
            field("aws_secret_access_key"),
            None,
            None,
            "bench",
        );
        tokio::spawn(server.run());
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(creds)
            .force_path_style(true)
            .build();
        let c = Client::from_conf(conf);
        c.create_bucket().bucket("bench").send().await.unwrap();

        let written = Arc::new((0..SMALL_CLIENTS).map(|_| AtomicU64::new(0)).collect::<Vec<_>>());
        let put_small = small_ops(&c, true, &written).await;
        let get_small = small_ops(&c, false, &written).await;
        let put_large = large_mbs(&c, true).await;
        let get_large = large_mbs(&c, false).await;
        println!("raw disk, 64 MiB files fsync'd:        {raw_large:8.1} MB/s");
        println!("raw disk, 4 KiB files fsync'd:         {raw_small:8.1} files/s");
        println!("gateway 4 KiB PUT ({SMALL_CLIENTS} clients):        {put_small:8.1} ops/s");
        println!("gateway 4 KiB GET ({SMALL_CLIENTS} clients):        {get_small:8.1} ops/s");
        println!(
            "gateway 64 MiB PUT ({LARGE_CLIENTS} clients):        {put_large:8.1} MB/s  ({:.0}% of raw)",
            put_large / raw_large * 100.0
        );
        println!("gateway 64 MiB GET ({LARGE_CLIENTS} clients):        {get_large:8.1} MB/s");
    });
}
