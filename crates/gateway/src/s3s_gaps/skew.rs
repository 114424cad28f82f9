//! Clock skew: a header-signed request dated more than 15 minutes from our clock is refused
//! (`RequestTimeTooSkewed`), so a captured request cannot be replayed later. Presigned URLs
//! carry their own expiry, which s3s checks.

use http::HeaderMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;
use time::macros::format_description;

const MAX_SKEW_SECS: i64 = 15 * 60;

/// `20261125T120000Z`, as SigV4 writes times.
pub fn amz_date(v: &str) -> Option<OffsetDateTime> {
    let iso = format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(v, iso)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// The request's signing time: `x-amz-date` (SigV4, or SigV2 overriding `Date`), else `Date`.
pub fn signed_at(headers: &HeaderMap) -> Option<OffsetDateTime> {
    if let Some(v) = headers.get("x-amz-date").and_then(|v| v.to_str().ok()) {
        return amz_date(v).or_else(|| parse_http_date(v));
    }
    headers
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
}

fn parse_http_date(v: &str) -> Option<OffsetDateTime> {
    // "Wed, 25 Nov 2026 12:00:00 GMT": RFC 2822 wants a numeric zone.
    OffsetDateTime::parse(&v.replace("GMT", "+0000"), &Rfc2822).ok()
}

/// Refuses a header-signed request dated too far from now (IAM's requests too).
pub fn check(headers: &HeaderMap) -> Result<(), super::Refusal> {
    if too_skewed(headers, OffsetDateTime::now_utc()) {
        return Err(super::Refusal::new(
            "RequestTimeTooSkewed",
            http::StatusCode::FORBIDDEN,
            "The difference between the request time and the current time is too large.",
        ));
    }
    Ok(())
}

/// Whether a header-signed request is too far from `now`, or carries no date we can read
/// (which would let it be replayed forever). Requests without an Authorization header
/// (anonymous, presigned, POST forms) are not judged here.
pub fn too_skewed(headers: &HeaderMap, now: OffsetDateTime) -> bool {
    if !headers.contains_key(http::header::AUTHORIZATION) {
        return false;
    }
    signed_at(headers).is_none_or(|t| (now - t).whole_seconds().abs() > MAX_SKEW_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn judges_amz_date_and_date() {
        let now = OffsetDateTime::parse("Wed, 25 Nov 2026 12:00:00 +0000", &Rfc2822).unwrap();
        let auth = ("authorization", "AWS4-HMAC-SHA256 ...");
        assert!(!too_skewed(&headers(&[auth, ("x-amz-date", "20261125T121400Z")]), now));
        assert!(too_skewed(&headers(&[auth, ("x-amz-date", "20261125T121600Z")]), now));
        assert!(too_skewed(
            &headers(&[auth, ("date", "Wed, 25 Nov 2026 11:40:00 GMT")]),
            now
        ));
        assert!(!too_skewed(
            &headers(&[auth, ("date", "Wed, 25 Nov 2026 11:50:00 GMT")]),
            now
        ));
        assert!(
            !too_skewed(&headers(&[("x-amz-date", "20261125T101600Z")]), now),
            "unsigned"
        );
        assert!(too_skewed(&headers(&[auth]), now), "no date");
        assert!(
            too_skewed(&headers(&[auth, ("date", "Wednesday, 25-Nov-26 12:00:00 GMT")]), now),
            "unreadable date"
        );
    }
}
