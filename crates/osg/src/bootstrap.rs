//! First start: the system account and its access key, written to `DIR/admin.credentials`
//! in the AWS shared-credentials format. The secret goes only to that file (mode 0600).

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use osg_meta::Meta;
use rand::Rng as _;
use rand::distributions::Alphanumeric;

pub const CREDENTIALS_FILE: &str = "admin.credentials";

/// Environment variables that choose the admin key pair on first start.
const ACCESS_KEY_VAR: &str = "OSG_ADMIN_ACCESS_KEY";
const SECRET_KEY_VAR: &str = "OSG_ADMIN_SECRET_KEY";

fn random_string(len: usize, upper: bool) -> String {
    let s: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    if upper { s.to_ascii_uppercase() } else { s }
}

/// Creates the system account if the store has none, and returns the credentials file path.
pub async fn ensure_admin(meta: &Meta, data_dir: &Path) -> anyhow::Result<PathBuf> {
    let path = data_dir.join(CREDENTIALS_FILE);
    let (access_key, secret) = match (std::env::var(ACCESS_KEY_VAR), std::env::var(SECRET_KEY_VAR)) {
        (Ok(a), Ok(s)) if !a.is_empty() && !s.is_empty() => (a, s),
        _ => (format!("AKOSG{}", random_string(15, true)), random_string(40, false)),
    };
    if meta.ensure_system_account(&access_key, &secret).await? {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        writeln!(
            file,
            "[default]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret}"
        )?;
        file.sync_all()?;
        tracing::info!(access_key, "created the system account");
    }
    Ok(path)
}
