//! `gridwork status` shows documents a sync set aside and changes held by the server's quota,
//! in human and `--json` output, without ever showing a hostile document id.

use std::path::Path;
use std::process::{Command, Output};

use gridwork_client::DeviceSync;
use gridwork_store::{QuotaHold, Store, SyncApply};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gridwork");
const POISON_ID: &str = "poison/id with space";

fn gw(db: &Path, args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("GRIDWORK_DB")
        .output()
        .expect("run gridwork");
    assert!(
        out.status.success(),
        "gridwork {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn status_shows_set_aside_documents_and_quota_holds() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("device.db");
    {
        let store = Store::open_device(&db).unwrap();
        let page = store
            .sync_side()
            .apply_sync_page(SyncApply {
                pulled: vec![
                    (POISON_ID.into(), b"garbage".to_vec()),
                    ("broken-doc".into(), b"garbage".to_vec()),
                    ("broken-doc".into(), b"more garbage".to_vec()),
                ],
                cursor: Some("v1.3.all".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(page.set_aside.len(), 2);
        store
            .sync_side()
            .set_quota_hold(&QuotaHold {
                reason: "this device's daily quota of new documents is used up".into(),
                at_ms: gridwork_model::record::Millis(1_700_000_000_000),
                held: 3,
            })
            .unwrap();
    }

    let out = gw(&db, &["--json", "status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("poison"), "{text}");
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["set_aside"], 2);
    assert_eq!(st["held_by_quota"], 3);
    assert_eq!(st["last_quota_refusal"]["held"], 3);
    assert!(st["last_quota_refusal"]["reason"]
        .as_str()
        .unwrap()
        .contains("quota"));
    let docs = st["set_aside_docs"].as_array().unwrap();
    let broken = docs.iter().find(|d| d["doc_id"] == "broken-doc").unwrap();
    assert_eq!(broken["code"], "corrupt");
    assert_eq!(broken["changes"], 2);
    let invalid = docs.iter().find(|d| d["code"] == "invalid_id").unwrap();
    assert!(invalid["doc_id"].as_str().unwrap().starts_with("invalid:"));
    assert_eq!(invalid["field"], "doc_id");

    let out = gw(&db, &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("poison"), "{text}");
    assert!(text.contains("held:          3 change(s)"), "{text}");
    assert!(text.contains("set aside:     2 document(s)"), "{text}");
    assert!(
        text.contains("broken-doc") && text.contains("invalid_id"),
        "{text}"
    );
}
