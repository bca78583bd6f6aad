//! Sign-in with username and password, with the rate limits of spec section 9.

use super::limits::{self, Attempt};
use super::password;
use super::session::{SessionToken, LOCAL_SESSION_MS};
use crate::crypto::Binding;
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
/// many addresses gets one try per delay; the owner is not held back on a known device, and
/// elsewhere waits at most the cap once the guessing addresses have used up their own limits.
fn account_delay_ms(failures: i64) -> i64 {
    if failures < ACCOUNT_FREE_FAILURES {
        return 0;
    }
    let doublings = (failures - ACCOUNT_FREE_FAILURES).min(16) as u32;
    (1_000_i64 << doublings).min(ACCOUNT_MAX_DELAY_MS)
}

/// How long a browser stays a known device of an account after a password sign-in there.
pub const KNOWN_DEVICE_MS: i64 = 180 * 24 * 3600 * 1000;

/// Proof, for the known-device cookie, that this browser signed in to `user` with its
/// password at `now`: sealed, so only this server can make one, and bound to the username.
pub fn known_device_proof(state: &Services, user: &User, now: i64) -> String {
    state.secrets.seal(
        &format!("{}:{now}", user.id),
        Binding::KnownDevice {
            username: &user.username,
        },
    )
}

/// Whether `proof` (the known-device cookie) shows this browser signed in to `username`
/// with its password within [`KNOWN_DEVICE_MS`].
fn is_known_device(state: &Services, proof: Option<&str>, username: &str) -> bool {
    let now = state.clock.now();
    proof
        .and_then(|p| {
            state
                .secrets
                .open(p, Binding::KnownDevice { username })
                .ok()
        })
        .and_then(|opened| opened.split_once(':')?.1.parse::<i64>().ok())
        .is_some_and(|at| (0..KNOWN_DEVICE_MS).contains(&(now - at)))
}

/// Counts a password check against the limits before it runs; answers the attempt to take
/// back once it succeeds. A refused attempt stays counted against the client (polling uses up
/// its own allowance) but is taken back from the account, so it never pushes the account's
/// next try further out. A `known_device` (a browser its owner signed in from before) skips
/// the account's back-off: guessing elsewhere never keeps the owner out.
pub(crate) async fn limit_attempt(
    state: &Services,
    ip: &str,
    username: &str,
    known_device: bool,
) -> AppResult<Attempt> {
    let since = state.clock.now() - WINDOW_MS;
    let [by_ip, by_user, by_account] = failure_buckets(ip, username);
    let buckets: &[&str] = if known_device {
        &[&by_ip, &by_user]
    } else {
        &[&by_ip, &by_user, &by_account]
    };
    let (attempt, counts) = limits::record(state, buckets, WINDOW_MS).await?;
    let over_client = counts[0] > MAX_PER_IP || counts[1] > MAX_PER_IP_AND_USER;
    let too_soon = match counts.get(2) {
        Some(&failures) if account_delay_ms(failures - 1) > 0 => state
            .db
            .last_hit(&by_account, attempt.id(), since)
            .await?
            .is_some_and(|last| state.clock.now() - last < account_delay_ms(failures - 1)),
        _ => false,
    };
    if over_client || too_soon {
        attempt.forget_in(state, &by_account).await?;
        return Err(AppError::TooManyRequests(TOO_MANY_ATTEMPTS.to_owned()));
    }
    Ok(attempt)
}

/// Checks the credentials and answers the user they belong to. Unknown users and wrong
/// passwords get the same answer after the same work.
/// `known_device` is the known-device cookie the browser sent, if any.
pub async fn authenticate(
    state: &Services,
    req: LoginRequest,
    client_ip: &str,
    known_device: Option<&str>,
) -> AppResult<User> {
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
    let known = is_known_device(state, known_device, username);
    let attempt = limit_attempt(state, client_ip, username, known).await?;
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
    attempt.forget(state).await?;
    state
        .db
        .clear_hits(&failure_buckets(client_ip, username)[1])
        .await?;
    Ok(user)
}

/// A password sign-in: the user, the new session, and the known-device proof for the cookie.
pub struct LocalSignIn {
    pub user: UserDto,
    pub token: SessionToken,
    pub known_device: String,
}

/// Signs in with a password: checks the credentials and starts a fresh session (ending
/// `previous`, this browser's old one). Every attempt counts in the metrics. The REST
/// handler and the UI's server function both come here; both set the known-device cookie.
pub async fn sign_in(
    state: &Services,
    credentials: LoginRequest,
    previous: Option<&str>,
    client_ip: &str,
    known_device: Option<&str>,
) -> AppResult<LocalSignIn> {
    let result = async {
        let user = authenticate(state, credentials, client_ip, known_device).await?;
        let token = start_session(state, &user, previous, client_ip).await?;
        Ok(LocalSignIn {
            known_device: known_device_proof(state, &user, state.clock.now()),
            user: state.db.user_view(&user).await?.into(),
            token,
        })
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
