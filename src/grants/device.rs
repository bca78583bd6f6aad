//! Device sign-in (RFC 8628, spec section 11.3), for e-readers and TVs that cannot show a
//! provider's sign-in page: the device asks for a code pair, the person types the short user
//! code at `/device` while signed in and allows it (under the approval rule of `confirm`),
//! and the device, polling the token endpoint, collects a token pair once.

use super::confirm::{confirm, Approver};
use super::tokens::{random_token, Issued, TokenPair};
use super::{client_name, sealer, Kind, Scope};
use crate::auth::limits;
use crate::auth::session::hash_token;
use crate::clock::Millis;
use crate::db::device_codes::{DeviceCode, NewDeviceCode};
use crate::db::grants::{GrantSecret, NewGrant};
use crate::db::{AuditEntry, AuditEvent, User};
use crate::error::{AppError, AppResult};
use crate::state::Services;
use app::domain::{DeviceApproval, DeviceApprovalRequest};
use rand::RngCore;

/// How long a code pair lives, in seconds.
pub const EXPIRES_IN_SECS: i64 = 600;
/// The interval a device starts with, in seconds.
pub const INTERVAL_SECS: i64 = 5;
/// What a `slow_down` adds to the interval, in seconds (RFC 8628 section 3.5).
pub const SLOW_DOWN_SECS: i64 = 5;
/// Wrong user codes per user and per client in [`WRONG_CODE_WINDOW_MS`], then 429.
pub const WRONG_CODES: i64 = 10;
pub const WRONG_CODE_WINDOW_MS: Millis = 10 * 60_000;
/// The letters of a user code: no vowels (no words), nothing to confuse.
const USER_CODE_LETTERS: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;
/// The name of a device that gave none.
const UNNAMED: &str = "Device";

/// What `POST /api/v1/auth/device/code` answers (RFC 8628 section 3.2).
#[derive(Debug, Clone)]
pub struct DeviceAuthorization {
    pub device_code: String,
    /// As shown: `WDJB-MJHT`.
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// A fresh user code, as stored (8 letters, no dash).
fn new_user_code() -> String {
    let mut code = String::with_capacity(USER_CODE_LEN);
    while code.len() < USER_CODE_LEN {
        let mut byte = [0u8; 1];
        rand::rngs::OsRng.fill_bytes(&mut byte);
        // 240 is the largest multiple of 20 below 256: every letter equally likely.
        if byte[0] < 240 {
            code.push(char::from(USER_CODE_LETTERS[usize::from(byte[0] % 20)]));
        }
    }
    code
}

/// A user code as typed, normalised: case, dashes and spaces ignored. `None` when it could
/// not be a user code at all.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect();
    let valid = code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_LETTERS.contains(&b));
    valid.then_some(code)
}

/// A stored user code as people read it: `WDJB-MJHT`.
pub fn display_user_code(code: &str) -> String {
    let (first, second) = code.split_at(code.len().min(USER_CODE_LEN / 2));
    format!("{first}-{second}")
}

/// Starts a device sign-in; `base` is the public origin the person opens `/device` on.
pub async fn start(
    state: &Services,
    client: Option<&str>,
    base: &str,
) -> AppResult<DeviceAuthorization> {
    let name = client_name(client, UNNAMED);
    let now = state.clock.now();
    // A user code clashing with a live one is drawn again; 20^8 codes make a second clash
    // all but impossible.
    for _ in 0..4 {
        let (device_code, user_code) = (random_token(), new_user_code());
        let inserted = state
            .db
            .insert_device_code(&NewDeviceCode {
                device_code_hash: &hash_token(&device_code),
                user_code: &user_code,
                client_name: &name,
                now,
                expires_at: now + EXPIRES_IN_SECS * 1000,
                interval_secs: INTERVAL_SECS,
            })
            .await?;
        if inserted {
            let shown = display_user_code(&user_code);
            let verification_uri = format!("{base}/device");
            return Ok(DeviceAuthorization {
                device_code,
                verification_uri_complete: format!("{verification_uri}?code={shown}"),
                verification_uri,
                user_code: shown,
                expires_in: EXPIRES_IN_SECS,
                interval: INTERVAL_SECS,
            });
        }
    }
    Err(AppError::internal("no free user code after four draws"))
}

/// Why a poll gave no tokens: RFC 8628 section 3.5's error codes (and RFC 6749's
/// `invalid_grant` for a code that is unknown or already used).
#[derive(Debug)]
pub enum PollError {
    AuthorizationPending,
    SlowDown,
    AccessDenied,
    ExpiredToken,
    InvalidGrant,
    App(AppError),
}

impl From<AppError> for PollError {
    fn from(e: AppError) -> Self {
        Self::App(e)
    }
}

impl From<sqlx::Error> for PollError {
    fn from(e: sqlx::Error) -> Self {
        Self::App(e.into())
    }
}

/// One poll of the token endpoint with a device code. The first poll may come at once; a
/// later one sooner than the interval after the previous gets `slow_down`, and the interval
/// grows by five seconds for every poll after that.
pub async fn poll(state: &Services, device_code: &str, ip: &str) -> Result<TokenPair, PollError> {
    let now = state.clock.now();
    let hash = hash_token(device_code);
    let Some(code) = state.db.device_code_by_hash(&hash).await? else {
        let entry = AuditEntry::new(AuditEvent::LoginFailed, now)
            .ip(ip)
            .detail("method", "device_code");
        state.db.audit(entry).await?;
        return Err(PollError::InvalidGrant);
    };
    if code.status == "used" {
        return Err(PollError::InvalidGrant);
    }
    if code.expires_at <= now {
        return Err(PollError::ExpiredToken);
    }
    if code
        .last_poll_at
        .is_some_and(|last| now - last < code.interval_secs * 1000)
    {
        let slower = code.interval_secs + SLOW_DOWN_SECS;
        state.db.record_device_poll(&hash, now, slower).await?;
        return Err(PollError::SlowDown);
    }
    state
        .db
        .record_device_poll(&hash, now, code.interval_secs)
        .await?;
    match code.status.as_str() {
        "pending" => Err(PollError::AuthorizationPending),
        "denied" => Err(PollError::AccessDenied),
        _ => {
            let issued = Issued::new(now);
            // Another poll that collected the tokens first, or a grant revoked before the
            // device came for it, leaves nothing to give.
            match state
                .db
                .redeem_device_code(&hash, &issued.hashes(), now, ip)
                .await?
            {
                Some(_) => Ok(issued.pair),
                None => Err(PollError::InvalidGrant),
            }
        }
    }
}

/// The pending request a user code names, counting wrong codes against the user and the
/// client: past [`WRONG_CODES`] in the window, 429 (so the 8-letter codes cannot be guessed
/// by trying them). An expired or used code says so.
async fn find_code(
    state: &Services,
    user: &User,
    ip: &str,
    typed: Option<&str>,
) -> AppResult<DeviceCode> {
    let buckets = [
        format!("device-code-user:{}", user.id),
        format!("device-code-ip:{}", limits::key_of(ip)),
    ];
    let buckets: Vec<&str> = buckets.iter().map(String::as_str).collect();
    let (attempt, counts) = limits::record(state, &buckets, WRONG_CODE_WINDOW_MS).await?;
    if counts.iter().any(|&n| n > WRONG_CODES) {
        // Taken back, so waiting out the window always works.
        attempt.forget(state).await?;
        return Err(AppError::TooManyRequests(
            "Too many wrong codes. Please try again in a few minutes.".to_owned(),
        ));
    }
    let found = match typed.and_then(normalize_user_code) {
        Some(code) => state.db.device_code_by_user_code(&code).await?,
        None => None,
    };
    let Some(code) = found else {
        return Err(AppError::field(
            "userCode",
            "This code is not right. Check the code on your device and try again.",
        ));
    };
    attempt.forget(state).await?;
    if code.status != "pending" {
        return Err(AppError::field(
            "userCode",
            "This code has already been used.",
        ));
    }
    if code.expires_at <= state.clock.now() {
        return Err(AppError::field(
            "userCode",
            "This code has expired. Start again on your device.",
        ));
    }
    Ok(code)
}

/// The client name of the pending request a user code names (for "Allow {client name} …?"),
/// with the wrong-code limits of an approval.
pub async fn describe(
    state: &Services,
    user: &User,
    ip: &str,
    typed: Option<&str>,
) -> AppResult<String> {
    Ok(find_code(state, user, ip, typed).await?.client_name)
}

/// Allows or denies the device that shows the user code. Allowing needs the approval rule
/// (`confirm`); denying does not.
pub async fn decide(
    state: &Services,
    approver: &Approver<'_>,
    request: DeviceApprovalRequest,
) -> AppResult<DeviceApproval> {
    let Some(allow) = request.allow else {
        return Err(AppError::field(
            "allow",
            "Choose whether to allow the device.",
        ));
    };
    let user = approver.user;
    let code = find_code(state, user, approver.ip, request.user_code.as_deref()).await?;
    let now = state.clock.now();
    let gone = || {
        AppError::field(
            "userCode",
            "This code has expired or has already been used.",
        )
    };
    if !allow {
        let audit = AuditEntry::new(AuditEvent::DeviceCodeDenied, now)
            .actor(user.id)
            .target(user.id)
            .ip(approver.ip)
            .detail("clientName", code.client_name.as_str());
        if !state
            .db
            .deny_device_code(&code.user_code, user.id, now, audit)
            .await?
        {
            return Err(gone());
        }
        return Ok(DeviceApproval {
            client_name: code.client_name,
            grant: None,
        });
    }
    let provider = confirm(state, approver, request.password).await?;
    let grant = state
        .db
        .approve_device_code(
            &code.user_code,
            &NewGrant {
                user_id: user.id,
                kind: Kind::Device.as_str(),
                name: &code.client_name,
                scope: Scope::Full.as_str(),
                secret: GrantSecret::Later,
                provider: provider.as_ref(),
                now,
                ip: approver.ip,
            },
            &sealer(state),
        )
        .await?
        .ok_or_else(gone)?;
    Ok(DeviceApproval {
        client_name: code.client_name,
        grant: Some(grant.into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_eight_letters_shown_with_a_dash_and_typed_loosely() {
        let code = new_user_code();
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| USER_CODE_LETTERS.contains(&b)));
        assert_eq!(display_user_code("WDJBMJHT"), "WDJB-MJHT");
        assert_eq!(
            normalize_user_code("wdjb-mjht").as_deref(),
            Some("WDJBMJHT")
        );
        assert_eq!(
            normalize_user_code(" WDJB MJHT ").as_deref(),
            Some("WDJBMJHT")
        );
        assert_eq!(normalize_user_code("WDJB-MJH"), None);
        assert_eq!(normalize_user_code("WDJB-MJHA"), None, "no vowels");
        assert_eq!(normalize_user_code(""), None);
    }
}
