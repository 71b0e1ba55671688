//! Reports: the filtered, searchable, sortable list (keyset pages), the detail page with every
//! field, photos, map, comments, history and conflicts, and the review actions the user's role
//! allows. Also the list machinery the other lists share ([`ListParams`], [`sort_header`]).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup};

use gridwork_model::{AnyRecord, RecordKind, ReportCategory, ReportStatus};

use super::form::Posted;
use super::i18n::Lang;
use super::pages::{self, fmt_time, grids_in_scope, layout, query, see_other, status_badge, Nav};
use super::session::{ConsoleState, Session};
use super::{write, ConsoleConfig, Refusal};
use crate::directory::OrgSnapshot;
use crate::http::AppState;
use crate::records::{After, RecordQuery, RecordRow, Sort, MAX_SEARCH_CHARS};
use crate::store::LoadedDoc;

/// Rows on one page of a list.
pub const PAGE: usize = 50;

/// The query string of a list page. Every value is checked before it reaches SQL (and SQL
/// takes them as parameters); an unreadable value is refused by name.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct ListParams {
    pub status: Option<String>,
    pub open: Option<String>,
    pub grid: Option<String>,
    pub category: Option<String>,
    pub severity: Option<String>,
    pub author: Option<String>,
    pub assignee: Option<String>,
    pub household: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub q: Option<String>,
    pub overdue: Option<String>,
    pub sort: Option<String>,
    pub dir: Option<String>,
    pub after: Option<String>,
}

pub(super) fn nonempty(v: Option<&String>) -> Option<&str> {
    v.map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn bad(field: &str, reason: &str) -> Refusal {
    Refusal::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

impl ListParams {
    /// The store query of these parameters for `kind`.
    pub fn to_query(&self, kind: RecordKind, cfg: &ConsoleConfig) -> Result<RecordQuery, Refusal> {
        let id = |field: &str, v: Option<&str>| -> Result<Option<String>, Refusal> {
            match v {
                None => Ok(None),
                Some(v) => gridwork_model::check_id(field, v)
                    .map(|()| Some(v.to_owned()))
                    .map_err(|_| bad(field, "why-not-an-id")),
            }
        };
        let status = match nonempty(self.status.as_ref()) {
            None => None,
            Some(s) => {
                let known = match kind {
                    RecordKind::Report => s.parse::<ReportStatus>().is_ok(),
                    RecordKind::Task => s.parse::<gridwork_model::TaskStatus>().is_ok(),
                    _ => false,
                };
                if !known {
                    return Err(bad("status", "why-unknown-value"));
                }
                Some(s.to_owned())
            }
        };
        let category = match nonempty(self.category.as_ref()) {
            None => None,
            Some(c) => {
                let known = match kind {
                    RecordKind::Report => c.parse::<ReportCategory>().is_ok(),
                    RecordKind::Visit => c.parse::<gridwork_model::VisitType>().is_ok(),
                    RecordKind::Task => c.parse::<gridwork_model::Priority>().is_ok(),
                    RecordKind::Household => false,
                };
                if !known {
                    return Err(bad("category", "why-unknown-value"));
                }
                Some(c.to_owned())
            }
        };
        let severity = match nonempty(self.severity.as_ref()) {
            None => None,
            Some(s) => Some(
                s.parse::<i64>()
                    .ok()
                    .filter(|n| (1..=4).contains(n))
                    .ok_or_else(|| bad("severity", "why-severity"))?,
            ),
        };
        let day = |field: &str, v: Option<&str>| -> Result<Option<i64>, Refusal> {
            match v {
                None => Ok(None),
                Some(d) => pages::day_start_ms(d, cfg)
                    .map(Some)
                    .ok_or_else(|| bad(field, "why-date")),
            }
        };
        let text = match nonempty(self.q.as_ref()) {
            None => None,
            Some(t) if t.chars().count() > MAX_SEARCH_CHARS => {
                return Err(bad("q", "why-too-long"))
            }
            Some(t) => Some(t.to_owned()),
        };
        let sort = match nonempty(self.sort.as_ref()) {
            None => Sort::Created,
            Some(s) => Sort::parse(s).ok_or_else(|| bad("sort", "why-unknown-value"))?,
        };
        let descending = match nonempty(self.dir.as_ref()) {
            None => !sort.is_text(),
            Some("desc") => true,
            Some("asc") => false,
            Some(_) => return Err(bad("dir", "why-unknown-value")),
        };
        let after = match nonempty(self.after.as_ref()) {
            None => None,
            Some(a) => {
                Some(After::decode(a, sort).ok_or_else(|| bad("after", "why-not-a-cursor"))?)
            }
        };
        let flag = |v: Option<&String>| matches!(nonempty(v), Some("1" | "true" | "on"));
        Ok(RecordQuery {
            kind: Some(kind),
            status,
            open: flag(self.open.as_ref()).then_some(true),
            grid: id("grid", nonempty(self.grid.as_ref()))?,
            category,
            severity,
            author: id("author", nonempty(self.author.as_ref()))?,
            assignee: id("assignee", nonempty(self.assignee.as_ref()))?,
            household: id("household", nonempty(self.household.as_ref()))?,
            created_from: day("from", nonempty(self.from.as_ref()))?,
            // `to` is the last day included.
            created_to: day("to", nonempty(self.to.as_ref()))?.map(|t| t + 86_400_000),
            due_before: flag(self.overdue.as_ref())
                .then(|| pages::fmt_day(chrono::Utc::now().timestamp_millis(), cfg)),
            text,
            sort,
            descending,
            after,
            limit: PAGE + 1,
        })
    }

    /// These parameters as (name, value) pairs, without the page cursor (links keep filters).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        for (k, val) in [
            ("status", &self.status),
            ("open", &self.open),
            ("grid", &self.grid),
            ("category", &self.category),
            ("severity", &self.severity),
            ("author", &self.author),
            ("assignee", &self.assignee),
            ("household", &self.household),
            ("from", &self.from),
            ("to", &self.to),
            ("q", &self.q),
            ("overdue", &self.overdue),
            ("sort", &self.sort),
            ("dir", &self.dir),
        ] {
            if let Some(x) = nonempty(val.as_ref()) {
                v.push((k, x.to_owned()));
            }
        }
        v
    }

    /// The URL of this list with `changes` applied (an empty value removes a parameter).
    pub fn url(&self, base: &str, changes: &[(&'static str, &str)]) -> String {
        let mut pairs = self.pairs();
        for (k, v) in changes {
            pairs.retain(|(pk, _)| pk != k);
            if !v.is_empty() {
                pairs.push((k, (*v).to_owned()));
            }
        }
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        format!("{base}{}", query(&refs))
    }
}

/// A sortable column header: a link that sorts by it (again: the other way), with `aria-sort`.
pub fn sort_header(
    l: Lang,
    p: &ListParams,
    q: &RecordQuery,
    base: &str,
    sort: Sort,
    key: &'static str,
) -> Markup {
    let active = q.sort == sort && p.sort.is_some() || (p.sort.is_none() && sort == Sort::Created);
    let next_dir = if active && q.descending {
        "asc"
    } else {
        "desc"
    };
    let aria = active.then_some(if q.descending {
        "descending"
    } else {
        "ascending"
    });
    html! {
        th scope="col" aria-sort=[aria] {
            a href=(p.url(base, &[("sort", sort.as_str()), ("dir", next_dir), ("after", "")])) { (l.t(key)) }
        }
    }
}

/// The pager under a list: the next page (keyset), and back to the first.
pub fn pager(l: Lang, p: &ListParams, q: &RecordQuery, rows: &[RecordRow], base: &str) -> Markup {
    let more = rows.len() > PAGE;
    let next = rows.get(PAGE - 1).filter(|_| more).map(|r| {
        After {
            key: q.sort.key_of(r),
            doc_id: r.doc_id.clone(),
        }
        .encode()
    });
    html! {
        nav.pager aria-label=(l.t("pager-label")) {
            @if q.after.is_some() {
                a href=(p.url(base, &[("after", "")])) { (l.t("pager-first")) } " "
            }
            @if let Some(n) = next {
                a rel="next" href=(p.url(base, &[("after", &n)])) { (l.tf("list-more", &[("n", &PAGE)])) }
            }
        }
    }
}

/// Runs a list query and loads the organisation (names), on a blocking thread.
pub async fn fetch(
    st: &AppState,
    s: &Session,
    q: RecordQuery,
) -> Result<(Vec<RecordRow>, Arc<OrgSnapshot>), Refusal> {
    let store = st.store.clone();
    let scope = s.scope.clone();
    tokio::task::spawn_blocking(move || {
        Ok::<_, crate::error::Error>((store.list_records(&scope, &q)?, store.org_snapshot()?))
    })
    .await
    .map_err(|_| Refusal::Internal)?
    .map_err(Refusal::from)
}

/// The people a filter may pick from: those attached inside the session's scope.
pub fn people_options(
    org: &OrgSnapshot,
    s: &Session,
    current: Option<&str>,
    any_key: &'static str,
) -> Markup {
    let grids = grids_in_scope(org, s);
    let mut people: Vec<(&str, &str)> = Vec::new();
    for (g, _) in &grids {
        for p in org.people_at(g) {
            if !p.disabled && !people.iter().any(|(id, _)| *id == p.id) {
                people.push((&p.id, &p.display_name));
            }
        }
    }
    people.sort_by(|a, b| a.1.cmp(b.1));
    html! {
        option value="" { (s.lang.t(any_key)) }
        @for (id, name) in people {
            option value=(id) selected[current == Some(id)] { (name) }
        }
    }
}

/// `GET /console/reports`.
pub async fn list(
    State(st): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    s: Session,
    Query(p): Query<ListParams>,
) -> Response {
    super::lists::page(&super::lists::REPORTS, &st, &console.config, s, p).await
}

/// The workflow steps `s` may take on `rec` now (target statuses), in the kind's order.
pub fn allowed_steps(s: &Session, rec: &AnyRecord) -> Vec<&'static str> {
    let Some(from) = rec.status() else {
        return vec![];
    };
    let targets: Vec<&'static str> = match rec.kind() {
        RecordKind::Report => ReportStatus::ALL.iter().map(ReportStatus::as_str).collect(),
        RecordKind::Task => gridwork_model::TaskStatus::ALL
            .iter()
            .map(gridwork_model::TaskStatus::as_str)
            .collect(),
        _ => vec![],
    };
    targets
        .into_iter()
        .filter(|to| {
            gridwork_model::workflow::check_transition(rec, from, to, s.user_id(), s.role()).is_ok()
        })
        // Steps that are the author's (submitting, resubmitting) are not offered to others in
        // the console, though the policy lets managers take them for the author.
        .filter(|to| {
            !matches!(
                rec.kind().step(from, to),
                Ok(Some(gridwork_model::Who::Author))
            ) || rec.author() == s.user_id()
        })
        .collect()
}

/// The action forms of a record: one per allowed step (a comment box where the step needs
/// one), and a comment form.
pub fn action_forms(s: &Session, base: &str, rec: &AnyRecord) -> Markup {
    let l = s.lang;
    html! {
        section.actions aria-label=(l.t("actions-title")) {
            @for to in allowed_steps(s, rec) {
                @let needs = rec.kind().needs_comment(to);
                form id={ "step-" (to) } method="post" action={ (base) "/step" } {
                    input type="hidden" name="_csrf" value=(s.csrf);
                    input type="hidden" name="to" value=(to);
                    @if needs {
                        label for={ "c-" (to) } { (l.t("action-comment-required")) }
                        textarea id={ "c-" (to) } name="comment" required maxlength="20000" {}
                    }
                    button type="submit" { (l.t_dyn("action", to)) }
                }
            }
            @if has_comments(rec) {
                form #comment method="post" action={ (base) "/comment" } {
                    input type="hidden" name="_csrf" value=(s.csrf);
                    label for="comment-text" { (l.t("action-comment")) }
                    textarea #comment-text name="text" required maxlength="20000" {}
                    button.secondary type="submit" { (l.t("action-add-comment")) }
                }
            }
        }
    }
}

/// Whether a record kind has comments (reports and tasks).
pub fn has_comments(rec: &AnyRecord) -> bool {
    matches!(rec.kind(), RecordKind::Report | RecordKind::Task)
}

/// Comments, history (with names; "· web console" for console changes) and open conflicts.
pub fn record_trail(l: Lang, cfg: &ConsoleConfig, org: &OrgSnapshot, loaded: &LoadedDoc) -> Markup {
    let history = gridwork_model::doc::history(&loaded.doc);
    let conflicts = gridwork_model::doc::conflicts(&loaded.doc);
    let comments = loaded.record.comments();
    html! {
        @if has_comments(&loaded.record) {
            h2 { (l.t("comments-title")) }
            @if comments.is_empty() { p.muted { (l.t("comments-none")) } }
            @else {
                ul #comments.comments {
                    @for c in comments {
                        li { strong { (org.name_of(&c.by)) } " · " (fmt_time(c.at.get(), cfg)) p { (c.text) } }
                    }
                }
            }
        }
        @if !conflicts.is_empty() {
            h2 { (l.t("conflicts-title")) }
            div.conflict {
                p { (l.t("conflicts-intro")) }
                ul {
                    @for c in &conflicts {
                        li {
                            strong { (c.field) } ": "
                            @for (i, v) in c.values.iter().enumerate() {
                                @if i > 0 { " / " }
                                (v.value.to_string()) " (" (org.name_of(&v.user_id)) ")"
                            }
                        }
                    }
                }
            }
        }
        h2 { (l.t("history-title")) }
        ol #history.history {
            @for h in &history {
                li {
                    (fmt_time(h.at_ms.get(), cfg)) " · " strong { (org.name_of(&h.user_id)) }
                    @if h.console { " · " (l.t("history-console")) }
                    " — "
                    @for (i, f) in h.fields.iter().enumerate() {
                        @if i > 0 { "、" }
                        (l.t_dyn("field", f))
                    }
                }
            }
        }
    }
}

/// Loads a record for a page (blocking thread), with the organisation.
pub async fn load_record(
    st: &AppState,
    s: &Session,
    id: String,
) -> Result<(Arc<LoadedDoc>, Arc<OrgSnapshot>), Refusal> {
    let store = st.store.clone();
    let scope = s.scope.clone();
    tokio::task::spawn_blocking(move || {
        let l = write::load(store.as_ref(), &scope, &id)?;
        let org = store.org_snapshot()?;
        Ok::<_, Refusal>((l, org))
    })
    .await
    .map_err(|_| Refusal::Internal)?
}

/// The map of a record: its grid's boundary and its own point.
pub fn record_map(
    l: Lang,
    org: &OrgSnapshot,
    grid: &str,
    loc: Option<&gridwork_model::Location>,
    label: &str,
) -> Markup {
    let unit = org.unit(grid);
    let bounds: Vec<(&str, &gridwork_model::directory::Boundary)> = unit
        .and_then(|u| u.boundary.as_ref().map(|b| (u.name.as_str(), b)))
        .into_iter()
        .collect();
    let points: Vec<(f64, f64, String)> = loc
        .map(|p| (p.lat, p.lon, label.to_owned()))
        .into_iter()
        .collect();
    pages::map(l, &bounds, &points)
}

/// `GET /console/reports/{id}`.
pub async fn detail(
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
    let AnyRecord::Report(r) = &loaded.record else {
        return s.refuse(Refusal::NotFound);
    };
    let l = s.lang;
    let base = format!("/console/reports/{id}");
    let body = html! {
        p { a href="/console/reports" { (l.t("back-to-list")) } }
        dl.fields {
            dt { (l.t("col-status")) } dd #status data-status=(r.status.as_str()) { (status_badge(l, Some(r.status.as_str()))) }
            dt { (l.t("col-category")) } dd { (l.t_dyn("category", r.category.as_str())) }
            dt { (l.t("col-severity")) } dd { (r.severity) }
            dt { (l.t("col-grid")) } dd { (org.unit_name(&r.grid)) }
            dt { (l.t("col-author")) } dd { (org.name_of(&r.author)) }
            dt { (l.t("col-created")) } dd { (fmt_time(r.created_at.get(), cfg)) }
            @if let Some(a) = r.location.as_ref().and_then(|x| x.address.as_deref()) {
                dt { (l.t("col-address")) } dd { (a) }
            }
            dt { (l.t("col-description")) } dd.description { (r.description) }
        }
        @if !r.photos.is_empty() {
            h2 { (l.t("photos-title")) }
            div.photos {
                @for (i, ph) in r.photos.iter().enumerate() {
                    @let alt = ph.caption.clone().unwrap_or_else(|| l.tf("photo-n", &[("n", &(i + 1))]));
                    a.photo href={ "/console/photos/" (ph.hash) "?record=" (id) } {
                        img src={ "/console/photos/" (ph.thumb_hash) "?record=" (id) } alt=(alt) loading="lazy" width="160" height="120";
                    }
                }
            }
        }
        (record_map(l, &org, &r.grid, r.location.as_ref(), &r.title))
        (action_forms(&s, &base, &loaded.record))
        (record_trail(l, cfg, &org, &loaded))
        p { a.button href={ "/console/tasks/new?report=" (id) } { (l.t("task-from-report")) } }
    };
    layout(&s, cfg, Nav::Reports, &r.title, &base, body)
}

/// Reads the step form and applies it (reports and tasks).
pub async fn apply_step(st: AppState, posted: Posted, id: String, base: &str) -> Response {
    let s = posted.session;
    let to = match posted.fields.required("to", 40) {
        Ok(t) => t,
        Err(Refusal::Invalid { reason, .. }) => {
            return s.refuse(Refusal::Invalid {
                field: "to-status".into(),
                reason,
            })
        }
        Err(r) => return s.refuse(r),
    };
    let comment = match posted.fields.text("comment", 20_000) {
        Ok(c) => c,
        Err(r) => return s.refuse(r),
    };
    let device = s.device.clone();
    let scope = s.scope.clone();
    let doc = id.clone();
    let done =
        tokio::task::spawn_blocking(move || write::step(&st, &device, &scope, &doc, &to, comment))
            .await;
    match done {
        Ok(Ok(())) => see_other(&format!("{base}/{id}")),
        Ok(Err(r)) => s.refuse(r),
        Err(_) => s.refuse(Refusal::Internal),
    }
}

/// Reads the comment form and adds the comment (reports and tasks).
pub async fn apply_comment(st: AppState, posted: Posted, id: String, base: &str) -> Response {
    let s = posted.session;
    let text = match posted.fields.required("text", 20_000) {
        Ok(t) => t,
        Err(r) => return s.refuse(r),
    };
    let device = s.device.clone();
    let scope = s.scope.clone();
    let doc = id.clone();
    let done =
        tokio::task::spawn_blocking(move || write::comment(&st, &device, &scope, &doc, text)).await;
    match done {
        Ok(Ok(())) => see_other(&format!("{base}/{id}")),
        Ok(Err(r)) => s.refuse(r),
        Err(_) => s.refuse(Refusal::Internal),
    }
}

/// `POST /console/reports/{id}/step`: to, comment.
pub async fn step(State(st): State<AppState>, Path(id): Path<String>, posted: Posted) -> Response {
    apply_step(st, posted, id, "/console/reports").await
}

/// `POST /console/reports/{id}/comment`: text.
pub async fn comment(
    State(st): State<AppState>,
    Path(id): Path<String>,
    posted: Posted,
) -> Response {
    apply_comment(st, posted, id, "/console/reports").await
}

#[derive(serde::Deserialize)]
pub struct PhotoQuery {
    record: Option<String>,
}

/// `GET /console/photos/{hash}?record={id}`: a photo or thumbnail of a record in the user's
/// scope that references it (else `404`).
pub async fn photo(
    State(st): State<AppState>,
    s: Session,
    Path(hash): Path<String>,
    Query(q): Query<PhotoQuery>,
) -> Response {
    let valid_hash = hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let Some(record) = q.record.filter(|_| valid_hash) else {
        return s.refuse(Refusal::NotFound);
    };
    let loaded = match load_record(&st, &s, record).await {
        Ok((l, _)) => l,
        Err(r) => return s.refuse(r),
    };
    let referenced = loaded
        .record
        .photos()
        .iter()
        .any(|p| p.hash == hash || p.thumb_hash == hash);
    if !referenced {
        return s.refuse(Refusal::NotFound);
    }
    let (size, stream) = match st.blobs.open_read(&hash).await {
        Ok(Some(x)) => x,
        Ok(None) => return s.refuse(Refusal::NotFound),
        Err(e) => return s.refuse(e.into()),
    };
    let mut resp = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=86400"),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(size)),
        ],
        Body::from_stream(stream),
    )
        .into_response();
    super::secure_headers(&mut resp, None);
    resp
}
