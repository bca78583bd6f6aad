//! The OIDC settings as stored: one JSON document. A leaf: the admin guard reads it inside
//! its transaction without depending on the settings feature.

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

/// The stored settings are the settings document of the API (`app::domain::OidcSettings`),
/// declared once.
pub use app::domain::OidcSettings as StoredSettings;

/// The extra authorization parameters as pairs.
pub fn extra_params(s: &StoredSettings) -> Vec<(String, String)> {
    parse_params(&s.extra_auth_params).unwrap_or_default()
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
