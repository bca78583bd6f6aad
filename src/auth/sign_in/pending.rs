//! The pending sign-in: what the authorization request promised (state, nonce, PKCE
//! verifier, provider, where to go after), kept in the database between the redirect to the
//! provider and its redirect back, bound to the browser that started it, used once.

use super::Failure;
use crate::auth::session::hash_token;
use crate::db::pending_logins::{PendingLogin, LIFETIME_MS};
use crate::oidc::client::random_value;
use crate::oidc::flow::{self, AuthorizationRequest, CodeFlow};
use crate::oidc_settings::model::extra_params;
use crate::oidc_settings::{Effective, StoredSettings};
use crate::state::Services;

/// What to do with the identity once it is proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Login,
    /// Link it to this signed-in user (from /profile).
    Link(i64),
}

/// Where the new sign-in sends the browser: the provider's authorization URL.
pub struct Started {
    pub location: String,
}

/// The admin's extra parameters, and for a link `prompt=login` in place of any `prompt` of
/// theirs: the provider asks for a fresh sign-in, so a provider session that someone else
/// left in the browser is not linked silently (spec section 5.1, step 2).
fn authorization_params(s: &StoredSettings, intent: Intent) -> Vec<(String, String)> {
    let mut params = extra_params(s);
    if let Intent::Link(_) = intent {
        params.retain(|(k, _)| k != "prompt");
        params.push(("prompt".to_owned(), "login".to_owned()));
    }
    params
}

/// A new sign-in's fresh values, stored, and the authorization URL that carries them.
/// `client_key` names who started it (`auth::limits::client_key`), for its share of the cap.
pub async fn begin(
    state: &Services,
    oidc: &Effective,
    client_key: &str,
    browser_id: &str,
    return_to: &str,
    intent: Intent,
    redirect_uri: &str,
) -> Result<Started, Failure> {
    let s = &oidc.settings;
    let (state_value, nonce, verifier) =
        (random_value(), random_value(), flow::new_pkce_verifier());
    let location = state
        .oidc
        .authorization_url(&AuthorizationRequest {
            issuer: &s.issuer_uri,
            client_id: &s.client_id,
            redirect_uri,
            scopes: &s.effective_scopes(),
            state: &state_value,
            nonce: &nonce,
            pkce_verifier: &verifier,
            extra_params: &authorization_params(s, intent),
        })
        .await?;
    let (intent_name, link_user_id) = match intent {
        Intent::Login => ("login", None),
        Intent::Link(id) => ("link", Some(id)),
    };
    let now = state.clock.now();
    let pending = PendingLogin {
        state_hash: hash_token(&state_value),
        browser_hash: hash_token(browser_id),
        nonce,
        pkce_verifier: verifier,
        issuer: s.issuer_uri.clone(),
        client_id: s.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        return_to: return_to.to_owned(),
        intent: intent_name.to_owned(),
        link_user_id,
        created_at: now,
    };
    state
        .db
        .insert_pending_login(&pending, client_key, now)
        .await
        .map_err(Failure::internal)?;
    Ok(Started { location })
}

/// Consumes the pending sign-in named by `state_param`: only this browser's, within its ten
/// minutes, and only while the provider settings are the ones it started with (never mix two
/// providers).
pub async fn take(
    state: &Services,
    oidc: &Effective,
    browser_id: Option<&str>,
    state_param: Option<&str>,
) -> Result<PendingLogin, (Failure, Option<PendingLogin>)> {
    let pending = match state_param {
        Some(s) if !s.is_empty() => state
            .db
            .take_pending_login(&hash_token(s))
            .await
            .map_err(|e| (Failure::internal(e), None))?,
        _ => None,
    };
    let now = state.clock.now();
    let owned = pending
        .filter(|p| browser_id.is_some_and(|b| hash_token(b) == p.browser_hash))
        .filter(|p| now - p.created_at < LIFETIME_MS);
    let Some(pending) = owned else {
        return Err((flow::Failure::StateMismatch.into(), None));
    };
    if pending.issuer != oidc.settings.issuer_uri || pending.client_id != oidc.settings.client_id {
        return Err((flow::Failure::StateMismatch.into(), Some(pending)));
    }
    Ok(pending)
}

/// The protocol's view of a pending sign-in.
pub fn code_flow<'a>(pending: &'a PendingLogin, client_secret: Option<&'a str>) -> CodeFlow<'a> {
    CodeFlow {
        issuer: &pending.issuer,
        client_id: &pending.client_id,
        client_secret,
        redirect_uri: &pending.redirect_uri,
        pkce_verifier: &pending.pkce_verifier,
        nonce: &pending.nonce,
        started_at: pending.created_at,
    }
}
