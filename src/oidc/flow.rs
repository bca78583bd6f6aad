//! The authorization code flow with PKCE (spec section 4), as the protocol sees it: the
//! authorization request, and the provider's redirect back up to a validated identity (code
//! exchange, ID-token checks, userinfo); and RP-initiated logout. Keeping the pending sign-in
//! and deciding who the identity is in Grimmory are `auth::sign_in`'s business.

use super::client::{random_value, IdTokenError, OidcClient, SignedError};
use super::id_token::{self, Expected, TokenFailure, Verified};
use super::outbound::{Outbound, OutboundError};
use super::provider::field;
use crate::clock::Millis;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// Why the provider's answer was not accepted. Each kind is a machine reason of the audit
/// log (spec section 8); what the user is told is the sign-in's business
/// (`auth::sign_in::Failure`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No pending sign-in for this `state` and browser, or it expired, or the provider
    /// settings changed since it started (found by the sign-in, which keeps them).
    StateMismatch,
    /// The `iss` parameter differs from the pending issuer, or is missing although the
    /// provider advertises it (RFC 9207).
    IssParamMismatch,
    /// Discovery, the keys or the token endpoint could not be reached.
    ProviderUnreachable,
    /// The discovery document names another issuer than the configured one.
    DiscoveryIssuerMismatch,
    NoAuthorizationEndpoint,
    BadAuthorizationEndpoint,
    /// The provider answered with `error=<code>` (sanitised, never empty).
    Provider(String),
    MissingCode,
    NoTokenEndpoint,
    /// The token endpoint answered this HTTP status without an OAuth error.
    TokenEndpointStatus(u16),
    /// The token endpoint refused the client ID or secret.
    InvalidClient,
    /// Another OAuth error from the token endpoint (sanitised).
    TokenError(String),
    MissingIdToken,
    Token(TokenFailure),
    UserinfoSubMismatch,
    /// Userinfo came as a JWT that failed its signature, `iss` or `aud` check.
    UserinfoInvalid,
}

impl Failure {
    /// The machine reason the audit log records.
    pub fn reason(&self) -> Cow<'static, str> {
        match self {
            Self::StateMismatch => "state_mismatch".into(),
            Self::IssParamMismatch => "iss_param_mismatch".into(),
            Self::ProviderUnreachable => "provider_unreachable".into(),
            Self::DiscoveryIssuerMismatch => "issuer_mismatch".into(),
            Self::NoAuthorizationEndpoint => "no_authorization_endpoint".into(),
            Self::BadAuthorizationEndpoint => "bad_authorization_endpoint".into(),
            Self::Provider(code) => format!("provider_error:{code}").into(),
            Self::MissingCode => "missing_code".into(),
            Self::NoTokenEndpoint => "no_token_endpoint".into(),
            Self::TokenEndpointStatus(status) => format!("token_endpoint_http_{status}").into(),
            Self::InvalidClient => "invalid_client".into(),
            Self::TokenError(code) => format!("token_error:{code}").into(),
            Self::MissingIdToken => "missing_id_token".into(),
            Self::Token(f) => f.reason().into(),
            Self::UserinfoSubMismatch => "userinfo_sub_mismatch".into(),
            Self::UserinfoInvalid => "userinfo_invalid".into(),
        }
    }

    /// A request to the provider that failed: it could not be reached, or its discovery
    /// document is for another issuer.
    fn outbound(e: &OutboundError) -> Self {
        if let OutboundError::IssuerMismatch = e {
            tracing::warn!(
                "the provider's discovery document names another issuer than the configured one"
            );
            return Self::DiscoveryIssuerMismatch;
        }
        tracing::warn!(error = %e, "identity provider unreachable");
        Self::ProviderUnreachable
    }
}

impl From<IdTokenError> for Failure {
    fn from(e: IdTokenError) -> Self {
        match e {
            IdTokenError::Unreachable(e) => Self::outbound(&e),
            IdTokenError::Token(f) => Self::Token(f),
        }
    }
}

/// Why userinfo gave no claims: unavailable (the sign-in goes on with the ID token's claims),
/// or a signed answer that failed a check (the sign-in fails).
enum UserinfoError {
    Unavailable(OutboundError),
    Invalid(&'static str),
}

impl From<OutboundError> for UserinfoError {
    fn from(e: OutboundError) -> Self {
        Self::Unavailable(e)
    }
}

/// The authorization request's parameters (OIDC Core 3.1.2.1).
pub struct AuthorizationRequest<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scopes: &'a str,
    pub state: &'a str,
    pub nonce: &'a str,
    pub pkce_verifier: &'a str,
    /// The admin's extra parameters; never one of the above (the settings refuse those).
    pub extra_params: &'a [(String, String)],
}

/// A PKCE verifier: 512 random bits, URL-safe (RFC 7636 asks for 43 to 128 characters).
pub fn new_pkce_verifier() -> String {
    random_value() + &random_value()
}

/// The S256 challenge of a verifier.
fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
}

/// What the redemption of a code needs from the sign-in that started it.
pub struct CodeFlow<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// Present for a confidential client.
    pub client_secret: Option<&'a str>,
    pub redirect_uri: &'a str,
    pub pkce_verifier: &'a str,
    pub nonce: &'a str,
    /// When the sign-in started: an ID token issued before it is refused.
    pub started_at: Millis,
}

/// A proven identity, with what the provider gave along.
pub struct Proven {
    pub token: Verified,
    pub id_token: String,
    pub refresh_token: Option<String>,
    /// When the provider's access token goes stale.
    pub access_expires_at: Option<Millis>,
    pub userinfo: Option<Value>,
    /// Set when userinfo could not be used and the ID token's claims alone were.
    pub userinfo_warning: Option<String>,
}

/// Where RP-initiated logout sends the browser, and what it says there.
pub struct EndSession<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub id_token: &'a str,
    pub post_logout_redirect_uri: &'a str,
}

impl OidcClient {
    /// The provider's authorization URL for this request, with the PKCE S256 challenge.
    pub async fn authorization_url(
        &self,
        req: &AuthorizationRequest<'_>,
    ) -> Result<String, Failure> {
        let discovery = self
            .discovery(req.issuer)
            .await
            .map_err(|e| Failure::outbound(&e))?;
        let endpoint =
            field(&discovery, "authorization_endpoint").ok_or(Failure::NoAuthorizationEndpoint)?;
        let mut url = url::Url::parse(endpoint).map_err(|_| Failure::BadAuthorizationEndpoint)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", req.client_id)
                .append_pair("redirect_uri", req.redirect_uri)
                .append_pair("scope", req.scopes)
                .append_pair("state", req.state)
                .append_pair("nonce", req.nonce)
                .append_pair("code_challenge", &pkce_challenge(req.pkce_verifier))
                .append_pair("code_challenge_method", "S256");
            for (k, v) in req.extra_params {
                q.append_pair(k, v);
            }
        }
        Ok(url.to_string())
    }

    /// Finishes the flow from the provider's redirect back, whose `state` the sign-in has
    /// already matched to `flow`: the `iss` parameter, the provider's error, the code
    /// exchange, the ID token's checks and userinfo.
    pub async fn redeem(&self, flow: &CodeFlow<'_>, q: CallbackQuery) -> Result<Proven, Failure> {
        let discovery = self
            .discovery(flow.issuer)
            .await
            .map_err(|e| Failure::outbound(&e))?;
        // RFC 9207: the iss parameter is checked on error responses too.
        match q.iss.as_deref() {
            Some(iss) if iss != flow.issuer => return Err(Failure::IssParamMismatch),
            None if discovery.get("authorization_response_iss_parameter_supported")
                == Some(&Value::Bool(true)) =>
            {
                return Err(Failure::IssParamMismatch)
            }
            _ => {}
        }
        if let Some(error) = q.error.as_deref() {
            // The provider's own error code, shown on the login page and never followed anywhere.
            let code: String = error
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect();
            let code = if code.is_empty() {
                "provider_error".to_owned()
            } else {
                code
            };
            return Err(Failure::Provider(code));
        }
        let Some(code) = q.code.filter(|c| !c.is_empty()) else {
            return Err(Failure::MissingCode);
        };
        self.prove(&discovery, flow, &code).await
    }

    /// Redeems a code that an app received at its own redirect URI (the mobile app, spec
    /// section 11.2): the code exchange, the ID token's checks and userinfo, as for the
    /// browser. The redirect's `iss` parameter and error reached the app, not us: the
    /// exchange and the ID token's `iss` check are what prove the issuer here.
    pub async fn redeem_code(&self, flow: &CodeFlow<'_>, code: &str) -> Result<Proven, Failure> {
        let discovery = self
            .discovery(flow.issuer)
            .await
            .map_err(|e| Failure::outbound(&e))?;
        if code.is_empty() {
            return Err(Failure::MissingCode);
        }
        self.prove(&discovery, flow, code).await
    }

    /// The code exchange, every ID-token check and userinfo: what makes a code an identity.
    async fn prove(
        &self,
        discovery: &Value,
        flow: &CodeFlow<'_>,
        code: &str,
    ) -> Result<Proven, Failure> {
        let now = self.now();
        let tokens = self.exchange(discovery, flow, code).await?;
        let id_token = tokens
            .get("id_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(Failure::MissingIdToken)?;
        let access_token = tokens
            .get("access_token")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let expected = Expected {
            issuer: flow.issuer,
            client_id: flow.client_id,
            client_secret: flow.client_secret,
            nonce: Some(flow.nonce),
            not_issued_before: flow.started_at,
            now,
            access_token: access_token.as_deref(),
        };
        let token = self.verify_id_token(&id_token, &expected).await?;
        let (userinfo, userinfo_warning) = match (
            field(discovery, "userinfo_endpoint"),
            access_token.as_deref(),
        ) {
            (Some(endpoint), Some(access)) => {
                match self.userinfo(endpoint, access, &expected).await {
                    Ok(info)
                        if info.get("sub").and_then(Value::as_str) == Some(token.sub.as_str()) =>
                    {
                        (Some(info), None)
                    }
                    Ok(_) => return Err(Failure::UserinfoSubMismatch),
                    Err(UserinfoError::Invalid(why)) => {
                        tracing::info!(reason = why, "signed userinfo refused");
                        return Err(Failure::UserinfoInvalid);
                    }
                    Err(UserinfoError::Unavailable(e)) => {
                        (None, Some(format!("userinfo unavailable: {e}")))
                    }
                }
            }
            _ => (None, None),
        };
        Ok(Proven {
            token,
            id_token,
            refresh_token: tokens
                .get("refresh_token")
                .and_then(Value::as_str)
                .map(str::to_owned),
            access_expires_at: super::token_endpoint::expires_at(&tokens, now),
            userinfo,
            userinfo_warning,
        })
    }

    /// The token request: code, redirect URI and PKCE verifier, with the client authentication
    /// the provider advertises (basic first) when there is a secret.
    async fn exchange(
        &self,
        discovery: &Value,
        flow: &CodeFlow<'_>,
        code: &str,
    ) -> Result<Value, Failure> {
        let endpoint = field(discovery, "token_endpoint").ok_or(Failure::NoTokenEndpoint)?;
        let url = Outbound::check_url(endpoint).map_err(|e| Failure::outbound(&e))?;
        let form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", flow.redirect_uri.to_owned()),
            ("code_verifier", flow.pkce_verifier.to_owned()),
        ];
        let reply = super::token_endpoint::post(
            self.outbound(),
            discovery,
            url,
            flow.client_id,
            flow.client_secret,
            form,
        )
        .await
        .map_err(|e| Failure::outbound(&e))?;
        let body = reply.json().unwrap_or(Value::Null);
        if reply.status == 200 && body.is_object() {
            return Ok(body);
        }
        if reply.status >= 500 {
            return Err(Failure::TokenEndpointStatus(reply.status));
        }
        match body.get("error").and_then(Value::as_str) {
            Some("invalid_client" | "unauthorized_client") => Err(Failure::InvalidClient),
            Some(other) => {
                let other: String = other
                    .chars()
                    .filter(|c| c.is_ascii_graphic())
                    .take(64)
                    .collect();
                Err(Failure::TokenError(other))
            }
            None => Err(Failure::TokenEndpointStatus(reply.status)),
        }
    }

    /// Userinfo as JSON, or as a JWT (OIDC Core 5.3.2) checked like the ID token's signature:
    /// the provider's keys (or the client secret for HS256), and `iss`/`aud` when present.
    async fn userinfo(
        &self,
        endpoint: &str,
        access_token: &str,
        expected: &Expected<'_>,
    ) -> Result<Value, UserinfoError> {
        let url = Outbound::check_url(endpoint)?;
        let request = self
            .outbound()
            .client()
            .get(url)
            .bearer_auth(access_token)
            .header("accept", "application/json, application/jwt");
        let reply = self.outbound().send(request).await?;
        if reply.status != 200 {
            return Err(OutboundError::Status(reply.status).into());
        }
        if let Ok(v) = reply.json() {
            return if v.is_object() {
                Ok(v)
            } else {
                Err(OutboundError::NotJson.into())
            };
        }
        let raw = String::from_utf8(reply.body).map_err(|_| OutboundError::NotJson)?;
        if raw.trim().split('.').count() != 3 {
            return Err(OutboundError::NotJson.into());
        }
        let confidential = expected.client_secret.is_some();
        let check = |keys: &Value| {
            super::jws::verify(raw.trim(), keys, expected.client_secret, |alg| {
                id_token::alg_allowed(alg, confidential)
            })
        };
        let claims = match self.verify_signed(expected.issuer, check, true).await {
            Ok(signed) => signed.claims,
            Err(SignedError::Unreachable(e)) => return Err(e.into()),
            // A signed answer that does not verify is forged or broken, not missing.
            Err(SignedError::Refused(why)) => return Err(UserinfoError::Invalid(why)),
        };
        let iss_ok = claims
            .get("iss")
            .is_none_or(|i| i.as_str() == Some(expected.issuer));
        let aud_ok = match claims.get("aud") {
            None => true,
            Some(Value::String(a)) => a == expected.client_id,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(expected.client_id)),
            Some(_) => false,
        };
        match (iss_ok, aud_ok, claims.is_object()) {
            (true, true, true) => Ok(claims),
            (false, _, _) => Err(UserinfoError::Invalid("iss")),
            (_, false, _) => Err(UserinfoError::Invalid("aud")),
            _ => Err(UserinfoError::Invalid("claims not an object")),
        }
    }

    /// The provider's end-session URL (RP-initiated logout), when it has one: with
    /// `id_token_hint`, `client_id`, the registered post-logout URI and a `state`.
    pub async fn end_session_url(&self, end: &EndSession<'_>) -> Option<String> {
        let discovery = self.discovery(end.issuer).await.ok()?;
        let mut url = url::Url::parse(field(&discovery, "end_session_endpoint")?).ok()?;
        url.query_pairs_mut()
            .append_pair("id_token_hint", end.id_token)
            .append_pair("client_id", end.client_id)
            .append_pair("post_logout_redirect_uri", end.post_logout_redirect_uri)
            .append_pair("state", &random_value());
        Some(url.to_string())
    }
}
