//! Admin-only API reads: users, libraries, the audit log, and the gate in front of the whole
//! admin API. Changes are server functions (`app::api`, served by `server_fns`).

use crate::admin::users;
use crate::api_types;
use crate::db::{AuditFilter, User};
use crate::error::{AppError, AppResult};
use crate::http::input::{IdPath, QueryOf};
use crate::http::session::SignedIn;
use crate::AppState;
use app::domain::{AuditEntryDto, LibraryDto, UserDto};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::Extensions;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

/// A signed-in admin; anyone else gets 401 or 403.
pub struct Admin(pub User);

impl Admin {
    /// The signed-in admin of a request, from its extensions.
    pub fn from_extensions(extensions: &Extensions) -> AppResult<Self> {
        let SignedIn { user } = SignedIn::from_extensions(extensions)?;
        if user.is_admin {
            Ok(Self(user))
        } else {
            Err(AppError::Forbidden("Only admins can do this.".to_owned()))
        }
    }
}

/// The API paths only admins may use (Appendix A): everything under them.
const ADMIN_API: [&str; 2] = ["/api/v1/admin/", "/api/v1/settings/"];

/// Answers 401 or 403 on the admin API before any body is read, so what another caller sends
/// is never checked field by field: the same answer, whatever they send.
pub async fn admins_only(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let admin_api = ADMIN_API
        .iter()
        .any(|prefix| path.starts_with(prefix) || path == prefix.trim_end_matches('/'));
    if admin_api {
        if let Err(refused) = Admin::from_extensions(req.extensions()) {
            return refused.into_response();
        }
    }
    next.run(req).await
}

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        Self::from_extensions(&parts.extensions)
    }
}

pub async fn list_users(State(state): State<AppState>, _: Admin) -> AppResult<Json<Vec<UserDto>>> {
    Ok(Json(api_types::all(state.db.user_views().await?)))
}

pub async fn get_user(
    State(state): State<AppState>,
    _: Admin,
    IdPath(id): IdPath,
) -> AppResult<Json<UserDto>> {
    Ok(Json(users::get(&state, id).await?))
}

pub async fn list_libraries(
    State(state): State<AppState>,
    _: Admin,
) -> AppResult<Json<Vec<LibraryDto>>> {
    Ok(Json(api_types::all(state.db.libraries().await?)))
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
) -> AppResult<Json<Vec<AuditEntryDto>>> {
    Ok(Json(api_types::all(
        state.db.audit_entries(&audit_filter(&q)?).await?,
    )))
}
