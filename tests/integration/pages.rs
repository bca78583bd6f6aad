use crate::common::{Engine, TestApp};
use crate::on_both_engines;
use axum::http::StatusCode;

on_both_engines!(
    every_page_goes_to_setup_until_it_is_done,
    pages_need_a_session_and_remember_where_you_were_going,
    pages_render_on_the_server,
    the_icon_and_manifest_are_served
);

async fn every_page_goes_to_setup_until_it_is_done(engine: Engine) {
    let app = TestApp::new(engine).await;
    for path in ["/", "/login"] {
        let r = app.get(path, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), Some("/setup"));
    }
    assert_eq!(app.get("/setup", None).await.status, StatusCode::OK);
    app.setup_admin().await;
    assert_eq!(app.get("/setup", None).await.location(), Some("/login"));
}

async fn pages_need_a_session_and_remember_where_you_were_going(engine: Engine) {
    let app = TestApp::new(engine).await;
    let cookie = app.setup_admin().await;
    let r = app.get("/", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), Some("/login?returnTo=%2F"));
    assert_eq!(app.get("/login", Some(&cookie)).await.location(), Some("/"));
}

async fn pages_render_on_the_server(engine: Engine) {
    let app = TestApp::new(engine).await;
    let setup = app.get("/setup", None).await.text();
    assert!(setup.contains("Set Up Admin User"));
    let cookie = app.setup_admin().await;
    let login = app.get("/login?signedOut=1", None).await.text();
    assert!(login.contains("Welcome Back") && login.contains("Sign in to continue your journey"));
    assert!(login.contains("You have been signed out."));
    let dashboard = app.get("/", Some(&cookie)).await;
    assert_eq!(dashboard.status, StatusCode::OK);
    let html = dashboard.text();
    assert!(html.contains("Ada Admin") && html.contains("admin@example.org"));
    assert!(html.contains("Sign out"));
}

/// The tab, a bookmark and a home-screen shortcut show Grimmory's icon. The server serves the
/// site folder, which the build fills from `public/`; here it serves `public/` itself.
async fn the_icon_and_manifest_are_served(engine: Engine) {
    let app = TestApp::with_settings(engine, |raw| raw.site_root = Some("public".to_owned())).await;
    app.setup_admin().await;
    let login = app.get("/login", None).await.text();
    for (path, content_type) in [
        ("/favicon.ico", "image/x-icon"),
        ("/apple-touch-icon.png", "image/png"),
        ("/manifest.webmanifest", "application/manifest+json"),
    ] {
        assert!(
            login.contains(&format!("href=\"{path}\"")),
            "the page links {path}"
        );
        let r = app.get(path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.headers["content-type"], content_type, "{path}");
        assert!(!r.body.is_empty());
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&app.get("/manifest.webmanifest", None).await.body).unwrap();
    assert_eq!(manifest["name"], "Grimmory");
    for icon in manifest["icons"].as_array().unwrap() {
        let src = icon["src"].as_str().unwrap();
        let r = app.get(src, None).await;
        assert_eq!(r.status, StatusCode::OK, "{src}");
        assert_eq!(r.headers["content-type"], "image/png", "{src}");
    }
}
