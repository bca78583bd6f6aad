use crate::common::{Engine, TestApp};
use crate::on_both_engines;
use axum::http::StatusCode;

on_both_engines!(
    idle_sessions_expire,
    sessions_end_at_their_absolute_lifetime,
    logout_ends_the_session_on_the_server,
    every_sign_in_gets_a_fresh_session_id
);

const HOUR: i64 = 3_600_000;

async fn idle_sessions_expire(engine: Engine) {
    let app = TestApp::new(engine).await;
    let cookie = app.setup_admin().await;
    app.clock.advance_ms(167 * HOUR);
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&cookie)).await.status,
        StatusCode::OK
    );
    // Activity moved the idle deadline: another 167 hours is still fine.
    app.clock.advance_ms(167 * HOUR);
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&cookie)).await.status,
        StatusCode::OK
    );
    app.clock.advance_ms(168 * HOUR + 1);
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn sessions_end_at_their_absolute_lifetime(engine: Engine) {
    let app = TestApp::with_settings(engine, |raw| {
        raw.session_idle_hours = Some("200".to_owned())
    })
    .await;
    let cookie = app.setup_admin().await;
    for _ in 0..4 {
        app.clock.advance_ms(7 * 24 * HOUR);
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&cookie)).await.status,
            StatusCode::OK
        );
    }
    // 28 days so far; the 30-day lifetime ends it although it is in use.
    app.clock.advance_ms(2 * 24 * HOUR);
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn logout_ends_the_session_on_the_server(engine: Engine) {
    let app = TestApp::new(engine).await;
    let cookie = app.setup_admin().await;
    let out = app
        .post_json("/api/v1/auth/logout", serde_json::json!({}), Some(&cookie))
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(out.json()["logoutUrl"], "/login?signedOut=1");
    assert!(out
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().contains("Max-Age=0")));
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(app
        .audit_events()
        .await
        .iter()
        .any(|e| e["event"] == "LOGOUT"));
    // Signing out again, or with an expired session, still answers where to go.
    app.clock.advance_ms(1000 * HOUR);
    let again = app
        .post_json("/api/v1/auth/logout", serde_json::json!({}), Some(&cookie))
        .await;
    assert_eq!(again.status, StatusCode::OK);
}

async fn every_sign_in_gets_a_fresh_session_id(engine: Engine) {
    let app = TestApp::new(engine).await;
    let first = app.setup_admin().await;
    let r = app
        .send(crate::common::json_request(
            axum::http::Method::POST,
            "/api/v1/auth/login",
            &serde_json::json!({"username": "admin", "password": "correct horse battery"}),
            Some(&first),
        ))
        .await;
    let second = r.session_cookie().unwrap();
    assert_ne!(first, second);
    // The old id no longer works: the browser's previous session was replaced.
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&first)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&second)).await.status,
        StatusCode::OK
    );
}
