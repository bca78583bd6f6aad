use crate::error::AppError;
use crate::http::client::Client;
use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

/// Counts every response by route pattern and status.
pub async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "other".to_owned());
    let res = next.run(req).await;
    state.metrics.record_request(&route, res.status().as_u16());
    res
}

/// Prometheus text. With `GRIMMORY_METRICS_TOKEN` set it needs that bearer token; without
/// one it answers loopback clients only (as seen through trusted proxies).
pub async fn metrics(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    match &state.config.metrics_token {
        Some(token) => {
            let given = headers
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if !bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
                return Err(AppError::Unauthorized(
                    "Metrics need the bearer token set in GRIMMORY_METRICS_TOKEN.".to_owned(),
                ));
            }
        }
        None if !client.ip.is_loopback() => {
            return Err(AppError::Forbidden(
                "Metrics are served to loopback clients only; set GRIMMORY_METRICS_TOKEN to scrape from elsewhere.".to_owned(),
            ));
        }
        None => {}
    }
    let live = state
        .db
        .count_live_sessions(state.clock.now(), state.config.session_idle_ms)
        .await?;
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(live),
    )
        .into_response())
}
