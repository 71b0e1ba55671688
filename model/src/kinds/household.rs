//! Household: the residents at one address of a grid, with the tags that decide care (elderly
//! living alone, disabled, low-income). Holds personal data: `Debug` of a member masks it.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::idnum;
use crate::ids::{GridId, UserId};
use crate::kinds::Kind;
use crate::projection::Projection;
use crate::record::{
    check_id, check_list, check_phone, check_text, string_enum, Millis, MAX_LIST_ITEMS,
    MAX_SHORT_CHARS, MAX_TEXT_CHARS,
};
use crate::shape::{en, enum_values, f, opt, Field, StrRule, Ty, Write, ID, LONG_TEXT, TIME};

string_enum!(#[doc = "Tag of a household member."] MemberTag, "members.tags" {
    ElderlyLivingAlone => "elderly_living_alone", Disabled => "disabled", LowIncome => "low_income",
    KeyCare => "key_care"
});

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
            .field(
                "id_number",
                &self.id_number.as_deref().map(crate::mask::id_number),
            )
            .field("phone", &self.phone.as_deref().map(crate::mask::phone))
            .field("birth_year", &self.birth_year)
            .field("tags", &self.tags)
            .finish()
    }
}

/// `Debug` hides the address and the notes (family situations, health) and masks every member:
/// a household printed by a log line, a panic or a test failure names no one.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Household {
    pub grid: GridId,
    pub address: String,
    #[serde(default)]
    pub members: Vec<Member>,
    #[serde(default)]
    pub notes: String,
    pub author: UserId,
    pub created_at: Millis,
}

impl std::fmt::Debug for Household {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Household")
            .field("grid", &self.grid)
            .field(
                "address",
                &format_args!("<{} chars>", self.address.chars().count()),
            )
            .field("members", &self.members)
            .field(
                "notes",
                &format_args!("<{} chars>", self.notes.chars().count()),
            )
            .field("author", &self.author)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// The document's `kind` value.
fn kind_values() -> &'static [&'static str] {
    &["household"]
}
enum_values!(member_tags, MemberTag);

const MEMBER_TAG_TY: Ty = en(member_tags);
const MEMBER: &[Field] = &[
    f(
        "name",
        Ty::Str {
            min: 1,
            max: 100,
            rule: StrRule::Free,
        },
        Write::Anyone,
    ),
    opt(
        "id_number",
        Ty::Opt(&Ty::Str {
            min: 0,
            max: 32,
            rule: StrRule::Free,
        }),
        Write::Anyone,
    ),
    opt(
        "phone",
        Ty::Opt(&Ty::Str {
            min: 0,
            max: 32,
            rule: StrRule::Free,
        }),
        Write::Anyone,
    ),
    opt(
        "birth_year",
        Ty::Opt(&Ty::Int {
            min: 1900,
            max: 2100,
        }),
        Write::Anyone,
    ),
    opt(
        "tags",
        Ty::List {
            item: &MEMBER_TAG_TY,
            max: 16,
        },
        Write::Anyone,
    ),
];
const MEMBER_TY: Ty = Ty::Map(MEMBER);

impl Kind for Household {
    const KIND: super::RecordKind = super::RecordKind::Household;
    /// Household, version 1.
    const SCHEMA: &'static [Field] = &[
        f("kind", en(kind_values), Write::Fixed),
        f("grid", ID, Write::Fixed),
        f(
            "address",
            Ty::Str {
                min: 1,
                max: MAX_SHORT_CHARS,
                rule: StrRule::Free,
            },
            Write::Anyone,
        ),
        opt(
            "members",
            Ty::List {
                item: &MEMBER_TY,
                max: MAX_LIST_ITEMS,
            },
            Write::Anyone,
        ),
        opt("notes", LONG_TEXT, Write::Anyone),
        f("author", ID, Write::Fixed),
        f("created_at", TIME, Write::Fixed),
    ];

    crate::kinds::record_header!();
    fn validate(&self) -> Result<()> {
        check_id("grid", &self.grid)?;
        check_text("address", &self.address, 1, MAX_SHORT_CHARS)?;
        check_text("notes", &self.notes, 0, MAX_TEXT_CHARS)?;
        check_list("members", self.members.len())?;
        for (i, m) in self.members.iter().enumerate() {
            let f = |name: &str| format!("members[{i}].{name}");
            check_text(&f("name"), &m.name, 1, 100)?;
            if let Some(id) = &m.id_number {
                idnum::validate(id).map_err(|reason| Error::invalid(f("id_number"), reason))?;
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
        Ok(())
    }
    fn project(&self, p: &mut Projection) {
        p.title.clone_from(&self.address);
        // Names are searchable on the device that holds them; ID numbers and phones are not indexed.
        let names: Vec<&str> = self.members.iter().map(|m| m.name.as_str()).collect();
        p.body = format!("{}\n{}", names.join(" "), self.notes);
    }
}
