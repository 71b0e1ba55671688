//! The records and enums that cross the boundary, and the few conversions left.
//!
//! - **Core's own types, as they are.** Enums, and records whose fields all cross as they are,
//!   are declared `#[uniffi::remote(...)]`: no copy, no conversion. That includes the store's
//!   input forms `NewReport`, `NewHousehold`, `NewTask` and `HouseholdPatch`.
//! - **Ids** (`RecordId`, `UserId`, `GridId`) are custom types that cross as strings (Kotlin and
//!   Swift see type aliases of `String`). Lifting one checks it with `parse`; a failed lift of an
//!   argument of a call that returns `Result<_, GridworkError>` reaches the app as
//!   `InvalidInput` (UniFFI downcasts the lift error to the call's error type).
//! - **Times**: core's `Millis` is a custom type that crosses as a timestamp (Kotlin
//!   `java.time.Instant`, Swift `Date`, Python `datetime`). So the records themselves cross as
//!   core has them: `Transition`, `Comment`, `PhotoRef`, `Report`, `Visit`, `Household`, `Task`.
//! - **Mirrors, only where the app's shape is not core's:**
//!   - *the record envelope*: `AnyRecord` (named variants, as apps switch on them),
//!     `StoredRecord` (adds `kind`), `RecordSummary` (splits core's one list-index `category`
//!     column into each kind's typed field), `Page` and `FieldConflict` (they hold those);
//!   - *inputs with times or typed filters as apps pass them*: `NewVisit` (`visited_at` as
//!     `SystemTime`, optional), `ListQuery`.
//!     Output mirrors are declared with `mirror!`: struct and `From` from one field list, the
//!     `From` destructuring core's struct so a field added in core fails the build until
//!     mirrored. The sync bookkeeping (`HistoryEntry`, `QuarantinedChange`, `SetAsideDoc`,
//!     `QuotaHold`, `Session`) crosses as core's types, field names included.
//!   - *patches*: `ReportPatch`, `VisitPatch`, `TaskPatch` use `clear_*` flags where core has
//!     `Option<Option<_>>`, which Kotlin and Swift cannot tell apart from `Option<_>`.
//!   - `ConflictValue` carries the JSON value as text (core keeps a `serde_json::Value`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::GridworkError;
use crate::layers as core;
pub use gridwork_client::{Session, SyncPhase, SyncProgress, SyncReport};
pub use gridwork_model::{Comment, Household, PhotoRef, Report, Task, Transition, Visit};
pub use gridwork_model::{GridId, Millis, RecordId, UserId};
pub use gridwork_model::{Location, Member, Need};
pub use gridwork_model::{
    MemberTag, NeedTag, Priority, RecordKind, ReportCategory, ReportStatus, Role, TaskStatus,
    VisitType,
};
pub use gridwork_protocol::wire::RejectCode;
pub use gridwork_store::{AccessEntry, QuarantinedChange, QuotaHold, SetAsideDoc};
pub use gridwork_store::{
    HistoryEntry, HouseholdPatch, Identity, NewHousehold, NewReport, NewTask,
};

// ------------------------------------------------------------------ time

pub(crate) fn time(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

pub(crate) fn millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |m| -m),
    }
}

// Core's times cross as timestamps: Kotlin `java.time.Instant`, Swift `Date`, Python
// `datetime` (milliseconds since the epoch, UTC, on both sides).
uniffi::custom_type!(Millis, SystemTime, {
    remote,
    lower: |m| time(m.get()),
    try_lift: |t| Ok(Millis(millis(t))),
});

// ------------------------------------------------------------------ ids

/// A failed id check as the lift error UniFFI hands back to the call: it downcasts it to the
/// call's `GridworkError`, so the app gets `InvalidInput` naming the field, not an internal error.
fn lifted<T>(r: core::Result<T>) -> uniffi::Result<T> {
    Ok(r.map_err(GridworkError::from)?)
}

uniffi::custom_type!(RecordId, String, {
    remote,
    lower: |id| id.into_string(),
    try_lift: |s| lifted(RecordId::parse(s)),
});

uniffi::custom_type!(UserId, String, {
    remote,
    lower: |id| id.into_string(),
    try_lift: |s| lifted(UserId::parse(s)),
});

uniffi::custom_type!(GridId, String, {
    remote,
    lower: |id| id.into_string(),
    try_lift: |s| lifted(GridId::parse(s)),
});

/// Checks an id argument that is not named `id` (a `RecordId` argument would name `id`).
pub(crate) fn record_id(field: &str, s: String) -> crate::Result<RecordId> {
    core::check_id(field, &s)?;
    Ok(RecordId::from(s))
}

// ------------------------------------------------------------------ the team directory (core's own)

pub use gridwork_model::directory::{Boundary, DirUnit, GridAt, Person, Point, Polygon, UnitKind};

/// Level of an organisation unit.
#[uniffi::remote(Enum)]
pub enum UnitKind {
    District,
    Street,
    Community,
    Grid,
}

/// A point in 1e-7 degrees.
#[uniffi::remote(Record)]
pub struct Point {
    pub lat_e7: i32,
    pub lon_e7: i32,
}

/// A polygon: the outer ring first, then holes.
#[uniffi::remote(Record)]
pub struct Polygon {
    pub rings: Vec<Vec<Point>>,
}

/// A grid's area: one or more polygons.
#[uniffi::remote(Record)]
pub struct Boundary {
    pub polygons: Vec<Polygon>,
}

/// A unit of the organisation (district → street → community → grid) in the user's scope.
#[uniffi::remote(Record)]
pub struct DirUnit {
    pub id: String,
    pub kind: UnitKind,
    pub parent: Option<String>,
    pub name: String,
    pub boundary: Option<Boundary>,
}

/// A person of the directory: how apps show every user id ("刘洋 (supervisor)").
#[uniffi::remote(Record)]
pub struct Person {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub units: Vec<String>,
    pub phone: Option<String>,
    pub in_scope: bool,
}

/// Which of the user's grids a point lies in.
#[uniffi::remote(Enum)]
pub enum GridAt {
    In { grid: String },
    Outside,
    NoBoundaries,
}

// ------------------------------------------------------------------ enums (core's own)

#[uniffi::remote(Enum)]
pub enum Role {
    Worker,
    Leader,
    Supervisor,
    Admin,
}

#[uniffi::remote(Enum)]
pub enum RecordKind {
    Report,
    Visit,
    Household,
    Task,
}

#[uniffi::remote(Enum)]
pub enum ReportCategory {
    FireHazard,
    BlockedFireLane,
    Sanitation,
    RoadFacilityDamage,
    IllegalConstruction,
    Dispute,
    FraudRisk,
    FoodSafety,
    PublicSecurity,
    Other,
}

#[uniffi::remote(Enum)]
pub enum ReportStatus {
    Draft,
    Submitted,
    Returned,
    Approved,
    Resolved,
    Closed,
}

#[uniffi::remote(Enum)]
pub enum TaskStatus {
    Assigned,
    Accepted,
    InProgress,
    Done,
    Verified,
    Cancelled,
}

#[uniffi::remote(Enum)]
pub enum VisitType {
    Routine,
    ElderlyCare,
    Disability,
    LowIncome,
    ConflictFollowUp,
    Other,
}

#[uniffi::remote(Enum)]
pub enum NeedTag {
    Care,
    Medical,
    Financial,
    Repair,
    LegalAid,
    Psychological,
    Other,
}

#[uniffi::remote(Enum)]
pub enum MemberTag {
    ElderlyLivingAlone,
    Disabled,
    LowIncome,
    KeyCare,
}

#[uniffi::remote(Enum)]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

/// Why the server refused a change, or why a sync set a pulled document aside.
#[uniffi::remote(Enum)]
pub enum RejectCode {
    Corrupt,
    ActorNotRegistered,
    WrongAuthor,
    OutOfScope,
    Denied,
    InvalidRecord,
    MissingDeps,
    InvalidId,
    TooLarge,
    Quota,
    Quarantined,
    Unknown,
}

// ------------------------------------------------------------------ records (core's own)

/// WGS-84 position with accuracy (metres) and an optional street address.
#[uniffi::remote(Record)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: f64,
    #[uniffi(default)]
    pub address: Option<String>,
}

/// A need found during a visit.
#[uniffi::remote(Record)]
pub struct Need {
    pub tag: NeedTag,
    #[uniffi(default)]
    pub note: String,
    #[uniffi(default)]
    pub resolved: bool,
}

/// A resident of a household.
#[uniffi::remote(Record)]
pub struct Member {
    pub name: String,
    #[uniffi(default)]
    pub id_number: Option<String>,
    #[uniffi(default)]
    pub phone: Option<String>,
    #[uniffi(default)]
    pub birth_year: Option<i32>,
    #[uniffi(default)]
    pub tags: Vec<MemberTag>,
}

/// Who is using a store. `grids` = `None`: not known on the device (the server still checks).
#[uniffi::remote(Record)]
pub struct Identity {
    pub user_id: String,
    pub role: Role,
    #[uniffi(default)]
    pub grids: Option<Vec<String>>,
}

/// What a running sync is doing (core's `gridwork_client::SyncPhase`).
#[uniffi::remote(Enum)]
pub enum SyncPhase {
    Push,
    Pull,
    Photos,
}

/// Progress of a running sync, reported once per phase and page.
#[uniffi::remote(Record)]
pub struct SyncProgress {
    pub phase: SyncPhase,
    pub done: u64,
    pub total: Option<u64>,
}

/// What one `sync()` did.
#[uniffi::remote(Record)]
pub struct SyncReport {
    /// Local changes sent.
    pub pushed: u64,
    /// Changes the server holds now.
    pub accepted: u64,
    /// Changes the server refused; they are in `quarantine()`.
    pub rejected: u64,
    /// Local changes left pending because the server's quota for this device was reached; a
    /// later sync sends them (see `quota_hold()`).
    pub held_by_quota: u64,
    /// Changes received from the server.
    pub pulled: u64,
    /// Records that changed on this device because of pulled changes.
    pub changed_ids: Vec<String>,
    /// Pulled documents this sync set aside instead of storing (see `set_aside()`).
    pub set_aside: u64,
    /// Photos and thumbnails uploaded in this sync.
    pub photos_uploaded: u64,
    /// Photos and thumbnails downloaded in this sync.
    pub photos_downloaded: u64,
    /// This device's photos still waiting for the server (the next sync resumes them).
    pub photos_pending: u64,
    /// Units and people of the team directory this sync added or changed (0: it was current).
    pub directory_updated: u64,
}

/// A new patrol report. Ids are checked when it is stored (`InvalidInput` naming the field).
#[uniffi::remote(Record)]
pub struct NewReport {
    pub grid: String,
    pub category: ReportCategory,
    pub severity: u8,
    pub title: String,
    #[uniffi(default)]
    pub description: String,
    #[uniffi(default)]
    pub location: Option<Location>,
    /// Submit at once instead of keeping a draft.
    #[uniffi(default)]
    pub submit: bool,
}

/// A new household.
#[uniffi::remote(Record)]
pub struct NewHousehold {
    pub grid: String,
    pub address: String,
    #[uniffi(default)]
    pub members: Vec<Member>,
    #[uniffi(default)]
    pub notes: String,
}

/// A new task (leaders and supervisors).
#[uniffi::remote(Record)]
pub struct NewTask {
    pub grid: String,
    pub title: String,
    #[uniffi(default)]
    pub description: String,
    pub assignees: Vec<String>,
    /// `YYYY-MM-DD`
    #[uniffi(default)]
    pub due: Option<String>,
    pub priority: Priority,
    #[uniffi(default)]
    pub linked_report: Option<String>,
    #[uniffi(default)]
    pub linked_household: Option<String>,
}

/// Fields of a household to change; `None` leaves a field as it is.
#[uniffi::remote(Record)]
pub struct HouseholdPatch {
    #[uniffi(default)]
    pub address: Option<String>,
    #[uniffi(default)]
    pub members: Option<Vec<Member>>,
    #[uniffi(default)]
    pub notes: Option<String>,
}

// ------------------------------------------------------------------ mirrors: records with times

/// Declares a mirror of a core record and its `From`: the same fields, in core's order, each
/// taken from core's field of the same name (or `from` another) and converted with `=> f` where
/// the type differs (a time). The `From` destructures core's struct, so a field added in core
/// fails the build until the mirror has it.
macro_rules! mirror {
    (@conv $v:ident) => { $v };
    (@conv $v:ident $conv:expr) => { $conv($v.into()) };
    (
        $(#[$m:meta])*
        $name:ident from $core:path {
            $( $(#[$fm:meta])* $field:ident $(from $src:ident)? : $ty:ty $(=> $conv:expr)? ),* $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, uniffi::Record)]
        pub struct $name {
            $( $(#[$fm])* pub $field: $ty, )*
        }

        impl From<$core> for $name {
            fn from(c: $core) -> Self {
                let $core { $( $($src:)? $field ),* } = c;
                $name { $( $field: mirror!(@conv $field $($conv)?) ),* }
            }
        }
    };
}

/// One appended workflow step. `from`/`to` are status names (`submitted`, `in_progress`…).
#[uniffi::remote(Record)]
pub struct Transition {
    pub from: String,
    pub to: String,
    pub by: UserId,
    pub role: Role,
    pub at: Millis,
    #[uniffi(default)]
    pub comment: Option<String>,
}

/// A comment on a report or task.
#[uniffi::remote(Record)]
pub struct Comment {
    pub id: String,
    pub by: UserId,
    pub at: Millis,
    pub text: String,
}

/// A stored photo, by content hash (full size and thumbnail).
#[uniffi::remote(Record)]
pub struct PhotoRef {
    pub hash: String,
    pub thumb_hash: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    #[uniffi(default)]
    pub taken_at: Option<Millis>,
    #[uniffi(default)]
    pub caption: Option<String>,
}

/// A patrol report.
#[uniffi::remote(Record)]
pub struct Report {
    pub grid: GridId,
    pub category: ReportCategory,
    pub severity: u8,
    pub title: String,
    pub description: String,
    pub location: Option<Location>,
    pub photos: Vec<PhotoRef>,
    pub status: ReportStatus,
    pub transitions: Vec<Transition>,
    pub comments: Vec<Comment>,
    pub author: UserId,
    pub created_at: Millis,
}

/// A resident visit.
#[uniffi::remote(Record)]
pub struct Visit {
    pub grid: GridId,
    pub household_id: RecordId,
    pub visit_type: VisitType,
    pub notes: String,
    pub needs: Vec<Need>,
    /// `YYYY-MM-DD`
    pub follow_up_due: Option<String>,
    pub location: Option<Location>,
    pub photos: Vec<PhotoRef>,
    pub author: UserId,
    pub visited_at: Millis,
    pub created_at: Millis,
}

/// A household and its residents.
#[uniffi::remote(Record)]
pub struct Household {
    pub grid: GridId,
    pub address: String,
    pub members: Vec<Member>,
    pub notes: String,
    pub author: UserId,
    pub created_at: Millis,
}

/// A task assigned by a leader or supervisor.
#[uniffi::remote(Record)]
pub struct Task {
    pub grid: GridId,
    pub title: String,
    pub description: String,
    pub assignees: Vec<UserId>,
    /// `YYYY-MM-DD`
    pub due: Option<String>,
    pub priority: Priority,
    pub linked_report: Option<RecordId>,
    pub linked_household: Option<RecordId>,
    pub status: TaskStatus,
    pub transitions: Vec<Transition>,
    pub comments: Vec<Comment>,
    pub author: UserId,
    pub created_at: Millis,
}

/// Any record, by kind.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum AnyRecord {
    Report { report: Report },
    Visit { visit: Visit },
    Household { household: Household },
    Task { task: Task },
}

/// A full record with its id and bookkeeping (`kind` added for apps that switch on it).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct StoredRecord {
    pub id: String,
    pub kind: RecordKind,
    pub record: AnyRecord,
    pub updated_at: SystemTime,
    /// Local changes of this record not yet acknowledged by the server.
    pub pending_changes: u32,
}

/// What lists show (read from the list index, without loading the record).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RecordSummary {
    pub id: String,
    pub kind: RecordKind,
    pub grid: String,
    /// The workflow status by name (`draft`, `in_progress`…) as core keeps it; `None` for kinds
    /// without a workflow.
    pub status: Option<String>,
    /// Reports only.
    pub category: Option<ReportCategory>,
    /// Reports only (1 low to 4 urgent).
    pub severity: Option<u8>,
    /// Visits only.
    pub visit_type: Option<VisitType>,
    /// Tasks only.
    pub priority: Option<Priority>,
    pub title: String,
    pub household_id: Option<String>,
    /// `YYYY-MM-DD`
    pub due: Option<String>,
    pub author: String,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
}

mirror! {
    /// A page of a list, newest first.
    Page from core::Page {
        items: Vec<RecordSummary> => all,
        /// Pass as `page_token` for the next page; `None` on the last page.
        next: Option<String>,
    }
}

/// One entry of a record's audit trail: who changed which fields when, from which device
/// (`actor`: the Automerge actor id of the device; `console`: made in the server's web console,
/// shown as "name · web console").
#[uniffi::remote(Record)]
pub struct HistoryEntry {
    pub hash: String,
    pub user_id: String,
    pub actor: String,
    pub console: bool,
    pub at_ms: Millis,
    pub fields: Vec<String>,
}

mirror! {
    /// A field set concurrently on two devices; the first value is the one kept everywhere.
    FieldConflict from core::FieldConflict {
        field: String,
        values: Vec<ConflictValue> => all,
    }
}

mirror! {
    /// One of the competing values of a field.
    ConflictValue from core::ConflictValue {
        /// The value as JSON.
        value_json from value: String => json,
        device from actor: String,
        user_id: String,
    }
}

/// A local change the server refused; it stays on the device with the reason.
#[uniffi::remote(Record)]
pub struct QuarantinedChange {
    pub doc_id: String,
    pub hash: String,
    pub field: Option<String>,
    pub reason: String,
    pub at_ms: Millis,
}

/// A document a sync pulled that this device did not store: its id broke the id rule, its
/// changes did not parse or apply, or it is over a limit. The rest of the sync went on; the
/// server keeps the document (an administrator can quarantine it). `doc_id` is the id, or
/// `invalid:<16 hex digits of its SHA-256>` when the id itself broke the id rule.
#[uniffi::remote(Record)]
pub struct SetAsideDoc {
    pub doc_id: String,
    pub code: RejectCode,
    pub field: Option<String>,
    pub reason: String,
    pub changes: u64,
    pub first_seen_ms: Millis,
    pub last_seen_ms: Millis,
}

/// The last time the server held pushed changes back because a quota of this device was
/// reached; `held`: local changes still waiting after that sync.
#[uniffi::remote(Record)]
pub struct QuotaHold {
    pub reason: String,
    pub at_ms: Millis,
    pub held: u64,
}

/// One entry of the access log: a record shown in full (`get_full`), by whom, when, and why.
#[uniffi::remote(Record)]
pub struct AccessEntry {
    pub at_ms: Millis,
    pub user_id: String,
    pub doc_id: String,
    pub what: String,
    pub reason: String,
}

/// Changes exported for another store (`import_changes`), and the `since` for the next export.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ExportedChanges {
    pub bytes: Vec<u8>,
    pub next_since: i64,
}

/// Who is signed in on this device, and where (the device token expires at `expires_at_ms`).
#[uniffi::remote(Record)]
pub struct Session {
    pub server_url: String,
    pub user_id: String,
    pub role: Role,
    pub display_name: String,
    pub grids: Vec<String>,
    pub expires_at_ms: Millis,
}

// ------------------------------------------------------------------ mirrors: inputs

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NewVisit {
    pub grid: String,
    pub household_id: String,
    pub visit_type: VisitType,
    #[uniffi(default)]
    pub notes: String,
    #[uniffi(default)]
    pub needs: Vec<Need>,
    /// `YYYY-MM-DD`
    #[uniffi(default)]
    pub follow_up_due: Option<String>,
    #[uniffi(default)]
    pub location: Option<Location>,
    /// When the visit happened; defaults to now.
    #[uniffi(default)]
    pub visited_at: Option<SystemTime>,
}

/// Filters for `list`; everything optional, newest first.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct ListQuery {
    #[uniffi(default)]
    pub kind: Option<RecordKind>,
    #[uniffi(default)]
    pub grid: Option<String>,
    /// Status names (`ReportStatus` / `TaskStatus` values as `RecordSummary.status` shows them,
    /// e.g. `submitted`); an unknown name is `InvalidInput` (field `status`).
    #[uniffi(default)]
    pub statuses: Vec<String>,
    /// Only records whose workflow is not finished.
    #[uniffi(default)]
    pub open_only: bool,
    #[uniffi(default)]
    pub category: Option<ReportCategory>,
    #[uniffi(default)]
    pub assignee: Option<String>,
    #[uniffi(default)]
    pub household_id: Option<String>,
    /// Created at or after.
    #[uniffi(default)]
    pub created_from: Option<SystemTime>,
    /// Created before.
    #[uniffi(default)]
    pub created_before: Option<SystemTime>,
    /// Substring search over titles and texts (Chinese included).
    #[uniffi(default)]
    pub text: Option<String>,
    /// Page size, 1..=500 (default 50).
    #[uniffi(default)]
    pub limit: Option<u32>,
    #[uniffi(default)]
    pub page_token: Option<String>,
}

/// Fields of a report to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct ReportPatch {
    #[uniffi(default)]
    pub category: Option<ReportCategory>,
    #[uniffi(default)]
    pub severity: Option<u8>,
    #[uniffi(default)]
    pub title: Option<String>,
    #[uniffi(default)]
    pub description: Option<String>,
    #[uniffi(default)]
    pub location: Option<Location>,
    /// Remove the location (wins over `location`).
    #[uniffi(default)]
    pub clear_location: bool,
}

#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct VisitPatch {
    #[uniffi(default)]
    pub visit_type: Option<VisitType>,
    #[uniffi(default)]
    pub notes: Option<String>,
    #[uniffi(default)]
    pub needs: Option<Vec<Need>>,
    #[uniffi(default)]
    pub follow_up_due: Option<String>,
    #[uniffi(default)]
    pub clear_follow_up_due: bool,
    #[uniffi(default)]
    pub location: Option<Location>,
    #[uniffi(default)]
    pub clear_location: bool,
}

#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct TaskPatch {
    #[uniffi(default)]
    pub title: Option<String>,
    #[uniffi(default)]
    pub description: Option<String>,
    #[uniffi(default)]
    pub assignees: Option<Vec<String>>,
    #[uniffi(default)]
    pub due: Option<String>,
    #[uniffi(default)]
    pub clear_due: bool,
    #[uniffi(default)]
    pub priority: Option<Priority>,
}

// ------------------------------------------------------------------ conversions

/// `Some(None)` when cleared, `Some(v)` when set, `None` when untouched.
// Core's patches use Option<Option<T>>: unset (None) vs cleared (Some(None)); the FFI
// cannot express that, so it sends a value and a `clear_*` flag.
#[allow(clippy::option_option)]
fn patch<T>(value: Option<T>, clear: bool) -> Option<Option<T>> {
    if clear {
        Some(None)
    } else {
        value.map(Some)
    }
}

fn all<A, B: From<A>>(v: Vec<A>) -> Vec<B> {
    v.into_iter().map(B::from).collect()
}

#[allow(clippy::needless_pass_by_value)]
fn json(v: serde_json::Value) -> String {
    v.to_string()
}

impl From<core::AnyRecord> for AnyRecord {
    fn from(r: core::AnyRecord) -> Self {
        match r {
            core::AnyRecord::Report(r) => AnyRecord::Report { report: r },
            core::AnyRecord::Visit(v) => AnyRecord::Visit { visit: v },
            core::AnyRecord::Household(h) => AnyRecord::Household { household: h },
            core::AnyRecord::Task(t) => AnyRecord::Task { task: t },
        }
    }
}

impl From<core::StoredRecord> for StoredRecord {
    fn from(s: core::StoredRecord) -> Self {
        StoredRecord {
            id: s.id,
            kind: s.record.kind(),
            record: s.record.into(),
            updated_at: time(s.updated_at.into()),
            pending_changes: s.pending_changes,
        }
    }
}

impl From<core::RecordSummary> for RecordSummary {
    fn from(s: core::RecordSummary) -> Self {
        // The list index keeps one `category` column per kind: a report's category, a visit's
        // type, a task's priority (and `severity` a task's priority rank). Each crosses typed, in
        // its own field.
        let column = s.category.as_deref();
        let report = s.kind == RecordKind::Report;
        RecordSummary {
            status: s.status,
            category: column.filter(|_| report).and_then(|c| c.parse().ok()),
            severity: s
                .severity
                .filter(|_| report)
                .and_then(|v| u8::try_from(v).ok()),
            visit_type: column
                .filter(|_| s.kind == RecordKind::Visit)
                .and_then(|c| c.parse().ok()),
            priority: column
                .filter(|_| s.kind == RecordKind::Task)
                .and_then(|c| c.parse().ok()),
            id: s.id,
            kind: s.kind,
            grid: s.grid,
            title: s.title,
            household_id: s.household_id,
            due: s.due,
            author: s.author,
            created_at: time(s.created_at.into()),
            updated_at: time(s.updated_at.into()),
        }
    }
}

impl From<ListQuery> for core::ListQuery {
    fn from(q: ListQuery) -> Self {
        core::ListQuery {
            kind: q.kind,
            grid: q.grid,
            statuses: q.statuses,
            open_only: q.open_only,
            category: q.category.map(|c| c.as_str().to_owned()),
            assignee: q.assignee,
            household_id: q.household_id,
            from_ms: q.created_from.map(millis),
            to_ms: q.created_before.map(millis),
            text: q.text,
            limit: q.limit,
            page_token: q.page_token,
        }
    }
}

impl From<NewVisit> for core::NewVisit {
    fn from(v: NewVisit) -> Self {
        core::NewVisit {
            grid: v.grid,
            household_id: v.household_id,
            visit_type: v.visit_type,
            notes: v.notes,
            needs: v.needs,
            follow_up_due: v.follow_up_due,
            location: v.location,
            visited_at: v.visited_at.map(millis),
        }
    }
}

impl From<ReportPatch> for core::ReportPatch {
    fn from(p: ReportPatch) -> Self {
        core::ReportPatch {
            category: p.category,
            severity: p.severity,
            title: p.title,
            description: p.description,
            location: patch(p.location, p.clear_location),
        }
    }
}

impl From<VisitPatch> for core::VisitPatch {
    fn from(p: VisitPatch) -> Self {
        core::VisitPatch {
            visit_type: p.visit_type,
            notes: p.notes,
            needs: p.needs,
            follow_up_due: patch(p.follow_up_due, p.clear_follow_up_due),
            location: patch(p.location, p.clear_location),
        }
    }
}

impl From<TaskPatch> for core::TaskPatch {
    fn from(p: TaskPatch) -> Self {
        core::TaskPatch {
            title: p.title,
            description: p.description,
            assignees: p.assignees,
            due: patch(p.due, p.clear_due),
            priority: p.priority,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uniffi::{Lift, Lower};

    type Tag = crate::UniFfiTag;

    #[test]
    fn times_round_trip_through_milliseconds() {
        for ms in [0, 1, 1_700_000_000_123, -86_400_000] {
            assert_eq!(millis(time(ms)), ms);
        }
    }

    #[test]
    fn patches_distinguish_untouched_set_and_cleared() {
        let loc = Location {
            lat: 36.66,
            lon: 117.02,
            accuracy_m: 5.0,
            address: None,
        };
        assert_eq!(
            core::ReportPatch::from(ReportPatch::default()).location,
            None
        );
        assert_eq!(
            core::ReportPatch::from(ReportPatch {
                location: Some(loc.clone()),
                ..Default::default()
            })
            .location,
            Some(Some(loc))
        );
        assert_eq!(
            core::ReportPatch::from(ReportPatch {
                clear_location: true,
                ..Default::default()
            })
            .location,
            Some(None)
        );
    }

    #[test]
    fn ids_cross_as_strings_and_lift_only_when_valid() {
        let lowered = <GridId as Lower<Tag>>::lower(GridId::from("furong-01"));
        let back = <GridId as Lift<Tag>>::try_lift(lowered).expect("a valid id lifts");
        assert_eq!(back, "furong-01");
        for bad in [String::new(), "a b".to_owned(), "x".repeat(65)] {
            let lowered = <String as Lower<Tag>>::lower(bad.clone());
            let err = <RecordId as Lift<Tag>>::try_lift(lowered)
                .expect_err("a malformed id does not lift");
            // UniFFI hands this error to `handle_failed_lift`, which downcasts it to the call's
            // error type: it must be our typed error, naming the field, not quoting the value.
            let typed = err
                .downcast::<GridworkError>()
                .expect("the lift error is a GridworkError");
            assert!(
                matches!(&typed, GridworkError::InvalidInput { field, .. } if field == "id"),
                "{typed:?}"
            );
            if !bad.is_empty() {
                assert!(!typed.to_string().contains(&bad), "{typed}");
            }
        }
    }

    #[test]
    fn a_malformed_id_argument_becomes_the_calls_typed_error() {
        // What the scaffolding does when lifting an argument fails (uniffi_core's
        // `LowerReturn::handle_failed_lift` for `Result<R, E>`): the app sees `E`, not an
        // internal error.
        let lowered = <String as Lower<Tag>>::lower("a b".to_owned());
        let error = <UserId as Lift<Tag>>::try_lift(lowered).expect_err("malformed");
        let out = <crate::Result<()> as uniffi::LowerReturn<Tag>>::handle_failed_lift(
            uniffi::LiftArgsError {
                arg_name: "id",
                error,
            },
        );
        let Err(uniffi::RustCallError::Error(buf)) = out else {
            panic!("a typed error, not an internal one");
        };
        let e = <GridworkError as Lift<Tag>>::try_lift(buf).expect("a GridworkError crossed");
        assert!(
            matches!(&e, GridworkError::InvalidInput { field, .. } if field == "user_id"),
            "{e:?}"
        );
    }

    #[test]
    fn a_malformed_id_inside_a_record_argument_fails_its_lift_typed() {
        let mut buf = Vec::new();
        <Transition as Lower<Tag>>::write(
            Transition {
                from: "draft".into(),
                to: "submitted".into(),
                by: UserId::from("has space"),
                role: Role::Worker,
                at: Millis(0),
                comment: None,
            },
            &mut buf,
        );
        let err = <Transition as Lift<Tag>>::try_read(&mut buf.as_slice())
            .expect_err("the record's id field is checked");
        let typed = err.downcast::<GridworkError>().expect("typed");
        assert!(
            matches!(&typed, GridworkError::InvalidInput { field, .. } if field == "user_id"),
            "{typed:?}"
        );
    }

    #[test]
    fn the_envelope_keeps_every_field_of_a_record() {
        let task = core::Task {
            grid: "g1".into(),
            title: "清理楼道".into(),
            description: String::new(),
            assignees: vec!["worker".into()],
            due: Some("2026-06-01".into()),
            priority: Priority::Urgent,
            linked_report: Some("r1".into()),
            linked_household: None,
            status: TaskStatus::Assigned,
            transitions: vec![core::Transition {
                from: "assigned".into(),
                to: "accepted".into(),
                by: "worker".into(),
                role: Role::Worker,
                at: gridwork_model::Millis(1_700_000_000_123),
                comment: Some("ok".into()),
            }],
            comments: vec![],
            author: "leader".into(),
            created_at: gridwork_model::Millis(1_700_000_000_000),
        };
        let AnyRecord::Task { task: t } = AnyRecord::from(core::AnyRecord::Task(task)) else {
            panic!("a task stays a task");
        };
        assert_eq!(t.grid, "g1");
        assert_eq!(t.assignees, vec![UserId::from("worker")]);
        assert_eq!(t.linked_report.as_deref(), Some("r1"));
        assert_eq!(t.created_at, Millis(1_700_000_000_000));
        assert_eq!(t.transitions[0].at, Millis(1_700_000_000_123));
        assert_eq!(t.transitions[0].by, "worker");
    }

    #[test]
    fn times_cross_as_timestamps_to_the_millisecond() {
        for ms in [0i64, 1_700_000_000_123, -86_400_001] {
            let mut buf = Vec::new();
            <Millis as Lower<Tag>>::write(Millis(ms), &mut buf);
            let back = <Millis as Lift<Tag>>::try_read(&mut buf.as_slice()).unwrap();
            assert_eq!(back, Millis(ms));
        }
    }
}
