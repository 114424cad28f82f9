//! Flexible checksums (CRC32, CRC32C, CRC64NVME, SHA1, SHA256): which ones an upload asks
//! for, checking them against what was received, and returning them with the object.

use std::collections::BTreeMap;

use http::HeaderMap;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::Checksum as _;
use s3s::dto::{Checksum, ChecksumAlgorithm};
use s3s::s3_error;

use crate::error::Result;

/// The checksum headers an upload states, read off a PutObject or UploadPart input.
macro_rules! stated {
    ($i:expr) => {
        s3s::dto::Checksum {
            checksum_crc32: $i.checksum_crc32,
            checksum_crc32c: $i.checksum_crc32c,
            checksum_crc64nvme: $i.checksum_crc64nvme,
            checksum_sha1: $i.checksum_sha1,
            checksum_sha256: $i.checksum_sha256,
            checksum_type: None,
        }
    };
}
pub(crate) use stated;

/// An output struct with the given fields and the checksum fields from `$sums`
/// (an `s3s::dto::Checksum`); the rest default.
macro_rules! with_checksums {
    ($ty:ident { $($field:ident: $value:expr),* $(,)? }, $sums:expr) => {{
        let sums: s3s::dto::Checksum = $sums;
        // Some types have no field besides these.
        #[allow(clippy::needless_update)]
        let out = $ty {
            $($field: $value,)*
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            ..Default::default()
        };
        out
    }};
}
pub(crate) use with_checksums;

/// The algorithms, by the names S3 uses in `x-amz-checksum-algorithm`.
const NAMES: [&str; 5] = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"];

/// The checksums an upload asks for and the values it states in headers (values sent in
/// trailers arrive after the body).
#[derive(Debug, Default)]
pub struct Wanted {
    algorithms: Vec<&'static str>,
    stated: BTreeMap<&'static str, String>,
}

pub fn name_of(s: &str) -> Option<&'static str> {
    NAMES.iter().copied().find(|n| n.eq_ignore_ascii_case(s))
}

/// The checksum fields that are set, by algorithm name.
pub fn to_map(c: &Checksum) -> BTreeMap<&'static str, String> {
    [
        ("CRC32", &c.checksum_crc32),
        ("CRC32C", &c.checksum_crc32c),
        ("CRC64NVME", &c.checksum_crc64nvme),
        ("SHA1", &c.checksum_sha1),
        ("SHA256", &c.checksum_sha256),
    ]
    .into_iter()
    .filter_map(|(n, v)| v.clone().map(|v| (n, v)))
    .collect()
}

/// The stored checksums as s3s's checksum fields.
pub fn to_dto(stored: &BTreeMap<String, String>) -> Checksum {
    let get = |n: &str| stored.get(n).cloned();
    Checksum {
        checksum_crc32: get("CRC32"),
        checksum_crc32c: get("CRC32C"),
        checksum_crc64nvme: get("CRC64NVME"),
        checksum_sha1: get("SHA1"),
        checksum_sha256: get("SHA256"),
        checksum_type: None,
    }
}

impl Wanted {
    /// From an upload's stated checksum headers, its `x-amz-sdk-checksum-algorithm` and its
    /// `x-amz-trailer`.
    pub fn new(stated: &Checksum, algorithm: Option<&ChecksumAlgorithm>, headers: &HeaderMap) -> Result<Self> {
        let stated = to_map(stated);
        if stated.len() > 1 {
            return Err(s3_error!(InvalidRequest, "Expecting a single x-amz-checksum- header.").into());
        }
        let mut algorithms: Vec<&'static str> = stated.keys().copied().collect();
        if let Some(algorithm) = algorithm {
            let name = name_of(algorithm.as_str())
                .ok_or_else(|| s3_error!(InvalidRequest, "Unknown checksum algorithm {}.", algorithm.as_str()))?;
            algorithms.push(name);
        }
        if let Some(trailer) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
            for t in trailer.split(',') {
                if let Some(name) = t.trim().strip_prefix("x-amz-checksum-").and_then(name_of) {
                    algorithms.push(name);
                }
            }
        }
        algorithms.sort_unstable();
        algorithms.dedup();
        Ok(Self { algorithms, stated })
    }

    /// These, and `algorithm` too.
    #[must_use]
    pub fn with(mut self, algorithm: &str) -> Self {
        if let Some(name) = name_of(algorithm) {
            self.algorithms.push(name);
            self.algorithms.sort_unstable();
            self.algorithms.dedup();
        }
        self
    }

    /// The algorithm of the checksum the upload states in a header, if it states one.
    pub fn stated_algorithm(&self) -> Option<&'static str> {
        self.stated.keys().next().copied()
    }

    /// The same algorithms as an existing object's (for copies).
    pub fn same_as(stored: &BTreeMap<String, String>) -> Self {
        Self {
            algorithms: stored.keys().filter_map(|k| name_of(k)).collect(),
            stated: BTreeMap::new(),
        }
    }

    pub fn hasher(&self) -> ChecksumHasher {
        use s3s::crypto::{Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
        let on = |n: &str| self.algorithms.contains(&n);
        ChecksumHasher {
            crc32: on("CRC32").then(Crc32::new),
            crc32c: on("CRC32C").then(Crc32c::new),
            crc64nvme: on("CRC64NVME").then(Crc64Nvme::new),
            sha1: on("SHA1").then(Sha1::new),
            sha256: on("SHA256").then(Sha256::new),
        }
    }

    /// Checks what was computed against the values stated in headers or trailers, and returns
    /// the checksums to store.
    pub fn verify(&self, computed: &Checksum, trailers: Option<&HeaderMap>) -> Result<BTreeMap<String, String>> {
        let computed = to_map(computed);
        for (name, value) in &computed {
            let trailed = trailers
                .and_then(|t| t.get(format!("x-amz-checksum-{}", name.to_ascii_lowercase())))
                .and_then(|v| v.to_str().ok());
            let expected = self.stated.get(name).map(String::as_str).or(trailed);
            if expected.is_some_and(|e| e != value) {
                return Err(s3_error!(
                    BadDigest,
                    "The {name} you specified did not match the calculated checksum."
                )
                .into());
            }
        }
        Ok(computed.into_iter().map(|(n, v)| (n.to_owned(), v)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stated_header_and_trailer_are_checked() {
        let stated = Checksum {
            checksum_crc32: Some("DUoRhQ==".into()),
            ..Default::default()
        };
        let wanted = Wanted::new(&stated, None, &HeaderMap::new()).unwrap();
        let mut h = wanted.hasher();
        h.update(b"hello world");
        let ok = wanted.verify(&h.finalize(), None).unwrap();
        assert_eq!(ok.get("CRC32").map(String::as_str), Some("DUoRhQ=="));
        // "hello world" has CRC32 DUoRhQ==, not the stated value: a real mismatch.
        let stated = Checksum {
            checksum_crc32: Some("AAAAAA==".into()),
            ..Default::default()
        };
        let wanted = Wanted::new(&stated, None, &HeaderMap::new()).unwrap();
        let mut h = wanted.hasher();
        h.update(b"hello world");
        assert!(wanted.verify(&h.finalize(), None).is_err());

        let mut headers = HeaderMap::new();
        headers.insert("x-amz-trailer", "x-amz-checksum-sha256".parse().unwrap());
        let wanted = Wanted::new(&Checksum::default(), None, &headers).unwrap();
        let mut trailers = HeaderMap::new();
        trailers.insert("x-amz-checksum-sha256", "bad".parse().unwrap());
        let mut h = wanted.hasher();
        h.update(b"x");
        assert!(wanted.verify(&h.finalize(), Some(&trailers)).is_err());
    }
}
