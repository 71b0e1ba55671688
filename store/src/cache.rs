//! The in-memory cache of loaded documents (bounded, evicted on any failure so memory never runs
//! ahead of disk), loading a document from its snapshot and changes, and compaction.

use super::*;

impl Writer {
    pub(crate) fn put_cache(&mut self, id: String, c: Cached, cap: usize) {
        if self.cache.insert(id.clone(), c).is_none() {
            self.order.push_back(id);
        }
        self.evict_if_over(cap);
    }

    pub(crate) fn evict_if_over(&mut self, cap: usize) {
        while self.cache.len() > cap.max(1) {
            match self.order.pop_front() {
                Some(old) => {
                    self.cache.remove(&old);
                }
                None => break,
            }
        }
    }

    pub(crate) fn evict(&mut self, id: &str) {
        self.cache.remove(id);
        self.order.retain(|x| x != id);
    }

    /// The document from the cache, or loaded from disk (snapshot + unfolded changes).
    pub(crate) fn load(&mut self, id: &str, actor: ActorId) -> Result<&mut Cached> {
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

    pub(crate) fn compact_doc(&mut self, id: &str) -> Result<()> {
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
            concat!(
                "DELETE FROM changes WHERE doc_id = ?1 AND state IN (",
                state!(acked),
                ", ",
                state!(remote),
                ")"
            ),
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
}

pub(crate) fn load_doc(conn: &Connection, id: &str) -> Result<Option<(Automerge, usize)>> {
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
