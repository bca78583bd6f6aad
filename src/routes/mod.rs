//! The router: the JSON API of Appendix A (REST handlers for reads, form posts and the OIDC
//! redirects; server functions for every change), the server-rendered pages, and the
//! middleware every request passes through.

mod admin;
mod auth;
mod events;
mod grants;
mod health;
mod metrics;
mod mobile;
mod oidc;
pub(crate) mod pages;
mod server_fns;
mod settings;
mod setup;

use crate::error::AppError;
use crate::http::{app_auth, client, csrf, headers, session, unavailable};
use crate::AppState;
use app::api::paths;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use axum::Router;
use std::time::Duration;
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::trace::TraceLayer;

pub fn build_router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/v1/setup/status", get(setup::status))
        .route(paths::SETUP, post(setup::create))
        .route(paths::LOGIN, post(auth::login))
        .route(paths::LOGOUT, post(auth::logout))
        .route(paths::ME, get(auth::me))
        .route(paths::SESSION_EVENTS, get(events::session_events))
        .route(paths::OIDC_AUTHORIZE, get(oidc::authorize))
        .route(paths::LINK_OIDC_ACCOUNT, post(oidc::link))
        .route(
            "/api/v1/auth/oidc/backchannel-logout",
            post(oidc::backchannel_logout),
        )
        .route("/api/v1/auth/oidc/state", get(mobile::state))
        .route("/api/v1/auth/oidc/mobile/callback", post(mobile::callback))
        .route("/api/v1/auth/oidc/redirect", get(mobile::redirect))
        .route("/api/v1/auth/grants", get(grants::own))
        .route("/api/v1/auth/device/code", post(grants::device_code))
        .route("/api/v1/auth/token", post(grants::token))
        .route("/api/v1/auth/refresh", post(grants::refresh))
        .route("/api/v1/libraries", get(grants::libraries))
        .route("/api/v1/admin/users/{id}/grants", get(grants::of_user))
        .route("/api/v1/admin/users", get(admin::list_users))
        .route("/api/v1/admin/users/{id}", get(admin::get_user))
        .route("/api/v1/admin/libraries", get(admin::list_libraries))
        .route("/api/v1/admin/audit", get(admin::audit))
        .route("/api/v1/public-settings", get(settings::public))
        .route("/api/v1/settings/oidc", get(settings::get))
        .route("/api/v1/settings/oidc/reference", get(settings::reference))
        .route("/api/v1/settings/oidc/try/{id}", get(settings::try_report))
        .route(
            "/api/v1/admin/oidc-group-mappings",
            get(settings::list_mappings),
        )
        // Every change, and the UI's own calls: server functions on their paths.
        .merge(server_fns::router())
        .route("/api/{*rest}", any(api_not_found))
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .route("/oauth2-callback", get(oidc::callback))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::metrics));
    Router::new()
        .merge(api)
        .merge(pages::router(&state))
        // The 404 page runs the same hydration scripts, so it needs the same nonce policy.
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(
            pages::page_policy,
            app::shell,
        ))
        .layer(from_fn_with_state(state.clone(), metrics::count_requests))
        .layer(from_fn(admin::admins_only))
        .layer(from_fn_with_state(state.clone(), app_auth::resolve))
        .layer(from_fn_with_state(state.clone(), session::resolve))
        .layer(from_fn_with_state(state.clone(), unavailable::answer))
        .layer(from_fn_with_state(state.clone(), csrf::guard))
        .layer(from_fn_with_state(state.clone(), client::identify))
        .layer(from_fn(headers::security_headers))
        // Paths only: query strings carry authorization codes and states.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<_>| {
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
                })
                .on_failure(log_failure),
        )
        .with_state(state)
}

/// Server errors, except the 503 of an unavailable database: its outage is logged once when it
/// begins and once when it ends, not once per request (`db::health`).
fn log_failure(class: ServerErrorsFailureClass, latency: Duration, _: &tracing::Span) {
    if matches!(class, ServerErrorsFailureClass::StatusCode(s) if s == StatusCode::SERVICE_UNAVAILABLE)
    {
        return;
    }
    let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    tracing::error!(classification = %class, latency_ms, "response failed");
}

async fn api_not_found() -> AppError {
    AppError::NotFound("No such API endpoint.".to_owned())
}

/// A 303 that sends a browser's form post on to `location`.
fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}
