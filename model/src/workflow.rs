//! Status workflows: the checks shared by every kind; each kind's table of steps lives in its
//! file under `kinds/`.

use crate::error::{Error, Result};
use crate::kinds::Who;
use crate::record::{AnyRecord, Role};

/// Check that `user` in `role` may move `rec` from `from` to `to` (the kind's table of steps,
/// [`crate::kinds::Kind::step`]).
pub fn check_transition(
    rec: &AnyRecord,
    from: &str,
    to: &str,
    user: &str,
    role: Role,
) -> Result<()> {
    let kind = rec.kind();
    let Some(who) = kind.step(from, to)? else {
        return Err(Error::IllegalTransition {
            kind: kind.as_str(),
            from: from.into(),
            to: to.into(),
        });
    };
    let allowed = match who {
        Who::Anyone => true,
        Who::Author => rec.author() == user || role.manages(),
        Who::Assignee => rec.is_assignee(user) || role.manages(),
        Who::Reviewer => role.reviews(),
        Who::Manager => role.manages(),
    };
    if !allowed {
        return Err(Error::not_permitted(
            Some("status"),
            format!(
                "a {role} may not move a {kind} from {from} to {to}; only {} may",
                who.describe()
            ),
        ));
    }
    Ok(())
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
            created_at: crate::record::Millis(1),
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
        assert!(RecordKind::Report.is_open(Some("approved")));
        assert!(!RecordKind::Report.is_open(Some("closed")));
        assert!(!RecordKind::Task.is_open(Some("cancelled")));
        assert!(RecordKind::Report.needs_comment("returned"));
        assert!(!RecordKind::Task.needs_comment("done"));
    }
}
