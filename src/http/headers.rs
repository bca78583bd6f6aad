//! Security headers on every response (spec section 9).

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The Content-Security-Policy. Pages run only our own scripts: the bundle from `/pkg/` and
/// the inline scripts Leptos writes, which carry the page's `nonce`; WebAssembly needs
/// `'wasm-unsafe-eval'` to compile. Everything else loads from our origin only. There is no
/// `form-action`: browsers apply it to the redirects a form post leads to, and signing in and
/// out posts forms that end at the identity provider.
pub fn content_security_policy(nonce: Option<&str>) -> String {
    let scripts = match nonce {
        Some(n) => format!("'self' 'nonce-{n}' 'wasm-unsafe-eval'"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
    )
}

pub async fn security_headers(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // A rendered page brings its own policy, with the nonce of its inline scripts.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&content_security_policy(None)).expect("the policy is ASCII"),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The callback URLs carry the authorization code: never leak it onward. Elsewhere the
    // browser default stays, since `no-referrer` would make same-origin form posts send
    // `Origin: null`, which the CSRF guard must refuse.
    if path == "/oauth2-callback" || path == "/api/v1/auth/oidc/redirect" {
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    // Static build output is fingerprinted by deploys and holds nothing personal; everything
    // else may show who is signed in.
    if !path.starts_with("/pkg/") {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}
