//! Five devices of different roles, offline edits including concurrent edits of one record, sync
//! in random order and repeatedly: everyone converges on the server's state.

use gridwork_client::{DeviceSync, SyncPhase};
use gridwork_tests::Server;

use crate::scenario::{check_converged, phase_offline_edits, phase_setup, Fleet, Made};

#[test]
fn five_devices_converge_after_concurrent_offline_edits() {
    let server = Server::start(&[]);
    let mut fleet = Fleet::sign_in(&server.url, 7);
    fleet.sync_round(false);
    let mut made = Made::default();
    phase_setup(&mut fleet, &mut made);
    phase_offline_edits(&mut fleet, &mut made);
    // Sync in random order, repeatedly, with more offline edits between rounds.
    fleet.sync_round(false);
    let w = fleet.dev("worker");
    made.created.push(w.report("furong-01", "第二轮离线上报"));
    fleet.settle();
    check_converged(&fleet, &server.url, &made);

    // Progress is reported per phase, and a sync with nothing to do pulls nothing.
    let phases = std::sync::Mutex::new(Vec::new());
    let r = fleet
        .dev("leader")
        .store
        .sync_with(&gridwork_tests::fast_sync(), &|p| {
            phases.lock().unwrap().push(p.phase);
        })
        .unwrap();
    assert_eq!((r.pushed, r.pulled), (0, 0));
    let phases = phases.into_inner().unwrap();
    assert!(
        phases.contains(&SyncPhase::Push) && phases.contains(&SyncPhase::Pull),
        "{phases:?}"
    );
}

#[test]
fn first_sync_resumes_after_interruption_and_pages() {
    let server = Server::start(&["--pull-limit", "5"]);
    let w = gridwork_tests::Device::sign_in(&server.url, "worker");
    for i in 0..20 {
        w.report("furong-01", &format!("分页测试 {i}"));
    }
    w.sync_ok();

    // A new supervisor device pulls in pages of 5; each page's cursor is stored with its changes.
    let mut sup = gridwork_tests::Device::sign_in(&server.url, "supervisor");
    let cfg = gridwork_client::SyncConfig {
        pull_limit: Some(5),
        ..gridwork_tests::fast_sync()
    };
    let pages = std::sync::atomic::AtomicU32::new(0);
    let report = sup
        .store
        .sync_with(&cfg, &|p| {
            if p.phase == SyncPhase::Pull {
                pages.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
        .unwrap();
    assert!(pages.into_inner() >= 4, "several pages");
    assert!(report.pulled >= 20);
    let before = sup.store.sync_cursor().unwrap();
    assert!(before.is_some());

    // Interrupt a first sync: a fresh device, server killed after the first page is applied.
    let fresh = gridwork_tests::Device::sign_in(&server.url, "leader");
    let server = std::sync::Mutex::new(server);
    let applied = std::sync::atomic::AtomicU32::new(0);
    let err = fresh.store.sync_with(
        &gridwork_client::SyncConfig {
            max_attempts: 2,
            ..cfg.clone()
        },
        &|p| {
            if p.phase == SyncPhase::Pull
                && applied.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0
            {
                // After the first page is stored, the "connection" dies.
                server.lock().unwrap().kill();
            }
        },
    );
    assert!(
        matches!(
            err,
            Err(gridwork_model::Error::Network {
                retryable: true,
                ..
            })
        ),
        "{err:?}"
    );
    let cursor = fresh.store.sync_cursor().unwrap();
    assert!(cursor.is_some(), "the first page's cursor was kept");
    let have = gridwork_tests::snapshot(&fresh.store, None).len();
    assert!(
        have > 0 && have < 20,
        "part of the first sync is on the device ({have})"
    );
    server.lock().unwrap().restart();
    let rest = fresh.sync_ok();
    assert!(rest.pulled > 0);
    sup.reopen();
    sup.sync_ok();
    let a = gridwork_tests::snapshot(&fresh.store, Some(&fresh.grids()));
    let b = gridwork_tests::snapshot(&sup.store, Some(&fresh.grids()));
    gridwork_tests::assert_same("resumed leader", &a, "supervisor", &b);
}
