//! OIDC settings reads (admin only) and the public settings anyone may read. Changes are
//! server functions (`app::api`, served by `server_fns`).

use super::admin::Admin;
use crate::api_types;
use crate::auth::sign_in::dry_run;
use crate::error::AppResult;
use crate::http::client::Client;
use crate::oidc_settings::{self as settings, reference};
use crate::AppState;
use app::domain::{
    GroupMappingDto, OidcSettingsDto, ProviderReference, PublicSettings, SignInTrialReport,
};
use axum::extract::{Path, State};
use axum::Json;

pub async fn public(State(state): State<AppState>) -> AppResult<Json<PublicSettings>> {
    Ok(Json(settings::public(&state).await?))
}

pub async fn get(State(state): State<AppState>, _: Admin) -> AppResult<Json<OidcSettingsDto>> {
    Ok(Json(settings::get(&state).await?))
}

pub async fn reference(
    State(state): State<AppState>,
    _: Admin,
    client: Client,
) -> AppResult<Json<ProviderReference>> {
    Ok(Json(
        reference::for_admin(&state, client.own_origin.as_deref()).await?,
    ))
}

pub async fn list_mappings(
    State(state): State<AppState>,
    _: Admin,
) -> AppResult<Json<Vec<GroupMappingDto>>> {
    Ok(Json(api_types::all(state.db.group_mappings().await?)))
}

/// A Try Sign-in report: only for the admin who started it, for ten minutes.
pub async fn try_report(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> AppResult<Json<SignInTrialReport>> {
    Ok(Json(dry_run::report(&state, &admin, &id).await?))
}
