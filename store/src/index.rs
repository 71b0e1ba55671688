//! Full-text search (FTS5 trigram, Chinese by substring): the queue written with each record,
//! folded into the index in batches, and the search itself.

use super::*;

impl Store {
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
}

pub(crate) fn text_clause(text: &str) -> Result<(String, rusqlite::types::Value)> {
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

/// Queue a record's text for the search index (see `fts_queue` in schema.rs).
pub(crate) fn queue_text(tx: &SqlTx<'_>, rowid: i64, p: &Projection, fresh: bool) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO fts_queue(rowid, title, body, fresh) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(rowid) DO UPDATE SET title = excluded.title, body = excluded.body",
    )?
    .execute(params![rowid, p.title, p.body, fresh])?;
    Ok(())
}

/// Fold queued text into the full-text index, in one transaction. Returns how many were indexed.
pub(crate) fn flush_fts(conn: &mut Connection) -> Result<usize> {
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
