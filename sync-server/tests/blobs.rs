//! Photo blob endpoints against the real `gridwork-server` binary on loopback: resumable upload
//! after an interrupted request, hash verification, uploads for a record and the scope check on
//! download, size limits.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use gridwork_model::{AnyRecord, Location, PhotoRef};
use gridwork_model::{ReportCategory, Role};
use gridwork_protocol::wire::{
    self, PushDoc, SignInRequest, SignInResponse, SyncRequest, PROTOCOL_VERSION,
};
use gridwork_store::{Identity, NewReport, Store};
use sha2::{Digest, Sha256};

mod common;
use common::Server;

/// A signed-in device with a core store.
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
        device_name: "blob test".into(),
        actors: vec![store.actor_id()],
    };
    let resp = Server::client()
        .post(format!("{}/v1/sign-in", server.url))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&req).unwrap())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let s: SignInResponse = serde_json::from_slice(&resp.bytes().unwrap()).unwrap();
    store
        .set_identity(Identity {
            user_id: s.user_id,
            role: Role::Worker,
            grids: Some(s.scope_grids),
        })
        .unwrap();
    Device {
        token: s.token,
        store,
        _dir: dir,
    }
}

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
    let resp = Server::client()
        .post(format!("{}/v1/sync", server.url))
        .bearer_auth(&dev.token)
        .header("content-type", wire::SYNC_CONTENT_TYPE)
        .header("content-encoding", wire::SYNC_CONTENT_ENCODING)
        .body(wire::encode_request(&req))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let r = wire::decode_response(&resp.bytes().unwrap(), wire::RESPONSE_LIMITS).unwrap();
    assert_eq!(r.accepted.len(), n, "rejected: {:?}", r.rejected);
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A report in the worker's grid referencing `hash` (full image) and `thumb` (thumbnail).
fn report_with_photo(dev: &Device, grid: &str, hash: &str, thumb: &str) -> String {
    let id = dev
        .store
        .create_report(NewReport {
            grid: grid.into(),
            category: ReportCategory::ALL[0],
            severity: 2,
            title: "井盖破损".into(),
            description: "窨井盖破损下陷".into(),
            location: Some(Location {
                lat: 36.65,
                lon: 117.12,
                accuracy_m: 5.0,
                address: None,
            }),
            submit: false,
        })
        .unwrap();
    dev.store
        .update(&id, |r| {
            if let AnyRecord::Report(r) = r {
                r.photos.push(PhotoRef {
                    hash: hash.into(),
                    thumb_hash: thumb.into(),
                    width: 64,
                    height: 48,
                    bytes: 1000,
                    taken_at: None,
                    caption: None,
                });
            }
            Ok(())
        })
        .unwrap();
    id
}

/// `HEAD /v1/blobs/{hash}[?record=R]`: (status, Upload-Offset).
fn head_offset(server: &Server, token: &str, hash: &str) -> (u16, u64) {
    head_for(server, token, hash, None)
}

fn head_for(server: &Server, token: &str, hash: &str, record: Option<&str>) -> (u16, u64) {
    let q = record.map(|r| format!("?record={r}")).unwrap_or_default();
    let resp = Server::client()
        .head(format!("{}/v1/blobs/{hash}{q}", server.url))
        .bearer_auth(token)
        .send()
        .unwrap();
    let off = resp
        .headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(u64::MAX);
    (resp.status().as_u16(), off)
}

/// Sends a request's head and only part of its body, then drops the connection: what a phone
/// losing signal mid-upload does.
fn interrupted_put(
    server: &Server,
    token: &str,
    hash: &str,
    record: &str,
    total: usize,
    part: &[u8],
) {
    let mut s = TcpStream::connect(server.addr()).unwrap();
    write!(
        s,
        "PUT /v1/blobs/{hash}?record={record} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\nContent-Length: {total}\r\n\r\n",
        server.addr()
    )
    .unwrap();
    s.write_all(part).unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    s.shutdown(std::net::Shutdown::Both).unwrap();
}

fn photo_bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn interrupted_upload_resumes_and_completes() {
    let server = Server::start(&[]);
    let worker = device(&server, "worker");
    let data = photo_bytes(3 << 20, 1);
    let hash = sha(&data);
    let other = photo_bytes(1000, 2);
    let h2 = sha(&other);
    assert_eq!(head_offset(&server, &worker.token, &hash), (404, 0));
    // The record goes first: an upload names it.
    let rec = report_with_photo(&worker, "furong-01", &hash, &h2);
    push_all(&server, &worker);
    assert_eq!(
        head_for(&server, &worker.token, &hash, Some(&rec)),
        (404, 0)
    );

    let half = data.len() / 2;
    interrupted_put(
        &server,
        &worker.token,
        &hash,
        &rec,
        data.len(),
        &data[..half],
    );
    // The server keeps what arrived.
    let mut held = 0;
    for _ in 0..50 {
        let (status, off) = head_offset(&server, &worker.token, &hash);
        assert_eq!(status, 404);
        held = off;
        if held == half as u64 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(held, half as u64, "bytes held after the interrupted upload");

    assert_eq!(
        head_for(&server, &worker.token, &hash, Some(&rec)),
        (404, half as u64)
    );
    // The chunk completing an upload must name the record (refused before its body is read).
    let n = data.len();
    let resp = Server::client()
        .put(format!("{}/v1/blobs/{hash}", server.url))
        .bearer_auth(&worker.token)
        .header("content-range", format!("bytes {}-{}/{n}", n - 10, n - 1))
        .body(data[n - 10..].to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: wire::ErrorBody = serde_json::from_slice(&resp.bytes().unwrap()).unwrap();
    assert!(body.message.contains("record"), "{}", body.message);
    let rest = |q: &str| {
        Server::client()
            .put(format!("{}/v1/blobs/{hash}{q}", server.url))
            .bearer_auth(&worker.token)
            .header(
                "content-range",
                format!("bytes {held}-{}/{}", data.len() - 1, data.len()),
            )
            .body(data[held as usize..].to_vec())
            .send()
            .unwrap()
    };
    // Resume from the offset the server reports.
    assert_eq!(rest(&format!("?record={rec}")).status(), 201);
    assert_eq!(
        head_for(&server, &worker.token, &hash, Some(&rec)),
        (200, data.len() as u64)
    );
    // Without the record, HEAD says nothing about stored blobs.
    assert_eq!(head_offset(&server, &worker.token, &hash), (404, 0));

    // Uploading again is harmless: answered 200, nothing stored twice.
    let resp = Server::client()
        .put(format!("{}/v1/blobs/{hash}?record={rec}", server.url))
        .bearer_auth(&worker.token)
        .body(data.clone())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);

    // A chunk starting beyond what is held is refused with the offset to resume from.
    let resp = Server::client()
        .put(format!("{}/v1/blobs/{h2}?record={rec}", server.url))
        .bearer_auth(&worker.token)
        .header("content-range", "bytes 500-999/1000")
        .body(other[500..].to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 409);
    assert_eq!(resp.headers()["upload-offset"], "0");

    // The author downloads the same bytes.
    let resp = Server::client()
        .get(format!("{}/v1/blobs/{hash}", server.url))
        .bearer_auth(&worker.token)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().unwrap().as_ref(), &data[..]);
}

#[test]
fn hash_mismatch_is_rejected() {
    let server = Server::start(&[]);
    let worker = device(&server, "worker");
    let data = photo_bytes(10_000, 3);
    let wrong = sha(b"not these bytes");
    let rec = report_with_photo(&worker, "furong-01", &wrong, &sha(b"thumb"));
    push_all(&server, &worker);
    let resp = Server::client()
        .put(format!("{}/v1/blobs/{wrong}?record={rec}", server.url))
        .bearer_auth(&worker.token)
        .body(data.clone())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: wire::ErrorBody = serde_json::from_slice(&resp.bytes().unwrap()).unwrap();
    assert!(body.message.contains("SHA-256"), "{}", body.message);
    // Nothing kept, nothing stored.
    assert_eq!(
        head_for(&server, &worker.token, &wrong, Some(&rec)),
        (404, 0)
    );
    // Not a hash at all.
    let resp = Server::client()
        .put(format!("{}/v1/blobs/photo.jpg", server.url))
        .bearer_auth(&worker.token)
        .body(data)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);
    // No token.
    let resp = Server::client()
        .put(format!("{}/v1/blobs/{wrong}", server.url))
        .body(vec![1, 2, 3])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[test]
fn device_outside_the_scope_cannot_fetch() {
    let server = Server::start(&[]);
    let worker = device(&server, "worker"); // furong-01
    let worker2 = device(&server, "worker2"); // baotu-01
    let leader = device(&server, "leader"); // furong community: furong-01, furong-02
    let full = photo_bytes(50_000, 4);
    let thumb = photo_bytes(5_000, 5);
    let (hf, ht) = (sha(&full), sha(&thumb));
    let get = |dev: &Device, h: &str| {
        Server::client()
            .get(format!("{}/v1/blobs/{h}", server.url))
            .bearer_auth(&dev.token)
            .send()
            .unwrap()
    };
    let rec = report_with_photo(&worker, "furong-01", &hf, &ht);
    push_all(&server, &worker);
    // Referenced but not uploaded yet: nobody can fetch it.
    assert_eq!(get(&worker, &hf).status(), 404);
    for (h, b) in [(&hf, &full), (&ht, &thumb)] {
        let resp = Server::client()
            .put(format!("{}/v1/blobs/{h}?record={rec}", server.url))
            .bearer_auth(&worker.token)
            .body(b.clone())
            .send()
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    assert_eq!(get(&worker, &hf).status(), 200);
    assert_eq!(get(&worker, &ht).bytes().unwrap().as_ref(), &thumb[..]);
    assert_eq!(get(&leader, &hf).status(), 200);
    // Another grid's worker gets the same answer as for a blob that does not exist.
    assert_eq!(get(&worker2, &hf).status(), 404);
    assert_eq!(get(&worker2, &ht).status(), 404);
}

#[test]
fn sixty_megabyte_upload_is_refused_before_it_is_read() {
    let server = Server::start(&[]);
    let worker = device(&server, "worker");
    let hash = sha(b"big");
    // Declared in Content-Length: the answer comes before the body is sent.
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "PUT /v1/blobs/{hash} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
        server.addr(),
        worker.token,
        60 * 1000 * 1000
    )
    .unwrap();
    s.write_all(&[0u8; 4096]).unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    drop(s);

    // Declared in Content-Range.
    let resp = Server::client()
        .put(format!("{}/v1/blobs/{hash}", server.url))
        .bearer_auth(&worker.token)
        .header(
            "content-range",
            format!("bytes 0-1023/{}", 60 * 1000 * 1000),
        )
        .body(vec![0u8; 1024])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: wire::ErrorBody = serde_json::from_slice(&resp.bytes().unwrap()).unwrap();
    assert_eq!(body.code, wire::ErrorCode::TooLarge);

    // Sent without a declared length (chunked): cut off at the limit.
    let big = std::iter::repeat_n(0u8, 60 * 1000 * 1000);
    let chunks = big
        .collect::<Vec<u8>>()
        .chunks(1 << 20)
        .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
        .collect::<Vec<_>>();
    let resp = reqwest::blocking::Client::new()
        .put(format!("{}/v1/blobs/{hash}", server.url))
        .bearer_auth(&worker.token)
        .body(reqwest::blocking::Body::new(ChunkReader::new(chunks)))
        .send();
    // An error: the server closed the connection while the body was still being sent.
    if let Ok(r) = resp {
        assert!(r.status() == 413 || r.status() == 400, "{}", r.status());
    }
    // The server keeps serving.
    assert_eq!(
        Server::client()
            .get(format!("{}/healthz", server.url))
            .send()
            .unwrap()
            .status(),
        200
    );
}

/// A body of unknown length (sent chunked).
struct ChunkReader {
    chunks: std::vec::IntoIter<std::io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
}

impl ChunkReader {
    fn new(chunks: Vec<std::io::Result<Vec<u8>>>) -> Self {
        ChunkReader {
            chunks: chunks.into_iter(),
            cur: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.chunks.next() {
                None => return Ok(0),
                Some(c) => {
                    self.cur = c?;
                    self.pos = 0;
                }
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
