//! Faults an operator meets: the database stops answering (503 at once, not a hang, and
//! recovery when it is back), a SQLite file that takes no writes, a provider that hangs.

use crate::common::{capture_logs, send_to, Engine, Reply, TestApp};
use crate::fake_idp::HangingIdp;
use crate::oidc_sign_in::{rs256, Flow, CLIENT};
use crate::on_both_engines;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use grimmory::oidc::outbound::MAX_IN_FLIGHT;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

on_both_engines!(
    a_hanging_provider_fails_sign_in_in_bounded_time_and_keeps_the_rest_working,
    sixty_four_oidc_and_sixty_four_local_sign_ins_at_once_all_succeed,
);

const MESSAGE: &str = "Service temporarily unavailable. Please try again in a moment.";

/// Stands between the server and PostgreSQL: forwards while "up"; when "down", cuts the
/// connections it carries and accepts new ones without ever answering, as a database host
/// that stopped responding does.
struct Outage {
    port: u16,
    up: Arc<AtomicBool>,
    carried: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Outage {
    async fn in_front_of(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let carried = Arc::new(Mutex::new(Vec::new()));
        let (is_up, carrying) = (up.clone(), carried.clone());
        let task = tokio::spawn(async move {
            let mut silent = Vec::new();
            while let Ok((mut client, _)) = listener.accept().await {
                if !is_up.load(Ordering::SeqCst) {
                    silent.push(client);
                    continue;
                }
                let upstream = upstream.clone();
                carrying.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Self {
            port,
            up,
            carried,
            task,
        }
    }

    fn stop(&self) {
        self.up.store(false, Ordering::SeqCst);
        for conn in self.carried.lock().unwrap().drain(..) {
            conn.abort();
        }
    }

    fn resume(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.task.abort();
        self.stop();
    }
}

/// A server on a fresh PostgreSQL database reached through an [`Outage`], with an admin
/// signed in: the app, the outage and the admin's cookie.
async fn behind_an_outage() -> (TestApp, Outage, TestApp, String) {
    let direct = TestApp::new(Engine::Postgres).await;
    let mut url = url::Url::parse(&direct.database_url).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let outage = Outage::in_front_of(upstream).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(outage.port)).unwrap();
    // With the default wait for the database (GRIMMORY_DB_ACQUIRE_TIMEOUT_MS, 2 s).
    let app = TestApp::on_database(Engine::Postgres, url.as_str(), |raw| {
        raw.db_acquire_timeout_ms = None
    })
    .await;
    let admin = app.setup_admin().await;
    (app, outage, direct, admin)
}

async fn timed(app: &TestApp, req: Request<Body>) -> (Reply, Duration) {
    let began = Instant::now();
    let r = app.send(req).await;
    (r, began.elapsed())
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path);
    if let Some(c) = cookie {
        b = b.header("cookie", c);
    }
    b.body(Body::empty()).unwrap()
}

fn assert_unavailable_json(r: &Reply) {
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    let body = r.json();
    assert_eq!(body["status"], 503);
    assert_eq!(body["message"], MESSAGE);
    assert!(body.get("reference").is_none_or(|r| r.is_null()), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_outage_answers_503_at_once_and_recovers() {
    let (app, outage, _direct, admin) = behind_an_outage().await;
    let (logs, _guard) = capture_logs();
    outage.stop();

    let (health, took) = timed(&app, get("/healthz", None)).await;
    println!("/healthz during the outage: {} ms", took.as_millis());
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        health.json(),
        json!({"status": "unavailable", "database": "unreachable"})
    );
    assert!(took < Duration::from_secs(1), "/healthz took {took:?}");

    let (me, took) = timed(&app, get("/api/v1/auth/me", Some(&admin))).await;
    println!("API call during the outage: {} ms", took.as_millis());
    assert_unavailable_json(&me);
    assert!(took < Duration::from_secs(2), "the API call took {took:?}");

    let (page, took) = timed(&app, get("/login", None)).await;
    println!("page during the outage: {} ms", took.as_millis());
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.text().contains(MESSAGE), "{}", page.text());
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "a page, not JSON"
    );
    assert!(took < Duration::from_secs(2), "the page took {took:?}");

    let (login, took) = timed(
        &app,
        crate::common::json_request(
            axum::http::Method::POST,
            "/api/v1/auth/login",
            &json!({"username": "admin", "password": "correct horse battery"}),
            None,
        ),
    )
    .await;
    assert_unavailable_json(&login);
    assert!(took < Duration::from_secs(2), "sign-in took {took:?}");

    // One warning for the outage, not one per request.
    let warnings = logs.text().matches("database unavailable").count();
    assert_eq!(warnings, 1, "{}", logs.text());
    assert!(!logs.text().contains("ERROR"), "{}", logs.text());

    outage.resume();
    let back = Instant::now();
    let deadline = back + Duration::from_secs(10);
    while app.get("/healthz", None).await.status != StatusCode::OK {
        assert!(Instant::now() < deadline, "/healthz never recovered");
    }
    println!("/healthz 200 again {} ms after", back.elapsed().as_millis());
    // A connection cut during the outage may still fail one request as it is found dead.
    loop {
        let me = app.get("/api/v1/auth/me", Some(&admin)).await;
        if me.status == StatusCode::OK {
            break;
        }
        assert_eq!(
            me.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "the session outlives the outage"
        );
        assert!(Instant::now() < deadline, "requests never recovered");
    }
    while !logs.text().contains("database available again") {
        assert!(Instant::now() < deadline, "the end is never logged");
        tokio::task::yield_now().await;
    }
    assert_eq!(logs.text().matches("database available again").count(), 1);
    assert_eq!(logs.text().matches("database unavailable").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_back_channel_logout_during_an_outage_answers_503_so_the_provider_retries() {
    let (app, outage, _direct, _admin) = behind_an_outage().await;
    outage.stop();
    let began = Instant::now();
    let r = app
        .post_form(
            "/api/v1/auth/oidc/backchannel-logout",
            &[("logout_token", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln")],
            None,
        )
        .await;
    // The first request of the outage: it waits, the probe finds no answer, 503.
    let took = began.elapsed();
    println!(
        "back-channel logout, the first request of an outage: {} ms",
        took.as_millis()
    );
    assert_unavailable_json(&r);
    assert!(r.headers.contains_key("retry-after"));
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

/// Root ignores file modes, so the file is also opened read-only (`mode=ro`), as SQLite does
/// by itself with a write-protected file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_sqlite_file_serves_reads_and_refuses_writes_with_503() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::new(Engine::Sqlite).await;
    let admin = app.setup_admin().await;
    app.state.db.close().await;
    let path = app
        .database_url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    // Everything written so far into the database file itself, whatever connection of the
    // first server (a health probe, say) closes last: later closes then have nothing to copy.
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
            .await
            .unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let files = [path.clone(), format!("{path}-wal")];
    let before: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).unwrap_or_default())
        .collect();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();

    let ro =
        TestApp::on_database(Engine::Sqlite, &format!("sqlite://{path}?mode=ro"), |_| {}).await;
    // Long enough after the last use that the session would record a new one.
    ro.clock.advance_ms(10 * 60_000);
    let me = ro.get("/api/v1/auth/me", Some(&admin)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    assert_eq!(
        ro.get("/api/v1/admin/users", Some(&admin)).await.status,
        StatusCode::OK
    );
    assert_eq!(ro.get("/login", None).await.status, StatusCode::OK);

    assert_unavailable_json(&ro.login("admin", "correct horse battery").await);
    assert_unavailable_json(
        &ro.put_json(
            "/api/v1/settings/oidc",
            json!({"providerName": "Nope", "clientId": CLIENT, "issuerUri": "https://idp.example.org/"}),
            Some(&admin),
        )
        .await,
    );
    let r = ro
        .post_json(
            "/api/v1/admin/users",
            json!({"username": "bea", "email": "bea@example.org", "name": "Bea", "password": "another long password"}),
            Some(&admin),
        )
        .await;
    assert_unavailable_json(&r);
    ro.state.db.close().await;

    let after: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).unwrap_or_default())
        .collect();
    for ((file, before), after) in files.iter().zip(&before).zip(&after) {
        assert!(
            before == after,
            "{file} changed: {} bytes, then {}",
            before.len(),
            after.len()
        );
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let ok: String = {
        use sqlx::Connection;
        let mut conn = sqlx::AnyConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(ok, "ok");
}

async fn a_hanging_provider_fails_sign_in_in_bounded_time_and_keeps_the_rest_working(
    engine: Engine,
) {
    let timeout = Duration::from_secs(2);
    let app = TestApp::with_outbound_timeout(engine, timeout).await;
    let admin = app.setup_admin().await;
    let idp = HangingIdp::start().await;
    let r = app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"providerName": "Hanging", "clientId": CLIENT, "issuerUri": idp.issuer, "oidcEnabled": true}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    // More sign-ins at once than may wait on the provider, each from its own address.
    let extra = 8;
    let began = Instant::now();
    let mut sign_ins = tokio::task::JoinSet::new();
    for i in 0..MAX_IN_FLIGHT + extra {
        let router = app.router.clone();
        sign_ins.spawn(async move {
            let r = send_to(
                router,
                get("/api/v1/auth/oidc/authorize", None),
                &format!("10.9.{}.{}", i / 250, i % 250 + 1),
            )
            .await;
            (r.location().map(str::to_owned), began.elapsed())
        });
    }
    // Meanwhile the login page and a local admin sign-in answer at once.
    let (page, took) = timed(&app, get("/login", None)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        took < Duration::from_secs(1),
        "the login page took {took:?}"
    );
    let r = app.login("admin", "correct horse battery").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    let mut fast = 0;
    while let Some(done) = sign_ins.join_next().await {
        let (location, took) = done.unwrap();
        assert_eq!(
            location.as_deref(),
            Some("/login?oidcError=provider_unreachable")
        );
        assert!(took < timeout + Duration::from_secs(3), "took {took:?}");
        if took < timeout {
            fast += 1;
        }
    }
    // The ones beyond the bound did not wait for the timeout, and did not reach the provider.
    assert!(fast >= extra, "only {fast} failed fast");
    assert!(
        idp.connections() <= MAX_IN_FLIGHT,
        "{} requests waited on the provider",
        idp.connections()
    );
    assert!(idp.connections() > 0);
}

/// The acquire timeout and the bound on provider requests must not cost a busy moment its
/// sign-ins: 64 OIDC callbacks and 64 local sign-ins at once all succeed.
async fn sixty_four_oidc_and_sixty_four_local_sign_ins_at_once_all_succeed(engine: Engine) {
    let app = TestApp::new(engine).await;
    let flow = Flow::on(app, json!({"autoProvisioning": true})).await;
    let at_once = 64;
    let browser = |i: usize| format!("browser-{i:03}-0123456789abcdefghijklmnopqrstuv");
    let ip = |i: usize| format!("10.8.{}.{}", i / 250, i % 250 + 1);
    let mut callbacks = Vec::new();
    for i in 0..at_once {
        let req = Request::get("/api/v1/auth/oidc/authorize")
            .header("cookie", flow.browser_cookie(&browser(i)))
            .body(Body::empty())
            .unwrap();
        let r = send_to(flow.app.router.clone(), req, &ip(i)).await;
        let location = url::Url::parse(r.location().expect("sent to the provider")).unwrap();
        let param = |k: &str| {
            location
                .query_pairs()
                .find(|(n, _)| n == k)
                .unwrap()
                .1
                .into_owned()
        };
        let token = rs256(
            &flow.claims(&param("nonce"), &format!("sub-{i}"), &format!("user{i}")),
            Some("rsa-1"),
            0,
        );
        let grant = flow.idp.approve(location.as_str());
        flow.idp.set(|b| {
            b.token_status = 200;
            b.tokens_by_code.insert(
                grant.code.clone(),
                json!({"access_token": "at", "token_type": "Bearer", "id_token": token, "expires_in": 300}),
            );
        });
        callbacks.push(
            Request::get(format!("/oauth2-callback?{}", grant.query()))
                .header("cookie", flow.browser_cookie(&browser(i)))
                .body(Body::empty())
                .unwrap(),
        );
    }
    // Each local sign-in its own account: the per-account limit counts attempts as they begin.
    for i in 0..at_once {
        flow.app
            .create_user(
                &flow.admin,
                json!({"username": format!("local{i}"), "email": format!("local{i}@example.org"), "name": format!("Local {i}"), "password": "a long enough password"}),
            )
            .await;
    }
    let began = Instant::now();
    let mut all = tokio::task::JoinSet::new();
    for (i, req) in callbacks.into_iter().enumerate() {
        let (router, ip) = (flow.app.router.clone(), ip(i));
        all.spawn(async move {
            let r = send_to(router, req, &ip).await;
            (
                r.status == StatusCode::SEE_OTHER && r.location() == Some("/"),
                r.text(),
            )
        });
        let (router, ip) = (flow.app.router.clone(), format!("10.7.0.{}", i + 1));
        all.spawn(async move {
            let req = crate::common::json_request(
                axum::http::Method::POST,
                "/api/v1/auth/login",
                &json!({"username": format!("local{i}"), "password": "a long enough password"}),
                None,
            );
            let r = send_to(router, req, &ip).await;
            (r.status == StatusCode::OK, r.text())
        });
    }
    let mut failed = Vec::new();
    while let Some(done) = all.join_next().await {
        let (ok, text) = done.unwrap();
        if !ok {
            failed.push(text);
        }
    }
    println!(
        "{} sign-ins at once took {} ms",
        2 * at_once,
        began.elapsed().as_millis()
    );
    failed.sort();
    failed.dedup();
    assert!(failed.is_empty(), "failures: {failed:?}");
    assert_eq!(
        flow.app
            .count("SELECT COUNT(*) FROM users WHERE username LIKE 'user%'")
            .await,
        at_once as i64
    );
}
