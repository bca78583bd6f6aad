//! Integration tests over the real router, each on SQLite and on PostgreSQL.

mod common;

mod abuse_limits;
mod admin;
mod apps_pages;
mod backchannel;
mod behind_a_proxy;
mod cli;
mod crash;
mod device;
mod fake_idp;
mod faults;
mod grants;
mod grants_oidc;
mod hardening;
mod linking;
mod login;
mod metrics;
mod mobile;
mod oidc_only;
mod oidc_provider;
mod oidc_settings;
mod oidc_sign_in;
mod pages;
mod real_idp;
mod refresh;
mod replicas;
mod sealed;
mod security;
mod server_fns;
mod sessions;
mod setup;
mod shutdown;
mod signer;
mod strict_bodies;
mod try_sign_in;
