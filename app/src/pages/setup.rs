use crate::api::{self, paths};
use crate::components::{navigate, FieldMessage};
use crate::domain::{FieldError, SetupData, SetupRequest};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// "Set Up Admin User": creates the first admin, then signs them in.
#[component]
pub fn Setup(data: SetupData) -> impl IntoView {
    let token_required = data.setup_token_required;
    let failed_without_js = use_query_map().get_untracked().get("error").is_some();
    let username = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let setup_token = RwSignal::new(String::new());
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let message = RwSignal::new(failed_without_js.then(|| {
        "Please check the form: a username is required and the password needs 8 to 72 characters.".to_owned()
    }));
    let pending = RwSignal::new(false);

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        pending.set(true);
        let admin = SetupRequest {
            username: Some(username.get_untracked()),
            email: Some(email.get_untracked()),
            name: Some(name.get_untracked()),
            password: Some(password.get_untracked()),
            setup_token: Some(setup_token.get_untracked()),
        };
        leptos::task::spawn_local(async move {
            match api::auth::setup(admin).await {
                Ok(_) => navigate("/"),
                Err(e) => {
                    message.set(e.errors.is_empty().then_some(e.message));
                    errors.set(e.errors);
                    pending.set(false);
                }
            }
        });
    };

    view! {
        <main class="auth-page">
            <div class="card auth-card">
                <h1>"Set Up Admin User"</h1>
                <p class="subtitle">"Create the first account. It can manage users, libraries and sign-in settings."</p>
                {move || message.get().map(|text| view! { <p class="error" role="alert">{text}</p> })}
                <form method="post" action=paths::SETUP on:submit=on_submit>
                    <label>"Username" <input name="username" autocomplete="username" required bind:value=username/></label>
                    <FieldMessage errors field="username"/>
                    <label>"Email" <input name="email" type="email" autocomplete="email" bind:value=email/></label>
                    <FieldMessage errors field="email"/>
                    <label>"Display Name" <input name="name" autocomplete="name" bind:value=name/></label>
                    <FieldMessage errors field="name"/>
                    <label>
                        "Password"
                        <input name="password" type="password" autocomplete="new-password" required minlength="8" maxlength="72" bind:value=password/>
                    </label>
                    <FieldMessage errors field="password"/>
                    {token_required.then(|| view! {
                        <label>
                            "Setup Token"
                            <input name="setupToken" autocomplete="off" required bind:value=setup_token/>
                        </label>
                        <p class="hint">"Printed in the server log when Grimmory started."</p>
                        <FieldMessage errors field="setupToken"/>
                    })}
                    <button type="submit" class="primary" disabled=move || pending.get()>"Create Admin"</button>
                </form>
            </div>
        </main>
    }
}
