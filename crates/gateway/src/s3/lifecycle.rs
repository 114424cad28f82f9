//! Put/Get/DeleteBucketLifecycleConfiguration: S3's XML to and from the model's rules
//! (`osg_model::lifecycle`, which checks them), and the `x-amz-expiration` answer of GET,
//! HEAD and PUT. The gateways run the rules (`crate::lifecycle`).

use osg_model::Lifecycle;
use osg_model::lifecycle::{Expiration, Filter, NoncurrentExpiration, Rule, Subject};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::*;
use s3s::{S3Request, S3Response, s3_error};

use super::{access, tagging, timestamp};
use crate::Gateway;
use crate::error::Result;

fn malformed(why: &str) -> crate::error::Error {
    s3_error!(MalformedXML, "{why}").into()
}

fn no_transitions() -> crate::error::Error {
    let why = "Transitions need storage classes, which this service does not have.";
    osg_model::ConfigError::Lifecycle(osg_model::LifecycleError::Transition(why.into())).into()
}

fn days(n: i32) -> u32 {
    // Zero and negative days are refused by the model, as S3 refuses them.
    u32::try_from(n).unwrap_or(0)
}

fn size(n: i64) -> Result<u64> {
    u64::try_from(n).map_err(|_| s3_error!(InvalidArgument, "Object size filters must not be negative.").into())
}

fn filter_of(rule: &LifecycleRule) -> Result<Filter> {
    let Some(f) = &rule.filter else {
        // The older form: a rule's own Prefix.
        return match &rule.prefix {
            Some(prefix) => Ok(Filter {
                prefix: prefix.clone(),
                ..Filter::default()
            }),
            None => Err(malformed("A rule needs a Filter or a Prefix.")),
        };
    };
    if rule.prefix.is_some() {
        return Err(malformed("A rule has either a Filter or a Prefix, not both."));
    }
    let set = usize::from(f.prefix.is_some())
        + usize::from(f.tag.is_some())
        + usize::from(f.object_size_greater_than.is_some())
        + usize::from(f.object_size_less_than.is_some())
        + usize::from(f.and.is_some());
    if set > 1 {
        return Err(malformed("A Filter names one condition; several go in an And."));
    }
    let mut filter = Filter {
        prefix: f.prefix.clone().unwrap_or_default(),
        size_greater_than: f.object_size_greater_than.map(size).transpose()?,
        size_less_than: f.object_size_less_than.map(size).transpose()?,
        ..Filter::default()
    };
    if let Some(tag) = &f.tag {
        filter.tags = tagging::from_tag_set(std::slice::from_ref(tag))?;
    }
    if let Some(and) = &f.and {
        filter.prefix = and.prefix.clone().unwrap_or_default();
        filter.tags = tagging::from_tag_set(and.tags.as_deref().unwrap_or_default())?;
        filter.size_greater_than = and.object_size_greater_than.map(size).transpose()?;
        filter.size_less_than = and.object_size_less_than.map(size).transpose()?;
    }
    Ok(filter)
}

fn expiration_of(e: &LifecycleExpiration) -> Result<Option<Expiration>> {
    let marker = e.expired_object_delete_marker == Some(true);
    match (e.days, &e.date, marker) {
        (Some(_), Some(_), _) => Err(malformed("An Expiration has Days or a Date, not both.")),
        (Some(_), _, true) | (_, Some(_), true) => Err(malformed(
            "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy.",
        )),
        (Some(n), None, false) => Ok(Some(Expiration::Days(days(n)))),
        (None, Some(date), false) => {
            let t = time::OffsetDateTime::from(date.clone());
            let ms = i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
            Ok(Some(Expiration::Date(ms)))
        }
        (None, None, true) => Ok(Some(Expiration::ExpiredDeleteMarker)),
        (None, None, false) => Ok(None),
    }
}

fn rule_of(r: &LifecycleRule) -> Result<Rule> {
    if r.transitions.as_ref().is_some_and(|t| !t.is_empty())
        || r.noncurrent_version_transitions.as_ref().is_some_and(|t| !t.is_empty())
    {
        return Err(no_transitions());
    }
    let enabled = match r.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        _ => return Err(malformed("A rule's Status is Enabled or Disabled.")),
    };
    let noncurrent = match &r.noncurrent_version_expiration {
        None => None,
        Some(n) => Some(NoncurrentExpiration {
            days: days(
                n.noncurrent_days
                    .ok_or_else(|| malformed("NoncurrentVersionExpiration needs NoncurrentDays."))?,
            ),
            newer_versions: n.newer_noncurrent_versions.map(days),
        }),
    };
    let abort_upload_days = match &r.abort_incomplete_multipart_upload {
        None => None,
        Some(a) => Some(days(a.days_after_initiation.ok_or_else(|| {
            malformed("AbortIncompleteMultipartUpload needs DaysAfterInitiation.")
        })?)),
    };
    Ok(Rule {
        id: r.id.clone().unwrap_or_default(),
        enabled,
        filter: filter_of(r)?,
        expiration: r.expiration.as_ref().map(expiration_of).transpose()?.flatten(),
        noncurrent,
        abort_upload_days,
    })
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn tag_set(filter: &Filter) -> Vec<Tag> {
    filter
        .tags
        .iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

/// A filter as S3 shows it: one condition alone, several in an And.
fn shown_filter(f: &Filter) -> LifecycleRuleFilter {
    let conditions = usize::from(!f.prefix.is_empty())
        + f.tags.len()
        + usize::from(f.size_greater_than.is_some())
        + usize::from(f.size_less_than.is_some());
    if conditions > 1 {
        return LifecycleRuleFilter {
            and: Some(LifecycleRuleAndOperator {
                prefix: (!f.prefix.is_empty()).then(|| f.prefix.clone()),
                tags: (!f.tags.is_empty()).then(|| tag_set(f)),
                object_size_greater_than: f.size_greater_than.map(to_i64),
                object_size_less_than: f.size_less_than.map(to_i64),
            }),
            ..LifecycleRuleFilter::default()
        };
    }
    LifecycleRuleFilter {
        prefix: (conditions == 0 || !f.prefix.is_empty()).then(|| f.prefix.clone()),
        tag: tag_set(f).into_iter().next(),
        object_size_greater_than: f.size_greater_than.map(to_i64),
        object_size_less_than: f.size_less_than.map(to_i64),
        and: None,
    }
}

fn shown_rule(r: &Rule) -> LifecycleRule {
    let status = if r.enabled {
        ExpirationStatus::ENABLED
    } else {
        ExpirationStatus::DISABLED
    };
    LifecycleRule {
        id: Some(r.id.clone()),
        status: ExpirationStatus::from_static(status),
        filter: Some(shown_filter(&r.filter)),
        expiration: r.expiration.map(|e| match e {
            Expiration::Days(n) => LifecycleExpiration {
                days: Some(to_i32(n)),
                ..LifecycleExpiration::default()
            },
            Expiration::Date(ms) => LifecycleExpiration {
                date: Some(timestamp(ms)),
                ..LifecycleExpiration::default()
            },
            Expiration::ExpiredDeleteMarker => LifecycleExpiration {
                expired_object_delete_marker: Some(true),
                ..LifecycleExpiration::default()
            },
        }),
        noncurrent_version_expiration: r.noncurrent.map(|n| NoncurrentVersionExpiration {
            noncurrent_days: Some(to_i32(n.days)),
            newer_noncurrent_versions: n.newer_versions.map(to_i32),
        }),
        abort_incomplete_multipart_upload: r.abort_upload_days.map(|n| AbortIncompleteMultipartUpload {
            days_after_initiation: Some(to_i32(n)),
        }),
        noncurrent_version_transitions: None,
        prefix: None,
        transitions: None,
    }
}

pub async fn put_bucket_lifecycle_configuration(
    gw: &Gateway,
    req: S3Request<PutBucketLifecycleConfigurationInput>,
) -> Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
    let bucket = access::bucket(&req)?;
    if req.input.transition_default_minimum_object_size.is_some() {
        return Err(no_transitions());
    }
    let Some(config) = &req.input.lifecycle_configuration else {
        return Err(malformed("The request has no LifecycleConfiguration."));
    };
    let rules = config.rules.iter().map(rule_of).collect::<Result<Vec<_>>>()?;
    gw.meta.set_lifecycle(&bucket.name, Some(Lifecycle { rules })).await?;
    gw.dir.forget_bucket(&bucket.name);
    Ok(S3Response::new(PutBucketLifecycleConfigurationOutput::default()))
}

pub async fn get_bucket_lifecycle_configuration(
    _gw: &Gateway,
    req: S3Request<GetBucketLifecycleConfigurationInput>,
) -> Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
    let bucket = access::bucket(&req)?;
    let Some(lifecycle) = bucket.config.lifecycle() else {
        return Err(s3_error!(
            NoSuchLifecycleConfiguration,
            "The lifecycle configuration does not exist"
        )
        .into());
    };
    Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
        rules: Some(lifecycle.rules.iter().map(shown_rule).collect()),
        transition_default_minimum_object_size: None,
    }))
}

pub async fn delete_bucket_lifecycle(
    gw: &Gateway,
    req: S3Request<DeleteBucketLifecycleInput>,
) -> Result<S3Response<DeleteBucketLifecycleOutput>> {
    let bucket = access::bucket(&req)?;
    gw.meta.set_lifecycle(&bucket.name, None).await?;
    gw.dir.forget_bucket(&bucket.name);
    Ok(S3Response::with_status(
        DeleteBucketLifecycleOutput::default(),
        http::StatusCode::NO_CONTENT,
    ))
}

/// The lifecycle day (cached as the gateway caches buckets).
async fn day_ms(gw: &Gateway) -> Result<i64> {
    let value = gw
        .dir
        .property(osg_model::properties::LIFECYCLE_DAY_SECONDS.name)
        .await?;
    Ok(crate::lifecycle::day_ms(value.as_deref()))
}

/// The `x-amz-expiration` answer for `version` of a key in `bucket`, if it is the current
/// version: when the earliest rule that applies expires it, and that rule's id. Never fails:
/// the write or read it goes with is done.
pub async fn expiration(gw: &Gateway, bucket: &osg_meta::Bucket, version: &osg_meta::Version) -> Option<String> {
    let lifecycle = bucket
        .config
        .lifecycle()
        .filter(|_| version.latest && !version.delete_marker)?;
    let subject = Subject {
        key: &version.key,
        size: version.size,
        tags: &version.attrs.tags,
    };
    let day = day_ms(gw)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "x-amz-expiration left out"))
        .ok()?;
    let (at, rule) = lifecycle.current_expiry(&subject, version.modified_ms, day)?;
    let rule = utf8_percent_encode(rule, NON_ALPHANUMERIC);
    Some(format!("expiry-date=\"{}\", rule-id=\"{rule}\"", http_date(at)))
}

/// The `x-amz-abort-date` and `x-amz-abort-rule-id` answers of CreateMultipartUpload.
pub async fn abort_date(
    gw: &Gateway,
    bucket: &osg_meta::Bucket,
    upload: &osg_meta::Upload,
) -> (Option<Timestamp>, Option<String>) {
    let Some(lifecycle) = bucket.config.lifecycle() else {
        return (None, None);
    };
    let Ok(day) = day_ms(gw)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "x-amz-abort-date left out"))
    else {
        return (None, None);
    };
    match lifecycle.upload_abort(&upload.key, upload.initiated_ms, day) {
        Some((at, rule)) => (Some(timestamp(at)), Some(rule.to_owned())),
        None => (None, None),
    }
}

/// An HTTP date (`Fri, 23 Dec 2012 00:00:00 GMT`).
fn http_date(ms: i64) -> String {
    let date =
        time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    date.format(&format).unwrap_or_default()
}
