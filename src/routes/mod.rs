//! The router: the JSON API of Appendix A, the server-rendered pages, and the middleware
//! every request passes through.

mod auth;
mod health;
mod pages;
mod setup;

use crate::error::AppError;
use crate::http::{client, csrf, headers, session};
use crate::AppState;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use axum::Router;
use tower_http::trace::TraceLayer;

pub fn build_router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/v1/setup/status", get(setup::status))
        .route("/api/v1/setup", post(setup::create))
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route("/api/v1/auth/me", get(auth::me))
        .route("/api/{*rest}", any(api_not_found))
        .route("/healthz", get(health::healthz));
    Router::new()
        .merge(api)
        .merge(pages::router(&state))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .layer(from_fn_with_state(state.clone(), session::resolve))
        .layer(from_fn_with_state(state.clone(), csrf::guard))
        .layer(from_fn_with_state(state.clone(), client::identify))
        .layer(from_fn(headers::security_headers))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn api_not_found() -> AppError {
    AppError::NotFound("No such API endpoint.".to_owned())
}

/// A 303 that sends a browser's form post on to `location`.
fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}
