//! Secrets at rest (the OIDC client secret, IdP refresh tokens) are sealed with
//! XChaCha20-Poly1305 under a key derived from `GRIMMORY_SECRET_KEY`. The database keeps a
//! fingerprint of the key, so a server started with another key stops with one clear line
//! instead of failing to read what it stored.
//!
//! Each sealed value is bound (as associated data) to the place it protects: copied into
//! another row or column of the database, it no longer opens. Values sealed before binding
//! existed carry no version prefix; `legacy_open` reads them once, at start, to seal them anew.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
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

/// Marks a value sealed with its binding; base64 never contains a `.`.
const BOUND_PREFIX: &str = "2.";

/// What a sealed value protects, and so where alone it may be opened.
#[derive(Debug, Clone, Copy)]
pub enum Binding<'a> {
    /// The OIDC client secret, for the client ID at the issuer it was entered for: moved to
    /// another provider in the database, it no longer opens, so it is never sent there.
    ClientSecret { issuer: &'a str, client_id: &'a str },
    /// An identity provider's refresh token, held by the session with this id hash.
    RefreshToken { session: &'a str },
    /// Proof that a browser signed in to the account with this username (a cookie).
    KnownDevice { username: &'a str },
    /// The client secret of a dry run's unsaved form, held by the pending sign-in with this
    /// state hash.
    TrialSecret { state: &'a str },
    /// The provider refresh token of an app grant (spec section 11.1), held by the grant
    /// with this id.
    Grant { grant_id: i64 },
    /// The provider refresh token of a round trip with intent `grant`, held by the session
    /// with this id hash until an approval takes it over for its new grant.
    GrantConfirmation { session: &'a str },
}

impl Binding<'_> {
    fn associated_data(&self) -> Vec<u8> {
        match self {
            Binding::ClientSecret { issuer, client_id } => [
                b"grimmory oidc client secret for ".as_slice(),
                // Lengths first, so no two (issuer, client ID) pairs give the same bytes.
                &(issuer.len() as u64).to_be_bytes(),
                issuer.as_bytes(),
                &(client_id.len() as u64).to_be_bytes(),
                client_id.as_bytes(),
            ]
            .concat(),
            Binding::RefreshToken { session } => [
                b"grimmory refresh token of session ".as_slice(),
                session.as_bytes(),
            ]
            .concat(),
            Binding::KnownDevice { username } => [
                b"grimmory known device of account ".as_slice(),
                username.as_bytes(),
            ]
            .concat(),
            Binding::TrialSecret { state } => [
                b"grimmory dry-run client secret of pending sign-in ".as_slice(),
                state.as_bytes(),
            ]
            .concat(),
            Binding::Grant { grant_id } => [
                b"grimmory provider refresh token of app grant ".as_slice(),
                grant_id.to_string().as_bytes(),
            ]
            .concat(),
            Binding::GrantConfirmation { session } => [
                b"grimmory provider refresh token confirming a grant in session ".as_slice(),
                session.as_bytes(),
            ]
            .concat(),
        }
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

    pub fn seal(&self, plaintext: &str, binding: Binding) -> String {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = binding.associated_data();
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{BOUND_PREFIX}{}", STANDARD_NO_PAD.encode(out))
    }

    /// Opens a value sealed for exactly this binding.
    pub fn open(&self, sealed: &str, binding: Binding) -> Result<String, Unreadable> {
        let body = sealed.strip_prefix(BOUND_PREFIX).ok_or(Unreadable)?;
        self.decrypt(body, &binding.associated_data())
    }

    /// Whether a stored value predates binding and must be sealed anew.
    pub fn is_legacy(sealed: &str) -> bool {
        !sealed.starts_with(BOUND_PREFIX)
    }

    /// Opens a value sealed before binding existed; only the start-up upgrade calls this.
    pub fn legacy_open(&self, sealed: &str) -> Result<String, Unreadable> {
        if !Self::is_legacy(sealed) {
            return Err(Unreadable);
        }
        self.decrypt(sealed, &[])
    }

    fn decrypt(&self, encoded: &str, aad: &[u8]) -> Result<String, Unreadable> {
        let bytes = STANDARD_NO_PAD.decode(encoded).map_err(|_| Unreadable)?;
        if bytes.len() < 24 {
            return Err(Unreadable);
        }
        let (nonce, msg) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg, aad })
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

    const SECRET: Binding = Binding::ClientSecret {
        issuer: "https://auth.example.com/",
        client_id: "grimmory",
    };

    #[test]
    fn seals_and_opens_under_the_same_key_only() {
        let a = SecretBox::new("key one, long enough");
        let b = SecretBox::new("key two, long enough");
        let sealed = a.seal("client secret", SECRET);
        assert_ne!(sealed, a.seal("client secret", SECRET), "nonces differ");
        assert!(!sealed.contains("client secret"));
        assert_eq!(a.open(&sealed, SECRET).unwrap(), "client secret");
        assert!(b.open(&sealed, SECRET).is_err());
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(
            a.fingerprint(),
            SecretBox::new("key one, long enough").fingerprint()
        );
    }

    #[test]
    fn a_sealed_value_opens_only_where_it_was_sealed() {
        let key = SecretBox::new("key one, long enough");
        let token = key.seal("refresh", Binding::RefreshToken { session: "s1" });
        assert_eq!(
            key.open(&token, Binding::RefreshToken { session: "s1" })
                .unwrap(),
            "refresh"
        );
        assert!(key
            .open(&token, Binding::RefreshToken { session: "s2" })
            .is_err());
        assert!(key.open(&token, SECRET).is_err());
        let secret = key.seal("secret", SECRET);
        assert!(key
            .open(&secret, Binding::RefreshToken { session: "" })
            .is_err());
        for elsewhere in [
            Binding::ClientSecret {
                issuer: "https://evil.example.com/",
                client_id: "grimmory",
            },
            Binding::ClientSecret {
                issuer: "https://auth.example.com/",
                client_id: "other",
            },
            Binding::ClientSecret {
                issuer: "https://auth.example.com/g",
                client_id: "rimmory",
            },
        ] {
            assert!(key.open(&secret, elsewhere).is_err(), "{elsewhere:?}");
        }
    }

    #[test]
    fn a_grant_token_opens_for_its_grant_only() {
        let key = SecretBox::new("key one, long enough");
        let token = key.seal("provider refresh", Binding::Grant { grant_id: 12 });
        assert_eq!(
            key.open(&token, Binding::Grant { grant_id: 12 }).unwrap(),
            "provider refresh"
        );
        for elsewhere in [
            Binding::Grant { grant_id: 1 },
            Binding::Grant { grant_id: 120 },
            Binding::GrantConfirmation { session: "12" },
            Binding::RefreshToken { session: "12" },
        ] {
            assert!(key.open(&token, elsewhere).is_err(), "{elsewhere:?}");
        }
        let confirming = key.seal("rt", Binding::GrantConfirmation { session: "s1" });
        assert!(key
            .open(&confirming, Binding::GrantConfirmation { session: "s2" })
            .is_err());
        assert!(key
            .open(&confirming, Binding::RefreshToken { session: "s1" })
            .is_err());
    }

    #[test]
    fn legacy_values_open_only_through_the_upgrade() {
        let key = SecretBox::new("key one, long enough");
        // As sealed before bindings: no prefix, no associated data.
        let nonce = [7u8; 24];
        let body = key
            .cipher
            .encrypt(XNonce::from_slice(&nonce), b"old secret".as_slice())
            .unwrap();
        let legacy = STANDARD_NO_PAD.encode([nonce.as_slice(), &body].concat());
        assert!(SecretBox::is_legacy(&legacy));
        assert!(key.open(&legacy, SECRET).is_err());
        assert_eq!(key.legacy_open(&legacy).unwrap(), "old secret");
        let bound = key.seal("new", SECRET);
        assert!(!SecretBox::is_legacy(&bound));
        assert!(key.legacy_open(&bound).is_err());
    }
}
