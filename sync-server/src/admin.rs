//! Organisation administration shared by the `admin` CLI, first start and the demo seed.
//!
//! Organisation CSV (`gridwork-server admin import-org FILE.csv`), UTF-8, a header row, `#` starts
//! a comment line:
//!
//! ```text
//! kind,id,parent,name,role
//! district,lixia,,历下区,
//! street,quancheng,lixia,泉城路街道,
//! community,furong,quancheng,芙蓉社区,
//! grid,furong-01,furong,芙蓉社区第一网格,
//! user,zhangsan,furong-01,张三,worker
//! user,lisi,furong,李四,leader
//! user,wangwu,quancheng,王五,supervisor
//! ```
//!
//! Unit rows (`district`, `street`, `community`, `grid`) create or rename a unit; `parent` is the
//! id of the unit one level up (a street may have none). Rows may come in any order: units are
//! applied top-down. `user` rows create a user: `id` is the username, `parent` the unit(s) they
//! are attached to (several separated by `;`; empty for an admin), `name` the display name,
//! `role` one of worker, leader, supervisor, admin. A worker is attached to grids, a leader to a
//! community, a supervisor to a street or district. Existing users are left unchanged. New users
//! get a random password, printed once.
//!
//! Optional columns, by header name after those five: `phone` and `share_phone` (`yes`/`no`,
//! default no: devices see a phone only when shared) for user rows, and `boundary` for grid rows
//! (a GeoJSON `Polygon` or `MultiPolygon`, `[longitude, latitude]`, in one quoted cell). Larger
//! boundary sets come from a GeoJSON file: `admin import-boundaries FILE.geojson`.

use std::io::Read;

use gridwork_model::Role;

use crate::auth;
use crate::error::{Error, Result};
use crate::store::{NewUser, ServerStore, Unit, UnitKind, User, UserUpdate};

/// The unit kinds a user of `role` may be attached to.
pub fn allowed_unit_kinds(role: Role) -> &'static [UnitKind] {
    match role {
        Role::Worker => &[UnitKind::Grid],
        Role::Leader => &[UnitKind::Community],
        Role::Supervisor => &[UnitKind::Street, UnitKind::District],
        Role::Admin => &[
            UnitKind::District,
            UnitKind::Street,
            UnitKind::Community,
            UnitKind::Grid,
        ],
    }
}

/// Checks that `unit_ids` exist and fit `role` (a worker on grids, a leader on a community…).
fn check_attachments(store: &dyn ServerStore, role: Role, unit_ids: &[String]) -> Result<()> {
    if role != Role::Admin && unit_ids.is_empty() {
        return Err(Error::Invalid(format!(
            "a {role} must be attached to at least one unit"
        )));
    }
    if unit_ids.len() > gridwork_model::directory::MAX_PERSON_UNITS {
        return Err(Error::Invalid(format!(
            "a user may be attached to at most {} units",
            gridwork_model::directory::MAX_PERSON_UNITS
        )));
    }
    let units = store.list_units()?;
    let allowed = allowed_unit_kinds(role);
    for id in unit_ids {
        let unit = units
            .iter()
            .find(|u| &u.id == id)
            .ok_or_else(|| Error::Invalid(format!("unit {id} does not exist")))?;
        if !allowed.contains(&unit.kind) {
            return Err(Error::Invalid(format!(
                "a {} cannot be attached to {} {id} (allowed: {})",
                role,
                unit.kind.as_str(),
                allowed
                    .iter()
                    .map(UnitKind::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}

/// Creates a user after checking that their units fit their role. Returns the user and the
/// password (the given one, or a random one).
pub fn create_user(
    store: &dyn ServerStore,
    new: &NewUser,
    password: Option<&str>,
) -> Result<(User, String)> {
    gridwork_model::directory::check_name("display_name", &new.display_name)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    check_attachments(store, new.role, &new.units)?;
    let password = match password {
        Some(p) => {
            check_password(p)?;
            p.to_owned()
        }
        None => auth::random_password(),
    };
    let user = store.create_user(new, &auth::hash_password(&password)?)?;
    Ok((user, password))
}

/// Changes a user after the same checks as [`create_user`]: the name, the phone, and that the
/// units fit the (new) role. Devices see the change in their directory at their next sync.
pub fn update_user(store: &dyn ServerStore, username: &str, update: &UserUpdate) -> Result<User> {
    let invalid = |e: gridwork_model::Error| Error::Invalid(e.to_string());
    let (current, _) = store
        .user_by_username(username)?
        .ok_or_else(|| Error::NotFound(format!("user {username}")))?;
    if let Some(name) = &update.display_name {
        gridwork_model::directory::check_name("display_name", name).map_err(invalid)?;
    }
    if let Some(Some(phone)) = &update.phone {
        gridwork_model::directory::check_phone(phone).map_err(invalid)?;
    }
    if update.role.is_some() || update.units.is_some() {
        let role = update.role.unwrap_or(current.role);
        let units = update.units.as_ref().unwrap_or(&current.units);
        check_attachments(store, role, units)?;
    }
    store.update_user(username, update)
}

/// Largest GeoJSON file `import-boundaries` reads.
pub const MAX_BOUNDARY_FILE_BYTES: u64 = 64 << 20;
/// Most features in one boundary file.
pub const MAX_BOUNDARY_FEATURES: usize = 100_000;

/// Imports grid boundaries from a GeoJSON `FeatureCollection` whose features name their grid in
/// `properties.id` (or `properties.grid`) and hold a `Polygon` or `MultiPolygon`. The file is
/// bounded before it is parsed, every geometry before it is stored; one bad feature refuses the
/// whole file (naming the feature by position), so a boundary set is never half applied.
/// Returns how many grids got a boundary.
pub fn import_boundaries(store: &dyn ServerStore, input: impl Read) -> Result<usize> {
    let mut bytes = Vec::new();
    input
        .take(MAX_BOUNDARY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_BOUNDARY_FILE_BYTES {
        return Err(Error::Invalid(format!(
            "the boundary file is larger than {MAX_BOUNDARY_FILE_BYTES} bytes"
        )));
    }
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Invalid(format!(
            "not GeoJSON: line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    let features = v
        .get("features")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| Error::Invalid("expected a GeoJSON FeatureCollection".into()))?;
    if features.len() > MAX_BOUNDARY_FEATURES {
        return Err(Error::Invalid(format!(
            "more than {MAX_BOUNDARY_FEATURES} features"
        )));
    }
    let grids: std::collections::HashSet<String> = store
        .list_units()?
        .into_iter()
        .filter(|u| u.kind == UnitKind::Grid)
        .map(|u| u.id)
        .collect();
    let mut parsed = Vec::with_capacity(features.len());
    for (i, f) in features.iter().enumerate() {
        let props = f.get("properties");
        let id = props
            .and_then(|p| p.get("id").or_else(|| p.get("grid")))
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| Error::Invalid(format!("feature {i}: properties.id names no grid")))?;
        if !grids.contains(id) {
            return Err(Error::Invalid(format!("feature {i}: no grid with that id")));
        }
        let b = gridwork_model::directory::Boundary::from_geojson(f)
            .map_err(|e| Error::Invalid(format!("feature {i}: {e}")))?;
        parsed.push((id.to_owned(), b));
    }
    for (id, b) in &parsed {
        store.set_boundary(id, Some(b))?;
    }
    Ok(parsed.len())
}

pub fn check_password(p: &str) -> Result<()> {
    if p.chars().count() < 8 {
        return Err(Error::Invalid(
            "a password needs at least 8 characters".into(),
        ));
    }
    Ok(())
}

/// Sets a new password (given or random) and returns it.
pub fn reset_password(
    store: &dyn ServerStore,
    username: &str,
    password: Option<&str>,
) -> Result<String> {
    let password = match password {
        Some(p) => {
            check_password(p)?;
            p.to_owned()
        }
        None => auth::random_password(),
    };
    store.set_password(username, &auth::hash_password(&password)?)?;
    Ok(password)
}

/// On an empty database, creates the first admin (`admin`) with a random password and returns
/// the password; otherwise `None`.
pub fn ensure_first_admin(store: &dyn ServerStore) -> Result<Option<String>> {
    if store.user_count()? > 0 {
        return Ok(None);
    }
    let new = NewUser {
        username: "admin".into(),
        display_name: "Administrator".into(),
        role: Role::Admin,
        units: vec![],
    };
    let (_, password) = create_user(store, &new, None)?;
    Ok(Some(password))
}

/// Longest reason text kept for a quarantine.
const MAX_REASON_CHARS: usize = 500;

fn check_doc_arg(id: &str) -> Result<()> {
    // Not the strict id rule: a document stored before it existed may need to be set aside.
    if id.is_empty() || id.len() > 1024 || id.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "the document id must be 1 to 1024 bytes without control characters".into(),
        ));
    }
    Ok(())
}

/// `admin quarantine-doc ID [--reason TEXT]`: sets the document aside. Returns what to print.
pub fn quarantine_doc(store: &dyn ServerStore, id: &str, reason: Option<&str>) -> Result<String> {
    check_doc_arg(id)?;
    if reason.is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(Error::Invalid(format!(
            "--reason is longer than {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(if store.quarantine_doc(id, reason)? {
        format!(
            "document {id} quarantined: left out of every pull, pushes to it refused \
             (restore with: gridwork-server admin restore-doc {id})\n"
        )
    } else {
        format!("document {id} was already quarantined\n")
    })
}

/// `admin list-quarantined-docs`. Returns what to print.
pub fn list_quarantined_docs(store: &dyn ServerStore) -> Result<String> {
    let docs = store.list_quarantined_docs()?;
    if docs.is_empty() {
        return Ok("no quarantined documents\n".into());
    }
    let mut out = String::new();
    for d in docs {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{} change(s)\t{}\n",
            d.doc_id,
            d.kind.as_deref().unwrap_or("-"),
            d.grid.as_deref().unwrap_or("-"),
            d.at.to_rfc3339(),
            d.changes,
            d.reason.as_deref().unwrap_or("")
        ));
    }
    Ok(out)
}

/// `admin restore-doc ID`: lifts the quarantine; devices pull the document again. Returns what
/// to print.
pub fn restore_doc(store: &dyn ServerStore, id: &str) -> Result<String> {
    check_doc_arg(id)?;
    let n = store.restore_doc(id)?;
    Ok(format!(
        "document {id} restored: {n} change(s) will be pulled again by every device in scope\n"
    ))
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportSummary {
    pub units: usize,
    /// (username, password) of each created user.
    pub created_users: Vec<(String, String)>,
    pub skipped_users: Vec<String>,
}

struct UserRow {
    line: u64,
    username: String,
    units: Vec<String>,
    name: String,
    role: Role,
    phone: Option<String>,
    share_phone: bool,
}

/// Imports an organisation CSV (format in the module docs).
pub fn import_org(store: &dyn ServerStore, input: impl Read) -> Result<ImportSummary> {
    let mut rdr = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(input);
    let headers = rdr.headers()?.clone();
    let expected = ["kind", "id", "parent", "name"];
    if headers.len() < 4 || headers.iter().take(4).zip(expected).any(|(a, b)| a != b) {
        return Err(Error::Invalid(
            "the CSV header must be: kind,id,parent,name,role".into(),
        ));
    }
    // Optional columns, by name, after the first five.
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (phone_col, share_col, boundary_col) = (col("phone"), col("share_phone"), col("boundary"));
    let mut units = Vec::new();
    let mut users = Vec::new();
    let mut boundaries = Vec::new();
    for rec in rdr.records() {
        let rec = rec?;
        let line = rec.position().map_or(0, csv::Position::line);
        let field = |i: usize| rec.get(i).unwrap_or("").to_owned();
        let opt = |c: Option<usize>| c.map(field).filter(|s| !s.is_empty());
        let (kind, id, parent, name) = (field(0), field(1), field(2), field(3));
        if id.is_empty() {
            return Err(Error::Invalid(format!("line {line}: empty id")));
        }
        if kind == "user" {
            let role: Role = field(4).parse().map_err(|_| {
                Error::Invalid(format!(
                    "line {line}: role must be worker, leader, supervisor or admin"
                ))
            })?;
            let units = parent
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let phone = opt(phone_col);
            if let Some(p) = &phone {
                gridwork_model::directory::check_phone(p)
                    .map_err(|e| Error::Invalid(format!("line {line}: {e}")))?;
            }
            let share_phone = match opt(share_col).as_deref() {
                None | Some("no" | "false" | "0") => false,
                Some("yes" | "true" | "1") => true,
                Some(_) => {
                    return Err(Error::Invalid(format!(
                        "line {line}: share_phone must be yes or no"
                    )))
                }
            };
            users.push(UserRow {
                line,
                username: id,
                units,
                name,
                role,
                phone,
                share_phone,
            });
        } else {
            let kind = kind.parse::<UnitKind>().ok().ok_or_else(|| {
                Error::Invalid(format!(
                    "line {line}: kind must be district, street, community, grid or user"
                ))
            })?;
            let name = if name.is_empty() { id.clone() } else { name };
            if let Some(geo) = opt(boundary_col) {
                if kind != UnitKind::Grid {
                    return Err(Error::Invalid(format!(
                        "line {line}: only a grid has a boundary"
                    )));
                }
                if geo.len() > gridwork_model::directory::MAX_GEOJSON_BYTES {
                    return Err(Error::Invalid(format!(
                        "line {line}: the boundary is larger than {} bytes",
                        gridwork_model::directory::MAX_GEOJSON_BYTES
                    )));
                }
                let v: serde_json::Value = serde_json::from_str(&geo).map_err(|_| {
                    Error::Invalid(format!("line {line}: the boundary is not GeoJSON"))
                })?;
                let b = gridwork_model::directory::Boundary::from_geojson(&v)
                    .map_err(|e| Error::Invalid(format!("line {line}: {e}")))?;
                boundaries.push((id.clone(), b));
            }
            units.push((
                line,
                Unit {
                    id,
                    kind,
                    parent_id: (!parent.is_empty()).then_some(parent),
                    name,
                },
            ));
        }
    }
    units.sort_by_key(|(_, u)| u.kind.depth());
    let mut summary = ImportSummary::default();
    for (line, unit) in &units {
        store
            .upsert_unit(unit)
            .map_err(|e| Error::Invalid(format!("line {line}: {e}")))?;
        summary.units += 1;
    }
    for (id, b) in &boundaries {
        store.set_boundary(id, Some(b))?;
    }
    for row in users {
        if store.user_by_username(&row.username)?.is_some() {
            summary.skipped_users.push(row.username);
            continue;
        }
        let display_name = if row.name.is_empty() {
            row.username.clone()
        } else {
            row.name
        };
        let new = NewUser {
            username: row.username.clone(),
            display_name,
            role: row.role,
            units: row.units,
        };
        let (_, password) = create_user(store, &new, None)
            .map_err(|e| Error::Invalid(format!("line {}: {e}", row.line)))?;
        if row.phone.is_some() {
            let update = UserUpdate {
                phone: Some(row.phone),
                phone_shared: Some(row.share_phone),
                ..UserUpdate::default()
            };
            store.update_user(&row.username, &update)?;
        }
        summary.created_users.push((row.username, password));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteStore;
    use crate::store::Scope;

    const ORG: &str = "kind,id,parent,name,role
# users may come before their units
user,zhangsan,furong-01,张三,worker
user,lisi,furong,\"Li, Si\",leader
user,wangwu,quancheng,王五,supervisor
grid,furong-01,furong,芙蓉社区第一网格,
grid,furong-02,furong,芙蓉社区第二网格,
community,furong,quancheng,芙蓉社区,
community,baotu,quancheng,趵突泉社区,
grid,baotu-01,baotu,,
street,quancheng,lixia,泉城路街道,
district,lixia,,历下区,
";

    #[test]
    fn import_builds_scopes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 1).unwrap();
        let s = import_org(&store, ORG.as_bytes()).unwrap();
        assert_eq!(s.units, 7);
        assert_eq!(s.created_users.len(), 3);
        let scope = |name: &str| {
            let (u, _) = store.user_by_username(name).unwrap().unwrap();
            store.scope(&u).unwrap()
        };
        assert_eq!(scope("zhangsan"), Scope::Grids(vec!["furong-01".into()]));
        assert_eq!(
            scope("lisi"),
            Scope::Grids(vec!["furong-01".into(), "furong-02".into()])
        );
        assert_eq!(
            scope("wangwu"),
            Scope::Grids(vec![
                "baotu-01".into(),
                "furong-01".into(),
                "furong-02".into()
            ])
        );
        assert_eq!(
            store
                .user_by_username("lisi")
                .unwrap()
                .unwrap()
                .0
                .display_name,
            "Li, Si"
        );
        // Importing again changes nothing and creates no one.
        let again = import_org(&store, ORG.as_bytes()).unwrap();
        assert!(again.created_users.is_empty());
        assert_eq!(again.skipped_users.len(), 3);
    }

    #[test]
    fn import_refuses_bad_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 1).unwrap();
        for bad in [
            "kind,id\nstreet,x\n",
            "kind,id,parent,name,role\nvillage,x,,X,\n",
            "kind,id,parent,name,role\ngrid,g,nope,G,\n",
            "kind,id,parent,name,role\nstreet,s,,S,\ncommunity,c,s,C,\ngrid,g,c,G,\nuser,u,c,U,worker\n",
            "kind,id,parent,name,role\nuser,u,,U,boss\n",
        ] {
            assert!(matches!(import_org(&store, bad.as_bytes()), Err(Error::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn first_admin_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 1).unwrap();
        let pw = ensure_first_admin(&store).unwrap().unwrap();
        assert!(pw.len() >= 16);
        assert!(ensure_first_admin(&store).unwrap().is_none());
        let (u, hash) = store.user_by_username("admin").unwrap().unwrap();
        assert_eq!(u.role, Role::Admin);
        assert!(auth::verify_password(&pw, &hash));
        assert_eq!(store.scope(&u).unwrap(), Scope::All);
    }

    #[test]
    fn directory_versions_move_with_every_change_and_phones_only_when_shared() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 1).unwrap();
        import_org(&store, ORG.as_bytes()).unwrap();
        let v0 = store.dir_version().unwrap();
        let snap = store.org_snapshot().unwrap();
        assert_eq!(snap.version, v0);
        let (zs, _) = store.user_by_username("zhangsan").unwrap().unwrap();
        let (ls, _) = store.user_by_username("lisi").unwrap().unwrap();
        let first = snap.delta(&ls.id, Role::Leader, None);
        let names: Vec<&str> = first
            .people
            .iter()
            .map(|p| p.display_name.as_str())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.contains(&"张三") && names.contains(&"王五"));
        // A phone that is not shared never leaves the server.
        update_user(
            &store,
            "zhangsan",
            &UserUpdate {
                phone: Some(Some("13800138000".into())),
                ..UserUpdate::default()
            },
        )
        .unwrap();
        let d = store
            .org_snapshot()
            .unwrap()
            .delta(&ls.id, Role::Leader, Some(first.cursor));
        assert!(!d.full);
        assert_eq!(d.people.len(), 1);
        assert_eq!(d.people[0].phone, None);
        update_user(
            &store,
            "zhangsan",
            &UserUpdate {
                phone_shared: Some(true),
                display_name: Some("张三丰".into()),
                ..UserUpdate::default()
            },
        )
        .unwrap();
        let d2 = store
            .org_snapshot()
            .unwrap()
            .delta(&ls.id, Role::Leader, Some(d.cursor));
        assert_eq!(d2.people.len(), 1);
        assert_eq!(d2.people[0].phone.as_deref(), Some("13800138000"));
        assert_eq!(d2.people[0].display_name, "张三丰");
        // Moving the worker to another community's grid takes them out of the leader's view.
        update_user(
            &store,
            "zhangsan",
            &UserUpdate {
                units: Some(vec!["baotu-01".into()]),
                ..UserUpdate::default()
            },
        )
        .unwrap();
        let d3 = store
            .org_snapshot()
            .unwrap()
            .delta(&ls.id, Role::Leader, Some(d2.cursor));
        assert!(d3.full);
        assert!(d3.people.iter().all(|p| p.id.as_str() != zs.id));
        // Bad input names the field, never the value; a worker cannot be put on a community.
        for bad in [
            UserUpdate {
                phone: Some(Some("not a phone".into())),
                ..UserUpdate::default()
            },
            UserUpdate {
                display_name: Some(String::new()),
                ..UserUpdate::default()
            },
            UserUpdate {
                units: Some(vec!["furong".into()]),
                ..UserUpdate::default()
            },
        ] {
            let e = update_user(&store, "zhangsan", &bad)
                .unwrap_err()
                .to_string();
            assert!(!e.contains("not a phone"), "{e}");
        }
        // Boundaries: only grids, bounded, and they travel in the directory.
        let geo = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"furong-01"},
            "geometry":{"type":"Polygon","coordinates":[[[117.0,36.0],[117.01,36.0],[117.01,36.01],[117.0,36.01],[117.0,36.0]]]}}]}"#;
        assert_eq!(import_boundaries(&store, geo.as_bytes()).unwrap(), 1);
        let bad = geo.replace("furong-01", "furong");
        assert!(import_boundaries(&store, bad.as_bytes()).is_err());
        let d4 = store
            .org_snapshot()
            .unwrap()
            .delta(&ls.id, Role::Leader, Some(d3.cursor));
        assert_eq!(d4.units.len(), 1);
        assert!(d4.units[0]
            .boundary
            .as_ref()
            .unwrap()
            .contains(36.005, 117.005));
        // Nothing changed: the same version, and `answer` sends nothing.
        let none = crate::directory::answer(&store, &ls.id, Role::Leader, Some(d4.cursor)).unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn hostile_boundary_files_are_refused_before_work_and_store_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 1).unwrap();
        import_org(&store, ORG.as_bytes()).unwrap();
        let before = store.dir_version().unwrap();
        let refused = |input: &[u8]| import_boundaries(&store, input).unwrap_err().to_string();
        // Nesting 100,000 deep: serde_json's recursion limit answers, no stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(refused(deep.as_bytes()).contains("not GeoJSON"));
        // Over the file bound: refused after reading at most the bound plus one byte.
        let huge = std::io::repeat(b' ').take(MAX_BOUNDARY_FILE_BYTES + 10);
        let e = import_boundaries(&store, huge).unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");
        // A polygon of 20,000 points: refused naming the feature by position.
        let ring: Vec<String> = (0..20_000)
            .map(|i| {
                format!(
                    "[{},{}]",
                    117.0 + f64::from(i) * 1e-6,
                    36.0 + f64::from(i % 7) * 1e-6
                )
            })
            .collect();
        let big = format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"id":"furong-02"}},"geometry":{{"type":"Polygon","coordinates":[[{}]]}}}}]}}"#,
            ring.join(",")
        );
        let e = refused(big.as_bytes());
        assert!(e.contains("feature 0") && e.contains("points"), "{e}");
        // One good and one bad feature: nothing is stored (checked before any write).
        let good_then_bad = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"id":"furong-01"},"geometry":{"type":"Polygon","coordinates":[[[117.0,36.0],[117.01,36.0],[117.01,36.01]]]}},
            {"type":"Feature","properties":{"id":"furong-02"},"geometry":{"type":"Point","coordinates":[117.0,36.0]}}]}"#;
        let e = refused(good_then_bad.as_bytes());
        assert!(e.contains("feature 1"), "{e}");
        // A feature naming no grid, or a unit that is not a grid, or an unknown id.
        for id in ["", "furong", "no-such-grid"] {
            let f = format!(
                r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"id":"{id}"}},"geometry":{{"type":"Polygon","coordinates":[[[117.0,36.0],[117.01,36.0],[117.01,36.01]]]}}}}]}}"#
            );
            assert!(refused(f.as_bytes()).contains("feature 0"), "{id}");
        }
        assert_eq!(store.dir_version().unwrap(), before, "nothing was stored");
        assert!(store
            .org_snapshot()
            .unwrap()
            .delta("nobody", Role::Admin, None)
            .units
            .iter()
            .all(|u| u.boundary.is_none()));
    }
}
