//! The OpenID Connect protocol as a client: the outbound HTTP policy, discovery and key
//! caches, the authorization code flow, token and userinfo requests, ID-token and logout-token
//! checks, and revocation. Business rules (who an identity is in Grimmory) live in `auth`; the admins'
//! settings in `oidc_settings`.

pub mod client;
pub mod flow;
pub mod id_token;
pub mod jws;
pub mod logout_token;
pub mod outbound;
pub mod provider;
pub mod refresh;
pub mod revocation;
pub mod token_endpoint;
