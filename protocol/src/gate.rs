//! The trust boundary: what a change must be before anything is spent on it.
//!
//! Every change that crosses a device/server boundary goes through here, on both sides:
//!
//! 1. [`prescan`]: the raw bytes are read as an Automerge change chunk *without* Automerge:
//!    chunk type, header sizes, and the number of operations the columns encode (run lengths
//!    summed), so a 1 KB change that expands to 20 million operations is refused before
//!    Automerge decodes a single one.
//! 2. [`parse_change`]: Automerge parses and verifies it.
//! 3. [`admit_push`] (server, strict) / [`admit_pulled`] (device, tolerant): the change is applied
//!    to a fork of the document; every object it touches must be reachable; the resulting document
//!    is read against its kind's schema ([`gridwork_model::shape`]) iteratively, with limits on depth,
//!    objects, strings and lists; only then is it hydrated into a typed record and (server) checked
//!    by the write policy ([`gridwork_model::policy`]) and the workflow ([`gridwork_model::workflow`]).
//!
//! Refusals name the field and the rule, never the value.

use automerge::legacy::{ObjectId, OpId};
use automerge::{Automerge, Change, ObjId, ReadDoc};

use crate::wire::RejectCode;
use gridwork_model::error::Error;
use gridwork_model::policy::{self, Principal, Side};
use gridwork_model::record::{AnyRecord, RecordKind};
use gridwork_model::shape::{self, Mode, Shape, ShapeError};

// ------------------------------------------------------------------------------------------------
// Limits (docs/protocol.md, "Limits" lists the same numbers; keep them in step)
// ------------------------------------------------------------------------------------------------

/// Largest raw change, in bytes.
pub const MAX_CHANGE_BYTES: usize = 1 << 20;
/// Most operations one change may encode.
pub const MAX_CHANGE_OPS: u64 = 100_000;
/// Most dependencies one change may name.
pub const MAX_CHANGE_DEPS: usize = 256;
/// Most actor ids one change may name (its own included).
pub const MAX_CHANGE_ACTORS: usize = 64;
/// Longest change message (the author's user id), in bytes.
pub const MAX_CHANGE_MESSAGE: usize = 128;
/// Most extra bytes after a change's columns.
pub const MAX_CHANGE_EXTRA: usize = 1024;
pub use gridwork_model::limits::{MAX_DEPTH, MAX_DOC_CHARS, MAX_DOC_OBJECTS, MAX_DOC_OPS};

/// Per sync request (device → server). The device sends at most this much per request; the
/// server refuses the excess with [`RejectCode::Quota`] (retryable: sent again next request).
pub const MAX_PUSH_DOCS: usize = 1_000;
pub const MAX_PUSH_CHANGES: usize = 5_000;
pub const MAX_PUSH_OPS: u64 = 1_000_000;
pub const MAX_PUSH_NEW_DOCS: usize = 200;

/// Why a change was refused: the code the wire carries, the field it is about, and a reason that
/// never quotes a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: RejectCode,
    pub field: Option<String>,
    pub reason: String,
}

impl Refusal {
    pub fn new(code: RejectCode, field: Option<&str>, reason: impl Into<String>) -> Self {
        Refusal {
            code,
            field: field.map(str::to_owned),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{} ({field}): {}", self.code.as_str(), self.reason),
            None => write!(f, "{}: {}", self.code.as_str(), self.reason),
        }
    }
}

/// What [`prescan`] learned from a change's bytes.
pub type Scanned = crate::scan::ScanInfo;

/// The limits of one change, as [`crate::scan`] takes them.
pub const CHANGE_LIMITS: crate::scan::ScanLimits = crate::scan::ScanLimits {
    max_bytes: MAX_CHANGE_BYTES,
    max_ops: MAX_CHANGE_OPS,
    max_group_items: 4 * MAX_CHANGE_OPS,
    max_string_bytes: 8 << 20,
    max_deps: MAX_CHANGE_DEPS,
    max_actors: MAX_CHANGE_ACTORS,
    max_message: MAX_CHANGE_MESSAGE,
    max_extra: MAX_CHANGE_EXTRA,
    max_columns: 64,
};

/// Reads a change chunk's header and column run lengths without Automerge; refuses anything over
/// the limits above.
pub fn prescan(bytes: &[u8]) -> Result<Scanned, Refusal> {
    use crate::scan::ScanError;
    crate::scan::scan_change(bytes, &CHANGE_LIMITS).map_err(|e| match e {
        ScanError::TooLarge(_) => Refusal::new(RejectCode::TooLarge, None, e.to_string()),
        ScanError::Malformed(_) | ScanError::Compressed => {
            Refusal::new(RejectCode::Corrupt, None, e.to_string())
        }
    })
}

/// [`prescan`], then Automerge's own parse and verification.
pub fn parse_change(bytes: &[u8]) -> Result<(Change, Scanned), Refusal> {
    let scanned = prescan(bytes)?;
    let change = Change::try_from(bytes)
        .map_err(|_| Refusal::new(RejectCode::Corrupt, None, "not an Automerge change"))?;
    // Automerge's change parser does not verify the chunk's checksum, but loading a stored
    // document does: a change with a wrong one would be accepted now and make the record
    // unreadable on every device later. The checksum is the first 4 bytes of the hash.
    if bytes.get(4..8) != Some(&change.hash().0[..4]) {
        return Err(Refusal::new(
            RejectCode::Corrupt,
            None,
            "the change's checksum does not match its contents",
        ));
    }
    if change.len() as u64 > MAX_CHANGE_OPS {
        return Err(Refusal::new(
            RejectCode::TooLarge,
            None,
            "the change is over the limit of operations per change",
        ));
    }
    Ok((change, scanned))
}

/// A document that passed the gate, with the typed record it holds and its shape.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub doc: Automerge,
    pub record: AnyRecord,
    pub shape: Shape,
}

impl Admitted {
    /// Reads a document the server already holds (checked when it was stored). A copy stored by
    /// an earlier build that breaks today's schema is reported like a refused change, so pushes
    /// to it are refused with a reason and an admin can set it aside.
    pub fn load(doc: Automerge) -> Result<Admitted, Refusal> {
        let shape = shape::check(&doc, Mode::Strict).map_err(shape_refusal)?;
        let record = hydrate(&doc)?;
        Ok(Admitted { doc, record, shape })
    }
}

fn shape_refusal(e: ShapeError) -> Refusal {
    match e {
        ShapeError::Field { path, reason } => {
            Refusal::new(RejectCode::InvalidRecord, Some(&path), reason)
        }
        ShapeError::TooLarge(what) => Refusal::new(
            RejectCode::TooLarge,
            None,
            format!("the record is over the limit of {what}"),
        ),
    }
}

/// The typed record of a document whose shape was checked.
fn hydrate(doc: &Automerge) -> Result<AnyRecord, Refusal> {
    let rec = AnyRecord::from_json(gridwork_model::doc::read_json(doc)).map_err(|_| {
        Refusal::new(
            RejectCode::InvalidRecord,
            None,
            "the record does not match its kind",
        )
    })?;
    rec.validate().map_err(|e| match e {
        Error::InvalidInput { field, reason } => {
            Refusal::new(RejectCode::InvalidRecord, Some(&field), reason)
        }
        _ => Refusal::new(RejectCode::InvalidRecord, None, "the record is not valid"),
    })?;
    Ok(rec)
}

/// A record's kind never changes: checked before the schema walk, so the refusal names `kind`
/// (under another kind's schema the first field that does not belong would be named instead).
fn check_kind_kept(doc: &Automerge, kind: RecordKind) -> Result<(), Refusal> {
    let values = doc.get_all(automerge::ROOT, "kind").unwrap_or_default();
    let kept = !values.is_empty()
        && values.iter().all(|(v, _)| {
            matches!(v, automerge::Value::Scalar(s)
                if matches!(s.as_ref(), automerge::ScalarValue::Str(k) if k.as_str() == kind.as_str()))
        });
    if kept {
        Ok(())
    } else {
        Err(Refusal::new(
            RejectCode::Denied,
            Some("kind"),
            "a record's kind never changes",
        ))
    }
}

/// Server side, strict: may `p` apply `changes` (already parsed) to `before` (the server's copy;
/// `None` for a new document)? Returns the document after them. Every change must apply (its
/// dependencies known), touch only objects that are part of the record before or after it, keep
/// the record's kind, leave
/// a document that fits its kind's schema and limits, and be a change the policy allows.
pub fn admit_push(
    p: &Principal,
    in_scope: &dyn Fn(&str) -> bool,
    before: Option<&Admitted>,
    changes: &[Change],
) -> Result<Admitted, Refusal> {
    let mut doc = match before {
        Some(b) => b.doc.clone(),
        None => Automerge::new(),
    };
    let fresh: Vec<&Change> = changes
        .iter()
        .filter(|c| doc.get_change_by_hash(&c.hash()).is_none())
        .collect();
    let ops: u64 = fresh.iter().map(|c| c.len() as u64).sum();
    if doc.stats().num_ops.saturating_add(ops) > MAX_DOC_OPS {
        return Err(Refusal::new(
            RejectCode::TooLarge,
            None,
            format!("a record's history may hold at most {MAX_DOC_OPS} operations"),
        ));
    }
    doc.apply_changes(fresh.iter().map(|c| (*c).clone()))
        .map_err(|_| Refusal::new(RejectCode::Corrupt, None, "the change does not apply"))?;
    if fresh
        .iter()
        .any(|c| doc.get_change_by_hash(&c.hash()).is_none())
    {
        return Err(Refusal::new(
            RejectCode::MissingDeps,
            None,
            "depends on a change the server does not have",
        ));
    }
    if let Some(kind) = before.and_then(|b| b.shape.kind) {
        check_kind_kept(&doc, kind)?;
    }
    let shape = shape::check(&doc, Mode::Strict).map_err(shape_refusal)?;
    check_reach(&fresh, before.map(|b| &b.doc), &shape)?;
    let record = hydrate(&doc)?;
    policy::check_change(
        p,
        in_scope,
        before.map(|b| Side {
            rec: &b.record,
            shape: Some(&b.shape),
        }),
        Side {
            rec: &record,
            shape: Some(&shape),
        },
    )
    .map_err(|d| {
        let code = if d.field == "grid" && !in_scope(record.grid()) {
            RejectCode::OutOfScope
        } else {
            RejectCode::Denied
        };
        Refusal {
            code,
            field: Some(d.field),
            reason: d.reason,
        }
    })?;
    Ok(Admitted { doc, record, shape })
}

/// What became of each change of one document's push.
#[derive(Debug)]
pub struct PushOutcome {
    /// The document after the admitted changes; `None` when nothing new was admitted.
    pub admitted: Option<Admitted>,
    /// For each change given (in the order given, duplicates included): admitted (or already
    /// held), or refused with why.
    pub results: Vec<Result<(), Refusal>>,
}

/// [`admit_push`] for a device's changes to one document, as the server decides them: changes
/// the document already holds are admitted again (a retry); the new ones are tried as one batch
/// first and, if the batch is refused, one by one in causal order, so the valid prefix of a
/// device's offline edits is kept and the first offending change — and whatever depends on it —
/// is refused with the reason.
pub fn admit_push_changes(
    p: &Principal,
    in_scope: &dyn Fn(&str) -> bool,
    before: Option<&Admitted>,
    changes: &[Change],
) -> PushOutcome {
    let mut results: Vec<Option<Result<(), Refusal>>> = vec![None; changes.len()];
    let mut new: Vec<usize> = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        let held = before.is_some_and(|b| b.doc.get_change_by_hash(&c.hash()).is_some());
        if held {
            results[i] = Some(Ok(()));
        } else if let Some(&j) = new.iter().find(|&&j| changes[j].hash() == c.hash()) {
            // The same change twice in one push: decided once.
            let _ = j;
            results[i] = Some(Ok(()));
        } else {
            new.push(i);
        }
    }
    let finish = |results: Vec<Option<Result<(), Refusal>>>| -> Vec<Result<(), Refusal>> {
        results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
    };
    if new.is_empty() {
        return PushOutcome {
            admitted: None,
            results: finish(results),
        };
    }
    let batch: Vec<Change> = new.iter().map(|&i| changes[i].clone()).collect();
    if let Ok(a) = admit_push(p, in_scope, before, &batch) {
        return PushOutcome {
            admitted: Some(a),
            results: finish(results),
        };
    }
    // One by one; a change may come before one it depends on: retry until no progress.
    let mut cur: Option<Admitted> = None;
    let mut pending = new;
    let mut first_refusal: Option<Refusal> = None;
    loop {
        let mut progressed = false;
        let mut still = Vec::new();
        for i in pending {
            let base = cur.as_ref().or(before);
            match admit_push(p, in_scope, base, std::slice::from_ref(&changes[i])) {
                Ok(a) => {
                    results[i] = Some(Ok(()));
                    cur = Some(a);
                    progressed = true;
                }
                Err(r) if r.code == RejectCode::MissingDeps => still.push(i),
                Err(r) => {
                    first_refusal.get_or_insert_with(|| r.clone());
                    results[i] = Some(Err(r));
                    progressed = true;
                }
            }
        }
        pending = still;
        if !progressed || pending.is_empty() {
            break;
        }
    }
    // What is left depends on a refused change (that cause is reported) or on one never sent.
    for i in pending {
        results[i] = Some(Err(match &first_refusal {
            Some(r) => Refusal {
                code: r.code,
                field: r.field.clone(),
                reason: format!("depends on a refused change: {}", r.reason),
            },
            None => Refusal::new(
                RejectCode::MissingDeps,
                None,
                "depends on a change the server does not have",
            ),
        }));
    }
    PushOutcome {
        admitted: cur,
        results: finish(results),
    }
}

/// Every operation of `changes` targets the root, an object the record already had (an honest
/// device may edit an object that a concurrent change has since replaced), or an object reachable
/// after the changes: data hidden in an object that is made and orphaned within one push (and so is
/// never read, checked or shown, yet travels to every device) is refused.
fn check_reach(
    changes: &[&Change],
    before: Option<&Automerge>,
    after: &Shape,
) -> Result<(), Refusal> {
    for c in changes {
        for op in c.decode().operations {
            let ObjectId::Id(OpId(counter, actor)) = op.obj else {
                continue;
            };
            let id = ObjId::Id(counter, actor, 0);
            if !after.reach.contains(&id) && before.is_none_or(|d| d.object_type(&id).is_err()) {
                return Err(Refusal::new(
                    RejectCode::InvalidRecord,
                    None,
                    "the change writes to an object that is not part of the record",
                ));
            }
        }
    }
    Ok(())
}

/// Device side, tolerant: applies pulled change bytes to `doc` (a fork of the stored document, or
/// a new one) and checks that the result is a bounded document; unknown keys, kinds and values of a
/// newer schema version are kept. Returns the changes that were new to `doc`. On `Err`, `doc` must
/// be thrown away.
pub fn admit_pulled(doc: &mut Automerge, changes: &[Vec<u8>]) -> Result<Vec<Change>, Refusal> {
    let mut fresh: Vec<Change> = Vec::with_capacity(changes.len());
    let mut ops = 0u64;
    for b in changes {
        let (c, _) = parse_change(b)?;
        if doc.get_change_by_hash(&c.hash()).is_none()
            && !fresh.iter().any(|f| f.hash() == c.hash())
        {
            ops += c.len() as u64;
            fresh.push(c);
        }
    }
    if doc.stats().num_ops.saturating_add(ops) > MAX_DOC_OPS {
        return Err(Refusal::new(
            RejectCode::TooLarge,
            None,
            format!("a record's history may hold at most {MAX_DOC_OPS} operations"),
        ));
    }
    doc.apply_changes(fresh.iter().cloned()).map_err(|_| {
        Refusal::new(
            RejectCode::Corrupt,
            None,
            "the changes do not apply to the record",
        )
    })?;
    shape::check(doc, Mode::Tolerant).map_err(shape_refusal)?;
    Ok(fresh)
}

/// Whether a document (pulled earlier, or stored by an older build) is within the generic
/// bounds — depth, objects, characters — that every reader here relies on: the tolerant schema
/// walk, iterative, without the kind-specific rules.
pub fn check_bounded(doc: &Automerge) -> Result<(), Refusal> {
    shape::check(doc, Mode::Tolerant)
        .map(|_| ())
        .map_err(shape_refusal)
}

/// Fuzzing entry: runs every step of the gate on arbitrary bytes, as a new record and as an edit
/// of a fixed submitted report, for a worker and a supervisor, and as a pulled change on a device.
/// Never panics.
#[doc(hidden)]
pub fn fuzz_change_gate(data: &[u8]) {
    let Ok((change, _)) = parse_change(data) else {
        return;
    };
    let scope = |g: &str| g == "G1";
    let worker = Principal {
        user_id: "w1".into(),
        role: gridwork_model::record::Role::Worker,
    };
    let sup = Principal {
        user_id: "s1".into(),
        role: gridwork_model::record::Role::Supervisor,
    };
    let base = fuzz_base();
    for p in [&worker, &sup] {
        let _ = admit_push(p, &scope, None, std::slice::from_ref(&change));
        if let Some(b) = base {
            let _ = admit_push(p, &scope, Some(b), std::slice::from_ref(&change));
        }
    }
    let mut doc = base.map(|b| b.doc.clone()).unwrap_or_default();
    let _ = admit_pulled(&mut doc, &[data.to_vec()]);
}

fn fuzz_base() -> Option<&'static Admitted> {
    static BASE: std::sync::OnceLock<Option<Admitted>> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        use automerge::transaction::CommitOptions;
        let json = serde_json::json!({
            "kind": "report", "grid": "G1", "category": "fire_hazard", "severity": 2,
            "title": "楼道堆物", "description": "三楼", "location": null, "photos": [],
            "status": "submitted",
            "transitions": [{"from": "draft", "to": "submitted", "by": "w1", "role": "worker", "at": 2, "comment": null}],
            "comments": [{"id": "c1", "by": "s1", "at": 3, "text": "请补充"}],
            "author": "w1", "created_at": 1
        });
        let mut doc = Automerge::new();
        doc.set_actor(automerge::ActorId::from(&[1u8, 2, 3, 4][..]));
        let mut tx = doc.transaction();
        gridwork_model::doc::write_new(&mut tx, &json).ok()?;
        tx.commit_with(CommitOptions::default().with_message("w1".to_owned()).with_time(1));
        Admitted::load(doc).ok()
    })
    .as_ref()
}
