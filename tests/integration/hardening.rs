//! Races and edge cases found in review: each of these once had a way around it.

use crate::common::{json_request, Engine, TestApp};
use crate::in_flight::{release_when_waiting, TableLock};
use crate::on_both_engines;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;
use std::sync::Arc;
use tokio::sync::Barrier;

on_both_engines!(
    a_burst_of_guesses_is_limited_like_a_sequence,
    two_admins_demoting_each_other_leave_one,
    demoting_an_admin_does_not_keep_the_implicit_grants,
    a_user_made_by_the_recovery_command_completes_setup,
    setup_refuses_a_foreign_host_name,
    wrong_methods_and_queries_get_the_error_shape,
    the_public_url_is_an_accepted_origin,
);

async fn a_burst_of_guesses_is_limited_like_a_sequence(engine: Engine) {
    let app = Arc::new(TestApp::new(engine).await);
    app.setup_admin().await;
    // All twelve start together.
    let barrier = Arc::new(Barrier::new(12));
    let guesses = (0..12).map(|i| {
        let (app, barrier) = (app.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            app.login("admin", &format!("guess {i}")).await.status
        })
    });
    let mut statuses = Vec::new();
    for g in guesses.collect::<Vec<_>>() {
        statuses.push(g.await.unwrap());
    }
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    // Exactly as many as a sequence gets: not more, and not none (a burst whose attempts
    // each counted the others' once refused them all).
    assert_eq!(
        checked, 5,
        "{checked} passwords were checked at once: {statuses:?}"
    );
    // Each 401 was a password checked and found wrong (audited as such), not a refusal
    // dressed as one.
    let audited = app
        .audit_events()
        .await
        .iter()
        .filter(|e| e["event"] == "LOGIN_FAILED")
        .count();
    assert_eq!(audited, checked);
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS));
}

/// Two admins on two servers of one database demote each other at the same moment: one
/// demotion goes through, the other is refused, and one admin is left.
async fn two_admins_demoting_each_other_leave_one(engine: Engine) {
    let one = TestApp::new(engine).await;
    let first = one.setup_admin().await;
    let second_user = one
        .create_user(
            &first,
            json!({"username": "root2", "password": "second admin", "isAdmin": true}),
        )
        .await;
    let other = TestApp::on_database(engine, &one.database_url, |_| {}).await;
    let second = other.cookie_for("root2", "second admin").await;
    let first_id = one.get("/api/v1/auth/me", Some(&first)).await.json()["id"]
        .as_i64()
        .unwrap();
    let second_id = second_user["id"].as_i64().unwrap();
    let lock = TableLock::hold(&one, "users").await;
    let barrier = Barrier::new(2);
    let (a, b, ()) = tokio::join!(
        demote(&one, &barrier, &first, second_id),
        demote(&other, &barrier, &second, first_id),
        release_when_waiting(lock, 2),
    );
    assert_eq!(
        [a, b].iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{a} {b}"
    );
    let refused = if a == StatusCode::OK { b } else { a };
    match engine {
        // Both were past their authorization, waiting at the lock: the invariant refused one.
        Engine::Postgres => assert_eq!(refused, StatusCode::CONFLICT),
        // Or the one demoted first was no admin any more when its own request was checked.
        Engine::Sqlite => assert!(
            [StatusCode::CONFLICT, StatusCode::FORBIDDEN].contains(&refused),
            "{refused}"
        ),
    }
    assert_eq!(
        one.count("SELECT COUNT(*) FROM users WHERE is_admin = TRUE")
            .await,
        1
    );
}

async fn demote(app: &TestApp, barrier: &Barrier, cookie: &str, target: i64) -> StatusCode {
    barrier.wait().await;
    app.put_json(
        &format!("/api/v1/admin/users/{target}"),
        json!({"isAdmin": false}),
        Some(cookie),
    )
    .await
    .status
}

async fn demoting_an_admin_does_not_keep_the_implicit_grants(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    app.post_json(
        "/api/v1/admin/libraries",
        json!({"name": "Atlas"}),
        Some(&admin),
    )
    .await;
    let other = app
        .create_user(
            &admin,
            json!({"username": "ex", "password": "ex admin pw", "isAdmin": true}),
        )
        .await;
    let r = app
        .put_json(
            &format!("/api/v1/admin/users/{}", other["id"]),
            json!({"isAdmin": false}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let demoted = r.json();
    assert!(
        demoted["permissions"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v == false),
        "{demoted}"
    );
    assert_eq!(demoted["libraryIds"], json!([]));
    // A client that sends back what it read (the admin's implicit "everything") while the
    // user stays admin stores none of it either.
    let again = app
        .create_user(
            &admin,
            json!({"username": "ex2", "password": "ex admin pw", "isAdmin": true}),
        )
        .await;
    let mut roundtrip = again.clone();
    roundtrip["name"] = json!("Renamed");
    app.put_json(
        &format!("/api/v1/admin/users/{}", again["id"]),
        roundtrip,
        Some(&admin),
    )
    .await;
    let r = app
        .put_json(
            &format!("/api/v1/admin/users/{}", again["id"]),
            json!({"isAdmin": false}),
            Some(&admin),
        )
        .await;
    assert!(r.json()["permissions"]
        .as_object()
        .unwrap()
        .values()
        .all(|v| v == false));
}

async fn a_user_made_by_the_recovery_command_completes_setup(engine: Engine) {
    let app = TestApp::new(engine).await;
    let (ok, _, err) = app.cli(
        &["admin", "create", "rescuer", "--admin"],
        "rescue password\n",
    );
    assert!(ok, "{err}");
    assert_eq!(
        app.get("/api/v1/setup/status", None).await.json()["completed"],
        true
    );
    let cookie = app.cookie_for("rescuer", "rescue password").await;
    let home = app.get("/", Some(&cookie)).await;
    assert_eq!(home.status, StatusCode::OK);
}

async fn setup_refuses_a_foreign_host_name(engine: Engine) {
    let app = TestApp::new(engine).await;
    let body = json!({"username": "admin", "password": "long enough"}).to_string();
    let rebound = Request::post("/api/v1/setup")
        .header("content-type", "application/json")
        .header("host", "attacker.example:3000")
        .header("origin", "http://attacker.example:3000")
        .body(Body::from(body.clone()))
        .unwrap();
    assert_eq!(app.send(rebound).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/v1/setup/status", None).await.json()["completed"],
        false
    );
    let local = Request::post("/api/v1/setup")
        .header("content-type", "application/json")
        .header("host", "localhost:3000")
        .header("origin", "http://localhost:3000")
        .body(Body::from(body))
        .unwrap();
    assert_eq!(app.send(local).await.status, StatusCode::CREATED);
}

async fn wrong_methods_and_queries_get_the_error_shape(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let r = app.get("/api/v1/auth/login", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json()["status"], 405);
    let r = app
        .get("/api/v1/admin/audit?limit=1&limit=2", Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["status"], 400);
    let r = app.get("/api/v1/admin/users/%FF", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["status"], 404);
    let nul = app.login("a\u{0}b", "whatever pw").await;
    assert_eq!(nul.status, StatusCode::UNAUTHORIZED);
    let long = app.login(&"x".repeat(5000), "whatever pw").await;
    assert_eq!(long.status, StatusCode::UNAUTHORIZED);
}

async fn the_public_url_is_an_accepted_origin(engine: Engine) {
    let app = TestApp::with_settings(engine, |raw| {
        raw.public_url = Some("https://books.example.com".to_owned())
    })
    .await;
    app.setup_admin().await;
    let mut req = json_request(
        Method::POST,
        "/api/v1/auth/login",
        &json!({"username": "admin", "password": "correct horse battery"}),
        None,
    );
    req.headers_mut()
        .insert("origin", "https://books.example.com".parse().unwrap());
    req.headers_mut()
        .insert("host", "127.0.0.1:3000".parse().unwrap());
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::OK);
    // Under https the cookie is Secure.
    let cookie = r.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly"));
}
