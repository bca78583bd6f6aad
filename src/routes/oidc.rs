//! The OIDC sign-in endpoints: authorize (start), the callback (finish), and back-channel
//! logout.

use super::see_other;
use crate::auth::oidc_login;
use crate::auth::session::{read_cookie, session_cookie, SessionToken};
use crate::db::{AuditEntry, AuditEvent};
use crate::error::{AppError, AppResult};
use crate::http::client::Client;
use crate::http::input::QueryOf;
use crate::http::session::{SessionCookie, SignedIn};
use crate::oidc::flow::{self, CallbackQuery, Failure, Intent};
use crate::oidc::{reference, settings};
use crate::AppState;
use app::domain::safe_return_to;
use axum::extract::State;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

const BROWSER_COOKIE: &str = "grimmory_browser";
const AUTHORIZE_PER_MINUTE: i64 = 30;

/// The stable per-browser id that owns pending sign-ins, so a callback is only accepted by
/// the browser that started it (and two tabs do not spoil each other).
fn browser_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| read_cookie(h, BROWSER_COOKIE))
        .filter(|v| {
            v.len() >= 32
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_owned)
}

fn browser_cookie(value: &str, secure: bool) -> String {
    format!(
        "{BROWSER_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000{}",
        if secure { "; Secure" } else { "" }
    )
}

fn login_error(code: &str) -> Response {
    see_other(&format!("/login?oidcError={code}"))
}

async fn audit_failure(state: &AppState, ip: &str, failure: &Failure, user: Option<i64>) {
    let mut entry = AuditEntry::new(AuditEvent::OidcLoginFailed, state.clock.now())
        .ip(ip)
        .detail("reason", failure.reason.as_str());
    if let Some(username) = &failure.username {
        entry = entry.detail("username", username.as_str());
    }
    if let Some(id) = user {
        entry = entry.target(id);
    }
    if let Err(e) = state.db.audit(entry).await {
        tracing::warn!(error = %e, "could not write the audit log");
    }
    tracing::info!(reason = failure.reason.as_str(), "OIDC sign-in failed");
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
        return Ok(login_error("oidc_disabled"));
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
    let (browser, new_browser) = match browser_id(&parts.headers) {
        Some(b) => (b, false),
        None => (SessionToken::generate().as_cookie_value().to_owned(), true),
    };
    let redirect_uri = format!(
        "{}/oauth2-callback",
        reference::public_base(&state.config, client.own_origin.as_deref())
    );
    match flow::start(&state, &oidc, &browser, return_to, intent, &redirect_uri).await {
        Ok(started) => {
            let mut res = axum::response::Redirect::to(&started.location).into_response();
            *res.status_mut() = axum::http::StatusCode::FOUND;
            if new_browser {
                if let Ok(v) = browser_cookie(&browser, state.config.secure_cookies()).parse() {
                    res.headers_mut().append(SET_COOKIE, v);
                }
            }
            Ok(res)
        }
        Err(failure) => {
            audit_failure(&state, &ip, &failure, None).await;
            Ok(login_error(&failure.code))
        }
    }
}

/// `GET /oauth2-callback`: finishes the sign-in on the server and redirects; never renders a
/// token.
pub async fn callback(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    SessionCookie(previous): SessionCookie,
    QueryOf(q): QueryOf<CallbackQuery>,
) -> AppResult<Response> {
    let ip = client.ip_string();
    let oidc = settings::effective(&state).await?;
    if !oidc.enabled {
        let failure = Failure::new("oidc_disabled", "oidc_disabled");
        audit_failure(&state, &ip, &failure, None).await;
        return Ok(login_error(&failure.code));
    }
    let browser = browser_id(&headers);
    let auth = match flow::finish(&state, &oidc, browser.as_deref(), q).await {
        Ok(auth) => auth,
        Err((failure, pending)) => {
            audit_failure(&state, &ip, &failure, pending.and_then(|p| p.link_user_id)).await;
            return Ok(login_error(&failure.code));
        }
    };
    match oidc_login::complete(&state, &auth, &oidc.settings, previous.as_deref(), &ip).await {
        Ok(signed_in) => {
            state.metrics.record_sign_in("oidc", "success");
            let target = safe_return_to(&signed_in.return_to)
                .unwrap_or("/")
                .to_owned();
            let secure = if state.config.secure_cookies() {
                "; Secure"
            } else {
                ""
            };
            // A successful sign-in resets the count of automatic trips to the provider.
            let reset = format!(
                "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
                super::pages::ATTEMPTS_COOKIE
            );
            let cookies = axum::response::AppendHeaders([
                (
                    SET_COOKIE,
                    session_cookie(&signed_in.token, state.config.secure_cookies()),
                ),
                (SET_COOKIE, reset),
            ]);
            Ok((cookies, see_other(&target)).into_response())
        }
        Err(failure) => {
            state.metrics.record_sign_in("oidc", "failure");
            audit_failure(&state, &ip, &failure, auth.pending.link_user_id).await;
            Ok(login_error(&failure.code))
        }
    }
}

/// `POST /api/v1/auth/oidc/backchannel-logout`: the provider ends sessions. Authenticated by
/// the token's signature (so exempt from the CSRF check); one answer for every failure.
pub async fn backchannel_logout(
    State(state): State<AppState>,
    client: Client,
    body: axum::body::Body,
) -> Response {
    match backchannel(&state, &client, body).await {
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

async fn backchannel(
    state: &AppState,
    client: &Client,
    body: axum::body::Body,
) -> Result<(), &'static str> {
    use crate::oidc::logout_token;
    let oidc = settings::effective(state).await.map_err(|_| "settings")?;
    if !oidc.enabled {
        return Err("OIDC is off");
    }
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map_err(|_| "body over 64 KiB")?;
    let form: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&bytes).map_err(|_| "not a form")?;
    let mut tokens = form.iter().filter(|(k, _)| k == "logout_token");
    let (Some((_, token)), None) = (tokens.next(), tokens.next()) else {
        return Err("exactly one logout_token expected");
    };
    let s = &oidc.settings;
    let now = state.clock.now();
    let alg = state
        .db
        .setting(&format!("oidc_alg:{}", s.issuer_uri))
        .await
        .map_err(|_| "settings")?
        .unwrap_or_else(|| "RS256".to_owned());
    let secret = match state
        .db
        .oidc_client_secret()
        .await
        .map_err(|_| "settings")?
    {
        Some(sealed) => Some(state.secrets.open(&sealed).map_err(|_| "secret")?),
        None => None,
    };
    let expected = logout_token::Expected {
        issuer: &s.issuer_uri,
        client_id: &s.client_id,
        client_secret: secret.as_deref(),
        alg: &alg,
        now,
    };
    let keys = state
        .providers
        .jwks(&state.outbound, &s.issuer_uri, now, false)
        .await
        .map_err(|_| "keys unreachable")?
        .ok_or("no keys")?;
    let request = match logout_token::verify(token, &keys, &expected) {
        Err("bad signature") => {
            // Perhaps a rotated key: look once more (rate-limited by the cache).
            match state
                .providers
                .jwks(&state.outbound, &s.issuer_uri, now, true)
                .await
            {
                Ok(Some(fresh)) => logout_token::verify(token, &fresh, &expected)?,
                _ => return Err("bad signature"),
            }
        }
        other => other?,
    };
    if !state
        .db
        .remember_logout_jti(&s.issuer_uri, &request.jti, request.keep_until, now)
        .await
        .map_err(|_| "database")?
    {
        return Err("jti replayed");
    }
    let ended = state
        .db
        .end_provider_sessions(
            &s.issuer_uri,
            request.sid.as_deref(),
            request.sub.as_deref(),
        )
        .await
        .map_err(|_| "database")?;
    let mut entry = AuditEntry::new(AuditEvent::BackchannelLogout, now)
        .ip(&client.ip_string())
        .detail("sessionsEnded", ended.len());
    if let Some(user) = ended.first() {
        entry = entry.target(*user);
    }
    state.db.audit(entry).await.map_err(|_| "database")?;
    Ok(())
}
