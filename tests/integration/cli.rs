//! The recovery commands, run as the real binary against the test's database.

use crate::common::{Engine, TestApp};
use crate::on_both_engines;
use axum::http::StatusCode;

on_both_engines!(
    create_admin_from_the_command_line,
    reset_a_forgotten_password,
    unknown_users_are_named
);

async fn create_admin_from_the_command_line(engine: Engine) {
    let app = TestApp::new(engine).await;
    app.setup_admin().await;
    let (ok, out, err) = app.cli(
        &["admin", "create", "rescuer", "--admin"],
        "rescue password\n",
    );
    assert!(ok, "{err}");
    assert!(out.contains("Created the admin \"rescuer\""), "{out}");
    let r = app.login("rescuer", "rescue password").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["isAdmin"], true);
    assert!(app
        .audit_events()
        .await
        .iter()
        .any(|e| e["event"] == "USER_CREATED" && e["details"]["via"] == "cli"));
    let (ok, _, err) = app.cli(
        &["admin", "create", "rescuer", "--admin"],
        "rescue password\n",
    );
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    let (ok, _, err) = app.cli(&["admin", "create", "shorty"], "short\n");
    assert!(!ok);
    assert!(err.contains("at least 8 characters"), "{err}");
}

async fn reset_a_forgotten_password(engine: Engine) {
    let app = TestApp::new(engine).await;
    let old_session = app.setup_admin().await;
    let (ok, out, err) = app.cli(&["admin", "reset-password", "admin"], "a fresh start\n");
    assert!(ok, "{err}");
    assert!(out.contains("was changed"), "{out}");
    assert_eq!(
        app.login("admin", "correct horse battery").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("admin", "a fresh start").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&old_session)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn unknown_users_are_named(engine: Engine) {
    let app = TestApp::new(engine).await;
    app.setup_admin().await;
    let (ok, _, err) = app.cli(&["admin", "reset-password", "ghost"], "whatever password\n");
    assert!(!ok);
    assert!(err.contains("no user named \"ghost\""), "{err}");
}
