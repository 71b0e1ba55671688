//! Class 9, kind forgery: the record kinds became data in this change (`model/src/kinds/`, one
//! registration, typed ids on every record field). A worker's own client sends what the kind
//! table decides: a kind nobody registered, a report turned into a task, a task created by a
//! worker, assignees that break the id rule, a record in someone else's name, and the same change
//! twice. Each goes through a real server, which must refuse it with the field named, stay up
//! and stay within the memory bound.

use automerge::transaction::Transactable;
use automerge::ROOT;
use gridwork_model::{AnyRecord, Priority, Task, TaskStatus};
use gridwork_protocol::wire::{PushDoc, RejectCode};
use gridwork_tests::attack::*;

const CLASS: &str = "kind_forgery";

fn task(grid: &str, author: &str, assignees: &[&str]) -> AnyRecord {
    AnyRecord::Task(Task {
        grid: grid.into(),
        title: "清理楼道".into(),
        description: "三天内清理".into(),
        assignees: assignees.iter().map(|a| (*a).into()).collect(),
        due: None,
        priority: Priority::Normal,
        linked_report: None,
        linked_household: None,
        status: TaskStatus::Assigned,
        transitions: vec![],
        comments: vec![],
        author: author.into(),
        created_at: gridwork_model::Millis(now_ms()),
    })
}

#[test]
fn a_kind_nobody_registered_is_refused_by_name() {
    let mut g = Guard::start(CLASS, &[]);
    let att = Attacker::sign_in(&g.url(), "worker");
    // A report's fields under a kind the server does not know.
    let mut json = draft_report("furong-01", &att.user_id, "未知类型")
        .to_json()
        .expect("json");
    json["kind"] = "dispute".into();
    let (_, change) = att.create_json(&json);
    let id = new_id();
    let resp = g.must("push an unregistered kind", att.push_one(&id, change));
    assert_refused(&resp, &id, RejectCode::InvalidRecord, Some(&["kind"]));
    let sup = Attacker::sign_in(&g.url(), "supervisor");
    assert!(sup.pull_changes(&id).is_empty(), "nothing of it is stored");
    g.check("unregistered_kind");
}

#[test]
fn a_report_cannot_be_turned_into_another_kind() {
    let mut g = Guard::start(CLASS, &[]);
    let att = Attacker::sign_in(&g.url(), "worker");
    let (id, mut doc) = att.create_accepted(&draft_report("furong-01", &att.user_id, "改成任务"));
    for kind in ["task", "household", "visit"] {
        let mut d = doc.fork();
        let change = att.change(&mut d, |tx| tx.put(ROOT, "kind", kind));
        let resp = g.must("push the kind flip", att.push_one(&id, change));
        assert_refused(&resp, &id, RejectCode::Denied, Some(&["kind"]));
    }
    // The server's copy is still the one accepted report (as another device pulls it).
    let sup = Attacker::sign_in(&g.url(), "supervisor");
    assert_eq!(sup.pull_changes(&id).len(), 1);
    let c = att.change(&mut doc, |tx| tx.put(ROOT, "severity", 3_i64));
    assert_accepted(&g.must("an honest edit", att.push_one(&id, c)), &id);
    g.check("kind_flip");
}

#[test]
fn a_worker_cannot_create_a_task_and_a_leader_cannot_assign_malformed_ids() {
    let mut g = Guard::start(CLASS, &[]);
    let url = g.url();
    let worker = Attacker::sign_in(&url, "worker");
    let (_, change) = worker.create(&task("furong-01", &worker.user_id, &[&worker.user_id]));
    let id = new_id();
    let resp = g.must("a worker's task", worker.push_one(&id, change));
    assert_refused(&resp, &id, RejectCode::Denied, Some(&["assignees"]));

    let leader = Attacker::sign_in(&url, "leader");
    let long = "a".repeat(65);
    for bad in ["has space", "名字", long.as_str(), ""] {
        let (_, change) =
            leader.create(&task("furong-01", &leader.user_id, &[&worker.user_id, bad]));
        let id = new_id();
        let resp = g.must("a malformed assignee", leader.push_one(&id, change));
        assert_refused(&resp, &id, RejectCode::InvalidRecord, Some(&["assignees"]));
        if !bad.is_empty() {
            assert_reasons_quote_nothing(&resp, &[bad]);
        }
    }
    g.check("task_kind_rules");
}

#[test]
fn a_record_in_someone_elses_name_or_grid_is_refused() {
    let mut g = Guard::start(CLASS, &[]);
    let url = g.url();
    let sup = Attacker::sign_in(&url, "supervisor");
    let worker = Attacker::sign_in(&url, "worker");
    let (_, change) = worker.create(&household("furong-01", &sup.user_id));
    let id = new_id();
    let resp = g.must(
        "a household in the supervisor's name",
        worker.push_one(&id, change),
    );
    assert_refused(&resp, &id, RejectCode::Denied, Some(&["author"]));

    // baotu-01 belongs to another community: outside this worker's scope.
    let (_, change) = worker.create(&draft_report("baotu-01", &worker.user_id, "越界"));
    let id = new_id();
    let resp = g.must("a report in another grid", worker.push_one(&id, change));
    assert_refused(&resp, &id, RejectCode::OutOfScope, Some(&["grid"]));
    g.check("forged_author_or_grid");
}

#[test]
fn the_same_change_twice_is_stored_once() {
    let mut g = Guard::start(CLASS, &[]);
    let att = Attacker::sign_in(&g.url(), "worker");
    let (_, change) = att.create(&draft_report("furong-01", &att.user_id, "重复"));
    let id = new_id();
    // Twice in one document of one request, then the same document twice in one request,
    // then the whole request again.
    let twice = PushDoc {
        doc_id: id.clone(),
        changes: vec![change.clone(), change.clone()],
    };
    let resp = g.must("one change twice", att.push(vec![twice]));
    assert!(
        resp.accepted.iter().any(|a| a.doc_id == id),
        "the change itself is fine"
    );
    let again = vec![
        PushDoc {
            doc_id: id.clone(),
            changes: vec![change.clone()],
        },
        PushDoc {
            doc_id: id.clone(),
            changes: vec![change.clone()],
        },
    ];
    let resp = g.must("one document twice", att.push(again));
    assert!(
        resp.rejected
            .iter()
            .any(|r| r.doc_id == id && r.field.as_deref() == Some("doc_id")),
        "the second copy of the document is refused by name"
    );
    let resp = g.must("the request again", att.push_one(&id, change));
    assert!(
        resp.rejected.iter().all(|r| r.doc_id != id),
        "a replay is harmless"
    );
    // Another device pulls it: one change (a device is not sent its own changes back).
    let sup = Attacker::sign_in(&g.url(), "supervisor");
    assert_eq!(
        sup.pull_changes(&id).len(),
        1,
        "stored once, however often sent"
    );
    g.check("replay");
}
