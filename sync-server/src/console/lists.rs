//! One list page for every kind of record: a [`ListSpec`] says which columns and filters a kind
//! shows; [`page`] checks the query, runs it in the user's scope, renders the filter form and the
//! results (or only the results, for htmx), and the pager. Reports, tasks, households and visits
//! are four specs, not four handlers.

use std::sync::Arc;

use maud::{html, Markup};

use gridwork_model::{Priority, RecordKind, ReportCategory, ReportStatus, TaskStatus, VisitType};

use super::i18n::Lang;
use super::pages::{self, fmt_time, grids_in_scope, layout, options, person, status_badge, Nav};
use super::reports::{fetch, nonempty, pager, people_options, sort_header, ListParams, PAGE};
use super::session::Session;
use super::ConsoleConfig;
use crate::directory::OrgSnapshot;
use crate::http::AppState;
use crate::records::{RecordQuery, RecordRow, Sort};

/// What a cell is drawn with.
pub struct Cell<'a> {
    pub l: Lang,
    pub cfg: &'a ConsoleConfig,
    pub org: &'a OrgSnapshot,
    /// Today, local (`YYYY-MM-DD`), for overdue marks.
    pub today: &'a str,
}

/// A column of a list.
pub struct Column {
    /// Catalogue key of the header.
    pub header: &'static str,
    /// The header sorts the list by this.
    pub sort: Option<Sort>,
    /// The cell links to the record.
    pub link: bool,
    pub cell: fn(&Cell<'_>, &RecordRow) -> Markup,
}

/// A field of the filter form.
pub enum Filter {
    /// `status`, one of the values.
    Status(fn() -> Vec<&'static str>),
    Grid,
    /// `category` (report category, task priority or visit type): label key, value prefix in
    /// the catalogue, values.
    Category(&'static str, &'static str, fn() -> Vec<&'static str>),
    Severity,
    /// A person filter: parameter (`author`, `assignee`) and label key.
    Person(&'static str, &'static str),
    /// `from` and `to`.
    Dates,
    /// `overdue`, with its label key.
    Overdue(&'static str),
}

/// Everything that differs between the lists of two kinds.
pub struct ListSpec {
    pub kind: RecordKind,
    /// The list's path; records are at `{base}/{id}`.
    pub base: &'static str,
    pub table_id: &'static str,
    pub title_key: &'static str,
    pub nav: Nav,
    pub columns: &'static [Column],
    pub filters: &'static [Filter],
    /// Above the filters: a note or a button (catalogue key, link).
    pub intro: Option<(&'static str, Option<&'static str>)>,
}

/// The results of a list: its table (or "nothing matches") and the pager. What htmx swaps.
pub fn results(
    spec: &ListSpec,
    c: &Cell<'_>,
    p: &ListParams,
    q: &RecordQuery,
    rows: &[RecordRow],
) -> Markup {
    let l = c.l;
    html! {
        div #results {
            @if rows.is_empty() {
                p.muted { (l.t("list-empty")) }
            } @else {
                table id=(spec.table_id) {
                    caption.sr-only { (l.t(spec.title_key)) }
                    thead { tr {
                        @for col in spec.columns {
                            @if let Some(sort) = col.sort {
                                (sort_header(l, p, q, spec.base, sort, col.header))
                            } @else {
                                th scope="col" { (l.t(col.header)) }
                            }
                        }
                    } }
                    tbody {
                        @for r in rows.iter().take(PAGE) {
                            tr data-id=(r.doc_id) {
                                @for col in spec.columns {
                                    td {
                                        @if col.link {
                                            a href={ (spec.base) "/" (r.doc_id) } { ((col.cell)(c, r)) }
                                        } @else {
                                            ((col.cell)(c, r))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (pager(l, p, q, rows, spec.base))
        }
    }
}

fn filter_form(spec: &ListSpec, s: &Session, org: &OrgSnapshot, p: &ListParams) -> Markup {
    let l = s.lang;
    let value = |v: Option<&String>| nonempty(v).unwrap_or("").to_owned();
    html! {
        form #filters.filters method="get" action=(spec.base) role="search"
            hx-get=(spec.base) hx-target="#results" hx-select="#results" hx-swap="outerHTML"
            hx-push-url="true" hx-trigger="change, submit" {
            div.field { label for="f-q" { (l.t("filter-search")) }
                input #f-q type="search" name="q" maxlength="100" value=(value(p.q.as_ref())); }
            @for f in spec.filters {
                @match f {
                    Filter::Status(values) => div.field { label for="f-status" { (l.t("col-status")) }
                        select #f-status name="status" { (options(l, "status", &values(), nonempty(p.status.as_ref()), "filter-any")) } },
                    Filter::Grid => div.field { label for="f-grid" { (l.t("col-grid")) }
                        select #f-grid name="grid" {
                            option value="" { (l.t("filter-any-grid")) }
                            @for (id, name) in grids_in_scope(org, s) {
                                option value=(id) selected[nonempty(p.grid.as_ref()) == Some(id.as_str())] { (name) }
                            }
                        } },
                    Filter::Category(label, prefix, values) => div.field { label for="f-category" { (l.t(label)) }
                        select #f-category name="category" { (options(l, prefix, &values(), nonempty(p.category.as_ref()), "filter-any")) } },
                    Filter::Severity => div.field { label for="f-severity" { (l.t("col-severity")) }
                        select #f-severity name="severity" {
                            option value="" { (l.t("filter-any")) }
                            @for n in ["1", "2", "3", "4"] { option value=(n) selected[nonempty(p.severity.as_ref()) == Some(n)] { (n) } }
                        } },
                    Filter::Person(name, label) => {
                        @let current = if *name == "assignee" { p.assignee.as_ref() } else { p.author.as_ref() };
                        div.field { label for={ "f-" (name) } { (l.t(label)) }
                            select id={ "f-" (name) } name=(name) { (people_options(org, s, nonempty(current), "filter-anyone")) } }
                    },
                    Filter::Dates => {
                        div.field { label for="f-from" { (l.t("filter-from")) }
                            input #f-from type="date" name="from" value=(value(p.from.as_ref())); }
                        div.field { label for="f-to" { (l.t("filter-to")) }
                            input #f-to type="date" name="to" value=(value(p.to.as_ref())); }
                    },
                    Filter::Overdue(label) => div.field { label for="f-overdue" { (l.t(label)) }
                        input #f-overdue type="checkbox" name="overdue" value="1"
                            checked[matches!(nonempty(p.overdue.as_ref()), Some("1" | "true" | "on"))]; },
                }
            }
            @if let Some(o) = nonempty(p.open.as_ref()) { input type="hidden" name="open" value=(o); }
            @if let Some(sort) = nonempty(p.sort.as_ref()) { input type="hidden" name="sort" value=(sort); }
            @if let Some(dir) = nonempty(p.dir.as_ref()) { input type="hidden" name="dir" value=(dir); }
            button type="submit" { (l.t("filter-apply")) }
            a href=(spec.base) { (l.t("filter-clear")) }
        }
    }
}

/// `GET {base}?…`: the list page of `spec`'s kind, cut to the user's scope.
pub async fn page(
    spec: &'static ListSpec,
    st: &AppState,
    cfg: &ConsoleConfig,
    s: Session,
    p: ListParams,
) -> axum::response::Response {
    let q = match p.to_query(spec.kind, cfg) {
        Ok(q) => q,
        Err(r) => return s.refuse(r),
    };
    let (rows, org): (Vec<RecordRow>, Arc<OrgSnapshot>) = match fetch(st, &s, q.clone()).await {
        Ok(x) => x,
        Err(r) => return s.refuse(r),
    };
    let l = s.lang;
    let today = pages::fmt_day(chrono::Utc::now().timestamp_millis(), cfg);
    let cell = Cell {
        l,
        cfg,
        org: &org,
        today: &today,
    };
    let table = results(spec, &cell, &p, &q, &rows);
    if s.htmx {
        return pages::fragment(table, cfg);
    }
    let body = html! {
        @match spec.intro {
            Some((key, Some(href))) => p { a.button href=(href) { (l.t(key)) } },
            Some((key, None)) => p.note { (l.t(key)) },
            None => {},
        }
        (filter_form(spec, &s, &org, &p))
        (table)
    };
    layout(
        &s,
        cfg,
        spec.nav,
        l.t(spec.title_key),
        &p.url(spec.base, &[]),
        body,
    )
}

// ------------------------------------------------------------------ the four lists

fn title(_: &Cell<'_>, r: &RecordRow) -> Markup {
    html! { (r.title) }
}
fn status(c: &Cell<'_>, r: &RecordRow) -> Markup {
    status_badge(c.l, r.status.as_deref())
}
fn grid(c: &Cell<'_>, r: &RecordRow) -> Markup {
    html! { (c.org.unit_name(&r.grid)) }
}
fn author(c: &Cell<'_>, r: &RecordRow) -> Markup {
    person(c.org, &r.author)
}
fn created(c: &Cell<'_>, r: &RecordRow) -> Markup {
    html! { (fmt_time(r.created_at, c.cfg)) }
}
fn category(c: &Cell<'_>, r: &RecordRow) -> Markup {
    html! { (c.l.t_dyn("category", r.category.as_deref().unwrap_or(""))) }
}
fn severity(_: &Cell<'_>, r: &RecordRow) -> Markup {
    html! { (r.severity.unwrap_or(0)) }
}
fn priority(c: &Cell<'_>, r: &RecordRow) -> Markup {
    html! { (c.l.t_dyn("priority", r.category.as_deref().unwrap_or(""))) }
}
fn visit_type(c: &Cell<'_>, r: &RecordRow) -> Markup {
    html! { (c.l.t_dyn("visit_type", r.category.as_deref().unwrap_or(""))) }
}
fn assignees(c: &Cell<'_>, r: &RecordRow) -> Markup {
    let names: Vec<&str> = r.assignees.iter().map(|a| c.org.name_of(a)).collect();
    html! { (names.join("、")) }
}
fn due(c: &Cell<'_>, r: &RecordRow) -> Markup {
    let overdue = r.open && r.due.as_deref().is_some_and(|d| d < c.today);
    html! {
        (r.due.as_deref().unwrap_or(""))
        @if overdue { " " strong.error { (c.l.t("task-overdue")) } }
    }
}
fn follow_up(_: &Cell<'_>, r: &RecordRow) -> Markup {
    html! { (r.due.as_deref().unwrap_or("")) }
}

const fn col(
    header: &'static str,
    sort: Option<Sort>,
    cell: fn(&Cell<'_>, &RecordRow) -> Markup,
) -> Column {
    Column {
        header,
        sort,
        link: false,
        cell,
    }
}

const fn linked(
    header: &'static str,
    sort: Option<Sort>,
    cell: fn(&Cell<'_>, &RecordRow) -> Markup,
) -> Column {
    Column {
        header,
        sort,
        link: true,
        cell,
    }
}

fn report_statuses() -> Vec<&'static str> {
    ReportStatus::ALL.iter().map(ReportStatus::as_str).collect()
}
fn report_categories() -> Vec<&'static str> {
    ReportCategory::ALL
        .iter()
        .map(ReportCategory::as_str)
        .collect()
}
fn task_statuses() -> Vec<&'static str> {
    TaskStatus::ALL.iter().map(TaskStatus::as_str).collect()
}
fn priorities() -> Vec<&'static str> {
    Priority::ALL.iter().map(Priority::as_str).collect()
}
fn visit_types() -> Vec<&'static str> {
    VisitType::ALL.iter().map(VisitType::as_str).collect()
}

pub static REPORTS: ListSpec = ListSpec {
    kind: RecordKind::Report,
    base: "/console/reports",
    table_id: "reports",
    title_key: "reports-title",
    nav: Nav::Reports,
    columns: &[
        linked("col-title", Some(Sort::Title), title),
        col("col-status", Some(Sort::Status), status),
        col("col-category", None, category),
        col("col-severity", Some(Sort::Severity), severity),
        col("col-grid", None, grid),
        col("col-author", None, author),
        col("col-created", Some(Sort::Created), created),
    ],
    filters: &[
        Filter::Status(report_statuses),
        Filter::Grid,
        Filter::Category("col-category", "category", report_categories),
        Filter::Severity,
        Filter::Person("author", "col-author"),
        Filter::Dates,
    ],
    intro: None,
};

pub static TASKS: ListSpec = ListSpec {
    kind: RecordKind::Task,
    base: "/console/tasks",
    table_id: "tasks",
    title_key: "tasks-title",
    nav: Nav::Tasks,
    columns: &[
        linked("col-title", Some(Sort::Title), title),
        col("col-status", Some(Sort::Status), status),
        col("col-priority", None, priority),
        col("col-assignees", None, assignees),
        col("col-grid", None, grid),
        col("col-due", Some(Sort::Due), due),
        col("col-created", Some(Sort::Created), created),
    ],
    filters: &[
        Filter::Status(task_statuses),
        Filter::Person("assignee", "col-assignees"),
        Filter::Grid,
        Filter::Category("col-priority", "priority", priorities),
        Filter::Overdue("filter-overdue"),
    ],
    intro: Some(("task-new", Some("/console/tasks/new"))),
};

pub static HOUSEHOLDS: ListSpec = ListSpec {
    kind: RecordKind::Household,
    base: "/console/households",
    table_id: "households",
    title_key: "households-title",
    nav: Nav::Households,
    columns: &[
        linked("col-address", Some(Sort::Title), title),
        col("col-grid", None, grid),
        col("col-author", None, author),
        col("col-created", Some(Sort::Created), created),
    ],
    filters: &[Filter::Grid],
    intro: Some(("households-masked-note", None)),
};

pub static VISITS: ListSpec = ListSpec {
    kind: RecordKind::Visit,
    base: "/console/visits",
    table_id: "visits",
    title_key: "visits-title",
    nav: Nav::Visits,
    columns: &[
        linked("col-created", Some(Sort::Created), created),
        col("col-visit-type", None, visit_type),
        col("col-notes", None, title),
        col("col-grid", None, grid),
        col("col-author", None, author),
        col("col-follow-up", Some(Sort::Due), follow_up),
    ],
    filters: &[
        Filter::Category("col-visit-type", "visit_type", visit_types),
        Filter::Grid,
        Filter::Person("author", "col-author"),
        Filter::Overdue("filter-follow-up-overdue"),
    ],
    intro: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_a_list_names_is_in_both_catalogues() {
        for spec in [&REPORTS, &TASKS, &HOUSEHOLDS, &VISITS] {
            let mut keys: Vec<&str> = vec![spec.title_key];
            keys.extend(spec.columns.iter().map(|c| c.header));
            keys.extend(spec.intro.map(|(k, _)| k));
            for f in spec.filters {
                match f {
                    Filter::Category(label, _, _)
                    | Filter::Person(_, label)
                    | Filter::Overdue(label) => keys.push(label),
                    _ => {}
                }
            }
            for l in Lang::ALL {
                for k in &keys {
                    assert!(l.lookup(k).is_some(), "{}: {k} ({})", l.tag(), spec.base);
                }
            }
            assert!(
                spec.columns.iter().any(|c| c.link),
                "{}: a row links to its record",
                spec.base
            );
        }
    }
}
