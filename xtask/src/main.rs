//! `cargo xtask <command>`: repository chores as Rust code.
//!
//! - `test` (also `ci`): what CI runs (`.ci/run`, the README's test command): `check`, then
//!   every test (`--no-check` skips `check`)
//! - `check`: the house rules: `cargo fmt --check`, clippy `-D warnings`, rustdoc `-D warnings`,
//!   cargo-deny (licences, bans, sources; advisories too with `--advisories` or
//!   `GRIDWORK_ADVISORIES=1`, as the RustSec database needs the network)
//! - `setup`: install missing test prerequisites (Debian packages, when root)
//!   The tests: set up, then every test in the repo: Rust (nextest or cargo test), a bounded fuzz run
//!   (60 s per target), a quick benchmark smoke run, the web console's browser tests, and
//!   bindings (Kotlin on the JVM, Python)
//! - `bench [--quick]`: the benchmark harness (bench/), writes target/bench/report.json
//! - `bindings`: build gridwork-ffi and generate Kotlin, Swift and Python sources
//! - `test-bindings`: compile the Kotlin with kotlinc -Werror, run Kotlin and Python tests
//! - `fuzz`: the fuzz targets of fuzz/ for a bounded time (libFuzzer on nightly, else the stable
//!   harness); see fuzz.rs and fuzz/README.md
//! - `assets`: copy the web console's front-end files (htmx, Leaflet) from their pinned npm
//!   packages into sync-server/console/vendor/; see console.rs
//! - `console-test`: the web console's browser tests (tests/console/, Chromium); see console.rs

mod bindings;
mod console;
mod fuzz;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Run a command, echoing it; Err with a message naming it when it fails.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().map_err(|e| {
        format!(
            "could not start {}: {e}",
            cmd.get_program().to_string_lossy()
        )
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed with {status}",
            cmd.get_program().to_string_lossy()
        ))
    }
}

/// Whether `cargo nextest` is available.
pub fn have_nextest() -> bool {
    have("cargo-nextest", "--version") || have("cargo", "nextest --version")
}

fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .args(arg.split_whitespace())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Install what the tests need and this machine lacks: Debian packages when running as root
/// (JNA for the Kotlin tests, ImageMagick as the photo benchmark's baseline, Chromium and CJK
/// fonts for the console's browser tests). The Kotlin compiler is fetched by the bindings step
/// (npm). Anything missing is named with its fix.
fn setup() -> Result<(), String> {
    let mut missing: Vec<&str> = Vec::new();
    if std::env::var_os("JNA_JAR").is_none() && !Path::new("/usr/share/java/jna.jar").exists() {
        missing.push("libjna-java");
    }
    let magick_ok =
        dpkg_installed("imagemagick") || std::env::var_os("GRIDWORK_IMAGEMAGICK").is_some();
    if !magick_ok {
        missing.push("imagemagick");
    }
    // The console's browser tests drive Debian's Chromium; without CJK fonts their screenshots
    // of Chinese pages show boxes.
    if !Path::new("/usr/bin/chromium").exists() {
        missing.push("chromium");
    }
    if !dpkg_installed("fonts-noto-cjk") {
        missing.push("fonts-noto-cjk");
    }
    // SQLCipher (the device store's encryption) builds OpenSSL from source: its Configure is
    // perl with modules `perl-base` lacks, and make.
    if !dpkg_installed("perl") {
        missing.push("perl");
    }
    if !have("make", "--version") {
        missing.push("make");
    }
    if missing.is_empty() {
        return Ok(());
    }
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root_user || !have("apt-get", "--version") {
        return Err(format!(
            "missing packages: {} (install them with: sudo apt-get install -y {})",
            missing.join(", "),
            missing.join(" ")
        ));
    }
    run(Command::new("apt-get")
        .args(["update", "-qq"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Whether the Debian package `name` is installed.
fn dpkg_installed(name: &str) -> bool {
    Command::new("dpkg")
        .args(["-s", name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The cargo-deny release line `deny.toml` is written for.
const CARGO_DENY_VERSION: &str = "^0.20";

/// `cargo-deny`, from the PATH or from `target/tools/bin` (installed there from crates.io with
/// `cargo install --locked` when missing: about 5 minutes on two cores, once).
fn cargo_deny() -> Result<Command, String> {
    if have("cargo-deny", "--version") {
        return Ok(Command::new("cargo-deny"));
    }
    let tools = root().join("target/tools");
    let local = tools.join("bin/cargo-deny");
    if !local.exists() {
        eprintln!(
            "xtask: cargo-deny not found; installing it into {}",
            tools.display()
        );
        run(cargo()
            .args([
                "install",
                "--locked",
                "cargo-deny",
                "--version",
                CARGO_DENY_VERSION,
            ])
            .arg("--root")
            .arg(&tools))
        .map_err(|e| format!("cargo-deny could not be installed ({e})"))?;
    }
    Ok(Command::new(local))
}

/// The house rules, in the order that fails fastest: format, lints, docs, dependencies.
fn check(args: &[String]) -> Result<(), String> {
    let advisories = args.iter().any(|a| a == "--advisories")
        || std::env::var_os("GRIDWORK_ADVISORIES").is_some_and(|v| v == "1");
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo()
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings"))?;
    let mut deny = cargo_deny()?;
    deny.current_dir(root())
        .args(["check", "--hide-inclusion-graph"]);
    if advisories {
        deny.arg("all");
    } else {
        eprintln!("xtask: cargo deny: skipping advisories (needs the network: set GRIDWORK_ADVISORIES=1 or pass --advisories)");
        deny.args(["licenses", "bans", "sources"]);
    }
    run(&mut deny)
}

fn test_all(args: &[String]) -> Result<(), String> {
    let skip_bindings = args.iter().any(|a| a == "--no-bindings");
    setup()?;
    // 1. Rust: build once, run every test of the workspace.
    if have_nextest() {
        run(cargo().args([
            "nextest",
            "run",
            "--workspace",
            "--no-fail-fast",
            "--status-level",
            "fail",
        ]))?;
    } else {
        eprintln!("xtask: cargo-nextest not found, using cargo test");
        run(cargo().args(["test", "--workspace", "--no-fail-fast"]))?;
    }
    // 2. Fuzz targets, a minute each, on the test build step 1 made (see fuzz::ci).
    fuzz::ci()?;
    // 3. Benchmark smoke run: proves the harness works, measures nothing worth quoting. The dev
    //    profile (dependencies optimised) reuses the test build instead of a second, release one.
    run(cargo().args(["run", "-p", "gridwork-bench", "--", "--quick"]))?;
    // 4. The web console in a browser: a real server, Chromium, devices through the CLI.
    console::test()?;
    // 5. Bindings: Kotlin on the JVM and Python (last, so the run closes on their summary).
    if !skip_bindings {
        bindings::test()?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        // `test` is the README's test command and what CI runs: the house rules, then every
        // test (`--no-check` skips the rules); `ci` is the same command under another name.
        Some("test" | "ci") => {
            let rest: Vec<String> = args[1..]
                .iter()
                .filter(|a| *a != "--no-check")
                .cloned()
                .collect();
            // Packages first: the house rules already build SQLCipher's vendored OpenSSL
            // (perl, make).
            if args[1..].iter().any(|a| a == "--no-check") {
                test_all(&rest)
            } else {
                setup()
                    .and_then(|()| check(&rest))
                    .and_then(|()| test_all(&rest))
            }
        }
        Some("check") => check(&args[1..]),
        Some("setup") => setup(),
        Some("bench") => run(cargo().args(["run", "--release", "-p", "gridwork-bench", "--"]).args(&args[1..])),
        Some("bindings") => bindings::generate().map(|_| ()),
        Some("test-bindings") => bindings::test(),
        Some("fuzz") => fuzz::main(&args[1..]),
        Some("assets") => console::assets(),
        Some("console-test") => console::test(),
        _ => Err(format!("usage: cargo xtask <ci [--advisories] [--no-bindings] | check [--advisories] | test [--no-bindings] | setup | bench [--quick] [--only P1,P2] | bindings | test-bindings | assets | console-test | {}>", fuzz::USAGE)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
