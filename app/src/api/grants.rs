//! Apps and devices (spec section 11): the caller's own app grants, app passwords, approving
//! a device, and an admin's view of a user's grants. Session cookie only: the server refuses
//! app credentials here, so a stolen app token cannot mint or revoke grants.

#[cfg(feature = "ssr")]
use super::backend;
use super::protocol::{Act, Api, Create, Delete, Patch, Post};
use crate::domain::{
    AppPasswordCreated, AppPasswordRequest, DeviceApproval, DeviceApprovalRequest, Done, ErrorBody,
    GrantDto, RenameGrantRequest,
};
use leptos::server;

#[server(prefix = "/api/v1", endpoint = "auth/grants/{id}", protocol = Api<Patch>)]
pub async fn rename_grant(
    id: i64,
    #[server(flatten)] change: RenameGrantRequest,
) -> Result<GrantDto, ErrorBody> {
    backend()?.rename_grant(id, change).await
}

#[server(prefix = "/api/v1", endpoint = "auth/grants/{id}", protocol = Api<Delete>)]
pub async fn revoke_grant(id: i64) -> Result<Done, ErrorBody> {
    backend()?.revoke_grant(id).await
}

/// Creates an app password; the answer holds it this once.
#[server(prefix = "/api/v1", endpoint = "auth/app-passwords", protocol = Api<Create>)]
pub async fn create_app_password(
    #[server(flatten)] request: AppPasswordRequest,
) -> Result<AppPasswordCreated, ErrorBody> {
    backend()?.create_app_password(request).await
}

/// Allows or denies the device showing a user code (RFC 8628).
#[server(prefix = "/api/v1", endpoint = "auth/device/approve", protocol = Api<Post>)]
pub async fn approve_device(
    #[server(flatten)] request: DeviceApprovalRequest,
) -> Result<DeviceApproval, ErrorBody> {
    backend()?.approve_device(request).await
}

#[server(prefix = "/api/v1", endpoint = "admin/users/{id}/grants/{grant_id}", protocol = Api<Delete>)]
pub async fn revoke_user_grant(id: i64, grant_id: i64) -> Result<Done, ErrorBody> {
    backend()?.revoke_user_grant(id, grant_id).await
}

/// Ends every session and app grant of the user.
#[server(prefix = "/api/v1", endpoint = "admin/users/{id}/sign-out-everywhere", protocol = Api<Act>)]
pub async fn sign_out_everywhere(id: i64) -> Result<Done, ErrorBody> {
    backend()?.sign_out_everywhere(id).await
}
