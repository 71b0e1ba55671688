//! Record kinds as data. Each kind is one file here: its struct, its enums, its document schema,
//! its validation, its list columns and its workflow, behind the [`Kind`] trait. The
//! `register_kinds!` call at the bottom of this file is the one registration: it makes
//! [`RecordKind`], [`AnyRecord`] (whose serde form is the document layout) and every dispatch
//! from `AnyRecord` / `RecordKind` to the kind's [`Kind`] implementation.
//!
//! Adding a kind: a new file with a struct and `impl Kind`, and one line in `register_kinds!`
//! (ARCHITECTURE.md, "add a record kind", walks through an example).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use crate::projection::Projection;
use crate::record::{Comment, PhotoRef, Role, Transition};
use crate::shape::Field;

pub mod household;
pub mod report;
pub mod task;
pub mod visit;

/// Who may make a workflow transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// the record's author (or a manager acting for them)
    Author,
    /// one of the record's assignees (or a manager)
    Assignee,
    /// roles that review reports (supervisor, admin)
    Reviewer,
    /// roles that manage tasks (leader, supervisor, admin)
    Manager,
    /// anyone in scope
    Anyone,
}

impl Who {
    /// How a refusal names who may make the step.
    pub fn describe(self) -> &'static str {
        match self {
            Who::Author => "the author",
            Who::Assignee => "an assignee",
            Who::Reviewer => "a supervisor",
            Who::Manager => "a community leader or supervisor",
            Who::Anyone => "anyone",
        }
    }
}

/// One record kind: everything the layers need to know about it. Kinds without a workflow keep
/// the defaults of the workflow methods.
pub trait Kind: Sized + Clone + PartialEq + Serialize + DeserializeOwned + Into<AnyRecord> {
    /// The kind's name in documents, SQL and on the wire.
    const KIND: RecordKind;
    /// The document schema: every field, its type, whether it is required, who may write it.
    const SCHEMA: &'static [Field];

    fn grid(&self) -> &str;
    fn author(&self) -> &str;
    fn created_at(&self) -> crate::record::Millis;
    /// Sets the fields the system owns on a new record (author, creation time, …).
    fn stamp_new(&mut self, user: &str, at: i64);
    /// Checks every field. Errors name the field, never the value.
    fn validate(&self) -> Result<()>;
    /// Fills the kind's list columns and searchable text (the shared ones are already set).
    fn project(&self, p: &mut Projection);
    /// Why `role` may not create one, if it may not (beyond being its author, in scope).
    fn may_not_create(_role: Role) -> Option<(&'static str, String)> {
        None
    }

    // --- workflow ---------------------------------------------------------------------------
    /// The status a new record starts in; `None`: the kind has no workflow.
    fn initial_status() -> Option<&'static str> {
        None
    }
    fn status(&self) -> Option<&'static str> {
        None
    }
    /// Whether a record in `status` still counts as open in lists.
    fn is_open(_status: &str) -> bool {
        true
    }
    /// Who may move a record from `from` to `to`: `Ok(None)` when no such step exists.
    fn step(from: &str, to: &str) -> Result<Option<Who>> {
        let _ = (from, to);
        Err(no_workflow(Self::KIND))
    }
    /// Whether the step to `to` needs a comment (returning a report says why).
    fn needs_comment(_to: &str) -> bool {
        false
    }
    /// Sets the status to `to` and appends `t`.
    fn apply_step(&mut self, _to: &str, _t: Transition) -> Result<()> {
        Err(no_workflow(Self::KIND))
    }
    fn transitions(&self) -> &[Transition] {
        &[]
    }
    fn is_assignee(&self, _user: &str) -> bool {
        false
    }

    // --- attachments ------------------------------------------------------------------------
    fn comments(&self) -> &[Comment] {
        &[]
    }
    fn comments_mut(&mut self) -> Option<&mut Vec<Comment>> {
        None
    }
    fn photos(&self) -> &[PhotoRef] {
        &[]
    }
    fn photos_mut(&mut self) -> Option<&mut Vec<PhotoRef>> {
        None
    }
}

fn no_workflow(kind: RecordKind) -> Error {
    Error::invalid("status", format!("a {kind} has no workflow"))
}

/// The header every kind shares (`grid`, `author`, `created_at`): its accessors, and with no
/// argument also `stamp_new` (author and creation time; a kind with more system fields writes its
/// own `stamp_new` and asks for `accessors` only).
macro_rules! record_header {
    () => {
        crate::kinds::record_header!(accessors);
        fn stamp_new(&mut self, user: &str, at: i64) {
            self.author = user.into();
            self.created_at = crate::record::Millis(at);
        }
    };
    (accessors) => {
        fn grid(&self) -> &str {
            &self.grid
        }
        fn author(&self) -> &str {
            &self.author
        }
        fn created_at(&self) -> crate::record::Millis {
            self.created_at
        }
    };
}
pub(crate) use record_header;

/// Looks up `(from, to)` in a kind's table of steps, parsing both as the kind's status enum.
pub fn find_step<S: std::str::FromStr<Err = Error> + PartialEq + Copy>(
    flow: &[(S, S, Who)],
    from: &str,
    to: &str,
) -> Result<Option<Who>> {
    let (f, t) = (from.parse::<S>()?, to.parse::<S>()?);
    Ok(flow
        .iter()
        .find(|(a, b, _)| *a == f && *b == t)
        .map(|x| x.2))
}

/// The registration: one line per kind, `Variant(Type) = "name"`.
macro_rules! register_kinds {
    ($($variant:ident($ty:ty) = $name:literal),+ $(,)?) => {
        crate::record::string_enum!(#[doc = "Kind of record."] RecordKind, "kind" {
            $($variant => $name),+
        });

        /// Any record, tagged by kind. Its serde form is the document layout.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        pub enum AnyRecord {
            $(#[serde(rename = $name)] $variant($ty)),+
        }

        $(impl From<$ty> for AnyRecord {
            fn from(r: $ty) -> AnyRecord {
                AnyRecord::$variant(r)
            }
        })+

        impl RecordKind {
            /// The kind's document schema.
            pub fn schema(self) -> &'static [Field] {
                match self { $(RecordKind::$variant => <$ty as Kind>::SCHEMA),+ }
            }
            /// The status a new record starts in (`None`: no workflow).
            pub fn initial_status(self) -> Option<&'static str> {
                match self { $(RecordKind::$variant => <$ty as Kind>::initial_status()),+ }
            }
            /// Whether a record of this kind in `status` counts as open.
            pub fn is_open(self, status: Option<&str>) -> bool {
                match (self, status) {
                    $((RecordKind::$variant, Some(s)) => <$ty as Kind>::is_open(s),)+
                    (_, None) => true,
                }
            }
            /// Who may make the step `from` → `to` (`Ok(None)`: no such step).
            pub fn step(self, from: &str, to: &str) -> Result<Option<Who>> {
                match self { $(RecordKind::$variant => <$ty as Kind>::step(from, to)),+ }
            }
            pub fn needs_comment(self, to: &str) -> bool {
                match self { $(RecordKind::$variant => <$ty as Kind>::needs_comment(to)),+ }
            }
            pub fn may_not_create(self, role: Role) -> Option<(&'static str, String)> {
                match self { $(RecordKind::$variant => <$ty as Kind>::may_not_create(role)),+ }
            }
        }

        impl AnyRecord {
            pub fn kind(&self) -> RecordKind {
                match self { $(AnyRecord::$variant(_) => RecordKind::$variant),+ }
            }
            pub fn grid(&self) -> &str {
                match self { $(AnyRecord::$variant(r) => r.grid()),+ }
            }
            pub fn author(&self) -> &str {
                match self { $(AnyRecord::$variant(r) => r.author()),+ }
            }
            pub fn created_at(&self) -> crate::record::Millis {
                match self { $(AnyRecord::$variant(r) => r.created_at()),+ }
            }
            /// Sets the fields the system owns on a new record.
            pub fn stamp_new(&mut self, user: &str, at: i64) {
                match self { $(AnyRecord::$variant(r) => r.stamp_new(user, at)),+ }
            }
            /// Check every field. Errors name the field, never the value.
            pub fn validate(&self) -> Result<()> {
                match self { $(AnyRecord::$variant(r) => r.validate()),+ }
            }
            pub(crate) fn project_into(&self, p: &mut Projection) {
                match self { $(AnyRecord::$variant(r) => r.project(p)),+ }
            }
            /// Workflow status as a string, for kinds that have one.
            pub fn status(&self) -> Option<&'static str> {
                match self { $(AnyRecord::$variant(r) => r.status()),+ }
            }
            pub(crate) fn apply_step(&mut self, to: &str, t: Transition) -> Result<()> {
                match self { $(AnyRecord::$variant(r) => r.apply_step(to, t)),+ }
            }
            pub fn transitions(&self) -> &[Transition] {
                match self { $(AnyRecord::$variant(r) => r.transitions()),+ }
            }
            pub fn is_assignee(&self, user: &str) -> bool {
                match self { $(AnyRecord::$variant(r) => r.is_assignee(user)),+ }
            }
            pub fn comments(&self) -> &[Comment] {
                match self { $(AnyRecord::$variant(r) => r.comments()),+ }
            }
            pub fn comments_mut(&mut self) -> Option<&mut Vec<Comment>> {
                match self { $(AnyRecord::$variant(r) => r.comments_mut()),+ }
            }
            pub fn photos(&self) -> &[PhotoRef] {
                match self { $(AnyRecord::$variant(r) => r.photos()),+ }
            }
            pub fn photos_mut(&mut self) -> Option<&mut Vec<PhotoRef>> {
                match self { $(AnyRecord::$variant(r) => r.photos_mut()),+ }
            }
        }
    };
}

register_kinds! {
    Report(report::Report) = "report",
    Visit(visit::Visit) = "visit",
    Household(household::Household) = "household",
    Task(task::Task) = "task",
}
