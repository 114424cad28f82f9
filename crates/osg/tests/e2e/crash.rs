//! kill -9 during a stream of PUTs: every acknowledged object survives byte-identical, and no
//! object is ever visible half-written.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;

const ACCESS_KEY: &str = "AKCRASHTEST000000000";
const SECRET_KEY: &str = "crash-test-secret-key-0000000000000000000";

fn start(dir: &std::path::Path, port: u16) -> Osg {
    spawn_osg(
        "serve",
        dir,
        port,
        &[
            ("OSG_ADMIN_ACCESS_KEY", ACCESS_KEY),
            ("OSG_ADMIN_SECRET_KEY", SECRET_KEY),
        ],
    )
}

fn body_for(key: &str) -> Vec<u8> {
    let n: usize = key.bytes().map(usize::from).sum();
    pattern(200_000 + n * 13, u8::try_from(n % 251).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_during_puts_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut gateway = start(dir.path(), port);
    let endpoint = format!("http://127.0.0.1:{port}");
    let c = client_at(&endpoint, ACCESS_KEY, SECRET_KEY);
    c.create_bucket().bucket("crash").send().await.unwrap();

    let acked = Arc::new(Mutex::new(HashSet::new()));
    let tried = Arc::new(Mutex::new(HashSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (c, acked, tried, stop) = (c.clone(), Arc::clone(&acked), Arc::clone(&tried), Arc::clone(&stop));
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let key = format!("w{w}/{i:05}");
                tried.lock().unwrap().insert(key.clone());
                let put = c
                    .put_object()
                    .bucket("crash")
                    .key(&key)
                    .body(body_for(&key).into())
                    .send()
                    .await;
                if put.is_ok() {
                    acked.lock().unwrap().insert(key);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    gateway.0.kill().unwrap(); // SIGKILL
    gateway.0.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let tried = tried.lock().unwrap().clone();
    assert!(
        acked.len() > 5,
        "too few PUTs acknowledged before the kill: {}",
        acked.len()
    );

    let _gateway = start(dir.path(), port);
    let c = client_at(&endpoint, ACCESS_KEY, SECRET_KEY);
    for key in &acked {
        let got = c.get_object().bucket("crash").key(key).send().await.unwrap();
        assert_eq!(
            got.body.collect().await.unwrap().to_vec(),
            body_for(key),
            "{key} is not byte-identical"
        );
    }
    // Whatever is listed was attempted and reads back whole: nothing torn is visible.
    let mut listed = HashMap::new();
    let mut token = None;
    loop {
        let page = c
            .list_objects_v2()
            .bucket("crash")
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        for o in page.contents() {
            listed.insert(o.key().unwrap().to_owned(), o.size().unwrap());
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    for key in &acked {
        assert!(listed.contains_key(key), "{key} acknowledged but not listed");
    }
    for (key, size) in &listed {
        assert!(tried.contains(key), "{key} was never written");
        let want = body_for(key);
        assert_eq!(*size, i64::try_from(want.len()).unwrap(), "{key} has a torn size");
        let got = c.get_object().bucket("crash").key(key).send().await.unwrap();
        assert_eq!(got.body.collect().await.unwrap().to_vec(), want, "{key} is torn");
    }
}

/// SIGTERM: readiness turns false at once while the listener still accepts for the shutdown
/// delay; a request in flight finishes; then the process exits cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_then_exits() {
    use aws_sdk_s3::presigning::PresigningConfig;
    use futures::StreamExt as _;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let env = [
        ("OSG_ADMIN_ACCESS_KEY", ACCESS_KEY),
        ("OSG_ADMIN_SECRET_KEY", SECRET_KEY),
        ("OSG_SHUTDOWN_DELAY", "1"),
        ("OSG_SHUTDOWN_GRACE", "20"),
    ];
    let mut gateway = spawn_osg("serve", dir.path(), port, &env);
    let endpoint = format!("http://127.0.0.1:{port}");
    let c = client_at(&endpoint, ACCESS_KEY, SECRET_KEY);
    c.create_bucket().bucket("drain").send().await.unwrap();

    // An upload that trickles in over about 2.5 seconds.
    let presigned = c
        .put_object()
        .bucket("drain")
        .key("slow")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let data = pattern(1 << 20, 3);
    let chunks: Vec<bytes::Bytes> = data.chunks(64 << 10).map(bytes::Bytes::copy_from_slice).collect();
    let body = futures::stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        Ok::<_, std::io::Error>(chunk)
    });
    let upload = tokio::spawn(
        reqwest::Client::new()
            .put(presigned.uri())
            .header("content-length", data.len())
            .body(reqwest::Body::wrap_stream(body))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    let sent = std::process::Command::new("kill")
        .args(["-TERM", &gateway.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ready = reqwest::get(format!("{endpoint}/.osg/ready")).await.unwrap();
    assert_eq!(ready.status(), 503, "readiness turns false first");
    let live = reqwest::get(format!("{endpoint}/.osg/live")).await.unwrap();
    assert_eq!(live.status(), 200);
    let uploaded = upload.await.unwrap().unwrap();
    assert_eq!(uploaded.status(), 200, "the request in flight finished");

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = gateway.0.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the gateway did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the listener is closed"
    );

    let _again = start(dir.path(), port);
    let got = c.get_object().bucket("drain").key("slow").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), data);
}
