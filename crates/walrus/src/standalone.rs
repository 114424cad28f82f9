//! Standalone Walrus: the store on its own host, spoken to by gateways through the S3 API
//! subset the provider trait needs (buckets as namespaces; PUT, ranged GET, HEAD, DELETE of
//! objects). Anything else answers NotImplemented.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::TryStreamExt;
use osg_provider::{Error, Provider};
use s3s::dto::*;
use s3s::{S3, S3Error, S3Request, S3Response, S3Result, s3_error};

use crate::Walrus;

/// The S3 service of a standalone Walrus rooted at `root`, for one key pair.
pub fn service(root: PathBuf, access_key: &str, secret_key: &str) -> s3s::service::S3Service {
    let mut builder = s3s::service::S3ServiceBuilder::new(Standalone::new(root));
    builder.set_auth(s3s::auth::SimpleAuth::from_single(access_key, secret_key));
    builder.build()
}

/// Buckets are directories under the root, each its own Walrus store.
pub struct Standalone {
    root: PathBuf,
    stores: Mutex<HashMap<String, Arc<Walrus>>>,
}

impl Standalone {
    pub fn new(root: PathBuf) -> Self {
        Self {
            root: root.join("buckets"),
            stores: Mutex::new(HashMap::new()),
        }
    }

    async fn store(&self, bucket: &str) -> S3Result<Arc<Walrus>> {
        if let Some(store) = self.stores.lock().expect("store map lock").get(bucket) {
            return Ok(Arc::clone(store));
        }
        let dir = self.root.join(bucket);
        if !tokio::fs::try_exists(&dir).await.unwrap_or(false) {
            return Err(s3_error!(NoSuchBucket));
        }
        let store = Arc::new(Walrus::open(&dir).await.map_err(|e| s3_error!(e, InternalError))?);
        self.stores
            .lock()
            .expect("store map lock")
            .insert(bucket.to_owned(), Arc::clone(&store));
        Ok(store)
    }
}

/// The provider's errors in S3's terms.
fn s3(e: Error) -> S3Error {
    match e {
        Error::NotFound(_) => s3_error!(NoSuchKey),
        Error::Body(_) => s3_error!(IncompleteBody),
        Error::Unavailable(reason) | Error::Config(reason) => s3_error!(InternalError, "{reason}"),
    }
}

#[async_trait::async_trait]
impl S3 for Standalone {
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        let dir = self.root.join(&req.input.bucket);
        Walrus::open(&dir).await.map_err(|e| s3_error!(e, InternalError))?;
        Ok(S3Response::new(CreateBucketOutput::default()))
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.store(&req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let store = self.store(&req.input.bucket).await?;
        let length = req
            .input
            .content_length
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| s3_error!(MissingContentLength))?;
        let body: osg_provider::ByteStream = match req.input.body {
            Some(body) => Box::pin(body),
            None => Box::pin(futures::stream::empty()),
        };
        let written = store.put_blob(&req.input.key, body, Some(length)).await.map_err(s3)?;
        if written != length {
            let _ = store.delete_blob(&req.input.key).await;
            return Err(s3_error!(IncompleteBody));
        }
        Ok(S3Response::new(PutObjectOutput::default()))
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let store = self.store(&req.input.bucket).await?;
        let size = store.size(&req.input.key).await.map_err(s3)?;
        let span = match &req.input.range {
            Some(range) => range.check(size).map_err(|_| s3_error!(InvalidRange))?,
            None => 0..size,
        };
        let body = store.get_blob(&req.input.key, span.clone()).await.map_err(s3)?;
        let body = body.map_err(std::io::Error::other);
        let partial = req.input.range.is_some();
        let out = GetObjectOutput {
            body: Some(StreamingBlob::wrap(body)),
            content_length: i64::try_from(span.end - span.start).ok(),
            content_range: partial.then(|| format!("bytes {}-{}/{size}", span.start, span.end.saturating_sub(1))),
            ..Default::default()
        };
        let status = if partial {
            http::StatusCode::PARTIAL_CONTENT
        } else {
            http::StatusCode::OK
        };
        Ok(S3Response::with_status(out, status))
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let store = self.store(&req.input.bucket).await?;
        let size = store.size(&req.input.key).await.map_err(s3)?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: i64::try_from(size).ok(),
            ..Default::default()
        }))
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let store = self.store(&req.input.bucket).await?;
        store.delete_blob(&req.input.key).await.map_err(s3)?;
        Ok(S3Response::with_status(
            DeleteObjectOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }
}
