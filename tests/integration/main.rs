//! Integration tests over the real router, each on SQLite and on PostgreSQL.

mod common;

mod abuse_limits;
mod admin;
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
mod oidc_only;
mod oidc_provider;
mod oidc_settings;
mod oidc_sign_in;
mod pages;
mod real_idp;
mod real_provider;
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
mod strict_provider;
mod try_sign_in;
