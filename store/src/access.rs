//! Showing personal data in full (issue 12). Records cross to the apps masked by default
//! ([`gridwork_model::mask`]); [`Store::reveal`] gives the full record only with a stated reason,
//! and writes who, when, which record and why to the access log first, in the same call. The log
//! goes to the server at the next sync ([`SyncSide::pending_access`]), where admins read it.

use super::*;

/// Shortest reason accepted, in characters.
pub const MIN_REASON_CHARS: usize = 4;
/// Longest reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// One entry of the access log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccessEntry {
    pub at_ms: Millis,
    pub user_id: String,
    pub doc_id: String,
    /// The record's kind (`household`).
    pub what: String,
    pub reason: String,
}

/// Checks a reason typed by a person: 4 to 500 characters, no control characters but line
/// breaks. The error names the field, never the value.
pub fn check_reason(reason: &str) -> Result<String> {
    let r = reason.trim();
    let n = r.chars().count();
    if !(MIN_REASON_CHARS..=MAX_REASON_CHARS).contains(&n) {
        return Err(Error::invalid(
            "reason",
            format!("must be {MIN_REASON_CHARS} to {MAX_REASON_CHARS} characters"),
        ));
    }
    if r.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::invalid(
            "reason",
            "control characters are not allowed",
        ));
    }
    Ok(r.to_owned())
}

impl Store {
    /// The record `id` as the apps show it: residents' ID numbers and phones masked.
    pub fn get_masked(&self, id: &str) -> Result<StoredRecord> {
        let mut r = self.get(id)?;
        r.record = r.record.masked();
        Ok(r)
    }

    /// The record `id` in full, for someone who stated why: the access is written to the log
    /// (and later sent to the server) before the record is returned.
    pub fn reveal(&self, id: &str, reason: &str) -> Result<StoredRecord> {
        let reason = check_reason(reason)?;
        let r = self.get(id)?;
        let user_id = self.identity().user_id;
        let w = lock(&self.writer);
        w.conn
            .prepare_cached(
                "INSERT INTO access_log (at_ms, user_id, doc_id, what, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![now_ms(), user_id, id, r.record.kind().as_str(), reason])?;
        Ok(r)
    }

    /// This device's access log, newest first.
    pub fn access_log(&self, limit: u32) -> Result<Vec<AccessEntry>> {
        let w = lock(&self.writer);
        let rows = w
            .conn
            .prepare_cached(
                "SELECT at_ms, user_id, doc_id, what, reason FROM access_log ORDER BY id DESC LIMIT ?1",
            )?
            .query_map([i64::from(limit)], |r| {
                Ok(AccessEntry {
                    at_ms: Millis(r.get(0)?),
                    user_id: r.get(1)?,
                    doc_id: r.get(2)?,
                    what: r.get(3)?,
                    reason: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

impl SyncSide<'_> {
    /// Access-log entries the server does not have yet, oldest first, at most `limit`: (row id,
    /// entry).
    pub fn pending_access(&self, limit: usize) -> Result<Vec<(i64, AccessEntry)>> {
        let w = lock(&self.0.writer);
        let rows = w
            .conn
            .prepare_cached(
                "SELECT id, at_ms, user_id, doc_id, what, reason FROM access_log WHERE sent = 0 ORDER BY id LIMIT ?1",
            )?
            .query_map([limit as i64], |r| {
                Ok((
                    r.get(0)?,
                    AccessEntry {
                        at_ms: Millis(r.get(1)?),
                        user_id: r.get(2)?,
                        doc_id: r.get(3)?,
                        what: r.get(4)?,
                        reason: r.get(5)?,
                    },
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Marks entries as held by the server.
    pub fn mark_access_sent(&self, ids: &[i64]) -> Result<()> {
        let mut w = lock(&self.0.writer);
        let tx = w.conn.transaction()?;
        {
            let mut st = tx.prepare_cached("UPDATE access_log SET sent = 1 WHERE id = ?1")?;
            for id in ids {
                st.execute([id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
