use super::see_other;
use crate::auth::local_login;
use crate::auth::logout;
use crate::error::AppError;
use crate::http::app_auth::Caller;
use crate::http::client::Client;
use crate::http::cookies;
use crate::http::input::{is_form, Input};
use crate::http::session::SessionCookie;
use crate::AppState;
use app::domain::{safe_return_to, LoginRequest, LogoutResponse, UserDto};
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::HeaderMap;
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginForm {
    username: Option<String>,
    password: Option<String>,
    /// Only form posts use it; JSON clients navigate themselves.
    return_to: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    client: Client,
    SessionCookie(previous): SessionCookie,
    headers: HeaderMap,
    input: Input<LoginForm>,
) -> Response {
    let LoginForm {
        username,
        password,
        return_to,
    } = input.value;
    let credentials = LoginRequest {
        username: username.clone(),
        password,
    };
    let username = username.unwrap_or_default();
    let result = local_login::sign_in(
        &state,
        credentials,
        previous.as_deref(),
        &client.ip_string(),
        cookies::find(&headers, cookies::KNOWN_DEVICE, client.https),
    )
    .await;
    match result {
        Ok(signed_in) => {
            let cookie = AppendHeaders([
                (SET_COOKIE, cookies::session(&signed_in.token, client.https)),
                (
                    SET_COOKIE,
                    cookies::known_device(&signed_in.known_device, client.https),
                ),
            ]);
            let user = signed_in.user;
            if input.form {
                let target = return_to.as_deref().and_then(safe_return_to).unwrap_or("/");
                (cookie, see_other(target)).into_response()
            } else {
                (cookie, Json(user)).into_response()
            }
        }
        Err(e) if input.form => {
            let code = match &e {
                AppError::Unauthorized(_) => "invalid_credentials",
                AppError::TooManyRequests(_) => "rate_limited",
                AppError::Forbidden(_) => "local_disabled",
                AppError::Validation(_) => "bad_request",
                _ => {
                    // Logged with its reference; the page shows the generic text.
                    e.body();
                    "internal"
                }
            };
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query
                .append_pair("error", code)
                .append_pair("username", &username);
            if let Some(rt) = return_to.as_deref().and_then(safe_return_to) {
                query.append_pair("returnTo", rt);
            }
            see_other(&format!("/login?{}", query.finish()))
        }
        Err(e) => e.into_response(),
    }
}

/// Ends the session, then sends the browser on: a redirect for a form post, else JSON.
pub async fn logout(
    State(state): State<AppState>,
    client: Client,
    SessionCookie(hash): SessionCookie,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let logout_url = logout::sign_out(&state, hash.as_deref(), &client.ip_string()).await?;
    let cookie = [(SET_COOKIE, cookies::clear_session(client.https))];
    if is_form(&headers) {
        Ok((cookie, see_other(&logout_url)).into_response())
    } else {
        Ok((cookie, Json(LogoutResponse { logout_url })).into_response())
    }
}

/// `GET /api/v1/auth/me`: the caller, with a session or an app credential.
pub async fn me(
    State(state): State<AppState>,
    Caller { user, .. }: Caller,
) -> Result<Json<UserDto>, AppError> {
    Ok(Json(
        crate::auth::session::view(&state, &user).await?.into(),
    ))
}
