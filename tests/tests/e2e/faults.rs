//! Faults between devices and the server: a proxy that drops requests, drops answers after the
//! server committed, truncates bodies, delays and answers 5xx; and the server killed with SIGKILL
//! in the middle of pushes, then restarted on the same data dir and port. After the faults stop,
//! the same convergence, with nothing lost and nothing duplicated.

use std::time::Duration;

use gridwork_client::DeviceSync;
use gridwork_client::SyncConfig;
use gridwork_tests::{fast_sync, FaultPlan, FaultProxy, Server};

use crate::scenario::{check_converged, phase_offline_edits, phase_setup, Fleet, Made};

#[test]
fn convergence_through_a_faulty_network() {
    let server = Server::start(&[]);
    let proxy = FaultProxy::start(server.addr, 11);
    let mut fleet = Fleet::sign_in(&proxy.url, 13);
    fleet.sync_round(false);
    let mut made = Made::default();
    phase_setup(&mut fleet, &mut made);

    proxy.set_plan(FaultPlan::all(0.08));
    phase_offline_edits(&mut fleet, &mut made);
    let mut failures = 0;
    for round in 0..4 {
        failures += fleet.sync_round(true);
        // More edits between faulty rounds.
        let w = fleet.dev("worker");
        made.created
            .push(w.report("furong-01", &format!("故障期间上报 {round}")));
    }
    let stats = proxy.stats();
    eprintln!(
        "faulty phase: {} ({failures} syncs gave up)",
        stats.summary()
    );
    assert!(
        stats.faults() >= 5,
        "faults were injected: {}",
        stats.summary()
    );

    proxy.heal();
    fleet.settle();
    check_converged(&fleet, &proxy.url, &made);
}

#[test]
fn server_sigkilled_mid_push_and_restarted() {
    let mut server = Server::start(&[]);
    let mut fleet = Fleet::sign_in(&server.url, 17);
    fleet.sync_round(false);
    let mut made = Made::default();
    phase_setup(&mut fleet, &mut made);
    phase_offline_edits(&mut fleet, &mut made);

    // A big outbox on two devices, pushed in small requests so the kill lands mid-push.
    let big = "消防通道堵塞，".repeat(300);
    for (name, grid) in [("worker", "furong-01"), ("supervisor", "baotu-02")] {
        let d = fleet.dev(name);
        for i in 0..40 {
            let id = d
                .store
                .create_report(gridwork_store::NewReport {
                    grid: grid.into(),
                    category: gridwork_model::ReportCategory::BlockedFireLane,
                    severity: 2,
                    title: format!("{name} 大批量 {i}"),
                    description: big.clone(),
                    location: None,
                    submit: true,
                })
                .unwrap();
            made.created.push(id);
        }
    }
    let cfg = SyncConfig {
        max_push_bytes: 16 << 10,
        max_attempts: 1,
        ..fast_sync()
    };
    let mut interrupted = 0;
    for (kill_after_ms, pushers) in [
        (40u64, ["worker", "supervisor"]),
        (120, ["supervisor", "worker"]),
        (250, ["worker", "supervisor"]),
    ] {
        let before: u64 = pushers
            .iter()
            .map(|n| fleet.dev(n).store.pending_count().unwrap())
            .sum();
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = pushers
                .iter()
                .map(|n| {
                    let d = fleet.dev(n);
                    let cfg = cfg.clone();
                    s.spawn(move || d.store.sync_with(&cfg, &|_| {}))
                })
                .collect();
            std::thread::sleep(Duration::from_millis(kill_after_ms));
            server.kill();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let after: u64 = pushers
            .iter()
            .map(|n| fleet.dev(n).store.pending_count().unwrap())
            .sum();
        eprintln!(
            "kill after {kill_after_ms} ms: pending {before} -> {after}; results {:?}",
            results
                .iter()
                .map(|r| r
                    .as_ref()
                    .map(|_| "ok")
                    .map_err(std::string::ToString::to_string))
                .collect::<Vec<_>>()
        );
        if results.iter().any(|r| {
            matches!(
                r,
                Err(gridwork_model::Error::Network {
                    retryable: true,
                    ..
                })
            )
        }) {
            interrupted += 1;
        }
        server.restart();
        // The app was killed too, sometimes: reopen a device's store from disk.
        fleet.devices[0].reopen();
    }
    assert!(interrupted >= 1, "at least one push was cut by the kill");
    fleet.settle();
    check_converged(&fleet, &server.url, &made);
}
