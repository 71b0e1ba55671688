//! Masking of residents' personal identifiers: the one place every surface (CLI, FFI, console,
//! `Debug` of records) masks them. ID numbers keep their first 6 (the region) and last 4
//! characters; phone numbers keep their first 3 and last 4 digits. Short values are masked
//! whole. Masking is by character, so it never splits a multi-byte character.

use crate::record::{AnyRecord, Member};

/// `370102********1234`.
pub fn id_number(id: &str) -> String {
    keep_ends(id, 6, 4, 10)
}

/// `138****5678`.
pub fn phone(p: &str) -> String {
    keep_ends(p, 3, 4, 7)
}

fn keep_ends(s: &str, head: usize, tail: usize, min_len: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    if n <= min_len {
        return "*".repeat(n);
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < head || i >= n - tail { *c } else { '*' })
        .collect()
}

/// A member with ID number and phone masked.
pub fn member(m: &Member) -> Member {
    Member {
        id_number: m.id_number.as_deref().map(id_number),
        phone: m.phone.as_deref().map(phone),
        ..m.clone()
    }
}

impl AnyRecord {
    /// A copy for display: every resident's ID number and phone masked. The stored record is
    /// unchanged; only an explicit read of the record itself gives the full values.
    #[must_use]
    pub fn masked(&self) -> AnyRecord {
        let mut r = self.clone();
        if let AnyRecord::Household(h) = &mut r {
            h.members = h.members.iter().map(member).collect();
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Household, MemberTag};

    #[test]
    fn ids_and_phones_keep_only_their_ends() {
        assert_eq!(id_number("370102198001011234"), "370102********1234");
        assert_eq!(id_number("11010519491231002X"), "110105********002X");
        assert_eq!(id_number("123"), "***");
        assert_eq!(phone("13812345678"), "138****5678");
        assert_eq!(phone("1234567"), "*******");
        // Multi-byte input never panics and keeps character boundaries.
        assert_eq!(phone("一二三四五六七八九"), "一二三**六七八九");
    }

    #[test]
    fn a_masked_household_hides_every_member_identifier() {
        let rec = AnyRecord::Household(Household {
            grid: "g1".into(),
            address: "芙蓉街12号".into(),
            members: vec![Member {
                name: "赵秀英".into(),
                id_number: Some("370102194101011234".into()),
                phone: Some("13812345678".into()),
                birth_year: Some(1941),
                tags: vec![MemberTag::ElderlyLivingAlone],
            }],
            notes: String::new(),
            author: "u1".into(),
            created_at: crate::record::Millis(1),
        });
        let json = rec.masked().to_json().unwrap().to_string();
        assert!(!json.contains("370102194101011234") && !json.contains("13812345678"));
        assert!(json.contains("370102********1234") && json.contains("138****5678"));
        // The original is untouched.
        assert!(rec.to_json().unwrap().to_string().contains("13812345678"));
    }

    #[test]
    fn debug_of_households_and_visits_names_no_one() {
        use crate::record::{Need, NeedTag, Visit, VisitType};
        let h = Household {
            grid: "g1".into(),
            address: "芙蓉街12号".into(),
            members: vec![Member {
                name: "赵秀英".into(),
                id_number: Some("370102194101011234".into()),
                phone: Some("13812345678".into()),
                birth_year: Some(1941),
                tags: vec![],
            }],
            notes: "患有阿尔茨海默症".into(),
            author: "u1".into(),
            created_at: crate::record::Millis(1),
        };
        let v = Visit {
            grid: "g1".into(),
            household_id: "h1".into(),
            visit_type: VisitType::ElderlyCare,
            notes: "赵秀英 血压偏高".into(),
            needs: vec![Need {
                tag: NeedTag::Medical,
                note: "需要陪同就医".into(),
                resolved: false,
            }],
            follow_up_due: None,
            location: None,
            photos: vec![],
            author: "u1".into(),
            visited_at: crate::record::Millis(1),
            created_at: crate::record::Millis(1),
        };
        let shown = format!("{h:?} {v:?} {:?}", AnyRecord::Household(h.clone()));
        for secret in [
            "芙蓉街12号",
            "赵秀英",
            "370102194101011234",
            "13812345678",
            "阿尔茨海默症",
            "血压偏高",
            "陪同就医",
        ] {
            assert!(!shown.contains(secret), "Debug shows {secret}: {shown}");
        }
        assert!(
            shown.contains("370102********1234"),
            "masked values stay: {shown}"
        );
    }
}
