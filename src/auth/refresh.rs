//! Keeping OIDC sessions in step with the provider (spec section 7): while the user is active
//! and the provider's access token is about to go stale, the server refreshes in the
//! background — one refresh per session at a time, across replicas (a lease in the database
//! that only its holder can use), the new refresh token stored before it is used. A refused
//! refresh token ends the session; network trouble and other refusals do not, but make the
//! session wait before the next try, so an outage does not cost a request to the provider on
//! every page view.

use super::sign_in;
use crate::clock::Millis;
use crate::crypto::Binding;
use crate::db::{AuditEntry, AuditEvent, RefreshLease, RefreshResult};
use crate::error::{AppError, AppResult};
use crate::oidc::client::random_value;
use crate::oidc::refresh::{NewIdToken, RefreshError, RefreshGrant};
use crate::oidc_settings as settings;
use crate::state::Services;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// Refresh this long before the access token goes stale.
pub const MARGIN_MS: i64 = 60_000;

/// Whether a session's provider access token is close enough to going stale to refresh it now.
pub fn due(session: &crate::db::SessionRecord, now: Millis) -> bool {
    session.refresh_at.is_some_and(|at| at < now + MARGIN_MS)
}
/// The most requests one refresh makes to the provider, each bounded by the outbound
/// timeout: discovery, the token request, the keys and one refetch of them.
const CALLS_PER_REFRESH: i64 = 4;
/// Time on top of the calls for the database work around them.
const LEASE_SPARE_MS: Millis = 15_000;
/// The wait before the next try after the provider could not be reached or answered a 5xx.
pub const RETRY_UNAVAILABLE_MS: Millis = 60_000;
/// The wait after a refusal that settings must fix (e.g. `invalid_client`).
pub const RETRY_REFUSED_MS: Millis = 15 * 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Refreshed,
    /// Another caller holds the refresh (or OIDC is off): nothing done.
    Skipped,
    /// Trouble with the provider: the session lives on and is refreshed later.
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

/// How long a refresh may hold its lease: longer than the slowest refresh can take, so the
/// lease never runs out under a holder that is still at work.
fn lease_ms(state: &Services) -> Millis {
    let timeout = state.oidc.outbound().timeout().as_millis() as Millis;
    CALLS_PER_REFRESH * timeout + LEASE_SPARE_MS
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
    let lease_token = random_value();
    let token = lease_token.as_str();
    let Some(lease) = state
        .db
        .lease_refresh(id_hash, token, now, now + MARGIN_MS, lease_ms(state))
        .await?
    else {
        return Ok(Outcome::Skipped);
    };
    let s = &oidc.settings;
    let wait = |ms: Millis| async move {
        let not_before = state.clock.now() + ms;
        state.db.release_refresh(id_hash, token, not_before).await?;
        Ok::<_, AppError>(Outcome::Kept)
    };
    if lease.issuer != s.issuer_uri {
        // A session from a provider no longer configured: nothing to refresh it with.
        return wait(RETRY_REFUSED_MS).await;
    }
    // A session lives only as long as the identity link it came through.
    if !still_linked(state, &lease).await? {
        return end(state, id_hash, lease.user_id, "identity_unlinked").await;
    }
    // A token that does not open here was not sealed for this session: never use it.
    let Ok(refresh_token) = state.secrets.open(
        &lease.refresh_sealed,
        Binding::RefreshToken { session: id_hash },
    ) else {
        return end(state, id_hash, lease.user_id, "unreadable_refresh_token").await;
    };
    let secret = sign_in::client_secret(state, &s.issuer_uri, &s.client_id).await?;
    let grant = RefreshGrant {
        issuer: &s.issuer_uri,
        client_id: &s.client_id,
        client_secret: secret.as_deref(),
        refresh_token: &refresh_token,
    };
    let refreshed = match state.oidc.refresh(&grant).await {
        Ok(r) => r,
        Err(RefreshError::Unavailable) => return wait(RETRY_UNAVAILABLE_MS).await,
        Err(RefreshError::Refused(code)) => {
            tracing::warn!(
                error = %code,
                "the provider refused to refresh a session; check the client ID and secret. \
                 The session is kept and tried again in 15 minutes"
            );
            return wait(RETRY_REFUSED_MS).await;
        }
        Err(RefreshError::InvalidGrant) => {
            // A refresh of this session that succeeded meanwhile used the old token up: not
            // a revocation.
            if state.db.refresh_version(id_hash).await? != Some(lease.version) {
                return Ok(Outcome::Skipped);
            }
            return end(state, id_hash, lease.user_id, "invalid_grant").await;
        }
        Err(RefreshError::Token(f)) => return end(state, id_hash, lease.user_id, f.reason()).await,
    };
    let mut id_token = lease.id_token.clone();
    let mut fresh_claims = None;
    let mut outcome = Outcome::Refreshed;
    match refreshed.id_token {
        NewIdToken::Verified(raw, verified) => {
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
        NewIdToken::Unchecked => {
            tracing::warn!(
                "a refreshed ID token could not be checked (its key is unknown or the keys are \
                 unreachable); the session keeps its claims until the next refresh"
            );
            outcome = Outcome::Kept;
        }
        NewIdToken::None => {}
    }
    let new_refresh = refreshed.refresh_token.unwrap_or(refresh_token);
    let stored = state
        .db
        .store_refresh(
            id_hash,
            token,
            &RefreshResult {
                refresh_sealed: &state
                    .secrets
                    .seal(&new_refresh, Binding::RefreshToken { session: id_hash }),
                id_token: &id_token,
                access_expires_at: refreshed.access_expires_at,
            },
        )
        .await?;
    if !stored {
        return Ok(Outcome::Skipped);
    }
    if let Some(claims) = fresh_claims {
        sign_in::resync(state, lease.user_id, &claims, s).await?;
    }
    Ok(outcome)
}
