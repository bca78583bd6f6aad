//! A settings change from the form or the API: applied to the stored settings and checked
//! field by field, so nothing is saved while any field is refused.

use super::model::{parse_params, StoredSettings};
use super::NOT_ENABLED_FIRST;
use crate::validation::Fields;
use app::domain::{ClaimMapping, SettingsPatch, GROUP_SYNC_MODES, PERMISSIONS};
use std::net::IpAddr;
use url::Url;

/// What the secret should become, before sealing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretPlan {
    Keep,
    Clear,
    Replace(String),
}

/// The settings after applying `patch` to `current`, or every field's message.
pub struct Applied {
    pub settings: StoredSettings,
    pub secret: SecretPlan,
}

fn text(value: Option<&String>, current: &str) -> String {
    value
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| current.to_owned())
}

/// Applies and validates a patch. `secret_stored` says whether a secret is stored now.
pub fn apply(
    current: &StoredSettings,
    patch: &SettingsPatch,
    secret_stored: bool,
    fields: &mut Fields,
) -> Applied {
    let mut s = current.clone();
    s.provider_name = text(patch.provider_name.as_ref(), &current.provider_name);
    if s.provider_name.chars().count() > 64 || s.provider_name.chars().any(char::is_control) {
        fields.add(
            "providerName",
            "Provider name must be at most 64 characters.",
        );
    }
    s.client_id = text(patch.client_id.as_ref(), &current.client_id);
    if s.client_id.len() > 255
        || s.client_id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        fields.add(
            "clientId",
            "Client ID must not contain spaces (check for a stray space when pasting).",
        );
    }
    s.issuer_uri = text(patch.issuer_uri.as_ref(), &current.issuer_uri);
    if !s.issuer_uri.is_empty() {
        if let Err(message) = check_issuer(&s.issuer_uri) {
            fields.add("issuerUri", &message);
        }
    }
    if let Some(scopes) = &patch.scopes {
        let tokens: Vec<&str> = scopes.split_whitespace().collect();
        if tokens.iter().any(|t| {
            !t.chars()
                .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
        }) {
            fields.add(
                "scopes",
                "Scopes are words separated by spaces, without quotes or backslashes.",
            );
        } else if !tokens.is_empty() && !tokens.contains(&"openid") {
            fields.add("scopes", "Scopes must include openid.");
        }
        s.scopes = tokens.join(" ");
    }
    if let Some(extra) = &patch.extra_auth_params {
        match parse_params(extra) {
            Ok(_) => s.extra_auth_params = extra.trim().to_owned(),
            Err(message) => fields.add("extraAuthParams", &message),
        }
    }
    if let Some(hours) = patch.session_duration_hours {
        if hours.is_some_and(|h| !(1..=8760).contains(&h)) {
            fields.add(
                "sessionDurationHours",
                "Session duration must be from 1 to 8760 hours.",
            );
        }
        s.session_duration_hours = hours;
    }
    if let Some(m) = &patch.claim_mapping {
        let defaults = ClaimMapping::default();
        let mut claim =
            |field: &str, given: &Option<String>, current: &str, default: &str| -> String {
                let Some(v) = given else {
                    return current.to_owned();
                };
                let v = v.trim();
                if v.len() > 64 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    fields.add(field, "A claim name is one word of at most 64 characters.");
                }
                if v.is_empty() {
                    default.to_owned()
                } else {
                    v.to_owned()
                }
            };
        s.claim_mapping = ClaimMapping {
            username: claim(
                "claimMapping.username",
                &m.username,
                &current.claim_mapping.username,
                &defaults.username,
            ),
            email: claim(
                "claimMapping.email",
                &m.email,
                &current.claim_mapping.email,
                &defaults.email,
            ),
            name: claim(
                "claimMapping.name",
                &m.name,
                &current.claim_mapping.name,
                &defaults.name,
            ),
            groups: claim(
                "claimMapping.groups",
                &m.groups,
                &current.claim_mapping.groups,
                &defaults.groups,
            ),
        };
    }
    if let Some(v) = patch.auto_provisioning {
        s.auto_provisioning = v;
    }
    if let Some(v) = patch.allow_local_account_linking {
        s.allow_local_account_linking = v;
    }
    if let Some(perms) = &patch.default_permissions {
        if let Some(unknown) = perms
            .iter()
            .find(|p| !PERMISSIONS.iter().any(|k| k.key == p.as_str()))
        {
            fields.add(
                "defaultPermissions",
                &format!("Unknown permission: {unknown}."),
            );
        }
        let mut perms = perms.clone();
        perms.sort();
        perms.dedup();
        s.default_permissions = perms;
    }
    if let Some(ids) = &patch.default_library_ids {
        let mut ids = ids.clone();
        ids.sort_unstable();
        ids.dedup();
        s.default_library_ids = ids;
    }
    if let Some(mode) = &patch.group_sync_mode {
        if GROUP_SYNC_MODES.iter().any(|(m, _)| m == mode) {
            s.group_sync_mode = mode.clone();
        } else {
            fields.add(
                "groupSyncMode",
                "Group sync mode must be DISABLED, ON_LOGIN or ON_LOGIN_ADDITIVE.",
            );
        }
    }
    if let Some(uris) = &patch.mobile_redirect_uris {
        match super::mobile_redirects::normalise(uris) {
            Ok(uris) => s.mobile_redirect_uris = uris,
            Err(message) => fields.add("mobileRedirectUris", &message),
        }
    }
    if let Some(v) = patch.oidc_enabled {
        s.oidc_enabled = v;
    }
    if s.oidc_enabled && !s.configured() {
        fields.add("oidcEnabled", "Enter and save the provider name, client ID and issuer URI before enabling OIDC login.");
    }
    if let Some(v) = patch.oidc_force_only_mode {
        if v && !current.oidc_force_only_mode && !(s.oidc_enabled && s.configured()) {
            fields.add("oidcForceOnlyMode", NOT_ENABLED_FIRST);
        }
        s.oidc_force_only_mode = v;
    }
    let provider_changed = s.issuer_uri != current.issuer_uri || s.client_id != current.client_id;
    let secret = match (
        &patch.client_secret,
        patch.clear_client_secret.unwrap_or(false),
    ) {
        (_, true) => SecretPlan::Clear,
        (Some(given), false) if given.trim().is_empty() => SecretPlan::Clear,
        (Some(given), false) => {
            if given.len() > 1024 || given.chars().any(char::is_control) {
                fields.add(
                    "clientSecret",
                    "Client secret must be at most 1024 characters, without line breaks.",
                );
            }
            SecretPlan::Replace(given.trim().to_owned())
        }
        // A stored secret is never sent to a different provider or client.
        (None, false) if provider_changed && secret_stored => {
            fields.add(
                "clientSecret",
                "The issuer or client ID changed: enter the client secret again, or clear it.",
            );
            SecretPlan::Keep
        }
        (None, false) => SecretPlan::Keep,
    };
    Applied {
        settings: s,
        secret,
    }
}

/// The API names of the fields that differ, for the audit log (values never logged): read off
/// the settings document itself, so a new setting is listed without a line here.
pub fn changed_fields(
    old: &StoredSettings,
    new: &StoredSettings,
    secret: &SecretPlan,
) -> Vec<String> {
    let as_object = |s: &StoredSettings| match serde_json::to_value(s) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (old, new) = (as_object(old), as_object(new));
    let mut changed: Vec<String> = new
        .iter()
        .filter(|(name, value)| old.get(*name) != Some(value))
        .map(|(name, _)| name.clone())
        .collect();
    if *secret != SecretPlan::Keep {
        changed.push("clientSecret".to_owned());
    }
    changed
}

/// An issuer is an absolute URL; plain http only for loopback and private-network hosts.
pub fn check_issuer(raw: &str) -> Result<(), String> {
    let url = Url::parse(raw).map_err(|_| "Issuer URI must be an absolute URL, e.g. https://auth.example.com/application/o/grimmory/.".to_owned())?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err("Issuer URI must not have a query or fragment.".to_owned());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if url.host().is_some_and(|h| private_host(&h)) => Ok(()),
        "http" => Err(
            "Issuer URI must use https (plain http only for loopback and private-network hosts)."
                .to_owned(),
        ),
        _ => Err("Issuer URI must be an https URL.".to_owned()),
    }
}

/// Loopback, private-range addresses and names that only resolve inside a private network.
fn private_host(host: &url::Host<&str>) -> bool {
    let private_ip = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    };
    match host {
        url::Host::Ipv4(v4) => private_ip(IpAddr::V4(*v4)),
        url::Host::Ipv6(v6) => private_ip(IpAddr::V6(*v6)),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            !name.contains('.')
                || [
                    ".localhost",
                    ".local",
                    ".lan",
                    ".internal",
                    ".home.arpa",
                    ".intranet",
                    ".corp",
                ]
                .iter()
                .any(|suffix| name.ends_with(suffix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers() {
        assert!(check_issuer("https://auth.example.com/application/o/grimmory/").is_ok());
        assert!(check_issuer("http://127.0.0.1:9000/application/o/grimmory/").is_ok());
        assert!(check_issuer("http://192.168.1.5/realms/home").is_ok());
        assert!(check_issuer("http://authentik:9000/application/o/x/").is_ok());
        assert!(check_issuer("http://auth.example.com/").is_err());
        assert!(check_issuer("auth.example.com").is_err());
        assert!(check_issuer("ftp://auth.example.com").is_err());
        assert!(check_issuer("https://auth.example.com/?x=1").is_err());
    }

    #[test]
    fn extra_params() {
        assert_eq!(
            parse_params("prompt=consent&access_type=offline").unwrap(),
            vec![
                ("prompt".into(), "consent".into()),
                ("access_type".into(), "offline".into())
            ]
        );
        assert!(parse_params("state=x").is_err());
        assert!(parse_params("nonsense").is_err());
        assert!(parse_params("").unwrap().is_empty());
    }

    #[test]
    fn secret_is_not_carried_to_another_provider() {
        let current = StoredSettings {
            issuer_uri: "https://a.example.com/".into(),
            client_id: "c".into(),
            ..StoredSettings::default()
        };
        let mut fields = Fields::new();
        let patch = SettingsPatch {
            issuer_uri: Some("https://b.example.com/".into()),
            ..SettingsPatch::default()
        };
        apply(&current, &patch, true, &mut fields);
        assert!(fields.finish().is_err());
        let mut fields = Fields::new();
        let keep = apply(&current, &SettingsPatch::default(), true, &mut fields);
        assert!(fields.finish().is_ok());
        assert_eq!(keep.secret, SecretPlan::Keep);
    }
}
