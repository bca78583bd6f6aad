//! Authentication: passwords, sessions, local sign-in and first-run setup. Plain Rust over
//! the database; the HTTP layer in `routes` only translates.

pub mod backchannel;
pub mod limits;
pub mod local_login;
pub mod logout;
pub mod own_identity;
pub mod own_password;
pub mod password;
pub mod recent;
pub mod refresh;
pub mod session;
pub mod setup;
pub mod sign_in;
