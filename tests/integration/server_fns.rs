//! The server functions: the UI's own calls under /api/ui, and the contract endpoints they
//! serve, which answer exactly like the REST handlers they replaced.

use crate::common::{json_request, Engine, TestApp};
use crate::on_both_engines;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

on_both_engines!(
    the_ui_signs_in_and_out_through_the_same_services,
    contract_endpoints_read_bodies_like_rest,
);

const PW: &str = "correct horse battery";

async fn the_ui_signs_in_and_out_through_the_same_services(engine: Engine) {
    let app = TestApp::new(engine).await;
    let setup = app
        .post_json(
            "/api/ui/setup",
            json!({"username": "admin", "name": "Ada", "password": PW}),
            None,
        )
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.text());
    assert_eq!(setup.json()["isAdmin"], true);
    assert!(setup.session_cookie().is_some());

    let wrong = app
        .post_json(
            "/api/ui/login",
            json!({"username": "admin", "password": "nope nope"}),
            None,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json()["message"], "Invalid username or password");
    let missing = app.post_json("/api/ui/login", json!({}), None).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.json()["errors"][0]["field"], "username");

    let signed_in = app
        .post_json(
            "/api/ui/login",
            json!({"username": "admin", "password": PW}),
            None,
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::OK);
    let cookie = signed_in
        .session_cookie()
        .expect("the session cookie is set");
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&cookie)).await.status,
        StatusCode::OK
    );

    let out = app
        .post_json("/api/ui/logout", json!({}), Some(&cookie))
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(out.json()["logoutUrl"], "/login?signedOut=1");
    let cleared = out.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let events = app.audit_events().await;
    assert!(events.iter().any(|e| e["event"] == "LOGOUT"));
}

async fn contract_endpoints_read_bodies_like_rest(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let send = |content_type: &'static str, body: &'static str| {
        Request::post("/api/v1/admin/libraries")
            .header("content-type", content_type)
            .header("cookie", &admin)
            .body(Body::from(body))
            .unwrap()
    };
    let body_error = |r: &crate::common::Reply| {
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
        assert_eq!(r.json()["errors"][0]["field"], "body");
        r.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let plain = app.send(send("text/plain", "{\"name\": \"A\"}")).await;
    assert_eq!(
        body_error(&plain),
        "Send the body as JSON (Content-Type: application/json)."
    );
    let null = app.send(send("application/json", "null")).await;
    assert_eq!(body_error(&null), "The request body must be a JSON object.");
    let broken = app.send(send("application/json", "{\"name\": ")).await;
    assert_eq!(body_error(&broken), "The request body is not valid JSON.");
    let wrong = app.send(send("application/json", "{\"name\": 5}")).await;
    assert!(body_error(&wrong).starts_with("A field has the wrong type: "));

    let created = app
        .post_json(
            "/api/v1/admin/libraries",
            json!({"name": "Atlas"}),
            Some(&admin),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.json()["id"].as_i64().unwrap();
    let renamed = app
        .put_json(
            &format!("/api/v1/admin/libraries/{id}"),
            json!({"name": "Atlas II", "id": 999}),
            Some(&admin),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(renamed.json(), json!({"id": id, "name": "Atlas II"}));
    let not_an_id = app
        .put_json(
            "/api/v1/admin/libraries/abc",
            json!({"name": "X"}),
            Some(&admin),
        )
        .await;
    assert_eq!(not_an_id.status, StatusCode::NOT_FOUND);
    assert_eq!(not_an_id.json()["status"], 404);
    let deleted = app
        .delete(&format!("/api/v1/admin/libraries/{id}"), Some(&admin))
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.json(), json!({}));

    let wrong_method = app.get("/api/v1/settings/oidc/test", Some(&admin)).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.json()["status"], 405);

    let mut cross_site = json_request(
        Method::POST,
        "/api/v1/admin/libraries",
        &json!({"name": "Evil"}),
        Some(&admin),
    );
    cross_site
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(app.send(cross_site).await.status, StatusCode::FORBIDDEN);
}
