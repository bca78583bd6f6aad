//! Every way a grant ends (spec section 11.1), each audited as GRANT_REVOKED with its reason.
//! Those that come with another change (a user deleted, an identity unlinked) happen in that
//! change's transaction (`db::users`); back-channel logout ends grants in `auth::backchannel`.

use super::IDLE_MS;
use crate::db::grants::{By, Which};
use crate::db::{AuditEntry, AuditEvent, User};
use crate::error::{AppError, AppResult};
use crate::state::Services;

/// Why a grant ended: the audit log's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    User,
    Admin,
    SignOutEverywhere,
    RefreshReuse,
    ProviderRefused,
    Idle,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
            Self::SignOutEverywhere => "sign_out_everywhere",
            Self::RefreshReuse => "refresh_reuse",
            Self::ProviderRefused => "provider_refused",
            Self::Idle => "idle",
        }
    }
}

fn no_such_grant() -> AppError {
    AppError::NotFound("No such app or device.".to_owned())
}

/// The user revokes one of their own grants.
pub async fn own(state: &Services, user: &User, id: i64, ip: &str) -> AppResult<()> {
    let by = By {
        actor: Some(user.id),
        ip: Some(ip),
    };
    let which = Which::OneOf {
        user_id: user.id,
        id,
    };
    let revoked = state
        .db
        .revoke_grants(which, Reason::User.as_str(), by, state.clock.now())
        .await?;
    if revoked.is_empty() {
        return Err(no_such_grant());
    }
    Ok(())
}

/// An admin revokes one grant of a user.
pub async fn by_admin(
    state: &Services,
    admin: &User,
    user_id: i64,
    id: i64,
    ip: &str,
) -> AppResult<()> {
    let by = By {
        actor: Some(admin.id),
        ip: Some(ip),
    };
    let which = Which::OneOf { user_id, id };
    let revoked = state
        .db
        .revoke_grants(which, Reason::Admin.as_str(), by, state.clock.now())
        .await?;
    if revoked.is_empty() {
        return Err(no_such_grant());
    }
    Ok(())
}

/// "Sign out everywhere": every session and every grant of the user ends.
pub async fn sign_out_everywhere(
    state: &Services,
    admin: &User,
    user_id: i64,
    ip: &str,
) -> AppResult<()> {
    if state.db.user_by_id(user_id).await?.is_none() {
        return Err(AppError::NotFound("No such user.".to_owned()));
    }
    let now = state.clock.now();
    let by = By {
        actor: Some(admin.id),
        ip: Some(ip),
    };
    let reason = Reason::SignOutEverywhere.as_str();
    let revoked = state
        .db
        .revoke_grants(Which::AllOf(user_id), reason, by, now)
        .await?;
    let sessions = state.db.end_sessions_of(user_id).await?;
    state
        .db
        .audit(
            AuditEntry::new(AuditEvent::Logout, now)
                .actor(admin.id)
                .target(user_id)
                .ip(ip)
                .detail("everywhere", true)
                .detail("sessionsEnded", sessions)
                .detail("grantsRevoked", revoked.len()),
        )
        .await?;
    Ok(())
}

/// The server ends a grant (reuse, the provider's refusal, idleness); answers its user when
/// it was still live.
pub(super) async fn system(
    state: &Services,
    id: i64,
    reason: Reason,
    ip: Option<&str>,
) -> AppResult<Option<i64>> {
    let by = By { actor: None, ip };
    let revoked = state
        .db
        .revoke_grants(Which::Id(id), reason.as_str(), by, state.clock.now())
        .await?;
    if !revoked.is_empty() {
        tracing::info!(grant = id, reason = reason.as_str(), "app grant revoked");
    }
    Ok(revoked.first().map(|g| g.user_id))
}

/// Ends every grant unused for [`IDLE_MS`]. Idle grants are refused on use anyway; this
/// makes them leave the users' lists and records why.
pub async fn sweep_idle(state: &Services) -> AppResult<usize> {
    let now = state.clock.now();
    let revoked = state
        .db
        .revoke_grants(
            Which::IdleSince(now - IDLE_MS),
            Reason::Idle.as_str(),
            By::default(),
            now,
        )
        .await?;
    Ok(revoked.len())
}
