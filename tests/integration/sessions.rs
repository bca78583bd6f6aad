use crate::common::{Engine, TestApp};
use crate::on_both_engines;
use axum::http::StatusCode;

on_both_engines!(
    idle_sessions_expire,
    sessions_end_at_their_absolute_lifetime,
    logout_ends_the_session_on_the_server,
    every_sign_in_gets_a_fresh_session_id,
    a_replica_sees_its_own_changes_at_once_and_another_replicas_within_a_second
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

/// A replica remembers the sessions and users it read for at most a second (`auth::recent`):
/// what it changes itself counts at once, what another replica changes within that second.
async fn a_replica_sees_its_own_changes_at_once_and_another_replicas_within_a_second(
    engine: Engine,
) {
    let a = TestApp::new(engine).await;
    let admin = a.setup_admin().await;
    let b = TestApp::on_database(engine, &a.database_url, |_| {}).await;
    let reader = a
        .create_user(
            &admin,
            serde_json::json!({"username": "reader", "password": "reader password"}),
        )
        .await;
    let cookie = b.cookie_for("reader", "reader password").await;
    for app in [&a, &b] {
        let r = me(app, &cookie).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json()["permissions"]["permissionDownload"], false);
    }

    // The admin gives the reader a permission on A: A's next answer has it.
    let id = reader["id"].as_i64().unwrap();
    let r = a
        .put_json(
            &format!("/api/v1/admin/users/{id}"),
            serde_json::json!({"permissions": {"permissionDownload": true}}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        me(&a, &cookie).await.json()["permissions"]["permissionDownload"],
        true
    );

    // Signing out on B ends the session on B at once, and on A within a second.
    let out = b
        .post_json("/api/v1/auth/logout", serde_json::json!({}), Some(&cookie))
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(me(&b, &cookie).await.status, StatusCode::UNAUTHORIZED);
    a.clock.advance_ms(grimmory::auth::recent::FRESH_FOR_MS);
    assert_eq!(me(&a, &cookie).await.status, StatusCode::UNAUTHORIZED);
}

async fn me(app: &TestApp, cookie: &str) -> crate::common::Reply {
    app.get("/api/v1/auth/me", Some(cookie)).await
}
