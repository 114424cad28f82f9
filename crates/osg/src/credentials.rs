//! The operator's own credentials, for `osg bench` and `osg admin --endpoint`: from the
//! environment or the shared files, never from a cloud's instance metadata address (the
//! default chain asks one when nothing else answers).

use aws_config::meta::credentials::CredentialsProviderChain;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials as _;

/// The chain: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, then the shared files
/// (`AWS_SHARED_CREDENTIALS_FILE`, `AWS_PROFILE`).
pub fn chain() -> CredentialsProviderChain {
    CredentialsProviderChain::first_try(
        "Environment",
        aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
    )
    .or_else(
        "Profile",
        aws_config::profile::ProfileFileCredentialsProvider::builder().build(),
    )
}

/// The credentials [`chain`] finds, or what to set.
pub async fn load() -> anyhow::Result<Credentials> {
    chain().provide_credentials().await.map_err(|e| {
        anyhow::anyhow!(
            "no credentials ({e}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
             AWS_SHARED_CREDENTIALS_FILE (for the embedded gateway, ./osg-data/admin.credentials) \
             and AWS_PROFILE"
        )
    })
}
