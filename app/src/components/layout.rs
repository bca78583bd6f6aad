use super::{navigate, post_json};
use crate::domain::{LogoutResponse, PageContext};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

/// The frame of a signed-in page: who is signed in and "Sign out".
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let ctx = expect_context::<PageContext>();
    view! {
        <header class="topbar">
            <a class="brand" href="/">"Grimmory"</a>
            {ctx.user.map(|u| view! {
                <div class="who">
                    <span class="who-name" data-testid="signed-in-as">{u.name}</span>
                    <SignOut/>
                </div>
            })}
        </header>
        <main class="content">{children()}</main>
    }
}

/// A form post that works without JavaScript; hydrated, it asks the API where to go next.
#[component]
fn SignOut() -> impl IntoView {
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        leptos::task::spawn_local(async {
            let target =
                post_json::<_, LogoutResponse>("/api/v1/auth/logout", &serde_json::json!({}))
                    .await
                    .map(|r| r.logout_url)
                    .unwrap_or_else(|_| "/login?signedOut=1".to_owned());
            navigate(&target);
        });
    };
    view! {
        <form method="post" action="/api/v1/auth/logout" class="signout" on:submit=on_submit>
            <button type="submit" class="link-button">"Sign out"</button>
        </form>
    }
}
