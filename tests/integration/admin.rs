use crate::common::{Engine, TestApp};
use crate::on_both_engines;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

on_both_engines!(
    admin_apis_refuse_everyone_else,
    the_last_admin_cannot_be_removed,
    user_fields_are_validated,
    libraries_and_access,
    permission_edits_reach_the_user,
    password_less_accounts_cannot_sign_in_locally,
    deleting_a_user_ends_their_sessions,
    own_password_change,
    audit_log_records_changes_and_filters,
);

const PW: &str = "correct horse battery";

async fn admin_apis_refuse_everyone_else(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    app.create_user(
        &admin,
        json!({"username": "bob", "password": "bob password"}),
    )
    .await;
    let bob = app.cookie_for("bob", "bob password").await;
    let calls = [
        (Method::GET, "/api/v1/admin/users"),
        (Method::POST, "/api/v1/admin/users"),
        (Method::GET, "/api/v1/admin/users/1"),
        (Method::PUT, "/api/v1/admin/users/1"),
        (Method::DELETE, "/api/v1/admin/users/1"),
        (Method::DELETE, "/api/v1/admin/users/1/oidc-link"),
        (Method::GET, "/api/v1/admin/libraries"),
        (Method::POST, "/api/v1/admin/libraries"),
        (Method::PUT, "/api/v1/admin/libraries/1"),
        (Method::DELETE, "/api/v1/admin/libraries/1"),
        (Method::GET, "/api/v1/admin/audit"),
    ];
    for (method, path) in calls {
        let body = json!({"username": "x", "name": "x", "isAdmin": true});
        let as_bob = app
            .send(crate::common::json_request(
                method.clone(),
                path,
                &body,
                Some(&bob),
            ))
            .await;
        assert_eq!(as_bob.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(as_bob.json()["status"], 403);
        let anonymous = app
            .send(crate::common::json_request(
                method.clone(),
                path,
                &body,
                None,
            ))
            .await;
        assert_eq!(
            anonymous.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
    // Nothing changed: the admin is still the only admin and bob is still not one.
    let users = app.get("/api/v1/admin/users", Some(&admin)).await.json();
    assert_eq!(
        users
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["isAdmin"] == true)
            .count(),
        1
    );
}

async fn the_last_admin_cannot_be_removed(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let me = app.get("/api/v1/auth/me", Some(&admin)).await.json();
    let my_id = me["id"].as_i64().unwrap();

    let demote = app
        .put_json(
            &format!("/api/v1/admin/users/{my_id}"),
            json!({"isAdmin": false}),
            Some(&admin),
        )
        .await;
    assert_eq!(demote.status, StatusCode::CONFLICT);
    assert_eq!(
        demote.json()["message"],
        "Refused: there must always be at least one admin."
    );

    let no_password = app
        .put_json(
            &format!("/api/v1/admin/users/{my_id}"),
            json!({"password": null}),
            Some(&admin),
        )
        .await;
    assert_eq!(no_password.status, StatusCode::CONFLICT);
    assert!(no_password.json()["message"]
        .as_str()
        .unwrap()
        .contains("able to sign in"));

    let own = app
        .delete(&format!("/api/v1/admin/users/{my_id}"), Some(&admin))
        .await;
    assert_eq!(own.status, StatusCode::CONFLICT);
    assert_eq!(own.json()["message"], "You cannot delete your own account.");

    // With a second admin, the first may go; then the second is the last one.
    let second = app
        .create_user(
            &admin,
            json!({"username": "root2", "password": "second admin", "isAdmin": true}),
        )
        .await;
    let second_cookie = app.cookie_for("root2", "second admin").await;
    assert_eq!(
        app.delete(
            &format!("/api/v1/admin/users/{my_id}"),
            Some(&second_cookie)
        )
        .await
        .status,
        StatusCode::OK
    );
    let second_id = second["id"].as_i64().unwrap();
    let demote_last = app
        .put_json(
            &format!("/api/v1/admin/users/{second_id}"),
            json!({"isAdmin": false}),
            Some(&second_cookie),
        )
        .await;
    assert_eq!(demote_last.status, StatusCode::CONFLICT);
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&second_cookie))
            .await
            .json()["isAdmin"],
        true
    );
}

async fn user_fields_are_validated(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let dup = app
        .post_json(
            "/api/v1/admin/users",
            json!({"username": "admin"}),
            Some(&admin),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(
        dup.json()["message"],
        "A user with this username already exists."
    );
    let dup_email = app
        .post_json(
            "/api/v1/admin/users",
            json!({"username": "eve", "email": "admin@example.org"}),
            Some(&admin),
        )
        .await;
    assert_eq!(dup_email.status, StatusCode::CONFLICT);
    assert_eq!(
        dup_email.json()["message"],
        "This email address belongs to another user."
    );
    let bad = app
        .post_json(
            "/api/v1/admin/users",
            json!({"username": "eve", "email": "eve-at-example", "password": "short", "permissions": {"permissionFly": true}, "libraryIds": [999]}),
            Some(&admin),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let fields: Vec<String> = bad.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["email", "password", "permissions", "libraryIds"]);
    assert_eq!(
        bad.json()["errors"][0]["message"],
        "Enter a valid email address."
    );
    // Nothing was created by the refused requests.
    let users = app.get("/api/v1/admin/users", Some(&admin)).await.json();
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(
        app.get("/api/v1/admin/users/9999", Some(&admin))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/admin/users/abc", Some(&admin))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn libraries_and_access(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let fiction = app
        .post_json(
            "/api/v1/admin/libraries",
            json!({"name": "Fiction"}),
            Some(&admin),
        )
        .await;
    assert_eq!(fiction.status, StatusCode::CREATED);
    let fiction = fiction.json()["id"].as_i64().unwrap();
    let science = app
        .post_json(
            "/api/v1/admin/libraries",
            json!({"name": "Science"}),
            Some(&admin),
        )
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        app.post_json(
            "/api/v1/admin/libraries",
            json!({"name": "Fiction"}),
            Some(&admin)
        )
        .await
        .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.post_json(
            "/api/v1/admin/libraries",
            json!({"name": "  "}),
            Some(&admin)
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );

    app.create_user(&admin, json!({"username": "reader", "password": "reader password", "libraryIds": [fiction, science]})).await;
    let reader = app.cookie_for("reader", "reader password").await;
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&reader)).await.json()["libraryIds"],
        json!([fiction, science])
    );
    // Admins see every library.
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&admin)).await.json()["libraryIds"],
        json!([fiction, science])
    );

    let renamed = app
        .put_json(
            &format!("/api/v1/admin/libraries/{fiction}"),
            json!({"name": "Novels"}),
            Some(&admin),
        )
        .await;
    assert_eq!(renamed.json(), json!({"id": fiction, "name": "Novels"}));
    assert_eq!(
        app.delete(&format!("/api/v1/admin/libraries/{science}"), Some(&admin))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&reader)).await.json()["libraryIds"],
        json!([fiction])
    );
    assert_eq!(
        app.delete(&format!("/api/v1/admin/libraries/{science}"), Some(&admin))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let names: Vec<Value> = app
        .get("/api/v1/admin/libraries", Some(&admin))
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].clone())
        .collect();
    assert_eq!(names, [json!("Novels")]);
}

async fn permission_edits_reach_the_user(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let bob = app.create_user(&admin, json!({"username": "bob", "password": "bob password", "permissions": {"permissionUpload": true}})).await;
    let id = bob["id"].as_i64().unwrap();
    assert_eq!(bob["permissions"]["permissionUpload"], true);
    assert_eq!(bob["permissions"]["permissionDownload"], false);
    let cookie = app.cookie_for("bob", "bob password").await;
    let edited = app
        .put_json(&format!("/api/v1/admin/users/{id}"), json!({"permissions": {"permissionUpload": false, "permissionSyncKobo": true}, "name": "Bob B."}), Some(&admin))
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text());
    let me = app.get("/api/v1/auth/me", Some(&cookie)).await.json();
    assert_eq!(me["permissions"]["permissionUpload"], false);
    assert_eq!(me["permissions"]["permissionSyncKobo"], true);
    assert_eq!(me["name"], "Bob B.");
    assert_eq!(me["permissions"].as_object().unwrap().len(), 26);
}

async fn password_less_accounts_cannot_sign_in_locally(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let oidc_only = app
        .create_user(&admin, json!({"username": "ola", "password": ""}))
        .await;
    assert_eq!(oidc_only["hasPassword"], false);
    assert_eq!(oidc_only["oidcLink"], Value::Null);
    // Appendix A: an empty password is invalid input (400, naming the field); any other is
    // checked, and fails as bad credentials (401).
    let empty = app.login("ola", "").await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{}", empty.text());
    assert_eq!(empty.json()["errors"][0]["field"], "password");
    assert!(empty.session_cookie().is_none());
    let guessed = app.login("ola", "anything at all").await;
    assert_eq!(
        guessed.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        guessed.text()
    );
    assert_eq!(guessed.json()["message"], "Invalid username or password");
    assert!(guessed.session_cookie().is_none());
    assert_eq!(
        app.login("ola", "anything at all").await.json(),
        app.login("nobody", "anything at all").await.json()
    );
}

async fn deleting_a_user_ends_their_sessions(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let bob = app
        .create_user(
            &admin,
            json!({"username": "bob", "password": "bob password"}),
        )
        .await;
    let cookie = app.cookie_for("bob", "bob password").await;
    assert_eq!(
        app.delete(&format!("/api/v1/admin/users/{}", bob["id"]), Some(&admin))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("bob", "bob password").await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn own_password_change(engine: Engine) {
    let app = TestApp::new(engine).await;
    let here = app.setup_admin().await;
    let elsewhere = app.cookie_for("admin", PW).await;
    let wrong = app
        .post_json(
            "/api/v1/auth/password",
            json!({"currentPassword": "nope", "newPassword": "brand new password"}),
            Some(&here),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong.json()["errors"][0]["field"], "currentPassword");
    let ok = app
        .post_json(
            "/api/v1/auth/password",
            json!({"currentPassword": PW, "newPassword": "brand new password"}),
            Some(&here),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&here)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&elsewhere)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("admin", PW).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("admin", "brand new password").await.status,
        StatusCode::OK
    );
}

async fn audit_log_records_changes_and_filters(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let lib = app
        .post_json(
            "/api/v1/admin/libraries",
            json!({"name": "Poetry"}),
            Some(&admin),
        )
        .await
        .json();
    let bob = app
        .create_user(
            &admin,
            json!({"username": "bob", "password": "secret bob password"}),
        )
        .await;
    let bob_id = bob["id"].as_i64().unwrap();
    app.put_json(
        &format!("/api/v1/admin/users/{bob_id}"),
        json!({"password": "another secret pw", "isAdmin": true}),
        Some(&admin),
    )
    .await;
    app.put_json(
        &format!("/api/v1/admin/libraries/{}", lib["id"]),
        json!({"name": "Verse"}),
        Some(&admin),
    )
    .await;
    app.delete(
        &format!("/api/v1/admin/libraries/{}", lib["id"]),
        Some(&admin),
    )
    .await;
    app.delete(&format!("/api/v1/admin/users/{bob_id}"), Some(&admin))
        .await;

    let all = app.get("/api/v1/admin/audit", Some(&admin)).await.json();
    let events: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for expected in [
        "SETUP_COMPLETED",
        "LIBRARY_CREATED",
        "USER_CREATED",
        "USER_UPDATED",
        "LIBRARY_UPDATED",
        "LIBRARY_DELETED",
        "USER_DELETED",
    ] {
        assert!(
            events.contains(&expected),
            "{expected} missing from {events:?}"
        );
    }
    // Newest first.
    assert_eq!(events[0], "USER_DELETED");
    let text = all.to_string();
    assert!(
        !text.contains("secret bob password")
            && !text.contains("another secret pw")
            && !text.contains("argon2")
    );
    let updated = all
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "USER_UPDATED")
        .unwrap();
    assert_eq!(updated["details"]["fields"], json!(["isAdmin", "password"]));
    assert_eq!(updated["targetUserId"], bob_id);
    assert_eq!(updated["clientIp"], "127.0.0.1");

    let only = app
        .get("/api/v1/admin/audit?event=LIBRARY_CREATED", Some(&admin))
        .await
        .json();
    assert_eq!(only.as_array().unwrap().len(), 1);
    let about_bob = app
        .get(&format!("/api/v1/admin/audit?user={bob_id}"), Some(&admin))
        .await
        .json();
    assert!(about_bob
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["targetUserId"] == bob_id || e["actorUserId"] == bob_id));
    assert_eq!(about_bob.as_array().unwrap().len(), 3);
    let page = app
        .get("/api/v1/admin/audit?limit=2", Some(&admin))
        .await
        .json();
    let last_id = page[1]["id"].as_i64().unwrap();
    let next = app
        .get(
            &format!("/api/v1/admin/audit?limit=2&before={last_id}"),
            Some(&admin),
        )
        .await
        .json();
    assert!(next[0]["id"].as_i64().unwrap() < last_id);
    assert_eq!(
        app.get("/api/v1/admin/audit?event=NOPE", Some(&admin))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/api/v1/admin/audit?limit=0", Some(&admin))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}
