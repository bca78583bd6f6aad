//! A signed-in user changing their own password.

use super::local_login::{failure_buckets, TOO_MANY_ATTEMPTS, WINDOW_MS};
use super::password;
use crate::admin::oidc_only_in_force;
use crate::db::{AuditEntry, AuditEvent, User, UserChanges};
use crate::error::{AppError, AppResult};
use crate::validation::{self, Fields};
use crate::AppState;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    pub current_password: Option<String>,
    pub new_password: Option<String>,
}

/// Checks the current password (counted like a failed sign-in when wrong), stores the new
/// one and ends the user's other sessions.
pub async fn change(
    state: &AppState,
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
    let now = state.clock.now();
    let [by_ip, by_user] = failure_buckets(ip, &user.username);
    let counts = state
        .db
        .count_hits(&[&by_ip, &by_user], now - WINDOW_MS)
        .await?;
    if counts[0] >= super::local_login::MAX_PER_IP
        || counts[1] >= super::local_login::MAX_PER_IP_AND_USER
    {
        return Err(AppError::TooManyRequests(TOO_MANY_ATTEMPTS.to_owned()));
    }
    if !password::verify(current, Some(stored), &state.dummy_hash).await? {
        state
            .db
            .add_hits(&[&by_ip, &by_user], now, now - WINDOW_MS)
            .await?;
        return Err(AppError::Validation(vec![app::domain::FieldError {
            field: "currentPassword".to_owned(),
            message: "Your current password is not right.".to_owned(),
        }]));
    }
    let new = new.ok_or_else(|| AppError::internal("validated password missing"))?;
    let changes = UserChanges {
        password_hash: Some(Some(password::hash(new).await?)),
        ..UserChanges::default()
    };
    let audit = AuditEntry::new(AuditEvent::UserUpdated, now)
        .actor(user.id)
        .ip(ip);
    let in_force = oidc_only_in_force(state).await?;
    state
        .db
        .update_user(user.id, &changes, now, in_force, Some(session_hash), audit)
        .await?;
    Ok(())
}
