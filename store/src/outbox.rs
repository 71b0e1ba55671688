//! The device side of sync inside the store: the outbox, applying a sync answer (acks, refusals,
//! pulled changes through the tolerant gate, the cursor), quarantine, set-aside documents and
//! quota holds. The network side is `gridwork_client`.

use super::*;

impl Store {
    /// Pending changes, oldest first, grouped by document, up to about `max_bytes` and within
    /// the server's per-request quotas ([`gate::MAX_PUSH_DOCS`], [`gate::MAX_PUSH_CHANGES`],
    /// [`gate::MAX_PUSH_NEW_DOCS`], [`gate::MAX_PUSH_OPS`]): an honest device never trips them,
    /// a large outbox goes over several requests. At least one change when any is pending.
    pub(crate) fn outbox(&self, max_bytes: usize) -> Result<Vec<OutgoingDoc>> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(concat!(
            "SELECT seq, doc_id, hash, bytes FROM changes WHERE state = ",
            state!(pending),
            " ORDER BY seq"
        ))?;
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
    /// See [`Store::apply_sync_page`].
    pub(crate) fn apply_sync(&self, s: SyncApply) -> Result<Vec<String>> {
        Ok(self.apply_sync_page(s)?.changed)
    }

    /// [`Store::apply_sync`], also telling which pulled documents were set aside. No pulled
    /// document can fail the page: one whose id breaks the id rule, whose changes do not parse
    /// or apply, or that is over a limit is set aside ([`Store::set_aside`]) and everything
    /// else, cursor included, is applied.
    pub(crate) fn apply_sync_page(&self, s: SyncApply) -> Result<AppliedPage> {
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
                directory: s.directory,
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
            at_ms: gridwork_model::Millis(v.get("at_ms").and_then(J::as_i64).unwrap_or(0)),
            held: v.get("held").and_then(J::as_u64).unwrap_or(0),
        }))
    }

    /// Notes a quota hold (the sync client does this when the server answers `quota`).
    pub(crate) fn set_quota_hold(&self, q: &QuotaHold) -> Result<()> {
        let v = serde_json::json!({ "reason": q.reason, "at_ms": q.at_ms, "held": q.held });
        self.set_meta(META_QUOTA, &v.to_string())
    }

    /// Changes the server refused, with the reason. They stay on the device.
    pub fn quarantine(&self) -> Result<Vec<QuarantinedChange>> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(concat!(
            "SELECT doc_id, hash, field, reason, at FROM changes WHERE state = ",
            state!(quarantined),
            " ORDER BY seq"
        ))?;
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
            let mut st = w.conn.prepare_cached(concat!(
                "SELECT hash FROM changes WHERE doc_id = ?1 AND state = ",
                state!(quarantined)
            ))?;
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
                    .prepare_cached(concat!(
                        "UPDATE changes SET state = ",
                        state!(discarded),
                        ", folded = 1 WHERE doc_id = ?1 AND hash = ?2 AND state IN (",
                        state!(pending),
                        ", ",
                        state!(quarantined),
                        ")"
                    ))?
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
}

/// Meta key of the last quota refusal ([`Store::quota_hold`]).
pub(crate) const META_QUOTA: &str = "sync.quota";

pub(crate) struct SyncExtra {
    acked: Vec<(String, String)>,
    rejected: Vec<Rejection>,
    cursor: Option<String>,
    directory: Option<gridwork_protocol::wire::DirectoryDelta>,
}

impl Writer {
    /// Apply incoming change bytes per document in one transaction.
    ///
    /// `strict` (imports): anything that does not decode, is over a limit or does not hydrate
    /// fails the whole call. Otherwise (pulls) no single document can fail the page: a document
    /// whose id breaks the id rule, whose changes the gate refuses ([`gate::admit_pulled`]: they
    /// do not parse, do not apply, or make a document over a limit) is set aside (table
    /// `set_aside`) and the rest goes on; a document already set aside stays so (its new changes
    /// are counted, not stored). A bounded document that does not hydrate (a newer version's
    /// value) keeps its changes, without a projection until a later change fixes it.
    pub(crate) fn apply_incoming(
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
                    tx.prepare_cached(concat!(
                        "UPDATE changes SET state = ",
                        state!(acked),
                        " WHERE doc_id = ?1 AND hash = ?2 AND state IN (",
                        state!(pending),
                        ", ",
                        state!(quarantined),
                        ")"
                    ))?
                    .execute(params![doc_id, h])?;
                }
                for r in &x.rejected {
                    let h = hash_bytes("rejected.hash", &r.hash)?;
                    tx.prepare_cached(concat!(
                        "UPDATE changes SET state = ",
                        state!(quarantined),
                        ", field = ?3, reason = ?4 WHERE doc_id = ?1 AND hash = ?2 AND state = ",
                        state!(pending)
                    ))?
                    .execute(params![r.doc_id, h, r.field, r.reason])?;
                }
                if let Some(c) = &x.cursor {
                    set_meta(&tx, "sync.cursor", c)?;
                }
                if let Some(d) = &x.directory {
                    crate::directory::apply(&tx, d, at)?;
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
pub(crate) fn apply_strict(
    doc: &mut Automerge,
    id: &str,
    blobs: &[Vec<u8>],
) -> Result<Vec<Change>> {
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
pub(crate) fn creates_doc(b: &[u8]) -> bool {
    pub(crate) fn uleb(b: &[u8], pos: &mut usize) -> Option<u64> {
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
pub(crate) fn invalid_id_key(id: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = hex::encode(Sha256::digest(id.as_bytes()));
    format!("invalid:{}", &h[..16])
}

pub(crate) fn is_set_aside(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM set_aside WHERE doc_id = ?1")?
        .query_row(params![id], |_| Ok(()))
        .optional()?
        .is_some())
}

pub(crate) fn stored_copy_unreadable() -> Refusal {
    Refusal::new(
        RejectCode::Corrupt,
        None,
        "this device's stored copy of the document could not be read",
    )
}

pub(crate) fn unbounded_error(r: &Refusal) -> Error {
    Error::CorruptChange(format!("the document is over a limit: {r}"))
}

/// Refuses a document deeper, bigger or wordier than any record may be
/// ([`gate::check_bounded`]): the reads that follow (`doc::read_json`, conflicts, serde) recurse,
/// so nothing unbounded may reach them.
pub(crate) fn check_bounded(doc: &Automerge) -> std::result::Result<(), Refusal> {
    gate::check_bounded(doc)
}

/// The store's sync plumbing: the steps `gridwork_client` (and tests that play a device) take to
/// run a sync — the outbox, applying an answer, the meta table, photo transfer bookkeeping. Kept
/// off `Store`'s own API, so an app sees records, not protocol steps. Each method is documented
/// on the `Store` method it forwards to.
pub struct SyncSide<'a>(pub(crate) &'a Store);

impl Store {
    /// The sync plumbing of this store (see [`SyncSide`]).
    pub fn sync_side(&self) -> SyncSide<'_> {
        SyncSide(self)
    }
}

impl SyncSide<'_> {
    pub fn outbox(&self, max_bytes: usize) -> Result<Vec<OutgoingDoc>> {
        self.0.outbox(max_bytes)
    }
    pub fn apply_sync(&self, s: SyncApply) -> Result<Vec<String>> {
        self.0.apply_sync(s)
    }
    pub fn apply_sync_page(&self, s: SyncApply) -> Result<AppliedPage> {
        self.0.apply_sync_page(s)
    }
    pub fn set_quota_hold(&self, q: &QuotaHold) -> Result<()> {
        self.0.set_quota_hold(q)
    }
    pub fn get_meta(&self, key: &str) -> Result<Option<String>> {
        self.0.get_meta(key)
    }
    /// Makes the next sync ask for the whole directory (another user signed in).
    pub fn forget_directory_cursor(&self) -> Result<()> {
        self.0.delete_meta("dir.version")?;
        self.0.delete_meta("dir.view")
    }
    /// Where the device's directory stands, for the next sync request.
    pub fn directory_cursor(&self) -> Result<Option<gridwork_protocol::wire::DirCursor>> {
        self.0.dir_cursor()
    }
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.0.set_meta(key, value)
    }
    pub fn delete_meta(&self, key: &str) -> Result<()> {
        self.0.delete_meta(key)
    }
    pub fn mark_uploaded(&self, hash: &str) -> Result<()> {
        self.0.mark_uploaded(hash)
    }
    pub fn put_downloaded_blob(&self, hash: &str, bytes: &[u8]) -> Result<()> {
        self.0.put_downloaded_blob(hash, bytes)
    }
    pub fn pending_uploads(&self) -> Result<Vec<PendingBlob>> {
        self.0.pending_uploads()
    }
    pub fn missing_thumbnails(&self) -> Result<Vec<String>> {
        self.0.missing_thumbnails()
    }
    pub fn assign_upload_records(&self) -> Result<()> {
        self.0.assign_upload_records()
    }
}
