//! SigV4 verification where s3s does not do it: IAM and STS requests (s3s refuses the `iam`
//! service in a credential scope), checked over the form body; and POST form uploads, whose
//! signature is over the policy document (`crate::s3::post_object`).

use hmac::{Hmac, Mac};
use http::{HeaderMap, Method, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// What SigV4 leaves unescaped: letters, digits and `-_.~`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, PartialEq, Eq)]
pub struct Authorization {
    pub access_key: String,
    /// `date/region/service/aws4_request`.
    pub scope: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

pub fn parse_authorization(header: &str) -> Option<Authorization> {
    let rest = header.strip_prefix("AWS4-HMAC-SHA256")?.trim();
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let (access_key, scope) = credential?.split_once('/')?;
    let service = scope.split('/').nth(2)?.to_owned();
    Some(Authorization {
        access_key: access_key.to_owned(),
        scope: scope.to_owned(),
        service,
        signed_headers: signed?.split(';').map(str::to_owned).collect(),
        signature: signature?.to_owned(),
    })
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn canonical_query(uri: &Uri) -> String {
    let mut pairs: Vec<(String, String)> = uri
        .query()
        .map(|q| crate::authz::form_pairs(q).collect::<Vec<(String, String)>>())
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            (
                utf8_percent_encode(&k, UNRESERVED).to_string(),
                utf8_percent_encode(&v, UNRESERVED).to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Whether `auth.signature` is the SigV4 signature of this request under `secret`.
pub fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    auth: &Authorization,
    secret: &str,
) -> bool {
    let Some(amz_date) = headers.get("x-amz-date").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut canonical_headers = String::new();
    for name in &auth.signed_headers {
        let value = match (name.as_str(), headers.get(name.as_str())) {
            (_, Some(v)) => v.to_str().unwrap_or_default().to_owned(),
            // HTTP/2 carries the host in the URI's authority.
            ("host", None) => uri.authority().map(ToString::to_string).unwrap_or_default(),
            _ => return false,
        };
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    let canonical = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{}\n{}",
        uri.path(),
        canonical_query(uri),
        auth.signed_headers.join(";"),
        hex::encode(Sha256::digest(body)),
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}\n{}",
        auth.scope,
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    signature_matches(secret, &auth.scope, &string_to_sign, &auth.signature)
}

/// Whether `signature` (hex) signs `string_to_sign` with the key `secret` derives for `scope`
/// (`date/region/service/aws4_request`); compared in constant time.
pub fn signature_matches(secret: &str, scope: &str, string_to_sign: &str, signature: &str) -> bool {
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in scope.split('/') {
        key = hmac(&key, part.as_bytes());
    }
    let Ok(given) = hex::decode(signature) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IAM example from AWS's SigV4 documentation ("Signature Version 4 test suite" style).
    #[test]
    fn verifies_the_documented_example() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
                      SignedHeaders=content-type;host;x-amz-date, \
                      Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
        let auth = parse_authorization(header).unwrap();
        assert_eq!(auth.service, "iam");
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8".parse().unwrap(),
        );
        headers.insert("host", "iam.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let uri: Uri = "/?Action=ListUsers&Version=2010-05-08".parse().unwrap();
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        assert!(verify(&Method::GET, &uri, &headers, b"", &auth, secret));
        assert!(!verify(&Method::GET, &uri, &headers, b"", &auth, "wrong"));
        assert!(!verify(&Method::GET, &uri, &headers, b"tampered", &auth, secret));
    }
}
