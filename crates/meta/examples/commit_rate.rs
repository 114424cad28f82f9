//! The metadata store alone: how many object commits of distinct keys a second some
//! concurrent writers get through, to set beside `pgbench`'s rate of single-row inserts with
//! as many clients (`scripts/bench-cluster` runs both). Each writer first takes its blob
//! leases (not timed), then commits one object per lease, then does whole PUTs' bookkeeping
//! (a lease, then a commit). Prints one JSON line.
//!
//!   cargo run --release -p osg-meta --example commit_rate -- DATABASE_URL CLIENTS SECONDS

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use osg_meta::{BucketConfig, Condition, Meta, NewBucket, NewVersion, ObjectAttrs, Piece, Sealer};

fn version(bucket: &str, key: &str, blob: &str) -> NewVersion {
    NewVersion {
        bucket: bucket.into(),
        key: key.into(),
        size: 4096,
        etag: "0cc175b9c0f1b6a831c399e269772661".into(),
        parts_count: None,
        pieces: vec![Piece::whole(blob.into(), 4096)],
        attrs: ObjectAttrs::default(),
        owner: String::new(),
    }
}

/// Runs `clients` writers for `seconds`, each calling `op(client, n)` for n = 0, 1, ...;
/// returns the calls per second.
async fn rate<F, Fut>(clients: usize, seconds: f64, op: F) -> f64
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (op, done) = (Arc::clone(&op), Arc::clone(&done));
            tokio::spawn(async move {
                let mut n = 0;
                while Instant::now() < until {
                    op(c, n).await;
                    n += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, clients, seconds] = args.as_slice() else {
        eprintln!("usage: commit_rate DATABASE_URL CLIENTS SECONDS");
        std::process::exit(2);
    };
    let clients: usize = clients.parse().expect("CLIENTS");
    let seconds: f64 = seconds.parse().expect("SECONDS");
    let meta = Arc::new(
        Meta::open(url, Sealer::new(&Sealer::generate_key()))
            .await
            .expect("store"),
    );
    // Names of this run's own, so that runs can share a database.
    let bucket: &'static str = format!("rate{}", std::process::id()).leak();
    let owner = meta.create_account(bucket).await.expect("account");
    let new = NewBucket {
        name: bucket,
        owner: &owner.id,
        region: "us-east-1",
        provider: "walrus",
        object_lock: false,
    };
    meta.create_bucket(new, BucketConfig::default(), 100)
        .await
        .expect("bucket");
    // Leases for the commits to come: more than this machine's PostgreSQL could commit.
    let per_client = (clients.min(4) * 3000) as f64 * seconds / clients as f64;
    let per_client = per_client.ceil() as usize;
    let leasing: Vec<_> = (0..clients)
        .map(|c| {
            let meta = Arc::clone(&meta);
            tokio::spawn(async move {
                for n in 0..per_client {
                    meta.begin_blob(&format!("{bucket}c{c}n{n}@walrus"), bucket)
                        .await
                        .expect("lease");
                }
            })
        })
        .collect();
    for t in leasing {
        t.await.unwrap();
    }
    let m = Arc::clone(&meta);
    let commits = rate(clients, seconds, move |c, n| {
        let m = Arc::clone(&m);
        async move {
            let (key, blob) = (format!("c{c}/k{n}"), format!("{bucket}c{c}n{n}@walrus"));
            m.commit_object(&version(bucket, &key, &blob), &Condition::None)
                .await
                .expect("commit");
        }
    })
    .await;
    let m = Arc::clone(&meta);
    let puts = rate(clients, seconds, move |c, n| {
        let m = Arc::clone(&m);
        async move {
            let (key, blob) = (format!("p{c}/k{n}"), format!("{bucket}p{c}n{n}@walrus"));
            m.begin_blob(&blob, bucket).await.expect("lease");
            m.commit_object(&version(bucket, &key, &blob), &Condition::None)
                .await
                .expect("commit");
        }
    })
    .await;
    println!(r#"{{"clients":{clients},"commits_per_sec":{commits:.0},"puts_per_sec":{puts:.0}}}"#);
}
