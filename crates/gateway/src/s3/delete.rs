//! DeleteObject and DeleteObjects.

use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, s3_error};

use super::access;
use crate::error::Result;
use crate::{Gateway, authz};

/// Keys one DeleteObjects request may name, as in S3.
const MAX_KEYS: usize = 1000;

/// Who owns the delete markers a request adds: its caller's account, or for an anonymous
/// caller the bucket's owner.
fn marker_owner<T>(req: &S3Request<T>, bucket: &osg_meta::Bucket) -> Result<String> {
    let caller = access::authorized(req)?.caller.as_ref();
    Ok(caller.map_or_else(|| bucket.owner.clone(), |c| c.account.id.clone()))
}

/// A version id as S3 shows it after a delete: a bucket's `null` marker too.
fn shown(deleted: &osg_meta::Deleted) -> Option<String> {
    deleted.version_id.clone()
}

pub async fn delete_object(gw: &Gateway, req: S3Request<DeleteObjectInput>) -> Result<S3Response<DeleteObjectOutput>> {
    let bucket = access::bucket(&req)?;
    let owner = marker_owner(&req, &bucket)?;
    let i = &req.input;
    let by = osg_meta::Deleter {
        owner: &owner,
        bypass_governance: super::lock::bypasses(gw, &req, &bucket, &i.key, i.version_id.as_deref()).await?,
    };
    // Deleting a key or version that is not there succeeds, as in S3.
    let deleted = gw
        .meta
        .delete_object(&i.bucket, &i.key, i.version_id.as_deref(), by)
        .await?;
    Ok(S3Response::with_status(
        DeleteObjectOutput {
            delete_marker: deleted.delete_marker.then_some(true),
            version_id: shown(&deleted),
            ..Default::default()
        },
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
    // Conditional deletes (an object's ETag, LastModifiedTime or Size) are not implemented:
    // refused, never ignored, as on DeleteObject.
    if delete
        .objects
        .iter()
        .any(|o| o.e_tag.is_some() || o.last_modified_time.is_some() || o.size.is_some())
    {
        return Err(s3_error!(NotImplemented, "Conditional deletes are not implemented.").into());
    }
    let quiet = delete.quiet.unwrap_or(false);
    let owner = marker_owner(&req, &bucket)?;
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for object in &delete.objects {
        // DeleteObjects needs s3:DeleteObject on each key it names (s3:DeleteObjectVersion on
        // each version).
        let version_id = object.version_id.as_deref();
        let action = if version_id.is_some() {
            "s3:DeleteObjectVersion"
        } else {
            "s3:DeleteObject"
        };
        let resource = authz::resource_arn(Some(&bucket.name), Some(&object.key));
        // Judged as a DELETE of that version would be: its ACL and tags, `s3:versionid`.
        let valid = version_id
            .filter(|id| !osg_model::is_version_id(id))
            .map_or(Ok(()), |_| {
                Err(s3_error!(InvalidArgument, "Invalid version id specified").into())
            });
        let mut context = std::borrow::Cow::Borrowed(&auth.context);
        if let Some(id) = version_id {
            context.to_mut().set("s3:versionid", id);
        }
        let target = authz::Target::new(Some(&bucket), Some(&object.key), &resource).version(version_id);
        let allowed = authz::authorize(&gw.dir, auth.caller.as_ref(), action, &target, &context).await;
        let result = match allowed.map_err(crate::error::Error::from).and(valid) {
            Ok(()) => {
                let by = osg_meta::Deleter {
                    owner: &owner,
                    bypass_governance: super::lock::bypasses(gw, &req, &bucket, &object.key, version_id).await?,
                };
                gw.meta
                    .delete_object(&req.input.bucket, &object.key, version_id, by)
                    .await
                    .map_err(crate::error::Error::from)
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(done) => {
                if !quiet {
                    // A marker added, or a version removed (a marker, or not).
                    let marker_id = done.delete_marker.then(|| shown(&done)).flatten();
                    deleted.push(DeletedObject {
                        key: Some(object.key.clone()),
                        version_id: version_id.map(str::to_owned),
                        delete_marker: done.delete_marker.then_some(true),
                        delete_marker_version_id: marker_id,
                    });
                }
            }
            Err(e) => {
                let e = S3Error::from(e);
                errors.push(Error {
                    key: Some(object.key.clone()),
                    code: Some(e.code().as_str().to_owned()),
                    message: e.message().map(str::to_owned),
                    version_id: version_id.map(str::to_owned),
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
