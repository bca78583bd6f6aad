//! The mobile app's endpoints (spec section 11.2): a one-time state for its authorization
//! request, and its callback in two shapes, JSON tokens (`POST …/mobile/callback`) or a
//! redirect to the app with the tokens in the fragment (`GET …/redirect`). Both take their
//! parameters from the query string or a form, as the original's app sends them.

use super::grants::MobileTokens;
use crate::auth::limits;
use crate::auth::sign_in::mobile::{self, AppCallback};
use crate::error::{AppError, AppResult};
use crate::http::client::Client;
use crate::http::input::is_form;
use crate::AppState;
use app::domain::FieldError;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{LOCATION, USER_AGENT};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::HashMap;

/// `GET /api/v1/auth/oidc/state` → `{state}`.
pub async fn state(
    State(state): State<AppState>,
    client: Client,
) -> AppResult<Json<serde_json::Value>> {
    let value = mobile::new_state(&state, &client.ip_string()).await?;
    Ok(Json(serde_json::json!({ "state": value })))
}

/// The longest parameter taken: codes, verifiers and URIs are far shorter.
const MAX_PARAM: usize = 4096;

/// The parameters of the query string and, for a POST, of its form body (which wins).
struct Params(HashMap<String, String>);

impl Params {
    fn read(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> AppResult<Self> {
        let unreadable = || AppError::BadRequest("The parameters could not be read.".to_owned());
        let mut map: HashMap<String, String> =
            serde_urlencoded::from_str(uri.query().unwrap_or("")).map_err(|_| unreadable())?;
        if !body.iter().all(u8::is_ascii_whitespace) {
            if !is_form(headers) {
                return Err(AppError::BadRequest(
                    "Send the parameters as a form (application/x-www-form-urlencoded) or in the query string."
                        .to_owned(),
                ));
            }
            let form: HashMap<String, String> =
                serde_urlencoded::from_bytes(body).map_err(|_| unreadable())?;
            map.extend(form);
        }
        Ok(Self(map))
    }

    fn optional(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The required parameters, in order, or every missing or oversized one named.
    fn required<const N: usize>(&self, names: [&str; N]) -> AppResult<[&str; N]> {
        let mut errors = Vec::new();
        let values = names.map(|name| match self.optional(name) {
            Some(v) if v.len() <= MAX_PARAM => v,
            found => {
                errors.push(FieldError {
                    field: name.to_owned(),
                    message: if found.is_some() {
                        format!("{name} is too long.")
                    } else {
                        format!("{name} is missing.")
                    },
                });
                ""
            }
        });
        if errors.is_empty() {
            Ok(values)
        } else {
            Err(AppError::Validation(errors))
        }
    }
}

const FIELDS: [&str; 5] = ["code", "code_verifier", "redirect_uri", "nonce", "state"];

/// The callback's request from its parameters; the name is `device_name`, else the
/// User-Agent.
fn app_callback<'a>(
    values: [&'a str; 5],
    params: &'a Params,
    headers: &'a HeaderMap,
    ip: &'a str,
) -> AppCallback<'a> {
    let [code, code_verifier, redirect_uri, nonce, state] = values;
    AppCallback {
        code,
        code_verifier,
        redirect_uri,
        nonce,
        state,
        name: params
            .optional("device_name")
            .or_else(|| headers.get(USER_AGENT).and_then(|v| v.to_str().ok())),
        ip,
    }
}

/// `POST /api/v1/auth/oidc/mobile/callback` → `{accessToken, refreshToken, expires}`.
pub async fn callback(
    State(state): State<AppState>,
    client: Client,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<MobileTokens>> {
    let params = Params::read(&uri, &headers, &body)?;
    let values = params.required(FIELDS)?;
    let ip = client.ip_string();
    let request = app_callback(values, &params, &headers, &ip);
    let admitted = mobile::admit(
        &state,
        request.state,
        &[("redirect_uri", request.redirect_uri)],
    )
    .await?;
    let attempt = limits::callback(&state, &ip).await?;
    let pair = mobile::finish(&state, admitted, &request)
        .await
        .map_err(|f| mobile::refusal(&f))?;
    forget(&state, attempt).await;
    Ok(Json(MobileTokens::from(pair)))
}

/// `GET /api/v1/auth/oidc/redirect`: as the callback, then 302 to `app_redirect_uri` with
/// the tokens in the fragment (never sent to a server), or `#error=Authentication%20failed`.
pub async fn redirect(
    State(state): State<AppState>,
    client: Client,
    uri: Uri,
    headers: HeaderMap,
) -> AppResult<Response> {
    let params = Params::read(&uri, &headers, &[])?;
    let values = params.required(FIELDS)?;
    let [app_redirect_uri] = params.required(["app_redirect_uri"])?;
    let ip = client.ip_string();
    let request = app_callback(values, &params, &headers, &ip);
    let admitted = mobile::admit(
        &state,
        request.state,
        &[
            ("redirect_uri", request.redirect_uri),
            ("app_redirect_uri", app_redirect_uri),
        ],
    )
    .await?;
    let attempt = limits::callback(&state, &ip).await?;
    let fragment = match mobile::finish(&state, admitted, &request).await {
        Ok(pair) => {
            forget(&state, attempt).await;
            serde_urlencoded::to_string([
                ("access_token", pair.access_token.as_str()),
                ("refresh_token", pair.refresh_token.as_str()),
                ("expires_in", &pair.expires_in.to_string()),
            ])
            .map_err(AppError::internal)?
        }
        Err(_) => "error=Authentication%20failed".to_owned(),
    };
    Ok((
        StatusCode::FOUND,
        [(LOCATION, format!("{app_redirect_uri}#{fragment}"))],
    )
        .into_response())
}

/// A sign-in that succeeded does not count against the client's limit of failed ones.
async fn forget(state: &AppState, attempt: limits::Attempt) {
    if let Err(e) = attempt.forget(state).await {
        tracing::warn!(error = %e, "could not take back a successful mobile sign-in's rate-limit count");
    }
}
