//! The recovery commands, run as the real binary against the test's database.

use crate::common::{Engine, TestApp};
use crate::on_both_engines;
use axum::http::StatusCode;
use std::io::Write;
use std::process::{Command, Stdio};

on_both_engines!(
    create_admin_from_the_command_line,
    reset_a_forgotten_password,
    unknown_users_are_named
);

/// Runs `grimmory admin …` with `stdin` as standard input; answers (success, stdout, stderr).
fn grimmory(app: &TestApp, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_grimmory"))
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("GRIMMORY_SECRET_KEY", "integration test key material")
        .env("GRIMMORY_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn create_admin_from_the_command_line(engine: Engine) {
    let app = TestApp::new(engine).await;
    app.setup_admin().await;
    let (ok, out, err) = grimmory(
        &app,
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
    let (ok, _, err) = grimmory(
        &app,
        &["admin", "create", "rescuer", "--admin"],
        "rescue password\n",
    );
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    let (ok, _, err) = grimmory(&app, &["admin", "create", "shorty"], "short\n");
    assert!(!ok);
    assert!(err.contains("at least 8 characters"), "{err}");
}

async fn reset_a_forgotten_password(engine: Engine) {
    let app = TestApp::new(engine).await;
    let old_session = app.setup_admin().await;
    let (ok, out, err) = grimmory(
        &app,
        &["admin", "reset-password", "admin"],
        "a fresh start\n",
    );
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
    let (ok, _, err) = grimmory(
        &app,
        &["admin", "reset-password", "ghost"],
        "whatever password\n",
    );
    assert!(!ok);
    assert!(err.contains("no user named \"ghost\""), "{err}");
}
