//! The shared multi-device scenario: five devices of different roles, offline edits with
//! concurrent edits of one record, sync in random order, then the convergence checks.

use std::collections::BTreeMap;

use gridwork_model::{Priority, RecordKind, TaskStatus};
use gridwork_store::{ListQuery, NewTask, ReportPatch, Store};
use gridwork_tests::{assert_same, conflicts_of, snapshot, Device, Snapshot};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

pub const USERS: [&str; 5] = ["worker", "worker2", "leader", "supervisor", "admin"];

pub struct Fleet {
    pub devices: Vec<Device>,
    pub rng: StdRng,
}

/// What the scenario made, to check that every edit arrived.
#[derive(Default, Debug)]
pub struct Made {
    pub shared_report: String,
    pub shared_task: String,
    pub worker2_report: String,
    pub created: Vec<String>,
    /// Texts that must appear in the shared report's comments.
    pub comments: Vec<String>,
}

impl Fleet {
    pub fn sign_in(url: &str, seed: u64) -> Fleet {
        eprintln!("fleet seed {seed}");
        Fleet {
            devices: USERS.iter().map(|u| Device::sign_in(url, u)).collect(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub fn dev(&self, name: &str) -> &Device {
        self.devices
            .iter()
            .find(|d| d.name == name)
            .expect("device")
    }

    /// Every device syncs once, in a random order; `ok` decides what to do with a failure.
    pub fn sync_round(&mut self, tolerate_errors: bool) -> usize {
        let mut order: Vec<usize> = (0..self.devices.len()).collect();
        order.shuffle(&mut self.rng);
        let mut failures = 0;
        for i in order {
            let d = &self.devices[i];
            match d.sync() {
                Ok(_) => {}
                Err(e) if tolerate_errors => {
                    failures += 1;
                    eprintln!("{} sync failed (expected under faults): {e}", d.name);
                }
                Err(e) => panic!("{} sync: {e}", d.name),
            }
        }
        failures
    }

    /// Sync rounds until every device has nothing pending and a round changed nothing.
    pub fn settle(&mut self) {
        for _ in 0..6 {
            self.sync_round(false);
        }
        for d in &self.devices {
            assert_eq!(
                d.store.pending_count().unwrap(),
                0,
                "{} still has pending changes",
                d.name
            );
        }
    }
}

/// Phase 1, online: each device files something; everyone syncs so the shared records are known.
pub fn phase_setup(f: &mut Fleet, made: &mut Made) {
    let worker_id = f.dev("worker").user_id();
    made.shared_report = f
        .dev("worker")
        .report("furong-01", "芙蓉街20号电动车楼道充电");
    made.worker2_report = f.dev("worker2").report("baotu-01", "趵突泉北门路灯损坏");
    made.shared_task = f
        .dev("leader")
        .store
        .create_task(NewTask {
            grid: "furong-01".into(),
            title: "劝导电动车入棚充电".into(),
            description: "与物业联系，设置集中充电点。".into(),
            assignees: vec![worker_id],
            due: Some("2030-01-31".into()),
            priority: Priority::High,
            linked_report: Some(made.shared_report.clone()),
            linked_household: None,
        })
        .unwrap();
    made.created.extend([
        made.shared_report.clone(),
        made.worker2_report.clone(),
        made.shared_task.clone(),
    ]);
    f.sync_round(false);
    f.sync_round(false);
}

/// Phase 2, offline: concurrent edits of the same records, and new records everywhere.
pub fn phase_offline_edits(f: &mut Fleet, made: &mut Made) {
    let r = made.shared_report.clone();
    let t = made.shared_task.clone();
    let w = f.dev("worker");
    let l = f.dev("leader");
    let s = f.dev("supervisor");
    let a = f.dev("admin");
    let w2 = f.dev("worker2");

    // The same text field, typed on three devices.
    let desc = |st: &Store| match st.get(&r).unwrap().record {
        gridwork_model::AnyRecord::Report(rep) => rep.description,
        _ => unreachable!(),
    };
    let d0 = desc(&w.store);
    w.store
        .update_report(
            &r,
            ReportPatch {
                description: Some(format!("{d0}（已联系物业）")),
                ..Default::default()
            },
        )
        .unwrap();
    s.store
        .update_report(
            &r,
            ReportPatch {
                description: Some(format!("【街道已阅】{d0}")),
                ..Default::default()
            },
        )
        .unwrap();
    l.store
        .update_report(
            &r,
            ReportPatch {
                title: Some("芙蓉街20号电动车楼道充电（社区跟进）".into()),
                ..Default::default()
            },
        )
        .unwrap();

    // The same scalar, set differently on three devices.
    w.store
        .update_report(
            &r,
            ReportPatch {
                severity: Some(3),
                ..Default::default()
            },
        )
        .unwrap();
    s.store
        .update_report(
            &r,
            ReportPatch {
                severity: Some(4),
                ..Default::default()
            },
        )
        .unwrap();
    a.store
        .update_report(
            &r,
            ReportPatch {
                severity: Some(1),
                ..Default::default()
            },
        )
        .unwrap();

    // List appends from four devices.
    for d in [w, l, s, a] {
        let text = format!("{} 的意见", d.name);
        d.store.add_comment(&r, &text).unwrap();
        made.comments.push(text);
    }

    // The task's comments, before the competing steps below (a change made on top of a refused
    // one is refused with it).
    l.store.add_comment(&t, "改派他人").unwrap();
    w.store.add_comment(&t, "已到现场").unwrap();

    // Competing transitions: the supervisor returns it while the admin approves it. The workflow
    // is a state machine over history: whichever reaches the server first wins, the other is
    // refused (and quarantined on its device, see `resolve_workflow_refusals`).
    s.store
        .transition(&r, "returned", Some("请补充照片".into()))
        .unwrap();
    a.store.transition(&r, "approved", None).unwrap();

    // The task: the worker accepts it while the leader cancels it.
    w.store
        .transition(&t, TaskStatus::Accepted.as_str(), None)
        .unwrap();
    l.store
        .transition(&t, TaskStatus::Cancelled.as_str(), None)
        .unwrap();

    // Another grid, edited by its worker and the supervisor.
    w2.store
        .update_report(
            &made.worker2_report,
            ReportPatch {
                title: Some("趵突泉北门两盏路灯损坏".into()),
                ..Default::default()
            },
        )
        .unwrap();
    s.store
        .add_comment(&made.worker2_report, "已转市政")
        .unwrap();

    // New records on every device while offline.
    for (d, grid) in [
        (w, "furong-01"),
        (w2, "baotu-01"),
        (l, "furong-02"),
        (s, "baotu-02"),
        (a, "furong-02"),
    ] {
        for i in 0..3 {
            made.created
                .push(d.report(grid, &format!("{} 离线上报 {i}", d.name)));
        }
    }
}

/// Of two competing workflow steps made offline, the one that reached the server second is
/// refused (`denied`, field `status` or `transitions`) and quarantined on its device, never
/// dropped silently. Each such device's user sees why and discards the step; then everyone syncs
/// again. Returns how many steps were refused.
pub fn resolve_workflow_refusals(f: &Fleet, made: &Made) -> usize {
    let mut refused = 0;
    for d in &f.devices {
        let q = d.store.quarantine().unwrap();
        let mut records: Vec<&str> = Vec::new();
        for c in &q {
            assert!(
                c.doc_id == made.shared_report || c.doc_id == made.shared_task,
                "{}: unexpected refusal of {}: {:?} {}",
                d.name,
                c.doc_id,
                c.field,
                c.reason
            );
            assert!(
                matches!(c.field.as_deref(), Some("status" | "transitions")),
                "{}: {:?} {}",
                d.name,
                c.field,
                c.reason
            );
            if !records.contains(&c.doc_id.as_str()) {
                records.push(&c.doc_id);
            }
        }
        for id in records {
            refused += d.store.discard_quarantined(id).unwrap();
        }
    }
    for _ in 0..2 {
        for d in &f.devices {
            d.sync_ok();
        }
    }
    refused
}

/// The fleet and the server agree, every edit is present, conflicts are reported.
pub fn check_converged(f: &Fleet, url: &str, made: &Made) {
    let refused = resolve_workflow_refusals(f, made);
    assert!(
        (2..=4).contains(&refused),
        "one of each pair of competing steps is refused: {refused}"
    );
    // The server's state, as a fresh admin device pulls it from scratch.
    let truth_dev = Device::sign_in(url, "admin");
    truth_dev.sync_ok();
    let truth = snapshot(&truth_dev.store, None);

    for d in &f.devices {
        let grids = d.grids();
        let held = snapshot(&d.store, None);
        let in_scope = snapshot(&d.store, Some(&grids));
        assert_eq!(
            held.len(),
            in_scope.len(),
            "{} holds records outside its scope",
            d.name
        );
        let expected: Snapshot = truth
            .iter()
            .filter(|(_, (_, s))| grids.contains(&s.grid))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_same(&d.name, &held, "server", &expected);
        assert!(
            d.store.quarantine().unwrap().is_empty(),
            "{}: nothing was refused",
            d.name
        );
        assert_eq!(d.store.pending_count().unwrap(), 0);
    }

    // No loss: every record made is there, once.
    for id in &made.created {
        assert!(truth.contains_key(id), "record {id} was lost");
    }
    let ids: Vec<&String> = truth.keys().collect();
    let mut dedup = ids.clone();
    dedup.dedup();
    assert_eq!(ids.len(), dedup.len());
    let titles: Vec<&str> = truth.values().map(|(_, s)| s.title.as_str()).collect();
    for t in &titles {
        if t.contains("离线上报") {
            assert_eq!(
                titles.iter().filter(|x| *x == t).count(),
                1,
                "duplicate record {t}"
            );
        }
    }

    // Every edit of the shared report is there.
    let (rec, _) = &truth[&made.shared_report];
    let gridwork_model::AnyRecord::Report(rep) = rec else {
        panic!("not a report")
    };
    assert!(
        rep.description.contains("（已联系物业）"),
        "worker's typing kept: {}",
        rep.description
    );
    assert!(
        rep.description.contains("【街道已阅】"),
        "supervisor's typing kept: {}",
        rep.description
    );
    assert!(rep.title.contains("社区跟进"));
    assert!([1, 3, 4].contains(&rep.severity));
    let texts: Vec<&str> = rep.comments.iter().map(|c| c.text.as_str()).collect();
    for c in &made.comments {
        assert_eq!(
            texts.iter().filter(|t| *t == c).count(),
            1,
            "comment {c} exactly once in {texts:?}"
        );
    }
    // Exactly one of the competing steps won, and the status is where it leads.
    let tos: Vec<&str> = rep.transitions.iter().map(|t| t.to.as_str()).collect();
    assert_eq!(
        tos.iter()
            .filter(|t| ["returned", "approved"].contains(t))
            .count(),
        1,
        "one competing transition won: {tos:?}"
    );
    assert!(["returned", "approved"].contains(&rep.status.as_str()));
    assert_eq!(tos.last(), Some(&rep.status.as_str()));
    let return_comment = texts.iter().filter(|t| **t == "请补充照片").count();
    assert_eq!(
        return_comment,
        usize::from(rep.status.as_str() == "returned"),
        "the return's comment travels with the return"
    );

    let (task, _) = &truth[&made.shared_task];
    let tos: Vec<&str> = task.transitions().iter().map(|t| t.to.as_str()).collect();
    assert_eq!(tos.len(), 1, "{tos:?}");
    assert!(["accepted", "cancelled"].contains(&tos[0]), "{tos:?}");
    assert_eq!(task.status(), Some(tos[0]));

    // Conflicts: reported, and the same on every device that holds the record.
    let conflicts = truth_dev.store.conflicts(&made.shared_report).unwrap();
    let fields: Vec<&str> = conflicts.iter().map(|c| c.field.as_str()).collect();
    assert!(
        fields.contains(&"severity"),
        "severity conflict reported: {fields:?}"
    );
    assert!(
        !fields.contains(&"status"),
        "the status never holds two values: {fields:?}"
    );
    let sev = conflicts.iter().find(|c| c.field == "severity").unwrap();
    assert_eq!(sev.values.len(), 3, "all three severities readable");
    let truth_conflicts = conflicts_of(&truth_dev.store, &truth);
    for d in &f.devices {
        let held = snapshot(&d.store, None);
        let mine: BTreeMap<_, _> = conflicts_of(&d.store, &held);
        for (id, c) in &mine {
            assert_eq!(
                c, &truth_conflicts[id],
                "conflicts of {id} differ on {}",
                d.name
            );
        }
    }

    // The projections answer queries the same way everywhere (spot check: open reports in furong-01).
    let q = ListQuery {
        kind: Some(RecordKind::Report),
        grid: Some("furong-01".into()),
        open_only: true,
        limit: Some(500),
        ..Default::default()
    };
    let want: Vec<String> = truth_dev
        .store
        .list(&q)
        .unwrap()
        .items
        .into_iter()
        .map(|s| s.id)
        .collect();
    for name in ["worker", "leader", "supervisor", "admin"] {
        let got: Vec<String> = f
            .dev(name)
            .store
            .list(&q)
            .unwrap()
            .items
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(got, want, "{name} lists furong-01 differently");
    }
}
