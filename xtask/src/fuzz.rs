//! `cargo xtask fuzz`: the fuzz targets of `fuzz/` (see fuzz/README.md) for a bounded time.
//!
//! Two engines run the same target functions (`fuzz/src/targets.rs`) over the same committed
//! corpus (`fuzz/corpus/<target>/`):
//! - **libfuzzer**: cargo-fuzz on the nightly toolchain, coverage-guided, AddressSanitizer.
//!   Used when `rustup toolchain list` shows a nightly and cargo-fuzz is installed or installs
//!   (`cargo install cargo-fuzz --locked --root target/tools`).
//! - **stable**: the harness `store/tests/fuzz_stable.rs` (random mutations, no coverage), inside
//!   the workspace's ordinary test build. Used otherwise, and when the nightly build fails.
//!
//! Either way a finding fails the command, names the target and leaves the input in
//! `target/fuzz/artifacts/<target>/`. Inputs libFuzzer finds interesting go to
//! `target/fuzz/corpus/<target>/` (never into the committed corpus; see fuzz/README.md for
//! merging them).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::{cargo, root, run};

/// Every target, in the order they run.
pub const TARGETS: [&str; 4] = [
    "wire_request",
    "wire_response",
    "change_gate",
    "photo_header",
];

/// Seconds per target in `cargo xtask test`.
pub const CI_SECS: u64 = 60;

/// libFuzzer options shared by every run; the stable harness applies the same limits
/// (store/tests/fuzz_stable.rs: MAX_LEN, MAX_ALLOC, MAX_LIVE, GRIDWORK_FUZZ_TIMEOUT).
const LIBFUZZER_OPTS: [&str; 5] = [
    "-max_len=65536",
    "-timeout=10",
    "-rss_limit_mb=2048",
    "-malloc_limit_mb=1024",
    "-print_final_stats=1",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// libfuzzer when nightly and cargo-fuzz are there (or cargo-fuzz installs), else stable.
    Auto,
    Libfuzzer,
    Stable,
}

#[derive(Debug)]
pub struct Opts {
    pub secs: u64,
    pub targets: Vec<&'static str>,
    pub engine: Engine,
    /// Run these inputs once instead of fuzzing (to reproduce a finding).
    pub replay: Vec<PathBuf>,
    /// AddressSanitizer for the libFuzzer build (`--sanitizer none` turns it off).
    pub sanitizer: String,
}

pub const USAGE: &str = "fuzz [--secs N] [--target T[,T…]] [--engine auto|libfuzzer|stable] \
                         [--sanitizer address|none] [--replay FILE…]";

pub fn parse(args: &[String]) -> Result<Opts, String> {
    let mut opts = Opts {
        secs: CI_SECS,
        targets: TARGETS.to_vec(),
        engine: Engine::Auto,
        replay: Vec::new(),
        sanitizer: "address".into(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--secs" => {
                opts.secs = value("--secs")?
                    .parse()
                    .map_err(|_| "--secs takes a whole number of seconds".to_string())?;
            }
            "--target" => {
                let list = value("--target")?;
                opts.targets = list
                    .split(',')
                    .map(|t| {
                        TARGETS
                            .iter()
                            .copied()
                            .find(|k| *k == t.trim())
                            .ok_or_else(|| {
                                format!(
                                    "unknown fuzz target {t:?} (targets: {})",
                                    TARGETS.join(", ")
                                )
                            })
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--engine" => {
                opts.engine = match value("--engine")?.as_str() {
                    "auto" => Engine::Auto,
                    "libfuzzer" => Engine::Libfuzzer,
                    "stable" => Engine::Stable,
                    other => return Err(format!("unknown engine {other:?}")),
                }
            }
            "--sanitizer" => opts.sanitizer = value("--sanitizer")?,
            "--replay" => {
                opts.replay.push(PathBuf::from(value("--replay")?));
                // Any further bare arguments are more files to replay.
            }
            other if !other.starts_with('-') && !opts.replay.is_empty() => {
                opts.replay.push(PathBuf::from(other));
            }
            other => {
                return Err(format!(
                    "unknown option {other:?}; usage: cargo xtask {USAGE}"
                ))
            }
        }
    }
    if !opts.replay.is_empty() && opts.targets.len() != 1 {
        return Err("--replay needs exactly one --target".into());
    }
    Ok(opts)
}

/// `cargo xtask fuzz …`
pub fn main(args: &[String]) -> Result<(), String> {
    let opts = parse(args)?;
    fuzz(&opts)
}

/// The bounded run inside `cargo xtask test`: [`CI_SECS`] per target, on the stable harness.
///
/// Not libFuzzer there: building the fuzz crate on nightly with sanitizer instrumentation (every
/// dependency of gridwork-store, optimised, one codegen unit) costs more CI time than the minute
/// per target it buys; fuzz/README.md has the measurements. Set `GRIDWORK_FUZZ_ENGINE=auto` (or
/// `libfuzzer`) to use cargo-fuzz there too.
pub fn ci() -> Result<(), String> {
    let engine = match std::env::var("GRIDWORK_FUZZ_ENGINE").as_deref() {
        Ok("auto") => Engine::Auto,
        Ok("libfuzzer") => Engine::Libfuzzer,
        _ => Engine::Stable,
    };
    fuzz(&Opts {
        secs: std::env::var("GRIDWORK_FUZZ_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(CI_SECS),
        targets: TARGETS.to_vec(),
        engine,
        replay: Vec::new(),
        sanitizer: "address".into(),
    })
}

fn fuzz(opts: &Opts) -> Result<(), String> {
    let started = Instant::now();
    let engine = match opts.engine {
        Engine::Stable => Engine::Stable,
        Engine::Libfuzzer => {
            ensure_cargo_fuzz()?;
            Engine::Libfuzzer
        }
        Engine::Auto => match ensure_cargo_fuzz() {
            Ok(()) => Engine::Libfuzzer,
            Err(why) => {
                eprintln!("xtask: fuzz: {why}; using the stable harness");
                Engine::Stable
            }
        },
    };
    let result = if engine == Engine::Libfuzzer {
        match libfuzzer(opts) {
            Err(Failure::Build(why)) if opts.engine == Engine::Auto => {
                eprintln!(
                    "xtask: fuzz: the nightly build of fuzz/ failed ({why}); using the stable \
                     harness (it runs the same targets)"
                );
                stable(opts)
            }
            Err(Failure::Build(why)) => Err(why),
            Err(Failure::Finding(why)) => Err(why),
            Ok(()) => Ok(()),
        }
    } else {
        stable(opts)
    };
    eprintln!(
        "xtask: fuzz: {} target(s), {:?} engine, {:.0}s wall",
        opts.targets.len(),
        engine,
        started.elapsed().as_secs_f64()
    );
    result
}

// ---------------------------------------------------------------------------------------------
// Stable harness
// ---------------------------------------------------------------------------------------------

fn stable(opts: &Opts) -> Result<(), String> {
    let stats = root().join("target/fuzz/stats");
    for t in &opts.targets {
        let _ = std::fs::remove_file(stats.join(format!("{t}.txt")));
    }
    let tests: Vec<String> = opts.targets.iter().map(|t| format!("fuzz_{t}")).collect();
    let mut cmd = cargo();
    // `--workspace`, like the main test run: the same feature resolution, so the test binary
    // that run built is reused instead of rebuilding gridwork-store's dependencies.
    if crate::have_nextest() {
        let filter = format!("binary(fuzz_stable) & test(/^({})$/)", tests.join("|"));
        cmd.args(["nextest", "run", "--workspace", "--no-fail-fast"])
            .args(["-E", &filter])
            .args(["--success-output", "final", "--failure-output", "final"])
            .args(["--status-level", "fail"]);
    } else {
        cmd.args([
            "test",
            "--workspace",
            "--test",
            "fuzz_stable",
            "--",
            "--exact",
        ])
        .args(&tests);
    }
    if opts.replay.is_empty() {
        cmd.env("GRIDWORK_FUZZ_SECS", opts.secs.to_string());
    } else {
        let abs: Vec<PathBuf> = opts
            .replay
            .iter()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
            .collect();
        let list = std::env::join_paths(&abs).map_err(|e| format!("--replay: {e}"))?;
        cmd.env("GRIDWORK_FUZZ_REPLAY", list);
    }
    let result = run(&mut cmd).map_err(|e| {
        format!(
            "{e}: a fuzz target failed (the panic above names it; the input is in {})",
            root().join("target/fuzz/artifacts").display()
        )
    });
    for t in &opts.targets {
        if let Ok(line) = std::fs::read_to_string(stats.join(format!("{t}.txt"))) {
            eprint!("xtask: {line}");
        }
    }
    result
}

// ---------------------------------------------------------------------------------------------
// cargo-fuzz / libFuzzer
// ---------------------------------------------------------------------------------------------

enum Failure {
    /// The toolchain or the build failed: nothing was fuzzed.
    Build(String),
    /// A target crashed, hung or ran out of memory.
    Finding(String),
}

fn tools_bin() -> PathBuf {
    root().join("target/tools/bin")
}

/// `cargo +nightly …` through rustup, with cargo-fuzz from target/tools on the PATH and none of
/// the variables `cargo run` set for xtask: some would pin the stable toolchain, and the rest
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`…) are watched by build scripts (ring's), so leaving them
/// in would rebuild the whole nightly fuzz build whenever it is started from a shell instead.
fn nightly_cargo() -> Command {
    let mut c = Command::new("cargo");
    c.arg("+nightly").current_dir(root());
    for (var, _) in std::env::vars_os() {
        let Some(var) = var.to_str() else { continue };
        let set_by_cargo_run = matches!(
            var,
            "CARGO"
                | "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "RUSTC"
                | "RUSTDOC"
                | "RUSTUP_TOOLCHAIN"
                | "RUSTC_WORKSPACE_WRAPPER"
        ) || var.starts_with("CARGO_PKG_");
        if set_by_cargo_run {
            c.env_remove(var);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![tools_bin()];
    dirs.extend(std::env::split_paths(&path));
    if let Ok(joined) = std::env::join_paths(dirs) {
        c.env("PATH", joined);
    }
    c
}

fn quiet_ok(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn has_nightly() -> bool {
    Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("nightly"))
        })
}

/// Nightly is there and cargo-fuzz runs (installing it into target/tools if needed).
fn ensure_cargo_fuzz() -> Result<(), String> {
    if !has_nightly() {
        return Err("no nightly toolchain (`rustup toolchain list`)".into());
    }
    if quiet_ok(nightly_cargo().args(["fuzz", "--version"])) {
        return Ok(());
    }
    eprintln!("xtask: fuzz: installing cargo-fuzz into target/tools");
    run(cargo()
        .args(["install", "cargo-fuzz", "--locked", "--root"])
        .arg(root().join("target/tools")))
    .map_err(|e| format!("cargo-fuzz could not be installed ({e})"))?;
    if quiet_ok(nightly_cargo().args(["fuzz", "--version"])) {
        Ok(())
    } else {
        Err("cargo-fuzz was installed but `cargo +nightly fuzz` does not run".into())
    }
}

fn libfuzzer(opts: &Opts) -> Result<(), Failure> {
    let build_started = Instant::now();
    run(nightly_cargo()
        .args([
            "fuzz",
            "build",
            "--fuzz-dir",
            "fuzz",
            "--sanitizer",
            &opts.sanitizer,
        ])
        .args(
            opts.targets
                .iter()
                .take(usize::from(opts.targets.len() == 1)),
        ))
    .map_err(Failure::Build)?;
    eprintln!(
        "xtask: fuzz: nightly build took {:.0}s",
        build_started.elapsed().as_secs_f64()
    );

    if !opts.replay.is_empty() {
        let target = opts.targets[0];
        return run(nightly_cargo()
            .args([
                "fuzz",
                "run",
                "--fuzz-dir",
                "fuzz",
                "--sanitizer",
                &opts.sanitizer,
                target,
            ])
            .args(&opts.replay))
        .map_err(|e| Failure::Finding(format!("fuzz target {target}: {e}")));
    }

    // One libFuzzer process per target, as many at once as there are cores.
    let parallel = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, opts.targets.len().max(1));
    let mut pending: Vec<&'static str> = opts.targets.iter().rev().copied().collect();
    let mut running: Vec<Running> = Vec::new();
    let mut failures = Vec::new();
    while !pending.is_empty() || !running.is_empty() {
        while running.len() < parallel {
            let Some(t) = pending.pop() else { break };
            running.push(start_target(t, opts).map_err(Failure::Build)?);
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut i = 0;
        while i < running.len() {
            match running[i].child.try_wait() {
                Ok(Some(status)) => {
                    let r = running.swap_remove(i);
                    if let Err(e) = r.finish(status.success()) {
                        failures.push(e);
                    }
                }
                Ok(None) => i += 1,
                Err(e) => {
                    let r = running.swap_remove(i);
                    failures.push(format!("fuzz target {}: {e}", r.target));
                }
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failure::Finding(failures.join("\n")))
    }
}

struct Running {
    target: &'static str,
    child: std::process::Child,
    log: PathBuf,
    artifacts: PathBuf,
    since: SystemTime,
}

fn start_target(target: &'static str, opts: &Opts) -> Result<Running, String> {
    let dir = root().join("target/fuzz");
    let scratch = dir.join("corpus").join(target);
    let artifacts = dir.join("artifacts").join(target);
    let logs = dir.join("logs");
    for d in [&scratch, &artifacts, &logs] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let log = logs.join(format!("{target}.log"));
    let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = nightly_cargo();
    // The first corpus directory receives new inputs: a scratch one, so the committed corpus
    // (read only, second) stays as committed.
    cmd.args([
        "fuzz",
        "run",
        "--fuzz-dir",
        "fuzz",
        "--sanitizer",
        &opts.sanitizer,
        target,
    ])
    .arg(&scratch)
    .arg(root().join("fuzz/corpus").join(target))
    .arg("--")
    .arg(format!("-max_total_time={}", opts.secs))
    .args(LIBFUZZER_OPTS)
    .arg(format!("-artifact_prefix={}/", artifacts.display()))
    .stdout(out)
    .stderr(err);
    eprintln!(
        "xtask: fuzz: {target} for {}s with libFuzzer (log: {})",
        opts.secs,
        log.display()
    );
    let child = cmd
        .spawn()
        .map_err(|e| format!("could not start cargo +nightly fuzz: {e}"))?;
    Ok(Running {
        target,
        child,
        log,
        artifacts,
        since: SystemTime::now(),
    })
}

impl Running {
    fn finish(self, success: bool) -> Result<(), String> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        if success {
            eprintln!("xtask: fuzz: {}: {}", self.target, summary(&log));
            return Ok(());
        }
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        eprintln!(
            "xtask: fuzz: {} failed; last lines of {}:",
            self.target,
            self.log.display()
        );
        for line in tail.iter().rev() {
            eprintln!("    {line}");
        }
        let found = new_files(&self.artifacts, self.since);
        Err(if found.is_empty() {
            format!(
                "fuzz target {} failed without saving an input (log: {})",
                self.target,
                self.log.display()
            )
        } else {
            format!(
                "fuzz target {} found a crash, hang or memory blow-up; input saved as {} \
                 (reproduce: cargo xtask fuzz --target {} --replay <file>)",
                self.target,
                found
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                self.target
            )
        })
    }
}

/// The final `#… DONE cov: … ft: … exec/s: …` line and the final stats of a libFuzzer log.
fn summary(log: &str) -> String {
    let done = log
        .lines()
        .rev()
        .find(|l| l.contains("DONE") || l.contains("cov:"))
        .unwrap_or("(no libFuzzer status line)");
    let execs = log
        .lines()
        .find(|l| l.starts_with("stat::number_of_executed_units:"))
        .map(|l| format!(", {}", l.trim()))
        .unwrap_or_default();
    format!("{}{execs}", done.trim())
}

fn new_files(dir: &Path, since: SystemTime) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(std::result::Result::ok)
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since)
        })
        .map(|e| e.path())
        .collect()
}
