//! HTTP plumbing shared by every route: who is calling (client IP, origin, session), request
//! bodies, CSRF defence and security headers.

pub mod app_auth;
pub mod client;
pub mod cookies;
pub mod csrf;
pub mod headers;
pub mod input;
pub mod session;
pub mod unavailable;
