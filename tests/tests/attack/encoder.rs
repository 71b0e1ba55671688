//! The hand-made change encoder is what the memory attacks rely on: check it against Automerge's
//! own decoder on the same shapes, small enough to apply here.

use automerge::{Change, ReadDoc};
use gridwork_tests::attack::*;

fn base() -> (Automerge, automerge::ActorId) {
    let actor = automerge::ActorId::random();
    let mut doc = Automerge::new();
    doc.set_actor(actor.clone());
    let rec = draft_report("furong-01", "u-1", "标题");
    let json = rec.to_json().unwrap();
    let mut tx = doc.transaction();
    gridwork_model::doc::write_new(&mut tx, &json).unwrap();
    tx.commit_with(automerge::transaction::CommitOptions::default().with_message("u-1".to_owned()));
    (doc, actor)
}

#[test]
fn text_fill_decodes_and_applies_as_automerge_would() {
    let (mut doc, actor) = base();
    let desc = obj_at(&doc, "description");
    let before = doc.text(&desc).unwrap();
    let bytes = fill_sequence(&doc, &actor, "u-1", &desc, 1000, Fill::Char('a'));
    let change = Change::try_from(&bytes[..]).expect("Automerge parses the hand-made change");
    assert_eq!(change.len(), 1000, "one operation per character");
    assert_eq!(change.message(), Some("u-1"));
    assert_eq!(change.actor_id(), &actor);
    assert_eq!(change.deps(), &doc.get_heads()[..]);
    doc.apply_changes([change]).expect("applies");
    assert_eq!(
        doc.text(&desc).unwrap(),
        format!("{}{before}", "a".repeat(1000))
    );

    // A second fill on top (seq 3, start op after the first fill) also applies.
    let bytes = fill_sequence(&doc, &actor, "u-1", &desc, 5, Fill::Char('王'));
    let change = Change::try_from(&bytes[..]).unwrap();
    assert_eq!(change.seq(), 3);
    doc.apply_changes([change]).unwrap();
    assert!(doc.text(&desc).unwrap().starts_with("王王王王王a"));
}

#[test]
fn null_fill_of_another_actors_list_decodes_and_applies() {
    let (doc, _) = base();
    // Another actor (a second device) writes into the first device's list.
    let other = automerge::ActorId::random();
    let mut mine = doc.fork();
    mine.set_actor(other.clone());
    let photos = obj_at(&doc, "photos");
    let bytes = fill_sequence(&mine, &other, "u-1", &photos, 777, Fill::Null);
    assert!(bytes.len() < 200, "{} bytes for 777 nulls", bytes.len());
    let change = Change::try_from(&bytes[..]).unwrap();
    assert_eq!(change.len(), 777);
    assert_eq!(change.seq(), 1);
    mine.apply_changes([change]).unwrap();
    assert_eq!(mine.length(&photos), 777);
    assert!(matches!(
        mine.get(&photos, 776).unwrap(),
        Some((automerge::Value::Scalar(s), _)) if s.is_null()
    ));
}

#[test]
fn twenty_million_characters_are_a_kilobyte_on_the_wire() {
    let (doc, actor) = base();
    let desc = obj_at(&doc, "description");
    let bytes = fill_sequence(&doc, &actor, "u-1", &desc, 20_000_000, Fill::Char('a'));
    assert!(bytes.len() > 20_000_000);
    let wire = gridwork_protocol::wire::encode_request(&push_request(vec![
        gridwork_protocol::wire::PushDoc {
            doc_id: new_id(),
            changes: vec![bytes],
        },
    ]));
    eprintln!("20M-character change: {} bytes on the wire", wire.len());
    assert!(wire.len() < 4096, "{} bytes on the wire", wire.len());
    let nulls = fill_sequence(
        &doc,
        &actor,
        "u-1",
        &obj_at(&doc, "photos"),
        20_000_000,
        Fill::Null,
    );
    eprintln!("20M null inserts: {} bytes raw", nulls.len());
    assert!(nulls.len() < 300);
}

#[test]
fn compressed_form_is_what_change_bytes_gives() {
    let (mut doc, _) = base();
    let desc = obj_at(&doc, "description");
    let mut tx = doc.transaction();
    automerge::transaction::Transactable::splice_text(&mut tx, &desc, 0, 0, &"b".repeat(2000))
        .unwrap();
    tx.commit_with(automerge::transaction::CommitOptions::default().with_message("u-1".to_owned()));
    let mut change = doc.get_last_local_change().unwrap();
    let raw = change.raw_bytes().to_vec();
    let by_automerge = change.bytes().into_owned();
    assert_eq!(by_automerge[8], 2, "Change::bytes() compressed it");
    assert_eq!(compressed_form(&raw), by_automerge);
    // And Automerge reads it back as the same change.
    let back = Change::try_from(&compressed_form(&raw)[..]).unwrap();
    assert_eq!(back.hash(), change.hash());
}
