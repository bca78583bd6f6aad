//! Sign-in with username and password, with the rate limits of spec section 9.

use super::password;
use super::session::{SessionToken, LOCAL_SESSION_MS};
use crate::db::{AuditEntry, AuditEvent, NewSession, User};
use crate::error::{AppError, AppResult};
use crate::state::Services;
use app::domain::{LoginRequest, UserDto};

pub const INVALID_CREDENTIALS: &str = "Invalid username or password";
pub const LOCAL_DISABLED: &str = "Local login is disabled. Use OIDC to sign in.";
pub const TOO_MANY_ATTEMPTS: &str = "Too many failed login attempts. Please try again later.";
pub(super) const WINDOW_MS: i64 = 15 * 60_000;
pub(super) const MAX_PER_IP_AND_USER: i64 = 5;
pub(super) const MAX_PER_IP: i64 = 20;
/// Failures at one account, from any addresses, before its attempts are spaced out.
pub const ACCOUNT_FREE_FAILURES: i64 = 10;
/// The longest wait between two attempts at one account: all its owner ever has to wait,
/// however many addresses guess at it.
pub const ACCOUNT_MAX_DELAY_MS: i64 = 30_000;

/// The rate-limit buckets a password check for `username` from `ip` counts in: the client
/// (an address, or an IPv6 /64), the client and username, and the username from anywhere. A
/// username that could never exist is bucketed as one, so junk cannot bloat the table.
pub(super) fn failure_buckets(ip: &str, username: &str) -> [String; 3] {
    let username = if crate::validation::username(Some(username)).is_ok() {
        username
    } else {
        "(invalid)"
    };
    let client = super::limits::key_of(ip);
    [
        format!("login-ip:{client}"),
        format!("login-user:{client}|{username}"),
        format!("login-account:{username}"),
    ]
}

/// How long an account's next attempt waits after its last failure, once `failures` have
/// been counted in the window from any addresses: nothing for the first few, then doubling
/// from a second up to [`ACCOUNT_MAX_DELAY_MS`]. A back-off, never a lock-out: guessing from
/// many addresses gets one try per delay, and the owner waits at most the cap.
fn account_delay_ms(failures: i64) -> i64 {
    if failures < ACCOUNT_FREE_FAILURES {
        return 0;
    }
    let doublings = (failures - ACCOUNT_FREE_FAILURES).min(16) as u32;
    (1_000_i64 << doublings).min(ACCOUNT_MAX_DELAY_MS)
}

/// Counts a password check against the limits before it runs; answers the attempt's id to
/// take back once it succeeds. Refused attempts are taken back at once, so waiting out the
/// window (or the account's short delay) always works.
pub(super) async fn limit_attempt(state: &Services, ip: &str, username: &str) -> AppResult<String> {
    let now = state.clock.now();
    let since = now - WINDOW_MS;
    let attempt = super::session::SessionToken::generate().hash();
    let [by_ip, by_user, by_account] = failure_buckets(ip, username);
    let counts = state
        .db
        .record_attempt(&[&by_ip, &by_user, &by_account], &attempt, now, since)
        .await?;
    let delay = account_delay_ms(counts[2] - 1);
    let too_soon = delay > 0
        && state
            .db
            .last_hit(&by_account, &attempt, since)
            .await?
            .is_some_and(|last| now - last < delay);
    if counts[0] > MAX_PER_IP || counts[1] > MAX_PER_IP_AND_USER || too_soon {
        state.db.forget_attempt(&attempt).await?;
        return Err(AppError::TooManyRequests(TOO_MANY_ATTEMPTS.to_owned()));
    }
    Ok(attempt)
}

/// Checks the credentials and answers the user they belong to. Unknown users and wrong
/// passwords get the same answer after the same work.
pub async fn authenticate(state: &Services, req: LoginRequest, client_ip: &str) -> AppResult<User> {
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
    let attempt = limit_attempt(state, client_ip, username).await?;
    // A name that could never have been created (control characters, too long) is looked up
    // as nobody: same answer, same work, and no odd bytes sent to the database.
    let user = match crate::validation::username(Some(username)) {
        Ok(valid) if valid == username => state.db.user_by_username(username).await?,
        _ => None,
    };
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    if !password::verify(pass, stored, &state.dummy_hash).await? {
        // Only names of real accounts go in the audit log: a password typed into the
        // username field must not end up there.
        let mut entry = AuditEntry::new(AuditEvent::LoginFailed, state.clock.now()).ip(client_ip);
        if let Some(u) = &user {
            entry = entry.target(u.id).detail("username", u.username.as_str());
        }
        state.db.audit(entry).await?;
        return Err(AppError::Unauthorized(INVALID_CREDENTIALS.to_owned()));
    }
    let user = user.ok_or_else(|| AppError::internal("verified password without a user"))?;
    // OIDC-only mode: checked after the password, so the answer says nothing about accounts
    // to someone who does not know one; the refused attempt still counts towards the limit.
    if !user.is_admin && crate::oidc_settings::effective(state).await?.force_only {
        return Err(AppError::Forbidden(LOCAL_DISABLED.to_owned()));
    }
    state.db.forget_attempt(&attempt).await?;
    state
        .db
        .clear_hits(&failure_buckets(client_ip, username)[1])
        .await?;
    Ok(user)
}

/// Signs in with a password: checks the credentials and starts a fresh session (ending
/// `previous`, this browser's old one). Every attempt counts in the metrics. The REST
/// handler and the UI's server function both come here.
pub async fn sign_in(
    state: &Services,
    credentials: LoginRequest,
    previous: Option<&str>,
    client_ip: &str,
) -> AppResult<(UserDto, SessionToken)> {
    let result = async {
        let user = authenticate(state, credentials, client_ip).await?;
        let token = start_session(state, &user, previous, client_ip).await?;
        Ok((state.db.user_view(&user).await?.into(), token))
    }
    .await;
    let outcome = match &result {
        Ok(_) => "success",
        Err(AppError::TooManyRequests(_)) => "rate_limited",
        Err(_) => "failure",
    };
    state.metrics.record_sign_in("local", outcome);
    result
}

/// Starts a session for `user`, ending `previous` (this browser's old session) so every
/// sign-in gets a fresh id.
pub async fn start_session(
    state: &Services,
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
            oidc: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_back_off_doubles_up_to_a_short_cap() {
        assert_eq!(account_delay_ms(0), 0);
        assert_eq!(account_delay_ms(ACCOUNT_FREE_FAILURES - 1), 0);
        assert_eq!(account_delay_ms(ACCOUNT_FREE_FAILURES), 1_000);
        assert_eq!(account_delay_ms(ACCOUNT_FREE_FAILURES + 2), 4_000);
        assert_eq!(
            account_delay_ms(ACCOUNT_FREE_FAILURES + 5),
            ACCOUNT_MAX_DELAY_MS
        );
        assert_eq!(account_delay_ms(i64::MAX), ACCOUNT_MAX_DELAY_MS);
    }
}
