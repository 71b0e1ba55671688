//! `--demo`: a small organisation, one user of each role with known passwords, and a few records,
//! so a newcomer can try everything at once. Seeding is idempotent: it runs once per data dir.

use gridwork_model::edit;
use gridwork_model::{
    AnyRecord, Household, Location, Member, MemberTag, Need, NeedTag, Principal, Priority, Report,
    ReportCategory, ReportStatus, Role, Task, TaskStatus, UserId, Visit, VisitType,
};
use gridwork_protocol::wire::{PushDoc, SyncRequest, PROTOCOL_VERSION};

use crate::admin;
use crate::error::{Error, Result};
use crate::store::{NewUser, ServerStore, Unit, UnitKind};

/// (username, password, display name, role, unit)
pub const DEMO_USERS: &[(&str, &str, &str, Role, &str)] = &[
    ("worker", "demo-worker", "张伟", Role::Worker, "furong-01"),
    ("worker2", "demo-worker2", "李娜", Role::Worker, "baotu-01"),
    ("leader", "demo-leader", "王芳", Role::Leader, "furong"),
    (
        "supervisor",
        "demo-supervisor",
        "刘洋",
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
    // The leader and the supervisor share their office phones with their teams.
    for (username, phone) in [
        ("leader", "0531-8601-2345"),
        ("supervisor", "0531-8601-0001"),
    ] {
        let update = crate::store::UserUpdate {
            phone: Some(Some(phone.into())),
            phone_shared: Some(true),
            ..Default::default()
        };
        admin::update_user(store, username, &update)?;
    }
    // Grid boundaries: four rectangles of about 700 m × 650 m side by side along Quancheng
    // Road, Jinan (west to east: baotu-01, baotu-02, furong-01, furong-02), so a device can
    // tell which grid it stands in.
    for (i, grid) in ["baotu-01", "baotu-02", "furong-01", "furong-02"]
        .iter()
        .enumerate()
    {
        let (w, e) = (117.000 + 0.008 * (i as f64), 117.008 + 0.008 * (i as f64));
        let (south, north) = (36.662, 36.668);
        let geo = serde_json::json!({"type": "Polygon", "coordinates": [[
            [w, south], [e, south], [e, north], [w, north], [w, south]
        ]]});
        let b = gridwork_model::directory::Boundary::from_geojson(&geo)
            .map_err(|e| crate::error::Error::Invalid(e.to_string()))?;
        store.set_boundary(grid, Some(&b))?;
    }
    Ok(true)
}

/// What to print after seeding (stdout).
pub fn banner(listen: &str) -> String {
    let mut s = String::from("Demo organisation: 泉城路街道 → 芙蓉社区 (furong-01, furong-02), 趵突泉社区 (baotu-01, baotu-02)\n");
    s.push_str("Demo users (username / password):\n");
    for (u, p, d, role, unit) in DEMO_USERS {
        let at = if unit.is_empty() {
            String::new()
        } else {
            format!(", {unit}")
        };
        s.push_str(&format!("  {u:<11} {p:<16} {d} ({role}{at})\n"));
    }
    s.push_str(&format!("Sign in from a device with e.g.: gridwork login --server http://{listen} --username worker\n"));
    s
}

/// One seeded record: id, document, its JSON form, the typed record, and the changes to push.
type SeedDoc = (
    String,
    automerge::Automerge,
    serde_json::Value,
    AnyRecord,
    Vec<Vec<u8>>,
);

/// A throw-away demo device: an actor of its own and the records it filed, as Automerge
/// documents written through the model's write path ([`gridwork_model::edit`]), the same as a
/// phone writes them. Its changes are then pushed through the real sync checks.
struct SeedDevice {
    user: crate::store::User,
    actor: automerge::ActorId,
    docs: Vec<SeedDoc>,
}

impl SeedDevice {
    fn open(store: &dyn ServerStore, username: &str) -> Result<SeedDevice> {
        let (user, _) = store
            .user_by_username(username)?
            .ok_or_else(|| Error::NotFound(username.into()))?;
        Ok(SeedDevice {
            user,
            actor: automerge::ActorId::random(),
            docs: vec![],
        })
    }

    fn file(&mut self, mut rec: AnyRecord) -> Result<String> {
        let at = chrono::Utc::now().timestamp_millis();
        rec.stamp_new(&self.user.id, at);
        rec.validate().map_err(model_err)?;
        let (doc, json, change) =
            edit::new_doc(&rec, self.actor.clone(), &self.user.id, at).map_err(model_err)?;
        let id = uuid::Uuid::now_v7().to_string();
        self.docs.push((
            id.clone(),
            doc,
            json,
            rec,
            vec![change.raw_bytes().to_vec()],
        ));
        Ok(id)
    }

    fn step(&mut self, id: &str, to: &str) -> Result<()> {
        let principal = Principal {
            user_id: self.user.id.clone().into(),
            role: self.user.role,
        };
        let at = chrono::Utc::now().timestamp_millis();
        let (_, doc, json, rec, changes) = self
            .docs
            .iter_mut()
            .find(|d| d.0 == id)
            .ok_or_else(|| Error::NotFound(id.into()))?;
        let mut next = rec.clone();
        edit::transition(
            &mut next,
            to,
            &principal,
            None,
            uuid::Uuid::now_v7().to_string(),
            at,
        )
        .map_err(model_err)?;
        let new_json = next.to_json().map_err(model_err)?;
        if let Some(c) =
            edit::edit_doc(doc, json, &new_json, &self.user.id, at).map_err(model_err)?
        {
            changes.push(c.raw_bytes().to_vec());
        }
        *json = new_json;
        *rec = next;
        Ok(())
    }

    /// Pushes everything this device filed, as this device, through the real sync path.
    fn push(self, store: &dyn ServerStore) -> Result<usize> {
        let (_, token_hash) = crate::auth::new_token();
        let expires = chrono::Utc::now() + chrono::Duration::minutes(5);
        let device_id = store.create_device(
            &self.user.id,
            "demo seed",
            &token_hash,
            expires,
            &[self.actor.to_hex_string()],
        )?;
        let auth = store
            .device_by_token(&token_hash)?
            .ok_or_else(|| Error::Other("demo device vanished".into()))?;
        let scope = store.scope(&self.user)?;
        let docs = self.docs.len();
        let req = SyncRequest {
            version: PROTOCOL_VERSION,
            cursor: None,
            push: self
                .docs
                .into_iter()
                .map(|(doc_id, _, _, _, changes)| PushDoc { doc_id, changes })
                .collect(),
            pull_limit: Some(1),
            directory: None,
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
    }
}

fn model_err(e: gridwork_model::Error) -> Error {
    Error::Other(format!("demo seed: {e}"))
}

/// Seeds a few demo records (reports, visits, households, tasks). Each demo user files them on a
/// throw-away device (see `SeedDevice`) whose changes pass the same checks as a real device's.
/// Returns how many records were pushed (0 when the data dir already has records).
pub fn seed_records(store: &dyn ServerStore) -> Result<usize> {
    let seeded_flag = store.pull(&crate::store::Scope::All, 0, None, 1, 1)?;
    if !seeded_flag.changes.is_empty() {
        return Ok(0);
    }
    let at = |lat: f64, lon: f64, addr: &str| {
        Some(Location {
            lat,
            lon,
            accuracy_m: 8.0,
            address: Some(addr.into()),
        })
    };
    let report = |grid: &str, category, severity, title: &str, description: &str, location| {
        AnyRecord::Report(Report {
            grid: grid.into(),
            category,
            severity,
            title: title.into(),
            description: description.into(),
            location,
            photos: vec![],
            status: ReportStatus::Draft,
            transitions: vec![],
            comments: vec![],
            author: UserId::default(),
            created_at: gridwork_model::Millis(0),
        })
    };

    let mut n = 0;
    let mut worker = SeedDevice::open(store, "worker")?;
    let lane = worker.file(report(
        "furong-01",
        ReportCategory::BlockedFireLane,
        3,
        "芙蓉街12号楼道堆放杂物",
        "三楼楼道堆放纸箱和旧家具，堵塞消防通道。",
        at(36.6653, 117.0205, "芙蓉街12号"),
    ))?;
    worker.step(&lane, ReportStatus::Submitted.as_str())?;
    worker.file(report(
        "furong-01",
        ReportCategory::RoadFacilityDamage,
        2,
        "曲水亭街路灯不亮",
        "曲水亭街东段两盏路灯夜间不亮。",
        at(36.6668, 117.0213, "曲水亭街"),
    ))?;
    let household = worker.file(AnyRecord::Household(Household {
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
        author: UserId::default(),
        created_at: gridwork_model::Millis(0),
    }))?;
    worker.file(AnyRecord::Visit(Visit {
        grid: "furong-01".into(),
        household_id: household.clone().into(),
        visit_type: VisitType::ElderlyCare,
        notes: "身体状况良好，需要帮助更换厨房燃气软管。".into(),
        needs: vec![Need {
            tag: NeedTag::Repair,
            note: "燃气软管老化".into(),
            resolved: false,
        }],
        follow_up_due: None,
        location: at(36.6653, 117.0205, "芙蓉街12号"),
        photos: vec![],
        visited_at: gridwork_model::Millis(0),
        author: UserId::default(),
        created_at: gridwork_model::Millis(0),
    }))?;
    n += worker.push(store)?;

    let mut worker2 = SeedDevice::open(store, "worker2")?;
    let bins = worker2.file(report(
        "baotu-01",
        ReportCategory::Sanitation,
        2,
        "趵突泉南门垃圾桶满溢",
        "南门东侧两个垃圾桶满溢，需要加密清运。",
        at(36.6601, 117.0145, "趵突泉南门"),
    ))?;
    worker2.step(&bins, ReportStatus::Submitted.as_str())?;
    n += worker2.push(store)?;

    let (w, _) = store
        .user_by_username("worker")?
        .ok_or_else(|| Error::NotFound("worker".into()))?;
    let mut leader = SeedDevice::open(store, "leader")?;
    leader.file(AnyRecord::Task(Task {
        grid: "furong-01".into(),
        title: "清理芙蓉街12号楼道杂物".into(),
        description: "联系物业和住户，三天内清理楼道，恢复消防通道。".into(),
        assignees: vec![w.id.into()],
        due: None,
        priority: Priority::High,
        linked_report: Some(lane.into()),
        linked_household: Some(household.into()),
        status: TaskStatus::Assigned,
        transitions: vec![],
        comments: vec![],
        author: UserId::default(),
        created_at: gridwork_model::Millis(0),
    }))?;
    n += leader.push(store)?;
    Ok(n)
}
