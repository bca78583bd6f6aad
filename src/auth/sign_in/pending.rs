//! The pending sign-in: what the authorization request promised (state, nonce, PKCE
//! verifier, provider, where to go after), kept in the database between the redirect to the
//! provider and its redirect back, bound to the browser that started it, used once.

use super::Failure;
use crate::auth::session::hash_token;
use crate::crypto::Binding;
use crate::db::pending_logins::{PendingLogin, TrialForm, LIFETIME_MS};
use crate::oidc::client::random_value;
use crate::oidc::flow::{self, AuthorizationRequest, CodeFlow};
use crate::oidc_settings::model::extra_params;
use crate::oidc_settings::StoredSettings;
use crate::state::Services;

/// What to do with the identity once it is proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Login,
    /// Link it to this signed-in user (from /profile).
    Link(i64),
    /// Confirm that this signed-in user, linked to the identity, approves an app (spec
    /// section 11.1): the round trip gives the grant a provider sign-in of its own.
    Grant(i64),
}

/// Why a pending sign-in is started, with the settings it runs with.
pub enum Purpose<'a> {
    /// A real sign-in or link, with the settings in force.
    SignIn(&'a StoredSettings, Intent),
    /// Try Sign-in (spec section 12): a dry run with the admin's unsaved form.
    DryRun(DryRun<'a>),
}

/// A dry run's start: who started it, from which session, with which form.
pub struct DryRun<'a> {
    pub admin_id: i64,
    /// The hash of the admin's session: the callback must come back to it.
    pub session_hash: &'a str,
    pub settings: &'a StoredSettings,
    pub client_secret: Option<&'a str>,
}

impl Purpose<'_> {
    fn settings(&self) -> &StoredSettings {
        match self {
            Purpose::SignIn(s, _) => s,
            Purpose::DryRun(d) => d.settings,
        }
    }
}

/// Where the new sign-in sends the browser: the provider's authorization URL.
pub struct Started {
    pub location: String,
}

/// The admin's extra parameters, and for a link `prompt=login` in place of any `prompt` of
/// theirs: the provider asks for a fresh sign-in, so a provider session that someone else
/// left in the browser is not linked silently (spec section 5.1, step 2). A dry run asks the
/// same, so the admin can sign in there as any test user (section 12).
fn authorization_params(purpose: &Purpose<'_>) -> Vec<(String, String)> {
    let mut params = extra_params(purpose.settings());
    if matches!(
        purpose,
        Purpose::SignIn(_, Intent::Link(_)) | Purpose::DryRun(_)
    ) {
        params.retain(|(k, _)| k != "prompt");
        params.push(("prompt".to_owned(), "login".to_owned()));
    }
    params
}

/// A new sign-in's fresh values, stored, and the authorization URL that carries them.
/// `client_key` names who started it (`auth::limits::client_key`), for its share of the cap.
pub async fn begin(
    state: &Services,
    purpose: Purpose<'_>,
    client_key: &str,
    browser_id: &str,
    return_to: &str,
    redirect_uri: &str,
) -> Result<Started, Failure> {
    let s = purpose.settings();
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
            extra_params: &authorization_params(&purpose),
        })
        .await?;
    let state_hash = hash_token(&state_value);
    let (intent_name, link_user_id, trial) = match &purpose {
        Purpose::SignIn(_, Intent::Login) => ("login", None, None),
        Purpose::SignIn(_, Intent::Link(id)) => ("link", Some(*id), None),
        Purpose::SignIn(_, Intent::Grant(id)) => ("grant", Some(*id), None),
        Purpose::DryRun(d) => (
            "dry_run",
            Some(d.admin_id),
            Some(TrialForm {
                settings: serde_json::to_string(d.settings)
                    .map_err(|e| Failure::internal(crate::error::AppError::internal(e)))?,
                secret: d.client_secret.map(|secret| {
                    state
                        .secrets
                        .seal(secret, Binding::TrialSecret { state: &state_hash })
                }),
                session_hash: d.session_hash.to_owned(),
            }),
        ),
    };
    let now = state.clock.now();
    let pending = PendingLogin {
        state_hash,
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
        trial,
    };
    state
        .db
        .insert_pending_login(&pending, client_key, now)
        .await
        .map_err(Failure::internal)?;
    Ok(Started { location })
}

/// Consumes the pending sign-in named by `state_param`: only this browser's, within its ten
/// minutes. A sign-in (not a dry run, which brings its own) must then also check that the
/// provider settings are the ones it started with ([`same_provider`]).
pub async fn take(
    state: &Services,
    browser_id: Option<&str>,
    state_param: Option<&str>,
) -> Result<PendingLogin, Failure> {
    let pending = match state_param {
        Some(s) if !s.is_empty() => state
            .db
            .take_pending_login(&hash_token(s))
            .await
            .map_err(Failure::internal)?,
        _ => None,
    };
    let now = state.clock.now();
    pending
        .filter(|p| browser_id.is_some_and(|b| hash_token(b) == p.browser_hash))
        .filter(|p| now - p.created_at < LIFETIME_MS)
        .ok_or_else(|| flow::Failure::StateMismatch.into())
}

/// Whether the settings in force are the provider a sign-in started with (never mix two
/// providers).
pub fn same_provider(pending: &PendingLogin, s: &StoredSettings) -> bool {
    pending.issuer == s.issuer_uri && pending.client_id == s.client_id
}

/// What a pending sign-in is for. A dry run decides as a sign-in does.
pub fn intent_of(pending: &PendingLogin) -> Intent {
    match (pending.intent.as_str(), pending.link_user_id) {
        ("link", Some(id)) => Intent::Link(id),
        ("grant", Some(id)) => Intent::Grant(id),
        _ => Intent::Login,
    }
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
