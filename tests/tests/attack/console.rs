//! Class 11, the web console: what the worst signed-in console user (or a page of another site
//! in their browser) can send to `/console`. Oversized and malformed forms, floods of sign-ins,
//! hostile query strings, path tricks, forged workflow steps, a phone's token as a cookie, a
//! console actor claimed by a phone. Each through a real server, which must refuse by field
//! name without echoing the value, change nothing, stay up and stay within the memory bound.

use gridwork_tests::attack::*;
use gridwork_tests::console::{serde_urlencoded_pairs, Console};
use gridwork_tests::Device;

const CLASS: &str = "console";

#[test]
fn oversized_and_malformed_forms_are_refused_and_change_nothing() {
    let mut g = Guard::start(CLASS, &[]);
    let w = Device::sign_in(&g.url(), "worker");
    w.sync_ok();
    let id = w.report("furong-01", "表单攻击目标");
    w.sync_ok();
    let mut sv = Console::sign_in(&g.url(), "supervisor");
    sv.get(&format!("/console/reports/{id}"));
    let token = sv.csrf.clone().unwrap();
    let path = format!("/console/reports/{id}/comment");
    // 8 MiB of comment: over the form bound, refused before it is read whole.
    let huge = format!("_csrf={token}&text={}", "王".repeat(1 << 20));
    let p = sv.post_body(&path, huge.into_bytes(), &[]);
    assert!(matches!(p.status, 0 | 400 | 413), "{}", p.status);
    g.check("huge_form");
    // 20,000 fields in 64 KiB.
    let many = format!("_csrf={token}&{}", "a=&".repeat(20_000));
    let p = sv.post_body(&path, many.into_bytes(), &[]);
    assert_eq!(p.status, 400);
    assert!(p.body.contains("body"), "the refusal names the body");
    // Not a form at all, and invalid percent-encoding and UTF-8.
    for body in [
        &b"\xff\xfe\x00garbage"[..],
        b"_csrf=%ZZ&text=%C3%28",
        b"=&=&&&",
    ] {
        let p = sv.post_body(&path, body.to_vec(), &[]);
        assert!(matches!(p.status, 400 | 403), "{}", p.status);
    }
    let p = sv.post_body(
        &path,
        b"{\"text\":\"x\"}".to_vec(),
        &[("content-type", "application/json")],
    );
    assert!(matches!(p.status, 400 | 403));
    // A comment over the model's bound, a control character, and a value that must not echo.
    let long = "p".repeat(20_001);
    let p = sv.post(&path, &[("text", &long)]);
    assert_eq!(p.status, 400);
    assert!(p.body.contains("text"));
    let p = sv.post(&path, &[("text", "王秘密\u{0}")]);
    assert_eq!(p.status, 400);
    assert_body_quotes_nothing(&p.body, CANARIES);
    let p = sv.post(&format!("/console/reports/{id}/step"), &[("to", "王秘密")]);
    assert_eq!(p.status, 400);
    assert_body_quotes_nothing(&p.body, CANARIES);
    // Nothing of it was stored.
    let page = sv.get(&format!("/console/reports/{id}"));
    assert!(page.body.contains(r#"data-status="submitted""#));
    assert!(!page.body.contains("ppppp") && !page.body.contains("王秘密"));
    w.sync_ok();
    let gridwork_model::AnyRecord::Report(r) = w.store.get(&id).unwrap().record else {
        panic!()
    };
    assert!(r.comments.is_empty());
    g.check("malformed_forms");
}

#[test]
fn forged_steps_are_refused_by_the_same_policy_as_a_phone() {
    let mut g = Guard::start(CLASS, &[]);
    let w = Device::sign_in(&g.url(), "worker");
    w.sync_ok();
    let draft = w
        .store
        .create_report(gridwork_store::NewReport {
            grid: "furong-01".into(),
            category: gridwork_model::ReportCategory::Sanitation,
            severity: 1,
            title: "草稿".into(),
            description: String::new(),
            location: None,
            submit: false,
        })
        .unwrap();
    let submitted = w.report("furong-01", "已提交");
    w.sync_ok();
    let mut sv = Console::sign_in(&g.url(), "supervisor");
    sv.get("/console/dashboard");
    // Steps the workflow lacks, steps of another kind, steps to nowhere.
    for (id, to) in [
        (&draft, "approved"),
        (&submitted, "closed"),
        (&submitted, "draft"),
        (&submitted, "resolved"),
        (&submitted, "done"),
        (&submitted, ""),
    ] {
        let p = sv.post(&format!("/console/reports/{id}/step"), &[("to", to)]);
        assert_eq!(p.status, 400, "{to}: {}", p.body);
    }
    // Returning without a comment.
    let p = sv.post(
        &format!("/console/reports/{submitted}/step"),
        &[("to", "returned")],
    );
    assert_eq!(p.status, 400);
    assert!(p.body.contains("comment"));
    // A leader may not approve; a record id that is not an id; a task step on a report.
    let mut leader = Console::sign_in(&g.url(), "leader");
    let p = leader.post(
        &format!("/console/reports/{submitted}/step"),
        &[("to", "approved")],
    );
    assert_eq!(p.status, 400);
    for bad in ["..%2F..%2Fetc%2Fpasswd", "a%20b", &"x".repeat(300)] {
        let p = leader.post(
            &format!("/console/reports/{bad}/step"),
            &[("to", "approved")],
        );
        assert_eq!(p.status, 404, "{bad}");
    }
    let p = leader.post(
        &format!("/console/tasks/{submitted}/step"),
        &[("to", "done")],
    );
    assert_eq!(
        p.status, 400,
        "a report through the task path is still checked by its own workflow"
    );
    w.sync_ok();
    assert_eq!(w.store.get(&draft).unwrap().record.status(), Some("draft"));
    assert_eq!(
        w.store.get(&submitted).unwrap().record.status(),
        Some("submitted")
    );
    g.check("forged_steps");
}

#[test]
fn hostile_urls_cookies_and_tokens_get_nothing() {
    let mut g = Guard::start(CLASS, &[]);
    let mut sv = Console::sign_in(&g.url(), "supervisor");
    // Query strings: long, repeated, broken, injected.
    let long_q = "楼".repeat(2_000);
    for q in [
        format!(
            "q={}",
            serde_urlencoded_pairs(&[("", &long_q)])[1..].to_owned()
        ),
        "sort=created%3BDROP%20TABLE%20records".into(),
        "after=t%27%20OR%201%3D1~x".into(),
        "severity=-1".into(),
        "grid=%00".into(),
        "status=submitted&status=returned&status=closed".into(),
        "q=%25%25%25_".into(),
    ] {
        let p = sv.get(&format!("/console/reports?{q}"));
        assert!(
            matches!(p.status, 200 | 400 | 414 | 431),
            "{q}: {}",
            p.status
        );
    }
    // LIKE wildcards are searched for, not obeyed.
    let p = sv.get("/console/reports?q=%25");
    assert_eq!(p.status, 200);
    assert!(p.row_ids("reports").is_empty(), "'%' matches no title");
    // Paths: traversal, unknown files, unknown pages.
    for path in [
        "/console/static/..%2F..%2FCargo.toml",
        "/console/static/%2e%2e/%2e%2e/etc/passwd",
        "/console/static/console.css%00.js",
        "/console/nope",
    ] {
        let p = sv.get(path);
        assert!(matches!(p.status, 400 | 404), "{path}: {}", p.status);
        assert!(!p.body.contains("[package]") && !p.body.contains("root:"));
    }
    // Open redirects through next= and back=.
    let mut anon = Console::new(&g.url());
    let p = anon.get("/console/sign-in?next=https://evil.example/");
    assert!(!p.body.contains("evil.example"));
    let p = sv.get("/console/lang/en?back=//evil.example");
    assert_eq!(p.location.as_deref(), Some("/console/dashboard"));
    // Cookies: a thousand of them, a giant one, a phone's token, garbage.
    let mut c = Console::new(&g.url());
    for i in 0..1000 {
        c.cookies.push((format!("c{i}"), "x".repeat(10)));
    }
    let p = c.get("/console/dashboard");
    assert!(matches!(p.status, 303 | 400 | 431), "{}", p.status);
    let mut c = Console::new(&g.url());
    c.cookies.push(("gw_session".into(), "g".repeat(100_000)));
    let p = c.get("/console/dashboard");
    assert!(matches!(p.status, 303 | 400 | 431), "{}", p.status);
    let phone = Attacker::sign_in(&g.url(), "admin");
    let mut c = Console::new(&g.url());
    c.cookies.push(("gw_session".into(), phone.token.clone()));
    assert_eq!(
        c.get("/console/admin").status,
        303,
        "a phone's token is not a console session"
    );
    // A phone may not claim a console actor at sign-in (it would pass for the console in
    // history).
    let body = serde_json::json!({
        "username": "worker", "password": "demo-worker", "device_name": "phone",
        "actors": [format!("{}{}", gridwork_model::doc::CONSOLE_ACTOR_HEX, "00".repeat(16))],
    });
    let r = http_client()
        .post(format!("{}/v1/sign-in", g.url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("actors"));
    // The supervisor's session still works after all of it.
    assert_eq!(sv.get("/console/dashboard").status, 200);
    g.check("hostile_urls");
}

#[test]
fn a_flood_of_console_sign_ins_is_rate_limited_in_bounded_memory() {
    let _lock = heavy_lock();
    let mut g = Guard::start(CLASS, &[]);
    let url = g.url();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..100)
            .map(|i| {
                let url = url.clone();
                s.spawn(move || {
                    let mut c = Console::new(&url);
                    c.try_sign_in("supervisor", &format!("wrong-password-{i}"))
                        .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        statuses.iter().all(|s| matches!(s, 401 | 403 | 429 | 503)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&429),
        "the account's limit answers: {statuses:?}"
    );
    g.check("sign_in_flood");
}
