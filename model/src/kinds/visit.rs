//! Resident visit: a grid worker visits a household (elderly living alone, disabled, low-income)
//! and notes what they found and what is needed.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{GridId, RecordId, UserId};
use crate::kinds::Kind;
use crate::projection::Projection;
use crate::record::{
    check_id, check_list, check_location, check_photo, check_text, parse_date, string_enum,
    Location, Millis, PhotoRef, MAX_LIST_ITEMS, MAX_SHORT_CHARS, MAX_TEXT_CHARS,
};
use crate::shape::{
    en, enum_values, f, opt, Field, Ty, Write, DATE, ID, LOCATION_TY, LONG_TEXT, PHOTOS, SHORT,
    TIME,
};

string_enum!(#[doc = "Type of a resident visit."] VisitType, "visit_type" {
    Routine => "routine", ElderlyCare => "elderly_care", Disability => "disability",
    LowIncome => "low_income", ConflictFollowUp => "conflict_follow_up", Other => "other"
});

string_enum!(#[doc = "Tag of a need found during a visit."] NeedTag, "needs.tag" {
    Care => "care", Medical => "medical", Financial => "financial", Repair => "repair",
    LegalAid => "legal_aid", Psychological => "psychological", Other => "other"
});

/// A need found during a visit. `Debug` hides the note.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Need {
    pub tag: NeedTag,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub resolved: bool,
}

/// `Debug` hides the notes (a resident's health and family) and the needs' notes.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    pub grid: GridId,
    pub household_id: RecordId,
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
    pub author: UserId,
    pub visited_at: Millis,
    pub created_at: Millis,
}

impl std::fmt::Debug for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Need")
            .field("tag", &self.tag)
            .field(
                "note",
                &format_args!("<{} chars>", self.note.chars().count()),
            )
            .field("resolved", &self.resolved)
            .finish()
    }
}

impl std::fmt::Debug for Visit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Visit")
            .field("grid", &self.grid)
            .field("household_id", &self.household_id)
            .field("visit_type", &self.visit_type)
            .field(
                "notes",
                &format_args!("<{} chars>", self.notes.chars().count()),
            )
            .field("needs", &self.needs)
            .field("follow_up_due", &self.follow_up_due)
            .field("location", &self.location)
            .field("photos", &self.photos)
            .field("author", &self.author)
            .field("visited_at", &self.visited_at)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// The document's `kind` value.
fn kind_values() -> &'static [&'static str] {
    &["visit"]
}
enum_values!(visit_types, VisitType);
enum_values!(need_tags, NeedTag);

const NEED: &[Field] = &[
    f("tag", en(need_tags), Write::Editors),
    opt("note", SHORT, Write::Editors),
    opt("resolved", Ty::Bool, Write::Editors),
];
const NEED_TY: Ty = Ty::Map(NEED);

impl Kind for Visit {
    const KIND: super::RecordKind = super::RecordKind::Visit;
    /// Resident visit, version 1.
    const SCHEMA: &'static [Field] = &[
        f("kind", en(kind_values), Write::Fixed),
        f("grid", ID, Write::Fixed),
        f("household_id", ID, Write::Fixed),
        f("visit_type", en(visit_types), Write::Editors),
        f("notes", LONG_TEXT, Write::Editors),
        opt(
            "needs",
            Ty::List {
                item: &NEED_TY,
                max: MAX_LIST_ITEMS,
            },
            Write::Editors,
        ),
        opt("follow_up_due", Ty::Opt(&DATE), Write::Editors),
        opt("location", Ty::Opt(&LOCATION_TY), Write::Editors),
        opt("photos", PHOTOS, Write::Editors),
        f("author", ID, Write::Fixed),
        f("visited_at", TIME, Write::Editors),
        f("created_at", TIME, Write::Fixed),
    ];

    crate::kinds::record_header!(accessors);
    fn stamp_new(&mut self, user: &str, at: i64) {
        self.author = user.into();
        self.created_at = Millis(at);
        if self.visited_at.get() == 0 {
            self.visited_at = Millis(at);
        }
    }
    fn validate(&self) -> Result<()> {
        check_id("grid", &self.grid)?;
        check_id("household_id", &self.household_id)?;
        check_text("notes", &self.notes, 0, MAX_TEXT_CHARS)?;
        check_list("needs", self.needs.len())?;
        for n in &self.needs {
            check_text("needs.note", &n.note, 0, MAX_SHORT_CHARS)?;
        }
        if let Some(d) = &self.follow_up_due {
            parse_date("follow_up_due", d)?;
        }
        if let Some(l) = &self.location {
            check_location(l)?;
        }
        for p in &self.photos {
            check_photo(p)?;
        }
        Ok(())
    }
    fn project(&self, p: &mut Projection) {
        p.category = Some(self.visit_type.as_str().into());
        p.household_id = Some(self.household_id.to_string());
        p.due.clone_from(&self.follow_up_due);
        p.title = self.notes.chars().take(80).collect();
        p.body.clone_from(&self.notes);
        for n in &self.needs {
            p.body.push('\n');
            p.body.push_str(&n.note);
        }
    }
    fn photos(&self) -> &[PhotoRef] {
        &self.photos
    }
    fn photos_mut(&mut self) -> Option<&mut Vec<PhotoRef>> {
        Some(&mut self.photos)
    }
}
