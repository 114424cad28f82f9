//! The rules names obey, whichever API gives them: buckets (S3's rules, and the forms AWS
//! reserves), IAM entities (users, groups, policies) and their paths, access key ids,
//! providers and shards.

/// Prefixes and suffixes AWS reserves in bucket names: access point aliases (`-s3alias`),
/// Object Lambda (`--ol-s3`), directory buckets (`--x-s3`), table buckets (`--table-s3`),
/// Multi-Region Access Points (`.mrap`), punycode (`xn--`), and AWS's own (`sthree-`,
/// `amzn-s3-demo-`).
const RESERVED_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
const RESERVED_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap"];

/// Whether `name` may name a bucket: 3 to 63 lower-case letters, digits, dots and hyphens,
/// starting and ending with a letter or digit, no `..`, not an IP address, no reserved form.
#[must_use]
pub fn is_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    let allowed = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-';
    let alnum = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&b.len())
        && b.iter().all(allowed)
        && alnum(b.first())
        && alnum(b.last())
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
        && !RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
        && !RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Whether `name` may name an IAM user, group or policy: 1 to 64 letters, digits and
/// `+=,.@_-`.
#[must_use]
pub fn is_iam_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// Whether `name` may name a provider or a metadata shard: 1 to 63 lowercase letters, digits
/// and hyphens.
#[must_use]
pub fn is_resource_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `id` may be an access key id: 16 to 128 letters, digits and underscores, as IAM
/// has them (those the store makes are `AKOS` and 16 hexadecimal digits). Nothing else, so that
/// an id cannot break the signature formats that carry it (`Credential=ID/...`, `AWS ID:SIG`).
#[must_use]
pub fn is_access_key_id(id: &str) -> bool {
    (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `path` may be an IAM path: `/`-delimited, starting and ending with `/`, at most
/// 512 characters, no empty segment.
#[must_use]
pub fn is_iam_path(path: &str) -> bool {
    path.starts_with('/') && path.ends_with('/') && path.len() <= 512 && !path.contains("//")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_key_ids() {
        for ok in ["AKOS0123456789abcdef", "AKIAIOSFODNN7EXAMPLE", "A_LONG_KEY_ID_12345"] {
            assert!(is_access_key_id(ok), "{ok}");
        }
        for bad in [
            "AKSHORT",
            "AKOS0123456789abc/ef",
            "AKOS0123456789abc:ef",
            "AKOS 0123456789abcd",
            &"A".repeat(129),
        ] {
            assert!(!is_access_key_id(bad), "{bad}");
        }
    }

    #[test]
    fn resource_names() {
        for ok in ["s2", "walrus-1", &"a".repeat(63)] {
            assert!(is_resource_name(ok), "{ok}");
        }
        for bad in ["", "S2", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_resource_name(bad), "{bad}");
        }
    }

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my.bucket-1", "a1b", &"a".repeat(63)] {
            assert!(is_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "Upper",
            "-start",
            "end-",
            "a..b",
            "192.168.1.1",
            "under_score",
            "xn--abc",
            "sthree-x",
            "amzn-s3-demo-x",
            "x-s3alias",
            "x--ol-s3",
            "x--x-s3",
            "x--table-s3",
            "x.mrap",
        ] {
            assert!(!is_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn iam_names_and_paths() {
        assert!(is_iam_name("alice+ops@example.com"));
        assert!(!is_iam_name(""));
        assert!(!is_iam_name("has space"));
        assert!(!is_iam_name(&"a".repeat(65)));
        assert!(is_iam_path("/"));
        assert!(is_iam_path("/team/dev/"));
        assert!(!is_iam_path("team/"));
        assert!(!is_iam_path("/a//b/"));
    }
}
