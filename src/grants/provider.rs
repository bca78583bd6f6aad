//! Keeping a grant in step with the provider sign-in it was approved through (spec section
//! 11.1). Providers without back-channel logout (Authelia, Pocket ID) never tell us a user is
//! gone; their refusal to refresh is how we learn it. So when a client refreshes its tokens
//! and the grant's provider access token is stale, the server refreshes that too: a refusal
//! (`invalid_grant`, or an ID token for someone else) ends the grant; an unreachable provider
//! or a 5xx keeps it, as for sessions (`auth::refresh`).

use crate::auth::refresh::MARGIN_MS;
use crate::auth::sign_in;
use crate::crypto::Binding;
use crate::db::grants::Grant;
use crate::error::AppResult;
use crate::oidc::refresh::{NewIdToken, RefreshError, RefreshGrant};
use crate::oidc_settings as settings;
use crate::state::Services;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Keep,
    Refused,
}

/// Refreshes the grant's provider tokens if they are stale; says whether the grant lives on.
/// Only one client refresh of a grant gets here at a time: the rotation before it lets one
/// caller through per refresh token.
pub(super) async fn check(state: &Services, grant: &Grant) -> AppResult<Verdict> {
    let (Some(sealed), Some(issuer), Some(subject)) = (
        grant.provider_refresh_sealed.as_deref(),
        grant.oidc_issuer.as_deref(),
        grant.oidc_subject.as_deref(),
    ) else {
        // Approved with a password, or the provider gave no refresh token: nothing to ask.
        return Ok(Verdict::Keep);
    };
    let now = state.clock.now();
    if grant
        .provider_access_expires_at
        .is_some_and(|at| at > now + MARGIN_MS)
    {
        return Ok(Verdict::Keep);
    }
    let oidc = settings::effective(state).await?;
    // OIDC off, or another provider configured: nobody to ask, and grants are not local
    // sign-ins that OIDC settings switch off.
    if !oidc.enabled || oidc.settings.issuer_uri != issuer {
        return Ok(Verdict::Keep);
    }
    let Ok(refresh_token) = state
        .secrets
        .open(sealed, Binding::Grant { grant_id: grant.id })
    else {
        // Not sealed for this grant: never sent anywhere.
        tracing::warn!(
            grant = grant.id,
            "a grant's provider refresh token does not open"
        );
        return Ok(Verdict::Refused);
    };
    let s = &oidc.settings;
    let secret = sign_in::client_secret(state, &s.issuer_uri, &s.client_id).await?;
    let request = RefreshGrant {
        issuer: &s.issuer_uri,
        client_id: &s.client_id,
        client_secret: secret.as_deref(),
        refresh_token: &refresh_token,
    };
    let refreshed = match state.oidc.refresh(&request).await {
        Ok(refreshed) => refreshed,
        Err(RefreshError::Unavailable) => return Ok(Verdict::Keep),
        Err(RefreshError::Refused(code)) => {
            tracing::warn!(
                error = %code,
                "the provider refused to refresh an app grant; check the client ID and secret. The grant is kept"
            );
            return Ok(Verdict::Keep);
        }
        Err(RefreshError::InvalidGrant | RefreshError::Token(_)) => return Ok(Verdict::Refused),
    };
    if let NewIdToken::Verified(_, verified) = &refreshed.id_token {
        if verified.sub != subject {
            return Ok(Verdict::Refused);
        }
    }
    let kept = refreshed.refresh_token.unwrap_or(refresh_token);
    let sealed = state
        .secrets
        .seal(&kept, Binding::Grant { grant_id: grant.id });
    state
        .db
        .store_grant_provider_refresh(grant.id, &sealed, refreshed.access_expires_at)
        .await?;
    Ok(Verdict::Keep)
}
