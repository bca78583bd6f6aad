use super::see_other;
use crate::auth::local_login::{self, start_session, LoginRequest};
use crate::auth::own_password::{self, ChangePasswordRequest};
use crate::auth::session::{clear_session_cookie, session_cookie};
use crate::auth::sign_in;
use crate::db::{AuditEntry, AuditEvent};
use crate::error::AppError;
use crate::http::client::Client;
use crate::http::input::Input;
use crate::http::session::{SessionCookie, SignedIn};
use crate::oidc_settings::{self as settings, reference};
use crate::AppState;
use app::domain::{safe_return_to, LogoutResponse, UserDto};
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
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
    input: Input<LoginForm>,
) -> Response {
    let ip = client.ip_string();
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
    let result = async {
        let user = local_login::authenticate(&state, credentials, &ip).await?;
        let token = start_session(&state, &user, previous.as_deref(), &ip).await?;
        Ok::<_, AppError>((state.db.user_dto(&user).await?, token))
    }
    .await;
    let outcome = match &result {
        Ok(_) => "success",
        Err(AppError::TooManyRequests(_)) => "rate_limited",
        Err(_) => "failure",
    };
    state.metrics.record_sign_in("local", outcome);
    match result {
        Ok((user, token)) => {
            let cookie = [(
                SET_COOKIE,
                session_cookie(&token, state.config.secure_cookies()),
            )];
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

/// Ends the local session first, whether or not it is still live, then tells the browser
/// where to go: the provider's end-session page for an OIDC session, else the login page.
pub async fn logout(
    State(state): State<AppState>,
    client: Client,
    SessionCookie(hash): SessionCookie,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ended = match hash {
        Some(hash) => state.db.end_session(&hash).await?,
        None => None,
    };
    let mut logout_url = "/login?signedOut=1".to_owned();
    if let Some(ended) = ended {
        state
            .db
            .audit(
                AuditEntry::new(AuditEvent::Logout, state.clock.now())
                    .actor(ended.user_id)
                    .target(ended.user_id)
                    .ip(&client.ip_string()),
            )
            .await?;
        if let (Some(issuer), Some(id_token)) = (ended.oidc_issuer, ended.id_token) {
            let oidc = settings::effective(&state).await?;
            let base = reference::public_base(&state.config, client.own_origin.as_deref());
            if let Some(url) =
                sign_in::end_session_url(&state, &oidc, &issuer, &id_token, &base).await
            {
                logout_url = url;
            }
        }
    }
    let cookie = [(
        SET_COOKIE,
        clear_session_cookie(state.config.secure_cookies()),
    )];
    let form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        Ok((cookie, see_other(&logout_url)).into_response())
    } else {
        Ok((cookie, Json(LogoutResponse { logout_url })).into_response())
    }
}

pub async fn me(
    State(state): State<AppState>,
    SignedIn { user }: SignedIn,
) -> Result<Json<UserDto>, AppError> {
    Ok(Json(state.db.user_dto(&user).await?))
}

pub async fn change_password(
    State(state): State<AppState>,
    client: Client,
    SignedIn { user }: SignedIn,
    SessionCookie(hash): SessionCookie,
    input: Input<ChangePasswordRequest>,
) -> Result<Json<serde_json::Value>, AppError> {
    let hash = hash.unwrap_or_default();
    own_password::change(&state, &user, &hash, &client.ip_string(), input.value).await?;
    Ok(Json(serde_json::json!({})))
}
