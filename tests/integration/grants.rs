//! App grants (spec section 11.1): app passwords over HTTP Basic, scopes, where grant
//! credentials may not go, revocation by the user and by an admin, and a revocation seen at
//! once by another server on the same database.

use crate::common::{Engine, Reply, TestApp};
use crate::on_both_engines;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

on_both_engines!(
    app_passwords_work_over_basic_and_nowhere_else,
    grant_credentials_never_reach_admin_settings_or_grant_endpoints,
    read_scope_is_get_only,
    failed_basic_attempts_count_against_the_sign_in_limits,
    admins_revoke_grants_and_sign_users_out_everywhere,
    deleting_a_user_ends_their_grants,
    a_revocation_is_seen_at_once_by_another_server,
    a_mobile_grant_refreshes_like_any_other,
);

pub const READER: &str = "reader";
pub const READER_PASSWORD: &str = "reader password 1";

pub fn basic(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{username}:{password}"))
    )
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Sends a request with an `Authorization` header (and a JSON body when given).
pub async fn send_as(
    app: &TestApp,
    method: Method,
    path: &str,
    authorization: &str,
    body: Option<Value>,
) -> Reply {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, authorization);
    let body = match body {
        Some(v) => {
            b = b.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    app.send(b.body(body).unwrap()).await
}

pub async fn get_as(app: &TestApp, path: &str, authorization: &str) -> Reply {
    send_as(app, Method::GET, path, authorization, None).await
}

/// The admin, and a reader with a password and one library; answers (admin cookie, reader
/// cookie, reader id).
pub async fn admin_and_reader(app: &TestApp) -> (String, String, i64) {
    let admin = app.setup_admin().await;
    let library = app
        .post_json(
            "/api/v1/admin/libraries",
            json!({"name": "Atlas"}),
            Some(&admin),
        )
        .await
        .json();
    app.post_json(
        "/api/v1/admin/libraries",
        json!({"name": "Hidden"}),
        Some(&admin),
    )
    .await;
    let reader = app
        .create_user(
            &admin,
            json!({"username": READER, "password": READER_PASSWORD, "libraryIds": [library["id"]]}),
        )
        .await;
    let cookie = app.cookie_for(READER, READER_PASSWORD).await;
    (admin, cookie, reader["id"].as_i64().unwrap())
}

/// Creates an app password with the session `cookie`; answers the reply.
pub async fn create_app_password(app: &TestApp, cookie: &str, body: Value) -> Reply {
    app.post_json("/api/v1/auth/app-passwords", body, Some(cookie))
        .await
}

/// Creates a full-scope app password for the reader; answers (grant, password).
pub async fn reader_app_password(app: &TestApp, cookie: &str, name: &str) -> (Value, String) {
    let r = create_app_password(
        app,
        cookie,
        json!({"name": name, "scope": "full", "password": READER_PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let body = r.json();
    (
        body["grant"].clone(),
        body["password"].as_str().unwrap().to_owned(),
    )
}

pub async fn events(app: &TestApp, event: &str) -> Vec<Value> {
    app.audit_events()
        .await
        .into_iter()
        .filter(|e| e["event"] == event)
        .collect()
}

pub async fn revocation_reasons(app: &TestApp) -> Vec<String> {
    events(app, "GRANT_REVOKED")
        .await
        .iter()
        .map(|e| e["details"]["reason"].as_str().unwrap().to_owned())
        .collect()
}

async fn app_passwords_work_over_basic_and_nowhere_else(engine: Engine) {
    let app = TestApp::new(engine).await;
    let (_, cookie, reader_id) = admin_and_reader(&app).await;

    // The user's own password confirms; a missing or wrong one does not.
    for (body, field) in [
        (json!({"name": "OPDS", "scope": "full"}), "password"),
        (
            json!({"name": "OPDS", "scope": "full", "password": "wrong"}),
            "password",
        ),
        (
            json!({"name": " ", "scope": "full", "password": READER_PASSWORD}),
            "name",
        ),
        (
            json!({"name": "x".repeat(65), "password": READER_PASSWORD}),
            "name",
        ),
        (
            json!({"name": "OPDS", "scope": "write", "password": READER_PASSWORD}),
            "scope",
        ),
    ] {
        let r = create_app_password(&app, &cookie, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text());
        assert_eq!(r.json()["errors"][0]["field"], field, "{body}");
    }
    let r = create_app_password(&app, "grimmory_session=nobody", json!({"name": "OPDS"})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let (grant, password) = reader_app_password(&app, &cookie, "  KOReader OPDS ").await;
    assert_eq!(grant["kind"], "app_password");
    assert_eq!(grant["name"], "KOReader OPDS");
    assert_eq!(grant["scope"], "full");
    assert_eq!(grant["viaOidc"], false);
    assert_eq!(grant["lastUsedAt"], Value::Null);
    let groups: Vec<&str> = password.split('-').collect();
    assert_eq!(groups.len(), 5, "{password}");
    assert!(groups.iter().all(|g| g.len() == 5), "{password}");
    let created = events(&app, "GRANT_CREATED").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["details"]["kind"], "app_password");
    assert_eq!(created[0]["details"]["name"], "KOReader OPDS");
    assert_eq!(created[0]["details"]["scope"], "full");
    assert!(!created[0].to_string().contains(&password));

    // Basic with the username and the app password: the caller's libraries, and who they are.
    let auth = basic(READER, &password);
    let r = get_as(&app, "/api/v1/libraries", &auth).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json(),
        json!([{"id": r.json()[0]["id"], "name": "Atlas"}])
    );
    let r = get_as(&app, "/api/v1/auth/me", &auth).await;
    assert_eq!(r.json()["username"], READER);
    // Typed by hand: case and dashes do not matter.
    let typed = password.replace('-', "").to_uppercase();
    assert_eq!(
        get_as(&app, "/api/v1/libraries", &basic(READER, &typed))
            .await
            .status,
        StatusCode::OK
    );
    // The same session sees it, with its last use.
    let listed = app.get("/api/v1/auth/grants", Some(&cookie)).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["lastUsedIp"], "127.0.0.1");
    assert!(listed[0]["lastUsedAt"].is_string());

    // Wrong username, wrong app password, the account's own password: 401 with a Basic
    // challenge, each audited with its method.
    for auth in [
        basic("admin", &password),
        basic(READER, "k7mq2-x9d4w-aaaaa-bbbbb-ccccc"),
        basic(READER, READER_PASSWORD),
    ] {
        let r = get_as(&app, "/api/v1/libraries", &auth).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth}");
        let challenge = r.headers.get(header::WWW_AUTHENTICATE).unwrap();
        assert!(challenge.to_str().unwrap().starts_with("Basic realm="));
    }
    let failed = events(&app, "LOGIN_FAILED").await;
    assert_eq!(failed.len(), 3);
    assert!(failed
        .iter()
        .all(|e| e["details"]["method"] == "app_password"));
    assert!(failed.iter().all(|e| !e.to_string().contains(&password)));

    // Never accepted where the account's password is asked for: JSON and the form.
    let r = app.login(READER, &password).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    assert!(r.session_cookie().is_none());
    let r = app
        .post_form(
            "/api/v1/auth/login",
            &[("username", READER), ("password", &password)],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().unwrap().contains("error=invalid_credentials"));
    assert!(r.session_cookie().is_none());

    // Renamed, then revoked by its owner: it stops working at once.
    let id = grant["id"].as_i64().unwrap();
    let path = format!("/api/v1/auth/grants/{id}");
    let r = app
        .send(crate::common::json_request(
            Method::PATCH,
            &path,
            &json!({"name": "Reader app"}),
            Some(&cookie),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["name"], "Reader app");
    let r = app
        .send(crate::common::json_request(
            Method::PATCH,
            &path,
            &json!({"name": ""}),
            Some(&cookie),
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app.delete(&path, Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // From another address: this one has used up its sign-in allowance for the reader.
    let req = Request::get("/api/v1/libraries")
        .header(header::AUTHORIZATION, basic(READER, &password))
        .body(Body::empty())
        .unwrap();
    let r = app.send_from(req, "198.51.100.9").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.delete(&path, Some(&cookie)).await.status,
        StatusCode::NOT_FOUND
    );
    let listed = app.get("/api/v1/auth/grants", Some(&cookie)).await.json();
    assert_eq!(listed, json!([]));
    let revoked = events(&app, "GRANT_REVOKED").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["details"]["reason"], "user");
    assert_eq!(revoked[0]["targetUserId"], reader_id);
    assert_eq!(revoked[0]["actorUserId"], reader_id);
}

async fn grant_credentials_never_reach_admin_settings_or_grant_endpoints(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let r = create_app_password(
        &app,
        &admin,
        json!({"name": "Admin's OPDS", "password": "correct horse battery"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let body = r.json();
    let grant_id = body["grant"]["id"].as_i64().unwrap();
    let auth = basic("admin", body["password"].as_str().unwrap());
    // The admin's own app password is still only an app's: 403 everywhere a session is needed.
    for (method, path, body) in [
        (Method::GET, "/api/v1/admin/users".to_owned(), None),
        (Method::GET, "/api/v1/admin/audit".to_owned(), None),
        (
            Method::POST,
            "/api/v1/admin/users".to_owned(),
            Some(json!({"username": "mallory", "password": "mallory password"})),
        ),
        (Method::GET, "/api/v1/settings/oidc".to_owned(), None),
        (
            Method::PUT,
            "/api/v1/settings/oidc".to_owned(),
            Some(json!({"oidcEnabled": false})),
        ),
        (Method::GET, "/api/v1/auth/grants".to_owned(), None),
        (
            Method::PATCH,
            format!("/api/v1/auth/grants/{grant_id}"),
            Some(json!({"name": "x"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/auth/grants/{grant_id}"),
            None,
        ),
        (
            Method::POST,
            "/api/v1/auth/app-passwords".to_owned(),
            Some(json!({"name": "more", "password": "correct horse battery"})),
        ),
        (
            Method::POST,
            "/api/v1/auth/device/approve".to_owned(),
            Some(json!({"userCode": "BCDF-GHJK", "allow": true})),
        ),
        (
            Method::POST,
            "/api/v1/auth/password".to_owned(),
            Some(
                json!({"currentPassword": "correct horse battery", "newPassword": "another password"}),
            ),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/users/{}/sign-out-everywhere", 1),
            None,
        ),
    ] {
        let r = send_as(&app, method.clone(), &path, &auth, body).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            r.text()
        );
    }
    // Nothing changed: the grant is there, named as it was, and the only one.
    let listed = app.get("/api/v1/auth/grants", Some(&admin)).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "Admin's OPDS");
    assert_eq!(
        app.get("/api/v1/admin/users", Some(&admin))
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // No CSRF check on app credentials (nothing ambient), while a cookie from another site
    // is refused as before.
    let cross_site = |authorization: Option<&str>, cookie: Option<&str>| {
        let mut b = Request::post("/api/v1/auth/logout").header("origin", "https://evil.example");
        if let Some(a) = authorization {
            b = b.header(header::AUTHORIZATION, a);
        }
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        b.body(Body::empty()).unwrap()
    };
    assert_eq!(
        app.send(cross_site(Some(&auth), None)).await.status,
        StatusCode::OK
    );
    let r = app.send(cross_site(None, Some(&admin))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The session stayed: an app credential is the app's, never the session beside it.
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&admin)).await.status,
        StatusCode::OK
    );
}

async fn read_scope_is_get_only(engine: Engine) {
    let app = TestApp::new(engine).await;
    let (_, cookie, _) = admin_and_reader(&app).await;
    let r = create_app_password(
        &app,
        &cookie,
        json!({"name": "Reader", "scope": "read", "password": READER_PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["grant"]["scope"], "read");
    let auth = basic(READER, r.json()["password"].as_str().unwrap());
    assert_eq!(
        get_as(&app, "/api/v1/libraries", &auth).await.status,
        StatusCode::OK
    );
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let r = send_as(&app, method.clone(), "/api/v1/auth/logout", &auth, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method}");
        assert!(r.json()["message"].as_str().unwrap().contains("read-only"));
    }
    // A full-scope one may post.
    let (_, full) = reader_app_password(&app, &cookie, "Full").await;
    let r = send_as(
        &app,
        Method::POST,
        "/api/v1/auth/logout",
        &basic(READER, &full),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

async fn failed_basic_attempts_count_against_the_sign_in_limits(engine: Engine) {
    let app = TestApp::new(engine).await;
    let (_, cookie, _) = admin_and_reader(&app).await;
    let (_, password) = reader_app_password(&app, &cookie, "OPDS").await;
    let wrong = basic(READER, "not-an-app-password");
    for _ in 0..5 {
        assert_eq!(
            get_as(&app, "/api/v1/libraries", &wrong).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let r = get_as(&app, "/api/v1/libraries", &wrong).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    // The same allowance as the sign-in form: it is used up there too.
    assert_eq!(
        app.login(READER, READER_PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A good app password (125 random bits) still works: only failures are counted.
    assert_eq!(
        get_as(&app, "/api/v1/libraries", &basic(READER, &password))
            .await
            .status,
        StatusCode::OK
    );
    // Another client is not held back.
    let req = Request::get("/api/v1/libraries")
        .header(header::AUTHORIZATION, &wrong)
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.send_from(req, "198.51.100.7").await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn admins_revoke_grants_and_sign_users_out_everywhere(engine: Engine) {
    let app = TestApp::new(engine).await;
    let (admin, cookie, reader_id) = admin_and_reader(&app).await;
    let (first, first_password) = reader_app_password(&app, &cookie, "One").await;
    let (_, second_password) = reader_app_password(&app, &cookie, "Two").await;
    let path = format!("/api/v1/admin/users/{reader_id}/grants");
    let listed = app.get(&path, Some(&admin)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
    assert_eq!(listed.json().as_array().unwrap().len(), 2);
    assert_eq!(
        app.get(&path, Some(&cookie)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/admin/users/999/grants", Some(&admin))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // One grant, by the admin.
    let one = format!("{path}/{}", first["id"]);
    assert_eq!(
        app.delete(&one, Some(&cookie)).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app.delete(&one, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        app.delete(&one, Some(&admin)).await.status,
        StatusCode::NOT_FOUND
    );
    let other_users = format!("/api/v1/admin/users/1/grants/{}", first["id"]);
    assert_eq!(
        app.delete(&other_users, Some(&admin)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get_as(&app, "/api/v1/libraries", &basic(READER, &first_password))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_as(&app, "/api/v1/libraries", &basic(READER, &second_password))
            .await
            .status,
        StatusCode::OK
    );

    // Everything of the user at once: sessions and grants.
    let everywhere = format!("/api/v1/admin/users/{reader_id}/sign-out-everywhere");
    let r = app.post_json(&everywhere, json!({}), Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .send(
            Request::post(&everywhere)
                .header(header::COOKIE, &admin)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_as(&app, "/api/v1/libraries", &basic(READER, &second_password))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&admin)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        revocation_reasons(&app).await,
        vec!["sign_out_everywhere", "admin"],
        "newest first"
    );
    let revoked = events(&app, "GRANT_REVOKED").await;
    assert!(revoked
        .iter()
        .all(|e| e["actorUserId"] == 1 && e["targetUserId"] == reader_id));
}

async fn deleting_a_user_ends_their_grants(engine: Engine) {
    let app = TestApp::new(engine).await;
    let (admin, cookie, reader_id) = admin_and_reader(&app).await;
    let (_, password) = reader_app_password(&app, &cookie, "OPDS").await;
    let r = app
        .delete(&format!("/api/v1/admin/users/{reader_id}"), Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        get_as(&app, "/api/v1/libraries", &basic(READER, &password))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(revocation_reasons(&app).await, vec!["user_deleted"]);
    assert_eq!(app.count("SELECT COUNT(*) FROM app_grants").await, 0);
}

async fn a_revocation_is_seen_at_once_by_another_server(engine: Engine) {
    let a = TestApp::new(engine).await;
    let (_, cookie, _) = admin_and_reader(&a).await;
    let (grant, password) = reader_app_password(&a, &cookie, "OPDS").await;
    let b = TestApp::on_database(engine, &a.database_url, |_| {}).await;
    let auth = basic(READER, &password);
    assert_eq!(
        get_as(&b, "/api/v1/libraries", &auth).await.status,
        StatusCode::OK
    );
    let r = a
        .delete(
            &format!("/api/v1/auth/grants/{}", grant["id"]),
            Some(&cookie),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // No wait at all: B reads the grant on every request.
    assert_eq!(
        get_as(&b, "/api/v1/libraries", &auth).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn a_mobile_grant_refreshes_like_any_other(engine: Engine) {
    use grimmory::grants::{tokens, Kind};
    let app = TestApp::new(engine).await;
    let (_, cookie, reader_id) = admin_and_reader(&app).await;
    // What the mobile flow (spec section 11.2) does once the provider has signed the user in.
    let pair = tokens::grant_with_tokens(
        &app.state,
        reader_id,
        Kind::Mobile,
        "Pixel 8",
        None,
        "192.0.2.1",
    )
    .await
    .unwrap();
    assert_eq!(pair.expires_in, 3600);
    let r = get_as(&app, "/api/v1/auth/me", &bearer(&pair.access_token)).await;
    assert_eq!(r.json()["username"], READER);
    let listed = app.get("/api/v1/auth/grants", Some(&cookie)).await.json();
    assert_eq!(listed[0]["kind"], "mobile");
    assert_eq!(listed[0]["name"], "Pixel 8");
    let created = events(&app, "GRANT_CREATED").await;
    assert_eq!(created[0]["clientIp"], "192.0.2.1");
    let r = app
        .post_json(
            "/api/v1/auth/refresh",
            json!({"refreshToken": pair.refresh_token}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let access = r.json()["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(
        get_as(&app, "/api/v1/libraries", &bearer(&access))
            .await
            .status,
        StatusCode::OK
    );
    let r = app.post_json("/api/v1/auth/refresh", json!({}), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
