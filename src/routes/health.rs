use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

/// 200 while the database answers, 503 within a second when it does not (a probe on a
/// connection of its own, so a busy pool does not make it fail), so a load balancer or
/// container runtime can tell at once. The outage itself is logged once, when it begins and
/// when it ends.
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.db.answers().await {
        (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": "ok"})),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "database": "unreachable"})),
        )
    }
}
