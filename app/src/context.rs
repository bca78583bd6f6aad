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
    if let Some(user) = &ctx.user {
        watch(user.id);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ctx;
}

/// One session stream. It first names the user whose session it watches. When that session
/// ends, the browser may already hold a newer one: a sign-in in another tab replaces the
/// browser's session. So the page watches afresh, and the new stream names the same user (the
/// page stays, and nothing typed on it is lost) or another user (the page reloads as them), or
/// is refused ([`after_refusal`]).
#[cfg(feature = "hydrate")]
fn watch(user_id: i64) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    use web_sys::{EventSource, MessageEvent};
    let Ok(source) = EventSource::new(crate::api::paths::SESSION_EVENTS) else {
        return;
    };
    let on_session = Closure::<dyn FnMut(MessageEvent)>::new({
        let source = source.clone();
        move |event: MessageEvent| {
            let watched = event.data().as_string().and_then(|d| d.parse::<i64>().ok());
            if watched != Some(user_id) {
                source.close();
                go(None);
            }
        }
    });
    let on_revoked = Closure::<dyn FnMut(MessageEvent)>::new({
        let source = source.clone();
        move |_| {
            source.close();
            watch(user_id);
        }
    });
    // A dropped stream reconnects by itself; a refused one is closed for good.
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new({
        let source = source.clone();
        move |_| {
            if source.ready_state() == EventSource::CLOSED {
                leptos::task::spawn_local(after_refusal(user_id));
            }
        }
    });
    let _ = source.add_event_listener_with_callback("session", on_session.as_ref().unchecked_ref());
    let _ = source.add_event_listener_with_callback("revoked", on_revoked.as_ref().unchecked_ref());
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    // They live as long as the stream, which the browser keeps while the page is open.
    on_session.forget();
    on_revoked.forget();
    on_error.forget();
}

/// The server refused the session stream: the session ended, or the server stumbled (a
/// restart, the database briefly away). `me` tells which. Signed out: the login page says why.
/// Signed in as someone else: the page reloads as them. Otherwise the page stays and watches
/// again shortly, so a later revocation still reaches it.
#[cfg(feature = "hydrate")]
async fn after_refusal(user_id: i64) {
    use wasm_bindgen::JsCast;
    const AGAIN_AFTER_MS: i32 = 5_000;
    match signed_in_as().await {
        Some(None) => go(Some("/login?reason=session_revoked")),
        Some(Some(id)) if id != user_id => go(None),
        _ => {
            let again = wasm_bindgen::closure::Closure::once_into_js(move || watch(user_id));
            if let Some(window) = web_sys::window() {
                let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                    again.unchecked_ref(),
                    AGAIN_AFTER_MS,
                );
            }
        }
    }
}

/// Who this browser is signed in as: `Some(None)` when signed out, `None` when the server did
/// not say.
#[cfg(feature = "hydrate")]
async fn signed_in_as() -> Option<Option<i64>> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let window = web_sys::window()?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(crate::api::paths::ME))
        .await
        .ok()?
        .dyn_into()
        .ok()?;
    match response.status() {
        401 => Some(None),
        200 => {
            let me = JsFuture::from(response.json().ok()?).await.ok()?;
            let id = js_sys::Reflect::get(&me, &"id".into()).ok()?.as_f64()?;
            // Ids are whole numbers well inside f64's exact range.
            Some(Some(id as i64))
        }
        _ => None,
    }
}

/// Sends the page to `to`, or reloads it.
#[cfg(feature = "hydrate")]
fn go(to: Option<&str>) {
    if let Some(location) = web_sys::window().map(|w| w.location()) {
        let _ = match to {
            Some(url) => location.assign(url),
            None => location.reload(),
        };
    }
}
