//! Authentication: s3s checks signatures (SigV4 header, presigned, streaming; SigV2) with the
//! secret it gets from here.

use std::sync::Arc;

use osg_meta::Meta;
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};
use secrecy::ExposeSecret;

pub struct Auth {
    meta: Arc<Meta>,
}

impl Auth {
    pub fn new(meta: Arc<Meta>) -> Self {
        Self { meta }
    }
}

#[async_trait::async_trait]
impl S3Auth for Auth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.meta.secret_key(access_key).await {
            Ok(Some(secret)) => Ok(SecretKey::from(secret.expose_secret())),
            Ok(None) => Err(s3_error!(InvalidAccessKeyId)),
            Err(e) => Err(crate::error::Error::from(e).into()),
        }
    }
}
