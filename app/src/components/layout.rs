use super::navigate;
use crate::api::{self, paths};
use crate::domain::PageContext;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

/// The frame of a signed-in page: navigation, who is signed in and "Sign out".
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let ctx = expect_context::<PageContext>();
    let is_admin = ctx.user.as_ref().is_some_and(|u| u.is_admin);
    view! {
        <header class="topbar">
            <a class="brand" href="/" rel="external">"Grimmory"</a>
            <nav class="nav nav-wide" aria-label="Main">
                <NavLinks is_admin/>
            </nav>
            {ctx.user.map(|u| view! {
                <div class="who">
                    <span class="who-name" data-testid="signed-in-as">{u.name}</span>
                    <SignOut/>
                </div>
            })}
            // Narrow screens get the same links behind a button; `<details>` opens and closes
            // by itself, so the menu works by keyboard and without JavaScript.
            <details class="menu">
                <summary>"Menu"</summary>
                <nav class="menu-panel" aria-label="Main">
                    <NavLinks is_admin/>
                </nav>
            </details>
        </header>
        <main class="content">{children()}</main>
    }
}

/// The pages this user may open; admins also get the admin pages.
#[component]
fn NavLinks(is_admin: bool) -> impl IntoView {
    view! {
        <NavLink href="/" label="Libraries"/>
        <NavLink href="/profile" label="Profile"/>
        {is_admin.then(|| view! {
            <NavLink href="/admin/users" label="Users"/>
            <NavLink href="/admin/libraries" label="Manage Libraries"/>
            <NavLink href="/admin/audit" label="Audit Log"/>
            <NavLink href="/settings/oidc" label="OIDC Settings"/>
        })}
    }
}

/// A link that loads the page from the server, which loads that page's data.
#[component]
fn NavLink(href: &'static str, label: &'static str) -> impl IntoView {
    view! { <a href=href rel="external">{label}</a> }
}

/// What non-admins see of an admin page: a clear 403, not a blank screen.
#[component]
pub fn Forbidden() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::FORBIDDEN);
    }
    view! {
        <section class="card forbidden" data-testid="forbidden">
            <h1>"403 — Admins only"</h1>
            <p>"This page is for administrators. Ask an admin if you need access."</p>
            <p><a href="/" rel="external">"Back to your libraries"</a></p>
        </section>
    }
}

/// A form post that works without JavaScript; hydrated, it asks the server where to go next.
#[component]
fn SignOut() -> impl IntoView {
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        leptos::task::spawn_local(async {
            let target = api::auth::logout()
                .await
                .map(|r| r.logout_url)
                .unwrap_or_else(|_| "/login?signedOut=1".to_owned());
            navigate(&target);
        });
    };
    view! {
        <form method="post" action=paths::LOGOUT class="signout" on:submit=on_submit>
            <button type="submit" class="link-button">"Sign out"</button>
        </form>
    }
}
