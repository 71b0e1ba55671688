//! Database schema, as numbered migrations. The version lives in `user_version` (applied by
//! [`gridwork_model::migrate`], the helper the server uses too); `application_id` marks the file
//! as a Gridwork store.
//!
//! Projection tables (`records`, `record_assignees`, `records_fts`) are derived data: a migration
//! that changes them sets `meta.reproject = 1` and the store rebuilds them from the documents on
//! open. Documents and changes are never rewritten by a migration.

use rusqlite::Connection;

use gridwork_model::error::{Error, Result};

/// 'Grid' in ASCII.
pub const APPLICATION_ID: i64 = 0x4772_6964;

/// Frozen SQL of each version. Never edit a shipped migration: add a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: documents, changes (incl. outbox state), projection, meta
    r"
    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE docs(
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        snapshot BLOB,
        unfolded INTEGER NOT NULL DEFAULT 0,
        last_seq INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    -- state: 0 pending (outbox), 1 acknowledged by the server, 2 quarantined (rejected), 3 remote,
    --        4 discarded by the user after a rejection (kept for audit, never applied)
    CREATE TABLE changes(
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        doc_id TEXT NOT NULL,
        hash BLOB NOT NULL,
        bytes BLOB NOT NULL,
        state INTEGER NOT NULL,
        folded INTEGER NOT NULL DEFAULT 0,
        at INTEGER NOT NULL,
        field TEXT,
        reason TEXT,
        UNIQUE(doc_id, hash)
    );
    -- the outbox; loading a document uses the UNIQUE(doc_id, hash) index
    CREATE INDEX changes_pending ON changes(seq) WHERE state = 0;
    CREATE TABLE records(
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        grid TEXT NOT NULL,
        status TEXT,
        open INTEGER NOT NULL,
        category TEXT,
        severity INTEGER,
        title TEXT NOT NULL,
        household_id TEXT,
        due TEXT,
        author TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX records_grid_open ON records(kind, grid, open, created_at, id);
    CREATE INDEX records_kind_created ON records(kind, created_at, id);
    CREATE TABLE record_assignees(user_id TEXT NOT NULL, record_id TEXT NOT NULL, PRIMARY KEY(user_id, record_id)) WITHOUT ROWID;
    ",
    // 2: full-text search with the trigram tokenizer (Chinese by substring)
    r"
    CREATE VIRTUAL TABLE records_fts USING fts5(title, body, tokenize = 'trigram', content = '', contentless_delete = 1);
    -- Text waiting to be indexed, written in the same transaction as the record. Indexing one
    -- record per transaction costs an FTS segment per write; the queue is folded into the index
    -- in batches, always before a text search runs. fresh = 1: not in the index yet.
    CREATE TABLE fts_queue(rowid INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL, fresh INTEGER NOT NULL);
    INSERT INTO meta(key, value) VALUES('reproject', '1') ON CONFLICT(key) DO UPDATE SET value = '1';
    ",
    // 3: photos by content hash. bytes NULL = referenced by a record but not on this device yet.
    r"
    CREATE TABLE blobs(
        hash TEXT NOT NULL UNIQUE,
        bytes BLOB,
        size INTEGER NOT NULL,
        thumb INTEGER NOT NULL,
        uploaded INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX blobs_upload ON blobs(thumb DESC, created_at) WHERE uploaded = 0 AND bytes IS NOT NULL;
    CREATE INDEX blobs_missing ON blobs(thumb DESC) WHERE bytes IS NULL;
    INSERT INTO meta(key, value) VALUES('reproject', '1') ON CONFLICT(key) DO UPDATE SET value = '1';
    ",
    // 4: the trust boundary. Documents a pull brought that this device could not store (set
    // aside, with the refusal; doc_id is the id, or `invalid:<sha256 prefix>` when the id itself
    // breaks the id rule), and the record each local photo is uploaded for.
    r"
    CREATE TABLE set_aside(
        doc_id TEXT PRIMARY KEY,
        code TEXT NOT NULL,
        field TEXT,
        reason TEXT NOT NULL,
        changes INTEGER NOT NULL,
        first_at INTEGER NOT NULL,
        last_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    ALTER TABLE blobs ADD COLUMN record_id TEXT;
    ",
    // 5: the team directory (issue 10): units and people in the user's scope, from the server.
    // in_scope = 0: left the scope (moved, disabled), kept so names still show; their phone is
    // dropped. `units` is a JSON array of unit ids; `boundary` the model's Boundary as JSON.
    r"
    CREATE TABLE dir_units(
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        parent TEXT,
        name TEXT NOT NULL,
        boundary TEXT,
        in_scope INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE dir_people(
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        display_name TEXT NOT NULL,
        role TEXT NOT NULL,
        units TEXT NOT NULL,
        phone TEXT,
        in_scope INTEGER NOT NULL,
        seen_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    ",
    // 6: the access log (issue 12): every time this device showed a record's personal data in
    // full, who, when, which record and why; `sent` once the server has it.
    r"
    CREATE TABLE access_log(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        what TEXT NOT NULL,
        reason TEXT NOT NULL,
        sent INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX access_log_unsent ON access_log(id) WHERE sent = 0;
    ",
];

pub fn latest_version() -> i64 {
    gridwork_model::migrate::latest(MIGRATIONS)
}

/// Bring the database to the latest version (or to `upto`, for tests of old databases).
pub fn migrate(conn: &mut Connection, upto: Option<usize>) -> Result<()> {
    let version = gridwork_model::migrate::version(conn)?;
    let app_id: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    if app_id != APPLICATION_ID && (tables > 0 || version > 0) {
        return Err(Error::NotADatabase(
            "the file holds a database that is not a Gridwork store".into(),
        ));
    }
    if version > latest_version() {
        return Err(Error::SchemaTooNew {
            found: version,
            supported: latest_version(),
        });
    }
    if app_id != APPLICATION_ID {
        conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    }
    gridwork_model::migrate::migrate(conn, MIGRATIONS, upto)?;
    Ok(())
}
