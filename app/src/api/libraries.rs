//! Libraries (admins only).

#[cfg(feature = "ssr")]
use super::backend;
use super::protocol::{Api, Create, Delete, Put};
use crate::domain::{Done, ErrorBody, LibraryDto, LibraryRequest};
use leptos::server;

#[server(prefix = "/api/v1", endpoint = "admin/libraries", protocol = Api<Create>)]
pub async fn create_library(
    #[server(flatten)] library: LibraryRequest,
) -> Result<LibraryDto, ErrorBody> {
    backend()?.create_library(library).await
}

#[server(prefix = "/api/v1", endpoint = "admin/libraries/{id}", protocol = Api<Put>)]
pub async fn rename_library(
    id: i64,
    #[server(flatten)] library: LibraryRequest,
) -> Result<LibraryDto, ErrorBody> {
    backend()?.rename_library(id, library).await
}

#[server(prefix = "/api/v1", endpoint = "admin/libraries/{id}", protocol = Api<Delete>)]
pub async fn delete_library(id: i64) -> Result<Done, ErrorBody> {
    backend()?.delete_library(id).await
}
