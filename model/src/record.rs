//! The record model: patrol reports, resident visits, households and tasks.
//!
//! Every record is one Automerge document whose root map is the serde form of [`AnyRecord`]
//! (tagged by `kind`). Keys named in [`TEXT_KEYS`] are stored as Automerge text so concurrent
//! typing merges; everything else is a scalar, a map or a list.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use crate::ids::{GridId, RecordId, UserId};

/// Keys whose string values are collaborative Automerge text wherever they appear.
/// A point in time: milliseconds since the Unix epoch, UTC. Every time in records, the store and
/// on the wire is one of these (fields end in `_at` or `_ms`); dates a person types (a task's
/// due date) are `YYYY-MM-DD` strings.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub i64);

impl Millis {
    /// The milliseconds as a number (for SQL and arithmetic).
    pub fn get(self) -> i64 {
        self.0
    }
}

impl From<i64> for Millis {
    fn from(ms: i64) -> Self {
        Millis(ms)
    }
}

impl From<Millis> for i64 {
    fn from(m: Millis) -> Self {
        m.0
    }
}

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(feature = "sqlite")]
impl rusqlite::ToSql for Millis {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        self.0.to_sql()
    }
}

#[cfg(feature = "sqlite")]
impl rusqlite::types::FromSql for Millis {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        i64::column_result(v).map(Millis)
    }
}

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
pub(crate) use string_enum;

pub use crate::kinds::household::{Household, Member, MemberTag};
pub use crate::kinds::report::{Report, ReportCategory, ReportStatus};
pub use crate::kinds::task::{Priority, Task, TaskStatus};
pub use crate::kinds::visit::{Need, NeedTag, Visit, VisitType};
pub use crate::kinds::{AnyRecord, Kind, RecordKind, Who};

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
    pub by: UserId,
    pub role: Role,
    pub at: Millis,
    #[serde(default)]
    pub comment: Option<String>,
}

/// A comment on a report or task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: String,
    pub by: UserId,
    pub at: Millis,
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
    pub taken_at: Option<Millis>,
    #[serde(default)]
    pub caption: Option<String>,
}

impl AnyRecord {
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

pub fn check_list(field: &str, n: usize) -> Result<()> {
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

pub fn check_photo(p: &PhotoRef) -> Result<()> {
    let hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(&p.hash) || !hex(&p.thumb_hash) {
        return Err(Error::invalid("photos.hash", "must be a sha256 hex digest"));
    }
    if let Some(c) = &p.caption {
        check_text("photos.caption", c, 0, MAX_SHORT_CHARS)?;
    }
    Ok(())
}

pub fn check_phone(field: &str, p: &str) -> Result<()> {
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
