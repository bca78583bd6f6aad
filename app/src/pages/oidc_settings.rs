//! `/settings/oidc`: the OIDC Settings page (spec section 3).

use super::group_mappings::GroupMappingCard;
use crate::api::oidc_settings::{save_oidc_settings, test_oidc_connection, try_oidc_sign_in};
use crate::components::{
    check_icon, copy_to_clipboard, ChipInput, FieldMessage, Layout, LibraryChecks, NewTab,
    PermissionChecks, Status, StatusLine, Toggle,
};
use crate::domain::{
    ClaimMappingPatch, ConnectionTestResult, FieldError, OidcSettingsData, OidcSettingsDto,
    ProviderReference, RedirectUrisPatch, SettingsPatch, DEFAULT_SCOPES, DEFAULT_SESSION_HOURS,
};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use std::collections::BTreeSet;

#[component]
pub fn OidcSettings(data: OidcSettingsData) -> impl IntoView {
    view! {
        <Layout>
            <SettingsPage data/>
        </Layout>
    }
}

/// Shared by the cards: the saved settings and the page's status line.
#[derive(Clone, Copy)]
struct Page {
    saved: RwSignal<OidcSettingsDto>,
    status: RwSignal<Option<Status>>,
}

impl Page {
    /// Saves a toggle at once and says so.
    fn save_now(self, patch: SettingsPatch, done: &'static str) {
        leptos::task::spawn_local(async move {
            match save_oidc_settings(patch).await {
                Ok(s) => {
                    self.saved.set(s);
                    self.status.set(Some(Status::Ok(done.to_owned())));
                }
                Err(e) => {
                    // Nothing was saved: the clicked switch goes back to the saved value (its
                    // `checked` only follows `saved`, which a refusal leaves unchanged).
                    self.saved.update(|_| {});
                    self.status.set(Some(Status::Failed(
                        e.errors
                            .first()
                            .map(|f| f.message.clone())
                            .unwrap_or(e.message),
                    )))
                }
            }
        });
    }
}

#[component]
fn SettingsPage(data: OidcSettingsData) -> impl IntoView {
    let OidcSettingsData {
        settings: initial,
        reference,
        group_mappings: mappings,
        libraries,
    } = data;
    let page = Page {
        saved: RwSignal::new(initial.clone()),
        status: RwSignal::new(None),
    };
    view! {
        <div class="page-head">
            <div>
                <h1>"OIDC Settings"</h1>
                <p class="muted">
                    "Configure OpenID Connect (OIDC) for single sign-on with external identity providers like Authentik, Authelia, or Pocket ID."
                </p>
            </div>
        </div>
        {initial.force_disabled_by_env.then(|| view! {
            <p class="banner" data-testid="force-disabled">
                "OIDC is turned off by FORCE_DISABLE_OIDC=true in the server's environment: no sign-in button, no redirects to the provider, whatever is saved here. Remove it and restart to use OIDC again."
            </p>
        })}
        <div class="toast-area"><StatusLine status=page.status/></div>
        {view! { <LoginMethods page/> }.into_any()}
        {view! { <ProviderCard page/> }.into_any()}
        {view! { <ReferenceCard reference/> }.into_any()}
        {view! { <OidcOnlyCard page/> }.into_any()}
        {view! { <ProvisioningCard page libraries=libraries.clone()/> }.into_any()}
        {view! { <GroupMappingCard saved=page.saved status=page.status mappings libraries/> }.into_any()}
    }
}

#[component]
fn LoginMethods(page: Page) -> impl IntoView {
    let configured = move || {
        page.saved.with(|s| {
            !s.provider_name.is_empty() && !s.client_id.is_empty() && !s.issuer_uri.is_empty()
        })
    };
    let enabled = Signal::derive(move || page.saved.with(|s| s.oidc_enabled));
    let disabled =
        Signal::derive(move || !configured() || page.saved.with(|s| s.force_disabled_by_env));
    view! {
        <section class="card">
            <h2>"Login Methods"</h2>
            <div class="setting">
                <label class="toggle">
                    <input type="checkbox" role="switch" checked disabled/>
                    <span class="slider"></span>
                    <span>"Local Login"</span>
                </label>
                <p class="hint">
                    "Built-in username and password authentication. Always available for admins. Can be hidden for other users via OIDC-Only Mode."
                </p>
            </div>
            <div class="setting">
                <Toggle
                    label="OIDC Login"
                    checked=enabled
                    disabled
                    on_change=Callback::new(move |on: bool| {
                        let patch = SettingsPatch { oidc_enabled: Some(on), ..SettingsPatch::default() };
                        page.save_now(patch, if on { "OIDC login enabled." } else { "OIDC login disabled." })
                    })
                />
                {move || (!configured()).then(|| view! { <p class="hint">"Configure settings below to enable."</p> })}
            </div>
        </section>
    }
}

#[component]
fn ProviderCard(page: Page) -> impl IntoView {
    let s = page.saved.get_untracked();
    let provider_name = RwSignal::new(s.provider_name.clone());
    let client_id = RwSignal::new(s.client_id.clone());
    let client_secret = RwSignal::new(String::new());
    let clear_secret = RwSignal::new(false);
    let issuer = RwSignal::new(s.issuer_uri.clone());
    let scopes = RwSignal::new(s.scopes.clone());
    let hours = RwSignal::new(
        s.session_duration_hours
            .map(|h| h.to_string())
            .unwrap_or_default(),
    );
    let extra = RwSignal::new(s.extra_auth_params.clone());
    let claim_username = RwSignal::new(s.claim_mapping.username.clone());
    let claim_email = RwSignal::new(s.claim_mapping.email.clone());
    let claim_name = RwSignal::new(s.claim_mapping.name.clone());
    let claim_groups = RwSignal::new(s.claim_mapping.groups.clone());
    let mobile_uris = RwSignal::new(s.mobile_redirect_uris.clone());
    let move_links = RwSignal::new(false);
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let test = RwSignal::new(None::<ConnectionTestResult>);
    let busy = RwSignal::new(false);

    // The form as the API takes it; `None` when a field is wrong before asking the server.
    let body = move || -> Option<SettingsPatch> {
        let hours_text = hours.get_untracked();
        let hours_value = match hours_text.trim() {
            "" => None,
            h => match h.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.set(vec![FieldError {
                        field: "sessionDurationHours".to_owned(),
                        message: "Session duration must be a whole number of hours.".to_owned(),
                    }]);
                    return None;
                }
            },
        };
        let secret = client_secret.get_untracked();
        let clear = clear_secret.get_untracked();
        Some(SettingsPatch {
            provider_name: Some(provider_name.get_untracked()),
            client_id: Some(client_id.get_untracked()),
            issuer_uri: Some(issuer.get_untracked()),
            scopes: Some(scopes.get_untracked()),
            session_duration_hours: Some(hours_value),
            extra_auth_params: Some(extra.get_untracked()),
            claim_mapping: Some(ClaimMappingPatch {
                username: Some(claim_username.get_untracked()),
                email: Some(claim_email.get_untracked()),
                name: Some(claim_name.get_untracked()),
                groups: Some(claim_groups.get_untracked()),
            }),
            mobile_redirect_uris: Some(RedirectUrisPatch::List(mobile_uris.get_untracked())),
            move_links: move_links.get_untracked().then_some(true),
            // Untouched, the stored secret stays (it is never sent back to the browser).
            clear_client_secret: clear.then_some(true),
            client_secret: (!clear && !secret.is_empty()).then_some(secret),
            ..SettingsPatch::default()
        })
    };
    let on_save = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Some(body) = body() else { return };
        busy.set(true);
        leptos::task::spawn_local(async move {
            match save_oidc_settings(body).await {
                Ok(s) => {
                    page.saved.set(s);
                    errors.set(Vec::new());
                    client_secret.set(String::new());
                    clear_secret.set(false);
                    page.status
                        .set(Some(Status::Ok("OIDC provider settings saved.".to_owned())));
                }
                Err(e) => {
                    page.status.set(Some(Status::Failed(e.message.clone())));
                    errors.set(e.errors);
                }
            }
            busy.set(false);
        });
    };
    let on_test = move |_| {
        let Some(body) = body() else { return };
        busy.set(true);
        test.set(None);
        leptos::task::spawn_local(async move {
            match test_oidc_connection(body).await {
                Ok(result) => {
                    errors.set(Vec::new());
                    test.set(Some(result));
                }
                Err(e) => {
                    page.status.set(Some(Status::Failed(e.message.clone())));
                    errors.set(e.errors);
                }
            }
            busy.set(false);
        });
    };
    // Try Sign-in: the provider's page opens in a new tab, the report follows there.
    let on_try = move |_| {
        let Some(body) = body() else { return };
        let tab = NewTab::open();
        busy.set(true);
        leptos::task::spawn_local(async move {
            match try_oidc_sign_in(body).await {
                Ok(started) => {
                    errors.set(Vec::new());
                    tab.go(&started.url);
                }
                Err(e) => {
                    tab.close();
                    page.status.set(Some(Status::Failed(e.message.clone())));
                    errors.set(e.errors);
                }
            }
            busy.set(false);
        });
    };
    let secret_set = move || page.saved.with(|s| s.client_secret_set) && !clear_secret.get();

    view! {
        <section class="card">
            <h2>"OIDC Provider Configuration"</h2>
            <form on:submit=on_save class="grid-form" data-testid="provider-form">
                <label>"Provider Name" <input name="providerName" placeholder="Authentik" bind:value=provider_name/></label>
                <p class="hint">"Shown on the login button."</p>
                <FieldMessage errors field="providerName"/>
                <label>"Client ID" <input name="clientId" autocomplete="off" bind:value=client_id/></label>
                <FieldMessage errors field="clientId"/>
                <label>
                    "Client Secret"
                    <input
                        name="clientSecret"
                        type="password"
                        autocomplete="new-password"
                        placeholder=move || if secret_set() { "••• stored" } else { "Leave empty for a public client (PKCE)" }
                        bind:value=client_secret
                    />
                </label>
                {move || secret_set().then(|| view! {
                    <p class="hint" data-testid="secret-stored">
                        "••• stored. "
                        <button type="button" class="link-button" on:click=move |_| clear_secret.set(true)>"Clear"</button>
                    </p>
                })}
                {move || clear_secret.get().then(|| view! { <p class="hint">"The stored secret will be removed when you save."</p> })}
                <FieldMessage errors field="clientSecret"/>
                <label>
                    "Issuer URI"
                    <input name="issuerUri" placeholder="https://auth.example.com/application/o/grimmory/" bind:value=issuer/>
                </label>
                <FieldMessage errors field="issuerUri"/>
                {move || {
                    let (saved_issuer, linked) = page.saved.with(|s| (s.issuer_uri.clone(), s.linked_users));
                    (linked > 0 && issuer.get().trim() != saved_issuer).then(|| view! {
                        <p class="banner" data-testid="orphan-warning">
                            {format!("{linked} user(s) are linked to the current issuer. Changing it orphans their links.")}
                        </p>
                        <label class="check">
                            <input type="checkbox" bind:checked=move_links/>
                            " Move existing links to the new issuer"
                        </label>
                    })
                }}
                <label>"Scopes" <input name="scopes" placeholder=DEFAULT_SCOPES bind:value=scopes/></label>
                <FieldMessage errors field="scopes"/>
                <label>
                    "Session Duration (hours)"
                    <input name="sessionDurationHours" inputmode="numeric" placeholder=DEFAULT_SESSION_HOURS.to_string() bind:value=hours/>
                </label>
                <FieldMessage errors field="sessionDurationHours"/>
                <label>
                    "Extra Authorization Parameters"
                    <input name="extraAuthParams" placeholder="prompt=consent" bind:value=extra/>
                </label>
                <p class="hint">"Optional, e.g. prompt=consent, or access_type=offline for Google."</p>
                <FieldMessage errors field="extraAuthParams"/>
                <fieldset>
                    <legend>"Claim Mappings"</legend>
                    <div class="claims">
                        <label>"Username" <input name="claimUsername" bind:value=claim_username/></label>
                        <label>"Email" <input name="claimEmail" bind:value=claim_email/></label>
                        <label>"Display Name" <input name="claimName" bind:value=claim_name/></label>
                        <label>"Groups" <input name="claimGroups" bind:value=claim_groups/></label>
                    </div>
                    <FieldMessage errors field="claimMapping.username"/>
                    <FieldMessage errors field="claimMapping.email"/>
                    <FieldMessage errors field="claimMapping.name"/>
                    <FieldMessage errors field="claimMapping.groups"/>
                </fieldset>
                <ChipInput
                    label="Mobile Redirect URIs"
                    id="mobileRedirectUris"
                    values=mobile_uris
                    placeholder="grimmory://oauth2-callback"
                    described_by="mobile-redirect-hint"
                />
                <p class="hint" id="mobile-redirect-hint">
                    "The default redirect URI is grimmory://oauth2-callback. To allow any URI, just use *"
                </p>
                <FieldMessage errors field="mobileRedirectUris"/>
                <div class="buttons">
                    <button type="button" on:click=on_test disabled=move || busy.get()>"Test Connection"</button>
                    <button type="button" on:click=on_try disabled=move || busy.get() title="Sign in at the provider as a test user in a new tab and see what a real sign-in would do; changes nothing.">"Try Sign-in"</button>
                    <button type="submit" class="primary" disabled=move || busy.get()>"Save"</button>
                </div>
            </form>
            {move || test.get().map(|result| view! { <TestResults result issuer/> })}
        </section>
    }
}

#[component]
fn TestResults(result: ConnectionTestResult, issuer: RwSignal<String>) -> impl IntoView {
    let summary = if !result.success {
        "Some checks failed"
    } else if result.checks.iter().any(|c| c.status == "WARN") {
        "Passed with warnings"
    } else {
        "All checks passed"
    };
    view! {
        <div class="test-results" data-testid="test-results">
            <p class=if result.success { "notice summary" } else { "error summary" } data-testid="test-summary">{summary}</p>
            <ul class="checklist">
                {result
                    .checks
                    .into_iter()
                    .map(|c| {
                        let icon = check_icon(&c.status);
                        let exact = c.message.strip_prefix("Use exactly: ").map(str::to_owned);
                        let class = format!("check-{}", c.status.to_lowercase());
                        view! {
                            <li class=class>
                                <span class="icon" aria-hidden="true">{icon}</span>
                                <strong>{c.name}</strong>
                                <span class="status">{c.status}</span>
                                <span class="message">{c.message}</span>
                                {exact.map(|value| view! {
                                    <button type="button" class="link-button" on:click=move |_| issuer.set(value.clone())>
                                        "Use this issuer"
                                    </button>
                                })}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </div>
    }
}

#[component]
fn ReferenceCard(reference: ProviderReference) -> impl IntoView {
    let rows = [
        ("Redirect URI", reference.redirect_uri.clone(), "Register it as a strict (exact) redirect URI."),
        ("Post-Logout Redirect URI", reference.post_logout_redirect_uri.clone(), "Register it too: Authentik refuses unregistered ones."),
        (
            "Back-Channel Logout URI",
            reference.backchannel_logout_uri.clone(),
            "May use an internal hostname when the provider reaches Grimmory over a private network.",
        ),
        ("Launch URL", reference.launch_url.clone(), "For the provider's application tile: signed-in users land signed in."),
        ("Scopes", reference.scopes.clone(), ""),
        ("PKCE Method", reference.pkce_method.clone(), ""),
        ("Grant Type", reference.grant_type.clone(), ""),
    ];
    view! {
        <section class="card">
            <h2>"Provider Configuration Reference"</h2>
            {reference.warnings.into_iter().map(|w| view! { <p class="banner">{w}</p> }).collect_view()}
            <dl class="reference" data-testid="reference">
                {rows
                    .into_iter()
                    .map(|(label, value, hint)| {
                        let copied = RwSignal::new(false);
                        let to_copy = value.clone();
                        view! {
                            <dt>{label}</dt>
                            <dd>
                                <code data-testid=format!("ref-{}", label.to_lowercase().replace(' ', "-"))>{value}</code>
                                <button
                                    type="button"
                                    class="copy"
                                    aria-label=format!("Copy {label}")
                                    on:click=move |_| {
                                        copy_to_clipboard(&to_copy);
                                        copied.set(true);
                                    }
                                >
                                    {move || if copied.get() { "Copied" } else { "Copy" }}
                                </button>
                                {(!hint.is_empty()).then(|| view! { <span class="hint">{hint}</span> })}
                            </dd>
                        }
                    })
                    .collect_view()}
            </dl>
        </section>
    }
}

#[component]
fn OidcOnlyCard(page: Page) -> impl IntoView {
    let on = Signal::derive(move || page.saved.with(|s| s.oidc_force_only_mode));
    view! {
        <section class="card">
            <h2>"OIDC-Only Mode"</h2>
            <Toggle
                label="OIDC-Only Mode"
                checked=on
                disabled=Signal::derive(|| false)
                on_change=Callback::new(move |v: bool| {
                    let patch = SettingsPatch { oidc_force_only_mode: Some(v), ..SettingsPatch::default() };
                    page.save_now(patch, if v { "OIDC-only mode enabled." } else { "OIDC-only mode disabled." })
                })
            />
            <p class="hint">
                "Sends everyone to the identity provider to sign in. Only admins can still use the local form, at /login?local=true. Needs OIDC login enabled and an admin with a password."
            </p>
        </section>
    }
}

#[component]
fn ProvisioningCard(page: Page, libraries: Vec<crate::domain::LibraryDto>) -> impl IntoView {
    let s = page.saved.get_untracked();
    let provisioning = Signal::derive(move || page.saved.with(|s| s.auto_provisioning));
    let linking = Signal::derive(move || page.saved.with(|s| s.allow_local_account_linking));
    let permissions = RwSignal::new(
        s.default_permissions
            .iter()
            .cloned()
            .collect::<BTreeSet<String>>(),
    );
    let chosen = RwSignal::new(
        s.default_library_ids
            .iter()
            .copied()
            .collect::<BTreeSet<i64>>(),
    );
    let save_defaults = move |_| {
        let patch = SettingsPatch {
            default_permissions: Some(permissions.get_untracked().into_iter().collect()),
            default_library_ids: Some(chosen.get_untracked().into_iter().collect()),
            ..SettingsPatch::default()
        };
        page.save_now(patch, "Provisioning defaults saved.")
    };
    view! {
        <section class="card">
            <h2>"User Provisioning"</h2>
            <div class="setting">
                <Toggle
                    label="Automatic User Provisioning"
                    checked=provisioning
                    disabled=Signal::derive(|| false)
                    on_change=Callback::new(move |v: bool| {
                        let patch = SettingsPatch { auto_provisioning: Some(v), ..SettingsPatch::default() };
                        page.save_now(patch, "User provisioning saved.")
                    })
                />
                <p class="hint">"Creates an account at first sign-in for users the provider lets in."</p>
            </div>
            <div class="setting">
                <Toggle
                    label="Link Existing Local Accounts"
                    checked=linking
                    disabled=Signal::derive(|| false)
                    on_change=Callback::new(move |v: bool| {
                        let patch = SettingsPatch { allow_local_account_linking: Some(v), ..SettingsPatch::default() };
                        page.save_now(patch, "Account linking saved.")
                    })
                />
                <p class="hint">"Links a non-admin local account to the OIDC identity with the same username at first sign-in."</p>
                {move || linking.get().then(|| view! {
                    <p class="banner" data-testid="linking-warning">
                        "Leaving it on allows anyone with a matching username in your OIDC provider to take over a local account."
                    </p>
                })}
            </div>
            <div class:hidden=move || !provisioning.get()>
                <fieldset>
                    <legend>"Default Permissions"</legend>
                    <PermissionChecks chosen=permissions/>
                </fieldset>
                <fieldset>
                    <legend>"Default Library Access"</legend>
                    <LibraryChecks libraries chosen/>
                </fieldset>
                <div class="buttons"><button type="button" class="primary" on:click=save_defaults>"Save Defaults"</button></div>
            </div>
        </section>
    }
}
