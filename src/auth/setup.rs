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

/// Creates the first admin and signs them in with a fresh session (ending `previous`).
pub async fn complete(
    state: &Services,
    req: SetupRequest,
    client_ip: &str,
    own_origin: Option<&str>,
    previous: Option<&str>,
) -> AppResult<(UserDto, SessionToken)> {
    let user = run(state, req, client_ip, own_origin).await?;
    let token = start_session(state, &user, previous, client_ip).await?;
    Ok((state.db.user_view(&user).await?.into(), token))
}

pub async fn run(
    state: &Services,
    req: SetupRequest,
    client_ip: &str,
    own_origin: Option<&str>,
) -> AppResult<User> {
    if state.db.setup_completed().await? {
        return Err(AppError::Forbidden(SETUP_CLOSED.to_owned()));
    }
    if state.setup_token.is_none() && !host_may_set_up(state, own_origin) {
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
    if let Some(expected) = &state.setup_token {
        let given = req.setup_token.as_deref().unwrap_or("").trim();
        if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
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
        .complete_setup(&admin, state.clock.now(), client_ip)
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
