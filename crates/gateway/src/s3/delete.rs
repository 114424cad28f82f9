//! DeleteObject and DeleteObjects.

use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, s3_error};

use super::access;
use crate::error::Result;
use crate::{Gateway, authz};

/// Keys one DeleteObjects request may name, as in S3.
const MAX_KEYS: usize = 1000;

pub async fn delete_object(gw: &Gateway, req: S3Request<DeleteObjectInput>) -> Result<S3Response<DeleteObjectOutput>> {
    access::bucket(&req)?;
    // Deleting a key that holds nothing succeeds, as in S3.
    gw.meta.delete_object(&req.input.bucket, &req.input.key).await?;
    Ok(S3Response::with_status(
        DeleteObjectOutput::default(),
        http::StatusCode::NO_CONTENT,
    ))
}

pub async fn delete_objects(
    gw: &Gateway,
    req: S3Request<DeleteObjectsInput>,
) -> Result<S3Response<DeleteObjectsOutput>> {
    let bucket = access::bucket(&req)?;
    let auth = access::authorized(&req)?;
    let delete = &req.input.delete;
    if delete.objects.is_empty() || delete.objects.len() > MAX_KEYS {
        return Err(s3_error!(MalformedXML, "A DeleteObjects request names 1 to 1000 keys.").into());
    }
    let quiet = delete.quiet.unwrap_or(false);
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for object in &delete.objects {
        // DeleteObjects needs s3:DeleteObject on each key it names.
        let resource = authz::resource_arn(Some(&bucket.name), Some(&object.key));
        let allowed = authz::authorize(
            &gw.dir,
            auth.caller.as_ref(),
            "s3:DeleteObject",
            &authz::Target::new(Some(&bucket), Some(&object.key), &resource),
            &auth.context,
        )
        .await;
        let result = match allowed {
            Ok(()) => gw
                .meta
                .delete_object(&req.input.bucket, &object.key)
                .await
                .map_err(crate::error::Error::from),
            Err(e) => Err(e.into()),
        };
        match result {
            Ok(_) => {
                if !quiet {
                    deleted.push(DeletedObject {
                        key: Some(object.key.clone()),
                        ..Default::default()
                    });
                }
            }
            Err(e) => {
                let e = S3Error::from(e);
                errors.push(Error {
                    key: Some(object.key.clone()),
                    code: Some(e.code().as_str().to_owned()),
                    message: e.message().map(str::to_owned),
                    version_id: None,
                });
            }
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted: Some(deleted),
        errors: Some(errors),
        ..Default::default()
    }))
}
