//! Sealing secrets at rest: AES-256-GCM under a master key that never enters the database.
//! Each sealed value is bound to the row it belongs to (the associated data), so a ciphertext
//! copied to another row does not open.

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;

use crate::{Error, Result};

/// Length of a master key in bytes.
pub const KEY_LEN: usize = 32;

pub struct Sealer {
    cipher: Aes256Gcm,
}

impl Sealer {
    #[must_use]
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
        }
    }

    /// A fresh random master key.
    #[must_use]
    pub fn generate_key() -> [u8; KEY_LEN] {
        Aes256Gcm::generate_key(OsRng).into()
    }

    /// `base64(nonce || ciphertext)` of `secret`, bound to `row`.
    pub fn seal(&self, row: &str, secret: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.as_bytes(),
                    aad: row.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer does not fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    /// Opens a value sealed for `row`; fails for another row or another master key.
    pub fn open(&self, row: &str, sealed: &str) -> Result<SecretString> {
        let corrupt = || Error::Corrupt(format!("sealed secret of {row} does not open with this master key"));
        let bytes = STANDARD.decode(sealed).map_err(|_| corrupt())?;
        if bytes.len() < 12 {
            return Err(corrupt());
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: row.as_bytes(),
                },
            )
            .map_err(|_| corrupt())?;
        String::from_utf8(plain).map(SecretString::from).map_err(|_| corrupt())
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
}
