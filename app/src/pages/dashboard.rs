use crate::components::Layout;
use crate::domain::PageContext;
use leptos::prelude::*;

#[component]
pub fn Dashboard() -> impl IntoView {
    let ctx = expect_context::<PageContext>();
    let body = ctx.user.map(|user| {
        let libraries = user.library_ids.len();
        view! {
            <h1 data-testid="greeting">"Welcome, " {user.name.clone()}</h1>
            <dl class="facts">
                <dt>"Username"</dt>
                <dd data-testid="username">{user.username.clone()}</dd>
                <dt>"Email"</dt>
                <dd data-testid="email">{user.email.clone().unwrap_or_else(|| "—".to_owned())}</dd>
            </dl>
            <section class="card">
                <h2>"Your libraries"</h2>
                <p class="muted">
                    {if libraries == 0 {
                        "No libraries yet.".to_owned()
                    } else {
                        format!("You have access to {libraries} libraries.")
                    }}
                </p>
            </section>
        }
    });
    view! { <Layout>{body}</Layout> }
}
