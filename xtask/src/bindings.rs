//! Bindings chores: build gridwork-ffi, generate Kotlin, Swift and Python from the built library
//! (UniFFI library mode, with the `uniffi-bindgen` binary of the ffi crate so the generator is
//! always the same version as the library), and run the foreign-language tests.
//!
//! - `generate()` → `target/bindings/{kotlin,swift,python}`; the cdylib is copied next to the
//!   Python module and into `target/bindings/lib/` (JNA's `jna.library.path`).
//! - `test()` builds with the `test-hooks` feature into `target/bindings-test/`, compiles the
//!   generated Kotlin and `bindings/tests/kotlin/*.kt` with `kotlinc -Werror`, runs them on the
//!   JVM with JNA (with them `android/core-jvm`, the Android shell's plain-JVM module, and its
//!   test), then runs `bindings/tests/python/test_*.py`. Both talk to a real
//!   `gridwork-server` (built here, passed as `GRIDWORK_SERVER`).
//!
//! Tools: kotlinc from `$KOTLINC`, `PATH`, or `target/tools/kotlinc/` (fetched there with
//! `npm pack kotlin-compiler@KOTLIN_VERSION` when missing); JNA from `$JNA_JAR` or Debian's
//! `libjna-java` (`/usr/share/java/jna.jar`); `python3` (or `$PYTHON`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, root, run};

/// The `kotlin-compiler` npm package fetched when no kotlinc is found.
const KOTLIN_VERSION: &str = "2.4.20";
const LANGUAGES: &[&str] = &["kotlin", "swift", "python"];
/// Swift names, as set in bindings/uniffi.toml.
const SWIFT_MODULE: &str = "GridworkCore";
const SWIFT_FFI_MODULE: &str = "GridworkCoreFFI";

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => root().join(d),
        None => root().join("target"),
    }
}

fn cdylib_name() -> &'static str {
    if cfg!(target_os = "macos") {
        "libgridwork_ffi.dylib"
    } else if cfg!(windows) {
        "gridwork_ffi.dll"
    } else {
        "libgridwork_ffi.so"
    }
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// Build the ffi crate (debug) with the bindgen CLI and the given extra features, plus `extra`
/// packages in the same cargo invocation. Returns (cdylib, uniffi-bindgen).
fn build(features: &[&str], extra_packages: &[&str]) -> Result<(PathBuf, PathBuf), String> {
    let mut feats = vec!["gridwork-ffi/cli".to_owned()];
    feats.extend(features.iter().map(|f| format!("gridwork-ffi/{f}")));
    let mut cmd = cargo();
    cmd.args(["build", "-p", "gridwork-ffi"]);
    for p in extra_packages {
        cmd.args(["-p", p]);
    }
    cmd.args(["--features", &feats.join(",")]);
    run(&mut cmd)?;
    let debug = target_dir().join("debug");
    let lib = debug.join(cdylib_name());
    let bindgen = debug.join(exe("uniffi-bindgen"));
    for p in [&lib, &bindgen] {
        if !p.exists() {
            return Err(format!("the build did not produce {}", p.display()));
        }
    }
    Ok((lib, bindgen))
}

fn fresh_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| format!("could not clear {}: {e}", dir.display()))?;
    }
    fs::create_dir_all(dir).map_err(|e| format!("could not create {}: {e}", dir.display()))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("could not copy {} to {}: {e}", from.display(), to.display()))
}

/// Generate `languages` from `lib` into `out/<language>`; copy the cdylib to `out/lib` and next
/// to the Python module.
fn generate_into(lib: &Path, bindgen: &Path, out: &Path, languages: &[&str]) -> Result<(), String> {
    for lang in languages {
        let dir = out.join(lang);
        fresh_dir(&dir)?;
        run(Command::new(bindgen)
            .current_dir(root().join("bindings"))
            .args(["generate", "--no-format", "--library"])
            .arg(lib)
            .args(["--language", lang, "--out-dir"])
            .arg(&dir))?;
    }
    let lib_dir = out.join("lib");
    fresh_dir(&lib_dir)?;
    copy(lib, &lib_dir.join(cdylib_name()))?;
    if languages.contains(&"python") {
        copy(lib, &out.join("python").join(cdylib_name()))?;
    }
    if languages.contains(&"swift") {
        check_swift(&out.join("swift"))?;
    }
    Ok(())
}

/// Swift cannot be compiled here: check that the module map, the header and the Swift source
/// agree, so the iOS shell can use them as they are.
fn check_swift(dir: &Path) -> Result<(), String> {
    let read = |name: &str| {
        fs::read_to_string(dir.join(name))
            .map_err(|e| format!("generated Swift is incomplete: {name}: {e}"))
    };
    let swift = read(&format!("{SWIFT_MODULE}.swift"))?;
    let header = read(&format!("{SWIFT_FFI_MODULE}.h"))?;
    let modulemap = read(&format!("{SWIFT_FFI_MODULE}.modulemap"))?;
    let problems: Vec<String> = [
        (
            modulemap.contains(&format!("module {SWIFT_FFI_MODULE}")),
            format!("the module map does not declare module {SWIFT_FFI_MODULE}"),
        ),
        (
            modulemap.contains(&format!("header \"{SWIFT_FFI_MODULE}.h\"")),
            format!("the module map does not point at {SWIFT_FFI_MODULE}.h"),
        ),
        (
            swift.contains(&format!("import {SWIFT_FFI_MODULE}")),
            format!("{SWIFT_MODULE}.swift does not import {SWIFT_FFI_MODULE}"),
        ),
        (
            header.contains("uniffi_gridwork_ffi_fn_") || header.contains("uniffi_gridwork_fn_"),
            "the header declares no Gridwork functions".to_owned(),
        ),
    ]
    .into_iter()
    .filter(|(ok, _)| !ok)
    .map(|(_, why)| why)
    .collect();
    // Every FFI symbol the Swift code calls must be declared in the header.
    let missing: Vec<&str> = swift
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("uniffi_") || w.starts_with("ffi_gridwork"))
        .filter(|w| !header.contains(w))
        .collect();
    if !problems.is_empty() || !missing.is_empty() {
        let mut msg = problems.join("; ");
        if !missing.is_empty() {
            msg.push_str(&format!(
                " symbols used by {SWIFT_MODULE}.swift but not in the header: {}",
                missing.join(", ")
            ));
        }
        return Err(format!("generated Swift is inconsistent: {msg}"));
    }
    Ok(())
}

/// `cargo xtask bindings`: build gridwork-ffi and generate Kotlin, Swift and Python into
/// `target/bindings`.
pub fn generate() -> Result<PathBuf, String> {
    let (lib, bindgen) = build(&[], &[])?;
    let out = target_dir().join("bindings");
    generate_into(&lib, &bindgen, &out, LANGUAGES)?;
    eprintln!("xtask: bindings generated in {}", out.display());
    for lang in LANGUAGES {
        eprintln!("xtask:   {lang:<7} {}", out.join(lang).display());
    }
    Ok(out)
}

// ---------------------------------------------------------------------------- tools

struct Kotlin {
    kotlinc: PathBuf,
    /// kotlinx-coroutines-core-jvm.jar of the distribution (the generated code needs it).
    coroutines: PathBuf,
}

/// `.../bin/kotlinc` → the distribution's `lib/` folder.
fn kotlin_lib_dir(kotlinc: &Path) -> Option<PathBuf> {
    let real = fs::canonicalize(kotlinc).ok()?;
    Some(real.parent()?.parent()?.join("lib"))
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

fn find_kotlin() -> Result<Kotlin, String> {
    let tools = target_dir().join("tools");
    let fetched = tools.join("kotlinc").join("bin").join("kotlinc");
    let candidate = std::env::var_os("KOTLINC")
        .map(PathBuf::from)
        .or_else(|| on_path("kotlinc"))
        .or_else(|| fetched.is_file().then(|| fetched.clone()));
    let kotlinc = match candidate {
        Some(k) => k,
        None => fetch_kotlin(&tools)?,
    };
    let coroutines = match std::env::var_os("KOTLINX_COROUTINES_JAR") {
        Some(j) => PathBuf::from(j),
        None => kotlin_lib_dir(&kotlinc)
            .map(|d| d.join("kotlinx-coroutines-core-jvm.jar"))
            .unwrap_or_default(),
    };
    if !coroutines.is_file() {
        return Err(format!(
            "kotlinx-coroutines-core-jvm.jar not found next to {} (expected {}). Use the full Kotlin distribution \
             (npm package kotlin-compiler, which ships lib/kotlinx-coroutines-core-jvm.jar) or set KOTLINX_COROUTINES_JAR.",
            kotlinc.display(),
            coroutines.display()
        ));
    }
    Ok(Kotlin {
        kotlinc,
        coroutines,
    })
}

/// `npm pack kotlin-compiler@KOTLIN_VERSION` into `tools/`, unpacked as `tools/kotlinc/`.
fn fetch_kotlin(tools: &Path) -> Result<PathBuf, String> {
    let how = format!(
        "install a Kotlin compiler: set KOTLINC=/path/to/bin/kotlinc, put kotlinc on PATH, or let this task fetch it \
         (needs npm and the npm registry: `npm pack kotlin-compiler@{KOTLIN_VERSION}` unpacked into {})",
        tools.join("kotlinc").display()
    );
    if !crate::have("npm", "--version") {
        return Err(format!("kotlinc not found and npm is missing; {how}"));
    }
    eprintln!(
        "xtask: kotlinc not found; fetching kotlin-compiler@{KOTLIN_VERSION} from npm into {}",
        tools.display()
    );
    fs::create_dir_all(tools).map_err(|e| format!("could not create {}: {e}", tools.display()))?;
    run(Command::new("npm").current_dir(tools).args([
        "pack",
        "--silent",
        &format!("kotlin-compiler@{KOTLIN_VERSION}"),
    ]))
    .map_err(|e| format!("{e}; {how}"))?;
    let tgz = tools.join(format!("kotlin-compiler-{KOTLIN_VERSION}.tgz"));
    let dir = tools.join("kotlinc");
    fresh_dir(&dir)?;
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(&dir)
        .arg("--strip-components=1"))?;
    let _ = fs::remove_file(&tgz);
    let kotlinc = dir.join("bin").join("kotlinc");
    if !kotlinc.is_file() {
        return Err(format!(
            "the kotlin-compiler package has no bin/kotlinc; {how}"
        ));
    }
    Ok(kotlinc)
}

fn find_jna() -> Result<PathBuf, String> {
    let jar = std::env::var_os("JNA_JAR")
        .map_or_else(|| PathBuf::from("/usr/share/java/jna.jar"), PathBuf::from);
    if jar.is_file() {
        Ok(jar)
    } else {
        Err(format!(
            "JNA not found at {}: install Debian's libjna-java (`apt-get update && apt-get install -y libjna-java`) \
             or set JNA_JAR=/path/to/jna.jar",
            jar.display()
        ))
    }
}

fn find_java() -> Result<PathBuf, String> {
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        let java = PathBuf::from(home).join("bin").join(exe("java"));
        if java.is_file() {
            return Ok(java);
        }
    }
    on_path(&exe("java")).ok_or_else(|| "java not found: install a JDK (17 or newer), e.g. `apt-get install -y openjdk-17-jdk-headless`".to_owned())
}

fn classpath(parts: &[&Path]) -> std::ffi::OsString {
    std::env::join_paths(parts.iter().map(|p| p.as_os_str())).unwrap_or_default()
}

fn sources(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).map_err(|e| format!("could not read {}: {e}", d.display()))? {
            let p = entry.map_err(|e| e.to_string())?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

// ---------------------------------------------------------------------------- tests

/// Runs bindings/tests/python/test_*.py and prints one "N passed, N failed" line.
const PYTHON_RUNNER: &str = r#"
import sys, unittest
suite = unittest.defaultTestLoader.discover(sys.argv[1], pattern="test_*.py")
result = unittest.TextTestRunner(verbosity=2).run(suite)
failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
skipped = len(result.skipped)
passed = result.testsRun - failed - skipped
print(f"python: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(0 if failed == 0 and result.testsRun > 0 else 1)
"#;

/// `cargo xtask test-bindings`.
pub fn test() -> Result<(), String> {
    // Find every tool first, so a missing one is reported before a long build.
    let kotlin = find_kotlin()?;
    let jna = find_jna()?;
    let java = find_java()?;
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    if !crate::have(&python, "--version") {
        return Err(format!(
            "{python} not found: install Python 3 (or set PYTHON)"
        ));
    }

    let (lib, bindgen) = build(&["test-hooks"], &["gridwork-server"])?;
    let server = target_dir().join("debug").join(exe("gridwork-server"));
    if !server.is_file() {
        return Err(format!("the build did not produce {}", server.display()));
    }
    let out = target_dir().join("bindings-test");
    generate_into(&lib, &bindgen, &out, &["kotlin", "python"])?;
    let lib_dir = out.join("lib");
    let scratch = out.join("scratch");
    fresh_dir(&scratch)?;
    let tests = root().join("bindings").join("tests");

    // Kotlin: compile the generated bindings and the tests together, warnings are errors.
    let jar = out.join("gridwork-tests.jar");
    let mut kotlinc = Command::new(&kotlin.kotlinc);
    kotlinc
        .args(["-Werror", "-include-runtime", "-jvm-target", "17", "-d"])
        .arg(&jar)
        .arg("-cp")
        .arg(classpath(&[&jna, &kotlin.coroutines]))
        .args(sources(&out.join("kotlin"), "kt")?)
        .args(sources(&tests.join("kotlin"), "kt")?);
    // The Android shell's plain-JVM module (android/core-jvm) compiles and runs with them.
    let android = root().join("android").join("core-jvm").join("src");
    if android.is_dir() {
        kotlinc.args(sources(&android, "kt")?);
    }
    run(&mut kotlinc).map_err(|e| format!("Kotlin compilation failed: {e}"))?;
    let jvm = |main_class: &str, tmp: &str| {
        let mut c = Command::new(&java);
        // A bounded heap, so the memory test measures native growth rather than the heap's.
        c.args(["-Xmx256m", "-Xss4m"])
            .arg(format!("-Djna.library.path={}", lib_dir.display()))
            .arg("-cp")
            .arg(classpath(&[&jar, &jna, &kotlin.coroutines]))
            .arg(main_class)
            .env("GRIDWORK_SERVER", &server)
            .env("GRIDWORK_TEST_TMP", scratch.join(tmp))
            // The panic test panics on purpose: one line, not a backtrace.
            .env("RUST_BACKTRACE", "0");
        c
    };
    let mut kotlin_result = run(&mut jvm("org.gridwork.tests.MainKt", "kotlin"))
        .map_err(|e| format!("Kotlin tests failed: {e}"));
    if android.is_dir() && kotlin_result.is_ok() {
        kotlin_result = run(&mut jvm(
            "org.gridwork.android.GridworkRepositoryTestKt",
            "android",
        ))
        .map_err(|e| format!("android/core-jvm tests failed: {e}"));
    }

    // Python, even when Kotlin failed, so one run shows both.
    let mut py = Command::new(&python);
    py.arg("-c")
        .arg(PYTHON_RUNNER)
        .arg(tests.join("python"))
        .env("PYTHONPATH", out.join("python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("GRIDWORK_SERVER", &server)
        .env("GRIDWORK_TEST_TMP", scratch.join("python"))
        .env("RUST_BACKTRACE", "0");
    let python_result = run(&mut py).map_err(|e| format!("Python tests failed: {e}"));

    match (kotlin_result, python_result) {
        (Ok(()), Ok(())) => {
            eprintln!("xtask: binding tests passed (Kotlin on the JVM, Python)");
            Ok(())
        }
        (k, p) => Err([k.err(), p.err()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ")),
    }
}
