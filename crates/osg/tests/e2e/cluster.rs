//! Three `osg gateway` processes on one PostgreSQL metadata store and one standalone Walrus:
//! any gateway serves any request, with S3's read-after-write consistency across them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::common::*;

const ACCESS_KEY: &str = "AKCLUSTERTEST0000000";
const SECRET_KEY: &str = "cluster-test-secret-key-00000000000000000";

struct Cluster {
    /// The gateways' and the Walrus's directories.
    dir: tempfile::TempDir,
    db: String,
    key_file: String,
    gateways: Vec<(u16, Option<Osg>)>,
    /// Each gateway's metrics port.
    metrics: Vec<u16>,
    _walrus: Osg,
}

impl Cluster {
    /// Starts `n` gateways at once on a new database (they race to create the schema and the
    /// system account), then registers a standalone Walrus as the backend with the CLI.
    async fn start(n: usize) -> Cluster {
        let url =
            std::env::var("OSG_TEST_POSTGRES_URL").expect("OSG_TEST_POSTGRES_URL: run scripts/testbed/postgres up");
        let dir = tempfile::tempdir().unwrap();
        let db = new_database(&url);
        let key_file = dir.path().join("cluster.key");
        std::fs::write(&key_file, rand::random::<[u8; 32]>()).unwrap();
        let key_file = key_file.to_str().unwrap().to_owned();
        let metrics: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let spawned: Vec<_> = (0..n)
            .map(|i| {
                let (db, key_file, gw_dir) = (db.clone(), key_file.clone(), dir.path().join(format!("gw{i}")));
                let metrics = format!("127.0.0.1:{}", metrics[i]);
                std::thread::spawn(move || {
                    spawn_osg_anywhere(
                        "gateway",
                        &gw_dir,
                        &[
                            ("OSG_DB", db.as_str()),
                            ("OSG_MASTER_KEY_FILE", key_file.as_str()),
                            ("OSG_ADMIN_ACCESS_KEY", ACCESS_KEY),
                            ("OSG_ADMIN_SECRET_KEY", SECRET_KEY),
                            ("OSG_METRICS_LISTEN", metrics.as_str()),
                        ],
                    )
                })
            })
            .collect();
        let gateways = spawned
            .into_iter()
            .map(|t| {
                let (gateway, port) = t.join().unwrap();
                (port, Some(gateway))
            })
            .collect();
        let (walrus, walrus_port) = spawn_osg_anywhere(
            "walrus",
            &dir.path().join("walrus"),
            &[
                ("OSG_WALRUS_ACCESS_KEY", "AKCLUSTERWALRUS"),
                ("OSG_WALRUS_SECRET_KEY", "cluster-walrus-secret"),
            ],
        );
        let cluster = Cluster {
            dir,
            db,
            key_file,
            gateways,
            metrics,
            _walrus: walrus,
        };
        // No provider yet: the gateways answer, data operations are a 503.
        let r = cluster.client(0).create_bucket().bucket("too-early").send().await;
        assert_eq!(error_of(r), ("ServiceUnavailable".into(), 503));
        let _ = cluster.osg(
            &[
                "provider",
                "add",
                "shared",
                "--kind",
                "s3",
                "--endpoint",
                &format!("http://127.0.0.1:{walrus_port}"),
                "--access-key",
                "AKCLUSTERWALRUS",
                "--secret-file",
                "-",
            ],
            "cluster-walrus-secret\n",
        );
        let _ = cluster.osg(&["property", "set", "osg.backend=shared"], "");
        // Every gateway picks the new provider up (registry reloads each second, then the
        // provider's bucket is made) and places buckets on it.
        let deadline = Instant::now() + Duration::from_secs(5);
        for g in 0..n {
            while let Err(e) = cluster
                .client(g)
                .create_bucket()
                .bucket(format!("probe-{g}"))
                .send()
                .await
            {
                assert!(Instant::now() < deadline, "gateway {g}: {e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        cluster
    }

    fn endpoint(&self, g: usize) -> String {
        format!("http://127.0.0.1:{}", self.gateways[g].0)
    }

    fn client(&self, g: usize) -> Client {
        client_at(&self.endpoint(g), ACCESS_KEY, SECRET_KEY)
    }

    /// Runs the admin CLI on the cluster's store, with `input` on standard input; returns
    /// what it printed.
    fn osg(&self, args: &[&str], input: &str) -> String {
        let mut osg = std::process::Command::new(env!("CARGO_BIN_EXE_osg"));
        osg.args(args)
            .arg("--data-dir")
            .arg(self.dir.path().join("admin"))
            .env("OSG_DB", &self.db)
            .env("OSG_MASTER_KEY_FILE", &self.key_file)
            .env("RUST_LOG", "warn");
        let run = run_cli(osg, input);
        assert!(run.ok, "osg {args:?}: {}", run.err);
        run.out
    }

    /// Another handle on the cluster's metadata store.
    async fn meta(&self) -> osg_meta::Meta {
        let key: [u8; 32] = std::fs::read(&self.key_file).unwrap().try_into().unwrap();
        osg_meta::Meta::open(&self.db, osg_meta::Sealer::new(&key))
            .await
            .unwrap()
    }

    /// How many blobs the shared Walrus holds.
    fn blob_files(&self) -> usize {
        let fans = std::fs::read_dir(self.dir.path().join("walrus/buckets/osg-blobs/blobs")).unwrap();
        fans.map(|fan| std::fs::read_dir(fan.unwrap().path()).unwrap().count())
            .sum()
    }

    /// Gateway `g`'s metric `name_and_labels` (0 when it has none yet).
    async fn metric(&self, g: usize, name_and_labels: &str) -> f64 {
        let page = reqwest::get(format!("http://127.0.0.1:{}/metrics", self.metrics[g]))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        sample(&page, name_and_labels).unwrap_or(0.0)
    }

    fn kill(&mut self, g: usize) {
        let mut gateway = self.gateways[g].1.take().unwrap();
        gateway.0.kill().unwrap();
        gateway.0.wait().unwrap();
    }
}

async fn get(c: &Client, bucket: &str, key: &str) -> Result<Vec<u8>, (String, u16)> {
    match c.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => Ok(o.body.collect().await.unwrap().into_bytes().to_vec()),
        Err(e) => Err(error_of::<(), _, _>(Err(e))),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_one_store() {
    let cluster = Cluster::start(3).await;
    let clients: Vec<Client> = (0..3).map(|g| cluster.client(g)).collect();

    // Concurrent CreateBucket of one name through every gateway: exactly one succeeds.
    let tries: Vec<_> = (0..9)
        .map(|i| {
            let c = clients[i % 3].clone();
            tokio::spawn(async move { c.create_bucket().bucket("contested").send().await.is_ok() })
        })
        .collect();
    let mut won = 0;
    for t in tries {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1, "one CreateBucket wins");

    // Read-after-write, list-after-write and delete across gateways.
    let b = "raw";
    clients[0].create_bucket().bucket(b).send().await.unwrap();
    for i in 0..30usize {
        let (w, r, l) = (i % 3, (i + 1) % 3, (i + 2) % 3);
        let key = format!("k{i}");
        let data = pattern(4096 + i, i as u8);
        clients[w]
            .put_object()
            .bucket(b)
            .key(&key)
            .body(data.clone().into())
            .send()
            .await
            .unwrap();
        assert_eq!(get(&clients[r], b, &key).await.unwrap(), data, "read after write");
        let listed = clients[l]
            .list_objects_v2()
            .bucket(b)
            .prefix(&key)
            .send()
            .await
            .unwrap();
        assert!(
            listed.contents().iter().any(|o| o.key() == Some(key.as_str())),
            "list after write"
        );
        if i % 2 == 0 {
            clients[r].delete_object().bucket(b).key(&key).send().await.unwrap();
            assert_eq!(get(&clients[l], b, &key).await.unwrap_err(), ("NoSuchKey".into(), 404));
        }
    }

    // A multipart upload whose parts arrive at different gateways.
    let up = clients[0]
        .create_multipart_upload()
        .bucket(b)
        .key("mp")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let parts = [pattern(5 << 20, 1), pattern(5 << 20, 2), pattern(1000, 3)];
    let mut done = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap();
        let r = clients[i % 3]
            .upload_part()
            .bucket(b)
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .body(part.clone().into())
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    let listed = clients[1]
        .list_parts()
        .bucket(b)
        .key("mp")
        .upload_id(id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), 3);
    clients[2]
        .complete_multipart_upload()
        .bucket(b)
        .key("mp")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap();
    assert_eq!(get(&clients[1], b, "mp").await.unwrap(), parts.concat());

    // Concurrent PUTs of one key through every gateway while readers watch: exactly one body
    // is current at the end, and no reader ever sees anything but a whole body.
    let bodies: Vec<Vec<u8>> = (0..12u8).map(|i| pattern(300_000 + usize::from(i), i)).collect();
    let bodies = Arc::new(bodies);
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    clients[0]
        .put_object()
        .bucket(b)
        .key("hot")
        .body(bodies[0].clone().into())
        .send()
        .await
        .unwrap();
    let readers: Vec<_> = (0..3)
        .map(|g| {
            let (c, bodies, stop, reads) = (
                clients[g].clone(),
                Arc::clone(&bodies),
                Arc::clone(&stop),
                Arc::clone(&reads),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let got = get(&c, "raw", "hot").await.unwrap();
                    assert!(bodies.contains(&got), "a reader saw a mix");
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..bodies.len())
        .map(|i| {
            let (c, body) = (clients[i % 3].clone(), bodies[i].clone());
            tokio::spawn(async move {
                c.put_object()
                    .bucket("raw")
                    .key("hot")
                    .body(body.into())
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    assert!(reads.load(Ordering::Relaxed) > 0);
    let finals: HashSet<Vec<u8>> = futures::future::join_all((0..3).map(|g| {
        let c = clients[g].clone();
        async move { get(&c, "raw", "hot").await.unwrap() }
    }))
    .await
    .into_iter()
    .collect();
    assert_eq!(finals.len(), 1, "every gateway reads the same current version");
    assert!(bodies.contains(finals.iter().next().unwrap()));
    let versions = clients[1]
        .list_objects_v2()
        .bucket(b)
        .prefix("hot")
        .send()
        .await
        .unwrap();
    assert_eq!(versions.contents().len(), 1);
    // The replaced bodies' blobs are all queued for the reaper: every blob is a current
    // object's (one per part for "mp") or queued, none is left untracked.
    let meta = cluster.meta().await;
    let mut referenced = 0;
    for bucket in ["raw", "contested"] {
        let mut pages = clients[0].list_objects_v2().bucket(bucket).into_paginator().send();
        while let Some(page) = pages.next().await {
            for o in page.unwrap().contents() {
                referenced += meta.object(bucket, o.key().unwrap()).await.unwrap().pieces.len();
            }
        }
    }
    let (pending, dead) = backlog(&meta).await;
    assert_eq!(pending, 0);
    assert!(dead >= 11, "eleven of the twelve bodies were replaced");
    assert_eq!(cluster.blob_files(), referenced + usize::try_from(dead).unwrap());

    // Identity changes made through one gateway apply on the others: a new key at once, a
    // policy within two seconds.
    let account = meta.create_account("cluster-tenant").await.unwrap();
    meta.create_user(&account.id, "u", "/").await.unwrap();
    let (key, secret) = meta.create_access_key(&account.id, Some("u")).await.unwrap();
    let allow = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    let user = meta.user(&account.id, "u").await.unwrap();
    meta.put_inline_policy(&osg_meta::Owner::User(&user), "p", allow)
        .await
        .unwrap();
    let u: Vec<Client> = (0..3).map(|g| client_at(&cluster.endpoint(g), &key, &secret)).collect();
    let deadline = Instant::now() + Duration::from_secs(2);
    while u[2].create_bucket().bucket("tenant-b").send().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the new key and policy reach gateway 2 within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:ListBucket","Resource":"*"}]}"#;
    meta.put_inline_policy(&osg_meta::Owner::User(&user), "deny", deny)
        .await
        .unwrap();
    let changed = Instant::now();
    loop {
        let denied = futures::future::join_all(u.iter().map(|c| c.list_objects_v2().bucket("tenant-b").send())).await;
        if denied
            .into_iter()
            .all(|r| r.is_err() && error_of(r) == ("AccessDenied".into(), 403))
        {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(2),
            "the Deny reaches every gateway within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("a Deny reached all three gateways in {:?}", changed.elapsed());
}

/// kill -9 of one gateway of three under load: clients retry on another, and afterwards every
/// acknowledged object reads back byte-identical from every survivor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_when_a_gateway_dies() {
    let mut cluster = Cluster::start(3).await;
    let clients: Arc<Vec<Client>> = Arc::new((0..3).map(|g| cluster.client(g)).collect());
    clients[0].create_bucket().bucket("failover").send().await.unwrap();
    let dead = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let retried = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..6usize)
        .map(|w| {
            let (clients, dead, stop, acked, retried) = (
                Arc::clone(&clients),
                Arc::clone(&dead),
                Arc::clone(&stop),
                Arc::clone(&acked),
                Arc::clone(&retried),
            );
            tokio::spawn(async move {
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("w{w}/{n}");
                    let data = pattern(8192 + n, (w + n) as u8);
                    // Each writer prefers gateway w % 3; on failure it tries the next one.
                    let mut g = w % 3;
                    let mut attempts = 0;
                    loop {
                        let r = clients[g]
                            .put_object()
                            .bucket("failover")
                            .key(&key)
                            .body(ByteStream::from(data.clone()))
                            .send()
                            .await;
                        match r {
                            Ok(_) => break,
                            Err(_) if attempts < 5 => {
                                assert!(dead.load(Ordering::Relaxed), "a failure with every gateway up");
                                attempts += 1;
                                retried.fetch_add(1, Ordering::Relaxed);
                                g = (g + 1) % 3;
                            }
                            Err(e) => panic!("{key}: {e:?}"),
                        }
                    }
                    acked.lock().unwrap().push((key, data));
                    n += 1;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    dead.store(true, Ordering::Relaxed);
    cluster.kill(0);
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let writing_after_kill = killed.elapsed();
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    for (key, data) in &acked {
        for g in 1..3 {
            assert_eq!(
                &get(&clients[g], "failover", key).await.unwrap(),
                data,
                "{key} via gateway {g}"
            );
        }
    }
    // Every blob on the provider is an object's, or is queued for the reaper (writes the dead
    // gateway left unfinished wait for their lease to end): no orphan escapes it.
    let mut objects = 0;
    let mut pages = clients[2].list_objects_v2().bucket("failover").into_paginator().send();
    while let Some(page) = pages.next().await {
        objects += page.unwrap().contents().len();
    }
    assert!(objects >= acked.len());
    let (pending, dead) = backlog(&cluster.meta().await).await;
    // (A lease taken just before the kill may have no file yet: hence at most, not equal.)
    let files = cluster.blob_files();
    assert!(files >= objects, "{files} files for {objects} objects");
    let tracked = objects + usize::try_from(pending + dead).unwrap();
    assert!(files <= tracked, "{files} files, only {tracked} known to the store");
    println!(
        "failover: {} objects acknowledged by 3 then 2 gateways, {} requests retried on another gateway ({:?} of writes after the kill); all read back; {pending} unfinished writes left to the reaper",
        acked.len(),
        retried.load(Ordering::Relaxed),
        writing_after_kill
    );
}

/// Clients spread over three gateways run random PUT, GET, DELETE and LIST on a few keys for
/// a while; then every key's history, read as a register, must be linearizable: no read sees a
/// value older than one already acknowledged, no acknowledged write is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_are_linearizable() {
    use crate::linearizable::{Act, Op, check};
    use std::collections::HashMap;

    const KEYS: [&str; 4] = ["a", "b", "c", "d"];
    let cluster = Cluster::start(3).await;
    let clients: Arc<Vec<Client>> = Arc::new((0..3).map(|g| cluster.client(g)).collect());
    clients[0].create_bucket().bucket("hist").send().await.unwrap();
    let epoch = Instant::now();
    let micros = move || u64::try_from(epoch.elapsed().as_micros()).unwrap();
    let log: Arc<Mutex<Vec<(String, Op)>>> = Arc::default();
    // A value's ETag (the MD5 of its body), to read LIST results by.
    let by_etag: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let until = Instant::now() + Duration::from_secs(8);
    let workers: Vec<_> = (0..6u64)
        .map(|w| {
            let (clients, log, by_etag) = (Arc::clone(&clients), Arc::clone(&log), Arc::clone(&by_etag));
            tokio::spawn(async move {
                let mut seed = w.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                let mut next = move || {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed
                };
                let mut n = 0;
                while Instant::now() < until {
                    n += 1;
                    let c = &clients[usize::try_from(next() % 3).unwrap()];
                    let key = KEYS[usize::try_from(next() % 4).unwrap()];
                    let start = micros();
                    match next() % 20 {
                        0..=7 => {
                            let id = w * 1_000_000 + n;
                            let body = format!("value {id}");
                            by_etag
                                .lock()
                                .unwrap()
                                .insert(format!("\"{}\"", md5_hex(body.as_bytes())), id);
                            c.put_object()
                                .bucket("hist")
                                .key(key)
                                .body(body.into_bytes().into())
                                .send()
                                .await
                                .unwrap();
                            log.lock().unwrap().push((
                                key.into(),
                                Op {
                                    start,
                                    end: micros(),
                                    act: Act::Write(id),
                                },
                            ));
                        }
                        8..=14 => {
                            let seen = match get(c, "hist", key).await {
                                Ok(body) => Some(String::from_utf8(body).unwrap()[6..].parse().unwrap()),
                                Err(e) => {
                                    assert_eq!(e.1, 404, "{e:?}");
                                    None
                                }
                            };
                            log.lock().unwrap().push((
                                key.into(),
                                Op {
                                    start,
                                    end: micros(),
                                    act: Act::Read(seen),
                                },
                            ));
                        }
                        15..=16 => {
                            c.delete_object().bucket("hist").key(key).send().await.unwrap();
                            log.lock().unwrap().push((
                                key.into(),
                                Op {
                                    start,
                                    end: micros(),
                                    act: Act::Delete,
                                },
                            ));
                        }
                        _ => {
                            let page = c.list_objects_v2().bucket("hist").send().await.unwrap();
                            let end = micros();
                            let listed: HashMap<&str, &str> = page
                                .contents()
                                .iter()
                                .map(|o| (o.key().unwrap(), o.e_tag().unwrap()))
                                .collect();
                            let by_etag = by_etag.lock().unwrap();
                            let mut log = log.lock().unwrap();
                            for k in KEYS {
                                let seen = listed.get(k).map(|etag| by_etag[*etag]);
                                log.push((
                                    k.into(),
                                    Op {
                                        start,
                                        end,
                                        act: Act::Read(seen),
                                    },
                                ));
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    // Quiescent: a last read of every key through each gateway.
    for c in clients.iter() {
        for key in KEYS {
            let start = micros();
            let seen = get(c, "hist", key)
                .await
                .ok()
                .map(|body| String::from_utf8(body).unwrap()[6..].parse().unwrap());
            log.lock().unwrap().push((
                key.into(),
                Op {
                    start,
                    end: micros(),
                    act: Act::Read(seen),
                },
            ));
        }
    }
    let log = log.lock().unwrap();
    assert!(log.len() > 200, "too few operations: {}", log.len());
    for key in KEYS {
        let history: Vec<Op> = log.iter().filter(|(k, _)| k == key).map(|(_, op)| *op).collect();
        check(&history).unwrap_or_else(|e| panic!("key {key}: {e}"));
    }
    eprintln!(
        "histories: {} operations on {} keys through 3 gateways, linearizable",
        log.len(),
        KEYS.len()
    );
}

/// Blobs the reapers have yet to delete, over every shard: `(being written, dead)`.
async fn backlog(meta: &osg_meta::Meta) -> (i64, i64) {
    let mut total = (0, 0);
    for shard in meta.shard_names().await.unwrap() {
        let (pending, dead) = meta.blob_backlog(&shard).await.unwrap();
        total = (total.0 + pending, total.1 + dead);
    }
    total
}

/// Two PostgreSQL servers: the catalog's (shard `main`) and a second one registered with `osg
/// shard add`. Buckets spread over both; when the second server goes down, its buckets answer
/// 503 (soon) while the others' keep serving through every gateway, and once it is back its
/// buckets serve again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_outage_fails_only_its_buckets() {
    let cluster = Cluster::start(2).await;
    let second = PrivatePostgres::start();
    let url = second.new_database();
    // A password never goes on a command line: such a URL is refused there.
    let with_password = url.replace("postgres@", "postgres:secret@");
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_osg"))
        .args(["shard", "add", "s2", "--url", &with_password])
        .env("OSG_DB", &cluster.db)
        .env("OSG_MASTER_KEY_FILE", &cluster.key_file)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--url-file"));
    let _ = cluster.osg(&["shard", "add", "s2", "--url-file", "-"], &url);
    let clients: Vec<Client> = (0..2)
        .map(|g| {
            let conf = cluster.client(g).config().to_builder();
            Client::from_conf(
                conf.retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
                    .build(),
            )
        })
        .collect();
    let meta = cluster.meta().await;
    let mut on = std::collections::HashMap::new();
    for i in 0..4 {
        let bucket = format!("spread-{i}");
        clients[i % 2].create_bucket().bucket(&bucket).send().await.unwrap();
        let shard = meta.bucket(&bucket).await.unwrap().shard;
        clients[0]
            .put_object()
            .bucket(&bucket)
            .key("k")
            .body(ByteStream::from(bucket.clone().into_bytes()))
            .send()
            .await
            .unwrap();
        on.entry(shard).or_insert(bucket);
    }
    let (up, down) = (on["main"].clone(), on["s2"].clone());
    let listed: serde_json::Value = serde_json::from_str(&cluster.osg(&["shard", "list", "--json"], "")).unwrap();
    assert_eq!(listed[1]["name"], "s2");
    assert!(listed[1]["buckets"].as_i64().unwrap() >= 1);
    assert!(listed[1]["objects"].as_i64().unwrap() >= 1);

    second.stop();
    let started = Instant::now();
    for c in &clients {
        assert_eq!(get(c, &down, "k").await, Err(("ServiceUnavailable".into(), 503)));
        let put = c
            .put_object()
            .bucket(&down)
            .key("k2")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await;
        assert_eq!(error_of(put), ("ServiceUnavailable".into(), 503));
        let list = c.list_objects_v2().bucket(&down).send().await;
        assert_eq!(error_of(list), ("ServiceUnavailable".into(), 503));
        assert_eq!(get(c, &up, "k").await.unwrap(), up.as_bytes());
        c.put_object()
            .bucket(&up)
            .key("k2")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
        let listed = c.list_objects_v2().bucket(&up).send().await.unwrap();
        assert_eq!(listed.key_count(), Some(2));
    }
    // The first 503 within the pool's 5 s wait for a connection, the others at once: each
    // gateway has found out (its check of the shard, every second).
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let listed: serde_json::Value = serde_json::from_str(&cluster.osg(&["shard", "list", "--json"], "")).unwrap();
    assert!(
        listed[1]["error"].as_str().unwrap().starts_with("unreachable"),
        "{listed}"
    );
    assert_eq!(listed[0]["error"], "");

    second.start_again();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match get(&clients[1], &down, "k").await {
            Ok(body) => break assert_eq!(body, down.as_bytes()),
            Err(e) => assert!(Instant::now() < deadline, "{e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    clients[0]
        .put_object()
        .bucket(&down)
        .key("k2")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
}

/// Lifecycle on two gateways, on a day shortened to seconds: both take buckets' runs; when the
/// gateway running a bucket dies mid-run, the other takes the run over once its lease runs out
/// and finishes it. (One gateway per run at a time is the store's test
/// `lifecycle::one_gateway_holds_a_run_until_its_lease_runs_out`, on both databases.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_runs_are_shared_and_survive_a_dead_gateway() {
    use aws_sdk_s3::types::{BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule};
    const BIG: usize = 300;
    let mut cluster = Cluster::start(2).await;
    let _ = cluster.osg(&["property", "set", "osg.lifecycle.day-seconds=2"], "");
    // Paced to 40 versions a second, the big bucket's run takes several seconds.
    let _ = cluster.osg(&["property", "set", "osg.lifecycle.rate=40"], "");
    let c = cluster.client(0);
    let buckets = [("lc-0", 10), ("lc-1", 10), ("lc-2", 10), ("lc-big", BIG)];
    let rule = LifecycleRule::builder()
        .id("all")
        .status(ExpirationStatus::Enabled)
        .filter(aws_sdk_s3::types::LifecycleRuleFilter::builder().prefix("").build())
        .expiration(LifecycleExpiration::builder().days(1).build())
        .build()
        .unwrap();
    for (b, n) in buckets {
        c.create_bucket().bucket(b).send().await.unwrap();
        for start in (0..n).step_by(16) {
            let puts: Vec<_> = (start..n.min(start + 16))
                .map(|i| {
                    let c = cluster.client(i % 2);
                    tokio::spawn(async move {
                        c.put_object()
                            .bucket(b)
                            .key(format!("k{i:04}"))
                            .body(ByteStream::from_static(b"x"))
                            .send()
                            .await
                            .unwrap();
                    })
                })
                .collect();
            for p in puts {
                p.await.unwrap();
            }
        }
        let config = BucketLifecycleConfiguration::builder()
            .rules(rule.clone())
            .build()
            .unwrap();
        c.put_bucket_lifecycle_configuration()
            .bucket(b)
            .lifecycle_configuration(config)
            .send()
            .await
            .unwrap();
    }
    let expired = |b: &str| format!(r#"osg_lifecycle_expired_total{{bucket="{b}",what="current"}}"#);
    let examined = |b: &str| format!(r#"osg_lifecycle_examined_total{{bucket="{b}"}}"#);
    // Wait until one gateway is expiring the big bucket, then kill it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (runner, before) = 'found: loop {
        for g in 0..2 {
            let n = cluster.metric(g, &expired("lc-big")).await;
            if n > 0.0 {
                break 'found (g, n);
            }
        }
        assert!(Instant::now() < deadline, "no gateway ran the big bucket");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut worked = [false, false];
    for (g, did) in worked.iter_mut().enumerate() {
        for (b, _) in buckets {
            *did |= cluster.metric(g, &examined(b)).await > 0.0;
        }
    }
    assert_eq!(worked, [true, true], "both gateways ran buckets");
    cluster.kill(runner);
    #[allow(clippy::cast_precision_loss)]
    let big = BIG as f64;
    assert!(before < big, "killed mid-run ({before} of {BIG} expired)");
    let survivor = 1 - runner;
    let c = cluster.client(survivor);
    let deadline = Instant::now() + Duration::from_secs(60);
    for (b, _) in buckets {
        loop {
            let left = c.list_objects_v2().bucket(b).send().await.unwrap().key_count();
            if left == Some(0) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{b}: {left:?} objects left after the takeover"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let taken_over = cluster.metric(survivor, &expired("lc-big")).await;
    assert!(taken_over >= 1.0, "the survivor finished the run");
}

/// A quota set with the CLI holds on every gateway within two seconds, counted over what all
/// of them wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_hold_on_every_gateway() {
    let cluster = Cluster::start(2).await;
    let (c0, c1) = (cluster.client(0), cluster.client(1));
    c0.create_bucket().bucket("quota").send().await.unwrap();
    let put = |c: &Client, key: String| {
        c.put_object()
            .bucket("quota")
            .key(key)
            .body(vec![3u8; 100].into())
            .send()
    };
    for (g, c) in [&c0, &c1].into_iter().enumerate() {
        put(c, format!("before-{g}")).await.unwrap();
    }
    cluster.osg(&["bucket", "quota", "quota", "--max-bytes", "250"], "");
    let set = Instant::now();
    // Gateway 1 took no part in setting it; what both wrote counts.
    let mut n = 0;
    loop {
        match put(&c1, format!("after-{n}")).await {
            Ok(_) => n += 1,
            Err(e) => {
                assert_eq!(error_of::<(), _, _>(Err(e)), ("QuotaExceeded".into(), 403));
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        set.elapsed() <= Duration::from_secs(2),
        "seen after {:?}",
        set.elapsed()
    );
    // An account quota, likewise, on the other gateway and another bucket.
    c1.create_bucket().bucket("quota-2").send().await.unwrap();
    let json = cluster.osg(&["account", "quota", "system", "--max-objects", "0", "--json"], "");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json).unwrap()["max_objects"],
        0
    );
    let set = Instant::now();
    loop {
        let r = c0
            .put_object()
            .bucket("quota-2")
            .key("k")
            .body(vec![1u8].into())
            .send()
            .await;
        if let Err(e) = r {
            assert_eq!(error_of::<(), _, _>(Err(e)), ("QuotaExceeded".into(), 403));
            break;
        }
        c0.delete_object().bucket("quota-2").key("k").send().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        set.elapsed() <= Duration::from_secs(2),
        "seen after {:?}",
        set.elapsed()
    );
    let usage = cluster.osg(&["usage", "--account", "system", "--json"], "");
    let rows: serde_json::Value = serde_json::from_str(&usage).unwrap();
    let quota = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["bucket"] == "quota")
        .unwrap();
    assert_eq!(
        (&quota["objects"], &quota["bytes"]),
        (&(2 + n).into(), &(200 + 100 * n).into())
    );
}
