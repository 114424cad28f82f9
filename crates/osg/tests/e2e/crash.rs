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

/// A small tmpfs, mounted for the life of the value (tests run as root, as CI does).
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount");
        assert!(status.success(), "mounting a tmpfs needs root");
        Self(dir)
    }

    /// Fills the file system up with one file; returns its path.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.0.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 << 10];
        while f.write_all(&block).is_ok() {}
        // The last partial block too.
        while f.write_all(&[0]).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

/// The disk fills up under the embedded store (metadata and blobs): writes fail with 503,
/// reads go on, and as soon as space returns writes work again, without a restart. (A failed
/// commit used to leave its pooled connection marked as inside a transaction, and every later
/// write failed: "attempted to call begin_with at non-zero transaction depth".)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_resume_when_a_full_disk_has_space_again() {
    let disk = Tmpfs::mount("48m");
    let data = disk.0.path().join("data");
    let port = free_port();
    let _gateway = start(&data, port);
    let c = client_at(&format!("http://127.0.0.1:{port}"), ACCESS_KEY, SECRET_KEY);
    c.create_bucket().bucket("full").send().await.unwrap();
    c.put_object()
        .bucket("full")
        .key("before")
        .body(b"kept".to_vec().into())
        .send()
        .await
        .unwrap();

    let filler = disk.fill();
    // Empty objects need no blob space, so their metadata commits are what fails; larger
    // ones fail on the blob. Every failure is a 503 with Retry-After, never a success.
    let mut failures = 0;
    for i in 0..20 {
        let body = if i % 2 == 0 { Vec::new() } else { pattern(300_000, 1) };
        let r = c
            .put_object()
            .bucket("full")
            .key(format!("during{i}"))
            .body(body.into())
            .send()
            .await;
        if r.is_err() {
            assert_eq!(error_of(r).1, 503);
            failures += 1;
        }
        let r = c.create_bucket().bucket(format!("full-{i}")).send().await;
        if r.is_err() {
            assert_eq!(error_of(r).1, 503);
            failures += 1;
        }
    }
    assert!(failures >= 20, "the full disk refused only {failures} writes");
    assert_eq!(get_bytes(&c, "full", "before").await, b"kept");

    std::fs::remove_file(filler).unwrap();
    for i in 0..20 {
        let key = format!("after{i}");
        c.put_object()
            .bucket("full")
            .key(&key)
            .body(pattern(100_000, 2).into())
            .send()
            .await
            .unwrap();
        assert_eq!(get_bytes(&c, "full", &key).await, pattern(100_000, 2));
    }
    c.create_bucket().bucket("full-after").send().await.unwrap();
}
