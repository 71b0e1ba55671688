//! `POST /v1/sync`: check and store pushed changes, then pull changes in scope.
//!
//! Write checks, in order, for every pushed change:
//! 1. the bytes parse as an Automerge change (`corrupt`);
//! 2. its actor id was registered by this device at sign-in (`actor_not_registered`);
//! 3. its message, which core sets to the author's user id, is the signed-in user (`wrong_author`);
//! 4. the server's copy of the record is in the user's scope (`out_of_scope`);
//! 5. applied to a fork of the server's copy, all its dependencies are known (`missing_deps`);
//! 6. the typed record hydrated after it is valid, in scope, and a change the role may make from
//!    the record before it ([`gridwork_core::policy::check_write`]; `denied` / `out_of_scope` /
//!    `invalid_record`, with the field named).
//!
//! A document's new changes are first checked as one batch; only when the batch is refused are
//! they checked one by one, so the valid prefix of a device's edits is kept and the first
//! offending change (and whatever depends on it) is reported.

use std::collections::{BTreeMap, HashSet};

use automerge::{Automerge, Change, ChangeHash, ReadDoc};
use gridwork_core::policy::{check_write, Principal};
use gridwork_core::wire::{
    ChangeRef, PulledChange, RejectCode, Rejected, SyncRequest, SyncResponse, PROTOCOL_VERSION,
};
use gridwork_core::AnyRecord;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Result};
use crate::store::{DeviceAuth, DocUpdate, LoadedDoc, Scope, ServerStore, StoredDoc};

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

/// Longest accepted document id.
const MAX_DOC_ID_LEN: usize = 128;

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
    hash: ChangeHash,
    hash_hex: String,
    change: Change,
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
    fn accept(&mut self, doc_id: &str, hash: &str) {
        self.accepted.push(ChangeRef {
            doc_id: doc_id.to_owned(),
            hash: hash.to_owned(),
        });
    }
}

/// Hydrates the typed record held by a document.
pub fn hydrate(doc: &Automerge) -> gridwork_core::Result<AnyRecord> {
    AnyRecord::from_json(gridwork_core::doc::read_json(doc))
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
    let _ = quotas;
    let fingerprint = scope_fingerprint(scope);
    let after = parse_cursor(req.cursor.as_deref(), &fingerprint)?;
    let mut out = Outcome::default();

    // Checks 1–3 need no database: done before taking the write lock.
    let actors: HashSet<&str> = device.actors.iter().map(String::as_str).collect();
    let mut candidates: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for doc in req.push {
        if doc.doc_id.is_empty() || doc.doc_id.len() > MAX_DOC_ID_LEN {
            return Err(ApiError::bad_request(format!(
                "document id must be 1 to {MAX_DOC_ID_LEN} bytes"
            )));
        }
        for bytes in doc.changes {
            let change = match Change::try_from(&bytes[..]) {
                Ok(c) => c,
                Err(e) => {
                    let h = hex::encode(Sha256::digest(&bytes));
                    out.reject(
                        &doc.doc_id,
                        &h,
                        RejectCode::Corrupt,
                        None,
                        format!("not an Automerge change: {e}"),
                    );
                    continue;
                }
            };
            let hash = change.hash();
            let hash_hex = hash.to_string();
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
            if !candidates.contains_key(&doc.doc_id) {
                order.push(doc.doc_id.clone());
            }
            candidates
                .entry(doc.doc_id.clone())
                .or_default()
                .push(Candidate {
                    hash,
                    hash_hex,
                    change,
                });
        }
    }

    let principal = Principal {
        user_id: device.user.id.clone(),
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
                return Err(ApiError::new(
                    gridwork_core::wire::ErrorCode::Unavailable,
                    "the request ran past its deadline and was stopped; nothing was stored",
                ));
            }
            let cands = candidates.remove(doc_id).unwrap_or_default();
            let stored = store.peek_doc(doc_id)?;
            let base = BaseKey::of(&stored);
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
        let mut decide = |doc_id: &str, stored: Option<StoredDoc>| -> Result<Option<DocUpdate>> {
            let Some(p) = pre.remove(doc_id) else {
                return Ok(None);
            };
            if BaseKey::of(&stored) == p.base {
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
    Ok(SyncResponse {
        version: PROTOCOL_VERSION,
        accepted: out.accepted,
        rejected: out.rejected,
        changes: page
            .changes
            .into_iter()
            .map(|(_, doc_id, bytes)| PulledChange { doc_id, bytes })
            .collect(),
        cursor: format_cursor(page.position, &fingerprint),
        more: page.more,
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
    fn of(stored: &Option<StoredDoc>) -> BaseKey {
        match stored {
            None => BaseKey::New,
            Some(StoredDoc {
                loaded: Some(l), ..
            }) => BaseKey::Heads(l.doc.get_heads()),
            Some(s) => BaseKey::Snapshot(s.snapshot.clone()),
        }
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
    let reject_all =
        |out: &mut Outcome, cands: &[&Candidate], code, field: Option<&str>, reason: &str| {
            for c in cands {
                out.reject(doc_id, &c.hash_hex, code, field, reason);
            }
        };
    let is_new = stored.is_none();
    let cands: Vec<&Candidate> = cands.iter().collect();
    let cands = &cands[..];
    let mut cached_before = None;
    let doc = match stored {
        None => Automerge::new(),
        Some(s) => {
            if !in_scope(&s.grid) {
                reject_all(
                    out,
                    cands,
                    RejectCode::OutOfScope,
                    Some("grid"),
                    "the record's grid is outside the user's scope",
                );
                return None;
            }
            if let Some(l) = s.loaded {
                cached_before = Some(l.record.clone());
                l.doc.clone()
            } else {
                match Automerge::load(&s.snapshot) {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::error!(doc_id, error = %e, "stored document does not load");
                        reject_all(
                            out,
                            cands,
                            RejectCode::InvalidRecord,
                            None,
                            "the server's copy of this record is unreadable",
                        );
                        return None;
                    }
                }
            }
        }
    };

    // Idempotent retries: changes the server already holds are accepted again.
    let mut new: Vec<&Candidate> = Vec::new();
    for &c in cands {
        if doc.get_change_by_hash(&c.hash).is_some() {
            out.accept(doc_id, &c.hash_hex);
        } else if !new.iter().any(|n| n.hash == c.hash) {
            new.push(c);
        }
    }
    if new.is_empty() {
        return None;
    }
    let before = if let Some(r) = cached_before {
        Some(r)
    } else if !is_new {
        match hydrate(&doc) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!(doc_id, error = %e, "stored document does not hydrate");
                reject_all(
                    out,
                    &new,
                    RejectCode::InvalidRecord,
                    None,
                    "the server's copy of this record is unreadable",
                );
                return None;
            }
        }
    } else {
        None
    };
    let old_heads = doc.get_heads();

    // Whole batch first.
    let mut fork = doc.clone();
    let batch_ok = fork
        .apply_changes(new.iter().map(|c| c.change.clone()))
        .is_ok()
        && new
            .iter()
            .all(|c| fork.get_change_by_hash(&c.hash).is_some())
        && match hydrate(&fork) {
            Ok(after) => check_write(principal, &in_scope, before.as_ref(), &after).is_ok(),
            Err(_) => false,
        };

    let (final_doc, final_rec) = if batch_ok {
        let rec = hydrate(&fork).ok()?;
        for c in &new {
            out.accept(doc_id, &c.hash_hex);
        }
        (fork, rec)
    } else {
        // One by one, keeping the valid prefix.
        let mut cur = doc;
        let mut cur_rec = before.clone();
        let mut pending: Vec<&Candidate> = new;
        let mut first_refusal: Option<(RejectCode, Option<String>, String)> = None;
        // A change may arrive before one it depends on: retry the queue until no progress.
        loop {
            let mut progressed = false;
            let mut still = Vec::new();
            for c in pending {
                let mut next = cur.clone();
                if next.apply_changes([c.change.clone()]).is_err()
                    || next.get_change_by_hash(&c.hash).is_none()
                {
                    still.push(c);
                    continue;
                }
                progressed = true;
                let rec = match hydrate(&next) {
                    Ok(r) => r,
                    Err(e) => {
                        first_refusal.get_or_insert((
                            RejectCode::InvalidRecord,
                            None,
                            e.to_string(),
                        ));
                        out.reject(
                            doc_id,
                            &c.hash_hex,
                            RejectCode::InvalidRecord,
                            None,
                            e.to_string(),
                        );
                        continue;
                    }
                };
                match check_write(principal, &in_scope, cur_rec.as_ref(), &rec) {
                    Ok(()) => {
                        out.accept(doc_id, &c.hash_hex);
                        cur = next;
                        cur_rec = Some(rec);
                    }
                    Err(d) => {
                        let code = if d.field == "grid" && !in_scope(rec.grid()) {
                            RejectCode::OutOfScope
                        } else {
                            RejectCode::Denied
                        };
                        first_refusal.get_or_insert((
                            code,
                            Some(d.field.clone()),
                            d.reason.clone(),
                        ));
                        out.reject(doc_id, &c.hash_hex, code, Some(&d.field), d.reason);
                    }
                }
            }
            pending = still;
            if !progressed || pending.is_empty() {
                break;
            }
        }
        // What is left depends on a change that was refused (report that cause) or on one the
        // server never got.
        for c in &pending {
            match &first_refusal {
                Some((code, field, reason)) => out.reject(
                    doc_id,
                    &c.hash_hex,
                    *code,
                    field.as_deref(),
                    format!("depends on a refused change: {reason}"),
                ),
                None => out.reject(
                    doc_id,
                    &c.hash_hex,
                    RejectCode::MissingDeps,
                    None,
                    "depends on a change the server does not have",
                ),
            }
        }
        match cur_rec {
            Some(rec) if cur.get_heads() != old_heads => (cur, rec),
            _ => return None,
        }
    };

    // Store the accepted changes in causal order.
    let new_changes: Vec<(String, Vec<u8>)> = final_doc
        .get_changes(&old_heads)
        .into_iter()
        .map(|c| (c.hash().to_string(), c.raw_bytes().to_vec()))
        .collect();
    Some(DocUpdate {
        new_changes,
        snapshot: final_doc.save(),
        grid: final_rec.grid().to_owned(),
        kind: final_rec.kind().as_str().to_owned(),
        blob_refs: final_rec
            .photos()
            .iter()
            .flat_map(|p| [p.hash.clone(), p.thumb_hash.clone()])
            .collect(),
        loaded: Some(std::sync::Arc::new(LoadedDoc {
            doc: final_doc,
            record: final_rec,
        })),
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
