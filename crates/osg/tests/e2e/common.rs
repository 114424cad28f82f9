//! One real gateway per test binary, on a loopback port, with its data in a temp dir.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use osg::bootstrap::StoreOptions;
use osg::serve::{ServeArgs, Server};

pub struct TestServer {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    /// The gateway's metadata store: SQLite in the data dir, or PostgreSQL.
    pub store: StoreOptions,
    /// Where the lane's provider keeps object bytes.
    pub blobs: Blobs,
    /// The lane's provider as registered (kind, settings, secret); none for the embedded Walrus.
    pub provider: Option<LaneProvider>,
}

#[derive(Clone)]
pub struct LaneProvider {
    pub kind: osg_provider::Kind,
    pub settings: osg_provider::Settings,
    pub secret: String,
}

/// Where object bytes land: a directory of a Walrus, or a bucket (container) of a remote
/// provider, read through an S3 endpoint of that provider.
pub enum Blobs {
    Dir(PathBuf),
    Bucket {
        endpoint: String,
        access_key: String,
        secret_key: String,
        bucket: String,
    },
}

impl Blobs {
    /// Every blob's name and size.
    pub async fn list(&self) -> Vec<(String, u64)> {
        match self {
            Blobs::Dir(root) => walk(root)
                .into_iter()
                .map(|p| {
                    let size = p.metadata().unwrap().len();
                    (p.file_name().unwrap().to_string_lossy().into_owned(), size)
                })
                .collect(),
            Blobs::Bucket {
                endpoint,
                access_key,
                secret_key,
                bucket,
            } => {
                let c = build_client(endpoint, access_key, secret_key, None);
                let mut out = Vec::new();
                let mut pages = c.list_objects_v2().bucket(bucket).into_paginator().send();
                while let Some(page) = pages.next().await {
                    for o in page.unwrap().contents() {
                        out.push((o.key().unwrap().to_owned(), o.size().unwrap() as u64));
                    }
                }
                out
            }
        }
    }
}

impl Blobs {
    /// The bytes of blob `name` as the provider holds them.
    pub async fn read(&self, name: &str) -> Vec<u8> {
        match self {
            Blobs::Dir(root) => std::fs::read(find(root, name)).unwrap(),
            Blobs::Bucket {
                endpoint,
                access_key,
                secret_key,
                bucket,
            } => {
                let c = build_client(endpoint, access_key, secret_key, None);
                let got = c.get_object().bucket(bucket).key(name).send().await.unwrap();
                got.body.collect().await.unwrap().into_bytes().to_vec()
            }
        }
    }

    /// Replaces blob `name` on the provider with `bytes` (an attacker with access to the
    /// provider).
    pub async fn write(&self, name: &str, bytes: Vec<u8>) {
        match self {
            Blobs::Dir(root) => std::fs::write(find(root, name), bytes).unwrap(),
            Blobs::Bucket {
                endpoint,
                access_key,
                secret_key,
                bucket,
            } => {
                // Checksums only when required: not every provider takes the SDK's default ones.
                let conf = build_client(endpoint, access_key, secret_key, None)
                    .config()
                    .to_builder()
                    .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired);
                let c = Client::from_conf(conf.build());
                c.put_object()
                    .bucket(bucket)
                    .key(name)
                    .body(bytes.into())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

fn find(root: &std::path::Path, name: &str) -> PathBuf {
    walk(root)
        .into_iter()
        .find(|p| p.file_name().is_some_and(|f| f == name))
        .unwrap_or_else(|| panic!("no blob {name} under {}", root.display()))
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The provider lane this run tests (`OSG_TEST_PROVIDER`): unset, the embedded Walrus;
/// `standalone-walrus`, an `osg walrus` in this process; `swift` (native API), `swift-s3api` and
/// `ceph-rgw`, the testbeds `scripts/testbed/*` start, described by `OSG_TEST_SWIFT_*` and
/// `OSG_TEST_RGW_*`.
pub fn lane() -> Option<String> {
    std::env::var("OSG_TEST_PROVIDER").ok().filter(|v| !v.is_empty())
}

fn testbed(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: start the testbed (scripts/testbed/*)"))
}

/// Registers the lane's provider and makes it the backend; returns where its blobs land.
async fn lane_provider(lane: &str, store: &StoreOptions) -> (Blobs, LaneProvider) {
    let data_dir = &store.data_dir;
    // A bucket (container) of its own for each run, on testbeds that outlive it.
    let bucket = format!("osg-lane-{}", std::process::id());
    let (kind, settings, secret, blobs) = match lane {
        "standalone-walrus" => {
            let walrus_dir = data_dir.join("standalone");
            let args = osg::walrus::WalrusArgs {
                config: None,
                listen: "127.0.0.1:0".parse().unwrap(),
                data_dir: walrus_dir.clone(),
            };
            let walrus = osg::walrus::WalrusServer::start(&args).await.unwrap();
            let (access_key, secret) = osg::bootstrap::read_credentials(&walrus.credentials).unwrap();
            let endpoint = format!("http://{}", walrus.addr);
            tokio::spawn(walrus.run());
            let settings = osg_provider::Settings::new(&endpoint, &access_key, &bucket);
            let root = walrus_dir.join(format!("buckets/{bucket}/blobs"));
            ("s3", settings, secret, Blobs::Dir(root))
        }
        "swift" | "swift-s3api" => {
            let (user, key) = (testbed("OSG_TEST_SWIFT_USER"), testbed("OSG_TEST_SWIFT_KEY"));
            let s3_endpoint = testbed("OSG_TEST_SWIFT_S3_ENDPOINT");
            let (kind, settings) = if lane == "swift" {
                (
                    "swift",
                    osg_provider::Settings::new(&testbed("OSG_TEST_SWIFT_AUTH_URL"), &user, &bucket),
                )
            } else {
                ("s3", osg_provider::Settings::new(&s3_endpoint, &user, &bucket))
            };
            let blobs = Blobs::Bucket {
                endpoint: s3_endpoint,
                access_key: user,
                secret_key: key.clone(),
                bucket,
            };
            (kind, settings, key, blobs)
        }
        "ceph-rgw" => {
            let endpoint = testbed("OSG_TEST_RGW_ENDPOINT");
            let (access_key, secret) = (testbed("OSG_TEST_RGW_ACCESS_KEY"), testbed("OSG_TEST_RGW_SECRET_KEY"));
            let settings = osg_provider::Settings {
                flavour: osg_provider::Flavour::CephRgw,
                ..osg_provider::Settings::new(&endpoint, &access_key, &bucket)
            };
            let blobs = Blobs::Bucket {
                endpoint,
                access_key,
                secret_key: secret.clone(),
                bucket,
            };
            ("s3", settings, secret, blobs)
        }
        other => panic!("unknown OSG_TEST_PROVIDER {other}"),
    };
    let meta = store.open().await.unwrap();
    add_provider(&meta, "lane", kind, &settings, &secret).await;
    meta.set_property("osg.backend", "lane").await.unwrap();
    let kind = serde_json::from_value(serde_json::Value::String(kind.into())).unwrap();
    (blobs, LaneProvider { kind, settings, secret })
}

/// Reads `aws_access_key_id` / `aws_secret_access_key` from a shared-credentials file.
pub fn read_credentials(path: &std::path::Path) -> (String, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let get = |name: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .map(|v| v.trim_start_matches([' ', '=']).trim().to_owned())
            })
            .unwrap()
    };
    (get("aws_access_key_id"), get("aws_secret_access_key"))
}

pub fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let store = test_store(&dir);
        let args = ServeArgs {
            config: None,
            listen: "127.0.0.1:0".parse().unwrap(),
            store: store.clone(),
            tls_cert: None,
            tls_key: None,
            domain: Some("s3.localhost".into()),
            region: "us-east-1".into(),
            shutdown_delay: 0.0,
            shutdown_grace: 30.0,
            metrics_listen: None,
            idle_timeout: 5.0,
            max_connections: osg_gateway::DEFAULT_MAX_CONNECTIONS,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let (blobs, provider) = match lane() {
                    None => (Blobs::Dir(args.store.data_dir.join("walrus/blobs")), None),
                    Some(lane) => {
                        let (blobs, provider) = lane_provider(&lane, &args.store).await;
                        (blobs, Some(provider))
                    }
                };
                let server = Server::start(&args, true).await.unwrap();
                // SSE-C keys over plain HTTP: the tests' gateway has no TLS.
                let meta = args.store.open().await.unwrap();
                meta.set_property("s3.sse-c.allow-http", "true").await.unwrap();
                tx.send((server.addr, server.credentials.clone(), blobs, provider))
                    .unwrap();
                server.run().await.unwrap();
            });
        });
        let (addr, credentials, blobs, provider) = rx.recv().unwrap();
        let (access_key, secret_key) = read_credentials(&credentials);
        TestServer {
            endpoint: format!("http://{addr}"),
            access_key,
            secret_key,
            store,
            blobs,
            provider,
        }
    })
}

impl TestServer {
    /// Another handle on the gateway's metadata store.
    pub async fn meta(&self) -> osg_meta::Meta {
        self.store.open().await.unwrap()
    }
}

/// The metadata store of a test gateway: SQLite in `dir`, or, with `OSG_TEST_META=postgres`,
/// a new database on the server `OSG_TEST_POSTGRES_URL` names (`scripts/testbed/postgres`),
/// sealed with a master key file as every gateway of a cluster gets it. With
/// `OSG_TEST_META=sharded`, that database is the catalog and shard `main`, and a new database
/// on the server `OSG_TEST_POSTGRES_SHARD_URL` names is registered as shard `s2` (by `osg
/// shard add`, as an operator would): buckets spread over both.
pub fn test_store(dir: &std::path::Path) -> StoreOptions {
    let mut store = StoreOptions::in_dir(dir);
    let meta = std::env::var("OSG_TEST_META").unwrap_or_default();
    if meta == "postgres" || meta == "sharded" {
        let url = std::env::var("OSG_TEST_POSTGRES_URL").expect("OSG_TEST_POSTGRES_URL (scripts/testbed/postgres)");
        store.db = Some(new_database(&url));
        let key = dir.join("cluster.key");
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(&key, rand::random::<[u8; 32]>()).unwrap();
        store.master_key_file = Some(key);
    }
    if meta == "sharded" {
        let url = std::env::var("OSG_TEST_POSTGRES_SHARD_URL")
            .expect("OSG_TEST_POSTGRES_SHARD_URL (scripts/testbed/postgres)");
        add_shard(&store, "s2", &new_database(&url));
    }
    store
}

/// Registers the database `url` as shard `name` of `store`, with `osg shard add`.
pub fn add_shard(store: &StoreOptions, name: &str, url: &str) {
    let added = std::process::Command::new(env!("CARGO_BIN_EXE_osg"))
        .args(["shard", "add", name, "--url", url])
        .arg("--data-dir")
        .arg(&store.data_dir)
        .env("OSG_DB", store.db.as_deref().unwrap())
        .env("OSG_MASTER_KEY_FILE", store.master_key_file.as_deref().unwrap())
        .env("RUST_LOG", "warn")
        .output()
        .expect("osg shard add");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
}

/// Creates an empty database on the PostgreSQL server of `url`; returns its URL.
pub fn new_database(url: &str) -> String {
    let name = format!("e2e_{:032x}", rand::random::<u128>());
    let created = std::process::Command::new("psql")
        .args([url, "-qc", &format!("CREATE DATABASE {name}")])
        .status()
        .expect("psql");
    assert!(created.success());
    let (server, _) = url.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

pub fn client() -> Client {
    let s = server();
    client_with(&s.access_key, &s.secret_key, None)
}

/// A client of the shared gateway with other keys, or with a clock set to `clock`.
pub fn client_with(access_key: &str, secret_key: &str, clock: Option<SystemTime>) -> Client {
    build_client(&server().endpoint, access_key, secret_key, clock)
}

/// A client that reports the first failure instead of retrying it (503s included).
pub fn client_without_retries() -> Client {
    let conf = client()
        .config()
        .to_builder()
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled());
    Client::from_conf(conf.build())
}

/// A client of another gateway.
pub fn client_at(endpoint: &str, access_key: &str, secret_key: &str) -> Client {
    build_client(endpoint, access_key, secret_key, None)
}

fn build_client(endpoint: &str, access_key: &str, secret_key: &str, clock: Option<SystemTime>) -> Client {
    let mut conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
        .force_path_style(true);
    if let Some(clock) = clock {
        // No retries: the SDK would correct its clock from our Date header and succeed.
        conf = conf
            .time_source(aws_smithy_async::time::StaticTimeSource::new(clock))
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled());
    }
    Client::from_conf(conf.build())
}

/// A fresh bucket name, unique within this test run.
pub fn bucket_name(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{tag}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// A client for a new user `name` of `account` whose only identity policy allows `actions` on
/// the objects of `bucket`.
pub async fn user_allowed(account: &str, name: &str, bucket: &str, actions: &[&str]) -> Client {
    let meta = server().meta().await;
    let user = meta.create_user(account, name, "/").await.unwrap();
    let actions = serde_json::to_string(actions).unwrap();
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{actions},"Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
    );
    meta.put_inline_policy(&osg_meta::Owner::User(&user), "p", &policy)
        .await
        .unwrap();
    let keys = meta.create_access_key(account, Some(name)).await.unwrap();
    client_with(&keys.0, &keys.1, None)
}

pub async fn new_bucket(c: &Client, tag: &str) -> String {
    let name = bucket_name(tag);
    c.create_bucket().bucket(&name).send().await.unwrap();
    name
}

/// The whole body of `bucket/key`.
pub async fn get_bytes(c: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = c.get_object().bucket(bucket).key(key).send().await.unwrap();
    out.body.collect().await.unwrap().to_vec()
}

/// Registers a provider instance in a gateway's store.
pub async fn add_provider(
    meta: &osg_meta::Meta,
    name: &str,
    kind: &str,
    settings: &osg_provider::Settings,
    secret: &str,
) {
    let record = osg_meta::ProviderRecord {
        name: name.into(),
        kind: osg_provider::Kind::parse(kind).unwrap(),
        settings: settings.clone(),
    };
    meta.add_provider(&record, secret).await.unwrap();
}

/// The S3 error code and HTTP status of a failed call.
pub fn error_of<T, E: ProvideErrorMetadata, R: HttpStatus>(r: Result<T, SdkError<E, R>>) -> (String, u16) {
    let Err(e) = r else { panic!("expected an error") };
    let status = e.raw_response().map_or(0, HttpStatus::status_code);
    (e.code().unwrap_or("").to_owned(), status)
}

pub trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Deterministic pseudo-random bytes, so a mismatch shows where it is.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(2_654_435_761).wrapping_add(u64::from(seed)) as u8)
        .collect()
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

/// A process of the `osg` binary, killed when dropped.
pub struct Osg(pub std::process::Child);

impl Drop for Osg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `osg COMMAND --listen 127.0.0.1:PORT --data-dir DIR` with `env`, and waits until it
/// accepts connections.
pub fn spawn_osg(command: &str, dir: &std::path::Path, port: u16, env: &[(&str, &str)]) -> Osg {
    spawn_osg_logged(command, dir, port, env, std::process::Stdio::null())
}

/// [`spawn_osg`], with the process's log (standard error) going to `log`.
pub fn spawn_osg_logged(
    command: &str,
    dir: &std::path::Path,
    port: u16,
    env: &[(&str, &str)],
    log: impl Into<std::process::Stdio>,
) -> Osg {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_osg"))
        .args([command, "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("osg {command} on port {port} exited: {status}");
        }
        assert!(std::time::Instant::now() < deadline, "osg {command} did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Osg(child)
}

/// Runs `osg COMMAND --listen 127.0.0.1:0 --data-dir DIR` with `env`: the process picks its
/// own port (no race with other tests for a free one) and prints it; returns it with the
/// process once it serves.
pub fn spawn_osg_anywhere(command: &str, dir: &std::path::Path, env: &[(&str, &str)]) -> (Osg, u16) {
    let dir = dir.to_str().unwrap();
    spawn_osg_with(&[command, "--listen", "127.0.0.1:0", "--data-dir", dir], env)
}

/// Runs `osg ARGS` with `env`, which must make it listen on a port of its choice on 127.0.0.1
/// (as [`spawn_osg_anywhere`]); returns the port with the process once it serves.
pub fn spawn_osg_with(args: &[&str], env: &[(&str, &str)]) -> (Osg, u16) {
    use std::io::BufRead;
    let command = args.join(" ");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_osg"))
        .args(args)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut errors = child.stderr.take().unwrap();
    // What it says on standard error, for the panic message if it does not start.
    let said = std::thread::spawn(move || std::io::read_to_string(&mut errors).unwrap_or_default());
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let port = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            let at = line.find("127.0.0.1:")? + "127.0.0.1:".len();
            line[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u16>()
                .ok()
        })
        .unwrap_or_else(|| {
            let _ = child.wait();
            panic!("osg {command} did not start: {}", said.join().unwrap_or_default())
        });
    // Keep reading what it prints, so that it never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (Osg(child), port)
}

/// A loopback port nothing listens on yet.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A PostgreSQL server of a test's own, to stop and start at will (Debian's binaries, which
/// `scripts/testbed/postgres` installs). It runs as the `postgres` user when the test runs as
/// root, which PostgreSQL refuses to run as.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    pub port: u16,
}

impl PrivatePostgres {
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL (scripts/testbed/postgres up installs it)")
            .map(|d| d.unwrap().path().join("bin"))
            .filter(|b| b.join("pg_ctl").exists())
            .max()
            .expect("pg_ctl");
        let server = Self {
            dir: tempfile::tempdir().unwrap(),
            bin,
            port: free_port(),
        };
        if is_root() {
            let owned = std::process::Command::new("chown")
                .args(["-R", "postgres"])
                .arg(server.dir.path())
                .status()
                .unwrap();
            assert!(owned.success());
        }
        let data = server.dir.path().join("data");
        server.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
            ],
        );
        server.start_again();
        server
    }

    /// Starts the stopped server again, on the same port.
    pub fn start_again(&self) {
        let (data, log) = (self.dir.path().join("data"), self.dir.path().join("server.log"));
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
                "-o",
                &options,
            ],
        );
    }

    /// Stops the server at once, as a crash or a network cut would.
    pub fn stop(&self) {
        let data = self.dir.path().join("data");
        self.run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"],
        );
    }

    /// A new empty database on this server.
    pub fn new_database(&self) -> String {
        new_database(&format!("postgres://postgres@127.0.0.1:{}/postgres", self.port))
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let tool = self.bin.join(tool);
        let mut command = if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(tool);
            c
        } else {
            std::process::Command::new(tool)
        };
        let out = command.args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        if data.join("postmaster.pid").exists() {
            self.stop();
        }
    }
}

fn is_root() -> bool {
    let id = std::process::Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&id.stdout).trim() == "0"
}

/// The value of a Prometheus sample, named with its labels as the exporter writes them.
pub fn sample(page: &str, name_and_labels: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
}

/// What a run of the `osg` command did: whether it succeeded, its standard output and error.
pub struct CliRun {
    pub ok: bool,
    pub out: String,
    pub err: String,
}

/// Runs `osg ARGS --data-dir DIR` with `input` on its standard input (RUST_BACKTRACE set, so
/// that a backtrace would show).
pub fn osg_cli(dir: &std::path::Path, args: &[&str], input: &str) -> CliRun {
    let mut osg = std::process::Command::new(env!("CARGO_BIN_EXE_osg"));
    osg.args(args).arg("--data-dir").arg(dir).env("RUST_BACKTRACE", "1");
    run_cli(osg, input)
}

/// Runs `command` (the `osg` command, set up) with `input` on its standard input.
pub fn run_cli(mut command: std::process::Command, input: &str) -> CliRun {
    use std::io::Write;
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    CliRun {
        ok: out.status.success(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
