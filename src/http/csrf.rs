//! CSRF defence (spec section 9): a state-changing request whose `Origin` — or, without one,
//! `Sec-Fetch-Site: cross-site` — shows another site is refused. Requests with neither header
//! come from non-browser clients, which carry no ambient cookies to abuse.

use super::client::Client;
use crate::error::AppError;
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Authenticated by its own signature, and called by the provider, not a browser; and the
/// OAuth endpoints of apps and devices (spec section 11), which use no cookie.
const EXEMPT: &[&str] = &[
    "/api/v1/auth/oidc/backchannel-logout",
    "/api/v1/auth/token",
    "/api/v1/auth/device/code",
    "/api/v1/auth/refresh",
    "/api/v1/auth/oidc/mobile/callback",
];
const REFUSED: &str = "Cross-site request refused.";

pub fn allowed(
    method: &Method,
    origin: Option<&str>,
    fetch_site: Option<&str>,
    public_url: Option<&str>,
    own_origin: Option<&str>,
) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    match origin {
        Some(origin) => {
            let origin = origin.trim().to_ascii_lowercase();
            Some(origin.as_str()) == public_url || Some(origin.as_str()) == own_origin
        }
        None => fetch_site != Some("cross-site"),
    }
}

pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // In a block so no borrow of `req` (not Sync) lives across the await below.
    let ok = {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        let own = req
            .extensions()
            .get::<Client>()
            .and_then(|c| c.own_origin.as_deref());
        // App credentials are never ambient: a browser does not attach them for another site.
        let ok = EXEMPT.contains(&req.uri().path())
            || super::app_auth::carries_app_credential(req.headers())
            || allowed(
                req.method(),
                header("origin"),
                header("sec-fetch-site"),
                state.config.public_url.as_deref(),
                own,
            );
        if !ok {
            tracing::warn!(
                path = req.uri().path(),
                origin = header("origin"),
                "cross-site request refused"
            );
        }
        ok
    };
    if !ok {
        return AppError::Forbidden(REFUSED.to_owned()).into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        let own = Some("http://127.0.0.1:3000");
        let public = Some("https://books.example.com");
        assert!(allowed(
            &Method::GET,
            Some("https://evil.example"),
            None,
            public,
            own
        ));
        assert!(allowed(
            &Method::POST,
            Some("http://127.0.0.1:3000"),
            None,
            public,
            own
        ));
        assert!(allowed(
            &Method::POST,
            Some("https://books.example.com"),
            None,
            public,
            own
        ));
        assert!(!allowed(
            &Method::POST,
            Some("https://evil.example"),
            None,
            public,
            own
        ));
        assert!(!allowed(&Method::POST, Some("null"), None, public, own));
        assert!(!allowed(
            &Method::DELETE,
            None,
            Some("cross-site"),
            public,
            own
        ));
        assert!(allowed(
            &Method::POST,
            None,
            Some("same-origin"),
            public,
            own
        ));
        assert!(allowed(&Method::POST, None, None, public, own));
    }
}
