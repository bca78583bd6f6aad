//! OIDC settings API (admin only) and the public settings anyone may read.

use super::admin::Admin;
use crate::error::AppResult;
use crate::http::client::Client;
use crate::http::input::{IdPath, Input};
use crate::oidc_settings::{self as settings, group_mappings, reference, test_connection};
use crate::AppState;
use app::domain::{
    ConnectionTestResult, GroupMappingDto, OidcSettingsDto, ProviderReference, PublicSettings,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

pub async fn public(State(state): State<AppState>) -> AppResult<Json<PublicSettings>> {
    Ok(Json(settings::public(&state).await?))
}

pub async fn get(State(state): State<AppState>, _: Admin) -> AppResult<Json<OidcSettingsDto>> {
    Ok(Json(settings::get(&state).await?))
}

pub async fn put(
    State(state): State<AppState>,
    Admin(actor): Admin,
    client: Client,
    input: Input<settings::patch::SettingsPatch>,
) -> AppResult<Json<OidcSettingsDto>> {
    Ok(Json(
        settings::save(&state, &actor, &client.ip_string(), input.value).await?,
    ))
}

pub async fn test(
    State(state): State<AppState>,
    Admin(actor): Admin,
    client: Client,
    input: Input<settings::patch::SettingsPatch>,
) -> AppResult<Json<ConnectionTestResult>> {
    Ok(Json(
        test_connection::for_form(&state, &actor, &client, input.value).await?,
    ))
}

pub async fn reference(
    State(state): State<AppState>,
    _: Admin,
    client: Client,
) -> AppResult<Json<ProviderReference>> {
    let stored = settings::load(&state).await?;
    Ok(Json(reference::build(
        &state.config,
        client.own_origin.as_deref(),
        &stored,
    )))
}

pub async fn list_mappings(
    State(state): State<AppState>,
    _: Admin,
) -> AppResult<Json<Vec<GroupMappingDto>>> {
    Ok(Json(state.db.group_mappings().await?))
}

pub async fn create_mapping(
    State(state): State<AppState>,
    Admin(actor): Admin,
    client: Client,
    input: Input<group_mappings::MappingRequest>,
) -> AppResult<(StatusCode, Json<GroupMappingDto>)> {
    let m = group_mappings::create(&state, &actor, &client.ip_string(), input.value).await?;
    Ok((StatusCode::CREATED, Json(m)))
}

pub async fn update_mapping(
    State(state): State<AppState>,
    Admin(actor): Admin,
    client: Client,
    IdPath(id): IdPath,
    input: Input<group_mappings::MappingRequest>,
) -> AppResult<Json<GroupMappingDto>> {
    Ok(Json(
        group_mappings::update(&state, &actor, &client.ip_string(), id, input.value).await?,
    ))
}

pub async fn delete_mapping(
    State(state): State<AppState>,
    Admin(actor): Admin,
    client: Client,
    IdPath(id): IdPath,
) -> AppResult<Json<serde_json::Value>> {
    group_mappings::delete(&state, &actor, &client.ip_string(), id).await?;
    Ok(Json(serde_json::json!({})))
}
