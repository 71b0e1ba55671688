//! The records and enums that cross the boundary, and their conversions to and from core.
//!
//! Core types whose shape is already right are declared `#[uniffi::remote]` (no copy, no
//! conversion). Types with times get a mirror here, because times cross as timestamps
//! (`SystemTime`: Kotlin `java.time.Instant`, Swift `Date`, Python `datetime`) where core keeps
//! milliseconds. Patches use `clear_*` flags where core has `Option<Option<_>>`, which Kotlin and
//! Swift cannot tell apart from `Option<_>`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::layers as core;
pub use gridwork_client::{SyncPhase, SyncProgress, SyncReport};
pub use gridwork_model::{Location, Member, Need};
pub use gridwork_model::{
    MemberTag, NeedTag, Priority, RecordKind, ReportCategory, ReportStatus, Role, TaskStatus,
    VisitType,
};
pub use gridwork_store::Identity;

// ------------------------------------------------------------------ time

pub(crate) fn time(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
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

/// The workflow status of a report or a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RecordStatus {
    Report { status: ReportStatus },
    Task { status: TaskStatus },
}

impl RecordStatus {
    fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Report { status } => status.as_str(),
            RecordStatus::Task { status } => status.as_str(),
        }
    }
    fn parse(kind: RecordKind, s: &str) -> Option<Self> {
        match kind {
            RecordKind::Report => s.parse().ok().map(|status| RecordStatus::Report { status }),
            RecordKind::Task => s.parse().ok().map(|status| RecordStatus::Task { status }),
            _ => None,
        }
    }
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

// ------------------------------------------------------------------ records with times

/// One appended workflow step. `from`/`to` are status names (`submitted`, `in_progress`…).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Transition {
    pub from: String,
    pub to: String,
    pub by: String,
    pub role: Role,
    pub at: SystemTime,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Comment {
    pub id: String,
    pub by: String,
    pub at: SystemTime,
    pub text: String,
}

/// A stored photo, by content hash (full size and thumbnail).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PhotoRef {
    pub hash: String,
    pub thumb_hash: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub taken_at: Option<SystemTime>,
    pub caption: Option<String>,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Report {
    pub grid: String,
    pub category: ReportCategory,
    pub severity: u8,
    pub title: String,
    pub description: String,
    pub location: Option<Location>,
    pub photos: Vec<PhotoRef>,
    pub status: ReportStatus,
    pub transitions: Vec<Transition>,
    pub comments: Vec<Comment>,
    pub author: String,
    pub created_at: SystemTime,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Visit {
    pub grid: String,
    pub household_id: String,
    pub visit_type: VisitType,
    pub notes: String,
    pub needs: Vec<Need>,
    /// `YYYY-MM-DD`
    pub follow_up_due: Option<String>,
    pub location: Option<Location>,
    pub photos: Vec<PhotoRef>,
    pub author: String,
    pub visited_at: SystemTime,
    pub created_at: SystemTime,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Household {
    pub grid: String,
    pub address: String,
    pub members: Vec<Member>,
    pub notes: String,
    pub author: String,
    pub created_at: SystemTime,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Task {
    pub grid: String,
    pub title: String,
    pub description: String,
    pub assignees: Vec<String>,
    /// `YYYY-MM-DD`
    pub due: Option<String>,
    pub priority: Priority,
    pub linked_report: Option<String>,
    pub linked_household: Option<String>,
    pub status: TaskStatus,
    pub transitions: Vec<Transition>,
    pub comments: Vec<Comment>,
    pub author: String,
    pub created_at: SystemTime,
}

/// Any record, by kind.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum AnyRecord {
    Report { report: Report },
    Visit { visit: Visit },
    Household { household: Household },
    Task { task: Task },
}

/// A full record with its id and bookkeeping.
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
    pub status: Option<RecordStatus>,
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

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Page {
    pub items: Vec<RecordSummary>,
    /// Pass as `page_token` for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// Filters for `list`; everything optional, newest first.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct ListQuery {
    #[uniffi(default)]
    pub kind: Option<RecordKind>,
    #[uniffi(default)]
    pub grid: Option<String>,
    #[uniffi(default)]
    pub statuses: Vec<RecordStatus>,
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

/// One entry of a record's audit trail: who changed which fields when, from which device.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HistoryEntry {
    pub hash: String,
    pub user_id: String,
    pub device: String,
    pub at: SystemTime,
    pub fields: Vec<String>,
}

/// A field set concurrently on two devices; the first value is the one kept everywhere.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FieldConflict {
    pub field: String,
    pub values: Vec<ConflictValue>,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ConflictValue {
    /// The value as JSON.
    pub value_json: String,
    pub device: String,
    pub user_id: String,
}

/// A local change the server refused; it stays on the device with the reason.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct QuarantinedChange {
    pub record_id: String,
    pub hash: String,
    pub field: Option<String>,
    pub reason: String,
    pub at: SystemTime,
}

/// A document a sync pulled that this device did not store: its id broke the id rule, its
/// changes did not parse or apply, or it is over a limit. The rest of the sync went on; the server
/// keeps the document (an administrator can quarantine it).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SetAsideDoc {
    /// The document id, or `invalid:<16 hex digits of its SHA-256>` when the id itself broke the
    /// id rule (a hostile id is never shown).
    pub doc_id: String,
    /// The refusal code: `invalid_id`, `corrupt`, `too_large`, `invalid_record`, …
    pub code: String,
    pub field: Option<String>,
    /// Human-readable; never quotes a value.
    pub reason: String,
    /// Changes received for it.
    pub changes: u64,
    pub first_seen: SystemTime,
    pub last_seen: SystemTime,
}

/// The last time the server held pushed changes back because a quota of this device was reached.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct QuotaHold {
    /// The server's reason (which quota).
    pub reason: String,
    pub at: SystemTime,
    /// Local changes still waiting after that sync (0 once a later sync pushed without meeting
    /// a quota).
    pub held: u64,
}

/// Changes exported for another store (`import_changes`), and the `since` for the next export.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ExportedChanges {
    pub bytes: Vec<u8>,
    pub next_since: i64,
}

/// Who is signed in on this device, and where.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Session {
    pub server_url: String,
    pub user_id: String,
    pub role: Role,
    pub display_name: String,
    pub grids: Vec<String>,
    /// The device token expires then; sign in again after.
    pub expires_at: SystemTime,
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
}

// ------------------------------------------------------------------ inputs

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
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

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NewHousehold {
    pub grid: String,
    pub address: String,
    #[uniffi(default)]
    pub members: Vec<Member>,
    #[uniffi(default)]
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
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
pub struct HouseholdPatch {
    #[uniffi(default)]
    pub address: Option<String>,
    #[uniffi(default)]
    pub members: Option<Vec<Member>>,
    #[uniffi(default)]
    pub notes: Option<String>,
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

impl From<core::Transition> for Transition {
    fn from(t: core::Transition) -> Self {
        Transition {
            from: t.from,
            to: t.to,
            by: t.by.into(),
            role: t.role,
            at: time(t.at),
            comment: t.comment,
        }
    }
}

impl From<core::Comment> for Comment {
    fn from(c: core::Comment) -> Self {
        Comment {
            id: c.id,
            by: c.by.into(),
            at: time(c.at),
            text: c.text,
        }
    }
}

impl From<core::PhotoRef> for PhotoRef {
    fn from(p: core::PhotoRef) -> Self {
        PhotoRef {
            hash: p.hash,
            thumb_hash: p.thumb_hash,
            width: p.width,
            height: p.height,
            bytes: p.bytes,
            taken_at: p.taken_at.map(time),
            caption: p.caption,
        }
    }
}

fn all<A, B: From<A>>(v: Vec<A>) -> Vec<B> {
    v.into_iter().map(B::from).collect()
}

impl From<core::AnyRecord> for AnyRecord {
    fn from(r: core::AnyRecord) -> Self {
        match r {
            core::AnyRecord::Report(r) => AnyRecord::Report {
                report: Report {
                    grid: r.grid.into(),
                    category: r.category,
                    severity: r.severity,
                    title: r.title,
                    description: r.description,
                    location: r.location,
                    photos: all(r.photos),
                    status: r.status,
                    transitions: all(r.transitions),
                    comments: all(r.comments),
                    author: r.author.into(),
                    created_at: time(r.created_at),
                },
            },
            core::AnyRecord::Visit(v) => AnyRecord::Visit {
                visit: Visit {
                    grid: v.grid.into(),
                    household_id: v.household_id.into(),
                    visit_type: v.visit_type,
                    notes: v.notes,
                    needs: v.needs,
                    follow_up_due: v.follow_up_due,
                    location: v.location,
                    photos: all(v.photos),
                    author: v.author.into(),
                    visited_at: time(v.visited_at),
                    created_at: time(v.created_at),
                },
            },
            core::AnyRecord::Household(h) => AnyRecord::Household {
                household: Household {
                    grid: h.grid.into(),
                    address: h.address,
                    members: h.members,
                    notes: h.notes,
                    author: h.author.into(),
                    created_at: time(h.created_at),
                },
            },
            core::AnyRecord::Task(t) => AnyRecord::Task {
                task: Task {
                    grid: t.grid.into(),
                    title: t.title,
                    description: t.description,
                    assignees: t.assignees.into_iter().map(String::from).collect(),
                    due: t.due,
                    priority: t.priority,
                    linked_report: t.linked_report.map(String::from),
                    linked_household: t.linked_household.map(String::from),
                    status: t.status,
                    transitions: all(t.transitions),
                    comments: all(t.comments),
                    author: t.author.into(),
                    created_at: time(t.created_at),
                },
            },
        }
    }
}

impl From<core::StoredRecord> for StoredRecord {
    fn from(s: core::StoredRecord) -> Self {
        StoredRecord {
            id: s.id,
            kind: s.record.kind(),
            record: s.record.into(),
            updated_at: time(s.updated_at),
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
            status: s
                .status
                .as_deref()
                .and_then(|st| RecordStatus::parse(s.kind, st)),
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
            created_at: time(s.created_at),
            updated_at: time(s.updated_at),
        }
    }
}

impl From<core::Page> for Page {
    fn from(p: core::Page) -> Self {
        Page {
            items: all(p.items),
            next: p.next,
        }
    }
}

impl From<ListQuery> for core::ListQuery {
    fn from(q: ListQuery) -> Self {
        core::ListQuery {
            kind: q.kind,
            grid: q.grid,
            statuses: q.statuses.iter().map(|s| s.as_str().to_owned()).collect(),
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

impl From<core::HistoryEntry> for HistoryEntry {
    fn from(h: core::HistoryEntry) -> Self {
        HistoryEntry {
            hash: h.hash,
            user_id: h.user_id,
            device: h.actor,
            at: time(h.at_ms),
            fields: h.fields,
        }
    }
}

impl From<core::FieldConflict> for FieldConflict {
    fn from(c: core::FieldConflict) -> Self {
        FieldConflict {
            field: c.field,
            values: c
                .values
                .into_iter()
                .map(|v| ConflictValue {
                    value_json: v.value.to_string(),
                    device: v.actor,
                    user_id: v.user_id,
                })
                .collect(),
        }
    }
}

impl From<core::QuarantinedChange> for QuarantinedChange {
    fn from(q: core::QuarantinedChange) -> Self {
        QuarantinedChange {
            record_id: q.doc_id,
            hash: q.hash,
            field: q.field,
            reason: q.reason,
            at: time(q.at_ms),
        }
    }
}

impl From<core::SetAsideDoc> for SetAsideDoc {
    fn from(d: core::SetAsideDoc) -> Self {
        SetAsideDoc {
            doc_id: d.doc_id,
            code: d.code.as_str().to_owned(),
            field: d.field,
            reason: d.reason,
            changes: d.changes,
            first_seen: time(d.first_seen_ms),
            last_seen: time(d.last_seen_ms),
        }
    }
}

impl From<core::QuotaHold> for QuotaHold {
    fn from(q: core::QuotaHold) -> Self {
        QuotaHold {
            reason: q.reason,
            at: time(q.at_ms),
            held: q.held,
        }
    }
}

impl From<NewReport> for core::NewReport {
    fn from(r: NewReport) -> Self {
        core::NewReport {
            grid: r.grid,
            category: r.category,
            severity: r.severity,
            title: r.title,
            description: r.description,
            location: r.location,
            submit: r.submit,
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

impl From<NewHousehold> for core::NewHousehold {
    fn from(h: NewHousehold) -> Self {
        core::NewHousehold {
            grid: h.grid,
            address: h.address,
            members: h.members,
            notes: h.notes,
        }
    }
}

impl From<NewTask> for core::NewTask {
    fn from(t: NewTask) -> Self {
        core::NewTask {
            grid: t.grid,
            title: t.title,
            description: t.description,
            assignees: t.assignees,
            due: t.due,
            priority: t.priority,
            linked_report: t.linked_report,
            linked_household: t.linked_household,
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

impl From<HouseholdPatch> for core::HouseholdPatch {
    fn from(p: HouseholdPatch) -> Self {
        core::HouseholdPatch {
            address: p.address,
            members: p.members,
            notes: p.notes,
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

impl From<core::Session> for Session {
    fn from(s: core::Session) -> Self {
        Session {
            server_url: s.server_url,
            user_id: s.user_id,
            role: s.role,
            display_name: s.display_name,
            grids: s.grids,
            expires_at: time(s.expires_at_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
