//! The refresh token grant (RFC 6749 section 6; OIDC Core 12), as the protocol sees it: one
//! token request, and the ID token it may bring checked like at sign-in (without a nonce:
//! providers may leave it out of refreshed ID tokens), keys rotation included.

use super::client::{IdTokenError, OidcClient};
use super::id_token::{Expected, TokenFailure, Verified};
use super::outbound::Outbound;
use super::provider::field;
use super::token_endpoint;
use crate::clock::Millis;
use serde_json::Value;

/// How old a refreshed ID token's `iat` may be.
const MAX_AGE_MS: Millis = 10 * 60_000;

pub struct RefreshGrant<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub client_secret: Option<&'a str>,
    pub refresh_token: &'a str,
}

/// What the provider answered. Providers may send no new refresh token or ID token: then
/// the old ones stay.
pub struct Refreshed {
    pub refresh_token: Option<String>,
    pub access_expires_at: Option<Millis>,
    pub id_token: NewIdToken,
}

pub enum NewIdToken {
    None,
    /// The new ID token, raw and checked.
    Verified(String, Verified),
    /// One that could not be checked now: its key is unknown even to freshly fetched keys, its
    /// signature does not verify, or the keys could not be fetched. The answer came from the token endpoint itself, so its
    /// refresh token is kept; the token and its claims are not.
    Unchecked,
}

pub enum RefreshError {
    /// The provider could not be asked, timed out or answered a 5xx: the session lives on and
    /// is refreshed after a while.
    Unavailable,
    /// The provider refused the request for another reason than the refresh token (e.g.
    /// `invalid_client`, with this error code or HTTP status): settings to fix, not a reason
    /// to end the session.
    Refused(String),
    /// The provider refused the refresh token.
    InvalidGrant,
    /// The new ID token failed a check.
    Token(TokenFailure),
}

impl OidcClient {
    pub async fn refresh(&self, grant: &RefreshGrant<'_>) -> Result<Refreshed, RefreshError> {
        let now = self.now();
        let discovery = self
            .discovery(grant.issuer)
            .await
            .map_err(|_| RefreshError::Unavailable)?;
        let endpoint = field(&discovery, "token_endpoint")
            .and_then(|e| Outbound::check_url(e).ok())
            .ok_or(RefreshError::Unavailable)?;
        let form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", grant.refresh_token.to_owned()),
        ];
        let reply = token_endpoint::post(
            self.outbound(),
            &discovery,
            endpoint,
            grant.client_id,
            grant.client_secret,
            form,
        )
        .await
        .map_err(|_| RefreshError::Unavailable)?;
        let body = reply.json().unwrap_or(Value::Null);
        if reply.status != 200 {
            return Err(refusal(reply.status, &body));
        }
        if !is_token_response(&body) {
            // A proxy's error page or a half-broken provider: not an answer to act on.
            return Err(RefreshError::Unavailable);
        }
        let id_token = match body.get("id_token").and_then(Value::as_str) {
            Some(raw) => {
                let expected = Expected {
                    issuer: grant.issuer,
                    client_id: grant.client_id,
                    client_secret: grant.client_secret,
                    nonce: None,
                    not_issued_before: now - MAX_AGE_MS,
                    now,
                    access_token: body.get("access_token").and_then(Value::as_str),
                };
                match self.verify_id_token(raw, &expected).await {
                    Ok(verified) => NewIdToken::Verified(raw.to_owned(), verified),
                    // A key problem (unknown even to fresh keys, or a signature that does not
                    // verify under the key we hold) keeps the session: the token came straight
                    // from the token endpoint, and its claims are not used.
                    Err(
                        IdTokenError::Unreachable(_)
                        | IdTokenError::Token(TokenFailure::UnknownKid | TokenFailure::BadSignature),
                    ) => NewIdToken::Unchecked,
                    Err(IdTokenError::Token(f)) => return Err(RefreshError::Token(f)),
                }
            }
            None => NewIdToken::None,
        };
        Ok(Refreshed {
            refresh_token: body
                .get("refresh_token")
                .and_then(Value::as_str)
                .map(str::to_owned),
            access_expires_at: token_endpoint::expires_at(&body, now),
            id_token,
        })
    }
}

/// Whether a 200 answer is a token response at all (RFC 6749 section 5.1 requires the
/// access token).
fn is_token_response(body: &Value) -> bool {
    body.get("access_token")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty())
}

/// What an answer other than 200 means for the session.
fn refusal(status: u16, body: &Value) -> RefreshError {
    let code = body.get("error").and_then(Value::as_str);
    match code {
        Some("invalid_grant") => RefreshError::InvalidGrant,
        _ if status >= 500 || status == 429 => RefreshError::Unavailable,
        Some(code) => RefreshError::Refused(
            code.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect(),
        ),
        None => RefreshError::Refused(format!("HTTP {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_200_without_an_access_token_is_no_token_response() {
        assert!(is_token_response(
            &json!({"access_token": "at", "token_type": "Bearer"})
        ));
        assert!(!is_token_response(&json!({"token_type": "Bearer"})));
        assert!(!is_token_response(&json!({"access_token": ""})));
        assert!(!is_token_response(&json!({"access_token": 5})));
        // What `reply.json()` failing (an HTML page) turns into.
        assert!(!is_token_response(&Value::Null));
    }
}
