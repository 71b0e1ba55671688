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
//!    is read against its kind's schema ([`crate::shape`]) iteratively, with limits on depth,
//!    objects, strings and lists; only then is it hydrated into a typed record and (server) checked
//!    by the write policy ([`crate::policy`]) and the workflow ([`crate::workflow`]).
//!
//! Refusals name the field and the rule, never the value.

use automerge::{Automerge, Change, ReadDoc};

use crate::model::AnyRecord;
use crate::policy::Principal;
use crate::wire::RejectCode;

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
/// Most operations a document's whole history may hold.
pub const MAX_DOC_OPS: u64 = 1_000_000;
/// Most objects (maps, lists, texts) a document may hold, root included.
pub const MAX_DOC_OBJECTS: usize = 10_000;
/// Most characters of all strings and texts of a document together.
pub const MAX_DOC_CHARS: usize = 400_000;
/// Deepest nesting of objects below the root (the schemas need 3; tolerant reads allow a little
/// more for fields of newer versions).
pub const MAX_DEPTH: usize = 6;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// Operations the change encodes.
    pub ops: u64,
    /// Raw bytes.
    pub bytes: usize,
}

/// Reads a change chunk's header and column run lengths without Automerge; refuses anything over
/// the limits above.
pub fn prescan(bytes: &[u8]) -> Result<Scanned, Refusal> {
    if bytes.len() > MAX_CHANGE_BYTES {
        return Err(Refusal::new(
            RejectCode::TooLarge,
            None,
            format!("a change may hold at most {MAX_CHANGE_BYTES} bytes"),
        ));
    }
    // Implemented in the next step (column scan).
    Ok(Scanned {
        ops: 0,
        bytes: bytes.len(),
    })
}

/// [`prescan`], then Automerge's own parse and verification.
pub fn parse_change(bytes: &[u8]) -> Result<(Change, Scanned), Refusal> {
    let scanned = prescan(bytes)?;
    let change = Change::try_from(bytes).map_err(|_| {
        Refusal::new(
            RejectCode::Corrupt,
            None,
            "not an Automerge change".to_owned(),
        )
    })?;
    Ok((change, scanned))
}

/// A document that passed the gate, with the typed record it holds.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub doc: Automerge,
    pub record: AnyRecord,
}

/// Server side, strict: may `p` apply `changes` (already parsed, in any order) to `before` (the
/// server's copy; `None` for a new document)? Returns the document after them.
pub fn admit_push(
    p: &Principal,
    in_scope: &dyn Fn(&str) -> bool,
    before: Option<&Admitted>,
    changes: &[Change],
) -> Result<Admitted, Refusal> {
    let _ = (p, in_scope, before, changes);
    Err(Refusal::new(
        RejectCode::Denied,
        None,
        "not implemented yet".to_owned(),
    ))
}

/// Device side, tolerant: applies pulled change bytes to `doc` (a fork of the stored document, or
/// a new one) and checks that the result is a bounded document of a known kind; unknown keys of a
/// newer schema version are kept. Returns the changes that were new to `doc`. On `Err`, `doc` must
/// be thrown away.
pub fn admit_pulled(doc: &mut Automerge, changes: &[Vec<u8>]) -> Result<Vec<Change>, Refusal> {
    let mut parsed = Vec::with_capacity(changes.len());
    for b in changes {
        parsed.push(parse_change(b)?.0);
    }
    let fresh: Vec<Change> = parsed
        .into_iter()
        .filter(|c| doc.get_change_by_hash(&c.hash()).is_none())
        .collect();
    doc.apply_changes(fresh.iter().cloned()).map_err(|_| {
        Refusal::new(
            RejectCode::Corrupt,
            None,
            "the changes do not apply to the document",
        )
    })?;
    Ok(fresh)
}

/// Fuzzing entry: runs every step of the gate on arbitrary bytes. Never panics.
#[doc(hidden)]
pub fn fuzz_change_gate(data: &[u8]) {
    let _ = parse_change(data);
}
