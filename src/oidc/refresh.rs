//! The refresh token grant (RFC 6749 section 6; OIDC Core 12), as the protocol sees it: one
//! token request, and the ID token it may bring checked like at sign-in (without a nonce:
//! providers may leave it out of refreshed ID tokens).

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
    /// The new ID token, raw and checked.
    pub id_token: Option<(String, Verified)>,
}

pub enum RefreshError {
    /// The provider could not be asked, or answered an error other than `invalid_grant`:
    /// the session lives on and is refreshed later.
    Unavailable,
    /// The provider refused the refresh token.
    InvalidGrant,
    /// The new ID token failed a check.
    Token(TokenFailure),
}

impl From<IdTokenError> for RefreshError {
    fn from(e: IdTokenError) -> Self {
        match e {
            IdTokenError::Unreachable(_) | IdTokenError::NoKeys => Self::Unavailable,
            IdTokenError::Token(f) => Self::Token(f),
        }
    }
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
            return Err(
                if body.get("error").and_then(Value::as_str) == Some("invalid_grant") {
                    RefreshError::InvalidGrant
                } else {
                    RefreshError::Unavailable
                },
            );
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
                Some((raw.to_owned(), self.verify_id_token(raw, &expected).await?))
            }
            None => None,
        };
        Ok(Refreshed {
            refresh_token: body
                .get("refresh_token")
                .and_then(Value::as_str)
                .map(str::to_owned),
            access_expires_at: body
                .get("expires_in")
                .and_then(Value::as_i64)
                .map(|secs| now + secs * 1000),
            id_token,
        })
    }
}
