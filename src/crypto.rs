//! Secrets at rest (the OIDC client secret, IdP refresh tokens) are sealed with
//! XChaCha20-Poly1305 under a key derived from `GRIMMORY_SECRET_KEY`. The database keeps a
//! fingerprint of the key, so a server started with another key stops with one clear line
//! instead of failing to read what it stored.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

pub struct SecretBox {
    cipher: XChaCha20Poly1305,
    fingerprint: String,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretBox")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

/// Sealed data that could not be opened: tampered with, or sealed under another key.
#[derive(Debug, thiserror::Error)]
#[error("stored secret could not be decrypted")]
pub struct Unreadable;

impl SecretBox {
    /// Derives the cipher key and the fingerprint from the configured key material.
    pub fn new(material: &str) -> Self {
        let key = Sha256::new()
            .chain_update(b"grimmory secret key v1\0")
            .chain_update(material.as_bytes())
            .finalize();
        let fingerprint = hex::encode(
            &Sha256::new()
                .chain_update(b"grimmory key fingerprint v1\0")
                .chain_update(key)
                .finalize()[..8],
        );
        Self {
            cipher: XChaCha20Poly1305::new(Key::from_slice(&key)),
            fingerprint,
        }
    }

    /// Identifies the key without revealing it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn seal(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        STANDARD_NO_PAD.encode(out)
    }

    pub fn open(&self, sealed: &str) -> Result<String, Unreadable> {
        let bytes = STANDARD_NO_PAD.decode(sealed).map_err(|_| Unreadable)?;
        if bytes.len() < 24 {
            return Err(Unreadable);
        }
        let (nonce, body) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), body)
            .map_err(|_| Unreadable)?;
        String::from_utf8(plain).map_err(|_| Unreadable)
    }
}

/// A fresh random key for a SQLite install that was given none.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_under_the_same_key_only() {
        let a = SecretBox::new("key one, long enough");
        let b = SecretBox::new("key two, long enough");
        let sealed = a.seal("client secret");
        assert_ne!(sealed, a.seal("client secret"), "nonces differ");
        assert!(!sealed.contains("client secret"));
        assert_eq!(a.open(&sealed).unwrap(), "client secret");
        assert!(b.open(&sealed).is_err());
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(
            a.fingerprint(),
            SecretBox::new("key one, long enough").fingerprint()
        );
    }
}
