//! Class 5, comment forgery: comments are an append-only conversation in which each entry speaks
//! for its author. The landed server did not look at comments at all: a worker's client could
//! put words in the supervisor's mouth, delete what the supervisor said, or rewrite it.

use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc};
use gridwork_model::Comment;
use gridwork_protocol::wire::RejectCode;
use gridwork_tests::attack::*;
use gridwork_tests::Device;

const CLASS: &str = "comment_forgery";
const SAID: &str = "请补充现场照片后再提交";

/// A submitted report by the worker with one comment by the supervisor; a hand-made client of
/// the worker holding the server's copy.
struct Commented {
    g: Guard,
    id: String,
    supervisor_id: String,
    att: Attacker,
    doc: Automerge,
}

fn commented() -> Commented {
    let g = Guard::start(CLASS, &[]);
    let url = g.url();
    let worker = Device::sign_in(&url, "worker");
    let sup = Device::sign_in(&url, "supervisor");
    let id = worker.report("furong-01", "待评论");
    worker.sync_ok();
    sup.sync_ok();
    sup.store.add_comment(&id, SAID).unwrap();
    sup.sync_ok();
    let att = Attacker::sign_in(&url, "worker");
    let doc = att.fetch_doc(&id);
    Commented {
        g,
        id,
        supervisor_id: sup.user_id(),
        att,
        doc,
    }
}

/// The comments a fresh supervisor device receives: still only the supervisor's, unchanged.
fn assert_comment_intact(c: &Commented) {
    let s = Device::sign_in(&c.g.url(), "supervisor");
    s.sync_ok();
    let rec = s.store.get(&c.id).unwrap().record;
    let comments: Vec<Comment> = match rec {
        gridwork_model::AnyRecord::Report(r) => r.comments,
        other => panic!("not a report: {other:?}"),
    };
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(comments[0].by, c.supervisor_id);
    assert_eq!(comments[0].text, SAID);
}

fn push_and_expect_denied(c: &mut Commented, change: Vec<u8>, what: &str) {
    let resp = c.g.must(what, c.att.push_one(&c.id, change));
    assert_refused(&resp, &c.id, RejectCode::Denied, Some(&["comments"]));
    assert_comment_intact(c);
}

#[test]
fn worker_cannot_append_a_comment_in_the_supervisors_name() {
    let mut c = commented();
    let comments = obj_at(&c.doc, "comments");
    let by = c.supervisor_id.clone();
    let mut doc = c.doc.clone();
    let change = c.att.change(&mut doc, |tx| {
        let n = tx.length(&comments);
        let m = tx.insert_object(&comments, n, ObjType::Map)?;
        tx.put(&m, "id", new_id())?;
        tx.put(&m, "by", by.as_str())?;
        tx.put(&m, "at", now_ms())?;
        let t = tx.put_object(&m, "text", ObjType::Text)?;
        tx.splice_text(&t, 0, 0, "已篡改：同意结案")
    });
    push_and_expect_denied(&mut c, change, "push a comment in another's name");
    c.g.check("comment_in_supervisors_name");
}

#[test]
fn worker_cannot_delete_the_supervisors_comment() {
    let mut c = commented();
    let comments = obj_at(&c.doc, "comments");
    let mut doc = c.doc.clone();
    let change = c.att.change(&mut doc, |tx| tx.delete(&comments, 0));
    push_and_expect_denied(&mut c, change, "push a comment deletion");
    c.g.check("delete_supervisors_comment");
}

#[test]
fn worker_cannot_rewrite_the_supervisors_comment() {
    let mut c = commented();
    let comments = obj_at(&c.doc, "comments");
    let first = item(&c.doc, &comments, 0);
    let text = obj_in(&c.doc, &first, "text");
    let len = c.doc.length(&text) as isize;
    let mut doc = c.doc.clone();
    let change = c.att.change(&mut doc, |tx| {
        tx.splice_text(&text, 0, len, "已篡改：无需补充")
    });
    push_and_expect_denied(&mut c, change, "push a rewritten comment");
    c.g.check("rewrite_supervisors_comment");
}
