//! Tasks: the list (by status, assignee, grid, priority, overdue), the form that creates one and
//! assigns it to people picked from the team directory, and the detail page with its workflow.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Extension;
use maud::{html, Markup};

use gridwork_model::{AnyRecord, Priority, Role, Task, TaskStatus, UserId};

use super::form::Posted;
use super::pages::{fmt_time, grids_in_scope, layout, see_other, status_badge, Nav};
use super::reports::{
    action_forms, apply_comment, apply_step, load_record, record_trail, ListParams,
};
use super::session::{ConsoleState, Session};
use super::{write, Refusal};
use crate::directory::{OrgPerson, OrgSnapshot};
use crate::http::AppState;

fn names(org: &OrgSnapshot, ids: &[String]) -> String {
    ids.iter()
        .map(|a| org.name_of(a))
        .collect::<Vec<_>>()
        .join("、")
}

/// `GET /console/tasks`.
pub async fn list(
    State(st): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    s: Session,
    Query(p): Query<ListParams>,
) -> Response {
    super::lists::page(&super::lists::TASKS, &st, &console.config, s, p).await
}

/// Whether `p` may be given a task in `grid`: attached to the grid or to a unit above it,
/// a worker or a leader, and not disabled.
fn assignable(org: &OrgSnapshot, p: &OrgPerson, grid: &str) -> bool {
    if p.disabled || !matches!(p.role, Role::Worker | Role::Leader) {
        return false;
    }
    let mut unit = Some(grid);
    let mut hops = 0;
    while let Some(u) = unit {
        if p.units.iter().any(|x| x == u) {
            return true;
        }
        hops += 1;
        if hops > 8 {
            break;
        }
        unit = org.unit(u).and_then(|x| x.parent.as_deref());
    }
    false
}

/// The people a task may go to, from the team directory: per grid of the session's scope its
/// workers, then the community leaders (each person once; the server checks the pick against
/// the task's grid).
fn assignee_options(org: &OrgSnapshot, s: &Session, selected: Option<&str>) -> Markup {
    let l = s.lang;
    let grids = grids_in_scope(org, s);
    let mut groups: Vec<(String, Vec<&OrgPerson>)> = Vec::new();
    let mut leaders: Vec<&OrgPerson> = Vec::new();
    for (grid, name) in &grids {
        let mut workers: Vec<&OrgPerson> = Vec::new();
        for p in org.people().iter().filter(|p| assignable(org, p, grid)) {
            match p.role {
                Role::Worker if !workers.iter().any(|w| w.id == p.id) => workers.push(p),
                Role::Leader if !leaders.iter().any(|x| x.id == p.id) => leaders.push(p),
                _ => {}
            }
        }
        workers.sort_by(|a, b| a.display_name.cmp(&b.display_name));
        if !workers.is_empty() {
            groups.push((name.clone(), workers));
        }
    }
    leaders.sort_by(|a, b| a.display_name.cmp(&b.display_name));
    if !leaders.is_empty() {
        groups.push((l.t("task-leaders").to_owned(), leaders));
    }
    html! {
        option value="" { (l.t("task-pick-person")) }
        @for (name, people) in &groups {
            optgroup label=(name) {
                @for p in people {
                    option value=(p.id) selected[selected == Some(p.id.as_str())] {
                        (p.display_name) " · " (l.t_dyn("role", p.role.as_str()))
                    }
                }
            }
        }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct NewQuery {
    report: Option<String>,
    household: Option<String>,
}

/// `GET /console/tasks/new?report=&household=`.
pub async fn new_form(
    State(st): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    s: Session,
    Query(nq): Query<NewQuery>,
) -> Response {
    let cfg = &console.config;
    let l = s.lang;
    // A linked record must be one the user may see; it gives the task its grid and title.
    let mut grid: Option<String> = None;
    let mut title = String::new();
    let mut linked: Vec<(&str, String, String)> = Vec::new();
    for (field, id) in [
        ("linked_report", nq.report),
        ("linked_household", nq.household),
    ] {
        let Some(id) = id.filter(|x| !x.is_empty()) else {
            continue;
        };
        let (loaded, _) = match load_record(&st, &s, id.clone()).await {
            Ok(x) => x,
            Err(r) => return s.refuse(r),
        };
        grid = Some(loaded.record.grid().to_owned());
        let label = match &loaded.record {
            AnyRecord::Report(r) => {
                title = l.tf("task-title-from-report", &[("title", &r.title)]);
                r.title.clone()
            }
            AnyRecord::Household(h) => h.address.clone(),
            _ => return s.refuse(Refusal::NotFound),
        };
        linked.push((field, id, label));
    }
    let org = match tokio::task::spawn_blocking({
        let store = st.store.clone();
        move || store.org_snapshot()
    })
    .await
    {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return s.refuse(e.into()),
        Err(_) => return s.refuse(Refusal::Internal),
    };
    let priorities: Vec<&str> = Priority::ALL.iter().map(Priority::as_str).collect();
    let body = html! {
        form #new-task method="post" action="/console/tasks" {
            input type="hidden" name="_csrf" value=(s.csrf);
            @for (field, id, label) in &linked {
                input type="hidden" name=(field) value=(id);
                p { (l.t(if *field == "linked_report" { "task-linked-report" } else { "task-linked-household" })) ": " strong { (label) } }
            }
            label for="t-title" { (l.t("col-title")) }
            input #t-title name="title" type="text" required maxlength="200" value=(title);
            label for="t-description" { (l.t("col-description")) }
            textarea #t-description name="description" maxlength="20000" {}
            label for="t-grid" { (l.t("col-grid")) }
            select #t-grid name="grid" required {
                @for (id, name) in grids_in_scope(&org, &s) {
                    option value=(id) selected[grid.as_deref() == Some(id.as_str())] { (name) }
                }
            }
            label for="t-assignee" { (l.t("task-assignee")) }
            select #t-assignee name="assignee" required { (assignee_options(&org, &s, None)) }
            label for="t-due" { (l.t("col-due")) }
            input #t-due name="due" type="date";
            label for="t-priority" { (l.t("col-priority")) }
            select #t-priority name="priority" {
                @for p in &priorities {
                    option value=(p) selected[*p == "normal"] { (l.t_dyn("priority", p)) }
                }
            }
            p { button type="submit" { (l.t("task-create")) } }
        }
    };
    layout(
        &s,
        cfg,
        Nav::Tasks,
        l.t("task-new"),
        "/console/tasks/new",
        body,
    )
}

/// `POST /console/tasks`: creates and assigns a task (through the record path).
pub async fn create(State(st): State<AppState>, posted: Posted) -> Response {
    let s = posted.session;
    let f = &posted.fields;
    let read = || -> Result<(Task, Vec<String>), Refusal> {
        let title = f.required("title", gridwork_model::record::MAX_TITLE_CHARS)?;
        let description = f
            .text("description", gridwork_model::record::MAX_TEXT_CHARS)?
            .unwrap_or_default();
        let grid = f.required("grid", 64)?;
        let assignee = f.required("assignee", 64)?;
        let due = f.text("due", 10)?;
        if let Some(d) = &due {
            gridwork_model::record::parse_date("due", d).map_err(|_| Refusal::Invalid {
                field: "due".into(),
                reason: "why-date".into(),
            })?;
        }
        let priority = f
            .text("priority", 20)?
            .map(|p| p.parse::<Priority>())
            .transpose()
            .map_err(|_| Refusal::Invalid {
                field: "priority".into(),
                reason: "why-unknown-value".into(),
            })?
            .unwrap_or(Priority::Normal);
        let mut linked = Vec::new();
        let mut link = |field: &str| -> Result<Option<gridwork_model::RecordId>, Refusal> {
            match f.text(field, 64)? {
                None => Ok(None),
                Some(id) => {
                    linked.push(id.clone());
                    gridwork_model::check_id(field, &id)
                        .map(|()| Some(gridwork_model::RecordId::from(id)))
                        .map_err(|_| Refusal::Invalid {
                            field: field.into(),
                            reason: "why-not-an-id".into(),
                        })
                }
            }
        };
        let linked_report = link("linked_report")?;
        let linked_household = link("linked_household")?;
        let task = Task {
            grid: grid.into(),
            title,
            description,
            assignees: vec![UserId::from(assignee)],
            due,
            priority,
            linked_report,
            linked_household,
            status: TaskStatus::Assigned,
            transitions: vec![],
            comments: vec![],
            author: UserId::default(),
            created_at: gridwork_model::Millis(0),
        };
        Ok((task, linked))
    };
    let (task, linked) = match read() {
        Ok(x) => x,
        Err(r) => return s.refuse(r),
    };
    let device = s.device.clone();
    let scope = s.scope.clone();
    let done = tokio::task::spawn_blocking(move || {
        let org = st.store.org_snapshot()?;
        // The assignee must be someone the directory offers for the task's grid.
        let ok = task.assignees.iter().all(|a| {
            org.person(a)
                .is_some_and(|p| assignable(&org, p, &task.grid))
        });
        if !ok {
            return Err(Refusal::Invalid {
                field: "assignee".into(),
                reason: "why-not-assignable".into(),
            });
        }
        // Linked records must exist and be in the user's scope, like the task itself.
        for id in &linked {
            write::load(st.store.as_ref(), &scope, id)?;
        }
        write::create(&st, &device, &scope, AnyRecord::Task(task))
    })
    .await;
    match done {
        Ok(Ok(id)) => see_other(&format!("/console/tasks/{id}")),
        Ok(Err(r)) => s.refuse(r),
        Err(_) => s.refuse(Refusal::Internal),
    }
}

/// `GET /console/tasks/{id}`.
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
    let AnyRecord::Task(t) = &loaded.record else {
        return s.refuse(Refusal::NotFound);
    };
    let l = s.lang;
    let base = format!("/console/tasks/{id}");
    let assignees: Vec<String> = t.assignees.iter().map(ToString::to_string).collect();
    let body = html! {
        p { a href="/console/tasks" { (l.t("back-to-list")) } }
        dl.fields {
            dt { (l.t("col-status")) } dd #status data-status=(t.status.as_str()) { (status_badge(l, Some(t.status.as_str()))) }
            dt { (l.t("col-priority")) } dd { (l.t_dyn("priority", t.priority.as_str())) }
            dt { (l.t("col-assignees")) } dd #assignees { (names(&org, &assignees)) }
            dt { (l.t("col-grid")) } dd { (org.unit_name(&t.grid)) }
            dt { (l.t("col-due")) } dd { (t.due.as_deref().unwrap_or("—")) }
            dt { (l.t("col-author")) } dd { (org.name_of(&t.author)) }
            dt { (l.t("col-created")) } dd { (fmt_time(t.created_at.get(), cfg)) }
            @if let Some(r) = &t.linked_report {
                dt { (l.t("task-linked-report")) } dd { a href={ "/console/reports/" (r) } { (l.t("open-record")) } }
            }
            @if let Some(h) = &t.linked_household {
                dt { (l.t("task-linked-household")) } dd { a href={ "/console/households/" (h) } { (l.t("open-record")) } }
            }
            dt { (l.t("col-description")) } dd.description { (t.description) }
        }
        (action_forms(&s, &base, &loaded.record))
        (record_trail(l, cfg, &org, &loaded))
    };
    layout(&s, cfg, Nav::Tasks, &t.title, &base, body)
}

/// `POST /console/tasks/{id}/step`.
pub async fn step(State(st): State<AppState>, Path(id): Path<String>, posted: Posted) -> Response {
    apply_step(st, posted, id, "/console/tasks").await
}

/// `POST /console/tasks/{id}/comment`.
pub async fn comment(
    State(st): State<AppState>,
    Path(id): Path<String>,
    posted: Posted,
) -> Response {
    apply_comment(st, posted, id, "/console/tasks").await
}
