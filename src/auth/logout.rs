//! Signing out.

use crate::db::{AuditEntry, AuditEvent};
use crate::error::AppResult;
use crate::oidc_settings::{self as settings, reference};
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
    if let (Some(issuer), Some(id_token)) = (ended.oidc_issuer, ended.id_token) {
        let oidc = settings::effective(state).await?;
        let base = reference::redirect_base(state).await?;
        if let Some(url) =
            super::sign_in::end_session_url(state, &oidc, &issuer, &id_token, &base).await
        {
            return Ok(url);
        }
    }
    Ok(SIGNED_OUT.to_owned())
}
