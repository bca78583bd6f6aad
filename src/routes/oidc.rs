//! The OIDC sign-in endpoints: authorize (start), the callback (finish), and back-channel
//! logout.

use super::see_other;
use crate::auth::backchannel;
use crate::auth::session::SessionToken;
use crate::auth::sign_in;
use crate::auth::sign_in::Intent;
use crate::http::cookies;

use crate::error::{AppError, AppResult};
use crate::http::client::Client;
use crate::http::input::QueryOf;
use crate::http::session::{SessionCookie, SignedIn};
use crate::oidc::flow::CallbackQuery;
use crate::oidc_settings::{self as settings, reference};
use crate::AppState;
use app::domain::{safe_return_to, OidcError};
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

const AUTHORIZE_PER_MINUTE: i64 = 30;

/// The stable per-browser id that owns pending sign-ins, so a callback is only accepted by
/// the browser that started it (and two tabs do not spoil each other).
fn browser_id(headers: &HeaderMap, client: &Client) -> Option<String> {
    cookies::find(headers, cookies::BROWSER, client.https)
        .filter(|v| {
            v.len() >= 32
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_owned)
}

fn login_error(error: &OidcError) -> Response {
    see_other(&format!("/login?oidcError={}", error.code()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeQuery {
    return_to: Option<String>,
    intent: Option<String>,
}

/// `GET /api/v1/auth/oidc/authorize`: starts a sign-in and sends the browser to the provider.
pub async fn authorize(
    State(state): State<AppState>,
    client: Client,
    parts: Parts,
    QueryOf(q): QueryOf<AuthorizeQuery>,
) -> AppResult<Response> {
    let ip = client.ip_string();
    let oidc = settings::effective(&state).await?;
    if !oidc.enabled {
        return Ok(login_error(&OidcError::OidcDisabled));
    }
    let now = state.clock.now();
    let attempt = SessionToken::generate().hash();
    let counts = state
        .db
        .record_attempt(
            &[&format!("authorize-ip:{ip}")],
            &attempt,
            now,
            now - 60_000,
        )
        .await?;
    if counts[0] > AUTHORIZE_PER_MINUTE {
        return Err(AppError::TooManyRequests(
            "Too many sign-in attempts. Please try again in a minute.".to_owned(),
        ));
    }
    let signed_in = parts.extensions.get::<SignedIn>().cloned();
    // Linking changes the account, so another site may not start it (this is a GET).
    let cross_site = parts
        .headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        == Some("cross-site");
    if q.intent.as_deref() == Some("link") && cross_site {
        return Err(AppError::Forbidden(
            "Start linking from your profile page.".to_owned(),
        ));
    }
    let intent = match (q.intent.as_deref(), &signed_in) {
        (Some("link"), Some(s)) => Intent::Link(s.user.id),
        (Some("link"), None) => return Ok(see_other("/login?returnTo=%2Fprofile")),
        _ => Intent::Login,
    };
    let default_target = if matches!(intent, Intent::Link(_)) {
        "/profile"
    } else {
        "/"
    };
    let return_to = q
        .return_to
        .as_deref()
        .and_then(safe_return_to)
        .unwrap_or(default_target);
    let (browser, new_browser) = match browser_id(&parts.headers, &client) {
        Some(b) => (b, false),
        None => (SessionToken::generate().as_cookie_value().to_owned(), true),
    };
    let redirect_uri = format!(
        "{}/oauth2-callback",
        reference::redirect_base(&state).await?
    );
    let started = sign_in::start(
        &state,
        &oidc,
        &ip,
        &browser,
        return_to,
        intent,
        &redirect_uri,
    )
    .await;
    match started {
        Ok(started) => {
            let mut res = axum::response::Redirect::to(&started.location).into_response();
            *res.status_mut() = axum::http::StatusCode::FOUND;
            if new_browser {
                if let Ok(v) = cookies::browser(&browser, client.https).parse() {
                    res.headers_mut().append(SET_COOKIE, v);
                }
            }
            Ok(res)
        }
        Err(failure) => Ok(login_error(&failure.page())),
    }
}

/// `GET /oauth2-callback`: finishes the sign-in on the server and redirects; never renders a
/// token.
pub async fn callback(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    SessionCookie(previous): SessionCookie,
    QueryOf(query): QueryOf<CallbackQuery>,
) -> Response {
    let (ip, browser) = (client.ip_string(), browser_id(&headers, &client));
    let request = sign_in::Callback {
        query,
        browser_id: browser.as_deref(),
        previous_session: previous.as_deref(),
        ip: &ip,
    };
    let signed_in = match sign_in::callback(&state, request).await {
        Ok(signed_in) => signed_in,
        Err(failure) => return login_error(&failure.page()),
    };
    let secure = client.https;
    // A successful sign-in resets the count of automatic trips to the provider.
    let set = axum::response::AppendHeaders([
        (SET_COOKIE, cookies::session(&signed_in.token, secure)),
        (SET_COOKIE, cookies::clear_oidc_attempts(secure)),
    ]);
    (set, see_other(&signed_in.return_to)).into_response()
}

/// `POST /api/v1/auth/oidc/backchannel-logout`: the provider ends sessions. Authenticated by
/// the token's signature (so exempt from the CSRF check); one answer for every failure.
pub async fn backchannel_logout(
    State(state): State<AppState>,
    client: Client,
    body: axum::body::Body,
) -> Response {
    let ended = match logout_token(body).await {
        Ok(token) => backchannel::end_sessions(&state, &client.ip_string(), &token).await,
        Err(why) => Err(why),
    };
    match ended {
        Ok(()) => (axum::http::StatusCode::OK, Json(serde_json::json!({}))).into_response(),
        Err(why) => {
            tracing::info!(reason = why, "back-channel logout refused");
            (
                axum::http::StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error": "invalid_request"})),
            )
                .into_response()
        }
    }
}

/// The form's one `logout_token`, from a body of at most 64 KiB.
async fn logout_token(body: axum::body::Body) -> Result<String, &'static str> {
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map_err(|_| "body over 64 KiB")?;
    let form: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&bytes).map_err(|_| "not a form")?;
    let mut tokens = form.into_iter().filter(|(k, _)| k == "logout_token");
    match (tokens.next(), tokens.next()) {
        (Some((_, token)), None) => Ok(token),
        _ => Err("exactly one logout_token expected"),
    }
}
