//! CORS: the configuration API, preflights and the headers on answers, by raw HTTP (what any
//! browser or attacker sends), then a real browser (headless Chromium driven through
//! chromedriver) uploading to and reading from the gateway from a page on another origin.

use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use reqwest::Method;

use crate::common::*;

fn rule(origins: &[&str], methods: &[&str], headers: &[&str], expose: &[&str]) -> CorsRule {
    let mut r = CorsRule::builder().max_age_seconds(600);
    for o in origins {
        r = r.allowed_origins(*o);
    }
    for m in methods {
        r = r.allowed_methods(*m);
    }
    for h in headers {
        r = r.allowed_headers(*h);
    }
    for e in expose {
        r = r.expose_headers(*e);
    }
    r.build().unwrap()
}

fn config(rules: Vec<CorsRule>) -> CorsConfiguration {
    CorsConfiguration::builder()
        .set_cors_rules(Some(rules))
        .build()
        .unwrap()
}

/// An OPTIONS preflight (no credentials, as browsers send it).
async fn preflight(url: &str, origin: Option<&str>, method: Option<&str>, headers: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().request(Method::OPTIONS, url);
    for (name, value) in [
        ("origin", origin),
        ("access-control-request-method", method),
        ("access-control-request-headers", headers),
    ] {
        if let Some(v) = value {
            req = req.header(name, v);
        }
    }
    req.send().await.unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers().get(name).map(|v| v.to_str().unwrap().to_owned())
}

async fn error_code(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    let code = body
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.to_owned())
        .unwrap_or(body);
    (status, code)
}

#[tokio::test]
async fn cors_configuration_preflights_and_answers() {
    let c = client();
    let b = new_bucket(&c, "cors").await;
    c.put_object()
        .bucket(&b)
        .key("k")
        .body(b"cors".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(c.get_bucket_cors().bucket(&b).send().await),
        ("NoSuchCORSConfiguration".into(), 404)
    );
    for refused in [
        rule(&["*"], &["PATCH"], &[], &[]),
        rule(&["http://*.*.test"], &["GET"], &[], &[]),
        rule(&["*"], &["GET"], &["x-*-*"], &[]),
    ] {
        let r = c
            .put_bucket_cors()
            .bucket(&b)
            .cors_configuration(config(vec![refused]))
            .send()
            .await;
        assert_eq!(error_of(r), ("InvalidRequest".into(), 400));
    }
    let page = "http://app.test:8080";
    let rules = vec![
        rule(&[page], &["PUT", "GET"], &["Content-Type", "x-amz-*"], &["ETag"]),
        rule(&["http://*.other.test"], &["GET"], &[], &[]),
        rule(&["*"], &["HEAD"], &[], &[]),
    ];
    c.put_bucket_cors()
        .bucket(&b)
        .cors_configuration(config(rules.clone()))
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_cors().bucket(&b).send().await.unwrap();
    assert_eq!(got.cors_rules(), rules.as_slice());

    let url = format!("{}/{b}/k", server().endpoint);
    // Allowed: the first matching rule's answer, the requested headers echoed.
    let ok = preflight(&url, Some(page), Some("PUT"), Some("Content-Type, X-Amz-Date")).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(header(&ok, "access-control-allow-origin").as_deref(), Some(page));
    assert_eq!(header(&ok, "access-control-allow-credentials").as_deref(), Some("true"));
    assert_eq!(header(&ok, "access-control-allow-methods").as_deref(), Some("PUT, GET"));
    assert_eq!(
        header(&ok, "access-control-allow-headers").as_deref(),
        Some("content-type, x-amz-date")
    );
    assert_eq!(header(&ok, "access-control-expose-headers").as_deref(), Some("ETag"));
    assert_eq!(header(&ok, "access-control-max-age").as_deref(), Some("600"));
    let any = preflight(&url, Some("http://elsewhere.test"), Some("HEAD"), None).await;
    assert_eq!(any.status(), 200);
    assert_eq!(header(&any, "access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(header(&any, "access-control-allow-credentials"), None);
    // Virtual-hosted style: the bucket in the Host.
    let addr = crate::raw::host_of(&server().endpoint);
    let head = format!(
        "OPTIONS /k HTTP/1.1\r\nHost: {b}.s3.localhost\r\nOrigin: {page}\r\n\
         Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n"
    );
    let wait = std::time::Duration::from_secs(5);
    let answer = crate::raw::raw_exchange(&addr, &head, &[], wait, wait)
        .unwrap()
        .to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert!(
        answer.contains(&format!("access-control-allow-origin: {page}\r\n")),
        "{answer}"
    );
    let wild = preflight(&url, Some("http://a.other.test"), Some("GET"), None).await;
    assert_eq!(
        header(&wild, "access-control-allow-origin").as_deref(),
        Some("http://a.other.test")
    );
    // Refused: a method, a header or an origin no rule allows.
    for (origin, method, headers) in [
        (page, "DELETE", None),
        (page, "PUT", Some("authorization")),
        ("http://app.test:8081", "PUT", None),
        ("http://other.test", "GET", None),
    ] {
        let r = preflight(&url, Some(origin), Some(method), headers).await;
        assert_eq!(header(&r, "access-control-allow-origin"), None);
        assert_eq!(
            error_code(r).await,
            (403, "AccessForbidden".into()),
            "{origin} {method} {headers:?}"
        );
    }
    // Incomplete preflights.
    assert_eq!(
        error_code(preflight(&url, None, Some("GET"), None).await).await,
        (400, "BadRequest".into())
    );
    assert_eq!(
        error_code(preflight(&url, Some(page), None, None).await).await,
        (400, "BadRequest".into())
    );
    // A bucket without CORS and one that does not exist answer alike.
    let plain = new_bucket(&c, "cors-none").await;
    let none = preflight(
        &format!("{}/{plain}/k", server().endpoint),
        Some(page),
        Some("GET"),
        None,
    )
    .await;
    let missing = preflight(
        &format!("{}/cors-missing-x/k", server().endpoint),
        Some(page),
        Some("GET"),
        None,
    )
    .await;
    let none_body = error_code(none).await;
    assert_eq!(none_body, (403, "AccessForbidden".into()));
    assert_eq!(error_code(missing).await, none_body);

    // Actual requests: the headers go on answers, errors included, for an allowed origin only.
    let http = reqwest::Client::new();
    let anonymous = http.get(&url).header("origin", page).send().await.unwrap();
    assert_eq!(anonymous.status(), 403);
    assert_eq!(header(&anonymous, "access-control-allow-origin").as_deref(), Some(page));
    assert_eq!(
        header(&anonymous, "access-control-expose-headers").as_deref(),
        Some("ETag")
    );
    assert!(header(&anonymous, "vary").is_some_and(|v| v.contains("Origin")));
    let stranger = http
        .get(&url)
        .header("origin", "http://evil.test")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&stranger, "access-control-allow-origin"), None);
    let presigned = c
        .get_object()
        .bucket(&b)
        .key("k")
        .presigned(aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let read = http.get(presigned.uri()).header("origin", page).send().await.unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(header(&read, "access-control-allow-origin").as_deref(), Some(page));
    assert_eq!(read.bytes().await.unwrap().as_ref(), b"cors");

    let deleted = c.delete_bucket_cors().bucket(&b).send().await;
    assert!(deleted.is_ok(), "{deleted:?}");
    assert_eq!(
        error_code(preflight(&url, Some(page), Some("GET"), None).await).await,
        (403, "AccessForbidden".into())
    );
    let after = http.get(&url).header("origin", page).send().await.unwrap();
    assert_eq!(header(&after, "access-control-allow-origin"), None);
}

/// Serves `page` at every path of `listener` (the web application's origin).
async fn serve_page(listener: tokio::net::TcpListener, page: &'static str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.ends_with(b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        });
    }
}

/// Headless Chromium through chromedriver's WebDriver endpoint (`scripts/testbed/browser`).
struct Browser {
    _driver: Osg,
    http: reqwest::Client,
    port: u16,
    session: String,
}

impl Browser {
    async fn start() -> Self {
        let path = |var: &str, name: &str| {
            std::env::var(var).unwrap_or_else(|_| {
                let found = std::process::Command::new("sh")
                    .args(["-c", &format!("command -v {name}")])
                    .output()
                    .unwrap();
                let found = String::from_utf8(found.stdout).unwrap().trim().to_owned();
                assert!(!found.is_empty(), "{name} is missing: run scripts/testbed/browser up");
                found
            })
        };
        let (driver_bin, chromium) = (
            path("OSG_TEST_CHROMEDRIVER", "chromedriver"),
            path("OSG_TEST_CHROMIUM", "chromium"),
        );
        let port = free_port();
        let driver = Osg(std::process::Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap());
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(std::time::Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap().keep();
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--user-data-dir={}", profile.display())],
        }}}});
        let created = post_json(&http, &format!("{base}/session"), &caps).await;
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_owned();
        Self {
            _driver: driver,
            http,
            port,
            session: format!("{base}/session/{session}"),
        }
    }

    async fn goto(&self, url: &str) {
        let r = post_json(
            &self.http,
            &format!("{}/url", self.session),
            &serde_json::json!({ "url": url }),
        )
        .await;
        assert!(r["value"].is_null(), "{r}");
    }

    /// Runs `runAll(args)` in the page and returns what it resolves to.
    async fn run_all(&self, args: serde_json::Value) -> serde_json::Value {
        let script = "const done = arguments[arguments.length - 1];\
                      runAll(arguments[0]).then(done, (e) => done({ error: String(e) }));";
        let body = serde_json::json!({ "script": script, "args": [args] });
        let r = post_json(&self.http, &format!("{}/execute/async", self.session), &body).await;
        r["value"].clone()
    }
}

/// A WebDriver command: JSON in, JSON out.
async fn post_json(http: &reqwest::Client, url: &str, body: &serde_json::Value) -> serde_json::Value {
    let r = http
        .post(url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap())
        .send()
        .await
        .unwrap();
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing the session ends Chromium (killing the driver would leave it running); the
        // driver process is killed after. Plain blocking HTTP: this may run outside any runtime.
        use std::io::{Read, Write};
        let path = self
            .session
            .trim_start_matches(&format!("http://127.0.0.1:{}", self.port));
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            let _ = write!(
                stream,
                "DELETE {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.port
            );
            let _ = stream.read_to_end(&mut Vec::new());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_uploads_and_reads_across_origins() {
    let c = client();
    let b = new_bucket(&c, "browser").await;
    let other = new_bucket(&c, "browser-nocors").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(serve_page(listener, include_str!("cors_page.html")));
    let rule = rule(
        &[&page],
        &["GET", "PUT", "HEAD"],
        &["authorization", "x-amz-*"],
        &["ETag"],
    );
    c.put_bucket_cors()
        .bucket(&b)
        .cors_configuration(config(vec![rule]))
        .send()
        .await
        .unwrap();
    let presign = || aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(300)).unwrap();
    let presigned_put = c
        .put_object()
        .bucket(&b)
        .key("presigned")
        .presigned(presign())
        .await
        .unwrap();
    let presigned_get = c
        .get_object()
        .bucket(&b)
        .key("presigned")
        .presigned(presign())
        .await
        .unwrap();
    let s = server();
    let args = serde_json::json!({
        "presignedPut": presigned_put.uri(),
        "presignedGet": presigned_get.uri(),
        "presignedBody": "uploaded by a presigned URL",
        "signedUrl": format!("{}/{b}/signed", s.endpoint),
        "signedBody": "uploaded with the page's own signature",
        "missingUrl": format!("{}/{b}/missing", s.endpoint),
        "otherBucketUrl": format!("{}/{other}/signed", s.endpoint),
        "creds": {"accessKey": s.access_key, "secretKey": s.secret_key, "region": "us-east-1"},
    });

    let browser = Browser::start().await;
    browser.goto(&page).await;
    let out = browser.run_all(args).await;
    assert_eq!(out["origin"], page.as_str(), "{out}");
    // Each request went through its preflight and the page read the answer.
    let presigned_etag = format!("\"{}\"", md5_hex(b"uploaded by a presigned URL"));
    assert_eq!(out["presignedPut"]["status"], 200, "{out}");
    assert_eq!(out["presignedPut"]["etag"], presigned_etag.as_str(), "{out}");
    assert_eq!(out["presignedGet"]["status"], 200, "{out}");
    assert_eq!(out["presignedGet"]["body"], "uploaded by a presigned URL", "{out}");
    assert_eq!(out["signedPut"]["status"], 200, "{out}");
    assert_eq!(
        out["signedGet"]["body"], "uploaded with the page's own signature",
        "{out}"
    );
    // An error answer reaches the page too: it carries the CORS headers.
    assert_eq!(out["missing"]["status"], 404, "{out}");
    assert!(
        out["missing"]["body"]
            .as_str()
            .unwrap()
            .contains("<Code>NoSuchKey</Code>"),
        "{out}"
    );
    // What no rule allows never reaches the gateway's operation: the preflight stops it.
    assert!(out["signedDelete"]["blocked"].is_string(), "{out}");
    assert!(out["otherBucket"]["blocked"].is_string(), "{out}");
    drop(browser);
    // The bytes the browser sent are what the bucket holds; the DELETE never ran.
    assert_eq!(get_bytes(&c, &b, "presigned").await, b"uploaded by a presigned URL");
    assert_eq!(
        get_bytes(&c, &b, "signed").await,
        b"uploaded with the page's own signature"
    );
}
