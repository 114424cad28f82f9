//! Authentication: s3s checks signatures (SigV4 header, presigned, streaming; SigV2) with the
//! secret it gets from here (through the directory's cache).

use std::sync::Arc;

use crate::directory::Directory;
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};
use secrecy::ExposeSecret;

pub struct Auth {
    dir: Arc<Directory>,
}

impl Auth {
    pub fn new(dir: Arc<Directory>) -> Self {
        Self { dir }
    }
}

#[async_trait::async_trait]
impl S3Auth for Auth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.dir.secret(access_key).await {
            Ok(Some(secret)) => Ok(SecretKey::from(secret.expose_secret())),
            Ok(None) => Err(s3_error!(InvalidAccessKeyId)),
            Err(e) => Err(e.into()),
        }
    }
}
