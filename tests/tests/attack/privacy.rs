//! Class 12, privacy: what the worst signed-in worker can send to what issue 12 added — the
//! access log (`POST /v1/access-log`) and the web console's marker on history (a console actor).
//! Oversized and deeply nested bodies, the largest legal batch, the same batch twice, a forged
//! user, a record outside the scope, no token, and a change signed with a console actor the
//! device never registered. Each through a real server, which must refuse by field without
//! echoing, store nothing of a refused request, store a resent batch once, stay up and stay
//! within the memory bound.

use gridwork_protocol::wire::RejectCode;
use gridwork_tests::attack::*;
use gridwork_tests::console::Console;
use gridwork_tests::Device;

const CLASS: &str = "privacy";

fn post(a: &Attacker, url: &str, body: Vec<u8>) -> Result<(u16, String), String> {
    let r = a
        .http()
        .post(format!("{url}/v1/access-log"))
        .bearer_auth(&a.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    Ok((status, r.text().unwrap_or_default()))
}

fn entry(doc: &str, at: i64, reason: &str) -> serde_json::Value {
    serde_json::json!({"at_ms": at, "doc_id": doc, "what": "household", "reason": reason})
}

/// Access-log rows the admin's page shows that contain `marker`.
fn logged(server_url: &str, marker: &str) -> usize {
    let mut admin = Console::sign_in(server_url, "admin");
    admin
        .get("/console/admin/access-log")
        .body
        .matches(marker)
        .count()
}

#[test]
fn the_access_log_endpoint_refuses_hostile_bodies_in_bounded_memory() {
    let mut g = Guard::start(CLASS, &[]);
    let url = g.url();
    let w = Device::sign_in(&url, "worker");
    w.sync_ok();
    let hid = w.report("furong-01", "访问日志目标");
    w.sync_ok();
    let a = Attacker::sign_in(&url, "worker");
    let now = now_ms();

    // Over the body bound (1 MiB), in one piece: refused before it is parsed.
    let huge = serde_json::json!({"entries": [entry(&hid, now, &"王秘密".repeat(200_000))]});
    let r = g.must("huge body", post(&a, &url, huge.to_string().into_bytes()));
    assert!(matches!(r.0, 400 | 413), "{r:?}");
    assert_body_quotes_nothing(&r.1, CANARIES);
    g.check("access_log_huge");
    // 100,000 levels of nesting inside the bound.
    let deep = format!(
        "{{\"entries\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let r = g.must("deep body", post(&a, &url, deep.into_bytes()));
    assert_eq!(r.0, 400, "{}", r.1);
    g.check("access_log_deep");
    // Not JSON, a wrong shape, numbers where text belongs.
    for body in [
        &b"\xff\xfe"[..],
        b"{\"entries\": {}}",
        b"{\"entries\": [{\"at_ms\": \"x\"}]}",
        b"[]",
    ] {
        let r = g.must("bad body", post(&a, &url, body.to_vec()));
        assert_eq!(r.0, 400);
    }
    // The largest legal batch (500 entries, 500-character reasons) is taken; one more is not.
    let batch: Vec<_> = (0..500)
        .map(|i| entry(&hid, now - i, &format!("批量{i:03}{}", "理".repeat(490))))
        .collect();
    let r = g.must(
        "largest batch",
        post(
            &a,
            &url,
            serde_json::json!({"entries": batch})
                .to_string()
                .into_bytes(),
        ),
    );
    assert_eq!(r.0, 200, "{}", r.1);
    let mut over = batch.clone();
    over.push(entry(&hid, now - 600, "多一条"));
    let r = g.must(
        "501 entries",
        post(
            &a,
            &url,
            serde_json::json!({"entries": over})
                .to_string()
                .into_bytes(),
        ),
    );
    assert_eq!(r.0, 400);
    assert!(r.1.contains("entries"));
    g.check("access_log_batch");

    // The same batch twice (a resend after a lost answer) is stored once.
    let once = serde_json::json!({"entries": [entry(&hid, now - 5_000, "重发测试理由")]});
    for _ in 0..2 {
        let r = g.must("resend", post(&a, &url, once.to_string().into_bytes()));
        assert_eq!(r.0, 200);
    }
    assert_eq!(
        logged(&url, "重发测试理由"),
        1,
        "a resent entry is stored once"
    );

    // One bad entry refuses the whole request, and none of it is stored.
    let mixed = serde_json::json!({"entries": [entry(&hid, now, "好的理由一"), entry(&hid, now, "王秘密\u{7}")]});
    let r = g.must("mixed", post(&a, &url, mixed.to_string().into_bytes()));
    assert_eq!(r.0, 400);
    assert!(r.1.contains("entries[1].reason"), "{}", r.1);
    assert_body_quotes_nothing(&r.1, CANARIES);
    assert_eq!(logged(&url, "好的理由一"), 0);

    // No token.
    let r = http_client()
        .post(format!("{url}/v1/access-log"))
        .header("content-type", "application/json")
        .body(once.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    g.check("access_log_refusals");
}

#[test]
fn a_change_signed_with_a_console_actor_the_device_never_registered_is_refused() {
    let mut g = Guard::start(CLASS, &[]);
    let mut a = Attacker::sign_in(&g.url(), "worker");
    // The change would read as "made in the web console" in every device's history.
    a.actor = gridwork_model::doc::console_actor();
    let id = new_id();
    let (_, change) = a.create(&draft_report("furong-01", &a.user_id, "冒充控制台"));
    let resp = g.must("push", a.push_one(&id, change));
    assert_refused(&resp, &id, RejectCode::ActorNotRegistered, None);
    g.check("console_actor_forged");
}

#[test]
fn a_console_step_sent_twice_is_taken_once() {
    let mut g = Guard::start(CLASS, &[]);
    let w = Device::sign_in(&g.url(), "worker");
    w.sync_ok();
    let id = w.report("furong-01", "重复审核");
    w.sync_ok();
    let mut sv = Console::sign_in(&g.url(), "supervisor");
    sv.get(&format!("/console/reports/{id}"));
    let path = format!("/console/reports/{id}/step");
    let first = sv.post(&path, &[("to", "approved")]);
    assert_eq!(first.status, 303);
    // A double click, a replayed form: the second is an illegal step now, refused.
    let second = sv.post(&path, &[("to", "approved")]);
    assert_eq!(second.status, 400);
    w.sync_ok();
    let gridwork_model::AnyRecord::Report(r) = w.store.get(&id).unwrap().record else {
        panic!("a report")
    };
    let approvals = r.transitions.iter().filter(|t| t.to == "approved").count();
    assert_eq!(approvals, 1, "one approval reached the phone");
    g.check("console_step_twice");
}
