//! A small hand-signing HTTP client, for requests SDKs will not send: headers added after
//! signing, signatures for another region or service, unsigned `Host`, presigned URLs valid
//! for longer than S3 allows, SigV2 by hand, and bodies sent over a raw socket.

use std::io::{Read as _, Write as _};
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Keys and a credential scope to sign with.
#[derive(Clone)]
pub struct Signer {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    pub service: String,
}

/// A request to sign and send: method, path (already percent-encoded), query pairs (raw),
/// headers and body.
#[derive(Clone, Default)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.into(),
            path: path.into(),
            ..Self::default()
        }
    }

    #[must_use]
    pub fn query(mut self, k: &str, v: &str) -> Self {
        self.query.push((k.into(), v.into()));
        self
    }

    #[must_use]
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_ascii_lowercase(), v.into()));
        self
    }

    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// S3's URI encoding of one query component (every byte but unreserved ones).
pub fn encode(s: &str) -> String {
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn amz_date(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

impl Signer {
    pub fn s3(access_key: &str, secret_key: &str) -> Self {
        Self {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            region: "us-east-1".into(),
            service: "s3".into(),
        }
    }

    fn scope(&self, date: &str) -> String {
        format!("{}/{}/{}/aws4_request", &date[..8], self.region, self.service)
    }

    fn signature(&self, date: &str, canonical: &str) -> String {
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{date}\n{}\n{}",
            self.scope(date),
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut key = format!("AWS4{}", self.secret_key).into_bytes();
        for part in [&date[..8], &self.region, &self.service, "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        hex::encode(hmac(&key, to_sign.as_bytes()))
    }

    /// Signs `req` for `host` with SigV4 in the Authorization header, over `host`,
    /// `x-amz-content-sha256`, `x-amz-date` and every header the request already has; `host`
    /// left out when `sign_host` is false.
    pub fn sign(&self, mut req: Req, host: &str, sign_host: bool) -> Req {
        let date = amz_date(SystemTime::now());
        let payload = if req.headers.iter().any(|(k, _)| k == "x-amz-content-sha256") {
            req.headers
                .iter()
                .find(|(k, _)| k == "x-amz-content-sha256")
                .unwrap()
                .1
                .clone()
        } else {
            let hash = hex::encode(Sha256::digest(&req.body));
            req.headers.push(("x-amz-content-sha256".into(), hash.clone()));
            hash
        };
        req.headers.push(("x-amz-date".into(), date.clone()));
        let mut signed: Vec<(String, String)> = req.headers.clone();
        if sign_host {
            signed.push(("host".into(), host.into()));
        }
        signed.sort();
        let canonical_headers: String = signed.iter().map(|(k, v)| format!("{k}:{}\n", v.trim())).collect();
        let names = signed.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
        let canonical = format!(
            "{}\n{}\n{}\n{canonical_headers}\n{names}\n{payload}",
            req.method,
            req.path,
            canonical_query(&req.query)
        );
        let signature = self.signature(&date, &canonical);
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={names}, Signature={signature}",
            self.access_key,
            self.scope(&date)
        );
        req.headers.push(("authorization".into(), auth));
        req
    }

    /// A presigned SigV4 URL query for `req`, signing only `host`, valid for `expires` seconds.
    pub fn presign(&self, mut req: Req, host: &str, expires: i64) -> Req {
        let date = amz_date(SystemTime::now());
        req.query.extend([
            ("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()),
            (
                "X-Amz-Credential".into(),
                format!("{}/{}", self.access_key, self.scope(&date)),
            ),
            ("X-Amz-Date".into(), date.clone()),
            ("X-Amz-Expires".into(), expires.to_string()),
            ("X-Amz-SignedHeaders".into(), "host".into()),
        ]);
        let canonical = format!(
            "{}\n{}\n{}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD",
            req.method,
            req.path,
            canonical_query(&req.query)
        );
        let signature = self.signature(&date, &canonical);
        req.query.push(("X-Amz-Signature".into(), signature));
        req
    }

    /// Signs `req` with SigV2 in the Authorization header (path-style `resource`, which
    /// includes any subresource).
    pub fn sign_v2(&self, mut req: Req, resource: &str) -> Req {
        let date = httpdate(SystemTime::now());
        req.headers.push(("date".into(), date.clone()));
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let mut amz: Vec<(String, String)> = req
            .headers
            .iter()
            .filter(|(k, _)| k.starts_with("x-amz-"))
            .cloned()
            .collect();
        amz.sort();
        let amz: String = amz.iter().map(|(k, v)| format!("{k}:{}\n", v.trim())).collect();
        let to_sign = format!(
            "{}\n{}\n{}\n{date}\n{amz}{resource}",
            req.method,
            header("content-md5"),
            header("content-type")
        );
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(self.secret_key.as_bytes()).unwrap();
        mac.update(to_sign.as_bytes());
        use base64::Engine as _;
        let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        req.headers
            .push(("authorization".into(), format!("AWS {}:{signature}", self.access_key)));
        req
    }

    /// A presigned SigV2 URL query for `req`, expiring at `expires` (epoch seconds).
    pub fn presign_v2(&self, mut req: Req, resource: &str, expires: i64) -> Req {
        let to_sign = format!("{}\n\n\n{expires}\n{resource}", req.method);
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(self.secret_key.as_bytes()).unwrap();
        mac.update(to_sign.as_bytes());
        use base64::Engine as _;
        let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        req.query.extend([
            ("AWSAccessKeyId".into(), self.access_key.clone()),
            ("Expires".into(), expires.to_string()),
            ("Signature".into(), signature),
        ]);
        req
    }
}

fn httpdate(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    t.format(time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap()
}

/// What came back: status, headers (lower-case names) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The text of element `<name>` in the body, if any.
    pub fn element(&self, name: &str) -> Option<&str> {
        let open = format!("<{name}>");
        let start = self.body.find(&open)? + open.len();
        let end = self.body[start..].find(&format!("</{name}>"))?;
        Some(&self.body[start..start + end])
    }

    pub fn code(&self) -> &str {
        self.element("Code").unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Sends `req` to `endpoint` (`http://host:port`) as it is.
pub async fn send(endpoint: &str, req: &Req) -> Answer {
    let mut url = format!("{endpoint}{}", req.path);
    if !req.query.is_empty() {
        url.push('?');
        url.push_str(&canonical_query(&req.query));
    }
    let client = reqwest::Client::new();
    let mut r = client.request(req.method.parse().unwrap(), url).body(req.body.clone());
    for (k, v) in &req.headers {
        r = r.header(k, v);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let body = resp.text().await.unwrap_or_default();
    Answer { status, headers, body }
}

/// `host:port` of an endpoint URL.
pub fn host_of(endpoint: &str) -> String {
    endpoint.trim_start_matches("http://").trim_end_matches('/').to_owned()
}

/// Writes `head` then `body` parts to a fresh connection (pausing `pause` between parts),
/// reading at the same time, and returns what the server answered (it may answer before the
/// body is sent), or `None` if it sent nothing within `wait`.
pub fn raw_exchange(addr: &str, head: &str, parts: &[&[u8]], pause: Duration, wait: Duration) -> Option<String> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_write_timeout(Some(wait)).unwrap();
    let mut reader = s.try_clone().unwrap();
    reader.set_read_timeout(Some(wait)).unwrap();
    let read = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        // Until the first answer is complete enough to judge, or the connection ends.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&out);
            if text.contains("</Error>") || (text.contains("\r\n\r\n") && text.contains("content-length: 0")) {
                break;
            }
        }
        out
    });
    if s.write_all(head.as_bytes()).is_ok() {
        for part in parts {
            if s.write_all(part).is_err() {
                break;
            }
            std::thread::sleep(pause);
        }
    }
    let out = read.join().unwrap();
    (!out.is_empty()).then(|| String::from_utf8_lossy(&out).into_owned())
}
