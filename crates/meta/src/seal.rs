//! Sealing secrets at rest: AES-256-GCM under a master key that never enters the database.
//! Each sealed value is bound to the row it belongs to (the associated data), so a ciphertext
//! copied to another row does not open. Objects' SSE-S3 data keys are bound to that purpose
//! only (a data key cannot pass for a secret, nor a secret for a data key); what binds an
//! object's bytes to it is the per-blob key derived from the data key and the blob's name.
//!
//! The master key can be rotated: a sealer holds the current key, which seals, and the keys
//! before it, which still open what they sealed (secrets, and the data keys of objects
//! encrypted with SSE-S3). A value opens with whichever key sealed it (AES-GCM's tag tells).

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::{Error, Result};

/// Length of a master key in bytes.
pub const KEY_LEN: usize = 32;

pub struct Sealer {
    /// The current key first, then older ones.
    ciphers: Vec<Aes256Gcm>,
}

impl Sealer {
    #[must_use]
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        Self::with_older(key, &[])
    }

    /// A sealer sealing with `current` and opening with it or any of `older`.
    #[must_use]
    pub fn with_older(current: &[u8; KEY_LEN], older: &[[u8; KEY_LEN]]) -> Self {
        let cipher = |k: &[u8; KEY_LEN]| Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(k));
        Self {
            ciphers: std::iter::once(current).chain(older).map(cipher).collect(),
        }
    }

    /// A fresh random master key.
    #[must_use]
    pub fn generate_key() -> [u8; KEY_LEN] {
        Aes256Gcm::generate_key(OsRng).into()
    }

    /// `base64(nonce || ciphertext)` of `secret`, bound to `row`, under the current key.
    pub fn seal(&self, row: &str, secret: &str) -> String {
        self.seal_bytes(row, secret.as_bytes())
    }

    /// [`seal`](Self::seal) for bytes (an object's data key).
    pub fn seal_bytes(&self, row: &str, secret: &[u8]) -> String {
        let nonce = Aes256Gcm::generate_nonce(OsRng);
        let sealed = self.ciphers[0]
            .encrypt(
                &nonce,
                Payload {
                    msg: secret,
                    aad: row.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer does not fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    /// Opens a value sealed for `row`; fails for another row or a key this sealer lacks.
    pub fn open(&self, row: &str, sealed: &str) -> Result<SecretString> {
        let plain = self.open_bytes(row, sealed)?;
        let text =
            std::str::from_utf8(&plain).map_err(|_| Error::Corrupt(format!("sealed secret of {row} is not text")))?;
        Ok(SecretString::from(text.to_owned()))
    }

    /// Whether `sealed` is sealed under the current key (a rewrap leaves it alone).
    #[must_use]
    pub fn is_current(&self, row: &str, sealed: &str) -> bool {
        let Ok(bytes) = STANDARD.decode(sealed) else {
            return false;
        };
        bytes.len() >= 12 && {
            let (nonce, ciphertext) = bytes.split_at(12);
            let payload = Payload {
                msg: ciphertext,
                aad: row.as_bytes(),
            };
            self.ciphers[0].decrypt(Nonce::from_slice(nonce), payload).is_ok()
        }
    }

    /// [`open`](Self::open) for bytes.
    pub fn open_bytes(&self, row: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>> {
        let corrupt = || Error::Corrupt(format!("sealed secret of {row} does not open with this master key"));
        let bytes = STANDARD.decode(sealed).map_err(|_| corrupt())?;
        if bytes.len() < 12 {
            return Err(corrupt());
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let payload = || Payload {
            msg: ciphertext,
            aad: row.as_bytes(),
        };
        self.ciphers
            .iter()
            .find_map(|c| c.decrypt(Nonce::from_slice(nonce), payload()).ok())
            .map(Zeroizing::new)
            .ok_or_else(corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn seals_per_row_and_per_key() {
        let sealer = Sealer::new(&Sealer::generate_key());
        let sealed = sealer.seal("access_key:AK1", "s3cr3t");
        assert!(!sealed.contains("s3cr3t"));
        assert_ne!(
            sealed,
            sealer.seal("access_key:AK1", "s3cr3t"),
            "a fresh nonce each time"
        );
        assert_eq!(
            sealer.open("access_key:AK1", &sealed).unwrap().expose_secret(),
            "s3cr3t"
        );
        assert!(sealer.open("access_key:AK2", &sealed).is_err(), "bound to its row");
        assert!(
            Sealer::new(&Sealer::generate_key())
                .open("access_key:AK1", &sealed)
                .is_err()
        );
        assert!(sealer.open("access_key:AK1", "garbage").is_err());
    }

    #[test]
    fn a_rotated_key_still_opens_what_it_sealed() {
        let (old, new) = (Sealer::generate_key(), Sealer::generate_key());
        let before = Sealer::new(&old).seal_bytes("data_key", b"k1");
        let rotated = Sealer::with_older(&new, &[old]);
        assert_eq!(rotated.open_bytes("data_key", &before).unwrap().as_slice(), b"k1");
        let after = rotated.seal_bytes("data_key", b"k2");
        assert!(
            Sealer::new(&old).open_bytes("data_key", &after).is_err(),
            "sealed by the new key"
        );
        assert_eq!(
            Sealer::new(&new).open_bytes("data_key", &after).unwrap().as_slice(),
            b"k2"
        );
        assert!(
            Sealer::new(&new).open_bytes("data_key", &before).is_err(),
            "the old key retired"
        );
    }
}
