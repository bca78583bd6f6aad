//! The OIDC settings (admins only).

#[cfg(feature = "ssr")]
use super::backend;
use super::protocol::{Api, Post, Put};
use crate::domain::{
    ConnectionTestResult, ErrorBody, OidcSettingsDto, SettingsPatch, TrySignInStarted,
};
use leptos::server;

/// Saves any subset of the settings, all or nothing.
#[server(prefix = "/api/v1", endpoint = "settings/oidc", protocol = Api<Put>)]
pub async fn save_oidc_settings(
    #[server(flatten)] patch: SettingsPatch,
) -> Result<OidcSettingsDto, ErrorBody> {
    backend()?.save_oidc_settings(patch).await
}

/// Test Connection: checks the form's unsaved provider fields against the provider.
#[server(prefix = "/api/v1", endpoint = "settings/oidc/test", protocol = Api<Post>)]
pub async fn test_oidc_connection(
    #[server(flatten)] form: SettingsPatch,
) -> Result<ConnectionTestResult, ErrorBody> {
    backend()?.test_oidc_connection(form).await
}

/// Try Sign-in: starts a dry run with the form's unsaved provider fields; answers the
/// provider's sign-in URL, to open in a new tab.
#[server(prefix = "/api/v1", endpoint = "settings/oidc/try", protocol = Api<Post>)]
pub async fn try_oidc_sign_in(
    #[server(flatten)] form: SettingsPatch,
) -> Result<TrySignInStarted, ErrorBody> {
    backend()?.try_oidc_sign_in(form).await
}
