//! Class 4, workflow forgery: a worker's own client writes status and transitions the way a
//! supervisor or leader would. The landed server checked that an appended transition existed in
//! the workflow and that its role could make it, but not that its `from` was the current status,
//! and accepted a status found anywhere in the history as "recorded": a worker could resolve
//! their own report, reopen a closed one, or finish a cancelled task.

use automerge::transaction::Transactable;
use automerge::{ReadDoc, ROOT};
use gridwork_model::AnyRecord;
use gridwork_model::Priority;
use gridwork_protocol::wire::RejectCode;
use gridwork_store::NewTask;
use gridwork_tests::attack::*;
use gridwork_tests::Device;

const CLASS: &str = "workflow_forgery";
const STATUS: &[&str] = &["status", "transitions"];

/// The record as a fresh supervisor device receives it.
fn as_supervisor_sees_it(url: &str, id: &str) -> AnyRecord {
    let s = Device::sign_in(url, "supervisor");
    s.sync_ok();
    s.store
        .get(id)
        .expect("the supervisor holds the record")
        .record
}

#[test]
fn worker_cannot_resolve_their_own_submitted_report_with_a_forged_transition() {
    let mut g = Guard::start(CLASS, &[]);
    let url = g.url();
    let worker = Device::sign_in(&url, "worker");
    let id = worker.report("furong-01", "自己结案");
    worker.sync_ok();
    let before = as_supervisor_sees_it(&url, &id);
    assert_eq!(before.status(), Some("submitted"));

    let att = Attacker::sign_in(&url, "worker");
    let mut doc = att.fetch_doc(&id);
    let tr = obj_at(&doc, "transitions");
    let user = att.user_id.clone();
    let change = att.change(&mut doc, |tx| {
        // approved → resolved is a step anyone may take, but the report was never approved.
        append_transition(tx, &tr, "approved", "resolved", &user, "worker")?;
        tx.put(ROOT, "status", "resolved")
    });
    let resp = g.must("push the forged transition", att.push_one(&id, change));
    assert_refused(&resp, &id, RejectCode::Denied, Some(STATUS));
    assert_eq!(as_supervisor_sees_it(&url, &id), before);
    g.check("resolve_own_report");
}

#[test]
fn worker_cannot_set_a_closed_report_back_to_an_earlier_status_without_a_transition() {
    let mut g = Guard::start(CLASS, &[]);
    let url = g.url();
    let worker = Device::sign_in(&url, "worker");
    let sup = Device::sign_in(&url, "supervisor");
    let id = worker.report("furong-01", "已结案");
    worker.sync_ok();
    sup.sync_ok();
    sup.store.transition(&id, "approved", None).unwrap();
    sup.store.transition(&id, "closed", None).unwrap();
    sup.sync_ok();
    let before = as_supervisor_sees_it(&url, &id);
    assert_eq!(before.status(), Some("closed"));

    let att = Attacker::sign_in(&url, "worker");
    let mut doc = att.fetch_doc(&id);
    // "submitted" is in the history (draft → submitted), so the landed check found it recorded.
    let change = att.change(&mut doc, |tx| tx.put(ROOT, "status", "submitted"));
    let resp = g.must("push the status rollback", att.push_one(&id, change));
    assert_refused(&resp, &id, RejectCode::Denied, Some(STATUS));
    assert_eq!(as_supervisor_sees_it(&url, &id), before);
    g.check("reopen_closed_report");
}

/// A task the leader assigned to the worker, that the worker accepted. Returns the devices, the
/// task id, and the attacker's copy of the task taken before the leader cancels it.
struct CancelledTask {
    g: Guard,
    id: String,
    stale: Automerge,
    att: Attacker,
    before: AnyRecord,
}

fn cancelled_task() -> CancelledTask {
    let g = Guard::start(CLASS, &[]);
    let url = g.url();
    let worker = Device::sign_in(&url, "worker");
    let leader = Device::sign_in(&url, "leader");
    let id = leader
        .store
        .create_task(NewTask {
            grid: "furong-01".into(),
            title: "清理楼道".into(),
            description: "三天内清理".into(),
            assignees: vec![worker.user_id()],
            due: None,
            priority: Priority::Normal,
            linked_report: None,
            linked_household: None,
        })
        .unwrap();
    leader.sync_ok();
    worker.sync_ok();
    worker.store.transition(&id, "accepted", None).unwrap();
    worker.sync_ok();
    let att = Attacker::sign_in(&url, "worker");
    let stale = att.fetch_doc(&id);
    assert_eq!(gridwork_model::doc::read_json(&stale)["status"], "accepted");
    leader.sync_ok();
    leader.store.transition(&id, "cancelled", None).unwrap();
    leader.sync_ok();
    let before = as_supervisor_sees_it(&url, &id);
    assert_eq!(before.status(), Some("cancelled"));
    CancelledTask {
        g,
        id,
        stale,
        att,
        before,
    }
}

/// Appends accepted → done by the worker and sets the status to done.
fn finish(att: &Attacker, doc: &mut Automerge) -> Vec<u8> {
    let tr = obj_at(doc, "transitions");
    let user = att.user_id.clone();
    att.change(doc, |tx| {
        append_transition(tx, &tr, "accepted", "done", &user, "worker")?;
        tx.put(ROOT, "status", "done")
    })
}

#[test]
fn assignee_cannot_finish_a_cancelled_task_on_top_of_the_cancel() {
    let mut t = cancelled_task();
    let mut doc = t.att.fetch_doc(&t.id);
    let change = finish(&t.att, &mut doc);
    let resp =
        t.g.must("push done after cancel", t.att.push_one(&t.id, change));
    assert_refused(&resp, &t.id, RejectCode::Denied, Some(STATUS));
    assert_eq!(as_supervisor_sees_it(&t.g.url(), &t.id), t.before);
    t.g.check("finish_cancelled_task");
}

#[test]
fn assignee_cannot_finish_a_cancelled_task_concurrently_with_the_cancel() {
    let mut t = cancelled_task();
    // Deps are the heads from before the cancel: on its own a legal step, merged a second
    // way out of "accepted".
    let mut doc = t.stale.clone();
    let change = finish(&t.att, &mut doc);
    let resp =
        t.g.must("push done beside the cancel", t.att.push_one(&t.id, change));
    assert_refused(&resp, &t.id, RejectCode::Denied, Some(STATUS));
    assert_eq!(as_supervisor_sees_it(&t.g.url(), &t.id), t.before);
    t.g.check("finish_cancelled_task_concurrently");
}

#[test]
fn assignee_cannot_rewrite_the_leaders_task_title_or_description() {
    let mut g = Guard::start(CLASS, &[]);
    let url = g.url();
    let worker = Device::sign_in(&url, "worker");
    let leader = Device::sign_in(&url, "leader");
    let id = leader
        .store
        .create_task(NewTask {
            grid: "furong-01".into(),
            title: "修复路灯".into(),
            description: "曲水亭街东段".into(),
            assignees: vec![worker.user_id()],
            due: None,
            priority: Priority::Normal,
            linked_report: None,
            linked_household: None,
        })
        .unwrap();
    leader.sync_ok();
    let before = as_supervisor_sees_it(&url, &id);

    for field in ["title", "description"] {
        // A separate session (its own actor) per attempt: each change stands alone.
        let att = Attacker::sign_in(&url, "worker");
        let mut doc = att.fetch_doc(&id);
        let text = obj_at(&doc, field);
        let len = doc.length(&text) as isize;
        let change = att.change(&mut doc, |tx| tx.splice_text(&text, 0, len, "已篡改"));
        let resp = g.must(
            &format!("push a rewritten {field}"),
            att.push_one(&id, change),
        );
        assert_refused(&resp, &id, RejectCode::Denied, Some(&[field]));
    }
    assert_eq!(as_supervisor_sees_it(&url, &id), before);
    g.check("rewrite_task_text");
}
