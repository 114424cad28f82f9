//! `osg bench`: a load generator for any S3 endpoint (ours or another), in the manner of
//! MinIO's warp. Credentials come from the standard AWS sources (environment, profiles).
//! Every run is bounded (a duration or an operation count) and removes what it wrote.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// PutObject of new keys.
    Put,
    /// GetObject of keys written first.
    Get,
    /// 60% GET, 30% PUT, 10% DELETE.
    Mixed,
    /// DeleteObject of keys written first.
    Delete,
    /// ListObjectsV2 pages over keys written first, spread over 1000 common prefixes
    /// (`p-000/` to `p-999/`): with `--delimiter /` a page holds those 1000 prefixes however
    /// many keys the bucket has.
    List,
    /// Multipart uploads: create, parts of --part-size, complete.
    Multipart,
}

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// S3 endpoint; give it several times to spread requests over several gateways.
    #[arg(long = "endpoint", default_value = "http://127.0.0.1:8773")]
    pub endpoints: Vec<String>,
    /// What to do: put, get, mixed, delete, list or multipart.
    #[arg(long, value_enum, default_value = "put")]
    pub workload: Workload,
    /// Object size (4KiB, 64MiB, 5GiB, or bytes).
    #[arg(long, default_value = "4KiB", value_parser = parse_size)]
    pub size: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// How long to run (10s, 2m, 500ms), unless --count is given.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Stop after this many operations instead.
    #[arg(long)]
    pub count: Option<u64>,
    /// Bucket to use (created if missing, kept); by default a new one, removed afterwards.
    #[arg(long)]
    pub bucket: Option<String>,
    /// Key prefix of everything the run writes. Keys are then the run's hex id, a dash and a
    /// number, which even a blob store (a standalone Walrus) takes.
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// Objects written before a get, delete, list or mixed run.
    #[arg(long, default_value_t = 256)]
    pub objects: u64,
    /// Requests in flight while writing those objects (by default --concurrency).
    #[arg(long)]
    pub prepare_concurrency: Option<usize>,
    /// Delimiter of the list workload's requests.
    #[arg(long)]
    pub delimiter: Option<String>,
    /// Leave what the run wrote (and the bucket) in place.
    #[arg(long)]
    pub keep: bool,
    /// Write objects with SSE-S3 (`x-amz-server-side-encryption: AES256`).
    #[arg(long)]
    pub sse: bool,
    /// Part size of the multipart workload.
    #[arg(long, default_value = "8MiB", value_parser = parse_size)]
    pub part_size: u64,
    /// The region requests are signed for.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// PEM certificates to trust besides the system's (an HTTPS endpoint with its own CA).
    #[arg(long)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `4KiB`, `64MiB`, `5GiB`, `10MB`, `4096`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("not a size: {s}"))?;
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(format!("unknown size unit in {s}")),
    };
    n.checked_mul(scale).ok_or_else(|| format!("size too large: {s}"))
}

/// `10s`, `2m`, `500ms`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("not a duration: {s}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("unknown duration unit in {s}")),
    }
}

/// What one run measured.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    bytes: u64,
    errors: BTreeMap<String, u64>,
}

struct Run {
    clients: Vec<Client>,
    bucket: String,
    /// Keys of this run start here.
    base: String,
    data: Bytes,
    args: BenchArgs,
    next: AtomicU64,
    /// Every key written, for the cleanup: some S3 services cannot list (a standalone Walrus).
    written: std::sync::Mutex<Vec<String>>,
}

/// Runs the benchmark and prints its summary.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.concurrency > 0 && args.prepare_concurrency != Some(0),
        "--concurrency and --prepare-concurrency must be at least 1"
    );
    anyhow::ensure!(
        args.workload != Workload::Multipart || args.part_size >= 5 << 20,
        "--part-size must be at least 5MiB"
    );
    crate::credentials::load().await?;
    let credentials = crate::credentials::chain();
    let mut shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(args.region.clone()))
        .credentials_provider(credentials);
    if let Some(path) = &args.ca_file {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let http = osg_provider::s3::http_client(Some(pem), args.concurrency)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        shared = shared.http_client(http);
    }
    let shared = shared.load().await;
    let clients: Vec<Client> = args
        .endpoints
        .iter()
        .map(|endpoint| {
            let conf = aws_sdk_s3::config::Builder::from(&shared)
                .endpoint_url(endpoint)
                .force_path_style(true)
                // Errors are counted, not hidden behind retries.
                .retry_config(RetryConfig::disabled())
                // Plain bodies, as most S3 clients send them: no client-side checksum work.
                .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired)
                .build();
            Client::from_conf(conf)
        })
        .collect();
    let (bucket, created) = match &args.bucket {
        Some(b) => (b.clone(), false),
        None => (format!("osg-bench-{:08x}", rand::random::<u32>()), true),
    };
    if let Err(e) = clients[0].create_bucket().bucket(&bucket).send().await
        && !matches!(e.code(), Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists"))
    {
        anyhow::bail!("creating bucket {bucket}: {}", osg_provider::s3::describe(&e));
    }
    let in_memory = args.size.min(64 << 20);
    let data: Vec<u8> = (0..in_memory).map(|_| rand::random::<u8>()).collect();
    let run = Arc::new(Run {
        clients,
        base: format!("{}{:08x}-", args.prefix, rand::random::<u32>()),
        bucket: bucket.clone(),
        data: Bytes::from(data),
        args: args.clone(),
        next: AtomicU64::new(0),
        written: std::sync::Mutex::default(),
    });
    let outcome = measure(&run).await;
    let cleaned = if args.keep {
        Ok(())
    } else {
        cleanup(&run, created).await
    };
    let (tally, elapsed) = outcome?;
    report(&args, &tally, elapsed);
    cleaned
}

async fn measure(run: &Arc<Run>) -> anyhow::Result<(Tally, Duration)> {
    let args = &run.args;
    let prepared = match args.workload {
        Workload::Get | Workload::Mixed | Workload::List => args.objects,
        Workload::Delete => args.count.unwrap_or(args.objects),
        Workload::Put | Workload::Multipart => 0,
    };
    if prepared > 0 {
        prepare(run, prepared).await?;
    }
    let progress = indicatif::ProgressBar::new(args.count.unwrap_or(args.duration.as_secs()));
    progress.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:40}] {pos}/{len} {msg}")
            .expect("a valid template"),
    );
    let started = Instant::now();
    let deadline = started + args.duration;
    let done = Arc::new(AtomicU64::new(0));
    let ticker = {
        let (progress, done) = (progress.clone(), Arc::clone(&done));
        let by_count = args.count.is_some();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let n = done.load(Ordering::Relaxed);
                progress.set_position(if by_count { n } else { started.elapsed().as_secs() });
                progress.set_message(format!("{n} ops"));
            }
        })
    };
    let workers: Vec<_> = (0..args.concurrency)
        .map(|w| {
            let (run, done) = (Arc::clone(run), Arc::clone(&done));
            tokio::spawn(async move { worker(&run, w, prepared, deadline, &done).await })
        })
        .collect();
    let mut tally = Tally::default();
    for w in workers {
        let t = w.await?;
        tally.latencies.extend(t.latencies);
        tally.bytes += t.bytes;
        for (code, n) in t.errors {
            *tally.errors.entry(code).or_default() += n;
        }
    }
    let elapsed = started.elapsed();
    ticker.abort();
    progress.finish_and_clear();
    Ok((tally, elapsed))
}

/// Writes `n` objects for the workloads that read or delete.
async fn prepare(run: &Arc<Run>, n: u64) -> anyhow::Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let progress = indicatif::ProgressBar::new(n).with_message("objects written first");
    progress.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:40}] {pos}/{len} {msg}")
            .expect("a valid template"),
    );
    let writers: Vec<_> = (0..run.args.prepare_concurrency.unwrap_or(run.args.concurrency))
        .map(|w| {
            let (run, next, progress) = (Arc::clone(run), Arc::clone(&next), progress.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok::<_, anyhow::Error>(());
                    }
                    let client = &run.clients[w % run.clients.len()];
                    put(client, &run, &run.prepared_key(i))
                        .await
                        .map_err(|e| anyhow::anyhow!("preparing objects: {e}"))?;
                    progress.inc(1);
                }
            })
        })
        .collect();
    for w in writers {
        w.await??;
    }
    progress.finish_and_clear();
    Ok(())
}

impl Run {
    /// What the run's writes ask for: SSE-S3 with `--sse`.
    fn sse(&self) -> Option<aws_sdk_s3::types::ServerSideEncryption> {
        self.args.sse.then_some(aws_sdk_s3::types::ServerSideEncryption::Aes256)
    }

    fn wrote(&self, key: &str) {
        self.written.lock().expect("written keys").push(key.to_owned());
    }

    fn prepared_key(&self, i: u64) -> String {
        match self.args.workload {
            Workload::List => format!("{}p-{:03}/{i:08}", self.base, i % 1000),
            _ => format!("{}p-{i:08}", self.base),
        }
    }

    fn new_key(&self) -> String {
        format!("{}n-{:010}", self.base, self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// The body of one object: the random buffer, repeated for objects larger than it.
    fn body(&self) -> ByteStream {
        let size = self.args.size;
        if size <= self.data.len() as u64 {
            return ByteStream::from(self.data.slice(..usize::try_from(size).unwrap_or(usize::MAX)));
        }
        let data = self.data.clone();
        let chunks = futures::stream::unfold(0u64, move |sent| {
            let data = data.clone();
            async move {
                (sent < size).then(|| {
                    let n = (size - sent).min(data.len() as u64);
                    let frame = http_body::Frame::data(data.slice(..usize::try_from(n).unwrap_or(0)));
                    (Ok::<_, std::io::Error>(frame), sent + n)
                })
            }
        });
        let body = http_body_util::StreamBody::new(futures::StreamExt::fuse(chunks));
        ByteStream::new(aws_smithy_types::body::SdkBody::from_body_1_x(body))
    }
}

type OpResult = Result<u64, String>;

fn code_of<E: ProvideErrorMetadata + std::error::Error + 'static, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    R: std::fmt::Debug,
{
    e.code().map_or_else(
        || match e {
            aws_sdk_s3::error::SdkError::TimeoutError(_) => "Timeout".to_owned(),
            aws_sdk_s3::error::SdkError::DispatchFailure(_) => "ConnectionError".to_owned(),
            _ => "OtherError".to_owned(),
        },
        str::to_owned,
    )
}

async fn put(client: &Client, run: &Run, key: &str) -> OpResult {
    let size = i64::try_from(run.args.size).map_err(|_| "TooLarge".to_owned())?;
    client
        .put_object()
        .bucket(&run.bucket)
        .key(key)
        .content_length(size)
        .set_server_side_encryption(run.sse())
        .body(run.body())
        .send()
        .await
        .map_err(|e| code_of(&e))?;
    run.wrote(key);
    Ok(run.args.size)
}

async fn get(client: &Client, run: &Run, key: &str) -> OpResult {
    let out = client
        .get_object()
        .bucket(&run.bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| code_of(&e))?;
    let mut body = out.body;
    let mut n = 0u64;
    while let Some(chunk) = body.try_next().await.map_err(|_| "BodyError".to_owned())? {
        n += chunk.len() as u64;
    }
    Ok(n)
}

async fn delete(client: &Client, run: &Run, key: &str) -> OpResult {
    client
        .delete_object()
        .bucket(&run.bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| code_of(&e))?;
    Ok(0)
}

async fn list(client: &Client, run: &Run, token: &mut Option<String>) -> OpResult {
    let page = client
        .list_objects_v2()
        .bucket(&run.bucket)
        .prefix(format!("{}p-", run.base))
        .set_delimiter(run.args.delimiter.clone())
        .set_continuation_token(token.take())
        .send()
        .await
        .map_err(|e| code_of(&e))?;
    *token = page.next_continuation_token().map(str::to_owned);
    Ok(0)
}

async fn multipart(client: &Client, run: &Run, key: &str) -> OpResult {
    let up = client
        .create_multipart_upload()
        .bucket(&run.bucket)
        .key(key)
        .set_server_side_encryption(run.sse())
        .send()
        .await
        .map_err(|e| code_of(&e))?;
    let id = up.upload_id().unwrap_or_default();
    let part_size = run.args.part_size.min(run.data.len() as u64);
    let parts = run.args.size.div_ceil(part_size).max(1);
    let mut done = Vec::new();
    for p in 0..parts {
        let len = (run.args.size - p * part_size).min(part_size);
        let body = ByteStream::from(run.data.slice(..usize::try_from(len).unwrap_or(0)));
        let n = i32::try_from(p + 1).map_err(|_| "TooManyParts".to_owned())?;
        let r = client
            .upload_part()
            .bucket(&run.bucket)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(body)
            .send()
            .await
            .map_err(|e| code_of(&e))?;
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(r.e_tag().map(str::to_owned))
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket(&run.bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .map_err(|e| code_of(&e))?;
    run.wrote(key);
    Ok(run.args.size)
}

async fn worker(run: &Run, w: usize, prepared: u64, deadline: Instant, done: &AtomicU64) -> Tally {
    let client = &run.clients[w % run.clients.len()];
    let mut tally = Tally::default();
    let mut own: Vec<String> = Vec::new();
    let mut token = None;
    loop {
        let n = done.fetch_add(1, Ordering::Relaxed);
        let over = match run.args.count {
            Some(count) => n >= count,
            None => Instant::now() >= deadline,
        } || (run.args.workload == Workload::Delete && n >= prepared);
        if over {
            done.fetch_sub(1, Ordering::Relaxed);
            return tally;
        }
        let pick = || rand::random::<u64>() % prepared.max(1);
        let started = Instant::now();
        let result = match run.args.workload {
            Workload::Put => put(client, run, &run.new_key()).await,
            Workload::Get => get(client, run, &run.prepared_key(pick())).await,
            Workload::Delete => delete(client, run, &run.prepared_key(n)).await,
            Workload::List => list(client, run, &mut token).await,
            Workload::Multipart => multipart(client, run, &run.new_key()).await,
            Workload::Mixed => match rand::random::<u8>() % 10 {
                0..6 => get(client, run, &run.prepared_key(pick())).await,
                6 if !own.is_empty() => {
                    let key = own.swap_remove(usize::from(rand::random::<u16>()) % own.len());
                    delete(client, run, &key).await
                }
                _ => {
                    let key = run.new_key();
                    let r = put(client, run, &key).await;
                    own.push(key);
                    r
                }
            },
        };
        match result {
            Ok(bytes) => {
                tally.latencies.push(started.elapsed());
                tally.bytes += bytes;
            }
            Err(code) => *tally.errors.entry(code).or_default() += 1,
        }
    }
}

/// Removes every object the run wrote (one DeleteObject each, which every S3 service has),
/// its unfinished multipart uploads where the service lists them, and the bucket if the run
/// made it.
async fn cleanup(run: &Arc<Run>, remove_bucket: bool) -> anyhow::Result<()> {
    let keys = Arc::new(std::sync::Mutex::new(std::mem::take(
        &mut *run.written.lock().expect("written keys"),
    )));
    let deleters: Vec<_> = (0..run.args.concurrency)
        .map(|w| {
            let (run, keys) = (Arc::clone(run), Arc::clone(&keys));
            tokio::spawn(async move {
                let client = &run.clients[w % run.clients.len()];
                loop {
                    let Some(key) = keys.lock().expect("written keys").pop() else {
                        return Ok::<_, anyhow::Error>(());
                    };
                    client
                        .delete_object()
                        .bucket(&run.bucket)
                        .key(&key)
                        .send()
                        .await
                        .with_context(|| format!("deleting {key}"))?;
                }
            })
        })
        .collect();
    for d in deleters {
        d.await??;
    }
    let client = &run.clients[0];
    if let Ok(uploads) = client
        .list_multipart_uploads()
        .bucket(&run.bucket)
        .prefix(&run.base)
        .send()
        .await
    {
        for u in uploads.uploads() {
            let _ = client
                .abort_multipart_upload()
                .bucket(&run.bucket)
                .key(u.key().unwrap_or_default())
                .upload_id(u.upload_id().unwrap_or_default())
                .send()
                .await;
        }
    }
    if remove_bucket && let Err(e) = client.delete_bucket().bucket(&run.bucket).send().await {
        eprintln!(
            "osg bench: bucket {} left behind, empty: {}",
            run.bucket,
            e.code().unwrap_or("no answer")
        );
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(args: &BenchArgs, tally: &Tally, elapsed: Duration) {
    let mut sorted = tally.latencies.clone();
    sorted.sort_unstable();
    let secs = elapsed.as_secs_f64();
    let ops = sorted.len();
    let summary = json!({
        "workload": format!("{:?}", args.workload).to_lowercase(),
        "size": args.size,
        "concurrency": args.concurrency,
        "sse": args.sse,
        "endpoints": args.endpoints,
        "seconds": secs,
        "ops": ops,
        "ops_per_sec": ops as f64 / secs,
        "mb_per_sec": tally.bytes as f64 / secs / 1e6,
        "latency_ms": {
            "p50": percentile(&sorted, 0.50),
            "p90": percentile(&sorted, 0.90),
            "p99": percentile(&sorted, 0.99),
            "max": percentile(&sorted, 1.0),
        },
        "errors": tally.errors,
    });
    if args.json {
        println!("{summary}");
        return;
    }
    let l = &summary["latency_ms"];
    println!(
        "{:?} {} B x {} in flight on {} endpoint(s){}, {secs:.1} s",
        args.workload,
        args.size,
        args.concurrency,
        args.endpoints.len(),
        if args.sse { ", SSE-S3" } else { "" }
    );
    println!(
        "  {ops} ops  {:.1} ops/s  {:.2} MB/s",
        summary["ops_per_sec"].as_f64().unwrap_or(0.0),
        summary["mb_per_sec"].as_f64().unwrap_or(0.0)
    );
    println!(
        "  latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        l["p50"].as_f64().unwrap_or(0.0),
        l["p90"].as_f64().unwrap_or(0.0),
        l["p99"].as_f64().unwrap_or(0.0),
        l["max"].as_f64().unwrap_or(0.0)
    );
    if tally.errors.is_empty() {
        println!("  errors: none");
    } else {
        for (code, n) in &tally.errors {
            println!("  errors: {code} x {n}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("5GiB"), Ok(5 << 30));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("4XB").is_err());
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("1y").is_err());
    }

    #[test]
    fn percentiles() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 0.5), 51.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&sorted, 1.0), 100.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
