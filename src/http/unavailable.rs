//! What every request answers while the database cannot serve it: the API its JSON 503 (from
//! [`AppError::Unavailable`](crate::error::AppError)), a page a plain page saying the same, and
//! both a `Retry-After`. The outage is noted here, once per response, so the log can say when
//! it began and ended without a line per request.

use crate::error::UNAVAILABLE_MESSAGE;
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

/// Seconds a client is asked to wait before it tries again.
const RETRY_AFTER_SECS: &str = "5";

/// Nothing else answers 503: it always means the database could not serve the request.
pub async fn answer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    // The API and the probes keep their own bodies; everything else is a browser's page.
    let page = !(path.starts_with("/api/") || path == "/healthz" || path == "/metrics");
    let mut res = next.run(req).await;
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
