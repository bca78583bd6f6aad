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
