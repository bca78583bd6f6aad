//! Integration tests over the real router, each on SQLite and on PostgreSQL.

mod common;

mod login;
mod pages;
mod security;
mod sessions;
mod setup;
