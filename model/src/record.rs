//! The record model: patrol reports, resident visits, households and tasks.
//!
//! Every record is one Automerge document whose root map is the serde form of [`AnyRecord`]
//! (tagged by `kind`). Keys named in [`TEXT_KEYS`] are stored as Automerge text so concurrent
//! typing merges; everything else is a scalar, a map or a list.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::idnum;

/// Keys whose string values are collaborative Automerge text wherever they appear.
pub const TEXT_KEYS: &[&str] = &["title", "description", "notes", "text"];

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_TEXT_CHARS: usize = 20_000;
pub const MAX_SHORT_CHARS: usize = 500;
pub const MAX_LIST_ITEMS: usize = 500;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident, $field:literal { $($variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $( #[serde(rename = $s)] $variant ),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(&self) -> &'static str { match self { $($name::$variant => $s),+ } }
        }
        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s { $($s => Ok($name::$variant),)+
                    _ => Err(Error::invalid($field, format!("unknown value; expected one of {}", [$($s),+].join(", ")))) }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

string_enum!(#[doc = "Role of a user: who is acting decides what they may change."] Role, "role" {
    Worker => "worker", Leader => "leader", Supervisor => "supervisor", Admin => "admin"
});

impl Role {
    /// Leaders, supervisors and admins manage tasks.
    pub fn manages(&self) -> bool {
        !matches!(self, Role::Worker)
    }
    /// Supervisors and admins review reports.
    pub fn reviews(&self) -> bool {
        matches!(self, Role::Supervisor | Role::Admin)
    }
}

string_enum!(#[doc = "Kind of record."] RecordKind, "kind" {
    Report => "report", Visit => "visit", Household => "household", Task => "task"
});

string_enum!(#[doc = "Category of a patrol report."] ReportCategory, "category" {
    FireHazard => "fire_hazard", BlockedFireLane => "blocked_fire_lane", Sanitation => "sanitation",
    RoadFacilityDamage => "road_facility_damage", IllegalConstruction => "illegal_construction",
    Dispute => "dispute", FraudRisk => "fraud_risk", FoodSafety => "food_safety",
    PublicSecurity => "public_security", Other => "other"
});

string_enum!(#[doc = "Workflow status of a report."] ReportStatus, "status" {
    Draft => "draft", Submitted => "submitted", Returned => "returned", Approved => "approved",
    Resolved => "resolved", Closed => "closed"
});

string_enum!(#[doc = "Workflow status of a task."] TaskStatus, "status" {
    Assigned => "assigned", Accepted => "accepted", InProgress => "in_progress", Done => "done",
    Verified => "verified", Cancelled => "cancelled"
});

string_enum!(#[doc = "Type of a resident visit."] VisitType, "visit_type" {
    Routine => "routine", ElderlyCare => "elderly_care", Disability => "disability",
    LowIncome => "low_income", ConflictFollowUp => "conflict_follow_up", Other => "other"
});

string_enum!(#[doc = "Tag of a need found during a visit."] NeedTag, "needs.tag" {
    Care => "care", Medical => "medical", Financial => "financial", Repair => "repair",
    LegalAid => "legal_aid", Psychological => "psychological", Other => "other"
});

string_enum!(#[doc = "Tag of a household member."] MemberTag, "members.tags" {
    ElderlyLivingAlone => "elderly_living_alone", Disabled => "disabled", LowIncome => "low_income",
    KeyCare => "key_care"
});

string_enum!(#[doc = "Priority of a task."] Priority, "priority" {
    Low => "low", Normal => "normal", High => "high", Urgent => "urgent"
});

/// WGS-84 position with accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: f64,
    #[serde(default)]
    pub address: Option<String>,
}

/// One appended workflow step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub from: String,
    pub to: String,
    pub by: String,
    pub role: Role,
    pub at: i64,
    #[serde(default)]
    pub comment: Option<String>,
}

/// A comment on a report or task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: String,
    pub by: String,
    pub at: i64,
    pub text: String,
}

/// Reference to a stored photo (content-addressed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoRef {
    pub hash: String,
    pub thumb_hash: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    #[serde(default)]
    pub taken_at: Option<i64>,
    #[serde(default)]
    pub caption: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub grid: String,
    pub category: ReportCategory,
    pub severity: u8,
    pub title: String,
    pub description: String,
    #[serde(default)]
    pub location: Option<Location>,
    #[serde(default)]
    pub photos: Vec<PhotoRef>,
    pub status: ReportStatus,
    #[serde(default)]
    pub transitions: Vec<Transition>,
    #[serde(default)]
    pub comments: Vec<Comment>,
    pub author: String,
    pub created_at: i64,
}

/// A need found during a visit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Need {
    pub tag: NeedTag,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub resolved: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    pub grid: String,
    pub household_id: String,
    pub visit_type: VisitType,
    pub notes: String,
    #[serde(default)]
    pub needs: Vec<Need>,
    /// `YYYY-MM-DD`
    #[serde(default)]
    pub follow_up_due: Option<String>,
    #[serde(default)]
    pub location: Option<Location>,
    #[serde(default)]
    pub photos: Vec<PhotoRef>,
    pub author: String,
    pub visited_at: i64,
    pub created_at: i64,
}

/// A resident. `Debug` masks the personal fields.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    #[serde(default)]
    pub id_number: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub birth_year: Option<i32>,
    #[serde(default)]
    pub tags: Vec<MemberTag>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("name", &"<redacted>")
            .field("id_number", &self.id_number.as_deref().map(idnum::mask))
            .field("phone", &self.phone.as_ref().map(|_| "<redacted>"))
            .field("birth_year", &self.birth_year)
            .field("tags", &self.tags)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Household {
    pub grid: String,
    pub address: String,
    #[serde(default)]
    pub members: Vec<Member>,
    #[serde(default)]
    pub notes: String,
    pub author: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub grid: String,
    pub title: String,
    pub description: String,
    pub assignees: Vec<String>,
    /// `YYYY-MM-DD`
    #[serde(default)]
    pub due: Option<String>,
    pub priority: Priority,
    #[serde(default)]
    pub linked_report: Option<String>,
    #[serde(default)]
    pub linked_household: Option<String>,
    pub status: TaskStatus,
    #[serde(default)]
    pub transitions: Vec<Transition>,
    #[serde(default)]
    pub comments: Vec<Comment>,
    pub author: String,
    pub created_at: i64,
}

/// Any record, tagged by kind. Its serde form is the document layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AnyRecord {
    Report(Report),
    Visit(Visit),
    Household(Household),
    Task(Task),
}

impl AnyRecord {
    pub fn kind(&self) -> RecordKind {
        match self {
            AnyRecord::Report(_) => RecordKind::Report,
            AnyRecord::Visit(_) => RecordKind::Visit,
            AnyRecord::Household(_) => RecordKind::Household,
            AnyRecord::Task(_) => RecordKind::Task,
        }
    }
    pub fn grid(&self) -> &str {
        match self {
            AnyRecord::Report(r) => &r.grid,
            AnyRecord::Visit(r) => &r.grid,
            AnyRecord::Household(r) => &r.grid,
            AnyRecord::Task(r) => &r.grid,
        }
    }
    pub fn author(&self) -> &str {
        match self {
            AnyRecord::Report(r) => &r.author,
            AnyRecord::Visit(r) => &r.author,
            AnyRecord::Household(r) => &r.author,
            AnyRecord::Task(r) => &r.author,
        }
    }
    pub fn created_at(&self) -> i64 {
        match self {
            AnyRecord::Report(r) => r.created_at,
            AnyRecord::Visit(r) => r.created_at,
            AnyRecord::Household(r) => r.created_at,
            AnyRecord::Task(r) => r.created_at,
        }
    }
    /// Workflow status as a string, for kinds that have one.
    pub fn status(&self) -> Option<&'static str> {
        match self {
            AnyRecord::Report(r) => Some(r.status.as_str()),
            AnyRecord::Task(r) => Some(r.status.as_str()),
            _ => None,
        }
    }
    pub fn transitions(&self) -> &[Transition] {
        match self {
            AnyRecord::Report(r) => &r.transitions,
            AnyRecord::Task(r) => &r.transitions,
            _ => &[],
        }
    }
    pub fn photos_mut(&mut self) -> Option<&mut Vec<PhotoRef>> {
        match self {
            AnyRecord::Report(r) => Some(&mut r.photos),
            AnyRecord::Visit(r) => Some(&mut r.photos),
            _ => None,
        }
    }
    pub fn photos(&self) -> &[PhotoRef] {
        match self {
            AnyRecord::Report(r) => &r.photos,
            AnyRecord::Visit(r) => &r.photos,
            _ => &[],
        }
    }
    pub fn comments(&self) -> &[Comment] {
        match self {
            AnyRecord::Report(r) => &r.comments,
            AnyRecord::Task(r) => &r.comments,
            _ => &[],
        }
    }
    pub fn comments_mut(&mut self) -> Option<&mut Vec<Comment>> {
        match self {
            AnyRecord::Report(r) => Some(&mut r.comments),
            AnyRecord::Task(r) => Some(&mut r.comments),
            _ => None,
        }
    }

    /// Hydrate the typed record from the document's JSON form.
    pub fn from_json(v: serde_json::Value) -> Result<Self> {
        serde_json::from_value(v).map_err(|e| {
            Error::CorruptChange(format!(
                "record does not match the schema: {}",
                redact_serde(&e)
            ))
        })
    }

    pub fn to_json(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self).map_err(|e| Error::Internal(e.to_string()))
    }

    /// Check every field. Errors name the field, never the value.
    pub fn validate(&self) -> Result<()> {
        match self {
            AnyRecord::Report(r) => {
                check_id("grid", &r.grid)?;
                check_text("title", &r.title, 1, MAX_TITLE_CHARS)?;
                check_text("description", &r.description, 0, MAX_TEXT_CHARS)?;
                if !(1..=4).contains(&r.severity) {
                    return Err(Error::invalid("severity", "must be between 1 and 4"));
                }
                if let Some(l) = &r.location {
                    check_location(l)?;
                }
                check_list("photos", r.photos.len())?;
                check_list("comments", r.comments.len())?;
                for c in &r.comments {
                    check_text("comments.text", &c.text, 1, MAX_TEXT_CHARS)?;
                }
                for p in &r.photos {
                    check_photo(p)?;
                }
            }
            AnyRecord::Visit(v) => {
                check_id("grid", &v.grid)?;
                check_id("household_id", &v.household_id)?;
                check_text("notes", &v.notes, 0, MAX_TEXT_CHARS)?;
                check_list("needs", v.needs.len())?;
                for n in &v.needs {
                    check_text("needs.note", &n.note, 0, MAX_SHORT_CHARS)?;
                }
                if let Some(d) = &v.follow_up_due {
                    parse_date("follow_up_due", d)?;
                }
                if let Some(l) = &v.location {
                    check_location(l)?;
                }
                for p in &v.photos {
                    check_photo(p)?;
                }
            }
            AnyRecord::Household(h) => {
                check_id("grid", &h.grid)?;
                check_text("address", &h.address, 1, MAX_SHORT_CHARS)?;
                check_text("notes", &h.notes, 0, MAX_TEXT_CHARS)?;
                check_list("members", h.members.len())?;
                for (i, m) in h.members.iter().enumerate() {
                    let f = |name: &str| format!("members[{i}].{name}");
                    check_text(&f("name"), &m.name, 1, 100)?;
                    if let Some(id) = &m.id_number {
                        idnum::validate(id)
                            .map_err(|reason| Error::invalid(f("id_number"), reason))?;
                    }
                    if let Some(p) = &m.phone {
                        check_phone(&f("phone"), p)?;
                    }
                    if let Some(y) = m.birth_year {
                        if !(1900..=2100).contains(&y) {
                            return Err(Error::invalid(
                                f("birth_year"),
                                "must be between 1900 and 2100",
                            ));
                        }
                    }
                }
            }
            AnyRecord::Task(t) => {
                check_id("grid", &t.grid)?;
                check_text("title", &t.title, 1, MAX_TITLE_CHARS)?;
                check_text("description", &t.description, 0, MAX_TEXT_CHARS)?;
                if t.assignees.is_empty() {
                    return Err(Error::invalid(
                        "assignees",
                        "at least one assignee is required",
                    ));
                }
                check_list("assignees", t.assignees.len())?;
                for a in &t.assignees {
                    check_id("assignees", a)?;
                }
                if let Some(d) = &t.due {
                    parse_date("due", d)?;
                }
                for c in &t.comments {
                    check_text("comments.text", &c.text, 1, MAX_TEXT_CHARS)?;
                }
            }
        }
        Ok(())
    }
}

/// serde errors may quote input values; keep only the structural part.
fn redact_serde(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.find('`') {
        Some(i) => s[..i].trim().to_owned(),
        None => s.chars().take(120).collect(),
    }
}

pub fn check_text(field: &str, s: &str, min_chars: usize, max_chars: usize) -> Result<()> {
    let n = s.chars().count();
    if n < min_chars || (min_chars > 0 && s.trim().is_empty()) {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if n > max_chars {
        return Err(Error::invalid(
            field,
            format!("too long: {n} characters, at most {max_chars}"),
        ));
    }
    if s.chars().any(|c| c == '\0') {
        return Err(Error::invalid(field, "contains a NUL character"));
    }
    Ok(())
}

/// Ids of grids, users and records: printable, no spaces, at most 64 characters.
pub fn check_id(field: &str, s: &str) -> Result<()> {
    if s.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if s.len() > 64 {
        return Err(Error::invalid(field, "too long: at most 64 characters"));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@'))
    {
        return Err(Error::invalid(
            field,
            "may only contain ASCII letters, digits and - _ . : @",
        ));
    }
    Ok(())
}

fn check_list(field: &str, n: usize) -> Result<()> {
    if n > MAX_LIST_ITEMS {
        return Err(Error::invalid(
            field,
            format!("too many items: at most {MAX_LIST_ITEMS}"),
        ));
    }
    Ok(())
}

pub fn check_location(l: &Location) -> Result<()> {
    if !l.lat.is_finite() || !(-90.0..=90.0).contains(&l.lat) {
        return Err(Error::invalid("location.lat", "must be between -90 and 90"));
    }
    if !l.lon.is_finite() || !(-180.0..=180.0).contains(&l.lon) {
        return Err(Error::invalid(
            "location.lon",
            "must be between -180 and 180",
        ));
    }
    if !l.accuracy_m.is_finite() || l.accuracy_m < 0.0 || l.accuracy_m > 100_000.0 {
        return Err(Error::invalid(
            "location.accuracy_m",
            "must be between 0 and 100000 metres",
        ));
    }
    if let Some(a) = &l.address {
        check_text("location.address", a, 0, MAX_SHORT_CHARS)?;
    }
    Ok(())
}

fn check_photo(p: &PhotoRef) -> Result<()> {
    let hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(&p.hash) || !hex(&p.thumb_hash) {
        return Err(Error::invalid("photos.hash", "must be a sha256 hex digest"));
    }
    if let Some(c) = &p.caption {
        check_text("photos.caption", c, 0, MAX_SHORT_CHARS)?;
    }
    Ok(())
}

fn check_phone(field: &str, p: &str) -> Result<()> {
    let digits: String = p.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let body = digits.strip_prefix('+').unwrap_or(&digits);
    if body.len() < 5 || body.len() > 20 || !body.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(
            field,
            "must be 5 to 20 digits, optionally with + - and spaces",
        ));
    }
    Ok(())
}

/// Parse a `YYYY-MM-DD` date; the error names the field.
pub fn parse_date(field: &str, s: &str) -> Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| Error::invalid(field, "must be a date in the form YYYY-MM-DD"))
}
