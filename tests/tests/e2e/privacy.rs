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
    assert!(
        !shown.contains(ID_NUMBER) && !shown.contains(PHONE),
        "Debug masks: {shown}"
    );

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
