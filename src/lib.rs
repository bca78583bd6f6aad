//! The Grimmory server: composition root. `build_router` gives tests the exact router that
//! `main` serves.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod metrics;
pub mod routes;
pub mod validation;

use clock::Clock;
use config::Config;
use db::Db;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;

/// Everything a request handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    /// Asked for by setup when the server listens on a non-loopback address.
    pub setup_token: Option<Arc<str>>,
    /// A hash checked for unknown users so their answer takes as long as a wrong password's.
    pub dummy_hash: Arc<str>,
    pub leptos: LeptosOptions,
    pub metrics: Arc<metrics::Metrics>,
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
            Some(Arc::from(auth::setup::new_setup_token()))
        };
        let dummy_hash = auth::password::dummy_hash()
            .await
            .map_err(|e| e.to_string())?;
        let leptos = LeptosOptions::builder()
            .output_name("grimmory")
            .site_root(config.site_root.as_str())
            .site_pkg_dir("pkg")
            .site_addr(config.bind)
            .build();
        Ok(Self {
            db,
            config: Arc::new(config),
            clock,
            setup_token,
            dummy_hash: Arc::from(dummy_hash),
            leptos,
            metrics: Arc::default(),
        })
    }
}

pub use routes::build_router;
