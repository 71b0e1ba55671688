//! Authorization end to end, through the device sync client.

use gridwork_client::DeviceSync;
use gridwork_model::Error;
use gridwork_model::{RecordKind, Role};
use gridwork_store::Identity;
use gridwork_tests::{snapshot, Device, Server};

#[test]
fn worker_approving_own_report_is_quarantined_with_the_field() {
    let server = Server::start(&[]);
    let w = Device::sign_in(&server.url, "worker");
    let id = w.report("furong-01", "楼道堆物");
    w.sync_ok();

    // A tampered app: the worker's device claims the supervisor role locally and approves.
    let honest = w.store.identity();
    w.store
        .set_identity(Identity {
            role: Role::Supervisor,
            ..honest.clone()
        })
        .unwrap();
    w.store.transition(&id, "approved", None).unwrap();
    w.store.set_identity(honest).unwrap();
    assert_eq!(w.store.pending_count().unwrap(), 1);

    let r = w.sync_ok();
    assert_eq!((r.pushed, r.accepted, r.rejected), (1, 0, 1));
    let q = w.store.quarantine().unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].doc_id, id);
    let field = q[0].field.clone().expect("the refused field is named");
    assert!(
        ["status", "transitions"].contains(&field.as_str()),
        "field {field}"
    );
    assert!(!q[0].reason.is_empty());
    assert_eq!(
        w.store.pending_count().unwrap(),
        0,
        "quarantined, not pending"
    );

    // The supervisor never sees the approval.
    let s = Device::sign_in(&server.url, "supervisor");
    s.sync_ok();
    assert_eq!(s.store.get(&id).unwrap().record.status(), Some("submitted"));
}

#[test]
fn reads_and_writes_stay_in_scope() {
    let server = Server::start(&[]);
    let w = Device::sign_in(&server.url, "worker");
    let w2 = Device::sign_in(&server.url, "worker2");
    let mine = w.report("furong-01", "芙蓉街井盖缺失");
    w.sync_ok();
    w2.sync_ok();

    // Cross-grid read gives nothing.
    let held = snapshot(&w2.store, None);
    assert!(!held.is_empty(), "worker2 got the demo records of baotu-01");
    assert!(
        held.values().all(|(_, s)| s.grid == "baotu-01"),
        "only baotu-01 on worker2's device"
    );
    assert!(matches!(w2.store.get(&mine), Err(Error::NotFound { .. })));

    // Cross-grid write: a tampered app writes into baotu-01; the server refuses, naming the grid.
    let honest = w.store.identity();
    w.store
        .set_identity(Identity {
            grids: None,
            ..honest.clone()
        })
        .unwrap();
    let foreign = w.report("baotu-01", "越界上报");
    w.store.set_identity(honest).unwrap();
    let r = w.sync_ok();
    assert_eq!(r.rejected, 2, "create and submit both refused");
    let q = w.store.quarantine().unwrap();
    assert!(q.iter().all(|c| c.doc_id == foreign));
    assert_eq!(q[0].field.as_deref(), Some("grid"));
    w2.sync_ok();
    assert!(matches!(
        w2.store.get(&foreign),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn expired_and_revoked_tokens_are_unauthorized_and_nothing_is_lost() {
    let server = Server::start(&["--token-ttl-secs", "3"]);
    let w = Device::sign_in(&server.url, "worker");
    let w2 = Device::sign_in(&server.url, "worker2");
    w.sync_ok();
    w2.sync_ok();

    // Revoked by an admin.
    let out = server.admin(&["revoke-device", "--username", "worker2"]);
    assert!(out.contains("revoked"), "{out}");
    let id = w2.report("baotu-01", "撤销后上报");
    let err = w2.sync().unwrap_err();
    assert!(matches!(err, Error::Unauthorized(_)), "{err:?}");
    assert_eq!(
        w2.store.pending_count().unwrap(),
        2,
        "kept for after the next sign-in"
    );
    // Signing in again (same user, same store) pushes what was kept.
    w2.store
        .sign_in_with(
            &gridwork_tests::fast_sync(),
            &server.url,
            "worker2",
            "demo-worker2",
            "again",
        )
        .unwrap();
    let r = w2.sync_ok();
    assert_eq!(r.accepted, 2);
    assert_eq!(w2.store.pending_count().unwrap(), 0);

    // Expired.
    let session = w.store.session().unwrap().unwrap();
    let wait = session.expires_at_ms.get() - chrono_now_ms() + 200;
    if wait > 0 {
        std::thread::sleep(std::time::Duration::from_millis(wait as u64));
    }
    w.report("furong-01", "过期后上报");
    let err = w.sync().unwrap_err();
    match &err {
        Error::Unauthorized(m) => assert!(m.contains("expired"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.store.pending_count().unwrap(), 2);

    // Signing out revokes the token at the server; the device is signed out.
    let s = Device::sign_in(&server.url, "supervisor");
    s.store.sign_out(false).unwrap();
    assert!(s.store.session().unwrap().is_none());
    assert!(matches!(s.sync(), Err(Error::Unauthorized(_))));
    let _ = id;
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn server_down_is_a_retryable_network_error_and_nothing_is_lost() {
    let mut server = Server::start(&[]);
    let w = Device::sign_in(&server.url, "worker");
    w.sync_ok();
    server.kill();
    let id = w.report("furong-01", "断网上报");
    let pending = w.store.pending_count().unwrap();
    let err = w.sync().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Network {
                retryable: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(w.store.pending_count().unwrap(), pending, "nothing lost");
    server.restart();
    let r = w.sync_ok();
    assert_eq!(r.accepted, pending);
    let s = Device::sign_in(&server.url, "supervisor");
    s.sync_ok();
    assert_eq!(s.store.get(&id).unwrap().record.kind(), RecordKind::Report);
}
