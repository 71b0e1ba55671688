//! Reading: one record, lists from the projection, history, conflicts, outbox size.

use super::*;

impl Store {
    /// The full record.
    pub fn get(&self, id: &str) -> Result<StoredRecord> {
        let mut w = lock(&self.writer);
        let record = w.load(id, self.actor.clone())?.record.clone()?;
        let (updated_at, pending): (i64, u32) = w.conn.query_row(
            concat!("SELECT (SELECT updated_at FROM records WHERE id = ?1), (SELECT count(*) FROM changes WHERE doc_id = ?1 AND state = ", state!(pending), ")"),
            params![id],
            |r| Ok((r.get::<_, Option<i64>>(0)?.unwrap_or(0), r.get(1)?)),
        )?;
        Ok(StoredRecord {
            id: id.to_owned(),
            record,
            updated_at: gridwork_model::Millis(updated_at),
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
        Ok(conn.query_row(
            concat!(
                "SELECT count(*) FROM changes WHERE state = ",
                state!(pending)
            ),
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    // ---------------------------------------------------------------- merge without a server
}

pub(crate) fn parse_page_token(tok: &str) -> Result<(i64, String)> {
    let bad = || Error::invalid("page_token", "not a token returned by an earlier page");
    let (a, b) = tok.split_once(':').ok_or_else(bad)?;
    let at = a.parse::<i64>().map_err(|_| bad())?;
    check_id("page_token", b).map_err(|_| bad())?;
    Ok((at, b.to_owned()))
}

pub(crate) fn summary_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordSummary> {
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
