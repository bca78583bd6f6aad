//! First-run setup: creates the one LOCAL admin with every permission.

use super::local_login::start_session;
use super::password;
use super::session::SessionToken;
use crate::db::{NewUser, User};
use crate::error::{AppError, AppResult};
use crate::state::Services;
use crate::validation::{self, Fields};
use app::domain::{SetupRequest, UserDto, PERMISSIONS};
use subtle::ConstantTimeEq;

pub const SETUP_CLOSED: &str = "Setup is disabled after the first user is created.";

/// Whether `own_origin` (where the request was sent) may run setup without a token: only a
/// loopback name or the public URL. A page elsewhere that rebinds its DNS name to 127.0.0.1
/// would otherwise pass the CSRF check with its own origin and claim the first admin.
fn host_may_set_up(state: &Services, own_origin: Option<&str>) -> bool {
    let Some(origin) = own_origin else {
        return true;
    };
    if state.config.public_url.as_deref() == Some(origin) {
        return true;
    }
    url::Url::parse(origin)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .is_some_and(|host| {
            host == "localhost"
                || host.ends_with(".localhost")
                || host == "127.0.0.1"
                || host == "[::1]"
        })
}

/// Whether a setup request must carry the setup token printed at start: unless it comes from
/// this machine to a server that listens on loopback only. A reverse proxy on this host that
/// is not trusted forwards the whole internet from 127.0.0.1, so its requests need it too.
pub fn token_needed(state: &Services, on_this_host: bool) -> bool {
    !state.config.bind.ip().is_loopback() || !on_this_host
}

/// Where a setup request comes from.
pub struct Requester<'a> {
    pub ip: &'a str,
    /// Where the request was sent (`scheme://host`), for the DNS-rebinding check.
    pub own_origin: Option<&'a str>,
    pub on_this_host: bool,
}

/// Creates the first admin and signs them in with a fresh session (ending `previous`).
pub async fn complete(
    state: &Services,
    req: SetupRequest,
    from: &Requester<'_>,
    previous: Option<&str>,
) -> AppResult<(UserDto, SessionToken)> {
    let user = run(state, req, from).await?;
    let token = start_session(state, &user, previous, from.ip).await?;
    Ok((state.db.user_view(&user).await?.into(), token))
}

pub async fn run(state: &Services, req: SetupRequest, from: &Requester<'_>) -> AppResult<User> {
    if state.db.setup_completed().await? {
        return Err(AppError::Forbidden(SETUP_CLOSED.to_owned()));
    }
    let token_needed = token_needed(state, from.on_this_host);
    if !token_needed && !host_may_set_up(state, from.own_origin) {
        return Err(AppError::Forbidden(
            "Open Grimmory at http://localhost (or set GRIMMORY_PUBLIC_URL) to create the first admin.".to_owned(),
        ));
    }
    let mut fields = Fields::new();
    let names = validation::new_user_names(
        &mut fields,
        req.username.as_deref(),
        req.email.as_deref(),
        req.name.as_deref(),
    );
    let password = validation::new_password(req.password.as_deref())
        .map_err(|m| fields.add("password", m))
        .ok();
    if token_needed {
        let expected = state.setup_token.as_deref().unwrap_or_default();
        let given = req.setup_token.as_deref().unwrap_or("").trim();
        // No token was made (setup was done when the server started): nothing matches.
        if expected.is_empty() || !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            fields.add(
                "setupToken",
                "Enter the setup token printed in the server log at start.",
            );
        }
    }
    fields.finish()?;
    let (Some(names), Some(password)) = (names, password) else {
        return Err(AppError::internal("validated fields missing"));
    };
    let admin = NewUser {
        username: names.username,
        email: names.email,
        name: names.name,
        password_hash: Some(password::hash(password).await?),
        is_admin: true,
        permissions: vec![true; PERMISSIONS.len()],
    };
    match state
        .db
        .complete_setup(&admin, state.clock.now(), from.ip)
        .await?
    {
        crate::db::setup::SetupOutcome::Created(user) => {
            tracing::info!(user_id = user.id, "first-run setup completed");
            Ok(user)
        }
        crate::db::setup::SetupOutcome::AlreadyDone => {
            Err(AppError::Forbidden(SETUP_CLOSED.to_owned()))
        }
    }
}
