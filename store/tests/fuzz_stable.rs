//! Stable fuzz harness: the cargo-fuzz targets (`fuzz/src/targets.rs`, the same file) run over
//! the committed corpus (`fuzz/corpus/<target>/`) and then over random mutations of it, on the
//! stable toolchain and inside the ordinary test build. No coverage feedback: this is the
//! fallback for machines without nightly, and the regression run of the corpus everywhere.
//!
//! One test per target (`fuzz_<target>`). By default each replays its corpus and runs a fixed
//! number of mutations from a fixed seed, so a plain test run stays short and reproducible.
//! Environment:
//! - `GRIDWORK_FUZZ_SECS=N`: mutate for N seconds instead (`cargo xtask fuzz` sets it);
//! - `GRIDWORK_FUZZ_SEED=N`: the mutation seed (printed by every run; random when SECS is set);
//! - `GRIDWORK_FUZZ_TIMEOUT=N`: seconds one input may take before it counts as a hang (10);
//! - `GRIDWORK_FUZZ_REPLAY=FILE[:FILE…]`: run only these inputs (to reproduce a finding;
//!   relative paths are taken from the repository root);
//! - `GRIDWORK_FUZZ_ARTIFACTS=DIR`: where findings are saved (`target/fuzz/artifacts`).
//!
//! A finding is a panic in the target (even one the code under test catches), an input running
//! longer than the timeout, or an input allocating more than [`MAX_ALLOC`] at once or
//! [`MAX_LIVE`] in all. It fails the test, names the target and saves the input as
//! `<artifacts>/<target>/{crash,timeout,oom}-<sha256 prefix>`.

#[path = "../../fuzz/src/targets.rs"]
mod targets;

#[path = "fuzz_stable/seeds.rs"]
mod seeds;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// Largest single allocation one input may make (libFuzzer: `-malloc_limit_mb=1024`).
const MAX_ALLOC: usize = 1 << 30;
/// Most bytes one input may hold allocated at once (libFuzzer: `-rss_limit_mb=2048`).
const MAX_LIVE: isize = 2 << 30;
/// Mutations per target in a plain test run (no `GRIDWORK_FUZZ_SECS`).
const QUICK_MUTATIONS: u64 = 1_500;
/// Largest input the mutator makes (libFuzzer: `-max_len=65536`).
const MAX_LEN: usize = 64 << 10;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("store/ has a parent")
        .to_path_buf()
}

fn corpus_dir(target: &str) -> PathBuf {
    repo_root().join("fuzz").join("corpus").join(target)
}

fn artifacts_dir(target: &str) -> PathBuf {
    std::env::var_os("GRIDWORK_FUZZ_ARTIFACTS")
        .map_or_else(
            || repo_root().join("target").join("fuzz").join("artifacts"),
            PathBuf::from,
        )
        .join(target)
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number")),
    )
}

// ---------------------------------------------------------------------------------------------
// Allocation accounting (per thread: the targets run on the test's thread)
// ---------------------------------------------------------------------------------------------

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    /// Set while a target runs on this thread: where to save the input if it asks for more
    /// than MAX_ALLOC at once (the allocation then fails and the process aborts).
    static OVERSIZE: Cell<Option<&'static Finding>> = const { Cell::new(None) };
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

fn grew(by: usize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get().saturating_add(by as isize);
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

fn shrank(by: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(by as isize)));
}

/// Refuses (after saving the input) an allocation over MAX_ALLOC made while a target runs.
fn oversize(size: usize) -> bool {
    if size <= MAX_ALLOC {
        return false;
    }
    let Ok(Some(f)) = OVERSIZE.try_with(Cell::get) else {
        return false;
    };
    if IN_HOOK.try_with(|h| h.replace(true)).unwrap_or(true) {
        return false;
    }
    let path = f.save("oom");
    // Straight to stderr: the test harness's output capture is lost when the process aborts.
    let _ = writeln!(
        std::io::stderr(),
        "fuzz target {}: one allocation of {size} bytes (limit {MAX_ALLOC}); input saved as {}",
        f.target,
        path.display()
    );
    let _ = IN_HOOK.try_with(|h| h.set(false));
    true
}

// The counting allocator forwards to the system allocator; the test needs it to bound memory.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if oversize(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if oversize(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if oversize(new_size) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

// ---------------------------------------------------------------------------------------------
// Findings
// ---------------------------------------------------------------------------------------------

/// The input a target is running on, shared with the watchdog and the allocator.
struct Finding {
    target: &'static str,
    input: Mutex<Vec<u8>>,
}

impl Finding {
    /// Saves the current input as `<artifacts>/<target>/<kind>-<hash>`; returns the path.
    fn save(&self, kind: &str) -> PathBuf {
        let input = self.input.lock().map(|i| i.clone()).unwrap_or_default();
        save_artifact(self.target, kind, &input)
    }
}

fn save_artifact(target: &str, kind: &str, input: &[u8]) -> PathBuf {
    let dir = artifacts_dir(target);
    let _ = std::fs::create_dir_all(&dir);
    let hash = gridwork_photo::content_hash(input);
    let path = dir.join(format!("{kind}-{}", &hash[..16]));
    if let Err(e) = std::fs::write(&path, input) {
        eprintln!("could not save {}: {e}", path.display());
    }
    path
}

fn hex_preview(b: &[u8]) -> String {
    let shown: String = b.iter().take(256).map(|x| format!("{x:02x}")).collect();
    if b.len() > 256 {
        format!("{shown}… ({} bytes)", b.len())
    } else {
        shown
    }
}

thread_local! {
    /// The message of the last panic on this thread while a target ran (caught or not).
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    static RUNNING: Cell<bool> = const { Cell::new(false) };
}

/// Panics inside a target are findings even when the code under test catches them (libFuzzer
/// aborts on them too): the hook records them per thread.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if RUNNING.try_with(Cell::get).unwrap_or(false) {
                let msg = match info.payload().downcast_ref::<&str>() {
                    Some(s) => (*s).to_owned(),
                    None => info
                        .payload()
                        .downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_else(|| "(non-string panic)".to_owned()),
                };
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let _ = PANIC.try_with(|p| {
                    p.borrow_mut().get_or_insert(format!("{msg}{at}"));
                });
            }
            previous(info);
        }));
    });
}

/// Runs targets on inputs with the checks above; the first finding fails the test.
struct Runner {
    target: &'static str,
    f: targets::Target,
    current: &'static Finding,
    /// When the running input started; `None` between inputs.
    since: Arc<Mutex<Option<Instant>>>,
    done: Arc<AtomicBool>,
    /// Inputs run so far, and since when (reported with a finding).
    runs: Cell<u64>,
    created: Instant,
}

impl Runner {
    fn new(target: &'static str) -> Runner {
        install_panic_hook();
        let f = targets::target(target).expect("a target of fuzz/src/targets.rs");
        let current: &'static Finding = Box::leak(Box::new(Finding {
            target,
            input: Mutex::new(Vec::new()),
        }));
        let runner = Runner {
            target,
            f,
            current,
            since: Arc::new(Mutex::new(None)),
            done: Arc::new(AtomicBool::new(false)),
            runs: Cell::new(0),
            created: Instant::now(),
        };
        runner.watchdog(Duration::from_secs(
            env_u64("GRIDWORK_FUZZ_TIMEOUT").unwrap_or(10),
        ));
        runner
    }

    /// A thread that saves the input and ends the process when one input runs too long (a hang
    /// cannot be unwound).
    fn watchdog(&self, timeout: Duration) {
        let (since, done, current) = (self.since.clone(), self.done.clone(), self.current);
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
                let running_for = since
                    .lock()
                    .ok()
                    .and_then(|s| s.map(|s| s.elapsed()))
                    .unwrap_or_default();
                if running_for > timeout && !done.load(Ordering::Relaxed) {
                    let path = current.save("timeout");
                    let _ = writeln!(
                        std::io::stderr(),
                        "fuzz target {}: one input ran for more than {timeout:?} (a hang); \
                         input saved as {}",
                        current.target,
                        path.display()
                    );
                    std::process::exit(101);
                }
            }
        });
    }

    fn run(&self, input: &[u8]) {
        if let Ok(mut cur) = self.current.input.lock() {
            cur.clear();
            cur.extend_from_slice(input);
        }
        if let Ok(mut s) = self.since.lock() {
            *s = Some(Instant::now());
        }
        self.runs.set(self.runs.get() + 1);
        let base = LIVE.with(Cell::get);
        PEAK.with(|p| p.set(base));
        PANIC.with(|p| p.borrow_mut().take());
        OVERSIZE.with(|o| o.set(Some(self.current)));
        RUNNING.with(|r| r.set(true));
        let f = self.f;
        let result = std::panic::catch_unwind(|| f(input));
        RUNNING.with(|r| r.set(false));
        OVERSIZE.with(|o| o.set(None));
        if let Ok(mut s) = self.since.lock() {
            *s = None;
        }
        let peak = PEAK.with(Cell::get) - base;
        let panicked = PANIC.with(|p| p.borrow_mut().take());
        if result.is_err() || panicked.is_some() {
            let path = save_artifact(self.target, "crash", input);
            panic!(
                "fuzz target {} panicked: {}\ninput #{} ({:.1}s into the run, {} bytes) saved as \
                 {}\nhex: {}",
                self.target,
                panicked.unwrap_or_else(|| "(unknown)".into()),
                self.runs.get(),
                self.created.elapsed().as_secs_f64(),
                input.len(),
                path.display(),
                hex_preview(input)
            );
        }
        if peak > MAX_LIVE {
            let path = save_artifact(self.target, "oom", input);
            panic!(
                "fuzz target {} held {peak} bytes allocated on one input (limit {MAX_LIVE}); \
                 input saved as {}",
                self.target,
                path.display()
            );
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------

/// xorshift64*: deterministic from its seed, so a run reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (0 when n is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    /// Small numbers much more often than large ones: `0..n`, log-uniform.
    fn small(&mut self, n: usize) -> usize {
        let bits = usize::BITS - n.max(1).leading_zeros();
        let cap = 1usize << self.below(bits as usize + 1);
        self.below(cap.min(n))
    }
}

const INTERESTING_8: [u8; 9] = [0, 1, 2, 0x7f, 0x80, 0x81, 0xfe, 0xff, 0x10];

/// Byte strings worth planting: extreme LEB128 varints (the wire framing and Automerge both use
/// them), extreme fixed-width integers, and the magic numbers of the formats under test.
fn dictionary() -> Vec<Vec<u8>> {
    let mut d: Vec<Vec<u8>> = vec![
        vec![0xff; 9],
        [vec![0xff; 9], vec![0x01]].concat(),
        [vec![0xff; 9], vec![0x7f]].concat(),
        vec![0x80, 0x80, 0x80, 0x80, 0x10],
        vec![0xff, 0xff, 0xff, 0xff, 0x0f],
        vec![0x80, 0x80, 0x04],
        vec![0x00],
        u32::MAX.to_le_bytes().to_vec(),
        u32::MAX.to_be_bytes().to_vec(),
        0x7fff_ffffu32.to_be_bytes().to_vec(),
        0xffffu16.to_be_bytes().to_vec(),
        0x8000u16.to_be_bytes().to_vec(),
        i64::MIN.to_le_bytes().to_vec(),
        b"GWSQ".to_vec(),
        b"GWSR".to_vec(),
        vec![0x85, 0x6f, 0x4a, 0x83],
        vec![0xFF, 0xD8, 0xFF],
        vec![0xFF, 0xC0],
        vec![0xFF, 0xDA],
        vec![0xFF, 0xD9],
        b"\x89PNG\r\n\x1a\n".to_vec(),
        b"IHDR".to_vec(),
        b"IEND\xAE\x42\x60\x82".to_vec(),
        b"RIFF".to_vec(),
        b"WEBP".to_vec(),
        b"VP8 ".to_vec(),
        b"VP8L".to_vec(),
        b"VP8X".to_vec(),
        vec![0x9D, 0x01, 0x2A],
        vec![0x28, 0xB5, 0x2F, 0xFD],
    ];
    d.extend(
        [1u8, 2, 3]
            .iter()
            .map(|t| [vec![*t], vec![0x2a; 16]].concat()),
    );
    d
}

fn mutate(rng: &mut Rng, data: &mut Vec<u8>, corpus: &[Vec<u8>], dict: &[Vec<u8>]) {
    let rounds = 1 + rng.small(16);
    for _ in 0..rounds {
        let len = data.len();
        match rng.below(13) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next() as u8;
            }
            2 if len > 0 => {
                let i = rng.below(len);
                data[i] = INTERESTING_8[rng.below(INTERESTING_8.len())];
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let delta = rng.below(35) as u8;
                data[i] = if rng.below(2) == 0 {
                    data[i].wrapping_add(delta)
                } else {
                    data[i].wrapping_sub(delta)
                };
            }
            4 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.small(64);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(at..at, bytes);
            }
            5 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.small(len - at);
                data.drain(at..at + n.min(len - at));
            }
            6 if len > 0 => {
                // Copy a chunk of the input to somewhere else in it (inserting).
                let from = rng.below(len);
                let n = 1 + rng.small(len - from);
                let chunk = data[from..(from + n).min(len)].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, chunk);
            }
            7 if len > 0 => {
                // Overwrite with a chunk of the input.
                let from = rng.below(len);
                let to = rng.below(len);
                let n = (1 + rng.small(len)).min(len - from).min(len - to);
                let chunk = data[from..from + n].to_vec();
                data[to..to + n].copy_from_slice(&chunk);
            }
            8 => {
                // Plant a dictionary word, over or between bytes.
                let word = &dict[rng.below(dict.len())];
                let at = rng.below(len + 1);
                if rng.below(2) == 0 {
                    data.splice(at..at, word.iter().copied());
                } else {
                    let end = (at + word.len()).min(len);
                    data.splice(at..end, word.iter().copied());
                }
            }
            9 if !corpus.is_empty() => {
                // Splice: our head with the tail of another corpus entry.
                let other = &corpus[rng.below(corpus.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            10 if len > 0 => {
                data.truncate(rng.below(len));
            }
            11 if len > 0 => {
                // Repeat a chunk many times (long runs, large counts).
                let from = rng.below(len);
                let n = 1 + rng.small(16.min(len - from));
                let chunk = data[from..from + n].to_vec();
                let times = 1 + rng.small(512);
                let at = rng.below(len + 1);
                data.splice(at..at, chunk.iter().copied().cycle().take(n * times));
            }
            12 if len > 0 => {
                // Replace a run with a single byte value.
                let at = rng.below(len);
                let n = 1 + rng.small(len - at);
                let b = INTERESTING_8[rng.below(INTERESTING_8.len())];
                data[at..at + n].fill(b);
            }
            _ => data.push(rng.next() as u8),
        }
        if data.len() > MAX_LEN {
            data.truncate(MAX_LEN);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The loop
// ---------------------------------------------------------------------------------------------

fn load_corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} is missing: {e}", dir.display()))
        .filter_map(std::result::Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| {
            let bytes = std::fs::read(e.path()).expect("read corpus file");
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    files.sort();
    files
}

fn fuzz(target: &'static str) {
    let runner = Runner::new(target);
    if let Ok(list) = std::env::var("GRIDWORK_FUZZ_REPLAY") {
        for path in std::env::split_paths(&list) {
            // Tests run in store/; a relative path is taken from the repository root.
            let path = repo_root().join(path);
            let input = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            runner.run(&input);
            eprintln!(
                "fuzz_stable {target}: {} ran without a finding",
                path.display()
            );
        }
        return;
    }
    let files = load_corpus(target);
    assert!(
        !files.is_empty(),
        "fuzz/corpus/{target} holds no inputs: commit its seeds"
    );
    let t0 = Instant::now();
    for (_, input) in &files {
        runner.run(input);
    }
    let replay = t0.elapsed();

    let secs = env_u64("GRIDWORK_FUZZ_SECS");
    let seed = env_u64("GRIDWORK_FUZZ_SEED").unwrap_or_else(|| match secs {
        None => 0x6772_6964_776f_726b,
        Some(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    });
    let mut rng = Rng(seed | 1);
    let corpus: Vec<Vec<u8>> = files.into_iter().map(|(_, b)| b).collect();
    let dict = dictionary();
    let deadline = secs.map(|s| Instant::now() + Duration::from_secs(s));
    let t1 = Instant::now();
    let mut execs = 0u64;
    let mut input = Vec::with_capacity(MAX_LEN);
    loop {
        match deadline {
            Some(d) if execs.is_multiple_of(16) && Instant::now() >= d => break,
            None if execs >= QUICK_MUTATIONS => break,
            _ => {}
        }
        input.clear();
        input.extend_from_slice(&corpus[rng.below(corpus.len())]);
        mutate(&mut rng, &mut input, &corpus, &dict);
        runner.run(&input);
        execs += 1;
    }
    let took = t1.elapsed().as_secs_f64();
    let line = format!(
        "fuzz_stable {target}: corpus {} inputs in {:.2}s, then {execs} mutations in {took:.1}s \
         ({:.0}/s), seed {seed}, no finding",
        corpus.len(),
        replay.as_secs_f64(),
        execs as f64 / took.max(1e-9),
    );
    eprintln!("{line}");
    let stats = repo_root().join("target").join("fuzz").join("stats");
    if std::fs::create_dir_all(&stats).is_ok() {
        let _ = std::fs::write(stats.join(format!("{target}.txt")), format!("{line}\n"));
    }
}

#[test]
fn fuzz_wire_request() {
    fuzz("wire_request");
}

#[test]
fn fuzz_wire_response() {
    fuzz("wire_response");
}

#[test]
fn fuzz_change_gate() {
    fuzz("change_gate");
}

#[test]
fn fuzz_photo_header() {
    fuzz("photo_header");
}

/// Every target has a committed corpus of small files, and every target in the shared file has
/// a test here.
#[test]
fn corpus_is_committed_and_small() {
    assert_eq!(
        targets::TARGETS.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        [
            "wire_request",
            "wire_response",
            "change_gate",
            "photo_header"
        ]
    );
    for (target, _) in targets::TARGETS {
        let files = load_corpus(target);
        assert!(
            (4..=200).contains(&files.len()),
            "fuzz/corpus/{target}: {} files (keep tens)",
            files.len()
        );
        for (name, bytes) in &files {
            assert!(
                bytes.len() <= seeds::MAX_SEED_BYTES,
                "fuzz/corpus/{target}/{name} is {} bytes (limit {})",
                bytes.len(),
                seeds::MAX_SEED_BYTES
            );
        }
    }
}

/// The seeds are what they claim (well-formed ones are accepted by the code under test), none
/// is a finding, and the committed corpus holds a seed of every name (regenerate with
/// `GRIDWORK_FUZZ_WRITE_SEEDS=1`, which writes them into fuzz/corpus/).
#[test]
fn seeds_are_well_formed_and_committed() {
    let all = seeds::all();
    let runners: Vec<(&str, Runner)> = targets::TARGETS
        .iter()
        .map(|(n, _)| (*n, Runner::new(n)))
        .collect();
    let write = std::env::var_os("GRIDWORK_FUZZ_WRITE_SEEDS").is_some();
    let mut missing = Vec::new();
    for s in &all {
        assert!(
            s.bytes.len() <= seeds::MAX_SEED_BYTES,
            "seed {}/{} too large",
            s.target,
            s.name
        );
        let accepted = match s.target {
            "change_gate" => automerge::Change::try_from(s.bytes.as_slice()).is_ok(),
            "wire_request" | "wire_response" => {
                let (&mode, rest) = s.bytes.split_first().expect("mode byte");
                let body = if mode & 1 == 1 {
                    zstd::bulk::compress(rest, 1).expect("compress")
                } else {
                    rest.to_vec()
                };
                if s.target == "wire_request" {
                    gridwork_protocol::wire::decode_request(
                        &body,
                        gridwork_protocol::wire::REQUEST_LIMITS,
                    )
                    .is_ok()
                } else {
                    gridwork_protocol::wire::decode_response(
                        &body,
                        gridwork_protocol::wire::RESPONSE_LIMITS,
                    )
                    .is_ok()
                }
            }
            "photo_header" => gridwork_photo::probe(&s.bytes).is_ok(),
            other => panic!("seed for unknown target {other}"),
        };
        assert_eq!(
            accepted, s.valid,
            "seed {}/{}: accepted {accepted}, expected {}",
            s.target, s.name, s.valid
        );
        let runner = &runners
            .iter()
            .find(|(n, _)| *n == s.target)
            .expect("runner")
            .1;
        runner.run(&s.bytes);
        let path = corpus_dir(s.target).join(format!("seed-{}", s.name));
        if write {
            std::fs::create_dir_all(corpus_dir(s.target)).expect("corpus dir");
            std::fs::write(&path, &s.bytes).expect("write seed");
        } else if !path.is_file() {
            missing.push(format!("{}/seed-{}", s.target, s.name));
        }
    }
    for target in [
        "wire_request",
        "wire_response",
        "change_gate",
        "photo_header",
    ] {
        assert!(
            all.iter().filter(|s| s.target == target && s.valid).count() >= 2,
            "{target}: at least two well-formed seeds"
        );
    }
    assert!(
        missing.is_empty(),
        "seeds missing from fuzz/corpus (run with GRIDWORK_FUZZ_WRITE_SEEDS=1): {missing:?}"
    );
}
