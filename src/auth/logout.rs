//! Signing out.

use crate::crypto::Binding;
use crate::db::{AuditEntry, AuditEvent};
use crate::error::AppResult;
use crate::oidc::revocation::Revocation;
use crate::oidc_settings::{self as settings, reference, Effective};
use crate::state::Services;

/// Where a signed-out browser goes when the provider has no page to end its session.
pub const SIGNED_OUT: &str = "/login?signedOut=1";

/// Ends the session `hash`, whether or not it is still live, and answers where the browser
/// goes next: the provider's end-session page for an OIDC session, else the login page.
pub async fn sign_out(state: &Services, hash: Option<&str>, client_ip: &str) -> AppResult<String> {
    let ended = match hash {
        Some(hash) => state.db.end_session(hash).await?,
        None => None,
    };
    let Some(ended) = ended else {
        return Ok(SIGNED_OUT.to_owned());
    };
    state
        .db
        .audit(
            AuditEntry::new(AuditEvent::Logout, state.clock.now())
                .actor(ended.user_id)
                .target(ended.user_id)
                .ip(client_ip),
        )
        .await?;
    let Some(issuer) = ended.oidc_issuer else {
        return Ok(SIGNED_OUT.to_owned());
    };
    let oidc = settings::effective(state).await?;
    if let (Some(hash), Some(sealed)) = (hash, ended.refresh_token_sealed) {
        revoke_in_background(state, &oidc, &issuer, hash, &sealed);
    }
    if let Some(id_token) = ended.id_token {
        let base = reference::redirect_base(state).await?;
        if let Some(url) =
            super::sign_in::end_session_url(state, &oidc, &issuer, &id_token, &base).await
        {
            return Ok(url);
        }
    }
    Ok(SIGNED_OUT.to_owned())
}

/// Asks the provider in force to revoke the ended session's refresh token (RFC 7009), so it
/// cannot outlive the session. Best effort and in the background: a failure is logged and
/// never holds up the sign-out.
fn revoke_in_background(
    state: &Services,
    oidc: &Effective,
    issuer: &str,
    session: &str,
    sealed: &str,
) {
    if !oidc.enabled || issuer != oidc.settings.issuer_uri {
        return;
    }
    let Ok(refresh_token) = state
        .secrets
        .open(sealed, Binding::RefreshToken { session })
    else {
        tracing::warn!("could not open a refresh token to revoke it at sign-out");
        return;
    };
    let (state, issuer, client_id) = (
        state.clone(),
        issuer.to_owned(),
        oidc.settings.client_id.clone(),
    );
    tokio::spawn(async move {
        let revoked = match super::sign_in::client_secret(&state, &issuer, &client_id).await {
            Ok(secret) => state
                .oidc
                .revoke_refresh_token(&Revocation {
                    issuer: &issuer,
                    client_id: &client_id,
                    client_secret: secret.as_deref(),
                    refresh_token: &refresh_token,
                })
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = revoked {
            tracing::warn!(error = %e, "could not revoke the provider's refresh token at sign-out");
        }
    });
}
