//! The device store: documents, changes, outbox and projections in one SQLite file.
//!
//! One user action is one SQLite transaction (WAL): when a call returns, the edit is on disk and
//! survives the process being killed. Loaded documents are kept in a small in-memory cache; any
//! failure after a document was changed in memory evicts it, so memory never runs ahead of disk.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use automerge::{ActorId, Automerge, Change, ChangeHash, ReadDoc};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction as SqlTx};
use serde_json::Value as J;

use crate::schema;
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
    pub durability: Durability,
    /// How many loaded documents to keep in memory.
    pub cache_docs: usize,
    /// Fold a document's incremental changes into its snapshot after this many.
    pub compact_after: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            durability: Durability::Normal,
            cache_docs: 512,
            compact_after: 64,
        }
    }
}

/// State of a stored change in the outbox sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub enum ChangeState {
    Pending = 0,
    Acked = 1,
    Quarantined = 2,
    Remote = 3,
}

/// What lists show, read from the projection without loading documents.
#[derive(Debug, Clone, PartialEq)]
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
    pub created_at: i64,
    pub updated_at: i64,
}

/// A full record with its id and bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    pub id: String,
    pub record: AnyRecord,
    pub updated_at: i64,
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

#[derive(Debug, Clone, PartialEq)]
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

#[derive(Debug, Clone, PartialEq)]
pub struct QuarantinedChange {
    pub doc_id: String,
    pub hash: String,
    pub field: Option<String>,
    pub reason: String,
    pub at_ms: i64,
}

/// A document a pull brought that this device did not store: its id broke the id rule, its
/// changes did not parse or apply, or the document they make is over a limit
/// ([`gridwork_protocol::gate::admit_pulled`]). The server keeps the document (an admin can quarantine it);
/// the device keeps only this note, and goes on syncing everything else.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

/// The last time the server held pushed changes back with the retryable `quota` refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaHold {
    /// The server's reason (which quota; never a value).
    pub reason: String,
    pub at_ms: i64,
    /// Local changes still pending when that sync stopped pushing (0 once a later sync pushed
    /// without meeting a quota).
    pub held: u64,
}

/// What [`Store::apply_sync_page`] did with one page.
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

fn open_conn(path: &Path, opts: &StoreOptions) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // The first statement that reads the file tells whether it is a database at all.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Storage(format!(
            "could not enable WAL (journal_mode={mode})"
        )));
    }
    let sync = match opts.durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl Store {
    /// Open (or create) the store at `path` for `identity`.
    pub fn open(path: impl AsRef<Path>, identity: Identity) -> Result<Store> {
        Self::open_with(path, identity, StoreOptions::default())
    }

    pub fn open_with(
        path: impl AsRef<Path>,
        identity: Identity,
        opts: StoreOptions,
    ) -> Result<Store> {
        check_id("user_id", &identity.user_id)?;
        let path = path.as_ref().to_path_buf();
        let mut conn = open_conn(&path, &opts)?;
        schema::migrate(&mut conn, None)?;
        let actor = match get_meta(&conn, "actor")? {
            Some(hex) => ActorId::from(
                hex::decode(&hex)
                    .map_err(|_| Error::NotADatabase("device actor id is corrupt".into()))?,
            ),
            None => {
                let a = ActorId::from(uuid::Uuid::now_v7().as_bytes().as_slice());
                set_meta(&conn, "actor", &a.to_hex_string())?;
                a
            }
        };
        let reader = open_conn(&path, &opts)?;
        let store = Store {
            path,
            identity: Mutex::new(identity),
            actor,
            opts,
            writer: Mutex::new(Writer {
                conn,
                cache: HashMap::new(),
                order: VecDeque::new(),
            }),
            reader: Mutex::new(reader),
            observers: Arc::new(Observers::default()),
            fts_dirty: std::sync::atomic::AtomicBool::new(true),
        };
        if get_meta(&lock(&store.writer).conn, "reproject")?.as_deref() == Some("1") {
            store.reproject_all()?;
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This device's Automerge actor id (hex). Registered with the server at sign-in.
    pub fn actor_id(&self) -> String {
        self.actor.to_hex_string()
    }

    pub fn identity(&self) -> Identity {
        lock(&self.identity).clone()
    }

    /// Switch the acting user (after a sign-in). Pending changes stay in the outbox.
    pub fn set_identity(&self, identity: Identity) -> Result<()> {
        check_id("user_id", &identity.user_id)?;
        *lock(&self.identity) = identity;
        Ok(())
    }

    fn principal(&self) -> (Principal, Option<Vec<String>>) {
        let id = lock(&self.identity);
        (
            Principal {
                user_id: id.user_id.clone(),
                role: id.role,
            },
            id.grids.clone(),
        )
    }

    // ---------------------------------------------------------------- observers

    /// Call `f` after every committed write with the ids of the records that changed.
    pub fn subscribe(&self, f: impl Fn(&ChangeEvent) + Send + Sync + 'static) -> Subscription {
        let id = self.observers.next.fetch_add(1, Ordering::Relaxed);
        lock(&self.observers.list).push((id, Arc::new(f)));
        Subscription {
            id,
            observers: Arc::downgrade(&self.observers),
        }
    }

    fn notify(&self, ids: Vec<String>, source: ChangeSource) {
        self.fts_dirty.store(true, Ordering::Release);
        if ids.is_empty() {
            return;
        }
        let list: Vec<ObserverFn> = lock(&self.observers.list)
            .iter()
            .map(|(_, f)| f.clone())
            .collect();
        let ev = ChangeEvent { ids, source };
        for f in list {
            // An observer that panics must not poison the store or cross into foreign code.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&ev)));
        }
    }

    // ---------------------------------------------------------------- writes

    /// Create a record. Its `author` and `created_at` are set from the identity and the clock.
    pub fn create(&self, mut rec: AnyRecord) -> Result<String> {
        let (p, grids) = self.principal();
        edit::stamp_new(&mut rec, &p.user_id, now_ms());
        rec.validate()?;
        let scope = |g: &str| grids.as_ref().is_none_or(|gs| gs.iter().any(|x| x == g));
        check_permission(&p, &scope, None, &rec)?;
        let id = uuid::Uuid::now_v7().to_string();
        let at = now_ms();
        let (doc, json, change) = edit::new_doc(&rec, self.actor.clone(), &p.user_id, at)?;
        let mut w = lock(&self.writer);
        {
            let tx = w.conn.transaction()?;
            tx.prepare_cached(
                "INSERT INTO docs(id, kind, snapshot, unfolded) VALUES (?1, ?2, NULL, 0)",
            )?
            .execute(params![id, rec.kind().as_str()])?;
            insert_change(&tx, &id, &change, ChangeState::Pending, at)?;
            write_projection(&tx, &id, &project(&rec), at, None, true)?;
            tx.commit()?;
        }
        w.put_cache(
            id.clone(),
            Cached {
                doc,
                json,
                record: Ok(rec),
                unfolded: 1,
            },
            self.opts.cache_docs,
        );
        drop(w);
        self.notify(vec![id.clone()], ChangeSource::Local);
        Ok(id)
    }

    /// Change a record with `f`. The typed record is validated and checked against the user's
    /// role before anything is written; only the fields that differ produce operations.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut AnyRecord) -> Result<()>) -> Result<()> {
        self.update_with(id, f, |_| Ok(()))
    }

    /// [`Store::update`] plus `extra` writes in the same SQLite transaction (e.g. photo blobs).
    pub(crate) fn update_with(
        &self,
        id: &str,
        f: impl FnOnce(&mut AnyRecord) -> Result<()>,
        extra: impl FnOnce(&SqlTx<'_>) -> Result<()>,
    ) -> Result<()> {
        let (p, grids) = self.principal();
        let mut w = lock(&self.writer);
        let cached = w.load(id, self.actor.clone())?;
        let before = cached.record.clone()?;
        let mut after = before.clone();
        f(&mut after)?;
        if after == before {
            return Ok(());
        }
        after.validate()?;
        let scope = |g: &str| grids.as_ref().is_none_or(|gs| gs.iter().any(|x| x == g));
        check_permission(&p, &scope, Some(&before), &after)?;
        let new_json = after.to_json()?;
        let at = now_ms();
        let result = (|| -> Result<Option<usize>> {
            let cached = w
                .cache
                .get_mut(id)
                .ok_or_else(|| Error::Internal("cache entry vanished".into()))?;
            let Some(change) =
                edit::edit_doc(&mut cached.doc, &cached.json, &new_json, &p.user_id, at)?
            else {
                return Ok(None);
            };
            let unfolded = cached.unfolded + 1;
            let old_proj = project(&before);
            let new_proj = project(&after);
            let tx = w.conn.transaction()?;
            insert_change(&tx, id, &change, ChangeState::Pending, at)?;
            extra(&tx)?;
            update_projection(&tx, id, &new_proj, at, &old_proj)?;
            tx.commit()?;
            Ok(Some(unfolded))
        })();
        match result {
            Ok(Some(unfolded)) => {
                if let Some(c) = w.cache.get_mut(id) {
                    c.json = new_json;
                    c.record = Ok(after);
                    c.unfolded = unfolded;
                }
                if unfolded > self.opts.compact_after {
                    // Compaction failing is not the user's write failing: the change is stored.
                    if let Err(e) = w.compact_doc(id) {
                        tracing::warn!(record = id, error = %e, "compaction failed");
                    }
                }
                drop(w);
                self.notify(vec![id.to_owned()], ChangeSource::Local);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => {
                w.evict(id);
                Err(e)
            }
        }
    }

    /// Move a report or task along its workflow; the transition is appended with who and when.
    pub fn transition(&self, id: &str, to: &str, comment: Option<String>) -> Result<()> {
        let (p, _) = self.principal();
        self.update(id, |rec| {
            edit::transition(
                rec,
                to,
                &p,
                comment,
                uuid::Uuid::now_v7().to_string(),
                now_ms(),
            )
        })
    }

    /// Append a comment to a report or task.
    pub fn add_comment(&self, id: &str, text: &str) -> Result<()> {
        check_text("comment", text, 1, MAX_TEXT_CHARS)?;
        let user = self.identity().user_id;
        self.update(id, |rec| {
            let comments = rec
                .comments_mut()
                .ok_or_else(|| Error::invalid("comment", "this kind of record has no comments"))?;
            comments.push(Comment {
                id: uuid::Uuid::now_v7().to_string(),
                by: user,
                at: now_ms(),
                text: text.to_owned(),
            });
            Ok(())
        })
    }

    // ---------------------------------------------------------------- reads

    /// The full record.
    pub fn get(&self, id: &str) -> Result<StoredRecord> {
        let mut w = lock(&self.writer);
        let record = w.load(id, self.actor.clone())?.record.clone()?;
        let (updated_at, pending): (i64, u32) = w.conn.query_row(
            "SELECT (SELECT updated_at FROM records WHERE id = ?1), (SELECT count(*) FROM changes WHERE doc_id = ?1 AND state = 0)",
            params![id],
            |r| Ok((r.get::<_, Option<i64>>(0)?.unwrap_or(0), r.get(1)?)),
        )?;
        Ok(StoredRecord {
            id: id.to_owned(),
            record,
            updated_at,
            pending_changes: pending,
        })
    }

    /// A page of records, newest first.
    pub fn list(&self, q: &ListQuery) -> Result<Page> {
        let limit = q.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(Error::invalid("limit", "must be between 1 and 500"));
        }
        let mut sql = String::from(
            "SELECT r.id, r.kind, r.grid, r.status, r.category, r.severity, r.title, r.household_id, r.due, r.author, r.created_at, r.updated_at FROM records r WHERE 1=1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut arg = |sql: &mut String, clause: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        use rusqlite::types::Value as V;
        if let Some(k) = q.kind {
            arg(&mut sql, " AND r.kind = ?", V::Text(k.as_str().into()));
        }
        if let Some(g) = &q.grid {
            check_id("grid", g)?;
            arg(&mut sql, " AND r.grid = ?", V::Text(g.clone()));
        }
        if q.open_only {
            sql.push_str(" AND r.open = 1");
        }
        if !q.statuses.is_empty() {
            sql.push_str(" AND r.status IN (");
            for (i, s) in q.statuses.iter().enumerate() {
                if !ReportStatus::ALL.iter().any(|x| x.as_str() == s)
                    && !TaskStatus::ALL.iter().any(|x| x.as_str() == s)
                {
                    return Err(Error::invalid("status", "unknown status"));
                }
                arg(
                    &mut sql,
                    if i == 0 { "?" } else { ", ?" },
                    V::Text(s.clone()),
                );
            }
            sql.push(')');
        }
        if let Some(c) = &q.category {
            check_id("category", c)?;
            arg(&mut sql, " AND r.category = ?", V::Text(c.clone()));
        }
        if let Some(h) = &q.household_id {
            check_id("household_id", h)?;
            arg(&mut sql, " AND r.household_id = ?", V::Text(h.clone()));
        }
        if let Some(a) = &q.assignee {
            check_id("assignee", a)?;
            arg(
                &mut sql,
                " AND r.id IN (SELECT record_id FROM record_assignees WHERE user_id = ?)",
                V::Text(a.clone()),
            );
        }
        if let Some(f) = q.from_ms {
            arg(&mut sql, " AND r.created_at >= ?", V::Integer(f));
        }
        if let Some(t) = q.to_ms {
            arg(&mut sql, " AND r.created_at < ?", V::Integer(t));
        }
        if let Some(text) = &q.text {
            let (clause, v) = text_clause(text)?;
            arg(&mut sql, &clause, v);
            self.index_pending_text()?;
        }
        if let Some(tok) = &q.page_token {
            let (at, id) = parse_page_token(tok)?;
            arg(&mut sql, " AND (r.created_at < ?", V::Integer(at));
            arg(&mut sql, " OR (r.created_at = ?", V::Integer(at));
            arg(&mut sql, " AND r.id < ?))", V::Text(id));
        }
        sql.push_str(&format!(
            " ORDER BY r.created_at DESC, r.id DESC LIMIT {}",
            limit + 1
        ));
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut items = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), summary_from_row)?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|l| format!("{}:{}", l.created_at, l.id))
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// Fold text written since the last search into the full-text index. Searches call it
    /// first; apps may also call it when idle.
    pub fn index_pending_text(&self) -> Result<usize> {
        if !self.fts_dirty.swap(false, Ordering::AcqRel) {
            return Ok(0);
        }
        let mut w = lock(&self.writer);
        match flush_fts(&mut w.conn) {
            Ok(n) => Ok(n),
            Err(e) => {
                self.fts_dirty.store(true, Ordering::Release);
                Err(e)
            }
        }
    }

    /// Full-text search (substring, Chinese included) over titles and texts, newest first.
    pub fn search(
        &self,
        text: &str,
        kind: Option<RecordKind>,
        limit: u32,
    ) -> Result<Vec<RecordSummary>> {
        let page = self.list(&ListQuery {
            kind,
            text: Some(text.to_owned()),
            limit: Some(limit),
            ..Default::default()
        })?;
        Ok(page.items)
    }

    /// Who changed which field when, from which device; oldest first.
    pub fn history(&self, id: &str) -> Result<Vec<HistoryEntry>> {
        let mut w = lock(&self.writer);
        let c = w.load(id, self.actor.clone())?;
        check_bounded(&c.doc).map_err(|r| unbounded_error(&r))?;
        Ok(doc::history(&c.doc))
    }

    /// Fields with concurrent values; the winner first.
    pub fn conflicts(&self, id: &str) -> Result<Vec<FieldConflict>> {
        let mut w = lock(&self.writer);
        let c = w.load(id, self.actor.clone())?;
        check_bounded(&c.doc).map_err(|r| unbounded_error(&r))?;
        Ok(doc::conflicts(&c.doc))
    }

    /// Local changes not yet acknowledged by the server.
    pub fn pending_count(&self) -> Result<u64> {
        let conn = lock(&self.reader);
        Ok(
            conn.query_row("SELECT count(*) FROM changes WHERE state = 0", [], |r| {
                r.get::<_, i64>(0)
            })? as u64,
        )
    }

    // ---------------------------------------------------------------- merge without a server

    /// Everything changed since `since` (a value from an earlier export, 0 for all), as one
    /// self-contained blob another store can import. Returns the blob and the new `since`.
    pub fn export_changes(&self, since: i64) -> Result<(Vec<u8>, i64)> {
        let mut w = lock(&self.writer);
        let ids: Vec<(String, i64)> = {
            // docs.last_seq remembers the newest change folded into a snapshot (compaction
            // deletes acknowledged change rows); live rows carry their own seq.
            let mut stmt = w.conn.prepare_cached(
                "SELECT id, max(s) FROM (SELECT doc_id AS id, seq AS s FROM changes WHERE seq > ?1 UNION ALL SELECT id, last_seq FROM docs WHERE last_seq > ?1) GROUP BY id ORDER BY 2",
            )?;
            let rows = stmt.query_map(params![since], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<std::result::Result<_, _>>()?
        };
        let mut out = Vec::from(EXPORT_MAGIC.as_slice());
        let mut upto = since;
        for (id, seq) in ids {
            let c = w.load(&id, self.actor.clone())?;
            let bytes = c.doc.save();
            out.extend_from_slice(&(id.len() as u32).to_le_bytes());
            out.extend_from_slice(id.as_bytes());
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(&bytes);
            upto = upto.max(seq);
        }
        Ok((out, upto))
    }

    /// Merge an export from another store. All or nothing: corrupt bytes or a record that does
    /// not match the schema change nothing. Returns the ids of records that changed.
    pub fn import_changes(&self, bytes: &[u8]) -> Result<Vec<String>> {
        let docs = parse_export(bytes)?;
        let changed = {
            let mut w = lock(&self.writer);
            w.apply_incoming(
                docs,
                ChangeState::Remote,
                true,
                self.actor.clone(),
                None,
                self.opts.cache_docs,
            )?
            .changed
        };
        self.notify(changed.clone(), ChangeSource::Remote);
        Ok(changed)
    }

    // ---------------------------------------------------------------- sync support

    /// Pending changes, oldest first, grouped by document, up to about `max_bytes` and within
    /// the server's per-request quotas ([`gate::MAX_PUSH_DOCS`], [`gate::MAX_PUSH_CHANGES`],
    /// [`gate::MAX_PUSH_NEW_DOCS`], [`gate::MAX_PUSH_OPS`]): an honest device never trips them,
    /// a large outbox goes over several requests. At least one change when any is pending.
    pub fn outbox(&self, max_bytes: usize) -> Result<Vec<OutgoingDoc>> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT seq, doc_id, hash, bytes FROM changes WHERE state = 0 ORDER BY seq",
        )?;
        let mut rows = stmt.query([])?;
        let mut out: Vec<OutgoingDoc> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut total = 0usize;
        let mut changes = 0usize;
        let mut new_docs = 0usize;
        let mut ops = 0u64;
        while let Some(r) = rows.next()? {
            let bytes: Vec<u8> = r.get(3)?;
            let doc_id: String = r.get(1)?;
            let first = changes == 0;
            if !first && (total + bytes.len() > max_bytes || changes >= gate::MAX_PUSH_CHANGES) {
                break;
            }
            // Ops as the server counts them (0 when the prescan refuses: the server says why).
            let n_ops = gate::prescan(&bytes).map_or(0, |s| s.ops);
            if !first && ops + n_ops > gate::MAX_PUSH_OPS {
                break;
            }
            let known = index.get(&doc_id).copied();
            if known.is_none() && !first {
                if out.len() >= gate::MAX_PUSH_DOCS {
                    break;
                }
                // The first pending change of a document the server has never seen is its
                // creation, the only change without dependencies.
                if creates_doc(&bytes) && new_docs >= gate::MAX_PUSH_NEW_DOCS {
                    break;
                }
            }
            if known.is_none() && creates_doc(&bytes) {
                new_docs += 1;
            }
            total += bytes.len();
            changes += 1;
            ops += n_ops;
            let hash: Vec<u8> = r.get(2)?;
            let ch = OutgoingChange {
                seq: r.get(0)?,
                hash: hex::encode(hash),
                bytes,
            };
            match known {
                Some(i) => out[i].changes.push(ch),
                None => {
                    index.insert(doc_id.clone(), out.len());
                    out.push(OutgoingDoc {
                        doc_id,
                        changes: vec![ch],
                    });
                }
            }
        }
        Ok(out)
    }

    /// Apply one sync round trip in one transaction: acknowledgements, rejections (kept in
    /// quarantine), pulled changes and the new cursor. Returns the ids of records that changed.
    /// See [`Store::apply_sync_page`]. Sync plumbing (`gridwork_client`).
    pub fn apply_sync(&self, s: SyncApply) -> Result<Vec<String>> {
        Ok(self.apply_sync_page(s)?.changed)
    }

    /// [`Store::apply_sync`], also telling which pulled documents were set aside. No pulled
    /// document can fail the page: one whose id breaks the id rule, whose changes do not parse
    /// or apply, or that is over a limit is set aside ([`Store::set_aside`]) and everything
    /// else, cursor included, is applied.
    pub fn apply_sync_page(&self, s: SyncApply) -> Result<AppliedPage> {
        let mut grouped: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
        let mut idx: HashMap<String, usize> = HashMap::new();
        for (doc_id, bytes) in s.pulled {
            match idx.get(&doc_id) {
                Some(&i) => grouped[i].1.push(bytes),
                None => {
                    idx.insert(doc_id.clone(), grouped.len());
                    grouped.push((doc_id, vec![bytes]));
                }
            }
        }
        let applied = {
            let mut w = lock(&self.writer);
            let extra = SyncExtra {
                acked: s.acked,
                rejected: s.rejected,
                cursor: s.cursor,
            };
            w.apply_incoming(
                grouped,
                ChangeState::Remote,
                false,
                self.actor.clone(),
                Some(extra),
                self.opts.cache_docs,
            )?
        };
        self.notify(applied.changed.clone(), ChangeSource::Remote);
        Ok(applied)
    }

    /// Pulled documents this device did not store (see [`SetAsideDoc`]), most recently seen
    /// first.
    pub fn set_aside(&self) -> Result<Vec<SetAsideDoc>> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT doc_id, code, field, reason, changes, first_at, last_at FROM set_aside ORDER BY last_at DESC, doc_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(SetAsideDoc {
                doc_id: r.get(0)?,
                code: RejectCode::parse(&r.get::<_, String>(1)?),
                field: r.get(2)?,
                reason: r.get(3)?,
                changes: r.get::<_, i64>(4)?.max(0) as u64,
                first_seen_ms: r.get(5)?,
                last_seen_ms: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// How many pulled documents are set aside.
    pub fn set_aside_count(&self) -> Result<u64> {
        let conn = lock(&self.reader);
        Ok(conn.query_row("SELECT count(*) FROM set_aside", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// The last time the server held pushed changes back with its `quota` refusal, if ever.
    pub fn quota_hold(&self) -> Result<Option<QuotaHold>> {
        let Some(v) = self.get_meta(META_QUOTA)? else {
            return Ok(None);
        };
        let v: J = serde_json::from_str(&v).unwrap_or(J::Null);
        Ok(Some(QuotaHold {
            reason: v
                .get("reason")
                .and_then(J::as_str)
                .unwrap_or_default()
                .to_owned(),
            at_ms: v.get("at_ms").and_then(J::as_i64).unwrap_or(0),
            held: v.get("held").and_then(J::as_u64).unwrap_or(0),
        }))
    }

    /// Notes a quota hold (the sync client does this when the server answers `quota`).
    pub fn set_quota_hold(&self, q: &QuotaHold) -> Result<()> {
        let v = serde_json::json!({ "reason": q.reason, "at_ms": q.at_ms, "held": q.held });
        self.set_meta(META_QUOTA, &v.to_string())
    }

    /// Changes the server refused, with the reason. They stay on the device.
    pub fn quarantine(&self) -> Result<Vec<QuarantinedChange>> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT doc_id, hash, field, reason, at FROM changes WHERE state = 2 ORDER BY seq",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(QuarantinedChange {
                doc_id: r.get(0)?,
                hash: hex::encode(r.get::<_, Vec<u8>>(1)?),
                field: r.get(2)?,
                reason: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                at_ms: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Throw away this device's refused changes to a record, and the local edits made on top of
    /// them (the server would refuse those too), rebuilding the document from everything else.
    /// Only the user's explicit choice does this: the refused changes stay in the file, marked
    /// discarded, for audit. Returns how many changes were discarded.
    pub fn discard_quarantined(&self, id: &str) -> Result<usize> {
        let mut w = lock(&self.writer);
        let bad: Vec<Vec<u8>> = {
            let mut st = w
                .conn
                .prepare_cached("SELECT hash FROM changes WHERE doc_id = ?1 AND state = 2")?;
            let rows = st.query_map(params![id], |r| r.get(0))?;
            rows.collect::<std::result::Result<_, _>>()?
        };
        if bad.is_empty() {
            return Ok(0);
        }
        let mut bad: std::collections::HashSet<ChangeHash> = bad
            .iter()
            .filter_map(|h| ChangeHash::try_from(h.as_slice()).ok())
            .collect();
        let cached = w.load(id, self.actor.clone())?;
        let mut good = Vec::new();
        // get_changes is in causal order, so a dependant comes after what it depends on.
        for c in cached.doc.get_changes(&[]) {
            if bad.contains(&c.hash()) || c.deps().iter().any(|d| bad.contains(d)) {
                bad.insert(c.hash());
            } else {
                good.push(c.clone());
            }
        }
        let mut doc = Automerge::new();
        doc.set_actor(self.actor.clone());
        doc.apply_changes(good)?;
        let record = match check_bounded(&doc) {
            Ok(()) => AnyRecord::from_json(doc::read_json(&doc)),
            Err(r) => Err(unbounded_error(&r)),
        };
        let snapshot = doc.save();
        let result = (|| -> Result<usize> {
            let tx = w.conn.transaction()?;
            tx.execute(
                "UPDATE docs SET snapshot = ?2, unfolded = 0 WHERE id = ?1",
                params![id, snapshot],
            )?;
            let mut n = 0;
            for h in &bad {
                n += tx
                    .prepare_cached("UPDATE changes SET state = 4, folded = 1 WHERE doc_id = ?1 AND hash = ?2 AND state IN (0, 2)")?
                    .execute(params![id, h.0.as_slice()])?;
            }
            tx.execute(
                "UPDATE changes SET folded = 1 WHERE doc_id = ?1",
                params![id],
            )?;
            if let Ok(rec) = &record {
                let at = updated_at_of(&doc);
                write_projection(&tx, id, &project(rec), at, None, false)?;
                // The discarded changes may have been the newest: the projection goes back to
                // what the remaining history says (write_projection only moves it forward).
                tx.execute(
                    "UPDATE records SET updated_at = ?2 WHERE id = ?1",
                    params![id, at],
                )?;
            }
            tx.commit()?;
            Ok(n)
        })();
        w.evict(id);
        let n = result?;
        drop(w);
        self.notify(vec![id.to_owned()], ChangeSource::Local);
        Ok(n)
    }

    pub(crate) fn reader_conn(&self) -> MutexGuard<'_, Connection> {
        lock(&self.reader)
    }

    pub(crate) fn writer_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        f(&lock(&self.writer).conn)
    }

    /// Sync plumbing (`gridwork_client`): a value of the store's `meta` table (session, cursor,
    /// sync bookkeeping), `None` when unset.
    pub fn get_meta(&self, key: &str) -> Result<Option<String>> {
        get_meta(&lock(&self.reader), key)
    }

    /// Sync plumbing (`gridwork_client`): sets a value of the `meta` table.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        set_meta(&lock(&self.writer).conn, key, value)
    }

    /// Sync plumbing (`gridwork_client`): removes a value of the `meta` table.
    pub fn delete_meta(&self, key: &str) -> Result<()> {
        lock(&self.writer)
            .conn
            .execute("DELETE FROM meta WHERE key = ?1", params![key])?;
        Ok(())
    }

    /// The sync cursor the server gave last.
    pub fn sync_cursor(&self) -> Result<Option<String>> {
        self.get_meta("sync.cursor")
    }

    /// When the last sync round trip was applied (ms since the epoch).
    pub fn last_sync_at(&self) -> Result<Option<i64>> {
        Ok(self.get_meta("sync.last_at")?.and_then(|s| s.parse().ok()))
    }

    // ---------------------------------------------------------------- maintenance

    /// Fold every document's incremental changes into its snapshot. Returns how many were folded.
    pub fn compact(&self) -> Result<usize> {
        let mut w = lock(&self.writer);
        let ids: Vec<String> = {
            let mut stmt = w.conn.prepare("SELECT id FROM docs WHERE unfolded > 0")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<std::result::Result<_, _>>()?
        };
        for id in &ids {
            w.compact_doc(id)?;
        }
        Ok(ids.len())
    }

    /// Rebuild all projection rows from the documents (after a migration that changed them).
    pub fn reproject_all(&self) -> Result<()> {
        let mut w = lock(&self.writer);
        let ids: Vec<String> = {
            let mut stmt = w.conn.prepare("SELECT id FROM docs")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<std::result::Result<_, _>>()?
        };
        let mut projections = Vec::with_capacity(ids.len());
        for id in ids {
            let c = w.load(&id, self.actor.clone())?;
            if let Ok(rec) = &c.record {
                projections.push((id, project(rec), updated_at_of(&c.doc)));
            }
            w.evict_if_over(self.opts.cache_docs);
        }
        let tx = w.conn.transaction()?;
        tx.execute("DELETE FROM records", [])?;
        tx.execute("DELETE FROM record_assignees", [])?;
        tx.execute("DELETE FROM records_fts", [])?;
        tx.execute("DELETE FROM fts_queue", [])?;
        for (id, p, at) in &projections {
            write_projection(&tx, id, p, *at, None, true)?;
        }
        tx.execute("DELETE FROM meta WHERE key = 'reproject'", [])?;
        tx.commit()?;
        flush_fts(&mut w.conn)?;
        Ok(())
    }

    /// `PRAGMA integrity_check` of the file.
    pub fn integrity_check(&self) -> Result<bool> {
        let conn = lock(&self.reader);
        let s: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(s == "ok")
    }
}

const EXPORT_MAGIC: &[u8; 4] = b"GWX1";
/// Meta key of the last quota refusal ([`Store::quota_hold`]).
const META_QUOTA: &str = "sync.quota";
const MAX_IMPORT_BYTES: usize = 512 * 1024 * 1024;

fn parse_export(bytes: &[u8]) -> Result<Vec<(String, Vec<Vec<u8>>)>> {
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(Error::CorruptChange("import is larger than 512 MiB".into()));
    }
    let rest = bytes
        .strip_prefix(EXPORT_MAGIC.as_slice())
        .ok_or_else(|| Error::CorruptChange("not a Gridwork export (bad magic)".into()))?;
    let mut pos = 0usize;
    let mut out = Vec::new();
    let take = |pos: &mut usize, n: usize| -> Result<&[u8]> {
        let end = pos
            .checked_add(n)
            .filter(|e| *e <= rest.len())
            .ok_or_else(|| Error::CorruptChange("export is truncated".into()))?;
        let s = &rest[*pos..end];
        *pos = end;
        Ok(s)
    };
    while pos < rest.len() {
        let n = u32::from_le_bytes(
            take(&mut pos, 4)?
                .try_into()
                .map_err(|_| Error::CorruptChange("bad length".into()))?,
        ) as usize;
        let id = std::str::from_utf8(take(&mut pos, n)?)
            .map_err(|_| Error::CorruptChange("record id is not UTF-8".into()))?
            .to_owned();
        check_id("doc_id", &id)
            .map_err(|_| Error::CorruptChange("record id is malformed".into()))?;
        let m = u32::from_le_bytes(
            take(&mut pos, 4)?
                .try_into()
                .map_err(|_| Error::CorruptChange("bad length".into()))?,
        ) as usize;
        let body = take(&mut pos, m)?.to_vec();
        out.push((id, vec![body]));
    }
    Ok(out)
}

fn text_clause(text: &str) -> Result<(String, rusqlite::types::Value)> {
    let t = text.trim();
    if t.is_empty() {
        return Err(Error::invalid("text", "search text must not be empty"));
    }
    if t.chars().count() > 100 {
        return Err(Error::invalid(
            "text",
            "search text is too long (at most 100 characters)",
        ));
    }
    if t.chars().count() >= 3 {
        // A quoted FTS5 string: trigram tokenizer matches it as a substring.
        let q = format!("\"{}\"", t.replace('"', "\"\""));
        Ok((
            " AND r.rowid IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ?)".into(),
            rusqlite::types::Value::Text(q),
        ))
    } else {
        // Trigrams need 3 characters; shorter text is matched against titles.
        let esc = t
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        Ok((
            " AND r.title LIKE ? ESCAPE '\\'".into(),
            rusqlite::types::Value::Text(format!("%{esc}%")),
        ))
    }
}

fn parse_page_token(tok: &str) -> Result<(i64, String)> {
    let bad = || Error::invalid("page_token", "not a token returned by an earlier page");
    let (a, b) = tok.split_once(':').ok_or_else(bad)?;
    let at = a.parse::<i64>().map_err(|_| bad())?;
    check_id("page_token", b).map_err(|_| bad())?;
    Ok((at, b.to_owned()))
}

fn summary_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordSummary> {
    let kind: String = r.get(1)?;
    Ok(RecordSummary {
        id: r.get(0)?,
        kind: kind.parse().unwrap_or(RecordKind::Report),
        grid: r.get(2)?,
        status: r.get(3)?,
        category: r.get(4)?,
        severity: r.get(5)?,
        title: r.get(6)?,
        household_id: r.get(7)?,
        due: r.get(8)?,
        author: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
    })
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

fn insert_change(
    tx: &SqlTx<'_>,
    doc_id: &str,
    change: &Change,
    state: ChangeState,
    at: i64,
) -> Result<bool> {
    let n = tx
        .prepare_cached("INSERT INTO changes(doc_id, hash, bytes, state, at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(doc_id, hash) DO NOTHING")?
        .execute(params![doc_id, change.hash().0.as_slice(), change.raw_bytes(), state as i64, at])?;
    Ok(n > 0)
}

/// Write the projection row (and its search and assignee rows). `old` lets an edit skip the
/// full-text and assignee rewrites when those parts did not change; `fresh` says the record has
/// no projection yet (nothing to delete from the search index or the assignees).
fn write_projection(
    tx: &SqlTx<'_>,
    id: &str,
    p: &Projection,
    updated_at: i64,
    old: Option<&Projection>,
    fresh: bool,
) -> Result<()> {
    let rowid: i64 = tx
        .prepare_cached(
            "INSERT INTO records(id, kind, grid, status, open, category, severity, title, household_id, due, author, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, grid = excluded.grid, status = excluded.status, open = excluded.open,
               category = excluded.category, severity = excluded.severity, title = excluded.title, household_id = excluded.household_id,
               due = excluded.due, author = excluded.author, created_at = excluded.created_at, updated_at = max(updated_at, excluded.updated_at)
             RETURNING rowid",
        )?
        .query_row(
            params![id, p.kind.as_str(), p.grid, p.status, p.open, p.category, p.severity, p.title, p.household_id, p.due, p.author, p.created_at, updated_at],
            |r| r.get(0),
        )?;
    let text_same = old.is_some_and(|o| o.title == p.title && o.body == p.body);
    if !text_same {
        queue_text(tx, rowid, p, fresh)?;
    }
    let assignees_same =
        old.is_some_and(|o| o.assignees == p.assignees) || (fresh && p.assignees.is_empty());
    if !assignees_same {
        if !fresh {
            tx.prepare_cached("DELETE FROM record_assignees WHERE record_id = ?1")?
                .execute(params![id])?;
        }
        for a in &p.assignees {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO record_assignees(user_id, record_id) VALUES (?1, ?2)",
            )?
            .execute(params![a, id])?;
        }
    }
    Ok(())
}

/// Queue a record's text for the search index (see `fts_queue` in schema.rs).
fn queue_text(tx: &SqlTx<'_>, rowid: i64, p: &Projection, fresh: bool) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO fts_queue(rowid, title, body, fresh) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(rowid) DO UPDATE SET title = excluded.title, body = excluded.body",
    )?
    .execute(params![rowid, p.title, p.body, fresh])?;
    Ok(())
}

/// Fold queued text into the full-text index, in one transaction. Returns how many were indexed.
fn flush_fts(conn: &mut Connection) -> Result<usize> {
    let tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM records_fts WHERE rowid IN (SELECT rowid FROM fts_queue WHERE fresh = 0)",
        [],
    )?;
    let n = tx.execute(
        "INSERT INTO records_fts(rowid, title, body) SELECT rowid, title, body FROM fts_queue",
        [],
    )?;
    tx.execute("DELETE FROM fts_queue", [])?;
    tx.commit()?;
    Ok(n)
}

/// Rewrite the projection of an edited record: one UPDATE, plus search and assignee rows only
/// when those parts changed.
fn update_projection(
    tx: &SqlTx<'_>,
    id: &str,
    p: &Projection,
    updated_at: i64,
    old: &Projection,
) -> Result<()> {
    if old.kind != p.kind
        || old.grid != p.grid
        || old.author != p.author
        || old.created_at != p.created_at
    {
        return write_projection(tx, id, p, updated_at, Some(old), false);
    }
    // SET only the columns that changed: SQLite rewrites an index whenever one of its columns
    // is assigned, even to the same value.
    use rusqlite::types::Value as V;
    let mut sql = String::from("UPDATE records SET updated_at = max(updated_at, ?2)");
    let mut args: Vec<V> = vec![V::Text(id.to_owned()), V::Integer(updated_at)];
    let opt_text = |v: &Option<String>| v.clone().map_or(V::Null, V::Text);
    let mut set = |col: &str, v: V| {
        args.push(v);
        sql.push_str(&format!(", {col} = ?{}", args.len()));
    };
    if old.status != p.status {
        set("status", opt_text(&p.status));
    }
    if old.open != p.open {
        set("open", V::Integer(i64::from(p.open)));
    }
    if old.category != p.category {
        set("category", opt_text(&p.category));
    }
    if old.severity != p.severity {
        set("severity", p.severity.map_or(V::Null, V::Integer));
    }
    if old.title != p.title {
        set("title", V::Text(p.title.clone()));
    }
    if old.household_id != p.household_id {
        set("household_id", opt_text(&p.household_id));
    }
    if old.due != p.due {
        set("due", opt_text(&p.due));
    }
    sql.push_str(" WHERE id = ?1");
    let n = tx
        .prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(args.iter()))?;
    if n == 0 {
        return write_projection(tx, id, p, updated_at, None, true);
    }
    if old.title != p.title || old.body != p.body {
        let rowid: i64 = tx
            .prepare_cached("SELECT rowid FROM records WHERE id = ?1")?
            .query_row(params![id], |r| r.get(0))?;
        queue_text(tx, rowid, p, false)?;
    }
    if old.assignees != p.assignees {
        tx.prepare_cached("DELETE FROM record_assignees WHERE record_id = ?1")?
            .execute(params![id])?;
        for a in &p.assignees {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO record_assignees(user_id, record_id) VALUES (?1, ?2)",
            )?
            .execute(params![a, id])?;
        }
    }
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

struct SyncExtra {
    acked: Vec<(String, String)>,
    rejected: Vec<Rejection>,
    cursor: Option<String>,
}

fn hash_bytes(field: &str, hex_hash: &str) -> Result<Vec<u8>> {
    let b = hex::decode(hex_hash).map_err(|_| Error::invalid(field, "change hash is not hex"))?;
    if b.len() != 32 {
        return Err(Error::invalid(field, "change hash must be 32 bytes"));
    }
    Ok(b)
}

impl Writer {
    fn put_cache(&mut self, id: String, c: Cached, cap: usize) {
        if self.cache.insert(id.clone(), c).is_none() {
            self.order.push_back(id);
        }
        self.evict_if_over(cap);
    }

    fn evict_if_over(&mut self, cap: usize) {
        while self.cache.len() > cap.max(1) {
            match self.order.pop_front() {
                Some(old) => {
                    self.cache.remove(&old);
                }
                None => break,
            }
        }
    }

    fn evict(&mut self, id: &str) {
        self.cache.remove(id);
        self.order.retain(|x| x != id);
    }

    /// The document from the cache, or loaded from disk (snapshot + unfolded changes).
    fn load(&mut self, id: &str, actor: ActorId) -> Result<&mut Cached> {
        if !self.cache.contains_key(id) {
            let doc = load_doc(&self.conn, id)?.ok_or_else(|| Error::NotFound {
                what: "record",
                id: id.to_owned(),
            })?;
            let (mut doc, unfolded) = doc;
            doc.set_actor(actor);
            // Reading the document recurses: one stored before the device checked pulled
            // documents could be arbitrarily deep. Such a document is kept but not read.
            let (json, record) = match check_bounded(&doc) {
                Ok(()) => {
                    let json = doc::read_json(&doc);
                    let record = AnyRecord::from_json(json.clone());
                    (json, record)
                }
                Err(r) => {
                    tracing::warn!(record = %id, code = r.code.as_str(), "stored document is over a limit; not read");
                    (J::Null, Err(unbounded_error(&r)))
                }
            };
            self.cache.insert(
                id.to_owned(),
                Cached {
                    doc,
                    json,
                    record,
                    unfolded,
                },
            );
            self.order.push_back(id.to_owned());
        }
        self.cache
            .get_mut(id)
            .ok_or_else(|| Error::Internal("cache".into()))
    }

    fn compact_doc(&mut self, id: &str) -> Result<()> {
        let actor = ActorId::random();
        let snapshot = self.load(id, actor)?.doc.save();
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE docs SET snapshot = ?2, unfolded = 0, last_seq = max(last_seq, coalesce((SELECT max(seq) FROM changes WHERE doc_id = ?1), 0)) WHERE id = ?1",
            params![id, snapshot],
        )?;
        // Pending and quarantined changes stay (the outbox needs their bytes); they are marked
        // folded so loading does not apply them twice.
        tx.execute(
            "DELETE FROM changes WHERE doc_id = ?1 AND state IN (1, 3)",
            params![id],
        )?;
        tx.execute(
            "UPDATE changes SET folded = 1 WHERE doc_id = ?1",
            params![id],
        )?;
        tx.commit()?;
        if let Some(c) = self.cache.get_mut(id) {
            c.unfolded = 0;
        }
        Ok(())
    }

    /// Apply incoming change bytes per document in one transaction.
    ///
    /// `strict` (imports): anything that does not decode, is over a limit or does not hydrate
    /// fails the whole call. Otherwise (pulls) no single document can fail the page: a document
    /// whose id breaks the id rule, whose changes the gate refuses ([`gate::admit_pulled`]: they
    /// do not parse, do not apply, or make a document over a limit) is set aside (table
    /// `set_aside`) and the rest goes on; a document already set aside stays so (its new changes
    /// are counted, not stored). A bounded document that does not hydrate (a newer version's
    /// value) keeps its changes, without a projection until a later change fixes it.
    fn apply_incoming(
        &mut self,
        docs: Vec<(String, Vec<Vec<u8>>)>,
        state: ChangeState,
        strict: bool,
        actor: ActorId,
        extra: Option<SyncExtra>,
        cap: usize,
    ) -> Result<AppliedPage> {
        struct Prepared {
            id: String,
            doc: Automerge,
            json: J,
            rec: Result<AnyRecord>,
            new_changes: Vec<Change>,
            proj: Option<(Projection, i64)>,
            existed: bool,
            kind: String,
        }
        /// A document of the page that is not stored: its set-aside id, why, how many changes.
        struct Aside {
            key: String,
            refusal: Refusal,
            changes: u64,
        }
        let mut prepared = Vec::new();
        let mut aside: Vec<Aside> = Vec::new();
        for (id, blobs) in docs {
            let n_blobs = blobs.len() as u64;
            if !strict {
                if check_id("doc_id", &id).is_err() {
                    // The id itself may be hostile: from here on only its hash is used.
                    aside.push(Aside {
                        key: invalid_id_key(&id),
                        refusal: Refusal::new(
                            RejectCode::InvalidId,
                            Some("doc_id"),
                            "the document id does not follow the id rule",
                        ),
                        changes: n_blobs,
                    });
                    continue;
                }
                if is_set_aside(&self.conn, &id)? {
                    // The refusal is not used: the first one recorded stays.
                    aside.push(Aside {
                        key: id,
                        refusal: Refusal::new(RejectCode::Unknown, None, ""),
                        changes: n_blobs,
                    });
                    continue;
                }
            }
            let existing = match self.load(&id, actor.clone()) {
                Ok(c) => match c.doc.fork_at(&c.doc.get_heads()) {
                    Ok(d) => Some(d),
                    Err(e) if strict => return Err(e.into()),
                    Err(_) => {
                        aside.push(Aside {
                            key: id,
                            refusal: stored_copy_unreadable(),
                            changes: n_blobs,
                        });
                        continue;
                    }
                },
                Err(Error::NotFound { .. }) => None,
                Err(Error::NotADatabase(_)) if !strict => {
                    aside.push(Aside {
                        key: id,
                        refusal: stored_copy_unreadable(),
                        changes: n_blobs,
                    });
                    continue;
                }
                Err(e) => return Err(e),
            };
            let existed = existing.is_some();
            let mut doc = existing.unwrap_or_default();
            doc.set_actor(actor.clone());
            let new_changes: Vec<Change> = if strict {
                apply_strict(&mut doc, &id, &blobs)?
            } else {
                match gate::admit_pulled(&mut doc, &blobs) {
                    Ok(fresh) => {
                        let mut seen = std::collections::HashSet::new();
                        fresh
                            .into_iter()
                            .filter(|c| seen.insert(c.hash()))
                            .collect()
                    }
                    Err(refusal) => {
                        aside.push(Aside {
                            key: id,
                            refusal,
                            changes: n_blobs,
                        });
                        continue;
                    }
                }
            };
            if new_changes.is_empty() {
                continue;
            }
            // Everything below reads the document recursively: nothing unbounded gets there,
            // whatever the gate lets through.
            if let Err(refusal) = check_bounded(&doc) {
                if strict {
                    return Err(Error::CorruptChange(format!("record {id}: {refusal}")));
                }
                aside.push(Aside {
                    key: id,
                    refusal,
                    changes: n_blobs,
                });
                continue;
            }
            let json = doc::read_json(&doc);
            let rec = AnyRecord::from_json(json.clone());
            let proj = match &rec {
                Ok(r) => Some((
                    project(r),
                    new_changes
                        .iter()
                        .map(automerge::Change::timestamp)
                        .max()
                        .unwrap_or(0),
                )),
                Err(e) if strict => return Err(e.clone()),
                Err(_) => {
                    tracing::warn!(record = %id, "pulled record does not match the schema; kept without projection");
                    None
                }
            };
            let kind = json
                .get("kind")
                .and_then(J::as_str)
                .unwrap_or("unknown")
                .to_owned();
            prepared.push(Prepared {
                id,
                doc,
                json,
                rec,
                new_changes,
                proj,
                existed,
                kind,
            });
        }
        let at = now_ms();
        let result = (|| -> Result<()> {
            let tx = self.conn.transaction()?;
            for p in &prepared {
                if !p.existed {
                    tx.prepare_cached("INSERT OR IGNORE INTO docs(id, kind, snapshot, unfolded) VALUES (?1, ?2, NULL, 0)")?
                        .execute(params![p.id, p.kind])?;
                }
                for c in &p.new_changes {
                    insert_change(&tx, &p.id, c, state, at)?;
                }
                if let Some((proj, upd)) = &p.proj {
                    write_projection(&tx, &p.id, proj, *upd, None, !p.existed)?;
                }
                if let Ok(rec) = &p.rec {
                    crate::blobs::note_remote_photos_of(&tx, Some(&p.id), rec.photos())?;
                }
            }
            for a in &aside {
                // A document set aside before keeps its first refusal; its changes are counted.
                tx.prepare_cached(
                    "INSERT INTO set_aside(doc_id, code, field, reason, changes, first_at, last_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
                     ON CONFLICT(doc_id) DO UPDATE SET changes = changes + excluded.changes, last_at = excluded.last_at",
                )?
                .execute(params![
                    a.key,
                    a.refusal.code.as_str(),
                    a.refusal.field,
                    a.refusal.reason,
                    a.changes as i64,
                    at
                ])?;
            }
            if let Some(x) = &extra {
                for (doc_id, hash) in &x.acked {
                    let h = hash_bytes("acked.hash", hash)?;
                    tx.prepare_cached("UPDATE changes SET state = 1 WHERE doc_id = ?1 AND hash = ?2 AND state IN (0, 2)")?.execute(params![doc_id, h])?;
                }
                for r in &x.rejected {
                    let h = hash_bytes("rejected.hash", &r.hash)?;
                    tx.prepare_cached("UPDATE changes SET state = 2, field = ?3, reason = ?4 WHERE doc_id = ?1 AND hash = ?2 AND state = 0")?
                        .execute(params![r.doc_id, h, r.field, r.reason])?;
                }
                if let Some(c) = &x.cursor {
                    set_meta(&tx, "sync.cursor", c)?;
                }
                set_meta(&tx, "sync.last_at", &at.to_string())?;
            }
            tx.commit()?;
            Ok(())
        })();
        if let Err(e) = result {
            for p in &prepared {
                self.evict(&p.id);
            }
            return Err(e);
        }
        if !aside.is_empty() {
            for a in &aside {
                // Keys are valid ids or `invalid:<hash>`: safe to log.
                tracing::warn!(doc = %a.key, code = a.refusal.code.as_str(), changes = a.changes, "pulled document set aside");
            }
            tracing::warn!(
                documents = aside.len(),
                changes = aside.iter().map(|a| a.changes).sum::<u64>(),
                "set aside pulled documents this device cannot store; see set_aside()"
            );
        }
        let mut ids = Vec::with_capacity(prepared.len());
        for p in prepared {
            let n = p.new_changes.len();
            let unfolded = self.cache.get(&p.id).map_or(0, |c| c.unfolded) + n;
            ids.push(p.id.clone());
            self.put_cache(
                p.id,
                Cached {
                    doc: p.doc,
                    json: p.json,
                    record: p.rec,
                    unfolded,
                },
                cap,
            );
        }
        Ok(AppliedPage {
            changed: ids,
            set_aside: aside.into_iter().map(|a| a.key).collect(),
        })
    }
}

/// Imports: every blob one change (the fast path, keeping bytes and hashes), or else saved
/// documents loaded incrementally. Anything that does not decode or apply fails.
fn apply_strict(doc: &mut Automerge, id: &str, blobs: &[Vec<u8>]) -> Result<Vec<Change>> {
    let corrupt = |e: automerge::AutomergeError| {
        Error::CorruptChange(format!(
            "record {id}: {}",
            e.to_string().chars().take(120).collect::<String>()
        ))
    };
    let before = doc.get_heads();
    // Changes go through the gate's reader (bounded, and never into Automerge's panics on
    // crafted counters); anything else is tried as a saved document.
    let parsed: Option<Vec<Change>> = blobs
        .iter()
        .map(|b| gate::parse_change(b).ok().map(|(c, _)| c))
        .collect();
    match parsed {
        Some(changes) => {
            let mut seen = std::collections::HashSet::new();
            let fresh: Vec<Change> = changes
                .into_iter()
                .filter(|c| seen.insert(c.hash()) && doc.get_change_by_hash(&c.hash()).is_none())
                .collect();
            doc.apply_changes(fresh.iter().cloned()).map_err(corrupt)?;
            Ok(fresh)
        }
        None => {
            for b in blobs {
                // A saved document from a file is hostile input too, and Automerge's document
                // loader unwraps some conversions of what it reads: a panic there is a corrupt
                // import, never a crash (the document being built is thrown away on error).
                let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    doc.load_incremental(b)
                }));
                match loaded {
                    Ok(r) => {
                        r.map_err(corrupt)?;
                    }
                    Err(_) => {
                        return Err(Error::CorruptChange(format!(
                            "record {id}: the saved document is malformed"
                        )))
                    }
                }
            }
            Ok(doc.get_changes(&before))
        }
    }
}

/// Whether raw change bytes name no dependencies, which only the first change of a document
/// does. Read from the chunk header (magic, checksum, type 1, length, then the dependency
/// count); bytes that do not read as an uncompressed change count as a creation (the cautious
/// answer for the per-request quota of new documents).
fn creates_doc(b: &[u8]) -> bool {
    fn uleb(b: &[u8], pos: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*pos)?;
            *pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    if b.len() < 10 || b[..4] != MAGIC || b[8] != 1 {
        return true;
    }
    let mut pos = 9;
    match uleb(b, &mut pos).and_then(|_| uleb(b, &mut pos)) {
        Some(deps) => deps == 0,
        None => true,
    }
}

/// The set-aside id of a document whose id breaks the id rule: never the id itself.
fn invalid_id_key(id: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = hex::encode(Sha256::digest(id.as_bytes()));
    format!("invalid:{}", &h[..16])
}

fn is_set_aside(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM set_aside WHERE doc_id = ?1")?
        .query_row(params![id], |_| Ok(()))
        .optional()?
        .is_some())
}

fn stored_copy_unreadable() -> Refusal {
    Refusal::new(
        RejectCode::Corrupt,
        None,
        "this device's stored copy of the document could not be read",
    )
}

fn unbounded_error(r: &Refusal) -> Error {
    Error::CorruptChange(format!("the document is over a limit: {r}"))
}

/// Refuses a document deeper, bigger or wordier than any record may be
/// ([`gate::check_bounded`]): the reads that follow (`doc::read_json`, conflicts, serde) recurse,
/// so nothing unbounded may reach them.
fn check_bounded(doc: &Automerge) -> std::result::Result<(), Refusal> {
    gate::check_bounded(doc)
}

fn load_doc(conn: &Connection, id: &str) -> Result<Option<(Automerge, usize)>> {
    let snap: Option<Option<Vec<u8>>> = conn
        .prepare_cached("SELECT snapshot FROM docs WHERE id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .optional()?;
    let Some(snap) = snap else { return Ok(None) };
    let mut doc = match snap {
        Some(s) => Automerge::load(&s)
            .map_err(|e| Error::NotADatabase(format!("stored document is corrupt: {e}")))?,
        None => Automerge::new(),
    };
    let mut stmt = conn.prepare_cached(
        "SELECT bytes FROM changes WHERE doc_id = ?1 AND folded = 0 ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![id])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let b: Vec<u8> = r.get(0)?;
        doc.load_incremental(&b)
            .map_err(|e| Error::NotADatabase(format!("stored change is corrupt: {e}")))?;
        n += 1;
    }
    Ok(Some((doc, n)))
}

// A `Store` is shared across threads (the apps sync off the UI thread): checked at compile time.
const _: () = {
    const fn is<T: Send + Sync>() {}
    is::<Store>();
};
