//! Provider loss under load: the lane's provider is stopped while writers run through the
//! gateway, then started again. It stops a provider other tests use, so it is ignored in the
//! parallel run and `scripts/test` runs it alone in each lane.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

/// How the lane's provider is stopped and started.
enum Control {
    /// A testbed script's `stop-service` / `start-service`.
    Testbed(&'static str),
    /// A standalone Walrus process of this test's own (for the Walrus lanes).
    Walrus {
        dir: tempfile::TempDir,
        port: u16,
        process: Option<Osg>,
    },
}

impl Control {
    fn stop(&mut self) {
        match self {
            Control::Testbed(name) => testbed(name, "stop-service"),
            Control::Walrus { process, .. } => drop(process.take()),
        }
    }

    fn start(&mut self) {
        match self {
            Control::Testbed(name) => testbed(name, "start-service"),
            Control::Walrus { dir, port, process } => {
                *process = Some(spawn_osg(
                    "walrus",
                    dir.path(),
                    *port,
                    &[
                        ("OSG_WALRUS_ACCESS_KEY", "AKOUTAGE"),
                        ("OSG_WALRUS_SECRET_KEY", "outage-secret"),
                    ],
                ));
            }
        }
    }
}

fn testbed(name: &str, command: &str) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/testbed")
        .join(name);
    let status = std::process::Command::new(script).arg(command).status().unwrap();
    assert!(status.success(), "{name} {command}");
}

#[derive(Default)]
struct Tally {
    acked: Vec<(String, Vec<u8>)>,
    /// Latency, S3 code and status of each failed request.
    failed: Vec<(Duration, String, u16)>,
    last_ack: Option<Instant>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stops the lane's provider: scripts/test runs it alone"]
async fn provider_outage_is_a_fast_503_and_loses_nothing() {
    let meta = server().meta().await;
    let backend = meta.property("osg.backend").await.unwrap();
    let mut control = match lane().as_deref() {
        Some("swift" | "swift-s3api") => Control::Testbed("swift"),
        Some("ceph-rgw") => Control::Testbed("ceph-rgw"),
        // The Walrus lanes: a standalone Walrus process of our own becomes the backend.
        _ => {
            let port = free_port();
            let mut control = Control::Walrus {
                dir: tempfile::tempdir().unwrap(),
                port,
                process: None,
            };
            control.start();
            let settings = osg_provider::Settings::new(&format!("http://127.0.0.1:{port}"), "AKOUTAGE", "outage");
            add_provider(&meta, "outage", "s3", &settings, "outage-secret").await;
            meta.set_property("osg.backend", "outage").await.unwrap();
            control
        }
    };
    let c = client_without_retries();
    // Every gateway sees a new provider within a second or two.
    let bucket = bucket_name("outage");
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Err(e) = c.create_bucket().bucket(&bucket).send().await {
        assert!(Instant::now() < deadline, "{e:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let tally = Arc::new(Mutex::new(Tally::default()));
    let running = Arc::new(AtomicBool::new(true));
    let mut writers = Vec::new();
    for w in 0..4u8 {
        let (c, bucket, tally, running) = (c.clone(), bucket.clone(), Arc::clone(&tally), Arc::clone(&running));
        writers.push(tokio::spawn(async move {
            let mut n = 0u32;
            while running.load(Ordering::Relaxed) {
                let key = format!("w{w}/{n}");
                let data = pattern(64 << 10, w.wrapping_add(n as u8));
                let started = Instant::now();
                let r = c
                    .put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .body(ByteStream::from(data.clone()))
                    .send()
                    .await;
                let took = started.elapsed();
                {
                    let mut t = tally.lock().unwrap();
                    match r {
                        Ok(_) => {
                            t.acked.push((key, data));
                            t.last_ack = Some(Instant::now());
                        }
                        Err(e) => {
                            let (code, status) = error_of::<(), _, _>(Err(e));
                            t.failed.push((took, code, status));
                        }
                    }
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(1)).await;
    control.stop();
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // While the provider is down: data is a fast 503, metadata keeps working, readiness says so.
    let some_key = tally.lock().unwrap().acked[0].0.clone();
    let started = Instant::now();
    let r = c.get_object().bucket(&bucket).key(&some_key).send().await;
    assert_eq!(error_of(r), ("ServiceUnavailable".into(), 503));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(c.head_object().bucket(&bucket).key(&some_key).send().await.is_ok());
    assert!(c.list_objects_v2().bucket(&bucket).send().await.is_ok());
    // The gateway itself stays ready (other providers' buckets work); the report names the
    // provider that is down.
    let ready = reqwest::get(format!("{}/.osg/ready", server().endpoint)).await.unwrap();
    assert_eq!(ready.status(), 200);
    let report: serde_json::Value = serde_json::from_str(&ready.text().await.unwrap()).unwrap();
    let down = report["providers"]
        .as_object()
        .unwrap()
        .values()
        .filter(|s| s != &"up")
        .count();
    assert_eq!(down, 1, "{report}");
    tokio::time::sleep(Duration::from_secs(2)).await;

    control.start();
    let restarted = Instant::now();
    let recovered = loop {
        let last_ack = tally.lock().unwrap().last_ack;
        if let Some(at) = last_ack.filter(|at| *at > restarted) {
            break at - restarted;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(60),
            "no write succeeded after the restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    running.store(false, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }

    let t = std::mem::take(&mut *tally.lock().unwrap());
    assert!(!t.failed.is_empty(), "the outage was seen");
    for (took, code, status) in &t.failed {
        assert_eq!((code.as_str(), *status), ("ServiceUnavailable", 503));
        assert!(*took < Duration::from_secs(1), "a failure took {took:?}");
    }
    let slowest = t.failed.iter().map(|f| f.0).max().unwrap();
    let c = client();
    for (key, data) in &t.acked {
        let body = c.get_object().bucket(&bucket).key(key).send().await.unwrap().body;
        assert_eq!(&body.collect().await.unwrap().into_bytes()[..], &data[..], "{key}");
    }
    let ready = reqwest::get(format!("{}/.osg/ready", server().endpoint)).await.unwrap();
    let report: serde_json::Value = serde_json::from_str(&ready.text().await.unwrap()).unwrap();
    assert!(
        report["providers"].as_object().unwrap().values().all(|s| s == "up"),
        "{report}"
    );
    println!(
        "outage: down {:.1} s; {} writes answered 503, slowest in {slowest:?}; first write {recovered:?} after the \
         restart; {} acknowledged objects read back intact",
        (restarted - stopped).as_secs_f64(),
        t.failed.len(),
        t.acked.len()
    );
    meta.set_property("osg.backend", backend.as_deref().unwrap_or("walrus"))
        .await
        .unwrap();
}
