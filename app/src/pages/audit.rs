use crate::components::Layout;
use crate::domain::{AuditData, AUDIT_EVENTS};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// `/admin/audit`: newest first, filtered by event and user. The filters are a plain GET form
/// and the server loads the entries, so the page works without JavaScript.
#[component]
pub fn Audit(data: AuditData) -> impl IntoView {
    view! {
        <Layout>
            <AuditPanel data/>
        </Layout>
    }
}

#[component]
fn AuditPanel(data: AuditData) -> impl IntoView {
    let query = use_query_map().get_untracked();
    let event = query.get("event").unwrap_or_default();
    let user = query.get("user").unwrap_or_default();
    let AuditData { entries, users } = data;
    let name_of = {
        let users = users.clone();
        move |id: Option<i64>| {
            id.map(|id| {
                users
                    .iter()
                    .find(|u| u.id == id)
                    .map(|u| u.username.clone())
                    .unwrap_or_else(|| format!("#{id}"))
            })
            .unwrap_or_else(|| "—".to_owned())
        }
    };
    let older = entries.last().map(|e| {
        let mut q = format!("?before={}", e.id);
        if !event.is_empty() {
            q.push_str(&format!("&event={event}"));
        }
        if !user.is_empty() {
            q.push_str(&format!("&user={user}"));
        }
        q
    });
    view! {
        <div class="page-head"><h1>"Audit Log"</h1></div>
        <form method="get" action="/admin/audit" class="card inline-form">
            <label>
                "Event"
                <select name="event">
                    <option value="" selected=event.is_empty()>"All events"</option>
                    {AUDIT_EVENTS.iter().map(|e| view! { <option value=*e selected=*e == event>{*e}</option> }).collect_view()}
                </select>
            </label>
            <label>
                "User"
                <select name="user">
                    <option value="" selected=user.is_empty()>"All users"</option>
                    {users.iter().map(|u| {
                        let id = u.id.to_string();
                        let selected = id == user;
                        view! { <option value=id selected=selected>{u.username.clone()}</option> }
                    }).collect_view()}
                </select>
            </label>
            <button type="submit" class="primary">"Filter"</button>
        </form>
        <div class="card table-wrap">
            <table class="table" data-testid="audit-table">
                <thead>
                    <tr><th>"Time (UTC)"</th><th>"Event"</th><th>"Actor"</th><th>"Target"</th><th>"Client IP"</th><th>"Details"</th></tr>
                </thead>
                <tbody>
                    {entries.into_iter().map(|e| view! {
                        <tr>
                            <td class="mono" data-label="Time (UTC)">{e.at.replace('T', " ").replace('Z', "")}</td>
                            <td data-label="Event"><span class="badge">{e.event.clone()}</span></td>
                            <td data-label="Actor">{name_of(e.actor_user_id)}</td>
                            <td data-label="Target">{name_of(e.target_user_id)}</td>
                            <td class="mono" data-label="Client IP">{e.client_ip.clone().unwrap_or_default()}</td>
                            <td class="mono details" data-label="Details">{e.details.to_string()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            {older.map(|q| view! { <p><a href=format!("/admin/audit{q}") rel="external">"Older entries →"</a></p> })}
        </div>
    }
}
