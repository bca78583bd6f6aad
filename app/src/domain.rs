//! Types shared by the server and the browser: the API's JSON shapes (Appendix A of the spec).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One of the 26 permission flags: its JSON name and UI label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub key: &'static str,
    pub label: &'static str,
}

macro_rules! permissions {
    ($($key:literal $label:literal,)*) => {
        /// Every permission flag, in the order the UI lists them.
        pub const PERMISSIONS: &[Permission] = &[$(Permission { key: $key, label: $label },)*];
    };
}

permissions! {
    "permissionUpload" "Upload Books",
    "permissionDownload" "Download Books",
    "permissionDeleteBook" "Delete Books",
    "permissionManageLibrary" "Manage Library",
    "permissionEmailBook" "Email Books",
    "permissionAccessBookdrop" "Access Bookdrop",
    "permissionAccessLibraryStats" "View Library Statistics",
    "permissionAccessUserStats" "View User Reading Statistics",
    "permissionManageMetadataConfig" "Manage Metadata Configuration",
    "permissionManageGlobalPreferences" "Manage Application Preferences",
    "permissionAccessTaskManager" "Access Task Manager",
    "permissionManageIcons" "Manage Icons",
    "permissionManageFonts" "Manage Fonts",
    "permissionEditMetadata" "Edit Single Metadata",
    "permissionBulkAutoFetchMetadata" "Bulk Auto Fetch Metadata",
    "permissionBulkCustomFetchMetadata" "Bulk Custom Fetch Metadata",
    "permissionBulkEditMetadata" "Access Bulk Metadata Editor",
    "permissionBulkRegenerateCover" "Bulk Regenerate Cover",
    "permissionMoveOrganizeFiles" "Move/Organize Files",
    "permissionBulkLockUnlockMetadata" "Bulk Lock/Unlock Metadata",
    "permissionSyncKoreader" "KOReader Sync",
    "permissionSyncKobo" "Kobo Sync",
    "permissionAccessOpds" "OPDS Feed Access",
    "permissionBulkResetBookloreReadProgress" "Bulk Reset Grimmory Read Progress",
    "permissionBulkResetKoReaderReadProgress" "Bulk Reset KoReader Read Progress",
    "permissionBulkResetBookReadStatus" "Bulk Reset Book Read Status",
}

/// A user as the API shows it (Appendix A). `permissions` always holds all 26 flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserDto {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub name: String,
    pub is_admin: bool,
    pub has_password: bool,
    pub oidc_link: Option<OidcLinkDto>,
    pub permissions: BTreeMap<String, bool>,
    pub library_ids: Vec<i64>,
    /// RFC 3339 timestamps.
    pub created_at: String,
    pub last_login_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OidcLinkDto {
    pub issuer: String,
    pub subject: String,
}

/// One audit log entry (spec section 8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryDto {
    pub id: i64,
    /// RFC 3339.
    pub at: String,
    pub event: String,
    pub actor_user_id: Option<i64>,
    pub target_user_id: Option<i64>,
    pub client_ip: Option<String>,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LibraryDto {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// The one error body every API failure uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub status: u16,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    pub reference: Option<String>,
    /// Only with "Confirm with your provider first.": where the provider round trip starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// An answer with nothing to say but success: `{}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Done {}

// Request bodies (Appendix A). The REST handlers and the server functions deserialize these
// same types, so each shape is written once. An absent field and `null` both mean "not
// given", except where `explicit_null` tells them apart (and then `None` is not sent).

/// For `#[serde(deserialize_with)]`: tells an explicit `null` (`Some(None)`, "remove it")
/// from an absent field (`None`, "keep it").
pub fn explicit_null<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupRequest {
    pub username: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub password: Option<String>,
    pub setup_token: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    pub current_password: Option<String>,
    pub new_password: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateUserRequest {
    pub username: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Absent or empty: the account signs in only through OIDC.
    pub password: Option<String>,
    pub is_admin: Option<bool>,
    pub permissions: Option<BTreeMap<String, bool>>,
    pub library_ids: Option<Vec<i64>>,
}

/// Any subset of a user's editable fields; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateUserRequest {
    #[serde(
        default,
        deserialize_with = "explicit_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<Option<String>>,
    pub name: Option<String>,
    pub is_admin: Option<bool>,
    pub permissions: Option<BTreeMap<String, bool>>,
    pub library_ids: Option<Vec<i64>>,
    /// A string sets a new password, `null` removes it, absent or empty keeps it.
    #[serde(
        default,
        deserialize_with = "explicit_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub password: Option<Option<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LibraryRequest {
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingRequest {
    pub group_claim: Option<String>,
    pub description: Option<String>,
    pub is_admin: Option<bool>,
    pub permissions: Option<Vec<String>>,
    pub library_ids: Option<Vec<i64>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimMappingPatch {
    pub username: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub groups: Option<String>,
}

/// Any subset of the settings (Appendix A). Read-only members sent back are ignored; unknown
/// ones are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsPatch {
    pub oidc_enabled: Option<bool>,
    pub provider_name: Option<String>,
    pub client_id: Option<String>,
    /// Write-only: absent keeps the stored secret, a string replaces it ("" removes it).
    pub client_secret: Option<String>,
    pub clear_client_secret: Option<bool>,
    pub issuer_uri: Option<String>,
    pub scopes: Option<String>,
    pub extra_auth_params: Option<String>,
    #[serde(
        default,
        deserialize_with = "explicit_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub session_duration_hours: Option<Option<i64>>,
    pub claim_mapping: Option<ClaimMappingPatch>,
    pub auto_provisioning: Option<bool>,
    pub allow_local_account_linking: Option<bool>,
    pub default_permissions: Option<Vec<String>>,
    pub default_library_ids: Option<Vec<i64>>,
    pub group_sync_mode: Option<String>,
    pub oidc_force_only_mode: Option<bool>,
    pub mobile_redirect_uris: Option<RedirectUrisPatch>,
    /// Write-only: when the issuer changes, move the identity links of the old issuer to the
    /// new one (the same provider at a new address), instead of orphaning them.
    pub move_links: Option<bool>,
    /// Read-only members of the settings document: accepted and ignored, so a client can send
    /// back what it read. Any other member is refused as unknown.
    #[serde(default, skip_serializing)]
    pub client_secret_set: Option<bool>,
    #[serde(default, skip_serializing)]
    pub force_disabled_by_env: Option<bool>,
    #[serde(default, skip_serializing)]
    pub linked_users: Option<i64>,
}

/// The Mobile Redirect URIs of a patch, read as they came, so that each wrong shape gets the
/// original's own message (spec section 11.2) rather than a generic type error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectUrisPatch {
    /// A list of strings (a `null` entry reads as blank).
    List(Vec<String>),
    /// Anything else, with the message it gets.
    Invalid(&'static str),
}

impl Serialize for RedirectUrisPatch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::List(uris) => uris.serialize(s),
            Self::Invalid(_) => s.serialize_unit(),
        }
    }
}

impl<'de> Deserialize<'de> for RedirectUrisPatch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde_json::Value;
        let value = Value::deserialize(d)?;
        // A float, anywhere inside, is refused outright: the body reader finds which members
        // a request type reads by probing each (nested ones too) with a float (`api::body`),
        // and a field that took every value would be reported as unknown.
        fn holds_float(v: &Value) -> bool {
            match v {
                Value::Number(n) => n.is_f64(),
                Value::Array(items) => items.iter().any(holds_float),
                Value::Object(members) => members.values().any(holds_float),
                _ => false,
            }
        }
        if holds_float(&value) {
            return Err(serde::de::Error::custom(
                "OIDC redirect URIs must be an array",
            ));
        }
        let Value::Array(items) = value else {
            return Ok(Self::Invalid("OIDC redirect URIs must be an array"));
        };
        let mut uris = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Value::String(uri) => uris.push(uri),
                Value::Null => uris.push(String::new()),
                _ => {
                    return Ok(Self::Invalid(
                        "OIDC redirect URIs must be an array of strings",
                    ))
                }
            }
        }
        Ok(Self::List(uris))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupStatus {
    pub completed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogoutResponse {
    pub logout_url: String,
}

/// What the server knows about the request a page is rendered for; the server puts it in the
/// request's extensions so server-side rendering needs no extra round trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PageContext {
    pub user: Option<UserDto>,
    /// What the page at hand shows, loaded by the server for that page only.
    #[serde(default)]
    pub data: PageData,
}

/// What one page shows: one variant per page of the table (`crate::page`), plus the 403 and
/// 404 pages, which show nothing loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "page", rename_all = "camelCase")]
pub enum PageData {
    Dashboard(DashboardData),
    Login(LoginData),
    Setup(SetupData),
    Profile(ProfileData),
    Users(UsersData),
    Libraries(LibrariesData),
    Audit(AuditData),
    /// Connecting a device by its user code (spec section 11.3).
    Device(DeviceData),
    /// Boxed: by far the largest.
    OidcSettings(Box<OidcSettingsData>),
    /// The report of a Try Sign-in dry run.
    TrySignIn(Box<SignInTrialReport>),
    /// An admin page, opened by someone else.
    Forbidden,
    /// No page: what is rendered without the server having loaded one.
    #[default]
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DashboardData {
    /// The user's libraries (admins: all).
    pub libraries: Vec<LibraryDto>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginData {
    pub public_settings: PublicSettings,
    /// For a signed-in admin: the reason code of the last failed OIDC sign-in.
    pub last_oidc_failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupData {
    /// Whether setup must ask for the one-time setup token (server bound to a non-loopback
    /// address).
    pub setup_token_required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileData {
    /// Whether OIDC sign-in is in force, so an identity can be linked.
    pub oidc_enabled: bool,
    /// The user's own live app grants, newest first.
    pub grants: Vec<GrantDto>,
    /// An app password being created when the provider round trip of its approval began:
    /// the form is filled in again on the way back (`?appPassword=&scope=`).
    pub app_password_draft: Option<AppPasswordDraft>,
}

/// The name and scope of an app password whose approval went through the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppPasswordDraft {
    pub name: String,
    pub scope: String,
}

/// `/device`: the code the person typed (or the device's link carried), and what it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceData {
    /// The code as given, shown back in the field (`WDJB-MJHT` when well-formed).
    pub code: String,
    /// The client name of the pending request the code names.
    pub client_name: Option<String>,
    /// Why the code was not taken: wrong, used, expired, or too many wrong codes.
    pub error: Option<String>,
    /// The user confirms with their password (no linked identity); else with the provider.
    pub needs_password: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsersData {
    pub users: Vec<UserDto>,
    pub libraries: Vec<LibraryDto>,
    /// The live app grants of each user who has any.
    pub grants: Vec<UserGrants>,
}

/// One user's live app grants. A list rather than a map by id: page data is an internally
/// tagged enum, whose map keys would reach the browser as strings it cannot read as ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserGrants {
    pub user_id: i64,
    pub grants: Vec<GrantDto>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LibrariesData {
    pub libraries: Vec<LibraryDto>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditData {
    /// The entries the query's filters select, newest first.
    pub entries: Vec<AuditEntryDto>,
    /// Every user, to name actors and targets and to filter by.
    pub users: Vec<UserDto>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OidcSettingsData {
    pub settings: OidcSettingsDto,
    pub reference: ProviderReference,
    pub group_mappings: Vec<GroupMappingDto>,
    pub libraries: Vec<LibraryDto>,
}

/// Every audit event name (spec section 8), for filters.
pub const AUDIT_EVENTS: &[&str] = &[
    "SETUP_COMPLETED",
    "LOGIN_SUCCESS",
    "LOGIN_FAILED",
    "OIDC_LOGIN_SUCCESS",
    "OIDC_LOGIN_FAILED",
    "OIDC_USER_PROVISIONED",
    "OIDC_ACCOUNT_LINKED",
    "OIDC_ACCOUNT_UNLINKED",
    "OIDC_LINKS_MOVED",
    "PERMISSIONS_SYNCED",
    "SYNC_REFUSED",
    "OIDC_CONFIG_CHANGED",
    "OIDC_FORCE_ONLY_MODE_CHANGED",
    "OIDC_CONNECTION_TEST",
    "OIDC_TEST_SIGN_IN",
    "OIDC_GROUP_MAPPING_CREATED",
    "OIDC_GROUP_MAPPING_UPDATED",
    "OIDC_GROUP_MAPPING_DELETED",
    "USER_CREATED",
    "USER_UPDATED",
    "USER_DELETED",
    "LIBRARY_CREATED",
    "LIBRARY_UPDATED",
    "LIBRARY_DELETED",
    "LOGOUT",
    "BACKCHANNEL_LOGOUT",
    "SESSION_REFRESH_FAILED",
    "GRANT_CREATED",
    "GRANT_REVOKED",
    "DEVICE_CODE_DENIED",
];

/// Which claims fill which user fields (spec section 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimMapping {
    pub username: String,
    pub email: String,
    pub name: String,
    pub groups: String,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            username: "preferred_username".to_owned(),
            email: "email".to_owned(),
            name: "name".to_owned(),
            groups: "groups".to_owned(),
        }
    }
}

pub const DEFAULT_SCOPES: &str = "openid profile email groups offline_access";
pub const DEFAULT_SESSION_HOURS: i64 = 720;
/// The mobile app's redirect URI when the admin lists none (the original's default).
pub const DEFAULT_MOBILE_REDIRECT_URI: &str = "grimmory://oauth2-callback";
/// The Mobile Redirect URIs entry that allows any custom-scheme URI.
pub const ANY_MOBILE_REDIRECT_URI: &str = "*";
pub const GROUP_SYNC_MODES: &[(&str, &str)] = &[
    ("DISABLED", "Disabled"),
    ("ON_LOGIN", "On Login (Replace)"),
    ("ON_LOGIN_ADDITIVE", "On Login (Additive)"),
];

/// The OIDC settings an admin saves (spec section 3), declared once: the server stores this
/// document as it is, and the API shows it inside [`OidcSettingsDto`]. A new setting is a field
/// here (with its default below) and its check where a patch is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OidcSettings {
    pub oidc_enabled: bool,
    pub provider_name: String,
    pub client_id: String,
    pub issuer_uri: String,
    pub scopes: String,
    pub extra_auth_params: String,
    pub session_duration_hours: Option<i64>,
    pub claim_mapping: ClaimMapping,
    pub auto_provisioning: bool,
    pub allow_local_account_linking: bool,
    pub default_permissions: Vec<String>,
    pub default_library_ids: Vec<i64>,
    pub group_sync_mode: String,
    pub oidc_force_only_mode: bool,
    /// The redirect URIs the mobile app may use (spec section 11.2); empty means
    /// [`DEFAULT_MOBILE_REDIRECT_URI`] alone, `["*"]` any custom-scheme URI.
    pub mobile_redirect_uris: Vec<String>,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            oidc_enabled: false,
            provider_name: String::new(),
            client_id: String::new(),
            issuer_uri: String::new(),
            scopes: String::new(),
            extra_auth_params: String::new(),
            session_duration_hours: None,
            claim_mapping: ClaimMapping::default(),
            auto_provisioning: false,
            allow_local_account_linking: false,
            default_permissions: Vec::new(),
            default_library_ids: Vec::new(),
            group_sync_mode: "DISABLED".to_owned(),
            oidc_force_only_mode: false,
            mobile_redirect_uris: Vec::new(),
        }
    }
}

impl OidcSettings {
    /// Provider name, client ID and issuer are all set.
    pub fn configured(&self) -> bool {
        !self.provider_name.is_empty() && !self.client_id.is_empty() && !self.issuer_uri.is_empty()
    }

    /// OIDC-only mode counts only while OIDC is effectively enabled.
    pub fn force_only_in_force(&self, force_disabled: bool) -> bool {
        !force_disabled && self.oidc_enabled && self.configured() && self.oidc_force_only_mode
    }

    pub fn effective_scopes(&self) -> String {
        if self.scopes.trim().is_empty() {
            DEFAULT_SCOPES.to_owned()
        } else {
            self.scopes.clone()
        }
    }
}

/// The OIDC settings as the API shows them (Appendix A): the saved settings and what the
/// server adds, read-only. The client secret is never shown: `client_secret_set` says whether
/// one is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OidcSettingsDto {
    #[serde(flatten)]
    pub settings: OidcSettings,
    pub client_secret_set: bool,
    pub force_disabled_by_env: bool,
    /// Users linked to an identity at the saved issuer (changing the issuer orphans their
    /// links unless they are moved).
    #[serde(default)]
    pub linked_users: i64,
}

/// The page reads the saved settings through the answer (`dto.issuer_uri`).
impl std::ops::Deref for OidcSettingsDto {
    type Target = OidcSettings;

    fn deref(&self) -> &OidcSettings {
        &self.settings
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMappingDto {
    pub id: i64,
    pub group_claim: String,
    pub description: String,
    pub is_admin: bool,
    pub permissions: Vec<String>,
    pub library_ids: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionCheck {
    pub name: String,
    /// PASS, FAIL, WARN or SKIP.
    pub status: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTestResult {
    pub success: bool,
    pub checks: Vec<ConnectionCheck>,
}

/// Try Sign-in started: open this URL (the provider's sign-in page) in a new tab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrySignInStarted {
    pub url: String,
}

/// One check of a dry run (spec section 12): the checks of a sign-in (section 4) in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrialCheck {
    pub name: String,
    /// PASS, FAIL, WARN, or SKIP for a check not reached after a failure.
    pub status: String,
    /// The machine reason of the audit log (spec section 8), for a FAIL or WARN.
    pub reason: Option<String>,
    pub message: String,
}

/// A claim as the report shows it: its value as JSON, shortened when long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimRow {
    pub name: String,
    pub value: String,
}

/// A mapped field (username, email, display name, groups) and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MappedValue {
    pub field: String,
    /// `None`: missing.
    pub value: Option<String>,
    /// The claim it came from and where it was found, e.g. "preferred_username (ID token)".
    pub source: Option<String>,
    /// What is used when it is missing.
    pub fallback: Option<String>,
}

/// Admin flag, permissions (names) and libraries (names) a user would have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrialGrants {
    pub is_admin: bool,
    pub permissions: Vec<String>,
    pub libraries: Vec<String>,
}

/// What one group sync mode would change for the existing user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPreview {
    /// "On Login (Replace)" or "On Login (Additive)".
    pub mode: String,
    /// Each change in words; empty when nothing would change.
    pub changes: Vec<String>,
}

/// The report of a dry run (spec section 12). Never holds a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInTrialReport {
    pub issuer: String,
    pub subject: Option<String>,
    pub created_at: i64,
    pub checks: Vec<TrialCheck>,
    pub id_token_header: Vec<ClaimRow>,
    pub id_token_claims: Vec<ClaimRow>,
    /// `None` when the provider offers no userinfo or it could not be used.
    pub userinfo: Option<Vec<ClaimRow>>,
    pub mapped: Vec<MappedValue>,
    /// `linked`, `claim`, `link`, `create`, `refuse`, or `failed` when a check failed first.
    pub outcome: String,
    /// The decision in words: "Would sign in as alice (linked)", "Would refuse: link_refused".
    pub decision: String,
    /// With group mappings: what the user would have after signing in.
    pub grants: Option<TrialGrants>,
    /// With group mappings and an existing user: what each sync mode would change.
    pub sync: Vec<SyncPreview>,
    pub warnings: Vec<String>,
}

/// The values to paste into the identity provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProviderReference {
    pub redirect_uri: String,
    pub post_logout_redirect_uri: String,
    pub backchannel_logout_uri: String,
    pub launch_url: String,
    pub scopes: String,
    pub pkce_method: String,
    pub grant_type: String,
    pub public_url_configured: bool,
    pub warnings: Vec<String>,
}

/// What anyone may know about sign-in, as in force right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PublicSettings {
    pub oidc_enabled: bool,
    pub oidc_provider_name: String,
    pub oidc_force_only_mode: bool,
    pub local_login_available: bool,
}

/// Why an OIDC sign-in failed, as the login page learns it from `?oidcError=<code>`: the
/// code in the URL and the text the page shows for it (spec section 4), in one table. The
/// audit log keeps the finer machine reason; the server maps each reason to one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OidcError {
    NotProvisioned,
    ProviderUnreachable,
    InvalidToken,
    ExchangeFailed,
    StateMismatch,
    LinkRefused,
    OidcDisabled,
    /// Too many failed sign-ins from this client: the callback was not even looked at.
    RateLimited,
    Unexpected,
    /// The provider's own `error` code (e.g. `access_denied`), passed on as it came: shown
    /// with the generic text, never followed anywhere.
    Provider(String),
}

impl OidcError {
    const KNOWN: [Self; 9] = [
        Self::NotProvisioned,
        Self::ProviderUnreachable,
        Self::InvalidToken,
        Self::ExchangeFailed,
        Self::StateMismatch,
        Self::LinkRefused,
        Self::OidcDisabled,
        Self::RateLimited,
        Self::Unexpected,
    ];

    /// The value of `?oidcError=`.
    pub fn code(&self) -> &str {
        match self {
            Self::NotProvisioned => "not_provisioned",
            Self::ProviderUnreachable => "provider_unreachable",
            Self::InvalidToken => "invalid_token",
            Self::ExchangeFailed => "exchange_failed",
            Self::StateMismatch => "state_mismatch",
            Self::LinkRefused => "link_refused",
            Self::OidcDisabled => "oidc_disabled",
            Self::RateLimited => "rate_limited",
            Self::Unexpected => "unexpected",
            Self::Provider(code) => code,
        }
    }

    /// Reads `?oidcError=`: any code that is not ours came from the provider.
    pub fn from_code(code: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|known| known.code() == code)
            .unwrap_or_else(|| Self::Provider(code.to_owned()))
    }

    /// What the login page says.
    pub fn text(&self) -> &'static str {
        match self {
            Self::NotProvisioned => "Your account has not been set up yet. Contact your administrator to get access.",
            Self::ProviderUnreachable => "Could not reach the OIDC provider. Please try again later.",
            Self::InvalidToken => "Invalid authentication token received. Please try again.",
            Self::ExchangeFailed => "Failed to complete OIDC login. Please try again or contact your administrator.",
            Self::StateMismatch => "OIDC authentication failed: security state mismatch. Please try again.",
            Self::LinkRefused => "An account with this username already exists and cannot be linked. Contact your administrator.",
            Self::OidcDisabled => "Sign-in with OIDC is not enabled.",
            Self::RateLimited => "Too many failed sign-ins. Please try again later.",
            Self::Unexpected | Self::Provider(_) => "An unexpected OIDC error occurred. Please try again.",
        }
    }
}

/// Error codes of the login page and their texts (spec sections 4, 6, 7).
pub fn login_notice(key: &str) -> Option<&'static str> {
    Some(match key {
        "invalid_credentials" => "Invalid username or password",
        "rate_limited" => "Too many failed login attempts. Please try again later.",
        "local_disabled" => "Local login is disabled. Use OIDC to sign in.",
        "bad_request" => "Please enter your username and password.",
        _ => return None,
    })
}

/// The path to go to after signing in, when `raw` is safe to redirect to (spec section 4,
/// step 7): after percent-decoding, a path starting with exactly one `/`, without
/// backslashes, control characters or `.`/`..` segments, and not the login, callback or API
/// paths. Anything else is refused, so a crafted link cannot send a user off-site. Dot
/// segments are refused because the browser resolves them after this check:
/// `/../api/v1/…` would reach the API that the check keeps out.
pub fn safe_return_to(raw: &str) -> Option<&str> {
    let decoded = percent_decode(raw)?;
    let plain_path = |s: &str| {
        s.starts_with('/')
            && !s.starts_with("//")
            && !s.contains('\\')
            && !s.chars().any(char::is_control)
    };
    if !plain_path(raw) || !plain_path(&decoded) {
        return None;
    }
    let path = decoded.split(['?', '#']).next().unwrap_or("");
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return None;
    }
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if under("/login") || under("/oauth2-callback") || under("/api") {
        return None;
    }
    Some(raw)
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Page data travels into the HTML as JSON and is read back in the browser through an
    /// internally tagged enum, which cannot read every shape serde_json can (map keys that
    /// are numbers, for one): the pages of apps and devices come back as they went.
    #[test]
    fn the_page_data_of_apps_and_devices_reads_back() {
        let grant = GrantDto {
            id: 7,
            kind: "device".to_owned(),
            name: "Kobo".to_owned(),
            scope: "full".to_owned(),
            created_at: "2026-12-05T03:00:00Z".to_owned(),
            last_used_at: None,
            last_used_ip: None,
            via_oidc: false,
        };
        let pages = [
            PageData::Users(UsersData {
                users: Vec::new(),
                libraries: Vec::new(),
                grants: vec![UserGrants {
                    user_id: 2,
                    grants: vec![grant.clone()],
                }],
            }),
            PageData::Profile(ProfileData {
                oidc_enabled: true,
                grants: vec![grant],
                app_password_draft: Some(AppPasswordDraft {
                    name: "OPDS".to_owned(),
                    scope: "read".to_owned(),
                }),
            }),
            PageData::Device(DeviceData {
                code: "WDJB-MJHT".to_owned(),
                client_name: Some("KOReader".to_owned()),
                error: None,
                needs_password: true,
            }),
        ];
        for page in pages {
            let json = serde_json::to_string(&page).unwrap();
            assert_eq!(serde_json::from_str::<PageData>(&json).unwrap(), page);
        }
    }

    #[test]
    fn permissions_are_26_with_unique_names() {
        assert_eq!(PERMISSIONS.len(), 26);
        let keys: std::collections::BTreeSet<_> = PERMISSIONS.iter().map(|p| p.key).collect();
        assert_eq!(keys.len(), 26);
    }

    #[test]
    fn oidc_error_codes_read_back_and_unknown_ones_are_the_providers() {
        for known in OidcError::KNOWN {
            assert_eq!(OidcError::from_code(known.code()), known);
        }
        let theirs = OidcError::from_code("access_denied");
        assert_eq!(theirs, OidcError::Provider("access_denied".to_owned()));
        assert_eq!(theirs.code(), "access_denied");
        assert_eq!(theirs.text(), OidcError::Unexpected.text());
    }

    #[test]
    fn return_to_accepts_local_paths_only() {
        for ok in [
            "/",
            "/admin/users",
            "/profile?tab=1",
            "/books/%C3%A9",
            "/books/...",
            "/books/.hidden",
            "/search?q=../x",
        ] {
            assert_eq!(safe_return_to(ok), Some(ok), "{ok}");
        }
        for bad in [
            "",
            "https://evil.example",
            "//evil.example",
            "/%2Fevil.example",
            "/\\evil.example",
            "/%5Cevil.example",
            "/login",
            "/login?x=1",
            "/oauth2-callback",
            "/api/v1/auth/me",
            "/%61pi/v1",
            "/a%0d%0aSet-Cookie:x",
            "relative",
            "/%ff",
            "/../api/v1/auth/oidc/authorize?intent=link",
            "/%2e%2e/api/v1/auth/me",
            "/.%2E/api/v1/auth/me",
            "/./x",
            "/a/../b",
            "/a/..",
            "/.",
        ] {
            assert_eq!(safe_return_to(bad), None, "{bad}");
        }
    }
}

// Apps and devices (spec section 11).

/// The kinds of app grant: how the app came by it.
pub const GRANT_KINDS: &[&str] = &["mobile", "device", "app_password"];
/// The scopes of an app grant: `full`, or `read` (GET requests only).
pub const GRANT_SCOPES: &[&str] = &["full", "read"];

/// One app grant of a user (Appendix A).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantDto {
    pub id: i64,
    /// One of [`GRANT_KINDS`].
    pub kind: String,
    pub name: String,
    /// One of [`GRANT_SCOPES`].
    pub scope: String,
    /// RFC 3339.
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
    /// Approved through a provider sign-in of its own, so it ends with that provider session.
    pub via_oidc: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenameGrantRequest {
    pub name: Option<String>,
}

/// A new app password. `password` is the user's own, required when they have no linked
/// identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppPasswordRequest {
    pub name: Option<String>,
    pub scope: Option<String>,
    pub password: Option<String>,
}

/// A new app password, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppPasswordCreated {
    pub grant: GrantDto,
    pub password: String,
}

/// Allow or deny the device that shows `user_code`. `password` as for app passwords.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceApprovalRequest {
    pub user_code: Option<String>,
    pub allow: Option<bool>,
    pub password: Option<String>,
}

/// What became of a device's request: the grant when allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceApproval {
    pub client_name: String,
    pub grant: Option<GrantDto>,
}
