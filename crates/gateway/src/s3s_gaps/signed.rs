//! What a signature must cover before s3s checks it, as AWS requires:
//!
//! - every `x-amz-*` header a SigV4 request carries is signed (`AccessDenied`, "There were
//!   headers present in the request which were not signed", with `HeadersNotSigned`), else
//!   the holder of a presigned URL or a captured request could add `x-amz-copy-source` or
//!   `x-amz-acl` to it; `x-amz-content-sha256` is exempt, as in S3: it is checked against
//!   the body, and for header signing it is the canonical request's payload hash anyway;
//! - `Host` is signed (else a request could be replayed against another endpoint);
//! - the credential scope names this region and the service `s3` (`AuthorizationHeaderMalformed`
//!   or, presigned, `AuthorizationQueryParametersError`);
//! - a presigned SigV4 URL lives at most 7 days (`X-Amz-Expires` <= 604800), and a presigned
//!   SigV2 URL expires at most 7 days from now (SigV2 has no limit of its own; this one is ours);
//! - a request uses one way of signing, not a header and a query string at once;
//! - the SigV4 algorithm is `AWS4-HMAC-SHA256` (s3s puts that name in the string to sign
//!   whatever the header says, so `AWS Credential=...` would pass its check);
//! - a SigV2 request names only the subresources its string to sign covers: s3s's
//!   canonical resource holds a subresource given once, and routes on newer ones it does not
//!   hold at all (`ownershipControls`, `publicAccessBlock`, ...), so `?acl&acl` or
//!   `?publicAccessBlock` added to a signed URL would change the operation. Those requests
//!   answer what AWS answers SigV2 for newer operations: use SigV4.
//!
//! SigV2's string to sign holds every `x-amz-*` header, so an added one breaks the signature.

use http::{HeaderMap, StatusCode, Uri};
use time::OffsetDateTime;

use super::Refusal;

/// The longest a presigned URL may stay valid, as in S3.
pub const MAX_PRESIGNED_SECS: i64 = 7 * 24 * 3600;

pub fn check(uri: &Uri, headers: &HeaderMap, region: Option<&str>, now: OffsetDateTime) -> Result<(), Refusal> {
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| crate::authz::form_pairs(q).collect())
        .unwrap_or_default();
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let authorization: Vec<&str> = headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{0}"))
        .collect();
    let v4_query = param("X-Amz-Algorithm").is_some() || param("X-Amz-Signature").is_some();
    let v2_query = param("Signature").is_some() || param("AWSAccessKeyId").is_some();
    let mechanisms = usize::from(!authorization.is_empty()) + usize::from(v4_query) + usize::from(v2_query);
    if mechanisms > 1 || authorization.len() > 1 {
        return Err(Refusal::new(
            "InvalidArgument",
            StatusCode::BAD_REQUEST,
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string \
             parameter or the Authorization header should be specified",
        ));
    }
    if let Some(header) = authorization.first() {
        // s3s's test for SigV2: `AWS ` and an `ACCESS_KEY:SIGNATURE`.
        if header.strip_prefix("AWS ").is_some_and(|rest| rest.contains(':')) {
            return sigv2_query(&query);
        }
        let malformed = |why: &str| {
            Refusal::new(
                "AuthorizationHeaderMalformed",
                StatusCode::BAD_REQUEST,
                format!("The authorization header is malformed; {why}"),
            )
        };
        let fields = v4_fields(header).ok_or_else(|| malformed("it is not a SigV4 Authorization header."))?;
        let credential = fields
            .credential
            .ok_or_else(|| malformed("the Credential is missing."))?;
        let signed = fields
            .signed_headers
            .ok_or_else(|| malformed("SignedHeaders is missing."))?;
        scope(credential, region).map_err(|why| {
            let r = malformed(&why.message());
            match why {
                Scope::Region { .. } => r.with("Region", region.unwrap_or_default()),
                _ => r,
            }
        })?;
        return signed_headers(signed, headers);
    }
    if v4_query {
        let refuse =
            |message: String| Refusal::new("AuthorizationQueryParametersError", StatusCode::BAD_REQUEST, message);
        if let Some(credential) = param("X-Amz-Credential") {
            scope(credential, region).map_err(|why| {
                let r = refuse(format!(
                    "Error parsing the X-Amz-Credential parameter; {}",
                    why.message()
                ));
                match why {
                    Scope::Region { .. } => r.with("Region", region.unwrap_or_default()),
                    _ => r,
                }
            })?;
        }
        if let Some(expires) = param("X-Amz-Expires") {
            match expires.parse::<i64>() {
                Ok(secs) if secs < 0 => return Err(refuse("X-Amz-Expires must be non-negative".into())),
                Ok(secs) if secs > MAX_PRESIGNED_SECS => {
                    return Err(refuse(format!(
                        "X-Amz-Expires must be less than a week (in seconds) that is; the given X-Amz-Expires must \
                         be less than {MAX_PRESIGNED_SECS} seconds"
                    )));
                }
                Ok(_) => {}
                Err(_) => return Err(refuse("X-Amz-Expires should be a number".into())),
            }
        }
        // s3s refuses a presigned URL without X-Amz-SignedHeaders.
        return param("X-Amz-SignedHeaders").map_or(Ok(()), |signed| signed_headers(signed, headers));
    }
    if !v2_query {
        return Ok(());
    }
    if let Some(expires) = param("Expires")
        && expires
            .parse::<i64>()
            .is_ok_and(|at| at - now.unix_timestamp() > MAX_PRESIGNED_SECS)
    {
        return Err(Refusal::new(
            "AuthorizationQueryParametersError",
            StatusCode::BAD_REQUEST,
            format!("Expires must be less than a week ({MAX_PRESIGNED_SECS} seconds) in the future"),
        ));
    }
    sigv2_query(&query)
}

/// The subresources s3s 0.14 puts in SigV2's canonical resource.
const SIGV2_SIGNED: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// Query parameters s3s routes on that SigV2's canonical resource does not hold.
const SIGV2_UNSIGNED_ROUTES: &[&str] = &[
    "attributes",
    "encryption",
    "id",
    "intelligent-tiering",
    "legal-hold",
    "metadataTable",
    "ownershipControls",
    "policyStatus",
    "publicAccessBlock",
    "retention",
    "session",
];

/// Refuses a SigV2 request whose query could pick an operation its signature does not cover.
fn sigv2_query(query: &[(String, String)]) -> Result<(), Refusal> {
    let count = |name: &str| query.iter().filter(|(k, _)| k == name).count();
    let uncovered = query.iter().any(|(k, _)| SIGV2_UNSIGNED_ROUTES.contains(&k.as_str()))
        || SIGV2_SIGNED.iter().any(|name| count(name) > 1);
    if uncovered {
        return Err(Refusal::new(
            "InvalidRequest",
            StatusCode::BAD_REQUEST,
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
        ));
    }
    Ok(())
}

/// The parts of `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` this
/// check needs.
struct V4Fields<'a> {
    credential: Option<&'a str>,
    signed_headers: Option<&'a str>,
}

fn v4_fields(header: &str) -> Option<V4Fields<'_>> {
    let (algorithm, rest) = header.split_once(' ')?;
    if algorithm != "AWS4-HMAC-SHA256" {
        return None;
    }
    let mut fields = V4Fields {
        credential: None,
        signed_headers: None,
    };
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => fields.credential = Some(v),
            Some(("SignedHeaders", v)) => fields.signed_headers = Some(v),
            _ => {}
        }
    }
    Some(fields)
}

/// Why a credential scope (`KEY/DATE/REGION/SERVICE/aws4_request`) is not for us.
enum Scope {
    Malformed,
    Region { theirs: String, ours: String },
    Service(String),
    Terminator(String),
}

impl Scope {
    fn message(&self) -> String {
        match self {
            Self::Malformed => {
                "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".".into()
            }
            Self::Region { theirs, ours } => format!("the region '{theirs}' is wrong; expecting '{ours}'"),
            Self::Service(s) => format!("incorrect service \"{s}\". This endpoint belongs to \"s3\"."),
            Self::Terminator(t) => format!("incorrect terminal \"{t}\". This endpoint uses \"aws4_request\"."),
        }
    }
}

/// Why a credential scope is not for this endpoint, in AWS's words; for form uploads, which
/// carry theirs in a field.
pub fn credential_scope(credential: &str, region: Option<&str>) -> Result<(), String> {
    scope(credential, region).map_err(|why| why.message())
}

fn scope(credential: &str, region: Option<&str>) -> Result<(), Scope> {
    let mut parts = credential.rsplitn(5, '/');
    let (Some(terminator), Some(service), Some(their_region), Some(_date), Some(_key)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Scope::Malformed);
    };
    if let Some(region) = region
        && their_region != region
    {
        return Err(Scope::Region {
            theirs: their_region.to_owned(),
            ours: region.to_owned(),
        });
    }
    if service != "s3" {
        return Err(Scope::Service(service.to_owned()));
    }
    if terminator != "aws4_request" {
        return Err(Scope::Terminator(terminator.to_owned()));
    }
    Ok(())
}

/// `Host` and every `x-amz-*` header present must be in the semicolon-separated `signed`.
fn signed_headers(signed: &str, headers: &HeaderMap) -> Result<(), Refusal> {
    let signed: Vec<&str> = signed.split(';').collect();
    let mut unsigned: Vec<&str> = headers
        .keys()
        .map(http::HeaderName::as_str)
        .filter(|name| name.starts_with("x-amz-") && *name != "x-amz-content-sha256")
        .filter(|name| !signed.contains(name))
        .collect();
    if !signed.contains(&"host") {
        unsigned.insert(0, "host");
    }
    if unsigned.is_empty() {
        return Ok(());
    }
    Err(Refusal::new(
        "AccessDenied",
        StatusCode::FORBIDDEN,
        "There were headers present in the request which were not signed",
    )
    .with("HeadersNotSigned", unsigned.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(uri: &str, headers: &[(&str, &str)]) -> Result<(), Refusal> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        check(&uri.parse().unwrap(), &map, Some("us-east-1"), now)
    }

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AK/20261130/us-east-1/s3/aws4_request, \
                        SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=abc";

    #[test]
    fn every_x_amz_header_must_be_signed() {
        let base = [
            ("authorization", AUTH),
            ("x-amz-date", "20261130T000000Z"),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        ];
        assert_eq!(run("/b/k", &base), Ok(()));
        let mut added = base.to_vec();
        added.push(("x-amz-copy-source", "other/secret"));
        added.push(("x-amz-acl", "public-read"));
        added.push(("x-amzn-trace-id", "not an x-amz- header"));
        let r = run("/b/k", &added).unwrap_err();
        assert_eq!((r.code, r.status), ("AccessDenied", StatusCode::FORBIDDEN));
        assert_eq!(
            r.extra,
            Some(("HeadersNotSigned", "x-amz-copy-source, x-amz-acl".into()))
        );
        let no_host = AUTH.replace("host;", "");
        let r = run(
            "/b/k",
            &[
                ("authorization", &no_host),
                ("x-amz-date", "x"),
                ("x-amz-content-sha256", "x"),
            ],
        );
        assert_eq!(r.unwrap_err().extra, Some(("HeadersNotSigned", "host".into())));
        // Presigned: the same rule over X-Amz-SignedHeaders; x-amz-content-sha256 may be unsigned.
        let presigned = "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20261130%2Fus-east-1%2Fs3%2Faws4_request\
                         &X-Amz-Date=20261130T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=abc";
        assert_eq!(run(presigned, &[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]), Ok(()));
        let r = run(presigned, &[("x-amz-meta-a", "b")]).unwrap_err();
        assert_eq!(r.extra, Some(("HeadersNotSigned", "x-amz-meta-a".into())));
        // Anonymous requests and SigV2 are not judged here.
        assert_eq!(run("/b/k", &[("x-amz-acl", "public-read")]), Ok(()));
        assert_eq!(
            run("/b/k", &[("authorization", "AWS AK:sig"), ("x-amz-acl", "x")]),
            Ok(())
        );
        // A SigV4 header under another algorithm name (s3s checks it as SigV4 all the same).
        let renamed = AUTH.replace("AWS4-HMAC-SHA256 ", "AWS ");
        let r = run("/b/k", &[("authorization", &renamed), ("x-amz-acl", "x")]).unwrap_err();
        assert_eq!(r.code, "AuthorizationHeaderMalformed");
        let renamed = AUTH.replace("AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA512 ");
        assert!(run("/b/k", &[("authorization", &renamed)]).is_err());
    }

    #[test]
    fn sigv2_requests_name_only_what_their_signature_covers() {
        let v2 = [("authorization", "AWS AK:sig")];
        assert_eq!(run("/b/k?acl", &v2), Ok(()));
        assert_eq!(run("/b/k?acl&acl", &v2).unwrap_err().code, "InvalidRequest");
        assert_eq!(run("/b?publicAccessBlock", &v2).unwrap_err().code, "InvalidRequest");
        assert_eq!(run("/b?ownershipControls", &v2).unwrap_err().code, "InvalidRequest");
        assert_eq!(run("/b?prefix=a&max-keys=5&list-type=2", &v2), Ok(()));
        let presigned = "/b/k?AWSAccessKeyId=AK&Expires=1800000100&Signature=s";
        assert_eq!(run(presigned, &[]), Ok(()));
        assert_eq!(
            run(&format!("{presigned}&tagging&tagging"), &[]).unwrap_err().code,
            "InvalidRequest"
        );
        assert_eq!(
            run(&format!("{presigned}&retention"), &[]).unwrap_err().code,
            "InvalidRequest"
        );
    }

    #[test]
    fn scope_expiry_and_one_mechanism() {
        let other_region = AUTH.replace("us-east-1", "eu-west-1");
        let r = run("/", &[("authorization", &other_region)]).unwrap_err();
        assert_eq!(
            (r.code, r.status),
            ("AuthorizationHeaderMalformed", StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            r.message,
            "The authorization header is malformed; the region 'eu-west-1' is wrong; expecting 'us-east-1'"
        );
        assert_eq!(r.extra, Some(("Region", "us-east-1".into())));
        let sts = AUTH.replace("/s3/", "/sts/");
        assert_eq!(
            run("/", &[("authorization", &sts)]).unwrap_err().code,
            "AuthorizationHeaderMalformed"
        );
        let short = AUTH.replace("AK/20261130/", "");
        assert_eq!(
            run("/", &[("authorization", &short)]).unwrap_err().code,
            "AuthorizationHeaderMalformed"
        );
        let q = |extra: &str| {
            format!(
                "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20261130%2F{extra}\
                 &X-Amz-SignedHeaders=host&X-Amz-Signature=abc"
            )
        };
        let r = run(&q("us-east-1%2Fs3%2Faws4_request&X-Amz-Expires=604801"), &[]).unwrap_err();
        assert_eq!(
            (r.code, r.status),
            ("AuthorizationQueryParametersError", StatusCode::BAD_REQUEST)
        );
        assert!(run(&q("us-east-1%2Fs3%2Faws4_request&X-Amz-Expires=604800"), &[]).is_ok());
        assert!(run(&q("us-east-1%2Fs3%2Faws4_request&X-Amz-Expires=-1"), &[]).is_err());
        let r = run(&q("us-west-2%2Fs3%2Faws4_request&X-Amz-Expires=60"), &[]).unwrap_err();
        assert_eq!(r.code, "AuthorizationQueryParametersError");
        assert_eq!(r.extra, Some(("Region", "us-east-1".into())));
        // SigV2 presigned: at most a week ahead.
        let v2 = |at: i64| format!("/b/k?AWSAccessKeyId=AK&Expires={at}&Signature=x");
        assert!(run(&v2(1_800_000_000 + MAX_PRESIGNED_SECS), &[]).is_ok());
        assert!(run(&v2(1_800_000_000 + MAX_PRESIGNED_SECS + 1), &[]).is_err());
        // Two mechanisms, or two Authorization headers.
        let both = format!("{}&x=1", q("us-east-1%2Fs3%2Faws4_request"));
        assert_eq!(
            run(&both, &[("authorization", AUTH)]).unwrap_err().code,
            "InvalidArgument"
        );
        assert_eq!(
            run("/", &[("authorization", AUTH), ("authorization", AUTH)])
                .unwrap_err()
                .code,
            "InvalidArgument"
        );
    }
}
