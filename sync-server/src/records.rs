//! The server's list of records: one row per document with the columns the web console filters,
//! sorts and counts on (the model's [`gridwork_model::projection`] plus when the server last
//! changed it and when it was closed). Written by the store in the same transaction as the
//! document, so a list never disagrees with the documents; read by the console without loading
//! a single document.

use gridwork_model::projection::project;
use gridwork_model::{AnyRecord, RecordKind};

/// Most rows one list query returns (a page of the console asks for 50).
pub const MAX_PAGE: usize = 200;
/// Longest search text, in characters (longer input is refused by the console's form check).
pub const MAX_SEARCH_CHARS: usize = 100;

/// One record as lists show it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordRow {
    pub doc_id: String,
    pub kind: RecordKind,
    pub grid: String,
    pub status: Option<String>,
    pub open: bool,
    /// Report category, visit type or task priority.
    pub category: Option<String>,
    /// Report severity (1–4) or task priority rank.
    pub severity: Option<i64>,
    pub title: String,
    pub author: String,
    pub household_id: Option<String>,
    /// Task due date or visit follow-up date (`YYYY-MM-DD`).
    pub due: Option<String>,
    pub assignees: Vec<String>,
    pub created_at: i64,
    /// When the server last stored a change of it (ms).
    pub updated_at: i64,
    /// When it reached its closing status (report `closed`, task `verified`), if it has.
    pub closed_at: Option<i64>,
    /// Lower-cased title and body, for substring search (any script: a `LIKE` over it, so two
    /// Chinese characters find a record as well as a word).
    pub search: String,
}

/// The closing status of a kind: what the dashboard counts as closed.
pub fn closing_status(kind: RecordKind) -> Option<&'static str> {
    match kind {
        RecordKind::Report => Some("closed"),
        RecordKind::Task => Some("verified"),
        _ => None,
    }
}

impl RecordRow {
    /// The row of a record the server just stored.
    pub fn of(doc_id: &str, rec: &AnyRecord, updated_at: i64) -> RecordRow {
        let p = project(rec);
        let closed_at = closing_status(p.kind).and_then(|closing| {
            (rec.status() == Some(closing))
                .then(|| {
                    rec.transitions()
                        .iter()
                        .rev()
                        .find(|t| t.to == closing)
                        .map(|t| t.at.get())
                })
                .flatten()
        });
        let mut search = p.title.to_lowercase();
        if !p.body.is_empty() {
            search.push('\n');
            search.push_str(&p.body.to_lowercase());
        }
        RecordRow {
            doc_id: doc_id.to_owned(),
            kind: p.kind,
            grid: p.grid,
            status: p.status,
            open: p.open,
            category: p.category,
            severity: p.severity,
            title: p.title,
            author: p.author,
            household_id: p.household_id,
            due: p.due,
            assignees: p.assignees,
            created_at: p.created_at.get(),
            updated_at,
            closed_at,
            search,
        }
    }
}

/// Column a list is sorted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Created,
    Updated,
    Severity,
    Due,
    Title,
    Status,
}

impl Sort {
    pub const ALL: &'static [Sort] = &[
        Sort::Created,
        Sort::Updated,
        Sort::Severity,
        Sort::Due,
        Sort::Title,
        Sort::Status,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Created => "created",
            Sort::Updated => "updated",
            Sort::Severity => "severity",
            Sort::Due => "due",
            Sort::Title => "title",
            Sort::Status => "status",
        }
    }

    pub fn parse(s: &str) -> Option<Sort> {
        Sort::ALL.iter().copied().find(|x| x.as_str() == s)
    }

    /// The SQL expression sorted on (never NULL, so keyset comparisons hold).
    pub fn column(self) -> &'static str {
        match self {
            Sort::Created => "created_at",
            Sort::Updated => "updated_at",
            Sort::Severity => "coalesce(severity, 0)",
            Sort::Due => "coalesce(due, '')",
            Sort::Title => "title",
            Sort::Status => "coalesce(status, '')",
        }
    }

    pub fn is_text(self) -> bool {
        matches!(self, Sort::Due | Sort::Title | Sort::Status)
    }

    /// The sort value of a row, for the next page's cursor.
    pub fn key_of(self, row: &RecordRow) -> SortKey {
        match self {
            Sort::Created => SortKey::Int(row.created_at),
            Sort::Updated => SortKey::Int(row.updated_at),
            Sort::Severity => SortKey::Int(row.severity.unwrap_or(0)),
            Sort::Due => SortKey::Text(row.due.clone().unwrap_or_default()),
            Sort::Title => SortKey::Text(row.title.clone()),
            Sort::Status => SortKey::Text(row.status.clone().unwrap_or_default()),
        }
    }
}

/// A sort value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    Int(i64),
    Text(String),
}

/// Where the next page starts: after the row with this sort value and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub key: SortKey,
    pub doc_id: String,
}

impl After {
    /// `i<n>~<id>` or `t<text>~<id>` in a URL (the id never holds `~`).
    pub fn encode(&self) -> String {
        match &self.key {
            SortKey::Int(n) => format!("i{n}~{}", self.doc_id),
            SortKey::Text(t) => format!("t{t}~{}", self.doc_id),
        }
    }

    /// Reads what [`After::encode`] wrote, for `sort`; `None` for anything else.
    pub fn decode(s: &str, sort: Sort) -> Option<After> {
        let (key, id) = s.rsplit_once('~')?;
        gridwork_model::check_id("after", id).ok()?;
        let key = match (key.split_at_checked(1)?, sort.is_text()) {
            (("i", n), false) => SortKey::Int(n.parse().ok()?),
            (("t", t), true) if t.chars().count() <= 400 => SortKey::Text(t.to_owned()),
            _ => return None,
        };
        Some(After {
            key,
            doc_id: id.to_owned(),
        })
    }
}

/// A filtered, sorted page of one kind of record, in a reader's scope.
#[derive(Debug, Clone, Default)]
pub struct RecordQuery {
    pub kind: Option<RecordKind>,
    pub status: Option<String>,
    /// Only open records (workflow not finished).
    pub open: Option<bool>,
    pub grid: Option<String>,
    pub category: Option<String>,
    pub severity: Option<i64>,
    pub author: Option<String>,
    pub assignee: Option<String>,
    pub household: Option<String>,
    /// `created_at` ≥ this (ms).
    pub created_from: Option<i64>,
    /// `created_at` < this (ms).
    pub created_to: Option<i64>,
    /// Open with a due date before this `YYYY-MM-DD` day.
    pub due_before: Option<String>,
    /// Substring of title or body, any case.
    pub text: Option<String>,
    pub sort: Sort,
    pub descending: bool,
    pub after: Option<After>,
    /// At most [`MAX_PAGE`].
    pub limit: usize,
}

/// Counts the dashboard shows, over one reader's scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dashboard {
    /// (status, count) of reports.
    pub report_status: Vec<(String, u64)>,
    /// (category, count) of open reports.
    pub report_category: Vec<(String, u64)>,
    /// (grid, open reports, open tasks).
    pub grids: Vec<(String, u64, u64)>,
    /// (status, count) of tasks.
    pub task_status: Vec<(String, u64)>,
    /// Open tasks past their due date.
    pub overdue_tasks: u64,
    /// Visits whose follow-up date has passed.
    pub overdue_visits: u64,
    /// Reports waiting for their author after a return.
    pub returned_reports: u64,
    /// Per day of the last 30 (oldest first, local days): (reports filed, reports closed).
    pub days: Vec<(u64, u64)>,
}

/// What the dashboard needs to know about "now".
#[derive(Debug, Clone)]
pub struct DashboardAt {
    /// Start of the first of the 30 days (ms), local midnight.
    pub first_day_ms: i64,
    /// Today, `YYYY-MM-DD` (local), for due dates.
    pub today: String,
}

/// One entry of the access log: someone saw a household's personal data in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    pub at_ms: i64,
    pub user_id: String,
    pub doc_id: String,
    /// What they were shown (`household`).
    pub what: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let a = After {
            key: SortKey::Int(-5),
            doc_id: "r1".into(),
        };
        assert_eq!(After::decode(&a.encode(), Sort::Created), Some(a.clone()));
        // A cursor for another kind of sort is not read.
        assert_eq!(After::decode(&a.encode(), Sort::Title), None);
        let t = After {
            key: SortKey::Text("楼道~杂物".into()),
            doc_id: "r2".into(),
        };
        assert_eq!(After::decode(&t.encode(), Sort::Title), Some(t));
        for bad in ["", "~", "i~r1", "ix~r1", "i1~a b", "q1~r1", "i1"] {
            assert_eq!(After::decode(bad, Sort::Created), None, "{bad}");
        }
    }
}
