//! Gridwork benchmark harness.
//!
//! Every scenario runs Gridwork and its baseline side by side in this one process, alternating
//! samples so machine noise hits both, repeats, and reports medians and the ratio
//! gridwork / baseline. Writes `target/bench/report.json` and prints the same as a table.
//!
//! `--quick` shrinks data sets and repeats to a smoke run (CI): it proves the harness works; its
//! numbers are not worth quoting. `--only P1,P3` runs a subset.

mod console;
mod core_scenarios;
mod directory;
mod encrypted;
mod gate;
mod photo;
mod sync;

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub id: String,
    pub name: String,
    pub unit: String,
    pub gridwork: f64,
    pub baseline: f64,
    pub baseline_name: String,
    pub ratio: f64,
    /// Goal as written in the issue, e.g. "ratio <= 1.5".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// Extra measurements (bytes, round trips, peak memory).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Scenario {
    pub fn new(
        id: &str,
        name: &str,
        unit: &str,
        gridwork: f64,
        baseline: f64,
        baseline_name: &str,
    ) -> Self {
        Scenario {
            id: id.into(),
            name: name.into(),
            unit: unit.into(),
            gridwork,
            baseline,
            baseline_name: baseline_name.into(),
            ratio: if baseline > 0.0 {
                gridwork / baseline
            } else {
                f64::NAN
            },
            goal: None,
            extra: serde_json::Map::new(),
        }
    }
    #[must_use]
    pub fn goal(mut self, g: &str) -> Self {
        self.goal = Some(g.into());
        self
    }
    #[must_use]
    pub fn extra(mut self, k: &str, v: impl Into<serde_json::Value>) -> Self {
        self.extra.insert(k.into(), v.into());
        self
    }
}

pub struct Config {
    pub quick: bool,
    pub repeats: usize,
    pub workdir: PathBuf,
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => f64::midpoint(v[n / 2 - 1], v[n / 2]),
    }
}

/// Alternate `a` and `b` `repeats` times; each returns the time of one sample (ms per op).
/// Returns (median a, median b).
pub fn side_by_side(
    repeats: usize,
    mut a: impl FnMut() -> f64,
    mut b: impl FnMut() -> f64,
) -> (f64, f64) {
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for i in 0..repeats {
        if i % 2 == 0 {
            xs.push(a());
            ys.push(b());
        } else {
            ys.push(b());
            xs.push(a());
        }
    }
    (median(&mut xs), median(&mut ys))
}

/// Time `n` calls of `f`, in ms per call.
pub fn per_op(n: usize, mut f: impl FnMut(usize)) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        f(i);
    }
    start.elapsed().as_secs_f64() * 1000.0 / n as f64
}

fn print_table(s: &[Scenario]) {
    println!("| id | scenario | unit | gridwork | baseline | baseline is | ratio | goal |");
    println!("|---|---|---|---:|---:|---|---:|---|");
    for x in s {
        println!(
            "| {} | {} | {} | {:.4} | {:.4} | {} | {:.3} | {} |",
            x.id,
            x.name,
            x.unit,
            x.gridwork,
            x.baseline,
            x.baseline_name,
            x.ratio,
            x.goal.as_deref().unwrap_or("")
        );
        if !x.extra.is_empty() {
            println!(
                "|  | ↳ {} |  |  |  |  |  |  |",
                serde_json::Value::Object(x.extra.clone())
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').map(|x| x.trim().to_uppercase()).collect());
    let want = |id: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == id));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out_dir = root.join("target").join("bench");
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        eprintln!("bench: cannot create {}: {e}", out_dir.display());
        std::process::exit(1);
    }
    let tmp = match tempfile::tempdir_in(&out_dir) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bench: temp dir: {e}");
            std::process::exit(1);
        }
    };
    let cfg = Config {
        quick,
        repeats: if quick { 3 } else { 15 },
        workdir: tmp.path().to_path_buf(),
    };
    let mut scenarios: Vec<Scenario> = Vec::new();
    let mut failures = Vec::new();
    let mut record = |r: Result<Vec<Scenario>, String>, what: &str| match r {
        Ok(mut s) => scenarios.append(&mut s),
        Err(e) => failures.push(format!("{what}: {e}")),
    };
    // P8 first: its peak-memory reading resets VmHWM to the current RSS, which later scenarios
    // (the in-process server of P7, the document caches) would inflate.
    if want("P8") {
        let repeats = if quick { 1 } else { 9 };
        record(
            photo::bench_photo_ingest(repeats, &cfg.workdir.join("photo")).map(|p| {
                vec![Scenario::new(
                    "P8",
                    "photo_ingest",
                    "ms",
                    p.gridwork_ms,
                    p.baseline_ms,
                    "ImageMagick convert",
                )
                .goal("ratio <= 0.5, peak <= 100 MB")
                .extra("gridwork_output_bytes", p.gridwork_bytes)
                .extra("baseline_output_bytes", p.baseline_bytes)
                .extra(
                    "gridwork_peak_mb",
                    if p.gridwork_peak_mb.is_finite() {
                        serde_json::json!(p.gridwork_peak_mb)
                    } else {
                        serde_json::Value::Null
                    },
                )]
            }),
            "P8 photo_ingest",
        );
    }
    record(core_scenarios::run(&cfg, &want), "core scenarios");
    record(encrypted::run(&cfg, &want), "encrypted store scenarios");
    record(sync::run(&cfg, &want), "sync scenarios");
    record(gate::run(&cfg, &want), "gate scenarios");
    record(directory::run(&cfg, &want), "directory scenarios");
    record(console::run(&cfg, &want), "console scenarios");
    print_table(&scenarios);
    let report = serde_json::json!({ "quick": quick, "scenarios": scenarios });
    let path = out_dir.join("report.json");
    match serde_json::to_string_pretty(&report).map(|s| std::fs::write(&path, s)) {
        Ok(Ok(())) => println!("\nwrote {}", path.display()),
        _ => failures.push(format!("could not write {}", path.display())),
    }
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("bench: FAILED {f}");
        }
        std::process::exit(1);
    }
}
