//! OpenID Connect: the settings admins save, the outbound HTTP policy for talking to the
//! provider, Test Connection, and the values to paste into the provider.

pub mod group_mappings;
pub mod outbound;
pub mod reference;
pub mod settings;
pub mod test_connection;
