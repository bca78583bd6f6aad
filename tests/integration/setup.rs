use crate::common::{Engine, TestApp};
use crate::in_flight::{release_when_waiting, TableLock};
use crate::on_both_engines;
use axum::http::StatusCode;
use serde_json::json;
use tokio::sync::Barrier;

on_both_engines!(
    setup_runs_once_and_signs_the_admin_in,
    racing_setups_make_one_admin,
    setup_validates_every_field,
    setup_needs_the_token_off_loopback,
    setup_from_elsewhere_needs_the_token_whatever_the_bind
);

async fn setup_runs_once_and_signs_the_admin_in(engine: Engine) {
    let app = TestApp::new(engine).await;
    assert_eq!(
        app.get("/api/v1/setup/status", None).await.json(),
        json!({"completed": false})
    );
    let cookie = app.setup_admin().await;
    assert_eq!(
        app.get("/api/v1/setup/status", None).await.json(),
        json!({"completed": true})
    );

    let me = app.get("/api/v1/auth/me", Some(&cookie)).await;
    assert_eq!(me.status, StatusCode::OK);
    let me = me.json();
    assert_eq!(me["username"], "admin");
    assert_eq!(me["name"], "Ada Admin");
    assert_eq!(me["email"], "admin@example.org");
    assert_eq!(me["isAdmin"], true);
    assert_eq!(me["hasPassword"], true);
    assert_eq!(me["oidcLink"], serde_json::Value::Null);
    let perms = me["permissions"].as_object().unwrap();
    assert_eq!(perms.len(), 26);
    assert!(perms.values().all(|v| v == true));
    assert!(me.get("passwordHash").is_none() && !me.to_string().contains("argon2"));

    let again = app
        .post_json(
            "/api/v1/setup",
            json!({"username": "mallory", "password": "another password"}),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::FORBIDDEN);
    assert_eq!(
        again.json()["message"],
        "Setup is disabled after the first user is created."
    );
    assert_eq!(
        app.login("mallory", "another password").await.status,
        StatusCode::UNAUTHORIZED
    );

    let events = app.audit_events().await;
    assert!(events.iter().any(|e| e["event"] == "SETUP_COMPLETED"));
    assert!(!events
        .iter()
        .any(|e| e.to_string().contains("correct horse")));
}

/// Two servers on one database each get a setup request at the same moment: one admin.
async fn racing_setups_make_one_admin(engine: Engine) {
    let one = TestApp::new(engine).await;
    let other = TestApp::on_database(engine, &one.database_url, |_| {}).await;
    let lock = TableLock::hold(&one, "users").await;
    let barrier = Barrier::new(2);
    let (a, b, ()) = tokio::join!(
        set_up_at(&one, &barrier, "admin1"),
        set_up_at(&other, &barrier, "admin2"),
        release_when_waiting(lock, 2),
    );
    let mut statuses = [a, b];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::FORBIDDEN],
        "one setup made the admin, the other found setup done"
    );
    assert_eq!(one.count("SELECT COUNT(*) FROM users").await, 1);
}

async fn set_up_at(app: &TestApp, barrier: &Barrier, username: &str) -> StatusCode {
    barrier.wait().await;
    app.post_json(
        "/api/v1/setup",
        json!({"username": username, "password": "racing password"}),
        None,
    )
    .await
    .status
}

async fn setup_validates_every_field(engine: Engine) {
    let app = TestApp::new(engine).await;
    let r = app
        .post_json(
            "/api/v1/setup",
            json!({"email": "not-an-email", "password": "short"}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let body = r.json();
    assert_eq!(body["status"], 400);
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["username", "email", "password"]);
    assert_eq!(
        body["errors"][2]["message"],
        "Password must be at least 8 characters."
    );

    let long = app
        .post_json(
            "/api/v1/setup",
            json!({"username": "a", "password": "x".repeat(73)}),
            None,
        )
        .await;
    assert_eq!(long.json()["errors"][0]["field"], "password");

    let malformed = app
        .send(crate::common::json_request(
            axum::http::Method::POST,
            "/api/v1/setup",
            &json!(null),
            None,
        ))
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.json()["errors"][0]["field"], "body");

    let broken = app
        .send(
            axum::http::Request::post("/api/v1/setup")
                .header("content-type", "application/json")
                .body(axum::body::Body::from("{\"username\": "))
                .unwrap(),
        )
        .await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        broken.json()["errors"][0]["message"],
        "The request body is not valid JSON."
    );

    assert_eq!(
        app.get("/api/v1/setup/status", None).await.json()["completed"],
        false
    );
}

async fn setup_needs_the_token_off_loopback(engine: Engine) {
    let app = TestApp::with_settings(engine, |raw| raw.bind = Some("0.0.0.0:0".to_owned())).await;
    let token = app
        .state
        .setup_token
        .clone()
        .expect("a token is made when not on loopback");
    let body = |t: &str| json!({"username": "admin", "password": "long enough", "setupToken": t});
    let missing = app
        .post_json(
            "/api/v1/setup",
            json!({"username": "admin", "password": "long enough"}),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    let wrong = app.post_json("/api/v1/setup", body("guess"), None).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong.json()["errors"][0]["field"], "setupToken");
    let right = app.post_json("/api/v1/setup", body(&token), None).await;
    assert_eq!(right.status, StatusCode::CREATED, "{}", right.text());
}

fn setup_request(
    body: &serde_json::Value,
    forwarded_for: Option<&str>,
) -> axum::http::Request<axum::body::Body> {
    let mut b = axum::http::Request::post("/api/v1/setup")
        .header("content-type", "application/json")
        .header("host", "127.0.0.1:3000");
    if let Some(f) = forwarded_for {
        b = b.header("x-forwarded-for", f);
    }
    b.body(axum::body::Body::from(body.to_string())).unwrap()
}

/// A server on loopback is reachable from elsewhere through a reverse proxy on its host: then
/// setup asks for the token printed at start, as it does for any client not on this machine.
async fn setup_from_elsewhere_needs_the_token_whatever_the_bind(engine: Engine) {
    let app = TestApp::with_settings(engine, |raw| {
        raw.trusted_proxies = Some("10.0.0.0/8".to_owned())
    })
    .await;
    let token = app
        .state
        .setup_token
        .clone()
        .expect("no admin yet: a token");
    let admin = json!({"username": "admin", "password": "long enough"});
    let refused = |r: &crate::common::Reply, how: &str| {
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{how}: {}", r.text());
        assert_eq!(r.json()["errors"][0]["field"], "setupToken", "{how}");
    };
    // An untrusted proxy on this host forwarding someone.
    refused(
        &app.send_from(setup_request(&admin, Some("203.0.113.5")), "127.0.0.1")
            .await,
        "untrusted proxy on loopback",
    );
    // A trusted proxy forwarding a remote client.
    refused(
        &app.send_from(setup_request(&admin, Some("198.51.100.7")), "10.0.0.2")
            .await,
        "trusted proxy",
    );
    // A client elsewhere, directly.
    refused(
        &app.send_from(setup_request(&admin, None), "192.0.2.10")
            .await,
        "remote client",
    );
    // The setup page tells each of them so.
    let page = app
        .send_from(
            axum::http::Request::get("/setup")
                .header("x-forwarded-for", "198.51.100.7")
                .body(axum::body::Body::empty())
                .unwrap(),
            "10.0.0.2",
        )
        .await;
    assert!(
        page.text().contains("\"setupTokenRequired\":true"),
        "{}",
        page.text()
    );
    assert!(app
        .get("/setup", None)
        .await
        .text()
        .contains("\"setupTokenRequired\":false"));
    assert_eq!(
        app.get("/api/v1/setup/status", None).await.json()["completed"],
        false
    );

    let mut with_token = admin.clone();
    with_token["setupToken"] = json!(token.to_string());
    let r = app
        .send_from(setup_request(&with_token, Some("198.51.100.7")), "10.0.0.2")
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}
