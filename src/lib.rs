//! The Grimmory server: composition root. `build_router` gives tests the exact router that
//! `main` serves.

pub mod admin;
pub mod api_types;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod grants;
pub mod http;
pub mod memory;
pub mod metrics;
pub mod oidc;
pub mod oidc_settings;
pub mod routes;
pub mod sealed_upgrade;
pub mod state;
pub mod validation;

pub use routes::build_router;
pub use state::AppState;
