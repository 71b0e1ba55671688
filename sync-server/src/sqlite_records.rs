//! The SQLite side of [`crate::records`]: the `records` rows written with each document, their
//! backfill, the console's list and dashboard queries, and the access log.

use std::collections::BTreeMap;

use rusqlite::types::ToSql;
use rusqlite::{params, Connection, OptionalExtension as _};

use gridwork_model::RecordKind;

use crate::error::{Error, Result};
use crate::records::{
    AccessEntry, Dashboard, DashboardAt, RecordQuery, RecordRow, SortKey, MAX_PAGE,
};
use crate::store::{DocUpdate, Scope};

const DAY_MS: i64 = 86_400_000;

/// Writes the list row of a document the push just stored (in the push's transaction).
pub(crate) fn write_row(
    conn: &Connection,
    doc_id: &str,
    update: &DocUpdate,
    now_ms: i64,
) -> Result<()> {
    let loaded;
    let record = match &update.loaded {
        Some(l) => &l.record,
        None => {
            let doc = automerge::Automerge::load(&update.snapshot)
                .map_err(|e| Error::Other(format!("stored document does not load: {e}")))?;
            loaded = gridwork_protocol::gate::Admitted::load(doc)
                .map_err(|e| Error::Other(format!("stored document is invalid: {}", e.reason)))?;
            &loaded.record
        }
    };
    put_row(conn, &RecordRow::of(doc_id, record, now_ms))
}

fn put_row(conn: &Connection, row: &RecordRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO records (doc_id, kind, grid, status, open, category, severity, title, author,
             household_id, due, created_at, updated_at, closed_at, search)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT (doc_id) DO UPDATE SET kind = excluded.kind, grid = excluded.grid,
             status = excluded.status, open = excluded.open, category = excluded.category,
             severity = excluded.severity, title = excluded.title, author = excluded.author,
             household_id = excluded.household_id, due = excluded.due,
             created_at = excluded.created_at, updated_at = excluded.updated_at,
             closed_at = excluded.closed_at, search = excluded.search",
    )?
    .execute(params![
        row.doc_id,
        row.kind.as_str(),
        row.grid,
        row.status,
        row.open,
        row.category,
        row.severity,
        row.title,
        row.author,
        row.household_id,
        row.due,
        row.created_at,
        row.updated_at,
        row.closed_at,
        row.search,
    ])?;
    // Only tasks have assignees (a document never changes kind): every other push skips this.
    if row.kind != RecordKind::Task {
        return Ok(());
    }
    conn.prepare_cached("DELETE FROM record_assignees WHERE doc_id = ?1")?
        .execute([&row.doc_id])?;
    let mut ins = conn.prepare_cached(
        "INSERT OR IGNORE INTO record_assignees (user_id, doc_id) VALUES (?1, ?2)",
    )?;
    for a in &row.assignees {
        ins.execute(params![a, row.doc_id])?;
    }
    Ok(())
}

/// Gives every stored document without a list row one (a database from before migration 6),
/// in batches of one transaction each. A document that no longer loads is skipped and named in
/// the log (an admin can set it aside); it does not stop the server.
pub(crate) fn backfill(conn: &mut Connection) -> Result<()> {
    loop {
        let batch: Vec<(String, Vec<u8>, i64)> = conn
            .prepare(
                "SELECT d.doc_id, d.snapshot, d.updated_at FROM docs d
                 WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.doc_id = d.doc_id)
                 LIMIT 500",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        if batch.is_empty() {
            return Ok(());
        }
        let tx = conn.transaction()?;
        let mut written = 0;
        for (doc_id, snapshot, updated_s) in &batch {
            let row = automerge::Automerge::load(snapshot)
                .ok()
                .and_then(|d| gridwork_protocol::gate::Admitted::load(d).ok())
                .map(|a| RecordRow::of(doc_id, &a.record, updated_s.saturating_mul(1000)));
            match row {
                Some(row) => {
                    put_row(&tx, &row)?;
                    written += 1;
                }
                None => {
                    tracing::warn!(doc_id = %doc_id, "stored document does not load; left out of the console's lists");
                }
            }
        }
        tx.commit()?;
        if written == 0 {
            // Everything left is unreadable: stop rather than loop over it forever.
            return Ok(());
        }
    }
}

/// The `WHERE` clause of a scope (`?` parameters appended to `params`).
fn scope_clause(scope: &Scope, params: &mut Vec<Box<dyn ToSql>>) -> String {
    match scope {
        Scope::All => "1".into(),
        Scope::Grids(g) => {
            params.push(Box::new(
                serde_json::to_string(g).unwrap_or_else(|_| "[]".into()),
            ));
            format!("grid IN (SELECT value FROM json_each(?{}))", params.len())
        }
    }
}

fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

const ROW_COLUMNS: &str = "doc_id, kind, grid, status, open, category, severity, title, author,
     household_id, due, created_at, updated_at, closed_at, search";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordRow> {
    let kind: String = r.get(1)?;
    Ok(RecordRow {
        doc_id: r.get(0)?,
        kind: kind.parse().unwrap_or(RecordKind::Report),
        grid: r.get(2)?,
        status: r.get(3)?,
        open: r.get(4)?,
        category: r.get(5)?,
        severity: r.get(6)?,
        title: r.get(7)?,
        author: r.get(8)?,
        household_id: r.get(9)?,
        due: r.get(10)?,
        assignees: Vec::new(),
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
        closed_at: r.get(13)?,
        search: r.get(14)?,
    })
}

/// One page of [`RecordQuery`] in `scope`, leaving out documents an admin set aside.
pub(crate) fn list(conn: &Connection, scope: &Scope, q: &RecordQuery) -> Result<Vec<RecordRow>> {
    let mut params: Vec<Box<dyn ToSql>> = Vec::new();
    let mut wh = vec![scope_clause(scope, &mut params)];
    wh.push("doc_id NOT IN (SELECT doc_id FROM quarantined_docs)".into());
    let mut eq = |col: &str, v: Box<dyn ToSql>, params: &mut Vec<Box<dyn ToSql>>| {
        params.push(v);
        wh.push(format!("{col} = ?{}", params.len()));
    };
    if let Some(k) = q.kind {
        eq("kind", Box::new(k.as_str()), &mut params);
    }
    if let Some(v) = &q.status {
        eq("status", Box::new(v.clone()), &mut params);
    }
    if let Some(v) = q.open {
        eq("open", Box::new(v), &mut params);
    }
    if let Some(v) = &q.grid {
        eq("grid", Box::new(v.clone()), &mut params);
    }
    if let Some(v) = &q.category {
        eq("category", Box::new(v.clone()), &mut params);
    }
    if let Some(v) = q.severity {
        eq("severity", Box::new(v), &mut params);
    }
    if let Some(v) = &q.author {
        eq("author", Box::new(v.clone()), &mut params);
    }
    if let Some(v) = &q.household {
        eq("household_id", Box::new(v.clone()), &mut params);
    }
    if let Some(v) = &q.assignee {
        params.push(Box::new(v.clone()));
        wh.push(format!(
            "doc_id IN (SELECT doc_id FROM record_assignees WHERE user_id = ?{})",
            params.len()
        ));
    }
    if let Some(v) = q.created_from {
        params.push(Box::new(v));
        wh.push(format!("created_at >= ?{}", params.len()));
    }
    if let Some(v) = q.created_to {
        params.push(Box::new(v));
        wh.push(format!("created_at < ?{}", params.len()));
    }
    if let Some(v) = &q.due_before {
        params.push(Box::new(v.clone()));
        wh.push(format!(
            "open = 1 AND due IS NOT NULL AND due < ?{}",
            params.len()
        ));
        if q.kind == Some(RecordKind::Visit) {
            // A follow-up is done once a later visit to the household was filed (as the
            // dashboard counts).
            wh.push(
                "NOT EXISTS (SELECT 1 FROM records l WHERE l.household_id = records.household_id
                     AND l.kind = 'visit' AND l.created_at > records.created_at)"
                    .into(),
            );
        }
    }
    if let Some(t) = q.text.as_deref().filter(|t| !t.is_empty()) {
        params.push(Box::new(like_pattern(t)));
        wh.push(format!("search LIKE ?{} ESCAPE '\\'", params.len()));
    }
    let col = q.sort.column();
    let (cmp, dir) = if q.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(after) = &q.after {
        match &after.key {
            SortKey::Int(n) => params.push(Box::new(*n)),
            SortKey::Text(t) => params.push(Box::new(t.clone())),
        }
        params.push(Box::new(after.doc_id.clone()));
        let (k, id) = (params.len() - 1, params.len());
        wh.push(format!("({col}, doc_id) {cmp} (?{k}, ?{id})"));
    }
    let limit = q.limit.clamp(1, MAX_PAGE);
    let sql = format!(
        "SELECT {ROW_COLUMNS} FROM records WHERE {} ORDER BY {col} {dir}, doc_id {dir} LIMIT {limit}",
        wh.join(" AND ")
    );
    let mut st = conn.prepare_cached(&sql)?;
    let refs: Vec<&dyn ToSql> = params.iter().map(AsRef::as_ref).collect();
    let mut rows: Vec<RecordRow> = st
        .query_map(refs.as_slice(), read_row)?
        .collect::<rusqlite::Result<_>>()?;
    if rows.iter().any(|r| r.kind == RecordKind::Task) {
        let mut a = conn.prepare_cached(
            "SELECT user_id FROM record_assignees WHERE doc_id = ?1 ORDER BY user_id",
        )?;
        for r in rows.iter_mut().filter(|r| r.kind == RecordKind::Task) {
            r.assignees = a
                .query_map([&r.doc_id], |x| x.get(0))?
                .collect::<rusqlite::Result<_>>()?;
        }
    }
    Ok(rows)
}

/// One row by id (any scope: the caller checks the grid).
pub(crate) fn row(conn: &Connection, doc_id: &str) -> Result<Option<RecordRow>> {
    let r = conn
        .prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM records WHERE doc_id = ?1"
        ))?
        .query_row([doc_id], read_row)
        .optional()?;
    Ok(r)
}

/// The dashboard's counts over `scope`: one pass over the reports, one over the tasks, one
/// count of overdue follow-ups.
pub(crate) fn dashboard(conn: &Connection, scope: &Scope, at: &DashboardAt) -> Result<Dashboard> {
    let mut params: Vec<Box<dyn ToSql>> = Vec::new();
    let sc = scope_clause(scope, &mut params);
    let refs: Vec<&dyn ToSql> = params.iter().map(AsRef::as_ref).collect();
    let mut d = Dashboard {
        days: vec![(0, 0); 30],
        ..Dashboard::default()
    };
    let mut status: BTreeMap<String, u64> = BTreeMap::new();
    let mut category: BTreeMap<String, u64> = BTreeMap::new();
    let mut grids: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let day_of = |ms: i64| -> Option<usize> {
        let i = (ms - at.first_day_ms).div_euclid(DAY_MS);
        usize::try_from(i).ok().filter(|i| *i < 30)
    };
    {
        let mut st = conn.prepare_cached(&format!(
            "SELECT status, category, grid, open, created_at, closed_at FROM records
             WHERE kind = 'report' AND {sc}
               AND doc_id NOT IN (SELECT doc_id FROM quarantined_docs)"
        ))?;
        let mut rows = st.query(refs.as_slice())?;
        while let Some(r) = rows.next()? {
            let s: Option<String> = r.get(0)?;
            let s = s.unwrap_or_default();
            if s == "returned" {
                d.returned_reports += 1;
            }
            let open: bool = r.get(3)?;
            if open {
                if let Some(c) = r.get::<_, Option<String>>(1)? {
                    *category.entry(c).or_default() += 1;
                }
                grids.entry(r.get(2)?).or_default().0 += 1;
            }
            *status.entry(s).or_default() += 1;
            if let Some(i) = day_of(r.get(4)?) {
                d.days[i].0 += 1;
            }
            if let Some(i) = r.get::<_, Option<i64>>(5)?.and_then(day_of) {
                d.days[i].1 += 1;
            }
        }
    }
    d.report_status = status.into_iter().collect();
    d.report_category = category.into_iter().collect();
    let mut tstatus: BTreeMap<String, u64> = BTreeMap::new();
    {
        let mut st = conn.prepare_cached(&format!(
            "SELECT status, grid, open, due FROM records
             WHERE kind = 'task' AND {sc}
               AND doc_id NOT IN (SELECT doc_id FROM quarantined_docs)"
        ))?;
        let mut rows = st.query(refs.as_slice())?;
        while let Some(r) = rows.next()? {
            let s: Option<String> = r.get(0)?;
            *tstatus.entry(s.unwrap_or_default()).or_default() += 1;
            let open: bool = r.get(2)?;
            if open {
                grids.entry(r.get(1)?).or_default().1 += 1;
                let due: Option<String> = r.get(3)?;
                if due.is_some_and(|due| due.as_str() < at.today.as_str()) {
                    d.overdue_tasks += 1;
                }
            }
        }
    }
    d.task_status = tstatus.into_iter().collect();
    d.grids = grids.into_iter().map(|(g, (r, t))| (g, r, t)).collect();
    // A visit's follow-up is overdue when its date has passed and no later visit to the same
    // household was filed.
    let mut p2: Vec<Box<dyn ToSql>> = Vec::new();
    let sc2 = scope_clause(scope, &mut p2);
    p2.push(Box::new(at.today.clone()));
    let today = p2.len();
    let refs2: Vec<&dyn ToSql> = p2.iter().map(AsRef::as_ref).collect();
    d.overdue_visits = conn
        .prepare_cached(&format!(
            "SELECT count(*) FROM records v WHERE v.kind = 'visit' AND {sc2}
               AND v.due IS NOT NULL AND v.due < ?{today}
               AND NOT EXISTS (SELECT 1 FROM records l WHERE l.household_id = v.household_id
                               AND l.kind = 'visit' AND l.created_at > v.created_at)"
        ))?
        .query_row(refs2.as_slice(), |r| r.get::<_, i64>(0))?
        .max(0) as u64;
    Ok(d)
}

/// Stores one entry; the same (user, record, time, kind) twice is stored once.
pub(crate) fn log_access(conn: &Connection, e: &AccessEntry) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO access_log (at_ms, user_id, doc_id, what, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![e.at_ms, e.user_id, e.doc_id, e.what, e.reason])?;
    Ok(())
}

pub(crate) fn access_log(conn: &Connection, limit: usize) -> Result<Vec<AccessEntry>> {
    let rows = conn
        .prepare_cached(
            "SELECT at_ms, user_id, doc_id, what, reason FROM access_log ORDER BY id DESC LIMIT ?1",
        )?
        .query_map([limit as i64], |r| {
            Ok(AccessEntry {
                at_ms: r.get(0)?,
                user_id: r.get(1)?,
                doc_id: r.get(2)?,
                what: r.get(3)?,
                reason: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}
