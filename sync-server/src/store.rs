//! The storage interface. SQLite implements it now ([`crate::sqlite`]); PostgreSQL can follow.
//!
//! Everything here is blocking; the HTTP layer calls it through `tokio::task::spawn_blocking`.
//! Validation of pushed changes (the authorization rules) lives in [`crate::sync`], not in the
//! store: a store only loads a document's state and persists what the validator decided, all
//! inside one transaction per request.

use chrono::{DateTime, Utc};
use gridwork_model::Role;

use std::sync::Arc;

use gridwork_model::directory::Boundary;

use crate::directory::OrgSnapshot;
use crate::error::Result;
use crate::records::{AccessEntry, Dashboard, DashboardAt, RecordQuery, RecordRow};

/// Level of an organisation unit: district → street → community → grid (the model's type).
pub use gridwork_model::directory::UnitKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub id: String,
    pub kind: UnitKind,
    /// Must be set, and of [`UnitKind::parent_kind`], for every kind but district. A street may
    /// also be created without a district when the organisation starts at street level.
    pub parent_id: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// The units the user is attached to; their scope is every grid under them (admins: all).
    pub units: Vec<String>,
    pub disabled: bool,
}

/// An admin's change to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    /// Replaces every unit the user is attached to.
    pub units: Option<Vec<String>>,
    /// `Some(None)` removes the phone.
    pub phone: Option<Option<String>>,
    /// Whether devices in the user's directory may see the phone.
    pub phone_shared: Option<bool>,
    /// A disabled user cannot sign in and leaves every directory.
    pub disabled: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub units: Vec<String>,
}

/// What a valid bearer token stands for.
#[derive(Debug, Clone)]
pub struct DeviceAuth {
    pub device_id: String,
    pub user: User,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
    /// Automerge actor ids (hex) registered by this device.
    pub actors: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub device_id: String,
    pub username: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub actors: Vec<String>,
}

/// Which grids a read covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Grids(Vec<String>),
}

impl Scope {
    pub fn contains(&self, grid: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Grids(g) => g.iter().any(|x| x == grid),
        }
    }
}

/// The server's copy of a document as the store holds it.
#[derive(Debug, Clone)]
pub struct StoredDoc {
    /// `Automerge::save()` output holding every stored change of the document. Empty when
    /// `loaded` is given.
    pub snapshot: Vec<u8>,
    pub grid: String,
    /// The document already loaded, with its typed record (a store's in-memory cache of the
    /// state it holds), sparing the validator a load and a hydrate.
    pub loaded: Option<std::sync::Arc<LoadedDoc>>,
}

/// A loaded document with the typed record it holds and its shape: exactly what the gate
/// ([`gridwork_protocol::gate`]) admitted.
pub type LoadedDoc = gridwork_protocol::gate::Admitted;

/// What the validator decided to persist for one document.
#[derive(Debug, Clone)]
pub struct DocUpdate {
    /// Newly accepted changes: (hash hex, raw bytes), in causal order.
    pub new_changes: Vec<(String, Vec<u8>)>,
    /// The document with those changes applied.
    pub snapshot: Vec<u8>,
    pub grid: String,
    /// Record kind (`report`, `visit`, …), kept for admin listings.
    pub kind: String,
    /// Photo blob hashes (full images and thumbnails) the record references after the update.
    pub blob_refs: Vec<String>,
    /// The document after the update, for a store that caches loaded documents.
    pub loaded: Option<std::sync::Arc<LoadedDoc>>,
}

/// What one device pushed on one UTC day (quotas).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceUsage {
    pub new_docs: u64,
    pub changes: u64,
    pub bytes: u64,
}

/// A document an administrator set aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedDoc {
    pub doc_id: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
    /// Kind and grid of the server's copy (`None` if it is gone).
    pub kind: Option<String>,
    pub grid: Option<String>,
    /// Changes the server holds for it (kept while quarantined).
    pub changes: u64,
}

/// One page of pulled changes.
#[derive(Debug, Clone, Default)]
pub struct PullPage {
    /// (seq, doc id, change bytes), by seq.
    pub changes: Vec<(u64, String, Vec<u8>)>,
    /// The position to resume from: every change with seq ≤ this that is in scope has been
    /// returned (or excluded as the device's own).
    pub position: u64,
    pub more: bool,
}

/// What [`ServerStore::push`] asks for each document: the update to persist, given the server's
/// copy (`None`: a new document).
pub type Decide<'a> = dyn FnMut(&str, Option<StoredDoc>) -> Result<Option<DocUpdate>> + 'a;

pub trait ServerStore: Send + Sync + 'static {
    // --- organisation -----------------------------------------------------------------------
    /// Inserts or renames a unit. Checks that the parent exists and is of the right kind.
    fn upsert_unit(&self, unit: &Unit) -> Result<()>;
    fn list_units(&self) -> Result<Vec<Unit>>;
    /// Sets or removes a grid's boundary (checked by the caller).
    fn set_boundary(&self, unit_id: &str, boundary: Option<&Boundary>) -> Result<()>;
    /// Changes a user (admin). Fails if the user or a unit is unknown.
    fn update_user(&self, username: &str, update: &UserUpdate) -> Result<User>;
    /// The directory version: moves with every change of a unit, a user or an attachment.
    /// Called once per sync: must take microseconds.
    fn dir_version(&self) -> Result<u64>;
    /// The organisation at the current directory version, indexed (a store caches it per
    /// version).
    fn org_snapshot(&self) -> Result<Arc<OrgSnapshot>>;
    /// Creates a user. Fails if the username exists or a unit is unknown.
    fn create_user(&self, user: &NewUser, password_hash: &str) -> Result<User>;
    fn set_password(&self, username: &str, password_hash: &str) -> Result<()>;
    /// The user and their password hash.
    fn user_by_username(&self, username: &str) -> Result<Option<(User, String)>>;
    fn list_users(&self) -> Result<Vec<User>>;
    fn user_count(&self) -> Result<u64>;
    /// The grids the user may read and write.
    fn scope(&self, user: &User) -> Result<Scope>;
    /// Grid ids a [`Scope`] covers, for the sign-in answer (all grids for `Scope::All`).
    fn scope_grid_ids(&self, scope: &Scope) -> Result<Vec<String>>;

    // --- devices ----------------------------------------------------------------------------
    /// Registers a signed-in device with its token hash and actor ids. An actor id already
    /// registered to a device of another user is refused ([`crate::error::Error::Forbidden`]);
    /// one registered to an earlier device of the same user moves to the new device.
    fn create_device(
        &self,
        user_id: &str,
        name: &str,
        token_hash: &[u8; 32],
        expires_at: DateTime<Utc>,
        actors: &[String],
    ) -> Result<String>;
    fn device_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<DeviceAuth>>;
    /// [`ServerStore::device_by_token`] and the user's [`ServerStore::scope`] in one call; a
    /// store may cache the answer (see [`ServerStore::cached_auth`]).
    fn auth(&self, token_hash: &[u8; 32]) -> Result<Option<(DeviceAuth, Scope)>> {
        let Some(device) = self.device_by_token(token_hash)? else {
            return Ok(None);
        };
        let scope = self.scope(&device.user)?;
        Ok(Some((device, scope)))
    }
    /// A cached answer of [`ServerStore::auth`] that is still exact: nothing that could change
    /// it (devices, users, units, actors) was written since it was cached. `None`: ask `auth`.
    /// Called on async threads: must take microseconds, never wait for the writer.
    fn cached_auth(&self, _token_hash: &[u8; 32]) -> Option<(DeviceAuth, Scope)> {
        None
    }
    fn touch_device(&self, device_id: &str) -> Result<()>;
    /// Revokes one device. Returns whether it existed.
    fn revoke_device(&self, device_id: &str) -> Result<bool>;
    /// Revokes every device of a user. Returns how many were revoked.
    fn revoke_user_devices(&self, username: &str) -> Result<usize>;
    fn list_devices(&self, username: Option<&str>) -> Result<Vec<DeviceInfo>>;

    // --- change log ---------------------------------------------------------------------------
    /// Runs one push in one write transaction. For each document id in `doc_ids`, calls
    /// `decide(doc_id, stored)` with the server's copy (or `None` for a new document), and
    /// persists the returned update: each new change stored once by (doc id, hash) with the next
    /// sequence number, and the new snapshot. An `Err` from `decide` rolls everything back.
    fn push(&self, device_id: &str, doc_ids: &[String], decide: &mut Decide<'_>) -> Result<()>;

    /// From now on, [`ServerStore::push`] calls made by this thread return once committed,
    /// without waiting until the commit is durable; the caller must then call
    /// [`ServerStore::finish_deferred_pushes`] on this thread before it answers anyone. Lets the
    /// HTTP layer give back its sync slot while the disk syncs (the wait is I/O, not work).
    /// The default does nothing (every push waits itself).
    fn defer_push_durability(&self) {}

    /// Waits until every push this thread made since [`ServerStore::defer_push_durability`] is
    /// durable, and ends the deferral. An `Err`: durability is unknown, answer with an error.
    fn finish_deferred_pushes(&self) -> Result<()> {
        Ok(())
    }

    /// The server's copy of a document as committed now, outside any transaction, for deciding a
    /// push before taking the write lock ([`ServerStore::push`] hands the copy again under the
    /// lock; a decision made on a copy that changed meanwhile is made again). The default
    /// (`None`) is always safe, only slower.
    fn peek_doc(&self, _doc_id: &str) -> Result<Option<StoredDoc>> {
        Ok(None)
    }

    /// Changes with seq > `after`, in `scope`, by seq, at most `limit` changes and about
    /// `max_bytes` bytes (at least one change is returned if any is due), leaving out changes
    /// first pushed by `exclude_device`.
    fn pull(
        &self,
        scope: &Scope,
        after: u64,
        exclude_device: Option<&str>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<PullPage>;

    // --- photo blobs ----------------------------------------------------------------------------
    /// Grids of the records a reader may fetch blob `hash` through: records it was uploaded for
    /// (bytes verified, [`ServerStore::record_blob_upload`]) that still reference it and are not
    /// quarantined. A reader whose scope holds none of them gets `404`.
    fn blob_read_grids(&self, hash: &str) -> Result<Vec<String>>;
    /// The grid of document `doc_id` if it exists, is not quarantined and currently references
    /// blob `hash` (photo or thumbnail); `None` otherwise.
    fn blob_ref_grid(&self, hash: &str, doc_id: &str) -> Result<Option<String>>;
    /// Whether `hash` was uploaded (and verified) for `doc_id`.
    fn blob_uploaded_for(&self, hash: &str, doc_id: &str) -> Result<bool>;
    /// Records that the server holds the verified bytes of `hash`, uploaded for `doc_id` by
    /// `device_id`.
    fn record_blob_upload(&self, hash: &str, doc_id: &str, device_id: &str) -> Result<()>;

    // --- quotas and admin quarantine ------------------------------------------------------------
    /// What `device_id` has pushed today (UTC day): new documents, accepted changes, their bytes.
    /// A store counts every accepted change of [`ServerStore::push`] here, in the same
    /// transaction.
    fn usage_today(&self, _device_id: &str) -> Result<DeviceUsage> {
        Ok(DeviceUsage::default())
    }
    /// Whether an administrator set the document aside (`admin quarantine-doc`): its changes are
    /// left out of every pull and pushes to it are refused.
    fn doc_quarantined(&self, _doc_id: &str) -> Result<bool> {
        Ok(false)
    }
    /// Sets a document aside (`admin quarantine-doc`). `Ok(false)`: it already was.
    /// [`crate::error::Error::NotFound`] for a document the server does not have.
    fn quarantine_doc(&self, doc_id: &str, reason: Option<&str>) -> Result<bool>;
    fn list_quarantined_docs(&self) -> Result<Vec<QuarantinedDoc>>;
    /// Lifts a quarantine (`admin restore-doc`) and gives the document's changes new sequence
    /// numbers above every existing one, so devices pull them again. Returns how many changes
    /// were re-sequenced; [`crate::error::Error::NotFound`] if the document is not quarantined.
    fn restore_doc(&self, doc_id: &str) -> Result<u64>;

    /// Cheap liveness check of the database.
    fn health(&self) -> Result<()>;

    // --- the web console's reads (lists without loading documents) -------------------------
    /// A page of records in `scope` ([`crate::records`]), without documents set aside.
    fn list_records(&self, scope: &Scope, q: &RecordQuery) -> Result<Vec<RecordRow>>;
    /// The list row of one document, whatever its scope (the caller checks the grid).
    fn record_row(&self, doc_id: &str) -> Result<Option<RecordRow>>;
    /// The dashboard's counts over `scope`.
    fn dashboard(&self, scope: &Scope, at: &DashboardAt) -> Result<Dashboard>;
    /// Notes that someone was shown personal data in full (and why).
    fn log_access(&self, entry: &AccessEntry) -> Result<()>;
    /// The newest `limit` entries of the access log, newest first.
    fn access_log(&self, limit: usize) -> Result<Vec<AccessEntry>>;
}
