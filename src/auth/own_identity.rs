//! A signed-in user unlinking their own OIDC identity.

use crate::db::{AuditEntry, AuditEvent, StoreError, User};
use crate::error::{AppError, AppResult};
use crate::state::Services;
use app::domain::UserDto;

/// Removes `user`'s identity link, in one transaction with the admin invariants.
pub async fn unlink(state: &Services, user: &User, client_ip: &str) -> AppResult<UserDto> {
    let now = state.clock.now();
    let audit = AuditEntry::new(AuditEvent::OidcAccountUnlinked, now)
        .actor(user.id)
        .ip(client_ip);
    state
        .db
        .unlink_oidc(user.id, now, state.config.force_disable_oidc, audit)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                AppError::NotFound("Your account has no linked OIDC identity.".to_owned())
            }
            other => other.into(),
        })?;
    Ok(state.db.user_view(user).await?.into())
}
