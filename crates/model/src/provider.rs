//! A provider instance as the store records it: what it is and its settings (the JSON `osg
//! provider add` writes). The secret is never part of them: it is sealed apart. How to connect
//! to one is `osg-provider`'s.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a provider is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Any S3-compatible service.
    S3,
    /// OpenStack Swift's native API.
    Swift,
}

impl Kind {
    /// As `osg provider add --kind` and the store write it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S3 => "s3",
            Self::Swift => "swift",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::S3, Self::Swift].into_iter().find(|k| k.as_str() == s)
    }
}

/// Where S3-compatible services differ from each other in ways the client must know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flavour {
    #[default]
    Generic,
    CephRgw,
    /// RiakCS signs with AWS Signature Version 2.
    Riakcs,
    Minio,
    Garage,
    Aws,
}

/// How a Swift provider gets its token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwiftAuth {
    /// TempAuth (v1.0): the endpoint is the auth URL, the access key `account:user`.
    #[default]
    Tempauth,
    /// Keystone v3 with a user name and password, scoped to a project.
    KeystonePassword,
    /// Keystone v3 with an application credential (the access key is its id).
    KeystoneApplicationCredential,
}

/// The settings of one provider instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// S3: the service's endpoint URL. Swift: the auth URL (TempAuth `.../auth/v1.0`, Keystone
    /// `.../v3`).
    pub endpoint: String,
    /// S3: the access key id. Swift: the TempAuth `account:user`, the Keystone user name, or the
    /// application credential id.
    pub access_key: String,
    /// The bucket (S3) or container (Swift) that holds this provider's blobs.
    pub bucket: String,
    /// S3: the signing region. Swift with Keystone: the catalog region to pick (any when empty).
    #[serde(default)]
    pub region: String,
    /// S3: path-style addressing (`endpoint/bucket/key`), which most self-hosted services want.
    #[serde(default = "yes")]
    pub path_style: bool,
    #[serde(default)]
    pub flavour: Flavour,
    #[serde(default)]
    pub swift_auth: SwiftAuth,
    /// Keystone: the project to scope the token to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Keystone: the domain of the user and of the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// A PEM file of certificate authorities to trust besides the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// How long to wait for a connection: a provider that is down must fail fast.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// How long a request may wait for the provider's next bytes before it is given up.
    #[serde(default = "default_read_timeout_ms")]
    pub read_timeout_ms: u64,
    /// Idle connections kept per host for reuse.
    #[serde(default = "default_pool_idle")]
    pub pool_max_idle: usize,
}

fn yes() -> bool {
    true
}

fn default_connect_timeout_ms() -> u64 {
    1000
}

fn default_read_timeout_ms() -> u64 {
    30_000
}

fn default_pool_idle() -> usize {
    64
}

impl Settings {
    /// Settings with the defaults for everything but where to go and who to be.
    #[must_use]
    pub fn new(endpoint: &str, access_key: &str, bucket: &str) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            access_key: access_key.to_owned(),
            bucket: bucket.to_owned(),
            region: String::new(),
            path_style: true,
            flavour: Flavour::Generic,
            swift_auth: SwiftAuth::Tempauth,
            project: None,
            domain: None,
            ca_file: None,
            connect_timeout_ms: default_connect_timeout_ms(),
            read_timeout_ms: default_read_timeout_ms(),
            pool_max_idle: default_pool_idle(),
        }
    }

    /// How long to wait for a connection.
    #[must_use]
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// How long to wait for the provider's next bytes.
    #[must_use]
    pub fn read_timeout(&self) -> Duration {
        Duration::from_millis(self.read_timeout_ms)
    }
}

/// A registered provider instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRecord {
    /// Its name ([`crate::names::is_resource_name`]).
    pub name: String,
    pub kind: Kind,
    pub settings: Settings,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_with_defaults_and_round_trip() {
        let s: Settings = serde_json::from_str(r#"{"endpoint":"http://e","bucket":"b","access_key":"k"}"#).unwrap();
        assert_eq!(s, Settings::new("http://e", "k", "b"));
        let mut s = s;
        s.flavour = Flavour::CephRgw;
        s.swift_auth = SwiftAuth::KeystoneApplicationCredential;
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains(r#""flavour":"ceph-rgw""#), "{text}");
        assert!(
            text.contains(r#""swift_auth":"keystone-application-credential""#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Settings>(&text).unwrap(), s);
    }
}
