//! G1–G2: the cost of the trust boundary.
//!
//! - G1: admitting one typical edit (a severity change and two sentences typed into the
//!   description of a 150-character report with a comment and a transition) through the whole
//!   gate — prescan, parse, apply to a fork, reachability, strict schema walk, typed hydration,
//!   policy and workflow — against what an unchecked server does with the same bytes: parse,
//!   fork and apply.
//! - G2: refusing a hostile change that encodes 300,000 inserted characters (300 KB raw, about a
//!   kilobyte once the sync body is compressed),
//!   against Automerge parsing it (the first thing an unchecked server does; applying it would
//!   cost far more). The gate must not even start.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, Change, ObjType, ReadDoc, ROOT};
use gridwork_model::Principal;
use gridwork_model::Role;
use gridwork_protocol::gate::{self, Admitted};

use crate::{per_op, side_by_side, Config, Scenario};

fn base() -> Result<Admitted, String> {
    let json = serde_json::json!({
        "kind": "report", "grid": "G1", "category": "fire_hazard", "severity": 2,
        "title": "楼道堆放杂物，堵塞消防通道",
        "description": "三楼楼道堆放纸箱，堵塞消防通道；电动车在楼道违规充电，电线私拉乱接，灭火器过期未更换。".repeat(3),
        "location": {"lat": 36.6512, "lon": 117.1201, "accuracy_m": 8.0, "address": "芙蓉街20号"},
        "photos": [], "status": "submitted",
        "transitions": [{"from": "draft", "to": "submitted", "by": "w1", "role": "worker", "at": 2, "comment": null}],
        "comments": [{"id": "c1", "by": "s1", "at": 3, "text": "请补充照片"}],
        "author": "w1", "created_at": 1
    });
    let mut doc = Automerge::new();
    doc.set_actor(ActorId::from(&[1u8; 16][..]));
    let mut tx = doc.transaction();
    gridwork_model::doc::write_new(&mut tx, &json).map_err(|e| e.to_string())?;
    tx.commit_with(
        CommitOptions::default()
            .with_message("w1".to_owned())
            .with_time(1),
    );
    Admitted::load(doc).map_err(|r| r.to_string())
}

fn edit(base: &Admitted) -> Result<Vec<u8>, String> {
    let mut doc = base.doc.clone();
    doc.set_actor(ActorId::from(&[2u8; 16][..]));
    let mut tx = doc.transaction();
    tx.put(ROOT, "severity", 3).map_err(|e| e.to_string())?;
    let (_, d) = tx
        .get(ROOT, "description")
        .map_err(|e| e.to_string())?
        .ok_or("no description")?;
    tx.splice_text(&d, 10, 0, "（已联系物业，明日清理）")
        .map_err(|e| e.to_string())?;
    tx.commit_with(
        CommitOptions::default()
            .with_message("w1".to_owned())
            .with_time(5),
    );
    Ok(doc
        .get_last_local_change()
        .ok_or("no change")?
        .raw_bytes()
        .to_vec())
}

fn hostile() -> Result<Vec<u8>, String> {
    let mut doc = Automerge::new();
    doc.set_actor(ActorId::from(&[3u8; 16][..]));
    let mut tx = doc.transaction();
    let t = tx
        .put_object(ROOT, "notes", ObjType::Text)
        .map_err(|e| e.to_string())?;
    tx.splice_text(&t, 0, 0, &"a".repeat(300_000))
        .map_err(|e| e.to_string())?;
    tx.commit_with(CommitOptions::default().with_message("w1".to_owned()));
    Ok(doc
        .get_last_local_change()
        .ok_or("no change")?
        .raw_bytes()
        .to_vec())
}

pub fn run(cfg: &Config, want: &dyn Fn(&str) -> bool) -> Result<Vec<Scenario>, String> {
    let mut out = Vec::new();
    let worker = Principal {
        user_id: "w1".into(),
        role: Role::Worker,
    };
    let in_scope = |g: &str| g == "G1";
    if want("G1") {
        let b = base()?;
        let bytes = edit(&b)?;
        // Sanity: the edit is admitted (a refused edit would be measured on the short path).
        let (c, _) = gate::parse_change(&bytes).map_err(|r| r.to_string())?;
        gate::admit_push(&worker, &in_scope, Some(&b), &[c]).map_err(|r| r.to_string())?;
        let n = if cfg.quick { 20 } else { 400 };
        let mut failed = false;
        let (g, raw) = side_by_side(
            cfg.repeats,
            || {
                per_op(n, |_| {
                    let ok = gate::parse_change(&bytes)
                        .and_then(|(c, _)| gate::admit_push(&worker, &in_scope, Some(&b), &[c]))
                        .is_ok();
                    failed |= !ok;
                })
            },
            || {
                per_op(n, |_| {
                    if let Ok(c) = Change::try_from(&bytes[..]) {
                        let mut d = b.doc.clone();
                        let ok = d.apply_changes([c]).is_ok();
                        std::hint::black_box(d.get_heads());
                        std::hint::black_box(ok);
                    }
                })
            },
        );
        if failed {
            return Err("G1: the gate refused the benchmark's honest edit".into());
        }
        out.push(
            Scenario::new(
                "G1",
                "gate_admit_one_edit",
                "ms/op",
                g,
                raw,
                "unchecked: parse + fork + apply_changes",
            )
            .goal("(reported) the price of the trust boundary per pushed change")
            .extra("change_bytes", bytes.len()),
        );
    }
    if want("G2") {
        let bytes = hostile()?;
        let n = if cfg.quick { 2 } else { 10 };
        let (g, raw) = side_by_side(
            cfg.repeats.min(5),
            || {
                per_op(n * 100, |_| {
                    std::hint::black_box(gate::parse_change(&bytes).is_err());
                })
            },
            || {
                per_op(n, |_| {
                    std::hint::black_box(Change::try_from(&bytes[..]).is_ok());
                })
            },
        );
        out.push(
            Scenario::new(
                "G2",
                "gate_refuse_300k_op_change",
                "ms/op",
                g,
                raw,
                "unchecked: Automerge parse alone",
            )
            .goal("(reported) refused before decoding: ratio << 1")
            .extra("change_bytes", bytes.len()),
        );
    }
    Ok(out)
}
