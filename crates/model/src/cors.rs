//! CORS: a bucket's rules, checked as S3 checks them, and the rule a browser's request
//! matches (the first that allows its origin, method and headers).

use serde::{Deserialize, Serialize};

/// Most rules in one configuration, as in S3.
pub const MAX_RULES: usize = 100;
/// Longest rule id.
const MAX_ID: usize = 255;
/// The methods a rule may allow.
pub const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

/// A bucket's CORS configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cors {
    pub rules: Vec<CorsRule>,
}

/// One rule: which origins may use which methods with which request headers, and what the
/// browser is told in return.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CorsRule {
    pub id: Option<String>,
    /// Origins, each with at most one `*`.
    pub allowed_origins: Vec<String>,
    /// Some of [`METHODS`].
    pub allowed_methods: Vec<String>,
    /// Request headers a preflight may name, each with at most one `*` (case-insensitive).
    pub allowed_headers: Vec<String>,
    /// Response headers the browser may show the page.
    pub expose_headers: Vec<String>,
    /// How long a browser may keep a preflight's answer.
    pub max_age_seconds: Option<u32>,
}

/// Why a CORS configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorsError {
    /// Not a configuration at all (S3: `MalformedXML`).
    #[error("{0}")]
    Malformed(String),
    /// A configuration S3 refuses (S3: `InvalidRequest`).
    #[error("{0}")]
    Invalid(String),
}

impl Cors {
    /// The configuration if S3 would take it.
    pub fn validated(self) -> Result<Self, CorsError> {
        if self.rules.is_empty() {
            return Err(CorsError::Malformed(
                "A CORS configuration has at least one CORSRule.".into(),
            ));
        }
        if self.rules.len() > MAX_RULES {
            return Err(CorsError::Invalid(format!(
                "The number of CORS rules should not exceed allowed limit of {MAX_RULES} rules."
            )));
        }
        for rule in &self.rules {
            rule.check()?;
        }
        Ok(self)
    }

    /// The first rule that lets `origin` send `method` with the request headers `headers`
    /// (a preflight's `Access-Control-Request-Headers`; none for an actual request).
    #[must_use]
    pub fn rule_for(&self, origin: &str, method: &str, headers: &[&str]) -> Option<&CorsRule> {
        self.rules.iter().find(|r| {
            r.allowed_methods.iter().any(|m| m == method)
                && r.allowed_origins.iter().any(|o| wildcard_matches(o, origin))
                && headers.iter().all(|h| {
                    let h = h.to_ascii_lowercase();
                    r.allowed_headers
                        .iter()
                        .any(|a| wildcard_matches(&a.to_ascii_lowercase(), &h))
                })
        })
    }
}

impl CorsRule {
    fn check(&self) -> Result<(), CorsError> {
        if self.allowed_origins.is_empty() || self.allowed_methods.is_empty() {
            return Err(CorsError::Malformed(
                "A CORSRule has at least one AllowedOrigin and one AllowedMethod.".into(),
            ));
        }
        if self.id.as_ref().is_some_and(|id| id.chars().count() > MAX_ID) {
            return Err(CorsError::Invalid(format!(
                "ID length should not exceed allowed limit of {MAX_ID}"
            )));
        }
        if let Some(m) = self.allowed_methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return Err(CorsError::Invalid(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            )));
        }
        for (what, values) in [
            ("AllowedOrigin", &self.allowed_origins),
            ("AllowedHeader", &self.allowed_headers),
        ] {
            if let Some(v) = values.iter().find(|v| v.matches('*').count() > 1) {
                return Err(CorsError::Invalid(format!(
                    "{what} \"{v}\" can not have more than one wildcard."
                )));
            }
        }
        if let Some(h) = self.expose_headers.iter().find(|h| h.contains('*')) {
            return Err(CorsError::Invalid(format!(
                "ExposeHeader \"{h}\" contains wildcard. We currently do not support wildcard for ExposeHeader."
            )));
        }
        Ok(())
    }

    /// Whether the rule allows every origin (the answer is then `*`, without credentials).
    #[must_use]
    pub fn any_origin(&self) -> bool {
        self.allowed_origins.iter().any(|o| o == "*")
    }
}

/// Whether `value` matches `pattern`, whose one `*` (if any) stands for any run of
/// characters. Linear in the two lengths.
fn wildcard_matches(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len() && value.starts_with(head) && value.ends_with(tail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        CorsRule {
            allowed_origins: owned(origins),
            allowed_methods: owned(methods),
            allowed_headers: owned(headers),
            ..CorsRule::default()
        }
    }

    #[test]
    fn validation_follows_s3() {
        let ok = Cors {
            rules: vec![rule(&["https://*.example.com"], &["GET", "PUT"], &["x-amz-*"])],
        };
        assert_eq!(ok.clone().validated(), Ok(ok));
        let refused = |r: CorsRule| Cors { rules: vec![r] }.validated();
        assert!(matches!(Cors::default().validated(), Err(CorsError::Malformed(_))));
        assert!(matches!(
            refused(rule(&[], &["GET"], &[])),
            Err(CorsError::Malformed(_))
        ));
        assert!(matches!(refused(rule(&["*"], &["PATCH"], &[])), Err(CorsError::Invalid(m)) if m.ends_with("PATCH")));
        assert!(matches!(
            refused(rule(&["http://*.*"], &["GET"], &[])),
            Err(CorsError::Invalid(_))
        ));
        assert!(matches!(
            refused(rule(&["*"], &["GET"], &["*-*"])),
            Err(CorsError::Invalid(_))
        ));
        let mut exposing = rule(&["*"], &["GET"], &[]);
        exposing.expose_headers = vec!["x-*".into()];
        assert!(matches!(refused(exposing), Err(CorsError::Invalid(_))));
        let many = Cors {
            rules: vec![rule(&["*"], &["GET"], &[]); MAX_RULES + 1],
        };
        assert!(matches!(many.validated(), Err(CorsError::Invalid(_))));
    }

    #[test]
    fn the_first_rule_allowing_origin_method_and_headers_answers() {
        let cors = Cors {
            rules: vec![
                rule(&["http://a.test"], &["PUT"], &["Content-Type", "x-amz-*"]),
                rule(&["http://*.test"], &["GET", "HEAD"], &[]),
                rule(&["*"], &["GET"], &["*"]),
            ],
        };
        let at = |origin, method, headers: &[&str]| {
            cors.rule_for(origin, method, headers)
                .map(|r| cors.rules.iter().position(|x| x == r).unwrap())
        };
        assert_eq!(at("http://a.test", "PUT", &["content-type", "X-Amz-Date"]), Some(0));
        assert_eq!(at("http://a.test", "PUT", &["authorization"]), None);
        assert_eq!(at("http://b.test", "PUT", &[]), None);
        assert_eq!(at("http://b.test", "HEAD", &[]), Some(1));
        assert_eq!(at("http://b.test", "GET", &["range"]), Some(2));
        assert_eq!(at("http://b.test", "DELETE", &[]), None);
        // Origins match exactly, case included; a wildcard stands for any run, even none,
        // but head and tail may not overlap.
        assert_eq!(at("HTTP://b.test", "HEAD", &[]), None);
        assert_eq!(at("http://.test", "HEAD", &[]), Some(1));
        assert!(wildcard_matches("ab*ba", "abba"));
        assert!(!wildcard_matches("ab*ba", "aba"));
    }
}
