//! Opening old, foreign, newer and non-database files.
mod common;
use common::*;
use gridwork_model::doc;
use gridwork_model::*;
use gridwork_store::*;
use rusqlite::Connection;

fn schema_of(path: &std::path::Path) -> Vec<(String, String)> {
    let c = Connection::open(path).expect("open");
    let mut st = c.prepare("SELECT name, coalesce(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name").expect("prep");
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("q");
    rows.collect::<Result<_, _>>().expect("rows")
}

#[test]
fn upgrades_a_version_1_database_and_rebuilds_search() {
    let dir = tempfile::tempdir().expect("tmp");
    let old = dir.path().join("old.db");
    // A store written by version 1 of the schema: one report, as its raw change bytes.
    let mut doc = automerge::Automerge::new();
    let rec = serde_json::json!({
        "kind": "report", "grid": "G1", "category": "sanitation", "severity": 2, "title": "垃圾桶满溢",
        "description": "小区东门垃圾桶三天未清运", "location": null, "photos": [], "status": "draft",
        "transitions": [], "comments": [], "author": "w1", "created_at": 1_700_000_000_000i64
    });
    let mut tx = doc.transaction();
    doc::write_new(&mut tx, &rec).expect("write");
    tx.commit_with(
        automerge::transaction::CommitOptions::default()
            .with_message("w1".to_owned())
            .with_time(1_700_000_000_000),
    );
    let change = doc.get_last_local_change().expect("change").clone();
    {
        let mut c = Connection::open(&old).expect("open");
        c.pragma_update(None, "journal_mode", "WAL").expect("wal");
        schema::migrate(&mut c, Some(1)).expect("v1");
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("v");
        assert_eq!(v, 1);
        c.execute(
            "INSERT INTO docs(id, kind, unfolded, last_seq) VALUES ('r1', 'report', 1, 1)",
            [],
        )
        .expect("doc");
        c.execute(
            "INSERT INTO changes(doc_id, hash, bytes, state, at) VALUES ('r1', ?1, ?2, 0, 1)",
            rusqlite::params![change.hash().0.as_slice(), change.raw_bytes()],
        )
        .expect("change");
        c.execute(
            "INSERT INTO records(id, kind, grid, status, open, category, severity, title, author, created_at, updated_at)
             VALUES ('r1', 'report', 'G1', 'draft', 1, 'sanitation', 2, '垃圾桶满溢', 'w1', 1700000000000, 1700000000000)",
            [],
        )
        .expect("projection");
    }
    let s = Store::open(&old, worker()).expect("upgrade");
    let hits = s.search("三天未清", None, 10).expect("search");
    assert_eq!(
        hits.len(),
        1,
        "full-text index was built from the documents"
    );
    assert_eq!(hits[0].id, "r1");
    assert_eq!(
        s.pending_count().expect("pending"),
        1,
        "the outbox survived the upgrade"
    );
    drop(s);
    let fresh = dir.path().join("fresh.db");
    drop(Store::open(&fresh, worker()).expect("fresh"));
    assert_eq!(
        schema_of(&old),
        schema_of(&fresh),
        "upgraded schema equals a fresh one"
    );
}

#[test]
fn refuses_newer_foreign_and_non_databases_without_touching_them() {
    let dir = tempfile::tempdir().expect("tmp");
    // newer schema
    let newer = dir.path().join("newer.db");
    drop(Store::open(&newer, worker()).expect("create"));
    Connection::open(&newer)
        .expect("open")
        .pragma_update(None, "user_version", 99)
        .expect("bump");
    match Store::open(&newer, worker()) {
        Err(Error::SchemaTooNew {
            found: 99,
            supported,
        }) => assert_eq!(supported, schema::latest_version()),
        other => panic!("expected SchemaTooNew, got {:?}", other.err()),
    }
    // not a database at all: without a key, a file that is not plain SQLite may be an
    // encrypted store (its bytes look random too), so the answer is WrongKey, never a repair
    let junk = dir.path().join("junk.db");
    let bytes: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&junk, &bytes).expect("write");
    assert!(matches!(Store::open(&junk, worker()), Err(Error::WrongKey)));
    assert_eq!(
        std::fs::read(&junk).expect("read"),
        bytes,
        "file left as it was"
    );
    // a SQLite header over garbage: not a database
    let broken = dir.path().join("broken.db");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xA5u8, 8192));
    std::fs::write(&broken, &bytes).expect("write");
    match Store::open(&broken, worker()) {
        Err(Error::NotADatabase(_)) => {}
        other => panic!("expected NotADatabase, got {:?}", other.err()),
    }
    assert_eq!(
        std::fs::read(&broken).expect("read"),
        bytes,
        "file left as it was"
    );
    // someone else's SQLite database
    let foreign = dir.path().join("foreign.db");
    Connection::open(&foreign)
        .expect("open")
        .execute("CREATE TABLE t(x)", [])
        .expect("t");
    assert!(matches!(
        Store::open(&foreign, worker()),
        Err(Error::NotADatabase(_))
    ));
    let tables: i64 = Connection::open(&foreign)
        .expect("open")
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .expect("count");
    assert_eq!(tables, 1);
    // bad identity
    assert!(matches!(
        Store::open(dir.path().join("x.db"), Identity::new("", Role::Worker)),
        Err(Error::InvalidInput { .. })
    ));
}
