//! The endpoints the UI reaches without a server function: form posts that must work before
//! hydration, navigation to the identity provider, and the session event stream. The server
//! mounts its handlers at these same constants.

/// Sign-in form (username and password); answers a form post with a redirect.
pub const LOGIN: &str = "/api/v1/auth/login";
/// Sign-out form; answers a form post with a redirect.
pub const LOGOUT: &str = "/api/v1/auth/logout";
/// First-run setup form; answers a form post with a redirect.
pub const SETUP: &str = "/api/v1/setup";
/// Starts sign-in at the identity provider (a navigation, not a call).
pub const OIDC_AUTHORIZE: &str = "/api/v1/auth/oidc/authorize";
/// Starts the provider round trip that links the signed-in user to the identity that comes
/// back, then returns to the profile page. A form post from /profile, never a link: a GET
/// could be sent by any page, and linking changes the account.
pub const LINK_OIDC_ACCOUNT: &str = "/api/v1/auth/oidc/link";
/// Server-sent events about the caller's session (it says when the session ends).
pub const SESSION_EVENTS: &str = "/api/v1/auth/events";
/// Who is signed in: asked when the session stream is refused, to tell a signed-out browser
/// from a server that stumbled.
pub const ME: &str = "/api/v1/auth/me";
