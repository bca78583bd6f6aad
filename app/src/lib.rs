//! The Leptos UI: pages rendered on the server and hydrated in the browser. It never talks
//! to the database or the identity provider: the server hands it what a page needs, and the
//! browser calls the server through typed server functions (`api`).

// Deep view trees (the OIDC Settings page) are typed as one nested type.
#![recursion_limit = "256"]

pub mod api;
pub mod domain;
pub mod page;

mod components;
mod context;
mod pages;

use leptos::children::ToChildren;
use leptos::prelude::*;
use leptos::tachys::view::iterators::StaticVec;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Router, Routes, RoutesProps};
use leptos_router::NestedRoute;
use page::Page;

/// The HTML document around the app; rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let page_context = context::serialized();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="theme-color" content="#5b4bc4"/>
                <link rel="icon" href="/favicon.ico" sizes="any"/>
                <link rel="apple-touch-icon" href="/apple-touch-icon.png"/>
                <link rel="manifest" href="/manifest.webmanifest"/>
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
            <PageRoutes/>
        </Router>
    }
}

/// One route per page of the table, each showing the page the server loaded. Built without
/// `view!`, which takes a `{block}` child for something to render, not for route definitions.
#[component]
fn PageRoutes() -> impl IntoView {
    let routes: StaticVec<_> = Page::ALL
        .iter()
        .map(|page| NestedRoute::new(page.route(), pages::Loaded))
        .collect::<Vec<_>>()
        .into();
    Routes(
        RoutesProps::builder()
            .fallback(|| view! { <pages::NotFound/> })
            .children(ToChildren::to_children(move || routes))
            .build(),
    )
}
