//! Apps and devices on the HTTP API (spec section 11, Appendix A): the reads (own grants, a
//! user's grants for an admin, the caller's libraries), and the OAuth-style endpoints apps
//! and devices call without a session: the device code request, the token endpoint (RFC 6749
//! and RFC 8628 answers) and the mobile app's JSON refresh. Changes made from a session are
//! server functions (`app::api::grants`, served by `server_fns`).

use super::admin::Admin;
use crate::api_types;
use crate::auth::limits;
use crate::error::{AppError, AppResult};
use crate::grants;
use crate::grants::device::{self, PollError};
use crate::grants::tokens::{self, RefreshError, TokenPair};
use crate::http::app_auth::Caller;
use crate::http::client::Client;
use crate::http::input::{is_form, IdPath, Input};
use crate::http::session::SignedIn;
use crate::oidc_settings::reference;
use crate::AppState;
use app::domain::{GrantDto, LibraryDto};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// `GET /api/v1/auth/grants`: the caller's own grants (session only).
pub async fn own(
    State(state): State<AppState>,
    SignedIn { user }: SignedIn,
) -> AppResult<Json<Vec<GrantDto>>> {
    Ok(Json(grants::list(&state, &user).await?))
}

/// `GET /api/v1/admin/users/{id}/grants`.
pub async fn of_user(
    State(state): State<AppState>,
    _: Admin,
    IdPath(id): IdPath,
) -> AppResult<Json<Vec<GrantDto>>> {
    Ok(Json(grants::list_for_admin(&state, id).await?))
}

/// `GET /api/v1/libraries`: what an app shows first. Session, bearer token or app password.
pub async fn libraries(
    State(state): State<AppState>,
    caller: Caller,
) -> AppResult<Json<Vec<LibraryDto>>> {
    let user = &caller.user;
    Ok(Json(api_types::all(
        state.db.libraries_of(user.id, user.is_admin).await?,
    )))
}

/// The device's request for a code pair (RFC 8628 section 3.1). `client_id` and `scope` are
/// RFC 8628's own parameters, which generic clients send; there is one client here, and a
/// grant's scope is the person's to choose, so both are read and set aside.
#[derive(Debug, Default, Deserialize)]
struct DeviceCodeRequest {
    client_name: Option<String>,
    #[serde(rename = "client_id")]
    _client_id: Option<String>,
    #[serde(rename = "scope")]
    _scope: Option<String>,
}

#[derive(Serialize)]
pub struct DeviceCodeAnswer {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    expires_in: i64,
    interval: i64,
}

/// `POST /api/v1/auth/device/code`: a form, a JSON object, or nothing at all.
pub async fn device_code(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<DeviceCodeAnswer>> {
    let request: DeviceCodeRequest = if body.iter().all(u8::is_ascii_whitespace) {
        DeviceCodeRequest::default()
    } else if is_form(&headers) {
        serde_urlencoded::from_bytes(&body)
            .map_err(|_| AppError::BadRequest("The form could not be read.".to_owned()))?
    } else {
        let content_type = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let object = app::api::json_object(content_type, &body)
            .map_err(|e| AppError::Validation(vec![e]))?;
        app::api::object_into(object).map_err(AppError::Validation)?
    };
    // A device sign-in started: counted with the others, so no client can fill the table.
    limits::start(&state, &client.ip_string()).await?;
    let base = reference::redirect_base(&state).await?;
    let started = device::start(&state, request.client_name.as_deref(), &base).await?;
    Ok(Json(DeviceCodeAnswer {
        device_code: started.device_code,
        user_code: started.user_code,
        verification_uri: started.verification_uri,
        verification_uri_complete: started.verification_uri_complete,
        expires_in: started.expires_in,
        interval: started.interval,
    }))
}

/// An OAuth error answer (RFC 6749 section 5.2): 400 `{error, error_description}`.
fn oauth_error(code: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": code, "error_description": description})),
    )
        .into_response()
}

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

#[derive(Debug, Default, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    device_code: Option<String>,
    refresh_token: Option<String>,
}

fn token_answer(pair: TokenPair) -> Response {
    Json(json!({
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
    }))
    .into_response()
}

/// `POST /api/v1/auth/token` (a form, RFC 6749 section 4.5): the device code grant (RFC 8628
/// section 3.4) and the refresh token grant (RFC 6749 section 6).
pub async fn token(State(state): State<AppState>, client: Client, body: Bytes) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<TokenRequest>(&body) else {
        return oauth_error("invalid_request", "The request must be a form.");
    };
    let ip = client.ip_string();
    let nonempty = |v: &Option<String>| v.as_deref().filter(|v| !v.is_empty()).map(str::to_owned);
    match form.grant_type.as_deref() {
        Some(DEVICE_CODE_GRANT) => {
            let Some(code) = nonempty(&form.device_code) else {
                return oauth_error("invalid_request", "device_code is missing.");
            };
            match device::poll(&state, &code, &ip).await {
                Ok(pair) => token_answer(pair),
                Err(PollError::App(e)) => e.into_response(),
                Err(e) => {
                    let (code, description) = match e {
                        PollError::AuthorizationPending => (
                            "authorization_pending",
                            "The code has not been allowed yet.",
                        ),
                        PollError::SlowDown => ("slow_down", "Poll less often."),
                        PollError::AccessDenied => ("access_denied", "The code was denied."),
                        PollError::ExpiredToken => ("expired_token", "The code has expired."),
                        PollError::InvalidGrant | PollError::App(_) => (
                            "invalid_grant",
                            "The device code is not valid or was already used.",
                        ),
                    };
                    oauth_error(code, description)
                }
            }
        }
        Some("refresh_token") => {
            let Some(refresh) = nonempty(&form.refresh_token) else {
                return oauth_error("invalid_request", "refresh_token is missing.");
            };
            match tokens::refresh(&state, &refresh, &ip).await {
                Ok(pair) => token_answer(pair),
                Err(RefreshError::InvalidGrant) => oauth_error(
                    "invalid_grant",
                    "The refresh token is not valid. Sign in again.",
                ),
                Err(RefreshError::App(e)) => e.into_response(),
            }
        }
        Some(_) => oauth_error(
            "unsupported_grant_type",
            "Use the device_code or refresh_token grant.",
        ),
        None => oauth_error("invalid_request", "grant_type is missing."),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MobileRefresh {
    refresh_token: Option<String>,
}

/// The mobile app's token answer (spec section 11.2).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MobileTokens {
    access_token: String,
    refresh_token: String,
    /// Seconds the access token lives.
    expires: i64,
}

impl From<TokenPair> for MobileTokens {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            expires: pair.expires_in,
        }
    }
}

/// `POST /api/v1/auth/refresh` `{refreshToken}`: the mobile app's refresh, in JSON.
pub async fn refresh(
    State(state): State<AppState>,
    client: Client,
    input: Input<MobileRefresh>,
) -> AppResult<Json<MobileTokens>> {
    let raw = input
        .value
        .refresh_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AppError::field("refreshToken", "The refresh token is missing."))?;
    match tokens::refresh(&state, &raw, &client.ip_string()).await {
        Ok(pair) => Ok(Json(MobileTokens::from(pair))),
        Err(RefreshError::InvalidGrant) => Err(AppError::Unauthorized(
            "The refresh token is not valid. Sign in again.".to_owned(),
        )),
        Err(RefreshError::App(e)) => Err(e),
    }
}
