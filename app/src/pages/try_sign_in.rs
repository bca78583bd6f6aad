//! `/settings/oidc/try/{id}`: the report of a Try Sign-in dry run (spec section 12): what a
//! real sign-in of that user would check, read, map and decide. Nothing was changed.

use crate::components::{check_icon, Layout};
use crate::domain::{ClaimRow, SignInTrialReport};
use leptos::prelude::*;

#[component]
pub fn TrySignIn(report: SignInTrialReport) -> impl IntoView {
    view! {
        <Layout>
            <Report report/>
        </Layout>
    }
}

#[component]
fn Report(report: SignInTrialReport) -> impl IntoView {
    let SignInTrialReport {
        issuer,
        subject,
        checks,
        id_token_header,
        id_token_claims,
        userinfo,
        mapped,
        outcome,
        decision,
        grants,
        sync,
        warnings,
        ..
    } = report;
    let proven = subject.is_some();
    view! {
        <div class="page-head">
            <div>
                <h1>"Try Sign-in"</h1>
                <p class="muted">
                    {format!("A dry run against {issuer}")}
                    {subject.map(|s| format!(" as subject {s}"))}
                    ". Nothing was changed: no user, link, group or session. This report is kept for ten minutes."
                </p>
            </div>
        </div>
        <section class="card">
            <h2>"Decision"</h2>
            <p
                class=if outcome == "refuse" || outcome == "failed" { "error summary" } else { "notice summary" }
                data-testid="try-decision"
            >
                {decision}
            </p>
            {(!warnings.is_empty()).then(|| view! {
                <ul class="warnings" data-testid="try-warnings">
                    {warnings.into_iter().map(|w| view! { <li class="banner">{w}</li> }).collect_view()}
                </ul>
            })}
        </section>
        <section class="card">
            <h2>"Checks"</h2>
            <ul class="checklist" data-testid="try-checks">
                {checks
                    .into_iter()
                    .map(|c| {
                        let icon = check_icon(&c.status);
                        let class = format!("check-{}", c.status.to_lowercase());
                        view! {
                            <li class=class>
                                <span class="icon" aria-hidden="true">{icon}</span>
                                <strong>{c.name}</strong>
                                <span class="status">{c.status}</span>
                                {c.reason.map(|r| view! { <code class="reason">{r}</code> })}
                                <span class="message">{c.message}</span>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
        {proven.then(|| view! {
            <section class="card">
                <h2>"Mapped Values"</h2>
                <table class="table" data-testid="try-mapped">
                    <thead><tr><th>"Field"</th><th>"Value"</th><th>"From"</th></tr></thead>
                    <tbody>
                        {mapped
                            .into_iter()
                            .map(|m| view! {
                                <tr>
                                    <td>{m.field}</td>
                                    <td>{m.value.unwrap_or_else(|| "missing".to_owned())}</td>
                                    <td>
                                        {m.source.unwrap_or_default()}
                                        {m.fallback.map(|f| format!("fallback: {f}"))}
                                    </td>
                                </tr>
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </section>
        })}
        {grants.map(|g| view! {
            <section class="card" data-testid="try-grants">
                <h2>"After Group Sync"</h2>
                <dl class="reference">
                    <dt>"Admin"</dt>
                    <dd>{if g.is_admin { "yes" } else { "no" }}</dd>
                    <dt>"Permissions"</dt>
                    <dd>{if g.permissions.is_empty() { "none".to_owned() } else { g.permissions.join(", ") }}</dd>
                    <dt>"Libraries"</dt>
                    <dd>{if g.libraries.is_empty() { "none".to_owned() } else { g.libraries.join(", ") }}</dd>
                </dl>
                {sync
                    .into_iter()
                    .map(|p| view! {
                        <h3>{format!("With {}", p.mode)}</h3>
                        <ul>{p.changes.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}</ul>
                    })
                    .collect_view()}
            </section>
        })}
        {proven.then(|| view! {
            <section class="card">
                <h2>"ID Token"</h2>
                <h3>"Header"</h3>
                <Claims rows=id_token_header testid="try-header"/>
                <h3>"Claims"</h3>
                <Claims rows=id_token_claims testid="try-claims"/>
                <h2>"Userinfo"</h2>
                {match userinfo {
                    Some(rows) => view! { <Claims rows testid="try-userinfo"/> }.into_any(),
                    None => view! { <p class="muted">"No userinfo answer was used."</p> }.into_any(),
                }}
            </section>
        })}
        <p><a href="/settings/oidc">"Back to OIDC Settings"</a></p>
    }
}

#[component]
fn Claims(rows: Vec<ClaimRow>, testid: &'static str) -> impl IntoView {
    view! {
        <table class="table claims-table" data-testid=testid>
            <tbody>
                {rows
                    .into_iter()
                    .map(|r| view! { <tr><th>{r.name}</th><td><code>{r.value}</code></td></tr> })
                    .collect_view()}
            </tbody>
        </table>
    }
}
