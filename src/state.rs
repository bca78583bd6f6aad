//! What the server shares, built once at start: the services' dependencies (`Services`), and
//! what only the HTTP edges need on top (`AppState`).

use crate::clock::Clock;
use crate::config::{self, Config};
use crate::db::{self, Db};
use crate::{auth, crypto, metrics, oidc};
use leptos::prelude::LeptosOptions;
use rand::RngCore;
use std::ops::Deref;
use std::sync::Arc;

/// What the services (`auth`, `admin`, `oidc_settings`) work with: the stores, the
/// configuration, the clock, the secret box, the OIDC client and the sign-in counters. No HTTP
/// and no rendering. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub db: Db,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    /// Asked for by setup when the server listens on a non-loopback address.
    pub setup_token: Option<Arc<str>>,
    /// A hash checked for unknown users so their answer takes as long as a wrong password's.
    pub dummy_hash: Arc<str>,
    pub metrics: Arc<metrics::Metrics>,
    pub secrets: Arc<crypto::SecretBox>,
    /// The one client of the identity provider (its HTTP policy and caches).
    pub oidc: Arc<oidc::client::OidcClient>,
}

/// What the HTTP edges (handlers, middleware, server functions, pages) share: the services,
/// and the options the pages render with. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub leptos: LeptosOptions,
    pub proxy_warning: crate::http::client::ProxyWarning,
}

/// Edges reach the services' parts directly (`state.db`), and hand `&state` to a service
/// function, which takes `&Services`.
impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

impl AppState {
    /// Connects to the database, migrates it and prepares the per-process secrets.
    pub async fn new(config: Config, clock: Arc<dyn Clock>) -> Result<Self, String> {
        if config.database_url == config::DEFAULT_SQLITE_URL {
            std::fs::create_dir_all(config::default_data_dir())
                .map_err(|e| format!("cannot create the data folder ./data: {e}"))?;
        }
        let db = Db::connect(&config.database_url)
            .await
            .map_err(|e| format!("DATABASE_URL: cannot open the database: {e}"))?;
        let setup_token = if config.bind.ip().is_loopback()
            || db.setup_completed().await.map_err(|e| e.to_string())?
        {
            None
        } else {
            Some(Arc::from(new_setup_token()))
        };
        let secrets = Arc::new(crypto::SecretBox::new(&secret_key_material(
            &config,
            db.backend(),
        )?));
        db.check_key_fingerprint(secrets.fingerprint(), clock.now())
            .await
            .map_err(|e| match e {
                db::StoreError::Invariant(line) => line.to_owned(),
                other => format!("cannot check the secret key: {other}"),
            })?;
        let dummy_hash = auth::password::dummy_hash()
            .await
            .map_err(|e| e.to_string())?;
        let leptos = LeptosOptions::builder()
            .output_name("grimmory")
            .site_root(config.site_root.as_str())
            .site_pkg_dir("pkg")
            .site_addr(config.bind)
            .build();
        let services = Services {
            db,
            config: Arc::new(config),
            oidc: Arc::new(oidc::client::OidcClient::new(clock.clone())),
            clock,
            setup_token,
            dummy_hash: Arc::from(dummy_hash),
            metrics: Arc::default(),
            secrets,
        };
        Ok(Self {
            services,
            leptos,
            proxy_warning: Default::default(),
        })
    }
}

/// A one-time token printed in the log at start, so that a server reachable from the network
/// cannot be claimed by whoever finds it first.
fn new_setup_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The configured key, or with SQLite one generated once into the database's folder.
/// PostgreSQL serves several replicas, which must share one key, so it must be given.
fn secret_key_material(config: &Config, backend: db::Backend) -> Result<String, String> {
    if let Some(key) = &config.secret_key {
        return Ok(key.expose().to_owned());
    }
    let dir = match (backend, config::sqlite_dir(&config.database_url)) {
        (db::Backend::Sqlite, Some(dir)) => dir,
        _ => {
            return Err(
                "GRIMMORY_SECRET_KEY (or GRIMMORY_SECRET_KEY_FILE) is required with PostgreSQL: every replica must share one key"
                    .to_owned(),
            )
        }
    };
    let path = dir.join("secret.key");
    match std::fs::read_to_string(&path) {
        Ok(key) => Ok(key.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = crypto::generate_key();
            write_private(&path, &key).map_err(|e| {
                format!(
                    "cannot write the generated secret key to {}: {e}",
                    path.display()
                )
            })?;
            tracing::info!(path = %path.display(), "generated a secret key for encrypting secrets at rest");
            Ok(key)
        }
        Err(e) => Err(format!(
            "cannot read the secret key {}: {e}",
            path.display()
        )),
    }
}

/// Creates `path` readable by its owner only.
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}
