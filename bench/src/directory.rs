//! D1: the team directory at city scale. A Jinan-sized organisation (20,000 grids, 140,000 workers
//! plus leaders and supervisors) indexed once per directory version (`OrgSnapshot`), and the
//! directory part of one worker's sync when something changed elsewhere in the city (the view is
//! the same, the version moved: the common case once a city edits its staff daily).
//!
//! Baseline: the same answer computed without the index, by scanning every unit and person of
//! the organisation for each request (what a server without the snapshot would do).

use std::collections::HashSet;
use std::time::Instant;

use gridwork_model::directory::UnitKind;
use gridwork_model::Role;
use gridwork_protocol::wire::{self, DirCursor, SyncResponse};
use gridwork_server::directory::{OrgPerson, OrgRows, OrgSnapshot, OrgUnit};

use crate::{median, Config, Scenario};

fn unit(id: String, kind: UnitKind, parent: Option<String>) -> OrgUnit {
    OrgUnit {
        name: format!("{id} 名称"),
        id,
        kind,
        parent,
        boundary: None,
        dir_version: 1,
    }
}

fn person(i: usize, role: Role, unit: &str) -> OrgPerson {
    OrgPerson {
        id: format!("u{i:07}"),
        username: format!("user{i:07}"),
        display_name: format!("员工{i}"),
        role,
        units: vec![unit.to_owned()],
        shared_phone: None,
        disabled: false,
        dir_version: 1,
    }
}

/// districts × streets × communities × grids, `per_grid` workers a grid, a leader a community,
/// a supervisor a street.
fn org(districts: usize, per_grid: usize, version: u64) -> OrgRows {
    let (mut units, mut people) = (Vec::new(), Vec::new());
    for d in 0..districts {
        let did = format!("d{d}");
        units.push(unit(did.clone(), UnitKind::District, None));
        for s in 0..10 {
            let sid = format!("{did}-s{s}");
            units.push(unit(sid.clone(), UnitKind::Street, Some(did.clone())));
            people.push(person(people.len(), Role::Supervisor, &sid));
            for c in 0..20 {
                let cid = format!("{sid}-c{c}");
                units.push(unit(cid.clone(), UnitKind::Community, Some(sid.clone())));
                people.push(person(people.len(), Role::Leader, &cid));
                for g in 0..10 {
                    let gid = format!("{cid}-g{g}");
                    units.push(unit(gid.clone(), UnitKind::Grid, Some(cid.clone())));
                    for _ in 0..per_grid {
                        people.push(person(people.len(), Role::Worker, &gid));
                    }
                }
            }
        }
    }
    OrgRows {
        version,
        units,
        people,
    }
}

/// The baseline: a worker's view by scanning the whole organisation (units up from their grid,
/// then every person attached to one of them).
fn scan_view(rows: &OrgRows, user: &str) -> (usize, usize) {
    let Some(me) = rows.people.iter().find(|p| p.id == user) else {
        return (0, 0);
    };
    let mut units: HashSet<&str> = me.units.iter().map(String::as_str).collect();
    let mut frontier: Vec<&str> = units.iter().copied().collect();
    while let Some(u) = frontier.pop() {
        if let Some(p) = rows
            .units
            .iter()
            .find(|x| x.id == u)
            .and_then(|x| x.parent.as_deref())
        {
            if units.insert(p) {
                frontier.push(p);
            }
        }
    }
    let people = rows
        .people
        .iter()
        .filter(|p| !p.disabled && p.units.iter().any(|u| units.contains(u.as_str())))
        .count();
    (units.len(), people)
}

pub fn run(cfg: &Config, want: &dyn Fn(&str) -> bool) -> Result<Vec<Scenario>, String> {
    let quick = cfg.quick;
    if !want("D1") {
        return Ok(Vec::new());
    }
    let (districts, repeats) = if quick { (1, 5) } else { (10, 31) };
    let t = Instant::now();
    let rows = org(districts, 7, 2);
    let snap = OrgSnapshot::new(org(districts, 7, 2));
    let build_ms = t.elapsed().as_secs_f64() * 1000.0 / 2.0;
    let worker = rows
        .people
        .iter()
        .find(|p| p.role == Role::Worker)
        .map(|p| p.id.clone())
        .ok_or("no worker")?;
    let first = snap.delta(&worker, Role::Worker, None);
    // The version moved elsewhere in the city: same view, nothing of it changed.
    let cursor = Some(DirCursor {
        version: 1,
        view: first.cursor.view,
    });
    let (mut g, mut b) = (Vec::new(), Vec::new());
    let mut sizes = (0, 0);
    for _ in 0..repeats {
        let t = Instant::now();
        let d = snap.delta(&worker, Role::Worker, cursor);
        g.push(t.elapsed().as_secs_f64() * 1e6);
        if d.full || !d.people.is_empty() {
            return Err("D1: an unchanged view sent entries".into());
        }
        let t = Instant::now();
        sizes = scan_view(&rows, &worker);
        b.push(t.elapsed().as_secs_f64() * 1e6);
    }
    if sizes != (first.units.len(), first.people.len()) {
        return Err(format!(
            "D1: the baseline's view {sizes:?} differs from the snapshot's ({}, {})",
            first.units.len(),
            first.people.len()
        ));
    }
    let bytes = |d| {
        wire::encode_response(&SyncResponse {
            version: wire::PROTOCOL_VERSION,
            directory: Some(d),
            ..Default::default()
        })
        .len()
    };
    let leader = rows
        .people
        .iter()
        .find(|p| p.role == Role::Leader)
        .map(|p| p.id.clone())
        .ok_or("no leader")?;
    let t = Instant::now();
    let admin_full = snap.delta("nobody", Role::Admin, None);
    let admin_ms = t.elapsed().as_secs_f64() * 1000.0;
    Ok(vec![Scenario::new(
        "D1",
        "directory_view_city_scale",
        "us",
        median(&mut g),
        median(&mut b),
        "scan every unit and person of the organisation per request",
    )
    .goal("nothing sent when the view is unchanged; full answers only when the view changes")
    .extra("grids", (districts * 2000) as u64)
    .extra("people", rows.people.len() as u64)
    .extra("snapshot_build_ms", build_ms)
    .extra("worker_full_bytes", bytes(first) as u64)
    .extra(
        "leader_full_bytes",
        bytes(snap.delta(&leader, Role::Leader, None)) as u64,
    )
    .extra("admin_full_ms", admin_ms)
    .extra("admin_full_bytes", bytes(admin_full) as u64)])
}
