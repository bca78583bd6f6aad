//! OpenID Connect: the settings admins save, the outbound HTTP policy for talking to the
//! provider, Test Connection, and the values to paste into the provider.

pub mod flow;
pub mod group_mappings;
pub mod id_token;
pub mod jws;
pub mod logout_token;
pub mod outbound;
pub mod provider;
pub mod reference;
pub mod settings;
pub mod test_connection;
pub mod token_endpoint;
