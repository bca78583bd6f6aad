//! Checking a compact JWS against the provider's keys (or, for HS*, the client secret), for
//! tokens the openidconnect crate does not model: back-channel logout tokens and signed
//! userinfo responses.

use super::id_token::ASYMMETRIC_ALGS;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, SignatureVerificationError};
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

/// Whether `jwk` can verify signatures of an accepted algorithm: meant for signatures (`use`),
/// and its key material reads as a public key — the RSA modulus and exponent make a key, the EC
/// point lies on its curve, the Ed25519 key decodes. `kty`, `use` and `alg` alone prove
/// nothing: a key with a three-character modulus has all three. The key is tried the way the
/// ID-token checks use it, on a signature that cannot verify: only a key that was read gets as
/// far as the signature.
pub fn verifying_key(jwk: &Value) -> bool {
    let Ok(key) = serde_json::from_value::<CoreJsonWebKey>(jwk.clone()) else {
        return false;
    };
    let field = |k: &str| jwk.get(k).and_then(Value::as_str);
    let alg = match (field("alg"), field("kty"), field("crv")) {
        (Some(alg), _, _) => alg,
        (None, Some("RSA"), _) => "RS256",
        (None, Some("EC"), Some("P-256")) => "ES256",
        (None, Some("EC"), Some("P-384")) => "ES384",
        (None, Some("OKP"), Some("Ed25519")) => "EdDSA",
        _ => return false,
    };
    if !ASYMMETRIC_ALGS.contains(&alg) {
        return false;
    }
    let Ok(signing_alg) = serde_json::from_value(Value::String(alg.to_owned())) else {
        return false;
    };
    matches!(
        key.verify_signature(&signing_alg, b"probe", &[0; 64]),
        Err(SignatureVerificationError::CryptoError(_))
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    use serde_json::json;

    /// A fresh P-256 public key as a JWK.
    fn ec_jwk() -> Value {
        let random = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &random).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &random)
                .unwrap();
        let point = pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])})
    }

    #[test]
    fn only_key_material_that_reads_as_a_key_is_usable() {
        let good = ec_jwk();
        assert!(verifying_key(&good));
        let mut no_alg = good.clone();
        no_alg.as_object_mut().unwrap().remove("alg");
        assert!(verifying_key(&no_alg), "the curve names the algorithm");
        // The same x with another y: not a point on the curve.
        let mut off_curve = good.clone();
        let mut y = URL_SAFE_NO_PAD.decode(good["y"].as_str().unwrap()).unwrap();
        y[31] ^= 1;
        off_curve["y"] = json!(URL_SAFE_NO_PAD.encode(&y));
        assert!(!verifying_key(&off_curve));
        let mut for_encryption = good.clone();
        for_encryption["use"] = json!("enc");
        assert!(!verifying_key(&for_encryption));
        let mut wrong_alg = good;
        wrong_alg["alg"] = json!("RS256");
        assert!(!verifying_key(&wrong_alg));
        // Every field a signing key names, and a modulus of three characters.
        assert!(!verifying_key(
            &json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "k", "n": "sXc", "e": "AQAB"})
        ));
        assert!(!verifying_key(&json!({"kty": "oct", "k": "c2VjcmV0"})));
        assert!(!verifying_key(&json!({"kty": "RSA"})));
    }
}
