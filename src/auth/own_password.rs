//! A signed-in user changing their own password.

use super::local_login::limit_attempt;
use super::password;
use crate::db::{AuditEntry, AuditEvent, User, UserChanges};
use crate::error::{AppError, AppResult};
use crate::state::Services;
use crate::validation::{self, Fields};
use app::domain::{ChangePasswordRequest, FieldError};

/// Checks the current password (counted like a sign-in attempt), stores the new one and ends
/// the user's other sessions.
pub async fn change(
    state: &Services,
    user: &User,
    session_hash: &str,
    ip: &str,
    req: ChangePasswordRequest,
) -> AppResult<()> {
    let Some(stored) = user.password_hash.clone() else {
        return Err(AppError::Conflict(
            "Your account signs in through OIDC and has no password to change.".to_owned(),
        ));
    };
    let mut fields = Fields::new();
    let current = req.current_password.unwrap_or_default();
    if current.is_empty() {
        fields.add("currentPassword", "Enter your current password.");
    }
    let new = validation::new_password(req.new_password.as_deref())
        .map_err(|m| fields.add("newPassword", m))
        .ok();
    fields.finish()?;
    // A signed-in session is better proof than a known-device cookie: guessing at this
    // account elsewhere never delays its owner here.
    let attempt = limit_attempt(state, ip, &user.username, true).await?;
    if !password::verify(current, Some(stored), &state.dummy_hash).await? {
        return Err(AppError::Validation(vec![FieldError {
            field: "currentPassword".to_owned(),
            message: "Your current password is not right.".to_owned(),
        }]));
    }
    attempt.forget(state).await?;
    let new = new.ok_or_else(|| AppError::internal("validated password missing"))?;
    let changes = UserChanges {
        password_hash: Some(Some(password::hash(new).await?)),
        ..UserChanges::default()
    };
    let now = state.clock.now();
    let audit = AuditEntry::new(AuditEvent::UserUpdated, now)
        .actor(user.id)
        .ip(ip);
    state
        .db
        .update_user(
            user.id,
            &changes,
            now,
            state.config.force_disable_oidc,
            Some(session_hash),
            audit,
        )
        .await?;
    Ok(())
}
