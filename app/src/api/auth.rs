//! Signing in and out, setup, and the caller's own account.

#[cfg(feature = "ssr")]
use super::backend;
use super::protocol::{Api, Delete, Post};
use crate::domain::{
    ChangePasswordRequest, Done, ErrorBody, LoginRequest, LogoutResponse, SetupRequest, UserDto,
};
use leptos::server;

/// The sign-in form's JavaScript path (without JavaScript it posts to `paths::LOGIN`).
#[server(prefix = "/api/ui", endpoint = "login", protocol = Api<Post>)]
pub async fn login(#[server(flatten)] credentials: LoginRequest) -> Result<UserDto, ErrorBody> {
    backend()?.login(credentials).await
}

/// The setup form's JavaScript path (without JavaScript it posts to `paths::SETUP`).
#[server(prefix = "/api/ui", endpoint = "setup", protocol = Api<Post>)]
pub async fn setup(#[server(flatten)] admin: SetupRequest) -> Result<UserDto, ErrorBody> {
    backend()?.setup(admin).await
}

/// "Sign out"'s JavaScript path (without JavaScript it posts to `paths::LOGOUT`).
#[server(prefix = "/api/ui", endpoint = "logout", protocol = Api<Post>)]
pub async fn logout() -> Result<LogoutResponse, ErrorBody> {
    backend()?.logout().await
}

#[server(prefix = "/api/v1", endpoint = "auth/password", protocol = Api<Post>)]
pub async fn change_password(
    #[server(flatten)] change: ChangePasswordRequest,
) -> Result<Done, ErrorBody> {
    backend()?.change_password(change).await
}

#[server(prefix = "/api/v1", endpoint = "auth/oidc-link", protocol = Api<Delete>)]
pub async fn unlink_own_identity() -> Result<UserDto, ErrorBody> {
    backend()?.unlink_own_identity().await
}
