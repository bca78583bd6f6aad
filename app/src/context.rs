//! The page context: what the server knew about the request (who is signed in). The server
//! renders it into the document as JSON, and the browser reads it back before hydrating, so
//! both render the same page without a second request.

use crate::domain::PageContext;

pub fn load() -> PageContext {
    #[cfg(feature = "ssr")]
    {
        leptos::prelude::use_context::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<PageContext>().cloned())
            .unwrap_or_default()
    }
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("grimmory-context"))
            .and_then(|e| e.text_content())
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default()
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        PageContext::default()
    }
}

/// The context as JSON safe to place inside a `<script>` element.
pub fn serialized() -> String {
    serde_json::to_string(&load())
        .unwrap_or_else(|_| "{}".to_owned())
        .replace('<', "\\u003c")
}

pub fn mark_hydrated() {
    #[cfg(feature = "hydrate")]
    if let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = root.set_attribute("data-hydrated", "true");
    }
}

/// Watches the session from the browser: when the server says it ended (revoked at the
/// provider, signed out elsewhere, expired), the page goes to the login page at once.
pub fn watch_session(ctx: &PageContext) {
    #[cfg(feature = "hydrate")]
    if ctx.user.is_some() {
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;
        let Ok(source) = web_sys::EventSource::new(crate::api::paths::SESSION_EVENTS) else {
            return;
        };
        let on_revoked = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_| {
            if let Some(window) = web_sys::window() {
                let _ = window.location().assign("/login?reason=session_revoked");
            }
        });
        let _ =
            source.add_event_listener_with_callback("revoked", on_revoked.as_ref().unchecked_ref());
        // Both live as long as the page.
        on_revoked.forget();
        std::mem::forget(source);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ctx;
}
