//! What the server functions ask of the server. The server implements [`Backend`] over its
//! services and provides one per call, for the request at hand: it knows who is calling and
//! from where, checks their rights, and calls the same service functions as its REST
//! handlers. Object safe, so it travels in Leptos context as `Arc<dyn Backend>`.

use crate::domain::{
    AppPasswordCreated, AppPasswordRequest, ChangePasswordRequest, ConnectionTestResult,
    CreateUserRequest, DeviceApproval, DeviceApprovalRequest, Done, ErrorBody, GrantDto,
    GroupMappingDto, LibraryDto, LibraryRequest, LoginRequest, LogoutResponse, MappingRequest,
    OidcSettingsDto, RenameGrantRequest, SettingsPatch, SetupRequest, TrySignInStarted,
    UpdateUserRequest, UserDto,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The answer of a backend call.
pub type Reply<'a, T> = Pin<Box<dyn Future<Output = Result<T, ErrorBody>> + Send + 'a>>;

pub trait Backend: Send + Sync {
    /// Signs in with a password; the answer sets the session cookie.
    fn login(&self, credentials: LoginRequest) -> Reply<'_, UserDto>;
    /// Creates the first admin and signs them in; the answer sets the session cookie.
    fn setup(&self, admin: SetupRequest) -> Reply<'_, UserDto>;
    /// Ends the caller's session; the answer clears the cookie and says where to go next.
    fn logout(&self) -> Reply<'_, LogoutResponse>;
    fn change_password(&self, change: ChangePasswordRequest) -> Reply<'_, Done>;
    fn unlink_own_identity(&self) -> Reply<'_, UserDto>;

    fn create_user(&self, user: CreateUserRequest) -> Reply<'_, UserDto>;
    fn update_user(&self, id: i64, changes: UpdateUserRequest) -> Reply<'_, UserDto>;
    fn delete_user(&self, id: i64) -> Reply<'_, Done>;
    fn unlink_user(&self, id: i64) -> Reply<'_, UserDto>;

    fn create_library(&self, library: LibraryRequest) -> Reply<'_, LibraryDto>;
    fn rename_library(&self, id: i64, library: LibraryRequest) -> Reply<'_, LibraryDto>;
    fn delete_library(&self, id: i64) -> Reply<'_, Done>;

    fn save_oidc_settings(&self, patch: SettingsPatch) -> Reply<'_, OidcSettingsDto>;
    /// Tests the unsaved provider fields of `form`; never changes settings.
    fn test_oidc_connection(&self, form: SettingsPatch) -> Reply<'_, ConnectionTestResult>;
    /// Starts Try Sign-in with the unsaved provider fields of `form`: a dry run that changes
    /// nothing and ends in a report.
    fn try_oidc_sign_in(&self, form: SettingsPatch) -> Reply<'_, TrySignInStarted>;

    fn create_group_mapping(&self, mapping: MappingRequest) -> Reply<'_, GroupMappingDto>;
    fn update_group_mapping(&self, id: i64, mapping: MappingRequest) -> Reply<'_, GroupMappingDto>;
    fn delete_group_mapping(&self, id: i64) -> Reply<'_, Done>;

    /// Renames one of the caller's own app grants.
    fn rename_grant(&self, id: i64, change: RenameGrantRequest) -> Reply<'_, GrantDto>;
    /// Revokes one of the caller's own app grants.
    fn revoke_grant(&self, id: i64) -> Reply<'_, Done>;
    fn create_app_password(&self, request: AppPasswordRequest) -> Reply<'_, AppPasswordCreated>;
    fn approve_device(&self, request: DeviceApprovalRequest) -> Reply<'_, DeviceApproval>;
    /// An admin revokes one grant of a user.
    fn revoke_user_grant(&self, user_id: i64, grant_id: i64) -> Reply<'_, Done>;
    /// An admin ends every session and grant of a user.
    fn sign_out_everywhere(&self, user_id: i64) -> Reply<'_, Done>;
}

/// The backend of the call at hand.
pub fn backend() -> Result<Arc<dyn Backend>, ErrorBody> {
    leptos::prelude::use_context::<Arc<dyn Backend>>().ok_or_else(ErrorBody::internal)
}
