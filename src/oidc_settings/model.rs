//! The OIDC settings as stored: one JSON document. A leaf: the admin guard reads it inside
//! its transaction without depending on the settings feature.

use app::domain::{ClaimMapping, DEFAULT_SCOPES};
use serde::{Deserialize, Serialize};

/// Parameters Grimmory sets itself; extra parameters may not override them.
const RESERVED_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StoredSettings {
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
}

impl Default for StoredSettings {
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
        }
    }
}

impl StoredSettings {
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

    /// The extra authorization parameters as pairs.
    pub fn extra_params(&self) -> Vec<(String, String)> {
        parse_params(&self.extra_auth_params).unwrap_or_default()
    }
}

/// Settings as in force: what is stored, bent by `FORCE_DISABLE_OIDC`.
pub struct Effective {
    pub settings: StoredSettings,
    /// On, configured, and not forced off by the environment.
    pub enabled: bool,
    /// OIDC-only mode, only while OIDC is effectively enabled.
    pub force_only: bool,
}

/// Parses `key=value` pairs separated by `&`, spaces or new lines.
pub fn parse_params(raw: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in raw
        .split(|c: char| c == '&' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!("\"{pair}\" is not key=value."));
        };
        let key = percent_decode(key);
        if key.is_empty() || key.chars().any(char::is_control) {
            return Err(format!("\"{pair}\" has no parameter name."));
        }
        if RESERVED_PARAMS.contains(&key.as_str()) {
            return Err(format!(
                "{key} is set by Grimmory and cannot be overridden."
            ));
        }
        out.push((key, percent_decode(value)));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
