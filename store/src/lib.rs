//! The device store: records as Automerge documents in SQLite, with queries, history, conflicts,
//! an outbox for sync, and photos. Domain types come from `gridwork_model`, the sync protocol
//! from `gridwork_protocol`, the photo pipeline from `gridwork_photo`; the network side of sync
//! is `gridwork_client`.
//!
//! Modules, one job each: `open` (connections, migrations, identity, observers, meta, maintenance),
//! `cache` (loaded documents), `write` (the write path), `query` (records, lists, history,
//! conflicts), `index` (full-text search), `outbox` (the store side of sync), `export` (export and
//! import), [`blobs`] (photos on the device), [`api`] (typed create / update per kind),
//! [`schema`] (migrations).
//!
//! The device store keeps documents, changes, outbox and projections in one SQLite file.
//!
//! One user action is one SQLite transaction (WAL): when a call returns, the edit is on disk and
//! survives the process being killed. Loaded documents are kept in a small in-memory cache; any
//! failure after a document was changed in memory evicts it, so memory never runs ahead of disk.

// House rule: input from devices, files and the network never aborts us (see Cargo.toml).
#![warn(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use automerge::{ActorId, Automerge, Change, ChangeHash, ReadDoc};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction as SqlTx};
use serde_json::Value as J;

use gridwork_model::error::{Error, Result};
use gridwork_model::policy::{check_permission, Principal};
use gridwork_model::projection::{project, Projection};
use gridwork_model::record::*;
use gridwork_model::{doc, edit};
use gridwork_protocol::gate::{self, Refusal};
use gridwork_protocol::wire::RejectCode;

/// Who is using this store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub role: Role,
    /// Grids the user may write; `None` = not known on the device (the server still checks).
    pub grids: Option<Vec<String>>,
}

impl Identity {
    pub fn new(user_id: impl Into<String>, role: Role) -> Self {
        Identity {
            user_id: user_id.into(),
            role,
            grids: None,
        }
    }
}

/// How hard each commit is pushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// WAL + synchronous=NORMAL: survives the app being killed; the last commits may be lost on a
    /// power cut. SQLite's and Android's default for WAL.
    Normal,
    /// WAL + synchronous=FULL: also survives power loss, at an fsync per write.
    Full,
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The 256-bit key of an encrypted store (`None`: a plain SQLite file). A plain store opened
    /// with a key is encrypted in place first ([`crypt::encrypt_in_place`]).
    pub key: Option<DbKey>,
    pub durability: Durability,
    /// How many loaded documents to keep in memory.
    pub cache_docs: usize,
    /// Fold a document's incremental changes into its snapshot after this many.
    pub compact_after: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            key: None,
            durability: Durability::Normal,
            cache_docs: 512,
            compact_after: 64,
        }
    }
}

/// State of a stored change (`changes.state`). SQL text names the states through `state!`, never
/// by bare number: `concat!("... WHERE state = ", state!(pending))`. (A literal, not a bound
/// parameter, so that SQLite can use the partial index `changes_pending`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub enum ChangeState {
    /// Made on this device, waiting in the outbox.
    Pending = 0,
    /// Made on this device and acknowledged by the server.
    Acked = 1,
    /// Made on this device and refused by the server (kept with the refusal).
    Quarantined = 2,
    /// Pulled from the server.
    Remote = 3,
    /// Refused, then discarded by the user: kept for audit, never applied or sent.
    Discarded = 4,
}

/// The SQL literal of a [`ChangeState`], by name: `state!(pending)` is `"0"`.
macro_rules! state {
    (pending) => {
        "0"
    };
    (acked) => {
        "1"
    };
    (quarantined) => {
        "2"
    };
    (remote) => {
        "3"
    };
    (discarded) => {
        "4"
    };
}

pub mod access;
pub mod api;
pub mod blobs;
pub mod crypt;
pub mod schema;

mod cache;
mod directory;
mod export;
mod index;
mod open;
mod outbox;
mod query;
mod write;

pub use access::AccessEntry;
pub use api::*;
pub use blobs::PendingBlob;
pub use crypt::DbKey;
pub use outbox::SyncSide;
#[allow(unused_imports)]
use {cache::*, export::*, index::*, open::*, outbox::*, query::*, write::*};

impl ChangeState {
    pub const ALL: [ChangeState; 5] = [
        ChangeState::Pending,
        ChangeState::Acked,
        ChangeState::Quarantined,
        ChangeState::Remote,
        ChangeState::Discarded,
    ];

    /// The literal SQL text uses for this state (see `state!`). Migration 1's partial index
    /// `changes_pending` (frozen SQL) spells [`ChangeState::Pending`] as `state = 0`.
    pub fn sql(self) -> &'static str {
        match self {
            ChangeState::Pending => state!(pending),
            ChangeState::Acked => state!(acked),
            ChangeState::Quarantined => state!(quarantined),
            ChangeState::Remote => state!(remote),
            ChangeState::Discarded => state!(discarded),
        }
    }
}

/// What lists show, read from the projection without loading documents.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecordSummary {
    pub id: String,
    pub kind: RecordKind,
    pub grid: String,
    pub status: Option<String>,
    pub category: Option<String>,
    pub severity: Option<i64>,
    pub title: String,
    pub household_id: Option<String>,
    pub due: Option<String>,
    pub author: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A full record with its id and bookkeeping.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredRecord {
    pub id: String,
    pub record: AnyRecord,
    pub updated_at: Millis,
    /// Local changes of this record not yet acknowledged by the server.
    pub pending_changes: u32,
}

/// Filters for [`Store::list`]. Everything optional; newest first.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub kind: Option<RecordKind>,
    pub grid: Option<String>,
    pub statuses: Vec<String>,
    pub open_only: bool,
    pub category: Option<String>,
    pub assignee: Option<String>,
    pub household_id: Option<String>,
    /// created_at >= from_ms
    pub from_ms: Option<i64>,
    /// created_at < to_ms
    pub to_ms: Option<i64>,
    pub text: Option<String>,
    /// Page size, 1..=500 (default 50).
    pub limit: Option<u32>,
    /// `next` from the previous page.
    pub page_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Page {
    pub items: Vec<RecordSummary>,
    pub next: Option<String>,
}

/// One entry of a record's audit trail.
pub use gridwork_model::doc::{ConflictValue, FieldConflict, HistoryEntry};

/// A pending local change, for the sync client.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingChange {
    pub seq: i64,
    pub hash: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingDoc {
    pub doc_id: String,
    pub changes: Vec<OutgoingChange>,
}

/// A change the server refused, kept on the device with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub doc_id: String,
    pub hash: String,
    pub field: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QuarantinedChange {
    pub doc_id: String,
    pub hash: String,
    pub field: Option<String>,
    pub reason: String,
    pub at_ms: Millis,
}

/// A document a pull brought that this device did not store: its id broke the id rule, its
/// changes did not parse or apply, or the document they make is over a limit
/// ([`gridwork_protocol::gate::admit_pulled`]). The server keeps the document (an admin can quarantine it);
/// the device keeps only this note, and goes on syncing everything else.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SetAsideDoc {
    /// The document id, or `invalid:<first 16 hex digits of SHA-256(id)>` when the id itself
    /// breaks the id rule (a hostile id is never stored or shown).
    pub doc_id: String,
    /// Why, as a refusal code (`invalid_id`, `corrupt`, `too_large`, `invalid_record`, …).
    pub code: RejectCode,
    /// The field or path the refusal is about, when there is one.
    pub field: Option<String>,
    /// Human-readable; never quotes a value.
    pub reason: String,
    /// Changes received for it (pulls that brought more changes for it count them too).
    pub changes: u64,
    pub first_seen_ms: Millis,
    pub last_seen_ms: Millis,
}

/// The last time the server held pushed changes back with the retryable `quota` refusal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuotaHold {
    /// The server's reason (which quota; never a value).
    pub reason: String,
    pub at_ms: Millis,
    /// Local changes still pending when that sync stopped pushing (0 once a later sync pushed
    /// without meeting a quota).
    pub held: u64,
}

/// What [`SyncSide::apply_sync_page`] did with one page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppliedPage {
    /// Records that changed on this device.
    pub changed: Vec<String>,
    /// Documents of the page that were set aside (newly or again), by their set-aside id.
    pub set_aside: Vec<String>,
}

/// What one sync round trip brought back, applied in one transaction.
#[derive(Debug, Clone, Default)]
pub struct SyncApply {
    pub acked: Vec<(String, String)>,
    pub rejected: Vec<Rejection>,
    pub pulled: Vec<(String, Vec<u8>)>,
    pub cursor: Option<String>,
    /// The directory entries the server sent (protocol version 2), applied in the same
    /// transaction as the cursor.
    pub directory: Option<gridwork_protocol::wire::DirectoryDelta>,
}

/// Where a change came from, for observers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSource {
    Local,
    Remote,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    pub ids: Vec<String>,
    pub source: ChangeSource,
}

type ObserverFn = Arc<dyn Fn(&ChangeEvent) + Send + Sync>;

#[derive(Default)]
struct Observers {
    next: AtomicU64,
    list: Mutex<Vec<(u64, ObserverFn)>>,
}

/// Handle returned by [`Store::subscribe`]; dropping it unsubscribes.
pub struct Subscription {
    id: u64,
    observers: std::sync::Weak<Observers>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(o) = self.observers.upgrade() {
            if let Ok(mut l) = o.list.lock() {
                l.retain(|(id, _)| *id != self.id);
            }
        }
    }
}

struct Cached {
    doc: Automerge,
    json: J,
    /// The hydrated record; an error if the document does not match the schema.
    record: Result<AnyRecord>,
    unfolded: usize,
}

struct Writer {
    conn: Connection,
    cache: HashMap<String, Cached>,
    order: VecDeque<String>,
}

/// The device store. Safe to share between threads (`Arc<Store>`): writes serialize on one
/// connection, lists and searches use a second one and do not wait for writes.
pub struct Store {
    path: PathBuf,
    identity: Mutex<Identity>,
    actor: ActorId,
    opts: StoreOptions,
    writer: Mutex<Writer>,
    reader: Mutex<Connection>,
    observers: Arc<Observers>,
    /// Set by every write that may have queued text for the search index.
    fts_dirty: std::sync::atomic::AtomicBool,
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll back),
    // so a poisoned lock is safe to keep using.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn get_meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row(params![key], |r| r.get(0))
        .optional()?)
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached("INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")?
        .execute(params![key, value])?;
    Ok(())
}

/// Latest change time in the document (ms).
fn updated_at_of(doc: &Automerge) -> i64 {
    doc.get_changes(&[])
        .iter()
        .map(automerge::Change::timestamp)
        .max()
        .unwrap_or(0)
}

fn hash_bytes(field: &str, hex_hash: &str) -> Result<Vec<u8>> {
    let b = hex::decode(hex_hash).map_err(|_| Error::invalid(field, "change hash is not hex"))?;
    if b.len() != 32 {
        return Err(Error::invalid(field, "change hash must be 32 bytes"));
    }
    Ok(b)
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Store>();
    let _ = ChangeHash([0; 32]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_states_are_named_once_and_match_the_stored_numbers() {
        let mut seen = std::collections::HashSet::new();
        for st in ChangeState::ALL {
            assert_eq!(st.sql(), (st as i64).to_string(), "{st:?}");
            assert!(seen.insert(st.sql()), "{st:?} shares its number");
        }
        // The outbox's partial index (frozen migration 1) must be the pending state.
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(
            dir.path().join("s.db"),
            Identity::new("u1", gridwork_model::Role::Worker),
        )
        .unwrap();
        let ddl: String = s
            .reader_conn()
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'changes_pending'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            ddl.ends_with(&format!("WHERE state = {}", ChangeState::Pending.sql())),
            "{ddl}"
        );
    }
}
