//! `/device`: connect a device by the code it shows (spec section 11.3). The code form is a
//! plain GET form, so the server looks the code up (under the wrong-code limits) while it
//! renders the page, with or without JavaScript; then "Allow" or "Deny".

use crate::api::grants::approve_device;
use crate::components::{navigate, FieldMessage, Layout, Status, StatusLine};
use crate::domain::{DeviceApprovalRequest, DeviceData, FieldError, PageContext};
use leptos::prelude::*;

#[component]
pub fn Device(data: DeviceData) -> impl IntoView {
    let ctx = expect_context::<PageContext>();
    let username = ctx.user.map(|u| u.username).unwrap_or_default();
    let body = match data.client_name.clone() {
        Some(client) => view! { <Approve data client username/> }.into_any(),
        None => view! { <CodeForm data/> }.into_any(),
    };
    view! {
        <Layout>
            <div class="page-head"><h1>"Connect a device"</h1></div>
            <section class="card auth-card">{body}</section>
        </Layout>
    }
}

/// The code the device shows.
#[component]
fn CodeForm(data: DeviceData) -> impl IntoView {
    view! {
        <form method="get" action="/device" class="grid-form" data-testid="device-code-form">
            <label>
                "Code shown on your device"
                <input
                    name="code"
                    class="device-code"
                    value=data.code
                    autocomplete="off"
                    autocapitalize="characters"
                    spellcheck="false"
                    placeholder="WDJB-MJHT"
                    aria-describedby="device-code-hint"
                    required
                    autofocus
                />
            </label>
            <p class="hint" id="device-code-hint">"The eight letters your e-reader, TV or app shows. Dashes and case do not matter."</p>
            {data.error.map(|e| view! { <p class="field-error" role="alert" data-testid="device-code-error">{e}</p> })}
            <div class="buttons"><button type="submit" class="primary">"Continue"</button></div>
        </form>
    }
}

/// What became of the request on this page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Open,
    Allowed,
    Denied,
}

/// "Allow {client} to access your library as {username}?"
#[component]
fn Approve(data: DeviceData, client: String, username: String) -> impl IntoView {
    let code = data.code.clone();
    let needs_password = data.needs_password;
    let password = RwSignal::new(String::new());
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let status = RwSignal::new(None::<Status>);
    let outcome = RwSignal::new(Outcome::Open);
    let pending = RwSignal::new(false);
    let decide = move |allow: bool| {
        let request = DeviceApprovalRequest {
            user_code: Some(code.clone()),
            allow: Some(allow),
            password: (allow && needs_password).then(|| password.get_untracked()),
        };
        pending.set(true);
        leptos::task::spawn_local(async move {
            match approve_device(request).await {
                Ok(_) => outcome.set(if allow {
                    Outcome::Allowed
                } else {
                    Outcome::Denied
                }),
                // Confirm with the provider first; the round trip comes back to this code.
                Err(e) if e.url.is_some() => navigate(e.url.as_deref().unwrap_or("/device")),
                Err(e) => {
                    status.set(e.errors.is_empty().then(|| Status::from_error(&e)));
                    errors.set(e.errors);
                }
            }
            pending.set(false);
        });
    };
    let (allow, deny) = (decide.clone(), decide);
    let question = format!("Allow {client} to access your library as {username}?");
    let done_client = client.clone();
    view! {
        {move || match outcome.get() {
            Outcome::Allowed => view! {
                <h2 role="status" data-testid="device-outcome">{format!("{done_client} is connected.")}</h2>
                <p>"You can go back to your device. You can revoke it at any time under "<a href="/profile" rel="external">"Devices and apps"</a>"."</p>
            }.into_any(),
            Outcome::Denied => view! {
                <h2 role="status" data-testid="device-outcome">{format!("{done_client} was not connected.")}</h2>
                <p><a href="/device" rel="external">"Connect another device"</a></p>
            }.into_any(),
            Outcome::Open => ().into_any(),
        }}
        <form
            class="grid-form"
            class:hidden=move || outcome.get() != Outcome::Open
            data-testid="device-approval"
            on:submit=move |ev| ev.prevent_default()
        >
            <h2>{question}</h2>
            <p class="muted">"Code " <span class="mono">{data.code.clone()}</span>". It can read and change your library as you can, until you revoke it."</p>
            <StatusLine status/>
            <FieldMessage errors field="userCode"/>
            {needs_password.then(|| view! {
                <label>"Your password" <input name="currentPassword" type="password" autocomplete="current-password" bind:value=password/></label>
                <FieldMessage errors field="password"/>
            })}
            <div class="buttons">
                <button type="submit" class="primary" disabled=move || pending.get() on:click=move |_| allow(true)>"Allow"</button>
                <button type="button" disabled=move || pending.get() on:click=move |_| deny(false)>"Deny"</button>
            </div>
            <p><a href="/device" rel="external">"Use another code"</a></p>
        </form>
    }
}
