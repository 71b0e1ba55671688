//! P1E, P2E, P3E, P9E (issue 12): P1, P2, P3 and P9 on an encrypted device store (SQLCipher,
//! raw 256-bit key) beside the same operations on a plain store, in one process, alternating.
//! Gridwork is the encrypted store, the baseline the plain one; goal: encrypted ≤ 1.3× plain.

use std::time::Instant;

use gridwork_model::*;
use gridwork_store::*;
use rand::SeedableRng;

use crate::core_scenarios::{build_big, new_report};
use crate::{per_op, side_by_side, Config, Scenario};

fn s<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

fn keyed(key: &DbKey) -> StoreOptions {
    StoreOptions {
        key: Some(key.clone()),
        ..StoreOptions::default()
    }
}

const GOAL: &str = "encrypted <= 1.3x plain";
const BASE: &str = "the same on a plain store";

pub fn run(cfg: &Config, want: &dyn Fn(&str) -> bool) -> Result<Vec<Scenario>, String> {
    let mut out = Vec::new();
    let dir = cfg.workdir.join("encrypted");
    s(std::fs::create_dir_all(&dir))?;
    let key = DbKey::random();
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let ops = if cfg.quick { 50 } else { 400 };
    let who = || Identity::new("w1", Role::Worker);

    if want("P1E") || want("P2E") {
        let enc = s(Store::open_with(
            dir.join("write-enc.db"),
            who(),
            keyed(&key),
        ))?;
        let plain = s(Store::open(dir.join("write-plain.db"), who()))?;
        let drafts: Vec<NewReport> = (0..ops).map(|_| new_report(&mut rng, "G01")).collect();
        let (mut enc_ids, mut plain_ids) = (Vec::new(), Vec::new());
        let create = |store: &Store, ids: &mut Vec<String>| {
            let t = Instant::now();
            for d in &drafts {
                if let Ok(id) = store.create_report(d.clone()) {
                    ids.push(id);
                }
            }
            t.elapsed().as_secs_f64() * 1000.0 / drafts.len() as f64
        };
        let (g, b) = side_by_side(
            cfg.repeats,
            || create(&enc, &mut enc_ids),
            || create(&plain, &mut plain_ids),
        );
        if enc_ids.len() != plain_ids.len() || enc_ids.is_empty() {
            return Err("P2E: some creates failed".into());
        }
        if want("P2E") {
            out.push(
                Scenario::new("P2E", "create_report_encrypted", "ms/op", g, b, BASE).goal(GOAL),
            );
        }
        let hot = 400.min(enc_ids.len());
        let edit = |store: &Store, ids: &[String], round: i64| {
            per_op(hot, |i| {
                let v = ((round + i as i64) % 4 + 1) as u8;
                let _ = store.update_report(
                    &ids[ids.len() - hot + i],
                    ReportPatch {
                        severity: Some(v),
                        ..Default::default()
                    },
                );
            })
        };
        let (mut ra, mut rb) = (0, 0);
        let (g, b) = side_by_side(
            cfg.repeats,
            || {
                ra += 1;
                edit(&enc, &enc_ids, ra)
            },
            || {
                rb += 1;
                edit(&plain, &plain_ids, rb)
            },
        );
        if want("P1E") {
            out.push(Scenario::new("P1E", "edit_field_encrypted", "ms/op", g, b, BASE).goal(GOAL));
        }
    }

    if want("P3E") || want("P9E") {
        let n = if cfg.quick { 2_000 } else { 50_000 };
        let plain_path = dir.join(format!("big-{n}.db"));
        let enc_path = dir.join(format!("big-{n}-enc.db"));
        let _ = std::fs::remove_file(&plain_path);
        let t = Instant::now();
        build_big(&plain_path, n, &mut rng)?;
        s(std::fs::copy(&plain_path, &enc_path))?;
        s(crypt::encrypt_in_place(&enc_path, &key))?;
        eprintln!(
            "bench: built a {n}-report store and its encrypted copy in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let q = |grid: &str| ListQuery {
            kind: Some(RecordKind::Report),
            grid: Some(grid.into()),
            open_only: true,
            limit: Some(50),
            ..Default::default()
        };
        if want("P3E") {
            let enc = s(Store::open_with(&enc_path, who(), keyed(&key)))?;
            let plain = s(Store::open(&plain_path, who()))?;
            let reps = if cfg.quick { 20 } else { 200 };
            let list = |store: &Store| {
                per_op(reps, |i| {
                    let page = store
                        .list(&q(&format!("G{:02}", i % 40)))
                        .map_or(0, |p| p.items.len());
                    assert!(page > 0, "P3E: empty page");
                })
            };
            let (g, b) = side_by_side(cfg.repeats, || list(&enc), || list(&plain));
            out.push(
                Scenario::new("P3E", "list_open_reports_encrypted", "ms/op", g, b, BASE)
                    .goal(GOAL)
                    .extra("reports", n),
            );
        }
        if want("P9E") {
            let cold = |opts: StoreOptions, path: &std::path::Path| {
                let t = Instant::now();
                let page = Store::open_with(path, who(), opts)
                    .and_then(|st| st.list(&q("G07")))
                    .map_or(0, |p| p.items.len());
                assert!(page > 0, "P9E: empty first page");
                t.elapsed().as_secs_f64() * 1000.0
            };
            let (g, b) = side_by_side(
                cfg.repeats,
                || cold(keyed(&key), &enc_path),
                || cold(StoreOptions::default(), &plain_path),
            );
            out.push(
                Scenario::new("P9E", "cold_open_encrypted", "ms", g, b, BASE)
                    .goal(GOAL)
                    .extra("reports", n),
            );
        }
    }
    Ok(out)
}
