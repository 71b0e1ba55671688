//! Showing personal data in full takes a reason and leaves a trace (issue 12).

use gridwork_model::*;
use gridwork_store::*;

#[test]
fn records_are_masked_until_revealed_with_a_reason_that_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("d.db"), Identity::new("w1", Role::Worker)).unwrap();
    let id = store
        .create_household(NewHousehold {
            grid: "G1".into(),
            address: "芙蓉街1号".into(),
            members: vec![Member {
                name: "赵秀英".into(),
                id_number: Some("370102194105060027".into()),
                phone: Some("13912345678".into()),
                birth_year: None,
                tags: vec![],
            }],
            notes: String::new(),
        })
        .unwrap();
    let AnyRecord::Household(h) = store.get_masked(&id).unwrap().record else {
        panic!("a household")
    };
    assert_eq!(h.members[0].phone.as_deref(), Some("139****5678"));
    for bad in ["", "   ", "abc", "看看", &"长".repeat(501), "理由\u{7}理由"] {
        assert!(
            matches!(store.reveal(&id, bad), Err(Error::InvalidInput { ref field, .. }) if field == "reason"),
            "{bad:?}"
        );
    }
    assert!(
        store.access_log(10).unwrap().is_empty(),
        "refusals log nothing"
    );
    let full = store.reveal(&id, "  入户核实身份  ").unwrap();
    let AnyRecord::Household(h) = full.record else {
        panic!()
    };
    assert_eq!(h.members[0].phone.as_deref(), Some("13912345678"));
    let log = store.access_log(10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].reason, "入户核实身份");
    assert_eq!(log[0].user_id, "w1");
    assert_eq!(log[0].what, "household");
    let pending = store.sync_side().pending_access(10).unwrap();
    assert_eq!(pending.len(), 1);
    store.sync_side().mark_access_sent(&[pending[0].0]).unwrap();
    assert!(store.sync_side().pending_access(10).unwrap().is_empty());
    assert_eq!(
        store.access_log(10).unwrap().len(),
        1,
        "sent entries stay in the log"
    );
    assert!(matches!(
        store.reveal("no-such", "入户核实身份"),
        Err(Error::NotFound { .. })
    ));
}
