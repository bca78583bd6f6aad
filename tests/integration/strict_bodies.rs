//! A JSON body member the endpoint does not know is refused by name, and nothing is saved:
//! a typo or a field of a newer client never looks accepted.

use crate::common::{json_request, Engine, TestApp};
use crate::on_both_engines;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

on_both_engines!(
    unknown_members_are_refused_by_name_before_setup,
    unknown_members_are_refused_by_name_everywhere
);

/// Sends `body` with two members no endpoint has, and checks the 400 names both.
async fn refused(app: &TestApp, method: Method, path: &str, mut body: Value, cookie: Option<&str>) {
    body["colour"] = json!("blue");
    body["isAdmn"] = json!(true);
    let r = app
        .send(json_request(method.clone(), path, &body, cookie))
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "{method} {path}: {}",
        r.text()
    );
    let errors = r.json()["errors"].clone();
    assert_eq!(
        errors,
        json!([
            {"field": "colour", "message": "Unknown field."},
            {"field": "isAdmn", "message": "Unknown field."}
        ]),
        "{method} {path}"
    );
}

async fn unknown_members_are_refused_by_name_before_setup(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = json!({"username": "admin", "email": "admin@example.org", "name": "Ada", "password": "correct horse battery"});
    refused(&app, Method::POST, "/api/v1/setup", admin.clone(), None).await;
    refused(&app, Method::POST, "/api/ui/setup", admin, None).await;
    assert_eq!(
        app.get("/api/v1/setup/status", None).await.json()["completed"],
        false
    );
}

async fn unknown_members_are_refused_by_name_everywhere(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let a = Some(admin.as_str());
    let credentials = json!({"username": "admin", "password": "correct horse battery"});
    for path in ["/api/v1/auth/login", "/api/ui/login"] {
        let body = {
            let mut b = credentials.clone();
            b["rememberMe"] = json!(true);
            b
        };
        let r = app.post_json(path, body, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(r.json()["errors"][0]["field"], "rememberMe");
        assert!(r.session_cookie().is_none(), "{path} signed in");
    }
    refused(
        &app,
        Method::POST,
        "/api/v1/auth/password",
        json!({"currentPassword": "correct horse battery", "newPassword": "another long password"}),
        a,
    )
    .await;
    assert_eq!(
        app.login("admin", "correct horse battery").await.status,
        StatusCode::OK
    );

    refused(
        &app,
        Method::POST,
        "/api/v1/admin/users",
        json!({"username": "bob"}),
        a,
    )
    .await;
    let users = app.get("/api/v1/admin/users", a).await.json();
    assert_eq!(users.as_array().unwrap().len(), 1, "no user was created");
    let bob = app
        .create_user(&admin, json!({"username": "bob", "name": "Bob"}))
        .await;
    let bob_path = format!("/api/v1/admin/users/{}", bob["id"]);
    refused(&app, Method::PUT, &bob_path, json!({"name": "Robert"}), a).await;
    assert_eq!(app.get(&bob_path, a).await.json()["name"], "Bob");

    refused(
        &app,
        Method::POST,
        "/api/v1/admin/libraries",
        json!({"name": "Fantasy"}),
        a,
    )
    .await;
    assert_eq!(
        app.get("/api/v1/admin/libraries", a).await.json(),
        json!([])
    );
    let library = app
        .post_json("/api/v1/admin/libraries", json!({"name": "Fantasy"}), a)
        .await
        .json();
    let library_path = format!("/api/v1/admin/libraries/{}", library["id"]);
    refused(
        &app,
        Method::PUT,
        &library_path,
        json!({"name": "Sci-Fi"}),
        a,
    )
    .await;
    assert_eq!(
        app.get("/api/v1/admin/libraries", a).await.json()[0]["name"],
        "Fantasy"
    );

    refused(
        &app,
        Method::POST,
        "/api/v1/admin/oidc-group-mappings",
        json!({"groupClaim": "readers"}),
        a,
    )
    .await;
    assert_eq!(
        app.get("/api/v1/admin/oidc-group-mappings", a).await.json(),
        json!([])
    );
    let mapping = app
        .post_json(
            "/api/v1/admin/oidc-group-mappings",
            json!({"groupClaim": "readers"}),
            a,
        )
        .await
        .json();
    let mapping_path = format!("/api/v1/admin/oidc-group-mappings/{}", mapping["id"]);
    refused(
        &app,
        Method::PUT,
        &mapping_path,
        json!({"groupClaim": "writers"}),
        a,
    )
    .await;
    assert_eq!(
        app.get("/api/v1/admin/oidc-group-mappings", a).await.json()[0]["groupClaim"],
        "readers"
    );

    let before = app.get("/api/v1/settings/oidc", a).await.json();
    refused(
        &app,
        Method::PUT,
        "/api/v1/settings/oidc",
        json!({"providerName": "Authentik"}),
        a,
    )
    .await;
    // A member of a nested object is named with its path.
    let r = app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"claimMapping": {"usrname": "preferred_username"}}),
            a,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json()["errors"],
        json!([{"field": "claimMapping.usrname", "message": "Unknown field."}])
    );
    assert_eq!(
        app.get("/api/v1/settings/oidc", a).await.json(),
        before,
        "nothing saved"
    );
    refused(
        &app,
        Method::POST,
        "/api/v1/settings/oidc/test",
        json!({"issuerUri": "https://idp.example.com/"}),
        a,
    )
    .await;
    assert!(app
        .audit_events()
        .await
        .iter()
        .all(|e| e["event"] != "OIDC_CONFIG_CHANGED" && e["event"] != "OIDC_CONNECTION_TEST"));
}
