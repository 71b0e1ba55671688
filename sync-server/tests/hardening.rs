//! Resource bounds and endpoint holes (issue 8), against the real `gridwork-server` binary on
//! loopback: sign-in rate limits and lockout, sign-in errors that never quote input, the
//! password-hash gate under a flood of wrong sign-ins (peak RSS of the server process), the sync
//! gate, a bounded stop on SIGTERM, admin quarantine / restore through the admin CLI with device
//! pulls, partial uploads purged and bounded, photo reads only through an upload for a record in
//! scope; and (in process) the per-device daily usage the quotas are checked against.

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use gridwork_model::{AnyRecord, Location, PhotoRef};
use gridwork_model::{ReportCategory, Role};
use gridwork_protocol::wire::{
    self, ErrorBody, ErrorCode, PushDoc, SignInRequest, SignInResponse, SyncRequest, SyncResponse,
    PROTOCOL_VERSION,
};
use gridwork_server::ServerStore as _;
use gridwork_store::{Identity, NewReport, Store};
use sha2::{Digest, Sha256};

mod common;
use common::{Server, BIN};

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

/// An HTTP answer: status, `Retry-After` seconds, body.
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    upload_offset: Option<u64>,
    body: Vec<u8>,
}

impl Answer {
    fn of(resp: reqwest::blocking::Response) -> Answer {
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        };
        let (retry_after, upload_offset) = (header("retry-after"), header("upload-offset"));
        Answer {
            status: resp.status().as_u16(),
            retry_after,
            upload_offset,
            body: resp.bytes().map(|b| b.to_vec()).unwrap_or_default(),
        }
    }
    fn error(&self) -> ErrorBody {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} without a JSON error body ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

fn sign_in_body(server: &Server, body: Vec<u8>) -> Answer {
    Answer::of(
        Server::client()
            .post(format!("{}/v1/sign-in", server.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap(),
    )
}

fn sign_in(server: &Server, user: &str, password: &str) -> Answer {
    let req = SignInRequest {
        username: user.into(),
        password: password.into(),
        device_name: "hardening test".into(),
        actors: vec![],
    };
    sign_in_body(server, serde_json::to_vec(&req).unwrap())
}

/// A signed-in device with a core store (its actor registered).
struct Device {
    token: String,
    store: Store,
    _dir: tempfile::TempDir,
}

fn device(server: &Server, user: &str) -> Device {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path().join("d.db"),
        Identity::new("pending", Role::Worker),
    )
    .unwrap();
    let req = SignInRequest {
        username: user.into(),
        password: format!("demo-{user}"),
        device_name: "hardening test".into(),
        actors: vec![store.actor_id()],
    };
    let a = sign_in_body(server, serde_json::to_vec(&req).unwrap());
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let s: SignInResponse = serde_json::from_slice(&a.body).unwrap();
    let role: Role = s.role.parse().unwrap();
    store
        .set_identity(Identity {
            user_id: s.user_id,
            role,
            grids: Some(s.scope_grids),
        })
        .unwrap();
    Device {
        token: s.token,
        store,
        _dir: dir,
    }
}

fn sync_raw(server: &Server, token: &str, req: &SyncRequest) -> Answer {
    Answer::of(
        Server::client()
            .post(format!("{}/v1/sync", server.url))
            .bearer_auth(token)
            .header("content-type", wire::SYNC_CONTENT_TYPE)
            .header("content-encoding", wire::SYNC_CONTENT_ENCODING)
            .body(wire::encode_request(req))
            .send()
            .unwrap(),
    )
}

fn sync(server: &Server, token: &str, req: &SyncRequest) -> SyncResponse {
    let a = sync_raw(server, token, req);
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    wire::decode_response(&a.body, wire::RESPONSE_LIMITS).unwrap()
}

/// Pushes the device's whole outbox; every change must be accepted.
fn push_all(server: &Server, dev: &Device) {
    let outbox = dev.store.sync_side().outbox(usize::MAX).unwrap();
    let n: usize = outbox.iter().map(|d| d.changes.len()).sum();
    let req = SyncRequest {
        version: PROTOCOL_VERSION,
        cursor: None,
        push: outbox
            .into_iter()
            .map(|d| PushDoc {
                doc_id: d.doc_id,
                changes: d.changes.into_iter().map(|c| c.bytes).collect(),
            })
            .collect(),
        pull_limit: Some(1),
        directory: None,
    };
    let r = sync(server, &dev.token, &req);
    assert_eq!(r.accepted.len(), n, "rejected: {:?}", r.rejected);
    dev.store
        .sync_side()
        .apply_sync(gridwork_store::SyncApply {
            acked: r.accepted.into_iter().map(|a| (a.doc_id, a.hash)).collect(),
            rejected: vec![],
            pulled: vec![],
            cursor: None,
            directory: None,
        })
        .unwrap();
}

/// Pulls everything after `cursor` (all pages); returns the document ids received and the new
/// cursor.
fn pull_ids(server: &Server, token: &str, cursor: Option<String>) -> (HashSet<String>, String) {
    let mut cursor = cursor;
    let mut ids = HashSet::new();
    loop {
        let r = sync(
            server,
            token,
            &SyncRequest {
                version: PROTOCOL_VERSION,
                cursor: cursor.clone(),
                push: vec![],
                pull_limit: None,
                directory: None,
            },
        );
        ids.extend(r.changes.into_iter().map(|c| c.doc_id));
        cursor = Some(r.cursor);
        if !r.more {
            break;
        }
    }
    (ids, cursor.unwrap_or_default())
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn report(dev: &Device, grid: &str, title: &str) -> String {
    dev.store
        .create_report(NewReport {
            grid: grid.into(),
            category: ReportCategory::ALL[0],
            severity: 2,
            title: title.into(),
            description: "窨井盖破损下陷".into(),
            location: Some(Location {
                lat: 36.65,
                lon: 117.12,
                accuracy_m: 5.0,
                address: None,
            }),
            submit: false,
        })
        .unwrap()
}

fn set_photos(dev: &Device, id: &str, photos: &[(&str, &str)]) {
    let photos: Vec<PhotoRef> = photos
        .iter()
        .map(|(h, t)| PhotoRef {
            hash: (*h).into(),
            thumb_hash: (*t).into(),
            width: 64,
            height: 48,
            bytes: 1000,
            taken_at: None,
            caption: None,
        })
        .collect();
    dev.store
        .update(id, |r| {
            if let AnyRecord::Report(r) = r {
                r.photos = photos;
            }
            Ok(())
        })
        .unwrap();
}

fn blob_req(
    server: &Server,
    method: reqwest::Method,
    token: &str,
    hash: &str,
    record: Option<&str>,
) -> reqwest::blocking::RequestBuilder {
    let q = record.map(|r| format!("?record={r}")).unwrap_or_default();
    Server::client()
        .request(method, format!("{}/v1/blobs/{hash}{q}", server.url))
        .bearer_auth(token)
}

fn put_whole(server: &Server, token: &str, hash: &str, record: Option<&str>, b: &[u8]) -> Answer {
    Answer::of(
        blob_req(server, reqwest::Method::PUT, token, hash, record)
            .body(b.to_vec())
            .send()
            .unwrap(),
    )
}

fn put_part(server: &Server, token: &str, hash: &str, part: &[u8], total: u64) -> Answer {
    Answer::of(
        blob_req(server, reqwest::Method::PUT, token, hash, None)
            .header(
                "content-range",
                format!("bytes 0-{}/{total}", part.len() - 1),
            )
            .body(part.to_vec())
            .send()
            .unwrap(),
    )
}

fn get_blob(server: &Server, token: &str, hash: &str) -> Answer {
    Answer::of(
        blob_req(server, reqwest::Method::GET, token, hash, None)
            .send()
            .unwrap(),
    )
}

fn head_blob(server: &Server, token: &str, hash: &str, record: Option<&str>) -> Answer {
    Answer::of(
        blob_req(server, reqwest::Method::HEAD, token, hash, record)
            .send()
            .unwrap(),
    )
}

fn admin(server: &Server, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("admin")
        .arg("--data-dir")
        .arg(server.data_dir())
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `VmHWM` (peak resident set) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Flags that take the sign-in rate limits out of the way (to load the hash gate).
const NO_SIGN_IN_LIMITS: &[&str] = &[
    "--sign-in-account-burst",
    "1000000",
    "--sign-in-account-per-min",
    "1000000",
    "--sign-in-addr-burst",
    "1000000",
    "--sign-in-addr-per-min",
    "1000000",
    "--sign-in-lockout-after",
    "0",
];

// ------------------------------------------------------------------------------------------------
// Sign-in
// ------------------------------------------------------------------------------------------------

#[test]
fn wrong_passwords_lock_the_account_not_the_others() {
    let server = Server::start(&[
        "--sign-in-lockout-after",
        "3",
        "--sign-in-lockout-base-secs",
        "60",
    ]);
    for _ in 0..3 {
        let a = sign_in(&server, "worker", "not-the-password");
        assert_eq!(a.status, 401);
        assert_eq!(a.error().code, ErrorCode::Unauthorized);
    }
    // Locked: even the right password is answered 429 with Retry-After, before any hashing.
    let a = sign_in(&server, "worker", "demo-worker");
    assert_eq!(a.status, 429);
    let e = a.error();
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert!(e.retryable);
    let retry = a.retry_after.expect("Retry-After");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert!(!e.message.contains("demo-worker"));
    // Another account signs in at once.
    let t = Instant::now();
    let a = sign_in(&server, "leader", "demo-leader");
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    eprintln!(
        "correct sign-in of another account while one is locked: {:?}",
        t.elapsed()
    );
    // An account that does not exist is limited the same way (nothing tells them apart).
    for _ in 0..3 {
        assert_eq!(sign_in(&server, "nobody", "guess").status, 401);
    }
    assert_eq!(sign_in(&server, "nobody", "guess").status, 429);
}

#[test]
fn one_address_is_rate_limited_and_successes_do_not_count() {
    let server = Server::start(&[
        "--sign-in-addr-burst",
        "4",
        "--sign-in-addr-per-min",
        "1",
        "--sign-in-lockout-after",
        "0",
    ]);
    // Successful sign-ins give their attempt back: ten in a row pass.
    for _ in 0..10 {
        assert_eq!(sign_in(&server, "worker", "demo-worker").status, 200);
    }
    // Four wrong ones over four accounts use the address's budget...
    for i in 0..4 {
        assert_eq!(sign_in(&server, &format!("guess{i}"), "x").status, 401);
    }
    // ...and the fifth, whatever the account, is refused until the address regains one.
    let a = sign_in(&server, "guess9", "x");
    assert_eq!(a.status, 429);
    assert_eq!(a.error().code, ErrorCode::RateLimited);
    let retry = a.retry_after.expect("Retry-After");
    assert!((30..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(sign_in(&server, "worker", "demo-worker").status, 429);
}

#[test]
fn sign_in_errors_name_the_field_and_never_quote_input() {
    let server = Server::start(&[]);
    let secret = "S3cr3t-Pa55w0rd";
    let bodies = [
        r#"{"username":"worker","password":1234567890123,"device_name":"d","actors":[]}"#
            .to_owned(),
        format!(r#"{{"username":"worker","password":["{secret}"],"device_name":"d","actors":[]}}"#),
        format!(
            r#"{{"username":"worker","password":{{"{secret}":1}},"device_name":"d","actors":[]}}"#
        ),
        format!(
            r#"{{"username":"worker","password":"{secret}","device_name":"d","actors":"{secret}"}}"#
        ),
        format!(r#"{{"username":"worker","password":"{secret}","device_name":"d","actors":[7]}}"#),
        format!(r#"{{"username":"worker","password":"{secret}"#),
        format!(
            r#"{{"username":"worker","password":"{secret}","device_name":"d","actors":[]}} {secret}"#
        ),
        format!(r#"{{"username":"{secret}","password":tru}}"#),
        format!(r#""{secret}""#),
        format!(r#"{{"username":"worker","password":"{secret}"}}"#),
    ];
    for body in bodies {
        let a = sign_in_body(&server, body.clone().into_bytes());
        assert_eq!(a.status, 400, "{body}");
        let e = a.error();
        assert_eq!(e.code, ErrorCode::BadRequest);
        for leak in [secret, "1234567890123", "tru"] {
            assert!(!e.message.contains(leak), "{body} → {}", e.message);
        }
    }
    // The field is named.
    let a = sign_in_body(
        &server,
        br#"{"username":"worker","password":12,"device_name":"d","actors":[]}"#.to_vec(),
    );
    assert!(
        a.error().message.contains("`password`"),
        "{}",
        a.error().message
    );
}

#[test]
fn a_flood_of_wrong_sign_ins_keeps_memory_bounded() {
    let mut flags = vec!["--max-concurrent-hashes", "2"];
    flags.extend_from_slice(NO_SIGN_IN_LIMITS);
    let server = Server::start(&flags);
    let pid = server.child.id();
    // One sign-in first, so the baseline includes one hash's memory.
    assert_eq!(sign_in(&server, "worker", "demo-worker").status, 200);
    let before = peak_rss_kib(pid);
    let n = 200;
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let b = barrier.clone();
            let url = server.url.clone();
            std::thread::spawn(move || {
                let body = serde_json::to_vec(&SignInRequest {
                    username: format!("user{i}"),
                    password: "wrong password".into(),
                    device_name: "flood".into(),
                    actors: vec![],
                })
                .unwrap();
                b.wait();
                let resp = Server::client()
                    .post(format!("{url}/v1/sign-in"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send();
                resp.map(Answer::of).map_err(|e| e.to_string())
            })
        })
        .collect();
    let answers: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let peak = peak_rss_kib(pid);
    let (mut unauthorized, mut busy) = (0, 0);
    for a in &answers {
        let a = a.as_ref().expect("every request is answered");
        match a.status {
            401 => unauthorized += 1,
            503 => {
                assert_eq!(a.error().code, ErrorCode::Unavailable);
                assert!(a.retry_after.is_some_and(|s| s >= 1));
                busy += 1;
            }
            s => panic!("unexpected status {s}"),
        }
    }
    eprintln!(
        "200 parallel wrong sign-ins, 2 hash slots: peak RSS {} MiB before, {} MiB after \
         ({unauthorized} × 401, {busy} × 503)",
        before / 1024,
        peak / 1024
    );
    assert!(unauthorized >= 2, "some sign-ins were checked");
    // Unbounded, 200 hashes of ~19 MiB ran at once (3.8 GB). Two slots: a few hashes' worth.
    assert!(
        peak < before + 150 * 1024,
        "peak RSS grew by {} MiB",
        (peak - before) / 1024
    );
    // The server still answers, and a correct sign-in works.
    assert_eq!(sign_in(&server, "leader", "demo-leader").status, 200);
}

// ------------------------------------------------------------------------------------------------
// Sync gate, shutdown
// ------------------------------------------------------------------------------------------------

#[test]
fn sync_work_is_bounded_and_the_rest_told_to_retry() {
    let server = Server::start(&["--max-concurrent-syncs", "1", "--max-sync-waiters", "0"]);
    let dev = device(&server, "supervisor");
    let req = SyncRequest {
        version: PROTOCOL_VERSION,
        cursor: None,
        push: vec![],
        pull_limit: None,
        directory: None,
    };
    let mut seen_busy = None;
    let mut ok = 0;
    for _round in 0..5 {
        let n = 24;
        let barrier = Arc::new(Barrier::new(n));
        let threads: Vec<_> = (0..n)
            .map(|_| {
                let (b, url, token) = (barrier.clone(), server.url.clone(), dev.token.clone());
                let body = wire::encode_request(&req);
                std::thread::spawn(move || {
                    b.wait();
                    Answer::of(
                        Server::client()
                            .post(format!("{url}/v1/sync"))
                            .bearer_auth(token)
                            .header("content-type", wire::SYNC_CONTENT_TYPE)
                            .header("content-encoding", wire::SYNC_CONTENT_ENCODING)
                            .body(body)
                            .send()
                            .unwrap(),
                    )
                })
            })
            .collect();
        for t in threads {
            let a = t.join().unwrap();
            match a.status {
                200 => ok += 1,
                503 => seen_busy = Some(a),
                s => panic!("unexpected status {s}"),
            }
        }
        if seen_busy.is_some() {
            break;
        }
    }
    let busy = seen_busy.expect("one sync slot and no queue: parallel syncs are turned away");
    assert_eq!(busy.error().code, ErrorCode::Unavailable);
    assert!(busy.error().retryable);
    assert!(busy.retry_after.is_some_and(|s| s >= 1));
    assert!(ok >= 1);
}

/// Bodies are reserved against a byte budget before they are read: connections that announce
/// large bodies and then stall cannot make the server hold unbounded memory; once the budget is
/// taken, the next sync is told to retry, and when the stalled connections go away, syncs work.
#[test]
fn request_bodies_in_memory_are_bounded_across_connections() {
    use std::io::Write as _;
    let server = Server::start(&[
        "--max-body-bytes-in-flight",
        "2097152",
        "--max-queue-wait-secs",
        "1",
    ]);
    let dev = device(&server, "supervisor");
    let addr = server.url.trim_start_matches("http://").to_string();
    // Two stalled uploads announcing 1 MiB each take the whole 2 MiB budget.
    let stalled: Vec<std::net::TcpStream> = (0..2)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            write!(
                s,
                "POST /v1/sync HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: {}\r\nContent-Encoding: {}\r\nContent-Length: 1048576\r\n\r\nx",
                dev.token,
                wire::SYNC_CONTENT_TYPE,
                wire::SYNC_CONTENT_ENCODING
            )
            .unwrap();
            s.flush().unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let req = SyncRequest {
        version: PROTOCOL_VERSION,
        cursor: None,
        push: vec![],
        pull_limit: None,
        directory: None,
    };
    let busy = sync_raw(&server, &dev.token, &req);
    assert_eq!(
        busy.status, 503,
        "the body budget is taken by stalled uploads"
    );
    assert_eq!(busy.error().code, ErrorCode::Unavailable);
    assert!(busy.retry_after.is_some_and(|s| s >= 1));
    drop(stalled);
    // The stalled requests end (their connections closed): their reservations come back.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = sync_raw(&server, &dev.token, &req);
        if a.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the budget never came back: {}",
            a.status
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigterm_stops_the_server_within_a_bounded_time_under_load() {
    let mut flags = vec!["--max-concurrent-hashes", "1", "--shutdown-drain-secs", "3"];
    flags.extend_from_slice(NO_SIGN_IN_LIMITS);
    let mut server = Server::start(&flags);
    // A request that never finishes: a sync whose body trickles in (the graceful stop alone
    // would wait for it until the 30 s request timeout).
    let dev = device(&server, "worker");
    let mut slow = std::net::TcpStream::connect(server.addr()).unwrap();
    {
        use std::io::Write as _;
        write!(
            slow,
            "POST /v1/sync HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: {}\r\nContent-Encoding: zstd\r\nContent-Length: 100000\r\n\r\n",
            server.addr(),
            dev.token,
            wire::SYNC_CONTENT_TYPE
        )
        .unwrap();
        slow.write_all(&[0u8; 10]).unwrap();
        slow.flush().unwrap();
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..16)
        .map(|i| {
            let (url, stop) = (server.url.clone(), stop.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let body = format!(
                        r#"{{"username":"u{i}","password":"wrong","device_name":"d","actors":[]}}"#
                    );
                    if client
                        .post(format!("{url}/v1/sign-in"))
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .is_err()
                    {
                        break;
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    let pid = server.child.id().to_string();
    let t = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "the server did not stop within 15 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = t.elapsed();
    drop(slow);
    assert!(
        took < Duration::from_secs(10),
        "3 s of drain, then at most ~2 s for blocking work: took {took:?}"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for l in load {
        let _ = l.join();
    }
    eprintln!("stopped {took:?} after SIGTERM under a sign-in flood: {status}");
    assert!(status.success(), "{status}");
}

// ------------------------------------------------------------------------------------------------
// Admin quarantine
// ------------------------------------------------------------------------------------------------

#[test]
fn quarantined_documents_leave_pulls_and_come_back_on_restore() {
    let server = Server::start(&[]);
    let worker = device(&server, "worker");
    let leader = device(&server, "leader");
    let bad = report(&worker, "furong-01", "被隔离的记录");
    let good = report(&worker, "furong-01", "正常记录");
    push_all(&server, &worker);

    // Through the real admin CLI, a separate process, while the server runs.
    let (ok, out) = admin(
        &server,
        &["quarantine-doc", &bad, "--reason", "forged workflow step"],
    );
    assert!(ok, "{out}");
    assert!(out.contains("quarantined"), "{out}");
    let (ok, out) = admin(&server, &["quarantine-doc", &bad]);
    assert!(ok && out.contains("already"), "{out}");
    let (ok, out) = admin(&server, &["list-quarantined-docs"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&bad) && out.contains("forged workflow step"),
        "{out}"
    );
    assert!(out.contains("furong-01") && out.contains("report"), "{out}");
    assert!(!out.contains(&good), "{out}");
    // Unknown documents and restoring one that is not quarantined fail.
    assert!(!admin(&server, &["quarantine-doc", "no-such-doc"]).0);
    assert!(!admin(&server, &["restore-doc", &good]).0);

    // A device pulling now gets the good record, not the quarantined one; its cursor passes both.
    let (ids, cursor) = pull_ids(&server, &leader.token, None);
    assert!(ids.contains(&good), "{ids:?}");
    assert!(!ids.contains(&bad), "{ids:?}");
    let (ids, _) = pull_ids(&server, &leader.token, Some(cursor.clone()));
    assert!(ids.is_empty(), "{ids:?}");

    let (ok, out) = admin(&server, &["restore-doc", &bad]);
    assert!(ok, "{out}");
    assert!(out.contains("restored"), "{out}");
    let (_, out) = admin(&server, &["list-quarantined-docs"]);
    assert!(out.contains("no quarantined documents"), "{out}");

    // The same device, its cursor past the document's old changes, pulls them again (they were
    // re-sequenced by another process: the server must see them as durable without a push of
    // its own).
    let (ids, cursor2) = pull_ids(&server, &leader.token, Some(cursor));
    assert_eq!(ids, HashSet::from([bad.clone()]));
    let (ids, _) = pull_ids(&server, &leader.token, Some(cursor2));
    assert!(ids.is_empty(), "{ids:?}");
    // A fresh device gets both.
    let (ids, _) = pull_ids(&server, &leader.token, None);
    assert!(ids.contains(&bad) && ids.contains(&good));
}

// ------------------------------------------------------------------------------------------------
// Partial uploads
// ------------------------------------------------------------------------------------------------

#[test]
fn partial_uploads_are_purged_after_their_ttl() {
    let server = Server::start(&["--partial-upload-ttl-secs", "1"]);
    let worker = device(&server, "worker");
    let data = vec![7u8; 5000];
    let hash = sha(&data);
    let a = put_part(&server, &worker.token, &hash, &data[..1000], 5000);
    assert_eq!(a.status, 202);
    assert_eq!(a.upload_offset, Some(1000));
    let staged = || {
        std::fs::read_dir(server.data_dir().join("blobs-partial"))
            .unwrap()
            .count()
    };
    assert_eq!(staged(), 1);
    let t = Instant::now();
    let mut offset = Some(1000);
    while t.elapsed() < Duration::from_secs(10) {
        offset = head_blob(&server, &worker.token, &hash, None).upload_offset;
        if offset == Some(0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(offset, Some(0), "the partial upload was purged");
    assert_eq!(staged(), 0);
    eprintln!(
        "partial upload purged {:?} after its last write",
        t.elapsed()
    );
}

#[test]
fn partial_uploads_are_bounded_per_device_and_in_total() {
    let server = Server::start(&[
        "--max-partial-uploads-per-device",
        "1",
        "--max-staging-bytes",
        "3000000",
    ]);
    let worker = device(&server, "worker");
    let leader = device(&server, "leader");
    let part = vec![1u8; 100];
    let a = put_part(&server, &worker.token, &sha(b"one"), &part, 1_000_000);
    assert_eq!(a.status, 202);
    // A second unfinished upload of the same device: 429 with Retry-After.
    let a = put_part(&server, &worker.token, &sha(b"two"), &part, 1_000_000);
    assert_eq!(a.status, 429);
    assert_eq!(a.error().code, ErrorCode::RateLimited);
    assert!(a.retry_after.is_some());
    // Resuming the first is fine.
    let a = Answer::of(
        blob_req(
            &server,
            reqwest::Method::PUT,
            &worker.token,
            &sha(b"one"),
            None,
        )
        .header("content-range", "bytes 100-199/1000000")
        .body(part.clone())
        .send()
        .unwrap(),
    );
    assert_eq!((a.status, a.upload_offset), (202, Some(200)));
    // The staging area holds 1 MB of 3: another device's 2.5 MB upload does not fit (507).
    let a = put_part(&server, &leader.token, &sha(b"three"), &part, 2_500_000);
    assert_eq!(a.status, 507);
    assert_eq!(a.error().code, ErrorCode::Unavailable);
    assert!(a.retry_after.is_some());
    let a = put_part(&server, &leader.token, &sha(b"three"), &part, 1_500_000);
    assert_eq!(a.status, 202);
}

// ------------------------------------------------------------------------------------------------
// Photo reads
// ------------------------------------------------------------------------------------------------

#[test]
fn photo_reads_need_an_upload_for_a_record_in_scope() {
    let server = Server::start(&[]);
    let worker = device(&server, "worker"); // furong-01
    let worker2 = device(&server, "worker2"); // baotu-01
    let leader = device(&server, "leader"); // furong-01, furong-02
    let (full, thumb) = (vec![3u8; 40_000], vec![4u8; 4_000]);
    let (hf, ht) = (sha(&full), sha(&thumb));

    let rec = report(&worker, "furong-01", "井盖破损");
    set_photos(&worker, &rec, &[(&hf, &ht)]);
    let other_rec = report(&worker, "furong-01", "没有照片");
    push_all(&server, &worker);
    for (h, b) in [(&hf, &full), (&ht, &thumb)] {
        assert_eq!(
            put_whole(&server, &worker.token, h, Some(&rec), b).status,
            201
        );
    }
    assert_eq!(get_blob(&server, &leader.token, &hf).status, 200);

    // The attacker references the hash from a record of their own, in their own grid.
    let own = report(&worker2, "baotu-01", "借用别人的照片");
    set_photos(&worker2, &own, &[(&hf, &ht)]);
    push_all(&server, &worker2);
    // Before: served (a record in scope referenced it). Now: not uploaded for that record.
    let a = get_blob(&server, &worker2.token, &hf);
    assert_eq!(a.status, 404);
    assert_eq!(a.error().code, ErrorCode::NotFound);
    assert_eq!(get_blob(&server, &worker2.token, &ht).status, 404);
    let a = head_blob(&server, &worker2.token, &hf, Some(&own));
    assert_eq!((a.status, a.upload_offset), (404, Some(0)));

    // Uploads for a record out of scope, missing, or not referencing the photo: refused before
    // the body is read.
    for (token, record) in [
        (&worker2.token, rec.as_str()),
        (&worker2.token, "0190e0c4-0000-7000-8000-000000000000"),
        (&worker.token, other_rec.as_str()),
    ] {
        let a = put_whole(&server, token, &hf, Some(record), &full);
        assert_eq!(a.status, 404, "{record}");
        assert_eq!(a.error().code, ErrorCode::NotFound);
        assert!(!a.error().message.contains(record));
    }
    let a = put_whole(&server, &worker2.token, &hf, Some("not%20an%20id"), &full);
    assert_eq!(a.status, 400);
    // A whole upload without a record is refused too.
    assert_eq!(
        put_whole(&server, &worker2.token, &hf, None, &full).status,
        400
    );
    assert_eq!(get_blob(&server, &worker2.token, &hf).status, 404);

    // Holding the bytes is what counts: uploading them for their own record gives access.
    assert_eq!(
        put_whole(&server, &worker2.token, &hf, Some(&own), &full).status,
        201
    );
    assert_eq!(
        head_blob(&server, &worker2.token, &hf, Some(&own)).status,
        200
    );
    let a = get_blob(&server, &worker2.token, &hf);
    assert_eq!(a.status, 200);
    assert_eq!(a.body, full);
    assert_eq!(get_blob(&server, &worker2.token, &ht).status, 404);

    // A record that no longer references the photo no longer gives access.
    set_photos(&worker, &rec, &[]);
    push_all(&server, &worker);
    assert_eq!(get_blob(&server, &leader.token, &hf).status, 404);
    assert_eq!(get_blob(&server, &worker.token, &ht).status, 404);
}

// ------------------------------------------------------------------------------------------------
// Quota accounting (in process)
// ------------------------------------------------------------------------------------------------

#[test]
fn pushes_count_toward_the_devices_day() {
    let dir = tempfile::tempdir().unwrap();
    let store = gridwork_server::SqliteStore::open(dir.path(), 1).unwrap();
    gridwork_server::demo::seed_org(&store).unwrap();
    let (user, _) = store.user_by_username("worker").unwrap().unwrap();
    let dev_dir = tempfile::tempdir().unwrap();
    let dev = Store::open(
        dev_dir.path().join("d.db"),
        Identity {
            user_id: user.id.clone(),
            role: Role::Worker,
            grids: Some(vec!["furong-01".into()]),
        },
    )
    .unwrap();
    let (_, token_hash) = gridwork_server::auth::new_token();
    let device_id = store
        .create_device(
            &user.id,
            "quota test",
            &token_hash,
            chrono::Utc::now() + chrono::Duration::hours(1),
            &[dev.actor_id()],
        )
        .unwrap();
    let (auth, scope) = store.auth(&token_hash).unwrap().unwrap();
    let push = |dev: &Store| {
        let outbox = dev.sync_side().outbox(usize::MAX).unwrap();
        let bytes: u64 = outbox
            .iter()
            .flat_map(|d| d.changes.iter())
            .map(|c| c.bytes.len() as u64)
            .sum();
        let req = SyncRequest {
            version: PROTOCOL_VERSION,
            cursor: None,
            push: outbox
                .into_iter()
                .map(|d| PushDoc {
                    doc_id: d.doc_id,
                    changes: d.changes.into_iter().map(|c| c.bytes).collect(),
                })
                .collect(),
            pull_limit: Some(1),
            directory: None,
        };
        let r = gridwork_server::sync::handle_sync(
            &store,
            &auth,
            &scope,
            req,
            gridwork_server::sync::PullConfig::default(),
            &gridwork_server::quota::Quotas::default(),
            &gridwork_server::cancel::Cancel::never(),
        )
        .unwrap();
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        bytes
    };
    assert_eq!(
        store.usage_today(&device_id).unwrap(),
        gridwork_server::store::DeviceUsage::default()
    );
    let id = dev
        .create_report(NewReport {
            grid: "furong-01".into(),
            category: ReportCategory::ALL[0],
            severity: 1,
            title: "路灯不亮".into(),
            description: String::new(),
            location: None,
            submit: false,
        })
        .unwrap();
    let b1 = push(&dev);
    let u = store.usage_today(&device_id).unwrap();
    assert_eq!((u.new_docs, u.changes, u.bytes), (1, 1, b1));
    // The same push again (a lost answer): stored once, counted once.
    push(&dev);
    assert_eq!(store.usage_today(&device_id).unwrap(), u);
    // An edit of the same record: one more change, no new document.
    dev.update(&id, |r| {
        if let AnyRecord::Report(r) = r {
            r.title = "路灯不亮（两盏）".into();
        }
        Ok(())
    })
    .unwrap();
    let b2 = push(&dev);
    let u2 = store.usage_today(&device_id).unwrap();
    assert_eq!(u2.new_docs, 1);
    assert_eq!(u2.changes, 2);
    assert_eq!(u2.bytes, b2, "both changes' bytes (the outbox held both)");
    // Another device's usage is its own.
    assert_eq!(
        store.usage_today("some-other-device").unwrap(),
        gridwork_server::store::DeviceUsage::default()
    );
}
