//! What the hydrated page asks of the browser: navigation, confirmation, the clipboard.

/// A full page load, so the server renders the next page with the new session.
pub fn navigate(url: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let _ = window.location().assign(url);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = url;
}

/// Asks the user to confirm a destructive action.
pub fn confirm(question: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| w.confirm_with_message(question).ok())
            .unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = question;
        false
    }
}

/// Copies `text` to the clipboard.
pub fn copy_to_clipboard(text: &str) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(navigator) = web_sys::window().map(|w| w.navigator()) else {
            return;
        };
        // Through Reflect: the typed Clipboard API is still behind an unstable flag in web-sys.
        let clipboard = js_sys::Reflect::get(&navigator, &"clipboard".into()).ok();
        let write = clipboard
            .as_ref()
            .and_then(|c| js_sys::Reflect::get(c, &"writeText".into()).ok())
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        if let (Some(clipboard), Some(write)) = (clipboard, write) {
            let _ = write.call1(&clipboard, &text.into());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}
