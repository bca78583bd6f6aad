//! The OIDC sign-in endpoints: authorize (start), link (start, from /profile), the callback
//! (finish), and back-channel logout.

use super::see_other;
use crate::auth::session::SessionToken;
use crate::auth::sign_in;
use crate::auth::sign_in::{dry_run, Finished, Intent};
use crate::auth::{backchannel, limits};
use crate::http::cookies;

use crate::error::{AppError, AppResult};
use crate::http::client::Client;
use crate::http::input::{is_form, QueryOf};
use crate::http::session::{SessionCookie, SignedIn};
use crate::oidc::flow::CallbackQuery;
use crate::oidc_settings::{self as settings, reference};
use crate::AppState;
use app::domain::{safe_return_to, OidcError};
use axum::extract::State;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

/// The stable per-browser id that owns pending sign-ins, so a callback is only accepted by
/// the browser that started it (and two tabs do not spoil each other).
pub(super) fn browser_id(headers: &HeaderMap, client: &Client) -> Option<String> {
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

/// Where a started sign-in sends the browser, and the browser-id cookie to set when the
/// browser had none.
struct Begun {
    location: Result<String, OidcError>,
    browser_cookie: Option<String>,
}

impl Begun {
    /// The redirect there: `status` to the provider, 303 to the login page with the error.
    fn redirect(self, status: StatusCode) -> Response {
        let mut res = match self.location {
            Ok(location) => (status, [(LOCATION, location)]).into_response(),
            Err(error) => login_error(&error),
        };
        if let Some(v) = self.browser_cookie.and_then(|c| c.parse().ok()) {
            res.headers_mut().append(SET_COOKIE, v);
        }
        res
    }
}

/// Starts a sign-in at the provider, within the client's limit.
async fn begin(
    state: &AppState,
    client: &Client,
    headers: &HeaderMap,
    return_to: &str,
    intent: Intent,
) -> AppResult<Begun> {
    let oidc = settings::effective(state).await?;
    if !oidc.enabled {
        return Ok(Begun {
            location: Err(OidcError::OidcDisabled),
            browser_cookie: None,
        });
    }
    let ip = client.ip_string();
    limits::start(state, &ip).await?;
    let (browser, new_browser) = match browser_id(headers, client) {
        Some(b) => (b, false),
        None => (SessionToken::generate().as_cookie_value().to_owned(), true),
    };
    let redirect_uri = format!("{}/oauth2-callback", reference::redirect_base(state).await?);
    let started = sign_in::start(
        state,
        &oidc,
        &ip,
        &browser,
        return_to,
        intent,
        &redirect_uri,
    )
    .await;
    Ok(Begun {
        location: started.map(|s| s.location).map_err(|f| f.page()),
        browser_cookie: new_browser.then(|| cookies::browser(&browser, client.https)),
    })
}

/// `GET /api/v1/auth/oidc/authorize`: starts a sign-in and sends the browser to the provider.
/// Sign-in only: a GET can be sent by any link or redirect, so it never starts linking.
pub async fn authorize(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    QueryOf(q): QueryOf<AuthorizeQuery>,
) -> AppResult<Response> {
    if q.intent.as_deref().is_some_and(|i| i != "login") {
        return Err(AppError::BadRequest(
            "Linking an OIDC account starts from your profile page.".to_owned(),
        ));
    }
    let return_to = q
        .return_to
        .as_deref()
        .and_then(safe_return_to)
        .unwrap_or("/");
    let begun = begin(&state, &client, &headers, return_to, Intent::Login).await?;
    Ok(begun.redirect(StatusCode::FOUND))
}

/// `POST /api/v1/auth/oidc/link`: the signed-in user links an OIDC identity, from /profile.
/// A POST, so the CSRF guard refuses it from another site; the provider is asked for a fresh
/// sign-in. A form post (no JavaScript) gets a 303 to the provider, JSON gets `{url}`.
pub async fn link(
    State(state): State<AppState>,
    client: Client,
    parts: Parts,
) -> AppResult<Response> {
    let form = is_form(&parts.headers);
    let user = match SignedIn::from_extensions(&parts.extensions) {
        Ok(signed_in) => signed_in.user,
        Err(_) if form => return Ok(see_other("/login?returnTo=%2Fprofile")),
        Err(e) => return Err(e),
    };
    let intent = Intent::Link(user.id);
    let begun = begin(&state, &client, &parts.headers, "/profile", intent).await?;
    if form {
        return Ok(begun.redirect(StatusCode::SEE_OTHER));
    }
    let url = match &begun.location {
        Ok(location) => location.clone(),
        Err(error) => format!("/login?oidcError={}", error.code()),
    };
    let mut res = Json(serde_json::json!({ "url": url })).into_response();
    if let Some(v) = begun.browser_cookie.and_then(|c| c.parse().ok()) {
        res.headers_mut().append(SET_COOKIE, v);
    }
    Ok(res)
}

/// `GET /oauth2-callback`: finishes the sign-in on the server and redirects; never renders a
/// token. Failures count against the client's limit (each is audited).
pub async fn callback(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    SessionCookie(previous): SessionCookie,
    QueryOf(query): QueryOf<CallbackQuery>,
) -> Response {
    let (ip, browser) = (client.ip_string(), browser_id(&headers, &client));
    let attempt = match limits::callback(&state, &ip).await {
        Ok(attempt) => attempt,
        Err(AppError::TooManyRequests(_)) => return login_error(&OidcError::RateLimited),
        Err(e) => return e.into_response(),
    };
    let request = sign_in::Callback {
        query,
        browser_id: browser.as_deref(),
        previous_session: previous.as_deref(),
        ip: &ip,
    };
    let finished = sign_in::callback(&state, request).await;
    // Signed in (or tried): a failure to take the attempt back only leaves it counted.
    if finished.is_ok() {
        if let Err(e) = attempt.forget(&state).await {
            tracing::warn!(error = %e, "could not take back a successful callback's rate-limit count");
        }
    }
    let signed_in = match finished {
        Ok(Finished::SignedIn(signed_in)) => signed_in,
        // A dry run changes no cookie: the admin's own session stays as it is.
        Ok(Finished::Tried { report_id }) => return see_other(&dry_run::report_path(&report_id)),
        // Confirmed for an app grant: the session is the one the browser has.
        Ok(Finished::Confirmed { return_to }) => return see_other(&return_to),
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
/// Every token is checked and a valid one always accepted: a limit must not keep a session
/// alive that the provider ended. Refusals count against the client's limit; over it, a
/// refused token fetches no keys, is not logged, and gets a 429.
pub async fn backchannel_logout(
    State(state): State<AppState>,
    client: Client,
    body: axum::body::Body,
) -> Response {
    let ip = client.ip_string();
    let counted = match limits::backchannel(&state, &ip).await {
        Ok(counted) => counted,
        Err(e) => return e.into_response(),
    };
    let ended = match logout_token(body).await {
        Ok(token) => backchannel::end_sessions(&state, &ip, &token, !counted.over).await,
        Err(why) => Err(why.into()),
    };
    match ended {
        Ok(()) => {
            if let Err(e) = counted.attempt.forget(&state).await {
                tracing::warn!(error = %e, "could not take back an accepted logout's rate-limit count");
            }
            (StatusCode::OK, Json(serde_json::json!({}))).into_response()
        }
        // Not the token's fault: a 503 (not a 400) makes the provider send it again later.
        Err(backchannel::Failure::Database(e)) => {
            // Only refusals count; if the database is back already, take the attempt back.
            let _ = counted.attempt.forget(&state).await;
            e.into_response()
        }
        Err(backchannel::Failure::Refused(_)) if counted.over => AppError::TooManyRequests(
            "Too many refused logout requests. Please try again later.".to_owned(),
        )
        .into_response(),
        Err(backchannel::Failure::Refused(why)) => {
            tracing::info!(reason = why, "back-channel logout refused");
            (
                StatusCode::BAD_REQUEST,
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
