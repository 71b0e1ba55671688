//! Class 2, deep nesting: maps nested hundreds or thousands of levels deep in one change. The
//! landed server read documents recursively and crashed on the deepest (stack overflow aborts
//! the whole process: every user's sync stops).

use automerge::ROOT;
use gridwork_protocol::wire::RejectCode;
use gridwork_tests::attack::*;

const CLASS: &str = "deep_nesting";

/// A new draft report whose `location`, or an extra root key, holds `depth` nested maps, in one
/// change.
fn deep_report(att: &Attacker, key: &str, depth: usize) -> Vec<u8> {
    let mut rec = draft_report("furong-01", &att.user_id, "深层嵌套")
        .to_json()
        .unwrap();
    if let Some(m) = rec.as_object_mut() {
        m.remove(key);
    }
    let mut doc = att.new_doc();
    att.change(&mut doc, |tx| {
        gridwork_model::doc::write_new(tx, &rec).expect("write record");
        nest_maps(tx, &ROOT, key, depth)
    })
}

fn attack(key: &str, expected_field: &str) {
    let _heavy = heavy_lock();
    let mut g = Guard::start(CLASS, &[]);
    let att = Attacker::sign_in(&g.url(), "worker");
    for depth in [500, 5_000] {
        let id = new_id();
        let change = deep_report(&att, key, depth);
        eprintln!(
            "{key} nested {depth} deep: a change of {} bytes",
            change.len()
        );
        let resp = g.must(
            &format!("push {key} nested {depth} deep"),
            att.push_one(&id, change),
        );
        g.check(&format!("{key}_{depth}"));
        assert_refused(
            &resp,
            &id,
            RejectCode::InvalidRecord,
            Some(&[expected_field]),
        );
    }
    // Still serving records.
    att.create_accepted(&draft_report("furong-01", &att.user_id, "嵌套之后"));
}

#[test]
fn maps_nested_deep_under_location_are_refused_with_the_path() {
    attack("location", "location.a");
}

#[test]
fn maps_nested_deep_under_an_unknown_root_key_are_refused_with_the_key() {
    attack("x", "x");
}
