//! Server-side encryption: how an object's bytes are encrypted at rest, and a bucket's
//! default. The cryptography is the gateway's (`osg_gateway::encryption`); this is what the
//! store keeps.

use serde::{Deserialize, Serialize};

/// The associated data an SSE-S3 data key is sealed with under the master key.
pub const SSE_S3_SEAL_ROW: &str = "osg-sse-s3-data-key";

/// Who holds the key that opens an object's data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SseMode {
    /// SSE-S3 (`AES256`): the cluster's master key.
    S3,
    /// SSE-C: the customer, who sends the key with every request; it is never stored.
    Customer,
}

/// How an object version's bytes are encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    pub mode: SseMode,
    /// The encrypted blob format (see the gateway's `encryption` module).
    pub format: u32,
    /// The object's data key, sealed under the master key (SSE-S3) or the customer's key
    /// (SSE-C: opening it is how a key is checked).
    pub sealed_key: String,
    /// SSE-C: the base64 MD5 of the customer's key, as S3 answers with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_key_md5: Option<String>,
}

/// A bucket's default encryption: what objects written without encryption headers get.
/// (SSE-KMS is not offered: there is no key management service here.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DefaultEncryption {
    /// SSE-S3.
    Aes256,
}
