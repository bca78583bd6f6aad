//! Group mappings (admins only): which provider groups grant admin, permissions, libraries.

#[cfg(feature = "ssr")]
use super::backend;
use super::protocol::{Api, Create, Delete, Put};
use crate::domain::{Done, ErrorBody, GroupMappingDto, MappingRequest};
use leptos::server;

#[server(prefix = "/api/v1", endpoint = "admin/oidc-group-mappings", protocol = Api<Create>)]
pub async fn create_group_mapping(
    #[server(flatten)] mapping: MappingRequest,
) -> Result<GroupMappingDto, ErrorBody> {
    backend()?.create_group_mapping(mapping).await
}

#[server(prefix = "/api/v1", endpoint = "admin/oidc-group-mappings/{id}", protocol = Api<Put>)]
pub async fn update_group_mapping(
    id: i64,
    #[server(flatten)] mapping: MappingRequest,
) -> Result<GroupMappingDto, ErrorBody> {
    backend()?.update_group_mapping(id, mapping).await
}

#[server(prefix = "/api/v1", endpoint = "admin/oidc-group-mappings/{id}", protocol = Api<Delete>)]
pub async fn delete_group_mapping(id: i64) -> Result<Done, ErrorBody> {
    backend()?.delete_group_mapping(id).await
}
