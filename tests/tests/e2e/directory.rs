//! The team directory end to end: a real server, devices on the sync client, admin commands run
//! against the server's data directory while it serves.

use gridwork_model::directory::GridAt;
use gridwork_model::Error;
use gridwork_protocol::wire::{self, SyncRequest};
use gridwork_tests::attack::Attacker;
use gridwork_tests::{Device, Server};

#[test]
fn names_arrive_with_sync_and_stay_offline() {
    let mut server = Server::start(&[]);
    let leader = Device::sign_in(&server.url, "leader");
    assert!(
        leader.store.directory().unwrap().is_empty(),
        "nothing before a sync"
    );
    let first = leader.sync_ok();
    assert!(
        first.directory_updated >= 5,
        "units and people arrive: {first:?}"
    );
    assert_eq!(
        leader.sync_ok().directory_updated,
        0,
        "nothing when unchanged"
    );
    let worker_id = leader.store.find_person("to", "worker").unwrap().id;

    // Offline: the server is gone, the store is reopened, the names are still there.
    server.kill();
    let mut leader = leader;
    leader.reopen();
    assert_eq!(leader.store.label(&worker_id).unwrap(), "张伟 (worker)");
    let people = leader.store.directory().unwrap();
    let names: Vec<&str> = people.iter().map(|p| p.display_name.as_str()).collect();
    // The leader's community, the street's supervisor above it; not the other community.
    assert!(
        names.contains(&"张伟") && names.contains(&"刘洋") && names.contains(&"王芳"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"李娜"),
        "another community's worker: {names:?}"
    );
    // A shared office phone travels; units and boundaries of the community arrive.
    let sv = people.iter().find(|p| p.username == "supervisor").unwrap();
    assert_eq!(sv.phone.as_deref(), Some("0531-8601-0001"));
    let units = leader.store.units().unwrap();
    assert!(units
        .iter()
        .any(|u| u.id == "furong-02" && u.boundary.is_some()));
    assert!(!units.iter().any(|u| u.id == "baotu-01"));
    // The people a task in furong-01 can go to: its worker and the leader, workers first.
    let who: Vec<String> = leader
        .store
        .assignable("furong-01")
        .unwrap()
        .into_iter()
        .map(|p| p.username)
        .collect();
    assert_eq!(who, ["worker", "leader"]);
    // Names that pick nobody, or someone outside the scope, are refused by field.
    match leader.store.find_person("to", "李娜") {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "to"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn renames_and_moves_reach_devices_at_the_next_sync() {
    let server = Server::start(&[]);
    let leader = Device::sign_in(&server.url, "leader");
    let worker = Device::sign_in(&server.url, "worker");
    leader.sync_ok();
    worker.sync_ok();
    let worker_id = worker.user_id();

    server.admin(&[
        "update-user",
        "--username",
        "worker",
        "--display-name",
        "张伟强",
    ]);
    assert_eq!(
        leader.sync_ok().directory_updated,
        1,
        "only the renamed person travels"
    );
    assert_eq!(leader.store.label(&worker_id).unwrap(), "张伟强 (worker)");
    // The worker sees their own new name too.
    worker.sync_ok();
    assert_eq!(worker.store.label(&worker_id).unwrap(), "张伟强 (worker)");

    // Moved to the other community: gone from the leader's directory, kept by name.
    server.admin(&["update-user", "--username", "worker", "--unit", "baotu-01"]);
    leader.sync_ok();
    let p = leader
        .store
        .person(&worker_id)
        .unwrap()
        .expect("kept by name");
    assert!(!p.in_scope);
    assert_eq!(leader.store.label(&worker_id).unwrap(), "张伟强 (worker)");
    assert!(leader
        .store
        .directory()
        .unwrap()
        .iter()
        .filter(|p| p.in_scope)
        .all(|p| p.username != "worker"));
    assert!(leader.store.find_person("to", "worker").is_err());
    assert!(leader
        .store
        .assignable("furong-01")
        .unwrap()
        .iter()
        .all(|p| p.username != "worker"));
    // The moved worker's own device now sees the other community's people.
    worker.sync_ok();
    assert!(worker.store.find_person("to", "李娜").is_ok());
}

#[test]
fn which_grid_am_i_in_offline() {
    let mut server = Server::start(&[]);
    let w = Device::sign_in(&server.url, "worker");
    assert_eq!(
        w.store.grid_at(36.665, 117.020).unwrap(),
        GridAt::NoBoundaries
    );
    w.sync_ok();
    server.kill();
    assert_eq!(
        w.store.grid_at(36.665, 117.020).unwrap(),
        GridAt::In {
            grid: "furong-01".into()
        }
    );
    // furong-02 is the leader's, not this worker's: outside every grid of theirs.
    assert_eq!(w.store.grid_at(36.665, 117.028).unwrap(), GridAt::Outside);
    assert_eq!(w.store.grid_at(f64::NAN, 117.0).unwrap(), GridAt::Outside);
}

#[test]
fn the_wire_addition_costs_nothing_when_unchanged_and_old_devices_still_sync() {
    let server = Server::start(&[]);
    let a = Attacker::sign_in(&server.url, "leader");
    let first = a
        .sync(&SyncRequest {
            version: wire::PROTOCOL_VERSION,
            ..Default::default()
        })
        .unwrap();
    let d = first.directory.expect("a first sync carries the directory");
    assert!(d.full && !d.people.is_empty());
    // Nothing changed: the answer carries no directory.
    let again = a
        .sync(&SyncRequest {
            version: wire::PROTOCOL_VERSION,
            cursor: Some(first.cursor.clone()),
            directory: Some(d.cursor),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(again.directory, None);
    // A version 1 device: answered in version 1, without the directory.
    let old = a
        .sync(&SyncRequest {
            version: 1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(old.version, 1);
    assert_eq!(old.directory, None);
    // A private phone never leaves the server, even in the raw answer.
    server.admin(&[
        "update-user",
        "--username",
        "worker",
        "--phone",
        "13912345678",
    ]);
    let body = wire::encode_request(&SyncRequest {
        version: wire::PROTOCOL_VERSION,
        cursor: Some(first.cursor.clone()),
        directory: Some(d.cursor),
        ..Default::default()
    });
    let resp = a.post_sync(body).unwrap();
    let changed = resp.directory.expect("the worker changed");
    assert!(!changed.full);
    assert_eq!(changed.people.len(), 1);
    assert_eq!(changed.people[0].phone, None);
    server.admin(&[
        "update-user",
        "--username",
        "worker",
        "--share-phone",
        "yes",
    ]);
    let resp = a
        .sync(&SyncRequest {
            version: wire::PROTOCOL_VERSION,
            directory: Some(changed.cursor),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        resp.directory.unwrap().people[0].phone.as_deref(),
        Some("13912345678")
    );
}
