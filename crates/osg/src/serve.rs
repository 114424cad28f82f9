//! `osg serve`: one process with the gateway, the embedded SQLite metadata store and the
//! embedded Walrus provider, all under one data directory. `osg gateway`: a gateway of many,
//! on a shared metadata store (`--db`), keeping no object bytes of its own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use osg_gateway::providers::Providers;
use osg_gateway::{Config, Gateway, TlsFiles};
use osg_meta::Meta;
use osg_provider::Provider;
use osg_walrus::Walrus;
use tokio::net::TcpListener;

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// A TOML file of settings: a [serve] or [gateway] table of these flags' long names
    /// (operator's guide); flags and environment variables beat it.
    #[arg(long, env = "OSG_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on: HOST:PORT, the host a name (localhost) or an address.
    #[arg(long, default_value = "127.0.0.1:8773")]
    pub listen: String,
    #[command(flatten)]
    pub store: crate::bootstrap::StoreOptions,
    /// PEM certificate chain; with --tls-key, serve HTTPS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Base domain for virtual-hosted-style requests (bucket.DOMAIN).
    #[arg(long)]
    pub domain: Option<String>,
    /// Region buckets are created in.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// On SIGTERM: seconds to keep accepting requests after readiness turns false, so load
    /// balancers move away first.
    #[arg(long, env = "OSG_SHUTDOWN_DELAY", default_value_t = 0.0)]
    pub shutdown_delay: f64,
    /// On SIGTERM: seconds requests in flight get to finish.
    #[arg(long, env = "OSG_SHUTDOWN_GRACE", default_value_t = 30.0)]
    pub shutdown_grace: f64,
    /// Serve Prometheus metrics on this address (any path), apart from S3 traffic.
    #[arg(long, env = "OSG_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Seconds a request body may bring no byte before the request fails (RequestTimeout)
    /// and what it uploaded is given up; and a connection may stay quiet between requests
    /// before it is closed.
    #[arg(long, env = "OSG_IDLE_TIMEOUT", default_value_t = 60.0)]
    pub idle_timeout: f64,
    /// Connections served at once; more wait in the listen backlog.
    #[arg(long, env = "OSG_MAX_CONNECTIONS", default_value_t = osg_gateway::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn stop_signal() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "no SIGTERM handler; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// A gateway bound to its port, ready to serve.
pub struct Server {
    pub addr: SocketAddr,
    pub credentials: PathBuf,
    listener: TcpListener,
    frontend: osg_gateway::Frontend,
    tls: Option<TlsFiles>,
    meta: Arc<Meta>,
    providers: Arc<Providers>,
    shutdown_delay: Duration,
    shutdown_grace: Duration,
}

impl Server {
    /// Opens the metadata store (creating it on first start) and binds the listener; with
    /// `embedded`, the data directory's Walrus store is the `walrus` provider.
    pub async fn start(args: &ServeArgs, embedded: bool) -> anyhow::Result<Self> {
        // What can fail on a flag is checked before anything is created or announced.
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => {
                let files = TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                };
                files.check().context("loading the TLS certificate and key")?;
                Some(files)
            }
            (None, None) => None,
            _ => anyhow::bail!("HTTPS needs both --tls-cert and --tls-key"),
        };
        let listener = TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        if let Some(addr) = args.metrics_listen {
            use metrics_exporter_prometheus::Matcher;
            use osg_gateway::metrics_catalog as catalog;
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .with_http_listener(addr)
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), catalog::BUCKETS_SECONDS)?
                .set_buckets_for_metric(
                    Matcher::Full("osg_db_writes_per_transaction".into()),
                    catalog::BUCKETS_WRITES,
                )?
                .install()
                .with_context(|| format!("serving metrics on {addr}"))?;
            catalog::describe();
        }
        let meta: Arc<Meta> = Arc::new(args.store.open().await?);
        let walrus: Option<Arc<dyn Provider>> = if embedded {
            let store = Walrus::open(&args.store.data_dir.join("walrus"))
                .await
                .context("opening the Walrus store")?;
            Some(Arc::new(store))
        } else {
            None
        };
        let credentials = crate::bootstrap::ensure_admin(&meta, &args.store.data_dir).await?;
        let providers = Arc::new(Providers::new(Arc::clone(&meta), walrus));
        providers
            .refresh()
            .await
            .map_err(|e| anyhow::anyhow!("loading providers: {e}"))?;
        let gateway = Gateway::new(Arc::clone(&meta), Arc::clone(&providers), args.region.clone());
        let config = Config {
            region: args.region.clone(),
            domain: args.domain.clone(),
            idle_timeout: seconds(args.idle_timeout, "--idle-timeout")?,
            max_connections: args.max_connections.max(1),
        };
        let runner = Arc::new(crate::remote::Runner {
            meta: Arc::clone(&meta),
        });
        let frontend = osg_gateway::frontend(gateway, &config).with_admin(runner);
        Ok(Self {
            addr: listener.local_addr()?,
            credentials,
            listener,
            frontend,
            tls,
            meta,
            providers,
            shutdown_delay: seconds(args.shutdown_delay, "--shutdown-delay")?,
            shutdown_grace: seconds(args.shutdown_grace, "--shutdown-grace")?,
        })
    }

    /// Serves until SIGTERM (or Ctrl-C), then drains; the reaper and lifecycle runs go on
    /// beside it.
    pub async fn run(self) -> anyhow::Result<()> {
        tokio::spawn(Arc::clone(&self.providers).run_refresh());
        tokio::spawn(osg_gateway::run_lifecycle(Arc::clone(&self.meta)));
        tokio::spawn(osg_gateway::run_reaper(self.meta, self.providers));
        let shutdown = osg_gateway::Shutdown {
            signal: stop_signal(),
            delay: self.shutdown_delay,
            grace: self.shutdown_grace,
        };
        osg_gateway::serve(self.listener, self.frontend, self.tls.as_ref(), shutdown).await?;
        Ok(())
    }
}

fn seconds(value: f64, option: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value).with_context(|| format!("{option} takes a number of seconds"))
}
