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

/// A new tab, opened at once (within the click, so no popup blocker stops it) and sent to its
/// address when the server has answered.
pub struct NewTab {
    #[cfg(feature = "hydrate")]
    window: Option<web_sys::Window>,
}

impl NewTab {
    pub fn open() -> Self {
        #[cfg(feature = "hydrate")]
        {
            let window = web_sys::window()
                .and_then(|w| w.open_with_url_and_target("about:blank", "_blank").ok())
                .flatten();
            // The provider's page gets no handle on this one.
            if let Some(tab) = &window {
                let _ = tab.set_opener(&wasm_bindgen::JsValue::NULL);
            }
            Self { window }
        }
        #[cfg(not(feature = "hydrate"))]
        Self {}
    }

    /// Sends the tab to `url`; where the browser opened no tab, this page goes there.
    pub fn go(self, url: &str) {
        #[cfg(feature = "hydrate")]
        match self.window {
            Some(tab) => {
                let _ = tab.location().set_href(url);
            }
            None => navigate(url),
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = url;
    }

    /// Closes the tab: there is nowhere to send it.
    pub fn close(self) {
        #[cfg(feature = "hydrate")]
        if let Some(tab) = self.window {
            let _ = tab.close();
        }
    }
}
