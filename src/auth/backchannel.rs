//! Back-channel logout (spec section 7): the provider says a user's session there ended, and
//! every session and app grant it started here ends too, on every replica (they read the
//! database).

use crate::db::grants::{By, Which};
use crate::db::{AuditEntry, AuditEvent};
use crate::error::AppError;
use crate::oidc::logout_token::{Expected, Refusal};
use crate::oidc_settings as settings;
use crate::state::Services;

/// Why a logout request was not carried out: the token was refused (the reason, for the server
/// log only: the provider gets one answer for every refusal), or the database failed, which
/// the provider is told as such so that it tries again.
pub enum Failure {
    Refused(Refusal),
    Database(AppError),
}

impl From<Refusal> for Failure {
    fn from(why: Refusal) -> Self {
        Self::Refused(why)
    }
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        Self::Database(e)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.into())
    }
}

/// Checks the logout token and ends the sessions it names. `may_refetch` false (a client over
/// its limit of refusals) checks the token with the keys at hand only.
pub async fn end_sessions(
    state: &Services,
    ip: &str,
    token: &str,
    may_refetch: bool,
) -> Result<(), Failure> {
    let oidc = settings::effective(state).await?;
    if !oidc.enabled {
        return Err("OIDC is off".into());
    }
    let s = &oidc.settings;
    let now = state.clock.now();
    // Only the algorithm the provider signs our ID tokens with (RS256 before the first).
    let alg = state
        .db
        .setting(&format!("oidc_alg:{}", s.issuer_uri))
        .await?
        .unwrap_or_else(|| "RS256".to_owned());
    let secret = super::sign_in::client_secret(state, &s.issuer_uri, &s.client_id).await?;
    let expected = Expected {
        issuer: &s.issuer_uri,
        client_id: &s.client_id,
        client_secret: secret.as_deref(),
        alg: &alg,
        now,
    };
    let request = state
        .oidc
        .verify_logout_token(token, &expected, may_refetch)
        .await?;
    if !state
        .db
        .remember_logout_jti(&s.issuer_uri, &request.jti, request.keep_until, now)
        .await?
    {
        return Err("jti replayed".into());
    }
    let ended = state
        .db
        .end_provider_sessions(
            &s.issuer_uri,
            request.sid.as_deref(),
            request.sub.as_deref(),
        )
        .await?;
    // The app grants approved through that provider session (or sign-ins of the subject)
    // end with it (spec section 11.1).
    let which = Which::ProviderSession {
        issuer: &s.issuer_uri,
        sid: request.sid.as_deref(),
        sub: request.sub.as_deref(),
    };
    let by = By {
        actor: None,
        ip: Some(ip),
    };
    let revoked = state
        .db
        .revoke_grants(which, "backchannel", by, now)
        .await?;
    let mut entry = AuditEntry::new(AuditEvent::BackchannelLogout, now)
        .ip(ip)
        .detail("sessionsEnded", ended.len())
        .detail("grantsRevoked", revoked.len());
    let mut users = ended
        .iter()
        .copied()
        .chain(revoked.iter().map(|g| g.user_id));
    if let Some(user) = users.next() {
        entry = entry.target(user);
    }
    state.db.audit(entry).await?;
    Ok(())
}
