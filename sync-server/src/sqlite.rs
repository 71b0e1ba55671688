//! [`ServerStore`] on SQLite: one file `gridwork.db` in the data directory, WAL mode, one writer
//! connection behind a mutex and a few reader connections.
//!
//! Why the change sequence never lets a reader skip a change: `changes.seq` is an
//! `INTEGER PRIMARY KEY AUTOINCREMENT` assigned inside the push's write transaction, which starts
//! with `BEGIN IMMEDIATE` and so holds SQLite's single write lock from before the first seq is
//! assigned until it commits. Write transactions are therefore serial: every seq of one push is
//! larger than every seq of any push committed before it, and no seq is assigned by anyone else
//! until it commits. A reader (a WAL snapshot) sees a prefix of the committed log; nothing with a
//! smaller seq can appear later. (On PostgreSQL, sequences are not transactional: a port must take
//! a lock around seq assignment or pull only below the oldest in-flight seq.)

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use gridwork_model::directory::Boundary;
use gridwork_model::Role;

use crate::directory::{OrgPerson, OrgRows, OrgSnapshot, OrgUnit};
use crate::error::{Error, Result};
use crate::store::*;

const MIGRATIONS: &[&str] = &[
    // 1: organisation, users, devices, change log.
    r"
    CREATE TABLE units (
        id        TEXT PRIMARY KEY,
        kind      TEXT NOT NULL CHECK (kind IN ('district', 'street', 'community', 'grid')),
        parent_id TEXT REFERENCES units(id),
        name      TEXT NOT NULL
    );
    CREATE INDEX units_parent ON units(parent_id);
    CREATE TABLE users (
        id            TEXT PRIMARY KEY,
        username      TEXT NOT NULL UNIQUE,
        display_name  TEXT NOT NULL,
        role          TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        disabled      INTEGER NOT NULL DEFAULT 0,
        created_at    INTEGER NOT NULL
    );
    CREATE TABLE user_units (
        user_id TEXT NOT NULL REFERENCES users(id),
        unit_id TEXT NOT NULL REFERENCES units(id),
        PRIMARY KEY (user_id, unit_id)
    );
    CREATE TABLE devices (
        id           TEXT PRIMARY KEY,
        user_id      TEXT NOT NULL REFERENCES users(id),
        name         TEXT NOT NULL,
        token_hash   BLOB NOT NULL UNIQUE,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        revoked_at   INTEGER,
        last_seen_at INTEGER
    );
    CREATE INDEX devices_user ON devices(user_id);
    CREATE TABLE device_actors (
        actor     TEXT PRIMARY KEY,
        device_id TEXT NOT NULL REFERENCES devices(id)
    );
    CREATE INDEX device_actors_device ON device_actors(device_id);
    CREATE TABLE docs (
        doc_id     TEXT PRIMARY KEY,
        grid       TEXT NOT NULL,
        kind       TEXT NOT NULL,
        snapshot   BLOB NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE changes (
        seq       INTEGER PRIMARY KEY AUTOINCREMENT,
        doc_id    TEXT NOT NULL,
        hash      TEXT NOT NULL,
        grid      TEXT NOT NULL,
        device_id TEXT,
        bytes     BLOB NOT NULL,
        UNIQUE (doc_id, hash)
    );
    CREATE INDEX changes_grid_seq ON changes(grid, seq);
    ",
    // 2: auth epoch. Bumped by triggers on every change that can alter what a token stands for
    // (revocation, expiry, users, units, scopes, actors), so the server can cache token lookups
    // and still see a revocation made by `gridwork-server admin` in another process at once.
    r"
    CREATE TABLE auth_epoch (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
    INSERT INTO auth_epoch (id, n) VALUES (1, 0);
    CREATE TRIGGER epoch_units_i AFTER INSERT ON units BEGIN UPDATE auth_epoch SET n = n + 1; END;
    CREATE TRIGGER epoch_units_u AFTER UPDATE ON units BEGIN UPDATE auth_epoch SET n = n + 1; END;
    CREATE TRIGGER epoch_units_d AFTER DELETE ON units BEGIN UPDATE auth_epoch SET n = n + 1; END;
    CREATE TRIGGER epoch_users_u AFTER UPDATE ON users BEGIN UPDATE auth_epoch SET n = n + 1; END;
    CREATE TRIGGER epoch_users_d AFTER DELETE ON users BEGIN UPDATE auth_epoch SET n = n + 1; END;
    CREATE TRIGGER epoch_uu_i AFTER INSERT ON user_units BEGIN UPDATE auth_epoch SET n = n + 1; END;
    CREATE TRIGGER epoch_uu_d AFTER DELETE ON user_units BEGIN UPDATE auth_epoch SET n = n + 1; END;
    CREATE TRIGGER epoch_dev_u AFTER UPDATE OF user_id, token_hash, expires_at, revoked_at ON devices
        BEGIN UPDATE auth_epoch SET n = n + 1; END;
    CREATE TRIGGER epoch_dev_d AFTER DELETE ON devices BEGIN UPDATE auth_epoch SET n = n + 1; END;
    CREATE TRIGGER epoch_actors_i AFTER INSERT ON device_actors BEGIN UPDATE auth_epoch SET n = n + 1; END;
    CREATE TRIGGER epoch_actors_u AFTER UPDATE ON device_actors BEGIN UPDATE auth_epoch SET n = n + 1; END;
    CREATE TRIGGER epoch_actors_d AFTER DELETE ON device_actors BEGIN UPDATE auth_epoch SET n = n + 1; END;
    ",
    // 3: which records reference which photo blobs (for the scope check of blob downloads).
    r"
    CREATE TABLE blob_refs (
        hash   TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        grid   TEXT NOT NULL,
        PRIMARY KEY (hash, doc_id)
    ) WITHOUT ROWID;
    CREATE INDEX blob_refs_doc ON blob_refs(doc_id);
    ",
    // 4: the trust boundary (issue 8). What each device pushed per UTC day (quotas); documents
    // an admin set aside (left out of pulls, pushes refused); which photo blobs were uploaded
    // (bytes verified by the server) for which record (downloads need one in the reader's scope).
    r"
    CREATE TABLE device_usage (
        device_id TEXT NOT NULL,
        day       INTEGER NOT NULL,
        new_docs  INTEGER NOT NULL,
        changes   INTEGER NOT NULL,
        bytes     INTEGER NOT NULL,
        PRIMARY KEY (device_id, day)
    ) WITHOUT ROWID;
    CREATE TABLE quarantined_docs (
        doc_id TEXT PRIMARY KEY,
        reason TEXT,
        at     INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE blob_uploads (
        hash      TEXT NOT NULL,
        doc_id    TEXT NOT NULL,
        device_id TEXT NOT NULL,
        at        INTEGER NOT NULL,
        PRIMARY KEY (hash, doc_id)
    ) WITHOUT ROWID;
    ",
    // 5: the team directory (issue 10). Every unit and user row carries the directory version of
    // its last change, stamped from one counter by triggers (attachments stamp the user), so a
    // device is sent only what changed since the version it holds. Phones travel only when
    // shareable; grid boundaries are the model's `Boundary` as JSON.
    r"
    ALTER TABLE users ADD COLUMN phone TEXT;
    ALTER TABLE users ADD COLUMN phone_shared INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE users ADD COLUMN dir_version INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE units ADD COLUMN boundary TEXT;
    ALTER TABLE units ADD COLUMN dir_version INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE dir_seq (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
    INSERT INTO dir_seq (id, n) VALUES (1, 1);
    CREATE TRIGGER dir_units_i AFTER INSERT ON units BEGIN
        UPDATE dir_seq SET n = n + 1;
        UPDATE units SET dir_version = (SELECT n FROM dir_seq) WHERE id = NEW.id;
    END;
    CREATE TRIGGER dir_units_u AFTER UPDATE OF kind, parent_id, name, boundary ON units BEGIN
        UPDATE dir_seq SET n = n + 1;
        UPDATE units SET dir_version = (SELECT n FROM dir_seq) WHERE id = NEW.id;
    END;
    CREATE TRIGGER dir_units_d AFTER DELETE ON units BEGIN UPDATE dir_seq SET n = n + 1; END;
    CREATE TRIGGER dir_users_i AFTER INSERT ON users BEGIN
        UPDATE dir_seq SET n = n + 1;
        UPDATE users SET dir_version = (SELECT n FROM dir_seq) WHERE id = NEW.id;
    END;
    CREATE TRIGGER dir_users_u
        AFTER UPDATE OF username, display_name, role, disabled, phone, phone_shared ON users BEGIN
        UPDATE dir_seq SET n = n + 1;
        UPDATE users SET dir_version = (SELECT n FROM dir_seq) WHERE id = NEW.id;
    END;
    CREATE TRIGGER dir_users_d AFTER DELETE ON users BEGIN UPDATE dir_seq SET n = n + 1; END;
    CREATE TRIGGER dir_uu_i AFTER INSERT ON user_units BEGIN
        UPDATE dir_seq SET n = n + 1;
        UPDATE users SET dir_version = (SELECT n FROM dir_seq) WHERE id = NEW.user_id;
    END;
    CREATE TRIGGER dir_uu_d AFTER DELETE ON user_units BEGIN
        UPDATE dir_seq SET n = n + 1;
        UPDATE users SET dir_version = (SELECT n FROM dir_seq) WHERE id = OLD.user_id;
    END;
    ",
    // 6: the web console (issue 11). One row per document with the columns lists filter, sort
    // and count on, written with the document (backfilled from the stored documents on open);
    // task assignees; the log of who saw a household's personal data in full, and why.
    r"
    CREATE TABLE records (
        doc_id       TEXT PRIMARY KEY,
        kind         TEXT NOT NULL,
        grid         TEXT NOT NULL,
        status       TEXT,
        open         INTEGER NOT NULL,
        category     TEXT,
        severity     INTEGER,
        title        TEXT NOT NULL,
        author       TEXT NOT NULL,
        household_id TEXT,
        due          TEXT,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        closed_at    INTEGER,
        search       TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX records_grid ON records(kind, grid, created_at);
    -- Covers the dashboard's pass over a scope: no row of the table is read.
    CREATE INDEX records_dashboard
        ON records(kind, grid, status, category, open, due, created_at, closed_at);
    CREATE INDEX records_created ON records(kind, created_at);
    CREATE INDEX records_household ON records(household_id) WHERE household_id IS NOT NULL;
    CREATE TABLE record_assignees (
        user_id TEXT NOT NULL,
        doc_id  TEXT NOT NULL,
        PRIMARY KEY (user_id, doc_id)
    ) WITHOUT ROWID;
    CREATE INDEX record_assignees_doc ON record_assignees(doc_id);
    CREATE TABLE access_log (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms   INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        doc_id  TEXT NOT NULL,
        what    TEXT NOT NULL,
        reason  TEXT NOT NULL
    );
    -- A device that resends entries (its answer was lost) does not log them twice.
    CREATE UNIQUE INDEX access_log_once ON access_log(user_id, doc_id, at_ms, what);
    ",
];

thread_local! {
    /// Set by [`ServerStore::defer_push_durability`] on this thread: pushes then return once
    /// committed, and this holds the highest commit number to wait for (0: none yet) until
    /// [`ServerStore::finish_deferred_pushes`] waits for it.
    static DEFERRED: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// The UTC day of `t`, as days since 1970-01-01 (the `device_usage.day` column).
fn utc_day(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(86_400)
}

pub struct SqliteStore {
    /// The push connection (`synchronous=NORMAL`, its commits made durable by [`WalSyncer`]) and
    /// the documents it last wrote, loaded.
    pusher: Mutex<Pusher>,
    /// Loaded documents as last committed by a push (never ahead of the database: entries are
    /// replaced only after the commit, under the push lock).
    docs: Mutex<DocCache>,
    /// Every other write (organisation, users, devices): `synchronous=FULL`.
    writer: Mutex<Connection>,
    wal: Arc<WalSyncer>,
    syncer: Option<std::thread::JoinHandle<()>>,
    checkpoints: Option<std::thread::JoinHandle<()>>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// Reads `auth_epoch` for the token cache; held for microseconds, on async threads too.
    epoch_conn: Mutex<Connection>,
    auth_cache: Mutex<HashMap<[u8; 32], CachedAuth>>,
    /// The organisation indexed at one directory version (rebuilt when the version moves).
    org_cache: Mutex<Option<Arc<OrgSnapshot>>>,
}

/// Group commit by WAL fsync. Pushes commit on a `synchronous=NORMAL` connection (the commit
/// writes its WAL frames without waiting for the disk), then wait until a `fdatasync` of the WAL
/// file that started after their commit has returned. One thread does those fsyncs back to back,
/// so every fsync makes all the pushes committed during the previous one durable at once, and the
/// writer never stops to wait for the disk. A push is answered only once durable, exactly as with
/// `synchronous=FULL` (where the same fsync of the WAL happens inside each COMMIT).
struct WalSyncer {
    state: Mutex<WalState>,
    work: Condvar,
    done: Condvar,
}

#[derive(Default)]
struct WalState {
    /// Commits made (numbered from 1).
    written: u64,
    /// Every commit up to this one is on disk.
    synced: u64,
    /// The highest change seq written / known on disk. Pulls never go above `synced_seq`: a
    /// device must not receive (and move its cursor past) a change a power cut could still take
    /// back, or its seq could be given to another change after the restart.
    written_seq: u64,
    synced_seq: u64,
    /// An fsync failed: the WAL's state on disk is unknown; refuse to acknowledge anything more.
    failed: Option<String>,
    stop: bool,
}

impl WalSyncer {
    fn run(&self, wal: std::fs::File) {
        let mut st = lock(&self.state);
        loop {
            while st.written == st.synced && !st.stop {
                st = self
                    .work
                    .wait(st)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            if st.written == st.synced {
                return;
            }
            let target = st.written;
            let target_seq = st.written_seq;
            drop(st);
            let r = wal.sync_data();
            st = lock(&self.state);
            match r {
                Ok(()) => {
                    st.synced = target;
                    st.synced_seq = st.synced_seq.max(target_seq);
                }
                Err(e) => {
                    tracing::error!(error = %e, "fsync of the WAL failed: refusing further pushes");
                    st.failed = Some(e.to_string());
                    st.synced = st.written;
                }
            }
            self.done.notify_all();
        }
    }

    /// Checkpoints the WAL into the database every [`CHECKPOINT_EVERY_COMMITS`] commits (or
    /// after a quiet second), on its own connection and thread: never inside a push's commit.
    fn checkpoints(&self, conn: Connection) {
        let mut last = 0u64;
        let mut st = lock(&self.state);
        while !st.stop {
            let (g, timeout) = self
                .done
                .wait_timeout(st, std::time::Duration::from_secs(1))
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            st = g;
            let due = st.synced >= last + CHECKPOINT_EVERY_COMMITS
                || (timeout.timed_out() && st.synced > last);
            if due && !st.stop {
                last = st.synced;
                drop(st);
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
                st = lock(&self.state);
            }
        }
    }

    /// Registers a commit just made, whose highest change seq is `seq`; returns its number.
    fn committed(&self, seq: u64) -> u64 {
        let mut st = lock(&self.state);
        st.written += 1;
        st.written_seq = st.written_seq.max(seq);
        let n = st.written;
        drop(st);
        self.work.notify_one();
        n
    }

    fn wait_durable(&self, n: u64) -> Result<()> {
        let mut st = lock(&self.state);
        while st.synced < n {
            st = self
                .done
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        match &st.failed {
            Some(e) => Err(Error::Other(format!("fsync failed: {e}"))),
            None => Ok(()),
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        lock(&self.wal.state).stop = true;
        self.wal.work.notify_all();
        self.wal.done.notify_all();
        for t in [self.syncer.take(), self.checkpoints.take()]
            .into_iter()
            .flatten()
        {
            let _ = t.join();
        }
    }
}

/// Commits between two WAL checkpoints.
const CHECKPOINT_EVERY_COMMITS: u64 = 500;

/// Loaded documents kept by the push connection.
const DOC_CACHE_MAX: usize = 4096;

/// The push connection and its cache of loaded documents. The cache holds exactly what the
/// database holds: entries are taken out for a push and put back only after its commit.
struct Pusher {
    conn: Connection,
}

type DocCache = HashMap<String, (String, Arc<LoadedDoc>)>;

/// Cached token lookups kept at most (then the cache is cleared and refilled).
const AUTH_CACHE_MAX: usize = 100_000;

#[derive(Clone)]
struct CachedAuth {
    epoch: i64,
    device: DeviceAuth,
    scope: Scope,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock dropped its transaction (rolled back): the connection is fine.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn from_ts(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(s, 0).unwrap_or_default()
}

fn open_conn(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: an acknowledged change survives a power cut, not only a killed process.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) `DIR/gridwork.db`.
    pub fn open(data_dir: &Path, readers: usize) -> Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join("gridwork.db");
        let mut writer = open_conn(&path)?;
        migrate(&mut writer)?;
        crate::sqlite_records::backfill(&mut writer)?;
        let readers = (0..readers.max(1))
            .map(|_| open_conn(&path).map(Mutex::new))
            .collect::<Result<Vec<_>>>()?;
        let epoch_conn = Mutex::new(open_conn(&path)?);
        let pusher = open_conn(&path)?;
        pusher.pragma_update(None, "synchronous", "NORMAL")?;
        // Checkpoints run on the syncer thread's own connection, not inside a push's commit
        // (where a checkpoint's two fsyncs would hold up every push behind it).
        pusher.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpointer = open_conn(&path)?;
        // The WAL file exists while any connection is open (SQLite creates it on first use;
        // creating it empty first is the same).
        let wal_file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(data_dir.join("gridwork.db-wal"))?;
        // What the database holds at start is as durable as it gets.
        let on_disk: i64 =
            pusher.query_row("SELECT coalesce(max(seq), 0) FROM changes", [], |r| {
                r.get(0)
            })?;
        let state = WalState {
            written_seq: on_disk as u64,
            synced_seq: on_disk as u64,
            ..WalState::default()
        };
        let wal = Arc::new(WalSyncer {
            state: Mutex::new(state),
            work: Condvar::new(),
            done: Condvar::new(),
        });
        let w2 = wal.clone();
        let syncer = std::thread::Builder::new()
            .name("gridwork-wal-sync".into())
            .spawn(move || w2.run(wal_file))?;
        let w3 = wal.clone();
        let checkpoints = std::thread::Builder::new()
            .name("gridwork-checkpoint".into())
            .spawn(move || w3.checkpoints(checkpointer))?;
        Ok(SqliteStore {
            pusher: Mutex::new(Pusher { conn: pusher }),
            docs: Mutex::new(HashMap::new()),
            writer: Mutex::new(writer),
            wal,
            syncer: Some(syncer),
            checkpoints: Some(checkpoints),
            readers,
            next_reader: AtomicUsize::new(0),
            epoch_conn,
            auth_cache: Mutex::new(HashMap::new()),
            org_cache: Mutex::new(None),
        })
    }

    fn write(&self) -> MutexGuard<'_, Connection> {
        lock(&self.writer)
    }

    fn auth_epoch(&self) -> Result<i64> {
        let conn = lock(&self.epoch_conn);
        let n = conn
            .prepare_cached("SELECT n FROM auth_epoch WHERE id = 1")?
            .query_row([], |r| r.get(0))?;
        Ok(n)
    }

    #[allow(clippy::type_complexity)]
    /// Runs `decide` for each document inside the open transaction `conn`; returns the loaded
    /// documents to cache once the transaction commits.
    fn push_in_tx(
        conn: &Connection,
        cache: &Mutex<DocCache>,
        device_id: &str,
        doc_ids: &[String],
        decide: &mut Decide<'_>,
    ) -> Result<Vec<(String, String, Arc<LoadedDoc>)>> {
        let now_t = Utc::now();
        let now = ts(now_t);
        let mut loaded = Vec::new();
        // Quota accounting: what this push adds to the device's day (stored changes only; a
        // change the server already held is not counted again).
        let mut usage = DeviceUsage::default();
        for doc_id in doc_ids {
            let cached = lock(cache).get(doc_id.as_str()).cloned();
            let stored = match cached {
                Some((grid, l)) => Some(StoredDoc {
                    snapshot: Vec::new(),
                    grid,
                    loaded: Some(l),
                }),
                None => conn
                    .prepare_cached("SELECT snapshot, grid FROM docs WHERE doc_id = ?1")?
                    .query_row([doc_id], |r| {
                        Ok(StoredDoc {
                            snapshot: r.get(0)?,
                            grid: r.get(1)?,
                            loaded: None,
                        })
                    })
                    .optional()?,
            };
            let is_new = stored.is_none();
            let Some(update) = decide(doc_id, stored)? else {
                continue;
            };
            {
                let mut ins = conn.prepare_cached(
                    "INSERT INTO changes (doc_id, hash, grid, device_id, bytes) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (doc_id, hash) DO NOTHING",
                )?;
                for (hash, bytes) in &update.new_changes {
                    if ins.execute(params![doc_id, hash, update.grid, device_id, bytes])? > 0 {
                        usage.changes += 1;
                        usage.bytes += bytes.len() as u64;
                    }
                }
            }
            if is_new {
                usage.new_docs += 1;
            }
            conn.prepare_cached(
                "INSERT INTO docs (doc_id, grid, kind, snapshot, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (doc_id) DO UPDATE SET grid = excluded.grid, kind = excluded.kind,
                     snapshot = excluded.snapshot, updated_at = excluded.updated_at",
            )?
            .execute(params![doc_id, update.grid, update.kind, update.snapshot, now])?;
            conn.prepare_cached("DELETE FROM blob_refs WHERE doc_id = ?1")?
                .execute([doc_id])?;
            if !update.blob_refs.is_empty() {
                let mut ins = conn.prepare_cached(
                    "INSERT OR IGNORE INTO blob_refs (hash, doc_id, grid) VALUES (?1, ?2, ?3)",
                )?;
                for h in &update.blob_refs {
                    ins.execute(params![h, doc_id, update.grid])?;
                }
            }
            crate::sqlite_records::write_row(conn, doc_id, &update, now_ms())?;
            if let Some(l) = update.loaded {
                loaded.push((doc_id.clone(), update.grid, l));
            }
        }
        if usage != DeviceUsage::default() {
            conn.prepare_cached(
                "INSERT INTO device_usage (device_id, day, new_docs, changes, bytes) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (device_id, day) DO UPDATE SET new_docs = new_docs + excluded.new_docs,
                     changes = changes + excluded.changes, bytes = bytes + excluded.bytes",
            )?
            .execute(params![
                device_id,
                utc_day(now_t),
                usage.new_docs as i64,
                usage.changes as i64,
                usage.bytes as i64
            ])?;
        }
        Ok(loaded)
    }

    /// The highest change seq a pull may return: what this process's pushes made durable, raised
    /// to what another process (the admin CLI, `synchronous=FULL`) or this process's other
    /// connection committed. When the push lock is free, none of this process's pushes is in
    /// flight: every seq on disk above `written_seq` was committed elsewhere with a full fsync of
    /// the WAL, which also made every earlier frame (ours included) durable.
    fn durable_seq(&self) -> Result<u64> {
        if let Ok(p) = self.pusher.try_lock() {
            let on_disk: i64 = p
                .conn
                .prepare_cached("SELECT coalesce(max(seq), 0) FROM changes")?
                .query_row([], |r| r.get(0))?;
            let on_disk = on_disk.max(0) as u64;
            let mut st = lock(&self.wal.state);
            if on_disk > st.written_seq {
                st.written_seq = on_disk;
                st.synced_seq = st.synced_seq.max(on_disk);
            }
            return Ok(st.synced_seq);
        }
        Ok(lock(&self.wal.state).synced_seq)
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        let n = self.readers.len();
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(g) = self.readers[(start + i) % n].try_lock() {
                return g;
            }
        }
        lock(&self.readers[start % n])
    }

    fn load_org(conn: &Connection) -> Result<OrgRows> {
        let version: i64 =
            conn.query_row("SELECT n FROM dir_seq WHERE id = 1", [], |r| r.get(0))?;
        let mut st = conn.prepare(
            "SELECT id, kind, parent_id, name, boundary, dir_version FROM units ORDER BY id",
        )?;
        let units = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter_map(|(id, kind, parent, name, boundary, v)| {
                // A row this build cannot read is left out of directories, not fatal.
                let kind = kind.parse::<UnitKind>().ok()?;
                let boundary = boundary.and_then(|b| serde_json::from_str::<Boundary>(&b).ok());
                Some(OrgUnit {
                    id,
                    kind,
                    parent,
                    name,
                    boundary,
                    dir_version: u64::try_from(v).unwrap_or(0),
                })
            })
            .collect();
        let mut attached: HashMap<String, Vec<String>> = HashMap::new();
        let mut st = conn.prepare("SELECT user_id, unit_id FROM user_units ORDER BY unit_id")?;
        for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (u, unit) = row?;
            attached.entry(u).or_default().push(unit);
        }
        let mut st = conn.prepare(
            "SELECT id, username, display_name, role, disabled,
                    CASE WHEN phone_shared THEN phone END, dir_version FROM users",
        )?;
        let people = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, bool>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter_map(|(id, username, display_name, role, disabled, phone, v)| {
                let role = role.parse::<Role>().ok()?;
                let units = attached.remove(&id).unwrap_or_default();
                Some(OrgPerson {
                    id,
                    username,
                    display_name,
                    role,
                    units,
                    shared_phone: phone,
                    disabled,
                    dir_version: u64::try_from(v).unwrap_or(0),
                })
            })
            .collect();
        Ok(OrgRows {
            version: u64::try_from(version).unwrap_or(0),
            units,
            people,
        })
    }

    fn user_units(conn: &Connection, user_id: &str) -> Result<Vec<String>> {
        let mut st = conn
            .prepare_cached("SELECT unit_id FROM user_units WHERE user_id = ?1 ORDER BY unit_id")?;
        let rows = st
            .query_map([user_id], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(rows)
    }

    fn row_user(conn: &Connection, r: (String, String, String, String, bool)) -> Result<User> {
        let (id, username, display_name, role, disabled) = r;
        let role = role
            .parse()
            .map_err(|_| Error::Other(format!("user {username} has unknown role {role}")))?;
        let units = Self::user_units(conn, &id)?;
        Ok(User {
            id,
            username,
            display_name,
            role,
            units,
            disabled,
        })
    }
}

/// Brings the server database up to date with [`gridwork_model::migrate`] (the device store's
/// helper too).
fn migrate(conn: &mut Connection) -> Result<()> {
    use gridwork_model::migrate::MigrateError;
    match gridwork_model::migrate::migrate(conn, MIGRATIONS, None) {
        Ok(_) => Ok(()),
        Err(MigrateError::Sqlite(e)) => Err(Error::Sqlite(e)),
        Err(MigrateError::TooNew { found, supported }) => Err(Error::Other(format!(
            "database schema version {found} is newer than this server ({supported}); upgrade the server"
        ))),
    }
}

const GRIDS_UNDER: &str = "
    WITH RECURSIVE sub(id, kind) AS (
        SELECT u.id, u.kind FROM units u JOIN user_units uu ON uu.unit_id = u.id WHERE uu.user_id = ?1
        UNION
        SELECT c.id, c.kind FROM units c JOIN sub ON c.parent_id = sub.id
    )
    SELECT id FROM sub WHERE kind = 'grid' ORDER BY id";

impl ServerStore for SqliteStore {
    fn set_boundary(&self, unit_id: &str, boundary: Option<&Boundary>) -> Result<()> {
        let conn = self.write();
        let kind: Option<String> = conn
            .query_row("SELECT kind FROM units WHERE id = ?1", [unit_id], |r| {
                r.get(0)
            })
            .optional()?;
        match kind.as_deref() {
            None => return Err(Error::NotFound(format!("unit {unit_id}"))),
            Some("grid") => {}
            Some(_) => {
                return Err(Error::Invalid(format!(
                    "unit {unit_id} is not a grid; only grids have boundaries"
                )))
            }
        }
        let json = boundary
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| Error::Other(e.to_string()))?;
        conn.execute(
            "UPDATE units SET boundary = ?2 WHERE id = ?1",
            params![unit_id, json],
        )?;
        Ok(())
    }

    fn update_user(&self, username: &str, update: &UserUpdate) -> Result<User> {
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id: String = tx
            .query_row(
                "SELECT id FROM users WHERE username = ?1",
                [username],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("user {username}")))?;
        // One statement per field given; `IS NOT` leaves an unchanged row untouched, so its
        // directory version (stamped by trigger) does not move and devices are sent nothing.
        let fields: [(&str, Option<rusqlite::types::Value>); 5] = [
            ("display_name", update.display_name.clone().map(Into::into)),
            ("role", update.role.map(|r| r.as_str().to_owned().into())),
            (
                "phone",
                update
                    .phone
                    .clone()
                    .map(|p| p.map_or(rusqlite::types::Value::Null, Into::into)),
            ),
            ("phone_shared", update.phone_shared.map(Into::into)),
            ("disabled", update.disabled.map(Into::into)),
        ];
        for (column, value) in fields {
            if let Some(v) = value {
                // Column names come from the fixed list above, never from input.
                tx.execute(
                    &format!("UPDATE users SET {column} = ?2 WHERE id = ?1 AND {column} IS NOT ?2"),
                    params![id, v],
                )?;
            }
        }
        if let Some(units) = &update.units {
            for unit in units {
                let exists: bool = tx.query_row(
                    "SELECT EXISTS(SELECT 1 FROM units WHERE id = ?1)",
                    [unit],
                    |r| r.get(0),
                )?;
                if !exists {
                    return Err(Error::Invalid(format!("unit {unit} does not exist")));
                }
            }
            let current = Self::user_units(&tx, &id)?;
            for old in current.iter().filter(|u| !units.contains(u)) {
                tx.execute(
                    "DELETE FROM user_units WHERE user_id = ?1 AND unit_id = ?2",
                    params![id, old],
                )?;
            }
            for new in units.iter().filter(|u| !current.contains(u)) {
                tx.execute(
                    "INSERT OR IGNORE INTO user_units (user_id, unit_id) VALUES (?1, ?2)",
                    params![id, new],
                )?;
            }
        }
        let row = tx.query_row(
            "SELECT id, username, display_name, role, disabled FROM users WHERE id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let user = Self::row_user(&tx, row)?;
        tx.commit()?;
        Ok(user)
    }

    fn dir_version(&self) -> Result<u64> {
        let conn = lock(&self.epoch_conn);
        let n: i64 = conn
            .prepare_cached("SELECT n FROM dir_seq WHERE id = 1")?
            .query_row([], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn org_snapshot(&self) -> Result<Arc<OrgSnapshot>> {
        let version = self.dir_version()?;
        if let Some(s) = lock(&self.org_cache).as_ref() {
            if s.version == version {
                return Ok(Arc::clone(s));
            }
        }
        // Built outside the cache lock: a slow rebuild never blocks a sync that finds the
        // cache current. Read in one transaction, so the rows and their version agree.
        let rows = {
            let mut conn = self.reader();
            let tx = conn.transaction()?;
            let rows = Self::load_org(&tx)?;
            tx.commit()?;
            rows
        };
        let snap = Arc::new(OrgSnapshot::new(rows));
        let mut cache = lock(&self.org_cache);
        if cache.as_ref().is_none_or(|c| c.version < snap.version) {
            *cache = Some(Arc::clone(&snap));
        }
        Ok(snap)
    }

    fn upsert_unit(&self, unit: &Unit) -> Result<()> {
        let conn = self.write();
        if unit.id.trim().is_empty() {
            return Err(Error::Invalid("unit id must not be empty".into()));
        }
        match (&unit.parent_id, unit.kind.parent_kind()) {
            (None, None) => {}
            (None, Some(_)) if unit.kind == UnitKind::Street => {}
            (None, Some(k)) => {
                return Err(Error::Invalid(format!(
                    "{} {} needs a parent {}",
                    unit.kind.as_str(),
                    unit.id,
                    k.as_str()
                )))
            }
            (Some(_), None) => {
                return Err(Error::Invalid(format!(
                    "district {} cannot have a parent",
                    unit.id
                )))
            }
            (Some(p), Some(k)) => {
                let pk: Option<String> = conn
                    .query_row("SELECT kind FROM units WHERE id = ?1", [p], |r| r.get(0))
                    .optional()?;
                match pk {
                    None => {
                        return Err(Error::Invalid(format!(
                            "parent unit {p} of {} does not exist",
                            unit.id
                        )))
                    }
                    Some(pk) if pk != k.as_str() => {
                        return Err(Error::Invalid(format!(
                            "parent of {} {} must be a {}, but {p} is a {pk}",
                            unit.kind.as_str(),
                            unit.id,
                            k.as_str()
                        )))
                    }
                    Some(_) => {}
                }
            }
        }
        let existing: Option<String> = conn
            .query_row("SELECT kind FROM units WHERE id = ?1", [&unit.id], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(k) = existing {
            if k != unit.kind.as_str() {
                return Err(Error::Invalid(format!("unit {} exists as a {k}", unit.id)));
            }
        }
        conn.execute(
            "INSERT INTO units (id, kind, parent_id, name) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(id) DO UPDATE SET parent_id = excluded.parent_id, name = excluded.name",
            params![unit.id, unit.kind.as_str(), unit.parent_id, unit.name],
        )?;
        Ok(())
    }

    fn list_units(&self) -> Result<Vec<Unit>> {
        let conn = self.reader();
        let mut st =
            conn.prepare("SELECT id, kind, parent_id, name FROM units ORDER BY kind, id")?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(id, kind, parent_id, name)| {
                let kind = kind
                    .parse::<UnitKind>()
                    .ok()
                    .ok_or_else(|| Error::Other(format!("unit {id}: bad kind")))?;
                Ok(Unit {
                    id,
                    kind,
                    parent_id,
                    name,
                })
            })
            .collect()
    }

    fn create_user(&self, user: &NewUser, password_hash: &str) -> Result<User> {
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let username = user.username.trim();
        if username.is_empty() || username.chars().any(char::is_whitespace) {
            return Err(Error::Invalid(
                "username must be non-empty without spaces".into(),
            ));
        }
        let exists: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM users WHERE username = ?1)",
            [username],
            |r| r.get(0),
        )?;
        if exists {
            return Err(Error::Invalid(format!("user {username} already exists")));
        }
        let id = uuid::Uuid::now_v7().to_string();
        tx.execute(
            "INSERT INTO users (id, username, display_name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, username, user.display_name, user.role.as_str(), password_hash, ts(Utc::now())],
        )?;
        for unit in &user.units {
            let kind: Option<String> = tx
                .query_row("SELECT kind FROM units WHERE id = ?1", [unit], |r| r.get(0))
                .optional()?;
            if kind.is_none() {
                return Err(Error::Invalid(format!("unit {unit} does not exist")));
            }
            tx.execute(
                "INSERT OR IGNORE INTO user_units (user_id, unit_id) VALUES (?1, ?2)",
                params![id, unit],
            )?;
        }
        tx.commit()?;
        drop(conn);
        let mut units = user.units.clone();
        units.sort();
        units.dedup();
        Ok(User {
            id,
            username: username.to_owned(),
            display_name: user.display_name.clone(),
            role: user.role,
            units,
            disabled: false,
        })
    }

    fn set_password(&self, username: &str, password_hash: &str) -> Result<()> {
        let conn = self.write();
        let n = conn.execute(
            "UPDATE users SET password_hash = ?2 WHERE username = ?1",
            params![username, password_hash],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("user {username}")));
        }
        Ok(())
    }

    fn user_by_username(&self, username: &str) -> Result<Option<(User, String)>> {
        let conn = self.reader();
        let row = conn
            .query_row(
                "SELECT id, username, display_name, role, disabled, password_hash FROM users WHERE username = ?1",
                [username],
                |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?), r.get::<_, String>(5)?)),
            )
            .optional()?;
        match row {
            None => Ok(None),
            Some((u, hash)) => Ok(Some((Self::row_user(&conn, u)?, hash))),
        }
    }

    fn list_users(&self) -> Result<Vec<User>> {
        let conn = self.reader();
        let mut st = conn.prepare(
            "SELECT id, username, display_name, role, disabled FROM users ORDER BY username",
        )?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(|u| Self::row_user(&conn, u)).collect()
    }

    fn user_count(&self) -> Result<u64> {
        let conn = self.reader();
        Ok(conn.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0))? as u64)
    }

    fn scope(&self, user: &User) -> Result<Scope> {
        if user.role == gridwork_model::Role::Admin {
            return Ok(Scope::All);
        }
        let conn = self.reader();
        let mut st = conn.prepare_cached(GRIDS_UNDER)?;
        let grids = st
            .query_map([&user.id], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(Scope::Grids(grids))
    }

    fn scope_grid_ids(&self, scope: &Scope) -> Result<Vec<String>> {
        match scope {
            Scope::Grids(g) => Ok(g.clone()),
            Scope::All => {
                let conn = self.reader();
                let mut st =
                    conn.prepare_cached("SELECT id FROM units WHERE kind = 'grid' ORDER BY id")?;
                let grids = st
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<Vec<String>, _>>()?;
                Ok(grids)
            }
        }
    }

    fn create_device(
        &self,
        user_id: &str,
        name: &str,
        token_hash: &[u8; 32],
        expires_at: DateTime<Utc>,
        actors: &[String],
    ) -> Result<String> {
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for actor in actors {
            let owner: Option<String> = tx
                .query_row(
                    "SELECT d.user_id FROM device_actors a JOIN devices d ON d.id = a.device_id WHERE a.actor = ?1",
                    [actor],
                    |r| r.get(0),
                )
                .optional()?;
            if owner.is_some_and(|o| o != user_id) {
                return Err(Error::Forbidden(format!(
                    "actor {actor} is registered to another user's device"
                )));
            }
        }
        let id = uuid::Uuid::now_v7().to_string();
        tx.execute(
            "INSERT INTO devices (id, user_id, name, token_hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, user_id, name, &token_hash[..], ts(Utc::now()), ts(expires_at)],
        )?;
        for actor in actors {
            tx.execute(
                "INSERT INTO device_actors (actor, device_id) VALUES (?1, ?2)
                 ON CONFLICT(actor) DO UPDATE SET device_id = excluded.device_id",
                params![actor, id],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    fn device_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<DeviceAuth>> {
        let conn = self.reader();
        let row = conn
            .query_row(
                "SELECT d.id, d.expires_at, d.revoked_at IS NOT NULL,
                        u.id, u.username, u.display_name, u.role, u.disabled
                 FROM devices d JOIN users u ON u.id = d.user_id WHERE d.token_hash = ?1",
                [&token_hash[..]],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, bool>(2)?,
                        (r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?),
                    ))
                },
            )
            .optional()?;
        let Some((device_id, expires_at, revoked, u)) = row else {
            return Ok(None);
        };
        let user = Self::row_user(&conn, u)?;
        let mut st = conn.prepare_cached("SELECT actor FROM device_actors WHERE device_id = ?1")?;
        let actors = st
            .query_map([&device_id], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(Some(DeviceAuth {
            device_id,
            user,
            expires_at: from_ts(expires_at),
            revoked,
            actors,
        }))
    }

    fn cached_auth(&self, token_hash: &[u8; 32]) -> Option<(DeviceAuth, Scope)> {
        let epoch = self.auth_epoch().ok()?;
        let cache = lock(&self.auth_cache);
        let hit = cache.get(token_hash)?;
        (hit.epoch == epoch).then(|| (hit.device.clone(), hit.scope.clone()))
    }

    fn auth(&self, token_hash: &[u8; 32]) -> Result<Option<(DeviceAuth, Scope)>> {
        // The epoch is read before the lookup: a change committed in between makes the entry
        // stale at once instead of hiding it.
        let epoch = self.auth_epoch()?;
        let Some(device) = self.device_by_token(token_hash)? else {
            return Ok(None);
        };
        let scope = self.scope(&device.user)?;
        let mut cache = lock(&self.auth_cache);
        if cache.len() >= AUTH_CACHE_MAX {
            cache.clear();
        }
        cache.insert(
            *token_hash,
            CachedAuth {
                epoch,
                device: device.clone(),
                scope: scope.clone(),
            },
        );
        Ok(Some((device, scope)))
    }

    fn touch_device(&self, device_id: &str) -> Result<()> {
        let conn = self.write();
        conn.execute(
            "UPDATE devices SET last_seen_at = ?2 WHERE id = ?1",
            params![device_id, ts(Utc::now())],
        )?;
        Ok(())
    }

    fn revoke_device(&self, device_id: &str) -> Result<bool> {
        let conn = self.write();
        let n = conn.execute(
            "UPDATE devices SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
            params![device_id, ts(Utc::now())],
        )?;
        Ok(n > 0)
    }

    fn revoke_user_devices(&self, username: &str) -> Result<usize> {
        let conn = self.write();
        let exists: bool = conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM users WHERE username = ?1)",
            [username],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(Error::NotFound(format!("user {username}")));
        }
        let n = conn.execute(
            "UPDATE devices SET revoked_at = ?2
             WHERE revoked_at IS NULL AND user_id = (SELECT id FROM users WHERE username = ?1)",
            params![username, ts(Utc::now())],
        )?;
        Ok(n)
    }

    fn list_devices(&self, username: Option<&str>) -> Result<Vec<DeviceInfo>> {
        let conn = self.reader();
        let mut st = conn.prepare(
            "SELECT d.id, u.username, d.name, d.created_at, d.expires_at, d.revoked_at IS NOT NULL, d.last_seen_at
             FROM devices d JOIN users u ON u.id = d.user_id
             WHERE ?1 IS NULL OR u.username = ?1 ORDER BY u.username, d.created_at",
        )?;
        let rows = st
            .query_map([username], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, bool>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(rows.len());
        let mut actors_st = conn.prepare_cached(
            "SELECT actor FROM device_actors WHERE device_id = ?1 ORDER BY actor",
        )?;
        for (device_id, username, name, created, expires, revoked, seen) in rows {
            let actors = actors_st
                .query_map([&device_id], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            out.push(DeviceInfo {
                device_id,
                username,
                name,
                created_at: from_ts(created),
                expires_at: from_ts(expires),
                revoked,
                last_seen_at: seen.map(from_ts),
                actors,
            });
        }
        Ok(out)
    }

    /// One write transaction per push on the `synchronous=NORMAL` push connection, then a wait
    /// for the WAL fsync that covers it (`WalSyncer`): durable before it is answered.
    fn push(&self, device_id: &str, doc_ids: &[String], decide: &mut Decide<'_>) -> Result<()> {
        let n = {
            let mut p = lock(&self.pusher);
            let tx = p
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let loaded = Self::push_in_tx(&tx, &self.docs, device_id, doc_ids, decide)?;
            let seq: i64 = tx
                .prepare_cached("SELECT coalesce(max(seq), 0) FROM changes")?
                .query_row([], |r| r.get(0))?;
            tx.commit()?;
            let mut docs = lock(&self.docs);
            for (id, grid, l) in loaded {
                if docs.len() >= DOC_CACHE_MAX {
                    if let Some(k) = docs.keys().next().cloned() {
                        docs.remove(&k);
                    }
                }
                docs.insert(id, (grid, l));
            }
            self.wal.committed(seq as u64)
        };
        let deferred = DEFERRED.with(|d| match d.get() {
            Some(t) => {
                d.set(Some(t.max(n)));
                true
            }
            None => false,
        });
        if deferred {
            return Ok(());
        }
        self.wal.wait_durable(n)
    }

    fn defer_push_durability(&self) {
        DEFERRED.with(|d| d.set(Some(d.get().unwrap_or(0))));
    }

    fn finish_deferred_pushes(&self) -> Result<()> {
        match DEFERRED.with(std::cell::Cell::take) {
            Some(n) if n > 0 => self.wal.wait_durable(n),
            _ => Ok(()),
        }
    }

    fn peek_doc(&self, doc_id: &str) -> Result<Option<StoredDoc>> {
        if let Some((grid, l)) = lock(&self.docs).get(doc_id).cloned() {
            return Ok(Some(StoredDoc {
                snapshot: Vec::new(),
                grid,
                loaded: Some(l),
            }));
        }
        let conn = self.reader();
        let stored = conn
            .prepare_cached("SELECT snapshot, grid FROM docs WHERE doc_id = ?1")?
            .query_row([doc_id], |r| {
                Ok(StoredDoc {
                    snapshot: r.get(0)?,
                    grid: r.get(1)?,
                    loaded: None,
                })
            })
            .optional()?;
        Ok(stored)
    }

    fn pull(
        &self,
        scope: &Scope,
        after: u64,
        exclude_device: Option<&str>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<PullPage> {
        // Only changes known to be on disk (read before the snapshot: all of them are in it).
        let durable = i64::try_from(self.durable_seq()?).unwrap_or(i64::MAX);
        let mut conn = self.reader();
        // One read transaction: the max seq and the rows come from the same snapshot.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let max_seq: i64 = tx.query_row("SELECT coalesce(max(seq), 0) FROM changes", [], |r| {
            r.get(0)
        })?;
        let max_seq = max_seq.min(durable);
        let after_i = i64::try_from(after).unwrap_or(i64::MAX);
        let mut page = PullPage {
            changes: Vec::new(),
            position: after,
            more: false,
        };
        if max_seq <= after_i {
            // Nothing new (or a cursor from a database that was reset: keep it, it is harmless).
            return Ok(page);
        }
        let (sql, grids_json) = match scope {
            // Documents an admin quarantined are left out (their history stays in `changes`).
            Scope::All => ("SELECT seq, doc_id, bytes, device_id FROM changes WHERE seq > ?1 AND seq <= ?2 AND ?3 IS NULL
                 AND doc_id NOT IN (SELECT doc_id FROM quarantined_docs) ORDER BY seq", None),
            Scope::Grids(g) => (
                "SELECT seq, doc_id, bytes, device_id FROM changes
                 WHERE seq > ?1 AND seq <= ?2 AND grid IN (SELECT value FROM json_each(?3))
                 AND doc_id NOT IN (SELECT doc_id FROM quarantined_docs) ORDER BY seq",
                Some(serde_json::to_string(g).map_err(|e| Error::Other(e.to_string()))?),
            ),
        };
        let mut bytes_total = 0usize;
        {
            let mut st = tx.prepare_cached(sql)?;
            let mut rows = st.query(params![after_i, max_seq, grids_json])?;
            let mut stopped = false;
            while let Some(r) = rows.next()? {
                let seq: i64 = r.get(0)?;
                let dev: Option<String> = r.get(3)?;
                if exclude_device.is_some() && dev.as_deref() == exclude_device {
                    page.position = seq as u64;
                    continue;
                }
                let bytes: Vec<u8> = r.get(2)?;
                if page.changes.len() >= limit
                    || (!page.changes.is_empty() && bytes_total + bytes.len() > max_bytes)
                {
                    page.more = true;
                    stopped = true;
                    break;
                }
                bytes_total += bytes.len();
                page.changes.push((seq as u64, r.get(1)?, bytes));
                page.position = seq as u64;
            }
            if !stopped {
                // Everything up to max_seq was seen: skip past changes outside the scope too.
                page.position = max_seq as u64;
            }
        }
        tx.commit()?;
        Ok(page)
    }

    fn blob_read_grids(&self, hash: &str) -> Result<Vec<String>> {
        let conn = self.reader();
        let mut st = conn.prepare_cached(
            "SELECT DISTINCT r.grid FROM blob_uploads u
             JOIN blob_refs r ON r.hash = u.hash AND r.doc_id = u.doc_id
             WHERE u.hash = ?1 AND u.doc_id NOT IN (SELECT doc_id FROM quarantined_docs)",
        )?;
        let grids = st
            .query_map([hash], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(grids)
    }

    fn blob_ref_grid(&self, hash: &str, doc_id: &str) -> Result<Option<String>> {
        let conn = self.reader();
        let grid = conn
            .prepare_cached(
                "SELECT grid FROM blob_refs WHERE hash = ?1 AND doc_id = ?2
                 AND doc_id NOT IN (SELECT doc_id FROM quarantined_docs)",
            )?
            .query_row([hash, doc_id], |r| r.get(0))
            .optional()?;
        Ok(grid)
    }

    fn blob_uploaded_for(&self, hash: &str, doc_id: &str) -> Result<bool> {
        let conn = self.reader();
        let found = conn
            .prepare_cached("SELECT 1 FROM blob_uploads WHERE hash = ?1 AND doc_id = ?2")?
            .query_row([hash, doc_id], |_| Ok(()))
            .optional()?;
        Ok(found.is_some())
    }

    fn record_blob_upload(&self, hash: &str, doc_id: &str, device_id: &str) -> Result<()> {
        let conn = self.write();
        conn.prepare_cached(
            "INSERT INTO blob_uploads (hash, doc_id, device_id, at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (hash, doc_id) DO NOTHING",
        )?
        .execute(params![hash, doc_id, device_id, ts(Utc::now())])?;
        Ok(())
    }

    fn usage_today(&self, device_id: &str) -> Result<DeviceUsage> {
        let conn = self.reader();
        let usage = conn
            .prepare_cached(
                "SELECT new_docs, changes, bytes FROM device_usage WHERE device_id = ?1 AND day = ?2",
            )?
            .query_row(params![device_id, utc_day(Utc::now())], |r| {
                Ok(DeviceUsage {
                    new_docs: r.get::<_, i64>(0)?.max(0) as u64,
                    changes: r.get::<_, i64>(1)?.max(0) as u64,
                    bytes: r.get::<_, i64>(2)?.max(0) as u64,
                })
            })
            .optional()?;
        Ok(usage.unwrap_or_default())
    }

    fn doc_quarantined(&self, doc_id: &str) -> Result<bool> {
        let conn = self.reader();
        let found = conn
            .prepare_cached("SELECT 1 FROM quarantined_docs WHERE doc_id = ?1")?
            .query_row([doc_id], |_| Ok(()))
            .optional()?;
        Ok(found.is_some())
    }

    fn quarantine_doc(&self, doc_id: &str, reason: Option<&str>) -> Result<bool> {
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists = tx
            .query_row("SELECT 1 FROM docs WHERE doc_id = ?1", [doc_id], |_| Ok(()))
            .optional()?
            .is_some();
        if !exists {
            return Err(Error::NotFound(format!("document {doc_id}")));
        }
        let n = tx.execute(
            "INSERT INTO quarantined_docs (doc_id, reason, at) VALUES (?1, ?2, ?3)
             ON CONFLICT (doc_id) DO NOTHING",
            params![doc_id, reason, ts(Utc::now())],
        )?;
        tx.commit()?;
        Ok(n > 0)
    }

    fn list_quarantined_docs(&self) -> Result<Vec<QuarantinedDoc>> {
        let conn = self.reader();
        let mut st = conn.prepare(
            "SELECT q.doc_id, q.reason, q.at, d.kind, d.grid,
                    (SELECT count(*) FROM changes c WHERE c.doc_id = q.doc_id)
             FROM quarantined_docs q LEFT JOIN docs d ON d.doc_id = q.doc_id ORDER BY q.at, q.doc_id",
        )?;
        let rows = st
            .query_map([], |r| {
                Ok(QuarantinedDoc {
                    doc_id: r.get(0)?,
                    reason: r.get(1)?,
                    at: from_ts(r.get(2)?),
                    kind: r.get(3)?,
                    grid: r.get(4)?,
                    changes: r.get::<_, i64>(5)?.max(0) as u64,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Lifts the quarantine and gives the document's changes new, higher seq numbers (same
    /// order), so devices whose cursor passed them while they were left out pull them again.
    /// One `synchronous=FULL` transaction: durable when it returns, which lets pulls of a server
    /// running in another process return the new seqs (see `durable_seq`).
    fn restore_doc(&self, doc_id: &str) -> Result<u64> {
        let mut conn = self.write();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute("DELETE FROM quarantined_docs WHERE doc_id = ?1", [doc_id])?;
        if n == 0 {
            return Err(Error::NotFound(format!("quarantined document {doc_id}")));
        }
        let rows = {
            let mut st = tx.prepare(
                "SELECT hash, grid, device_id, bytes FROM changes WHERE doc_id = ?1 ORDER BY seq",
            )?;
            let rows = st
                .query_map([doc_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        };
        tx.execute("DELETE FROM changes WHERE doc_id = ?1", [doc_id])?;
        {
            // AUTOINCREMENT: new seqs are above every seq ever used.
            let mut ins = tx.prepare(
                "INSERT INTO changes (doc_id, hash, grid, device_id, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (hash, grid, device, bytes) in &rows {
                ins.execute(params![doc_id, hash, grid, device, bytes])?;
            }
        }
        tx.commit()?;
        Ok(rows.len() as u64)
    }

    fn health(&self) -> Result<()> {
        let conn = self.reader();
        conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
        Ok(())
    }

    fn list_records(
        &self,
        scope: &Scope,
        q: &crate::records::RecordQuery,
    ) -> Result<Vec<crate::records::RecordRow>> {
        crate::sqlite_records::list(&self.reader(), scope, q)
    }

    fn record_row(&self, doc_id: &str) -> Result<Option<crate::records::RecordRow>> {
        crate::sqlite_records::row(&self.reader(), doc_id)
    }

    fn dashboard(
        &self,
        scope: &Scope,
        at: &crate::records::DashboardAt,
    ) -> Result<crate::records::Dashboard> {
        crate::sqlite_records::dashboard(&self.reader(), scope, at)
    }

    fn log_access(&self, entry: &crate::records::AccessEntry) -> Result<()> {
        crate::sqlite_records::log_access(&self.write(), entry)
    }

    fn access_log(&self, limit: usize) -> Result<Vec<crate::records::AccessEntry>> {
        crate::sqlite_records::access_log(&self.reader(), limit)
    }
}
