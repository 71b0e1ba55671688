//! The write path: create, update, transition, comment. One user action is one SQLite
//! transaction: the change (pending, in the outbox), the projection and the search queue.

use super::*;

impl Store {
    /// Create a record. Its `author` and `created_at` are set from the identity and the clock.
    pub fn create(&self, mut rec: AnyRecord) -> Result<String> {
        let (p, grids) = self.principal();
        rec.stamp_new(&p.user_id, now_ms());
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
                by: user.into(),
                at: gridwork_model::Millis(now_ms()),
                text: text.to_owned(),
            });
            Ok(())
        })
    }

    // ---------------------------------------------------------------- reads
}

pub(crate) fn insert_change(
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
pub(crate) fn write_projection(
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

/// Rewrite the projection of an edited record: one UPDATE, plus search and assignee rows only
/// when those parts changed.
pub(crate) fn update_projection(
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
