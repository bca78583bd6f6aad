//! The Mobile Redirect URIs setting (spec section 11.2): where the mobile app's provider
//! round trip may end, and where the redirect variant of its callback may send the tokens.
//! Each must also be registered at the provider; this list keeps a client that knows the
//! client ID from having tokens sent to a scheme the admin never meant (another app).
//! The texts of refusals are the original's, verbatim.

use app::domain::{RedirectUrisPatch, ANY_MOBILE_REDIRECT_URI, DEFAULT_MOBILE_REDIRECT_URI};
use url::{ParseError, Url};

/// The list a patch asks for, trimmed, or the message of its first fault.
pub fn normalise(patch: &RedirectUrisPatch) -> Result<Vec<String>, String> {
    let raw = match patch {
        RedirectUrisPatch::List(uris) => uris,
        RedirectUrisPatch::Invalid(message) => return Err((*message).to_owned()),
    };
    let uris: Vec<String> = raw.iter().map(|u| u.trim().to_owned()).collect();
    if uris.len() > 1 && uris.iter().any(|u| u == ANY_MOBILE_REDIRECT_URI) {
        return Err("Wildcard redirect URI must be the only value".to_owned());
    }
    let mut seen: Vec<String> = Vec::with_capacity(uris.len());
    for uri in uris {
        if uri.is_empty() {
            return Err("Redirect URI cannot be blank".to_owned());
        }
        if uri != ANY_MOBILE_REDIRECT_URI {
            check_shape(&uri)?;
        }
        if seen.contains(&uri) {
            return Err(format!("Duplicate redirect URI: {uri}"));
        }
        seen.push(uri);
    }
    Ok(seen)
}

/// A mobile redirect URI: absolute, a custom scheme (a web page could be anyone's), no
/// fragment (the redirect variant puts the tokens there).
fn check_shape(uri: &str) -> Result<(), String> {
    let invalid = || format!("Redirect URI is not a valid URI: {uri}");
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let url = match Url::parse(uri) {
        Ok(url) => url,
        Err(ParseError::RelativeUrlWithoutBase) => {
            return Err("Redirect URI must include a scheme".to_owned())
        }
        Err(_) => return Err(invalid()),
    };
    if matches!(url.scheme(), "http" | "https") {
        return Err("Redirect URI must use a custom mobile scheme".to_owned());
    }
    if uri.contains('#') {
        return Err("Redirect URI must not contain a fragment".to_owned());
    }
    Ok(())
}

/// Whether the app may use `uri`: listed exactly (the default when the list is empty), or
/// any well-formed custom-scheme URI under `*`.
pub fn allowed(list: &[String], uri: &str) -> bool {
    match list {
        [] => uri == DEFAULT_MOBILE_REDIRECT_URI,
        [only] if only == ANY_MOBILE_REDIRECT_URI => check_shape(uri).is_ok(),
        _ => list.iter().any(|u| u == uri),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(uris: &[&str]) -> RedirectUrisPatch {
        RedirectUrisPatch::List(uris.iter().map(|u| (*u).to_owned()).collect())
    }

    #[test]
    fn each_fault_has_the_original_text() {
        let fault = |uris: &[&str]| normalise(&list(uris)).unwrap_err();
        assert_eq!(
            fault(&["*", "grimmory://oauth2-callback"]),
            "Wildcard redirect URI must be the only value"
        );
        assert_eq!(fault(&[" "]), "Redirect URI cannot be blank");
        assert_eq!(
            fault(&["oauth2-callback"]),
            "Redirect URI must include a scheme"
        );
        assert_eq!(
            fault(&["https://books.example.com/cb"]),
            "Redirect URI must use a custom mobile scheme"
        );
        assert_eq!(
            fault(&["grimmory://cb#x"]),
            "Redirect URI must not contain a fragment"
        );
        assert_eq!(
            fault(&["grimmory://cb x"]),
            "Redirect URI is not a valid URI: grimmory://cb x"
        );
        assert_eq!(
            fault(&["grimmory://a", " grimmory://a "]),
            "Duplicate redirect URI: grimmory://a"
        );
        assert_eq!(
            normalise(&list(&[" grimmory://a", "app.example:/cb"])).unwrap(),
            ["grimmory://a", "app.example:/cb"]
        );
        assert_eq!(normalise(&list(&["*"])).unwrap(), ["*"]);
    }

    #[test]
    fn what_the_app_may_use() {
        assert!(allowed(&[], "grimmory://oauth2-callback"));
        assert!(!allowed(&[], "other://oauth2-callback"));
        let any = ["*".to_owned()];
        assert!(allowed(&any, "other://cb"));
        assert!(!allowed(&any, "https://evil.example/cb"));
        assert!(!allowed(&any, "other://cb#frag"));
        let listed = ["app://one".to_owned()];
        assert!(allowed(&listed, "app://one"));
        assert!(!allowed(&listed, "grimmory://oauth2-callback"));
        assert!(!allowed(&listed, "app://one/"));
    }
}
