//! Task: a community leader (or supervisor) assigns work to grid workers, who accept, do and
//! finish it; the leader verifies or cancels it.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{GridId, RecordId, UserId};
use crate::kinds::{find_step, Kind, Who};
use crate::projection::Projection;
use crate::record::{
    check_id, check_list, check_text, parse_date, string_enum, Comment, Millis, Role, Transition,
    MAX_LIST_ITEMS, MAX_TEXT_CHARS, MAX_TITLE_CHARS,
};
use crate::shape::{
    en, enum_values, f, opt, Field, Ty, Write, COMMENTS, DATE, ID, LONG_TEXT, TIME, TITLE,
    TRANSITIONS,
};

string_enum!(#[doc = "Workflow status of a task."] TaskStatus, "status" {
    Assigned => "assigned", Accepted => "accepted", InProgress => "in_progress", Done => "done",
    Verified => "verified", Cancelled => "cancelled"
});

string_enum!(#[doc = "Priority of a task."] Priority, "priority" {
    Low => "low", Normal => "normal", High => "high", Urgent => "urgent"
});

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub grid: GridId,
    pub title: String,
    pub description: String,
    pub assignees: Vec<UserId>,
    /// `YYYY-MM-DD`
    #[serde(default)]
    pub due: Option<String>,
    pub priority: Priority,
    #[serde(default)]
    pub linked_report: Option<RecordId>,
    #[serde(default)]
    pub linked_household: Option<RecordId>,
    pub status: TaskStatus,
    #[serde(default)]
    pub transitions: Vec<Transition>,
    #[serde(default)]
    pub comments: Vec<Comment>,
    pub author: UserId,
    pub created_at: Millis,
}

/// Who may move a task from one status to another.
const FLOW: &[(TaskStatus, TaskStatus, Who)] = &[
    (TaskStatus::Assigned, TaskStatus::Accepted, Who::Assignee),
    (TaskStatus::Accepted, TaskStatus::InProgress, Who::Assignee),
    (TaskStatus::InProgress, TaskStatus::Done, Who::Assignee),
    (TaskStatus::Accepted, TaskStatus::Done, Who::Assignee),
    (TaskStatus::Done, TaskStatus::Verified, Who::Manager),
    (TaskStatus::Done, TaskStatus::InProgress, Who::Manager),
    (TaskStatus::Assigned, TaskStatus::Cancelled, Who::Manager),
    (TaskStatus::Accepted, TaskStatus::Cancelled, Who::Manager),
    (TaskStatus::InProgress, TaskStatus::Cancelled, Who::Manager),
];

/// The document's `kind` value.
fn kind_values() -> &'static [&'static str] {
    &["task"]
}
enum_values!(statuses, TaskStatus);
enum_values!(priorities, Priority);

impl Kind for Task {
    const KIND: super::RecordKind = super::RecordKind::Task;
    /// Task, version 1.
    const SCHEMA: &'static [Field] = &[
        f("kind", en(kind_values), Write::Fixed),
        f("grid", ID, Write::Fixed),
        f("title", TITLE, Write::Managers),
        f("description", LONG_TEXT, Write::Managers),
        f(
            "assignees",
            Ty::List {
                item: &ID,
                max: MAX_LIST_ITEMS,
            },
            Write::Managers,
        ),
        opt("due", Ty::Opt(&DATE), Write::Managers),
        f("priority", en(priorities), Write::Managers),
        opt("linked_report", Ty::Opt(&ID), Write::Managers),
        opt("linked_household", Ty::Opt(&ID), Write::Managers),
        f("status", en(statuses), Write::Status),
        opt("transitions", TRANSITIONS, Write::Transitions),
        opt("comments", COMMENTS, Write::Comments),
        f("author", ID, Write::Fixed),
        f("created_at", TIME, Write::Fixed),
    ];

    crate::kinds::record_header!();
    fn validate(&self) -> Result<()> {
        check_id("grid", &self.grid)?;
        check_text("title", &self.title, 1, MAX_TITLE_CHARS)?;
        check_text("description", &self.description, 0, MAX_TEXT_CHARS)?;
        if self.assignees.is_empty() {
            return Err(Error::invalid(
                "assignees",
                "at least one assignee is required",
            ));
        }
        check_list("assignees", self.assignees.len())?;
        for a in &self.assignees {
            check_id("assignees", a)?;
        }
        if let Some(d) = &self.due {
            parse_date("due", d)?;
        }
        // Links name records by id: the id rule, as every id a device sends.
        if let Some(r) = &self.linked_report {
            check_id("linked_report", r)?;
        }
        if let Some(h) = &self.linked_household {
            check_id("linked_household", h)?;
        }
        for c in &self.comments {
            check_text("comments.text", &c.text, 1, MAX_TEXT_CHARS)?;
        }
        Ok(())
    }
    fn project(&self, p: &mut Projection) {
        p.category = Some(self.priority.as_str().into());
        p.severity = Some(match self.priority {
            Priority::Low => 1,
            Priority::Normal => 2,
            Priority::High => 3,
            Priority::Urgent => 4,
        });
        p.title.clone_from(&self.title);
        p.body.clone_from(&self.description);
        p.due.clone_from(&self.due);
        p.household_id = self.linked_household.clone().map(String::from);
        p.assignees = self
            .assignees
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
    }
    fn may_not_create(role: Role) -> Option<(&'static str, String)> {
        (!role.manages()).then(|| ("assignees", format!("a {role} may not assign tasks")))
    }

    fn initial_status() -> Option<&'static str> {
        Some(TaskStatus::Assigned.as_str())
    }
    fn status(&self) -> Option<&'static str> {
        Some(self.status.as_str())
    }
    fn is_open(status: &str) -> bool {
        status != TaskStatus::Verified.as_str() && status != TaskStatus::Cancelled.as_str()
    }
    fn step(from: &str, to: &str) -> Result<Option<Who>> {
        find_step(FLOW, from, to)
    }
    fn apply_step(&mut self, to: &str, t: Transition) -> Result<()> {
        self.status = to.parse()?;
        self.transitions.push(t);
        Ok(())
    }
    fn transitions(&self) -> &[Transition] {
        &self.transitions
    }
    fn is_assignee(&self, user: &str) -> bool {
        self.assignees.iter().any(|a| a == user)
    }
    fn comments(&self) -> &[Comment] {
        &self.comments
    }
    fn comments_mut(&mut self) -> Option<&mut Vec<Comment>> {
        Some(&mut self.comments)
    }
}
