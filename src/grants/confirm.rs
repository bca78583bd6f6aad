//! The approval rule (spec section 11.1): a user with a linked identity approves an app
//! through the provider (a round trip with intent `grant` within the last five minutes), so
//! the grant gets a provider sign-in of its own and ends with it; a user without one
//! confirms with their password. Either way a session alone (a browser left open) does not
//! suffice to mint long-lived credentials.

use crate::auth::limits;
use crate::auth::local_login::limit_attempt;
use crate::auth::password;
use crate::auth::sign_in::{self, Intent};
use crate::clock::Millis;
use crate::crypto::Binding;
use crate::db::grants::ProviderSignIn;
use crate::db::{IdentityLink, User};
use crate::error::{AppError, AppResult};
use crate::oidc_settings::{self as settings, reference, Effective};
use crate::state::Services;

/// How recent the provider round trip must be.
pub const CONFIRMATION_MS: Millis = 5 * 60_000;

/// The signed-in user who approves, and what a provider round trip needs.
pub struct Approver<'a> {
    pub user: &'a User,
    /// The hash of the caller's session, which a round trip is recorded on.
    pub session_hash: &'a str,
    /// The per-browser id that owns the pending sign-in of a round trip.
    pub browser_id: &'a str,
    pub ip: &'a str,
    /// Where the round trip brings the browser back to.
    pub return_to: &'a str,
}

/// Confirms the approval; answers the provider sign-in to attach to the new grant when the
/// user has a linked identity. Without a fresh round trip: 403 with the URL that starts one.
pub async fn confirm(
    state: &Services,
    approver: &Approver<'_>,
    password: Option<String>,
) -> AppResult<Option<ProviderSignIn>> {
    let link = state.db.user_view(approver.user).await?.link;
    let oidc = settings::effective(state).await?;
    match link {
        Some(link) if oidc.enabled => through_provider(state, approver, &link, &oidc)
            .await
            .map(Some),
        // The provider is switched off: only a password can confirm now.
        Some(_) if approver.user.password_hash.is_none() => Err(AppError::Forbidden(
            "OIDC sign-in is off, and your account has no password to confirm with.".to_owned(),
        )),
        _ => with_password(state, approver, password)
            .await
            .map(|()| None),
    }
}

async fn through_provider(
    state: &Services,
    approver: &Approver<'_>,
    link: &IdentityLink,
    oidc: &Effective,
) -> AppResult<ProviderSignIn> {
    let since = state.clock.now() - CONFIRMATION_MS;
    let session = approver.session_hash;
    if let Some(c) = state.db.take_grant_confirmation(session, since).await? {
        // Recorded only for the user's linked identity; the link may have changed since.
        if c.issuer == link.issuer && c.subject == link.subject {
            let refresh_token = c
                .refresh_sealed
                .map(|sealed| {
                    state
                        .secrets
                        .open(&sealed, Binding::GrantConfirmation { session })
                        .map_err(AppError::internal)
                })
                .transpose()?;
            return Ok(ProviderSignIn {
                issuer: c.issuer,
                subject: c.subject,
                sid: c.sid,
                refresh_token,
                access_expires_at: c.access_expires_at,
            });
        }
    }
    limits::start(state, approver.ip).await?;
    let redirect_uri = format!("{}/oauth2-callback", reference::redirect_base(state).await?);
    let started = sign_in::start(
        state,
        oidc,
        approver.ip,
        approver.browser_id,
        approver.return_to,
        Intent::Grant(approver.user.id),
        &redirect_uri,
    )
    .await
    .map_err(|_| {
        // Audited by `sign_in::start`.
        AppError::BadRequest(
            "Your provider cannot be reached to confirm. Please try again later.".to_owned(),
        )
    })?;
    Err(AppError::ConfirmWithProvider(started.location))
}

/// The user's own password, counted like a sign-in attempt.
async fn with_password(
    state: &Services,
    approver: &Approver<'_>,
    password: Option<String>,
) -> AppResult<()> {
    let user = approver.user;
    let Some(stored) = user.password_hash.clone() else {
        return Err(AppError::Forbidden(
            "Your account has no password to confirm with.".to_owned(),
        ));
    };
    let password = password.unwrap_or_default();
    if password.is_empty() {
        return Err(AppError::field(
            "password",
            "Enter your password to confirm.",
        ));
    }
    // Signed in: guessing at this account elsewhere never delays its owner here.
    let attempt = limit_attempt(state, approver.ip, &user.username, true).await?;
    if !password::verify(password, Some(stored), &state.dummy_hash).await? {
        return Err(AppError::field("password", "Your password is not right."));
    }
    attempt.forget(state).await?;
    Ok(())
}
