//! Records written as Automerge changes in a user's name: the one write path of the device
//! store, the server's demo seed (and the console, which makes changes on the server for a
//! signed-in user). Each function does the record-level work (system fields, validation, the
//! workflow step); the caller checks the write policy and stores the change.

use automerge::transaction::CommitOptions;
use automerge::{ActorId, Automerge, Change};
use serde_json::Value as J;

use crate::doc;
use crate::error::{Error, Result};
use crate::policy::Principal;
use crate::record::{AnyRecord, Comment, Transition, MAX_TEXT_CHARS};
use crate::workflow;

/// A new record's document: one change by `actor`, in `user`'s name, at `at` (ms). The record
/// must be stamped and validated. Returns the document, its JSON and the change.
pub fn new_doc(
    rec: &AnyRecord,
    actor: ActorId,
    user: &str,
    at: i64,
) -> Result<(Automerge, J, Change)> {
    let json = rec.to_json()?;
    let mut doc = Automerge::new();
    doc.set_actor(actor);
    let mut tx = doc.transaction();
    doc::write_new(&mut tx, &json)?;
    tx.commit_with(
        CommitOptions::default()
            .with_message(user.to_owned())
            .with_time(at),
    );
    let change = doc
        .get_last_local_change()
        .ok_or_else(|| Error::Internal("no change recorded".into()))?;
    Ok((doc, json, change))
}

/// Writes the difference between `old` (the document's current JSON) and `new` as one change in
/// `user`'s name. `None` when nothing differs.
pub fn edit_doc(
    doc: &mut Automerge,
    old: &J,
    new: &J,
    user: &str,
    at: i64,
) -> Result<Option<Change>> {
    let mut tx = doc.transaction();
    doc::write_diff(&mut tx, old, new)?;
    let (hash, _) = tx.commit_with(
        CommitOptions::default()
            .with_message(user.to_owned())
            .with_time(at),
    );
    if hash.is_none() {
        return Ok(None);
    }
    doc.get_last_local_change()
        .map(Some)
        .ok_or_else(|| Error::Internal("no change recorded".into()))
}

/// Moves `rec` along its workflow to `to` as `p`, appending the transition (and the comment,
/// which returning a report requires, with `comment_id`).
pub fn transition(
    rec: &mut AnyRecord,
    to: &str,
    p: &Principal,
    comment: Option<String>,
    comment_id: String,
    at: i64,
) -> Result<()> {
    if let Some(c) = &comment {
        crate::record::check_text("comment", c, 1, MAX_TEXT_CHARS)?;
    }
    let from = rec
        .status()
        .ok_or_else(|| Error::invalid("status", format!("a {} has no workflow", rec.kind())))?
        .to_owned();
    workflow::check_transition(rec, &from, to, &p.user_id, p.role)?;
    if rec.kind().needs_comment(to) && comment.is_none() {
        return Err(Error::invalid(
            "comment",
            "a comment is required when returning a report",
        ));
    }
    let t = Transition {
        from,
        to: to.to_owned(),
        by: p.user_id.clone(),
        role: p.role,
        at: crate::record::Millis(at),
        comment: comment.clone(),
    };
    rec.apply_step(to, t)?;
    if let (Some(text), Some(comments)) = (comment, rec.comments_mut()) {
        comments.push(Comment {
            id: comment_id,
            by: p.user_id.clone(),
            at: crate::record::Millis(at),
            text,
        });
    }
    Ok(())
}
