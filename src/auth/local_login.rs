//! Sign-in with username and password, with the rate limits of spec section 9.

use super::password;
use super::session::{SessionToken, LOCAL_SESSION_MS};
use crate::db::{AuditEntry, AuditEvent, NewSession, User};
use crate::error::{AppError, AppResult};
use crate::AppState;
use serde::Deserialize;

pub const INVALID_CREDENTIALS: &str = "Invalid username or password";
pub const TOO_MANY_ATTEMPTS: &str = "Too many failed login attempts. Please try again later.";
pub(super) const WINDOW_MS: i64 = 15 * 60_000;
pub(super) const MAX_PER_IP_AND_USER: i64 = 5;
pub(super) const MAX_PER_IP: i64 = 20;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    pub username: Option<String>,
    pub password: Option<String>,
}

/// The rate-limit buckets a failed password check for `username` from `ip` counts in.
pub(super) fn failure_buckets(ip: &str, username: &str) -> [String; 2] {
    [
        format!("login-ip:{ip}"),
        format!("login-user:{ip}|{username}"),
    ]
}

/// Checks the credentials and answers the user they belong to. Unknown users and wrong
/// passwords get the same answer after the same work.
pub async fn authenticate(state: &AppState, req: LoginRequest, client_ip: &str) -> AppResult<User> {
    let username = req.username.as_deref().map(str::trim).unwrap_or("");
    let pass = req.password.unwrap_or_default();
    let mut fields = crate::validation::Fields::new();
    if username.is_empty() {
        fields.add("username", "Username is required.");
    }
    if pass.is_empty() {
        fields.add("password", "Password is required.");
    }
    fields.finish()?;
    let now = state.clock.now();
    let [by_ip, by_user] = failure_buckets(client_ip, username);
    let counts = state
        .db
        .count_hits(&[&by_ip, &by_user], now - WINDOW_MS)
        .await?;
    if counts[0] >= MAX_PER_IP || counts[1] >= MAX_PER_IP_AND_USER {
        return Err(AppError::TooManyRequests(TOO_MANY_ATTEMPTS.to_owned()));
    }
    let user = state.db.user_by_username(username).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    if !password::verify(pass, stored, &state.dummy_hash).await? {
        state
            .db
            .add_hits(&[&by_ip, &by_user], now, now - WINDOW_MS)
            .await?;
        let mut entry = AuditEntry::new(AuditEvent::LoginFailed, now)
            .ip(client_ip)
            .detail("username", username);
        if let Some(u) = &user {
            entry = entry.target(u.id);
        }
        state.db.audit(entry).await?;
        return Err(AppError::Unauthorized(INVALID_CREDENTIALS.to_owned()));
    }
    let user = user.ok_or_else(|| AppError::internal("verified password without a user"))?;
    state.db.clear_hits(&by_user).await?;
    Ok(user)
}

/// Starts a session for `user`, ending `previous` (this browser's old session) so every
/// sign-in gets a fresh id.
pub async fn start_session(
    state: &AppState,
    user: &User,
    previous: Option<&str>,
    client_ip: &str,
) -> AppResult<SessionToken> {
    let now = state.clock.now();
    if let Some(old) = previous {
        state.db.delete_session(old).await?;
    }
    let token = SessionToken::generate();
    state
        .db
        .insert_session(&NewSession {
            id_hash: &token.hash(),
            user_id: user.id,
            auth_method: "local",
            now,
            expires_at: now + LOCAL_SESSION_MS,
        })
        .await?;
    state.db.record_login(user.id, now).await?;
    state
        .db
        .audit(
            AuditEntry::new(AuditEvent::LoginSuccess, now)
                .actor(user.id)
                .target(user.id)
                .ip(client_ip)
                .detail("method", "local"),
        )
        .await?;
    Ok(token)
}
