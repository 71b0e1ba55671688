//! The web console's front-end files and its browser tests (`tests/console/`).
//!
//! - `assets()` (`cargo xtask assets`): `npm ci` in `tests/console/` (versions pinned by its
//!   `package-lock.json`), then copies htmx and Leaflet from `node_modules` into
//!   `sync-server/console/vendor/` and writes the README there naming each file's package and
//!   version. The vendored files are committed: the server embeds them at compile time, so
//!   building it never needs npm.
//! - `test()` (`cargo xtask console-test`, a step of `cargo xtask test`): `npm ci`, checks that
//!   every vendored file is byte-identical to its `node_modules` source, builds
//!   `gridwork-server` and `gridwork` (debug), then runs the browser tests with
//!   `node --test` against a real server, in Debian's Chromium (`/usr/bin/chromium`, installed
//!   by `setup`) driven by `playwright-core`. Screenshots of every page go to
//!   `target/console-screenshots/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, root, run};

fn tests_dir() -> PathBuf {
    root().join("tests/console")
}

fn vendor_dir() -> PathBuf {
    root().join("sync-server/console/vendor")
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => root().join(d),
        None => root().join("target"),
    }
}

/// The vendored files: (npm package, path in the package, path in the vendor directory). A
/// source ending in `/*.png` takes every PNG of that directory into the destination directory.
/// The licences travel with the code (Leaflet's BSD-2-Clause asks for its notice).
const VENDORED: &[(&str, &str, &str)] = &[
    ("htmx.org", "dist/htmx.min.js", "htmx.min.js"),
    ("htmx.org", "LICENSE", "LICENSE.htmx.txt"),
    ("leaflet", "dist/leaflet.js", "leaflet.js"),
    ("leaflet", "dist/leaflet.css", "leaflet.css"),
    ("leaflet", "dist/images/*.png", "images"),
    ("leaflet", "LICENSE", "LICENSE.leaflet.txt"),
];

/// `npm ci` in `tests/console/`: exactly the versions of its `package-lock.json`.
fn npm_ci() -> Result<(), String> {
    if !crate::have("npm", "--version") {
        return Err("npm is missing (Debian: apt-get install -y nodejs npm)".into());
    }
    run(Command::new("npm")
        .current_dir(tests_dir())
        .args(["ci", "--no-audit", "--no-fund"]))
}

/// (source in node_modules, destination in the vendor directory), for every vendored file.
fn vendored_files() -> Result<Vec<(PathBuf, PathBuf)>, String> {
    let modules = tests_dir().join("node_modules");
    let mut files = Vec::new();
    for (package, source, dest) in VENDORED {
        let pkg = modules.join(package);
        let Some(dir) = source.strip_suffix("/*.png") else {
            files.push((pkg.join(source), vendor_dir().join(dest)));
            continue;
        };
        let dir = pkg.join(dir);
        let entries =
            fs::read_dir(&dir).map_err(|e| format!("could not list {}: {e}", dir.display()))?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                Path::new(n)
                    .extension()
                    .is_some_and(|x| x.eq_ignore_ascii_case("png"))
            })
            .collect();
        names.sort();
        if names.is_empty() {
            return Err(format!("no PNG in {}", dir.display()));
        }
        for name in names {
            files.push((dir.join(&name), vendor_dir().join(dest).join(&name)));
        }
    }
    Ok(files)
}

/// The `version` of an installed package, from its `package.json`.
fn package_version(package: &str) -> Result<String, String> {
    let manifest = tests_dir()
        .join("node_modules")
        .join(package)
        .join("package.json");
    let text = fs::read_to_string(&manifest)
        .map_err(|e| format!("could not read {}: {e}", manifest.display()))?;
    // The first `"version": "…"` of the manifest (npm writes the package's own at the top level).
    let after = text
        .split("\"version\"")
        .nth(1)
        .and_then(|rest| rest.split('"').nth(1))
        .ok_or_else(|| format!("no version in {}", manifest.display()))?;
    Ok(after.to_owned())
}

fn readme() -> Result<String, String> {
    let mut out = String::from(
        "# Vendored front-end files of the web console\n\n\
         The server embeds these files at compile time (`include_bytes!`), so building it never\n\
         needs npm or the network. Do not edit them: they are copies of npm packages whose exact\n\
         versions are pinned by `tests/console/package-lock.json`.\n\n\
         | file | from |\n|---|---|\n",
    );
    for (source, dest) in vendored_files()? {
        let rel = dest
            .strip_prefix(vendor_dir())
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .replace('\\', "/");
        let in_modules = source
            .strip_prefix(tests_dir().join("node_modules"))
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .replace('\\', "/");
        let package = in_modules.split('/').next().unwrap_or_default().to_owned();
        let version = package_version(&package)?;
        let inner = in_modules
            .strip_prefix(&format!("{package}/"))
            .unwrap_or(&in_modules)
            .to_owned();
        out.push_str(&format!(
            "| `{rel}` | `{inner}` of the npm package `{package}@{version}` |\n"
        ));
    }
    out.push_str(
        "\nTo refresh or upgrade: change the versions in `tests/console/package.json`, run\n\
         `npm install` there (it rewrites `package-lock.json`), then `cargo xtask assets` (runs\n\
         `npm ci` and copies the files here, rewriting this README), and commit all of them.\n\
         `cargo xtask test` (the console step) fails when a file here differs from its package.\n",
    );
    Ok(out)
}

/// `cargo xtask assets`: install the pinned packages and copy the vendored files.
pub fn assets() -> Result<(), String> {
    npm_ci()?;
    for (source, dest) in vendored_files()? {
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| format!("could not create {}: {e}", dir.display()))?;
        }
        fs::copy(&source, &dest).map_err(|e| {
            format!(
                "could not copy {} to {}: {e}",
                source.display(),
                dest.display()
            )
        })?;
        eprintln!("xtask: vendored {}", dest.display());
    }
    let readme_path = vendor_dir().join("README.md");
    fs::write(&readme_path, readme()?)
        .map_err(|e| format!("could not write {}: {e}", readme_path.display()))
}

/// Every vendored file is byte-identical to its source in `node_modules`.
fn check_vendored() -> Result<(), String> {
    let mut stale = Vec::new();
    for (source, dest) in vendored_files()? {
        let want =
            fs::read(&source).map_err(|e| format!("could not read {}: {e}", source.display()))?;
        match fs::read(&dest) {
            Ok(have) if have == want => {}
            Ok(_) => stale.push(format!(
                "{} differs from {}",
                dest.display(),
                source.display()
            )),
            Err(e) => stale.push(format!("{} is missing ({e})", dest.display())),
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the vendored console files do not match the packages pinned by \
             tests/console/package-lock.json:\n  {}\nrun `cargo xtask assets` and commit \
             sync-server/console/vendor/",
            stale.join("\n  ")
        ))
    }
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        root().join(path)
    }
}

/// The console step of `cargo xtask test` (also `cargo xtask console-test`).
pub fn test() -> Result<(), String> {
    npm_ci()?;
    check_vendored()?;
    // A no-op after the test build of `cargo xtask test`: nextest builds these binaries too.
    run(cargo().args(["build", "-p", "gridwork-server", "-p", "gridwork-cli"]))?;
    let debug = absolute(&target_dir()).join("debug");
    let exe = |name: &str| debug.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let (server, cli) = (exe("gridwork-server"), exe("gridwork"));
    for p in [&server, &cli] {
        if !p.exists() {
            return Err(format!("the build did not produce {}", p.display()));
        }
    }
    let shots = absolute(&target_dir()).join("console-screenshots");
    fs::create_dir_all(&shots).map_err(|e| format!("could not create {}: {e}", shots.display()))?;
    run(Command::new("node")
        .current_dir(root())
        .args(["--test", "--test-concurrency=1", "tests/console/"])
        .env("GRIDWORK_SERVER_BIN", &server)
        .env("GRIDWORK_CLI_BIN", &cli)
        .env("GRIDWORK_SCREENSHOTS", &shots))
    .map_err(|e| {
        format!(
            "{e} (the console's browser tests; screenshots in {})",
            shots.display()
        )
    })
}
