//! What admins do to users and libraries: validation, the admin invariants and the audit
//! trail, over the stores in `db`.

pub mod libraries;
pub mod users;
