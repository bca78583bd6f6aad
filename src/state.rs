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
    /// Made at start while no admin exists; asked for by setup unless it comes from this
    /// machine to a server listening on loopback.
    pub setup_token: Option<Arc<str>>,
    /// A hash checked for unknown users so their answer takes as long as a wrong password's.
    pub dummy_hash: Arc<str>,
    pub metrics: Arc<metrics::Metrics>,
    pub secrets: Arc<crypto::SecretBox>,
    /// The one client of the identity provider (its HTTP policy and caches).
    pub oidc: Arc<oidc::client::OidcClient>,
    /// This replica's recent reads of sessions and users (`auth::recent`).
    pub recent: Arc<auth::recent::Recent>,
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
        // Needed by setup from anywhere but this machine (`auth::setup::token_needed`).
        let setup_token = if db.setup_completed().await.map_err(|e| e.to_string())? {
            None
        } else {
            Some(Arc::from(new_setup_token()))
        };
        // A database that already holds secrets must never get a freshly generated key.
        let stored_fingerprint = db
            .setting("secret_key_fingerprint")
            .await
            .map_err(|e| format!("cannot check the secret key: {e}"))?;
        let secrets = Arc::new(crypto::SecretBox::new(&secret_key_material(
            config.secret_key.as_ref().map(|k| k.expose()),
            &config.database_url,
            db.backend(),
            stored_fingerprint.is_some(),
        )?));
        db.check_key_fingerprint(stored_fingerprint, secrets.fingerprint(), clock.now())
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
        let outbound = oidc::outbound::Outbound::trusting(&config.extra_roots.0);
        let services = Services {
            db,
            config: Arc::new(config),
            oidc: Arc::new(oidc::client::OidcClient::with_outbound(
                clock.clone(),
                outbound,
            )),
            clock,
            setup_token,
            dummy_hash: Arc::from(dummy_hash),
            metrics: Arc::default(),
            secrets,
            recent: Arc::default(),
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
    key_in_use: bool,
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
        // Set up with a key that is not here (another folder, a lost file): making a new one
        // would only fail the fingerprint check after leaving a stray key behind.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && key_in_use => Err(format!(
            "this database was set up with a secret key, but {} does not exist: run from the server's folder, restore the file from your backup, or give GRIMMORY_SECRET_KEY",
            path.display()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = crypto::generate_key();
            let key = write_private(&path, &key).map_err(|e| {
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

/// Creates `path` readable by its owner only, whole or not at all, and never over a key that
/// is already there: the key is written to a temporary file and flushed to disk, then
/// hard-linked into place, which fails when `path` exists (another process starting at the
/// same moment wrote its key first; that one is then read and used). A crash never leaves a
/// short key behind. Answers the key in use.
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<String> {
    use std::io::Write;
    let partial = path.with_extension(format!("key.partial.{}", std::process::id()));
    // Left over from a crash of an earlier process with our id: it never held a key in use.
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
    let linked = std::fs::hard_link(&partial, path);
    std::fs::remove_file(&partial)?;
    let key = match linked {
        Ok(()) => contents.to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read_to_string(path)?.trim().to_owned()
        }
        Err(e) => return Err(e),
    };
    // The new directory entry must reach the disk too, or a crash could lose the key that
    // already sealed secrets.
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(key)
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
            self.key_material_for(false)
        }

        /// `key_in_use`: the database already holds the fingerprint of a key.
        fn key_material_for(&self, key_in_use: bool) -> Result<String, String> {
            let url = format!("sqlite://{}/grimmory.db", self.0.display());
            secret_key_material(None, &url, db::Backend::Sqlite, key_in_use)
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
        let leftovers = std::fs::read_dir(&folder.0)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name() != "secret.key")
            .count();
        assert_eq!(leftovers, 0, "no partial file is left behind");
    }

    #[test]
    fn no_key_is_made_for_a_database_that_has_one() {
        let folder = Folder::new();
        let err = folder
            .key_material_for(true)
            .expect_err("a database set up with a key gets no new one");
        assert!(err.contains("does not exist"), "{err}");
        assert_eq!(
            std::fs::read_dir(&folder.0).unwrap().count(),
            0,
            "nothing written"
        );
    }

    #[test]
    fn an_existing_key_file_is_never_replaced() {
        // Another process wrote its key between our read (not found) and our write.
        let folder = Folder::new();
        let file = folder.0.join("secret.key");
        let theirs = "f".repeat(64);
        std::fs::write(&file, &theirs).unwrap();
        let used = write_private(&file, &"0".repeat(64)).unwrap();
        assert_eq!(used, theirs, "the key already written is the one used");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), theirs);
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
