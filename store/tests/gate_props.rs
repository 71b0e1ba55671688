//! No false refusals: every edit the device API allows a user to make is admitted by the server's
//! gate (`gate::admit_push`, strict), whatever the order, the roles and the kinds — including
//! edits made concurrently on several offline devices. Refusals of the gate are only for changes
//! no honest device makes.
//!
//! Five devices (two workers, a leader, a supervisor, an admin) act at random through the
//! `Store` API; each device's outbox is pushed through the gate exactly as the server receives
//! it (raw bytes), and what the gate admits is delivered to every device as a pull.

use std::collections::HashMap;

use gridwork_model::record::*;
use gridwork_model::Principal;
use gridwork_protocol::gate::{self, Admitted};
use gridwork_store::{
    HouseholdPatch, Identity, NewHousehold, NewReport, NewTask, NewVisit, ReportPatch, Store,
    SyncApply, TaskPatch, VisitPatch,
};
use proptest::prelude::*;

const USERS: &[(&str, Role)] = &[
    ("w1", Role::Worker),
    ("w2", Role::Worker),
    ("l1", Role::Leader),
    ("s1", Role::Supervisor),
    ("a1", Role::Admin),
];

#[derive(Debug, Clone)]
enum Act {
    NewReport {
        dev: usize,
        submit: bool,
    },
    EditReport {
        dev: usize,
        rec: usize,
        what: u8,
        n: u8,
    },
    Comment {
        dev: usize,
        rec: usize,
    },
    /// Online step: pull everything, move along the workflow, push at once.
    Transition {
        dev: usize,
        rec: usize,
        to: u8,
    },
    NewTask {
        dev: usize,
        assignee: usize,
    },
    EditTask {
        dev: usize,
        rec: usize,
        what: u8,
        n: u8,
    },
    NewHousehold {
        dev: usize,
    },
    EditHousehold {
        dev: usize,
        rec: usize,
        n: u8,
    },
    NewVisit {
        dev: usize,
        rec: usize,
    },
    EditVisit {
        dev: usize,
        rec: usize,
        n: u8,
    },
    AddPhoto {
        dev: usize,
        rec: usize,
        n: u8,
    },
    /// Push this device's outbox (offline edits meet the server now).
    Sync {
        dev: usize,
    },
}

fn act() -> impl Strategy<Value = Act> {
    let dev = 0..USERS.len();
    prop_oneof![
        2 => (dev.clone(), any::<bool>()).prop_map(|(dev, submit)| Act::NewReport { dev, submit }),
        4 => (dev.clone(), 0..8usize, 0..6u8, any::<u8>()).prop_map(|(dev, rec, what, n)| Act::EditReport { dev, rec, what, n }),
        3 => (dev.clone(), 0..8usize).prop_map(|(dev, rec)| Act::Comment { dev, rec }),
        4 => (dev.clone(), 0..8usize, 0..12u8).prop_map(|(dev, rec, to)| Act::Transition { dev, rec, to }),
        1 => (dev.clone(), 0..2usize).prop_map(|(dev, assignee)| Act::NewTask { dev, assignee }),
        2 => (dev.clone(), 0..8usize, 0..5u8, any::<u8>()).prop_map(|(dev, rec, what, n)| Act::EditTask { dev, rec, what, n }),
        1 => dev.clone().prop_map(|dev| Act::NewHousehold { dev }),
        2 => (dev.clone(), 0..8usize, any::<u8>()).prop_map(|(dev, rec, n)| Act::EditHousehold { dev, rec, n }),
        1 => (dev.clone(), 0..8usize).prop_map(|(dev, rec)| Act::NewVisit { dev, rec }),
        1 => (dev.clone(), 0..8usize, any::<u8>()).prop_map(|(dev, rec, n)| Act::EditVisit { dev, rec, n }),
        1 => (dev.clone(), 0..8usize, any::<u8>()).prop_map(|(dev, rec, n)| Act::AddPhoto { dev, rec, n }),
        4 => dev.prop_map(|dev| Act::Sync { dev }),
    ]
}

struct World {
    _dir: tempfile::TempDir,
    devs: Vec<Store>,
    server: HashMap<String, Admitted>,
    /// Record ids by kind, in creation order (as the server knows them).
    ids: HashMap<RecordKind, Vec<String>>,
}

fn principal(dev: usize) -> Principal {
    Principal {
        user_id: USERS[dev].0.into(),
        role: USERS[dev].1,
    }
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().expect("tmp");
        let devs = USERS
            .iter()
            .enumerate()
            .map(|(i, (id, role))| {
                let mut ident = Identity::new(*id, *role);
                ident.grids = Some(vec!["G1".into()]);
                Store::open(dir.path().join(format!("d{i}.db")), ident).expect("open")
            })
            .collect();
        World {
            _dir: dir,
            devs,
            server: HashMap::new(),
            ids: HashMap::new(),
        }
    }

    fn pick(&self, kind: RecordKind, i: usize) -> Option<String> {
        let ids = self.ids.get(&kind)?;
        (!ids.is_empty()).then(|| ids[i % ids.len()].clone())
    }

    /// Pushes `dev`'s outbox through the gate; every change must be admitted. Delivers the
    /// admitted documents to every device.
    fn sync(&mut self, dev: usize, log: &[Act]) -> Result<(), TestCaseError> {
        let outbox = self.devs[dev]
            .sync_side()
            .outbox(usize::MAX)
            .expect("outbox");
        let p = principal(dev);
        let mut acked = Vec::new();
        let mut touched = Vec::new();
        for doc in outbox {
            let mut changes = Vec::new();
            for c in &doc.changes {
                let (change, _) = gate::parse_change(&c.bytes)
                    .map_err(|r| TestCaseError::fail(format!("parse: {r}")))?;
                changes.push(change);
            }
            let before = self.server.get(&doc.doc_id);
            // Exactly as the server decides a document's changes.
            let outcome = gate::admit_push_changes(&p, &|g| g == "G1", before, &changes);
            if let Some(Err(r)) = outcome.results.iter().find(|r| r.is_err()) {
                return Err(TestCaseError::fail(format!(
                    "false refusal of {}'s change to {}: {r}\nactions: {log:#?}",
                    p.user_id, doc.doc_id
                )));
            }
            for c in &doc.changes {
                acked.push((doc.doc_id.clone(), c.hash.clone()));
            }
            let Some(admitted) = outcome.admitted else {
                continue;
            };
            if before.is_none() {
                self.ids
                    .entry(admitted.record.kind())
                    .or_default()
                    .push(doc.doc_id.clone());
            }
            self.server.insert(doc.doc_id.clone(), admitted);
            touched.push(doc.doc_id);
        }
        self.devs[dev]
            .sync_side()
            .apply_sync(SyncApply {
                acked,
                ..SyncApply::default()
            })
            .expect("ack");
        for id in touched {
            let bytes: Vec<(String, Vec<u8>)> = self.server[&id]
                .doc
                .get_changes(&[])
                .into_iter()
                .map(|c| (id.clone(), c.raw_bytes().to_vec()))
                .collect();
            for (i, d) in self.devs.iter().enumerate() {
                if i != dev {
                    d.sync_side()
                        .apply_sync(SyncApply {
                            pulled: bytes.clone(),
                            ..SyncApply::default()
                        })
                        .expect("pull");
                }
            }
        }
        Ok(())
    }

    fn sync_all(&mut self, log: &[Act]) -> Result<(), TestCaseError> {
        for d in 0..self.devs.len() {
            self.sync(d, log)?;
        }
        Ok(())
    }
}

/// The device API's answer: `Ok` or a refusal the device makes itself (not permitted, illegal
/// transition, not on this device yet). Anything else is a bug.
fn local<T>(r: gridwork_model::Result<T>) -> Result<(), TestCaseError> {
    use gridwork_model::Error as E;
    match r {
        Ok(_) | Err(E::NotPermitted { .. } | E::IllegalTransition { .. } | E::NotFound { .. }) => {
            Ok(())
        }
        Err(e) => Err(TestCaseError::fail(format!(
            "unexpected device error: {e:?}"
        ))),
    }
}

const REPORT_TO: &[&str] = &[
    "submitted",
    "returned",
    "approved",
    "resolved",
    "closed",
    "draft",
];
const TASK_TO: &[&str] = &[
    "accepted",
    "in_progress",
    "done",
    "verified",
    "cancelled",
    "assigned",
];

fn run(acts: Vec<Act>) -> Result<(), TestCaseError> {
    let mut w = World::new();
    let mut log = Vec::new();
    for a in acts {
        log.push(a.clone());
        match a {
            Act::NewReport { dev, submit } => local(w.devs[dev].create_report(NewReport {
                grid: "G1".into(),
                category: ReportCategory::FireHazard,
                severity: 2,
                title: format!("楼道堆物{}", log.len()),
                description: "三楼东侧".into(),
                location: None,
                submit,
            }))?,
            Act::EditReport { dev, rec, what, n } => {
                let Some(id) = w.pick(RecordKind::Report, rec) else {
                    continue;
                };
                let mut p = ReportPatch::default();
                match what {
                    0 => p.title = Some(format!("标题{n}")),
                    1 => p.description = Some(format!("描述{n}，补充")),
                    2 => p.severity = Some(1 + n % 4),
                    3 => {
                        p.category =
                            Some(ReportCategory::ALL[usize::from(n) % ReportCategory::ALL.len()]);
                    }
                    4 => {
                        p.location = Some(Some(Location {
                            lat: 36.0 + f64::from(n) / 1000.0,
                            lon: 117.0,
                            accuracy_m: 5.0,
                            address: Some(format!("{n}号楼")),
                        }));
                    }
                    _ => p.location = Some(None),
                }
                local(w.devs[dev].update_report(&id, p))?;
            }
            Act::Comment { dev, rec } => {
                let kind = if rec % 2 == 0 {
                    RecordKind::Report
                } else {
                    RecordKind::Task
                };
                let Some(id) = w.pick(kind, rec / 2) else {
                    continue;
                };
                local(w.devs[dev].add_comment(&id, &format!("意见{}", log.len())))?;
            }
            Act::Transition { dev, rec, to } => {
                let kind = if rec % 2 == 0 {
                    RecordKind::Report
                } else {
                    RecordKind::Task
                };
                let Some(id) = w.pick(kind, rec / 2) else {
                    continue;
                };
                // Online: everything this device and the others made reaches the server first.
                w.sync_all(&log)?;
                let target = match kind {
                    RecordKind::Report => REPORT_TO[usize::from(to) % REPORT_TO.len()],
                    _ => TASK_TO[usize::from(to) % TASK_TO.len()],
                };
                let comment = (target == "returned").then(|| "请补充照片".to_owned());
                local(w.devs[dev].transition(&id, target, comment))?;
                w.sync(dev, &log)?;
            }
            Act::NewTask { dev, assignee } => local(w.devs[dev].create_task(NewTask {
                grid: "G1".into(),
                title: "清理楼道".into(),
                description: "三楼".into(),
                assignees: vec![USERS[assignee].0.into()],
                due: Some("2026-12-01".into()),
                priority: Priority::Normal,
                linked_report: w.pick(RecordKind::Report, 0),
                linked_household: None,
            }))?,
            Act::EditTask { dev, rec, what, n } => {
                let Some(id) = w.pick(RecordKind::Task, rec) else {
                    continue;
                };
                let mut p = TaskPatch::default();
                match what {
                    0 => p.title = Some(format!("任务{n}")),
                    1 => p.description = Some(format!("说明{n}")),
                    2 => p.priority = Some(Priority::ALL[usize::from(n) % Priority::ALL.len()]),
                    3 => p.due = Some(Some(format!("2026-12-{:02}", 1 + n % 28))),
                    _ => p.assignees = Some(vec!["w1".into(), "w2".into()]),
                }
                local(w.devs[dev].update_task(&id, p))?;
            }
            Act::NewHousehold { dev } => local(w.devs[dev].create_household(NewHousehold {
                grid: "G1".into(),
                address: "芙蓉街12号".into(),
                members: vec![],
                notes: String::new(),
            }))?,
            Act::EditHousehold { dev, rec, n } => {
                let Some(id) = w.pick(RecordKind::Household, rec) else {
                    continue;
                };
                let p = if n % 2 == 0 {
                    HouseholdPatch {
                        notes: Some(format!("独居{n}")),
                        ..Default::default()
                    }
                } else {
                    HouseholdPatch {
                        members: Some(vec![Member {
                            name: format!("住户{n}"),
                            id_number: None,
                            phone: Some("13800000000".into()),
                            birth_year: Some(1940),
                            tags: vec![MemberTag::ElderlyLivingAlone],
                        }]),
                        ..Default::default()
                    }
                };
                local(w.devs[dev].update_household(&id, p))?;
            }
            Act::NewVisit { dev, rec } => {
                let Some(h) = w.pick(RecordKind::Household, rec) else {
                    continue;
                };
                local(w.devs[dev].create_visit(NewVisit {
                    grid: "G1".into(),
                    household_id: h,
                    visit_type: VisitType::ElderlyCare,
                    notes: "身体尚可".into(),
                    needs: vec![],
                    follow_up_due: None,
                    location: None,
                    visited_at: None,
                }))?;
            }
            Act::EditVisit { dev, rec, n } => {
                let Some(id) = w.pick(RecordKind::Visit, rec) else {
                    continue;
                };
                local(w.devs[dev].update_visit(
                    &id,
                    VisitPatch {
                        notes: Some(format!("复访{n}")),
                        needs: Some(vec![Need {
                            tag: NeedTag::Medical,
                            note: "需要配药".into(),
                            resolved: n % 2 == 0,
                        }]),
                        ..Default::default()
                    },
                ))?;
            }
            Act::AddPhoto { dev, rec, n } => {
                let Some(id) = w.pick(RecordKind::Report, rec) else {
                    continue;
                };
                let hash = format!("{:064x}", u64::from(n) + 1);
                local(w.devs[dev].update(&id, |r| {
                    if let Some(photos) = r.photos_mut() {
                        photos.push(PhotoRef {
                            hash: hash.clone(),
                            thumb_hash: hash.clone(),
                            width: 2048,
                            height: 1536,
                            bytes: 300_000,
                            taken_at: None,
                            caption: Some("东侧".into()),
                        });
                    }
                    Ok(())
                }))?;
            }
            Act::Sync { dev } => w.sync(dev, &log)?,
        }
    }
    w.sync_all(&log)?;
    // Everyone converged on what the server holds.
    for (id, a) in &w.server {
        for d in &w.devs {
            let got = d
                .get(id)
                .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!(&got.record, &a.record);
        }
    }
    Ok(())
}

proptest! {
    // 32 cases by default (CI); PROPTEST_CASES=500 for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]
    #[test]
    fn honest_edits_are_never_refused(acts in proptest::collection::vec(act(), 10..70)) {
        run(acts)?;
    }
}
