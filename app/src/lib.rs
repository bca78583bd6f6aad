//! The Leptos UI: pages rendered on the server and hydrated in the browser. It never talks
//! to the database or the identity provider: the server hands it what a page needs, and the
//! browser calls the JSON API.

// Deep view trees (the OIDC Settings page) are typed as one nested type.
#![recursion_limit = "256"]

pub mod domain;

mod components;
mod context;
mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

/// The HTML document around the app; rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let page_context = context::serialized();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <script id="grimmory-context" type="application/json" inner_html=page_context></script>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let page = context::load();
    provide_context(page.clone());
    // Effects run only in the browser: tests wait for this marker before they click.
    Effect::new(move |_| {
        context::watch_session(&page);
        context::mark_hydrated();
    });
    view! {
        <Stylesheet id="leptos" href="/pkg/grimmory.css"/>
        <Title text="Grimmory"/>
        <Router>
            <Routes fallback=|| view! { <pages::NotFound/> }>
                <Route path=path!("/") view=pages::Dashboard/>
                <Route path=path!("/login") view=pages::Login/>
                <Route path=path!("/setup") view=pages::Setup/>
                <Route path=path!("/profile") view=pages::Profile/>
                <Route path=path!("/admin/users") view=pages::Users/>
                <Route path=path!("/admin/libraries") view=pages::Libraries/>
                <Route path=path!("/admin/audit") view=pages::Audit/>
                <Route path=path!("/settings/oidc") view=pages::OidcSettings/>
            </Routes>
        </Router>
    }
}
