//! Core scenarios P1–P4, P9 and bytes on disk per report.

use std::path::Path;
use std::time::Instant;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ObjType, ROOT};
use gridwork_model::*;
use gridwork_store::*;
use rand::{Rng, SeedableRng};
use rusqlite::{params, Connection};

use crate::{per_op, side_by_side, Config, Scenario};

const PHRASES: &[&str] = &[
    "楼道堆放杂物",
    "消防通道被车辆占用",
    "电动车在楼道违规充电",
    "垃圾桶满溢未及时清运",
    "窨井盖破损下陷",
    "路灯夜间不亮",
    "屋顶违章搭建彩钢房",
    "邻里因漏水发生纠纷",
    "夜间施工噪音扰民",
    "燃气管道老化锈蚀",
    "墙面小广告乱贴",
    "下水道堵塞污水外溢",
    "商户占道经营",
    "高空抛物隐患",
    "独居老人需要定期关照",
    "绿化带被毁种菜",
    "共享单车乱停放",
    "外墙瓷砖松动脱落",
    "地下室有人员居住",
    "灭火器过期未更换",
    "电线私拉乱接",
    "餐馆油烟直排",
    "流浪犬伤人隐患",
    "疑似电信诈骗宣传单",
    "建筑垃圾随意倾倒",
    "楼梯扶手松动",
    "化粪池满溢",
    "小区门禁损坏",
    "积水严重影响通行",
    "树木枝叶遮挡信号灯",
];

fn description(rng: &mut impl Rng, chars: usize) -> String {
    let mut s = String::new();
    while s.chars().count() < chars {
        if !s.is_empty() {
            s.push('，');
        }
        s.push_str(PHRASES[rng.random_range(0..PHRASES.len())]);
    }
    s.chars().take(chars).collect()
}

pub(crate) fn new_report(rng: &mut impl Rng, grid: &str) -> NewReport {
    NewReport {
        grid: grid.into(),
        category: ReportCategory::ALL[rng.random_range(0..ReportCategory::ALL.len())],
        severity: rng.random_range(1..=4),
        title: PHRASES[rng.random_range(0..PHRASES.len())].into(),
        description: description(rng, 150),
        location: Some(Location {
            lat: 36.65 + rng.random::<f64>() / 100.0,
            lon: 117.12 + rng.random::<f64>() / 100.0,
            accuracy_m: 8.0,
            address: None,
        }),
        submit: false,
    }
}

/// The floor's database: a change log and a projection table with the same indexes as ours.
fn baseline_db(path: &Path) -> Result<Connection, String> {
    let c = Connection::open(path).map_err(|e| e.to_string())?;
    c.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .map_err(|e| e.to_string())?;
    c.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| e.to_string())?;
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL, hash BLOB NOT NULL, bytes BLOB NOT NULL, UNIQUE(doc_id, hash));
         CREATE TABLE IF NOT EXISTS records(id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, grid TEXT NOT NULL, status TEXT, open INTEGER NOT NULL,
            category TEXT, severity INTEGER, title TEXT NOT NULL, household_id TEXT, due TEXT, author TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
         CREATE INDEX IF NOT EXISTS records_grid_open ON records(kind, grid, open, created_at, id);
         CREATE INDEX IF NOT EXISTS records_kind_created ON records(kind, created_at, id);",
    )
    .map_err(|e| e.to_string())?;
    Ok(c)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The floor for creating a report: the same document content, its change bytes written raw,
/// and one projection row.
fn baseline_create(
    conn: &mut Connection,
    actor: &ActorId,
    r: &NewReport,
    n: usize,
) -> Result<(String, Automerge), String> {
    let id = format!("b{n:08}");
    let at = now_ms();
    let mut doc = Automerge::new();
    doc.set_actor(actor.clone());
    let mut tx = doc.transaction();
    let e = |e: automerge::AutomergeError| e.to_string();
    tx.put(ROOT, "kind", "report").map_err(e)?;
    tx.put(ROOT, "grid", r.grid.as_str()).map_err(e)?;
    tx.put(ROOT, "category", r.category.as_str()).map_err(e)?;
    tx.put(ROOT, "severity", i64::from(r.severity)).map_err(e)?;
    let t = tx.put_object(ROOT, "title", ObjType::Text).map_err(e)?;
    tx.splice_text(&t, 0, 0, &r.title).map_err(e)?;
    let d = tx
        .put_object(ROOT, "description", ObjType::Text)
        .map_err(e)?;
    tx.splice_text(&d, 0, 0, &r.description).map_err(e)?;
    if let Some(l) = &r.location {
        let m = tx.put_object(ROOT, "location", ObjType::Map).map_err(e)?;
        tx.put(&m, "lat", l.lat).map_err(e)?;
        tx.put(&m, "lon", l.lon).map_err(e)?;
        tx.put(&m, "accuracy_m", l.accuracy_m).map_err(e)?;
        tx.put(&m, "address", ()).map_err(e)?;
    }
    for k in ["photos", "transitions", "comments"] {
        tx.put_object(ROOT, k, ObjType::List).map_err(e)?;
    }
    tx.put(ROOT, "status", "draft").map_err(e)?;
    tx.put(ROOT, "author", "w1").map_err(e)?;
    tx.put(ROOT, "created_at", at).map_err(e)?;
    tx.commit_with(
        CommitOptions::default()
            .with_message("w1".to_owned())
            .with_time(at),
    );
    let ch = doc.get_last_local_change().ok_or("no change")?.clone();
    let sql = conn.transaction().map_err(|e| e.to_string())?;
    sql.prepare_cached("INSERT INTO changes(doc_id, hash, bytes) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![id, ch.hash().0.as_slice(), ch.raw_bytes()]))
        .map_err(|e| e.to_string())?;
    sql.prepare_cached(
        "INSERT INTO records(id, kind, grid, status, open, category, severity, title, author, created_at, updated_at) VALUES (?1, 'report', ?2, 'draft', 1, ?3, ?4, ?5, 'w1', ?6, ?6)",
    )
    .and_then(|mut s| s.execute(params![id, r.grid, r.category.as_str(), r.severity, r.title, at]))
    .map_err(|e| e.to_string())?;
    sql.commit().map_err(|e| e.to_string())?;
    Ok((id, doc))
}

/// The floor for editing one field: an Automerge put, its change bytes, one projection UPDATE.
fn baseline_edit(
    conn: &mut Connection,
    id: &str,
    doc: &mut Automerge,
    severity: i64,
) -> Result<(), String> {
    let at = now_ms();
    let mut tx = doc.transaction();
    tx.put(ROOT, "severity", severity)
        .map_err(|e| e.to_string())?;
    tx.commit_with(
        CommitOptions::default()
            .with_message("w1".to_owned())
            .with_time(at),
    );
    let ch = doc.get_last_local_change().ok_or("no change")?.clone();
    let sql = conn.transaction().map_err(|e| e.to_string())?;
    sql.prepare_cached("INSERT INTO changes(doc_id, hash, bytes) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![id, ch.hash().0.as_slice(), ch.raw_bytes()]))
        .map_err(|e| e.to_string())?;
    sql.prepare_cached("UPDATE records SET severity = ?2, updated_at = ?3 WHERE id = ?1")
        .and_then(|mut s| s.execute(params![id, severity, at]))
        .map_err(|e| e.to_string())?;
    sql.commit().map_err(|e| e.to_string())
}

fn s<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

pub fn run(cfg: &Config, want: &dyn Fn(&str) -> bool) -> Result<Vec<Scenario>, String> {
    let mut out = Vec::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let dir = cfg.workdir.join("core");
    s(std::fs::create_dir_all(&dir))?;
    let ops = if cfg.quick { 50 } else { 400 };

    if want("P1") || want("P2") {
        let store = s(Store::open(
            dir.join("write.db"),
            Identity::new("w1", Role::Worker),
        ))?;
        let mut base = baseline_db(&dir.join("write-baseline.db"))?;
        let actor = ActorId::random();
        // P2 create
        let mut gw_ids = Vec::new();
        let mut base_docs: Vec<(String, Automerge)> = Vec::new();
        let drafts: Vec<NewReport> = (0..ops).map(|_| new_report(&mut rng, "G01")).collect();
        let mut n = 0usize;
        let (g, b) = side_by_side(
            cfg.repeats,
            || {
                let t = Instant::now();
                for d in &drafts {
                    if let Ok(id) = store.create_report(d.clone()) {
                        gw_ids.push(id);
                    }
                }
                t.elapsed().as_secs_f64() * 1000.0 / drafts.len() as f64
            },
            || {
                let t = Instant::now();
                for d in &drafts {
                    n += 1;
                    if let Ok(x) = baseline_create(&mut base, &actor, d, n) {
                        base_docs.push(x);
                    }
                }
                t.elapsed().as_secs_f64() * 1000.0 / drafts.len() as f64
            },
        );
        if gw_ids.len() != drafts.len() * cfg.repeats
            || base_docs.len() != drafts.len() * cfg.repeats
        {
            return Err("P2: some creates failed".into());
        }
        if want("P2") {
            out.push(
                Scenario::new(
                    "P2",
                    "create_report",
                    "ms/op",
                    g,
                    b,
                    "automerge doc + raw change write + projection insert",
                )
                .goal("ratio <= 1.5 and <= 1 ms"),
            );
        }
        // P1 edit one field of recently used reports (all in the document cache, as the floor's
        // documents are all in memory).
        let hot = 400.min(gw_ids.len());
        let gw_hot: Vec<String> = gw_ids[gw_ids.len() - hot..].to_vec();
        let base_len = base_docs.len();
        let base_hot = &mut base_docs[base_len - hot..];
        let mut round = 0i64;
        let mut round_b = 0i64;
        let (g, b) = side_by_side(
            cfg.repeats,
            || {
                round += 1;
                per_op(hot, |i| {
                    // a different value each round, so every call is a real edit
                    let v = ((round + i as i64) % 4 + 1) as u8;
                    let _ = store.update_report(
                        &gw_hot[i],
                        ReportPatch {
                            severity: Some(v),
                            ..Default::default()
                        },
                    );
                })
            },
            || {
                round_b += 1;
                per_op(hot, |i| {
                    let v = (round_b + i as i64) % 4 + 1;
                    let (id, doc) = &mut base_hot[i];
                    let _ = baseline_edit(&mut base, id, doc, v);
                })
            },
        );
        if want("P1") {
            out.push(
                Scenario::new(
                    "P1",
                    "edit_field",
                    "ms/op",
                    g,
                    b,
                    "automerge put + raw change write + projection update",
                )
                .goal("ratio <= 1.5"),
            );
        }
    }

    if want("P3") || want("P4") || want("P9") || want("S1") {
        let n = if cfg.quick { 2_000 } else { 50_000 };
        // GRIDWORK_BENCH_DATA=DIR keeps the big stores between runs (for profiling).
        let keep = std::env::var_os("GRIDWORK_BENCH_DATA").map(std::path::PathBuf::from);
        let big_dir = keep.clone().unwrap_or_else(|| dir.clone());
        s(std::fs::create_dir_all(&big_dir))?;
        let path = big_dir.join(format!("big-{n}.db"));
        let base_path = big_dir.join(format!("big-{n}-baseline.db"));
        if keep.is_none() || !base_path.exists() {
            let _ = std::fs::remove_file(&path);
            let t = Instant::now();
            let (descs, titles) = build_big(&path, n, &mut rng)?;
            eprintln!(
                "bench: built a {n}-report store in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            build_big_baseline(&path, &base_path, &descs, &titles)?;
        }
        let store = s(Store::open(&path, Identity::new("w1", Role::Worker)))?;
        let base = s(Connection::open(&base_path))?;
        let q = |grid: &str| ListQuery {
            kind: Some(RecordKind::Report),
            grid: Some(grid.into()),
            open_only: true,
            limit: Some(50),
            ..Default::default()
        };
        let base_sql = "SELECT id, kind, grid, status, category, severity, title, household_id, due, author, created_at, updated_at FROM reports WHERE grid = ?1 AND open = 1 ORDER BY created_at DESC LIMIT 50";
        let reps = if cfg.quick { 20 } else { 200 };
        let mut checked = false;
        if want("P3") {
            let (g, b) = side_by_side(
                cfg.repeats,
                || {
                    per_op(reps, |i| {
                        let page = match store.list(&q(&format!("G{:02}", i % 40))) {
                            Ok(p) => p.items.len(),
                            Err(e) => panic!("P3: {e}"),
                        };
                        assert!(page > 0, "P3: empty page");
                    })
                },
                || {
                    per_op(reps, |i| {
                        let rows = base_rows(&base, base_sql, &format!("G{:02}", i % 40));
                        assert!(rows > 0, "P3: empty baseline page");
                    })
                },
            );
            out.push(
                Scenario::new(
                    "P3",
                    "list_open_reports",
                    "ms/op",
                    g,
                    b,
                    "raw indexed SQL on an equivalent table",
                )
                .goal("ratio <= 1.5")
                .extra("reports", n),
            );
            checked = true;
        }
        if want("P4") {
            let query = "燃气管";
            let gw_hits = s(store.search(query, Some(RecordKind::Report), 50))?;
            let fts_sql = "SELECT r.id, r.title, r.created_at FROM fts JOIN reports r ON r.rowid = fts.rowid WHERE fts MATCH ?1 ORDER BY r.created_at DESC LIMIT 50";
            let phrase = format!("\"{query}\"");
            let base_hits = base_rows(&base, fts_sql, &phrase);
            if gw_hits.len() != base_hits || gw_hits.is_empty() {
                return Err(format!(
                    "P4: result counts differ: gridwork {} baseline {base_hits}",
                    gw_hits.len()
                ));
            }
            let (g, b) = side_by_side(
                cfg.repeats,
                || {
                    per_op(reps / 4 + 1, |_| {
                        assert!(
                            store
                                .search(query, Some(RecordKind::Report), 50)
                                .map_or(0, |v| v.len())
                                > 0
                        );
                    })
                },
                || {
                    per_op(reps / 4 + 1, |_| {
                        assert!(base_rows(&base, fts_sql, &phrase) > 0);
                    })
                },
            );
            out.push(
                Scenario::new(
                    "P4",
                    "search_chinese",
                    "ms/op",
                    g,
                    b,
                    "raw FTS5 trigram query + join",
                )
                .goal("ratio <= 1.5")
                .extra("reports", n)
                .extra("query", query),
            );
        }
        let _ = checked;
        drop(store);
        drop(base);
        if want("P9") {
            let (g, b) = side_by_side(
                cfg.repeats,
                || {
                    let t = Instant::now();
                    let st = Store::open(&path, Identity::new("w1", Role::Worker))
                        .map_err(|e| e.to_string());
                    let ok = st
                        .and_then(|st| st.list(&q("G07")).map_err(|e| e.to_string()))
                        .map_or(0, |p| p.items.len());
                    assert!(ok > 0, "P9: empty first page");
                    t.elapsed().as_secs_f64() * 1000.0
                },
                || {
                    let t = Instant::now();
                    let c = Connection::open(&base_path).expect("open baseline");
                    c.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
                        .expect("wal");
                    assert!(base_rows(&c, base_sql, "G07") > 0);
                    t.elapsed().as_secs_f64() * 1000.0
                },
            );
            out.push(
                Scenario::new(
                    "P9",
                    "cold_open",
                    "ms",
                    g,
                    b,
                    "raw rusqlite open + first page",
                )
                .goal("<= 100 ms")
                .extra("reports", n),
            );
        }
        if want("S1") {
            let (ours, json) = disk_bytes(&path, &big_dir.join("json.db"))?;
            out.push(
                Scenario::new(
                    "S1",
                    "disk_bytes_per_report",
                    "bytes",
                    ours / n as f64,
                    json / n as f64,
                    "plain JSON row (id, json)",
                )
                .extra(
                    "note",
                    "gridwork includes history, outbox, projection and search index",
                ),
            );
        }
    }
    Ok(out)
}

fn base_rows(c: &Connection, sql: &str, arg: &str) -> usize {
    let Ok(mut st) = c.prepare_cached(sql) else {
        return 0;
    };
    // decode every selected column, as the store does for its summaries
    let n = st.column_count();
    let Ok(rows) = st.query_map(params![arg], |r| {
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            v.push(r.get::<_, rusqlite::types::Value>(i)?);
        }
        Ok(v)
    }) else {
        return 0;
    };
    rows.filter_map(Result::ok).count()
}

/// A store of `n` reports across 40 grids, about a seventh closed, as an admin would build it.
pub(crate) fn build_big(
    path: &Path,
    n: usize,
    rng: &mut impl Rng,
) -> Result<(Vec<String>, Vec<String>), String> {
    let store = s(Store::open(path, Identity::new("a1", Role::Admin)))?;
    let mut descs = Vec::with_capacity(n);
    let mut titles = Vec::with_capacity(n);
    for i in 0..n {
        let r = new_report(rng, &format!("G{:02}", i % 40));
        descs.push(r.description.clone());
        titles.push(r.title.clone());
        let id = s(store.create_report(r))?;
        if i % 7 == 3 {
            for to in ["submitted", "approved", "closed"] {
                s(store.transition(&id, to, None))?;
            }
        }
    }
    s(store.compact())?;
    Ok((descs, titles))
}

/// The baseline: the same rows in a plain table and a plain (content) FTS5 trigram table.
fn build_big_baseline(
    src: &Path,
    dst: &Path,
    descs: &[String],
    titles: &[String],
) -> Result<(), String> {
    let _ = std::fs::remove_file(dst);
    let c = s(Connection::open(dst))?;
    s(c.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())))?;
    s(c.execute("ATTACH DATABASE ?1 AS src", params![src.to_string_lossy()]))?;
    s(c.execute_batch(
        "CREATE TABLE reports AS SELECT id, kind, grid, status, open, category, severity, title, household_id, due, author, created_at, updated_at FROM src.records ORDER BY rowid;
         CREATE INDEX reports_grid_open ON reports(grid, open, created_at);
         CREATE VIRTUAL TABLE fts USING fts5(title, body, tokenize = 'trigram');
         DETACH DATABASE src;",
    ))?;
    let tx = s(c.unchecked_transaction())?;
    {
        let mut st = s(tx.prepare("INSERT INTO fts(rowid, title, body) VALUES (?1, ?2, ?3)"))?;
        for (i, (d, t)) in descs.iter().zip(titles).enumerate() {
            s(st.execute(params![i as i64 + 1, t, d]))?;
        }
    }
    s(tx.commit())
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// Bytes of our store (after a checkpoint) and of a plain JSON table of the same records.
fn disk_bytes(path: &Path, json_path: &Path) -> Result<(f64, f64), String> {
    let store = s(Store::open(path, Identity::new("w1", Role::Worker)))?;
    let ids: Vec<String> = {
        let c = s(Connection::open(path))?;
        let mut st = s(c.prepare("SELECT id FROM docs"))?;
        let rows = s(st.query_map([], |r| r.get::<_, String>(0)))?;
        rows.filter_map(Result::ok).collect()
    };
    let _ = std::fs::remove_file(json_path);
    let j = s(Connection::open(json_path))?;
    s(j.execute_batch("CREATE TABLE records(id TEXT PRIMARY KEY, json TEXT NOT NULL)"))?;
    let tx = s(j.unchecked_transaction())?;
    for id in &ids {
        let rec = s(store.get(id))?;
        let json = s(rec.record.to_json())?.to_string();
        s(tx.execute(
            "INSERT INTO records(id, json) VALUES (?1, ?2)",
            params![id, json],
        ))?;
    }
    s(tx.commit())?;
    drop(store);
    let c = s(Connection::open(path))?;
    s(c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())))?;
    s(c.execute_batch("VACUUM"))?;
    drop(c);
    drop(j);
    let wal = |p: &Path| file_size(&p.with_extension("db-wal"));
    Ok((
        (file_size(path) + wal(path)) as f64,
        (file_size(json_path) + wal(json_path)) as f64,
    ))
}
