//! `osg`: the Scalable Walrus command.

use std::path::PathBuf;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use osg::serve::{ServeArgs, Server};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "osg",
    version,
    about = "Scalable Walrus: an S3-compatible object storage gateway"
)]
struct Cli {
    /// Log lines as `text` or `json` (one object per line, request ids included).
    #[arg(long, env = "OSG_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"], global = true)]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a gateway with the embedded metadata store and Walrus provider.
    Serve(ServeArgs),
    /// Run one of many gateways on a shared metadata store (--db): no object bytes on this
    /// host, only the providers registered in the store.
    Gateway(ServeArgs),
    /// Manage accounts, users, keys and policies in the metadata store.
    Admin(osg::admin::AdminArgs),
    /// Run a standalone Walrus store, for gateways on other hosts.
    Walrus(osg::walrus::WalrusArgs),
    /// Provider instances buckets can be placed on.
    Provider(osg::admin::StoreArgs<osg::admin::ProviderCommand>),
    /// Cluster properties (`osg.backend`, ...), seen by every gateway.
    Property(osg::admin::StoreArgs<osg::admin::PropertyCommand>),
    /// Metadata shards: PostgreSQL databases holding buckets' object metadata.
    Shard(osg::admin::StoreArgs<osg::admin::ShardCommand>),
    /// Buckets of every account: where they live and what they hold, and their quotas.
    Bucket(osg::admin::StoreArgs<osg::admin::BucketCommand>),
    /// Accounts (tenants) and their quotas.
    Account(osg::admin::StoreArgs<osg::admin::AccountCommand>),
    /// What each account holds, against its quota (`--account`: each of its buckets).
    Usage(osg::admin::UsageCommand),
    /// The master key that seals secrets and SSE-S3 data keys (rotation: `rewrap`).
    MasterKey(osg::admin::StoreArgs<osg::admin::MasterKeyCommand>),
    /// Load any S3 endpoint and report throughput and latency; removes what it wrote.
    Bench(osg::bench::BenchArgs),
    /// Prints a completion script for a shell: `osg completions bash > /etc/bash_completion.d/osg`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Writes a man page for osg and each of its commands into a directory (osg.1,
    /// osg-serve.1, ...): `osg man /usr/local/share/man/man1`.
    Man {
        /// Where to write them (created if needed).
        dir: PathBuf,
    },
}

/// Errors end the process with their message and its causes, one line, never a backtrace:
/// they are an operator's to act on, not a developer's.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("osg: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    // s3s logs every error answer at error level, and its debug output prints request DTOs
    // (SSE-C keys included): silence it. sqlx logs each statement.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive("s3s=off".parse()?)
        .add_directive("sqlx=warn".parse()?)
        // aws-config logs where it found credentials with their debug dump, at info.
        .add_directive("aws_config=warn".parse()?);
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut matches = Cli::command().get_matches_from(&args);
    // A server's configuration file gives its flags' defaults: parsed again with them.
    let file = match matches.subcommand() {
        Some(("serve" | "gateway" | "walrus", sub)) => sub.get_one::<PathBuf>("config").cloned(),
        _ => None,
    };
    if let Some(file) = file {
        matches = osg::config::apply(Cli::command(), &file)?.get_matches_from(&args);
    }
    let cli = Cli::from_arg_matches(&matches).map_err(|e| e.exit())?;
    // Colours only for a person at a terminal, never in files or pipes.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if cli.log_format == "json" {
        logs.json().init();
    } else {
        logs.init();
    }
    // What a server says when it starts: a line for a person, or a JSON object with the logs.
    let json = cli.log_format == "json";
    let announce = |what: &str, text: String, value: serde_json::Value| {
        if json {
            println!("{}", serde_json::json!({ what: value }));
        } else {
            println!("{text}");
        }
    };
    match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "osg", &mut std::io::stdout());
            Ok(())
        }
        Command::Man { dir } => {
            std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
            clap_mangen::generate_to(Cli::command(), &dir)
                .map_err(|e| anyhow::anyhow!("writing man pages into {}: {e}", dir.display()))?;
            println!("osg: man pages written into {}", dir.display());
            Ok(())
        }
        Command::Gateway(args) => {
            anyhow::ensure!(args.store.db.is_some(), "osg gateway needs --db (or OSG_DB)");
            let server = Server::start(&args, false).await?;
            let scheme = if args.tls_cert.is_some() { "https" } else { "http" };
            let url = format!("{scheme}://{}", server.addr);
            announce("serving", format!("osg: gateway serving S3 on {url}"), url.into());
            server.run().await
        }
        Command::Serve(args) => {
            let server = Server::start(&args, true).await?;
            let scheme = if args.tls_cert.is_some() { "https" } else { "http" };
            let url = format!("{scheme}://{}", server.addr);
            let credentials = server.credentials.display().to_string();
            announce("serving", format!("osg: serving S3 on {url}"), url.into());
            announce(
                "admin_credentials",
                format!("osg: admin credentials in {credentials}"),
                credentials.into(),
            );
            server.run().await
        }
        Command::Admin(args) => osg::admin::run(args).await,
        Command::Bench(args) => osg::bench::run(args).await,
        Command::Provider(args) => {
            let meta = args.store.open_existing().await?;
            osg::admin::run_provider(&meta, args.json, args.command).await
        }
        Command::Property(args) => {
            let meta = args.store.open_existing().await?;
            osg::admin::run_property(&meta, args.json, args.command).await
        }
        Command::Shard(args) => {
            let meta = args.store.open_existing().await?;
            osg::admin::run_shard(&meta, args.json, args.command).await
        }
        Command::Bucket(args) => {
            let meta = args.store.open_existing().await?;
            osg::admin::run_bucket(&meta, args.json, args.command).await
        }
        Command::Account(args) => {
            let meta = args.store.open_existing().await?;
            osg::admin::run_account(&meta, args.json, args.command).await
        }
        Command::Usage(args) => {
            let meta = args.store.open_existing().await?;
            osg::admin::run_usage(&meta, args.json, args.usage).await
        }
        Command::MasterKey(args) => {
            let meta = args.store.open_existing().await?;
            osg::admin::run_master_key(&meta, args.json, args.command).await
        }
        Command::Walrus(args) => {
            let server = osg::walrus::WalrusServer::start(&args).await?;
            let url = format!("http://{}", server.addr);
            let credentials = server.credentials.display().to_string();
            announce("serving", format!("osg walrus: serving on {url}"), url.into());
            announce(
                "service_credentials",
                format!("osg walrus: service credential in {credentials}"),
                credentials.into(),
            );
            server.run().await
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command, subcommand and argument says what it is for in `--help`.
    #[test]
    fn everything_has_a_description() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", cmd.get_name());
            if cmd.get_about().is_none() && path != "osg" {
                missing.push(path.clone());
            }
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} <{}>", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no description: {missing:#?}");
    }
}
