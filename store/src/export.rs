//! Export and import of changes (a file carried between devices or kept as a backup); imports
//! pass the same gate as pulled changes.

use super::*;

impl Store {
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
}

pub(crate) const EXPORT_MAGIC: &[u8; 4] = b"GWX1";

pub(crate) const MAX_IMPORT_BYTES: usize = 512 * 1024 * 1024;

pub(crate) fn parse_export(bytes: &[u8]) -> Result<Vec<(String, Vec<Vec<u8>>)>> {
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
