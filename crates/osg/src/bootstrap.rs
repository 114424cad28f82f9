//! First start: the master key that seals secrets (`DIR/master.key`), and the system account
//! with its access key, written to `DIR/admin.credentials` in the AWS shared-credentials
//! format. Both files are mode 0600; the secret goes nowhere else.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use osg_meta::{KEY_LEN, Meta, Sealer};

pub const CREDENTIALS_FILE: &str = "admin.credentials";
pub const MASTER_KEY_FILE: &str = "master.key";

/// Environment variables that choose the admin key pair on first start.
const ACCESS_KEY_VAR: &str = "OSG_ADMIN_ACCESS_KEY";
const SECRET_KEY_VAR: &str = "OSG_ADMIN_SECRET_KEY";

/// Writes a key pair as an AWS shared-credentials file (profile `default`), mode 0600.
pub fn write_credentials(path: &Path, access_key: &str, secret: &str) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(path);
    write_private(
        path,
        &format!("[default]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret}\n"),
    )
}

/// Reads the key pair of a shared-credentials file written by [`write_credentials`].
pub fn read_credentials(path: &Path) -> anyhow::Result<(String, String)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .map(|v| v.trim_start_matches([' ', '=']).trim().to_owned())
            })
            .with_context(|| format!("{} has no {name}", path.display()))
    };
    Ok((field("aws_access_key_id")?, field("aws_secret_access_key")?))
}

/// Writes `contents` to a new file only its owner can read.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Where the metadata store is, and the key that seals its secrets: the same options for every
/// command that opens the store.
#[derive(clap::Args, Debug, Clone)]
pub struct StoreOptions {
    /// The data directory: the SQLite metadata store (unless --db), the embedded Walrus's blobs
    /// (`osg serve`), the master key (unless --master-key-file) and the admin credentials. With
    /// `osg gateway --db`, only the admin credentials of a first start are written here.
    #[arg(long, default_value = "./osg-data", global = true)]
    pub data_dir: PathBuf,
    /// A metadata store shared by many gateways: `postgres://USER@HOST:PORT/DB`. Also read from
    /// OSG_DB, which keeps a password off the command line.
    #[arg(long, env = "OSG_DB", global = true)]
    pub db: Option<String>,
    /// The file holding the master key that seals secrets and SSE-S3 data keys (32 bytes, as
    /// `head -c 32 /dev/urandom` writes them, or base64 lines: the first seals, the ones after
    /// it are older keys that still open what they sealed). Required with --db: every gateway
    /// gets the same file. Without it, DATA_DIR/master.key, created on first start.
    #[arg(long, env = "OSG_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,
}

impl StoreOptions {
    /// The options for the SQLite store of `data_dir`.
    #[must_use]
    pub fn in_dir(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            db: None,
            master_key_file: None,
        }
    }

    /// Opens the metadata store an admin command works on: one that exists. (Only a gateway
    /// creates the embedded one, on its first start; a command pointed at the wrong directory
    /// must not create an empty store there.)
    pub async fn open_existing(&self) -> anyhow::Result<Meta> {
        let sqlite = self.data_dir.join("meta.db");
        anyhow::ensure!(
            self.db.is_some() || sqlite.exists(),
            "no metadata store in {}: give the gateway's --data-dir (or --db for a shared store); \
             `osg serve --data-dir {}` creates one on its first start",
            self.data_dir.display(),
            self.data_dir.display()
        );
        self.open().await
    }

    /// Opens the metadata store (creating the data directory and, for SQLite, the master key
    /// on first use).
    pub async fn open(&self) -> anyhow::Result<Meta> {
        private_dir(&self.data_dir)?;
        let keys = match (&self.master_key_file, &self.db) {
            (Some(file), _) => read_master_keys(file)?,
            (None, Some(_)) => anyhow::bail!("with --db, give every gateway the same --master-key-file"),
            (None, None) => master_keys(&self.data_dir.join(MASTER_KEY_FILE))?,
        };
        let sealer = Sealer::with_older(&keys[0], &keys[1..]);
        let meta = match &self.db {
            Some(url) => Meta::open(url, sealer).await,
            None => Meta::open_sqlite(&self.data_dir.join("meta.db"), sealer).await,
        };
        meta.context("opening the metadata store")
    }
}

/// Creates `dir` (mode 0700) unless it exists, and takes group and other permissions away from
/// it if it does: it holds the metadata store, the master key, credentials and object bytes.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let mut permissions = std::fs::metadata(dir)?.permissions();
    if permissions.mode() & 0o077 != 0 {
        permissions.set_mode(permissions.mode() & 0o700);
        std::fs::set_permissions(dir, permissions).with_context(|| format!("restricting {}", dir.display()))?;
    }
    Ok(())
}

/// The master keys at `path` (see [`read_master_keys`]), a new one created there on first
/// use. Gateways sharing a metadata store must share this file too.
pub fn master_keys(path: &Path) -> anyhow::Result<Vec<[u8; KEY_LEN]>> {
    if !path.exists() {
        let key = Sealer::generate_key();
        write_private(
            path,
            &format!("{}\n", base64::engine::general_purpose::STANDARD.encode(key)),
        )?;
        return Ok(vec![key]);
    }
    read_master_keys(path)
}

/// A master key file: 32 raw bytes, or base64 lines of 32 bytes each: the current key first,
/// then older keys (a rotation keeps them until nothing sealed by them is left). Blank lines
/// and lines starting `#` are skipped.
fn read_master_keys(path: &Path) -> anyhow::Result<Vec<[u8; KEY_LEN]>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading master key {}", path.display()))?;
    if let Ok(raw) = <[u8; KEY_LEN]>::try_from(bytes.as_slice()) {
        return Ok(vec![raw]);
    }
    let invalid = || {
        format!(
            "{} must hold {KEY_LEN} bytes (raw) or base64 lines of {KEY_LEN} bytes",
            path.display()
        )
    };
    let text = std::str::from_utf8(&bytes).ok().with_context(invalid)?;
    let keys = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let decoded = base64::engine::general_purpose::STANDARD.decode(line).ok();
            decoded
                .and_then(|d| <[u8; KEY_LEN]>::try_from(d).ok())
                .with_context(invalid)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!keys.is_empty(), invalid());
    Ok(keys)
}

/// Creates the system account if the store has none, and returns the credentials file path.
pub async fn ensure_admin(meta: &Meta, data_dir: &Path) -> anyhow::Result<PathBuf> {
    let path = data_dir.join(CREDENTIALS_FILE);
    let chosen = match (std::env::var(ACCESS_KEY_VAR), std::env::var(SECRET_KEY_VAR)) {
        (Ok(a), Ok(s)) if !a.is_empty() && !s.is_empty() => Some((a, s)),
        _ => None,
    };
    if let Some((_, secret)) = &chosen {
        anyhow::ensure!(
            secret.chars().count() >= MIN_SECRET_LEN,
            "{SECRET_KEY_VAR} is too short: give at least {MIN_SECRET_LEN} characters (generated secrets have 40)"
        );
    }
    let (access_key, secret) = chosen.clone().unwrap_or_else(osg_meta::new_key_pair);
    if meta.ensure_system_account(&access_key, &secret).await? {
        write_credentials(&path, &access_key, &secret)?;
        tracing::info!(access_key, "created the system account");
    } else if let Some((access_key, secret)) = chosen {
        // The key pair is chosen once, at the first start; the variables do nothing after.
        let stored = meta.secret_key(&access_key).await?;
        if stored.is_none_or(|s| secrecy::ExposeSecret::expose_secret(&s) != secret) {
            tracing::warn!(
                "{ACCESS_KEY_VAR}/{SECRET_KEY_VAR} differ from the system account's key pair and have no effect \
                 after the first start: manage its keys with `osg admin key`"
            );
        }
    }
    Ok(path)
}

/// Shortest secret taken for the system account's key pair.
const MIN_SECRET_LEN: usize = 16;
