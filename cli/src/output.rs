//! Output: JSON for scripts, tables and key/value lines for people. Resident ID numbers and phone
//! numbers are masked in both.

use std::collections::HashMap;

use gridwork_model::AnyRecord;
use gridwork_store::{RecordSummary, StoredRecord};
use serde_json::Value;
use unicode_width::UnicodeWidthStr;

/// Local date and time of a millisecond timestamp.
pub fn time(ms: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_millis_opt(ms) {
        chrono::LocalResult::Single(t) => t.format("%Y-%m-%d %H:%M").to_string(),
        _ => "-".into(),
    }
}

/// The record as JSON with personal identifiers masked ([`gridwork_model::mask`]).
pub fn record_json(rec: &AnyRecord) -> Value {
    rec.masked().to_json().unwrap_or(Value::Null)
}

/// A stored record as JSON, its residents' identifiers masked unless `full` (a record revealed
/// with a reason, `Store::reveal`).
pub fn stored_json(r: &StoredRecord, full: bool) -> Value {
    if full {
        return to_json(r);
    }
    to_json(&StoredRecord {
        record: r.record.masked(),
        ..r.clone()
    })
}

/// Any core type as JSON (core types are `Serialize`; nothing is built by hand).
pub fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

pub fn summary_json(s: &RecordSummary) -> Value {
    to_json(s)
}

pub fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// A plain text table with columns padded by display width (CJK counts double).
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    if rows.is_empty() {
        println!("(none)");
        return;
    }
    let cell = |s: &str| -> String {
        // Keep cells on one line and reasonably short.
        let one: String = s.chars().map(|c| if c == '\n' { ' ' } else { c }).collect();
        truncate_width(&one, 48)
    };
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| cell(c)).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.width());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(widths[i] - c.width() + 2));
            }
        }
        println!("{}", s.trim_end());
    };
    line(headers.to_vec());
    line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    );
    for r in &rows {
        line(r.iter().map(String::as_str).collect());
    }
}

fn truncate_width(s: &str, max: usize) -> String {
    if s.width() <= max {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if w + cw > max - 1 {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

pub fn summaries_table(items: &[RecordSummary]) {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.kind.as_str().to_owned(),
                s.grid.clone(),
                s.status
                    .clone()
                    .or_else(|| s.category.clone())
                    .unwrap_or_else(|| "-".into()),
                s.title.clone(),
                time(s.created_at.into()),
            ]
        })
        .collect();
    table(&["ID", "KIND", "GRID", "STATUS", "TITLE", "CREATED"], &rows);
}

/// How a user id is shown: "刘洋 (supervisor)" from the directory, else the id.
pub fn who(names: &HashMap<String, String>, id: &str) -> String {
    names.get(id).cloned().unwrap_or_else(|| id.to_owned())
}

/// Key/value lines for one record; user ids are shown by name (`names`, from the directory).
pub fn show_record(r: &StoredRecord, names: &HashMap<String, String>, full: bool) {
    let v = if full {
        r.record.to_json().unwrap_or(Value::Null)
    } else {
        record_json(&r.record)
    };
    println!("id:           {}", r.id);
    println!("kind:         {}", r.record.kind());
    if let Some(obj) = v.as_object() {
        for (k, val) in obj {
            if matches!(
                k.as_str(),
                "kind" | "transitions" | "comments" | "members" | "needs" | "photos"
            ) {
                continue;
            }
            let shown = match (k.as_str(), val) {
                ("created_at" | "visited_at", Value::Number(n)) => {
                    n.as_i64().map(time).unwrap_or_default()
                }
                ("author", Value::String(id)) => who(names, id),
                ("assignees", Value::Array(ids)) => ids
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|id| who(names, id))
                    .collect::<Vec<_>>()
                    .join(", "),
                (_, Value::String(s)) => s.clone(),
                (_, Value::Null) => "-".into(),
                (_, other) => other.to_string(),
            };
            println!("{:<13} {}", format!("{k}:"), shown);
        }
    }
    println!("updated:      {}", time(r.updated_at.into()));
    if r.pending_changes > 0 {
        println!(
            "pending:      {} change(s) not yet synced",
            r.pending_changes
        );
    }
    let list = |name: &str| {
        v.get(name)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let members = list("members");
    if !members.is_empty() {
        println!("members:");
        for m in members {
            let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
            let born = m
                .get("birth_year")
                .and_then(Value::as_i64)
                .map_or_else(|| "-".into(), |y| y.to_string());
            let tags = m
                .get("tags")
                .map(std::string::ToString::to_string)
                .unwrap_or_default();
            println!(
                "  {}  id {}  phone {}  born {}  {}",
                s("name"),
                s("id_number"),
                s("phone"),
                born,
                tags
            );
        }
    }
    let needs = list("needs");
    if !needs.is_empty() {
        println!("needs:");
        for n in needs {
            println!("  {n}");
        }
    }
    let transitions = list("transitions");
    if !transitions.is_empty() {
        println!("workflow:");
        for t in transitions {
            let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let at = t
                .get("at")
                .and_then(Value::as_i64)
                .map(time)
                .unwrap_or_default();
            let comment = t
                .get("comment")
                .and_then(Value::as_str)
                .map(|c| format!(" — {c}"))
                .unwrap_or_default();
            let by = s("by");
            let by = names
                .get(&by)
                .cloned()
                .unwrap_or_else(|| format!("{by} ({})", s("role")));
            println!("  {at}  {} → {}  by {by}{comment}", s("from"), s("to"));
        }
    }
    let comments = list("comments");
    if !comments.is_empty() {
        println!("comments:");
        for c in comments {
            let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let at = c
                .get("at")
                .and_then(Value::as_i64)
                .map(time)
                .unwrap_or_default();
            println!("  {at}  {}: {}", who(names, &s("by")), s("text"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_and_id_are_masked() {
        let rec = AnyRecord::Household(gridwork_model::Household {
            grid: "g".into(),
            address: "a".into(),
            members: vec![gridwork_model::Member {
                name: "n".into(),
                id_number: Some("11010519491231002X".into()),
                phone: Some("13812345678".into()),
                birth_year: None,
                tags: vec![],
            }],
            notes: String::new(),
            author: "u".into(),
            created_at: gridwork_model::Millis(0),
        });
        let s = record_json(&rec).to_string();
        assert!(
            !s.contains("11010519491231002X") && !s.contains("13812345678"),
            "{s}"
        );
        assert!(
            s.contains("110105********002X") && s.contains("138****5678"),
            "{s}"
        );
    }

    #[test]
    fn truncation_respects_width() {
        assert_eq!(truncate_width("芙蓉街", 4), "芙…");
        assert_eq!(truncate_width("abc", 4), "abc");
    }
}
