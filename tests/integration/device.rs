//! Device sign-in (RFC 8628, spec section 11.3) and the token pairs of grants: the token
//! endpoint's answers and errors, `slow_down`, wrong user codes, refresh rotation and reuse,
//! the JSON refresh of the mobile app, expiry and idleness.

use crate::common::{Engine, Reply, TestApp};
use crate::grants::{
    admin_and_reader, bearer, events, get_as, revocation_reasons, READER, READER_PASSWORD,
};
use crate::on_both_engines;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};

on_both_engines!(
    a_device_signs_in_with_a_user_code,
    the_token_endpoint_answers_in_rfc_terms,
    denied_expired_and_used_codes_say_so,
    wrong_user_codes_are_limited,
    device_sign_ins_count_as_sign_ins_started,
    refresh_tokens_rotate_and_a_reused_one_revokes_the_grant,
    access_tokens_expire_and_unused_grants_end,
);

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const LETTERS: &str = "BCDFGHJKLMNPQRSTVWXZ";
/// A code that is never issued (vowel-free letters, but no pending request has it).
const UNKNOWN_CODE: &str = "BBBB-BBBB";

pub async fn device_code(app: &TestApp, client_name: &str) -> Value {
    let r = app
        .post_form(
            "/api/v1/auth/device/code",
            &[("client_name", client_name)],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

pub async fn poll(app: &TestApp, device_code: &str) -> Reply {
    app.post_form(
        "/api/v1/auth/token",
        &[("grant_type", DEVICE_GRANT), ("device_code", device_code)],
        None,
    )
    .await
}

#[track_caller]
pub fn oauth_error(r: &Reply, code: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_eq!(r.json()["error"], code, "{}", r.text());
    assert!(r.json()["error_description"].is_string());
    assert_eq!(
        r.headers.get(header::CACHE_CONTROL).unwrap(),
        "no-store",
        "token answers are never cached"
    );
}

pub async fn approve(app: &TestApp, cookie: &str, body: Value) -> Reply {
    app.post_json("/api/v1/auth/device/approve", body, Some(cookie))
        .await
}

/// Connects a device for the reader (password confirmation); answers the token answer.
pub async fn connect(app: &TestApp, cookie: &str) -> Value {
    let code = device_code(app, "Kobo Libra").await;
    let r = approve(
        app,
        cookie,
        json!({"userCode": code["user_code"], "allow": true, "password": READER_PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = poll(app, code["device_code"].as_str().unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

pub async fn refresh_grant(app: &TestApp, refresh_token: &str) -> Reply {
    app.post_form(
        "/api/v1/auth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
        None,
    )
    .await
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

async fn a_device_signs_in_with_a_user_code(engine: Engine) {
    let app = TestApp::new(engine).await;
    let (_, cookie, reader_id) = admin_and_reader(&app).await;

    let code = device_code(&app, "KOReader").await;
    let user_code = str_of(&code, "user_code");
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert!(
        user_code
            .replace('-', "")
            .chars()
            .all(|c| LETTERS.contains(c)),
        "{user_code}"
    );
    assert_eq!(code["expires_in"], 600);
    assert_eq!(code["interval"], 5);
    assert!(str_of(&code, "verification_uri").ends_with("/device"));
    assert_eq!(
        str_of(&code, "verification_uri_complete"),
        format!("{}?code={user_code}", str_of(&code, "verification_uri"))
    );
    assert!(str_of(&code, "device_code").len() >= 43, "256 bits");

    // The first poll may come at once; the code is not allowed yet.
    let device = str_of(&code, "device_code");
    oauth_error(&poll(&app, device).await, "authorization_pending");

    // Allowed with the code typed loosely, confirmed with the reader's password.
    let typed = user_code.replace('-', " ").to_lowercase();
    let r = approve(&app, &cookie, json!({"userCode": typed, "allow": true})).await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "a password is needed: {}",
        r.text()
    );
    assert_eq!(r.json()["errors"][0]["field"], "password");
    let r = approve(
        &app,
        &cookie,
        json!({"userCode": typed, "allow": true, "password": READER_PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["clientName"], "KOReader");
    assert_eq!(r.json()["grant"]["kind"], "device");
    assert_eq!(r.json()["grant"]["name"], "KOReader");

    app.clock.advance_ms(5_000);
    let r = poll(&app, device).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let tokens = r.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    let access = str_of(&tokens, "access_token");
    assert!(access.len() >= 43 && str_of(&tokens, "refresh_token").len() >= 43);

    // Stored as hashes only.
    let stored = |column: &str, value: &str| {
        format!("SELECT COUNT(*) FROM app_grants WHERE {column} = '{value}'")
    };
    let refresh = str_of(&tokens, "refresh_token");
    assert_eq!(app.count(&stored("access_hash", access)).await, 0);
    assert_eq!(app.count(&stored("refresh_hash", refresh)).await, 0);
    let hash = grimmory::auth::session::hash_token;
    assert_eq!(app.count(&stored("access_hash", &hash(access))).await, 1);
    assert_eq!(app.count(&stored("refresh_hash", &hash(refresh))).await, 1);

    // The token reaches what an app shows first, as the reader.
    let r = get_as(&app, "/api/v1/libraries", &bearer(access)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()[0]["name"], "Atlas");
    assert_eq!(
        get_as(&app, "/api/v1/auth/me", &bearer(access))
            .await
            .json()["id"],
        reader_id
    );
    // Never admin, settings or grant management, whoever the user is.
    for path in [
        "/api/v1/admin/users",
        "/api/v1/settings/oidc",
        "/api/v1/auth/grants",
    ] {
        let r = get_as(&app, path, &bearer(access)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    let listed = app.get("/api/v1/auth/grants", Some(&cookie)).await.json();
    assert_eq!(listed[0]["kind"], "device");
    assert_eq!(listed[0]["scope"], "full");
    assert_eq!(listed[0]["lastUsedIp"], "127.0.0.1");
    assert_eq!(
        events(&app, "GRANT_CREATED").await[0]["details"]["kind"],
        "device"
    );

    // Single use.
    app.clock.advance_ms(5_000);
    oauth_error(&poll(&app, device).await, "invalid_grant");

    // A bad token gets a Bearer challenge; a device code request may also be JSON or empty.
    let r = get_as(&app, "/api/v1/libraries", &bearer("not-a-token")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let challenge = r.headers.get(header::WWW_AUTHENTICATE).unwrap();
    assert!(challenge.to_str().unwrap().starts_with("Bearer realm="));
    let r = app
        .post_json(
            "/api/v1/auth/device/code",
            json!({"client_name": "Kindle"}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .send(
            Request::post("/api/v1/auth/device/code")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .post_form(
            "/api/v1/auth/device/code",
            &[("client_id", "koreader"), ("scope", "openid")],
            None,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "generic RFC 8628 clients: {}",
        r.text()
    );
}

async fn the_token_endpoint_answers_in_rfc_terms(engine: Engine) {
    let app = TestApp::new(engine).await;
    let code = device_code(&app, "KOReader").await;
    let device = str_of(&code, "device_code");

    // slow_down: a poll sooner than the interval after the previous one, and the interval
    // grows by five seconds each time.
    oauth_error(&poll(&app, device).await, "authorization_pending");
    oauth_error(&poll(&app, device).await, "slow_down");
    app.clock.advance_ms(9_000);
    oauth_error(&poll(&app, device).await, "slow_down");
    app.clock.advance_ms(15_000);
    oauth_error(&poll(&app, device).await, "authorization_pending");
    app.clock.advance_ms(14_000);
    oauth_error(&poll(&app, device).await, "slow_down");
    app.clock.advance_ms(20_000);
    oauth_error(&poll(&app, device).await, "authorization_pending");

    oauth_error(&poll(&app, "no-such-device-code").await, "invalid_grant");
    for form in [
        vec![("device_code", device)],
        vec![("grant_type", "password"), ("username", READER)],
        vec![("grant_type", "authorization_code"), ("code", "x")],
    ] {
        let r = app.post_form("/api/v1/auth/token", &form, None).await;
        let expected = if form[0].0 == "grant_type" {
            "unsupported_grant_type"
        } else {
            "invalid_request"
        };
        oauth_error(&r, expected);
    }
    let r = app
        .post_form("/api/v1/auth/token", &[("grant_type", DEVICE_GRANT)], None)
        .await;
    oauth_error(&r, "invalid_request");
    oauth_error(&refresh_grant(&app, "").await, "invalid_request");
    oauth_error(
        &refresh_grant(&app, "no-such-refresh-token").await,
        "invalid_grant",
    );
    let failed = events(&app, "LOGIN_FAILED").await;
    let methods: Vec<&str> = failed
        .iter()
        .map(|e| e["details"]["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, vec!["refresh_token", "device_code"]);

    // The endpoints of devices take no cookie, so another site's origin does not matter.
    let r = app
        .send(
            Request::post("/api/v1/auth/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", "https://reader.example")
                .body(Body::from(format!(
                    "grant_type={}&device_code={device}",
                    urlencode(DEVICE_GRANT)
                )))
                .unwrap(),
        )
        .await;
    oauth_error(&r, "slow_down");
}

fn urlencode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

async fn denied_expired_and_used_codes_say_so(engine: Engine) {
    let app = TestApp::new(engine).await;
    let (_, cookie, _) = admin_and_reader(&app).await;

    // Denied: no password needed, audited, and the device is told.
    let code = device_code(&app, "Stranger's tablet").await;
    let r = approve(
        &app,
        &cookie,
        json!({"userCode": code["user_code"], "allow": false}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["grant"], Value::Null);
    let denied = events(&app, "DEVICE_CODE_DENIED").await;
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["details"]["clientName"], "Stranger's tablet");
    oauth_error(
        &poll(&app, str_of(&code, "device_code")).await,
        "access_denied",
    );
    // Decided codes cannot be decided again.
    let r = approve(
        &app,
        &cookie,
        json!({"userCode": code["user_code"], "allow": true, "password": READER_PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("already been used"));

    // Expired after ten minutes: the device and the person are told.
    let code = device_code(&app, "Late e-reader").await;
    app.clock.advance_ms(600_000);
    oauth_error(
        &poll(&app, str_of(&code, "device_code")).await,
        "expired_token",
    );
    let r = approve(
        &app,
        &cookie,
        json!({"userCode": code["user_code"], "allow": true, "password": READER_PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["message"].as_str().unwrap().contains("expired"));
    assert!(events(&app, "GRANT_CREATED").await.is_empty());

    // The choice must be given.
    let code = device_code(&app, "Undecided").await;
    let r = approve(&app, &cookie, json!({"userCode": code["user_code"]})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["errors"][0]["field"], "allow");
    // Not signed in: 401.
    let r = approve(
        &app,
        "grimmory_session=nobody",
        json!({"userCode": code["user_code"], "allow": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

async fn wrong_user_codes_are_limited(engine: Engine) {
    let app = TestApp::new(engine).await;
    let (admin, cookie, _) = admin_and_reader(&app).await;
    let code = device_code(&app, "KOReader").await;
    let right = json!({"userCode": code["user_code"], "allow": false});
    for wrong in ["", "nonsense", UNKNOWN_CODE, "CCCC-CCCC", "DDDDDDDD"]
        .iter()
        .cycle()
        .take(10)
    {
        let r = approve(&app, &cookie, json!({"userCode": wrong, "allow": true})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{wrong}: {}", r.text());
        assert_eq!(r.json()["errors"][0]["field"], "userCode");
    }
    // The eleventh try is refused, even with the right code, for this user...
    let r = approve(&app, &cookie, right.clone()).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    // ...and for anyone from this client.
    let r = approve(&app, &admin, right.clone()).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    // The code itself is untouched, and waiting out the window works.
    app.clock.advance_ms(10 * 60_000 + 1);
    let code = device_code(&app, "KOReader").await;
    let r = approve(
        &app,
        &cookie,
        json!({"userCode": code["user_code"], "allow": false}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

async fn device_sign_ins_count_as_sign_ins_started(engine: Engine) {
    let app = TestApp::new(engine).await;
    for _ in 0..grimmory::auth::limits::STARTS_PER_MINUTE {
        device_code(&app, "Flood").await;
    }
    let r = app
        .post_form(
            "/api/v1/auth/device/code",
            &[("client_name", "Flood")],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    app.clock.advance_ms(60_001);
    device_code(&app, "Patient").await;
}

async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_grant(engine: Engine) {
    let app = TestApp::new(engine).await;
    let (_, cookie, _) = admin_and_reader(&app).await;
    let first = connect(&app, &cookie).await;

    // Rotation: a new pair each time; the old access token is replaced.
    let r = refresh_grant(&app, str_of(&first, "refresh_token")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let second = r.json();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    let access = bearer(str_of(&second, "access_token"));
    assert_eq!(
        get_as(&app, "/api/v1/libraries", &access).await.status,
        StatusCode::OK
    );
    assert_eq!(
        get_as(
            &app,
            "/api/v1/libraries",
            &bearer(str_of(&first, "access_token"))
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );

    // The mobile app's JSON flavour rotates the same tokens.
    let r = app
        .post_json(
            "/api/v1/auth/refresh",
            json!({"refreshToken": second["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let third = r.json();
    assert_eq!(third["expires"], 3600);
    let access = bearer(str_of(&third, "accessToken"));
    assert_eq!(
        get_as(&app, "/api/v1/libraries", &access).await.status,
        StatusCode::OK
    );

    // A refresh token used before: the whole grant ends, the newest tokens with it.
    oauth_error(
        &refresh_grant(&app, str_of(&first, "refresh_token")).await,
        "invalid_grant",
    );
    assert_eq!(
        get_as(&app, "/api/v1/libraries", &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    oauth_error(
        &refresh_grant(&app, str_of(&third, "refreshToken")).await,
        "invalid_grant",
    );
    assert_eq!(revocation_reasons(&app).await, vec!["refresh_reuse"]);
    assert_eq!(
        app.get("/api/v1/auth/grants", Some(&cookie)).await.json(),
        json!([])
    );
    let r = app
        .post_json(
            "/api/v1/auth/refresh",
            json!({"refreshToken": third["refreshToken"]}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
}

async fn access_tokens_expire_and_unused_grants_end(engine: Engine) {
    let app = TestApp::new(engine).await;
    let (_, cookie, _) = admin_and_reader(&app).await;
    let tokens = connect(&app, &cookie).await;
    let access = bearer(str_of(&tokens, "access_token"));
    app.clock.advance_ms(3_600_000);
    assert_eq!(
        get_as(&app, "/api/v1/libraries", &access).await.status,
        StatusCode::UNAUTHORIZED,
        "an access token lives an hour"
    );
    let r = refresh_grant(&app, str_of(&tokens, "refresh_token")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let tokens = r.json();

    // Thirty days unused: refused on use, and swept from the lists.
    let (_, password) = crate::grants::reader_app_password(&app, &cookie, "OPDS").await;
    app.clock.advance_ms(30 * 24 * 3_600_000);
    oauth_error(
        &refresh_grant(&app, str_of(&tokens, "refresh_token")).await,
        "invalid_grant",
    );
    assert_eq!(revocation_reasons(&app).await, vec!["idle"]);
    let swept = grimmory::grants::revoke::sweep_idle(&app.state)
        .await
        .unwrap();
    assert_eq!(swept, 1, "the app password");
    assert_eq!(revocation_reasons(&app).await, vec!["idle", "idle"]);
    assert_eq!(
        get_as(
            &app,
            "/api/v1/libraries",
            &crate::grants::basic(READER, &password)
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
}
