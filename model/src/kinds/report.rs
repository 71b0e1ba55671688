//! Patrol report: a grid worker found a problem (hazard, sanitation, fire risk, dispute, …) and
//! reports it with text, photos and a location; supervisors review it; it is resolved and closed.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{GridId, UserId};
use crate::kinds::{find_step, Kind, Who};
use crate::projection::Projection;
use crate::record::{
    check_id, check_list, check_location, check_photo, check_text, string_enum, Comment, Location,
    Millis, PhotoRef, Transition, MAX_TEXT_CHARS, MAX_TITLE_CHARS,
};
use crate::shape::{
    en, enum_values, f, opt, Field, Ty, Write, COMMENTS, ID, LOCATION_TY, LONG_TEXT, PHOTOS, TIME,
    TITLE, TRANSITIONS,
};

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub grid: GridId,
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
    pub author: UserId,
    pub created_at: Millis,
}

/// Who may move a report from one status to another.
const FLOW: &[(ReportStatus, ReportStatus, Who)] = &[
    (ReportStatus::Draft, ReportStatus::Submitted, Who::Author),
    (ReportStatus::Returned, ReportStatus::Submitted, Who::Author),
    (
        ReportStatus::Submitted,
        ReportStatus::Returned,
        Who::Reviewer,
    ),
    (
        ReportStatus::Submitted,
        ReportStatus::Approved,
        Who::Reviewer,
    ),
    (ReportStatus::Approved, ReportStatus::Resolved, Who::Anyone),
    (ReportStatus::Resolved, ReportStatus::Closed, Who::Manager),
    (ReportStatus::Approved, ReportStatus::Closed, Who::Reviewer),
];

enum_values!(categories, ReportCategory);
enum_values!(statuses, ReportStatus);

/// The document's `kind` value.
fn kind_values() -> &'static [&'static str] {
    &["report"]
}

impl Kind for Report {
    const KIND: super::RecordKind = super::RecordKind::Report;
    /// Patrol report, version 1.
    const SCHEMA: &'static [Field] = &[
        f("kind", en(kind_values), Write::Fixed),
        f("grid", ID, Write::Fixed),
        f("category", en(categories), Write::Editors),
        f("severity", Ty::Int { min: 1, max: 4 }, Write::Editors),
        f("title", TITLE, Write::Editors),
        f("description", LONG_TEXT, Write::Editors),
        opt("location", Ty::Opt(&LOCATION_TY), Write::Editors),
        opt("photos", PHOTOS, Write::Editors),
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
        if !(1..=4).contains(&self.severity) {
            return Err(Error::invalid("severity", "must be between 1 and 4"));
        }
        if let Some(l) = &self.location {
            check_location(l)?;
        }
        check_list("photos", self.photos.len())?;
        check_list("comments", self.comments.len())?;
        for c in &self.comments {
            check_text("comments.text", &c.text, 1, MAX_TEXT_CHARS)?;
        }
        for p in &self.photos {
            check_photo(p)?;
        }
        Ok(())
    }
    fn project(&self, p: &mut Projection) {
        p.category = Some(self.category.as_str().into());
        p.severity = Some(i64::from(self.severity));
        p.title.clone_from(&self.title);
        let mut body = self.description.clone();
        if let Some(a) = self.location.as_ref().and_then(|l| l.address.as_ref()) {
            body.push('\n');
            body.push_str(a);
        }
        for c in &self.comments {
            body.push('\n');
            body.push_str(&c.text);
        }
        p.body = body;
    }

    fn initial_status() -> Option<&'static str> {
        Some(ReportStatus::Draft.as_str())
    }
    fn status(&self) -> Option<&'static str> {
        Some(self.status.as_str())
    }
    fn is_open(status: &str) -> bool {
        status != ReportStatus::Closed.as_str()
    }
    fn step(from: &str, to: &str) -> Result<Option<Who>> {
        find_step(FLOW, from, to)
    }
    fn needs_comment(to: &str) -> bool {
        to == ReportStatus::Returned.as_str()
    }
    fn apply_step(&mut self, to: &str, t: Transition) -> Result<()> {
        self.status = to.parse()?;
        self.transitions.push(t);
        Ok(())
    }
    fn transitions(&self) -> &[Transition] {
        &self.transitions
    }
    fn comments(&self) -> &[Comment] {
        &self.comments
    }
    fn comments_mut(&mut self) -> Option<&mut Vec<Comment>> {
        Some(&mut self.comments)
    }
    fn photos(&self) -> &[PhotoRef] {
        &self.photos
    }
    fn photos_mut(&mut self) -> Option<&mut Vec<PhotoRef>> {
        Some(&mut self.photos)
    }
}
