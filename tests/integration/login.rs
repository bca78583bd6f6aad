use crate::common::{Engine, TestApp};
use crate::on_both_engines;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

on_both_engines!(
    login_succeeds_with_the_right_password,
    unknown_user_and_wrong_password_get_the_same_answer,
    failures_per_ip_and_username_are_limited,
    failures_per_ip_are_limited,
    trusted_proxy_forwarded_ip_is_the_client,
    missing_fields_are_named,
    form_login_works_without_javascript,
    unsafe_return_to_is_ignored,
);

const MINUTE: i64 = 60_000;

async fn login_succeeds_with_the_right_password(engine: Engine) {
    let app = TestApp::new(engine).await;
    app.setup_admin().await;
    let r = app.login("admin", "correct horse battery").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["username"], "admin");
    let cookie = r.session_cookie().unwrap();
    let me = app.get("/api/v1/auth/me", Some(&cookie)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert!(me.json()["lastLoginAt"].is_string());
    // Usernames are case-sensitive.
    assert_eq!(
        app.login("Admin", "correct horse battery").await.status,
        StatusCode::UNAUTHORIZED
    );
    let events = app.audit_events().await;
    assert!(events.iter().any(|e| e["event"] == "LOGIN_SUCCESS"));
}

async fn unknown_user_and_wrong_password_get_the_same_answer(engine: Engine) {
    let app = TestApp::new(engine).await;
    app.setup_admin().await;
    let wrong = app.login("admin", "not the password").await;
    let unknown = app.login("nobody", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json(), unknown.json());
    assert_eq!(wrong.json()["message"], "Invalid username or password");
    assert!(wrong.session_cookie().is_none());
    let failed: Vec<_> = app
        .audit_events()
        .await
        .into_iter()
        .filter(|e| e["event"] == "LOGIN_FAILED")
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(!failed
        .iter()
        .any(|e| e.to_string().contains("not the password")));
}

async fn failures_per_ip_and_username_are_limited(engine: Engine) {
    let app = TestApp::new(engine).await;
    app.setup_admin().await;
    for _ in 0..5 {
        assert_eq!(
            app.login("admin", "wrong").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // The sixth try is refused even with the right password.
    let limited = app.login("admin", "correct horse battery").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        limited.json()["message"],
        "Too many failed login attempts. Please try again later."
    );
    // Another client is not affected.
    let elsewhere = app
        .send_from(
            crate::common::json_request(
                axum::http::Method::POST,
                "/api/v1/auth/login",
                &json!({"username": "admin", "password": "correct horse battery"}),
                None,
            ),
            "192.0.2.7",
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::OK);
    // Fifteen minutes later the window has passed.
    app.clock.advance_ms(15 * MINUTE + 1);
    assert_eq!(
        app.login("admin", "correct horse battery").await.status,
        StatusCode::OK
    );
}

async fn failures_per_ip_are_limited(engine: Engine) {
    let app = TestApp::new(engine).await;
    app.setup_admin().await;
    for i in 0..20 {
        assert_eq!(
            app.login(&format!("user{i}"), "wrong").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.login("admin", "correct horse battery").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.clock.advance_ms(16 * MINUTE);
    assert_eq!(
        app.login("admin", "correct horse battery").await.status,
        StatusCode::OK
    );
}

async fn trusted_proxy_forwarded_ip_is_the_client(engine: Engine) {
    let app = TestApp::with_settings(engine, |raw| {
        raw.trusted_proxies = Some("127.0.0.1/32".to_owned())
    })
    .await;
    app.setup_admin().await;
    let through_proxy = |client: &str| {
        Request::post("/api/v1/auth/login")
            .header("content-type", "application/json")
            .header("x-forwarded-for", format!("6.6.6.6, {client}"))
            .body(Body::from(
                json!({"username": "admin", "password": "wrong"}).to_string(),
            ))
            .unwrap()
    };
    for _ in 0..5 {
        assert_eq!(
            app.send(through_proxy("198.51.100.1")).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.send(through_proxy("198.51.100.1")).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A different client behind the same proxy has its own count.
    assert_eq!(
        app.send(through_proxy("198.51.100.2")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let failed = app.audit_events().await;
    assert!(failed.iter().any(|e| e["clientIp"] == "198.51.100.2"));
}

async fn missing_fields_are_named(engine: Engine) {
    let app = TestApp::new(engine).await;
    app.setup_admin().await;
    let r = app.post_json("/api/v1/auth/login", json!({}), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let fields: Vec<_> = r.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["username", "password"]);
    let wrong_type = app
        .post_json(
            "/api/v1/auth/login",
            json!({"username": 5, "password": "x"}),
            None,
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST);
    assert!(wrong_type.json()["errors"].is_array());
}

async fn form_login_works_without_javascript(engine: Engine) {
    let app = TestApp::new(engine).await;
    app.setup_admin().await;
    let bad = app
        .post_form(
            "/api/v1/auth/login",
            &[
                ("username", "admin"),
                ("password", "nope"),
                ("returnTo", "/profile"),
            ],
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::SEE_OTHER);
    assert_eq!(
        bad.location(),
        Some("/login?error=invalid_credentials&username=admin&returnTo=%2Fprofile")
    );
    let good = app
        .post_form(
            "/api/v1/auth/login",
            &[
                ("username", "admin"),
                ("password", "correct horse battery"),
                ("returnTo", "/profile"),
            ],
            None,
        )
        .await;
    assert_eq!(good.status, StatusCode::SEE_OTHER);
    assert_eq!(good.location(), Some("/profile"));
    let cookie = good.session_cookie().unwrap();
    let out = app
        .post_form("/api/v1/auth/logout", &[], Some(&cookie))
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), Some("/login?signedOut=1"));
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn unsafe_return_to_is_ignored(engine: Engine) {
    let app = TestApp::new(engine).await;
    app.setup_admin().await;
    for target in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "/login",
        "/api/v1/auth/me",
    ] {
        let r = app
            .post_form(
                "/api/v1/auth/login",
                &[
                    ("username", "admin"),
                    ("password", "correct horse battery"),
                    ("returnTo", target),
                ],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location(), Some("/"), "{target}");
    }
}
