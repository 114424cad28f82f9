//! `osg admin`: the operator's tool, working directly on the metadata store the gateways
//! share. It is how an operator bootstraps accounts and keys before any key exists.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use osg_meta::{Account, Meta};
use osg_policy::{Kind, Policy};
use serde_json::json;

#[derive(Args, Debug)]
pub struct AdminArgs {
    /// The data directory of the gateway whose metadata store to use.
    #[arg(long, default_value = "./osg-data", global = true)]
    pub data_dir: PathBuf,
    /// Print listings as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Subcommand, Debug)]
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
}

#[derive(Subcommand, Debug)]
pub enum PropertyCommand {
    Set { name: String, value: String },
    Get { name: String },
    List,
}

#[derive(Subcommand, Debug)]
pub enum AccountCommand {
    Create {
        name: String,
        /// An e-mail address S3 ACL grants may name the account by.
        #[arg(long)]
        email: Option<String>,
    },
    List,
    Delete {
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    Create {
        account: String,
        name: String,
        #[arg(long, default_value = "/")]
        path: String,
    },
    List {
        account: String,
    },
    Delete {
        account: String,
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Creates a key pair and prints the secret, once.
    Create {
        account: String,
        /// The user the key is for; without it, the account's root.
        #[arg(long)]
        user: Option<String>,
    },
    List {
        account: String,
        #[arg(long)]
        user: Option<String>,
    },
    Delete {
        access_key: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Sets a user's inline policy from a JSON file ("-" for standard input).
    Put {
        account: String,
        user: String,
        name: String,
        #[arg(long)]
        file: PathBuf,
    },
    /// Creates a managed policy from a JSON file ("-" for standard input).
    Create {
        account: String,
        name: String,
        #[arg(long)]
        file: PathBuf,
    },
    /// Attaches a managed policy of the account to one of its users.
    Attach {
        account: String,
        user: String,
        name: String,
    },
}

/// A policy document from a file or standard input, validated.
fn read_policy(file: &PathBuf) -> anyhow::Result<String> {
    let document = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    Policy::parse(&document, Kind::Identity).context("the policy is not valid")?;
    Ok(document)
}

async fn account(meta: &Meta, name: &str) -> anyhow::Result<Account> {
    meta.account_by_name(name)
        .await?
        .with_context(|| format!("no account named {name}"))
}

/// Prints rows as a table, or as JSON with `--json`.
fn print_rows(json_out: bool, rows: &[serde_json::Value], columns: &[&str]) {
    if json_out {
        println!("{}", serde_json::to_string_pretty(rows).unwrap_or_default());
        return;
    }
    println!("{}", columns.join("\t"));
    for row in rows {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| row[c].as_str().map_or_else(|| row[c].to_string(), str::to_owned))
            .collect();
        println!("{}", cells.join("\t"));
    }
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let meta = crate::bootstrap::open_meta(&args.data_dir).await?;
    match args.command {
        AdminCommand::Account(cmd) => match cmd {
            AccountCommand::Create { name, email } => {
                let a = meta.create_account(&name).await?;
                if let Some(email) = email {
                    meta.set_account_email(&a, &email).await?;
                }
                println!("created account {} ({})", a.name, a.id);
            }
            AccountCommand::List => {
                let rows: Vec<_> = meta
                    .accounts()
                    .await?
                    .iter()
                    .map(|a| json!({"name": a.name, "id": a.id, "canonical_id": a.canonical_id}))
                    .collect();
                print_rows(args.json, &rows, &["name", "id", "canonical_id"]);
            }
            AccountCommand::Delete { name } => {
                meta.delete_account(&account(&meta, &name).await?).await?;
                println!("deleted account {name}");
            }
        },
        AdminCommand::User(cmd) => match cmd {
            UserCommand::Create { account: a, name, path } => {
                let u = meta.create_user(&account(&meta, &a).await?.id, &name, &path).await?;
                println!("created user {}", u.arn());
            }
            UserCommand::List { account: a } => {
                let a = account(&meta, &a).await?;
                let (users, _) = meta.list_users(&a.id, "/", "", usize::MAX - 1).await?;
                let rows: Vec<_> = users
                    .iter()
                    .map(|u| json!({"name": u.name, "path": u.path, "arn": u.arn(), "id": u.user_id}))
                    .collect();
                print_rows(args.json, &rows, &["name", "path", "arn", "id"]);
            }
            UserCommand::Delete { account: a, name } => {
                let user = meta.user(&account(&meta, &a).await?.id, &name).await?;
                meta.delete_user(&user).await?;
                println!("deleted user {name}");
            }
        },
        AdminCommand::Key(cmd) => match cmd {
            KeyCommand::Create { account: a, user } => {
                let a = account(&meta, &a).await?;
                let (key, secret) = meta.create_access_key(&a.id, user.as_deref()).await?;
                // The one time the secret is shown: on standard output, to the operator.
                if args.json {
                    println!("{}", json!({"access_key": key, "secret_key": secret}));
                } else {
                    println!("aws_access_key_id = {key}\naws_secret_access_key = {secret}");
                }
            }
            KeyCommand::List { account: a, user } => {
                let a = account(&meta, &a).await?;
                let rows: Vec<_> = meta
                    .access_keys_of(&a.id, user.as_deref())
                    .await?
                    .iter()
                    .map(|k| {
                        json!({"access_key": k.access_key, "user": k.user_name.clone().unwrap_or_default(),
                               "status": if k.active { "Active" } else { "Inactive" }})
                    })
                    .collect();
                print_rows(args.json, &rows, &["access_key", "user", "status"]);
            }
            KeyCommand::Delete { access_key } => {
                meta.access_key(&access_key).await?;
                meta.delete_access_key(&access_key).await?;
                println!("deleted key {access_key}");
            }
        },
        AdminCommand::Policy(cmd) => match cmd {
            PolicyCommand::Put {
                account: a,
                user,
                name,
                file,
            } => {
                let document = read_policy(&file)?;
                let user = meta.user(&account(&meta, &a).await?.id, &user).await?;
                meta.put_inline_policy(&osg_meta::Owner::User(&user), &name, &document)
                    .await?;
                println!("put policy {name} on {}", user.arn());
            }
            PolicyCommand::Create { account: a, name, file } => {
                let document = read_policy(&file)?;
                let p = meta
                    .create_policy(&account(&meta, &a).await?.id, &name, "/", &document)
                    .await?;
                println!("created policy {}", p.arn());
            }
            PolicyCommand::Attach { account: a, user, name } => {
                let a = account(&meta, &a).await?;
                let policy = meta.managed_policy(&a.id, &name).await?;
                let user = meta.user(&a.id, &user).await?;
                meta.attach_policy(&policy, &osg_meta::Owner::User(&user)).await?;
                println!("attached {} to {}", policy.arn(), user.arn());
            }
        },
        AdminCommand::Property(cmd) => match cmd {
            PropertyCommand::Set { name, value } => {
                meta.set_property(&name, &value).await?;
                println!("{name} = {value}");
            }
            PropertyCommand::Get { name } => match meta.property(&name).await? {
                Some(value) => println!("{value}"),
                None => anyhow::bail!("property {name} is not set"),
            },
            PropertyCommand::List => {
                let rows: Vec<_> = meta
                    .properties()
                    .await?
                    .iter()
                    .map(|(n, v)| json!({"name": n, "value": v}))
                    .collect();
                print_rows(args.json, &rows, &["name", "value"]);
            }
        },
    }
    Ok(())
}
