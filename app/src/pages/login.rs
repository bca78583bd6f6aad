use crate::api::{self, paths};
use crate::components::navigate;
use crate::domain::{
    login_notice, safe_return_to, LoginData, LoginRequest, OidcError, PageContext,
};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// "Welcome Back": the username and password form. It posts as a plain form without
/// JavaScript (the server answers with redirects) and through the JSON API when hydrated.
#[component]
pub fn Login(data: LoginData) -> impl IntoView {
    let query = use_query_map().get_untracked();
    let page = expect_context::<PageContext>();
    let public = data.public_settings;
    let admin_reason = query
        .get("oidcError")
        .filter(|_| page.user.as_ref().is_some_and(|u| u.is_admin))
        .and(data.last_oidc_failure);
    let return_to = query
        .get("returnTo")
        .filter(|r| safe_return_to(r).is_some());
    let local_asked = query.get("local").as_deref() == Some("true");
    let marked = ["oidcError", "reason", "signedOut"]
        .iter()
        .any(|k| query.get(k).is_some());
    // OIDC-only mode: the local form only on request (it lets admins in); landing here
    // without a reason means the automatic trips to the provider gave up.
    let show_form = !public.oidc_force_only_mode || local_asked;
    let gave_up = public.oidc_force_only_mode && !local_asked && !marked;
    let notice = if query.get("signedOut").is_some() {
        Some("You have been signed out.")
    } else if query.get("reason").as_deref() == Some("session_revoked") {
        Some("Your session has been revoked. Please sign in again.")
    } else {
        None
    };
    // Kept after a failed form post without JavaScript, so the user only retypes the password.
    let remembered_username = query.get("username").unwrap_or_default();
    let username = RwSignal::new(remembered_username.clone());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(
        query
            .get("error")
            .map(|code| {
                login_notice(&code)
                    .unwrap_or("Sign-in failed. Please try again.")
                    .to_owned()
            })
            .or_else(|| {
                query
                    .get("oidcError")
                    .map(|code| OidcError::from_code(&code).text().to_owned())
            }),
    );
    let oidc_href = {
        let mut href = paths::OIDC_AUTHORIZE.to_owned();
        if let Some(r) = &return_to {
            href.push_str("?returnTo=");
            href.push_str(&url_encode(r));
        }
        href
    };
    let provider = if public.oidc_provider_name.is_empty() {
        "OIDC".to_owned()
    } else {
        public.oidc_provider_name.clone()
    };
    let pending = RwSignal::new(false);

    let target = return_to.clone().unwrap_or_else(|| "/".to_owned());
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        pending.set(true);
        let credentials = LoginRequest {
            username: Some(username.get_untracked()),
            password: Some(password.get_untracked()),
        };
        let target = target.clone();
        leptos::task::spawn_local(async move {
            match api::auth::login(credentials).await {
                Ok(_) => navigate(&target),
                Err(e) => {
                    error.set(Some(e.message));
                    pending.set(false);
                }
            }
        });
    };

    view! {
        <main class="auth-page">
            <div class="card auth-card">
                <h1>"Welcome Back"</h1>
                <p class="subtitle">"Sign in to continue your journey"</p>
                {notice.map(|text| view! { <p class="notice" data-testid="notice">{text}</p> })}
                {move || error.get().map(|text| view! { <p class="error" role="alert" data-testid="login-error">{text}</p> })}
                {admin_reason.map(|reason| view! {
                    <p class="hint" data-testid="machine-reason">"Reason (shown to admins): " <code>{reason}</code></p>
                })}
                {gave_up.then(|| view! {
                    <p class="error" role="alert" data-testid="gave-up">
                        "Unable to reach the identity provider. Please contact your administrator."
                    </p>
                })}
                <form method="post" action=paths::LOGIN on:submit=on_submit class:hidden=!show_form>
                    <label>
                        "Username"
                        <input
                            name="username"
                            autocomplete="username"
                            required
                            value=remembered_username
                            on:input:target=move |ev| username.set(ev.target().value())
                        />
                    </label>
                    <label>
                        "Password"
                        <input name="password" type="password" autocomplete="current-password" required bind:value=password/>
                    </label>
                    {return_to.map(|r| view! { <input type="hidden" name="returnTo" value=r/> })}
                    <button type="submit" class="primary" disabled=move || pending.get()>"Sign In"</button>
                </form>
                {public.oidc_enabled.then(|| view! {
                    <div class="divider"><span>"or continue with"</span></div>
                    <a class="button oidc" href=oidc_href rel="external" data-testid="oidc-button">{format!("Sign in with {provider}")}</a>
                })}
                {(!show_form).then(|| view! {
                    <p class="hint"><a href="/login?local=true" rel="external">"Sign in with a local account (admins)"</a></p>
                })}
            </div>
        </main>
    }
}

/// Percent-encodes a query value (the return path is already known to be a plain local path).
fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
