//! Keeping OIDC sessions in step with the provider (spec section 7): while the user is active
//! and the provider's access token is about to go stale, the server refreshes in the
//! background — one refresh per session at a time, across replicas (a lease in the database),
//! the new refresh token stored before it is used. A refused refresh token ends the session;
//! network trouble does not.

use super::sign_in;
use crate::db::{AuditEntry, AuditEvent, RefreshLease};
use crate::error::{AppError, AppResult};
use crate::oidc::refresh::{RefreshError, RefreshGrant};
use crate::oidc_settings as settings;
use crate::state::Services;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// Refresh this long before the access token goes stale.
pub const MARGIN_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Refreshed,
    /// Another caller holds the refresh (or OIDC is off): nothing done.
    Skipped,
    /// Trouble reaching the provider: the session lives on and is refreshed later.
    Kept,
    /// The provider refused the refresh token, or sent an ID token for someone else.
    Ended,
}

fn nonce_of(id_token: &str) -> Option<String> {
    let payload = id_token.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims
        .get("nonce")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

async fn end(state: &Services, id_hash: &str, user_id: i64, reason: &str) -> AppResult<Outcome> {
    state.db.delete_session(id_hash).await?;
    state
        .db
        .audit(
            AuditEntry::new(AuditEvent::SessionRefreshFailed, state.clock.now())
                .target(user_id)
                .detail("reason", reason),
        )
        .await?;
    Ok(Outcome::Ended)
}

/// Whether the session's (issuer, sub) is still linked to its user: an unlinked (or
/// re-linked) identity must not keep refreshing and re-syncing groups into the account.
async fn still_linked(state: &Services, lease: &RefreshLease) -> AppResult<bool> {
    let owner = state
        .db
        .identity_owner(&lease.issuer, &lease.subject)
        .await?;
    Ok(owner == Some(lease.user_id))
}

/// Refreshes one session if it is due. Called in the background by the session middleware.
pub async fn refresh_session(state: &Services, id_hash: &str) -> AppResult<Outcome> {
    let now = state.clock.now();
    let oidc = settings::effective(state).await?;
    if !oidc.enabled {
        return Ok(Outcome::Skipped);
    }
    let Some(lease) = state
        .db
        .lease_refresh(id_hash, now, now + MARGIN_MS)
        .await?
    else {
        return Ok(Outcome::Skipped);
    };
    let s = &oidc.settings;
    let keep = || async {
        state.db.release_refresh(id_hash).await?;
        Ok::<_, AppError>(Outcome::Kept)
    };
    if lease.issuer != s.issuer_uri {
        return keep().await;
    }
    // A session lives only as long as the identity link it came through.
    if !still_linked(state, &lease).await? {
        return end(state, id_hash, lease.user_id, "identity_unlinked").await;
    }
    let refresh_token = state
        .secrets
        .open(&lease.refresh_sealed)
        .map_err(AppError::internal)?;
    let secret = sign_in::client_secret(state).await?;
    let grant = RefreshGrant {
        issuer: &s.issuer_uri,
        client_id: &s.client_id,
        client_secret: secret.as_deref(),
        refresh_token: &refresh_token,
    };
    let refreshed = match state.oidc.refresh(&grant).await {
        Ok(r) => r,
        Err(RefreshError::Unavailable) => return keep().await,
        Err(RefreshError::InvalidGrant) => {
            // A refresh of this session that succeeded meanwhile used the old token up: not
            // a revocation.
            if state.db.refresh_version(id_hash).await? != Some(lease.version) {
                return keep().await;
            }
            return end(state, id_hash, lease.user_id, "invalid_grant").await;
        }
        Err(RefreshError::Token(f)) => return end(state, id_hash, lease.user_id, f.reason()).await,
    };
    let mut id_token = lease.id_token.clone();
    let mut fresh_claims = None;
    if let Some((raw, verified)) = refreshed.id_token {
        if verified.sub != lease.subject {
            return end(state, id_hash, lease.user_id, "refreshed_sub_mismatch").await;
        }
        let nonce = verified.claims.get("nonce").and_then(Value::as_str);
        if nonce.is_some() && nonce.map(str::to_owned) != nonce_of(&lease.id_token) {
            return end(state, id_hash, lease.user_id, "nonce_mismatch").await;
        }
        id_token = raw;
        fresh_claims = Some(verified.claims);
    }
    let new_refresh = refreshed.refresh_token.unwrap_or(refresh_token);
    let access_expires_at = refreshed.access_expires_at;
    let stored = state
        .db
        .store_refresh(
            id_hash,
            lease.version,
            &state.secrets.seal(&new_refresh),
            &id_token,
            access_expires_at,
        )
        .await?;
    if !stored {
        return Ok(Outcome::Skipped);
    }
    if let Some(claims) = fresh_claims {
        sign_in::resync(state, lease.user_id, &claims, s).await?;
    }
    Ok(Outcome::Refreshed)
}
