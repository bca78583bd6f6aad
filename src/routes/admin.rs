//! Admin-only API: users, libraries, the audit log.

use crate::admin::{libraries, users, Actor};
use crate::db::{AuditFilter, AuditRow, User};
use crate::error::{AppError, AppResult};
use crate::http::client::Client;
use crate::http::input::{IdPath, Input, QueryOf};
use crate::http::session::{SessionCookie, SignedIn};
use crate::AppState;
use app::domain::{LibraryDto, UserDto};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

/// A signed-in admin; anyone else gets 401 or 403.
pub struct Admin(pub User);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let SignedIn { user } = SignedIn::from_request_parts(parts, state).await?;
        if user.is_admin {
            Ok(Self(user))
        } else {
            Err(AppError::Forbidden("Only admins can do this.".to_owned()))
        }
    }
}

pub async fn list_users(State(state): State<AppState>, _: Admin) -> AppResult<Json<Vec<UserDto>>> {
    Ok(Json(state.db.user_dtos().await?))
}

pub async fn get_user(
    State(state): State<AppState>,
    _: Admin,
    IdPath(id): IdPath,
) -> AppResult<Json<UserDto>> {
    Ok(Json(users::get(&state, id).await?))
}

pub async fn create_user(
    State(state): State<AppState>,
    Admin(actor): Admin,
    client: Client,
    input: Input<users::CreateUserRequest>,
) -> AppResult<(StatusCode, Json<UserDto>)> {
    let ip = client.ip_string();
    let by = Actor::Admin {
        user: &actor,
        ip: &ip,
    };
    let user = users::create(&state, by, input.value).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

pub async fn update_user(
    State(state): State<AppState>,
    Admin(actor): Admin,
    client: Client,
    SessionCookie(session): SessionCookie,
    IdPath(id): IdPath,
    input: Input<users::UpdateUserRequest>,
) -> AppResult<Json<UserDto>> {
    let ip = client.ip_string();
    let by = Actor::Admin {
        user: &actor,
        ip: &ip,
    };
    let user = users::update(&state, by, session.as_deref(), id, input.value).await?;
    Ok(Json(user))
}

pub async fn delete_user(
    State(state): State<AppState>,
    Admin(actor): Admin,
    client: Client,
    IdPath(id): IdPath,
) -> AppResult<Json<serde_json::Value>> {
    users::delete(&state, &actor, &client.ip_string(), id).await?;
    Ok(Json(serde_json::json!({})))
}

pub async fn unlink_user(
    State(state): State<AppState>,
    Admin(actor): Admin,
    client: Client,
    IdPath(id): IdPath,
) -> AppResult<Json<UserDto>> {
    Ok(Json(
        users::unlink(&state, &actor, &client.ip_string(), id).await?,
    ))
}

pub async fn list_libraries(
    State(state): State<AppState>,
    _: Admin,
) -> AppResult<Json<Vec<LibraryDto>>> {
    Ok(Json(state.db.libraries().await?))
}

pub async fn create_library(
    State(state): State<AppState>,
    Admin(actor): Admin,
    client: Client,
    input: Input<libraries::LibraryRequest>,
) -> AppResult<(StatusCode, Json<LibraryDto>)> {
    let library = libraries::create(&state, &actor, &client.ip_string(), input.value).await?;
    Ok((StatusCode::CREATED, Json(library)))
}

pub async fn update_library(
    State(state): State<AppState>,
    Admin(actor): Admin,
    client: Client,
    IdPath(id): IdPath,
    input: Input<libraries::LibraryRequest>,
) -> AppResult<Json<LibraryDto>> {
    Ok(Json(
        libraries::rename(&state, &actor, &client.ip_string(), id, input.value).await?,
    ))
}

pub async fn delete_library(
    State(state): State<AppState>,
    Admin(actor): Admin,
    client: Client,
    IdPath(id): IdPath,
) -> AppResult<Json<serde_json::Value>> {
    libraries::delete(&state, &actor, &client.ip_string(), id).await?;
    Ok(Json(serde_json::json!({})))
}

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    event: Option<String>,
    user: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

/// Parses the audit filters, each with its own message when wrong.
pub fn audit_filter(q: &AuditQuery) -> AppResult<AuditFilter> {
    let mut fields = crate::validation::Fields::new();
    let nonempty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let event = nonempty(&q.event);
    if let Some(e) = &event {
        if !app::domain::AUDIT_EVENTS.contains(&e.as_str()) {
            fields.add("event", "Unknown audit event.");
        }
    }
    let mut number = |field: &str, v: &Option<String>| {
        nonempty(v).and_then(|s| {
            s.parse::<i64>()
                .map_err(|_| fields.add(field, "Must be a whole number."))
                .ok()
        })
    };
    let user = number("user", &q.user);
    let before = number("before", &q.before);
    let limit = number("limit", &q.limit).unwrap_or(50);
    if !(1..=500).contains(&limit) {
        fields.add("limit", "Must be from 1 to 500.");
    }
    fields.finish()?;
    Ok(AuditFilter {
        event,
        user,
        before,
        limit,
    })
}

pub async fn audit(
    State(state): State<AppState>,
    _: Admin,
    QueryOf(q): QueryOf<AuditQuery>,
) -> AppResult<Json<Vec<AuditRow>>> {
    Ok(Json(state.db.audit_entries(&audit_filter(&q)?).await?))
}
