//! Nothing personal in logs or errors (issue 12): a household's whole life — created with a
//! name, an ID number, a phone and a health note, visited, synced, refused, edited on two devices
//! at once, looked up and shown in full in the web console — with the server at
//! `RUST_LOG=trace` and this process's own logs (the devices' store and sync client) captured at
//! trace level too. No log line and no error message may hold any of those values, in any
//! encoding a log could use.

use std::io::Write;
use std::sync::{Arc, Mutex};

use gridwork_model::{AnyRecord, Error, Member, MemberTag, VisitType};
use gridwork_store::{HouseholdPatch, NewHousehold, NewVisit};
use gridwork_tests::attack::{assert_reasons_quote_nothing, Attacker};
use gridwork_tests::console::Console;
use gridwork_tests::{Device, Server};

const NAME: &str = "欧阳秀兰";
const ID_NUMBER: &str = "370102194105060027";
const PHONE: &str = "13912345678";
const HEALTH: &str = "阿尔茨海默症早期";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Every form a value could take in a log: as typed, percent-encoded (a URL), JSON-escaped.
fn forms(v: &str) -> Vec<String> {
    let pct: String = v.bytes().map(|b| format!("%{b:02X}")).collect();
    let json = serde_json::to_string(v).unwrap();
    let json_escaped: String = v
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("\\u{:04x}", c as u32)
            }
        })
        .collect();
    vec![
        v.to_owned(),
        pct,
        json.trim_matches('"').to_owned(),
        json_escaped,
    ]
}

fn assert_clean(what: &str, text: &str) {
    for v in [NAME, ID_NUMBER, PHONE, HEALTH] {
        for f in forms(v) {
            assert!(
                !text.contains(&f),
                "{what} holds a resident's value ({v} as {f})"
            );
        }
    }
}

fn member() -> Member {
    Member {
        name: NAME.into(),
        id_number: Some(ID_NUMBER.into()),
        phone: Some(PHONE.into()),
        birth_year: Some(1941),
        tags: vec![MemberTag::ElderlyLivingAlone],
    }
}

#[test]
fn a_households_life_leaves_nothing_personal_in_logs_or_errors() {
    let logs = Captured::default();
    let sink = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .init();
    let server = Server::start_traced(&[]);
    let mut errors: Vec<String> = Vec::new();

    // Created, visited, synced.
    let worker = Device::sign_in(&server.url, "worker");
    worker.sync_ok();
    let hid = worker
        .store
        .create_household(NewHousehold {
            grid: "furong-01".into(),
            address: "芙蓉街20号1单元101".into(),
            members: vec![member()],
            notes: format!("{HEALTH}，子女在外地"),
        })
        .unwrap();
    worker
        .store
        .create_visit(NewVisit {
            grid: "furong-01".into(),
            household_id: hid.clone(),
            visit_type: VisitType::ElderlyCare,
            notes: format!("{NAME}老人{HEALTH}，需要每周走访"),
            needs: vec![],
            follow_up_due: Some("2030-01-01".into()),
            location: None,
            visited_at: None,
        })
        .unwrap();
    worker.sync_ok();

    // Refused on the device: a mistyped ID number (the check digit) and a phone with letters.
    for bad in [
        Member {
            id_number: Some(format!("{}8", &ID_NUMBER[..17])),
            ..member()
        },
        Member {
            phone: Some(format!("{PHONE}x")),
            ..member()
        },
    ] {
        let e = worker
            .store
            .update_household(
                &hid,
                HouseholdPatch {
                    members: Some(vec![bad]),
                    ..HouseholdPatch::default()
                },
            )
            .expect_err("refused");
        assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
        errors.push(e.to_string());
        errors.push(format!("{e:?}"));
    }

    // Refused by the server: a household in another community, pushed by hand.
    let a = Attacker::sign_in(&server.url, "worker");
    let rec = AnyRecord::Household(gridwork_model::Household {
        grid: "baotu-01".into(),
        address: "趵突泉南路1号".into(),
        members: vec![member()],
        notes: HEALTH.into(),
        author: a.user_id.clone().into(),
        created_at: gridwork_model::Millis(gridwork_tests::attack::now_ms()),
    });
    let (_, change) = a.create(&rec);
    let resp = a
        .push_one(&gridwork_tests::attack::new_id(), change)
        .expect("answered");
    assert!(
        !resp.rejected.is_empty(),
        "the out-of-scope household is refused"
    );
    assert_reasons_quote_nothing(&resp, &[NAME, ID_NUMBER, PHONE, HEALTH]);
    for r in &resp.rejected {
        errors.push(r.reason.clone());
    }

    // Edited on two devices at once: the notes merge.
    let leader = Device::sign_in(&server.url, "leader");
    leader.sync_ok();
    worker
        .store
        .update_household(
            &hid,
            HouseholdPatch {
                notes: Some(format!("{HEALTH}，本周复诊")),
                ..HouseholdPatch::default()
            },
        )
        .unwrap();
    leader
        .store
        .update_household(
            &hid,
            HouseholdPatch {
                notes: Some(format!("{HEALTH}，已联系家属")),
                ..HouseholdPatch::default()
            },
        )
        .unwrap();
    worker.sync_ok();
    leader.sync_ok();
    worker.sync_ok();
    let AnyRecord::Household(h) = worker.store.get(&hid).unwrap().record else {
        panic!("a household")
    };
    assert!(
        h.notes.contains("本周复诊") && h.notes.contains("已联系家属"),
        "both edits merged"
    );
    let history = worker.store.history(&hid).unwrap();
    errors.push(format!("{history:?}"));
    // Debug of the record itself is masked.
    let rec = worker.store.get(&hid).unwrap().record;
    let shown = format!("{rec:?}");
    assert_clean("Debug of the record", &shown);

    // The console: searched by name, opened, shown in full with a reason.
    let mut c = Console::sign_in(&server.url, "leader");
    let q = gridwork_tests::console::serde_urlencoded_pairs(&[("q", NAME)]);
    let list = c.get(&format!("/console/households?{q}"));
    assert_eq!(
        list.row_ids("households"),
        vec![hid.clone()],
        "found by name"
    );
    let page = c.get(&format!("/console/households/{hid}"));
    assert!(!page.body.contains(ID_NUMBER));
    let full = c.post(
        &format!("/console/households/{hid}/reveal"),
        &[("reason", "核实低保申请材料")],
    );
    assert!(full.body.contains(ID_NUMBER));
    // A refused console form quotes nothing either.
    let step = c.post(&format!("/console/reports/{hid}/step"), &[("to", NAME)]);
    errors.push(step.body);

    drop(c);
    drop(leader);
    drop(worker);
    let server_log = server.trace_log();
    assert!(
        server_log.contains("signed in") && server_log.lines().count() > 50,
        "the server logged at trace level ({} lines)",
        server_log.lines().count()
    );
    assert_clean("the server's trace log", &server_log);
    let device_log = logs.text();
    assert!(
        device_log.lines().count() > 10,
        "this process logged at trace level ({} lines)",
        device_log.lines().count()
    );
    assert_clean("the devices' trace log", &device_log);
    for e in &errors {
        assert_clean("an error message", e);
    }
}

#[test]
fn a_full_view_on_a_phone_reaches_the_admins_access_log() {
    let server = Server::start(&[]);
    let worker = Device::sign_in(&server.url, "worker");
    worker.sync_ok();
    let hid = worker
        .store
        .create_household(NewHousehold {
            grid: "furong-01".into(),
            address: "芙蓉街20号1单元101".into(),
            members: vec![member()],
            notes: String::new(),
        })
        .unwrap();
    // Masked unless a reason is given; a short reason is refused by name.
    let AnyRecord::Household(h) = worker.store.get_masked(&hid).unwrap().record else {
        panic!("a household")
    };
    assert_eq!(
        h.members[0].id_number.as_deref(),
        Some("370102********0027")
    );
    match worker.store.reveal(&hid, "看") {
        Err(Error::InvalidInput { field, reason }) => {
            assert_eq!(field, "reason");
            assert!(!reason.contains('看'));
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    let full = worker.store.reveal(&hid, "核实低保申请材料").unwrap();
    let AnyRecord::Household(h) = full.record else {
        panic!()
    };
    assert_eq!(h.members[0].id_number.as_deref(), Some(ID_NUMBER));
    let log = worker.store.access_log(10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].doc_id.as_str(), log[0].reason.as_str()),
        (hid.as_str(), "核实低保申请材料")
    );
    assert_eq!(
        worker.store.sync_side().pending_access(10).unwrap().len(),
        1
    );
    worker.sync_ok();
    assert!(
        worker
            .store
            .sync_side()
            .pending_access(10)
            .unwrap()
            .is_empty(),
        "sent"
    );
    let mut admin = Console::sign_in(&server.url, "admin");
    let page = admin.get("/console/admin/access-log");
    assert!(
        page.body.contains("核实低保申请材料")
            && page.body.contains("张伟")
            && page.body.contains(&hid)
    );
    // And in the admin CLI, by username, one line per entry.
    let listed = server.admin(&["access-log", "--limit", "10"]);
    let line = listed
        .lines()
        .find(|l| l.contains("核实低保申请材料"))
        .expect("the admin CLI lists the entry");
    assert!(line.contains("\tworker\t") && line.contains(&hid), "{line}");

    // The endpoint, attacked: the user comes from the token, never the body; every entry is
    // checked before any is stored; a record outside the scope is refused.
    let a = Attacker::sign_in(&server.url, "worker");
    let post = |body: serde_json::Value| {
        a.http()
            .post(format!("{}/v1/access-log", server.url))
            .bearer_auth(&a.token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap()
    };
    let now = gridwork_tests::attack::now_ms();
    let entry = |doc: &str, reason: &str| serde_json::json!({"at_ms": now, "doc_id": doc, "what": "household", "reason": reason});
    let w2 = Device::sign_in(&server.url, "worker2");
    w2.sync_ok();
    let baotu = w2
        .store
        .create_household(NewHousehold {
            grid: "baotu-01".into(),
            address: "趵突泉南路1号".into(),
            members: vec![],
            notes: String::new(),
        })
        .unwrap();
    w2.sync_ok();
    for (body, status, field) in [
        (
            serde_json::json!({"entries": [entry(&hid, "正当理由一"), entry("a b", "正当理由二")]}),
            400,
            "entries[1].doc_id",
        ),
        (
            serde_json::json!({"entries": [entry(&hid, "王秘密\u{0}")]}),
            400,
            "entries[0].reason",
        ),
        (
            serde_json::json!({"entries": [{"at_ms": 1, "doc_id": hid, "what": "household", "reason": "正当理由"}]}),
            400,
            "entries[0].at_ms",
        ),
        (
            serde_json::json!({"entries": [{"at_ms": now, "doc_id": hid, "what": "secret", "reason": "正当理由"}]}),
            400,
            "entries[0].what",
        ),
        (
            serde_json::json!({"entries": vec![entry(&hid, "正当理由"); 501]}),
            400,
            "entries",
        ),
        (
            serde_json::json!({"entries": [entry(&baotu, "越界查看")]}),
            403,
            "entries[0].doc_id",
        ),
        (serde_json::json!({"nope": 1}), 400, "access log body"),
    ] {
        let r = post(body);
        assert_eq!(r.status().as_u16(), status, "{field}");
        let text = r.text().unwrap();
        assert!(text.contains(field), "{field}: {text}");
        assert!(!text.contains("王秘密"));
    }
    let r = post(
        serde_json::json!({"entries": [entry(&hid, "由张伟本人核对"), {"at_ms": now - 1, "doc_id": hid, "what": "household", "reason": "冒名记录", "user_id": "admin"}]}),
    );
    assert_eq!(r.status().as_u16(), 200);
    let page = admin.get("/console/admin/access-log");
    assert!(
        !page.body.contains("正当理由一"),
        "nothing of a refused request was stored"
    );
    assert!(!page.body.contains("越界查看"));
    let i = page
        .body
        .find("冒名记录")
        .expect("the second entry is stored");
    let row = &page.body[page.body[..i].rfind("<tr>").unwrap()..i];
    assert!(
        row.contains("张伟") && !row.contains("Administrator"),
        "logged under the token's user: {row}"
    );
}
