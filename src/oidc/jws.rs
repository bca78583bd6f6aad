//! Checking a compact JWS against the provider's keys (or, for HS*, the client secret), for
//! tokens the openidconnect crate does not model: back-channel logout tokens and signed
//! userinfo responses.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
use openidconnect::JsonWebKey;
use serde_json::Value;

pub fn decode(segment: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(segment).ok()
}

pub struct Signed {
    pub header: Value,
    pub claims: Value,
}

/// No key of the set can have signed the token: it names a `kid` the set lacks, or (without
/// a `kid`) none of the set's keys of its type verifies it. Perhaps the provider rotated its
/// keys: worth fetching them again.
pub const UNKNOWN_KEY: &str = "no key for this token";
/// The key the token names is known and its signature is wrong: a forgery, and fresh keys
/// would not change that.
pub const BAD_SIGNATURE: &str = "bad signature";

/// The key type (`kty`) an algorithm's keys have.
fn key_type(alg: &str) -> Option<&'static str> {
    match alg.get(..2) {
        Some("RS" | "PS") => Some("RSA"),
        Some("ES") => Some("EC"),
        _ if alg == "EdDSA" => Some("OKP"),
        _ => None,
    }
}

/// The header and claims of `raw` once its signature checks out with `alg` (which the
/// caller has already decided to accept) and a key of `jwks` (matching `kid` when given).
pub fn verify(
    raw: &str,
    jwks: &Value,
    client_secret: Option<&str>,
    accept_alg: impl Fn(&str) -> bool,
) -> Result<Signed, &'static str> {
    let parts: Vec<&str> = raw.split('.').collect();
    let [header_b64, payload_b64, signature_b64] = parts[..] else {
        return Err("not a compact JWT");
    };
    let header: Value = decode(header_b64)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("bad header")?;
    let alg = header.get("alg").and_then(Value::as_str).ok_or("no alg")?;
    if alg == "none" || !accept_alg(alg) {
        return Err("alg not allowed");
    }
    let signature = decode(signature_b64).ok_or("bad signature encoding")?;
    let signing_alg: CoreJwsSigningAlgorithm =
        serde_json::from_value(Value::String(alg.to_owned())).map_err(|_| "unknown alg")?;
    let message = format!("{header_b64}.{payload_b64}");
    if alg.starts_with("HS") {
        let secret = client_secret.ok_or("HS needs a client secret")?;
        CoreJsonWebKey::new_symmetric(secret.as_bytes().to_vec())
            .verify_signature(&signing_alg, message.as_bytes(), &signature)
            .map_err(|_| BAD_SIGNATURE)?;
    } else {
        let kid = header.get("kid").and_then(Value::as_str);
        let kty = key_type(alg).ok_or("unknown alg")?;
        let candidates: Vec<CoreJsonWebKey> = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("bad key set")?
            .iter()
            .filter(|k| k.get("kty").and_then(Value::as_str) == Some(kty))
            .filter(|k| kid.is_none() || k.get("kid").and_then(Value::as_str) == kid)
            .filter_map(|k| serde_json::from_value(k.clone()).ok())
            .collect();
        let verified = candidates.iter().any(|k| {
            k.verify_signature(&signing_alg, message.as_bytes(), &signature)
                .is_ok()
        });
        if !verified {
            // Only a token that names a key we hold is known to be forged; without a `kid`,
            // a key we do not hold yet may have signed it.
            return Err(if kid.is_some() && !candidates.is_empty() {
                BAD_SIGNATURE
            } else {
                UNKNOWN_KEY
            });
        }
    }
    let claims: Value = decode(payload_b64)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("bad payload")?;
    Ok(Signed { header, claims })
}
