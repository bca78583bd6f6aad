//! Integration tests over the real router, each on SQLite and on PostgreSQL.

mod common;

mod admin;
mod cli;
mod hardening;
mod login;
mod metrics;
mod pages;
mod security;
mod sessions;
mod setup;
