//! Class 1, poison document ids: a valid record pushed under an id that devices cannot store. The
//! landed server stored it and sent it to every device of the street, whose sync then failed on
//! it every time: one request stopped a whole street's sync. Plus the admin's way out for a
//! document already stored: quarantine it.

use gridwork_model::Error;
use gridwork_protocol::wire::{PushDoc, RejectCode};
use gridwork_tests::attack::*;
use gridwork_tests::{snapshot, Device};

const CLASS: &str = "poison_id";

#[test]
fn poison_doc_ids_are_refused_and_the_street_keeps_syncing() {
    let mut g = Guard::start(CLASS, &[]);
    let url = g.url();
    let worker = Device::sign_in(&url, "worker");
    let leader = Device::sign_in(&url, "leader");
    let sup = Device::sign_in(&url, "supervisor");
    for d in [&worker, &leader, &sup] {
        d.sync_ok();
    }

    // A second client of the same worker, hand-made.
    let att = Attacker::sign_in(&url, "worker");
    let spaced = "poison/id with space".to_owned();
    let long = format!("poison-{}", "x".repeat(64)); // 71 characters of allowed ones
    assert!(long.len() > 64);
    let mut docs = Vec::new();
    for id in [&spaced, &long] {
        let (_, change) = att.create(&draft_report("furong-01", &att.user_id, "毒丸文档"));
        docs.push(PushDoc {
            doc_id: id.clone(),
            changes: vec![change],
        });
    }
    let resp = g.must("push under poison ids", att.push(docs));

    // The street keeps syncing: a new report reaches everyone, nobody holds the poison.
    let fresh = worker.report("furong-01", "毒丸之后的新上报");
    for d in [&worker, &leader, &sup] {
        d.sync()
            .unwrap_or_else(|e| panic!("{} cannot sync after the poison push: {e}", d.name));
    }
    for d in [&leader, &sup] {
        assert_eq!(
            d.store.get(&fresh).map(|r| r.record.status()),
            Ok(Some("submitted")),
            "{} received the new report",
            d.name
        );
        let held = snapshot(&d.store, None);
        assert!(!held.contains_key(&spaced) && !held.contains_key(&long));
    }
    // A new device of the street too.
    let late = Device::sign_in(&url, "supervisor");
    late.sync()
        .unwrap_or_else(|e| panic!("a new supervisor device cannot sync: {e}"));
    assert!(late.store.get(&fresh).is_ok());

    // (Checked last, so that an unfixed server shows the harm first: the street's sync fails.)
    assert_refused(&resp, &spaced, RejectCode::InvalidId, Some(&["doc_id"]));
    assert_refused(&resp, &long, RejectCode::InvalidId, Some(&["doc_id"]));
    g.check("doc_ids");
}

#[test]
fn admin_quarantine_takes_a_document_out_of_sync_until_restored() {
    let mut g = Guard::start(CLASS, &[]);
    let url = g.url();
    let att = Attacker::sign_in(&url, "worker");
    let (id, mut doc) = att.create_accepted(&draft_report("furong-01", &att.user_id, "待隔离"));
    let other = Device::sign_in(&url, "worker");
    let control = other.report("furong-01", "隔离期间的正常上报");
    other.sync_ok();

    let out = g
        .server
        .admin(&["quarantine-doc", &id, "--reason", "issue 8 test"]);
    eprintln!("quarantine-doc: {out}");
    let listed = g.server.admin(&["list-quarantined-docs"]);
    assert!(listed.contains(&id), "list-quarantined-docs: {listed}");

    // A fresh device no longer pulls it (and still pulls everything else).
    let s1 = Device::sign_in(&url, "supervisor");
    s1.sync_ok();
    assert!(
        matches!(s1.store.get(&id), Err(Error::NotFound { .. })),
        "a quarantined document was pulled"
    );
    assert!(s1.store.get(&control).is_ok());

    // Pushes to it are refused.
    let title = obj_at(&doc, "title");
    let change = att.change(&mut doc, |tx| {
        use automerge::transaction::Transactable;
        tx.splice_text(&title, 0, 0, "再次")
    });
    let resp = g.must(
        "push to a quarantined document",
        att.push_one(&id, change.clone()),
    );
    assert_refused(&resp, &id, RejectCode::Quarantined, None);

    // Restored: fresh devices pull it again, and the device's change (kept, as quarantine refusals
    // are shown to the user, not lost) can be sent again.
    let out = g.server.admin(&["restore-doc", &id]);
    eprintln!("restore-doc: {out}");
    let listed = g.server.admin(&["list-quarantined-docs"]);
    assert!(
        !listed.contains(&id),
        "still listed after restore: {listed}"
    );
    let s2 = Device::sign_in(&url, "supervisor");
    s2.sync_ok();
    let rec = s2
        .store
        .get(&id)
        .unwrap_or_else(|e| panic!("the restored document is not pulled: {e}"));
    assert_eq!(rec.record.status(), Some("draft"));
    let resp = g.must("push after restore", att.push_one(&id, change));
    assert_accepted(&resp, &id);
    g.check("quarantine");
}
