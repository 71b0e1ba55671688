//! Write policy: may this principal turn record `before` into `after`?
//!
//! One set of rules, used in two places:
//! - the device, before writing locally ([`check_permission`] on typed records), so a user meets
//!   a refusal at once rather than at the next sync;
//! - the server's gate (`gridwork_protocol::gate::admit_push`, a layer above), on every pushed change, with the document
//!   shapes as well ([`check_change`]): there the rules also see what typed records hide (a value
//!   replaced by an equal one, a losing concurrent value, a list object swapped for a copy).
//!
//! Who may change which field is data: [`crate::shape::Write`] on each field of a kind's schema.
//! The workflow is a state machine over history: a status changes only by appending transitions
//! at the end of `transitions`, the first leaving the current status, each legal for the user's
//! role, the last reaching the new status. Transitions and comments are append-only; a comment's
//! `by` is its author.

use serde_json::Value as J;

use crate::error::{Denied, Error};
use crate::ids::UserId;
use crate::record::{AnyRecord, Comment, Role, Transition};
use crate::shape::{self, KeyShape, Shape, Write};
use crate::workflow;

/// The acting user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
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

/// The role and scope half of [`check_write`], on typed records (the device's check).
pub fn check_permission(
    p: &Principal,
    in_scope: &dyn Fn(&str) -> bool,
    before: Option<&AnyRecord>,
    after: &AnyRecord,
) -> Result<(), Denied> {
    check_change(
        p,
        in_scope,
        before.map(|r| Side {
            rec: r,
            shape: None,
        }),
        Side {
            rec: after,
            shape: None,
        },
    )
}

/// A record as the policy sees it: typed, and (on the server) the shape of its document.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub rec: &'a AnyRecord,
    pub shape: Option<&'a Shape>,
}

impl Side<'_> {
    fn key(&self, key: &str) -> Option<&KeyShape> {
        self.shape.and_then(|s| s.keys.get(key))
    }
}

/// The whole policy: scope, creation rules, and per field who may change it (see the module
/// docs). With shapes, a field counts as changed when its values changed identity even if the
/// typed record looks the same.
pub fn check_change(
    p: &Principal,
    in_scope: &dyn Fn(&str) -> bool,
    before: Option<Side<'_>>,
    after: Side<'_>,
) -> Result<(), Denied> {
    if !in_scope(after.rec.grid()) {
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

fn to_json(r: &AnyRecord) -> Result<serde_json::Map<String, J>, Denied> {
    match r.to_json() {
        Ok(J::Object(m)) => Ok(m),
        _ => Err(deny("record", "the record cannot be read")),
    }
}

fn check_create(p: &Principal, after: Side<'_>) -> Result<(), Denied> {
    let rec = after.rec;
    if rec.author() != p.user_id {
        return Err(deny(
            "author",
            "a new record's author must be the user creating it",
        ));
    }
    if let Some((field, reason)) = rec.kind().may_not_create(p.role) {
        return Err(deny(field, reason));
    }
    if let Some(start) = rec.kind().initial_status() {
        // A new record starts in its kind's first status; anything further is made by
        // transitions, in the same push, that the creator may make.
        check_chain(
            p,
            rec,
            start,
            rec.transitions(),
            rec.status().unwrap_or_default(),
        )?;
        if let Some(k) = after.key("status") {
            if k.values.len() > 1 {
                return Err(deny("status", "the status must have a single value"));
            }
        }
    }
    check_new_comments(p, &[], rec.comments())
}

fn check_update(p: &Principal, before: Side<'_>, after: Side<'_>) -> Result<(), Denied> {
    let (b, a) = (before.rec, after.rec);
    if b.kind() != a.kind() {
        return Err(deny("kind", "a record's kind cannot change"));
    }
    let (bj, aj) = (to_json(b)?, to_json(a)?);
    let kind = b.kind();
    let is_author = b.author() == p.user_id;
    let mut workflow_touched = false;
    for field in shape::schema(kind) {
        let key = field.key;
        let json_changed = bj.get(key) != aj.get(key);
        let ids_changed = match (before.key(key), after.key(key)) {
            (Some(x), Some(y)) => x.values != y.values,
            (None, Some(y)) => !y.values.is_empty() && before.shape.is_some(),
            (Some(x), None) => !x.values.is_empty(),
            (None, None) => false,
        };
        if !json_changed && !ids_changed {
            continue;
        }
        let who = match field.write {
            Write::Fixed => return Err(deny(key, format!("a {kind}'s {key} cannot change"))),
            Write::Editors if is_author || p.role.manages() => continue,
            Write::Editors => "the author or a community leader or supervisor",
            Write::Managers if p.role.manages() => continue,
            Write::Managers => "a community leader or supervisor",
            Write::Anyone => continue,
            Write::Status | Write::Transitions => {
                workflow_touched = true;
                continue;
            }
            Write::Comments => {
                check_comments(p, before, after)?;
                continue;
            }
        };
        return Err(deny(
            key,
            format!(
                "a {} may not change a {kind}'s {key}; only {who} may",
                p.role
            ),
        ));
    }
    if workflow_touched {
        check_workflow(p, before, after)?;
    }
    Ok(())
}

/// Status and transitions: append at the end only; the appended transitions lead from the
/// current status to the new one, each made by the user, in their role, and legal.
fn check_workflow(p: &Principal, before: Side<'_>, after: Side<'_>) -> Result<(), Denied> {
    let (b, a) = (before.rec, after.rec);
    let (old, new) = (b.transitions(), a.transitions());
    if new.len() < old.len() || new[..old.len()] != *old {
        return Err(deny(
            "transitions",
            "workflow history is append-only: earlier transitions cannot change or move",
        ));
    }
    check_list_identity("transitions", before, after, true)?;
    let appended = &new[old.len()..];
    let from = b.status().unwrap_or_default();
    let to = a.status().unwrap_or_default();
    if appended.is_empty() {
        if from != to || status_ids_changed(before, after) {
            return Err(deny(
                "status",
                "a status change must be recorded as a transition",
            ));
        }
        return Ok(());
    }
    if let Some(k) = after.key("status") {
        if k.values.len() > 1 {
            return Err(deny("status", "the status must have a single value"));
        }
    }
    check_chain(p, b, from, appended, to)
}

fn status_ids_changed(before: Side<'_>, after: Side<'_>) -> bool {
    match (before.key("status"), after.key("status")) {
        (Some(x), Some(y)) => x.values != y.values,
        _ => false,
    }
}

/// `appended` leads from `from` to `to`, one legal step at a time, each by `p`.
fn check_chain(
    p: &Principal,
    rec: &AnyRecord,
    from: &str,
    appended: &[Transition],
    to: &str,
) -> Result<(), Denied> {
    let mut cur = from.to_owned();
    for t in appended {
        if t.by != p.user_id || t.role != p.role {
            return Err(deny(
                "transitions",
                "a transition must be recorded by the user making it, in their role",
            ));
        }
        if t.from != cur {
            return Err(deny(
                "transitions",
                "a transition must start from the record's current status",
            ));
        }
        if rec.kind().needs_comment(&t.to)
            && t.comment.as_deref().is_none_or(|c| c.trim().is_empty())
        {
            return Err(deny(
                "transitions",
                "this transition needs a comment saying why",
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
        cur.clone_from(&t.to);
    }
    if cur != to {
        return Err(deny(
            "status",
            "the status must be where the appended transitions lead",
        ));
    }
    Ok(())
}

/// Comments: existing ones stay, unchanged and in order; new ones are written by `p`.
fn check_comments(p: &Principal, before: Side<'_>, after: Side<'_>) -> Result<(), Denied> {
    let (old, new) = (before.rec.comments(), after.rec.comments());
    check_list_identity("comments", before, after, false)?;
    // Typed: the old comments are a subsequence of the new ones.
    let mut it = new.iter();
    for c in old {
        if !it.by_ref().any(|n| n == c) {
            return Err(deny(
                "comments",
                "comments cannot be edited, removed or reordered",
            ));
        }
    }
    let added: Vec<&Comment> = new.iter().filter(|n| !old.contains(n)).collect();
    check_new_comments_refs(p, old, &added)
}

fn check_new_comments(p: &Principal, old: &[Comment], all: &[Comment]) -> Result<(), Denied> {
    let added: Vec<&Comment> = all.iter().filter(|n| !old.contains(n)).collect();
    check_new_comments_refs(p, old, &added)
}

fn check_new_comments_refs(
    p: &Principal,
    old: &[Comment],
    added: &[&Comment],
) -> Result<(), Denied> {
    for c in added {
        if c.by != p.user_id {
            return Err(deny(
                "comments",
                "a comment must be written in the name of the user adding it",
            ));
        }
        let dup =
            old.iter().any(|o| o.id == c.id) || added.iter().filter(|o| o.id == c.id).count() > 1;
        if dup {
            return Err(deny("comments", "comment ids must be unique"));
        }
    }
    Ok(())
}

/// With shapes: the list object of an append-only field is never swapped for another one, and
/// the elements it held are still there, as the same objects, in order (`prefix`: at the start;
/// otherwise anywhere, other devices' concurrent appends may land in between).
fn check_list_identity(
    key: &str,
    before: Side<'_>,
    after: Side<'_>,
    prefix: bool,
) -> Result<(), Denied> {
    let (Some(b), Some(a)) = (before.key(key), after.key(key)) else {
        return Ok(());
    };
    if !b.values.is_empty() && b.values != a.values {
        return Err(deny(
            key,
            format!("the {key} list cannot be replaced, only appended to"),
        ));
    }
    let kept = if prefix {
        a.elems.len() >= b.elems.len() && a.elems[..b.elems.len()] == b.elems[..]
    } else {
        let mut it = a.elems.iter();
        b.elems.iter().all(|e| it.by_ref().any(|x| x == e))
    };
    if !kept {
        return Err(deny(
            key,
            format!("existing {key} cannot be removed, replaced or reordered"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::*;

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
            created_at: crate::record::Millis(1),
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
                at: crate::record::Millis(2),
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
