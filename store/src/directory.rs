//! The team directory on the device: who the people and places in the user's scope are, by
//! name, offline. Filled by sync (`SyncApply::directory`, applied in the same transaction as the
//! changes and the cursor); read by every surface that shows a user id.

use std::collections::HashMap;

use gridwork_model::directory::{self, Boundary, DirUnit, GridAt, Person, UnitKind};
use gridwork_protocol::wire::{DirCursor, DirectoryDelta};

use super::*;

const META_VERSION: &str = "dir.version";
const META_VIEW: &str = "dir.view";

/// Applies a directory answer inside the sync transaction.
pub(crate) fn apply(tx: &Connection, d: &DirectoryDelta, at: i64) -> Result<()> {
    if d.full {
        // Everything not in a full answer has left the scope: kept by name, phone dropped.
        tx.execute("UPDATE dir_units SET in_scope = 0", [])?;
        tx.execute("UPDATE dir_people SET in_scope = 0, phone = NULL", [])?;
    }
    for u in &d.units {
        let boundary = u
            .boundary
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| Error::Storage(e.to_string()))?;
        tx.prepare_cached(
            "INSERT INTO dir_units(id, kind, parent, name, boundary, in_scope) VALUES (?1, ?2, ?3, ?4, ?5, 1)
             ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, parent = excluded.parent,
                name = excluded.name, boundary = excluded.boundary, in_scope = 1",
        )?
        .execute(params![u.id, u.kind.as_str(), u.parent, u.name, boundary])?;
    }
    for p in &d.people {
        let units = serde_json::to_string(&p.units).map_err(|e| Error::Storage(e.to_string()))?;
        tx.prepare_cached(
            "INSERT INTO dir_people(id, username, display_name, role, units, phone, in_scope, seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7)
             ON CONFLICT(id) DO UPDATE SET username = excluded.username,
                display_name = excluded.display_name, role = excluded.role, units = excluded.units,
                phone = excluded.phone, in_scope = 1, seen_at = excluded.seen_at",
        )?
        .execute(params![
            p.id.as_str(),
            p.username,
            p.display_name,
            p.role.as_str(),
            units,
            p.phone,
            at
        ])?;
    }
    // u64 in text: SQLite integers are signed.
    set_meta(tx, META_VERSION, &d.cursor.version.to_string())?;
    set_meta(tx, META_VIEW, &d.cursor.view.to_string())?;
    Ok(())
}

fn row_person(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Person>> {
    let id: String = r.get(0)?;
    let role: String = r.get(3)?;
    let units: String = r.get(4)?;
    let Ok(role) = role.parse() else {
        return Ok(None);
    };
    Ok(Some(Person {
        id: id.into(),
        username: r.get(1)?,
        display_name: r.get(2)?,
        role,
        units: serde_json::from_str(&units).unwrap_or_default(),
        phone: r.get(5)?,
        in_scope: r.get(6)?,
    }))
}

const PERSON_COLS: &str = "id, username, display_name, role, units, phone, in_scope";

fn row_unit(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<DirUnit>> {
    let kind: String = r.get(1)?;
    let Ok(kind) = kind.parse::<UnitKind>() else {
        return Ok(None);
    };
    let boundary: Option<String> = r.get(4)?;
    Ok(Some(DirUnit {
        id: r.get(0)?,
        kind,
        parent: r.get(2)?,
        name: r.get(3)?,
        boundary: boundary.and_then(|b| serde_json::from_str::<Boundary>(&b).ok()),
    }))
}

/// Why a name given for a person did not pick exactly one.
fn no_match(field: &str, reason: impl Into<String>) -> Error {
    Error::invalid(field, reason)
}

impl Store {
    /// Where this device's directory stands (`None`: never synced one).
    pub(crate) fn dir_cursor(&self) -> Result<Option<DirCursor>> {
        let version = self.get_meta(META_VERSION)?;
        let view = self.get_meta(META_VIEW)?;
        Ok(version.zip(view).and_then(|(v, w)| {
            Some(DirCursor {
                version: v.parse().ok()?,
                view: w.parse().ok()?,
            })
        }))
    }

    /// Everyone this device knows: people in scope first, then those kept by name; by name.
    pub fn directory(&self) -> Result<Vec<Person>> {
        let w = lock(&self.writer);
        let mut st = w.conn.prepare_cached(&format!(
            "SELECT {PERSON_COLS} FROM dir_people ORDER BY in_scope DESC, display_name, username"
        ))?;
        let rows = st.query_map([], row_person)?;
        let mut out = Vec::new();
        for r in rows {
            out.extend(r?);
        }
        Ok(out)
    }

    /// One person by user id, in scope or kept by name (`None`: never seen on this device).
    pub fn person(&self, id: &str) -> Result<Option<Person>> {
        let w = lock(&self.writer);
        let p = w
            .conn
            .prepare_cached(&format!(
                "SELECT {PERSON_COLS} FROM dir_people WHERE id = ?1"
            ))?
            .query_row([id], row_person)
            .optional()?;
        Ok(p.flatten())
    }

    /// How to show a user id: "刘洋 (supervisor)", or the id when the device never saw them.
    pub fn label(&self, id: &str) -> Result<String> {
        Ok(self
            .person(id)?
            .map_or_else(|| id.to_owned(), |p| p.label()))
    }

    /// Labels of every known person by id, for a surface that shows many ids at once.
    pub fn labels(&self) -> Result<HashMap<String, String>> {
        Ok(self
            .directory()?
            .into_iter()
            .map(|p| (p.id.to_string(), p.label()))
            .collect())
    }

    /// The units this device knows (in scope), parents before children.
    pub fn units(&self) -> Result<Vec<DirUnit>> {
        let w = lock(&self.writer);
        let mut st = w.conn.prepare_cached(
            "SELECT id, kind, parent, name, boundary FROM dir_units WHERE in_scope = 1 ORDER BY id",
        )?;
        let rows = st.query_map([], row_unit)?;
        let mut out = Vec::new();
        for r in rows {
            out.extend(r?);
        }
        out.sort_by_key(|u| u.kind.depth());
        Ok(out)
    }

    /// The people a task in `grid` can be given to: its workers and its community's leaders
    /// (tasks go down the organisation: supervisors and admins give them, they do not take
    /// them); workers first.
    pub fn assignable(&self, grid: &str) -> Result<Vec<Person>> {
        check_id("grid", grid)?;
        let units = self.units()?;
        let parent: HashMap<&str, Option<&str>> = units
            .iter()
            .map(|u| (u.id.as_str(), u.parent.as_deref()))
            .collect();
        let mut covering = vec![grid];
        let mut cur = parent.get(grid).copied().flatten();
        while let Some(p) = cur {
            if covering.contains(&p) || covering.len() > 8 {
                break;
            }
            covering.push(p);
            cur = parent.get(p).copied().flatten();
        }
        let mut people: Vec<Person> = self
            .directory()?
            .into_iter()
            .filter(|p| p.in_scope && matches!(p.role, Role::Worker | Role::Leader))
            .filter(|p| p.units.iter().any(|u| covering.contains(&u.as_str())))
            .collect();
        people.sort_by_key(|p| p.role != Role::Worker);
        Ok(people)
    }

    /// Picks one person in scope by user id, username or display name (exact), for `--to 张伟`.
    /// Refused, naming `field`, when nobody or more than one person matches (the usernames of
    /// the candidates are given so the user can pick).
    pub fn find_person(&self, field: &str, query: &str) -> Result<Person> {
        let q = query.trim();
        if q.is_empty() {
            return Err(no_match(field, "is empty"));
        }
        let people: Vec<Person> = self
            .directory()?
            .into_iter()
            .filter(|p| p.in_scope)
            .collect();
        if let Some(p) = people
            .iter()
            .find(|p| p.id.as_str() == q || p.username == q)
        {
            return Ok(p.clone());
        }
        let named: Vec<&Person> = people.iter().filter(|p| p.display_name == q).collect();
        match named.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(no_match(
                field,
                "nobody in your directory has that name or username (sync to refresh it; `gridwork team` lists it)",
            )),
            many => Err(no_match(
                field,
                format!(
                    "{} people have that name; give a username: {}",
                    many.len(),
                    many.iter()
                        .map(|p| p.username.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// Which of the user's grids the point lies in, from the grid boundaries on the device.
    pub fn grid_at(&self, lat: f64, lon: f64) -> Result<GridAt> {
        let mine = self.identity().grids;
        let units = self.units()?;
        let grids = units
            .iter()
            .filter(|u| u.kind == UnitKind::Grid)
            .filter(|u| mine.as_ref().is_none_or(|g| g.contains(&u.id)));
        Ok(directory::grid_at(grids, lat, lon))
    }
}
