//! Object Lock: the bucket's configuration (Put/GetObjectLockConfiguration), each version's
//! retention and legal hold (Put/GetObjectRetention, Put/GetObjectLegalHold, and the
//! `x-amz-object-lock-*` headers of writes), and GOVERNANCE bypass. The rules are the model's
//! (`osg_model::lock`); the store applies them in the writes' transactions.

use osg_meta::{LockConfig, LockError, Retention, RetentionMode, VersionLock};
use s3s::dto::*;
use s3s::{S3Request, S3Response, s3_error};

use super::{access, timestamp};
use crate::error::Result;
use crate::{Gateway, authz};

fn mode_of(mode: &str) -> Result<RetentionMode> {
    RetentionMode::parse(mode).ok_or_else(|| s3_error!(InvalidArgument, "Unknown wormMode directive.").into())
}

fn millis(t: &Timestamp) -> i64 {
    let t = time::OffsetDateTime::from(t.clone());
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// A retention as a request states it: a mode and a date, both or neither; the date ahead.
fn retention(mode: Option<&str>, until: Option<&Timestamp>) -> Result<Option<Retention>> {
    match (mode, until) {
        (None, None) => Ok(None),
        (Some(mode), Some(until)) => {
            let until_ms = millis(until);
            if until_ms <= osg_meta::now_ms() {
                return Err(s3_error!(InvalidArgument, "The retain until date must be in the future!").into());
            }
            Ok(Some(Retention {
                mode: mode_of(mode)?,
                until_ms,
            }))
        }
        _ => Err(s3_error!(
            InvalidArgument,
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
        )
        .into()),
    }
}

/// The lock a write's `x-amz-object-lock-*` headers ask for (the bucket's default retention is
/// the store's to add).
pub fn requested(
    mode: Option<&ObjectLockMode>,
    until: Option<&Timestamp>,
    legal_hold: Option<&ObjectLockLegalHoldStatus>,
) -> Result<VersionLock> {
    Ok(VersionLock {
        retention: retention(mode.map(ObjectLockMode::as_str), until)?,
        legal_hold: legal_hold.is_some_and(|h| h.as_str() == ObjectLockLegalHoldStatus::ON),
    })
}

/// The `x-amz-object-lock-*` answers of GET and HEAD.
pub fn shown(
    lock: &VersionLock,
) -> (
    Option<ObjectLockMode>,
    Option<Timestamp>,
    Option<ObjectLockLegalHoldStatus>,
) {
    let retention = lock.retention.as_ref();
    (
        retention.map(|r| ObjectLockMode::from(r.mode.as_str().to_owned())),
        retention.map(|r| timestamp_ms(r.until_ms)),
        lock.legal_hold
            .then(|| ObjectLockLegalHoldStatus::from_static(ObjectLockLegalHoldStatus::ON)),
    )
}

fn timestamp_ms(ms: i64) -> Timestamp {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos).map_or_else(|_| timestamp(ms), Timestamp::from)
}

/// Whether a request bypasses GOVERNANCE retention of `version` (`None`: the current object):
/// it asks to (`x-amz-bypass-governance-retention: true`) and its caller may
/// (`s3:BypassGovernanceRetention`, judged on that version).
pub async fn bypasses<T>(
    gw: &Gateway,
    req: &S3Request<T>,
    bucket: &osg_meta::Bucket,
    key: &str,
    version: Option<&str>,
) -> Result<bool> {
    let asked = req
        .headers
        .get("x-amz-bypass-governance-retention")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if !asked {
        return Ok(false);
    }
    let auth = access::authorized(req)?;
    let resource = authz::resource_arn(Some(&bucket.name), Some(key));
    let target = authz::Target::new(Some(bucket), Some(key), &resource).version(version);
    let allowed = authz::authorize(
        &gw.dir,
        auth.caller.as_ref(),
        "s3:BypassGovernanceRetention",
        &target,
        &auth.context,
    )
    .await;
    Ok(allowed.is_ok())
}

/// The bucket's Object Lock configuration; refused on a bucket without it.
async fn config_of(gw: &Gateway, bucket: &str) -> Result<LockConfig> {
    let lock = gw.meta.object_lock(bucket).await?;
    Ok(lock.ok_or(osg_meta::Error::from(LockError::NotEnabled))?)
}

pub async fn put_object_lock_configuration(
    gw: &Gateway,
    req: S3Request<PutObjectLockConfigurationInput>,
) -> Result<S3Response<PutObjectLockConfigurationOutput>> {
    let bucket = access::bucket(&req)?;
    let Some(config) = &req.input.object_lock_configuration else {
        return Err(s3_error!(MalformedXML).into());
    };
    if config.object_lock_enabled.as_ref().map(ObjectLockEnabled::as_str) != Some(ObjectLockEnabled::ENABLED) {
        return Err(s3_error!(MalformedXML, "ObjectLockEnabled must be Enabled.").into());
    }
    let lock = match config.rule.as_ref().and_then(|r| r.default_retention.as_ref()) {
        None => LockConfig::default(),
        Some(d) => {
            let mode = d
                .mode
                .as_ref()
                .ok_or_else(|| s3_error!(MalformedXML, "A default retention needs a Mode."))?;
            LockConfig::with_default(mode_of(mode.as_str())?, d.days, d.years).map_err(osg_meta::Error::from)?
        }
    };
    gw.meta.set_object_lock(&bucket.name, lock).await?;
    Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
}

pub async fn get_object_lock_configuration(
    gw: &Gateway,
    req: S3Request<GetObjectLockConfigurationInput>,
) -> Result<S3Response<GetObjectLockConfigurationOutput>> {
    let bucket = access::bucket(&req)?;
    let Some(lock) = gw.meta.object_lock(&bucket.name).await? else {
        return Err(s3_error!(
            ObjectLockConfigurationNotFoundError,
            "Object Lock configuration does not exist for this bucket"
        )
        .into());
    };
    let rule = lock.default.map(|(mode, period)| {
        let (days, years) = match period {
            osg_model::lock::Period::Days(d) => (i32::try_from(d).ok(), None),
            osg_model::lock::Period::Years(y) => (None, i32::try_from(y).ok()),
        };
        ObjectLockRule {
            default_retention: Some(DefaultRetention {
                mode: Some(ObjectLockRetentionMode::from(mode.as_str().to_owned())),
                days,
                years,
            }),
        }
    });
    Ok(S3Response::new(GetObjectLockConfigurationOutput {
        object_lock_configuration: Some(ObjectLockConfiguration {
            object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)),
            rule,
        }),
    }))
}

pub async fn put_object_retention(
    gw: &Gateway,
    req: S3Request<PutObjectRetentionInput>,
) -> Result<S3Response<PutObjectRetentionOutput>> {
    let bucket = access::bucket(&req)?;
    config_of(gw, &bucket.name).await?;
    let i = &req.input;
    let asked = i.retention.as_ref();
    let new = retention(
        asked.and_then(|r| r.mode.as_ref()).map(ObjectLockRetentionMode::as_str),
        asked.and_then(|r| r.retain_until_date.as_ref()),
    )?;
    let bypass = bypasses(gw, &req, &bucket, &i.key, i.version_id.as_deref()).await?;
    gw.meta
        .update_object_attrs(&bucket.name, &i.key, i.version_id.as_deref(), |attrs| {
            attrs.lock.may_retain(new.as_ref(), osg_meta::now_ms(), bypass)?;
            attrs.lock.retention = new;
            Ok(())
        })
        .await?;
    Ok(S3Response::new(PutObjectRetentionOutput::default()))
}

pub async fn get_object_retention(
    gw: &Gateway,
    req: S3Request<GetObjectRetentionInput>,
) -> Result<S3Response<GetObjectRetentionOutput>> {
    let bucket = access::bucket(&req)?;
    config_of(gw, &bucket.name).await?;
    let i = &req.input;
    let version = super::get::readable(gw, &bucket.name, &i.key, i.version_id.as_deref()).await?;
    let Some(r) = version.attrs.lock.retention else {
        return Err(s3_error!(
            NoSuchObjectLockConfiguration,
            "The specified object does not have a ObjectLock configuration"
        )
        .into());
    };
    Ok(S3Response::new(GetObjectRetentionOutput {
        retention: Some(ObjectLockRetention {
            mode: Some(ObjectLockRetentionMode::from(r.mode.as_str().to_owned())),
            retain_until_date: Some(timestamp_ms(r.until_ms)),
        }),
    }))
}

pub async fn put_object_legal_hold(
    gw: &Gateway,
    req: S3Request<PutObjectLegalHoldInput>,
) -> Result<S3Response<PutObjectLegalHoldOutput>> {
    let bucket = access::bucket(&req)?;
    config_of(gw, &bucket.name).await?;
    let i = &req.input;
    let on = match i
        .legal_hold
        .as_ref()
        .and_then(|h| h.status.as_ref())
        .map(ObjectLockLegalHoldStatus::as_str)
    {
        Some(ObjectLockLegalHoldStatus::ON) => true,
        Some(ObjectLockLegalHoldStatus::OFF) => false,
        _ => return Err(s3_error!(MalformedXML, "The legal hold Status must be ON or OFF.").into()),
    };
    gw.meta
        .update_object_attrs(&bucket.name, &i.key, i.version_id.as_deref(), |attrs| {
            attrs.lock.legal_hold = on;
            Ok(())
        })
        .await?;
    Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
}

pub async fn get_object_legal_hold(
    gw: &Gateway,
    req: S3Request<GetObjectLegalHoldInput>,
) -> Result<S3Response<GetObjectLegalHoldOutput>> {
    let bucket = access::bucket(&req)?;
    config_of(gw, &bucket.name).await?;
    let i = &req.input;
    let version = super::get::readable(gw, &bucket.name, &i.key, i.version_id.as_deref()).await?;
    let status = if version.attrs.lock.legal_hold {
        ObjectLockLegalHoldStatus::ON
    } else {
        ObjectLockLegalHoldStatus::OFF
    };
    Ok(S3Response::new(GetObjectLegalHoldOutput {
        legal_hold: Some(ObjectLockLegalHold {
            status: Some(ObjectLockLegalHoldStatus::from_static(status)),
        }),
    }))
}
