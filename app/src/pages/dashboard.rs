use crate::components::Layout;
use crate::domain::{DashboardData, PageContext};
use leptos::prelude::*;

/// `/`: who is signed in and the libraries they can open (admins: all).
#[component]
pub fn Dashboard(data: DashboardData) -> impl IntoView {
    let ctx = expect_context::<PageContext>();
    let libraries = data.libraries;
    let body = ctx.user.map(|user| {
        view! {
            <h1 data-testid="greeting">"Welcome, " {user.name.clone()}</h1>
            <dl class="facts">
                <dt>"Username"</dt>
                <dd data-testid="username">{user.username.clone()}</dd>
                <dt>"Email"</dt>
                <dd data-testid="email">{user.email.clone().unwrap_or_else(|| "—".to_owned())}</dd>
            </dl>
            <section class="card">
                <h2>"Your Libraries"</h2>
                {if libraries.is_empty() {
                    view! { <p class="muted" data-testid="no-libraries">"No libraries yet."</p> }.into_any()
                } else {
                    view! {
                        <ul class="library-list" data-testid="libraries">
                            {libraries.into_iter().map(|l| view! { <li>{l.name}</li> }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </section>
        }
    });
    view! { <Layout>{body}</Layout> }
}
