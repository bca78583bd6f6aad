//! ID token validation (spec section 4, step 4): the openidconnect crate checks the signature,
//! `iss`, `aud`, `exp` and `nonce`; this module adds what it leaves to the application — the
//! algorithm allow-list (HS256 only for confidential clients), `azp`, the `iat` window from the
//! pending login, `at_hash`, and telling an unknown key apart so the caller can refetch keys.

use crate::clock::Millis;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    ClaimsVerificationError, ClientId, ClientSecret, IssuerUrl, Nonce, SignatureVerificationError,
};
use serde_json::Value;
use sha2::{Digest, Sha256, Sha384, Sha512};

const LEEWAY_MS: Millis = 60_000;

/// Why a token was refused; the names are the audit reasons of spec section 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFailure {
    IssuerMismatch,
    AudienceMismatch,
    AzpMismatch,
    Expired,
    IatOutOfRange,
    NonceMismatch,
    BadSignature,
    UnknownKid,
    AlgNotAllowed,
    AtHashMismatch,
    MissingSub,
}

impl TokenFailure {
    pub fn reason(self) -> &'static str {
        match self {
            Self::IssuerMismatch => "issuer_mismatch",
            Self::AudienceMismatch => "audience_mismatch",
            Self::AzpMismatch => "azp_mismatch",
            Self::Expired => "expired",
            Self::IatOutOfRange => "iat_out_of_range",
            Self::NonceMismatch => "nonce_mismatch",
            Self::BadSignature => "bad_signature",
            Self::UnknownKid => "unknown_kid",
            Self::AlgNotAllowed => "alg_not_allowed",
            Self::AtHashMismatch => "at_hash_mismatch",
            Self::MissingSub => "missing_sub",
        }
    }
}

/// What the token must match.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// Set for confidential clients: HS256 is then allowed, keyed by it.
    pub client_secret: Option<&'a str>,
    /// `None` skips the nonce check (refreshed ID tokens may omit it; the caller then checks
    /// that any nonce present equals the original).
    pub nonce: Option<&'a str>,
    /// `iat` may not be earlier than this (minus leeway): when the sign-in started.
    pub not_issued_before: Millis,
    pub now: Millis,
    pub access_token: Option<&'a str>,
}

pub struct Verified {
    /// Every claim of the token, for claim mapping.
    pub claims: Value,
    pub alg: String,
    pub sub: String,
}

impl Verified {
    /// The provider's session id (`sid`), which back-channel logout names.
    pub fn sid(&self) -> Option<&str> {
        self.claims.get("sid").and_then(Value::as_str)
    }
}

fn part(raw: &str, index: usize) -> Option<Value> {
    let segment = raw.split('.').nth(index)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment.trim_end_matches('=')).ok()?).ok()
}

/// ID-token algorithms accepted from any provider (never `none`): HS256 is keyed by the client
/// secret, so only a confidential client may accept it. ID tokens, signed userinfo and Test
/// Connection all ask this one rule.
pub const ASYMMETRIC_ALGS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

pub fn alg_allowed(alg: &str, confidential: bool) -> bool {
    ASYMMETRIC_ALGS.contains(&alg) || (confidential && alg == "HS256")
}

fn to_datetime(ms: Millis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub fn verify(raw: &str, jwks: &Value, expected: &Expected) -> Result<Verified, TokenFailure> {
    let (Some(header), Some(payload)) = (part(raw, 0), part(raw, 1)) else {
        return Err(TokenFailure::BadSignature);
    };
    if raw.split('.').count() != 3 {
        return Err(TokenFailure::BadSignature);
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or("none")
        .to_owned();
    let confidential = expected.client_secret.is_some();
    if !alg_allowed(&alg, confidential) {
        return Err(TokenFailure::AlgNotAllowed);
    }
    let sub = payload
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let Some(sub) = sub else {
        return Err(TokenFailure::MissingSub);
    };
    if !alg.starts_with("HS") {
        if let Some(kid) = header.get("kid").and_then(Value::as_str) {
            let known = jwks
                .get("keys")
                .and_then(Value::as_array)
                .is_some_and(|keys| {
                    keys.iter()
                        .any(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
                });
            if !known {
                return Err(TokenFailure::UnknownKid);
            }
        }
    }
    let keys: CoreJsonWebKeySet =
        serde_json::from_value(jwks.clone()).map_err(|_| TokenFailure::BadSignature)?;
    let token: CoreIdToken = raw.parse().map_err(|_| TokenFailure::BadSignature)?;
    let issuer =
        IssuerUrl::new(expected.issuer.to_owned()).map_err(|_| TokenFailure::IssuerMismatch)?;
    let client_id = ClientId::new(expected.client_id.to_owned());
    let verifier = match expected.client_secret {
        Some(secret) => CoreIdTokenVerifier::new_confidential_client(
            client_id,
            ClientSecret::new(secret.to_owned()),
            issuer,
            keys,
        ),
        None => CoreIdTokenVerifier::new_public_client(client_id, issuer, keys),
    };
    let algs: Vec<CoreJwsSigningAlgorithm> = [
        ASYMMETRIC_ALGS,
        if confidential {
            &["HS256"][..]
        } else {
            &[][..]
        },
    ]
    .concat()
    .iter()
    .filter_map(|a| serde_json::from_value(Value::String((*a).to_owned())).ok())
    .collect();
    let (now, earliest) = (expected.now, expected.not_issued_before - LEEWAY_MS);
    let verifier = verifier
        .set_allowed_algs(algs)
        // `exp` gets the leeway by seeing the clock a minute behind.
        .set_time_fn(move || to_datetime(now - LEEWAY_MS))
        .set_issue_time_verifier_fn(move |iat| {
            let iat = iat.timestamp_millis();
            if iat < earliest || iat > now + LEEWAY_MS {
                Err("iat: outside the sign-in window".to_owned())
            } else {
                Ok(())
            }
        });
    let nonce_result = match expected.nonce {
        Some(nonce) => token
            .claims(&verifier, &Nonce::new(nonce.to_owned()))
            .map(|_| ()),
        None => token
            .claims(&verifier, |_: Option<&Nonce>| Ok(()))
            .map(|_| ()),
    };
    nonce_result.map_err(|e| match classify(e) {
        // Without a `kid`, a key we do not hold yet may have signed it: after a rotation the
        // keys are fetched again, as for an unknown `kid`.
        TokenFailure::BadSignature if !alg.starts_with("HS") && header.get("kid").is_none() => {
            TokenFailure::UnknownKid
        }
        other => other,
    })?;

    let aud: Vec<&str> = match payload.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    match payload.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != expected.client_id => return Err(TokenFailure::AzpMismatch),
        None if aud.len() > 1 => return Err(TokenFailure::AzpMismatch),
        _ => {}
    }
    if let (Some(at_hash), Some(access_token)) = (
        payload.get("at_hash").and_then(Value::as_str),
        expected.access_token,
    ) {
        if at_hash_of(access_token, &alg).as_deref() != Some(at_hash) {
            return Err(TokenFailure::AtHashMismatch);
        }
    }
    Ok(Verified {
        claims: payload,
        alg,
        sub,
    })
}

fn classify(e: ClaimsVerificationError) -> TokenFailure {
    match e {
        ClaimsVerificationError::InvalidIssuer(_) => TokenFailure::IssuerMismatch,
        ClaimsVerificationError::InvalidAudience(_) => TokenFailure::AudienceMismatch,
        ClaimsVerificationError::Expired(m) if m.starts_with("iat:") => TokenFailure::IatOutOfRange,
        ClaimsVerificationError::Expired(_) => TokenFailure::Expired,
        ClaimsVerificationError::InvalidNonce(_) => TokenFailure::NonceMismatch,
        ClaimsVerificationError::InvalidSubject(_) => TokenFailure::MissingSub,
        ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::DisallowedAlg(_),
        )
        | ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::UnsupportedAlg(_),
        ) => TokenFailure::AlgNotAllowed,
        ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        ) => TokenFailure::UnknownKid,
        _ => TokenFailure::BadSignature,
    }
}

/// `at_hash`: the left half of the access token's hash, with the hash of the token's algorithm.
pub fn at_hash_of(access_token: &str, alg: &str) -> Option<String> {
    let digest: Vec<u8> = match alg {
        "RS256" | "PS256" | "ES256" | "HS256" => Sha256::digest(access_token.as_bytes()).to_vec(),
        "RS384" | "PS384" | "ES384" => Sha384::digest(access_token.as_bytes()).to_vec(),
        "RS512" | "PS512" | "EdDSA" => Sha512::digest(access_token.as_bytes()).to_vec(),
        _ => return None,
    };
    Some(URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2]))
}
