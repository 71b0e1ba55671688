//! `POST /v1/sync`: check and store pushed changes, then pull changes in scope.
//!
//! Checks, in order, for every pushed document and change (the limits are in
//! [`gridwork_protocol::gate`] and `docs/protocol.md`):
//! 1. the document id follows the id rule (`invalid_id`); an admin has not quarantined the
//!    document (`quarantined`);
//! 2. the bytes are a raw Automerge change within the size and operation limits, read without
//!    expanding them ([`gridwork_protocol::gate::parse_change`]: `corrupt` / `too_large`);
//! 3. its actor id was registered by this device at sign-in (`actor_not_registered`);
//! 4. its message, which core sets to the author's user id, is the signed-in user (`wrong_author`);
//! 5. the device's quotas, per request and per day, hold (`quota`, retryable);
//! 6. the server's copy of the record is in the user's scope (`out_of_scope`);
//! 7. the gate ([`gridwork_protocol::gate::admit_push`]): applied to a fork of the server's copy, its
//!    dependencies are known (`missing_deps`), it touches only objects of the record, the document
//!    fits its kind's schema and limits (`invalid_record` / `too_large`, with the field), and the
//!    policy and workflow allow it for the user's role (`denied` / `out_of_scope`, with the field).
//!
//! A document's new changes are first checked as one batch; only when the batch is refused are
//! they checked one by one, so the valid prefix of a device's edits is kept and the first
//! offending change (and whatever depends on it) is reported.

use std::collections::{BTreeMap, HashSet};

use std::sync::Arc;

use automerge::{Automerge, Change, ChangeHash};
use gridwork_model::policy::Principal;
use gridwork_protocol::gate::{self, Admitted, Refusal};
use gridwork_protocol::wire::{
    ChangeRef, ErrorCode, PulledChange, RejectCode, Rejected, SyncRequest, SyncResponse,
    PROTOCOL_VERSION,
};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Result};
use crate::store::{DeviceAuth, DocUpdate, Scope, ServerStore, StoredDoc};

/// Paging of pulls.
#[derive(Debug, Clone, Copy)]
pub struct PullConfig {
    /// Changes per response when the request does not say.
    pub default_limit: usize,
    /// Most changes per response whatever the request says.
    pub max_limit: usize,
    /// Stop filling a response past this many change bytes (before compression).
    pub max_bytes: usize,
}

impl Default for PullConfig {
    fn default() -> Self {
        PullConfig {
            default_limit: 2_000,
            max_limit: 10_000,
            max_bytes: 8 << 20,
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Cursor
// ------------------------------------------------------------------------------------------------

/// Cursor format `v1.<seq>.<scope>`: `seq` is the global change sequence number up to which the
/// device has everything in its scope; `scope` is a fingerprint of the grids the cursor covers
/// (`all`, or 8 hex digits of SHA-256 over the sorted grid ids). When the user's scope changes,
/// the fingerprint no longer matches and the pull restarts from 0 (re-sent changes are harmless:
/// applying a change twice is a no-op). A later version can partition the log per grid with
/// cursors like `v2.<grid>:<seq>,…` without breaking v1 devices: the server keeps accepting
/// v1 cursors.
pub fn scope_fingerprint(scope: &Scope) -> String {
    match scope {
        Scope::All => "all".into(),
        Scope::Grids(g) => {
            let mut g: Vec<&str> = g.iter().map(String::as_str).collect();
            g.sort_unstable();
            let mut h = Sha256::new();
            for id in g {
                h.update(id.as_bytes());
                h.update(b"\n");
            }
            hex::encode(&h.finalize()[..4])
        }
    }
}

pub fn format_cursor(seq: u64, fingerprint: &str) -> String {
    format!("v1.{seq}.{fingerprint}")
}

/// The seq to pull after. `None` → 0; a cursor for another scope → 0.
pub fn parse_cursor(cursor: Option<&str>, fingerprint: &str) -> Result<u64, ApiError> {
    let Some(c) = cursor else { return Ok(0) };
    let bad = || {
        ApiError::bad_request(
            "malformed cursor: send back the cursor of the last response, or none",
        )
    };
    let mut parts = c.splitn(3, '.');
    let (Some("v1"), Some(seq), Some(fp)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let seq: u64 = seq.parse().map_err(|_| bad())?;
    Ok(if fp == fingerprint { seq } else { 0 })
}

// ------------------------------------------------------------------------------------------------
// Push
// ------------------------------------------------------------------------------------------------

struct Candidate {
    hash_hex: String,
    change: Change,
    ops: u64,
    bytes: usize,
}

#[derive(Default)]
struct Outcome {
    accepted: Vec<ChangeRef>,
    rejected: Vec<Rejected>,
}

impl Outcome {
    fn reject(
        &mut self,
        doc_id: &str,
        hash: &str,
        code: RejectCode,
        field: Option<&str>,
        reason: impl Into<String>,
    ) {
        self.rejected.push(Rejected {
            doc_id: doc_id.to_owned(),
            hash: hash.to_owned(),
            field: field.map(str::to_owned),
            reason: reason.into(),
            code,
        });
    }
    fn refuse(&mut self, doc_id: &str, hash: &str, r: &Refusal) {
        self.reject(doc_id, hash, r.code, r.field.as_deref(), r.reason.clone());
    }
    fn accept(&mut self, doc_id: &str, hash: &str) {
        self.accepted.push(ChangeRef {
            doc_id: doc_id.to_owned(),
            hash: hash.to_owned(),
        });
    }
}

/// Handles one sync request (blocking: call it from `spawn_blocking`).
pub fn handle_sync(
    store: &dyn ServerStore,
    device: &DeviceAuth,
    scope: &Scope,
    req: SyncRequest,
    pull: PullConfig,
    quotas: &crate::quota::Quotas,
    cancel: &crate::cancel::Cancel,
) -> Result<SyncResponse, ApiError> {
    let fingerprint = scope_fingerprint(scope);
    let after = parse_cursor(req.cursor.as_deref(), &fingerprint)?;
    let mut out = Outcome::default();
    let stopped = || {
        ApiError::new(
            ErrorCode::Unavailable,
            "the request ran past its deadline and was stopped; nothing was stored",
        )
    };

    // Checks 1–5 need no write lock.
    let actors: HashSet<&str> = device.actors.iter().map(String::as_str).collect();
    let mut candidates: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    let mut peeked: BTreeMap<String, Option<StoredDoc>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let usage = store.usage_today(&device.device_id)?;
    let mut budget = QuotaBudget::new(quotas, usage);
    for doc in req.push {
        if cancel.is_cancelled() {
            return Err(stopped());
        }
        let refuse_doc = |out: &mut Outcome, code, field: Option<&str>, reason: &str| {
            for bytes in &doc.changes {
                out.reject(&doc.doc_id, &raw_hash(bytes), code, field, reason);
            }
        };
        if gridwork_model::record::check_id("doc_id", &doc.doc_id).is_err() {
            refuse_doc(
                &mut out,
                RejectCode::InvalidId,
                Some("doc_id"),
                "a record id is 1 to 64 ASCII letters, digits or - _ . : @",
            );
            continue;
        }
        if candidates.contains_key(&doc.doc_id) {
            refuse_doc(
                &mut out,
                RejectCode::Corrupt,
                Some("doc_id"),
                "the same record appears twice in one request",
            );
            continue;
        }
        if store.doc_quarantined(&doc.doc_id)? {
            refuse_doc(
                &mut out,
                RejectCode::Quarantined,
                None,
                "an administrator set this record aside; no change to it is accepted",
            );
            continue;
        }
        let mut cands = Vec::with_capacity(doc.changes.len());
        for bytes in &doc.changes {
            let (change, scanned) = match gate::parse_change(bytes) {
                Ok(c) => c,
                Err(r) => {
                    out.refuse(&doc.doc_id, &raw_hash(bytes), &r);
                    continue;
                }
            };
            let hash_hex = change.hash().to_string();
            if !actors.contains(change.actor_id().to_hex_string().as_str()) {
                out.reject(
                    &doc.doc_id,
                    &hash_hex,
                    RejectCode::ActorNotRegistered,
                    None,
                    "actor not registered to this device",
                );
                continue;
            }
            if change.message() != Some(device.user.id.as_str()) {
                out.reject(
                    &doc.doc_id,
                    &hash_hex,
                    RejectCode::WrongAuthor,
                    None,
                    "change author is not the signed-in user",
                );
                continue;
            }
            cands.push(Candidate {
                hash_hex,
                change,
                ops: scanned.ops,
                bytes: scanned.bytes,
            });
        }
        if cands.is_empty() {
            continue;
        }
        let stored = store.peek_doc(&doc.doc_id)?;
        if let Err(why) = budget.take(stored.is_none(), &cands) {
            for c in &cands {
                out.reject(
                    &doc.doc_id,
                    &c.hash_hex,
                    RejectCode::Quota,
                    None,
                    why.clone(),
                );
            }
            continue;
        }
        order.push(doc.doc_id.clone());
        peeked.insert(doc.doc_id.clone(), stored);
        candidates.insert(doc.doc_id, cands);
    }

    let principal = Principal {
        user_id: device.user.id.clone().into(),
        role: device.user.role,
    };
    if !order.is_empty() {
        // Optimistic: decide every document against the server's copy as it is now, outside the
        // write lock (pushes of different devices validate in parallel). Under the lock, a
        // decision is kept only if the document is still exactly that copy; otherwise (another
        // push changed it meanwhile) it is decided again there.
        struct Pre {
            base: BaseKey,
            cands: Vec<Candidate>,
            outcome: Outcome,
            update: Option<DocUpdate>,
        }
        let mut pre: BTreeMap<String, Pre> = BTreeMap::new();
        for doc_id in &order {
            if cancel.is_cancelled() {
                return Err(stopped());
            }
            let cands = candidates.remove(doc_id).unwrap_or_default();
            let stored = peeked.remove(doc_id).flatten();
            let base = BaseKey::of(stored.as_ref());
            let mut outcome = Outcome::default();
            let update = decide_doc(&principal, scope, doc_id, stored, &cands, &mut outcome);
            pre.insert(
                doc_id.clone(),
                Pre {
                    base,
                    cands,
                    outcome,
                    update,
                },
            );
        }
        if cancel.is_cancelled() {
            return Err(stopped());
        }
        let mut decide = |doc_id: &str, stored: Option<StoredDoc>| -> Result<Option<DocUpdate>> {
            let Some(p) = pre.remove(doc_id) else {
                return Ok(None);
            };
            if BaseKey::of(stored.as_ref()) == p.base {
                out.accepted.extend(p.outcome.accepted);
                out.rejected.extend(p.outcome.rejected);
                return Ok(p.update);
            }
            Ok(decide_doc(
                &principal, scope, doc_id, stored, &p.cands, &mut out,
            ))
        };
        store.push(&device.device_id, &order, &mut decide)?;
    }

    let limit = req
        .pull_limit
        .map_or(pull.default_limit, |n| n as usize)
        .clamp(1, pull.max_limit);
    let page = store.pull(scope, after, Some(&device.device_id), limit, pull.max_bytes)?;
    // Version 2 devices get the directory entries they lack; a version 1 device is answered in
    // its own version, without them.
    let directory = if req.version >= 2 {
        crate::directory::answer(store, &device.user.id, device.user.role, req.directory)?
    } else {
        None
    };
    Ok(SyncResponse {
        version: req.version.min(PROTOCOL_VERSION),
        accepted: out.accepted,
        rejected: out.rejected,
        changes: page
            .changes
            .into_iter()
            .map(|(_, doc_id, bytes)| PulledChange { doc_id, bytes })
            .collect(),
        cursor: format_cursor(page.position, &fingerprint),
        more: page.more,
        directory,
    })
}

/// What a decision was made against: no document, a loaded one (its heads), or stored bytes.
#[derive(PartialEq, Eq)]
enum BaseKey {
    New,
    Heads(Vec<ChangeHash>),
    Snapshot(Vec<u8>),
}

impl BaseKey {
    fn of(stored: Option<&StoredDoc>) -> BaseKey {
        match stored {
            None => BaseKey::New,
            Some(StoredDoc {
                loaded: Some(l), ..
            }) => BaseKey::Heads(l.doc.get_heads()),
            Some(s) => BaseKey::Snapshot(s.snapshot.clone()),
        }
    }
}

fn raw_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What is left of a device's quotas while a request is read.
struct QuotaBudget<'a> {
    q: &'a crate::quota::Quotas,
    day: crate::store::DeviceUsage,
    docs: usize,
    new_docs: usize,
    changes: usize,
    ops: u64,
}

impl<'a> QuotaBudget<'a> {
    fn new(q: &'a crate::quota::Quotas, day: crate::store::DeviceUsage) -> Self {
        QuotaBudget {
            q,
            day,
            docs: 0,
            new_docs: 0,
            changes: 0,
            ops: 0,
        }
    }

    /// Takes one document's candidates, or says which quota they would break (nothing taken).
    fn take(&mut self, is_new: bool, cands: &[Candidate]) -> Result<(), String> {
        let n = cands.len();
        let ops: u64 = cands.iter().map(|c| c.ops).sum();
        let bytes: u64 = cands.iter().map(|c| c.bytes as u64).sum();
        let q = self.q;
        let new = usize::from(is_new);
        let over = |what: &str, limit: u64, per: &str| {
            format!("over the quota of {limit} {what} per {per}; the change is kept on the device and sent again later")
        };
        if self.docs + 1 > q.request_docs {
            return Err(over("records", q.request_docs as u64, "request"));
        }
        if self.changes + n > q.request_changes {
            return Err(over("changes", q.request_changes as u64, "request"));
        }
        if self.ops + ops > q.request_ops {
            return Err(over("operations", q.request_ops, "request"));
        }
        if self.new_docs + new > q.request_new_docs {
            return Err(over("new records", q.request_new_docs as u64, "request"));
        }
        if self.day.new_docs + new as u64 > q.day_new_docs {
            return Err(over("new records", q.day_new_docs, "day"));
        }
        if self.day.changes + n as u64 > q.day_changes {
            return Err(over("changes", q.day_changes, "day"));
        }
        if self.day.bytes + bytes > q.day_bytes {
            return Err(over("bytes of changes", q.day_bytes, "day"));
        }
        self.docs += 1;
        self.new_docs += new;
        self.changes += n;
        self.ops += ops;
        self.day.new_docs += new as u64;
        self.day.changes += n as u64;
        self.day.bytes += bytes;
        Ok(())
    }
}

fn decide_doc(
    principal: &Principal,
    scope: &Scope,
    doc_id: &str,
    stored: Option<StoredDoc>,
    cands: &[Candidate],
    out: &mut Outcome,
) -> Option<DocUpdate> {
    let in_scope = |g: &str| scope.contains(g);
    let reject_all = |out: &mut Outcome, cands: &[&Candidate], r: &Refusal| {
        for c in cands {
            out.refuse(doc_id, &c.hash_hex, r);
        }
    };
    let all: Vec<&Candidate> = cands.iter().collect();
    let before: Option<Arc<Admitted>> = match stored {
        None => None,
        Some(s) => {
            if !in_scope(&s.grid) {
                let r = Refusal::new(
                    RejectCode::OutOfScope,
                    Some("grid"),
                    "the record's grid is outside the user's scope",
                );
                reject_all(out, &all, &r);
                return None;
            }
            match s.loaded {
                Some(l) => Some(l),
                None => {
                    let loaded = Automerge::load(&s.snapshot)
                        .map_err(|_| {
                            Refusal::new(
                                RejectCode::InvalidRecord,
                                None,
                                "the server's copy of this record is unreadable",
                            )
                        })
                        .and_then(Admitted::load);
                    match loaded {
                        Ok(a) => Some(Arc::new(a)),
                        Err(r) => {
                            tracing::error!(doc_id, code = r.code.as_str(), field = ?r.field, "the stored record breaks the schema; pushes to it are refused");
                            let r = Refusal::new(
                                r.code,
                                r.field.as_deref(),
                                format!("the server's copy of this record does not fit today's schema ({}); an administrator must set it aside", r.reason),
                            );
                            reject_all(out, &all, &r);
                            return None;
                        }
                    }
                }
            }
        }
    };

    let old_heads = before
        .as_ref()
        .map(|b| b.doc.get_heads())
        .unwrap_or_default();
    let changes: Vec<Change> = cands.iter().map(|c| c.change.clone()).collect();
    let outcome = gate::admit_push_changes(principal, &in_scope, before.as_deref(), &changes);
    for (c, r) in cands.iter().zip(&outcome.results) {
        match r {
            Ok(()) => out.accept(doc_id, &c.hash_hex),
            Err(r) => out.refuse(doc_id, &c.hash_hex, r),
        }
    }
    let admitted = outcome.admitted?;

    // Store the accepted changes in causal order.
    let new_changes: Vec<(String, Vec<u8>)> = admitted
        .doc
        .get_changes(&old_heads)
        .into_iter()
        .map(|c| (c.hash().to_string(), c.raw_bytes().to_vec()))
        .collect();
    Some(DocUpdate {
        new_changes,
        snapshot: admitted.doc.save(),
        grid: admitted.record.grid().to_owned(),
        kind: admitted.record.kind().as_str().to_owned(),
        blob_refs: admitted
            .record
            .photos()
            .iter()
            .flat_map(|p| [p.hash.clone(), p.thumb_hash.clone()])
            .collect(),
        loaded: Some(Arc::new(admitted)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_scope_change() {
        let s1 = Scope::Grids(vec!["g2".into(), "g1".into()]);
        let s1b = Scope::Grids(vec!["g1".into(), "g2".into()]);
        let s2 = Scope::Grids(vec!["g1".into()]);
        let fp = scope_fingerprint(&s1);
        assert_eq!(fp, scope_fingerprint(&s1b));
        assert_ne!(fp, scope_fingerprint(&s2));
        let c = format_cursor(42, &fp);
        assert_eq!(parse_cursor(Some(&c), &fp).unwrap(), 42);
        assert_eq!(parse_cursor(Some(&c), &scope_fingerprint(&s2)).unwrap(), 0);
        assert_eq!(parse_cursor(None, &fp).unwrap(), 0);
        for bad in ["", "v1", "v1.x.y", "v2.1.all", "42"] {
            assert!(parse_cursor(Some(bad), &fp).is_err(), "{bad}");
        }
    }
}
