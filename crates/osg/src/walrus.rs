//! `osg walrus`: a Walrus store on its own host, which gateways reach with the `s3` provider.
//! Its service credential comes from `OSG_WALRUS_ACCESS_KEY`/`OSG_WALRUS_SECRET_KEY` when
//! set, otherwise it is generated on first start into `DIR/walrus.credentials` (mode 0600).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use tokio::net::TcpListener;

pub const CREDENTIALS_FILE: &str = "walrus.credentials";

#[derive(clap::Args, Debug, Clone)]
pub struct WalrusArgs {
    /// A TOML file of settings: a [walrus] table of these flags' long names; flags and
    /// environment variables beat it.
    #[arg(long, env = "OSG_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8774")]
    pub listen: String,
    /// Directory holding the blobs and the service credential. The credential is
    /// OSG_WALRUS_ACCESS_KEY/OSG_WALRUS_SECRET_KEY when set, else generated into
    /// DATA_DIR/walrus.credentials (mode 0600); gateways register it with `osg provider add`.
    #[arg(long, default_value = "./walrus-data")]
    pub data_dir: PathBuf,
}

/// A standalone Walrus bound to its port.
pub struct WalrusServer {
    pub addr: SocketAddr,
    pub credentials: PathBuf,
    listener: TcpListener,
    frontend: osg_gateway::Frontend,
}

impl WalrusServer {
    pub async fn start(args: &WalrusArgs) -> anyhow::Result<Self> {
        crate::bootstrap::private_dir(&args.data_dir)?;
        let credentials = args.data_dir.join(CREDENTIALS_FILE);
        let (access_key, secret) = match (
            std::env::var("OSG_WALRUS_ACCESS_KEY"),
            std::env::var("OSG_WALRUS_SECRET_KEY"),
        ) {
            (Ok(a), Ok(s)) if !a.is_empty() && !s.is_empty() => (a, s),
            _ if credentials.exists() => crate::bootstrap::read_credentials(&credentials)?,
            _ => {
                let pair = osg_meta::new_key_pair();
                crate::bootstrap::write_credentials(&credentials, &pair.0, &pair.1)?;
                pair
            }
        };
        let service = osg_walrus::standalone::service(args.data_dir.clone(), &access_key, &secret);
        let listener = TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        Ok(Self {
            addr: listener.local_addr()?,
            credentials,
            listener,
            frontend: osg_gateway::Frontend::s3_only(service),
        })
    }

    /// Serves until SIGTERM (or Ctrl-C); requests in flight get 30 seconds to finish.
    pub async fn run(self) -> anyhow::Result<()> {
        let shutdown = osg_gateway::Shutdown {
            signal: crate::serve::stop_signal(),
            delay: std::time::Duration::ZERO,
            grace: std::time::Duration::from_secs(30),
        };
        osg_gateway::serve(self.listener, self.frontend, None, shutdown).await?;
        Ok(())
    }
}
