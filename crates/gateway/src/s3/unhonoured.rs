//! Request headers, form fields and parameters that S3 defines and this gateway does not
//! implement: each is refused with the error AWS gives where it does not support something
//! (mostly `501 NotImplemented`), never accepted and ignored. A client that asks for
//! encryption, immutability or a storage class must not believe it got one.
//!
//! Checked by the access check before any body is read (and by POST form uploads for their
//! fields). Headers S3 defines and the gateway honours are listed in `docs/compatibility.md`;
//! headers S3 does not define are ignored, as S3 ignores them.

use s3s::{S3Error, s3_error};

/// Storage classes AWS offers; every object here is STANDARD.
const STORAGE_CLASSES: &[&str] = &[
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
];

/// Operations that take `x-amz-server-side-encryption: AES256` (SSE-S3).
const SSE_S3_OPS: &[&str] = &["PutObject", "CopyObject", "CreateMultipartUpload", "PostObject"];

/// Operations that take the SSE-C headers (`x-amz-server-side-encryption-customer-*`).
const SSE_C_OPS: &[&str] = &[
    "PutObject",
    "GetObject",
    "HeadObject",
    "CopyObject",
    "CreateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "ListParts",
    "GetObjectAttributes",
];

/// Refuses the first header (or form field) of `op` that asks for something not implemented.
/// Names are lower case.
pub fn check<'a>(op: &str, inputs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<(), S3Error> {
    inputs
        .into_iter()
        .find_map(|(name, value)| refusal(op, name, value))
        .map_or(Ok(()), Err)
}

fn refusal(op: &str, name: &str, value: &str) -> Option<S3Error> {
    let not_implemented = |what: &str| Some(s3_error!(NotImplemented, "{what} is not implemented ({name})."));
    match name {
        // Reading an object encrypted at rest needs nothing from the reader: S3 answers 400.
        "x-amz-server-side-encryption" if matches!(op, "GetObject" | "HeadObject") => Some(s3_error!(
            InvalidArgument,
            "x-amz-server-side-encryption header is not supported for this operation."
        )),
        "x-amz-server-side-encryption" => match value.trim() {
            "AES256" if SSE_S3_OPS.contains(&op) => None,
            "aws:kms" | "aws:kms:dsse" => not_implemented("SSE-KMS (no key management service)"),
            "AES256" => not_implemented("Server-side encryption on this operation"),
            _ => Some(s3_error!(
                InvalidArgument,
                "The encryption method specified is not supported"
            )),
        },
        "x-amz-server-side-encryption-aws-kms-key-id" | "x-amz-server-side-encryption-context" => {
            not_implemented("SSE-KMS (no key management service)")
        }
        "x-amz-server-side-encryption-bucket-key-enabled" if value.trim().eq_ignore_ascii_case("true") => {
            not_implemented("S3 Bucket Keys (an SSE-KMS feature)")
        }
        "x-amz-server-side-encryption-bucket-key-enabled" => None,
        n if n.starts_with("x-amz-server-side-encryption-customer-") && !SSE_C_OPS.contains(&op) => {
            not_implemented("SSE-C on this operation")
        }
        n if n.starts_with("x-amz-copy-source-server-side-encryption-customer-")
            && !matches!(op, "CopyObject" | "UploadPartCopy") =>
        {
            not_implemented("SSE-C on this operation")
        }
        "x-amz-storage-class" => match value.trim() {
            "STANDARD" => None,
            class if STORAGE_CLASSES.contains(&class) => not_implemented("Storage classes other than STANDARD"),
            _ => Some(s3_error!(
                InvalidStorageClass,
                "The storage class you specified is not valid"
            )),
        },
        "x-amz-website-redirect-location" => not_implemented("Website redirects"),
        "x-amz-mfa" => not_implemented("MFA delete"),
        "x-amz-write-offset-bytes" => not_implemented("Appending to an object"),
        "x-amz-checksum-type" if op != "CreateMultipartUpload" && op != "CompleteMultipartUpload" => {
            not_implemented("Checksum types outside multipart uploads")
        }
        "x-amz-mp-object-size" => not_implemented("Checking a multipart object's size"),
        "x-amz-optional-object-attributes" => not_implemented("Optional object attributes in listings"),
        "x-amz-if-match-last-modified-time" | "x-amz-if-match-size" | "x-amz-if-match-initiated-time" => {
            not_implemented("Conditional deletes")
        }
        "if-match" | "if-none-match" if op == "DeleteObject" => not_implemented("Conditional deletes"),
        "x-amz-security-token" => Some(s3_error!(
            InvalidToken,
            "Temporary security credentials are not supported by this endpoint."
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(op: &str, name: &str, value: &str) -> Option<String> {
        check(op, [(name, value)]).err().map(|e| e.code().as_str().to_owned())
    }

    #[test]
    fn protection_requests_are_refused() {
        for name in [
            "x-amz-server-side-encryption-aws-kms-key-id",
            "x-amz-server-side-encryption-context",
            "x-amz-copy-source-server-side-encryption-customer-algorithm",
            "x-amz-website-redirect-location",
            "x-amz-checksum-type",
        ] {
            assert_eq!(
                code("PutObject", name, "x").as_deref(),
                Some("NotImplemented"),
                "{name}"
            );
        }
        // SSE-S3 and SSE-C where S3 takes them; SSE-KMS and bucket keys nowhere.
        assert_eq!(code("PutObject", "x-amz-server-side-encryption", "AES256"), None);
        assert_eq!(
            code("GetObject", "x-amz-server-side-encryption-customer-key", "k"),
            None
        );
        assert_eq!(
            code(
                "CopyObject",
                "x-amz-copy-source-server-side-encryption-customer-key",
                "k"
            ),
            None
        );
        for (op, name, value, refusal) in [
            ("PutObject", "x-amz-server-side-encryption", "aws:kms", "NotImplemented"),
            ("PutObject", "x-amz-server-side-encryption", "AES512", "InvalidArgument"),
            ("UploadPart", "x-amz-server-side-encryption", "AES256", "NotImplemented"),
            ("GetObject", "x-amz-server-side-encryption", "AES256", "InvalidArgument"),
            (
                "HeadObject",
                "x-amz-server-side-encryption",
                "aws:kms",
                "InvalidArgument",
            ),
            (
                "PutObject",
                "x-amz-server-side-encryption-bucket-key-enabled",
                "true",
                "NotImplemented",
            ),
            (
                "DeleteObject",
                "x-amz-server-side-encryption-customer-key",
                "k",
                "NotImplemented",
            ),
        ] {
            assert_eq!(code(op, name, value).as_deref(), Some(refusal), "{op} {name}: {value}");
        }
        assert_eq!(code("PutObject", "x-amz-storage-class", "STANDARD"), None);
        assert_eq!(
            code("PutObject", "x-amz-storage-class", "GLACIER").as_deref(),
            Some("NotImplemented")
        );
        assert_eq!(
            code("PutObject", "x-amz-storage-class", "COLD").as_deref(),
            Some("InvalidStorageClass")
        );
        assert_eq!(
            code("DeleteObject", "if-match", "\"e\"").as_deref(),
            Some("NotImplemented")
        );
        assert_eq!(code("GetObject", "if-match", "\"e\""), None);
        assert_eq!(
            code("PutObject", "x-amz-security-token", "t").as_deref(),
            Some("InvalidToken")
        );
        assert_eq!(code("PutObject", "x-amz-meta-colour", "blue"), None);
        // Multipart uploads take checksum types, and whole-object checksums on completion.
        for (op, name) in [
            ("CreateMultipartUpload", "x-amz-checksum-type"),
            ("CompleteMultipartUpload", "x-amz-checksum-type"),
            ("CompleteMultipartUpload", "x-amz-checksum-crc32"),
        ] {
            assert_eq!(code(op, name, "FULL_OBJECT"), None, "{op} {name}");
        }
        assert_eq!(code("PutObject", "x-amz-checksum-crc32", "AAAAAA=="), None);
    }
}
