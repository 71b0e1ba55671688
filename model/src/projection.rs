//! The projection of a record: the columns lists filter and sort on, and the text search indexes.
//! One function for every kind, so there is one projection path; each kind fills its own columns
//! ([`crate::kinds::Kind::project`]).

use crate::record::{AnyRecord, Millis, RecordKind};

#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub kind: RecordKind,
    pub grid: String,
    pub status: Option<String>,
    pub open: bool,
    /// report category, visit type, or task priority
    pub category: Option<String>,
    /// report severity (1–4) or task priority rank (1–4)
    pub severity: Option<i64>,
    pub title: String,
    pub household_id: Option<String>,
    pub due: Option<String>,
    pub author: String,
    pub created_at: Millis,
    /// Searchable text besides the title.
    pub body: String,
    pub assignees: Vec<String>,
}

pub fn project(rec: &AnyRecord) -> Projection {
    let kind = rec.kind();
    let status = rec.status().map(str::to_owned);
    let mut p = Projection {
        kind,
        grid: rec.grid().to_owned(),
        open: kind.is_open(status.as_deref()),
        status,
        category: None,
        severity: None,
        title: String::new(),
        household_id: None,
        due: None,
        author: rec.author().to_owned(),
        created_at: rec.created_at(),
        body: String::new(),
        assignees: Vec::new(),
    };
    rec.project_into(&mut p);
    p
}
