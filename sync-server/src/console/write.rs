//! Console writes go through the record path, not around it: the record is changed with the
//! model's write path ([`gridwork_model::edit`]) into an Automerge change made by the session's
//! console actor and signed with the user's id, and that change is pushed through
//! [`crate::sync::handle_sync`] as the session's device, so the same gate, write policy and
//! quotas decide it as for a phone's push. Devices pull it like any other change; history shows
//! it as made in the web console; a concurrent offline edit on a phone merges with it.

use std::sync::Arc;

use gridwork_model::{edit, AnyRecord, Principal};
use gridwork_protocol::wire::{PushDoc, SyncRequest, PROTOCOL_VERSION};

use super::Refusal;
use crate::http::AppState;
use crate::store::{DeviceAuth, LoadedDoc, Scope, ServerStore};

/// A record the user may see: the server's copy, loaded, if it exists, is not set aside, and
/// its grid is in `scope`. Anything else is `NotFound` (one answer for "no such record" and
/// "not yours").
pub fn load(
    store: &dyn ServerStore,
    scope: &Scope,
    doc_id: &str,
) -> Result<Arc<LoadedDoc>, Refusal> {
    if gridwork_model::check_id("id", doc_id).is_err() {
        return Err(Refusal::NotFound);
    }
    let stored = store.peek_doc(doc_id)?.ok_or(Refusal::NotFound)?;
    if !scope.contains(&stored.grid) || store.doc_quarantined(doc_id)? {
        return Err(Refusal::NotFound);
    }
    if let Some(l) = stored.loaded {
        return Ok(l);
    }
    let doc = automerge::Automerge::load(&stored.snapshot).map_err(|e| {
        tracing::error!(doc_id, error = %e, "stored document does not load");
        Refusal::Internal
    })?;
    let admitted = gridwork_protocol::gate::Admitted::load(doc).map_err(|e| {
        tracing::error!(doc_id, reason = %e.reason, "stored document is invalid");
        Refusal::Internal
    })?;
    Ok(Arc::new(admitted))
}

fn model_refusal(e: gridwork_model::Error) -> Refusal {
    use gridwork_model::Error as E;
    match e {
        E::InvalidInput { field, reason } => Refusal::Invalid { field, reason },
        E::NotPermitted { field, reason } => Refusal::Invalid {
            field: field.unwrap_or_else(|| "record".into()),
            reason,
        },
        E::IllegalTransition { .. } => Refusal::Invalid {
            field: "status".into(),
            reason: e.to_string(),
        },
        E::NotFound { .. } => Refusal::NotFound,
        other => {
            tracing::error!(error = %other, "console write failed");
            Refusal::Internal
        }
    }
}

/// The session's console actor (registered with its device at sign-in).
fn actor_of(device: &DeviceAuth) -> Result<automerge::ActorId, Refusal> {
    device
        .actors
        .iter()
        .find(|a| gridwork_model::doc::is_console_actor(a))
        .and_then(|a| hex::decode(a).ok())
        .map(automerge::ActorId::from)
        .ok_or(Refusal::Internal)
}

fn principal(device: &DeviceAuth) -> Principal {
    Principal {
        user_id: device.user.id.clone().into(),
        role: device.user.role,
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Pushes one document's new change as the session's device, through the sync checks.
fn push(
    st: &AppState,
    device: &DeviceAuth,
    scope: &Scope,
    doc_id: &str,
    change: Vec<u8>,
) -> Result<(), Refusal> {
    let req = SyncRequest {
        version: PROTOCOL_VERSION,
        cursor: None,
        push: vec![PushDoc {
            doc_id: doc_id.to_owned(),
            changes: vec![change],
        }],
        pull_limit: Some(1),
        directory: None,
    };
    let resp = crate::sync::handle_sync(
        st.store.as_ref(),
        device,
        scope,
        req,
        st.config.pull,
        &st.config.quotas,
        &crate::cancel::Cancel::never(),
    )?;
    if let Some(r) = resp.rejected.into_iter().next() {
        tracing::info!(doc_id, code = ?r.code, "console change refused by the sync checks");
        return Err(Refusal::Invalid {
            field: r.field.unwrap_or_else(|| "record".into()),
            reason: r.reason,
        });
    }
    Ok(())
}

/// Changes a record in the user's scope with `f` (given the record, the acting principal and
/// the time), as one change from the console. Blocking: call from a blocking thread.
pub fn change(
    st: &AppState,
    device: &DeviceAuth,
    scope: &Scope,
    doc_id: &str,
    f: impl FnOnce(&mut AnyRecord, &Principal, i64) -> gridwork_model::Result<()>,
) -> Result<(), Refusal> {
    let loaded = load(st.store.as_ref(), scope, doc_id)?;
    let actor = actor_of(device)?;
    let p = principal(device);
    let at = now_ms();
    let mut rec = loaded.record.clone();
    f(&mut rec, &p, at).map_err(model_refusal)?;
    rec.validate().map_err(model_refusal)?;
    let old_json = loaded.record.to_json().map_err(model_refusal)?;
    let new_json = rec.to_json().map_err(model_refusal)?;
    let mut doc = loaded.doc.fork().with_actor(actor);
    let Some(c) = edit::edit_doc(&mut doc, &old_json, &new_json, &device.user.id, at)
        .map_err(model_refusal)?
    else {
        return Ok(());
    };
    push(st, device, scope, doc_id, c.raw_bytes().to_vec())
}

/// Files a new record as the console user (author and time stamped here). Returns its id.
pub fn create(
    st: &AppState,
    device: &DeviceAuth,
    scope: &Scope,
    mut rec: AnyRecord,
) -> Result<String, Refusal> {
    let actor = actor_of(device)?;
    let at = now_ms();
    rec.stamp_new(&device.user.id, at);
    rec.validate().map_err(model_refusal)?;
    if !scope.contains(rec.grid()) {
        return Err(Refusal::Invalid {
            field: "grid".into(),
            reason: "why-not-in-scope".into(),
        });
    }
    let (_, _, change) = edit::new_doc(&rec, actor, &device.user.id, at).map_err(model_refusal)?;
    let id = uuid::Uuid::now_v7().to_string();
    push(st, device, scope, &id, change.raw_bytes().to_vec())?;
    Ok(id)
}

/// Moves a record along its workflow (with the comment a return needs).
pub fn step(
    st: &AppState,
    device: &DeviceAuth,
    scope: &Scope,
    doc_id: &str,
    to: &str,
    comment: Option<String>,
) -> Result<(), Refusal> {
    let to = to.to_owned();
    change(st, device, scope, doc_id, move |rec, p, at| {
        edit::transition(rec, &to, p, comment, uuid::Uuid::now_v7().to_string(), at)
    })
}

/// Adds a comment to a report or a task.
pub fn comment(
    st: &AppState,
    device: &DeviceAuth,
    scope: &Scope,
    doc_id: &str,
    text: String,
) -> Result<(), Refusal> {
    change(st, device, scope, doc_id, move |rec, p, at| {
        gridwork_model::record::check_text(
            "comment",
            &text,
            1,
            gridwork_model::record::MAX_TEXT_CHARS,
        )?;
        let comments = rec.comments_mut().ok_or_else(|| {
            gridwork_model::Error::invalid("comment", "this kind of record has no comments")
        })?;
        comments.push(gridwork_model::Comment {
            id: uuid::Uuid::now_v7().to_string(),
            by: p.user_id.clone(),
            at: gridwork_model::Millis(at),
            text,
        });
        Ok(())
    })
}
