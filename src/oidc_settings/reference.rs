//! The Provider Configuration Reference: the values to paste into the identity provider.

use super::StoredSettings;
use crate::config::Config;
use app::domain::ProviderReference;

/// The base URL users reach Grimmory at: the configured public URL, else the origin the
/// admin's own request came to.
pub fn public_base(config: &Config, own_origin: Option<&str>) -> String {
    config
        .public_url
        .clone()
        .or_else(|| own_origin.map(str::to_owned))
        .unwrap_or_else(|| format!("http://{}", config.bind))
}

pub fn build(
    config: &Config,
    own_origin: Option<&str>,
    settings: &StoredSettings,
) -> ProviderReference {
    let base = public_base(config, own_origin);
    let mut warnings = Vec::new();
    match (&config.public_url, own_origin) {
        (None, _) => warnings.push(
            "GRIMMORY_PUBLIC_URL is not set: these values come from the address you opened Grimmory at. \
             Set the public URL so they stay right behind a reverse proxy."
                .to_owned(),
        ),
        (Some(public), Some(own)) if public != own => warnings.push(format!(
            "You reached Grimmory at {own}, but GRIMMORY_PUBLIC_URL is {public}. Check your reverse proxy \
             (it must pass the Host and X-Forwarded-Proto headers, from an address in GRIMMORY_TRUSTED_PROXIES)."
        )),
        _ => {}
    }
    ProviderReference {
        redirect_uri: format!("{base}/oauth2-callback"),
        post_logout_redirect_uri: format!("{base}/login?signedOut=1"),
        backchannel_logout_uri: format!("{base}/api/v1/auth/oidc/backchannel-logout"),
        launch_url: format!("{base}/api/v1/auth/oidc/authorize"),
        scopes: settings.effective_scopes(),
        pkce_method: "S256".to_owned(),
        grant_type: "Authorization Code".to_owned(),
        public_url_configured: config.public_url.is_some(),
        warnings,
    }
}
