//! The authorization code flow with PKCE, on the server (spec section 4): starting a sign-in
//! and finishing it up to a validated identity. Who that identity is in Grimmory is decided
//! in `auth::oidc_login`.

use super::id_token::{self, Expected, TokenFailure, Verified};
use super::outbound::OutboundError;
use super::provider::field;
use crate::auth::session::{hash_token, SessionToken};
use crate::db::pending_logins::{PendingLogin, LIFETIME_MS};
use crate::error::AppError;
use crate::oidc_settings::Effective;
use crate::AppState;
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
    /// settings changed since it started.
    StateMismatch,
    /// The `iss` parameter differs from the pending issuer, or is missing although the
    /// provider advertises it (RFC 9207).
    IssParamMismatch,
    /// Discovery, the keys or the token endpoint could not be reached.
    ProviderUnreachable,
    NoAuthorizationEndpoint,
    BadAuthorizationEndpoint,
    TooManyPendingLogins,
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
    /// Our own trouble (database, sealed secret): logged with a reference where it happened.
    Internal,
}

impl Failure {
    /// The machine reason the audit log records.
    pub fn reason(&self) -> Cow<'static, str> {
        match self {
            Self::StateMismatch => "state_mismatch".into(),
            Self::IssParamMismatch => "iss_param_mismatch".into(),
            Self::ProviderUnreachable => "provider_unreachable".into(),
            Self::NoAuthorizationEndpoint => "no_authorization_endpoint".into(),
            Self::BadAuthorizationEndpoint => "bad_authorization_endpoint".into(),
            Self::TooManyPendingLogins => "too_many_pending_logins".into(),
            Self::Provider(code) => format!("provider_error:{code}").into(),
            Self::MissingCode => "missing_code".into(),
            Self::NoTokenEndpoint => "no_token_endpoint".into(),
            Self::TokenEndpointStatus(status) => format!("token_endpoint_http_{status}").into(),
            Self::InvalidClient => "invalid_client".into(),
            Self::TokenError(code) => format!("token_error:{code}").into(),
            Self::MissingIdToken => "missing_id_token".into(),
            Self::Token(f) => f.reason().into(),
            Self::UserinfoSubMismatch => "userinfo_sub_mismatch".into(),
            Self::Internal => "internal_error".into(),
        }
    }

    fn unreachable(e: &OutboundError) -> Self {
        tracing::warn!(error = %e, "identity provider unreachable");
        Self::ProviderUnreachable
    }
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        // Logged with a reference; the user sees the generic text.
        e.body();
        Self::Internal
    }
}

/// What to do with the identity once it is proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Login,
    /// Link it to this signed-in user (from /profile).
    Link(i64),
}

pub struct Started {
    pub location: String,
}

fn random_token() -> String {
    SessionToken::generate().as_cookie_value().to_owned()
}

/// Creates the pending sign-in and answers where to send the browser.
pub async fn start(
    state: &AppState,
    oidc: &Effective,
    browser_id: &str,
    return_to: &str,
    intent: Intent,
    redirect_uri: &str,
) -> Result<Started, Failure> {
    let s = &oidc.settings;
    let now = state.clock.now();
    let discovery = state
        .providers
        .discovery(&state.outbound, &s.issuer_uri, now)
        .await
        .map_err(|e| Failure::unreachable(&e))?;
    let endpoint =
        field(&discovery, "authorization_endpoint").ok_or(Failure::NoAuthorizationEndpoint)?;
    let mut url = url::Url::parse(endpoint).map_err(|_| Failure::BadAuthorizationEndpoint)?;
    let (state_value, nonce, verifier) = (
        random_token(),
        random_token(),
        random_token() + &random_token(),
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let (intent_name, link_user_id) = match intent {
        Intent::Login => ("login", None),
        Intent::Link(id) => ("link", Some(id)),
    };
    let pending = PendingLogin {
        state_hash: hash_token(&state_value),
        browser_hash: hash_token(browser_id),
        nonce: nonce.clone(),
        pkce_verifier: verifier,
        issuer: s.issuer_uri.clone(),
        client_id: s.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        return_to: return_to.to_owned(),
        intent: intent_name.to_owned(),
        link_user_id,
        created_at: now,
    };
    if !state
        .db
        .insert_pending_login(&pending, now)
        .await
        .map_err(AppError::from)?
    {
        return Err(Failure::TooManyPendingLogins);
    }
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &s.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &s.effective_scopes())
            .append_pair("state", &state_value)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        for (k, v) in s.extra_params() {
            q.append_pair(&k, &v);
        }
    }
    Ok(Started {
        location: url.to_string(),
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
}

/// A proven identity, with what the provider gave along.
pub struct Authenticated {
    pub pending: PendingLogin,
    pub token: Verified,
    pub id_token: String,
    pub refresh_token: Option<String>,
    /// When the provider's access token goes stale.
    pub access_expires_at: Option<crate::clock::Millis>,
    pub userinfo: Option<Value>,
    /// Set when userinfo could not be used and the ID token's claims alone were.
    pub userinfo_warning: Option<String>,
}

/// Consumes the pending sign-in named by `state` and, when this browser owns it, finishes the
/// flow: code exchange, ID-token validation, userinfo.
pub async fn finish(
    state: &AppState,
    oidc: &Effective,
    browser_id: Option<&str>,
    q: CallbackQuery,
) -> Result<Authenticated, (Failure, Option<PendingLogin>)> {
    let now = state.clock.now();
    let pending = match q.state.as_deref() {
        Some(s) if !s.is_empty() => state
            .db
            .take_pending_login(&hash_token(s))
            .await
            .map_err(|e| (Failure::from(AppError::from(e)), None))?,
        _ => None,
    };
    let owned = pending
        .filter(|p| browser_id.is_some_and(|b| hash_token(b) == p.browser_hash))
        .filter(|p| now - p.created_at < LIFETIME_MS);
    let Some(pending) = owned else {
        return Err((Failure::StateMismatch, None));
    };
    let fail = |f: Failure| (f, Some(pending.clone()));
    // The settings may have changed since the sign-in started: never mix two providers.
    if pending.issuer != oidc.settings.issuer_uri || pending.client_id != oidc.settings.client_id {
        return Err(fail(Failure::StateMismatch));
    }
    let discovery = state
        .providers
        .discovery(&state.outbound, &pending.issuer, now)
        .await
        .map_err(|e| fail(Failure::unreachable(&e)))?;
    // RFC 9207: the iss parameter is checked on error responses too.
    match q.iss.as_deref() {
        Some(iss) if iss != pending.issuer => return Err(fail(Failure::IssParamMismatch)),
        None if discovery.get("authorization_response_iss_parameter_supported")
            == Some(&Value::Bool(true)) =>
        {
            return Err(fail(Failure::IssParamMismatch))
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
        return Err(fail(Failure::Provider(code)));
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return Err(fail(Failure::MissingCode));
    };
    let secret = match state.db.oidc_client_secret().await {
        Ok(Some(sealed)) => Some(
            state
                .secrets
                .open(&sealed)
                .map_err(|e| fail(AppError::internal(e).into()))?,
        ),
        Ok(None) => None,
        Err(e) => return Err(fail(AppError::from(e).into())),
    };
    let tokens = exchange(state, &discovery, &pending, &code, secret.as_deref())
        .await
        .map_err(fail)?;
    let id_token = tokens
        .get("id_token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| fail(Failure::MissingIdToken))?;
    let access_token = tokens
        .get("access_token")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let expected = Expected {
        issuer: &pending.issuer,
        client_id: &pending.client_id,
        client_secret: secret.as_deref(),
        nonce: Some(&pending.nonce),
        not_issued_before: pending.created_at,
        now,
        access_token: access_token.as_deref(),
    };
    let token = verify_with_rotation(state, &pending.issuer, &id_token, &expected)
        .await
        .map_err(fail)?;
    let (userinfo, userinfo_warning) = match (
        field(&discovery, "userinfo_endpoint"),
        access_token.as_deref(),
    ) {
        (Some(endpoint), Some(access)) => {
            match fetch_userinfo(state, endpoint, access, &expected).await {
                Ok(info) if info.get("sub").and_then(Value::as_str) == Some(token.sub.as_str()) => {
                    (Some(info), None)
                }
                Ok(_) => return Err(fail(Failure::UserinfoSubMismatch)),
                Err(e) => (None, Some(format!("userinfo unavailable: {e}"))),
            }
        }
        _ => (None, None),
    };
    Ok(Authenticated {
        pending,
        token,
        id_token,
        refresh_token: tokens
            .get("refresh_token")
            .and_then(Value::as_str)
            .map(str::to_owned),
        access_expires_at: tokens
            .get("expires_in")
            .and_then(Value::as_i64)
            .map(|s| now + s * 1000),
        userinfo,
        userinfo_warning,
    })
}

/// Validates, fetching the keys once more when the token names one we do not know.
async fn verify_with_rotation(
    state: &AppState,
    issuer: &str,
    raw: &str,
    expected: &Expected<'_>,
) -> Result<Verified, Failure> {
    let now = expected.now;
    let keys = state
        .providers
        .jwks(&state.outbound, issuer, now, false)
        .await
        .map_err(|e| Failure::unreachable(&e))?
        .ok_or(Failure::ProviderUnreachable)?;
    match id_token::verify(raw, &keys, expected) {
        Err(TokenFailure::UnknownKid) => {
            let fresh = state
                .providers
                .jwks(&state.outbound, issuer, now, true)
                .await
                .map_err(|e| Failure::unreachable(&e))?;
            match fresh {
                Some(keys) => id_token::verify(raw, &keys, expected).map_err(Failure::Token),
                None => Err(Failure::Token(TokenFailure::UnknownKid)),
            }
        }
        other => other.map_err(Failure::Token),
    }
}

/// The token request: code, redirect URI and PKCE verifier, with the client authentication
/// the provider advertises (basic first) when there is a secret.
async fn exchange(
    state: &AppState,
    discovery: &Value,
    pending: &PendingLogin,
    code: &str,
    secret: Option<&str>,
) -> Result<Value, Failure> {
    let endpoint = field(discovery, "token_endpoint").ok_or(Failure::NoTokenEndpoint)?;
    let url =
        super::outbound::Outbound::check_url(endpoint).map_err(|e| Failure::unreachable(&e))?;
    let form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code.to_owned()),
        ("redirect_uri", pending.redirect_uri.clone()),
        ("code_verifier", pending.pkce_verifier.clone()),
    ];
    let reply = super::token_endpoint::post(
        &state.outbound,
        discovery,
        url,
        &pending.client_id,
        secret,
        form,
    )
    .await
    .map_err(|e| Failure::unreachable(&e))?;
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
async fn fetch_userinfo(
    state: &AppState,
    endpoint: &str,
    access_token: &str,
    expected: &Expected<'_>,
) -> Result<Value, OutboundError> {
    let url = super::outbound::Outbound::check_url(endpoint)?;
    let request = state
        .outbound
        .client()
        .get(url)
        .bearer_auth(access_token)
        .header("accept", "application/json, application/jwt");
    let reply = state.outbound.send(request).await?;
    if reply.status != 200 {
        return Err(OutboundError::Status(reply.status));
    }
    if let Ok(v) = reply.json() {
        return if v.is_object() {
            Ok(v)
        } else {
            Err(OutboundError::NotJson)
        };
    }
    let raw = String::from_utf8(reply.body).map_err(|_| OutboundError::NotJson)?;
    let keys = state
        .providers
        .jwks(&state.outbound, expected.issuer, expected.now, false)
        .await?
        .ok_or(OutboundError::NotJson)?;
    let confidential = expected.client_secret.is_some();
    let signed = super::jws::verify(raw.trim(), &keys, expected.client_secret, |alg| {
        id_token::alg_allowed(alg, confidential)
    })
    .map_err(|_| OutboundError::NotJson)?;
    let claims = signed.claims;
    let iss_ok = claims
        .get("iss")
        .is_none_or(|i| i.as_str() == Some(expected.issuer));
    let aud_ok = match claims.get("aud") {
        None => true,
        Some(Value::String(a)) => a == expected.client_id,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(expected.client_id)),
        Some(_) => false,
    };
    if iss_ok && aud_ok && claims.is_object() {
        Ok(claims)
    } else {
        Err(OutboundError::NotJson)
    }
}

/// Where to send the browser after the local session ended: the provider's end-session
/// endpoint (RP-initiated logout) when it has one and the session came from it, with
/// `id_token_hint`, `client_id`, the registered post-logout URI and a `state`.
pub async fn end_session_url(
    state: &AppState,
    oidc: &Effective,
    issuer: &str,
    id_token: &str,
    public_base: &str,
) -> Option<String> {
    if !oidc.enabled || issuer != oidc.settings.issuer_uri {
        return None;
    }
    let discovery = state
        .providers
        .discovery(&state.outbound, issuer, state.clock.now())
        .await
        .ok()?;
    let mut url = url::Url::parse(field(&discovery, "end_session_endpoint")?).ok()?;
    url.query_pairs_mut()
        .append_pair("id_token_hint", id_token)
        .append_pair("client_id", &oidc.settings.client_id)
        .append_pair(
            "post_logout_redirect_uri",
            &format!("{public_base}/login?signedOut=1"),
        )
        .append_pair("state", &random_token());
    Some(url.to_string())
}
