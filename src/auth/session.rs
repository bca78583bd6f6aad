//! Session ids: 256 random bits in the cookie, only their SHA-256 in the database.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const COOKIE_NAME: &str = "grimmory_session";
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

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, Secure when served over https.
pub fn session_cookie(token: &SessionToken, secure: bool) -> String {
    format!(
        "{COOKIE_NAME}={}; Path=/; HttpOnly; SameSite=Lax{}",
        token.as_cookie_value(),
        if secure { "; Secure" } else { "" }
    )
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_session_cookie(secure: bool) -> String {
    format!(
        "{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The value of a cookie in a `Cookie` request header.
pub fn read_cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
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

    #[test]
    fn cookie_flags() {
        let t = SessionToken::generate();
        let c = session_cookie(&t, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.ends_with("; Secure"));
        assert!(!session_cookie(&t, false).contains("Secure"));
    }

    #[test]
    fn reads_one_cookie_among_many() {
        assert_eq!(
            read_cookie("a=1; grimmory_session=xyz; b=2", COOKIE_NAME),
            Some("xyz")
        );
        assert_eq!(read_cookie("a=1", COOKIE_NAME), None);
    }
}
