//! Households and visits. ID numbers and phones are masked on every page
//! ([`gridwork_model::mask`]); showing a household in full takes a stated reason, which is
//! written to the access log (who, when, which household, why) before the page is rendered.
//! The full page is answered to that one request only (`no-store`), never redirected to.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Extension;
use maud::{html, Markup};

use gridwork_model::{AnyRecord, Household, RecordKind};

use super::form::Posted;
use super::pages::{fmt_time, layout, Nav};
use super::reports::{load_record, record_map, ListParams};
use super::session::{ConsoleState, Session};
use super::{ConsoleConfig, Refusal};
use crate::directory::OrgSnapshot;
use crate::http::AppState;
use crate::records::{AccessEntry, RecordQuery, RecordRow};

/// Shortest reason accepted for showing personal data in full, in characters.
const MIN_REASON_CHARS: usize = 4;

/// `GET /console/households`.
pub async fn households(
    State(st): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    s: Session,
    Query(p): Query<ListParams>,
) -> Response {
    super::lists::page(&super::lists::HOUSEHOLDS, &st, &console.config, s, p).await
}

fn household_body(
    s: &Session,
    cfg: &ConsoleConfig,
    org: &OrgSnapshot,
    id: &str,
    h: &Household,
    visits: &[RecordRow],
    full: bool,
) -> Markup {
    let l = s.lang;
    let shown = if full {
        h.clone()
    } else {
        Household {
            members: h.members.iter().map(gridwork_model::mask::member).collect(),
            ..h.clone()
        }
    };
    html! {
        p { a href="/console/households" { (l.t("back-to-list")) } }
        @if full { p.conflict role="status" { (l.t("household-full-shown")) } }
        dl.fields {
            dt { (l.t("col-grid")) } dd { (org.unit_name(&h.grid)) }
            dt { (l.t("col-author")) } dd { (org.name_of(&h.author)) }
            dt { (l.t("col-created")) } dd { (fmt_time(h.created_at.get(), cfg)) }
            dt { (l.t("col-notes")) } dd { (h.notes) }
        }
        h2 { (l.t("members-title")) }
        table #members {
            thead { tr {
                th scope="col" { (l.t("col-name")) }
                th scope="col" { (l.t("col-id-number")) }
                th scope="col" { (l.t("col-phone")) }
                th scope="col" { (l.t("col-birth-year")) }
                th scope="col" { (l.t("col-tags")) }
            } }
            tbody {
                @for m in &shown.members {
                    tr {
                        td { (m.name) }
                        td.masked[!full] { (m.id_number.as_deref().unwrap_or("—")) }
                        td.masked[!full] { (m.phone.as_deref().unwrap_or("—")) }
                        td { (m.birth_year.map(|y| y.to_string()).unwrap_or_default()) }
                        td { @for (i, t) in m.tags.iter().enumerate() { @if i > 0 { "、" } (l.t_dyn("member_tag", t.as_str())) } }
                    }
                }
            }
        }
        @if !full {
            form #reveal method="post" action={ "/console/households/" (id) "/reveal" } {
                input type="hidden" name="_csrf" value=(s.csrf);
                label for="reveal-reason" { (l.t("reveal-reason")) }
                textarea #reveal-reason name="reason" required minlength=(MIN_REASON_CHARS) maxlength="500" {}
                p.note { (l.t("reveal-note")) }
                button.secondary type="submit" { (l.t("reveal-button")) }
            }
        }
        h2 { (l.t("visits-title")) }
        @if visits.is_empty() { p.muted { (l.t("list-empty")) } }
        @else {
            ul #visits {
                @for v in visits {
                    li { a href={ "/console/visits/" (v.doc_id) } { (fmt_time(v.created_at, cfg)) " · " (l.t_dyn("visit_type", v.category.as_deref().unwrap_or(""))) } " · " (org.name_of(&v.author)) }
                }
            }
        }
        p { a.button href={ "/console/tasks/new?household=" (id) } { (l.t("task-from-household")) } }
    }
}

async fn household_page(
    st: &AppState,
    cfg: &ConsoleConfig,
    s: &Session,
    id: String,
    reason: Option<String>,
) -> Response {
    let (loaded, org) = match load_record(st, s, id.clone()).await {
        Ok(x) => x,
        Err(r) => return s.refuse(r),
    };
    let AnyRecord::Household(h) = &loaded.record else {
        return s.refuse(Refusal::NotFound);
    };
    let store = st.store.clone();
    let scope = s.scope.clone();
    let user_id = s.user_id().to_owned();
    let doc = id.clone();
    let full = reason.is_some();
    let got = tokio::task::spawn_blocking(move || {
        if let Some(reason) = reason {
            // Logged before anything is shown; if the log cannot be written, nothing is shown.
            store.log_access(&AccessEntry {
                at_ms: chrono::Utc::now().timestamp_millis(),
                user_id,
                doc_id: doc.clone(),
                what: "household".into(),
                reason,
            })?;
        }
        store.list_records(
            &scope,
            &RecordQuery {
                kind: Some(RecordKind::Visit),
                household: Some(doc),
                descending: true,
                limit: 50,
                ..RecordQuery::default()
            },
        )
    })
    .await;
    let visits = match got {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return s.refuse(e.into()),
        Err(_) => return s.refuse(Refusal::Internal),
    };
    let body = household_body(s, cfg, &org, &id, h, &visits, full);
    layout(
        s,
        cfg,
        Nav::Households,
        &h.address,
        &format!("/console/households/{id}"),
        body,
    )
}

/// `GET /console/households/{id}`: masked.
pub async fn household(
    State(st): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    s: Session,
    Path(id): Path<String>,
) -> Response {
    household_page(&st, &console.config, &s, id, None).await
}

/// `POST /console/households/{id}/reveal`: reason. Logs the access, then shows the household in
/// full.
pub async fn reveal(
    State(st): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    Path(id): Path<String>,
    posted: Posted,
) -> Response {
    let s = posted.session;
    let reason = match posted.fields.required("reason", 500) {
        Ok(r) if r.chars().count() >= MIN_REASON_CHARS => r,
        Ok(_) => {
            return s.refuse(Refusal::Invalid {
                field: "reason".into(),
                reason: "why-reason-too-short".into(),
            })
        }
        Err(r) => return s.refuse(r),
    };
    tracing::info!(user_id = %s.user_id(), doc_id = %id, "household shown in full");
    household_page(&st, &console.config, &s, id, Some(reason)).await
}

/// `GET /console/visits`.
pub async fn visits(
    State(st): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    s: Session,
    Query(p): Query<ListParams>,
) -> Response {
    super::lists::page(&super::lists::VISITS, &st, &console.config, s, p).await
}

/// `GET /console/visits/{id}`.
pub async fn visit(
    State(st): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    s: Session,
    Path(id): Path<String>,
) -> Response {
    let cfg = &console.config;
    let (loaded, org) = match load_record(&st, &s, id.clone()).await {
        Ok(x) => x,
        Err(r) => return s.refuse(r),
    };
    let AnyRecord::Visit(v) = &loaded.record else {
        return s.refuse(Refusal::NotFound);
    };
    let l = s.lang;
    let title = l.tf(
        "visit-title",
        &[
            ("type", &l.t_dyn("visit_type", v.visit_type.as_str())),
            ("when", &fmt_time(v.visited_at.get(), cfg)),
        ],
    );
    let body = html! {
        p { a href="/console/visits" { (l.t("back-to-list")) } }
        dl.fields {
            dt { (l.t("col-household")) } dd { a href={ "/console/households/" (v.household_id) } { (l.t("open-record")) } }
            dt { (l.t("col-grid")) } dd { (org.unit_name(&v.grid)) }
            dt { (l.t("col-author")) } dd { (org.name_of(&v.author)) }
            dt { (l.t("col-follow-up")) } dd { (v.follow_up_due.as_deref().unwrap_or("—")) }
            dt { (l.t("col-notes")) } dd.description { (v.notes) }
        }
        @if !v.needs.is_empty() {
            h2 { (l.t("needs-title")) }
            ul #needs {
                @for n in &v.needs {
                    li { (l.t_dyn("need", n.tag.as_str())) @if !n.note.is_empty() { ": " (n.note) } @if n.resolved { " · " (l.t("need-resolved")) } }
                }
            }
        }
        @if !v.photos.is_empty() {
            h2 { (l.t("photos-title")) }
            div.photos {
                @for (i, ph) in v.photos.iter().enumerate() {
                    @let alt = ph.caption.clone().unwrap_or_else(|| l.tf("photo-n", &[("n", &(i + 1))]));
                    a.photo href={ "/console/photos/" (ph.hash) "?record=" (id) } {
                        img src={ "/console/photos/" (ph.thumb_hash) "?record=" (id) } alt=(alt) loading="lazy" width="160" height="120";
                    }
                }
            }
        }
        (record_map(l, &org, &v.grid, v.location.as_ref(), &title))
        (super::reports::record_trail(l, cfg, &org, &loaded))
    };
    layout(
        &s,
        cfg,
        Nav::Visits,
        &title,
        &format!("/console/visits/{id}"),
        body,
    )
}
