//! The OpenID Connect client: one per process, shared by every sign-in, refresh, logout and
//! Test Connection. It owns the outbound HTTP policy, the per-issuer cache of discovery
//! documents and keys, and the clock those caches age by. Everything else arrives as explicit
//! inputs (issuer, client, tokens), so it knows nothing of settings, sessions or the database.

use super::id_token::{self, Expected, TokenFailure, Verified};
use super::jws;
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
        Self::with_outbound(clock, Outbound::new())
    }

    /// A client whose requests go through `outbound` (tests shorten its timeout).
    pub fn with_outbound(clock: Arc<dyn Clock>, outbound: Outbound) -> Self {
        Self {
            outbound,
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

    /// The issuer's discovery document, cached for ten minutes (a failure for 30 seconds).
    pub async fn discovery(&self, issuer: &str) -> Result<Arc<Value>, OutboundError> {
        self.providers
            .discovery(&self.outbound, issuer, self.now())
            .await
    }

    /// The issuer's keys; `unknown_key` (a token needs a key they lack) asks for a fresh
    /// copy, answered from the cache when one was fetched for that reason under a minute ago.
    pub async fn jwks(&self, issuer: &str, unknown_key: bool) -> Result<Arc<Value>, OutboundError> {
        self.providers
            .jwks(&self.outbound, issuer, self.now(), unknown_key)
            .await
    }

    /// Validates an ID token, fetching the keys once more when none of ours can have signed
    /// it: that is how providers rotate keys.
    pub async fn verify_id_token(
        &self,
        raw: &str,
        expected: &Expected<'_>,
    ) -> Result<Verified, IdTokenError> {
        let keys = self.jwks(expected.issuer, false).await?;
        match id_token::verify(raw, &keys, expected) {
            Err(TokenFailure::UnknownKid) => {
                let fresh = self.jwks(expected.issuer, true).await?;
                Ok(id_token::verify(raw, &fresh, expected)?)
            }
            other => Ok(other?),
        }
    }

    /// Checks a back-channel logout token (spec section 7). `may_refetch` false (a client
    /// over its limit of refusals) checks it with the keys at hand only.
    pub async fn verify_logout_token(
        &self,
        raw: &str,
        expected: &logout_token::Expected<'_>,
        may_refetch: bool,
    ) -> Result<LogoutRequest, Refusal> {
        self.verify_signed(
            expected.issuer,
            |keys| logout_token::verify(raw, keys, expected),
            may_refetch,
        )
        .await
        .map_err(|e| match e {
            SignedError::Unreachable(_) => "keys unreachable",
            SignedError::Refused(why) => why,
        })
    }

    /// Runs `check` (a JWS check of `jws::verify`'s kind) with the issuer's keys, once more
    /// with fresh keys when none of ours can have signed it: perhaps a rotated key. A wrong
    /// signature under a key we know is a forgery and fetches nothing.
    pub async fn verify_signed<T>(
        &self,
        issuer: &str,
        check: impl Fn(&Value) -> Result<T, &'static str>,
        may_refetch: bool,
    ) -> Result<T, SignedError> {
        let keys = self.jwks(issuer, false).await?;
        match check(&keys) {
            Err(jws::UNKNOWN_KEY) if may_refetch => {
                let fresh = self.jwks(issuer, true).await?;
                Ok(check(&fresh)?)
            }
            other => Ok(other?),
        }
    }
}

/// Why a signed document was not accepted: the keys could not be fetched, or it failed a
/// check (the reason, for the server log).
#[derive(Debug)]
pub enum SignedError {
    Unreachable(OutboundError),
    Refused(&'static str),
}

impl From<OutboundError> for SignedError {
    fn from(e: OutboundError) -> Self {
        Self::Unreachable(e)
    }
}

impl From<&'static str> for SignedError {
    fn from(why: &'static str) -> Self {
        Self::Refused(why)
    }
}

/// Why an ID token was not accepted: the provider could not be asked, or the token failed a
/// check.
#[derive(Debug)]
pub enum IdTokenError {
    Unreachable(OutboundError),
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
