//! The schema of each record kind, and the walk that reads a document against it.
//!
//! A document is read *as an Automerge document* (maps, lists, texts, scalars, and every
//! conflicting value of a key), not through serde: the walk is iterative, refuses a key the kind
//! does not have before looking inside it, and counts objects and characters as it goes, so a
//! hostile document (nested 5,000 levels, a million-character text under an ignored key, a huge
//! value hidden as a conflict loser) costs at most what the limits allow and never recursion.
//!
//! Two modes:
//! - [`Mode::Strict`] (the server, on every push): known keys only, exact types, every length and
//!   list within its field's limit, required keys present.
//! - [`Mode::Tolerant`] (a device, on pull): a newer server may have accepted keys, kinds or enum
//!   values this build does not know; they are kept if they fit the generic bounds (depth,
//!   lengths, counts), so an old app keeps syncing after the server upgrades.
//!
//! Schemas carry a [`SCHEMA_VERSION`]; fields carry the version that introduced them. A server
//! refuses keys it does not know; growing a kind means adding fields with a higher `since`.

use std::collections::{BTreeMap, HashSet};

use automerge::{Automerge, ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT};

use crate::limits::{MAX_DEPTH, MAX_DOC_CHARS, MAX_DOC_OBJECTS};
use crate::record::{
    RecordKind, Role, MAX_LIST_ITEMS, MAX_SHORT_CHARS, MAX_TEXT_CHARS, MAX_TITLE_CHARS,
};

/// Version of the record schemas this build knows.
pub const SCHEMA_VERSION: u32 = 1;

/// How a string scalar is checked (beyond its length).
#[derive(Debug, Clone, Copy)]
pub enum StrRule {
    /// Any text without NUL.
    Free,
    /// The id rule ([`crate::record::check_id`]).
    Id,
    /// One of these values.
    Enum(fn() -> &'static [&'static str]),
    /// `YYYY-MM-DD`.
    Date,
    /// 64 lowercase or uppercase hex digits.
    Sha256,
}

/// The type of a value.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    /// An Automerge text object (concurrent typing merges), `min..=max` characters.
    Text {
        min: usize,
        max: usize,
    },
    /// A string scalar, `min..=max` characters.
    Str {
        min: usize,
        max: usize,
        rule: StrRule,
    },
    /// An integer scalar.
    Int {
        min: i64,
        max: i64,
    },
    /// A number scalar (integer or float), finite.
    Num {
        min: f64,
        max: f64,
    },
    Bool,
    Map(&'static [Field]),
    List {
        item: &'static Ty,
        max: usize,
    },
    /// `null` or the inner type.
    Opt(&'static Ty),
}

/// Who may change a top-level field once the record exists ([`crate::policy`] enforces it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Set when the record is created, never changed.
    Fixed,
    /// The record's author, or a leader, supervisor or admin.
    Editors,
    /// Leaders, supervisors and admins only.
    Managers,
    /// Anyone whose scope holds the record.
    Anyone,
    /// Only through the workflow: a transition appended in the same change.
    Status,
    /// The workflow's history: append-only, one entry per status change.
    Transitions,
    /// Append-only; each new entry written by its author; existing entries never change.
    Comments,
}

/// A key of a map.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub key: &'static str,
    pub ty: Ty,
    pub required: bool,
    pub write: Write,
    /// The schema version that introduced the field.
    pub since: u32,
}

pub(crate) const fn f(key: &'static str, ty: Ty, write: Write) -> Field {
    Field {
        key,
        ty,
        required: true,
        write,
        since: 1,
    }
}

pub(crate) const fn opt(key: &'static str, ty: Ty, write: Write) -> Field {
    Field {
        key,
        ty,
        required: false,
        write,
        since: 1,
    }
}

pub(crate) const ID: Ty = Ty::Str {
    min: 1,
    max: 64,
    rule: StrRule::Id,
};
pub(crate) const TIME: Ty = Ty::Int {
    min: 0,
    max: 1 << 53,
};
pub(crate) const SHORT: Ty = Ty::Str {
    min: 0,
    max: MAX_SHORT_CHARS,
    rule: StrRule::Free,
};
pub(crate) const DATE: Ty = Ty::Str {
    min: 10,
    max: 10,
    rule: StrRule::Date,
};
pub(crate) const SHA256: Ty = Ty::Str {
    min: 64,
    max: 64,
    rule: StrRule::Sha256,
};

/// `enum_values!(name, Enum)` makes `fn name()`, the string values of a `string_enum!`, for
/// [`StrRule::Enum`].
macro_rules! enum_values {
    ($name:ident, $t:ty) => {
        fn $name() -> &'static [&'static str] {
            static V: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
            V.get_or_init(|| <$t>::ALL.iter().map(|v| v.as_str()).collect())
        }
    };
}
pub(crate) use enum_values;
enum_values!(roles, Role);
pub(crate) const fn en(values: fn() -> &'static [&'static str]) -> Ty {
    Ty::Str {
        min: 1,
        max: 64,
        rule: StrRule::Enum(values),
    }
}

const LOCATION: &[Field] = &[
    f(
        "lat",
        Ty::Num {
            min: -90.0,
            max: 90.0,
        },
        Write::Editors,
    ),
    f(
        "lon",
        Ty::Num {
            min: -180.0,
            max: 180.0,
        },
        Write::Editors,
    ),
    f(
        "accuracy_m",
        Ty::Num {
            min: 0.0,
            max: 100_000.0,
        },
        Write::Editors,
    ),
    opt("address", Ty::Opt(&SHORT), Write::Editors),
];
pub(crate) const LOCATION_TY: Ty = Ty::Map(LOCATION);

const PHOTO: &[Field] = &[
    f("hash", SHA256, Write::Editors),
    f("thumb_hash", SHA256, Write::Editors),
    f(
        "width",
        Ty::Int {
            min: 0,
            max: 100_000,
        },
        Write::Editors,
    ),
    f(
        "height",
        Ty::Int {
            min: 0,
            max: 100_000,
        },
        Write::Editors,
    ),
    f(
        "bytes",
        Ty::Int {
            min: 0,
            max: 1 << 40,
        },
        Write::Editors,
    ),
    opt("taken_at", Ty::Opt(&TIME), Write::Editors),
    opt("caption", Ty::Opt(&SHORT), Write::Editors),
];
pub(crate) const PHOTO_TY: Ty = Ty::Map(PHOTO);

const TRANSITION: &[Field] = &[
    f(
        "from",
        Ty::Str {
            min: 1,
            max: 32,
            rule: StrRule::Id,
        },
        Write::Transitions,
    ),
    f(
        "to",
        Ty::Str {
            min: 1,
            max: 32,
            rule: StrRule::Id,
        },
        Write::Transitions,
    ),
    f("by", ID, Write::Transitions),
    f("role", en(roles), Write::Transitions),
    f("at", TIME, Write::Transitions),
    opt(
        "comment",
        Ty::Opt(&Ty::Str {
            min: 0,
            max: MAX_TEXT_CHARS,
            rule: StrRule::Free,
        }),
        Write::Transitions,
    ),
];
pub(crate) const TRANSITION_TY: Ty = Ty::Map(TRANSITION);

const COMMENT: &[Field] = &[
    f("id", ID, Write::Comments),
    f("by", ID, Write::Comments),
    f("at", TIME, Write::Comments),
    f(
        "text",
        Ty::Text {
            min: 1,
            max: MAX_TEXT_CHARS,
        },
        Write::Comments,
    ),
];
pub(crate) const COMMENT_TY: Ty = Ty::Map(COMMENT);

pub(crate) const TITLE: Ty = Ty::Text {
    min: 1,
    max: MAX_TITLE_CHARS,
};
pub(crate) const LONG_TEXT: Ty = Ty::Text {
    min: 0,
    max: MAX_TEXT_CHARS,
};
pub(crate) const PHOTOS: Ty = Ty::List {
    item: &PHOTO_TY,
    max: MAX_LIST_ITEMS,
};
pub(crate) const TRANSITIONS: Ty = Ty::List {
    item: &TRANSITION_TY,
    max: MAX_LIST_ITEMS,
};
pub(crate) const COMMENTS: Ty = Ty::List {
    item: &COMMENT_TY,
    max: MAX_LIST_ITEMS,
};

/// The schema of a kind.
pub fn schema(kind: RecordKind) -> &'static [Field] {
    kind.schema()
}

/// The field `key` of a kind's schema.
pub fn field(kind: RecordKind, key: &str) -> Option<&'static Field> {
    schema(kind).iter().find(|f| f.key == key)
}

/// Strict (server) or tolerant (device) reading; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Strict,
    Tolerant,
}

/// Why a document does not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShapeError {
    /// The value at `path` breaks its field's rule (`reason` never quotes the value).
    Field { path: String, reason: String },
    /// The document as a whole is over a limit (objects, characters).
    TooLarge(&'static str),
}

/// What a walk learned, for the write policy: per root key, the ids of every value it holds
/// (more than one when concurrent writes conflict) and, for a list, the ids of its elements.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shape {
    /// `None` when the document has no (or no single known) `kind`.
    pub kind: Option<RecordKind>,
    pub keys: BTreeMap<String, KeyShape>,
    pub objects: usize,
    pub chars: usize,
    /// Every object reachable from the root (conflict losers included), root excluded.
    pub reach: HashSet<ObjId>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyShape {
    /// The op ids of the values (object ids for objects), winner last as `get_all` gives them.
    pub values: Vec<ObjId>,
    /// For a list held by the winning value: each element's value id, in order.
    pub elems: Vec<ObjId>,
}

struct Budget {
    objects: usize,
    chars: usize,
    reach: HashSet<ObjId>,
}

impl Budget {
    fn object(&mut self) -> Result<(), ShapeError> {
        self.objects += 1;
        if self.objects > MAX_DOC_OBJECTS {
            return Err(ShapeError::TooLarge("objects per document"));
        }
        Ok(())
    }
    fn chars(&mut self, n: usize) -> Result<(), ShapeError> {
        self.chars = self.chars.saturating_add(n);
        if self.chars > MAX_DOC_CHARS {
            return Err(ShapeError::TooLarge("characters per document"));
        }
        Ok(())
    }
}

/// One pending object to read: its id and type, what it should be (`None`: unknown, tolerant),
/// its path (for messages) and depth below the root.
struct Item {
    obj: ObjId,
    typ: ObjType,
    ty: Option<Ty>,
    path: String,
    depth: usize,
}

fn err(path: &str, reason: impl Into<String>) -> ShapeError {
    ShapeError::Field {
        path: if path.is_empty() {
            "record".to_owned()
        } else {
            path.to_owned()
        },
        reason: reason.into(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Reads `doc` against its kind's schema. Iterative; bounded by the document limits.
pub fn check(doc: &Automerge, mode: Mode) -> Result<Shape, ShapeError> {
    let mut budget = Budget {
        objects: 1,
        chars: 0,
        reach: HashSet::new(),
    };
    // The kind decides the schema; a document without a single known kind is refused (strict)
    // or read generically (tolerant).
    let kinds = doc.get_all(ROOT, "kind").unwrap_or_default();
    let kind = match kinds.as_slice() {
        [(Value::Scalar(s), _)] => match s.as_ref() {
            ScalarValue::Str(k) => k.parse::<RecordKind>().ok(),
            _ => None,
        },
        _ => None,
    };
    let root_ty = match (kind, mode) {
        (Some(k), _) => Some(Ty::Map(schema(k))),
        (None, Mode::Tolerant) => None,
        (None, Mode::Strict) => {
            return Err(err(
                "kind",
                "must be one of report, visit, household, task (exactly one value)",
            ))
        }
    };
    let mut shape = Shape {
        kind,
        ..Shape::default()
    };
    let mut stack = vec![Item {
        obj: ROOT,
        typ: ObjType::Map,
        ty: root_ty,
        path: String::new(),
        depth: 0,
    }];
    while let Some(item) = stack.pop() {
        match item.typ {
            ObjType::Map | ObjType::Table => {
                read_map(doc, mode, &item, &mut stack, &mut budget, &mut shape)?;
            }
            ObjType::List => read_list(doc, mode, &item, &mut stack, &mut budget)?,
            ObjType::Text => read_text(doc, mode, &item, &mut budget)?,
        }
    }
    shape.objects = budget.objects;
    shape.chars = budget.chars;
    shape.reach = budget.reach;
    Ok(shape)
}

fn read_map(
    doc: &Automerge,
    mode: Mode,
    item: &Item,
    stack: &mut Vec<Item>,
    budget: &mut Budget,
    shape: &mut Shape,
) -> Result<(), ShapeError> {
    if item.typ == ObjType::Table {
        return Err(err(&item.path, "tables are not used in records"));
    }
    let fields: Option<&'static [Field]> = match item.ty {
        Some(Ty::Map(fields)) => Some(fields),
        Some(_) => return Err(err(&item.path, "must not be a map")),
        None => None,
    };
    let keys: Vec<String> = doc.keys(&item.obj).collect();
    if keys.len() > MAX_LIST_ITEMS {
        return Err(err(&item.path, "too many keys"));
    }
    if let (Some(fields), Mode::Strict) = (fields, mode) {
        // Unknown keys first: they are what an attack adds, and nothing is read below them.
        if let Some(k) = keys
            .iter()
            .find(|k| !fields.iter().any(|fl| fl.key == k.as_str()))
        {
            return Err(err(&join(&item.path, k), "unknown field"));
        }
        for fl in fields.iter().filter(|fl| fl.required) {
            if !keys.iter().any(|k| k == fl.key) {
                return Err(err(&join(&item.path, fl.key), "missing"));
            }
        }
    }
    for key in keys {
        let path = join(&item.path, &key);
        budget.chars(key.chars().count())?;
        let field = fields.and_then(|fs| fs.iter().find(|fl| fl.key == key));
        let ty = match (field, mode) {
            (Some(fl), _) => Some(fl.ty),
            (None, Mode::Strict) => return Err(err(&path, "unknown field")),
            (None, Mode::Tolerant) => None,
        };
        let values = doc
            .get_all(&item.obj, key.as_str())
            .map_err(|_| err(&path, "unreadable"))?;
        let mut ids = Vec::with_capacity(values.len());
        let mut winner_list: Option<ObjId> = None;
        for (v, id) in values {
            winner_list = matches!(v, Value::Object(ObjType::List)).then(|| id.clone());
            check_value(mode, v, &id, ty, &path, item.depth, stack, budget)?;
            ids.push(id);
        }
        if item.depth == 0 {
            let elems = match winner_list {
                Some(list) => doc
                    .list_range(&list, ..)
                    .map(|i| i.id())
                    .collect::<Vec<_>>(),
                None => Vec::new(),
            };
            shape.keys.insert(key, KeyShape { values: ids, elems });
        }
    }
    Ok(())
}

fn read_list(
    doc: &Automerge,
    mode: Mode,
    item: &Item,
    stack: &mut Vec<Item>,
    budget: &mut Budget,
) -> Result<(), ShapeError> {
    let (elem_ty, max) = match item.ty {
        Some(Ty::List { item: t, max }) => (Some(*t), max),
        Some(_) => return Err(err(&item.path, "must not be a list")),
        None => (None, MAX_LIST_ITEMS),
    };
    let n = doc.length(&item.obj);
    if n > max {
        return Err(err(&item.path, format!("too many items: at most {max}")));
    }
    for i in 0..n {
        let values = doc
            .get_all(&item.obj, i)
            .map_err(|_| err(&item.path, "unreadable"))?;
        for (v, id) in values {
            check_value(mode, v, &id, elem_ty, &item.path, item.depth, stack, budget)?;
        }
    }
    Ok(())
}

fn read_text(
    doc: &Automerge,
    mode: Mode,
    item: &Item,
    budget: &mut Budget,
) -> Result<(), ShapeError> {
    let (min, max) = match item.ty {
        Some(Ty::Text { min, max }) => (min, max),
        // A newer version may turn a string field into a text: tolerated on devices.
        Some(Ty::Str { min, max, .. }) if mode == Mode::Tolerant => (min, max),
        Some(_) => return Err(err(&item.path, "must not be a text")),
        None => (0, MAX_TEXT_CHARS),
    };
    let units = doc.length(&item.obj);
    // Whatever the text encoding, a character is at most 4 units.
    if units > max.saturating_mul(4) {
        return Err(err(
            &item.path,
            format!("too long: at most {max} characters"),
        ));
    }
    let text = doc
        .text(&item.obj)
        .map_err(|_| err(&item.path, "unreadable"))?;
    check_chars(&item.path, &text, min, max)?;
    budget.chars(text.chars().count())
}

fn check_chars(path: &str, s: &str, min: usize, max: usize) -> Result<(), ShapeError> {
    let n = s.chars().count();
    if n > max {
        return Err(err(path, format!("too long: at most {max} characters")));
    }
    if n < min || (min > 0 && s.trim().is_empty()) {
        return Err(err(path, "must not be empty"));
    }
    if s.contains('\0') {
        return Err(err(path, "contains a NUL character"));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn check_value(
    mode: Mode,
    v: Value<'_>,
    id: &ObjId,
    ty: Option<Ty>,
    path: &str,
    depth: usize,
    stack: &mut Vec<Item>,
    budget: &mut Budget,
) -> Result<(), ShapeError> {
    // Unwrap `Opt`: null is fine, anything else is the inner type.
    let ty = match ty {
        Some(Ty::Opt(inner)) => {
            if let Value::Scalar(s) = &v {
                if matches!(s.as_ref(), ScalarValue::Null) {
                    return Ok(());
                }
            }
            Some(*inner)
        }
        other => other,
    };
    match v {
        Value::Object(typ) => {
            if depth + 1 > MAX_DEPTH {
                return Err(err(path, "nested too deeply"));
            }
            budget.object()?;
            if !budget.reach.insert(id.clone()) {
                // An object reachable twice would be read twice: documents are trees.
                return Err(err(path, "an object may appear only once"));
            }
            let want_ok = match (ty, typ) {
                (None, _) => true,
                (Some(Ty::Map(_)), ObjType::Map) => true,
                (Some(Ty::List { .. }), ObjType::List) => true,
                (Some(Ty::Text { .. }), ObjType::Text) => true,
                (Some(Ty::Str { .. }), ObjType::Text) => mode == Mode::Tolerant,
                _ => false,
            };
            if !want_ok {
                return Err(err(path, type_name(ty)));
            }
            stack.push(Item {
                obj: id.clone(),
                typ,
                ty,
                path: path.to_owned(),
                depth: depth + 1,
            });
            Ok(())
        }
        Value::Scalar(s) => check_scalar(mode, s.as_ref(), ty, path, budget),
    }
}

fn type_name(ty: Option<Ty>) -> &'static str {
    match ty {
        Some(Ty::Text { .. }) => "must be a text",
        Some(Ty::Str { .. }) => "must be a string",
        Some(Ty::Int { .. }) => "must be an integer",
        Some(Ty::Num { .. }) => "must be a number",
        Some(Ty::Bool) => "must be true or false",
        Some(Ty::Map(_)) => "must be a map",
        Some(Ty::List { .. }) => "must be a list",
        Some(Ty::Opt(_)) | None => "has the wrong type",
    }
}

fn check_scalar(
    mode: Mode,
    s: &ScalarValue,
    ty: Option<Ty>,
    path: &str,
    budget: &mut Budget,
) -> Result<(), ShapeError> {
    if let ScalarValue::Str(v) = s {
        budget.chars(v.chars().count())?;
    }
    let Some(ty) = ty else {
        // Unknown (tolerant): any plain scalar within the generic bounds.
        return match s {
            ScalarValue::Str(v) => check_chars(path, v, 0, MAX_TEXT_CHARS),
            ScalarValue::Bytes(b) if b.len() <= MAX_SHORT_CHARS => Ok(()),
            ScalarValue::Bytes(_) => Err(err(path, "too long")),
            _ => Ok(()),
        };
    };
    let wrong = || Err(err(path, type_name(Some(ty))));
    match (ty, s) {
        (Ty::Str { min, max, rule }, ScalarValue::Str(v)) => {
            check_chars(path, v, min, max)?;
            check_rule(mode, rule, v, path)
        }
        // A newer version may turn a text into a plain string: tolerated on devices.
        (Ty::Text { min, max }, ScalarValue::Str(v)) if mode == Mode::Tolerant => {
            check_chars(path, v, min, max)
        }
        (Ty::Int { min, max }, ScalarValue::Int(i)) => in_range(path, *i, min, max),
        (Ty::Int { min, max }, ScalarValue::Uint(u)) => {
            in_range(path, i64::try_from(*u).unwrap_or(i64::MAX), min, max)
        }
        (Ty::Num { min, max }, ScalarValue::Int(i)) => num_range(path, *i as f64, min, max),
        (Ty::Num { min, max }, ScalarValue::Uint(u)) => num_range(path, *u as f64, min, max),
        (Ty::Num { min, max }, ScalarValue::F64(x)) => num_range(path, *x, min, max),
        (Ty::Bool, ScalarValue::Boolean(_)) => Ok(()),
        _ => wrong(),
    }
}

fn in_range(path: &str, v: i64, min: i64, max: i64) -> Result<(), ShapeError> {
    if v < min || v > max {
        return Err(err(path, format!("must be between {min} and {max}")));
    }
    Ok(())
}

fn num_range(path: &str, v: f64, min: f64, max: f64) -> Result<(), ShapeError> {
    if !v.is_finite() || v < min || v > max {
        return Err(err(
            path,
            format!("must be a number between {min} and {max}"),
        ));
    }
    Ok(())
}

fn check_rule(mode: Mode, rule: StrRule, v: &str, path: &str) -> Result<(), ShapeError> {
    match rule {
        StrRule::Free => Ok(()),
        StrRule::Id => crate::record::check_id(path, v)
            .map_err(|_| err(path, "must be 1 to 64 ASCII letters, digits or - _ . : @")),
        StrRule::Enum(values) => {
            // A newer version may add values: devices keep them (hydration decides).
            if mode == Mode::Tolerant || values().contains(&v) {
                Ok(())
            } else {
                Err(err(
                    path,
                    format!("unknown value; expected one of {}", values().join(", ")),
                ))
            }
        }
        StrRule::Date => crate::record::parse_date(path, v)
            .map(|_| ())
            .map_err(|_| err(path, "must be a date in the form YYYY-MM-DD")),
        StrRule::Sha256 => {
            if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(())
            } else {
                Err(err(path, "must be a sha256 hex digest"))
            }
        }
    }
}
