use crate::common::{json_request, Engine, TempDir, TestApp};
use crate::fake_idp::FakeIdp;
use crate::on_both_engines;
use crate::real_idp::RealIdp;
use axum::http::{Method, StatusCode};
use grimmory::crypto::Binding;
use serde_json::{json, Value};

on_both_engines!(
    every_field_is_validated_and_nothing_is_saved,
    the_client_secret_is_sealed_and_never_shown,
    the_secret_does_not_follow_a_changed_provider,
    enabling_needs_a_configured_provider,
    oidc_only_mode_needs_oidc_and_a_local_admin,
    settings_apis_are_for_admins,
    public_settings_show_what_is_in_force,
    group_mappings,
    reference_values,
);

fn provider(issuer: &str) -> Value {
    json!({"providerName": "Authentik", "clientId": "grimmory", "issuerUri": issuer})
}

async fn every_field_is_validated_and_nothing_is_saved(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let before = app.get("/api/v1/settings/oidc", Some(&admin)).await.json();
    let r = app
        .put_json(
            "/api/v1/settings/oidc",
            json!({
                "providerName": "Authentik",
                "clientId": "has space",
                "issuerUri": "http://auth.example.com/application/o/grimmory/",
                "scopes": "profile email",
                "sessionDurationHours": 9000,
                "extraAuthParams": "state=mine",
                "defaultPermissions": ["permissionFly"],
                "defaultLibraryIds": [42],
                "groupSyncMode": "SOMETIMES",
            }),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let errors: Vec<(String, String)> = r.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
    for expected in [
        "clientId",
        "issuerUri",
        "scopes",
        "sessionDurationHours",
        "extraAuthParams",
        "defaultPermissions",
        "defaultLibraryIds",
        "groupSyncMode",
    ] {
        assert!(
            fields.contains(&expected),
            "{expected} missing in {errors:?}"
        );
    }
    assert!(errors
        .iter()
        .any(|(f, m)| f == "scopes" && m == "Scopes must include openid."));
    assert!(errors
        .iter()
        .any(|(f, m)| f == "sessionDurationHours" && m.contains("1 to 8760")));
    assert!(errors
        .iter()
        .any(|(f, m)| f == "issuerUri" && m.contains("https")));
    for bad in ["not a url", "ftp://x.example.com/"] {
        let r = app
            .put_json(
                "/api/v1/settings/oidc",
                json!({"issuerUri": bad}),
                Some(&admin),
            )
            .await;
        assert_eq!(r.json()["errors"][0]["field"], "issuerUri", "{bad}");
    }
    assert_eq!(
        app.put_json(
            "/api/v1/settings/oidc",
            json!({"sessionDurationHours": 0}),
            Some(&admin)
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/api/v1/settings/oidc", Some(&admin)).await.json(),
        before
    );
    // Private-network and loopback issuers may use http; the defaults are Authentik's.
    let ok = app
        .put_json(
            "/api/v1/settings/oidc",
            provider("http://10.0.0.5:9000/application/o/grimmory/"),
            Some(&admin),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let saved = ok.json();
    assert_eq!(
        saved["claimMapping"],
        json!({"username": "preferred_username", "email": "email", "name": "name", "groups": "groups"})
    );
    assert_eq!(saved["groupSyncMode"], "DISABLED");
    assert_eq!(saved["allowLocalAccountLinking"], false);
    assert_eq!(saved["autoProvisioning"], false);
}

async fn the_client_secret_is_sealed_and_never_shown(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let mut body = provider("https://auth.example.com/application/o/grimmory/");
    body["clientSecret"] = json!("s3cret-value-XYZ");
    let r = app
        .put_json("/api/v1/settings/oidc", body, Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(!r.text().contains("s3cret-value-XYZ"));
    assert_eq!(r.json()["clientSecretSet"], true);
    let got = app.get("/api/v1/settings/oidc", Some(&admin)).await;
    assert!(!got.text().contains("s3cret-value-XYZ"));
    assert!(got.json().get("clientSecret").is_none());
    // Stored sealed, not as written.
    let raw = app.state.db.oidc_client_secret().await.unwrap().unwrap();
    assert!(!raw.contains("s3cret-value-XYZ"));
    assert_eq!(
        app.state
            .secrets
            .open(
                &raw,
                Binding::ClientSecret {
                    issuer: "https://auth.example.com/application/o/grimmory/",
                    client_id: "grimmory"
                }
            )
            .unwrap(),
        "s3cret-value-XYZ"
    );
    // Re-saving the form untouched keeps it.
    let mut resave = got.json();
    resave["providerName"] = json!("Authentik SSO");
    let r = app
        .put_json("/api/v1/settings/oidc", resave, Some(&admin))
        .await;
    assert_eq!(r.json()["clientSecretSet"], true);
    // The audit log names the field, never the value.
    let audit = app
        .get(
            "/api/v1/admin/audit?event=OIDC_CONFIG_CHANGED",
            Some(&admin),
        )
        .await;
    assert!(audit.text().contains("clientSecret"));
    assert!(!audit.text().contains("s3cret-value-XYZ"));
    // An explicit clear removes it.
    let r = app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"clearClientSecret": true}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.json()["clientSecretSet"], false);
}

async fn the_secret_does_not_follow_a_changed_provider(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let mut body = provider("https://auth.example.com/application/o/grimmory/");
    body["clientSecret"] = json!("first-secret");
    app.put_json("/api/v1/settings/oidc", body, Some(&admin))
        .await;
    for change in [
        json!({"issuerUri": "https://other.example.com/"}),
        json!({"clientId": "someone-else"}),
    ] {
        let r = app
            .put_json("/api/v1/settings/oidc", change.clone(), Some(&admin))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{change}");
        assert_eq!(r.json()["errors"][0]["field"], "clientSecret");
        // Test Connection does not send the stored secret there either.
        let t = app
            .post_json("/api/v1/settings/oidc/test", change, Some(&admin))
            .await;
        assert_eq!(t.status, StatusCode::BAD_REQUEST);
    }
    let mut moved = json!({"issuerUri": "https://other.example.com/"});
    moved["clientSecret"] = json!("second-secret");
    assert_eq!(
        app.put_json("/api/v1/settings/oidc", moved, Some(&admin))
            .await
            .status,
        StatusCode::OK
    );
    let raw = app.state.db.oidc_client_secret().await.unwrap().unwrap();
    assert_eq!(
        app.state
            .secrets
            .open(
                &raw,
                Binding::ClientSecret {
                    issuer: "https://other.example.com/",
                    client_id: "grimmory"
                }
            )
            .unwrap(),
        "second-secret"
    );
    let cleared = app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"clientId": "third", "clearClientSecret": true}),
            Some(&admin),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert_eq!(cleared.json()["clientSecretSet"], false);
}

async fn enabling_needs_a_configured_provider(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let r = app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"oidcEnabled": true}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["errors"][0]["field"], "oidcEnabled");
    app.put_json(
        "/api/v1/settings/oidc",
        provider("https://auth.example.com/application/o/grimmory/"),
        Some(&admin),
    )
    .await;
    let r = app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"oidcEnabled": true}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["oidcEnabled"], true);
}

async fn oidc_only_mode_needs_oidc_and_a_local_admin(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let r = app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"oidcForceOnlyMode": true}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json()["message"],
        "Cannot enable OIDC-only mode: OIDC must be enabled first"
    );
    let mut on = provider("https://auth.example.com/application/o/grimmory/");
    on["oidcEnabled"] = json!(true);
    app.put_json("/api/v1/settings/oidc", on, Some(&admin))
        .await;

    // Give the only admin an OIDC identity and take the password away: then no admin could
    // sign in locally, and the mode is refused.
    let me = app.get("/api/v1/auth/me", Some(&admin)).await.json();
    link_identity(&app, me["id"].as_i64().unwrap()).await;
    let r = app
        .put_json(
            &format!("/api/v1/admin/users/{}", me["id"]),
            json!({"password": null}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"oidcForceOnlyMode": true}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json()["message"],
        "Cannot enable OIDC-only mode: no admin could sign in locally"
    );
    assert_eq!(
        app.get("/api/v1/public-settings", None).await.json()["oidcForceOnlyMode"],
        false
    );

    // With a local admin it goes on, is audited, and then that admin's password stays.
    let local = app
        .create_user(
            &admin,
            json!({"username": "local", "password": "local admin pw", "isAdmin": true}),
        )
        .await;
    let r = app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"oidcForceOnlyMode": true}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let events = app
        .get(
            "/api/v1/admin/audit?event=OIDC_FORCE_ONLY_MODE_CHANGED",
            Some(&admin),
        )
        .await
        .json();
    assert_eq!(events[0]["details"]["enabled"], true);
    let r = app
        .put_json(
            &format!("/api/v1/admin/users/{}", local["id"]),
            json!({"password": null}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.json()["message"],
        "Refused: while OIDC-only mode is on, at least one admin must have a password."
    );
}

/// Links `user_id` to an identity, as a sign-in through OIDC would.
pub async fn link_identity(app: &TestApp, user_id: i64) {
    let subject = format!("sub-{user_id}");
    link_identity_to(
        app,
        user_id,
        "https://auth.example.com/application/o/grimmory/",
        &subject,
    )
    .await;
}

pub async fn link_identity_to(app: &TestApp, user_id: i64, issuer: &str, subject: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query("INSERT INTO oidc_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)")
        .bind(issuer)
        .bind(subject)
        .bind(user_id)
        .bind(0_i64)
        .execute(&mut conn)
        .await
        .unwrap();
}

async fn settings_apis_are_for_admins(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    app.create_user(
        &admin,
        json!({"username": "bob", "password": "bob password"}),
    )
    .await;
    let bob = app.cookie_for("bob", "bob password").await;
    for (method, path) in [
        (Method::GET, "/api/v1/settings/oidc"),
        (Method::PUT, "/api/v1/settings/oidc"),
        (Method::POST, "/api/v1/settings/oidc/test"),
        (Method::GET, "/api/v1/settings/oidc/reference"),
        (Method::GET, "/api/v1/admin/oidc-group-mappings"),
        (Method::POST, "/api/v1/admin/oidc-group-mappings"),
        (Method::PUT, "/api/v1/admin/oidc-group-mappings/1"),
        (Method::DELETE, "/api/v1/admin/oidc-group-mappings/1"),
    ] {
        let r = app
            .send(json_request(
                method.clone(),
                path,
                &if path.contains("group-mappings") {
                    json!({"groupClaim": "readers"})
                } else {
                    json!({"oidcEnabled": true})
                },
                Some(&bob),
            ))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    assert_eq!(
        app.get("/api/v1/public-settings", None).await.status,
        StatusCode::OK
    );
}

async fn public_settings_show_what_is_in_force(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let off = app.get("/api/v1/public-settings", None).await.json();
    assert_eq!(
        off,
        json!({"oidcEnabled": false, "oidcProviderName": "", "oidcForceOnlyMode": false, "localLoginAvailable": true})
    );
    let mut on = provider("https://auth.example.com/application/o/grimmory/");
    on["oidcEnabled"] = json!(true);
    on["clientSecret"] = json!("never-public");
    app.put_json("/api/v1/settings/oidc", on, Some(&admin))
        .await;
    let now = app.get("/api/v1/public-settings", None).await;
    assert_eq!(now.json()["oidcEnabled"], true);
    assert_eq!(now.json()["oidcProviderName"], "Authentik");
    assert!(!now.text().contains("never-public") && !now.text().contains("grimmory\""));

    // FORCE_DISABLE_OIDC wins over the database.
    let forced = TestApp::with_settings(engine, |raw| {
        raw.force_disable_oidc = Some("true".to_owned())
    })
    .await;
    let admin = forced.setup_admin().await;
    let mut on = provider("https://auth.example.com/application/o/grimmory/");
    on["oidcEnabled"] = json!(true);
    forced
        .put_json("/api/v1/settings/oidc", on, Some(&admin))
        .await;
    assert_eq!(
        forced.get("/api/v1/public-settings", None).await.json()["oidcEnabled"],
        false
    );
    let settings = forced
        .get("/api/v1/settings/oidc", Some(&admin))
        .await
        .json();
    assert_eq!(settings["forceDisabledByEnv"], true);
    assert_eq!(settings["oidcEnabled"], true);
}

async fn group_mappings(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let lib = app
        .post_json(
            "/api/v1/admin/libraries",
            json!({"name": "Comics"}),
            Some(&admin),
        )
        .await
        .json();
    let body = json!({"groupClaim": "grimmory-users", "description": "Readers", "isAdmin": false, "permissions": ["permissionDownload"], "libraryIds": [lib["id"]]});
    let created = app
        .post_json(
            "/api/v1/admin/oidc-group-mappings",
            body.clone(),
            Some(&admin),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let created = created.json();
    assert_eq!(created["groupClaim"], "grimmory-users");
    assert_eq!(created["libraryIds"], json!([lib["id"]]));
    assert_eq!(
        app.post_json("/api/v1/admin/oidc-group-mappings", body, Some(&admin))
            .await
            .status,
        StatusCode::CONFLICT
    );
    // Case matters: a different value.
    assert_eq!(
        app.post_json(
            "/api/v1/admin/oidc-group-mappings",
            json!({"groupClaim": "Grimmory-Users"}),
            Some(&admin)
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let bad = app
        .post_json(
            "/api/v1/admin/oidc-group-mappings",
            json!({"groupClaim": "  ", "permissions": ["nope"], "libraryIds": [999]}),
            Some(&admin),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json()["errors"].as_array().unwrap().len(), 3);
    let id = created["id"].as_i64().unwrap();
    let updated = app
        .put_json(
            &format!("/api/v1/admin/oidc-group-mappings/{id}"),
            json!({"groupClaim": "grimmory-admins", "isAdmin": true}),
            Some(&admin),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(updated.json()["isAdmin"], true);
    assert_eq!(
        app.delete(
            &format!("/api/v1/admin/oidc-group-mappings/{id}"),
            Some(&admin)
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        app.delete(
            &format!("/api/v1/admin/oidc-group-mappings/{id}"),
            Some(&admin)
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let list = app
        .get("/api/v1/admin/oidc-group-mappings", Some(&admin))
        .await
        .json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let events: Vec<String> = app
        .get("/api/v1/admin/audit", Some(&admin))
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect();
    for e in [
        "OIDC_GROUP_MAPPING_CREATED",
        "OIDC_GROUP_MAPPING_UPDATED",
        "OIDC_GROUP_MAPPING_DELETED",
    ] {
        assert!(events.iter().any(|x| x == e), "{e}");
    }
}

async fn reference_values(engine: Engine) {
    let app = TestApp::with_settings(engine, |raw| {
        raw.public_url = Some("https://books.example.com/".to_owned())
    })
    .await;
    let admin = app.setup_admin().await;
    let r = app
        .get("/api/v1/settings/oidc/reference", Some(&admin))
        .await
        .json();
    assert_eq!(
        r["redirectUri"],
        "https://books.example.com/oauth2-callback"
    );
    assert_eq!(
        r["postLogoutRedirectUri"],
        "https://books.example.com/login?signedOut=1"
    );
    assert_eq!(
        r["backchannelLogoutUri"],
        "https://books.example.com/api/v1/auth/oidc/backchannel-logout"
    );
    assert_eq!(
        r["launchUrl"],
        "https://books.example.com/api/v1/auth/oidc/authorize"
    );
    assert_eq!(r["scopes"], "openid profile email groups offline_access");
    assert_eq!(r["pkceMethod"], "S256");
    assert_eq!(r["grantType"], "Authorization Code");
    assert_eq!(r["publicUrlConfigured"], true);
    assert_eq!(r["warnings"], json!([]));

    let unset = TestApp::new(engine).await;
    let admin = unset.setup_admin().await;
    let req = axum::http::Request::get("/api/v1/settings/oidc/reference")
        .header("cookie", &admin)
        .header("host", "192.168.1.20:3000")
        .body(axum::body::Body::empty())
        .unwrap();
    let r = unset.send(req).await.json();
    assert_eq!(r["redirectUri"], "http://192.168.1.20:3000/oauth2-callback");
    assert_eq!(r["publicUrlConfigured"], false);
    assert_eq!(r["warnings"].as_array().unwrap().len(), 1);
}

// ---- Test Connection ----

pub async fn test_with(app: &TestApp, admin: &str, body: Value) -> Vec<(String, String, String)> {
    let r = app
        .post_json("/api/v1/settings/oidc/test", body, Some(admin))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let json = r.json();
    let checks: Vec<(String, String, String)> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
                c["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(json["success"], !checks.iter().any(|c| c.1 == "FAIL"));
    checks
}

pub fn status_of<'a>(checks: &'a [(String, String, String)], name: &str) -> (&'a str, &'a str) {
    checks
        .iter()
        .find(|c| c.0 == name)
        .map(|c| (c.1.as_str(), c.2.as_str()))
        .unwrap_or_else(|| panic!("no check {name}: {checks:?}"))
}

on_both_engines!(
    a_save_keeps_a_change_just_made_on_another_replica,
    test_connection_passes_against_the_real_provider,
    a_provider_behind_a_private_ca_needs_its_ca_trusted
);

async fn test_connection_passes_against_the_real_provider(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let idp = RealIdp::start("http://127.0.0.1:9/oauth2-callback");
    let public = test_with(
        &app,
        &admin,
        json!({"clientId": idp.public_client, "issuerUri": idp.issuer}),
    )
    .await;
    assert_eq!(public.len(), 13);
    assert!(public.iter().all(|c| c.1 == "PASS"), "{public:?}");
    assert_eq!(status_of(&public, "JWKS Keys").1, "1 key(s) found");
    let confidential = test_with(
        &app,
        &admin,
        json!({"clientId": idp.confidential_client, "clientSecret": idp.confidential_secret, "issuerUri": idp.issuer}),
    )
    .await;
    assert!(
        confidential.iter().all(|c| c.1 == "PASS"),
        "{confidential:?}"
    );
    let wrong = test_with(&app, &admin, json!({"clientId": idp.confidential_client, "clientSecret": "wrong", "issuerUri": idp.issuer})).await;
    assert_eq!(
        status_of(&wrong, "Client Credentials"),
        ("FAIL", "The provider rejected the client ID or secret.")
    );
    // Testing changes nothing, and is audited.
    assert_eq!(
        app.get("/api/v1/settings/oidc", Some(&admin)).await.json()["issuerUri"],
        ""
    );
    let events = app
        .get(
            "/api/v1/admin/audit?event=OIDC_CONNECTION_TEST",
            Some(&admin),
        )
        .await
        .json();
    assert_eq!(events.as_array().unwrap().len(), 3);
    assert!(!events.to_string().contains(&idp.confidential_secret));
}

on_both_engines!(test_connection_names_what_is_wrong);

async fn test_connection_names_what_is_wrong(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let idp = FakeIdp::start().await;
    let form = |issuer: &str| json!({"clientId": "grimmory", "issuerUri": issuer});

    let good = test_with(&app, &admin, form(&idp.issuer)).await;
    assert!(good.iter().all(|c| c.1 == "PASS"), "{good:?}");
    // The probe was a real token request for a public client: PKCE verifier, no secret.
    let (headers, body) = idp.seen().token_requests.last().cloned().unwrap();
    assert!(headers.get("authorization").is_none());
    for part in [
        "grant_type=authorization_code",
        "client_id=grimmory",
        "code_verifier=",
        "redirect_uri=",
    ] {
        assert!(body.contains(part), "{body}");
    }

    // Issuer without its trailing slash: the exact value to use.
    let slashless = test_with(&app, &admin, form(idp.issuer.trim_end_matches('/'))).await;
    assert_eq!(
        status_of(&slashless, "Issuer Match"),
        ("FAIL", format!("Use exactly: {}", idp.issuer).as_str())
    );

    idp.set(|b| b.discovery["issuer"] = json!("https://someone-else.example.com/"));
    assert_eq!(
        status_of(
            &test_with(&app, &admin, form(&idp.issuer)).await,
            "Issuer Match"
        )
        .0,
        "FAIL"
    );
    idp.set(|b| b.discovery["issuer"] = json!(idp.issuer.clone()));

    idp.set(|b| {
        b.discovery
            .as_object_mut()
            .unwrap()
            .remove("end_session_endpoint")
            .map(|_| ())
            .unwrap_or(())
    });
    let no_logout = test_with(&app, &admin, form(&idp.issuer)).await;
    assert_eq!(
        status_of(&no_logout, "End Session Endpoint"),
        (
            "WARN",
            "No end_session_endpoint: RP-initiated logout won't work."
        )
    );

    idp.set(|b| b.discovery["scopes_supported"] = json!(["openid", "profile", "email"]));
    let scopes = test_with(&app, &admin, form(&idp.issuer)).await;
    let warned: Vec<&str> = scopes
        .iter()
        .filter(|c| c.0 == "Scopes" && c.1 == "WARN")
        .map(|c| c.2.as_str())
        .collect();
    assert_eq!(warned.len(), 2, "{scopes:?}");
    assert!(
        warned.iter().any(|m| m.contains("\"groups\""))
            && warned.iter().any(|m| m.contains("\"offline_access\""))
    );

    idp.set(|b| b.jwks = json!({"keys": []}));
    assert_eq!(
        status_of(
            &test_with(&app, &admin, form(&idp.issuer)).await,
            "JWKS Keys"
        )
        .0,
        "FAIL"
    );
    // A key that names everything a signing key names, with a modulus of three characters:
    // no key can be made of it.
    idp.set(|b| {
        b.jwks = json!({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "k1", "n": "sXc", "e": "AQAB"}]})
    });
    assert_eq!(
        status_of(
            &test_with(&app, &admin, form(&idp.issuer)).await,
            "JWKS Keys"
        ),
        ("FAIL", "1 key(s) found, none usable to verify signatures.")
    );
    // Beside a real key, it does not spoil the set.
    idp.set(|b| {
        b.jwks["keys"]
            .as_array_mut()
            .unwrap()
            .push(crate::signer::ec_jwk("ec-1"))
    });
    assert_eq!(
        status_of(
            &test_with(&app, &admin, form(&idp.issuer)).await,
            "JWKS Keys"
        ),
        ("PASS", "2 key(s) found")
    );

    idp.set(|b| b.discovery["id_token_signing_alg_values_supported"] = json!(["HS256"]));
    let hs = test_with(&app, &admin, form(&idp.issuer)).await;
    let (status, message) = status_of(&hs, "Signing Algorithms");
    assert_eq!(status, "FAIL");
    assert!(message.contains("Signing Key"), "{message}");

    idp.set(|b| {
        b.discovery
            .as_object_mut()
            .unwrap()
            .remove("jwks_uri")
            .map(|_| ())
            .unwrap_or(())
    });
    assert_eq!(
        status_of(
            &test_with(&app, &admin, form(&idp.issuer)).await,
            "JWKS URI"
        )
        .0,
        "FAIL"
    );

    // A secret for a client the provider knows as public: refused as a real provider would.
    let wrong_client = test_with(
        &app,
        &admin,
        json!({"clientId": "grimmory", "clientSecret": "nope", "issuerUri": idp.issuer}),
    )
    .await;
    assert_eq!(
        status_of(&wrong_client, "Client Credentials"),
        ("FAIL", "The provider rejected the client ID or secret.")
    );
    let (headers, _) = idp.seen().token_requests.last().cloned().unwrap();
    assert!(headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("Basic "));

    // Providers such as Glewlwyd refuse the client this way for an unregistered redirect URI:
    // the message names that URI, exactly as sent, rather than blaming the secret.
    idp.set(|b| b.token_refusal = Some((400, json!({"error": "unauthorized_client"}))));
    let unregistered = test_with(&app, &admin, form(&idp.issuer)).await;
    let (_, body) = idp.seen().token_requests.last().cloned().unwrap();
    let sent = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert_eq!(
        status_of(&unregistered, "Client Credentials"),
        ("FAIL", format!("The provider refused this client for this request: check the client ID and that the redirect URI {sent} is registered for it.").as_str())
    );

    idp.set(|b| b.redirect_discovery = true);
    let redirected = test_with(&app, &admin, form(&idp.issuer)).await;
    assert_eq!(status_of(&redirected, "Discovery Document").0, "FAIL");
    assert!(redirected.iter().skip(1).all(|c| c.1 == "SKIP"));

    idp.set(|b| {
        b.redirect_discovery = false;
        b.oversized_discovery = true;
    });
    let oversized = test_with(&app, &admin, form(&idp.issuer)).await;
    let (status, message) = status_of(&oversized, "Discovery Document");
    assert_eq!(status, "FAIL");
    assert!(message.contains("1 MiB"), "{message}");
    assert!(!message.contains("xxxx"));

    // Nothing listens there.
    let unreachable = test_with(&app, &admin, form("http://127.0.0.1:9/application/o/none/")).await;
    assert_eq!(status_of(&unreachable, "Discovery Document").0, "FAIL");
    assert_eq!(unreachable.iter().filter(|c| c.1 == "SKIP").count(), 12);
}

on_both_engines!(changing_the_issuer_can_move_links);

async fn changing_the_issuer_can_move_links(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let old = "https://auth.example.com/application/o/grimmory/";
    app.put_json("/api/v1/settings/oidc", provider(old), Some(&admin))
        .await;
    let bob = app.create_user(&admin, json!({"username": "bob"})).await;
    link_identity_to(&app, bob["id"].as_i64().unwrap(), old, "sub-bob").await;
    assert_eq!(
        app.get("/api/v1/settings/oidc", Some(&admin)).await.json()["linkedUsers"],
        1
    );
    // Moved along with the issuer, and audited.
    let new = "https://sso.example.com/application/o/grimmory/";
    let r = app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"issuerUri": new, "moveLinks": true}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["linkedUsers"], 1);
    let user = app
        .get(&format!("/api/v1/admin/users/{}", bob["id"]), Some(&admin))
        .await
        .json();
    assert_eq!(user["oidcLink"]["issuer"], new);
    let moved = app
        .get("/api/v1/admin/audit?event=OIDC_LINKS_MOVED", Some(&admin))
        .await
        .json();
    assert_eq!(moved[0]["details"]["from"], old);
    // Moving onto an issuer where the same subject is already linked is refused, not a 500.
    let carol = app.create_user(&admin, json!({"username": "carol"})).await;
    link_identity_to(&app, carol["id"].as_i64().unwrap(), old, "sub-bob").await;
    let clash = app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"issuerUri": old, "moveLinks": true}),
            Some(&admin),
        )
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{}", clash.text());
    // Without the choice the links stay where they were: only carol's is at the old issuer.
    let r = app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"issuerUri": old}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.json()["linkedUsers"], 1);
    let user = app
        .get(&format!("/api/v1/admin/users/{}", bob["id"]), Some(&admin))
        .await
        .json();
    assert_eq!(user["oidcLink"]["issuer"], new);
}

/// A CA of the test's own, and a certificate for 127.0.0.1 it signed: (CA, certificate, key)
/// as PEM.
fn private_ca() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, "Grimmory test private CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), leaf.pem(), key.serialize_pem())
}

/// A provider whose certificate comes from a private CA fails Test Connection until that CA
/// is given in GRIMMORY_EXTRA_CA_FILE; then every check passes.
async fn a_provider_behind_a_private_ca_needs_its_ca_trusted(engine: Engine) {
    let dir = TempDir::new("grimmory-ca");
    let (ca, cert, key) = private_ca();
    let file = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path.to_string_lossy().into_owned()
    };
    let (ca_file, cert_file, key_file) = (
        file("ca.pem", &ca),
        file("cert.pem", &cert),
        file("key.pem", &key),
    );
    let idp = RealIdp::start_with(
        "http://127.0.0.1:9/oauth2-callback",
        &["--tls-cert", &cert_file, "--tls-key", &key_file],
    );
    assert!(
        idp.issuer.starts_with("https://127.0.0.1:"),
        "{}",
        idp.issuer
    );
    let form = json!({"clientId": idp.public_client, "issuerUri": idp.issuer});

    let untrusted = TestApp::new(engine).await;
    let admin = untrusted.setup_admin().await;
    let checks = test_with(&untrusted, &admin, form.clone()).await;
    assert_eq!(
        status_of(&checks, "Discovery Document").0,
        "FAIL",
        "{checks:?}"
    );

    let trusted = TestApp::with_settings(engine, |raw| {
        raw.extra_ca_file = Some(ca_file.clone().into())
    })
    .await;
    let admin = trusted.setup_admin().await;
    let checks = test_with(&trusted, &admin, form).await;
    assert!(checks.iter().all(|c| c.1 == "PASS"), "{checks:?}");
}

/// A save applies its patch to the settings as stored, not to this replica's memory of them
/// (`auth::recent`): a change saved on another replica a moment before is kept.
async fn a_save_keeps_a_change_just_made_on_another_replica(engine: Engine) {
    let a = TestApp::new(engine).await;
    let admin = a.setup_admin().await;
    let b = TestApp::on_database(engine, &a.database_url, |_| {}).await;
    // A reads the settings, as every visit to the login page does.
    assert_eq!(
        a.get("/api/v1/public-settings", None).await.status,
        StatusCode::OK
    );
    let admin_on_b = b.cookie_for("admin", "correct horse battery").await;
    let r = b
        .put_json(
            "/api/v1/settings/oidc",
            json!({"autoProvisioning": true}),
            Some(&admin_on_b),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = a
        .put_json(
            "/api/v1/settings/oidc",
            json!({"allowLocalAccountLinking": true}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let saved = a.get("/api/v1/settings/oidc", Some(&admin)).await.json();
    assert_eq!(saved["autoProvisioning"], true, "B's change was kept");
    assert_eq!(saved["allowLocalAccountLinking"], true);
}
