//! The team directory a device receives with each sync (protocol version 2).
//!
//! A user's *view* is the part of the organisation they may know by name: the units they are
//! attached to with everything under them (their grids) and everything above them (community,
//! street, district), and the people attached to any of those units (disabled users left out).
//! An admin's view is the whole organisation.
//!
//! Each unit and user row carries the directory version of its last change (`dir_version`,
//! stamped by triggers from one counter, see migration 5 in [`crate::sqlite`]). A device sends
//! the version it last applied and a digest of the set of ids it was sent (its view):
//!
//! - version unchanged: nothing is sent (the fast path, one integer compared per sync);
//! - same set of ids: only the entries of the view stamped after the device's version;
//! - a different set (someone joined or left the view, the user moved): the whole view, marked
//!   `full`, and the device marks everyone else out of scope (kept by name).
//!
//! Phones travel only when the admin marked them shareable.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use gridwork_model::directory::{Boundary, DirUnit, Person, UnitKind};
use gridwork_model::{Role, UserId};
use gridwork_protocol::wire::{DirCursor, DirectoryDelta};
use sha2::{Digest, Sha256};

/// A unit row as the directory needs it.
#[derive(Debug, Clone)]
pub struct OrgUnit {
    pub id: String,
    pub kind: UnitKind,
    pub parent: Option<String>,
    pub name: String,
    pub boundary: Option<Boundary>,
    pub dir_version: u64,
}

/// A user row as the directory needs it.
#[derive(Clone)]
pub struct OrgPerson {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub units: Vec<String>,
    /// Only when shareable: the store leaves private phones out.
    pub shared_phone: Option<String>,
    pub disabled: bool,
    pub dir_version: u64,
}

/// Every unit and user at one directory version.
pub struct OrgRows {
    pub version: u64,
    pub units: Vec<OrgUnit>,
    pub people: Vec<OrgPerson>,
}

/// The organisation indexed for computing views; built once per directory version and shared.
pub struct OrgSnapshot {
    pub version: u64,
    units: Vec<OrgUnit>,
    people: Vec<OrgPerson>,
    unit_index: HashMap<String, usize>,
    person_index: HashMap<String, usize>,
    children: Vec<Vec<usize>>,
    people_by_unit: Vec<Vec<usize>>,
}

/// The ids of a user's view, as indices into the snapshot, sorted by id.
pub struct View {
    pub units: Vec<usize>,
    pub people: Vec<usize>,
    /// Digest of the sorted ids ([`DirCursor::view`]).
    pub digest: u64,
}

impl OrgSnapshot {
    pub fn new(rows: OrgRows) -> OrgSnapshot {
        let unit_index: HashMap<String, usize> = rows
            .units
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id.clone(), i))
            .collect();
        let person_index = rows
            .people
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i))
            .collect();
        let mut children = vec![Vec::new(); rows.units.len()];
        for (i, u) in rows.units.iter().enumerate() {
            if let Some(p) = u.parent.as_deref().and_then(|p| unit_index.get(p)) {
                children[*p].push(i);
            }
        }
        let mut people_by_unit = vec![Vec::new(); rows.units.len()];
        for (i, p) in rows.people.iter().enumerate() {
            for u in &p.units {
                if let Some(&ui) = unit_index.get(u) {
                    people_by_unit[ui].push(i);
                }
            }
        }
        OrgSnapshot {
            version: rows.version,
            units: rows.units,
            people: rows.people,
            unit_index,
            person_index,
            children,
            people_by_unit,
        }
    }

    /// Every unit, by id.
    pub fn units(&self) -> &[OrgUnit] {
        &self.units
    }

    /// Every person (disabled ones included), by id.
    pub fn people(&self) -> &[OrgPerson] {
        &self.people
    }

    pub fn unit(&self, id: &str) -> Option<&OrgUnit> {
        self.unit_index.get(id).map(|&i| &self.units[i])
    }

    pub fn person(&self, id: &str) -> Option<&OrgPerson> {
        self.person_index.get(id).map(|&i| &self.people[i])
    }

    /// A person's display name, or the id when the organisation does not know it.
    pub fn name_of<'a>(&'a self, id: &'a str) -> &'a str {
        self.person(id).map_or(id, |p| p.display_name.as_str())
    }

    /// A unit's name, or the id when unknown.
    pub fn unit_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.unit(id).map_or(id, |u| u.name.as_str())
    }

    /// The people attached to `unit` (not below it), by id.
    pub fn people_at(&self, unit: &str) -> impl Iterator<Item = &OrgPerson> {
        self.unit_index
            .get(unit)
            .map(|&i| self.people_by_unit[i].as_slice())
            .unwrap_or_default()
            .iter()
            .map(|&p| &self.people[p])
    }

    /// The view of a user (by id; a user missing from the snapshot sees nothing but themselves
    /// when they are there).
    pub fn view(&self, user_id: &str, role: Role) -> View {
        let mut units: HashSet<usize> = HashSet::new();
        if role == Role::Admin {
            units.extend(0..self.units.len());
        } else if let Some(&me) = self.person_index.get(user_id) {
            for anchor in self.people[me]
                .units
                .iter()
                .filter_map(|u| self.unit_index.get(u))
            {
                // Down: everything under the anchor (an explicit stack, no recursion).
                let mut stack = vec![*anchor];
                while let Some(u) = stack.pop() {
                    if units.insert(u) {
                        stack.extend(self.children[u].iter().copied());
                    }
                }
                // Up: the chain of parents (bounded: a cycle in bad data stops at a seen unit).
                let mut cur = self.units[*anchor].parent.as_deref();
                while let Some(&p) = cur.and_then(|id| self.unit_index.get(id)) {
                    if !units.insert(p) {
                        break;
                    }
                    cur = self.units[p].parent.as_deref();
                }
            }
        }
        let mut people: HashSet<usize> = units
            .iter()
            .flat_map(|&u| self.people_by_unit[u].iter().copied())
            .filter(|&p| !self.people[p].disabled)
            .collect();
        if role == Role::Admin {
            people.extend((0..self.people.len()).filter(|&p| !self.people[p].disabled));
        }
        if let Some(&me) = self.person_index.get(user_id) {
            people.insert(me);
        }
        let mut units: Vec<usize> = units.into_iter().collect();
        units.sort_by(|a, b| self.units[*a].id.cmp(&self.units[*b].id));
        let mut people: Vec<usize> = people.into_iter().collect();
        people.sort_by(|a, b| self.people[*a].id.cmp(&self.people[*b].id));
        let mut h = Sha256::new();
        for &u in &units {
            h.update(b"u");
            h.update(self.units[u].id.as_bytes());
            h.update([0]);
        }
        for &p in &people {
            h.update(b"p");
            h.update(self.people[p].id.as_bytes());
            h.update([0]);
        }
        let d = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&d[..8]);
        View {
            units,
            people,
            digest: u64::from_le_bytes(first),
        }
    }

    /// What to send a device whose copy stands at `cursor`.
    pub fn delta(&self, user_id: &str, role: Role, cursor: Option<DirCursor>) -> DirectoryDelta {
        let view = self.view(user_id, role);
        // Full when the device has nothing, its set differs, or it claims a version this
        // server never had (a restored backup, or a forged cursor: it only hurts itself).
        let since = match cursor {
            Some(c) if c.view == view.digest && c.version <= self.version => Some(c.version),
            _ => None,
        };
        let newer = |v: u64| since.is_none_or(|s| v > s);
        let units = view
            .units
            .iter()
            .map(|&u| &self.units[u])
            .filter(|u| newer(u.dir_version))
            .map(|u| DirUnit {
                id: u.id.clone(),
                kind: u.kind,
                parent: u.parent.clone(),
                name: u.name.clone(),
                boundary: u.boundary.clone(),
            })
            .collect();
        let people = view
            .people
            .iter()
            .map(|&p| &self.people[p])
            .filter(|p| newer(p.dir_version))
            .map(|p| Person {
                id: UserId::from(p.id.as_str()),
                username: p.username.clone(),
                display_name: p.display_name.clone(),
                role: p.role,
                units: p.units.clone(),
                phone: p.shared_phone.clone(),
                in_scope: true,
            })
            .collect();
        DirectoryDelta {
            cursor: DirCursor {
                version: self.version,
                view: view.digest,
            },
            full: since.is_none(),
            units,
            people,
        }
    }
}

/// The directory part of a sync answer: `None` when the device's copy is current.
pub fn answer(
    store: &dyn crate::store::ServerStore,
    user_id: &str,
    role: Role,
    cursor: Option<DirCursor>,
) -> crate::error::Result<Option<DirectoryDelta>> {
    let version = store.dir_version()?;
    if cursor.is_some_and(|c| c.version == version) {
        return Ok(None);
    }
    let snap: Arc<OrgSnapshot> = store.org_snapshot()?;
    Ok(Some(snap.delta(user_id, role, cursor)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(id: &str, kind: UnitKind, parent: Option<&str>, v: u64) -> OrgUnit {
        OrgUnit {
            id: id.into(),
            kind,
            parent: parent.map(Into::into),
            name: id.into(),
            boundary: None,
            dir_version: v,
        }
    }
    fn person(id: &str, role: Role, units: &[&str], v: u64) -> OrgPerson {
        OrgPerson {
            id: id.into(),
            username: id.into(),
            display_name: id.into(),
            role,
            units: units.iter().map(|s| (*s).into()).collect(),
            shared_phone: None,
            disabled: false,
            dir_version: v,
        }
    }
    fn org(version: u64, people: Vec<OrgPerson>) -> OrgSnapshot {
        OrgSnapshot::new(OrgRows {
            version,
            units: vec![
                unit("d", UnitKind::District, None, 1),
                unit("s", UnitKind::Street, Some("d"), 1),
                unit("c1", UnitKind::Community, Some("s"), 1),
                unit("c2", UnitKind::Community, Some("s"), 1),
                unit("g1", UnitKind::Grid, Some("c1"), 1),
                unit("g2", UnitKind::Grid, Some("c2"), 1),
            ],
            people,
        })
    }
    fn ids(d: &DirectoryDelta) -> (Vec<&str>, Vec<&str>) {
        (
            d.units.iter().map(|u| u.id.as_str()).collect(),
            d.people.iter().map(|p| p.id.as_str()).collect(),
        )
    }

    #[test]
    fn views_follow_the_tree_and_deltas_only_carry_changes() {
        let staff = vec![
            person("w1", Role::Worker, &["g1"], 1),
            person("w2", Role::Worker, &["g2"], 1),
            person("l1", Role::Leader, &["c1"], 1),
            person("sv", Role::Supervisor, &["s"], 1),
        ];
        let o = org(5, staff.clone());
        let d = o.delta("w1", Role::Worker, None);
        assert!(d.full);
        assert_eq!(
            ids(&d),
            (vec!["c1", "d", "g1", "s"], vec!["l1", "sv", "w1"])
        );
        let leader = o.delta("l1", Role::Leader, None);
        assert_eq!(ids(&leader).1, vec!["l1", "sv", "w1"]);
        // Unchanged view, newer version: only the renamed person travels.
        let mut staff2 = staff.clone();
        staff2[0].display_name = "王五".into();
        staff2[0].dir_version = 6;
        let o2 = org(6, staff2);
        let d2 = o2.delta("l1", Role::Leader, Some(leader.cursor));
        assert!(!d2.full);
        assert_eq!(ids(&d2), (vec![], vec!["w1"]));
        // w1 moves to c2's grid: gone from the leader's view, so the leader gets it all again.
        let mut staff3 = staff;
        staff3[0].units = vec!["g2".into()];
        staff3[0].dir_version = 7;
        let o3 = org(7, staff3);
        let d3 = o3.delta("l1", Role::Leader, Some(d2.cursor));
        assert!(d3.full);
        assert_eq!(ids(&d3).1, vec!["l1", "sv"]);
        // A forged cursor from the future gets the full view, never more than the view.
        let forged = DirCursor {
            version: u64::MAX,
            view: d3.cursor.view,
        };
        let d4 = o3.delta("w2", Role::Worker, Some(forged));
        assert!(d4.full);
        assert_eq!(ids(&d4).1, vec!["sv", "w1", "w2"]);
    }

    #[test]
    fn admins_see_all_and_disabled_people_leave_views() {
        let mut staff = vec![
            person("w1", Role::Worker, &["g1"], 1),
            person("ad", Role::Admin, &[], 1),
        ];
        staff[0].disabled = true;
        let o = org(3, staff);
        let d = o.delta("ad", Role::Admin, None);
        assert_eq!(d.units.len(), 6);
        assert_eq!(ids(&d).1, vec!["ad"]);
        // An unknown user sees nothing.
        let d = o.delta("ghost", Role::Worker, None);
        assert_eq!(ids(&d), (vec![], vec![]));
    }

    #[test]
    fn a_parent_cycle_in_bad_data_terminates() {
        let o = OrgSnapshot::new(OrgRows {
            version: 1,
            units: vec![
                unit("a", UnitKind::Community, Some("b"), 1),
                unit("b", UnitKind::Street, Some("a"), 1),
            ],
            people: vec![person("w", Role::Worker, &["a"], 1)],
        });
        assert_eq!(o.view("w", Role::Worker).units.len(), 2);
    }
}
