//! The Provider Configuration Reference: the values to paste into the identity provider, and
//! the origin every redirect URI Grimmory sends is built on.

use super::StoredSettings;
use crate::config::Config;
use crate::error::AppResult;
use crate::state::Services;
use app::domain::ProviderReference;
use url::Url;

/// The origin every redirect and post-logout URI is built on (spec section 3): the configured
/// public URL; else the origin fixed when an admin last saved the settings; else — nothing
/// saved, so no sign-in can start — the address the server listens on. Never the `Host` of the
/// request at hand: whoever sends a request chooses that header.
pub async fn redirect_base(state: &Services) -> AppResult<String> {
    if let Some(public) = &state.config.public_url {
        return Ok(public.clone());
    }
    Ok(state
        .db
        .oidc_redirect_origin()
        .await?
        .unwrap_or_else(|| local_default(&state.config)))
}

/// The origin a save fixes: the public URL, else the origin the admin's request came to (the
/// one the reference panel showed them). `None` when the request named no usable origin; the
/// save then keeps the origin fixed before.
pub fn origin_to_fix(config: &Config, own_origin: Option<&str>) -> Option<String> {
    config
        .public_url
        .clone()
        .or_else(|| own_origin.and_then(clean_origin))
}

/// The base the settings on this page would use once saved from this request: what Test
/// Connection sends, and what the panel shows before the first save.
pub fn public_base(config: &Config, own_origin: Option<&str>) -> String {
    origin_to_fix(config, own_origin).unwrap_or_else(|| local_default(config))
}

/// Where a local run (`scripts/run.sh`, no public URL) is reached.
fn local_default(config: &Config) -> String {
    format!("http://{}", config.bind)
}

/// `scheme://host[:port]` of an http(s) origin, or `None`: the `Host` header may hold anything,
/// and this is stored and sent to the provider.
fn clean_origin(raw: &str) -> Option<String> {
    let url = Url::parse(raw).ok()?;
    let bare = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    bare.then(|| url.origin().ascii_serialization())
}

/// The panel for an admin whose request came to `own_origin`.
pub async fn for_admin(state: &Services, own_origin: Option<&str>) -> AppResult<ProviderReference> {
    let settings = super::load(state).await?;
    let fixed = state.db.oidc_redirect_origin().await?;
    Ok(build(
        &state.config,
        own_origin,
        fixed.as_deref(),
        &settings,
    ))
}

/// The values as sign-ins will use them. `fixed` is the origin stored by the last save.
pub fn build(
    config: &Config,
    own_origin: Option<&str>,
    fixed: Option<&str>,
    settings: &StoredSettings,
) -> ProviderReference {
    let own = own_origin.and_then(clean_origin);
    let mut warnings = Vec::new();
    let base = match (&config.public_url, fixed) {
        (Some(public), _) => {
            if let Some(own) = own.as_ref().filter(|own| *own != public) {
                warnings.push(format!(
                    "You reached Grimmory at {own}, but GRIMMORY_PUBLIC_URL is {public}. Check your reverse proxy \
                     (it must pass the Host and X-Forwarded-Proto headers, from an address in GRIMMORY_TRUSTED_PROXIES)."
                ));
            }
            public.clone()
        }
        (None, Some(fixed)) => {
            warnings.push(format!(
                "GRIMMORY_PUBLIC_URL is not set: these values use {fixed}, the address the settings were last \
                 saved from. Set the public URL so they stay right behind a reverse proxy."
            ));
            if let Some(own) = own.as_ref().filter(|own| *own != fixed) {
                warnings.push(format!(
                    "You opened Grimmory at {own}, but sign-ins use {fixed}. Saving the settings from here \
                     switches them to {own}."
                ));
            }
            fixed.to_owned()
        }
        // Saved before the origin was stored: sign-ins use the local default until a save.
        (None, None) if settings.configured() => {
            let local = local_default(config);
            warnings.push(format!(
                "GRIMMORY_PUBLIC_URL is not set and these settings were saved by an older version: sign-ins \
                 use {local} until you save the settings from the address users reach Grimmory at."
            ));
            local
        }
        (None, None) => {
            warnings.push(
                "GRIMMORY_PUBLIC_URL is not set: these values come from the address you opened Grimmory at, \
                 and saving the settings fixes them to it. Set the public URL so they stay right behind a \
                 reverse proxy."
                    .to_owned(),
            );
            own.unwrap_or_else(|| local_default(config))
        }
    };
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

#[cfg(test)]
mod tests {
    use super::clean_origin;

    #[test]
    fn only_bare_http_origins_are_kept() {
        assert_eq!(
            clean_origin("http://Books.Example:3000").as_deref(),
            Some("http://books.example:3000")
        );
        assert_eq!(
            clean_origin("https://books.example:443").as_deref(),
            Some("https://books.example")
        );
        for bad in [
            "http://evil.example/x",
            "http://a@evil.example",
            "javascript://x",
            "http://x?y",
            "not an origin",
        ] {
            assert_eq!(clean_origin(bad), None, "{bad}");
        }
    }
}
