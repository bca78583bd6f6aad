//! Test-only token signing for the misbehaving provider: RSA, ECDSA P-256 and HMAC keys made
//! once per test run.

#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use std::sync::LazyLock;

struct Keys {
    rsa: Vec<RsaPrivateKey>,
    ec: EcdsaKeyPair,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let mut rng = rand::rngs::OsRng;
    let rsa = (0..2)
        .map(|_| RsaPrivateKey::new(&mut rng, 2048).unwrap())
        .collect();
    let random = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &random).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &random)
        .unwrap();
    Keys { rsa, ec }
});

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The public JWK of RSA key `index` (0 or 1) under `kid`.
pub fn rsa_jwk(index: usize, kid: &str) -> Value {
    let public = KEYS.rsa[index].to_public_key();
    json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())})
}

pub fn ec_jwk(kid: &str) -> Value {
    let point = KEYS.ec.public_key().as_ref();
    json!({"kty": "EC", "use": "sig", "alg": "ES256", "crv": "P-256", "kid": kid, "x": b64(&point[1..33]), "y": b64(&point[33..65])})
}

pub enum Key<'a> {
    Rsa(usize),
    Ec,
    Hmac(&'a str),
    /// Signed by nobody: `alg: none` and an empty signature.
    Unsigned,
}

/// A compact JWT of `header` and `claims`, signed with `key`.
pub fn sign(header: &Value, claims: &Value, key: Key) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = match key {
        Key::Rsa(i) => SigningKey::<sha2::Sha256>::new(KEYS.rsa[i].clone())
            .sign(input.as_bytes())
            .to_vec(),
        Key::Ec => KEYS
            .ec
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap()
            .as_ref()
            .to_vec(),
        Key::Hmac(secret) => {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
            ring::hmac::sign(&key, input.as_bytes()).as_ref().to_vec()
        }
        Key::Unsigned => Vec::new(),
    };
    format!("{input}.{}", b64(&signature))
}
