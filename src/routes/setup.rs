use super::see_other;
use crate::auth::setup;
use crate::error::AppError;
use crate::http::client::Client;
use crate::http::cookies;
use crate::http::input::Input;
use crate::http::session::SessionCookie;
use crate::AppState;
use app::domain::{SetupRequest, SetupStatus};
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

pub async fn status(State(state): State<AppState>) -> Result<Json<SetupStatus>, AppError> {
    Ok(Json(SetupStatus {
        completed: state.db.setup_completed().await?,
    }))
}

/// Creates the first admin and signs them in.
pub async fn create(
    State(state): State<AppState>,
    client: Client,
    SessionCookie(previous): SessionCookie,
    input: Input<SetupRequest>,
) -> Response {
    let ip = client.ip_string();
    let from = setup::Requester {
        ip: &ip,
        own_origin: client.own_origin.as_deref(),
        on_this_host: client.on_this_host,
    };
    let result = setup::complete(&state, input.value, &from, previous.as_deref()).await;
    match (result, input.form) {
        (Ok((user, token)), form) => {
            let cookie = [(SET_COOKIE, cookies::session(&token, client.https))];
            if form {
                (cookie, see_other("/")).into_response()
            } else {
                (StatusCode::CREATED, cookie, Json(user)).into_response()
            }
        }
        (Err(AppError::Forbidden(_)), true) => see_other("/login"),
        (Err(AppError::Validation(_)), true) => see_other("/setup?error=invalid"),
        (Err(e), _) => e.into_response(),
    }
}
