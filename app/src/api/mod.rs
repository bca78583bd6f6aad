//! The UI's calls to the server: Leptos server functions, one file per resource, with the
//! argument and answer types of the REST contract (`crate::domain`).
//!
//! Where Appendix A's shape allows it, a server function *is* the contract's endpoint: same
//! path, method, status codes and error body (see [`Api`]), so outside clients and the UI
//! use one surface and the server has one handler. That covers every admin change (users,
//! libraries, settings, group mappings, ids in the path included), the password change and
//! unlinking one's own identity. Sign-in, setup and sign-out also take plain HTML form posts
//! answered with redirects (they work before hydration), so their REST handlers stay at
//! `/api/v1/...` and the UI's JavaScript path uses server functions under `/api/ui/`, which
//! are the UI's own and not part of the contract. Both call the same service functions.
//!
//! Each server body is one line: it takes the [`Backend`] the server provides for the call at
//! hand and asks it. The server checks who may do what; nothing here is trusted.

pub mod auth;
mod body;
mod error;
pub mod grants;
pub mod group_mappings;
pub mod libraries;
pub mod oidc_settings;
pub mod paths;
mod protocol;
pub mod users;

pub use body::{json_object, object_into};
pub use protocol::{Act, Api, Create, Delete, Patch, PathIds, Post, Put, Verb};

#[cfg(feature = "ssr")]
mod backend;
#[cfg(feature = "ssr")]
pub use backend::{backend, Backend, Reply};
