//! The recovery commands, run as the real binary against the test's database.

use crate::common::{Engine, TempDir, TestApp};
use crate::on_both_engines;
use axum::http::StatusCode;

on_both_engines!(
    create_admin_from_the_command_line,
    reset_a_forgotten_password,
    unknown_users_are_named,
    a_backup_while_the_server_writes_holds_the_users,
    settings_come_from_a_dot_env_file_too
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

/// `grimmory admin backup` copies a live SQLite database consistently, while users are being
/// created; PostgreSQL is pointed to pg_dump. An existing file is never overwritten.
async fn a_backup_while_the_server_writes_holds_the_users(engine: Engine) {
    let app = std::sync::Arc::new(TestApp::new(engine).await);
    let admin = app.setup_admin().await;
    let dir = TempDir::new("grimmory-backup");
    let file = dir.path().join("backup.db");
    // Writers keep creating users until the backup is done.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (app, admin, done) = (app.clone(), admin.clone(), done.clone());
        tokio::spawn(async move {
            let mut created = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) && created < 500 {
                let body = serde_json::json!({"username": format!("reader{created}")});
                app.create_user(&admin, body).await;
                created += 1;
            }
            created
        })
    };
    let (ok, out, err) = {
        let app = app.clone();
        let path = file.to_string_lossy().into_owned();
        tokio::task::spawn_blocking(move || app.cli(&["admin", "backup", &path], ""))
            .await
            .unwrap()
    };
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let created = writer.await.unwrap();
    match engine {
        Engine::Postgres => {
            assert!(!ok);
            assert!(err.contains("pg_dump"), "{err}");
            assert!(!file.exists());
        }
        Engine::Sqlite => {
            assert!(ok, "{err}");
            assert!(
                out.contains("secret.key") || out.contains("GRIMMORY_SECRET_KEY"),
                "{out}"
            );
            use sqlx::Connection;
            let url = format!("sqlite://{}?mode=ro", file.display());
            let mut copy = sqlx::SqliteConnection::connect(&url).await.unwrap();
            let check: String = sqlx::query_scalar("PRAGMA integrity_check")
                .fetch_one(&mut copy)
                .await
                .unwrap();
            assert_eq!(check, "ok");
            let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(&mut copy)
                .await
                .unwrap();
            let admins: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username = 'admin'")
                    .fetch_one(&mut copy)
                    .await
                    .unwrap();
            assert_eq!(admins, 1);
            assert!(users >= 1 && users <= 1 + created, "{users} of {created}");
            // A second backup to the same name is refused; the first stays.
            let (ok, _, err) = app.cli(&["admin", "backup", &file.to_string_lossy()], "");
            assert!(!ok);
            assert!(err.contains("already exists"), "{err}");
        }
    }
}

/// The binary reads `.env` in its working folder: a variable set there counts like one set in
/// the environment, a variable set in the environment wins, and a broken file stops it with
/// one line.
async fn settings_come_from_a_dot_env_file_too(engine: Engine) {
    use std::process::Command;
    let app = TestApp::new(engine).await;
    app.setup_admin().await;
    let folder = TempDir::new("grimmory-dotenv");
    let dir = folder.path();
    let run = |env_url: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_grimmory"));
        command
            .args(["admin", "create", "from-dotenv"])
            .current_dir(dir)
            .env_remove("DATABASE_URL")
            .env_remove("GRIMMORY_SECRET_KEY")
            .env_remove("GRIMMORY_SECRET_KEY_FILE")
            .env("RUST_LOG", "error")
            .stdin(std::process::Stdio::piped());
        if let Some(url) = env_url {
            command.env("DATABASE_URL", url);
        }
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"dotenv password\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The environment wins over a .env pointing elsewhere.
    std::fs::write(
        dir.join(".env"),
        "DATABASE_URL=postgres://nobody@127.0.0.1:1/none\nGRIMMORY_SECRET_KEY=\"integration test key material\"\n",
    )
    .unwrap();
    let (code, err) = run(Some(&app.database_url));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        app.login("from-dotenv", "dotenv password").await.status,
        StatusCode::OK
    );
    // The .env alone is enough.
    std::fs::write(
        dir.join(".env"),
        format!(
            "# as .env.example\nDATABASE_URL={}\nGRIMMORY_SECRET_KEY=\"integration test key material\"\n",
            app.database_url
        ),
    )
    .unwrap();
    let (code, err) = run(None);
    assert_eq!(code, Some(1), "the user exists now: {err}");
    assert!(
        err.contains("already exists"),
        "read the .env database: {err}"
    );
    std::fs::write(dir.join(".env"), "DATABASE_URL\n=broken \"\n").unwrap();
    let (code, err) = run(None);
    assert_eq!(code, Some(2));
    assert!(err.starts_with("grimmory: .env"), "{err}");
}
