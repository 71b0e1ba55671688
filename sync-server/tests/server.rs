//! End-to-end tests: the real `gridwork-server` binary on a free loopback port, real device stores
//! from core, and hand-made changes for the attacks.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use automerge::transaction::CommitOptions;
use automerge::{ActorId, Automerge, Change};
use gridwork_model::{AnyRecord, Report, Transition};
use gridwork_model::{ReportCategory, ReportStatus, Role};
use gridwork_protocol::wire::{
    self, ErrorBody, ErrorCode, PushDoc, RejectCode, SignInRequest, SignInResponse, SyncRequest,
    SyncResponse, PROTOCOL_VERSION,
};
use gridwork_store::{Identity, NewReport, Store, SyncApply};

mod common;
use common::{Server, BIN};

impl Server {
    fn sign_in(
        &self,
        user: &str,
        password: &str,
        actors: &[String],
    ) -> Result<SignInResponse, (u16, ErrorBody)> {
        let req = SignInRequest {
            username: user.into(),
            password: password.into(),
            device_name: "test device".into(),
            actors: actors.to_vec(),
        };
        let resp = Self::client()
            .post(format!("{}/v1/sign-in", self.url))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&req).unwrap())
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        if status == 200 {
            Ok(json_of(resp))
        } else {
            Err((status, json_of(resp)))
        }
    }

    fn post_sync_raw(
        &self,
        token: Option<&str>,
        body: Vec<u8>,
        encoding: Option<&str>,
    ) -> reqwest::blocking::Response {
        let mut rb = Self::client()
            .post(format!("{}/v1/sync", self.url))
            .header("content-type", wire::SYNC_CONTENT_TYPE)
            .body(body);
        if let Some(e) = encoding {
            rb = rb.header("content-encoding", e);
        }
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb.send().unwrap()
    }

    fn sync(&self, token: &str, req: &SyncRequest) -> Result<SyncResponse, (u16, ErrorBody)> {
        let resp = self.post_sync_raw(Some(token), wire::encode_request(req), Some("zstd"));
        let status = resp.status().as_u16();
        if status == 200 {
            assert_eq!(resp.headers()["content-encoding"], "zstd");
            let body = resp.bytes().unwrap();
            Ok(wire::decode_response(&body, wire::RESPONSE_LIMITS).unwrap())
        } else {
            Err((status, json_of(resp)))
        }
    }

    fn healthy(&self) -> bool {
        Self::client()
            .get(format!("{}/healthz", self.url))
            .send()
            .is_ok_and(|r| r.status() == 200)
    }

    fn admin(&self, args: &[&str]) -> String {
        let out = Command::new(BIN)
            .arg("admin")
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// A device: a core store signed in to the server.
struct Device {
    store: Store,
    token: String,
    user_id: String,
    cursor: Option<String>,
    _dir: tempfile::TempDir,
}

impl Device {
    fn sign_in(server: &Server, user: &str) -> Device {
        let dir = tempfile::tempdir().unwrap();
        let path: PathBuf = dir.path().join("device.db");
        // Open once to learn the actor id, sign in, then reopen with the real identity.
        let role = match user {
            "leader" => Role::Leader,
            "supervisor" => Role::Supervisor,
            "admin" => Role::Admin,
            _ => Role::Worker,
        };
        let store = Store::open(&path, Identity::new("pending", role)).unwrap();
        let actor = store.actor_id();
        let resp = server
            .sign_in(user, &format!("demo-{user}"), &[actor])
            .unwrap();
        store
            .set_identity(Identity::new(resp.user_id.clone(), role))
            .unwrap();
        Device {
            store,
            token: resp.token,
            user_id: resp.user_id,
            cursor: None,
            _dir: dir,
        }
    }

    fn outbox(&self) -> Vec<PushDoc> {
        self.store
            .sync_side()
            .outbox(usize::MAX)
            .unwrap()
            .into_iter()
            .map(|d| PushDoc {
                doc_id: d.doc_id,
                changes: d.changes.into_iter().map(|c| c.bytes).collect(),
            })
            .collect()
    }

    /// One round trip: push the outbox, pull a page, apply it. Returns the response.
    fn sync_once(&mut self, server: &Server, pull_limit: Option<u32>) -> SyncResponse {
        let req = SyncRequest {
            version: PROTOCOL_VERSION,
            cursor: self.cursor.clone(),
            push: self.outbox(),
            pull_limit,
            directory: None,
        };
        let resp = server.sync(&self.token, &req).unwrap();
        self.store
            .sync_side()
            .apply_sync(SyncApply {
                acked: resp
                    .accepted
                    .iter()
                    .map(|a| (a.doc_id.clone(), a.hash.clone()))
                    .collect(),
                rejected: resp
                    .rejected
                    .iter()
                    .map(|r| gridwork_store::Rejection {
                        doc_id: r.doc_id.clone(),
                        hash: r.hash.clone(),
                        field: r.field.clone(),
                        reason: r.reason.clone(),
                    })
                    .collect(),
                pulled: resp
                    .changes
                    .iter()
                    .map(|c| (c.doc_id.clone(), c.bytes.clone()))
                    .collect(),
                cursor: Some(resp.cursor.clone()),
                directory: None,
            })
            .unwrap();
        self.cursor = Some(resp.cursor.clone());
        resp
    }

    /// Syncs until nothing more is waiting; returns every pulled doc id.
    fn sync_all(&mut self, server: &Server) -> Vec<String> {
        let mut docs = Vec::new();
        loop {
            let resp = self.sync_once(server, None);
            docs.extend(resp.changes.iter().map(|c| c.doc_id.clone()));
            if !resp.more {
                return docs;
            }
        }
    }

    fn report(&self, grid: &str, title: &str) -> String {
        self.store
            .create_report(NewReport {
                grid: grid.into(),
                category: ReportCategory::FireHazard,
                severity: 3,
                title: title.into(),
                description: "电动车在楼道充电".into(),
                location: None,
                submit: true,
            })
            .unwrap()
    }
}

fn json_of<T: serde::de::DeserializeOwned>(resp: reqwest::blocking::Response) -> T {
    let bytes = resp.bytes().unwrap();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A change made outside core's checks: `edit` turns the record into what the attacker wants.
fn forge_change(
    history: &[Vec<u8>],
    actor_hex: &str,
    message: &str,
    edit: impl FnOnce(Option<AnyRecord>) -> AnyRecord,
) -> Vec<u8> {
    let mut doc = Automerge::new();
    doc.apply_changes(
        history
            .iter()
            .map(|b| Change::from_bytes(b.clone()).unwrap()),
    )
    .unwrap();
    let before = if history.is_empty() {
        None
    } else {
        Some(AnyRecord::from_json(gridwork_model::doc::read_json(&doc)).unwrap())
    };
    let old_json = before.as_ref().map(|r| r.to_json().unwrap());
    let after = edit(before).to_json().unwrap();
    doc.set_actor(ActorId::from(hex::decode(actor_hex).unwrap()));
    let mut tx = doc.transaction();
    match old_json {
        None => gridwork_model::doc::write_new(&mut tx, &after).unwrap(),
        Some(old) => gridwork_model::doc::write_diff(&mut tx, &old, &after).unwrap(),
    }
    tx.commit_with(
        CommitOptions::default()
            .with_message(message.to_owned())
            .with_time(now_ms()),
    );
    doc.get_last_local_change().unwrap().raw_bytes().to_vec()
}

fn new_report(grid: &str, author: &str) -> AnyRecord {
    AnyRecord::Report(Report {
        grid: grid.into(),
        category: ReportCategory::Sanitation,
        severity: 1,
        title: "forged".into(),
        description: "forged".into(),
        location: None,
        photos: vec![],
        status: ReportStatus::Draft,
        transitions: vec![],
        comments: vec![],
        author: author.into(),
        created_at: gridwork_model::Millis(now_ms()),
    })
}

fn push_one(server: &Server, dev: &Device, doc_id: &str, changes: Vec<Vec<u8>>) -> SyncResponse {
    let req = SyncRequest {
        version: PROTOCOL_VERSION,
        cursor: None,
        push: vec![PushDoc {
            doc_id: doc_id.into(),
            changes,
        }],
        pull_limit: Some(1),
        directory: None,
    };
    server.sync(&dev.token, &req).unwrap()
}

#[test]
fn sign_in_good_and_bad_password() {
    let server = Server::start(&[]);
    let ok = server
        .sign_in("worker", "demo-worker", &["aabbcc".into()])
        .unwrap();
    assert_eq!(ok.role, "worker");
    assert_eq!(ok.scope_grids, vec!["furong-01".to_owned()]);
    assert!(ok.expires_at > chrono::Utc::now() + chrono::Duration::days(29));
    let sup = server
        .sign_in("supervisor", "demo-supervisor", &[])
        .unwrap();
    assert_eq!(sup.scope_grids.len(), 4);

    let (status, body) = server.sign_in("worker", "wrong password", &[]).unwrap_err();
    assert_eq!((status, body.code), (401, ErrorCode::Unauthorized));
    let (status, body2) = server.sign_in("nobody", "demo-worker", &[]).unwrap_err();
    assert_eq!((status, body2.code), (401, ErrorCode::Unauthorized));
    assert_eq!(
        body.message, body2.message,
        "a wrong username and a wrong password look the same"
    );

    // Malformed JSON and bad actor ids are 400 with a message.
    let resp = Server::client()
        .post(format!("{}/v1/sign-in", server.url))
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);
    let e: ErrorBody = json_of(resp);
    assert_eq!(e.code, ErrorCode::BadRequest);
    let (status, _) = server
        .sign_in("worker", "demo-worker", &["NOT HEX".into()])
        .unwrap_err();
    assert_eq!(status, 400);
    // An actor registered by another user's device cannot be claimed.
    let (status, e) = server
        .sign_in("worker2", "demo-worker2", &["aabbcc".into()])
        .unwrap_err();
    assert_eq!((status, e.code), (403, ErrorCode::Forbidden));
}

#[test]
fn missing_revoked_and_expired_tokens_are_refused() {
    let server = Server::start(&["--token-ttl-secs", "2"]);
    let empty = SyncRequest {
        version: PROTOCOL_VERSION,
        ..Default::default()
    };

    let resp = server.post_sync_raw(None, wire::encode_request(&empty), Some("zstd"));
    assert_eq!(resp.status(), 401);
    let (status, e) = server.sync("gw1_made_up", &empty).unwrap_err();
    assert_eq!((status, e.code), (401, ErrorCode::Unauthorized));

    // Sign-out revokes the token.
    let a = server.sign_in("worker", "demo-worker", &[]).unwrap();
    server.sync(&a.token, &empty).unwrap();
    let resp = Server::client()
        .post(format!("{}/v1/sign-out", server.url))
        .bearer_auth(&a.token)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 204);
    let (status, e) = server.sync(&a.token, &empty).unwrap_err();
    assert_eq!(status, 401);
    assert!(e.message.contains("revoked"), "{}", e.message);

    // An admin revokes every device of a user.
    let b = server.sign_in("worker2", "demo-worker2", &[]).unwrap();
    server.sync(&b.token, &empty).unwrap();
    let out = server.admin(&["revoke-device", "--username", "worker2"]);
    assert!(out.contains("revoked 1 device"), "{out}");
    assert_eq!(server.sync(&b.token, &empty).unwrap_err().0, 401);

    // Tokens expire.
    let c = server.sign_in("leader", "demo-leader", &[]).unwrap();
    server.sync(&c.token, &empty).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let (status, e) = server.sync(&c.token, &empty).unwrap_err();
    assert_eq!(status, 401);
    assert!(e.message.contains("expired"), "{}", e.message);
}

#[test]
fn bad_bodies_get_4xx_and_the_server_keeps_serving() {
    let server = Server::start(&[
        "--max-body-bytes",
        "20000",
        "--max-decompressed-bytes",
        "1000000",
    ]);
    let tok = server.sign_in("worker", "demo-worker", &[]).unwrap().token;
    let expect = |resp: reqwest::blocking::Response, status: u16, code: ErrorCode| {
        assert_eq!(resp.status().as_u16(), status);
        let e: ErrorBody = json_of(resp);
        assert_eq!(e.code, code, "{}", e.message);
        assert!(!e.message.is_empty());
        assert!(!e.retryable);
        e
    };
    let good = wire::encode_request(&SyncRequest {
        version: PROTOCOL_VERSION,
        ..Default::default()
    });

    // Malformed: not zstd, or zstd of garbage.
    expect(
        server.post_sync_raw(Some(&tok), b"hello, server".to_vec(), Some("zstd")),
        400,
        ErrorCode::BadRequest,
    );
    let garbage = zstd::bulk::compress(b"GWSQ\x01\xff\xff\xff", 3).unwrap();
    expect(
        server.post_sync_raw(Some(&tok), garbage, Some("zstd")),
        400,
        ErrorCode::BadRequest,
    );
    // Truncated.
    expect(
        server.post_sync_raw(Some(&tok), good[..good.len() - 3].to_vec(), Some("zstd")),
        400,
        ErrorCode::BadRequest,
    );
    // Not compressed / wrong encoding declared.
    expect(
        server.post_sync_raw(Some(&tok), good.clone(), None),
        400,
        ErrorCode::BadRequest,
    );
    // Oversized as sent: refused before decompression.
    let big: Vec<u8> = (0..30_000).map(|_| rand::random::<u8>()).collect();
    let big_req = SyncRequest {
        version: PROTOCOL_VERSION,
        push: vec![PushDoc {
            doc_id: "x".into(),
            changes: vec![big],
        }],
        ..Default::default()
    };
    let e = expect(
        server.post_sync_raw(Some(&tok), wire::encode_request(&big_req), Some("zstd")),
        413,
        ErrorCode::TooLarge,
    );
    assert!(e.message.contains("20000"), "{}", e.message);
    // Oversized after decompression (a zstd bomb).
    let bomb = zstd::bulk::compress(&vec![0u8; 8 << 20], 19).unwrap();
    assert!(bomb.len() < 20_000);
    expect(
        server.post_sync_raw(Some(&tok), bomb, Some("zstd")),
        413,
        ErrorCode::TooLarge,
    );
    // A version from the future.
    let v9 = wire::encode_request(&SyncRequest {
        version: 9,
        ..Default::default()
    });
    let e = expect(
        server.post_sync_raw(Some(&tok), v9, Some("zstd")),
        400,
        ErrorCode::UnsupportedVersion,
    );
    assert!(e.message.contains('9'));
    // A malformed cursor.
    let bad_cursor = SyncRequest {
        version: PROTOCOL_VERSION,
        cursor: Some("yesterday".into()),
        ..Default::default()
    };
    assert_eq!(
        server.sync(&tok, &bad_cursor).unwrap_err().1.code,
        ErrorCode::BadRequest
    );
    // Unknown endpoint: JSON 404.
    let resp = Server::client()
        .get(format!("{}/v1/nope", server.url))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 404);

    // Still serving.
    assert!(server.healthy());
    let resp = server
        .sync(
            &tok,
            &SyncRequest {
                version: PROTOCOL_VERSION,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(
        !resp.changes.is_empty(),
        "the worker sees the demo records of their grid"
    );
}

#[test]
fn reads_stay_in_scope_and_pages_resume() {
    let server = Server::start(&[]);
    let mut w1 = Device::sign_in(&server, "worker");
    let mut w2 = Device::sign_in(&server, "worker2");
    let mut sup = Device::sign_in(&server, "supervisor");
    let mut admin = Device::sign_in(&server, "admin");
    let r1 = w1.report("furong-01", "芙蓉街电动车楼道充电");
    let r2 = w2.report("baotu-01", "趵突泉南路井盖缺失");
    let resp = w1.sync_once(&server, None);
    assert!(resp.rejected.is_empty(), "{:?}", resp.rejected);
    assert!(!resp.accepted.is_empty());
    assert_eq!(w1.store.pending_count().unwrap(), 0);
    w2.sync_all(&server);

    // Each worker sees their own grid only.
    let seen_by_w2 = w2.sync_all(&server);
    assert!(!seen_by_w2.contains(&r1));
    let w2_grids: Vec<String> = w2
        .store
        .list(&gridwork_store::ListQuery::default())
        .unwrap()
        .items
        .iter()
        .map(|s| s.grid.clone())
        .collect();
    assert!(
        !w2_grids.is_empty() && w2_grids.iter().all(|g| g == "baotu-01"),
        "{w2_grids:?}"
    );
    let seen_by_w1 = w1.sync_all(&server);
    assert!(!seen_by_w1.contains(&r2));
    assert!(w1.store.get(&r2).is_err());

    // The supervisor sees both, one small page at a time, and ends where a single pull ends.
    let mut pages = 0;
    let mut paged = Vec::new();
    loop {
        let resp = sup.sync_once(&server, Some(2));
        pages += 1;
        assert!(resp.changes.len() <= 2);
        paged.extend(resp.changes.iter().map(|c| c.doc_id.clone()));
        if !resp.more {
            break;
        }
    }
    assert!(pages > 2);
    assert!(paged.contains(&r1) && paged.contains(&r2));
    assert!(sup.store.get(&r1).is_ok() && sup.store.get(&r2).is_ok());
    let all_at_once = admin.sync_all(&server);
    assert_eq!(
        paged.len(),
        all_at_once.len(),
        "paging neither skips nor repeats"
    );
    // Nothing new: an empty page with the same cursor.
    let again = sup.sync_once(&server, None);
    assert!(again.changes.is_empty() && !again.more);
}

#[test]
fn cross_grid_write_is_rejected() {
    let server = Server::start(&[]);
    let mut w1 = Device::sign_in(&server, "worker");
    // The device does not know its scope; the server does.
    let id = w1.report("baotu-02", "不在我网格的上报");
    let resp = w1.sync_once(&server, None);
    assert!(resp.accepted.is_empty());
    assert!(!resp.rejected.is_empty());
    for r in &resp.rejected {
        assert_eq!(r.doc_id, id);
        assert_eq!(r.code, RejectCode::OutOfScope, "{}", r.reason);
        assert_eq!(r.field.as_deref(), Some("grid"));
    }
    let q = w1.store.quarantine().unwrap();
    assert!(
        !q.is_empty() && q.iter().all(|c| c.doc_id == id),
        "kept on the device, with the reason"
    );
    // Nobody receives it.
    let mut w2 = Device::sign_in(&server, "worker2");
    let mut sup = Device::sign_in(&server, "supervisor");
    assert!(!w2.sync_all(&server).contains(&id));
    assert!(!sup.sync_all(&server).contains(&id));

    // Editing someone else's record in another grid is refused too.
    let baotu_report = sup
        .store
        .list(&gridwork_store::ListQuery {
            grid: Some("baotu-01".into()),
            ..Default::default()
        })
        .unwrap()
        .items[0]
        .id
        .clone();
    let forged_history: Vec<Vec<u8>> = server_changes_of(&server, &baotu_report);
    let w1_actor = w1.store.actor_id();
    let c = forge_change(&forged_history, &w1_actor, &w1.user_id, |r| {
        let Some(AnyRecord::Report(mut r)) = r else {
            panic!()
        };
        r.severity = 5;
        AnyRecord::Report(r)
    });
    let resp = push_one(&server, &w1, &baotu_report, vec![c]);
    assert_eq!(resp.rejected.len(), 1);
    assert_eq!(resp.rejected[0].code, RejectCode::OutOfScope);
}

/// Every stored change of a document, as the admin pulls it.
fn server_changes_of(server: &Server, doc_id: &str) -> Vec<Vec<u8>> {
    let tok = server.sign_in("admin", "demo-admin", &[]).unwrap().token;
    let mut cursor = None;
    let mut out = Vec::new();
    loop {
        let req = SyncRequest {
            version: PROTOCOL_VERSION,
            cursor: cursor.clone(),
            push: vec![],
            pull_limit: None,
            directory: None,
        };
        let resp = server.sync(&tok, &req).unwrap();
        out.extend(
            resp.changes
                .into_iter()
                .filter(|c| c.doc_id == doc_id)
                .map(|c| c.bytes),
        );
        cursor = Some(resp.cursor);
        if !resp.more {
            return out;
        }
    }
}

#[test]
fn worker_approving_own_report_is_rejected_with_the_field() {
    let server = Server::start(&[]);
    let mut w1 = Device::sign_in(&server, "worker");
    let id = w1.report("furong-01", "楼道堆物");
    let history: Vec<Vec<u8>> = w1.outbox().into_iter().flat_map(|d| d.changes).collect();
    let resp = w1.sync_once(&server, None);
    assert!(resp.rejected.is_empty());

    let approve = forge_change(&history, &w1.store.actor_id(), &w1.user_id, |r| {
        let Some(AnyRecord::Report(mut r)) = r else {
            panic!()
        };
        r.transitions.push(Transition {
            from: r.status.as_str().into(),
            to: "approved".into(),
            by: r.author.clone(),
            role: Role::Supervisor,
            at: gridwork_model::Millis(now_ms()),
            comment: None,
        });
        r.status = ReportStatus::Approved;
        AnyRecord::Report(r)
    });
    let resp = push_one(&server, &w1, &id, vec![approve.clone()]);
    assert!(resp.accepted.is_empty());
    assert_eq!(resp.rejected.len(), 1, "{:?}", resp.rejected);
    let rej = &resp.rejected[0];
    assert_eq!(rej.code, RejectCode::Denied);
    assert!(rej.field.is_some(), "the field is named");
    assert!(!rej.reason.is_empty());
    eprintln!("rejected: field={:?} reason={}", rej.field, rej.reason);

    // The supervisor never sees the approval; the report is still submitted there.
    let mut sup = Device::sign_in(&server, "supervisor");
    sup.sync_all(&server);
    let rec = sup.store.get(&id).unwrap();
    assert_eq!(rec.record.status(), Some("submitted"));
    // The supervisor may approve.
    sup.store.transition(&id, "approved", None).unwrap();
    let resp = sup.sync_once(&server, None);
    assert!(resp.rejected.is_empty(), "{:?}", resp.rejected);
    w1.sync_all(&server);
    assert_eq!(w1.store.get(&id).unwrap().record.status(), Some("approved"));
}

#[test]
fn spoofed_actor_and_wrong_author_are_rejected() {
    let server = Server::start(&[]);
    let w1 = Device::sign_in(&server, "worker");
    let doc_id = uuid::Uuid::now_v7().to_string();
    let spoofed = forge_change(&[], "0123456789abcdef0123456789abcdef", &w1.user_id, |_| {
        new_report("furong-01", &w1.user_id)
    });
    let resp = push_one(&server, &w1, &doc_id, vec![spoofed]);
    assert_eq!(resp.rejected.len(), 1);
    assert_eq!(resp.rejected[0].code, RejectCode::ActorNotRegistered);
    assert_eq!(
        resp.rejected[0].reason,
        "actor not registered to this device"
    );

    // Another user's actor is not this device's either.
    let w2 = Device::sign_in(&server, "worker2");
    let theirs = forge_change(&[], &w2.store.actor_id(), &w1.user_id, |_| {
        new_report("furong-01", &w1.user_id)
    });
    let resp = push_one(&server, &w1, &doc_id, vec![theirs]);
    assert_eq!(resp.rejected[0].code, RejectCode::ActorNotRegistered);

    // The right actor, but claiming to be someone else.
    let other = forge_change(&[], &w1.store.actor_id(), &w2.user_id, |_| {
        new_report("furong-01", &w2.user_id)
    });
    let resp = push_one(&server, &w1, &doc_id, vec![other]);
    assert_eq!(resp.rejected[0].code, RejectCode::WrongAuthor);

    // Garbage change bytes.
    let resp = push_one(&server, &w1, &doc_id, vec![b"not a change".to_vec()]);
    assert_eq!(resp.rejected[0].code, RejectCode::Corrupt);

    // A change whose dependency the server never got.
    let first = forge_change(&[], &w1.store.actor_id(), &w1.user_id, |_| {
        new_report("furong-01", &w1.user_id)
    });
    let second = forge_change(
        std::slice::from_ref(&first),
        &w1.store.actor_id(),
        &w1.user_id,
        |r| {
            let Some(AnyRecord::Report(mut r)) = r else {
                panic!()
            };
            r.severity = 2;
            AnyRecord::Report(r)
        },
    );
    let resp = push_one(&server, &w1, &doc_id, vec![second.clone()]);
    assert_eq!(resp.rejected[0].code, RejectCode::MissingDeps);
    // Sent together (even out of order) both are fine.
    let resp = push_one(&server, &w1, &doc_id, vec![second, first]);
    assert!(resp.rejected.is_empty(), "{:?}", resp.rejected);
    assert_eq!(resp.accepted.len(), 2);
}

#[test]
fn retry_after_lost_response_is_idempotent() {
    let server = Server::start(&[]);
    let mut w1 = Device::sign_in(&server, "worker");
    let id = w1.report("furong-01", "重复推送");
    let push = w1.outbox();
    let n_changes: usize = push.iter().map(|d| d.changes.len()).sum();
    let req = SyncRequest {
        version: PROTOCOL_VERSION,
        cursor: None,
        push,
        pull_limit: None,
        directory: None,
    };
    // The response of the first attempt is "lost": send the same request twice more.
    let a = server.sync(&w1.token, &req).unwrap();
    let b = server.sync(&w1.token, &req).unwrap();
    let c = server.sync(&w1.token, &req).unwrap();
    for r in [&a, &b, &c] {
        assert!(r.rejected.is_empty());
        assert_eq!(r.accepted.len(), n_changes);
    }
    let hashes = |r: &SyncResponse| {
        let mut v: Vec<String> = r.accepted.iter().map(|x| x.hash.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(hashes(&a), hashes(&c));
    // Stored once: another device pulls each change exactly once.
    let stored = server_changes_of(&server, &id);
    assert_eq!(stored.len(), n_changes);
    // And the device settles.
    let resp = w1.sync_once(&server, None);
    assert!(resp.rejected.is_empty());
    assert_eq!(w1.store.pending_count().unwrap(), 0);
}

#[test]
fn first_sync_wire_bytes_are_close_to_zstd_of_raw_changes() {
    let server = Server::start(&[]);
    let mut w1 = Device::sign_in(&server, "worker");
    for i in 0..300 {
        w1.report("furong-01", &format!("第{i}号楼道堆放杂物"));
    }
    w1.sync_all(&server);
    // A new device of the leader pulls everything: compare the bytes on the wire with the zstd
    // of the raw change bytes it receives.
    let tok = server.sign_in("leader", "demo-leader", &[]).unwrap().token;
    let (mut wire_bytes, mut raw) = (0usize, Vec::new());
    let mut cursor = None;
    loop {
        let req = SyncRequest {
            version: PROTOCOL_VERSION,
            cursor: cursor.clone(),
            push: vec![],
            pull_limit: None,
            directory: None,
        };
        let resp = server.post_sync_raw(Some(&tok), wire::encode_request(&req), Some("zstd"));
        let body = resp.bytes().unwrap();
        wire_bytes += body.len();
        let resp = wire::decode_response(&body, wire::RESPONSE_LIMITS).unwrap();
        for c in &resp.changes {
            raw.extend_from_slice(&c.bytes);
        }
        cursor = Some(resp.cursor);
        if !resp.more {
            break;
        }
    }
    let floor = zstd::bulk::compress(&raw, 3).unwrap().len();
    let ratio = wire_bytes as f64 / floor as f64;
    eprintln!("first sync: {wire_bytes} wire bytes, zstd of raw changes {floor}, ratio {ratio:.3}");
    // Each pulled document carries its UUIDv7 id: ~9 random bytes that no compressor removes,
    // about 15 % of the floor for 300 small reports (1.12× for 10,000 in the benchmark, P6).
    // Shipping compacted documents to new devices (the performance issue) targets ≤ 1.0×.
    assert!(ratio <= 1.25, "ratio {ratio}");
}
