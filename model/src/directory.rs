//! The team directory: the units (district → street → community → grid) and the people a device
//! knows by name, offline, and the grid boundaries that answer "which grid am I in".
//!
//! The server sends each device the part of the organisation in its user's scope (see
//! `docs/protocol.md`, "Directory"); the device keeps it, and keeps people who left its scope by
//! name (`in_scope = false`) so old history still reads "刘洋 (supervisor)" rather than an id.
//!
//! Everything here comes from a file an admin imported or from the network: every string, count
//! and coordinate is bounded ([`check_unit`], [`check_person`], [`Boundary::from_geojson`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::record::{check_id, string_enum, Role};

/// Longest unit or person name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest username, in characters (usernames follow the id rule).
pub const MAX_USERNAME_CHARS: usize = 64;
/// Longest phone number, in characters (digits, `+`, `-`, spaces).
pub const MAX_PHONE_CHARS: usize = 24;
/// Units a person may be attached to.
pub const MAX_PERSON_UNITS: usize = 64;
/// Points of one grid boundary, over all its rings and polygons.
pub const MAX_BOUNDARY_POINTS: usize = 10_000;
/// Rings (outer plus holes) of one grid boundary, over all its polygons.
pub const MAX_BOUNDARY_RINGS: usize = 256;
/// Bytes of one GeoJSON geometry an admin may import for one grid.
pub const MAX_GEOJSON_BYTES: usize = 1 << 20;
/// Units and people one directory answer may carry in all (a city's admin sees everyone: the
/// server pages beyond this).
pub const MAX_DIRECTORY_ENTRIES: usize = 200_000;

string_enum!(#[doc = "Level of an organisation unit."] UnitKind, "unit_kind" {
    District => "district", Street => "street", Community => "community", Grid => "grid"
});

impl UnitKind {
    /// 0 for a district … 3 for a grid: parents before children when sorted by it.
    pub fn depth(self) -> u8 {
        match self {
            UnitKind::District => 0,
            UnitKind::Street => 1,
            UnitKind::Community => 2,
            UnitKind::Grid => 3,
        }
    }
    /// The kind a parent of this kind must have (`None`: a district has no parent).
    pub fn parent_kind(self) -> Option<UnitKind> {
        match self {
            UnitKind::District => None,
            UnitKind::Street => Some(UnitKind::District),
            UnitKind::Community => Some(UnitKind::Street),
            UnitKind::Grid => Some(UnitKind::Community),
        }
    }
}

/// A unit of the organisation as a device sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirUnit {
    pub id: String,
    pub kind: UnitKind,
    pub parent: Option<String>,
    pub name: String,
    /// Grids only, where the admin gave one.
    pub boundary: Option<Boundary>,
}

/// A person as a device sees them: enough to show a name and pick them for a task.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// The units the person is attached to (grids for a worker, a community for a leader…).
    pub units: Vec<String>,
    /// Only when the admin marked it shareable.
    pub phone: Option<String>,
    /// `false`: no longer in this device's scope (moved, disabled); kept so names still show.
    pub in_scope: bool,
}

impl Person {
    /// "刘洋 (supervisor)": how every surface shows a person.
    pub fn label(&self) -> String {
        format!("{} ({})", self.display_name, self.role)
    }
}

// A person's phone is personal data: never in Debug output.
impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("units", &self.units)
            .field("phone", &self.phone.as_ref().map(|_| "<shared>"))
            .field("in_scope", &self.in_scope)
            .finish_non_exhaustive()
    }
}

/// How a surface shows a user id: the person's label when the directory knows them, otherwise
/// the id itself (a user the device has never seen).
pub fn label_of(people: &[Person], id: &str) -> String {
    people
        .iter()
        .find(|p| p.id.as_str() == id)
        .map_or_else(|| id.to_owned(), Person::label)
}

fn check_chars(field: &str, s: &str, max: usize, allow_empty: bool) -> Result<()> {
    if !allow_empty && s.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if s.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("longer than {max} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// Checks a display name (units and people).
pub fn check_name(field: &str, s: &str) -> Result<()> {
    check_chars(field, s, MAX_NAME_CHARS, false)
}

/// Checks a phone number: digits with an optional leading `+`, and `-` or spaces between.
pub fn check_phone(s: &str) -> Result<()> {
    check_chars("phone", s, MAX_PHONE_CHARS, false)?;
    let body = s.strip_prefix('+').unwrap_or(s);
    if !body
        .chars()
        .all(|c| c.is_ascii_digit() || c == '-' || c == ' ')
        || body.chars().filter(char::is_ascii_digit).count() < 3
    {
        return Err(Error::invalid(
            "phone",
            "digits, with an optional leading + and - or spaces between",
        ));
    }
    Ok(())
}

/// Checks a unit from a file or the network.
pub fn check_unit(u: &DirUnit) -> Result<()> {
    check_id("unit.id", &u.id)?;
    if let Some(p) = &u.parent {
        check_id("unit.parent", p)?;
    }
    check_name("unit.name", &u.name)?;
    if let Some(b) = &u.boundary {
        if u.kind != UnitKind::Grid {
            return Err(Error::invalid(
                "unit.boundary",
                "only a grid has a boundary",
            ));
        }
        b.check()?;
    }
    Ok(())
}

/// Checks a person from the network.
pub fn check_person(p: &Person) -> Result<()> {
    check_id("person.id", p.id.as_str())?;
    check_id("person.username", &p.username)?;
    check_name("person.display_name", &p.display_name)?;
    if p.units.len() > MAX_PERSON_UNITS {
        return Err(Error::invalid(
            "person.units",
            format!("more than {MAX_PERSON_UNITS} units"),
        ));
    }
    for u in &p.units {
        check_id("person.units", u)?;
    }
    if let Some(phone) = &p.phone {
        check_phone(phone)?;
    }
    Ok(())
}

// ------------------------------------------------------------------------------- boundaries

/// A point in 1e-7 degrees (about a centimetre): exact, compact on the wire, and free of NaN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Point {
    pub lat_e7: i32,
    pub lon_e7: i32,
}

impl Point {
    /// `None` when outside -90..=90 / -180..=180 or not finite.
    pub fn from_degrees(lat: f64, lon: f64) -> Option<Point> {
        if !lat.is_finite() || !lon.is_finite() || lat.abs() > 90.0 || lon.abs() > 180.0 {
            return None;
        }
        // In range by the check above: |lat| * 1e7 ≤ 9e8 < i32::MAX.
        #[allow(clippy::cast_possible_truncation)]
        Some(Point {
            lat_e7: (lat * 1e7).round() as i32,
            lon_e7: (lon * 1e7).round() as i32,
        })
    }
    pub fn lat(self) -> f64 {
        f64::from(self.lat_e7) / 1e7
    }
    pub fn lon(self) -> f64 {
        f64::from(self.lon_e7) / 1e7
    }
    fn in_range(self) -> bool {
        self.lat_e7.unsigned_abs() <= 900_000_000 && self.lon_e7.unsigned_abs() <= 1_800_000_000
    }
}

/// A polygon: the outer ring first, then holes. Rings are closed implicitly (the last point
/// connects to the first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Polygon {
    pub rings: Vec<Vec<Point>>,
}

/// The area of a grid: one or more polygons (GeoJSON Polygon or MultiPolygon).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boundary {
    pub polygons: Vec<Polygon>,
}

impl Boundary {
    /// Points over every ring.
    pub fn points(&self) -> usize {
        self.polygons
            .iter()
            .flat_map(|p| &p.rings)
            .map(Vec::len)
            .sum()
    }

    /// Checks the bounds: at least one polygon, each ring 3 to [`MAX_BOUNDARY_POINTS`] points,
    /// every point on the globe, at most [`MAX_BOUNDARY_RINGS`] rings.
    pub fn check(&self) -> Result<()> {
        let field = "boundary";
        if self.polygons.is_empty() {
            return Err(Error::invalid(field, "has no polygon"));
        }
        let rings: usize = self.polygons.iter().map(|p| p.rings.len()).sum();
        if rings > MAX_BOUNDARY_RINGS {
            return Err(Error::invalid(
                field,
                format!("more than {MAX_BOUNDARY_RINGS} rings"),
            ));
        }
        if self.points() > MAX_BOUNDARY_POINTS {
            return Err(Error::invalid(
                field,
                format!("more than {MAX_BOUNDARY_POINTS} points"),
            ));
        }
        for p in &self.polygons {
            if p.rings.is_empty() {
                return Err(Error::invalid(field, "a polygon has no ring"));
            }
            for r in &p.rings {
                if r.len() < 3 {
                    return Err(Error::invalid(field, "a ring has fewer than 3 points"));
                }
                if !r.iter().all(|pt| pt.in_range()) {
                    return Err(Error::invalid(field, "a point is off the globe"));
                }
            }
        }
        Ok(())
    }

    /// Whether the point lies inside (even-odd rule over each polygon's rings: inside the outer
    /// ring and outside every hole). Points exactly on an edge may fall either way.
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        let Some(p) = Point::from_degrees(lat, lon) else {
            return false;
        };
        let (x, y) = (i64::from(p.lon_e7), i64::from(p.lat_e7));
        self.polygons.iter().any(|poly| {
            let mut inside = false;
            for ring in &poly.rings {
                if ring_crossings(ring, x, y) {
                    inside = !inside;
                }
            }
            inside
        })
    }

    /// Reads a GeoJSON geometry (`Polygon` or `MultiPolygon`, `[lon, lat]` positions), a
    /// `Feature` holding one, bounded before any work: the caller has bounded the bytes
    /// ([`MAX_GEOJSON_BYTES`]); here the counts are checked while walking, so a file of a
    /// million points is refused at the limit, not after it is read into vectors.
    pub fn from_geojson(v: &Value) -> Result<Boundary> {
        let field = "boundary";
        let geom = match v.get("type").and_then(Value::as_str) {
            Some("Feature") => v
                .get("geometry")
                .ok_or_else(|| Error::invalid(field, "a Feature without a geometry"))?,
            _ => v,
        };
        let coords = geom
            .get("coordinates")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::invalid(field, "no coordinates array"))?;
        let polys: Vec<&Vec<Value>> = match geom.get("type").and_then(Value::as_str) {
            Some("Polygon") => vec![coords],
            Some("MultiPolygon") => coords
                .iter()
                .map(|p| {
                    p.as_array()
                        .ok_or_else(|| Error::invalid(field, "a polygon is not an array"))
                })
                .collect::<Result<_>>()?,
            _ => {
                return Err(Error::invalid(
                    field,
                    "the geometry must be a Polygon or a MultiPolygon",
                ))
            }
        };
        let mut budget = MAX_BOUNDARY_POINTS;
        let mut rings_left = MAX_BOUNDARY_RINGS;
        let mut polygons = Vec::with_capacity(polys.len().min(MAX_BOUNDARY_RINGS));
        for rings in polys {
            let mut out = Vec::with_capacity(rings.len().min(rings_left));
            for ring in rings {
                rings_left = rings_left.checked_sub(1).ok_or_else(|| {
                    Error::invalid(field, format!("more than {MAX_BOUNDARY_RINGS} rings"))
                })?;
                let ring = ring
                    .as_array()
                    .ok_or_else(|| Error::invalid(field, "a ring is not an array"))?;
                if ring.len() > budget {
                    return Err(Error::invalid(
                        field,
                        format!("more than {MAX_BOUNDARY_POINTS} points"),
                    ));
                }
                budget -= ring.len();
                let mut pts = Vec::with_capacity(ring.len());
                for pos in ring {
                    let pair = pos.as_array().filter(|a| a.len() >= 2).ok_or_else(|| {
                        Error::invalid(field, "a position is not [longitude, latitude]")
                    })?;
                    let (lon, lat) = (pair[0].as_f64(), pair[1].as_f64());
                    let pt = lat
                        .zip(lon)
                        .and_then(|(lat, lon)| Point::from_degrees(lat, lon))
                        .ok_or_else(|| Error::invalid(field, "a point is off the globe"))?;
                    pts.push(pt);
                }
                // GeoJSON repeats the first point at the end; rings here close implicitly.
                if pts.len() > 1 && pts.first() == pts.last() {
                    pts.pop();
                }
                out.push(pts);
            }
            polygons.push(Polygon { rings: out });
        }
        let b = Boundary { polygons };
        b.check()?;
        Ok(b)
    }

    /// The boundary as a GeoJSON geometry (MultiPolygon, rings closed).
    pub fn to_geojson(&self) -> Value {
        let polys: Vec<Value> = self
            .polygons
            .iter()
            .map(|p| {
                Value::Array(
                    p.rings
                        .iter()
                        .map(|r| {
                            let mut pts: Vec<Value> = r
                                .iter()
                                .map(|pt| serde_json::json!([pt.lon(), pt.lat()]))
                                .collect();
                            if let Some(first) = pts.first().cloned() {
                                pts.push(first);
                            }
                            Value::Array(pts)
                        })
                        .collect(),
                )
            })
            .collect();
        serde_json::json!({"type": "MultiPolygon", "coordinates": polys})
    }
}

/// Whether a ray from (x, y) towards +x crosses the ring's edge an odd number of times.
fn ring_crossings(ring: &[Point], x: i64, y: i64) -> bool {
    let mut inside = false;
    let n = ring.len();
    let mut j = n.wrapping_sub(1);
    for i in 0..n {
        let (xi, yi) = (i64::from(ring[i].lon_e7), i64::from(ring[i].lat_e7));
        let (xj, yj) = (i64::from(ring[j].lon_e7), i64::from(ring[j].lat_e7));
        if (yi > y) != (yj > y) {
            // x < xi + (y - yi) * (xj - xi) / (yj - yi), in integers: no rounding, no overflow
            // (coordinates < 2^31, products < 2^63).
            let lhs = (x - xi) * (yj - yi);
            let rhs = (y - yi) * (xj - xi);
            if (yj > yi && lhs < rhs) || (yj < yi && lhs > rhs) {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// The grid among `grids` whose boundary contains the point. `Err(None)`: no grid has a
/// boundary (cannot tell); `Ok(None)`: outside every grid that has one.
pub fn grid_at<'a>(grids: impl IntoIterator<Item = &'a DirUnit>, lat: f64, lon: f64) -> GridAt {
    let mut any = false;
    for g in grids {
        if let Some(b) = &g.boundary {
            any = true;
            if b.contains(lat, lon) {
                return GridAt::In { grid: g.id.clone() };
            }
        }
    }
    if any {
        GridAt::Outside
    } else {
        GridAt::NoBoundaries
    }
}

/// The answer of [`grid_at`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GridAt {
    /// The point is inside this grid.
    In { grid: String },
    /// Outside every grid of the user that has a boundary.
    Outside,
    /// None of the user's grids has a boundary on this device.
    NoBoundaries,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn square(x0: f64, y0: f64, size: f64) -> Value {
        json!({"type": "Polygon", "coordinates": [[[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]]})
    }

    #[test]
    fn contains_inside_outside_and_holes() {
        let b = Boundary::from_geojson(&json!({
            "type": "Polygon",
            "coordinates": [
                [[117.0, 36.0], [117.1, 36.0], [117.1, 36.1], [117.0, 36.1], [117.0, 36.0]],
                [[117.04, 36.04], [117.06, 36.04], [117.06, 36.06], [117.04, 36.06], [117.04, 36.04]]
            ]
        }))
        .unwrap();
        assert!(b.contains(36.02, 117.02));
        assert!(!b.contains(36.05, 117.05), "inside the hole");
        assert!(!b.contains(36.2, 117.02));
        assert!(!b.contains(f64::NAN, 117.02));
        assert_eq!(b.points(), 8, "closing points dropped");
        let back = Boundary::from_geojson(&b.to_geojson()).unwrap();
        assert_eq!(back, b);
    }

    #[test]
    fn multipolygon_and_feature() {
        let a = square(117.0, 36.0, 0.01);
        let c = square(117.5, 36.5, 0.01);
        let mp = json!({"type": "Feature", "properties": {"id": "g1"}, "geometry": {
            "type": "MultiPolygon", "coordinates": [a["coordinates"], c["coordinates"]]}});
        let b = Boundary::from_geojson(&mp).unwrap();
        assert!(b.contains(36.005, 117.005));
        assert!(b.contains(36.505, 117.505));
        assert!(!b.contains(36.3, 117.3));
    }

    #[test]
    fn hostile_geojson_is_refused_by_field() {
        let too_many: Vec<Value> = (0..=MAX_BOUNDARY_POINTS)
            .map(|i| json!([117.0 + (i as f64) * 1e-6, 36.0]))
            .collect();
        for bad in [
            json!({"type": "Point", "coordinates": [117.0, 36.0]}),
            json!({"type": "Polygon"}),
            json!({"type": "Polygon", "coordinates": [[[117.0, 36.0], [117.1, 36.0]]]}),
            json!({"type": "Polygon", "coordinates": [[[200.0, 36.0], [117.1, 36.0], [117.1, 36.1]]]}),
            json!({"type": "Polygon", "coordinates": [[["x", 36.0], [117.1, 36.0], [117.1, 36.1]]]}),
            json!({"type": "Polygon", "coordinates": [too_many]}),
            json!({"type": "MultiPolygon", "coordinates": [[]]}),
        ] {
            match Boundary::from_geojson(&bad) {
                Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "boundary"),
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    }

    #[test]
    fn grid_at_picks_the_containing_grid() {
        let unit = |id: &str, b: Option<Boundary>| DirUnit {
            id: id.into(),
            kind: UnitKind::Grid,
            parent: Some("c".into()),
            name: id.into(),
            boundary: b,
        };
        let g1 = unit(
            "g1",
            Some(Boundary::from_geojson(&square(117.0, 36.0, 0.01)).unwrap()),
        );
        let g2 = unit(
            "g2",
            Some(Boundary::from_geojson(&square(117.01, 36.0, 0.01)).unwrap()),
        );
        let grids = [g1, g2];
        assert_eq!(
            grid_at(&grids, 36.005, 117.015),
            GridAt::In { grid: "g2".into() }
        );
        assert_eq!(
            grid_at(&grids, 36.005, 117.005),
            GridAt::In { grid: "g1".into() }
        );
        assert_eq!(grid_at(&grids, 37.0, 117.0), GridAt::Outside);
        assert_eq!(
            grid_at(&[unit("g3", None)], 36.0, 117.0),
            GridAt::NoBoundaries
        );
    }

    #[test]
    fn people_checks_name_the_field_and_debug_hides_the_phone() {
        let p = Person {
            id: UserId::from("u1"),
            username: "liu".into(),
            display_name: "刘洋".into(),
            role: Role::Supervisor,
            units: vec!["s1".into()],
            phone: Some("+86 138-0013-8000".into()),
            in_scope: true,
        };
        check_person(&p).unwrap();
        assert_eq!(p.label(), "刘洋 (supervisor)");
        assert!(!format!("{p:?}").contains("138"));
        let mut bad = p.clone();
        bad.display_name = "x".repeat(MAX_NAME_CHARS + 1);
        assert!(
            matches!(check_person(&bad), Err(Error::InvalidInput { field, .. }) if field == "person.display_name")
        );
        bad = p.clone();
        bad.phone = Some("call me".into());
        assert!(
            matches!(check_person(&bad), Err(Error::InvalidInput { field, .. }) if field == "phone")
        );
        bad = p;
        bad.units = vec!["a b".into()];
        assert!(
            matches!(check_person(&bad), Err(Error::InvalidInput { field, .. }) if field == "person.units")
        );
        assert_eq!(label_of(&[], "u9"), "u9");
    }
}
