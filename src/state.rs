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
            config.secret_key.as_ref().map(|k| k.expose()),
            &config.database_url,
            db.backend(),
        )?));
        db.check_key_fingerprint(secrets.fingerprint(), clock.now())
            .await
            .map_err(|e| match e {
                db::StoreError::Invariant(line) => line.to_owned(),
                other => format!("cannot check the secret key: {other}"),
            })?;
        crate::sealed_upgrade::bind_unbound(&db, &secrets)
            .await
            .map_err(|e| format!("cannot upgrade the stored secrets: {e}"))?;
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
fn secret_key_material(
    configured: Option<&str>,
    database_url: &str,
    backend: db::Backend,
) -> Result<String, String> {
    if let Some(key) = configured {
        return Ok(key.to_owned());
    }
    let dir = match (backend, config::sqlite_dir(database_url)) {
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
        Ok(key) => {
            let key = key.trim();
            // A file cut short (a crash or a full disk while it was written, an editor) would
            // seal everything under a guessable key: refuse it rather than use it.
            if key.chars().count() < config::MIN_SECRET_KEY_CHARS {
                return Err(format!(
                    "the secret key {} is empty or shorter than {} characters: restore it from your backup (secrets stored under it cannot be read without it)",
                    path.display(),
                    config::MIN_SECRET_KEY_CHARS
                ));
            }
            Ok(key.to_owned())
        }
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

/// Creates `path` readable by its owner only, whole or not at all: the key is written to a
/// temporary file, flushed to disk and then renamed into place, so a crash never leaves a
/// short key behind.
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let partial = path.with_extension("key.partial");
    // Left over from a crash before the rename: it never held a key in use.
    match std::fs::remove_file(&partial) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&partial)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder of its own under the system's temporary folder, removed when dropped.
    struct Folder(std::path::PathBuf);

    impl Folder {
        fn new() -> Self {
            let path = std::env::temp_dir().join(format!("grimmory-key-{}", new_setup_token()));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        fn key_material(&self) -> Result<String, String> {
            let url = format!("sqlite://{}/grimmory.db", self.0.display());
            secret_key_material(None, &url, db::Backend::Sqlite)
        }
    }

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_generated_key_is_written_once_and_read_back() {
        let folder = Folder::new();
        let first = folder.key_material().unwrap();
        assert!(first.len() >= config::MIN_SECRET_KEY_CHARS);
        assert_eq!(folder.key_material().unwrap(), first);
        assert!(!folder.0.join("secret.key.partial").exists());
    }

    #[test]
    fn an_empty_or_short_key_file_is_refused() {
        for contents in ["", "\n", "0123456789abcde"] {
            let folder = Folder::new();
            let file = folder.0.join("secret.key");
            std::fs::write(&file, contents).unwrap();
            let err = folder
                .key_material()
                .expect_err("a short key must be refused");
            assert!(err.contains("empty or shorter than 16"), "{err}");
            assert_eq!(
                std::fs::read_to_string(&file).unwrap(),
                contents,
                "the file is left for the operator to restore"
            );
        }
    }
}
