//! Issue 8, device side: no single pulled document can stop a device's sync. A page with hostile
//! documents (an id breaking the id rule, garbage change bytes, maps nested 500 deep, a huge
//! text) stores everything else, sets the hostile ones aside and advances the cursor; none of it
//! may overflow the stack, which the tests prove by running on a 256 KiB thread.
mod common;
use common::*;
use gridwork_model::*;
use gridwork_protocol::gate;
use gridwork_protocol::wire::RejectCode;
use gridwork_store::*;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{Automerge, Change, ObjType, ReadDoc, ROOT};

const SMALL_STACK: usize = 256 << 10;
const POISON_ID: &str = "poison/id with space";

/// Runs `f` on a thread with a 256 KiB stack: a recursive walk of a 500-deep document would
/// overflow it (and abort the test process).
fn on_small_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("small-stack".into())
            .stack_size(SMALL_STACK)
            .spawn_scoped(s, f)
            .expect("spawn")
            .join()
            .expect("the small-stack thread panicked")
    })
}

/// The bytes of every change a fresh store made for one new report.
fn report_changes(s: &Store, title: &str) -> (String, Vec<Vec<u8>>) {
    let id = s.create_report(report("G1", title)).expect("create");
    let out = s.sync_side().outbox(usize::MAX).expect("outbox");
    let doc = out.into_iter().find(|d| d.doc_id == id).expect("in outbox");
    (id, doc.changes.into_iter().map(|c| c.bytes).collect())
}

fn commit(
    doc: &mut Automerge,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
) -> Vec<u8> {
    let mut tx = doc.transaction();
    f(&mut tx);
    tx.commit_with(
        CommitOptions::default()
            .with_message("w9".to_owned())
            .with_time(1_700_000_000_000),
    );
    doc.get_last_local_change()
        .expect("a change")
        .raw_bytes()
        .to_vec()
}

/// A root map whose key `x` holds maps nested `depth` deep.
fn deep_doc(depth: usize) -> (Automerge, Vec<u8>) {
    let mut doc = Automerge::new();
    let bytes = commit(&mut doc, |tx| {
        tx.put(ROOT, "kind", "report").expect("put");
        let mut obj = tx.put_object(ROOT, "x", ObjType::Map).expect("map");
        for _ in 1..depth {
            obj = tx.put_object(&obj, "a", ObjType::Map).expect("map");
        }
    });
    (doc, bytes)
}

fn aside_by_id(s: &Store) -> std::collections::HashMap<String, SetAsideDoc> {
    s.set_aside()
        .expect("set_aside")
        .into_iter()
        .map(|d| (d.doc_id.clone(), d))
        .collect()
}

fn invalid_key(id: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "invalid:{}",
        &hex::encode(Sha256::digest(id.as_bytes()))[..16]
    )
}

#[test]
fn a_page_with_hostile_documents_stores_the_rest_and_advances_the_cursor() {
    let dir = tempfile::tempdir().expect("tmp");
    let author = store_in(dir.path(), "author.db", worker());
    let device = store_in(dir.path(), "device.db", Identity::new("w2", Role::Worker));
    let (valid_id, valid) = report_changes(&author, "楼道堆放杂物");
    let (valid2_id, valid2) = report_changes(&author, "井盖缺失");
    let (_, poison_bytes) = report_changes(&author, "恶意编号的报告");
    let (mut deep, deep_bytes) = deep_doc(500);
    let huge_bytes = commit(&mut Automerge::new(), |tx| {
        tx.put(ROOT, "kind", "report").expect("put");
        tx.put(ROOT, "x", "字".repeat(gate::MAX_DOC_CHARS + 1))
            .expect("put");
    });

    let mut pulled: Vec<(String, Vec<u8>)> = Vec::new();
    pulled.extend(valid.iter().map(|b| (valid_id.clone(), b.clone())));
    pulled.extend(
        poison_bytes
            .iter()
            .map(|b| (POISON_ID.to_owned(), b.clone())),
    );
    pulled.push((
        "garbage-doc".into(),
        b"\x85\x6f\x4a\x83 not a change at all".to_vec(),
    ));
    pulled.push(("deep-doc".into(), deep_bytes));
    pulled.push(("huge-doc".into(), huge_bytes));
    pulled.extend(valid2.iter().map(|b| (valid2_id.clone(), b.clone())));

    let page = on_small_stack(|| {
        device
            .sync_side()
            .apply_sync_page(SyncApply {
                pulled,
                cursor: Some("v1.6.all".into()),
                ..Default::default()
            })
            .expect("the page applies")
    });
    let mut changed = page.changed.clone();
    changed.sort();
    let mut want = vec![valid_id.clone(), valid2_id.clone()];
    want.sort();
    assert_eq!(changed, want, "both valid documents are stored");
    assert_eq!(page.set_aside.len(), 4);
    assert_eq!(
        device.sync_cursor().expect("cursor").as_deref(),
        Some("v1.6.all"),
        "the cursor advances past the hostile documents"
    );

    let aside = aside_by_id(&device);
    assert_eq!(aside.len(), 4, "{aside:?}");
    let poison = &aside[&invalid_key(POISON_ID)];
    assert_eq!(poison.code, RejectCode::InvalidId);
    assert_eq!(poison.field.as_deref(), Some("doc_id"));
    assert_eq!(poison.changes, poison_bytes.len() as u64);
    assert_eq!(aside["garbage-doc"].code, RejectCode::Corrupt);
    assert_eq!(aside["garbage-doc"].changes, 1);
    let deep_code = aside["deep-doc"].code;
    assert!(
        matches!(deep_code, RejectCode::InvalidRecord | RejectCode::TooLarge),
        "{deep_code:?}"
    );
    let huge_code = aside["huge-doc"].code;
    assert!(
        matches!(huge_code, RejectCode::TooLarge | RejectCode::InvalidRecord),
        "{huge_code:?}"
    );
    for d in aside.values() {
        assert!(d.first_seen_ms > gridwork_model::Millis(0) && d.last_seen_ms >= d.first_seen_ms);
        // The hostile id is never stored or shown, nor any value.
        for text in [&d.doc_id, &d.reason, d.field.as_deref().unwrap_or("")] {
            assert!(!text.contains("poison") && !text.contains('字'), "{text}");
        }
    }

    // Nothing of the set-aside documents is stored; the valid ones are whole.
    let conn = rusqlite::Connection::open(dir.path().join("device.db")).expect("open");
    let stored: Vec<String> = conn
        .prepare("SELECT DISTINCT doc_id FROM changes ORDER BY doc_id")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(stored, want);
    let raw: i64 = conn
        .query_row(
            "SELECT count(*) FROM set_aside WHERE doc_id LIKE '%poison%' OR reason LIKE '%poison%'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(raw, 0);

    on_small_stack(|| {
        for id in [&valid_id, &valid2_id] {
            let got = device.get(id).expect("get");
            assert_eq!(got.record, author.get(id).expect("get").record);
            assert!(!device.history(id).expect("history").is_empty());
            assert!(device.conflicts(id).expect("conflicts").is_empty());
        }
        let listed = device.list(&ListQuery::default()).expect("list");
        assert_eq!(listed.items.len(), 2);
        assert_eq!(
            device.search("井盖缺失", None, 10).expect("search").len(),
            1
        );
        for id in ["deep-doc", "huge-doc", "garbage-doc"] {
            assert!(
                matches!(device.get(id), Err(Error::NotFound { .. })),
                "{id} is not stored"
            );
        }
    });

    // A second page: more changes for set-aside documents are counted, not stored; the page's
    // other documents are applied.
    let deeper = commit(&mut deep, |tx| {
        tx.put(ROOT, "kind", "task").expect("put");
    });
    let (valid3_id, valid3) = report_changes(&author, "路灯损坏");
    let mut pulled: Vec<(String, Vec<u8>)> = vec![
        ("deep-doc".into(), deeper),
        (POISON_ID.into(), poison_bytes[0].clone()),
    ];
    pulled.extend(valid3.iter().map(|b| (valid3_id.clone(), b.clone())));
    let page = on_small_stack(|| {
        device
            .sync_side()
            .apply_sync_page(SyncApply {
                pulled,
                cursor: Some("v1.9.all".into()),
                ..Default::default()
            })
            .expect("second page")
    });
    assert_eq!(page.changed, vec![valid3_id.clone()]);
    assert_eq!(page.set_aside.len(), 2);
    let again = aside_by_id(&device);
    assert_eq!(again.len(), 4);
    assert_eq!(again["deep-doc"].changes, 2, "the new change is counted");
    assert_eq!(again["deep-doc"].code, deep_code, "the first refusal stays");
    assert!(again["deep-doc"].last_seen_ms >= aside["deep-doc"].last_seen_ms);
    assert_eq!(
        again["deep-doc"].first_seen_ms,
        aside["deep-doc"].first_seen_ms
    );
    assert_eq!(
        again[&invalid_key(POISON_ID)].changes,
        poison_bytes.len() as u64 + 1
    );
    assert_eq!(device.set_aside_count().expect("count"), 4);
    assert!(device.get(&valid3_id).is_ok());
    assert_eq!(
        device.sync_cursor().expect("cursor").as_deref(),
        Some("v1.9.all")
    );
}

#[test]
fn a_stored_document_that_receives_garbage_is_set_aside_and_stays_readable() {
    let dir = tempfile::tempdir().expect("tmp");
    let author = store_in(dir.path(), "author.db", worker());
    let device = store_in(dir.path(), "device.db", Identity::new("w2", Role::Worker));
    let (id, first) = report_changes(&author, "消防栓漏水");
    device
        .sync_side()
        .apply_sync(SyncApply {
            pulled: first.iter().map(|b| (id.clone(), b.clone())).collect(),
            cursor: Some("v1.1.all".into()),
            ..Default::default()
        })
        .expect("first page");
    let before = device.get(&id).expect("get").record;
    let changed = device
        .sync_side()
        .apply_sync(SyncApply {
            pulled: vec![(id.clone(), b"garbage".to_vec())],
            cursor: Some("v1.2.all".into()),
            ..Default::default()
        })
        .expect("a garbage change does not fail the page");
    assert!(changed.is_empty());
    assert_eq!(device.set_aside().expect("aside")[0].doc_id, id);
    assert_eq!(device.get(&id).expect("still readable").record, before);
    assert_eq!(
        device.sync_cursor().expect("cursor").as_deref(),
        Some("v1.2.all")
    );
    // It stays set aside: a later valid edit is counted, not applied.
    author
        .update_report(
            &id,
            ReportPatch {
                severity: Some(4),
                ..Default::default()
            },
        )
        .expect("edit");
    let edit = author.sync_side().outbox(usize::MAX).expect("outbox")[0].changes[1]
        .bytes
        .clone();
    device
        .sync_side()
        .apply_sync(SyncApply {
            pulled: vec![(id.clone(), edit)],
            cursor: Some("v1.3.all".into()),
            ..Default::default()
        })
        .expect("third page");
    assert_eq!(device.get(&id).expect("get").record, before);
    assert_eq!(device.set_aside().expect("aside")[0].changes, 2);
}

/// A bounded document of a newer version (an enum value this build does not know) is not set
/// aside: it is stored, without a projection, as before issue 8.
#[test]
fn a_newer_versions_value_is_stored_without_projection_not_set_aside() {
    let dir = tempfile::tempdir().expect("tmp");
    let author = store_in(dir.path(), "author.db", worker());
    let device = store_in(dir.path(), "device.db", Identity::new("w2", Role::Worker));
    let (id, first) = report_changes(&author, "新版本的类别");
    let mut doc = Automerge::new();
    doc.apply_changes(
        first
            .iter()
            .map(|b| Change::from_bytes(b.clone()).expect("change")),
    )
    .expect("apply");
    assert!(doc.get(ROOT, "category").expect("get").is_some());
    let newer = commit(&mut doc, |tx| {
        tx.put(ROOT, "category", "drone_sighting").expect("put");
    });
    let mut pulled: Vec<(String, Vec<u8>)> =
        first.iter().map(|b| (id.clone(), b.clone())).collect();
    pulled.push((id.clone(), newer));
    let changed = device
        .sync_side()
        .apply_sync(SyncApply {
            pulled,
            cursor: Some("v1.2.all".into()),
            ..Default::default()
        })
        .expect("page");
    assert_eq!(changed, vec![id.clone()]);
    assert!(device.set_aside().expect("aside").is_empty());
    assert!(device.get(&id).is_err(), "does not hydrate in this build");
    assert!(device
        .list(&ListQuery::default())
        .expect("list")
        .items
        .is_empty());
    let stored: i64 = rusqlite::Connection::open(dir.path().join("device.db"))
        .expect("open")
        .query_row(
            "SELECT count(*) FROM changes WHERE doc_id = ?1",
            [&id],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(stored, 2, "its changes are kept");
}

/// An import (all or nothing) of a 500-deep document fails cleanly, on a small stack.
#[test]
fn importing_a_deep_document_fails_without_overflowing() {
    let dir = tempfile::tempdir().expect("tmp");
    let device = store_in(dir.path(), "device.db", worker());
    let (deep, _) = deep_doc(500);
    let saved = deep.save();
    let mut export = b"GWX1".to_vec();
    let id = "deep-import";
    export.extend_from_slice(&(id.len() as u32).to_le_bytes());
    export.extend_from_slice(id.as_bytes());
    export.extend_from_slice(&(saved.len() as u32).to_le_bytes());
    export.extend_from_slice(&saved);
    let err = on_small_stack(|| device.import_changes(&export).expect_err("refused"));
    assert!(matches!(err, Error::CorruptChange(_)), "{err:?}");
    assert!(matches!(device.get(id), Err(Error::NotFound { .. })));
}
