//! Session ids: 256 random bits in the cookie, only their SHA-256 in the database.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Absolute lifetime of a session started with a password.
pub const LOCAL_SESSION_MS: i64 = 30 * 24 * 3_600_000;

/// The raw id that goes in the cookie. Never logged or stored.
pub struct SessionToken(String);

impl SessionToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn as_cookie_value(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        hash_token(&self.0)
    }
}

/// What the database stores for a cookie value.
pub fn hash_token(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_stored_hashed() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_ne!(a.as_cookie_value(), b.as_cookie_value());
        assert_eq!(a.as_cookie_value().len(), 43);
        assert_eq!(a.hash().len(), 64);
        assert_ne!(a.hash(), a.as_cookie_value());
    }
}
