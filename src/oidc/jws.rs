//! Checking a compact JWS against the provider's keys (or, for HS*, the client secret), for
//! tokens the openidconnect crate does not model: back-channel logout tokens and signed
//! userinfo responses.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::JsonWebKey;
use serde_json::Value;

pub fn decode(segment: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(segment).ok()
}

pub struct Signed {
    pub header: Value,
    pub claims: Value,
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
    let verified = if alg.starts_with("HS") {
        let secret = client_secret.ok_or("HS needs a client secret")?;
        CoreJsonWebKey::new_symmetric(secret.as_bytes().to_vec())
            .verify_signature(&signing_alg, message.as_bytes(), &signature)
            .is_ok()
    } else {
        let keys: CoreJsonWebKeySet =
            serde_json::from_value(jwks.clone()).map_err(|_| "bad key set")?;
        let kid = header.get("kid").and_then(Value::as_str);
        keys.keys()
            .iter()
            .filter(|k| kid.is_none() || k.key_id().map(|id| id.as_str()) == kid)
            .any(|k| {
                k.verify_signature(&signing_alg, message.as_bytes(), &signature)
                    .is_ok()
            })
    };
    if !verified {
        return Err("bad signature");
    }
    let claims: Value = decode(payload_b64)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("bad payload")?;
    Ok(Signed { header, claims })
}
