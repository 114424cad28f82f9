//! Checksums of multipart objects (`x-amz-checksum-type`): an upload created with a checksum
//! algorithm gets that checksum on every part, and its object one made from the parts':
//! COMPOSITE, the checksum of the parts' checksums with `-N` after it, or FULL_OBJECT, the
//! checksum of all the bytes, combined from the parts' CRCs without reading them again.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use osg_meta::{ChecksumType, MultipartChecksum, Part};
use s3s::dto::{self, ChecksumAlgorithm};
use s3s::s3_error;

use super::checksum::Wanted;
use crate::error::Result;

/// The checksum CreateMultipartUpload asks for, checked as S3 checks it.
pub fn chosen(
    algorithm: Option<&ChecksumAlgorithm>,
    kind: Option<&dto::ChecksumType>,
) -> Result<Option<MultipartChecksum>> {
    let Some(algorithm) = algorithm else {
        return match kind {
            None => Ok(None),
            Some(_) => Err(s3_error!(
                InvalidRequest,
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
            )
            .into()),
        };
    };
    let name = super::checksum::name_of(algorithm.as_str())
        .ok_or_else(|| s3_error!(InvalidRequest, "Checksum algorithm provided is unsupported."))?;
    let kind = match kind.map(dto::ChecksumType::as_str) {
        None if name == "CRC64NVME" => ChecksumType::FullObject,
        None => ChecksumType::Composite,
        Some(k) if k.eq_ignore_ascii_case("COMPOSITE") => ChecksumType::Composite,
        Some(k) if k.eq_ignore_ascii_case("FULL_OBJECT") => ChecksumType::FullObject,
        Some(_) => return Err(s3_error!(InvalidRequest, "Value for x-amz-checksum-type header is invalid.").into()),
    };
    let allowed = match kind {
        ChecksumType::Composite => name != "CRC64NVME",
        ChecksumType::FullObject => name.starts_with("CRC"),
    };
    if !allowed {
        return Err(s3_error!(
            InvalidRequest,
            "The {} checksum type cannot be used with the {} checksum algorithm.",
            kind.as_str(),
            name.to_ascii_lowercase()
        )
        .into());
    }
    Ok(Some(MultipartChecksum {
        algorithm: name.to_owned(),
        kind,
    }))
}

/// A part of an upload with a checksum computes it, and may state no other.
pub fn for_part(wanted: Wanted, upload: Option<&MultipartChecksum>) -> Result<Wanted> {
    let Some(upload) = upload else { return Ok(wanted) };
    if let Some(other) = wanted.stated_algorithm().filter(|a| *a != upload.algorithm) {
        return Err(s3_error!(
            InvalidRequest,
            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
            upload.algorithm.to_ascii_lowercase(),
            other.to_ascii_lowercase()
        )
        .into());
    }
    Ok(wanted.with(&upload.algorithm))
}

/// The object's checksum from its parts' (in the object's order), as `(algorithm, value)`.
pub fn of_parts(upload: &MultipartChecksum, parts: &[&Part]) -> Result<(String, String)> {
    let algorithm = upload.algorithm.as_str();
    let mut raw = Vec::with_capacity(parts.len());
    for part in parts {
        let value = part.checksums.get(algorithm).and_then(|v| STANDARD.decode(v).ok());
        let value = value.ok_or_else(|| {
            s3_error!(
                InvalidPart,
                "Part {} has no {algorithm} checksum; the upload was created with one.",
                part.number
            )
        })?;
        raw.push((value, part.size));
    }
    let value = match upload.kind {
        ChecksumType::Composite => {
            let wanted = Wanted::default().with(algorithm);
            let mut hasher = wanted.hasher();
            for (value, _) in &raw {
                hasher.update(value);
            }
            let sums = super::checksum::to_map(&hasher.finalize());
            let whole = sums.get(algorithm).cloned().unwrap_or_default();
            format!("{whole}-{}", parts.len())
        }
        ChecksumType::FullObject => {
            let crc = Crc::of(algorithm).ok_or_else(|| s3_error!(InternalError, "{algorithm} is not a CRC."))?;
            let mut whole: Option<u64> = None;
            for (value, size) in &raw {
                let part = crc.decode(value)?;
                whole = Some(whole.map_or(part, |w| crc.combine(w, part, *size)));
            }
            STANDARD.encode(crc.encode(whole.unwrap_or(0)))
        }
    };
    Ok((algorithm.to_owned(), value))
}

/// Checks the checksums a CompleteMultipartUpload states, of its parts and of the whole
/// object, against the stored and computed ones.
pub fn check_stated(
    listed: &[(u32, BTreeMap<&'static str, String>)],
    parts: &[&Part],
    whole: Option<&(String, String)>,
    stated_whole: &BTreeMap<&'static str, String>,
) -> Result<()> {
    for ((number, stated), part) in listed.iter().zip(parts) {
        for (name, value) in stated {
            if part.checksums.get(*name) != Some(value) {
                return Err(s3_error!(
                    InvalidPart,
                    "The {name} checksum of part {number} does not match the part's."
                )
                .into());
            }
        }
    }
    for (name, value) in stated_whole {
        let matches = whole.is_some_and(|(algorithm, computed)| {
            algorithm == name && (computed == value || computed.split_once('-').is_some_and(|(c, _)| c == value))
        });
        if !matches {
            return Err(s3_error!(
                BadDigest,
                "The {name} you specified did not match the calculated checksum."
            )
            .into());
        }
    }
    Ok(())
}

/// A reflected CRC (CRC-32, CRC-32C, CRC-64/NVME: each starts from and ends XORed with all
/// ones), for combining: zlib's `crc32_combine`, for any width up to 64 bits.
struct Crc {
    /// The polynomial, bit-reflected.
    poly: u64,
    width: u32,
}

impl Crc {
    fn of(algorithm: &str) -> Option<Self> {
        let (poly, width) = match algorithm {
            "CRC32" => (0xEDB8_8320, 32),
            "CRC32C" => (0x82F6_3B78, 32),
            "CRC64NVME" => (0x9A6C_9329_AC4B_C9B5, 64),
            _ => return None,
        };
        Some(Self { poly, width })
    }

    /// `x^0`, reflected: the top bit.
    fn one(&self) -> u64 {
        1 << (self.width - 1)
    }

    /// `a * b mod poly`, reflected.
    fn multiply(&self, a: u64, mut b: u64) -> u64 {
        let mut m = self.one();
        let mut p = 0;
        while m != 0 {
            if a & m != 0 {
                p ^= b;
            }
            m >>= 1;
            b = if b & 1 != 0 { (b >> 1) ^ self.poly } else { b >> 1 };
        }
        p
    }

    /// The CRC of `A` then `B`, from the CRCs of both and the length of `B`: `A`'s CRC moved
    /// past `len_b` zero bytes, XOR `B`'s.
    fn combine(&self, crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
        // x^8 (one zero byte), then squared for each bit of the length.
        let mut power = self.one() >> 8;
        let mut shift = self.one();
        let mut n = len_b;
        while n != 0 {
            if n & 1 != 0 {
                shift = self.multiply(power, shift);
            }
            power = self.multiply(power, power);
            n >>= 1;
        }
        self.multiply(shift, crc_a) ^ crc_b
    }

    /// S3 sends CRCs big-endian, in as many bytes as they are wide.
    fn decode(&self, bytes: &[u8]) -> Result<u64> {
        if bytes.len() * 8 != self.width as usize {
            return Err(s3_error!(InternalError, "A stored checksum has the wrong length.").into());
        }
        Ok(bytes.iter().fold(0, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn encode(&self, crc: u64) -> Vec<u8> {
        crc.to_be_bytes()[(8 - self.width as usize / 8)..].to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(algorithm: &str, data: &[u8]) -> String {
        let mut h = Wanted::default().with(algorithm).hasher();
        h.update(data);
        super::super::checksum::to_map(&h.finalize())[algorithm].clone()
    }

    fn part(number: u32, algorithm: &str, data: &[u8]) -> Part {
        Part {
            number,
            blob: String::new(),
            size: data.len() as u64,
            etag: String::new(),
            modified_ms: 0,
            checksums: [(algorithm.to_owned(), sums(algorithm, data))].into(),
        }
    }

    /// FULL_OBJECT combines the parts' CRCs into the CRC of all the bytes, for every CRC and
    /// any split, empty parts included.
    #[test]
    fn full_object_crcs_are_the_crc_of_all_the_bytes() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for algorithm in ["CRC32", "CRC32C", "CRC64NVME"] {
            for cuts in [
                vec![1, 2],
                vec![5000],
                vec![0, 9999],
                vec![1234, 1234, 7777],
                vec![10_000],
            ] {
                let mut bounds = vec![0];
                bounds.extend(cuts);
                bounds.push(data.len());
                let parts: Vec<Part> = bounds
                    .windows(2)
                    .zip(1..)
                    .map(|(w, n)| part(n, algorithm, &data[w[0]..w[1]]))
                    .collect();
                let refs: Vec<&Part> = parts.iter().collect();
                let upload = MultipartChecksum {
                    algorithm: algorithm.into(),
                    kind: ChecksumType::FullObject,
                };
                let (name, value) = of_parts(&upload, &refs).unwrap();
                assert_eq!(
                    (name.as_str(), value),
                    (algorithm, sums(algorithm, &data)),
                    "{bounds:?}"
                );
            }
        }
    }

    /// COMPOSITE: the checksum of the concatenated binary part checksums, then `-N`
    /// (AWS's documented example: SHA256 of two parts).
    #[test]
    fn composite_is_the_checksum_of_the_part_checksums() {
        let parts = [part(1, "SHA256", b"hello "), part(2, "SHA256", b"world")];
        let mut raw = STANDARD.decode(&parts[0].checksums["SHA256"]).unwrap();
        raw.extend(STANDARD.decode(&parts[1].checksums["SHA256"]).unwrap());
        let upload = MultipartChecksum {
            algorithm: "SHA256".into(),
            kind: ChecksumType::Composite,
        };
        let (_, value) = of_parts(&upload, &[&parts[0], &parts[1]]).unwrap();
        assert_eq!(value, format!("{}-2", sums("SHA256", &raw)));
    }

    #[test]
    fn choices_are_checked_as_s3_does() {
        let alg = |s: &str| Some(ChecksumAlgorithm::from(s.to_owned()));
        let kind = |s: &str| Some(dto::ChecksumType::from(s.to_owned()));
        let ok = |a: Option<ChecksumAlgorithm>, k: Option<dto::ChecksumType>| {
            chosen(a.as_ref(), k.as_ref()).map(|c| c.map(|c| c.kind))
        };
        assert_eq!(ok(None, None).unwrap(), None);
        assert_eq!(ok(alg("CRC32"), None).unwrap(), Some(ChecksumType::Composite));
        assert_eq!(ok(alg("CRC64NVME"), None).unwrap(), Some(ChecksumType::FullObject));
        assert_eq!(
            ok(alg("CRC32C"), kind("FULL_OBJECT")).unwrap(),
            Some(ChecksumType::FullObject)
        );
        for (a, k) in [
            (None, kind("COMPOSITE")),
            (alg("SHA1"), kind("FULL_OBJECT")),
            (alg("CRC64NVME"), kind("COMPOSITE")),
            (alg("CRC32"), kind("SOMETIMES")),
            (alg("MD5"), None),
        ] {
            assert!(ok(a, k).is_err());
        }
    }
}
