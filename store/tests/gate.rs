//! The trust boundary at the unit level: hand-made Automerge changes, as an attacker with a
//! registered actor would send them, against `gate::admit_push` (server, strict) and
//! `gate::admit_pulled` (device, tolerant). The same attacks through the real server process are
//! in `tests/tests/attack`.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, Change, ObjType, ReadDoc, ScalarValue, ROOT};
use gridwork_model::record::Role;
use gridwork_model::Principal;
use gridwork_protocol::gate::{self, Admitted, Refusal};
use gridwork_protocol::wire::RejectCode;
use serde_json::json;

fn who(id: &str, role: Role) -> Principal {
    Principal {
        user_id: id.into(),
        role,
    }
}

fn in_g1(g: &str) -> bool {
    g == "G1"
}

fn actor(n: u8) -> ActorId {
    ActorId::from(&[n, n, n, n][..])
}

/// A record created by `by` (one change), admitted as the server would hold it.
fn admitted(json: serde_json::Value, by: &str, n: u8) -> Admitted {
    let mut doc = Automerge::new();
    doc.set_actor(actor(n));
    let mut tx = doc.transaction();
    gridwork_model::doc::write_new(&mut tx, &json).unwrap();
    tx.commit_with(
        CommitOptions::default()
            .with_message(by.to_owned())
            .with_time(1),
    );
    Admitted::load(doc).unwrap()
}

fn report(status: &str, transitions: serde_json::Value) -> serde_json::Value {
    json!({
        "kind": "report", "grid": "G1", "category": "fire_hazard", "severity": 2,
        "title": "楼道堆物", "description": "三楼东侧", "location": null, "photos": [],
        "status": status, "transitions": transitions,
        "comments": [{"id": "c1", "by": "s1", "at": 3, "text": "请补充照片"}],
        "author": "w1", "created_at": 1
    })
}

fn submitted() -> Admitted {
    admitted(
        report(
            "submitted",
            json!([{"from": "draft", "to": "submitted", "by": "w1", "role": "worker", "at": 2, "comment": null}]),
        ),
        "w1",
        1,
    )
}

fn task(status: &str) -> Admitted {
    let transitions = match status {
        "cancelled" => json!([
            {"from": "assigned", "to": "accepted", "by": "w1", "role": "worker", "at": 2, "comment": null},
            {"from": "accepted", "to": "cancelled", "by": "l1", "role": "leader", "at": 3, "comment": null}
        ]),
        _ => json!([]),
    };
    admitted(
        json!({
            "kind": "task", "grid": "G1", "title": "清理楼道", "description": "三楼",
            "assignees": ["w1"], "due": null, "priority": "normal", "linked_report": null,
            "linked_household": null, "status": status, "transitions": transitions,
            "comments": [], "author": "l1", "created_at": 1
        }),
        "l1",
        3,
    )
}

/// One change made by `by` on a fork of `base` (or a new document) with actor `n`.
fn change_on(
    base: Option<&Admitted>,
    by: &str,
    n: u8,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
) -> Change {
    let mut doc = base.map(|b| b.doc.clone()).unwrap_or_default();
    doc.set_actor(actor(n));
    let mut tx = doc.transaction();
    f(&mut tx);
    tx.commit_with(
        CommitOptions::default()
            .with_message(by.to_owned())
            .with_time(10),
    );
    doc.get_last_local_change().unwrap().clone()
}

fn push(p: &Principal, base: Option<&Admitted>, c: &Change) -> Result<Admitted, Refusal> {
    // Through the bytes, as the server receives them.
    let (parsed, _) = gate::parse_change(c.raw_bytes())?;
    gate::admit_push(p, &in_g1, base, &[parsed])
}

fn refused(r: Result<Admitted, Refusal>) -> Refusal {
    match r {
        Ok(_) => panic!("the change was admitted"),
        Err(e) => e,
    }
}

/// Runs `f` on a thread with a small stack: a walk that recursed once per level would overflow.
fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn deep_nesting_is_refused_without_recursion() {
    small_stack(|| {
        for depth in [500usize, 5_000] {
            for key in ["location", "x"] {
                let c = change_on(None, "w1", 1, |tx| {
                    let draft = report("draft", json!([]));
                    gridwork_model::doc::write_new(tx, &draft).unwrap();
                    let mut obj = tx.put_object(ROOT, key, ObjType::Map).unwrap();
                    for _ in 0..depth {
                        obj = tx.put_object(&obj, "a", ObjType::Map).unwrap();
                    }
                });
                let r = refused(push(&who("w1", Role::Worker), None, &c));
                assert_eq!(r.code, RejectCode::InvalidRecord, "{r}");
                let field = r.field.clone().unwrap();
                assert!(
                    field == key || field.starts_with(&format!("{key}.")),
                    "{field}"
                );
                // The device refuses it too (tolerant mode still bounds the depth).
                let mut doc = Automerge::new();
                let r = gate::admit_pulled(&mut doc, &[c.raw_bytes().to_vec()]).unwrap_err();
                assert_eq!(r.code, RejectCode::InvalidRecord, "{r}");
            }
        }
    });
}

#[test]
fn unknown_keys_long_texts_and_wrong_types_name_the_field_never_the_value() {
    let w = who("w1", Role::Worker);
    type Edit = Box<dyn Fn(&mut automerge::transaction::Transaction<'_>)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "foo",
            Box::new(|tx| {
                let t = tx.put_object(ROOT, "foo", ObjType::Text).unwrap();
                tx.splice_text(&t, 0, 0, &"秘".repeat(50_000)).unwrap();
            }),
        ),
        (
            "description",
            Box::new(|tx| {
                let t = tx.put_object(ROOT, "description", ObjType::Text).unwrap();
                tx.splice_text(&t, 0, 0, &"秘".repeat(25_000)).unwrap();
            }),
        ),
        (
            "severity",
            Box::new(|tx| tx.put(ROOT, "severity", "王秘密").unwrap()),
        ),
        (
            "title",
            Box::new(|tx| tx.put(ROOT, "title", "王秘密").unwrap()),
        ),
        (
            "location.lat",
            Box::new(|tx| {
                let l = tx.put_object(ROOT, "location", ObjType::Map).unwrap();
                tx.put(&l, "lat", "王秘密").unwrap();
                tx.put(&l, "lon", 1.0).unwrap();
                tx.put(&l, "accuracy_m", 1.0).unwrap();
            }),
        ),
        (
            "photos",
            Box::new(|tx| {
                let l = tx.put_object(ROOT, "photos", ObjType::List).unwrap();
                for i in 0..501 {
                    tx.insert(&l, i, ScalarValue::Null).unwrap();
                }
            }),
        ),
    ];
    for (field, f) in cases {
        let c = change_on(None, "w1", 1, |tx| {
            gridwork_model::doc::write_new(tx, &report("draft", json!([]))).unwrap();
            f(tx);
        });
        let r = refused(push(&w, None, &c));
        assert_eq!(r.code, RejectCode::InvalidRecord, "{field}: {r}");
        assert_eq!(r.field.as_deref(), Some(field), "{r}");
        assert!(
            !r.reason.contains("王秘密") && !r.reason.contains('秘'),
            "{r}"
        );
    }
}

#[test]
fn a_change_encoding_millions_of_operations_is_refused_before_it_is_decoded() {
    let c = change_on(None, "w1", 1, |tx| {
        gridwork_model::doc::write_new(tx, &report("draft", json!([]))).unwrap();
        let t = tx.put_object(ROOT, "notes", ObjType::Text).unwrap();
        tx.splice_text(&t, 0, 0, &"a".repeat(300_000)).unwrap();
    });
    let started = std::time::Instant::now();
    let r = gate::parse_change(c.raw_bytes()).unwrap_err();
    assert_eq!(r.code, RejectCode::TooLarge);
    assert!(r.field.is_none());
    // Not a timing assertion on speed, a sanity check that nothing was expanded: the scan is
    // linear in ~1 MB of bytes.
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn data_hidden_in_an_orphaned_object_is_refused() {
    let c = change_on(None, "w1", 1, |tx| {
        gridwork_model::doc::write_new(tx, &report("draft", json!([]))).unwrap();
        let l = tx.put_object(ROOT, "location", ObjType::Map).unwrap();
        tx.put(ROOT, "location", ScalarValue::Null).unwrap();
        let hidden = tx.put_object(&l, "hidden", ObjType::Text).unwrap();
        tx.splice_text(&hidden, 0, 0, &"x".repeat(10_000)).unwrap();
    });
    let r = refused(push(&who("w1", Role::Worker), None, &c));
    assert_eq!(r.code, RejectCode::InvalidRecord, "{r}");
    assert!(r.reason.contains("not part of the record"), "{r}");
}

fn append_transition(
    tx: &mut automerge::transaction::Transaction<'_>,
    from: &str,
    to: &str,
    by: &str,
    role: &str,
) {
    let (_, list) = tx.get(ROOT, "transitions").unwrap().unwrap();
    let n = tx.length(&list);
    let t = tx.insert_object(&list, n, ObjType::Map).unwrap();
    tx.put(&t, "from", from).unwrap();
    tx.put(&t, "to", to).unwrap();
    tx.put(&t, "by", by).unwrap();
    tx.put(&t, "role", role).unwrap();
    tx.put(&t, "at", 10).unwrap();
    tx.put(&t, "comment", ScalarValue::Null).unwrap();
}

#[test]
fn forged_workflow_steps_are_refused() {
    let w = who("w1", Role::Worker);
    let base = submitted();
    // 1. Resolve their own submitted report with a transition claiming to start at "approved".
    let c = change_on(Some(&base), "w1", 1, |tx| {
        append_transition(tx, "approved", "resolved", "w1", "worker");
        tx.put(ROOT, "status", "resolved").unwrap();
    });
    let r = refused(push(&w, Some(&base), &c));
    assert_eq!(r.code, RejectCode::Denied);
    assert_eq!(r.field.as_deref(), Some("transitions"), "{r}");
    // 2. A status set without a transition.
    let c = change_on(Some(&base), "w1", 1, |tx| {
        tx.put(ROOT, "status", "draft").unwrap();
    });
    let r = refused(push(&w, Some(&base), &c));
    assert_eq!(r.field.as_deref(), Some("status"), "{r}");
    // 3. A concurrent (losing or winning) status value beside the current one.
    let mut doc = Automerge::new();
    doc.set_actor(actor(9));
    let mut tx = doc.transaction();
    tx.put(ROOT, "status", "approved").unwrap();
    tx.commit_with(CommitOptions::default().with_message("w1".to_owned()));
    let sneaky = doc.get_last_local_change().unwrap().clone();
    let r = refused(push(&w, Some(&base), &sneaky));
    assert_eq!(r.code, RejectCode::Denied, "{r}");
    assert_eq!(r.field.as_deref(), Some("status"), "{r}");
    // 4. A transition appended without changing the status.
    let c = change_on(Some(&base), "w1", 1, |tx| {
        append_transition(tx, "submitted", "returned", "w1", "worker");
    });
    assert_eq!(refused(push(&w, Some(&base), &c)).code, RejectCode::Denied);
    // 5. The supervisor may approve; the worker may not, even in the supervisor's name.
    let approve = |by: &str, role: &str| {
        let (by, role) = (by.to_owned(), role.to_owned());
        change_on(Some(&base), &by.clone(), 2, move |tx| {
            append_transition(tx, "submitted", "approved", &by, &role);
            tx.put(ROOT, "status", "approved").unwrap();
        })
    };
    let r = refused(push(&w, Some(&base), &approve("s1", "supervisor")));
    assert_eq!(r.field.as_deref(), Some("transitions"), "{r}");
    let r = refused(push(&w, Some(&base), &approve("w1", "worker")));
    assert_eq!(r.field.as_deref(), Some("status"), "{r}");
    let ok = push(
        &who("s1", Role::Supervisor),
        Some(&base),
        &approve("s1", "supervisor"),
    );
    assert_eq!(ok.unwrap().record.status(), Some("approved"));
}

#[test]
fn a_cancelled_task_cannot_be_moved_back_by_its_assignee() {
    let w = who("w1", Role::Worker);
    let cancelled = task("cancelled");
    // Based on the current heads.
    let c = change_on(Some(&cancelled), "w1", 1, |tx| {
        append_transition(tx, "cancelled", "done", "w1", "worker");
        tx.put(ROOT, "status", "done").unwrap();
    });
    assert_eq!(
        refused(push(&w, Some(&cancelled), &c)).code,
        RejectCode::Denied
    );
    // Based on the heads from before the cancel, as an offline device would, with a high counter.
    let mut before_cancel = cancelled.doc.clone();
    let heads: Vec<_> = cancelled
        .doc
        .get_changes(&[])
        .iter()
        .take(1)
        .map(automerge::Change::hash)
        .collect();
    before_cancel = before_cancel.fork_at(&heads).unwrap_or(before_cancel);
    before_cancel.set_actor(actor(1));
    let mut tx = before_cancel.transaction();
    append_transition(&mut tx, "accepted", "done", "w1", "worker");
    tx.put(ROOT, "status", "done").unwrap();
    tx.commit_with(CommitOptions::default().with_message("w1".to_owned()));
    let stale = before_cancel.get_last_local_change().unwrap().clone();
    let r = refused(push(&w, Some(&cancelled), &stale));
    assert_eq!(r.code, RejectCode::Denied, "{r}");
    // And an assignee may not rewrite the leader's title or description.
    let open = task("accepted");
    for key in ["title", "description"] {
        let c = change_on(Some(&open), "w1", 1, |tx| {
            let (_, t) = tx.get(ROOT, key).unwrap().unwrap();
            tx.splice_text(&t, 0, 0, "改").unwrap();
        });
        let r = refused(push(&w, Some(&open), &c));
        assert_eq!(
            (r.code, r.field.as_deref()),
            (RejectCode::Denied, Some(key)),
            "{r}"
        );
    }
}

#[test]
fn forged_comments_are_refused() {
    let w = who("w1", Role::Worker);
    let base = submitted();
    let comments =
        |tx: &automerge::transaction::Transaction<'_>| tx.get(ROOT, "comments").unwrap().unwrap().1;
    let in_their_name = change_on(Some(&base), "w1", 1, |tx| {
        let l = comments(tx);
        let c = tx.insert_object(&l, 1, ObjType::Map).unwrap();
        tx.put(&c, "id", "c2").unwrap();
        tx.put(&c, "by", "s1").unwrap();
        tx.put(&c, "at", 11).unwrap();
        let t = tx.put_object(&c, "text", ObjType::Text).unwrap();
        tx.splice_text(&t, 0, 0, "同意").unwrap();
    });
    let deleted = change_on(Some(&base), "w1", 1, |tx| {
        let l = comments(tx);
        tx.delete(&l, 0).unwrap();
    });
    let rewritten = change_on(Some(&base), "w1", 1, |tx| {
        let l = comments(tx);
        let (_, c) = tx.get(&l, 0).unwrap().unwrap();
        let (_, t) = tx.get(&c, "text").unwrap().unwrap();
        tx.splice_text(&t, 0, 5, "不用补充").unwrap();
    });
    let replaced = change_on(Some(&base), "w1", 1, |tx| {
        // The same content in a new list object: concurrent comments would be lost.
        let l = tx.put_object(ROOT, "comments", ObjType::List).unwrap();
        let c = tx.insert_object(&l, 0, ObjType::Map).unwrap();
        tx.put(&c, "id", "c1").unwrap();
        tx.put(&c, "by", "s1").unwrap();
        tx.put(&c, "at", 3).unwrap();
        let t = tx.put_object(&c, "text", ObjType::Text).unwrap();
        tx.splice_text(&t, 0, 0, "请补充照片").unwrap();
    });
    for c in [in_their_name, deleted, rewritten, replaced] {
        let r = refused(push(&w, Some(&base), &c));
        assert_eq!(
            (r.code, r.field.as_deref()),
            (RejectCode::Denied, Some("comments")),
            "{r}"
        );
    }
    // Their own comment is fine.
    let own = change_on(Some(&base), "w1", 1, |tx| {
        let l = comments(tx);
        let c = tx.insert_object(&l, 1, ObjType::Map).unwrap();
        tx.put(&c, "id", "c2").unwrap();
        tx.put(&c, "by", "w1").unwrap();
        tx.put(&c, "at", 11).unwrap();
        let t = tx.put_object(&c, "text", ObjType::Text).unwrap();
        tx.splice_text(&t, 0, 0, "已补充").unwrap();
    });
    assert_eq!(
        push(&w, Some(&base), &own).unwrap().record.comments().len(),
        2
    );
}

#[test]
fn fixed_fields_cannot_change_even_to_the_same_value() {
    let base = submitted();
    // A concurrent put of the same author (Automerge skips a put of an unchanged value, so the
    // attacker writes from a document without the history): invisible in the typed record, still
    // a second value under a fixed key.
    let c = change_on(None, "w1", 8, |tx| {
        tx.put(ROOT, "author", "w1").unwrap();
    });
    let r = refused(push(&who("w1", Role::Worker), Some(&base), &c));
    assert_eq!(
        (r.code, r.field.as_deref()),
        (RejectCode::Denied, Some("author")),
        "{r}"
    );
}

#[test]
fn a_device_keeps_keys_of_a_newer_schema_but_the_server_refuses_them() {
    let c = change_on(None, "w1", 1, |tx| {
        gridwork_model::doc::write_new(tx, &report("draft", json!([]))).unwrap();
        tx.put(ROOT, "priority_v2", "high").unwrap();
        let l = tx.put_object(ROOT, "tags_v2", ObjType::List).unwrap();
        tx.insert(&l, 0, "楼道").unwrap();
    });
    let mut doc = Automerge::new();
    let fresh = gate::admit_pulled(&mut doc, &[c.raw_bytes().to_vec()]).unwrap();
    assert_eq!(fresh.len(), 1);
    assert_eq!(
        doc.get(ROOT, "priority_v2")
            .unwrap()
            .map(|(v, _)| v.to_string()),
        Some("\"high\"".to_owned())
    );
    let r = refused(push(&who("w1", Role::Worker), None, &c));
    assert_eq!(r.code, RejectCode::InvalidRecord);
    assert_eq!(r.field.as_deref(), Some("priority_v2"));
}

#[test]
fn a_change_whose_checksum_does_not_match_is_corrupt() {
    // Found while seeding the fuzzer: Automerge parses it, but a stored document holding it no
    // longer loads.
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus/change_gate/seed-hostile-bad-checksum"),
    )
    .unwrap();
    assert!(
        Change::try_from(&bytes[..]).is_ok(),
        "Automerge alone accepts it"
    );
    let r = gate::parse_change(&bytes).unwrap_err();
    assert_eq!(r.code, RejectCode::Corrupt);
    let mut doc = Automerge::new();
    assert_eq!(
        gate::admit_pulled(&mut doc, &[bytes]).unwrap_err().code,
        RejectCode::Corrupt
    );
}
