//! Gridwork for Kotlin, Swift and Python, through UniFFI (proc-macros, library mode).
//!
//! Thin on purpose: every method converts its arguments, forwards to `gridwork_store::Store` and
//! converts the answer back. Layout: `lib.rs` the store object and observers, `types.rs` the
//! records and enums that cross, `error.rs` the one public error and its one mapping.
//!
//! Ids: an argument named `id` is a `RecordId` (a string to the apps) and is checked when UniFFI
//! lifts it; `record_id` arguments and the links of a new task are checked in the method. Either
//! way a malformed id is `InvalidInput` naming the field, never an internal error.
//!
//! Threads: `GridworkStore` is `Send + Sync` and may be called from any thread. Writes serialize
//! in core; lists, searches and counts use core's second connection and do not wait for writes;
//! `sync()` holds no lock during network I/O. Every call blocks: call it off the main thread
//! (Kotlin `Dispatchers.IO`, Swift a background task).
//!
//! Panics: UniFFI catches a panic in any exported call and raises it as its internal error
//! (Kotlin `InternalException`, Swift `UniffiInternalError.rustPanic`, Python `InternalError`);
//! the process goes on (the foreign tests prove it with the `test-hooks` feature). Core catches
//! panics of observers.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::layers as core;
use gridwork_client::DeviceSync;

mod error;
/// The layers the bindings forward to, under one name (`core::` in this crate).
mod layers {
    pub use gridwork_client::*;
    pub use gridwork_model::*;
    pub use gridwork_photo as photo;
    pub use gridwork_store::*;
}
mod types;

pub use error::{GridworkError, Result};
pub use types::*;

uniffi::setup_scaffolding!("gridwork");

/// Told which records changed after every committed write, local or pulled.
///
/// Called on the thread that made the change (for pulled changes, the syncing thread), after the
/// change is on disk: post to the UI thread before touching views. It may call the store.
#[uniffi::export(with_foreign)]
pub trait ChangeObserver: Send + Sync {
    /// `remote`: the changes came from another device (sync or import).
    fn on_change(&self, ids: Vec<String>, remote: bool);
}

/// Told how a running `sync()` progresses (on the syncing thread).
#[uniffi::export(with_foreign)]
pub trait SyncProgressObserver: Send + Sync {
    fn on_progress(&self, progress: SyncProgress);
}

/// Keeps a `ChangeObserver` subscribed. Destroying it (Kotlin `close()`, Swift deinit, Python
/// garbage collection) or calling `cancel()` unsubscribes.
#[derive(uniffi::Object)]
pub struct SubscriptionHandle {
    inner: Mutex<Option<core::Subscription>>,
}

#[uniffi::export]
impl SubscriptionHandle {
    /// Unsubscribe now. Calling it twice is harmless.
    pub fn cancel(&self) {
        let sub = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(sub);
    }
}

/// The device store (one SQLite file). Share one instance between all threads of the app.
#[derive(uniffi::Object)]
pub struct GridworkStore {
    store: core::Store,
}

fn options(key: Option<&[u8]>) -> Result<gridwork_store::StoreOptions> {
    Ok(gridwork_store::StoreOptions {
        key: key.map(gridwork_store::DbKey::from_bytes).transpose()?,
        ..Default::default()
    })
}

/// A new random 32-byte store key (the operating system's generator), for the platform's
/// keystore to keep.
#[uniffi::export]
pub fn new_store_key() -> Vec<u8> {
    gridwork_store::DbKey::random().as_bytes().to_vec()
}

/// Re-encrypts the (closed) store at `path` from `old_key` to `new_key`, crash-safely. A wrong
/// `old_key` is `GridworkError.WrongKey` and changes nothing.
#[uniffi::export]
pub fn rekey_store(path: String, old_key: Vec<u8>, new_key: Vec<u8>) -> Result<()> {
    let old = gridwork_store::DbKey::from_bytes(&old_key)?;
    let new = gridwork_store::DbKey::from_bytes(&new_key)?;
    Ok(gridwork_store::crypt::rekey(
        std::path::Path::new(&path),
        &old,
        &new,
    )?)
}

#[uniffi::export]
impl GridworkStore {
    /// Open (or create) the store at `path` (a file in the app's private storage) for a user.
    /// `grids`: the grids the user may write, if known on the device. `key`: the store's 32-byte
    /// key (see [`GridworkStore::open_device`]); without one the file is plain SQLite (tests,
    /// tools).
    #[uniffi::constructor(default(grids = None, key = None))]
    pub fn open(
        path: String,
        user_id: String,
        role: Role,
        grids: Option<Vec<String>>,
        key: Option<Vec<u8>>,
    ) -> Result<Arc<Self>> {
        let store = core::Store::open_with(
            PathBuf::from(path),
            Identity {
                user_id,
                role,
                grids,
            },
            options(key.as_deref())?,
        )?;
        Ok(Arc::new(GridworkStore { store }))
    }

    /// Open the store at `path` for whoever signed in last on it (the saved session), or, when
    /// nobody is signed in, for a placeholder user that can read but not write. What an app calls
    /// at start. `key`: the store's 32-byte key, made once with [`new_store_key`] and kept by
    /// the platform (Android: wrapped with a Keystore key; iOS: in the Keychain, this device
    /// only). A plain store from an earlier version is encrypted in place on the first open with
    /// a key (crash-safe). A key that does not open the store is `GridworkError.WrongKey`, and
    /// nothing is changed.
    #[uniffi::constructor]
    pub fn open_device(path: String, key: Vec<u8>) -> Result<Arc<Self>> {
        let store = core::Store::open_device_with(PathBuf::from(path), options(Some(&key))?)?;
        Ok(Arc::new(GridworkStore { store }))
    }

    /// Who is acting on this store.
    pub fn identity(&self) -> Identity {
        self.store.identity()
    }

    /// This device's id in change history (registered with the server at sign-in).
    pub fn device_id(&self) -> String {
        self.store.actor_id()
    }

    /// The database file this store was opened at.
    pub fn path(&self) -> String {
        self.store.path().to_string_lossy().into_owned()
    }

    // ------------------------------------------------------------ observers

    /// Subscribe to changes; keep the handle as long as the observer should be called.
    pub fn subscribe(&self, observer: Arc<dyn ChangeObserver>) -> Arc<SubscriptionHandle> {
        let sub = self.store.subscribe(move |ev: &core::ChangeEvent| {
            observer.on_change(ev.ids.clone(), ev.source == core::ChangeSource::Remote);
        });
        Arc::new(SubscriptionHandle {
            inner: Mutex::new(Some(sub)),
        })
    }

    // ------------------------------------------------------------ the team directory

    /// Everyone this device knows, from the last sync (works offline): people in scope first,
    /// then those who left it (kept by name, `in_scope = false`).
    pub fn directory(&self) -> Result<Vec<Person>> {
        Ok(self.store.directory()?)
    }

    /// The person behind a user id (`None`: never seen on this device; show the id).
    pub fn person(&self, id: String) -> Result<Option<Person>> {
        Ok(self.store.person(&id)?)
    }

    /// How to show a user id: "刘洋 (supervisor)", or the id itself when unknown.
    pub fn label(&self, id: String) -> Result<String> {
        Ok(self.store.label(&id)?)
    }

    /// The units of the user's scope, parents before children (grids with their boundaries).
    pub fn units(&self) -> Result<Vec<DirUnit>> {
        Ok(self.store.units()?)
    }

    /// Who a task in `grid` can be given to: its workers, then its community's leaders.
    pub fn assignable(&self, grid: String) -> Result<Vec<Person>> {
        Ok(self.store.assignable(&grid)?)
    }

    /// One person in scope by user id, username or exact display name; `InvalidInput` naming
    /// `to` when nobody or several people match.
    pub fn find_person(&self, query: String) -> Result<Person> {
        Ok(self.store.find_person("to", &query)?)
    }

    /// Which of the user's grids the point lies in (offline, from the synced boundaries).
    pub fn grid_at(&self, lat: f64, lon: f64) -> Result<GridAt> {
        Ok(self.store.grid_at(lat, lon)?)
    }

    // ------------------------------------------------------------ writes

    /// Create a patrol report (a draft unless `submit`); returns its id.
    pub fn create_report(&self, report: NewReport) -> Result<String> {
        Ok(self.store.create_report(report)?)
    }

    pub fn create_visit(&self, visit: NewVisit) -> Result<String> {
        Ok(self.store.create_visit(visit.into())?)
    }

    pub fn create_household(&self, household: NewHousehold) -> Result<String> {
        Ok(self.store.create_household(household)?)
    }

    /// Assign a task (leaders and supervisors).
    pub fn create_task(&self, task: NewTask) -> Result<String> {
        // The record's own check covers grid and assignees; the links are checked here.
        for (field, link) in [
            ("linked_report", &task.linked_report),
            ("linked_household", &task.linked_household),
        ] {
            if let Some(link) = link {
                core::check_id(field, link)?;
            }
        }
        Ok(self.store.create_task(task)?)
    }

    pub fn update_report(&self, id: RecordId, patch: ReportPatch) -> Result<()> {
        Ok(self.store.update_report(&id, patch.into())?)
    }

    pub fn update_visit(&self, id: RecordId, patch: VisitPatch) -> Result<()> {
        Ok(self.store.update_visit(&id, patch.into())?)
    }

    pub fn update_household(&self, id: RecordId, patch: HouseholdPatch) -> Result<()> {
        Ok(self.store.update_household(&id, patch)?)
    }

    pub fn update_task(&self, id: RecordId, patch: TaskPatch) -> Result<()> {
        Ok(self.store.update_task(&id, patch.into())?)
    }

    /// Move a report along its workflow (submit, return with a comment, approve, resolve, close).
    #[uniffi::method(default(comment = None))]
    pub fn transition_report(
        &self,
        id: RecordId,
        to: ReportStatus,
        comment: Option<String>,
    ) -> Result<()> {
        Ok(self.store.transition(&id, to.as_str(), comment)?)
    }

    /// Move a task along its workflow (accept, start, finish, verify, cancel).
    #[uniffi::method(default(comment = None))]
    pub fn transition_task(
        &self,
        id: RecordId,
        to: TaskStatus,
        comment: Option<String>,
    ) -> Result<()> {
        Ok(self.store.transition(&id, to.as_str(), comment)?)
    }

    /// Comment on a report or task.
    pub fn add_comment(&self, id: RecordId, text: String) -> Result<()> {
        Ok(self.store.add_comment(&id, &text)?)
    }

    // ------------------------------------------------------------ reads

    pub fn get(&self, id: RecordId) -> Result<StoredRecord> {
        Ok(self.store.get_masked(&id)?.into())
    }

    /// The record in full (residents' ID numbers and phones unmasked), for someone who says why:
    /// `reason` (4 to 500 characters) is written to the access log with who, when and which
    /// record before the record is returned, and goes to the server at the next sync, where
    /// admins read it. `get` is the masked view every screen should use.
    pub fn get_full(&self, id: RecordId, reason: String) -> Result<StoredRecord> {
        Ok(self.store.reveal(&id, &reason)?.into())
    }

    /// This device's access log (records shown in full, and why), newest first.
    #[uniffi::method(default(limit = 100))]
    pub fn access_log(&self, limit: u32) -> Result<Vec<AccessEntry>> {
        Ok(self.store.access_log(limit)?)
    }

    /// A page of records, newest first.
    pub fn list(&self, query: ListQuery) -> Result<Page> {
        Ok(self.store.list(&query.into())?.into())
    }

    /// Substring search (Chinese included) over titles and texts, newest first.
    #[uniffi::method(default(kind = None, limit = 50))]
    pub fn search(
        &self,
        text: String,
        kind: Option<RecordKind>,
        limit: u32,
    ) -> Result<Vec<RecordSummary>> {
        Ok(self
            .store
            .search(&text, kind, limit)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Who changed which fields when, from which device; oldest first.
    pub fn history(&self, id: RecordId) -> Result<Vec<HistoryEntry>> {
        Ok(self.store.history(&id)?)
    }

    /// Fields two people set concurrently; the kept value first.
    pub fn conflicts(&self, id: RecordId) -> Result<Vec<FieldConflict>> {
        Ok(self
            .store
            .conflicts(&id)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Local changes not yet acknowledged by the server.
    pub fn pending_count(&self) -> Result<u64> {
        Ok(self.store.pending_count()?)
    }

    /// Changes the server refused, with the reason; they stay on the device.
    pub fn quarantine(&self) -> Result<Vec<QuarantinedChange>> {
        Ok(self.store.quarantine()?)
    }

    /// Give up the server-refused changes of a record (`QuarantinedChange.doc_id`) and the
    /// local edits made on top of them; the record goes back to what the server accepted. Only
    /// on the user's explicit choice: the refused changes stay in the file, marked discarded.
    /// Returns how many changes were discarded (0 when the record had none in quarantine).
    pub fn discard_quarantined(&self, record_id: String) -> Result<u64> {
        let record_id = types::record_id("record_id", record_id)?;
        Ok(self.store.discard_quarantined(&record_id)? as u64)
    }

    /// Documents a sync pulled but did not store (hostile or broken ones); the rest of every
    /// sync went on. Empty on a healthy device.
    pub fn set_aside(&self) -> Result<Vec<SetAsideDoc>> {
        Ok(self.store.set_aside()?)
    }

    /// The last time the server held changes back because this device's quota was reached
    /// (`held` > 0: changes still wait for a later sync), if ever.
    pub fn quota_hold(&self) -> Result<Option<QuotaHold>> {
        Ok(self.store.quota_hold()?)
    }

    /// When the last sync round trip was applied.
    pub fn last_sync_at(&self) -> Result<Option<std::time::SystemTime>> {
        Ok(self.store.last_sync_at()?.map(types::time))
    }

    // ------------------------------------------------------------ photos

    /// Attach a photo (JPEG, PNG or WebP bytes as taken) to a report or visit. It is checked,
    /// turned upright, resized, stripped of metadata (GPS stays in the record) and stored with a
    /// thumbnail; the reference is added to the record. Bad images raise `InvalidInput` (field
    /// `photo`), oversized ones `TooLarge`.
    #[uniffi::method(default(caption = None, taken_at = None))]
    pub fn add_photo(
        &self,
        record_id: String,
        bytes: Vec<u8>,
        caption: Option<String>,
        taken_at: Option<std::time::SystemTime>,
    ) -> Result<PhotoRef> {
        let record_id = types::record_id("record_id", record_id)?;
        let opts = core::photo::PhotoOptions::default();
        Ok(self.store.add_photo_with(
            &record_id,
            &bytes,
            caption,
            taken_at.map(types::millis),
            &opts,
        )?)
    }

    /// Remove a photo from a record (a synced edit).
    pub fn remove_photo(&self, record_id: String, hash: String) -> Result<()> {
        let record_id = types::record_id("record_id", record_id)?;
        Ok(self.store.remove_photo(&record_id, &hash)?)
    }

    /// The JPEG bytes of a photo or thumbnail (`PhotoRef.hash` or `thumb_hash`). `NotFound` when
    /// it is not on this device yet.
    pub fn photo_bytes(&self, hash: String) -> Result<Vec<u8>> {
        Ok(self.store.photo_bytes(&hash)?)
    }

    /// The JPEG bytes of a photo or thumbnail, from this device or, when it is not here yet (a
    /// full photo someone else took: syncs bring thumbnails only), from the server, and then
    /// keeps it on the device. `NotFound` when neither has it, `Unauthorized` when it must come
    /// from the server and nobody is signed in, a retryable `Network` error when the server
    /// cannot be reached.
    pub fn fetch_photo(&self, hash: String) -> Result<Vec<u8>> {
        Ok(self.store.fetch_photo(&hash)?)
    }

    // ------------------------------------------------------------ server

    /// Sign in at `server_url`, registering this device; the user becomes the store's identity
    /// and the session is saved in the store.
    pub fn sign_in(
        &self,
        server_url: String,
        username: String,
        password: String,
        device_name: String,
    ) -> Result<Session> {
        Ok(self
            .store
            .sign_in(&server_url, &username, &password, &device_name)?)
    }

    /// Sign out. Refuses (`InvalidInput`, field `sign_out`) while changes are unsynced, unless
    /// `force`; forced, they stay on the device for the next sign-in of the same user.
    #[uniffi::method(default(force = false))]
    pub fn sign_out(&self, force: bool) -> Result<()> {
        Ok(self.store.sign_out(force)?)
    }

    /// The saved session, if someone is signed in (check `expires_at`).
    pub fn session(&self) -> Result<Option<Session>> {
        Ok(self.store.session()?)
    }

    /// Push local changes and pull everything new in scope. Blocks for the length of the network
    /// exchange (call it from a background thread or worker); other calls go on meanwhile.
    /// Fails with a retryable `Network` error when the server cannot be reached: nothing is lost.
    #[uniffi::method(default(progress = None))]
    pub fn sync(&self, progress: Option<Arc<dyn SyncProgressObserver>>) -> Result<SyncReport> {
        Ok(self.store.sync(&|p: &core::SyncProgress| {
            if let Some(o) = &progress {
                o.on_progress(p.clone());
            }
        })?)
    }

    // ------------------------------------------------------------ merge without a server

    /// Everything changed since `since` (0 for all, else `next_since` of an earlier export).
    #[uniffi::method(default(since = 0))]
    pub fn export_changes(&self, since: i64) -> Result<ExportedChanges> {
        let (bytes, next_since) = self.store.export_changes(since)?;
        Ok(ExportedChanges { bytes, next_since })
    }

    /// Merge another store's export, all or nothing; returns the ids that changed.
    pub fn import_changes(&self, bytes: Vec<u8>) -> Result<Vec<String>> {
        Ok(self.store.import_changes(&bytes)?)
    }

    // ------------------------------------------------------------ maintenance

    /// Fold incremental changes into snapshots; returns how many records were folded.
    pub fn compact(&self) -> Result<u64> {
        Ok(self.store.compact()? as u64)
    }

    /// `true` when the database file passes SQLite's integrity check.
    pub fn integrity_check(&self) -> Result<bool> {
        Ok(self.store.integrity_check()?)
    }
}

/// Test hook (feature `test-hooks`, never in app builds): panics inside an exported call, so the
/// foreign tests can prove a panic surfaces as an exception and the process goes on.
#[cfg(feature = "test-hooks")]
#[uniffi::export]
pub fn debug_panic(message: String) -> Result<()> {
    panic!("{message}")
}
