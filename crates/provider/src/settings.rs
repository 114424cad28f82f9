//! What the clients take from a provider instance's settings (`osg_model::provider`) that
//! needs the machine: the extra certificate authorities it names.

use crate::{Error, Result, Settings};

/// The extra certificate authorities of `settings`, PEM, if any.
pub(crate) fn ca_pem(settings: &Settings) -> Result<Option<Vec<u8>>> {
    settings
        .ca_file
        .as_ref()
        .map(|path| std::fs::read(path).map_err(|e| Error::Config(format!("reading CA file {}: {e}", path.display()))))
        .transpose()
}
