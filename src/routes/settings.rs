//! OIDC settings reads (admin only) and the public settings anyone may read. Changes are
//! server functions (`app::api`, served by `server_fns`).

use super::admin::Admin;
use crate::api_types;
use crate::error::AppResult;
use crate::http::client::Client;
use crate::oidc_settings::{self as settings, reference};
use crate::AppState;
use app::domain::{GroupMappingDto, OidcSettingsDto, ProviderReference, PublicSettings};
use axum::extract::State;
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
