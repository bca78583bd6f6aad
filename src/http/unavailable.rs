//! What a request answers while the database cannot serve it, within the configured wait
//! (`GRIMMORY_DB_ACQUIRE_TIMEOUT_MS`) rather than hanging: 503, as JSON for the API (the body
//! of [`AppError::Unavailable`]) and as a plain page for pages, with a `Retry-After`.
//!
//! A request still running halfway through its wait has the database probed on a
//! connection of its own: no answer, and it is given up (its future dropped, as when a client
//! goes away); an answer means the database is only busy, and the request goes on. While the
//! database is known not to answer, requests fail at once.

use crate::error::{AppError, UNAVAILABLE_MESSAGE};
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use std::time::Duration;

/// What is left of a request's wait after the probe, for sending the answer.
const SPARE: Duration = Duration::from_millis(200);
/// Seconds a client is asked to wait before it tries again.
const RETRY_AFTER_SECS: &str = "5";

/// Nothing else answers 503: it always means the database could not serve the request.
pub async fn answer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    // The API and the probes keep their own bodies; everything else is a browser's page.
    let page = !(path.starts_with("/api/") || path == "/healthz" || path == "/metrics");
    let mut res = if path == "/healthz" || path.starts_with("/pkg/") {
        next.run(req).await
    } else if state.db.known_unreachable() {
        AppError::Unavailable.into_response()
    } else {
        let wait = state.config.db_acquire_timeout;
        // Half the wait for the request, the rest for the probe (a fresh connection is slow
        // on a loaded host) but for a moment to send the answer.
        let probe_at = wait / 2;
        let probe_for = wait.saturating_sub(probe_at + SPARE);
        let run = next.run(req);
        tokio::pin!(run);
        tokio::select! {
            res = &mut run => res,
            () = tokio::time::sleep(probe_at) => {
                if state.db.answers_within(probe_for).await {
                    run.await
                } else {
                    AppError::Unavailable.into_response()
                }
            }
        }
    };
    if res.status() != StatusCode::SERVICE_UNAVAILABLE {
        return res;
    }
    state.db.outage_began();
    if page {
        res = (
            StatusCode::SERVICE_UNAVAILABLE,
            Html(format!(
                "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Grimmory</title></head>\
                 <body><p>{UNAVAILABLE_MESSAGE}</p></body></html>"
            )),
        )
            .into_response();
    }
    res.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    res
}
