//! The server-rendered pages, and where a request for one goes when it cannot be shown yet.

use super::admin::{audit_filter, AuditQuery};
use crate::db::{AuditFilter, User};
use crate::error::AppError;
use crate::http::client::Client;
use crate::http::session::SignedIn;
use crate::oidc_settings::{self as settings, reference};
use crate::AppState;
use app::domain::{PageContext, PageData};
use axum::extract::{Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use leptos_axum::{generate_route_list, LeptosRoutes};

/// Pages anyone may open; the rest need a session.
const PUBLIC_PAGES: &[&str] = &["/login", "/setup"];

pub fn router(state: &AppState) -> Router<AppState> {
    let routes = generate_route_list(app::App);
    let options = state.leptos.clone();
    Router::new()
        .leptos_routes(state, routes, move || app::shell(options.clone()))
        .layer(from_fn_with_state(state.clone(), guard))
}

/// Until setup is done every page goes to /setup; after it, /setup goes to /login. Pages that
/// need a session send strangers to /login, remembering where they were going.
async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // Owned copies: a borrowed `Request` cannot be held across an await (its body is not Sync).
    let signed_in = req.extensions().get::<SignedIn>().cloned();
    let own_origin = req
        .extensions()
        .get::<Client>()
        .and_then(|c| c.own_origin.clone());
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_owned();
    let attempts = auto_attempts(req.headers());
    let outcome = async {
        if let Some(redirect) = oidc_only_redirect(
            &state,
            &path,
            query.as_deref(),
            signed_in.is_some(),
            attempts,
        )
        .await?
        {
            return Ok(Err(redirect));
        }
        match decide(&state, &path, &target, signed_in.is_some()).await? {
            Some(location) => Ok(Err(Redirect::to(&location).into_response())),
            None => Ok(Ok(page_context(
                &state,
                signed_in,
                &path,
                query.as_deref(),
                own_origin.as_deref(),
            )
            .await?)),
        }
    }
    .await;
    match outcome {
        Ok(Ok(ctx)) => {
            req.extensions_mut().insert(ctx);
            next.run(req).await
        }
        Ok(Err(response)) => response,
        Err(e) => AppError::into_response(e),
    }
}

pub const ATTEMPTS_COOKIE: &str = "grimmory_oidc_attempts";
/// Automatic trips to the provider before the login page stops and says so.
const MAX_AUTO_ATTEMPTS: u32 = 3;

fn auto_attempts(headers: &axum::http::HeaderMap) -> u32 {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| crate::auth::session::read_cookie(h, ATTEMPTS_COOKIE))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// In OIDC-only mode the login page sends the browser to the provider at once, except when
/// the query says why it is here (an error, a revoked session, a sign-out, or the local form
/// asked for), so signing out never signs you straight back in and a refused account does
/// not loop. A cookie counts the trips; after three it stops (the page then says so).
async fn oidc_only_redirect(
    state: &AppState,
    path: &str,
    query: Option<&str>,
    signed_in: bool,
    attempts: u32,
) -> Result<Option<Response>, AppError> {
    if path != "/login" || signed_in || attempts >= MAX_AUTO_ATTEMPTS {
        return Ok(None);
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
    let has = |k: &str| {
        pairs
            .iter()
            .any(|(name, value)| name == k && !(k == "local" && value != "true"))
    };
    if ["oidcError", "reason", "signedOut", "local"]
        .iter()
        .any(|k| has(k))
    {
        return Ok(None);
    }
    if !settings::effective(state).await?.force_only || !state.db.setup_completed().await? {
        return Ok(None);
    }
    let mut location = "/api/v1/auth/oidc/authorize".to_owned();
    if let Some((_, r)) = pairs.iter().find(|(k, _)| k == "returnTo") {
        if let Some(safe) = app::domain::safe_return_to(r) {
            location.push_str("?returnTo=");
            location.push_str(
                &url::form_urlencoded::byte_serialize(safe.as_bytes()).collect::<String>(),
            );
        }
    }
    let cookie = format!(
        "{ATTEMPTS_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=600{}",
        attempts + 1,
        if state.config.secure_cookies() {
            "; Secure"
        } else {
            ""
        }
    );
    Ok(Some(
        (
            [(axum::http::header::SET_COOKIE, cookie)],
            Redirect::to(&location),
        )
            .into_response(),
    ))
}

async fn decide(
    state: &AppState,
    path: &str,
    target: &str,
    signed_in: bool,
) -> Result<Option<String>, AppError> {
    let setup_done = state.db.setup_completed().await?;
    Ok(if !setup_done {
        (path != "/setup").then(|| "/setup".to_owned())
    } else if path == "/setup" {
        Some("/login".to_owned())
    } else if path == "/login" && signed_in && !target.contains("oidcError=") {
        // A signed-in user whose OIDC linking failed lands here with the error: show it.
        Some("/".to_owned())
    } else if !signed_in && !PUBLIC_PAGES.contains(&path) {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("returnTo", target)
            .finish();
        Some(format!("/login?{query}"))
    } else {
        None
    })
}

async fn page_context(
    state: &AppState,
    signed_in: Option<SignedIn>,
    path: &str,
    query: Option<&str>,
    own_origin: Option<&str>,
) -> Result<PageContext, AppError> {
    let Some(SignedIn { user }) = signed_in else {
        let public_settings = if path == "/login" {
            settings::public(state).await?
        } else {
            Default::default()
        };
        return Ok(PageContext {
            user: None,
            setup_token_required: state.setup_token.is_some(),
            data: PageData {
                public_settings,
                ..PageData::default()
            },
        });
    };
    Ok(PageContext {
        user: Some(state.db.user_dto(&user).await?),
        setup_token_required: false,
        data: page_data(state, &user, path, query, own_origin).await?,
    })
}

/// Loads what the page at `path` shows; admin data only for admins (others get the 403 page).
async fn page_data(
    state: &AppState,
    user: &User,
    path: &str,
    query: Option<&str>,
    own_origin: Option<&str>,
) -> Result<PageData, AppError> {
    let mut data = PageData::default();
    match path {
        "/" => data.libraries = state.db.libraries_of(user.id, user.is_admin).await?,
        "/admin/users" if user.is_admin => {
            data.users = state.db.user_dtos().await?;
            data.libraries = state.db.libraries().await?;
        }
        "/admin/libraries" if user.is_admin => data.libraries = state.db.libraries().await?,
        "/profile" => data.public_settings = settings::public(state).await?,
        // Admins see why the last OIDC sign-in failed, from the audit log.
        "/login" => {
            data.public_settings = settings::public(state).await?;
            if user.is_admin {
                let last_failure = AuditFilter {
                    event: Some("OIDC_LOGIN_FAILED".to_owned()),
                    limit: 1,
                    ..AuditFilter::default()
                };
                data.audit = state.db.audit_entries(&last_failure).await?;
            }
        }
        "/settings/oidc" if user.is_admin => {
            let stored = settings::load(state).await?;
            data.reference = Some(reference::build(&state.config, own_origin, &stored));
            data.oidc_settings = Some(settings::get(state).await?);
            data.group_mappings = state.db.group_mappings().await?;
            data.libraries = state.db.libraries().await?;
        }
        "/admin/audit" if user.is_admin => {
            // A hand-edited bad filter shows the newest entries rather than an error page.
            let q: AuditQuery = serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
            let filter = audit_filter(&q).unwrap_or(AuditFilter {
                limit: 50,
                ..AuditFilter::default()
            });
            data.audit = state.db.audit_entries(&filter).await?;
            data.users = state.db.user_dtos().await?;
        }
        _ => {}
    }
    Ok(data)
}
