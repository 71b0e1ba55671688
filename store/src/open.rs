//! Opening a store (connections, migrations, identity, change observers), its meta table, and
//! maintenance (compaction, re-projection, integrity).

use super::*;

pub(crate) fn open_conn(path: &Path, opts: &StoreOptions) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // The key first: no page is read before it (a wrong one is `WrongKey` here).
    crypt::apply_key(&conn, opts.key.as_ref())?;
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
        crypt::prepare(&path, opts.key.as_ref())?;
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

    pub(crate) fn principal(&self) -> (Principal, Option<Vec<String>>) {
        let id = lock(&self.identity);
        (
            Principal {
                user_id: id.user_id.clone().into(),
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

    pub(crate) fn notify(&self, ids: Vec<String>, source: ChangeSource) {
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
}

impl Store {
    pub(crate) fn reader_conn(&self) -> MutexGuard<'_, Connection> {
        lock(&self.reader)
    }

    pub(crate) fn writer_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        f(&lock(&self.writer).conn)
    }

    pub(crate) fn get_meta(&self, key: &str) -> Result<Option<String>> {
        get_meta(&lock(&self.reader), key)
    }

    pub(crate) fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        set_meta(&lock(&self.writer).conn, key, value)
    }

    pub(crate) fn delete_meta(&self, key: &str) -> Result<()> {
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
