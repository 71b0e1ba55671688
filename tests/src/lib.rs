//! Harness for Gridwork's cross-crate tests: the real server process ([`server`]), a
//! fault-injecting proxy ([`proxy`]), and devices (core stores signed in through the sync client)
//! with helpers to compare what they hold.

pub mod attack;
pub mod console;
pub mod proxy;
pub mod server;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use gridwork_client::DeviceSync;
use gridwork_client::{SyncConfig, SyncReport};
use gridwork_model::doc::FieldConflict;
use gridwork_model::ReportCategory;
use gridwork_model::{AnyRecord, Result};
use gridwork_store::{ListQuery, NewReport, RecordSummary, Store};

pub use proxy::{FaultPlan, FaultProxy};
pub use server::Server;

/// Short timeouts and backoff, so tests that meet faults stay fast.
pub fn fast_sync() -> SyncConfig {
    SyncConfig {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(20),
        max_attempts: 3,
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..SyncConfig::default()
    }
}

/// A device: its own store file, signed in as one of the demo users.
pub struct Device {
    pub name: String,
    pub username: String,
    pub store: Store,
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Device {
    /// A new device signed in at `url` as the demo user `username` (password `demo-<username>`).
    pub fn sign_in(url: &str, username: &str) -> Device {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("device.db");
        let store = Store::open_device(&path).expect("open device");
        store
            .sign_in_with(
                &fast_sync(),
                url,
                username,
                &format!("demo-{username}"),
                &format!("{username}'s test phone"),
            )
            .unwrap_or_else(|e| panic!("sign in {username}: {e}"));
        Device {
            name: username.to_owned(),
            username: username.to_owned(),
            store,
            path,
            _dir: dir,
        }
    }

    pub fn user_id(&self) -> String {
        self.store.identity().user_id
    }

    pub fn grids(&self) -> Vec<String> {
        self.store.session().unwrap().unwrap().grids
    }

    /// One `sync()` with test timeouts.
    pub fn sync(&self) -> Result<SyncReport> {
        self.store.sync_with(&fast_sync(), &|_| {})
    }

    /// Sync, panicking on failure.
    pub fn sync_ok(&self) -> SyncReport {
        self.sync()
            .unwrap_or_else(|e| panic!("{} sync: {e}", self.name))
    }

    /// Close and reopen the store file (as after the app was killed).
    pub fn reopen(&mut self) {
        let fresh = Store::open_device(&self.path).expect("reopen");
        self.store = fresh;
    }

    /// A submitted report in `grid`.
    pub fn report(&self, grid: &str, title: &str) -> String {
        self.store
            .create_report(NewReport {
                grid: grid.into(),
                category: ReportCategory::FireHazard,
                severity: 2,
                title: title.into(),
                description: "楼道内电动车充电".into(),
                location: None,
                submit: true,
            })
            .unwrap_or_else(|e| panic!("{} report: {e}", self.name))
    }
}

/// Everything a device holds: each record with its list projection.
pub type Snapshot = BTreeMap<String, (AnyRecord, RecordSummary)>;

/// Every record on the device whose grid is in `grids` (all when `None`), with its projection.
pub fn snapshot(store: &Store, grids: Option<&[String]>) -> Snapshot {
    let mut out = BTreeMap::new();
    let mut q = ListQuery {
        limit: Some(500),
        ..Default::default()
    };
    loop {
        let page = store.list(&q).expect("list");
        for s in page.items {
            if grids.is_some_and(|g| !g.contains(&s.grid)) {
                continue;
            }
            let rec = store.get(&s.id).expect("get").record;
            out.insert(s.id.clone(), (rec, s));
        }
        match page.next {
            Some(t) => q.page_token = Some(t),
            None => return out,
        }
    }
}

/// Conflicts of every record in the snapshot, by id.
pub fn conflicts_of(store: &Store, snap: &Snapshot) -> BTreeMap<String, Vec<FieldConflict>> {
    snap.keys()
        .map(|id| (id.clone(), store.conflicts(id).expect("conflicts")))
        .collect()
}

/// Panics with the first difference between two snapshots.
pub fn assert_same(a_name: &str, a: &Snapshot, b_name: &str, b: &Snapshot) {
    let ak: Vec<_> = a.keys().collect();
    let bk: Vec<_> = b.keys().collect();
    assert_eq!(ak, bk, "{a_name} and {b_name} hold different record ids");
    for (id, (ra, sa)) in a {
        let (rb, sb) = &b[id];
        assert_eq!(ra, rb, "record {id} differs between {a_name} and {b_name}");
        assert_eq!(
            sa, sb,
            "list projection of {id} differs between {a_name} and {b_name}"
        );
    }
}
