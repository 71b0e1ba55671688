//! Typed conveniences over the generic record path: what an app fills in to create a record, and
//! patches that change some fields. They all go through [`Store::create`] and [`Store::update`].

use crate::Store;
use gridwork_model::error::{Error, Result};
use gridwork_model::record::*;

/// What a worker fills in for a new patrol report.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReport {
    pub grid: String,
    pub category: ReportCategory,
    pub severity: u8,
    pub title: String,
    pub description: String,
    pub location: Option<Location>,
    /// Submit at once instead of keeping a draft.
    pub submit: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewVisit {
    pub grid: String,
    pub household_id: String,
    pub visit_type: VisitType,
    pub notes: String,
    pub needs: Vec<Need>,
    pub follow_up_due: Option<String>,
    pub location: Option<Location>,
    /// When the visit happened (ms); defaults to now.
    pub visited_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewHousehold {
    pub grid: String,
    pub address: String,
    pub members: Vec<Member>,
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub grid: String,
    pub title: String,
    pub description: String,
    pub assignees: Vec<String>,
    pub due: Option<String>,
    pub priority: Priority,
    pub linked_report: Option<String>,
    pub linked_household: Option<String>,
}

/// Fields of a report to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportPatch {
    pub category: Option<ReportCategory>,
    pub severity: Option<u8>,
    pub title: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` clears the location.
    pub location: Option<Option<Location>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct VisitPatch {
    pub visit_type: Option<VisitType>,
    pub notes: Option<String>,
    pub needs: Option<Vec<Need>>,
    pub follow_up_due: Option<Option<String>>,
    pub location: Option<Option<Location>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HouseholdPatch {
    pub address: Option<String>,
    pub members: Option<Vec<Member>>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub assignees: Option<Vec<String>>,
    pub due: Option<Option<String>>,
    pub priority: Option<Priority>,
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

fn wrong_kind(expected: RecordKind) -> Error {
    Error::invalid("id", format!("the record is not a {expected}"))
}

impl Store {
    pub fn create_report(&self, r: NewReport) -> Result<String> {
        let id = self.create(AnyRecord::Report(Report {
            grid: r.grid.into(),
            category: r.category,
            severity: r.severity,
            title: r.title,
            description: r.description,
            location: r.location,
            photos: vec![],
            status: ReportStatus::Draft,
            transitions: vec![],
            comments: vec![],
            author: UserId::default(),
            created_at: gridwork_model::Millis(0),
        }))?;
        if r.submit {
            self.transition(&id, ReportStatus::Submitted.as_str(), None)?;
        }
        Ok(id)
    }

    pub fn create_visit(&self, v: NewVisit) -> Result<String> {
        self.create(AnyRecord::Visit(Visit {
            grid: v.grid.into(),
            household_id: v.household_id.into(),
            visit_type: v.visit_type,
            notes: v.notes,
            needs: v.needs,
            follow_up_due: v.follow_up_due,
            location: v.location,
            photos: vec![],
            author: UserId::default(),
            visited_at: gridwork_model::Millis(v.visited_at.unwrap_or(0)),
            created_at: gridwork_model::Millis(0),
        }))
    }

    pub fn create_household(&self, h: NewHousehold) -> Result<String> {
        self.create(AnyRecord::Household(Household {
            grid: h.grid.into(),
            address: h.address,
            members: h.members,
            notes: h.notes,
            author: UserId::default(),
            created_at: gridwork_model::Millis(0),
        }))
    }

    /// Assign a task (leaders and supervisors).
    pub fn create_task(&self, t: NewTask) -> Result<String> {
        self.create(AnyRecord::Task(Task {
            grid: t.grid.into(),
            title: t.title,
            description: t.description,
            assignees: t.assignees.into_iter().map(UserId::from).collect(),
            due: t.due,
            priority: t.priority,
            linked_report: t.linked_report.map(RecordId::from),
            linked_household: t.linked_household.map(RecordId::from),
            status: TaskStatus::Assigned,
            transitions: vec![],
            comments: vec![],
            author: UserId::default(),
            created_at: gridwork_model::Millis(0),
        }))
    }

    pub fn update_report(&self, id: &str, p: ReportPatch) -> Result<()> {
        self.update(id, |rec| {
            let AnyRecord::Report(r) = rec else {
                return Err(wrong_kind(RecordKind::Report));
            };
            set(&mut r.category, p.category);
            set(&mut r.severity, p.severity);
            set(&mut r.title, p.title);
            set(&mut r.description, p.description);
            set(&mut r.location, p.location);
            Ok(())
        })
    }

    pub fn update_visit(&self, id: &str, p: VisitPatch) -> Result<()> {
        self.update(id, |rec| {
            let AnyRecord::Visit(v) = rec else {
                return Err(wrong_kind(RecordKind::Visit));
            };
            set(&mut v.visit_type, p.visit_type);
            set(&mut v.notes, p.notes);
            set(&mut v.needs, p.needs);
            set(&mut v.follow_up_due, p.follow_up_due);
            set(&mut v.location, p.location);
            Ok(())
        })
    }

    pub fn update_household(&self, id: &str, p: HouseholdPatch) -> Result<()> {
        self.update(id, |rec| {
            let AnyRecord::Household(h) = rec else {
                return Err(wrong_kind(RecordKind::Household));
            };
            set(&mut h.address, p.address);
            set(&mut h.members, p.members);
            set(&mut h.notes, p.notes);
            Ok(())
        })
    }

    pub fn update_task(&self, id: &str, p: TaskPatch) -> Result<()> {
        self.update(id, |rec| {
            let AnyRecord::Task(t) = rec else {
                return Err(wrong_kind(RecordKind::Task));
            };
            set(&mut t.title, p.title);
            set(&mut t.description, p.description);
            set(
                &mut t.assignees,
                p.assignees
                    .map(|a| a.into_iter().map(UserId::from).collect()),
            );
            set(&mut t.due, p.due);
            set(&mut t.priority, p.priority);
            Ok(())
        })
    }
}
