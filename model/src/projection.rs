//! The projection of a record: the columns lists filter and sort on, and the text search indexes.
//! One function for every kind, so there is one projection path.

use crate::record::{AnyRecord, RecordKind};
use crate::workflow;

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
    pub created_at: i64,
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
        open: workflow::is_open(kind, status.as_deref()),
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
    match rec {
        AnyRecord::Report(r) => {
            p.category = Some(r.category.as_str().into());
            p.severity = Some(i64::from(r.severity));
            p.title.clone_from(&r.title);
            let mut body = r.description.clone();
            if let Some(a) = r.location.as_ref().and_then(|l| l.address.as_ref()) {
                body.push('\n');
                body.push_str(a);
            }
            for c in &r.comments {
                body.push('\n');
                body.push_str(&c.text);
            }
            p.body = body;
        }
        AnyRecord::Visit(v) => {
            p.category = Some(v.visit_type.as_str().into());
            p.household_id = Some(v.household_id.clone());
            p.due.clone_from(&v.follow_up_due);
            p.title = v.notes.chars().take(80).collect();
            p.body.clone_from(&v.notes);
            for n in &v.needs {
                p.body.push('\n');
                p.body.push_str(&n.note);
            }
        }
        AnyRecord::Household(h) => {
            p.title.clone_from(&h.address);
            // Names are searchable on the device that holds them; ID numbers and phones are not indexed.
            let names: Vec<&str> = h.members.iter().map(|m| m.name.as_str()).collect();
            p.body = format!("{}\n{}", names.join(" "), h.notes);
        }
        AnyRecord::Task(t) => {
            p.category = Some(t.priority.as_str().into());
            p.severity = Some(match t.priority.as_str() {
                "low" => 1,
                "normal" => 2,
                "high" => 3,
                _ => 4,
            });
            p.title.clone_from(&t.title);
            p.body.clone_from(&t.description);
            p.due.clone_from(&t.due);
            p.household_id.clone_from(&t.linked_household);
            p.assignees.clone_from(&t.assignees);
        }
    }
    p
}
