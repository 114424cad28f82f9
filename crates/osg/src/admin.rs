//! `osg admin`: the operator's tool, working directly on the metadata store the gateways
//! share. It is how an operator bootstraps accounts and keys before any key exists.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use osg_meta::{Account, Meta};
use osg_policy::{Kind, Policy};
use serde_json::json;

/// `println!`, but to the remote caller when there is one (`say`).
macro_rules! say {
    ($($arg:tt)*) => {
        say(format_args!($($arg)*))
    };
}

#[derive(Args, Debug)]
pub struct AdminArgs {
    /// The metadata store the gateways use.
    #[command(flatten)]
    pub store: crate::bootstrap::StoreOptions,
    /// Print listings as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub remote: crate::remote::RemoteOptions,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Subcommand, Debug, serde::Serialize, serde::Deserialize)]
pub enum AdminCommand {
    /// Accounts (tenants).
    #[command(subcommand)]
    Account(AccountCommand),
    /// IAM users of an account.
    #[command(subcommand)]
    User(UserCommand),
    /// Access keys of an account's root or of a user.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Policies: inline ones on users, managed ones attached to users.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Cluster properties, seen by every gateway.
    #[command(subcommand)]
    Property(PropertyCommand),
    /// Provider instances buckets can be placed on (`osg.backend` names the default).
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// Metadata shards: PostgreSQL databases holding buckets' object metadata.
    #[command(subcommand)]
    Shard(ShardCommand),
    /// The master key that seals secrets and SSE-S3 data keys.
    #[command(subcommand)]
    MasterKey(MasterKeyCommand),
    /// Buckets of every account: where they live and what they hold.
    #[command(subcommand)]
    Bucket(BucketCommand),
    /// What each account holds, against its quota (`--account`: each of its buckets).
    Usage(UsageArgs),
}

#[derive(Args, Debug, serde::Serialize, serde::Deserialize)]
pub struct UsageArgs {
    /// One account's buckets instead of every account.
    #[arg(long)]
    pub account: Option<String>,
}

/// `--max-bytes` and `--max-objects`: given ones change, the others stay.
#[derive(Args, Debug, serde::Serialize, serde::Deserialize)]
pub struct QuotaArgs {
    /// Bytes it may hold, every version counted: a number, with K, M, G, T or P for powers of
    /// 1024 (`500G`); `unlimited` removes the limit.
    #[arg(long, value_parser = parse_bytes)]
    pub max_bytes: Option<Limit>,
    /// Objects it may hold, every version counted; `unlimited` removes the limit.
    #[arg(long, value_parser = parse_count)]
    pub max_objects: Option<Limit>,
}

/// A limit given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Limit {
    Unlimited,
    Max(u64),
}

impl Limit {
    fn value(self) -> Option<u64> {
        match self {
            Self::Unlimited => None,
            Self::Max(n) => Some(n),
        }
    }
}

fn parse_count(text: &str) -> Result<Limit, String> {
    if text == "unlimited" {
        return Ok(Limit::Unlimited);
    }
    text.parse()
        .map(Limit::Max)
        .map_err(|_| format!("{text:?} is not a whole number or `unlimited`"))
}

fn parse_bytes(text: &str) -> Result<Limit, String> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let shift = match &text[digits.len()..] {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        "P" | "PiB" => 50,
        _ if text == "unlimited" => return Ok(Limit::Unlimited),
        unit => return Err(format!("unknown unit {unit:?}: K, M, G, T or P (powers of 1024)")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (`500G`) or `unlimited`"))?;
    n.checked_mul(1 << shift)
        .map(Limit::Max)
        .ok_or_else(|| format!("{text} is too large"))
}

impl QuotaArgs {
    fn is_empty(&self) -> bool {
        self.max_bytes.is_none() && self.max_objects.is_none()
    }

    fn apply(&self, quota: &mut osg_model::Quota) {
        if let Some(limit) = self.max_bytes {
            quota.max_bytes = limit.value();
        }
        if let Some(limit) = self.max_objects {
            quota.max_objects = limit.value();
        }
    }
}

/// A quota and what is stored under it, for `quota` and `usage`.
fn quota_json(quota: osg_model::Quota, usage: osg_model::Usage) -> serde_json::Value {
    json!({"objects": usage.objects, "bytes": usage.bytes,
           "max_objects": quota.max_objects, "max_bytes": quota.max_bytes})
}

fn quota_text(quota: osg_model::Quota, usage: osg_model::Usage) -> String {
    let limit = |n: Option<u64>| n.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
    format!(
        "{} objects of {}, {} bytes of {}",
        usage.objects,
        limit(quota.max_objects),
        usage.bytes,
        limit(quota.max_bytes)
    )
}

#[derive(Subcommand, Debug, serde::Serialize, serde::Deserialize)]
pub enum BucketCommand {
    /// Shows or sets a bucket's capacity quota; writes past it are refused with 403
    /// QuotaExceeded by every gateway within two seconds.
    Quota {
        /// The bucket's name.
        name: String,
        #[command(flatten)]
        limits: QuotaArgs,
    },
    /// Every bucket: its owner, provider, metadata shard, versioning and creation time.
    List,
    /// What buckets hold: current objects and bytes, and every version (noncurrent ones and
    /// delete markers included) and their bytes.
    Stats {
        /// One bucket; without it, every bucket.
        name: Option<String>,
    },
}

#[derive(Subcommand, Debug, serde::Serialize, serde::Deserialize)]
pub enum MasterKeyCommand {
    /// After a rotation (a new key first in the key file, the old ones after it): seals every
    /// secret and SSE-S3 data key sealed under an older key again under the first. When it
    /// reports nothing changed meanwhile, the older keys can leave the file.
    Rewrap,
}

#[derive(Subcommand, Debug, serde::Serialize, serde::Deserialize)]
pub enum ProviderCommand {
    /// Registers a provider instance; its secret is read from a file or standard input, never
    /// from the command line.
    Add(Box<AddProvider>),
    /// Lists providers; secrets show as ********.
    List,
    /// Connects to a provider, creating its blob bucket if needed, and checks that it answers.
    Check {
        /// The provider's name.
        name: String,
    },
    /// Removes a provider no bucket lives on.
    Remove {
        /// The provider's name.
        name: String,
    },
}

#[derive(Args, Debug, serde::Serialize, serde::Deserialize)]
pub struct AddProvider {
    /// The name buckets and `osg.backend` know it by (lowercase letters, digits, hyphens).
    pub name: String,
    /// `s3` for any S3-compatible service (a standalone Walrus too), `swift` for OpenStack Swift.
    #[arg(long, value_parser = ["s3", "swift"])]
    pub kind: String,
    /// S3: the service's URL. Swift: the auth URL (TempAuth `.../auth/v1.0`, Keystone `.../v3`).
    #[arg(long)]
    pub endpoint: String,
    /// S3: the access key id. Swift: the TempAuth `account:user`, the Keystone user, or the
    /// application credential id.
    #[arg(long)]
    pub access_key: String,
    /// File holding the secret key or password ("-" for standard input).
    #[arg(long)]
    pub secret_file: PathBuf,
    /// The bucket (S3) or container (Swift) that holds this provider's blobs.
    #[arg(long, default_value = "osg-blobs")]
    pub bucket: String,
    /// S3: the signing region (us-east-1 when not given). Swift with Keystone: the
    /// catalog region.
    #[arg(long, default_value = "")]
    pub region: String,
    /// S3: address buckets as BUCKET.ENDPOINT instead of ENDPOINT/BUCKET.
    #[arg(long)]
    pub virtual_host: bool,
    /// S3: the kind of service (riakcs signs with SigV2).
    #[arg(long, default_value = "generic",
          value_parser = ["generic", "ceph-rgw", "riakcs", "minio", "garage", "aws"])]
    pub flavour: String,
    /// Swift: how to get a token.
    #[arg(long, default_value = "tempauth",
          value_parser = ["tempauth", "keystone-password", "keystone-application-credential"])]
    pub swift_auth: String,
    /// Swift with Keystone password: the project to scope the token to.
    #[arg(long)]
    pub project: Option<String>,
    /// Swift with Keystone: the domain of the user and project (Default).
    #[arg(long)]
    pub domain: Option<String>,
    /// A PEM file of certificate authorities to trust besides the system's.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Milliseconds to wait for a connection before the provider counts as down.
    #[arg(long, default_value_t = 1000)]
    pub connect_timeout_ms: u64,
    /// Milliseconds to wait for the provider's next bytes.
    #[arg(long, default_value_t = 30_000)]
    pub read_timeout_ms: u64,
    /// Idle connections kept open to the provider for reuse.
    #[arg(long, default_value_t = 64)]
    pub pool_max_idle: usize,
    /// Register without first checking that the provider answers with these credentials (one
    /// that is down on purpose; gateways keep trying it).
    #[arg(long)]
    pub no_check: bool,
}

#[derive(Subcommand, Debug, serde::Serialize, serde::Deserialize)]
pub enum ShardCommand {
    /// Registers a PostgreSQL database as a metadata shard (the catalog, the store of --db,
    /// is shard `main`). New buckets go to the shard with the fewest objects; every gateway
    /// finds the new shard on its own.
    Add {
        /// The shard's name (lowercase letters, digits, hyphens).
        name: String,
        /// The database: `postgres://USER@HOST:PORT/DB`, without a password.
        #[arg(long, required_unless_present = "url_file", conflicts_with = "url_file")]
        url: Option<String>,
        /// File holding the database's URL ("-" for standard input): the way to give one with
        /// a password, which must not be on a command line.
        #[arg(long)]
        url_file: Option<PathBuf>,
    },
    /// Lists shards with their buckets, current objects and bytes.
    List,
}

#[derive(Subcommand, Debug, serde::Serialize, serde::Deserialize)]
pub enum PropertyCommand {
    /// Sets a property: `set NAME=VALUE` or `set NAME VALUE`. Only the properties `list`
    /// shows, with values they take.
    Set {
        /// `NAME=VALUE`, or the name with the value after it.
        name: String,
        /// The value, unless given as `NAME=VALUE`.
        value: Option<String>,
    },
    /// Prints a property's value in force (its default when unset).
    Get {
        /// The property's name (`osg property list` shows them all).
        name: String,
    },
    /// Removes a property's value: its default applies again.
    Unset {
        /// The property's name.
        name: String,
    },
    /// Every property: its value in force, whether it is set, its default and meaning.
    List,
}

#[derive(Subcommand, Debug, serde::Serialize, serde::Deserialize)]
pub enum AccountCommand {
    /// Creates an account (a tenant); give it keys with `key create`.
    Create {
        /// The account's name.
        name: String,
        /// An e-mail address S3 ACL grants may name the account by.
        #[arg(long)]
        email: Option<String>,
    },
    /// Lists the accounts.
    List,
    /// Deletes an account that owns nothing.
    Delete {
        /// The account's name.
        name: String,
    },
    /// Shows or sets an account's capacity quota, over all its buckets; writes past it are
    /// refused with 403 QuotaExceeded by every gateway within two seconds.
    Quota {
        /// The account's name.
        name: String,
        #[command(flatten)]
        limits: QuotaArgs,
    },
}

#[derive(Subcommand, Debug, serde::Serialize, serde::Deserialize)]
pub enum UserCommand {
    /// Creates an IAM user of an account.
    Create {
        /// The account's name.
        account: String,
        /// The user's name.
        name: String,
        /// The user's IAM path.
        #[arg(long, default_value = "/")]
        path: String,
    },
    /// Lists an account's users.
    List {
        /// The account's name.
        account: String,
    },
    /// Deletes a user.
    Delete {
        /// The account's name.
        account: String,
        /// The user's name.
        name: String,
    },
}

#[derive(Subcommand, Debug, serde::Serialize, serde::Deserialize)]
pub enum KeyCommand {
    /// Creates a key pair and prints the secret, once.
    Create {
        /// The account's name.
        account: String,
        /// The user the key is for; without it, the account's root.
        #[arg(long)]
        user: Option<String>,
    },
    /// Lists the keys of an account's root, or of one of its users.
    List {
        /// The account's name.
        account: String,
        /// The user whose keys to list; without it, the account root's.
        #[arg(long)]
        user: Option<String>,
    },
    /// Deletes a key.
    Delete {
        /// The access key id.
        access_key: String,
    },
    /// Makes a key inactive: requests signed with it are refused until it is enabled again.
    Disable {
        /// The access key id.
        access_key: String,
    },
    /// Makes an inactive key work again.
    Enable {
        /// The access key id.
        access_key: String,
    },
}

#[derive(Subcommand, Debug, serde::Serialize, serde::Deserialize)]
pub enum PolicyCommand {
    /// Sets a user's inline policy from a JSON file ("-" for standard input).
    Put {
        /// The account's name.
        account: String,
        /// The user's name.
        user: String,
        /// The policy's name.
        name: String,
        /// The policy document (JSON; "-" for standard input).
        #[arg(long)]
        file: PathBuf,
    },
    /// Creates a managed policy from a JSON file ("-" for standard input).
    Create {
        /// The account's name.
        account: String,
        /// The policy's name.
        name: String,
        /// The policy document (JSON; "-" for standard input).
        #[arg(long)]
        file: PathBuf,
    },
    /// Attaches a managed policy of the account to one of its users.
    Attach {
        /// The account's name.
        account: String,
        /// The user's name.
        user: String,
        /// The managed policy's name.
        name: String,
    },
    /// Detaches a managed policy from a user.
    Detach {
        /// The account's name.
        account: String,
        /// The user's name.
        user: String,
        /// The managed policy's name.
        name: String,
    },
    /// Lists an account's managed policies.
    List {
        /// The account's name.
        account: String,
    },
    /// Prints a managed policy's document (its default version).
    Get {
        /// The account's name.
        account: String,
        /// The managed policy's name.
        name: String,
    },
    /// Deletes a managed policy attached nowhere.
    Delete {
        /// The account's name.
        account: String,
        /// The managed policy's name.
        name: String,
    },
}

tokio::task_local! {
    /// Set while a command runs for a remote caller (`crate::remote`): what it was given as
    /// standard input, and what it prints.
    static REMOTE: std::cell::RefCell<(Option<String>, String)>;
}

/// Runs `command` as a remote caller's: `input` is its standard input; returns what it
/// printed. It reads no file: the caller's `osg` sends a file's content as the input.
pub async fn capture(
    input: Option<String>,
    command: impl Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<String> {
    let io = std::cell::RefCell::new((input, String::new()));
    REMOTE
        .scope(io, async {
            command.await?;
            Ok(REMOTE.with(|io| std::mem::take(&mut io.borrow_mut().1)))
        })
        .await
}

/// Prints a line: on standard output, or to the remote caller.
fn say(text: impl std::fmt::Display) {
    let remote = REMOTE.try_with(|io| {
        use std::fmt::Write as _;
        let _ = writeln!(io.borrow_mut().1, "{text}");
    });
    if remote.is_err() {
        println!("{text}");
    }
}

/// Whether the command runs for a remote caller.
fn remote() -> bool {
    REMOTE.try_with(|_| ()).is_ok()
}

/// What a command is given in `file` (`-`: standard input). A remote caller's command reads
/// its input only, never a file on the gateway's host.
fn read_input(file: &Path) -> anyhow::Result<String> {
    if let Ok(given) = REMOTE.try_with(|io| io.borrow_mut().0.take()) {
        anyhow::ensure!(
            file.as_os_str() == "-",
            "a remote command reads no file on the gateway: give the file's content as input"
        );
        return given.context("this command needs its input");
    }
    if file.as_os_str() == "-" {
        Ok(std::io::read_to_string(std::io::stdin())?)
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
    }
}

/// The file a command reads (`--file`, `--secret-file`, `--url-file`), if it has one: what
/// `osg admin --endpoint` reads on the operator's machine and sends.
pub fn input_file(command: &mut AdminCommand) -> Option<&mut PathBuf> {
    match command {
        AdminCommand::Policy(PolicyCommand::Put { file, .. } | PolicyCommand::Create { file, .. }) => Some(file),
        AdminCommand::Provider(ProviderCommand::Add(add)) => Some(&mut add.secret_file),
        AdminCommand::Shard(ShardCommand::Add { url_file, .. }) => url_file.as_mut(),
        _ => None,
    }
}

/// A policy document from a file or standard input, validated.
fn read_policy(file: &Path) -> anyhow::Result<String> {
    let document = read_input(file)?;
    Policy::parse(&document, Kind::Identity).context("the policy is not valid")?;
    Ok(document)
}

async fn account(meta: &Meta, name: &str) -> anyhow::Result<Account> {
    meta.account_by_name(name)
        .await?
        .with_context(|| format!("no account named {name}"))
}

/// Prints what a command did: `value` with `--json`, else `text`.
fn report(json_out: bool, value: serde_json::Value, text: String) {
    if json_out {
        say!("{value}");
    } else {
        say!("{text}");
    }
}

/// Prints rows as a table, or as JSON with `--json`.
fn print_rows(json_out: bool, rows: &[serde_json::Value], columns: &[&str]) {
    if json_out {
        say!("{}", serde_json::to_string_pretty(rows).unwrap_or_default());
        return;
    }
    say!("{}", columns.join("\t"));
    for row in rows {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| row[c].as_str().map_or_else(|| row[c].to_string(), str::to_owned))
            .collect();
        say!("{}", cells.join("\t"));
    }
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    if let Some(endpoint) = &args.remote.endpoint {
        return crate::remote::call(endpoint, &args.remote, args.json, args.command).await;
    }
    let meta = args.store.open_existing().await?;
    run_command(&meta, args.json, args.command).await
}

/// Runs one admin command on `meta`: the same for `osg admin` and a remote caller's.
pub async fn run_command(meta: &Meta, json_out: bool, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Account(cmd) => run_account(meta, json_out, cmd).await?,
        AdminCommand::User(cmd) => match cmd {
            UserCommand::Create { account: a, name, path } => {
                let u = meta.create_user(&account(meta, &a).await?.id, &name, &path).await?;
                report(
                    json_out,
                    json!({"user": u.name, "arn": u.arn(), "id": u.user_id}),
                    format!("created user {}", u.arn()),
                );
            }
            UserCommand::List { account: a } => {
                let a = account(meta, &a).await?;
                let (users, _) = meta.list_users(&a.id, "/", "", usize::MAX - 1).await?;
                let rows: Vec<_> = users
                    .iter()
                    .map(|u| json!({"name": u.name, "path": u.path, "arn": u.arn(), "id": u.user_id}))
                    .collect();
                print_rows(json_out, &rows, &["name", "path", "arn", "id"]);
            }
            UserCommand::Delete { account: a, name } => {
                let user = meta.user(&account(meta, &a).await?.id, &name).await?;
                meta.delete_user(&user).await?;
                report(json_out, json!({"deleted_user": name}), format!("deleted user {name}"));
            }
        },
        AdminCommand::Key(cmd) => match cmd {
            KeyCommand::Create { account: a, user } => {
                let a = account(meta, &a).await?;
                let (key, secret) = meta.create_access_key(&a.id, user.as_deref()).await?;
                // The one time the secret is shown: on standard output, to the operator.
                if json_out {
                    say!("{}", json!({"access_key": key, "secret_key": secret}));
                } else {
                    say!("aws_access_key_id = {key}\naws_secret_access_key = {secret}");
                }
            }
            KeyCommand::List { account: a, user } => {
                let a = account(meta, &a).await?;
                let rows: Vec<_> = meta
                    .access_keys_of(&a.id, user.as_deref())
                    .await?
                    .iter()
                    .map(|k| {
                        json!({"access_key": k.access_key, "user": k.user_name.clone().unwrap_or_default(),
                               "status": if k.active { "Active" } else { "Inactive" }})
                    })
                    .collect();
                print_rows(json_out, &rows, &["access_key", "user", "status"]);
            }
            KeyCommand::Delete { access_key } => {
                meta.access_key(&access_key).await?;
                meta.delete_access_key(&access_key).await?;
                report(
                    json_out,
                    json!({"deleted_key": access_key}),
                    format!("deleted key {access_key}"),
                );
            }
            KeyCommand::Disable { access_key } => set_key_active(meta, json_out, &access_key, false).await?,
            KeyCommand::Enable { access_key } => set_key_active(meta, json_out, &access_key, true).await?,
        },
        AdminCommand::Policy(cmd) => match cmd {
            PolicyCommand::Put {
                account: a,
                user,
                name,
                file,
            } => {
                let document = read_policy(&file)?;
                let user = meta.user(&account(meta, &a).await?.id, &user).await?;
                meta.put_inline_policy(&osg_meta::Owner::User(&user), &name, &document)
                    .await?;
                report(
                    json_out,
                    json!({"policy": name, "user": user.arn()}),
                    format!("put policy {name} on {}", user.arn()),
                );
            }
            PolicyCommand::Create { account: a, name, file } => {
                let document = read_policy(&file)?;
                let p = meta
                    .create_policy(&account(meta, &a).await?.id, &name, "/", &document)
                    .await?;
                report(
                    json_out,
                    json!({"policy": p.name, "arn": p.arn()}),
                    format!("created policy {}", p.arn()),
                );
            }
            PolicyCommand::Attach { account: a, user, name } => {
                let a = account(meta, &a).await?;
                let policy = meta.managed_policy(&a.id, &name).await?;
                let user = meta.user(&a.id, &user).await?;
                meta.attach_policy(&policy, &osg_meta::Owner::User(&user)).await?;
                report(
                    json_out,
                    json!({"attached": policy.arn(), "user": user.arn()}),
                    format!("attached {} to {}", policy.arn(), user.arn()),
                );
            }
            PolicyCommand::Detach { account: a, user, name } => {
                let a = account(meta, &a).await?;
                let policy = meta.managed_policy(&a.id, &name).await?;
                let user = meta.user(&a.id, &user).await?;
                meta.detach_policy(&policy, &osg_meta::Owner::User(&user)).await?;
                report(
                    json_out,
                    json!({"detached": policy.arn(), "user": user.arn()}),
                    format!("detached {} from {}", policy.arn(), user.arn()),
                );
            }
            PolicyCommand::List { account: a } => {
                let a = account(meta, &a).await?;
                let (policies, _) = meta.list_policies(&a.id, "/", false, "", usize::MAX).await?;
                let rows: Vec<_> = policies
                    .iter()
                    .map(|p| {
                        json!({"name": p.name, "arn": p.arn(), "default_version": p.default_version,
                               "attachments": p.attachments})
                    })
                    .collect();
                print_rows(json_out, &rows, &["name", "arn", "default_version", "attachments"]);
            }
            PolicyCommand::Get { account: a, name } => {
                let a = account(meta, &a).await?;
                let policy = meta.managed_policy(&a.id, &name).await?;
                let versions = meta.policy_versions(&policy).await?;
                let default = versions
                    .iter()
                    .find(|v| v.is_default)
                    .with_context(|| format!("policy {name} has no default version"))?;
                if json_out {
                    let document: serde_json::Value = serde_json::from_str(&default.document)?;
                    let version = &default.version_id;
                    say!(
                        "{}",
                        json!({"policy": policy.arn(), "version": version, "document": document})
                    );
                } else {
                    say!("{}", default.document);
                }
            }
            PolicyCommand::Delete { account: a, name } => {
                let a = account(meta, &a).await?;
                let policy = meta.managed_policy(&a.id, &name).await?;
                meta.delete_policy(&policy).await?;
                report(
                    json_out,
                    json!({"deleted_policy": policy.arn()}),
                    format!("deleted {}", policy.arn()),
                );
            }
        },
        AdminCommand::Provider(cmd) => run_provider(meta, json_out, cmd).await?,
        AdminCommand::Property(cmd) => run_property(meta, json_out, cmd).await?,
        AdminCommand::Shard(cmd) => run_shard(meta, json_out, cmd).await?,
        AdminCommand::MasterKey(cmd) => run_master_key(meta, json_out, cmd).await?,
        AdminCommand::Bucket(cmd) => run_bucket(meta, json_out, cmd).await?,
        AdminCommand::Usage(usage) => run_usage(meta, json_out, usage).await?,
    }
    Ok(())
}

/// `osg account ...` (also `osg admin account ...`).
pub async fn run_account(meta: &Meta, json_out: bool, cmd: AccountCommand) -> anyhow::Result<()> {
    match cmd {
        AccountCommand::Create { name, email } => {
            let a = meta.create_account(&name).await?;
            if let Some(email) = email {
                meta.set_account_email(&a, &email).await?;
            }
            report(
                json_out,
                json!({"account": a.name, "id": a.id}),
                format!("created account {} ({})", a.name, a.id),
            );
        }
        AccountCommand::List => {
            let rows: Vec<_> = meta
                .accounts()
                .await?
                .iter()
                .map(|a| json!({"name": a.name, "id": a.id, "canonical_id": a.canonical_id}))
                .collect();
            print_rows(json_out, &rows, &["name", "id", "canonical_id"]);
        }
        AccountCommand::Delete { name } => {
            meta.delete_account(&account(meta, &name).await?).await?;
            report(
                json_out,
                json!({"deleted_account": name}),
                format!("deleted account {name}"),
            );
        }
        AccountCommand::Quota { name, limits } => {
            let a = account(meta, &name).await?;
            let mut quota = meta.account_quota(&a.id).await?;
            if !limits.is_empty() {
                limits.apply(&mut quota);
                meta.set_account_quota(&a, quota).await?;
            }
            let usage = meta.account_usage(&a.id).await?;
            let mut value = quota_json(quota, usage);
            value["account"] = name.clone().into();
            report(json_out, value, format!("account {name}: {}", quota_text(quota, usage)));
        }
    }
    Ok(())
}

/// `osg usage` (also `osg admin usage`).
pub async fn run_usage(meta: &Meta, json_out: bool, args: UsageArgs) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    if let Some(name) = args.account {
        let a = account(meta, &name).await?;
        for (bucket, usage) in meta.usage_by_bucket(&a.id).await? {
            let quota = meta.bucket(&bucket).await?.config.quota;
            let mut row = quota_json(quota, usage);
            row["bucket"] = bucket.into();
            rows.push(row);
        }
        print_rows(
            json_out,
            &rows,
            &["bucket", "objects", "bytes", "max_objects", "max_bytes"],
        );
    } else {
        for a in meta.accounts().await? {
            let by_bucket = meta.usage_by_bucket(&a.id).await?;
            let mut usage = osg_model::Usage::default();
            for u in by_bucket.values() {
                usage += *u;
            }
            let mut row = quota_json(meta.account_quota(&a.id).await?, usage);
            row["account"] = a.name.into();
            row["buckets"] = by_bucket.len().into();
            rows.push(row);
        }
        print_rows(
            json_out,
            &rows,
            &["account", "buckets", "objects", "bytes", "max_objects", "max_bytes"],
        );
    }
    Ok(())
}

/// `osg bucket ...` (also `osg admin bucket ...`).
pub async fn run_bucket(meta: &Meta, json_out: bool, cmd: BucketCommand) -> anyhow::Result<()> {
    match cmd {
        BucketCommand::List => {
            let owners: std::collections::HashMap<String, String> =
                meta.accounts().await?.into_iter().map(|a| (a.id, a.name)).collect();
            let mut rows = Vec::new();
            for b in meta.all_buckets().await? {
                let versioning = meta.versioning(&b.name).await?;
                let created = time::OffsetDateTime::from_unix_timestamp(b.created_ms / 1000)
                    .ok()
                    .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                    .unwrap_or_default();
                rows.push(
                    json!({"name": b.name, "owner": owners.get(&b.owner).cloned().unwrap_or(b.owner),
                                 "provider": b.provider, "shard": b.shard,
                                 "versioning": if versioning.as_str().is_empty() { "Off" } else { versioning.as_str() },
                                 "created": created}),
                );
            }
            print_rows(
                json_out,
                &rows,
                &["name", "owner", "provider", "shard", "versioning", "created"],
            );
        }
        BucketCommand::Quota { name, limits } => {
            let bucket = meta.bucket(&name).await.with_context(|| format!("bucket {name}"))?;
            let quota = if limits.is_empty() {
                bucket.config.quota
            } else {
                let config = meta
                    .update_bucket_config(&name, |config| {
                        limits.apply(&mut config.quota);
                        Ok(())
                    })
                    .await?;
                config.quota
            };
            let usage = meta.bucket_usage(&name).await?;
            let mut value = quota_json(quota, usage);
            value["bucket"] = name.clone().into();
            report(json_out, value, format!("bucket {name}: {}", quota_text(quota, usage)));
        }
        BucketCommand::Stats { name } => {
            let names = match name {
                Some(name) => vec![meta.bucket(&name).await.with_context(|| format!("bucket {name}"))?.name],
                None => meta.all_buckets().await?.into_iter().map(|b| b.name).collect(),
            };
            let mut rows = Vec::new();
            for name in names {
                let s = meta.bucket_stats(&name).await?;
                rows.push(json!({"name": name, "objects": s.objects, "bytes": s.bytes,
                                 "versions": s.versions, "version_bytes": s.version_bytes}));
            }
            print_rows(
                json_out,
                &rows,
                &["name", "objects", "bytes", "versions", "version_bytes"],
            );
        }
    }
    Ok(())
}

/// `key enable` and `key disable`.
async fn set_key_active(meta: &Meta, json_out: bool, access_key: &str, active: bool) -> anyhow::Result<()> {
    meta.access_key(access_key).await?;
    meta.set_access_key_active(access_key, active).await?;
    let status = if active { "Active" } else { "Inactive" };
    if json_out {
        say!("{}", json!({"access_key": access_key, "status": status}));
    } else {
        say!("{access_key}: {status}");
    }
    Ok(())
}

/// `osg master-key ...` (also `osg admin master-key ...`).
pub async fn run_master_key(meta: &Meta, json_out: bool, cmd: MasterKeyCommand) -> anyhow::Result<()> {
    match cmd {
        MasterKeyCommand::Rewrap => {
            let done = meta.rewrap().await.context("rewrapping under the current master key")?;
            let row = json!({"secrets": done.secrets, "data_keys": done.data_keys, "changed_meanwhile": done.changed});
            print_rows(json_out, &[row], &["secrets", "data_keys", "changed_meanwhile"]);
            anyhow::ensure!(
                done.changed == 0,
                "{} rows changed while the rewrap ran: run it again before retiring an older key",
                done.changed
            );
        }
    }
    Ok(())
}

/// `osg shard ...` (also `osg admin shard ...`).
pub async fn run_shard(meta: &Meta, json_out: bool, cmd: ShardCommand) -> anyhow::Result<()> {
    match cmd {
        ShardCommand::Add { name, url, url_file } => {
            let url = match (url, url_file) {
                (Some(url), _) => {
                    anyhow::ensure!(
                        !has_password(&url),
                        "a password must not be on a command line: give the URL with --url-file"
                    );
                    url
                }
                (None, Some(file)) => read_input(&file)?,
                (None, None) => anyhow::bail!("give --url or --url-file"),
            };
            // Connection parameters can name files (certificates, keys, sockets) on the host
            // that connects: not a remote caller's to choose.
            let authority = url.split_once("://").map_or("", |(_, rest)| rest);
            anyhow::ensure!(
                !remote() || !(url.contains('?') || authority.starts_with(['/', '%'])),
                "a remote `shard add` takes a plain postgres://USER@HOST:PORT/DB URL: \
                 add shards with parameters on a host with the store"
            );
            meta.add_shard(&name, url.trim()).await?;
            report(json_out, json!({"added_shard": name}), format!("added shard {name}"));
        }
        ShardCommand::List => {
            let rows: Vec<_> = meta
                .shard_stats()
                .await?
                .into_iter()
                .map(|s| match s.contents {
                    Ok((objects, bytes)) => {
                        json!({"name": s.name, "buckets": s.buckets, "objects": objects, "bytes": bytes, "error": ""})
                    }
                    Err(e) => json!({"name": s.name, "buckets": s.buckets, "objects": null, "bytes": null,
                                     "error": format!("unreachable: {e}")}),
                })
                .collect();
            print_rows(json_out, &rows, &["name", "buckets", "objects", "bytes", "error"]);
        }
    }
    Ok(())
}

/// Whether a database URL carries a password (`scheme://user:password@host/...`).
fn has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    authority.rsplit_once('@').is_some_and(|(user, _)| user.contains(':')) || url.contains("password=")
}

/// `osg provider ...` (also `osg admin provider ...`).
pub async fn run_provider(meta: &Meta, json_out: bool, cmd: ProviderCommand) -> anyhow::Result<()> {
    match cmd {
        ProviderCommand::Add(add) => {
            let AddProvider {
                name,
                kind,
                endpoint,
                access_key,
                secret_file,
                bucket,
                region,
                virtual_host,
                flavour,
                swift_auth,
                project,
                domain,
                ca_file,
                connect_timeout_ms,
                read_timeout_ms,
                pool_max_idle,
                no_check,
            } = *add;
            let secret = read_input(&secret_file)?;
            // A remote caller must not learn which files the gateway's host has.
            anyhow::ensure!(
                ca_file.is_none() || !remote(),
                "--ca-file names a file on the gateway hosts: register this provider on a host \
                 with the store (`osg provider add`), not remotely"
            );
            let ca_file = ca_file.map(|f| std::path::absolute(&f)).transpose()?;
            if let Some(f) = &ca_file {
                anyhow::ensure!(f.is_file(), "no CA file {}", f.display());
            }
            let settings = osg_provider::Settings {
                region,
                path_style: !virtual_host,
                flavour: serde_json::from_value(json!(flavour))?,
                swift_auth: serde_json::from_value(json!(swift_auth))?,
                project,
                domain,
                ca_file,
                connect_timeout_ms,
                read_timeout_ms,
                pool_max_idle,
                ..osg_provider::Settings::new(&endpoint, &access_key, &bucket)
            };
            let record = osg_meta::ProviderRecord {
                name: name.clone(),
                kind: osg_provider::Kind::parse(&kind).context("--kind is s3 or swift")?,
                settings,
            };
            if !no_check {
                check_new_provider(&record, secret.trim()).await.with_context(|| {
                    format!("provider {name} not added (--no-check adds one that is down on purpose)")
                })?;
            }
            meta.add_provider(&record, secret.trim()).await?;
            report(
                json_out,
                json!({"added_provider": name}),
                format!("added provider {name}"),
            );
        }
        ProviderCommand::List => {
            let rows: Vec<_> = meta
                .providers()
                .await?
                .iter()
                .map(|p| {
                    json!({"name": p.name, "kind": p.kind.as_str(), "endpoint": p.settings.endpoint,
                           "access_key": p.settings.access_key, "secret": "********"})
                })
                .collect();
            print_rows(json_out, &rows, &["name", "kind", "endpoint", "access_key", "secret"]);
        }
        ProviderCommand::Check { name } => {
            let record = meta.providers().await?.into_iter().find(|p| p.name == name);
            let record = record.with_context(|| format!("no provider named {name}"))?;
            let provider = osg_gateway::providers::build(meta, &record)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let down = || format!("provider {name} is down");
            provider.prepare().await.with_context(down)?;
            provider.health().await.with_context(down)?;
            report(
                json_out,
                json!({"provider": name, "state": "up"}),
                format!("{name}: up"),
            );
        }
        ProviderCommand::Remove { name } => {
            meta.remove_provider(&name).await?;
            report(
                json_out,
                json!({"removed_provider": name}),
                format!("removed provider {name}"),
            );
        }
    }
    Ok(())
}

/// Connects to a provider about to be registered, makes its blob bucket (or container) if
/// needed and checks that it answers with these credentials.
async fn check_new_provider(record: &osg_meta::ProviderRecord, secret: &str) -> anyhow::Result<()> {
    const LIMIT: std::time::Duration = std::time::Duration::from_secs(20);
    let provider = osg_provider::connect(record.kind, &record.settings, secret.to_owned().into())?;
    let checked = tokio::time::timeout(LIMIT, async {
        provider.prepare().await?;
        provider.health().await
    })
    .await;
    match checked {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(anyhow::anyhow!(
            "{e}; check --endpoint, the credentials and that the service answers"
        )),
        Err(_) => anyhow::bail!("{} did not answer within {LIMIT:?}", record.settings.endpoint),
    }
}

/// `osg property ...` (also `osg admin property ...`).
pub async fn run_property(meta: &Meta, json_out: bool, cmd: PropertyCommand) -> anyhow::Result<()> {
    use osg_model::properties;
    match cmd {
        PropertyCommand::Set { name, value } => {
            let (name, value) = match value {
                Some(value) => (name, value),
                None => {
                    let (n, v) = name.split_once('=').context("give NAME=VALUE or NAME VALUE")?;
                    (n.to_owned(), v.to_owned())
                }
            };
            meta.set_property(&name, &value).await?;
            if json_out {
                say!("{}", json!({"name": name, "value": value}));
            } else {
                say!("{name} = {value}");
            }
        }
        PropertyCommand::Get { name } => {
            let property = properties::find(&name)?;
            let stored = meta.property(&name).await?;
            let value = property.value(stored.as_deref());
            if json_out {
                let row = json!({"name": name, "value": value, "set": stored.is_some(), "default": property.default});
                say!("{row}");
            } else {
                say!("{value}");
            }
        }
        PropertyCommand::Unset { name } => {
            let removed = meta.unset_property(&name).await?;
            if json_out {
                say!("{}", json!({"name": name, "removed": removed}));
            } else if removed {
                say!("{name} unset");
            } else {
                say!("{name} was not set");
            }
        }
        PropertyCommand::List => {
            let stored = meta.properties().await?;
            let stored_value = |name: &str| stored.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
            let mut rows: Vec<_> = properties::ALL
                .iter()
                .map(|p| {
                    let set = stored_value(p.name);
                    json!({"name": p.name, "value": p.value(set), "set": set.is_some(), "default": p.default,
                           "takes": p.kind.to_string(), "description": p.description})
                })
                .collect();
            // Values stored before they were checked, for `unset`.
            for (name, value) in stored.iter().filter(|(n, _)| properties::find(n).is_err()) {
                rows.push(json!({"name": name, "value": value, "set": true, "default": "",
                                 "takes": "", "description": "not a property: osg property unset it"}));
            }
            print_rows(json_out, &rows, &["name", "value", "set", "default", "description"]);
        }
    }
    Ok(())
}

/// `osg provider` and `osg property` at the top level: the same store options as `osg admin`.
#[derive(Args, Debug)]
pub struct StoreArgs<C: Subcommand> {
    /// The metadata store the gateways use.
    #[command(flatten)]
    pub store: crate::bootstrap::StoreOptions,
    /// Print listings as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: C,
}

/// `osg usage`: the store options, and what to show.
#[derive(Args, Debug)]
pub struct UsageCommand {
    /// The metadata store the gateways use.
    #[command(flatten)]
    pub store: crate::bootstrap::StoreOptions,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub usage: UsageArgs,
}
