//! The real `gridwork-server` binary as a child process on a loopback port, killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Path of the server binary: `$GRIDWORK_SERVER_BIN`, else `target/<profile>/gridwork-server` next
/// to this test executable, built once per test process with `cargo build -p gridwork-server`
/// (a no-op when it is up to date) so the tests never run a stale server.
pub fn server_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("GRIDWORK_SERVER_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("current_exe");
        // target/<profile>/deps/<test>  →  target/<profile>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test executable lives in target/<profile>/deps")
            .to_path_buf();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root")
            .to_path_buf();
        let bin = profile_dir.join(format!("gridwork-server{}", std::env::consts::EXE_SUFFIX));
        if is_fresh(&bin, &workspace) {
            return bin;
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&workspace).args([
            "build",
            "--quiet",
            "-p",
            "gridwork-server",
            "--bin",
            "gridwork-server",
        ]);
        if release {
            cmd.arg("--release");
        }
        // Build into the directory this test runs from.
        if let Some(target) = profile_dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        let status = cmd.status().expect("run cargo build -p gridwork-server");
        assert!(status.success(), "cargo build -p gridwork-server failed");
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
}

/// Whether `bin` is newer than every source it is built from (core and sync-server sources,
/// manifests, the lock file). Building is skipped then: a nested `cargo build` waits for the
/// build-directory lock, which other cargo commands may hold for minutes.
fn is_fresh(bin: &Path, workspace: &Path) -> bool {
    fn newest(p: &Path) -> Option<std::time::SystemTime> {
        let meta = std::fs::metadata(p).ok()?;
        if meta.is_dir() {
            std::fs::read_dir(p)
                .ok()?
                .filter_map(|e| newest(&e.ok()?.path()))
                .max()
        } else {
            meta.modified().ok()
        }
    }
    let Some(built) = std::fs::metadata(bin).and_then(|m| m.modified()).ok() else {
        return false;
    };
    [
        "model/src",
        "model/Cargo.toml",
        "protocol/src",
        "protocol/Cargo.toml",
        "sync-server/src",
        "sync-server/Cargo.toml",
        "Cargo.lock",
    ]
    .iter()
    .filter_map(|p| newest(&workspace.join(p)))
    .all(|t| t <= built)
}

/// A running server. Dropping it kills the process (SIGKILL) and removes its data dir.
pub struct Server {
    child: Option<Child>,
    pub url: String,
    pub addr: SocketAddr,
    extra: Vec<String>,
    /// `RLIMIT_AS` of the process, in bytes, when capped ([`Server::start_capped`]).
    address_space: Option<u64>,
    /// Where the process's logs go at `RUST_LOG=trace` ([`Server::start_traced`]).
    trace_log: Option<PathBuf>,
    dir: tempfile::TempDir,
}

impl Server {
    /// Starts `gridwork-server serve --demo` on a free loopback port with a new data dir.
    pub fn start(extra: &[&str]) -> Server {
        Self::start_with(extra, None)
    }

    /// [`Server::start`] with the process's address space capped at `address_space` bytes
    /// (`RLIMIT_AS`, set between fork and exec): an attack that makes the server allocate without
    /// bound then makes it fail (allocation failure aborts it) instead of exhausting the machine.
    pub fn start_capped(extra: &[&str], address_space: u64) -> Server {
        Self::start_with(extra, Some(address_space))
    }

    /// [`Server::start`] logging everything (`RUST_LOG=trace`) to a file read by
    /// [`Server::trace_log`], for tests that look for what must never be logged.
    pub fn start_traced(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("server-trace.log");
        Self::spawn_in(dir, extra, None, Some(log))
    }

    /// Everything the process logged so far ([`Server::start_traced`]; empty otherwise).
    pub fn trace_log(&self) -> String {
        self.trace_log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    fn start_with(extra: &[&str], address_space: Option<u64>) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::spawn_in(dir, extra, address_space, None)
    }

    fn spawn_in(
        dir: tempfile::TempDir,
        extra: &[&str],
        address_space: Option<u64>,
        trace_log: Option<PathBuf>,
    ) -> Server {
        let extra: Vec<String> = extra.iter().map(std::string::ToString::to_string).collect();
        let (child, addr) = try_spawn(
            dir.path(),
            "127.0.0.1:0",
            &extra,
            address_space,
            trace_log.as_deref(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        Server {
            child: Some(child),
            url: format!("http://{addr}"),
            addr,
            extra,
            address_space,
            trace_log,
            dir,
        }
    }

    /// Process id of the running server (`None` after [`Server::kill`]).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// How the process ended, if it did (a crash, an abort on a failed allocation); `None` while
    /// it runs.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// SIGKILL: no graceful shutdown, in-flight requests die with it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the server again on the same data dir and the same port.
    pub fn restart(&mut self) {
        self.kill();
        let listen = self.addr.to_string();
        // The port may take a moment to be free again.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match try_spawn(
                self.dir.path(),
                &listen,
                &self.extra,
                self.address_space,
                self.trace_log.as_deref(),
            ) {
                Ok((child, addr)) => {
                    assert_eq!(addr, self.addr);
                    self.child = Some(child);
                    return;
                }
                Err(e) if Instant::now() < deadline => {
                    eprintln!("restart: {e}; retrying");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("could not restart the server: {e}"),
            }
        }
    }

    /// `gridwork-server admin --data-dir DIR …`; panics on failure.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = Command::new(server_bin())
            .arg("admin")
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(args)
            .output()
            .expect("run admin");
        assert!(
            out.status.success(),
            "admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn try_spawn(
    dir: &Path,
    listen: &str,
    extra: &[String],
    address_space: Option<u64>,
    trace_log: Option<&Path>,
) -> Result<(Child, SocketAddr), String> {
    let mut cmd = Command::new(server_bin());
    cmd.args(["serve", "--demo", "--listen", listen, "--data-dir"])
        .arg(dir)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    match trace_log {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("log file {}: {e}", path.display()))?;
            cmd.env("RUST_LOG", "trace").stderr(Stdio::from(file));
        }
        None => {
            cmd.env("RUST_LOG", "error").stderr(Stdio::inherit());
        }
    }
    if let Some(limit) = address_space {
        cap_address_space(&mut cmd, limit);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", server_bin().display()))?;
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(rest) = line.strip_prefix("gridwork-server listening on http://") {
                    break rest
                        .trim()
                        .parse::<SocketAddr>()
                        .map_err(|e| format!("bad address {rest}: {e}"))?;
                }
            }
            _ => {
                let status = child.wait().ok();
                return Err(format!("server exited before listening ({status:?})"));
            }
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok((child, addr))
}

/// Sets `RLIMIT_AS` of the child to `limit` bytes, between fork and exec.
#[cfg(unix)]
#[allow(unsafe_code)] // pre_exec is unsafe; see the SAFETY note
fn cap_address_space(cmd: &mut Command, limit: u64) {
    use std::os::unix::process::CommandExt;
    let lim = libc::rlimit {
        rlim_cur: limit as libc::rlim_t,
        rlim_max: limit as libc::rlim_t,
    };
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit, which is
    // async-signal-safe; it allocates nothing and touches no lock.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_AS, &raw const lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

#[cfg(not(unix))]
fn cap_address_space(_cmd: &mut Command, _limit: u64) {
    panic!("an address-space cap needs a Unix system");
}
