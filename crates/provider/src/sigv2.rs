//! AWS Signature Version 2, for S3 services that know no other (RiakCS). aws-sdk-s3 only
//! signs with SigV4, so this interceptor replaces its signature just before the request goes
//! out.

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;

/// Query parameters that are part of what SigV2 signs (the "sub-resources").
const SUBRESOURCES: &[&str] = &[
    "acl",
    "cors",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

#[derive(Debug)]
pub(crate) struct SigV2 {
    pub access_key: String,
    pub secret_key: SecretString,
    /// With virtual-host addressing the bucket is in the host name, but SigV2 signs it in
    /// the resource.
    pub virtual_host_bucket: Option<String>,
}

impl Intercept for SigV2 {
    fn name(&self) -> &'static str {
        "SigV2"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let now = components
            .time_source()
            .map_or_else(std::time::SystemTime::now, |t| t.now());
        let date = http_date(now);
        let request = context.request_mut();
        let headers = request.headers_mut();
        // What the SigV4 signer added means nothing to a SigV2 service.
        for name in ["authorization", "x-amz-date", "x-amz-content-sha256"] {
            headers.remove(name);
        }
        headers.insert("date", date.clone());
        let header = |name: &str| headers.get(name).unwrap_or_default().to_owned();
        let mut amz: Vec<(String, String)> = headers
            .iter()
            .filter(|(name, _)| name.to_ascii_lowercase().starts_with("x-amz-"))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        amz.sort();
        let (content_md5, content_type) = (header("content-md5"), header("content-type"));
        let method = request.method().to_owned();
        let resource = canonical_resource(request.uri(), self.virtual_host_bucket.as_deref());
        let to_sign = string_to_sign(&method, &content_md5, &content_type, &date, &amz, &resource);
        let signature = sign(self.secret_key.expose_secret(), &to_sign);
        request
            .headers_mut()
            .insert("authorization", format!("AWS {}:{signature}", self.access_key));
        Ok(())
    }
}

fn http_date(t: std::time::SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&format).expect("a date always formats")
}

fn string_to_sign(
    method: &str,
    content_md5: &str,
    content_type: &str,
    date: &str,
    amz_headers: &[(String, String)],
    resource: &str,
) -> String {
    let mut out = format!("{method}\n{content_md5}\n{content_type}\n{date}\n");
    for (name, value) in amz_headers {
        out.push_str(&format!("{name}:{value}\n"));
    }
    out.push_str(resource);
    out
}

/// The path as sent (still percent-encoded), after the bucket when it is in the host name, and
/// the signed sub-resources in name order.
fn canonical_resource(uri: &str, virtual_host_bucket: Option<&str>) -> String {
    let after_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let path_and_query = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let mut out = match virtual_host_bucket {
        Some(bucket) => format!("/{bucket}{path}"),
        None => path.to_owned(),
    };
    let mut params: Vec<(String, Option<String>)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (name, value) = match p.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (p, None),
            };
            let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
            SUBRESOURCES
                .contains(&name)
                .then(|| (name.to_owned(), value.map(decode)))
        })
        .collect();
    params.sort();
    for (i, (name, value)) in params.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(name);
        if let Some(v) = value {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

fn sign(secret: &str, string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    /// The examples of the S3 SigV2 documentation ("Signing and authenticating REST requests").
    #[test]
    fn documented_examples() {
        let get = string_to_sign(
            "GET",
            "",
            "",
            "Tue, 27 Mar 2007 19:36:42 +0000",
            &[],
            &canonical_resource("https://s3.amazonaws.com/photos/puppy.jpg", Some("johnsmith")),
        );
        assert_eq!(
            get,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg"
        );
        assert_eq!(sign(SECRET, &get), "bWq2s1WEIj+Ydj0vQ697zp+IXMU=");

        let put = string_to_sign(
            "PUT",
            "",
            "image/jpeg",
            "Tue, 27 Mar 2007 21:15:45 +0000",
            &[],
            &canonical_resource("https://s3.amazonaws.com/johnsmith/photos/puppy.jpg", None),
        );
        assert_eq!(sign(SECRET, &put), "MyyxeRY7whkBe+bq8fHCL/2kKUg=");

        let list = string_to_sign(
            "GET",
            "",
            "",
            "Tue, 27 Mar 2007 19:42:41 +0000",
            &[],
            &canonical_resource(
                "https://s3.amazonaws.com/johnsmith/?prefix=photos&max-keys=50&marker=puppy",
                None,
            ),
        );
        assert_eq!(sign(SECRET, &list), "htDYFYduRNen8P9ZfE/s9SuKy0U=");

        let acl = string_to_sign(
            "GET",
            "",
            "",
            "Tue, 27 Mar 2007 19:44:46 +0000",
            &[],
            &canonical_resource("https://s3.amazonaws.com/johnsmith/?acl", None),
        );
        assert_eq!(acl, "GET\n\n\nTue, 27 Mar 2007 19:44:46 +0000\n/johnsmith/?acl");
        assert_eq!(sign(SECRET, &acl), "c2WLPFtWHVgbEmeEG93a4cG37dM=");
    }

    #[test]
    fn amz_headers_and_subresources_are_canonical() {
        let amz = [
            ("x-amz-meta-a".to_owned(), "1".to_owned()),
            ("x-amz-user-agent".to_owned(), "x".to_owned()),
        ];
        let s = string_to_sign(
            "PUT",
            "md5",
            "text/plain",
            "D",
            &amz,
            &canonical_resource("http://h:1/b/k?x-id=PutObject&uploadId=u%2B1&partNumber=2", None),
        );
        assert_eq!(
            s,
            "PUT\nmd5\ntext/plain\nD\nx-amz-meta-a:1\nx-amz-user-agent:x\n/b/k?partNumber=2&uploadId=u+1"
        );
        assert_eq!(http_date(std::time::UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
