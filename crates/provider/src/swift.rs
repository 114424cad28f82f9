//! The `swift` provider: blobs as objects in one container of OpenStack Swift, through its
//! native API. Tokens come from TempAuth (v1.0) or Keystone v3 (password or application
//! credential); one is cached until shortly before it expires, and a 401 gets a fresh one.
//!
//! Multipart objects need nothing from Swift: the gateway keeps each part as its own blob and
//! the object's list of parts in the metadata store, which is what a Static Large Object
//! manifest would hold.

use std::ops::Range;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::TryStreamExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, RANGE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::sync::Mutex;

use crate::{BodyWatch, BoxError, ByteStream, Error, Provider, Result, Settings, SwiftAuth};

/// Characters left as they are in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// A token is renewed this long before it expires, so no request carries a dying one.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

#[derive(Clone)]
struct Session {
    token: SecretString,
    storage_url: String,
    expires: Option<Instant>,
}

pub struct SwiftProvider {
    http: reqwest::Client,
    /// For uploads, which Swift answers only once the whole body is in: no read timeout.
    upload: reqwest::Client,
    auth: SwiftAuth,
    auth_url: String,
    user: String,
    secret: SecretString,
    project: Option<String>,
    domain: String,
    region: String,
    container: String,
    session: Mutex<Option<Session>>,
}

impl SwiftProvider {
    pub fn new(settings: &Settings, secret: SecretString) -> Result<Self> {
        let ca = crate::settings::ca_pem(settings)?;
        let client = |read_timeout: Option<std::time::Duration>| {
            let mut http = reqwest::Client::builder()
                .connect_timeout(settings.connect_timeout())
                .pool_max_idle_per_host(settings.pool_max_idle)
                .tcp_nodelay(true);
            if let Some(timeout) = read_timeout {
                http = http.read_timeout(timeout);
            }
            if let Some(pem) = &ca {
                for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| Error::Config(e.to_string()))? {
                    http = http.add_root_certificate(cert);
                }
            }
            http.build().map_err(|e| Error::Config(e.to_string()))
        };
        Ok(Self {
            http: client(Some(settings.read_timeout()))?,
            upload: client(None)?,
            auth: settings.swift_auth,
            auth_url: settings.endpoint.trim_end_matches('/').to_owned(),
            user: settings.access_key.clone(),
            secret,
            project: settings.project.clone(),
            domain: settings.domain.clone().unwrap_or_else(|| "Default".to_owned()),
            region: settings.region.clone(),
            container: settings.bucket.clone(),
            session: Mutex::new(None),
        })
    }

    /// A valid token and storage URL, authenticating when there is none.
    async fn session(&self) -> Result<Session> {
        let mut cached = self.session.lock().await;
        if let Some(s) = cached.as_ref()
            && s.expires.is_none_or(|at| Instant::now() + RENEW_BEFORE < at)
        {
            return Ok(s.clone());
        }
        let fresh = match self.auth {
            SwiftAuth::Tempauth => self.tempauth().await?,
            SwiftAuth::KeystonePassword | SwiftAuth::KeystoneApplicationCredential => self.keystone().await?,
        };
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    /// Forgets `stale` (refused with 401) unless another request has already replaced it.
    async fn forget(&self, stale: &Session) {
        let mut cached = self.session.lock().await;
        if cached
            .as_ref()
            .is_some_and(|s| s.token.expose_secret() == stale.token.expose_secret())
        {
            *cached = None;
        }
    }

    async fn tempauth(&self) -> Result<Session> {
        let response = self
            .http
            .get(&self.auth_url)
            .header("X-Auth-User", &self.user)
            .header("X-Auth-Key", self.secret.expose_secret())
            .send()
            .await
            .map_err(|e| unreachable("authentication", &e))?;
        if !response.status().is_success() {
            return Err(refused("TempAuth", response.status()));
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let token = header("x-auth-token").ok_or_else(|| Error::Unavailable("TempAuth sent no token".into()))?;
        let storage_url =
            header("x-storage-url").ok_or_else(|| Error::Unavailable("TempAuth sent no storage URL".into()))?;
        let expires = header("x-auth-token-expires")
            .and_then(|s| s.parse::<u64>().ok())
            .and_then(|secs| Instant::now().checked_add(Duration::from_secs(secs)));
        Ok(Session {
            token: token.into(),
            storage_url,
            expires,
        })
    }

    async fn keystone(&self) -> Result<Session> {
        let body = keystone_request(
            self.auth,
            &self.user,
            self.secret.expose_secret(),
            self.project.as_deref(),
            &self.domain,
        );
        let response = self
            .http
            .post(format!("{}/auth/tokens", self.auth_url))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| unreachable("authentication", &e))?;
        if !response.status().is_success() {
            return Err(refused("Keystone", response.status()));
        }
        let token = response
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| Error::Unavailable("Keystone sent no token".into()))?;
        let answer: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.map_err(|e| unreachable("authentication", &e))?)
                .map_err(|e| Error::Unavailable(format!("Keystone's answer is not JSON: {e}")))?;
        let (storage_url, expires) = keystone_catalog(&answer, &self.region, time::OffsetDateTime::now_utc())?;
        Ok(Session {
            token: token.into(),
            storage_url,
            expires: Instant::now().checked_add(expires),
        })
    }

    fn container_url(&self, session: &Session) -> String {
        format!(
            "{}/{}",
            session.storage_url,
            utf8_percent_encode(&self.container, SEGMENT)
        )
    }

    fn object_url(&self, session: &Session, key: &str) -> String {
        format!("{}/{}", self.container_url(session), utf8_percent_encode(key, SEGMENT))
    }

    /// Sends a request that carries no body, again with a fresh token after a 401.
    async fn send(&self, what: &str, build: impl Fn(&Session) -> RequestBuilder) -> Result<Response> {
        let session = self.session().await?;
        let response = build(&session)
            .header("X-Auth-Token", session.token.expose_secret())
            .send()
            .await
            .map_err(|e| unreachable(what, &e))?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        self.forget(&session).await;
        let session = self.session().await?;
        build(&session)
            .header("X-Auth-Token", session.token.expose_secret())
            .send()
            .await
            .map_err(|e| unreachable(what, &e))
    }
}

/// The Keystone v3 token request.
fn keystone_request(
    auth: SwiftAuth,
    user: &str,
    secret: &str,
    project: Option<&str>,
    domain: &str,
) -> serde_json::Value {
    if auth == SwiftAuth::KeystoneApplicationCredential {
        // An application credential carries its own scope.
        return json!({"auth": {"identity": {
            "methods": ["application_credential"],
            "application_credential": {"id": user, "secret": secret},
        }}});
    }
    let identity = json!({
        "methods": ["password"],
        "password": {"user": {"name": user, "domain": {"name": domain}, "password": secret}},
    });
    match project {
        Some(project) => json!({"auth": {
            "identity": identity,
            "scope": {"project": {"name": project, "domain": {"name": domain}}},
        }}),
        None => json!({"auth": {"identity": identity}}),
    }
}

/// The public object-store endpoint (in `region`, when one is named) and how long the token
/// lives, from Keystone's token answer.
fn keystone_catalog(answer: &serde_json::Value, region: &str, now: time::OffsetDateTime) -> Result<(String, Duration)> {
    let token = &answer["token"];
    let no_endpoint = || Error::Unavailable("Keystone's catalog has no public object-store endpoint".into());
    let service = token["catalog"]
        .as_array()
        .and_then(|c| c.iter().find(|s| s["type"] == "object-store"))
        .ok_or_else(no_endpoint)?;
    let endpoint = service["endpoints"]
        .as_array()
        .and_then(|e| {
            e.iter().find(|e| {
                e["interface"] == "public" && (region.is_empty() || e["region_id"] == region || e["region"] == region)
            })
        })
        .and_then(|e| e["url"].as_str())
        .ok_or_else(no_endpoint)?;
    let expires = token["expires_at"]
        .as_str()
        .and_then(|s| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok())
        .map_or(Duration::from_secs(3600), |at| {
            Duration::try_from(at - now).unwrap_or(Duration::ZERO)
        });
    Ok((endpoint.trim_end_matches('/').to_owned(), expires))
}

fn unreachable(what: &str, e: &reqwest::Error) -> Error {
    Error::Unavailable(format!("swift {what}: {e}"))
}

fn refused(what: &str, status: StatusCode) -> Error {
    Error::Unavailable(format!("{what} refused the credentials ({status})"))
}

fn failed(what: &str, status: StatusCode) -> Error {
    Error::Unavailable(format!("swift {what} answered {status}"))
}

#[async_trait]
impl Provider for SwiftProvider {
    async fn put_blob(&self, key: &str, body: ByteStream, length: Option<u64>) -> Result<u64> {
        // A streamed body cannot be sent twice: the token is renewed ahead of its expiry
        // instead, and a 401 here only drops it for the next request.
        let session = self.session().await?;
        let watch = BodyWatch::default();
        let counted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = std::sync::Arc::clone(&counted);
        let body = watch.watch(body).inspect_ok(move |chunk| {
            counter.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
        });
        let mut request = self
            .upload
            .put(self.object_url(&session, key))
            .header("X-Auth-Token", session.token.expose_secret());
        // Without a length, reqwest sends the body chunked, which Swift takes.
        if let Some(length) = length {
            request = request.header(CONTENT_LENGTH, length);
        }
        let response = request
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .map_err(|e| watch.blame(unreachable("upload", &e)))?;
        match response.status() {
            StatusCode::CREATED => Ok(counted.load(std::sync::atomic::Ordering::Relaxed)),
            StatusCode::UNAUTHORIZED => {
                self.forget(&session).await;
                Err(refused("Swift", StatusCode::UNAUTHORIZED))
            }
            status => Err(watch.blame(failed("upload", status))),
        }
    }

    fn needs_length(&self) -> bool {
        false
    }

    async fn get_blob(&self, key: &str, range: Range<u64>) -> Result<ByteStream> {
        if range.is_empty() {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let bytes = format!("bytes={}-{}", range.start, range.end - 1);
        let response = self
            .send("download", |s| {
                self.http.get(self.object_url(s, key)).header(RANGE, &bytes)
            })
            .await?;
        match response.status() {
            StatusCode::PARTIAL_CONTENT => {}
            // A whole object in answer to a range is only right when the range starts at 0
            // and covers it; anything else would serve the wrong bytes.
            StatusCode::OK if range.start == 0 && response.content_length() == Some(range.end) => {}
            StatusCode::OK => return Err(Error::Unavailable("swift ignored the Range of a download".into())),
            StatusCode::NOT_FOUND => return Err(Error::NotFound(key.to_owned())),
            status => return Err(failed("download", status)),
        }
        let chunks = response.bytes_stream().map_err(BoxError::from);
        Ok(Box::pin(sync_wrapper::SyncStream::new(chunks)))
    }

    async fn delete_blob(&self, key: &str) -> Result<()> {
        let response = self
            .send("delete", |s| self.http.delete(self.object_url(s, key)))
            .await?;
        match response.status() {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            status => Err(failed("delete", status)),
        }
    }

    async fn health(&self) -> Result<()> {
        let response = self
            .send("health check", |s| self.http.head(self.container_url(s)))
            .await?;
        match response.status() {
            s if s.is_success() => Ok(()),
            status => Err(failed("container check", status)),
        }
    }

    async fn prepare(&self) -> Result<()> {
        let response = self
            .send("container creation", |s| {
                self.http
                    .request(Method::PUT, self.container_url(s))
                    .header(CONTENT_LENGTH, 0)
            })
            .await?;
        match response.status() {
            s if s.is_success() => Ok(()),
            status => Err(failed("container creation", status)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystone_requests() {
        let password = keystone_request(SwiftAuth::KeystonePassword, "u", "pw", Some("p"), "Default");
        assert_eq!(password["auth"]["identity"]["methods"][0], "password");
        assert_eq!(password["auth"]["identity"]["password"]["user"]["name"], "u");
        assert_eq!(password["auth"]["identity"]["password"]["user"]["password"], "pw");
        assert_eq!(password["auth"]["scope"]["project"]["name"], "p");
        let app = keystone_request(
            SwiftAuth::KeystoneApplicationCredential,
            "id1",
            "s",
            Some("p"),
            "Default",
        );
        assert_eq!(app["auth"]["identity"]["application_credential"]["id"], "id1");
        assert!(
            app["auth"]["scope"].is_null(),
            "application credentials carry their scope"
        );
    }

    #[test]
    fn keystone_catalog_picks_the_public_object_store() {
        let answer = json!({"token": {
            "expires_at": "2026-11-25T15:00:00.000000Z",
            "catalog": [
                {"type": "identity", "endpoints": [{"interface": "public", "region_id": "r1", "url": "http://k"}]},
                {"type": "object-store", "endpoints": [
                    {"interface": "internal", "region_id": "r1", "url": "http://int/v1/AUTH_p"},
                    {"interface": "public", "region_id": "r1", "url": "http://one/v1/AUTH_p"},
                    {"interface": "public", "region_id": "r2", "url": "http://two/v1/AUTH_p/"},
                ]},
            ],
        }});
        let now = time::macros::datetime!(2026-11-25 14:00 UTC);
        let (url, life) = keystone_catalog(&answer, "", now).unwrap();
        assert_eq!(
            (url.as_str(), life),
            ("http://one/v1/AUTH_p", Duration::from_secs(3600))
        );
        assert_eq!(keystone_catalog(&answer, "r2", now).unwrap().0, "http://two/v1/AUTH_p");
        assert!(keystone_catalog(&answer, "r3", now).is_err());
        assert!(keystone_catalog(&json!({"token": {}}), "", now).is_err());
    }
}
