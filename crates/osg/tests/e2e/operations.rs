//! What operators watch: Prometheus metrics on their own port, and JSON access-log lines
//! that carry each request's id, operation, caller and status.

use crate::common::*;

const ACCESS_KEY: &str = "AKOPSTEST00000000000";
const SECRET_KEY: &str = "ops-test-secret-key-00000000000000000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_json_access_log() {
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let log_path = dir.path().join("gateway.log");
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let _gateway = spawn_osg_logged(
        "serve",
        &dir.path().join("data"),
        port,
        &[
            ("OSG_ADMIN_ACCESS_KEY", ACCESS_KEY),
            ("OSG_ADMIN_SECRET_KEY", SECRET_KEY),
            ("OSG_METRICS_LISTEN", &metrics_addr),
            ("OSG_LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
        ],
        std::fs::File::create(&log_path).unwrap(),
    );
    let c = client_at(&format!("http://127.0.0.1:{port}"), ACCESS_KEY, SECRET_KEY);
    c.create_bucket().bucket("ops").send().await.unwrap();
    let data = pattern(100_000, 1);
    c.put_object()
        .bucket("ops")
        .key("k")
        .body(data.into())
        .send()
        .await
        .unwrap();
    for _ in 0..3 {
        get_bytes(&c, "ops", "k").await;
    }
    let missing = c.get_object().bucket("ops").key("nope").send().await;
    assert_eq!(error_of(missing), ("NoSuchKey".into(), 404));

    let page = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |labels: &str| sample(&page, &format!("osg_requests_total{{{labels}}}")).unwrap_or(0.0);
    assert_eq!(count(r#"op="PutObject",status="200""#), 1.0, "{page}");
    assert_eq!(count(r#"op="GetObject",status="200""#), 3.0, "{page}");
    assert_eq!(count(r#"op="GetObject",status="404""#), 1.0, "{page}");
    let provider_out = sample(&page, r#"osg_provider_bytes_total{provider="walrus",direction="out"}"#).unwrap();
    assert_eq!(provider_out, 100_000.0);
    let provider_in = sample(&page, r#"osg_provider_bytes_total{provider="walrus",direction="in"}"#).unwrap();
    assert_eq!(provider_in, 300_000.0);
    for family in [
        "osg_request_duration_seconds",
        "osg_provider_request_duration_seconds",
        "osg_db_write_wait_seconds",
        "osg_db_writes_per_transaction",
        "osg_db_pool_connections",
        "osg_sent_bytes_total",
    ] {
        assert!(page.contains(family), "{family} missing from\n{page}");
    }
    // Every family says what it is; latencies are histograms (they sum across gateways);
    // series known in advance are there from the start.
    for line in page.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split_whitespace().nth(2).unwrap();
        assert!(page.contains(&format!("# HELP {name} ")), "no HELP for {name}");
    }
    for histogram in [
        "osg_request_duration_seconds",
        "osg_provider_request_duration_seconds",
        "osg_db_write_wait_seconds",
    ] {
        assert!(
            page.contains(&format!("# TYPE {histogram} histogram")),
            "{histogram}: {page}"
        );
    }
    for series in [
        r#"osg_reaper_backlog_blobs{state="dead"}"#,
        r#"osg_reaper_backlog_blobs{state="writing"}"#,
        "osg_reaper_deleted_blobs_total",
        "osg_db_write_conflicts_total",
    ] {
        assert!(sample(&page, series).is_some(), "{series} missing from\n{page}");
    }

    // The access log: one JSON object per request, found by the request id S3 returned.
    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let access: Vec<&serde_json::Value> = lines.iter().filter(|l| l["target"] == "osg::access").collect();
    assert!(access.len() >= 6, "{log}");
    let put_line = access
        .iter()
        .find(|l| l["fields"]["op"] == "PutObject")
        .expect("a PutObject line");
    assert_eq!(put_line["fields"]["status"], 200);
    assert_eq!(put_line["fields"]["caller"], ACCESS_KEY);
    assert_eq!(put_line["fields"]["path"], "/ops/k");
    assert_eq!(put_line["fields"]["bytes_in"], 100_000);
    assert_eq!(put_line["fields"]["request_id"].as_str().unwrap().len(), 16);
    assert!(!log.contains(SECRET_KEY));
}

/// `osg bench` against the test gateway, each workload briefly: it reports what it did as
/// JSON and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_smoke() {
    let s = server();
    let none: &[&str] = &[];
    for (workload, size, count, extra) in [
        ("put", "4KiB", "40", none),
        ("get", "4KiB", "40", none),
        ("mixed", "4KiB", "40", none),
        ("delete", "4KiB", "20", none),
        ("list", "4KiB", "10", none),
        ("list", "0", "10", &["--delimiter", "/", "--prepare-concurrency", "8"]),
        ("multipart", "11MiB", "2", none),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_osg"))
            .args([
                "bench",
                "--endpoint",
                &s.endpoint,
                "--workload",
                workload,
                "--size",
                size,
            ])
            .args([
                "--concurrency",
                "4",
                "--count",
                count,
                "--objects",
                "20",
                "--part-size",
                "5MiB",
                "--json",
            ])
            .args(extra)
            .env("AWS_ACCESS_KEY_ID", &s.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &s.secret_key)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{workload}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["workload"], workload);
        assert_eq!(
            report["ops"].as_u64().unwrap(),
            count.parse::<u64>().unwrap(),
            "{report}"
        );
        assert_eq!(report["errors"], serde_json::json!({}), "{report}");
        assert!(report["ops_per_sec"].as_f64().unwrap() > 0.0);
        for p in ["p50", "p90", "p99", "max"] {
            assert!(report["latency_ms"][p].as_f64().unwrap() > 0.0, "{report}");
        }
        if matches!(workload, "put" | "get" | "multipart") {
            assert!(report["mb_per_sec"].as_f64().unwrap() > 0.0, "{report}");
        }
    }
    let buckets = client().list_buckets().send().await.unwrap();
    let left: Vec<_> = buckets
        .buckets()
        .iter()
        .filter_map(|b| b.name())
        .filter(|n| n.starts_with("osg-bench-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `osg property` knows every property: a wrong name, value or backend is refused with what is
/// allowed, in one line without a backtrace (even with RUST_BACKTRACE set); `list` shows
/// defaults, `unset` restores them.
#[test]
fn property_commands_check_what_they_are_told() {
    let dir = tempfile::tempdir().unwrap();
    let osg = |args: &[&str]| {
        let run = osg_cli(dir.path(), &[&["property"], args].concat(), "");
        (run.ok, run.out, run.err)
    };
    // No store in the directory: said, and nothing created.
    let (ok, _, err) = osg(&["list"]);
    assert!(!ok && err.contains("no metadata store in"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing created");
    let (gateway, _) = spawn_osg_anywhere("serve", dir.path(), &[]);
    drop(gateway);
    for (args, says) in [
        (
            ["set", "osg.backnd=walrus"],
            "no property osg.backnd; the properties are osg.backend,",
        ),
        (
            ["set", "osg.lifecycle.rate=fast"],
            "takes a whole number from 1 to 1000000, not \"fast\"",
        ),
        (["set", "s3.sse-c.allow-http=yes"], "takes true or false"),
        (["set", "osg.backend=elsewhere"], "there is no provider elsewhere"),
    ] {
        let (ok, _, err) = osg(&args);
        assert!(!ok, "{args:?}");
        assert!(err.starts_with("osg: ") && err.contains(says), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line, no backtrace: {err}");
    }
    let (ok, out, _) = osg(&["set", "osg.lifecycle.rate", "300"]);
    assert!(ok && out.contains("osg.lifecycle.rate = 300"), "{out}");
    let (_, out, _) = osg(&["list", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let rate = rows.iter().find(|r| r["name"] == "osg.lifecycle.rate").unwrap();
    assert_eq!(
        (&rate["value"], &rate["set"], &rate["default"]),
        (&"300".into(), &true.into(), &"1000".into())
    );
    let backend = rows.iter().find(|r| r["name"] == "osg.backend").unwrap();
    assert_eq!((&backend["value"], &backend["set"]), (&"walrus".into(), &false.into()));
    assert!(osg(&["unset", "osg.lifecycle.rate"]).0);
    assert_eq!(osg(&["get", "osg.lifecycle.rate"]).1.trim(), "1000");
}

/// `osg serve` checks its flags before it creates or announces anything: a port in use, TLS
/// files that are missing or half given, a weak admin secret; it listens on a host name too;
/// and it warns when admin key variables no longer match the key pair of the first start.
#[test]
fn serve_checks_its_flags_first() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("never-created");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_osg"))
            .arg("serve")
            .args(args)
            .arg("--data-dir")
            .arg(&fresh)
            .envs(env.iter().copied())
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap()
    };
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = busy.local_addr().unwrap().to_string();
    let strong = [
        ("OSG_ADMIN_ACCESS_KEY", "AKFLAGSTEST000000000"),
        ("OSG_ADMIN_SECRET_KEY", "flags-test-secret-000"),
    ];
    for (args, env, says) in [
        (vec!["--listen", busy.as_str()], &strong[..], "listening on"),
        (
            vec![
                "--listen",
                "127.0.0.1:0",
                "--tls-cert",
                "/nonexistent/cert.pem",
                "--tls-key",
                "/nonexistent/key.pem",
            ],
            &strong[..],
            "loading the TLS certificate and key",
        ),
        (
            vec!["--listen", "127.0.0.1:0", "--tls-cert", "/nonexistent/cert.pem"],
            &strong[..],
            "--tls-key",
        ),
        (
            vec!["--listen", "127.0.0.1:0"],
            &[
                ("OSG_ADMIN_ACCESS_KEY", "AKFLAGSTEST000000000"),
                ("OSG_ADMIN_SECRET_KEY", "short"),
            ][..],
            "OSG_ADMIN_SECRET_KEY is too short",
        ),
    ] {
        let out = run(&args, env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("backtrace"), "{err}");
        assert!(out.stdout.is_empty(), "nothing announced: {args:?}");
        if !says.contains("too short") {
            assert!(!fresh.exists(), "nothing created: {args:?}");
        }
    }
    let _ = std::fs::remove_dir_all(&fresh);

    // A host name, and admin variables changed after the first start.
    let serve = |secret: &str| {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_osg"))
            .args(["serve", "--listen", "localhost:0", "--data-dir"])
            .arg(&fresh)
            .env("OSG_ADMIN_ACCESS_KEY", "AKFLAGSTEST000000000")
            .env("OSG_ADMIN_SECRET_KEY", secret)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let addr = first.rsplit("http://").next().unwrap().to_owned();
        let live = std::net::TcpStream::connect(&addr).is_ok();
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        (first, live, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (first, live, err) = serve("flags-test-secret-000");
    assert!(first.starts_with("osg: serving S3 on http://") && live, "{first}");
    assert!(!err.contains("no effect"), "{err}");
    let (_, _, err) = serve("another-secret-00000");
    assert!(err.contains("have no effect after the first start"), "{err}");
    assert!(!err.contains('\x1b'), "no colours in a pipe: {err}");
}

/// `osg bench` without credentials says which variables or files to set, and never asks a
/// cloud's instance-metadata address (here a listener standing in for one).
#[test]
fn bench_without_credentials_says_what_to_set() {
    let imds = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    imds.set_nonblocking(true).unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_osg"))
        .args(["bench", "--endpoint", "http://127.0.0.1:1", "--count", "1"])
        .env_clear()
        .env("HOME", home.path())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://{}", imds.local_addr().unwrap()),
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("no credentials") && err.contains("AWS_ACCESS_KEY_ID") && err.contains("admin.credentials"),
        "{err}"
    );
    assert!(imds.accept().is_err(), "the instance-metadata stand-in was asked");
}

/// `osg provider add` checks the endpoint and credentials before registering: an unreachable
/// endpoint, a malformed URL and a wrong secret are refused with the reason in words;
/// `--no-check` registers a provider that is down on purpose.
#[test]
fn provider_add_checks_before_registering() {
    let dir = tempfile::tempdir().unwrap();
    let (gateway, _) = spawn_osg_anywhere("serve", dir.path(), &[]);
    drop(gateway);
    let s = server();
    let add = |name: &str, endpoint: &str, secret: &str, extra: &[&str]| {
        let args = [
            "provider",
            "add",
            name,
            "--kind",
            "s3",
            "--endpoint",
            endpoint,
            "--access-key",
        ];
        let more = ["--secret-file", "-", "--bucket", "checked-blobs"];
        let run = osg_cli(
            dir.path(),
            &[&args[..], &[s.access_key.as_str()], &more, extra].concat(),
            secret,
        );
        (run.ok, run.err)
    };
    for (endpoint, secret, says) in [
        ("http://127.0.0.1:1", s.secret_key.as_str(), "Connection refused"),
        ("not a url", s.secret_key.as_str(), "not a valid URI"),
        (
            s.endpoint.as_str(),
            "not-the-secret",
            "the service answered SignatureDoesNotMatch",
        ),
    ] {
        let (ok, err) = add("p", endpoint, secret, &[]);
        assert!(!ok, "{endpoint}");
        assert!(
            err.contains("provider p not added") && err.contains(says),
            "{endpoint}: {err}"
        );
        assert!(
            !err.contains("DispatchFailure") && !err.contains("{"),
            "no debug dump: {err}"
        );
    }
    assert!(add("down", "http://127.0.0.1:1", "x", &["--no-check"]).0);
    let (ok, err) = add("up", &s.endpoint, &s.secret_key, &[]);
    assert!(ok, "{err}");
    let listed = osg_cli(dir.path(), &["provider", "list", "--json"], "");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&listed.out).unwrap();
    let names: Vec<_> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["down", "up"]);
}

/// `osg admin user create` follows IAM's CreateUser rules for names and paths (the store
/// checks them, whoever asks).
#[test]
fn admin_user_create_follows_iam_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (gateway, _) = spawn_osg_anywhere("serve", dir.path(), &[]);
    drop(gateway);
    let admin = |args: &[&str]| {
        let run = osg_cli(dir.path(), &[&["admin"], args].concat(), "");
        (run.ok, run.err)
    };
    assert!(admin(&["account", "create", "tenant"]).0);
    for (name, path, says) in [
        ("bad name!", "/", "use 1 to 64 letters, digits and +=,.@_-"),
        (&"x".repeat(65), "/", "use 1 to 64 letters"),
        ("alice", "team", "a path starts and ends with /"),
        ("alice", "/a//b/", "no //"),
    ] {
        let (ok, err) = admin(&["user", "create", "tenant", name, "--path", path]);
        assert!(!ok && err.contains(says), "{name} {path}: {err}");
    }
    let (ok, err) = admin(&["user", "create", "tenant", "alice+ops@example.com", "--path", "/team/"]);
    assert!(ok, "{err}");
}

/// The admin CLI's keys and managed policies, against a running gateway: a user's key works,
/// stops when disabled and works again when enabled; policies are listed, shown, detached
/// and deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_keys_and_policies() {
    let dir = tempfile::tempdir().unwrap();
    let (_gateway, port) = spawn_osg_anywhere("serve", dir.path(), &[]);
    let endpoint = format!("http://127.0.0.1:{port}");
    let admin = |args: &[&str], input: &str| {
        let run = osg_cli(dir.path(), &[&["admin"], args].concat(), input);
        assert!(run.ok, "{args:?}: {}", run.err);
        run.out
    };
    // Create commands print what they made as JSON with --json, as listings do.
    let json = |out: String| serde_json::from_str::<serde_json::Value>(&out).unwrap();
    let account = json(admin(&["account", "create", "t", "--json"], ""));
    assert_eq!(account["account"], "t");
    assert!(account["id"].as_str().is_some_and(|id| !id.is_empty()), "{account}");
    let user = json(admin(&["user", "create", "t", "u", "--json"], ""));
    assert!(user["arn"].as_str().unwrap().ends_with(":user/u"), "{user}");
    let key: serde_json::Value =
        serde_json::from_str(&admin(&["key", "create", "t", "--user", "u", "--json"], "")).unwrap();
    let (ak, sk) = (key["access_key"].as_str().unwrap(), key["secret_key"].as_str().unwrap());
    let policy =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#;
    let created = json(admin(
        &["policy", "create", "t", "list", "--file", "-", "--json"],
        policy,
    ));
    assert!(created["arn"].as_str().unwrap().ends_with(":policy/list"), "{created}");
    admin(&["policy", "attach", "t", "u", "list"], "");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&admin(&["policy", "list", "t", "--json"], "")).unwrap();
    assert_eq!(
        (&listed[0]["name"], &listed[0]["attachments"]),
        (&"list".into(), &1.into())
    );
    let shown: serde_json::Value = serde_json::from_str(&admin(&["policy", "get", "t", "list"], "")).unwrap();
    assert_eq!(shown["Statement"][0]["Action"], "s3:ListAllMyBuckets");
    let shown = json(admin(&["policy", "get", "t", "list", "--json"], ""));
    assert_eq!(
        (&shown["version"], &shown["document"]["Statement"][0]["Action"]),
        (&"v1".into(), &"s3:ListAllMyBuckets".into())
    );
    assert!(shown["policy"].as_str().unwrap().ends_with(":policy/list"), "{shown}");

    let user = client_at(&endpoint, ak, sk);
    user.list_buckets().send().await.unwrap();
    assert!(admin(&["key", "disable", ak], "").contains("Inactive"));
    // Gateways see a disabled key within a second or two.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match user.list_buckets().send().await {
            Err(e) => {
                assert_eq!(error_of::<(), _, _>(Err(e)), ("InvalidAccessKeyId".into(), 403));
                break;
            }
            Ok(_) => assert!(std::time::Instant::now() < deadline, "still works"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    admin(&["key", "enable", ak], "");
    user.list_buckets().send().await.unwrap();
    admin(&["policy", "detach", "t", "u", "list"], "");
    admin(&["policy", "delete", "t", "list"], "");
    assert_eq!(admin(&["policy", "list", "t", "--json"], "").trim(), "[]");
}

/// `osg bucket list` and `osg bucket stats`: every bucket's owner, provider and versioning, and
/// what it holds, current and noncurrent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_list_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let (_gateway, port) = spawn_osg_anywhere("serve", dir.path(), &[]);
    let (ak, sk) = read_credentials(&dir.path().join("admin.credentials"));
    let c = client_at(&format!("http://127.0.0.1:{port}"), &ak, &sk);
    for b in ["plain", "kept"] {
        c.create_bucket().bucket(b).send().await.unwrap();
    }
    c.put_bucket_versioning()
        .bucket("kept")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for (b, k, n) in [
        ("plain", "a", 10),
        ("plain", "b", 20),
        ("kept", "k", 100),
        ("kept", "k", 50),
    ] {
        c.put_object()
            .bucket(b)
            .key(k)
            .body(vec![0u8; n].into())
            .send()
            .await
            .unwrap();
    }
    c.delete_object().bucket("kept").key("k").send().await.unwrap();
    let osg = |args: &[&str]| {
        let run = osg_cli(dir.path(), &[args, &["--json"]].concat(), "");
        assert!(run.ok, "{args:?}: {}", run.err);
        serde_json::from_str::<Vec<serde_json::Value>>(&run.out).unwrap()
    };
    let listed = osg(&["bucket", "list"]);
    let names: Vec<_> = listed.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["kept", "plain"]);
    assert_eq!(
        (&listed[0]["owner"], &listed[0]["provider"], &listed[0]["versioning"]),
        (&"system".into(), &"walrus".into(), &"Enabled".into())
    );
    assert_eq!(listed[1]["versioning"], "Off");
    let stats = osg(&["bucket", "stats"]);
    let row = |name: &str| stats.iter().find(|r| r["name"] == name).unwrap().clone();
    let plain = row("plain");
    assert_eq!(
        (&plain["objects"], &plain["bytes"], &plain["versions"]),
        (&2.into(), &30.into(), &2.into())
    );
    let kept = row("kept");
    // Two versions of k behind a delete marker: no current object, 150 bytes kept.
    assert_eq!(
        (
            &kept["objects"],
            &kept["bytes"],
            &kept["versions"],
            &kept["version_bytes"]
        ),
        (&0.into(), &0.into(), &3.into(), &150.into())
    );
    assert_eq!(osg(&["bucket", "stats", "plain"]).len(), 1);
}

/// `osg bucket quota`, `osg account quota` and `osg usage`: PUT, copy, UploadPart and
/// CompleteMultipartUpload past a limit are refused with 403 QuotaExceeded and store nothing;
/// deleting stays possible, and frees room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_limit_writes_and_usage_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let (_gateway, port) = spawn_osg_anywhere("serve", dir.path(), &[]);
    let (ak, sk) = read_credentials(&dir.path().join("admin.credentials"));
    let c = client_at(&format!("http://127.0.0.1:{port}"), &ak, &sk);
    let osg = |args: &[&str]| {
        let run = osg_cli(dir.path(), &[args, &["--json"]].concat(), "");
        assert!(run.ok, "{args:?}: {}", run.err);
        serde_json::from_str::<serde_json::Value>(&run.out).unwrap()
    };
    let put = |bucket: &'static str, key: &'static str, n: usize| {
        c.put_object().bucket(bucket).key(key).body(vec![7u8; n].into()).send()
    };
    for b in ["capped", "other"] {
        c.create_bucket().bucket(b).send().await.unwrap();
    }
    put("capped", "a", 600).await.unwrap();
    let set = osg(&["bucket", "quota", "capped", "--max-bytes", "1K", "--max-objects", "3"]);
    assert_eq!(
        set,
        serde_json::json!({"bucket": "capped", "objects": 1, "bytes": 600, "max_objects": 3, "max_bytes": 1024})
    );
    // Bad limits are refused by the command.
    let bad = osg_cli(dir.path(), &["bucket", "quota", "capped", "--max-bytes", "10X"], "");
    assert!(!bad.ok && bad.err.contains("unknown unit"), "{}", bad.err);
    // Seen at once by the gateway that serves (its bucket cache lives a second).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    macro_rules! refused {
        ($r:expr $(,)?) => {
            assert_eq!(error_of($r), ("QuotaExceeded".to_owned(), 403))
        };
    }
    refused!(put("capped", "b", 500).await);
    put("capped", "b", 424).await.unwrap();
    refused!(put("capped", "c", 1).await);
    // An empty object adds no bytes, but is an object; a fourth one is refused.
    put("capped", "c", 0).await.unwrap();
    refused!(put("capped", "d", 0).await);
    refused!(
        c.copy_object()
            .bucket("capped")
            .key("copy")
            .copy_source("capped/a")
            .send()
            .await,
    );
    let listed = c.list_objects_v2().bucket("capped").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(3), "nothing refused was stored");
    // Deleting is never refused, and frees room.
    c.delete_object().bucket("capped").key("a").send().await.unwrap();
    put("capped", "d", 500).await.unwrap();

    // A form upload (POST) is held to the same limits, and what it brought is not kept.
    let post = |key: &'static str, n: usize| {
        let signer = crate::raw::Signer::s3(&ak, &sk);
        let fields = crate::security::signed_form_fields(&signer, "capped", key, 1 << 20);
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let body = crate::security::form("QUOTA0FORM", &fields, &vec![5u8; n]);
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/capped"))
            .header("content-type", "multipart/form-data; boundary=QUOTA0FORM")
            .body(body)
            .send()
    };
    let answer = post("posted", 200).await.unwrap();
    assert_eq!(answer.status(), 403);
    assert!(answer.text().await.unwrap().contains("<Code>QuotaExceeded</Code>"));
    assert!(c.head_object().bucket("capped").key("posted").send().await.is_err());
    c.delete_object().bucket("capped").key("d").send().await.unwrap();
    assert_eq!(post("posted", 200).await.unwrap().status(), 204);
    c.delete_object().bucket("capped").key("posted").send().await.unwrap();

    // Multipart: the parts of uploads in progress count as they come; completing adds the
    // object.
    osg(&[
        "bucket",
        "quota",
        "capped",
        "--max-bytes",
        "8M",
        "--max-objects",
        "unlimited",
    ]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let upload = c
        .create_multipart_upload()
        .bucket("capped")
        .key("big")
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let part = |n: i32, len: usize| {
        c.upload_part()
            .bucket("capped")
            .key("big")
            .upload_id(id)
            .part_number(n)
            .body(vec![1u8; len].into())
            .send()
    };
    refused!(part(1, 9 << 20).await);
    let first = part(1, 5 << 20).await.unwrap();
    // 424 bytes stored, a 5 MiB part in progress: another 5 MiB part would pass 8 MiB.
    refused!(part(2, 5 << 20).await);
    let q = osg(&["bucket", "quota", "capped"]);
    assert_eq!((&q["objects"], &q["bytes"]), (&2.into(), &((5 << 20) + 424).into()));
    let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(1)
                .e_tag(first.e_tag().unwrap())
                .build(),
        )
        .build();
    let complete = || {
        c.complete_multipart_upload()
            .bucket("capped")
            .key("big")
            .upload_id(id)
            .multipart_upload(parts.clone())
            .send()
    };
    osg(&["bucket", "quota", "capped", "--max-objects", "2"]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    refused!(complete().await);
    osg(&["bucket", "quota", "capped", "--max-objects", "3"]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    complete().await.unwrap();
    // A completion retried after it succeeded answers as it did, though the bucket is full.
    complete().await.unwrap();
    let q = osg(&["bucket", "quota", "capped"]);
    assert_eq!((&q["objects"], &q["bytes"]), (&3.into(), &((5 << 20) + 424).into()));

    // The account's quota holds over all its buckets.
    put("other", "x", 10).await.unwrap();
    let a = osg(&["account", "quota", "system", "--max-objects", "4"]);
    assert_eq!(
        (&a["account"], &a["objects"], &a["max_objects"]),
        (&"system".into(), &4.into(), &4.into())
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    refused!(put("other", "y", 1).await);
    let usage = osg(&["usage"]);
    let system = usage
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["account"] == "system")
        .unwrap();
    assert_eq!(
        (
            &system["buckets"],
            &system["objects"],
            &system["max_objects"],
            &system["max_bytes"]
        ),
        (&2.into(), &4.into(), &4.into(), &serde_json::Value::Null)
    );
    let by_bucket = osg(&["usage", "--account", "system"]);
    let rows: Vec<_> = by_bucket
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["bucket"].as_str().unwrap(),
                r["objects"].as_u64().unwrap(),
                r["max_bytes"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("capped", 3, (8u64 << 20).into()),
            ("other", 1, serde_json::Value::Null)
        ]
    );
    osg(&["account", "quota", "system", "--max-objects", "unlimited"]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    put("other", "y", 1).await.unwrap();
}

/// `--config FILE`: a TOML file's settings are the defaults of `osg serve`'s flags; a flag
/// beats the file; a setting the command does not have, a value its flag refuses, or a file
/// that is not TOML stops it with the file and the key named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reads_a_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("osg.toml");
    std::fs::write(
        &config,
        format!(
            "log-format = \"json\"\n[serve]\nlisten = \"127.0.0.1:0\"\ndata-dir = {:?}\nregion = \"eu-central-1\"\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    // With log-format json, what it says on starting is JSON too.
    let mut gateway = std::process::Command::new(env!("CARGO_BIN_EXE_osg"))
        .args(["serve", "--config", config])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut said = std::io::BufReader::new(gateway.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut said, &mut line).unwrap();
    let serving: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
    let url = serving["serving"].as_str().unwrap();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let gateway = Osg(gateway);
    let (ak, sk) = read_credentials(&data.join("admin.credentials"));
    let endpoint = format!("http://127.0.0.1:{port}");
    assert_eq!(url, endpoint);
    let in_region = |region: &'static str| {
        let conf = client_at(&endpoint, &ak, &sk)
            .config()
            .to_builder()
            .region(aws_sdk_s3::config::Region::new(region));
        aws_sdk_s3::Client::from_conf(conf.build())
    };
    in_region("eu-central-1").list_buckets().send().await.unwrap();
    let (code, status) = error_of(in_region("us-east-1").list_buckets().send().await);
    assert_eq!((code.as_str(), status), ("AuthorizationHeaderMalformed", 400));
    drop(gateway);
    // A flag beats the file; the environment does too (OSG_CONFIG names the file).
    let (_gateway, port) = spawn_osg_with(&["serve", "--region", "us-east-1"], &[("OSG_CONFIG", config)]);
    let endpoint = format!("http://127.0.0.1:{port}");
    client_at(&endpoint, &ak, &sk).list_buckets().send().await.unwrap();

    let refused = |text: &str| {
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, text).unwrap();
        let run = osg_cli(dir.path(), &["serve", "--config", file.to_str().unwrap()], "");
        assert!(!run.ok, "{text}");
        assert!(!run.err.contains("panicked"), "{}", run.err);
        run.err
    };
    let err = refused("[serve]\nlisten = \"127.0.0.1:0\"\nbogus = 1\n");
    assert!(
        err.contains("[serve] bogus is not a setting; the settings are listen, data-dir"),
        "{err}"
    );
    let err = refused("[serve]\nidle-timeout = \"soon\"\n");
    assert!(err.contains("[serve] idle-timeout: invalid value 'soon'"), "{err}");
    let err = refused("[admin]\ndb = \"x\"\n");
    assert!(err.contains("no table [admin]"), "{err}");
    let err = refused("[serve\n");
    assert!(err.contains("is not TOML") && err.contains("line 1"), "{err}");
    // Flags of every command sit outside the tables, checked as well.
    let err = refused("log-format = \"xml\"\n");
    assert!(err.contains("log-format: invalid value 'xml'"), "{err}");
}

/// `osg completions SHELL` prints a script the shell takes (bash completes a command's names
/// with it), and `osg man DIR` writes a page for osg and each of its commands.
#[test]
fn completions_and_man_pages() {
    let dir = tempfile::tempdir().unwrap();
    let osg = |args: &[&str]| {
        let mut osg = std::process::Command::new(env!("CARGO_BIN_EXE_osg"));
        osg.args(args);
        run_cli(osg, "")
    };
    let run = osg(&["completions", "bash"]);
    assert!(run.ok, "{}", run.err);
    let script = dir.path().join("osg.bash");
    std::fs::write(&script, &run.out).unwrap();
    // What bash offers after `osg bu` and after `osg bucket q`.
    let complete = |words: &str, current: usize| {
        let shell = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={current}; COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; \
             _osg osg \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; echo \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    assert_eq!(complete("osg bu", 1), "bucket");
    assert_eq!(complete("osg bucket q", 2), "quota");
    for (shell, mark) in [("zsh", "#compdef osg"), ("fish", "complete -c osg")] {
        let run = osg(&["completions", shell]);
        assert!(run.ok && run.out.contains(mark), "{shell}: {}", run.err);
    }
    let bad = osg(&["completions", "tcsh"]);
    assert!(!bad.ok && bad.err.contains("possible values"), "{}", bad.err);

    let pages = dir.path().join("man1");
    let run = osg(&["man", pages.to_str().unwrap()]);
    assert!(run.ok, "{}", run.err);
    for (page, says) in [
        ("osg.1", "Scalable Walrus"),
        ("osg-serve.1", "\\-\\-tls\\-cert"),
        ("osg-bucket-quota.1", "\\-\\-max\\-bytes"),
        ("osg-admin-key-disable.1", "inactive"),
        ("osg-usage.1", "\\-\\-account"),
    ] {
        let text = std::fs::read_to_string(pages.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        let name = page.trim_end_matches(".1");
        assert!(text.contains(&format!(".TH {name} 1")), "{page}");
        assert!(text.contains(says), "{page} says nothing of {says}");
    }
}

/// `osg admin --endpoint https://...`: admin commands run on a gateway over HTTPS, with the
/// system account's credentials and no store or master key at hand; IAM policy decides which
/// commands a user of the system account may run; other accounts may run none; and a command
/// never makes the gateway read a file of its own host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_run_remotely_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let tls = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, tls.cert.pem()).unwrap();
    std::fs::write(&key, tls.signing_key.serialize_pem()).unwrap();
    let data = dir.path().join("data");
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let (_gateway, port) = spawn_osg_with(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &path(&data),
            "--tls-cert",
            &path(&cert),
            "--tls-key",
            &path(&key),
        ],
        &[],
    );
    let endpoint = format!("https://127.0.0.1:{port}");
    // The operator's laptop: no store, no master key; the credentials of a principal.
    let laptop = dir.path().join("laptop");
    std::fs::create_dir(&laptop).unwrap();
    let remote = |credentials: &[(&str, &str)], args: &[&str], input: &str| {
        let mut osg = std::process::Command::new(env!("CARGO_BIN_EXE_osg"));
        osg.current_dir(&laptop)
            .args(["admin", "--endpoint", &endpoint, "--endpoint-ca-file", &path(&cert)])
            .args(args)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_SHARED_CREDENTIALS_FILE")
            .env_remove("AWS_PROFILE")
            .envs(credentials.iter().copied());
        run_cli(osg, input)
    };
    let system_file = path(&data.join("admin.credentials"));
    let system = [("AWS_SHARED_CREDENTIALS_FILE", system_file.as_str())];
    let ok = |run: CliRun| {
        assert!(run.ok, "{}", run.err);
        run.out
    };
    let made: serde_json::Value =
        serde_json::from_str(&ok(remote(&system, &["account", "create", "tenant", "--json"], ""))).unwrap();
    assert_eq!(made["account"], "tenant");
    // The file is read on the laptop and its content sent.
    let policy_file = laptop.join("policy.json");
    std::fs::write(
        &policy_file,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"osg:BucketList","Resource":"*"}]}"#,
    )
    .unwrap();
    ok(remote(&system, &["user", "create", "system", "ops"], ""));
    ok(remote(
        &system,
        &["policy", "put", "system", "ops", "list-only", "--file", "policy.json"],
        "",
    ));
    let key: serde_json::Value = serde_json::from_str(&ok(remote(
        &system,
        &["key", "create", "system", "--user", "ops", "--json"],
        "",
    )))
    .unwrap();
    let tenant_key: serde_json::Value =
        serde_json::from_str(&ok(remote(&system, &["key", "create", "tenant", "--json"], ""))).unwrap();
    // What the remote commands did is in the store, as the local command shows it.
    let local = osg_cli(&data, &["admin", "account", "list", "--json"], "");
    assert!(local.ok && local.out.contains("\"tenant\""), "{}", local.err);
    let users = osg_cli(&data, &["admin", "user", "list", "system"], "");
    assert!(users.out.contains("ops"), "{}", users.out);
    // Listings and errors come back as the local command prints them.
    let listed: Vec<serde_json::Value> = serde_json::from_str(&ok(remote(&system, &["usage", "--json"], ""))).unwrap();
    assert_eq!(listed.len(), 2);
    let err = remote(&system, &["property", "set", "osg.nope=1"], "");
    assert!(
        !err.ok && err.err.contains("ValidationError: no property osg.nope"),
        "{}",
        err.err
    );
    // A limit set and removed remotely is removed (`unlimited` is not "not given").
    let quota = |args: &[&str]| -> serde_json::Value {
        let args = [&["account", "quota", "tenant"], args, &["--json"]].concat();
        serde_json::from_str(&ok(remote(&system, &args, ""))).unwrap()
    };
    assert_eq!(quota(&["--max-bytes", "1G"])["max_bytes"], 1u64 << 30);
    assert_eq!(
        quota(&["--max-bytes", "unlimited"])["max_bytes"],
        serde_json::Value::Null
    );
    let local = osg_cli(&data, &["account", "quota", "tenant", "--json"], "");
    assert!(local.out.contains("\"max_bytes\":null"), "{}", local.out);
    // Nothing remote names a file of the gateway's host, as a CA file or in a database URL.
    let ca = remote(
        &system,
        &[
            "provider",
            "add",
            "p1",
            "--kind",
            "s3",
            "--endpoint",
            "http://127.0.0.1:9",
            "--access-key",
            "x",
            "--secret-file",
            "-",
            "--ca-file",
            "/etc/hostname",
            "--no-check",
        ],
        "secret",
    );
    assert!(
        !ca.ok && ca.err.contains("--ca-file names a file on the gateway hosts"),
        "{}",
        ca.err
    );
    let shard = remote(
        &system,
        &["shard", "add", "s9", "--url", "postgres://u@h/db?sslkey=/etc/x"],
        "",
    );
    assert!(!shard.ok && shard.err.contains("plain postgres://"), "{}", shard.err);

    // A user of the system account runs what policy allows it.
    let (ak, sk) = (key["access_key"].as_str().unwrap(), key["secret_key"].as_str().unwrap());
    let ops = [("AWS_ACCESS_KEY_ID", ak), ("AWS_SECRET_ACCESS_KEY", sk)];
    ok(remote(&ops, &["bucket", "list"], ""));
    let denied = remote(&ops, &["property", "set", "osg.backend=walrus"], "");
    assert!(
        !denied.ok && denied.err.contains("AccessDenied") && denied.err.contains("osg:PropertySet"),
        "{}",
        denied.err
    );
    // Another account's root runs nothing.
    let tenant = [
        ("AWS_ACCESS_KEY_ID", tenant_key["access_key"].as_str().unwrap()),
        ("AWS_SECRET_ACCESS_KEY", tenant_key["secret_key"].as_str().unwrap()),
    ];
    let denied = remote(&tenant, &["bucket", "list"], "");
    assert!(
        !denied.ok && denied.err.contains("Only the system account"),
        "{}",
        denied.err
    );
    // A certificate the laptop does not trust, and plain HTTP to another host, are refused.
    let untrusted = std::process::Command::new(env!("CARGO_BIN_EXE_osg"))
        .args(["admin", "--endpoint", &endpoint, "account", "list"])
        .envs(system.iter().copied())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&untrusted.stderr);
    assert!(!untrusted.status.success() && said.contains("certificate"), "{said}");
    assert!(!said.contains("{ "), "no debug dump: {said}");
    let plain = std::process::Command::new(env!("CARGO_BIN_EXE_osg"))
        .args(["admin", "--endpoint", "http://192.0.2.1:8773", "account", "list"])
        .envs(system.iter().copied())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&plain.stderr);
    assert!(!plain.status.success() && said.contains("must be https://"), "{said}");

    // By hand: a command naming a file of the gateway's host is refused, and reads nothing.
    let (ak, sk) = read_credentials(&data.join("admin.credentials"));
    let mut signer = crate::raw::Signer::s3(&ak, &sk);
    signer.service = "iam".into();
    let command = r#"{"Policy":{"Put":{"account":"system","user":"ops","name":"stolen","file":"/etc/hostname"}}}"#;
    let form = format!(
        "Action=OsgAdmin&Version=2010-05-08&Command={}",
        crate::raw::encode(command)
    );
    let host = format!("127.0.0.1:{port}");
    let req = crate::raw::Req::new("POST", "/")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form);
    let req = signer.sign(req, &host, true);
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(tls.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let mut send = client.post(format!("https://{host}/")).body(req.body.clone());
    for (k, v) in &req.headers {
        send = send.header(k, v);
    }
    let answer = send.send().await.unwrap();
    assert_eq!(answer.status(), 400);
    let body = answer.text().await.unwrap();
    assert!(body.contains("reads no file on the gateway"), "{body}");
    let meta = osg::bootstrap::StoreOptions::in_dir(&data).open().await.unwrap();
    let system_id = meta.account_by_name("system").await.unwrap().unwrap().id;
    let user = meta.user(&system_id, "ops").await.unwrap();
    assert_eq!(
        meta.identity_policies(&user).await.unwrap().len(),
        1,
        "list-only, nothing else"
    );
}
