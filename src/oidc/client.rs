//! The OpenID Connect client: one per process, shared by every sign-in, refresh, logout and
//! Test Connection. It owns the outbound HTTP policy, the per-issuer cache of discovery
//! documents and keys, and the clock those caches age by. Everything else arrives as explicit
//! inputs (issuer, client, tokens), so it knows nothing of settings, sessions or the database.

use super::id_token::{self, Expected, TokenFailure, Verified};
use super::logout_token::{self, LogoutRequest, Refusal};
use super::outbound::{Outbound, OutboundError};
use super::provider::ProviderCache;
use crate::clock::{Clock, Millis};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde_json::Value;
use std::sync::Arc;

pub struct OidcClient {
    outbound: Outbound,
    providers: ProviderCache,
    clock: Arc<dyn Clock>,
}

impl OidcClient {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            outbound: Outbound::new(),
            providers: ProviderCache::default(),
            clock,
        }
    }

    /// The HTTP client every request to a provider goes through (spec section 9).
    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    /// Forgets cached discovery documents and keys, e.g. after the provider settings changed.
    pub fn forget_providers(&self) {
        self.providers.clear();
    }

    /// The issuer's discovery document, cached for ten minutes.
    pub async fn discovery(&self, issuer: &str) -> Result<Arc<Value>, OutboundError> {
        self.providers
            .discovery(&self.outbound, issuer, self.now())
            .await
    }

    /// The issuer's keys; `refetch` asks for a fresh copy, granted once a minute (`None`
    /// when refused).
    pub async fn jwks(
        &self,
        issuer: &str,
        refetch: bool,
    ) -> Result<Option<Arc<Value>>, OutboundError> {
        self.providers
            .jwks(&self.outbound, issuer, self.now(), refetch)
            .await
    }

    /// Validates an ID token, fetching the keys once more when it names a key we do not
    /// know: that is how providers rotate keys.
    pub async fn verify_id_token(
        &self,
        raw: &str,
        expected: &Expected<'_>,
    ) -> Result<Verified, IdTokenError> {
        let keys = self
            .jwks(expected.issuer, false)
            .await?
            .ok_or(IdTokenError::NoKeys)?;
        match id_token::verify(raw, &keys, expected) {
            Err(TokenFailure::UnknownKid) => match self.jwks(expected.issuer, true).await? {
                Some(fresh) => Ok(id_token::verify(raw, &fresh, expected)?),
                None => Err(TokenFailure::UnknownKid.into()),
            },
            other => Ok(other?),
        }
    }

    /// Checks a back-channel logout token (spec section 7), with one fresh look at the keys
    /// when its signature does not verify (perhaps a rotated key).
    pub async fn verify_logout_token(
        &self,
        raw: &str,
        expected: &logout_token::Expected<'_>,
    ) -> Result<LogoutRequest, Refusal> {
        let keys = self
            .jwks(expected.issuer, false)
            .await
            .map_err(|_| "keys unreachable")?
            .ok_or("no keys")?;
        match logout_token::verify(raw, &keys, expected) {
            Err("bad signature") => match self.jwks(expected.issuer, true).await {
                Ok(Some(fresh)) => logout_token::verify(raw, &fresh, expected),
                _ => Err("bad signature"),
            },
            other => other,
        }
    }
}

/// Why an ID token was not accepted: the provider could not be asked, or the token failed a
/// check.
#[derive(Debug)]
pub enum IdTokenError {
    Unreachable(OutboundError),
    NoKeys,
    Token(TokenFailure),
}

impl From<OutboundError> for IdTokenError {
    fn from(e: OutboundError) -> Self {
        Self::Unreachable(e)
    }
}

impl From<TokenFailure> for IdTokenError {
    fn from(f: TokenFailure) -> Self {
        Self::Token(f)
    }
}

/// 256 random bits, URL-safe: values for `state`, `nonce` and the PKCE verifier.
pub fn random_value() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
