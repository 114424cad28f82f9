//! One real gateway per test binary, on a loopback port, with its data in a temp dir.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use osg::serve::{ServeArgs, Server};

pub struct TestServer {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub data_dir: PathBuf,
    /// Where object bytes land on disk: the embedded Walrus, or the standalone one of the
    /// `standalone-walrus` lane.
    pub blob_root: PathBuf,
}

/// The provider lane this run tests: `OSG_TEST_PROVIDER=standalone-walrus` puts every bucket
/// on a standalone Walrus reached through the `s3` provider; unset, the embedded Walrus.
fn lane() -> Option<String> {
    std::env::var("OSG_TEST_PROVIDER").ok().filter(|v| !v.is_empty())
}

/// Starts a standalone Walrus, registers it and makes it the backend; returns its blob root.
async fn standalone_walrus(data_dir: &std::path::Path) -> PathBuf {
    let walrus_dir = data_dir.join("standalone");
    let args = osg::walrus::WalrusArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: walrus_dir.clone(),
    };
    let walrus = osg::walrus::WalrusServer::start(&args).await.unwrap();
    let (access_key, secret) = osg::bootstrap::read_credentials(&walrus.credentials).unwrap();
    let endpoint = format!("http://{}", walrus.addr);
    tokio::spawn(walrus.run());
    let meta = osg::bootstrap::open_meta(data_dir).await.unwrap();
    let config = format!(r#"{{"endpoint":"{endpoint}","bucket":"osg-blobs","access_key":"{access_key}"}}"#);
    let record = osg_meta::ProviderRecord {
        name: "standalone".into(),
        kind: "s3".into(),
        config,
    };
    meta.add_provider(&record, &secret).await.unwrap();
    meta.set_property("osg.backend", "standalone").await.unwrap();
    walrus_dir.join("buckets/osg-blobs/blobs")
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
        let args = ServeArgs {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.clone(),
            tls_cert: None,
            tls_key: None,
            domain: Some("s3.localhost".into()),
            region: "us-east-1".into(),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let blob_root = match lane().as_deref() {
                    None => args.data_dir.join("walrus/blobs"),
                    Some("standalone-walrus") => standalone_walrus(&args.data_dir).await,
                    Some(other) => panic!("unknown OSG_TEST_PROVIDER {other}"),
                };
                let server = Server::start(&args).await.unwrap();
                tx.send((server.addr, server.credentials.clone(), blob_root)).unwrap();
                server.run().await.unwrap();
            });
        });
        let (addr, credentials, blob_root) = rx.recv().unwrap();
        let (access_key, secret_key) = read_credentials(&credentials);
        TestServer {
            endpoint: format!("http://{addr}"),
            access_key,
            secret_key,
            data_dir: dir,
            blob_root,
        }
    })
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

pub async fn new_bucket(c: &Client, tag: &str) -> String {
    let name = bucket_name(tag);
    c.create_bucket().bucket(&name).send().await.unwrap();
    name
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
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_osg"))
        .args([command, "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "osg {command} did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Osg(child)
}

/// A loopback port nothing listens on yet.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
