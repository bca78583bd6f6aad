//! The mobile app's sign-in (spec section 11.2), compatible with the original's app. The
//! app runs the authorization request against the provider itself (same client ID, its own
//! PKCE verifier and nonce, a custom-scheme redirect URI) with a one-time `state` from us,
//! then hands us the code. We redeem it exactly as the browser's callback does (the code
//! exchange, every ID-token check with the app's nonce and redirect URI, then matching and
//! provisioning: `sign_in_identity`), and answer a `mobile` grant's token pair instead of a
//! session.

use super::{audit_failure, client_secret, sign_in_identity, Answer, Failure, Intent};
use crate::auth::limits;
use crate::auth::session::hash_token;
use crate::clock::Millis;
use crate::db::grants::ProviderSignIn;
use crate::error::{AppError, AppResult};
use crate::grants::tokens::{self, TokenPair};
use crate::grants::{self, Kind};
use crate::oidc::client::random_value;
use crate::oidc::flow::CodeFlow;
use crate::oidc_settings::{self as settings, mobile_redirects, Effective};
use crate::state::Services;
use app::domain::OidcError;

/// The grant's name when the app sends neither a device name nor a User-Agent.
const FALLBACK_NAME: &str = "Mobile app";

/// A new one-time state for the app's authorization request, good for five minutes. Each
/// counts as a sign-in started, so no client can fill the table.
pub async fn new_state(state: &Services, ip: &str) -> AppResult<String> {
    enabled(state).await?;
    limits::start(state, ip).await?;
    let value = random_value();
    state
        .db
        .insert_mobile_state(&hash_token(&value), &limits::key_of(ip), state.clock.now())
        .await?;
    Ok(value)
}

/// What the app sends back after its round trip to the provider.
pub struct AppCallback<'a> {
    pub code: &'a str,
    pub code_verifier: &'a str,
    pub redirect_uri: &'a str,
    pub nonce: &'a str,
    pub state: &'a str,
    /// The grant's name: the app's `device_name`, else its User-Agent.
    pub name: Option<&'a str>,
    pub ip: &'a str,
}

/// A callback whose state and redirect URIs checked out: the settings it runs with and when
/// its state was handed out (an ID token issued before that is refused).
pub struct Admitted {
    oidc: Effective,
    started_at: Millis,
}

fn disabled_error() -> AppError {
    AppError::Forbidden(OidcError::OidcDisabled.text().to_owned())
}

async fn enabled(state: &Services) -> AppResult<Effective> {
    let oidc = settings::effective(state).await?;
    if oidc.enabled {
        Ok(oidc)
    } else {
        Err(disabled_error())
    }
}

/// Checks what can be checked before anything reaches the provider: OIDC in force, every
/// redirect URI (`redirect_uri`, and for the redirect variant `app_redirect_uri`) on the
/// Mobile Redirect URIs list, and the state handed out by us, unused, within five minutes.
/// The state is taken (used up) only once the URIs passed. Each fault is a JSON 400.
pub async fn admit(
    state: &Services,
    state_param: &str,
    redirect_uris: &[(&str, &str)],
) -> AppResult<Admitted> {
    let oidc = enabled(state).await?;
    for (field, uri) in redirect_uris {
        if !mobile_redirects::allowed(&oidc.settings.mobile_redirect_uris, uri) {
            return Err(AppError::field(
                field,
                format!("Redirect URI is not allowed: {uri}"),
            ));
        }
    }
    let taken = if state_param.is_empty() {
        None
    } else {
        state.db.take_mobile_state(&hash_token(state_param)).await?
    };
    let now = state.clock.now();
    match taken {
        Some(started_at) if now - started_at < crate::db::mobile_states::LIFETIME_MS => {
            Ok(Admitted { oidc, started_at })
        }
        _ => Err(AppError::field(
            "state",
            "The state is unknown, expired or already used. Start the sign-in again.",
        )),
    }
}

/// Redeems the app's code and makes its grant: a `mobile` grant with a provider sign-in of
/// its own (issuer, `sub`, `sid`, refresh token), so back-channel logout and the provider
/// refusing its refresh token end it. A failure is audited and counted as the browser's is.
pub async fn finish(
    state: &Services,
    admitted: Admitted,
    request: &AppCallback<'_>,
) -> Result<TokenPair, Failure> {
    match grant(state, admitted, request).await {
        Ok(pair) => {
            state.metrics.record_sign_in("mobile", "success");
            Ok(pair)
        }
        Err(failure) => {
            state.metrics.record_sign_in("mobile", "failure");
            audit_failure(state, request.ip, &failure, None).await;
            Err(failure)
        }
    }
}

async fn grant(
    state: &Services,
    admitted: Admitted,
    request: &AppCallback<'_>,
) -> Result<TokenPair, Failure> {
    let s = &admitted.oidc.settings;
    let secret = client_secret(state, &s.issuer_uri, &s.client_id)
        .await
        .map_err(Failure::internal)?;
    let flow = CodeFlow {
        issuer: &s.issuer_uri,
        client_id: &s.client_id,
        client_secret: secret.as_deref(),
        redirect_uri: request.redirect_uri,
        pkce_verifier: request.code_verifier,
        nonce: request.nonce,
        started_at: admitted.started_at,
    };
    let answer = Answer::Code(request.code.to_owned());
    let identified = sign_in_identity(state, &flow, answer, Intent::Login, s, request.ip).await?;
    let proven = &identified.auth.proven;
    let provider = ProviderSignIn {
        issuer: identified.auth.issuer.clone(),
        subject: proven.token.sub.clone(),
        sid: proven.token.sid().map(str::to_owned),
        refresh_token: proven.refresh_token.clone(),
        access_expires_at: proven.access_expires_at,
    };
    let name = grants::client_name(request.name, FALLBACK_NAME);
    tokens::grant_with_tokens(
        state,
        identified.user_id,
        Kind::Mobile,
        &name,
        Some(&provider),
        request.ip,
    )
    .await
    .map_err(Failure::internal)
}

/// What the app is told when its sign-in failed (already audited): the login page's text,
/// 403 when the identity is proven but has no account here, 401 when the provider's answer
/// was not accepted.
pub fn refusal(failure: &Failure) -> AppError {
    let text = failure.page().text().to_owned();
    match failure {
        Failure::Refused(_) | Failure::OidcDisabled => AppError::Forbidden(text),
        Failure::Internal | Failure::IdentityConflict => {
            AppError::internal("a mobile sign-in failed on our side")
        }
        Failure::Protocol(_) => AppError::Unauthorized(text),
    }
}
