//! Class 3, memory: small requests that expand to huge documents. The landed server decoded and
//! applied such a change (twice: as a batch, then one by one), read the whole document into JSON
//! and only then found the text too long: a 1 KB request cost gigabytes. The fixed server counts
//! a change's operations from its columns before Automerge decodes one (`too_large`), and reads
//! documents against their schema with limits (`invalid_record`, naming the field).

use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc, ROOT};
use gridwork_protocol::gate;
use gridwork_protocol::wire::{encode_request, PushDoc, RejectCode};
use gridwork_tests::attack::*;

const CLASS: &str = "memory";

/// Every memory attack: the server is capped, the heavy lock held, and the answer must come
/// within 20 s (a liveness guard, not a speed test).
fn setup() -> (std::fs::File, Guard, Attacker) {
    let heavy = heavy_lock();
    let g = Guard::start(CLASS, &[]);
    let mut att = Attacker::sign_in(&g.url(), "worker");
    att.timeout = Duration::from_secs(20);
    (heavy, g, att)
}

/// Pushes `change` to `id`; checks the server (alive, healthy, peak RSS recorded as `test` and
/// under the bound), then that the change was refused with `code` (and `field`).
#[allow(clippy::too_many_arguments)]
fn attack(
    g: &mut Guard,
    test: &str,
    att: &Attacker,
    id: &str,
    change: Vec<u8>,
    code: RejectCode,
    field: Option<&[&str]>,
) {
    let body = encode_request(&push_request(vec![PushDoc {
        doc_id: id.to_owned(),
        changes: vec![change],
    }]));
    eprintln!("request body: {} bytes on the wire", body.len());
    let resp = timed("answer", || att.post_sync(body));
    let resp = g.must("push the attack", resp);
    g.check(test);
    assert_refused(&resp, id, code, field);
}

#[test]
fn twenty_million_characters_in_a_one_kilobyte_request_are_too_large() {
    let (_heavy, mut g, att) = setup();
    let (id, doc) = att.create_accepted(&draft_report("furong-01", &att.user_id, "内存攻击"));
    let desc = obj_at(&doc, "description");
    let change = fill_sequence(
        &doc,
        &att.actor,
        &att.user_id,
        &desc,
        20_000_000,
        Fill::Char('a'),
    );
    attack(
        &mut g,
        "text_20m",
        &att,
        &id,
        change,
        RejectCode::TooLarge,
        None,
    );

    // Nothing of it was stored.
    let sup = Attacker::sign_in(&g.url(), "supervisor");
    let held = sup.fetch_doc(&id);
    assert_eq!(held.text(obj_at(&held, "description")).unwrap(), "楼道堆物");
}

#[test]
fn twenty_million_run_length_encoded_null_inserts_are_too_large() {
    let (_heavy, mut g, att) = setup();
    let (id, doc) = att.create_accepted(&draft_report("furong-01", &att.user_id, "空值攻击"));
    let photos = obj_at(&doc, "photos");
    let change = fill_sequence(
        &doc,
        &att.actor,
        &att.user_id,
        &photos,
        20_000_000,
        Fill::Null,
    );
    eprintln!("20M null inserts: a change of {} bytes", change.len());
    attack(
        &mut g,
        "nulls_20m",
        &att,
        &id,
        change,
        RejectCode::TooLarge,
        None,
    );
}

#[test]
fn notes_of_a_million_characters_are_too_large_by_operation_count() {
    let (_heavy, mut g, att) = setup();
    let (id, doc) = att.create_accepted(&household("furong-01", &att.user_id));
    let notes = obj_at(&doc, "notes");
    let change = fill_sequence(
        &doc,
        &att.actor,
        &att.user_id,
        &notes,
        1_000_000,
        Fill::Char('a'),
    );
    assert!(
        change.len() < gate::MAX_CHANGE_BYTES,
        "under the byte limit: only the operation count catches it"
    );
    attack(
        &mut g,
        "notes_1m",
        &att,
        &id,
        change,
        RejectCode::TooLarge,
        None,
    );
}

#[test]
fn notes_over_the_field_limit_but_under_the_operation_limit_are_an_invalid_record() {
    let (_heavy, mut g, att) = setup();
    let (id, mut doc) = att.create_accepted(&household("furong-01", &att.user_id));
    let notes = obj_at(&doc, "notes");
    let change = att.change(&mut doc, |tx| {
        tx.splice_text(&notes, 0, 0, &"a".repeat(25_000))
    });
    let ops = automerge::Change::try_from(&change[..]).unwrap().len();
    assert!((ops as u64) < gate::MAX_CHANGE_OPS, "{ops} operations");
    attack(
        &mut g,
        "notes_25k",
        &att,
        &id,
        change,
        RejectCode::InvalidRecord,
        Some(&["notes"]),
    );
}

/// A change adding the root key `foo` holding a 50,000-character text to an accepted report.
fn foo_change(att: &Attacker) -> (String, Vec<u8>) {
    let (id, mut doc) = att.create_accepted(&draft_report("furong-01", &att.user_id, "未知字段"));
    let change = att.change(&mut doc, |tx| {
        let text = tx.put_object(ROOT, "foo", ObjType::Text)?;
        tx.splice_text(&text, 0, 0, &"a".repeat(50_000))
    });
    (id, change)
}

#[test]
fn an_unknown_root_key_with_a_long_text_is_an_invalid_record() {
    let (_heavy, mut g, att) = setup();
    let (id, change) = foo_change(&att);
    attack(
        &mut g,
        "unknown_key_50k",
        &att,
        &id,
        change,
        RejectCode::InvalidRecord,
        Some(&["foo"]),
    );
}

#[test]
fn compressed_change_chunks_are_corrupt() {
    let (_heavy, mut g, att) = setup();
    // The same change as above, in the compressed form Change::bytes() gives (devices send
    // raw_bytes()).
    let (id, change) = foo_change(&att);
    let packed = compressed_form(&change);
    eprintln!("{} raw bytes compressed to {}", change.len(), packed.len());
    attack(
        &mut g,
        "compressed_chunk",
        &att,
        &id,
        packed,
        RejectCode::Corrupt,
        None,
    );
}

#[test]
fn a_compressed_chunk_holding_twenty_million_characters_is_corrupt() {
    let (_heavy, mut g, att) = setup();
    // A DEFLATE bomb: 20 million characters in about 20 KB, which Automerge's parser inflates
    // without a limit.
    let (id, doc) = att.create_accepted(&draft_report("furong-01", &att.user_id, "压缩炸弹"));
    let desc = obj_at(&doc, "description");
    let big = fill_sequence(
        &doc,
        &att.actor,
        &att.user_id,
        &desc,
        20_000_000,
        Fill::Char('a'),
    );
    let bomb = timed("compress the bomb", || compressed_form(&big));
    drop(big);
    eprintln!("DEFLATE bomb: {} bytes", bomb.len());
    assert!(bomb.len() < gate::MAX_CHANGE_BYTES);
    attack(
        &mut g,
        "compressed_bomb_20m",
        &att,
        &id,
        bomb,
        RejectCode::Corrupt,
        None,
    );
}
