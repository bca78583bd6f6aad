//! The test harness: the real router, in process, on a fresh SQLite file or a fresh
//! PostgreSQL database per test, with a clock the test moves.

#![allow(dead_code)]

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use grimmory::clock::{Clock, ManualClock};
use grimmory::config::{Config, RawSettings};
use grimmory::oidc::client::OidcClient;
use grimmory::oidc::outbound::Outbound;
use grimmory::{build_router, AppState};
use http_body_util::BodyExt;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;
use tower::ServiceExt;

#[derive(Debug, Clone, Copy)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(Engine)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Engine::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Engine::Postgres).await
            }
        }
    )*};
}

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub engine: Engine,
    pub database_url: String,
    /// The database this app made for itself, removed when the app is dropped (after the
    /// fields above, which hold its connections); `None` for an app on another's database.
    owned: Option<OwnDatabase>,
}

/// A test's own database: a SQLite file in a folder of its own, or a PostgreSQL database.
/// Removed when dropped, also when the test panics (the test's future is dropped as it
/// unwinds); only what a killed test process leaves behind waits for [`sweep_old_databases`].
enum OwnDatabase {
    Sqlite(TempDir),
    Postgres(PostgresDatabase),
}

/// A folder under the system's temporary folder with a random name, removed with all it holds
/// when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", random_hex()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct PostgresDatabase(String);

impl Drop for PostgresDatabase {
    /// `Drop` cannot await, and the test's runtime may be unwinding: the database is dropped
    /// from a thread and runtime of its own, waited for so that nothing outlives the test run.
    /// `WITH (FORCE)` ends the connections still open (the app's pool, a server process the
    /// test started and has killed by now). Failures are ignored: a drop must not panic, and
    /// the sweep of a later run removes what is left.
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.0);
        let dropping = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                use sqlx::Connection;
                if let Ok(mut admin) = sqlx::AnyConnection::connect(&base_postgres_url()).await {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .execute(&mut admin)
                            .await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = dropping.join();
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }

    /// The session cookie this reply set, as `name=value` (named `__Host-grimmory_session`
    /// over https).
    pub fn session_cookie(&self) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| {
                (c.starts_with("grimmory_session=") || c.starts_with("__Host-grimmory_session="))
                    && !c.contains("Max-Age=0")
            })
            .map(|c| c.split(';').next().unwrap_or("").to_owned())
    }

    /// Every `Set-Cookie` of this reply, whole.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect()
    }
}

fn base_postgres_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn random_hex() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Drops test databases left by earlier runs, once per test process. Only those older than
/// two hours: another test run may be using the same server right now.
async fn sweep_old_databases(admin: &mut sqlx::AnyConnection) {
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    SWEPT
        .get_or_init(|| async {
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT datname FROM pg_database WHERE datname LIKE 'grimmory_test_%'",
            )
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
            let cutoff = unix_secs().saturating_sub(2 * 3600);
            for name in names {
                let created = name
                    .split('_')
                    .nth(2)
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0);
                if created < cutoff {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .execute(&mut *admin)
                            .await;
                }
            }
        })
        .await;
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn fresh_database(engine: Engine) -> (String, OwnDatabase) {
    match engine {
        Engine::Sqlite => {
            let dir = TempDir::new("grimmory-test");
            (
                format!("sqlite://{}/grimmory.db?mode=rwc", dir.path().display()),
                OwnDatabase::Sqlite(dir),
            )
        }
        Engine::Postgres => {
            use sqlx::Connection;
            sqlx::any::install_default_drivers();
            let base = base_postgres_url();
            let mut admin = sqlx::AnyConnection::connect(&base)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL at {base} is needed for the tests (set TEST_DATABASE_URL): {e}"
                    )
                });
            sweep_old_databases(&mut admin).await;
            let name = format!("grimmory_test_{}_{}", unix_secs(), random_hex());
            sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                .execute(&mut admin)
                .await
                .unwrap();
            let mut url = url::Url::parse(&base).unwrap();
            url.set_path(&name);
            (
                url.to_string(),
                OwnDatabase::Postgres(PostgresDatabase(name)),
            )
        }
    }
}

pub fn raw_settings(database_url: String) -> RawSettings {
    RawSettings {
        database_url: Some(database_url),
        bind: Some("127.0.0.1:0".to_owned()),
        public_url: None,
        force_disable_oidc: None,
        trusted_proxies: None,
        session_idle_hours: None,
        metrics_token: None,
        secret_key: Some("integration test key material".to_owned()),
        secret_key_file: None,
        site_root: None,
        extra_ca_file: None,
        // A loaded machine must not look like a database outage (a slow request sets off a
        // probe after half of this); tests/integration/faults.rs meets the 2 s default.
        db_acquire_timeout_ms: Some("10000".to_owned()),
    }
}

impl TestApp {
    pub async fn new(engine: Engine) -> Self {
        Self::with_settings(engine, |_| {}).await
    }

    pub async fn with_settings(engine: Engine, adjust: impl FnOnce(&mut RawSettings)) -> Self {
        let (url, own) = fresh_database(engine).await;
        let mut app = Self::on_database(engine, &url, adjust).await;
        app.owned = Some(own);
        app
    }

    /// An app on an existing database (another process's, or one reached another way); it
    /// leaves the database behind when dropped.
    pub async fn on_database(
        engine: Engine,
        url: &str,
        adjust: impl FnOnce(&mut RawSettings),
    ) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .try_init();
        let mut raw = raw_settings(url.to_owned());
        adjust(&mut raw);
        let config = Config::from_raw(&raw).expect("test settings are valid");
        let clock = Arc::new(ManualClock::starting_now());
        let state = AppState::new(config, clock.clone() as Arc<dyn Clock>)
            .await
            .expect("app starts");
        Self {
            router: build_router(state.clone()),
            state,
            clock,
            engine,
            database_url: url.to_owned(),
            owned: None,
        }
    }

    /// An app whose requests to the provider time out after `timeout`, to meet a provider
    /// that hangs without waiting ten seconds.
    pub async fn with_outbound_timeout(engine: Engine, timeout: Duration) -> Self {
        Self::with_outbound(engine, Outbound::with_timeout(timeout)).await
    }

    /// An app whose requests to the provider follow `outbound`.
    pub async fn with_outbound(engine: Engine, outbound: Outbound) -> Self {
        let mut app = Self::new(engine).await;
        app.state.services.oidc = Arc::new(OidcClient::with_outbound(
            app.clock.clone() as Arc<dyn Clock>,
            outbound,
        ));
        app.router = build_router(app.state.clone());
        app
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        self.send_from(req, "127.0.0.1").await
    }

    /// Sends a request as if it came from `ip`.
    pub async fn send_from(&self, req: Request<Body>, ip: &str) -> Reply {
        send_to(self.router.clone(), req, ip).await
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut b = Request::builder().uri(path);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    pub async fn post_json(&self, path: &str, body: Value, cookie: Option<&str>) -> Reply {
        self.send(json_request(Method::POST, path, &body, cookie))
            .await
    }

    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> Reply {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut b =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::from(body)).unwrap()).await
    }

    /// Completes setup with the admin `admin` / `correct horse battery`.
    pub async fn setup_admin(&self) -> String {
        let r = self
            .post_json(
                "/api/v1/setup",
                serde_json::json!({"username": "admin", "email": "admin@example.org", "name": "Ada Admin", "password": "correct horse battery"}),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.session_cookie().expect("setup signs the admin in")
    }

    pub async fn login(&self, username: &str, password: &str) -> Reply {
        self.post_json(
            "/api/v1/auth/login",
            serde_json::json!({"username": username, "password": password}),
            None,
        )
        .await
    }

    pub async fn audit_events(&self) -> Vec<Value> {
        self.state
            .db
            .audit_entries(&grimmory::db::AuditFilter {
                limit: 500,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|r| serde_json::to_value(app::domain::AuditEntryDto::from(r)).unwrap())
            .collect()
    }
}

/// Sends a request to `router` as if it came from `ip`; a router is cheap to clone, so
/// requests sent at once can each run in a task of their own.
pub async fn send_to(router: Router, mut req: Request<Body>, ip: &str) -> Reply {
    let addr = SocketAddr::new(ip.parse().unwrap(), 40000);
    req.extensions_mut().insert(ConnectInfo(addr));
    let res = router.oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes().to_vec(),
    }
}

pub fn json_request(
    method: Method,
    path: &str,
    body: &Value,
    cookie: Option<&str>,
) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::from(body.to_string())).unwrap()
}

impl TestApp {
    pub async fn put_json(&self, path: &str, body: Value, cookie: Option<&str>) -> Reply {
        self.send(json_request(Method::PUT, path, &body, cookie))
            .await
    }

    pub async fn delete(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut b = Request::delete(path);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    /// Creates a user through the admin API and answers its JSON.
    pub async fn create_user(&self, admin_cookie: &str, body: Value) -> Value {
        let r = self
            .post_json("/api/v1/admin/users", body, Some(admin_cookie))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()
    }

    /// Signs in and answers the session cookie.
    pub async fn cookie_for(&self, username: &str, password: &str) -> String {
        let r = self.login(username, password).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.session_cookie().unwrap()
    }
}

impl TestApp {
    /// Runs the server binary (`grimmory admin …`) on this test's database with `stdin` as
    /// standard input; answers (success, stdout, stderr).
    pub fn cli(&self, args: &[&str], stdin: &str) -> (bool, String, String) {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_grimmory"))
            .args(args)
            .env("DATABASE_URL", &self.database_url)
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
}

/// What the server logged on this thread while the guard of [`capture_logs`] lived, as text.
#[derive(Clone, Default)]
pub struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Collects the log lines (info and above) of the requests a test sends: they run on the
/// test's own thread, so other tests running at the same time do not show up.
pub fn capture_logs() -> (Logs, tracing::subscriber::DefaultGuard) {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

impl TestApp {
    /// Runs one SQL statement on the test's database behind the server's back (as an
    /// operator, or another replica, would); answers the rows it touched.
    /// A connection of its own to the test's database, beside the app's pool.
    async fn connection(&self) -> sqlx::AnyConnection {
        use sqlx::Connection;
        sqlx::AnyConnection::connect(&self.database_url)
            .await
            .unwrap()
    }

    pub async fn execute(&self, sql: &str) -> u64 {
        let mut conn = self.connection().await;
        let changed = sqlx::query(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .rows_affected();
        // The test wrote as the app would: the app's recent reads no longer count, as after
        // a change of its own (`auth::recent`).
        self.state.recent.changed();
        changed
    }

    /// The one number a `SELECT COUNT(*)`-like query answers.
    pub async fn count(&self, sql: &str) -> i64 {
        let mut conn = self.connection().await;
        sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The one text a `SELECT`-one-value query answers.
    pub async fn text(&self, sql: &str) -> String {
        let mut conn = self.connection().await;
        sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}
