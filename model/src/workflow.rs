//! Status workflows: which transitions exist and which roles may make them.

use crate::error::{Error, Result};
use crate::record::{AnyRecord, RecordKind, ReportStatus, Role, TaskStatus};

/// Who may make a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// the record's author (or a manager acting for them)
    Author,
    /// one of the task's assignees
    Assignee,
    /// roles that review reports (supervisor, admin)
    Reviewer,
    /// roles that manage tasks (leader, supervisor, admin)
    Manager,
    /// anyone in scope
    Anyone,
}

const REPORT_FLOW: &[(ReportStatus, ReportStatus, Who)] = &[
    (ReportStatus::Draft, ReportStatus::Submitted, Who::Author),
    (ReportStatus::Returned, ReportStatus::Submitted, Who::Author),
    (
        ReportStatus::Submitted,
        ReportStatus::Returned,
        Who::Reviewer,
    ),
    (
        ReportStatus::Submitted,
        ReportStatus::Approved,
        Who::Reviewer,
    ),
    (ReportStatus::Approved, ReportStatus::Resolved, Who::Anyone),
    (ReportStatus::Resolved, ReportStatus::Closed, Who::Manager),
    (ReportStatus::Approved, ReportStatus::Closed, Who::Reviewer),
];

const TASK_FLOW: &[(TaskStatus, TaskStatus, Who)] = &[
    (TaskStatus::Assigned, TaskStatus::Accepted, Who::Assignee),
    (TaskStatus::Accepted, TaskStatus::InProgress, Who::Assignee),
    (TaskStatus::InProgress, TaskStatus::Done, Who::Assignee),
    (TaskStatus::Accepted, TaskStatus::Done, Who::Assignee),
    (TaskStatus::Done, TaskStatus::Verified, Who::Manager),
    (TaskStatus::Done, TaskStatus::InProgress, Who::Manager),
    (TaskStatus::Assigned, TaskStatus::Cancelled, Who::Manager),
    (TaskStatus::Accepted, TaskStatus::Cancelled, Who::Manager),
    (TaskStatus::InProgress, TaskStatus::Cancelled, Who::Manager),
];

/// Transitions that require a comment (returning a report says why).
pub fn needs_comment(kind: RecordKind, to: &str) -> bool {
    kind == RecordKind::Report && to == ReportStatus::Returned.as_str()
}

/// Check that `user` in `role` may move `rec` from `from` to `to`.
pub fn check_transition(
    rec: &AnyRecord,
    from: &str,
    to: &str,
    user: &str,
    role: Role,
) -> Result<()> {
    let kind = rec.kind();
    let who = match rec {
        AnyRecord::Report(_) => {
            let (f, t) = (from.parse::<ReportStatus>()?, to.parse::<ReportStatus>()?);
            REPORT_FLOW
                .iter()
                .find(|(a, b, _)| *a == f && *b == t)
                .map(|x| x.2)
        }
        AnyRecord::Task(_) => {
            let (f, t) = (from.parse::<TaskStatus>()?, to.parse::<TaskStatus>()?);
            TASK_FLOW
                .iter()
                .find(|(a, b, _)| *a == f && *b == t)
                .map(|x| x.2)
        }
        _ => {
            return Err(Error::invalid(
                "status",
                format!("a {kind} has no workflow"),
            ))
        }
    };
    let Some(who) = who else {
        return Err(Error::IllegalTransition {
            kind: kind.as_str(),
            from: from.into(),
            to: to.into(),
        });
    };
    let allowed = match who {
        Who::Anyone => true,
        Who::Author => rec.author() == user || role.manages(),
        Who::Assignee => {
            matches!(rec, AnyRecord::Task(t) if t.assignees.iter().any(|a| a == user))
                || role.manages()
        }
        Who::Reviewer => role.reviews(),
        Who::Manager => role.manages(),
    };
    if !allowed {
        let need = match who {
            Who::Author => "the author",
            Who::Assignee => "an assignee",
            Who::Reviewer => "a supervisor",
            Who::Manager => "a community leader or supervisor",
            Who::Anyone => "anyone",
        };
        return Err(Error::not_permitted(
            Some("status"),
            format!("a {role} may not move a {kind} from {from} to {to}; only {need} may"),
        ));
    }
    Ok(())
}

/// Statuses that count as "open" in lists (not finished).
pub fn is_open(kind: RecordKind, status: Option<&str>) -> bool {
    match (kind, status) {
        (RecordKind::Report, Some(s)) => s != "closed",
        (RecordKind::Task, Some(s)) => !matches!(s, "verified" | "cancelled"),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::*;

    fn task(status: TaskStatus) -> AnyRecord {
        AnyRecord::Task(Task {
            grid: "G1".into(),
            title: "t".into(),
            description: String::new(),
            assignees: vec!["w1".into()],
            due: None,
            priority: Priority::Normal,
            linked_report: None,
            linked_household: None,
            status,
            transitions: vec![],
            comments: vec![],
            author: "l1".into(),
            created_at: 1,
        })
    }

    #[test]
    fn task_flow_by_role() {
        let t = task(TaskStatus::Assigned);
        assert!(check_transition(&t, "assigned", "accepted", "w1", Role::Worker).is_ok());
        assert!(matches!(
            check_transition(&t, "assigned", "accepted", "w2", Role::Worker),
            Err(Error::NotPermitted { .. })
        ));
        assert!(matches!(
            check_transition(&t, "assigned", "verified", "l1", Role::Leader),
            Err(Error::IllegalTransition { .. })
        ));
        assert!(check_transition(&t, "done", "verified", "l1", Role::Leader).is_ok());
        assert!(matches!(
            check_transition(&t, "done", "verified", "w1", Role::Worker),
            Err(Error::NotPermitted { .. })
        ));
        assert!(matches!(
            check_transition(&t, "assigned", "flying", "l1", Role::Leader),
            Err(Error::InvalidInput { .. })
        ));
    }

    #[test]
    fn open_statuses() {
        assert!(is_open(RecordKind::Report, Some("approved")));
        assert!(!is_open(RecordKind::Report, Some("closed")));
        assert!(!is_open(RecordKind::Task, Some("cancelled")));
        assert!(needs_comment(RecordKind::Report, "returned"));
        assert!(!needs_comment(RecordKind::Task, "done"));
    }
}
