//! Every cookie the server sets, and reading cookies back: one place for their names and
//! flags. All are HttpOnly (no script needs them) and SameSite=Lax (sent on the provider's
//! top-level redirect back, not on cross-site posts); Secure whenever users reach us over https.
//! Secure cookies also get the `__Host-` prefix, which the browser accepts only from a secure
//! origin with `Path=/` and no `Domain`: a sibling subdomain or a plain-http page of the same
//! host cannot plant or overwrite them. Which name applies is decided per request by its
//! scheme, for setting and for reading alike.

use crate::auth::session::SessionToken;
use axum::http::header::COOKIE;
use axum::http::HeaderMap;

/// The session id.
pub const SESSION: &str = "grimmory_session";
/// The stable per-browser id that owns pending sign-ins.
pub const BROWSER: &str = "grimmory_browser";
/// Proof that this browser signed in to an account with its password before: it skips the
/// account's back-off (OWASP "known device"), so guessing elsewhere never keeps the owner out.
pub const KNOWN_DEVICE: &str = "grimmory_known_device";
/// The count of automatic trips to the provider in OIDC-only mode.
pub const OIDC_ATTEMPTS: &str = "grimmory_oidc_attempts";

const BROWSER_MAX_AGE_S: u32 = 365 * 24 * 3600;
const KNOWN_DEVICE_MAX_AGE_S: u32 = (crate::auth::local_login::KNOWN_DEVICE_MS / 1000) as u32;
/// Long enough for a round trip through the provider's login page, short enough to reset.
const OIDC_ATTEMPTS_MAX_AGE_S: u32 = 600;

const HOST_PREFIX: &str = "__Host-";

/// The name cookie `name` has on a request over https (`secure`) or plain http.
fn name(name: &str, secure: bool) -> String {
    if secure {
        format!("{HOST_PREFIX}{name}")
    } else {
        name.to_owned()
    }
}

fn build(base: &str, value: &str, max_age_s: Option<u32>, secure: bool) -> String {
    let name = name(base, secure);
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(seconds) = max_age_s {
        cookie.push_str(&format!("; Max-Age={seconds}"));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// A new session; it lasts as long as the browser keeps it (the server ends it).
pub fn session(token: &SessionToken, secure: bool) -> String {
    build(SESSION, token.as_cookie_value(), None, secure)
}

pub fn clear_session(secure: bool) -> String {
    build(SESSION, "", Some(0), secure)
}

pub fn browser(value: &str, secure: bool) -> String {
    build(BROWSER, value, Some(BROWSER_MAX_AGE_S), secure)
}

pub fn known_device(proof: &str, secure: bool) -> String {
    build(KNOWN_DEVICE, proof, Some(KNOWN_DEVICE_MAX_AGE_S), secure)
}

pub fn oidc_attempts(count: u32, secure: bool) -> String {
    build(
        OIDC_ATTEMPTS,
        &count.to_string(),
        Some(OIDC_ATTEMPTS_MAX_AGE_S),
        secure,
    )
}

pub fn clear_oidc_attempts(secure: bool) -> String {
    build(OIDC_ATTEMPTS, "", Some(0), secure)
}

/// The value of a cookie in a `Cookie` request header.
pub fn read<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The value of cookie `base` among all the request's `Cookie` headers, under the name it
/// has on a request over https (`secure`) or plain http.
pub fn find<'a>(headers: &'a HeaderMap, base: &str, secure: bool) -> Option<&'a str> {
    let name = name(base, secure);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| read(h, &name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        let t = SessionToken::generate();
        let c = session(&t, true);
        assert!(c.starts_with("__Host-grimmory_session=") && c.contains("; Path=/;"));
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.ends_with("; Secure"));
        assert!(!c.contains("Domain"));
        let plain = session(&t, false);
        assert!(plain.starts_with("grimmory_session=") && !plain.contains("Secure"));
        assert!(clear_session(false).contains("Max-Age=0"));
        assert_eq!(
            oidc_attempts(2, false),
            "grimmory_oidc_attempts=2; Path=/; HttpOnly; SameSite=Lax; Max-Age=600"
        );
    }

    #[test]
    fn reads_one_cookie_among_many() {
        assert_eq!(read("a=1; grimmory_session=xyz; b=2", SESSION), Some("xyz"));
        assert_eq!(read("a=1", SESSION), None);
    }

    #[test]
    fn the_scheme_decides_which_name_is_read() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            "grimmory_session=plain; __Host-grimmory_session=secure"
                .parse()
                .unwrap(),
        );
        assert_eq!(find(&headers, SESSION, true), Some("secure"));
        assert_eq!(find(&headers, SESSION, false), Some("plain"));
    }
}
