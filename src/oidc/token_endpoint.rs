//! Requests to the provider's token endpoint, authenticated the way the provider advertises:
//! a public client sends its `client_id` in the form (PKCE does the rest); a confidential one
//! uses `client_secret_basic`, or `client_secret_post` when that is all the provider lists.

use super::outbound::{Outbound, OutboundError, Reply};
use crate::clock::Millis;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openidconnect::reqwest::Url;
use serde_json::Value;

fn posts_secret(discovery: &Value) -> bool {
    let listed = |m: &str| {
        discovery
            .get("token_endpoint_auth_methods_supported")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(m)))
    };
    !listed("client_secret_basic") && listed("client_secret_post")
}

/// RFC 6749 section 2.3.1: both parts form-urlencoded before base64.
fn basic_auth(client_id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(client_id), enc(secret)))
    )
}

/// The longest access-token lifetime believed: a year.
const MAX_EXPIRES_IN_SECS: f64 = 366.0 * 24.0 * 3600.0;
/// The shortest one: refreshes start a minute before the access token goes stale, so a
/// lifetime of seconds would make every request start one. Two minutes leave a minute between
/// refreshes.
pub const MIN_EXPIRES_IN_SECS: f64 = 120.0;

/// When the access token of a token response goes stale: `expires_in` seconds from `now`,
/// read as a JSON number or a numeric string (some providers send `"3599"`) and held between
/// two minutes and a year, so a huge, tiny or negative value can neither overflow nor make
/// every request refresh.
pub fn expires_at(body: &Value, now: Millis) -> Option<Millis> {
    let secs = match body.get("expires_in")? {
        Value::String(s) => s.trim().parse::<f64>().ok(),
        v => v.as_f64(),
    }
    .filter(|s| s.is_finite())?;
    let secs = secs.clamp(MIN_EXPIRES_IN_SECS, MAX_EXPIRES_IN_SECS);
    Some(now.saturating_add((secs * 1000.0) as Millis))
}

/// Posts `form` to `endpoint` with the client's authentication added.
pub async fn post(
    outbound: &Outbound,
    discovery: &Value,
    endpoint: Url,
    client_id: &str,
    secret: Option<&str>,
    mut form: Vec<(&str, String)>,
) -> Result<Reply, OutboundError> {
    let mut request = outbound
        .client()
        .post(endpoint)
        .header("accept", "application/json");
    match secret {
        None => form.push(("client_id", client_id.to_owned())),
        Some(secret) if posts_secret(discovery) => {
            form.push(("client_id", client_id.to_owned()));
            form.push(("client_secret", secret.to_owned()));
        }
        Some(secret) => request = request.header("authorization", basic_auth(client_id, secret)),
    }
    outbound.send(request.form(&form)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_first_post_only_when_alone() {
        assert!(!posts_secret(&serde_json::json!({})));
        assert!(!posts_secret(
            &serde_json::json!({"token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]})
        ));
        assert!(posts_secret(
            &serde_json::json!({"token_endpoint_auth_methods_supported": ["client_secret_post"]})
        ));
        assert_eq!(
            basic_auth("a b", "p:w"),
            format!("Basic {}", STANDARD.encode("a+b:p%3Aw"))
        );
    }

    #[test]
    fn expires_in_is_held_within_bounds() {
        let now = 1_800_000_000_000;
        let at = |v: Value| expires_at(&serde_json::json!({ "expires_in": v }), now);
        let floor = Some(now + 120_000);
        assert_eq!(at(serde_json::json!(300)), Some(now + 300_000));
        assert_eq!(at(serde_json::json!(-5)), floor);
        assert_eq!(at(serde_json::json!(0)), floor);
        assert_eq!(at(serde_json::json!(1)), floor, "a tiny lifetime is held");
        assert_eq!(at(serde_json::json!(i64::MIN)), floor);
        assert_eq!(
            at(serde_json::json!(i64::MAX)),
            Some(now + 366 * 86_400_000)
        );
        assert_eq!(
            at(serde_json::json!(u64::MAX)),
            Some(now + 366 * 86_400_000)
        );
        assert_eq!(at(serde_json::json!(1e300)), Some(now + 366 * 86_400_000));
        assert_eq!(at(serde_json::json!(160.5)), Some(now + 160_500));
        assert_eq!(expires_at(&serde_json::json!({}), now), None);
    }

    #[test]
    fn expires_in_as_a_numeric_string_is_read() {
        let now = 1_800_000_000_000;
        let at = |v: &str| expires_at(&serde_json::json!({ "expires_in": v }), now);
        assert_eq!(at("3599"), Some(now + 3_599_000));
        assert_eq!(at(" 300 "), Some(now + 300_000));
        assert_eq!(at("5"), Some(now + 120_000));
        assert_eq!(at("soon"), None);
        assert_eq!(at(""), None);
    }
}
