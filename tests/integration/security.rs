use crate::common::{Engine, TestApp};
use crate::on_both_engines;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

on_both_engines!(
    cross_origin_posts_are_refused,
    security_headers_are_set,
    pages_run_only_their_own_scripts,
    unknown_api_paths_are_json_404,
    health_answers_while_the_database_does
);

fn login_from(origin: Option<&str>, fetch_site: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/api/v1/auth/login")
        .header("content-type", "application/json")
        .header("host", "127.0.0.1:3000");
    if let Some(o) = origin {
        b = b.header("origin", o);
    }
    if let Some(s) = fetch_site {
        b = b.header("sec-fetch-site", s);
    }
    b.body(Body::from(
        json!({"username": "admin", "password": "correct horse battery"}).to_string(),
    ))
    .unwrap()
}

async fn cross_origin_posts_are_refused(engine: Engine) {
    let app = TestApp::new(engine).await;
    app.setup_admin().await;
    let evil = app
        .send(login_from(Some("https://evil.example"), None))
        .await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN);
    assert!(evil.session_cookie().is_none());
    assert_eq!(
        app.send(login_from(Some("null"), None)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.send(login_from(None, Some("cross-site"))).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.send(login_from(
            Some("http://127.0.0.1:3000"),
            Some("same-origin")
        ))
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        app.send(login_from(None, None)).await.status,
        StatusCode::OK
    );
}

async fn security_headers_are_set(engine: Engine) {
    let app = TestApp::new(engine).await;
    let r = app.get("/api/v1/setup/status", None).await;
    let header = |name: &str| {
        r.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert!(header("content-security-policy").contains("frame-ancestors 'none'"));
    assert_eq!(header("cache-control"), "no-store");
    let callback = app.get("/oauth2-callback", None).await;
    assert_eq!(
        callback.headers.get("referrer-policy").unwrap(),
        "no-referrer"
    );
}

fn policy(r: &crate::common::Reply) -> String {
    r.headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// The nonce a page's policy allows scripts with; every executable inline script must carry it.
fn page_nonce(r: &crate::common::Reply) -> String {
    let policy = policy(r);
    let script_src = policy
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src "))
        .unwrap_or_else(|| panic!("no script-src in {policy:?}"));
    assert!(script_src.contains("'self'") && !script_src.contains("unsafe-inline"));
    let nonce = script_src
        .split_whitespace()
        .find_map(|t| t.strip_prefix("'nonce-")?.strip_suffix('\''))
        .unwrap_or_else(|| panic!("no nonce in {script_src:?}"))
        .to_owned();
    assert!(nonce.len() >= 22, "a nonce of at least 128 bits: {nonce}");
    nonce
}

async fn pages_run_only_their_own_scripts(engine: Engine) {
    let app = TestApp::new(engine).await;
    app.setup_admin().await;
    // A page of the table, and the "not found" page that answers for any other path.
    for (path, status) in [
        ("/login", StatusCode::OK),
        ("/no-such-page", StatusCode::NOT_FOUND),
    ] {
        let page = app.get(path, None).await;
        assert_eq!(page.status, status, "{path}");
        let nonce = page_nonce(&page);
        let html = page.text();
        let scripts: Vec<&str> = html
            .split("<script")
            .skip(1)
            .map(|s| &s[..s.find('>').unwrap()])
            .collect();
        // The page context is data (`application/json`), which browsers never run.
        let executable: Vec<&&str> = scripts
            .iter()
            .filter(|attrs| !attrs.contains("application/json"))
            .collect();
        assert!(
            !executable.is_empty(),
            "{path}: the hydration script is inline"
        );
        for attrs in executable {
            assert!(
                attrs.contains(&format!("nonce=\"{nonce}\"")),
                "{path}: inline script without the page's nonce: <script{attrs}>"
            );
        }
    }
    let nonce = page_nonce(&app.get("/login", None).await);
    assert_ne!(
        page_nonce(&app.get("/login", None).await),
        nonce,
        "each response has its own nonce"
    );
    let api = policy(&app.get("/api/v1/setup/status", None).await);
    assert!(
        api.contains("script-src 'self';") && !api.contains("nonce-"),
        "{api}"
    );
    assert!(api.contains("default-src 'self'") && api.contains("frame-ancestors 'none'"));
}

async fn unknown_api_paths_are_json_404(engine: Engine) {
    let app = TestApp::new(engine).await;
    let r = app.get("/api/v1/nothing-here", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["status"], 404);
}

async fn health_answers_while_the_database_does(engine: Engine) {
    let app = TestApp::new(engine).await;
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    app.state.db.close().await;
    assert_eq!(
        app.get("/healthz", None).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}
