//! Keeping OIDC sessions in step with the provider (spec section 7): while the user is active
//! and the provider's access token is about to go stale, the server refreshes in the
//! background — one refresh per session at a time, across replicas (a lease in the database),
//! the new refresh token stored before it is used. A refused refresh token ends the session;
//! network trouble does not.

use super::sign_in;
use crate::db::{AuditEntry, AuditEvent};
use crate::error::{AppError, AppResult};
use crate::oidc::id_token::{self, Expected};
use crate::oidc::provider::field;
use crate::oidc::token_endpoint;
use crate::oidc_settings as settings;
use crate::AppState;
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

async fn end(state: &AppState, id_hash: &str, user_id: i64, reason: &str) -> AppResult<Outcome> {
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

/// Refreshes one session if it is due. Called in the background by the session middleware.
pub async fn refresh_session(state: &AppState, id_hash: &str) -> AppResult<Outcome> {
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
    let refresh_token = state
        .secrets
        .open(&lease.refresh_sealed)
        .map_err(AppError::internal)?;
    let secret = match state.db.oidc_client_secret().await? {
        Some(sealed) => Some(state.secrets.open(&sealed).map_err(AppError::internal)?),
        None => None,
    };
    let Ok(discovery) = state
        .providers
        .discovery(&state.outbound, &s.issuer_uri, now)
        .await
    else {
        return keep().await;
    };
    let Some(endpoint) = field(&discovery, "token_endpoint")
        .and_then(|e| crate::oidc::outbound::Outbound::check_url(e).ok())
    else {
        return keep().await;
    };
    let form = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh_token.clone()),
    ];
    let Ok(reply) = token_endpoint::post(
        &state.outbound,
        &discovery,
        endpoint,
        &s.client_id,
        secret.as_deref(),
        form,
    )
    .await
    else {
        return keep().await;
    };
    let body = reply.json().unwrap_or(Value::Null);
    if reply.status != 200 {
        let invalid_grant = body.get("error").and_then(Value::as_str) == Some("invalid_grant");
        // A refresh of this session that succeeded meanwhile used the old token up: not a
        // revocation.
        let overtaken = state.db.refresh_version(id_hash).await? != Some(lease.version);
        if invalid_grant && !overtaken {
            return end(state, id_hash, lease.user_id, "invalid_grant").await;
        }
        return keep().await;
    }
    // Providers may send no new refresh token or ID token: keep what we had.
    let new_refresh = body
        .get("refresh_token")
        .and_then(Value::as_str)
        .unwrap_or(&refresh_token)
        .to_owned();
    let access_token = body.get("access_token").and_then(Value::as_str);
    let access_expires_at = body
        .get("expires_in")
        .and_then(Value::as_i64)
        .map(|secs| now + secs * 1000);
    let mut id_token = lease.id_token.clone();
    let mut fresh_claims = None;
    if let Some(raw) = body.get("id_token").and_then(Value::as_str) {
        let keys = match state
            .providers
            .jwks(&state.outbound, &s.issuer_uri, now, false)
            .await
        {
            Ok(Some(keys)) => keys,
            _ => return keep().await,
        };
        let expected = Expected {
            issuer: &s.issuer_uri,
            client_id: &s.client_id,
            client_secret: secret.as_deref(),
            nonce: None,
            not_issued_before: now - 10 * 60_000,
            now,
            access_token,
        };
        let verified = match id_token::verify(raw, &keys, &expected) {
            Ok(v) => v,
            Err(f) => return end(state, id_hash, lease.user_id, f.reason()).await,
        };
        if verified.sub != lease.subject {
            return end(state, id_hash, lease.user_id, "refreshed_sub_mismatch").await;
        }
        let nonce = verified.claims.get("nonce").and_then(Value::as_str);
        if nonce.is_some() && nonce.map(str::to_owned) != nonce_of(&lease.id_token) {
            return end(state, id_hash, lease.user_id, "nonce_mismatch").await;
        }
        id_token = raw.to_owned();
        fresh_claims = Some(verified.claims);
    }
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
