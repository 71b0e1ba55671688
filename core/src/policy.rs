//! Write policy: may this principal turn record `before` into `after`?
//!
//! The server applies each pushed change to its copy, hydrates the typed record before and after,
//! and calls [`check_write`]. The device calls the same checks before writing locally, so a user
//! meets the refusal at once rather than at the next sync.

use crate::error::{Denied, Error};
use crate::model::{AnyRecord, Role};
use crate::workflow;

/// The acting user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub role: Role,
}

fn deny(field: &str, reason: impl Into<String>) -> Denied {
    Denied {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// Check a write: the new record is valid, and the principal may make it.
/// `in_scope(grid)` says whether the grid is in the principal's scope.
pub fn check_write(
    p: &Principal,
    in_scope: &dyn Fn(&str) -> bool,
    before: Option<&AnyRecord>,
    after: &AnyRecord,
) -> Result<(), Denied> {
    if let Err(e) = after.validate() {
        return Err(match e {
            Error::InvalidInput { field, reason } => Denied { field, reason },
            other => deny("record", other.to_string()),
        });
    }
    check_permission(p, in_scope, before, after)
}

/// The role and scope half of [`check_write`], for a record already validated.
pub fn check_permission(
    p: &Principal,
    in_scope: &dyn Fn(&str) -> bool,
    before: Option<&AnyRecord>,
    after: &AnyRecord,
) -> Result<(), Denied> {
    if !in_scope(after.grid()) {
        return Err(deny(
            "grid",
            "the record's grid is outside the user's scope",
        ));
    }
    match before {
        None => check_create(p, after),
        Some(b) => check_update(p, b, after),
    }
}

fn check_create(p: &Principal, rec: &AnyRecord) -> Result<(), Denied> {
    if rec.author() != p.user_id {
        return Err(deny(
            "author",
            "a new record's author must be the user creating it",
        ));
    }
    match rec {
        AnyRecord::Report(r) => {
            if !matches!(r.status.as_str(), "draft" | "submitted") {
                return Err(deny("status", "a new report starts as draft or submitted"));
            }
        }
        AnyRecord::Task(t) => {
            if !p.role.manages() {
                return Err(deny(
                    "assignees",
                    format!("a {} may not assign tasks", p.role),
                ));
            }
            if t.status.as_str() != "assigned" {
                return Err(deny("status", "a new task starts as assigned"));
            }
        }
        _ => {}
    }
    check_new_transitions(p, rec, &[], rec.transitions())
}

fn check_update(p: &Principal, before: &AnyRecord, after: &AnyRecord) -> Result<(), Denied> {
    if before.kind() != after.kind() {
        return Err(deny("kind", "a record's kind cannot change"));
    }
    if before.grid() != after.grid() {
        return Err(deny("grid", "a record cannot move to another grid"));
    }
    if before.author() != after.author() {
        return Err(deny("author", "the author cannot change"));
    }
    if before.created_at() != after.created_at() {
        return Err(deny("created_at", "the creation time cannot change"));
    }
    let (old_t, new_t) = (before.transitions(), after.transitions());
    if new_t.len() < old_t.len() || !old_t.iter().all(|t| new_t.contains(t)) {
        return Err(deny("transitions", "workflow history is append-only"));
    }
    let appended: Vec<_> = new_t
        .iter()
        .filter(|t| !old_t.contains(t))
        .cloned()
        .collect();
    check_new_transitions(p, before, old_t, &appended)?;
    if before.status() != after.status() {
        let to = after.status().unwrap_or_default();
        if !appended.iter().any(|t| t.to == to) && !new_t.iter().any(|t| t.to == to) {
            return Err(deny(
                "status",
                "a status change must be recorded as a transition",
            ));
        }
    }
    if let (AnyRecord::Task(b), AnyRecord::Task(a)) = (before, after) {
        if !p.role.manages() {
            if b.assignees != a.assignees {
                return Err(deny(
                    "assignees",
                    format!("a {} may not reassign a task", p.role),
                ));
            }
            if b.due != a.due || b.priority != a.priority {
                return Err(deny(
                    if b.due != a.due { "due" } else { "priority" },
                    format!("a {} may not change a task's due date or priority", p.role),
                ));
            }
        }
    }
    Ok(())
}

/// Every appended transition must be made by the principal, in their role, and be legal.
fn check_new_transitions(
    p: &Principal,
    rec: &AnyRecord,
    _old: &[crate::model::Transition],
    appended: &[crate::model::Transition],
) -> Result<(), Denied> {
    for t in appended {
        if t.by != p.user_id || t.role != p.role {
            return Err(deny(
                "transitions",
                "a transition must be recorded by the user making it",
            ));
        }
        workflow::check_transition(rec, &t.from, &t.to, &p.user_id, p.role).map_err(
            |e| match e {
                Error::NotPermitted { field, reason } => Denied {
                    field: field.unwrap_or_else(|| "status".into()),
                    reason,
                },
                other => deny("status", other.to_string()),
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn report(status: ReportStatus) -> AnyRecord {
        AnyRecord::Report(Report {
            grid: "G1".into(),
            category: ReportCategory::Other,
            severity: 1,
            title: "t".into(),
            description: String::new(),
            location: None,
            photos: vec![],
            status,
            transitions: vec![],
            comments: vec![],
            author: "w1".into(),
            created_at: 1,
        })
    }

    fn with_transition(mut r: AnyRecord, from: &str, to: &str, by: &str, role: Role) -> AnyRecord {
        if let AnyRecord::Report(x) = &mut r {
            x.status = to.parse().expect("status");
            x.transitions.push(Transition {
                from: from.into(),
                to: to.into(),
                by: by.into(),
                role,
                at: 2,
                comment: None,
            });
        }
        r
    }

    fn worker() -> Principal {
        Principal {
            user_id: "w1".into(),
            role: Role::Worker,
        }
    }
    fn all(_: &str) -> bool {
        true
    }

    #[test]
    fn creation_rules() {
        assert!(check_write(&worker(), &all, None, &report(ReportStatus::Draft)).is_ok());
        let d = check_write(&worker(), &all, None, &report(ReportStatus::Approved)).unwrap_err();
        assert_eq!(d.field, "status");
        let other = Principal {
            user_id: "w2".into(),
            role: Role::Worker,
        };
        assert_eq!(
            check_write(&other, &all, None, &report(ReportStatus::Draft))
                .unwrap_err()
                .field,
            "author"
        );
        let d = check_write(
            &worker(),
            &|g| g == "G2",
            None,
            &report(ReportStatus::Draft),
        )
        .unwrap_err();
        assert_eq!(d.field, "grid");
    }

    #[test]
    fn worker_cannot_approve_even_by_editing_the_status_directly() {
        let before = report(ReportStatus::Submitted);
        let approved = with_transition(before.clone(), "submitted", "approved", "w1", Role::Worker);
        assert_eq!(
            check_write(&worker(), &all, Some(&before), &approved)
                .unwrap_err()
                .field,
            "status"
        );
        // status changed without a transition entry
        let sneaky = report(ReportStatus::Approved);
        assert_eq!(
            check_write(&worker(), &all, Some(&before), &sneaky)
                .unwrap_err()
                .field,
            "status"
        );
        // a transition recorded in someone else's name
        let spoofed = with_transition(
            before.clone(),
            "submitted",
            "approved",
            "s1",
            Role::Supervisor,
        );
        assert_eq!(
            check_write(&worker(), &all, Some(&before), &spoofed)
                .unwrap_err()
                .field,
            "transitions"
        );
        let sup = Principal {
            user_id: "s1".into(),
            role: Role::Supervisor,
        };
        assert!(check_write(&sup, &all, Some(&before), &spoofed).is_ok());
    }

    #[test]
    fn immutable_fields_and_append_only_history() {
        let before = with_transition(
            report(ReportStatus::Draft),
            "draft",
            "submitted",
            "w1",
            Role::Worker,
        );
        let mut moved = before.clone();
        if let AnyRecord::Report(r) = &mut moved {
            r.grid = "G2".into();
        }
        assert_eq!(
            check_write(&worker(), &all, Some(&before), &moved)
                .unwrap_err()
                .field,
            "grid"
        );
        let mut rewritten = before.clone();
        if let AnyRecord::Report(r) = &mut rewritten {
            r.transitions.clear();
        }
        assert_eq!(
            check_write(&worker(), &all, Some(&before), &rewritten)
                .unwrap_err()
                .field,
            "transitions"
        );
        let mut invalid = before.clone();
        if let AnyRecord::Report(r) = &mut invalid {
            r.severity = 9;
        }
        assert_eq!(
            check_write(&worker(), &all, Some(&before), &invalid)
                .unwrap_err()
                .field,
            "severity"
        );
    }
}
