//! The Object Storage Gateway: a stateless S3 front end.
//!
//! A request arrives at [`server`], which gives it a request id, refuses what s3s would wrongly
//! take ([`s3s_gaps`]) and hands it to the s3s service (or, for a form POST to `/`, to the
//! IAM Query API in [`iam`]; for a form upload to a bucket, to `s3::post_object`). s3s parses
//! and authenticates it ([`auth`] looks up secrets in the metadata store), [`authz`]
//! authorizes it, then s3s calls the [`S3`](s3s::S3) implementation in [`s3`], one module per
//! S3 area. Object bytes stream between the client and the [`Provider`]; everything else is
//! in [`Meta`].

mod auth;
mod authz;
mod connection;
mod directory;
mod encryption;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod host;
mod iam;
mod idle;
pub mod lifecycle;
mod metered;
pub mod metrics_catalog;
mod observe;
pub mod providers;
mod reaper;
mod s3;
mod s3s_gaps;
mod server;
mod sigv4;

use std::sync::Arc;

use osg_meta::Meta;

pub use self::iam::AdminRunner;
pub use self::lifecycle::run_lifecycle;
pub use self::reaper::run_reaper;
pub use self::server::{Shutdown, TlsFiles, serve};
pub use s3s::service::S3Service;

/// What every request handler shares: the metadata store and the provider.
#[derive(Clone)]
pub struct Gateway {
    meta: Arc<Meta>,
    dir: Arc<directory::Directory>,
    providers: Arc<providers::Providers>,
    region: String,
}

/// Settings of one gateway process.
#[derive(Debug, Clone)]
pub struct Config {
    /// The region buckets are created in and requests are signed for.
    pub region: String,
    /// Base domain for virtual-hosted-style requests (`bucket.DOMAIN`); path style always works.
    pub domain: Option<String>,
    /// How long a request body may bring no byte before the request fails, and a connection
    /// may stay quiet between requests before it is closed.
    pub idle_timeout: std::time::Duration,
    /// How many connections are served at once; more wait to be accepted.
    pub max_connections: usize,
}

/// How long a body or a connection may stay quiet, unless configured otherwise.
pub const DEFAULT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// How many connections are served at once, unless configured otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

impl Gateway {
    #[must_use]
    pub fn new(meta: Arc<Meta>, providers: Arc<providers::Providers>, region: String) -> Self {
        let dir = Arc::new(directory::Directory::new(Arc::clone(&meta)));
        Self {
            meta,
            dir,
            providers,
            region,
        }
    }
}

/// What a listener serves: the S3 API, and the IAM Query API beside it.
#[derive(Clone)]
pub struct Frontend {
    s3: S3Service,
    /// For form uploads, served before s3s; a standalone Walrus has none.
    gateway: Option<Gateway>,
    /// The region requests must be signed for; a standalone Walrus takes any.
    region: Option<String>,
    idle_timeout: std::time::Duration,
    max_connections: usize,
    /// The IAM endpoint beside S3; a standalone Walrus has none.
    iam: Option<Arc<iam::Iam>>,
    /// The virtual-hosting domain, if any.
    domain: Option<String>,
    /// For the readiness endpoint; a standalone Walrus has none.
    providers: Option<Arc<providers::Providers>>,
    /// Set when shutdown begins: readiness answers 503 so load balancers move away.
    draining: Arc<std::sync::atomic::AtomicBool>,
}

impl Frontend {
    /// This front end, running `osg admin --endpoint` commands with `runner` (IAM action
    /// `OsgAdmin`).
    #[must_use]
    pub fn with_admin(mut self, runner: Arc<dyn AdminRunner>) -> Self {
        self.iam = self.iam.map(|iam| Arc::new(iam.with_admin(runner)));
        self
    }

    /// Serves another S3 service (a standalone Walrus) with this listener's request ids,
    /// limits and error details.
    #[must_use]
    pub fn s3_only(s3: S3Service) -> Self {
        Self {
            s3,
            gateway: None,
            region: None,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            iam: None,
            domain: None,
            providers: None,
            draining: Arc::default(),
        }
    }
}

/// Builds the front end for `gateway`: authentication against the metadata store, virtual
/// hosts under the configured domain, request limits, and the IAM endpoint.
pub fn frontend(gateway: Gateway, config: &Config) -> Frontend {
    let meta = Arc::clone(&gateway.meta);
    let dir = Arc::clone(&gateway.dir);
    let providers = Arc::clone(&gateway.providers);
    let mut builder = s3s::service::S3ServiceBuilder::new(gateway.clone());
    builder.set_auth(auth::Auth::new(Arc::clone(&dir)));
    builder.set_access(authz::Access::new(Arc::clone(&dir)));
    builder.set_validation(s3::BucketNames);
    if let Some(domain) = &config.domain {
        builder.set_host(host::Domain::new(domain));
    }
    let mut limits = s3s::config::S3Config::default();
    // Form uploads are served before s3s, which would gather their file in memory before the
    // access check; should one reach it, it may gather nothing.
    limits.post_object_max_file_size = 0;
    limits.form_max_field_size = 1;
    limits.form_max_fields_size = 1;
    limits.form_max_parts = 1;
    limits.xml_max_body_size = usize::try_from(s3s_gaps::MAX_DOCUMENT).unwrap_or(usize::MAX);
    builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(limits))));
    Frontend {
        s3: builder.build(),
        region: Some(gateway.region.clone()),
        gateway: Some(gateway),
        idle_timeout: config.idle_timeout,
        max_connections: config.max_connections,
        iam: Some(Arc::new(iam::Iam::new(meta, dir))),
        domain: config.domain.clone(),
        providers: Some(providers),
        draining: Arc::default(),
    }
}
