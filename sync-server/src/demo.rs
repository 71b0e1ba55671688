//! `--demo`: a small organisation, one user of each role with known passwords, and a few records,
//! so a newcomer can try everything at once. Seeding is idempotent: it runs once per data dir.

use gridwork_core::Role;

use crate::admin;
use crate::error::{Error, Result};
use crate::store::{NewUser, ServerStore, Unit, UnitKind};

/// (username, password, display name, role, unit)
pub const DEMO_USERS: &[(&str, &str, &str, Role, &str)] = &[
    (
        "worker",
        "demo-worker",
        "张伟 (grid worker, Furong grid 1)",
        Role::Worker,
        "furong-01",
    ),
    (
        "worker2",
        "demo-worker2",
        "李娜 (grid worker, Baotu grid 1)",
        Role::Worker,
        "baotu-01",
    ),
    (
        "leader",
        "demo-leader",
        "王芳 (community leader, Furong)",
        Role::Leader,
        "furong",
    ),
    (
        "supervisor",
        "demo-supervisor",
        "刘洋 (street supervisor, Quancheng)",
        Role::Supervisor,
        "quancheng",
    ),
    ("admin", "demo-admin", "Administrator", Role::Admin, ""),
];

const DEMO_UNITS: &[(UnitKind, &str, Option<&str>, &str)] = &[
    (UnitKind::District, "lixia", None, "历下区"),
    (UnitKind::Street, "quancheng", Some("lixia"), "泉城路街道"),
    (UnitKind::Community, "furong", Some("quancheng"), "芙蓉社区"),
    (
        UnitKind::Community,
        "baotu",
        Some("quancheng"),
        "趵突泉社区",
    ),
    (
        UnitKind::Grid,
        "furong-01",
        Some("furong"),
        "芙蓉社区第一网格",
    ),
    (
        UnitKind::Grid,
        "furong-02",
        Some("furong"),
        "芙蓉社区第二网格",
    ),
    (
        UnitKind::Grid,
        "baotu-01",
        Some("baotu"),
        "趵突泉社区第一网格",
    ),
    (
        UnitKind::Grid,
        "baotu-02",
        Some("baotu"),
        "趵突泉社区第二网格",
    ),
];

/// Seeds the demo organisation and users. Returns `false` when the data dir was already seeded.
pub fn seed_org(store: &dyn ServerStore) -> Result<bool> {
    if store.user_by_username("worker")?.is_some() {
        return Ok(false);
    }
    for (kind, id, parent, name) in DEMO_UNITS {
        store.upsert_unit(&Unit {
            id: (*id).into(),
            kind: *kind,
            parent_id: parent.map(Into::into),
            name: (*name).into(),
        })?;
    }
    for (username, password, display, role, unit) in DEMO_USERS {
        if store.user_by_username(username)?.is_some() {
            // A first-start admin may exist already: give it the demo password.
            admin::reset_password(store, username, Some(password))?;
            continue;
        }
        let units = if unit.is_empty() {
            vec![]
        } else {
            vec![(*unit).to_owned()]
        };
        let new = NewUser {
            username: (*username).into(),
            display_name: (*display).into(),
            role: *role,
            units,
        };
        admin::create_user(store, &new, Some(password))?;
    }
    Ok(true)
}

/// What to print after seeding (stdout).
pub fn banner(listen: &str) -> String {
    let mut s = String::from("Demo organisation: 泉城路街道 → 芙蓉社区 (furong-01, furong-02), 趵突泉社区 (baotu-01, baotu-02)\n");
    s.push_str("Demo users (username / password):\n");
    for (u, p, d, _, _) in DEMO_USERS {
        s.push_str(&format!("  {u:<11} {p:<16} {d}\n"));
    }
    s.push_str(&format!("Sign in from a device with e.g.: gridwork login --server http://{listen} --username worker\n"));
    s
}

/// Seeds a few demo records (reports, visits, households, tasks). Each demo user files them on a
/// throw-away device store (core's record API) that then pushes through the same checks as a
/// real device. Returns how many records were pushed (0 when the data dir already has records).
pub fn seed_records(store: &dyn ServerStore) -> Result<usize> {
    use gridwork_core::wire::{PushDoc, SyncRequest, PROTOCOL_VERSION};
    use gridwork_core::{
        Identity, Location, Member, MemberTag, Need, NeedTag, NewHousehold, NewReport, NewTask,
        NewVisit, Priority, ReportCategory, Store, VisitType,
    };

    let seeded_flag = store.pull(&crate::store::Scope::All, 0, None, 1, 1)?;
    if !seeded_flag.changes.is_empty() {
        return Ok(0);
    }
    let tmp = std::env::temp_dir().join(format!("gridwork-demo-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&tmp)?;
    let core_err = |e: gridwork_core::Error| Error::Other(format!("demo seed: {e}"));
    let at = |lat: f64, lon: f64, addr: &str| {
        Some(Location {
            lat,
            lon,
            accuracy_m: 8.0,
            address: Some(addr.into()),
        })
    };

    // Push everything a device has, as that device, through the real sync path.
    let push = |username: &str, device: &Store| -> Result<usize> {
        let (user, _) = store
            .user_by_username(username)?
            .ok_or_else(|| Error::NotFound(username.into()))?;
        let (_, token_hash) = crate::auth::new_token();
        let expires = chrono::Utc::now() + chrono::Duration::minutes(5);
        let device_id = store.create_device(
            &user.id,
            "demo seed",
            &token_hash,
            expires,
            &[device.actor_id()],
        )?;
        let auth = store
            .device_by_token(&token_hash)?
            .ok_or_else(|| Error::Other("demo device vanished".into()))?;
        let scope = store.scope(&user)?;
        let outbox = device.outbox(usize::MAX).map_err(core_err)?;
        let docs = outbox.len();
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
        };
        let resp = crate::sync::handle_sync(
            store,
            &auth,
            &scope,
            req,
            crate::sync::PullConfig::default(),
            &crate::quota::Quotas::default(),
            &crate::cancel::Cancel::never(),
        )
        .map_err(|e| Error::Other(format!("demo seed push: {}", e.body.message)))?;
        if let Some(r) = resp.rejected.first() {
            return Err(Error::Other(format!(
                "demo seed rejected: {} {:?} {}",
                r.doc_id, r.field, r.reason
            )));
        }
        store.revoke_device(&device_id)?;
        Ok(docs)
    };
    let open = |username: &str| -> Result<Store> {
        let (user, _) = store
            .user_by_username(username)?
            .ok_or_else(|| Error::NotFound(username.into()))?;
        Store::open(
            tmp.join(format!("{username}.db")),
            Identity::new(user.id, user.role),
        )
        .map_err(core_err)
    };

    let result = (|| -> Result<usize> {
        let mut n = 0;
        let worker = open("worker")?;
        let lane = worker
            .create_report(NewReport {
                grid: "furong-01".into(),
                category: ReportCategory::BlockedFireLane,
                severity: 3,
                title: "芙蓉街12号楼道堆放杂物".into(),
                description: "三楼楼道堆放纸箱和旧家具，堵塞消防通道。".into(),
                location: at(36.6653, 117.0205, "芙蓉街12号"),
                submit: true,
            })
            .map_err(core_err)?;
        worker
            .create_report(NewReport {
                grid: "furong-01".into(),
                category: ReportCategory::RoadFacilityDamage,
                severity: 2,
                title: "曲水亭街路灯不亮".into(),
                description: "曲水亭街东段两盏路灯夜间不亮。".into(),
                location: at(36.6668, 117.0213, "曲水亭街"),
                submit: false,
            })
            .map_err(core_err)?;
        let household = worker
            .create_household(NewHousehold {
                grid: "furong-01".into(),
                address: "芙蓉街12号3单元201".into(),
                members: vec![Member {
                    name: "赵秀英".into(),
                    id_number: None,
                    phone: None,
                    birth_year: Some(1941),
                    tags: vec![MemberTag::ElderlyLivingAlone],
                }],
                notes: "独居老人，子女在外地。".into(),
            })
            .map_err(core_err)?;
        worker
            .create_visit(NewVisit {
                grid: "furong-01".into(),
                household_id: household.clone(),
                visit_type: VisitType::ElderlyCare,
                notes: "身体状况良好，需要帮助更换厨房燃气软管。".into(),
                needs: vec![Need {
                    tag: NeedTag::Repair,
                    note: "燃气软管老化".into(),
                    resolved: false,
                }],
                follow_up_due: None,
                location: at(36.6653, 117.0205, "芙蓉街12号"),
                visited_at: None,
            })
            .map_err(core_err)?;
        n += push("worker", &worker)?;

        let worker2 = open("worker2")?;
        worker2
            .create_report(NewReport {
                grid: "baotu-01".into(),
                category: ReportCategory::Sanitation,
                severity: 2,
                title: "趵突泉南门垃圾桶满溢".into(),
                description: "南门东侧两个垃圾桶满溢，需要加密清运。".into(),
                location: at(36.6601, 117.0145, "趵突泉南门"),
                submit: true,
            })
            .map_err(core_err)?;
        n += push("worker2", &worker2)?;

        let (w, _) = store
            .user_by_username("worker")?
            .ok_or_else(|| Error::NotFound("worker".into()))?;
        let leader = open("leader")?;
        leader
            .create_task(NewTask {
                grid: "furong-01".into(),
                title: "清理芙蓉街12号楼道杂物".into(),
                description: "联系物业和住户，三天内清理楼道，恢复消防通道。".into(),
                assignees: vec![w.id],
                due: None,
                priority: Priority::High,
                linked_report: Some(lane),
                linked_household: Some(household),
            })
            .map_err(core_err)?;
        n += push("leader", &leader)?;
        Ok(n)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}
