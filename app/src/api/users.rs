//! Users (admins only).

#[cfg(feature = "ssr")]
use super::backend;
use super::protocol::{Api, Create, Delete, Put};
use crate::domain::{CreateUserRequest, Done, ErrorBody, UpdateUserRequest, UserDto};
use leptos::server;

#[server(prefix = "/api/v1", endpoint = "admin/users", protocol = Api<Create>)]
pub async fn create_user(#[server(flatten)] user: CreateUserRequest) -> Result<UserDto, ErrorBody> {
    backend()?.create_user(user).await
}

#[server(prefix = "/api/v1", endpoint = "admin/users/{id}", protocol = Api<Put>)]
pub async fn update_user(
    id: i64,
    #[server(flatten)] changes: UpdateUserRequest,
) -> Result<UserDto, ErrorBody> {
    backend()?.update_user(id, changes).await
}

#[server(prefix = "/api/v1", endpoint = "admin/users/{id}", protocol = Api<Delete>)]
pub async fn delete_user(id: i64) -> Result<Done, ErrorBody> {
    backend()?.delete_user(id).await
}

/// Removes the user's OIDC identity link (the admin invariants hold).
#[server(prefix = "/api/v1", endpoint = "admin/users/{id}/oidc-link", protocol = Api<Delete>)]
pub async fn unlink_user(id: i64) -> Result<UserDto, ErrorBody> {
    backend()?.unlink_user(id).await
}
