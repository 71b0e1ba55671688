//! Mapping between typed records (through their JSON form) and Automerge documents.
//!
//! Why not autosurgeon's `reconcile`: it writes every scalar on every reconcile, and Automerge
//! records a put even when the value is unchanged. Two people editing different fields would then
//! "conflict" on every field, and the per-field history would claim every edit touched everything.
//! Here a write compares the old and new JSON and emits only the operations for what changed:
//! text as splices, list appends as inserts, scalars as puts.

use automerge::transaction::Transactable;
use automerge::{
    ActorId, Automerge, ChangeHash, ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT,
};
use serde_json::{Map, Number, Value as J};

use crate::error::{Error, Result};
use crate::record::Millis;
use crate::record::TEXT_KEYS;

fn is_text_key(key: &str) -> bool {
    TEXT_KEYS.contains(&key)
}

/// Deepest nesting [`read_json`] descends into. Records need 3 levels; documents from the network
/// are read against their schema ([`crate::shape`]) before they are read here, and anything deeper
/// than this reads as `null`, so no document can make this recursion overflow the stack.
pub const READ_DEPTH: usize = 16;

/// Read the whole document as JSON (text objects become strings).
pub fn read_json(doc: &impl ReadDoc) -> J {
    read_obj(doc, &ROOT, ObjType::Map, 0)
}

fn read_obj(doc: &impl ReadDoc, obj: &ObjId, typ: ObjType, depth: usize) -> J {
    if depth > READ_DEPTH {
        return J::Null;
    }
    match typ {
        ObjType::Map | ObjType::Table => {
            let mut m = Map::new();
            for item in doc.map_range(obj, ..) {
                m.insert(item.key.to_string(), {
                    let id = item.id();
                    read_value(doc, Value::from(item.value), &id, depth)
                });
            }
            J::Object(m)
        }
        ObjType::List => J::Array(
            doc.list_range(obj, ..)
                .map(|item| {
                    let id = item.id();
                    read_value(doc, Value::from(item.value), &id, depth)
                })
                .collect(),
        ),
        ObjType::Text => J::String(doc.text(obj).unwrap_or_default()),
    }
}

fn read_value(doc: &impl ReadDoc, v: Value<'_>, id: &ObjId, depth: usize) -> J {
    match v {
        Value::Object(t) => read_obj(doc, id, t, depth + 1),
        Value::Scalar(s) => scalar_to_json(&s),
    }
}

pub fn scalar_to_json(s: &ScalarValue) -> J {
    match s {
        ScalarValue::Str(s) => J::String(s.to_string()),
        ScalarValue::Int(i) => J::Number((*i).into()),
        ScalarValue::Uint(u) => J::Number((*u).into()),
        ScalarValue::F64(f) => Number::from_f64(*f).map_or(J::Null, J::Number),
        ScalarValue::Boolean(b) => J::Bool(*b),
        ScalarValue::Timestamp(t) => J::Number((*t).into()),
        ScalarValue::Counter(c) => J::Number(i64::from(c).into()),
        ScalarValue::Null => J::Null,
        ScalarValue::Bytes(_) | ScalarValue::Unknown { .. } => J::Null,
    }
}

fn json_scalar(v: &J) -> ScalarValue {
    match v {
        J::Null => ScalarValue::Null,
        J::Bool(b) => ScalarValue::Boolean(*b),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                ScalarValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                ScalarValue::Uint(u)
            } else {
                ScalarValue::F64(n.as_f64().unwrap_or(0.0))
            }
        }
        J::String(s) => ScalarValue::Str(s.as_str().into()),
        // objects and arrays are never scalars; callers route them elsewhere
        J::Array(_) | J::Object(_) => ScalarValue::Null,
    }
}

/// Write `new` into an empty document root (used when creating a record).
pub fn write_new<T: Transactable>(tx: &mut T, new: &J) -> Result<()> {
    write_diff(tx, &J::Object(Map::new()), new)
}

/// Emit the minimal operations that turn `old` (the document's current JSON) into `new`.
pub fn write_diff<T: Transactable>(tx: &mut T, old: &J, new: &J) -> Result<()> {
    match (old, new) {
        (J::Object(o), J::Object(n)) => diff_map(tx, &ROOT, o, n),
        _ => Err(Error::Internal("record root must be a map".into())),
    }
}

fn diff_map<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    old: &Map<String, J>,
    new: &Map<String, J>,
) -> Result<()> {
    for (k, nv) in new {
        match old.get(k) {
            Some(ov) if ov == nv => {}
            Some(ov) => update_prop(tx, obj, k, ov, nv)?,
            None => put_new(tx, obj, k, nv)?,
        }
    }
    for k in old.keys() {
        if !new.contains_key(k) {
            tx.delete(obj, k.as_str())?;
        }
    }
    Ok(())
}

/// Replace or update the value at a map key.
fn update_prop<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    key: &str,
    old: &J,
    new: &J,
) -> Result<()> {
    let existing = tx.get(obj, key)?;
    match (old, new, existing) {
        (J::Object(o), J::Object(n), Some((Value::Object(ObjType::Map), id))) => {
            diff_map(tx, &id, o, n)
        }
        (J::Array(o), J::Array(n), Some((Value::Object(ObjType::List), id))) => {
            diff_list(tx, &id, o, n)
        }
        (J::String(o), J::String(n), Some((Value::Object(ObjType::Text), id))) => {
            splice_text(tx, &id, o, n)
        }
        _ => put_new(tx, obj, key, new),
    }
}

fn put_new<T: Transactable>(tx: &mut T, obj: &ObjId, key: &str, v: &J) -> Result<()> {
    match v {
        J::Object(m) => {
            let id = tx.put_object(obj, key, ObjType::Map)?;
            fill_map(tx, &id, m)
        }
        J::Array(items) => {
            let id = tx.put_object(obj, key, ObjType::List)?;
            for (i, item) in items.iter().enumerate() {
                insert_new(tx, &id, i, item)?;
            }
            Ok(())
        }
        J::String(s) if is_text_key(key) => {
            let id = tx.put_object(obj, key, ObjType::Text)?;
            tx.splice_text(&id, 0, 0, s)?;
            Ok(())
        }
        other => Ok(tx.put(obj, key, json_scalar(other))?),
    }
}

fn fill_map<T: Transactable>(tx: &mut T, obj: &ObjId, m: &Map<String, J>) -> Result<()> {
    for (k, v) in m {
        put_new(tx, obj, k, v)?;
    }
    Ok(())
}

/// Insert a new list item.
fn insert_new<T: Transactable>(tx: &mut T, list: &ObjId, index: usize, v: &J) -> Result<()> {
    match v {
        J::Object(m) => {
            let id = tx.insert_object(list, index, ObjType::Map)?;
            fill_map(tx, &id, m)
        }
        J::Array(items) => {
            let id = tx.insert_object(list, index, ObjType::List)?;
            for (i, item) in items.iter().enumerate() {
                insert_new(tx, &id, i, item)?;
            }
            Ok(())
        }
        other => Ok(tx.insert(list, index, json_scalar(other))?),
    }
}

/// Lists: keep the common prefix and suffix, update same-length middles in place, otherwise
/// delete the old middle and insert the new one. An append is a pure insert at the end, so
/// concurrent appends from two devices both survive.
fn diff_list<T: Transactable>(tx: &mut T, list: &ObjId, old: &[J], new: &[J]) -> Result<()> {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let max_suffix = old.len().min(new.len()) - prefix;
    let suffix = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    let old_mid = &old[prefix..old.len() - suffix];
    let new_mid = &new[prefix..new.len() - suffix];
    if old_mid.len() == new_mid.len() {
        for (i, (o, n)) in old_mid.iter().zip(new_mid).enumerate() {
            let idx = prefix + i;
            let existing = tx.get(list, idx)?;
            match (o, n, existing) {
                (J::Object(om), J::Object(nm), Some((Value::Object(ObjType::Map), id))) => {
                    diff_map(tx, &id, om, nm)?;
                }
                _ => {
                    tx.delete(list, idx)?;
                    insert_new(tx, list, idx, n)?;
                }
            }
        }
        return Ok(());
    }
    for _ in 0..old_mid.len() {
        tx.delete(list, prefix)?;
    }
    for (i, n) in new_mid.iter().enumerate() {
        insert_new(tx, list, prefix + i, n)?;
    }
    Ok(())
}

/// Splice only the changed middle of a text, so concurrent typing elsewhere is kept.
fn splice_text<T: Transactable>(tx: &mut T, text: &ObjId, old: &str, new: &str) -> Result<()> {
    let o: Vec<char> = old.chars().collect();
    let n: Vec<char> = new.chars().collect();
    let prefix = o.iter().zip(&n).take_while(|(a, b)| a == b).count();
    let max_suffix = o.len().min(n.len()) - prefix;
    let suffix = o
        .iter()
        .rev()
        .zip(n.iter().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    let del: String = o[prefix..o.len() - suffix].iter().collect();
    let ins: String = n[prefix..n.len() - suffix].iter().collect();
    let head: String = o[..prefix].iter().collect();
    let enc = tx.text_encoding();
    let pos = text_width(enc, &head);
    let del_len = text_width(enc, &del) as isize;
    tx.splice_text(text, pos, del_len, &ins)?;
    Ok(())
}

fn text_width(enc: automerge::TextEncoding, s: &str) -> usize {
    match enc {
        automerge::TextEncoding::Utf8CodeUnit => s.len(),
        automerge::TextEncoding::Utf16CodeUnit => s.encode_utf16().count(),
        _ => s.chars().count(),
    }
}

/// One entry of a record's history: a change, who made it, from which device, which fields.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HistoryEntry {
    pub hash: String,
    pub user_id: String,
    pub actor: String,
    /// Made in the server's web console (the actor carries [`CONSOLE_ACTOR_PREFIX`]), not on a
    /// device.
    pub console: bool,
    pub at_ms: Millis,
    pub fields: Vec<String>,
}

/// The first bytes of every actor id the server's web console writes with. The server refuses
/// them from devices at sign-in, so a change with such an actor was made in the console.
pub const CONSOLE_ACTOR_PREFIX: &[u8] = b"gw-console";

/// [`CONSOLE_ACTOR_PREFIX`] in lowercase hex, as actor ids are written on the wire.
pub const CONSOLE_ACTOR_HEX: &str = "67772d636f6e736f6c65";

/// Whether an actor id (hex) is one of the web console's.
pub fn is_console_actor(actor_hex: &str) -> bool {
    actor_hex.starts_with(CONSOLE_ACTOR_HEX)
}

/// A new actor id for a web console session: the prefix and 16 random bytes.
pub fn console_actor() -> automerge::ActorId {
    let mut bytes = CONSOLE_ACTOR_PREFIX.to_vec();
    bytes.extend_from_slice(automerge::ActorId::random().to_bytes());
    automerge::ActorId::from(bytes)
}

/// Per-change history, oldest first. Fields come from diffing the document before and after each
/// change (not from anything the author claimed), so they cannot be spoofed.
pub fn history(doc: &Automerge) -> Vec<HistoryEntry> {
    let changes = doc.get_changes(&[]);
    let mut out = Vec::with_capacity(changes.len());
    for c in changes {
        let before: Vec<ChangeHash> = c.deps().to_vec();
        let after = [c.hash()];
        let mut fields: Vec<String> = Vec::new();
        for p in doc.diff(&before, &after) {
            let field = match p.path.first() {
                Some((_, prop)) => prop.to_string(),
                None => match &p.action {
                    automerge::PatchAction::PutMap { key, .. } => key.clone(),
                    automerge::PatchAction::DeleteMap { key } => key.clone(),
                    _ => continue,
                },
            };
            if !fields.contains(&field) {
                fields.push(field);
            }
        }
        fields.sort();
        let actor = c.actor_id().to_hex_string();
        out.push(HistoryEntry {
            hash: c.hash().to_string(),
            console: is_console_actor(&actor),
            user_id: c.message().map(str::to_owned).unwrap_or_default(),
            actor,
            at_ms: Millis(c.timestamp()),
            fields,
        });
    }
    out
}

/// A field whose value was set concurrently; every value is kept, the first is the winner.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldConflict {
    pub field: String,
    pub values: Vec<ConflictValue>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ConflictValue {
    pub value: J,
    pub actor: String,
    pub user_id: String,
}

/// Map-level conflicts anywhere outside lists and text (root fields and nested maps such as
/// `location`). The winner Automerge picks (the same on every replica) comes first.
pub fn conflicts(doc: &Automerge) -> Vec<FieldConflict> {
    let mut actor_user = std::collections::HashMap::<ActorId, String>::new();
    for c in doc.get_changes(&[]) {
        actor_user
            .entry(c.actor_id().clone())
            .or_insert_with(|| c.message().map(str::to_owned).unwrap_or_default());
    }
    let mut out = Vec::new();
    collect_conflicts(doc, &ROOT, "", &actor_user, &mut out, 0);
    out
}

fn collect_conflicts(
    doc: &Automerge,
    obj: &ObjId,
    prefix: &str,
    actor_user: &std::collections::HashMap<ActorId, String>,
    out: &mut Vec<FieldConflict>,
    depth: usize,
) {
    if depth > READ_DEPTH {
        return;
    }
    for key in doc.keys(obj) {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let all = doc.get_all(obj, key.as_str()).unwrap_or_default();
        if all.len() > 1 {
            // get_all lists values in op order; the winner (what `get` returns) is the last.
            let values = all
                .iter()
                .rev()
                .map(|(v, id)| {
                    let actor = match id {
                        ObjId::Id(_, a, _) => a.clone(),
                        ObjId::Root => ActorId::from(&[][..]),
                    };
                    ConflictValue {
                        value: read_value(doc, v.clone(), id, depth),
                        user_id: actor_user.get(&actor).cloned().unwrap_or_default(),
                        actor: actor.to_hex_string(),
                    }
                })
                .collect();
            out.push(FieldConflict {
                field: path,
                values,
            });
        } else if let Ok(Some((Value::Object(ObjType::Map), id))) = doc.get(obj, key.as_str()) {
            collect_conflicts(doc, &id, &path, actor_user, out, depth + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn console_actors_are_recognised_by_their_prefix() {
        assert_eq!(
            CONSOLE_ACTOR_PREFIX
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            CONSOLE_ACTOR_HEX,
            "the hex constant spells the prefix"
        );
        let a = console_actor();
        assert!(is_console_actor(&a.to_hex_string()));
        assert_eq!(a.to_bytes().len(), CONSOLE_ACTOR_PREFIX.len() + 16);
        assert_ne!(console_actor(), a, "each session gets its own actor");
        assert!(!is_console_actor(
            &automerge::ActorId::random().to_hex_string()
        ));
        assert!(!is_console_actor("67772d"));
    }

    use super::*;
    use automerge::transaction::CommitOptions;
    use serde_json::json;

    fn commit(doc: &mut Automerge, old: &J, new: &J) {
        let mut tx = doc.transaction();
        write_diff(&mut tx, old, new).expect("write");
        tx.commit_with(
            CommitOptions::default()
                .with_message("u1".to_owned())
                .with_time(1),
        );
    }

    #[test]
    fn roundtrip_and_minimal_ops() {
        let mut doc = Automerge::new();
        let v1 = json!({"kind":"report","title":"楼道堆物","severity":2,"location":{"lat":36.6,"lon":117.0},"comments":[]});
        commit(&mut doc, &json!({}), &v1);
        assert_eq!(read_json(&doc), v1);
        let mut v2 = v1.clone();
        v2["severity"] = json!(3);
        let ops_before = doc.get_changes(&[]).len();
        commit(&mut doc, &v1, &v2);
        let last = doc.get_changes(&[]).pop().expect("change");
        assert_eq!(doc.get_changes(&[]).len(), ops_before + 1);
        assert_eq!(last.len(), 1, "only the changed scalar is written");
        assert_eq!(read_json(&doc), v2);
    }

    #[test]
    fn concurrent_text_and_list_edits_merge() {
        let mut a = Automerge::new();
        let v0 = json!({"title":"消防通道","description":"中间","comments":[]});
        commit(&mut a, &json!({}), &v0);
        let mut b = a.fork();
        let mut va = v0.clone();
        va["description"] = json!("前面中间");
        va["comments"] = json!([{"text":"甲"}]);
        commit(&mut a, &v0, &va);
        let mut vb = v0.clone();
        vb["description"] = json!("中间后面");
        vb["comments"] = json!([{"text":"乙"}]);
        commit(&mut b, &v0, &vb);
        a.merge(&mut b).expect("merge");
        let m = read_json(&a);
        assert_eq!(m["description"], json!("前面中间后面"));
        assert_eq!(m["comments"].as_array().map(std::vec::Vec::len), Some(2));
        assert!(
            conflicts(&a).is_empty(),
            "different fields and list appends are not conflicts"
        );
    }

    #[test]
    fn concurrent_scalar_is_a_conflict_with_both_values() {
        let mut a = Automerge::new();
        let v0 = json!({"severity":1,"location":{"lat":1.0}});
        commit(&mut a, &json!({}), &v0);
        let mut b = a.fork();
        commit(&mut a, &v0, &json!({"severity":2,"location":{"lat":2.0}}));
        commit(&mut b, &v0, &json!({"severity":3,"location":{"lat":3.0}}));
        a.merge(&mut b).expect("merge");
        let c = conflicts(&a);
        let fields: Vec<&str> = c.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, vec!["location.lat", "severity"]);
        let sev = &c[1];
        assert_eq!(sev.values.len(), 2);
        assert_eq!(
            sev.values[0].value,
            read_json(&a)["severity"],
            "winner first"
        );
    }

    #[test]
    fn history_names_changed_fields() {
        let mut doc = Automerge::new();
        let v1 = json!({"title":"a","severity":1});
        commit(&mut doc, &json!({}), &v1);
        let v2 = json!({"title":"ab","severity":1});
        commit(&mut doc, &v1, &v2);
        let h = history(&doc);
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].fields, vec!["severity", "title"]);
        assert_eq!(h[1].fields, vec!["title"]);
        assert_eq!(h[1].user_id, "u1");
    }
}
