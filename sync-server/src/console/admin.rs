//! Admin pages: users, units and grids, devices (last sync, revoke), and the access log of
//! personal data shown in full. Admins only; the same data `gridwork-server admin` shows.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use maud::html;

use gridwork_model::Role;

use super::form::Posted;
use super::pages::{self, layout, see_other, Nav};
use super::session::{ConsoleState, Session};
use super::Refusal;
use crate::http::AppState;

/// The refusal a non-admin gets (`None`: an admin).
fn admin_only(s: &Session) -> Option<Response> {
    (s.role() != Role::Admin).then(|| s.refuse(Refusal::Forbidden("error-admin-only")))
}

fn fmt_dt(t: chrono::DateTime<chrono::Utc>, cfg: &super::ConsoleConfig) -> String {
    pages::fmt_time(t.timestamp_millis(), cfg)
}

/// `GET /console/admin`.
pub async fn overview(
    State(st): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    s: Session,
) -> Response {
    if let Some(r) = admin_only(&s) {
        return r;
    }
    let cfg = &console.config;
    let store = st.store.clone();
    let got = tokio::task::spawn_blocking(move || {
        Ok::<_, crate::error::Error>((store.org_snapshot()?, store.list_devices(None)?))
    })
    .await;
    let (org, mut devices) = match got {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return s.refuse(e.into()),
        Err(_) => return s.refuse(Refusal::Internal),
    };
    let now = chrono::Utc::now();
    // Active devices first, most recently seen first.
    devices.sort_by_key(|d| {
        (
            d.revoked || d.expires_at <= now,
            std::cmp::Reverse(d.last_seen_at),
        )
    });
    let l = s.lang;
    let body = html! {
        p { a href="/console/admin/access-log" { (l.t("admin-access-log")) } }
        h2 #users-title { (l.t("admin-users")) }
        table #users aria-labelledby="users-title" {
            thead { tr {
                th scope="col" { (l.t("col-name")) }
                th scope="col" { (l.t("col-username")) }
                th scope="col" { (l.t("col-role")) }
                th scope="col" { (l.t("col-units")) }
                th scope="col" { (l.t("col-state")) }
            } }
            tbody {
                @for p in org.people() {
                    tr data-id=(p.id) {
                        td { (p.display_name) }
                        td { (p.username) }
                        td { (l.t_dyn("role", p.role.as_str())) }
                        td { (p.units.iter().map(|u| org.unit_name(u)).collect::<Vec<_>>().join("、")) }
                        td { @if p.disabled { (l.t("state-disabled")) } @else { (l.t("state-active")) } }
                    }
                }
            }
        }
        h2 #units-title { (l.t("admin-units")) }
        table #units aria-labelledby="units-title" {
            thead { tr {
                th scope="col" { (l.t("col-name")) }
                th scope="col" { (l.t("col-id")) }
                th scope="col" { (l.t("col-unit-kind")) }
                th scope="col" { (l.t("col-parent")) }
                th scope="col" { (l.t("col-boundary")) }
            } }
            tbody {
                @for u in org.units() {
                    tr data-id=(u.id) {
                        td { (u.name) }
                        td { (u.id) }
                        td { (l.t_dyn("unit", u.kind.as_str())) }
                        td { (u.parent.as_deref().map_or("—", |p| org.unit_name(p))) }
                        td { @if u.boundary.is_some() { (l.t("yes")) } @else { "—" } }
                    }
                }
            }
        }
        h2 #devices-title { (l.t("admin-devices")) }
        table #devices aria-labelledby="devices-title" {
            thead { tr {
                th scope="col" { (l.t("col-device")) }
                th scope="col" { (l.t("col-username")) }
                th scope="col" { (l.t("col-last-sync")) }
                th scope="col" { (l.t("col-expires")) }
                th scope="col" { (l.t("col-state")) }
                th scope="col" { span.sr-only { (l.t("col-actions")) } }
            } }
            tbody {
                @for d in &devices {
                    @let active = !d.revoked && d.expires_at > now;
                    tr data-id=(d.device_id) {
                        td { (d.name) }
                        td { (d.username) }
                        td { (d.last_seen_at.map_or_else(|| "—".into(), |t| fmt_dt(t, cfg))) }
                        td { (fmt_dt(d.expires_at, cfg)) }
                        td { @if d.revoked { (l.t("state-revoked")) } @else if !active { (l.t("state-expired")) } @else { (l.t("state-active")) } }
                        td {
                            @if active {
                                form.revoke method="post" action={ "/console/admin/devices/" (d.device_id) "/revoke" } {
                                    input type="hidden" name="_csrf" value=(s.csrf);
                                    button.danger type="submit" {
                                        (l.t("admin-revoke"))
                                        span.sr-only { " " (l.tf("admin-revoke-label", &[("device", &d.name), ("user", &d.username)])) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(
        &s,
        cfg,
        Nav::Admin,
        l.t("admin-title"),
        "/console/admin",
        body,
    )
}

/// `GET /console/admin/access-log`.
pub async fn access_log(
    State(st): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    s: Session,
) -> Response {
    if let Some(r) = admin_only(&s) {
        return r;
    }
    let cfg = &console.config;
    let store = st.store.clone();
    let got = tokio::task::spawn_blocking(move || {
        Ok::<_, crate::error::Error>((store.access_log(500)?, store.org_snapshot()?))
    })
    .await;
    let (entries, org) = match got {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return s.refuse(e.into()),
        Err(_) => return s.refuse(Refusal::Internal),
    };
    let l = s.lang;
    let body = html! {
        p { a href="/console/admin" { (l.t("admin-title")) } }
        @if entries.is_empty() { p.muted { (l.t("list-empty")) } }
        table #access-log {
            caption.sr-only { (l.t("admin-access-log")) }
            thead { tr {
                th scope="col" { (l.t("col-when")) }
                th scope="col" { (l.t("col-who")) }
                th scope="col" { (l.t("col-record")) }
                th scope="col" { (l.t("col-reason")) }
            } }
            tbody {
                @for e in &entries {
                    tr {
                        td { (pages::fmt_time(e.at_ms, cfg)) }
                        td { (org.name_of(&e.user_id)) }
                        td { a href={ "/console/households/" (e.doc_id) } { (e.doc_id) } }
                        td { (e.reason) }
                    }
                }
            }
        }
    };
    layout(
        &s,
        cfg,
        Nav::Admin,
        l.t("admin-access-log"),
        "/console/admin/access-log",
        body,
    )
}

/// `POST /console/admin/devices/{id}/revoke`.
pub async fn revoke_device(
    State(st): State<AppState>,
    Path(id): Path<String>,
    posted: Posted,
) -> Response {
    let s = posted.session;
    if let Some(r) = admin_only(&s) {
        return r;
    }
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return s.refuse(Refusal::NotFound);
    }
    let store = st.store.clone();
    let done = tokio::task::spawn_blocking(move || store.revoke_device(&id)).await;
    match done {
        Ok(Ok(true)) => {
            tracing::info!(user_id = %s.user_id(), "device revoked from the console");
            see_other("/console/admin")
        }
        Ok(Ok(false)) => s.refuse(Refusal::NotFound),
        Ok(Err(e)) => s.refuse(e.into()),
        Err(_) => s.refuse(Refusal::Internal),
    }
}
