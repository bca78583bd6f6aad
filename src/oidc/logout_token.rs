//! Back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0, spec section 7): the
//! signature is checked first, with the algorithm the provider signs our ID tokens with, then
//! every claim rule in order. Anything wrong is one answer: invalid_request.

use super::jws::{self, Signed};
use crate::clock::Millis;
use serde_json::Value;

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
const LEEWAY_MS: Millis = 60_000;
const MAX_AGE_MS: Millis = 5 * 60_000;

pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub client_secret: Option<&'a str>,
    /// The algorithm our ID tokens from this issuer were signed with (RS256 before any).
    pub alg: &'a str,
    pub now: Millis,
}

/// Whose sessions to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    pub sid: Option<String>,
    pub sub: Option<String>,
    pub jti: String,
    /// Keep the jti until then.
    pub keep_until: Millis,
}

/// Why a token was refused, for the server log only.
pub type Refusal = &'static str;

pub fn verify(raw: &str, jwks: &Value, expected: &Expected) -> Result<LogoutRequest, Refusal> {
    // Only the algorithm the provider signs our ID tokens with: a token signed otherwise is
    // refused even when some key would verify it.
    let Signed { header, claims } =
        jws::verify(raw, jwks, expected.client_secret, |alg| alg == expected.alg)?;
    if let Some(typ) = header.get("typ") {
        let typ = typ.as_str().ok_or("bad typ")?.to_ascii_lowercase();
        let typ = typ.strip_prefix("application/").unwrap_or(&typ);
        if typ != "jwt" && typ != "logout+jwt" {
            return Err("typ not allowed");
        }
    }
    if claims.get("iss").and_then(Value::as_str) != Some(expected.issuer) {
        return Err("iss");
    }
    // As for ID tokens: our client ID, and no audience we do not trust beside it.
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == expected.client_id,
        Some(Value::Array(a)) => {
            !a.is_empty() && a.iter().all(|v| v.as_str() == Some(expected.client_id))
        }
        _ => false,
    };
    if !aud_ok {
        return Err("aud");
    }
    let seconds = |k: &str| claims.get(k).and_then(Value::as_i64).map(|s| s * 1000);
    let iat = seconds("iat").ok_or("no iat")?;
    if iat < expected.now - MAX_AGE_MS - LEEWAY_MS || iat > expected.now + LEEWAY_MS {
        return Err("iat");
    }
    // Some providers (Glewlwyd, some Keycloak versions) send no exp.
    let exp = seconds("exp");
    if exp.is_some_and(|exp| exp <= expected.now - LEEWAY_MS) {
        return Err("exp");
    }
    let event_ok = claims
        .get("events")
        .and_then(Value::as_object)
        .is_some_and(|events| events.get(EVENT).is_some_and(Value::is_object));
    if !event_ok {
        return Err("events");
    }
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (sid, sub) = (text("sid"), text("sub"));
    if sid.is_none() && sub.is_none() {
        return Err("neither sid nor sub");
    }
    if claims.get("nonce").is_some() {
        return Err("nonce present");
    }
    let jti = text("jti").ok_or("no jti")?;
    Ok(LogoutRequest {
        sid,
        sub,
        jti,
        keep_until: exp.unwrap_or(0).max(iat + 6 * 60_000),
    })
}
