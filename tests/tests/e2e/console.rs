//! The web console end to end: a real server on loopback, console users as HTTP clients with
//! cookies (`gridwork_tests::console`), phones as devices on the sync client. What a leader or
//! supervisor does in the console must reach the phones through the record path, and nothing
//! outside their scope may reach them.

use gridwork_model::{AnyRecord, Member, MemberTag};
use gridwork_store::{NewHousehold, ReportPatch};
use gridwork_tests::console::Console;
use gridwork_tests::{Device, Server};

fn enc(s: &str) -> String {
    gridwork_tests::console::serde_urlencoded_pairs(&[("q", s)])[2..].to_owned()
}

#[test]
fn a_review_in_the_console_reaches_the_workers_device() {
    let server = Server::start(&[]);
    let worker = Device::sign_in(&server.url, "worker");
    worker.sync_ok();
    let id = worker.report("furong-01", "芙蓉街8号电动车楼道充电");
    worker.sync_ok();

    let mut sv = Console::sign_in(&server.url, "supervisor");
    // Found by a Chinese substring of its title.
    let list = sv.get(&format!("/console/reports?q={}", enc("电动车楼道")));
    assert_eq!(list.status, 200);
    assert_eq!(list.row_ids("reports"), vec![id.clone()]);
    let detail = sv.get(&format!("/console/reports/{id}"));
    assert!(detail.body.contains(r#"data-status="submitted""#));
    assert!(
        detail.body.contains(r#"id="step-returned""#),
        "a supervisor may return it"
    );
    let back = sv.post(
        &format!("/console/reports/{id}/step"),
        &[("to", "returned"), ("comment", "请补充现场照片")],
    );
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(
        back.location.as_deref(),
        Some(format!("/console/reports/{id}").as_str())
    );
    let detail = sv.get(&format!("/console/reports/{id}"));
    assert!(detail.body.contains(r#"data-status="returned""#));
    assert!(detail.body.contains("请补充现场照片"));
    assert!(
        detail.body.contains("刘洋</strong> · 网页控制台"),
        "history names the console"
    );

    // The worker's phone pulls it like any other change.
    worker.sync_ok();
    let rec = worker.store.get(&id).unwrap().record;
    let AnyRecord::Report(r) = rec else {
        panic!("a report")
    };
    assert_eq!(r.status.as_str(), "returned");
    let c = r.comments.last().expect("the comment arrived");
    assert_eq!(c.text, "请补充现场照片");
    assert_eq!(worker.store.label(&c.by).unwrap(), "刘洋 (supervisor)");
    let h = worker.store.history(&id).unwrap();
    let last = h.last().unwrap();
    assert!(
        last.console,
        "the device sees the change came from the web console"
    );
    assert_eq!(last.user_id, c.by.to_string());
    assert!(!h[0].console, "the phone's own change is not the console's");
}

#[test]
fn a_console_change_merges_with_an_offline_phone_edit() {
    let server = Server::start(&[]);
    let worker = Device::sign_in(&server.url, "worker");
    worker.sync_ok();
    let id = worker.report("furong-01", "曲水亭街井盖松动");
    worker.sync_ok();
    // Offline on the phone: the description is rewritten.
    worker
        .store
        .update_report(
            &id,
            ReportPatch {
                description: Some("井盖松动，已设置临时警示".into()),
                ..ReportPatch::default()
            },
        )
        .unwrap();
    // Meanwhile in the console: a comment.
    let mut sv = Console::sign_in(&server.url, "supervisor");
    sv.get(&format!("/console/reports/{id}"));
    let p = sv.post(
        &format!("/console/reports/{id}/comment"),
        &[("text", "请尽快处理")],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    worker.sync_ok();
    let AnyRecord::Report(r) = worker.store.get(&id).unwrap().record else {
        panic!()
    };
    assert_eq!(
        r.description, "井盖松动，已设置临时警示",
        "the phone's edit is kept"
    );
    assert!(
        r.comments.iter().any(|c| c.text == "请尽快处理"),
        "the console's comment arrived"
    );
    let page = sv.get(&format!("/console/reports/{id}"));
    assert!(
        page.body.contains("井盖松动，已设置临时警示") && page.body.contains("请尽快处理"),
        "the server's copy holds both"
    );
}

/// The `<option>` value whose text starts with `name` in a page.
fn option_for(body: &str, name: &str) -> Option<String> {
    body.split("<option value=\"")
        .skip(1)
        .find(|o| {
            o.split_once('>')
                .is_some_and(|(_, text)| text.starts_with(name))
        })
        .and_then(|o| o.split('"').next().map(str::to_owned))
}

#[test]
fn a_leader_assigns_a_task_by_name_and_the_worker_sees_it() {
    let server = Server::start(&[]);
    let worker = Device::sign_in(&server.url, "worker");
    worker.sync_ok();
    let mut leader = Console::sign_in(&server.url, "leader");
    let form = leader.get("/console/tasks/new");
    assert_eq!(form.status, 200);
    let zhang = option_for(&form.body, "张伟").expect("张伟 is offered");
    assert_eq!(zhang, worker.user_id());
    assert!(
        option_for(&form.body, "李娜").is_none(),
        "another community's worker is not offered"
    );
    let created = leader.post(
        "/console/tasks",
        &[
            ("title", "检查芙蓉街12号消防通道"),
            ("description", "周五前完成"),
            ("grid", "furong-01"),
            ("assignee", &zhang),
            ("due", "2030-01-31"),
            ("priority", "high"),
        ],
    );
    assert_eq!(created.status, 303, "{}", created.body);
    let task_id = created
        .location
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let page = leader.get(&format!("/console/tasks/{task_id}"));
    assert!(page.body.contains("张伟") && page.body.contains(r#"data-status="assigned""#));
    assert!(leader
        .get("/console/tasks")
        .row_ids("tasks")
        .contains(&task_id));

    worker.sync_ok();
    let AnyRecord::Task(t) = worker.store.get(&task_id).unwrap().record else {
        panic!()
    };
    assert_eq!(
        t.assignees
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec![zhang.clone()]
    );
    assert_eq!(t.due.as_deref(), Some("2030-01-31"));
    assert_eq!(worker.store.label(&t.author).unwrap(), "王芳 (leader)");
    assert!(worker.store.history(&task_id).unwrap()[0].console);

    // Someone outside the grid, or a made-up person, is refused by name of the field.
    let li = {
        let mut admin = Console::sign_in(&server.url, "admin");
        option_for(&admin.get("/console/tasks/new").body, "李娜").expect("the admin sees 李娜")
    };
    for who in [li.as_str(), "no-such-user"] {
        let p = leader.post(
            "/console/tasks",
            &[
                ("title", "越权派发"),
                ("grid", "furong-01"),
                ("assignee", who),
            ],
        );
        assert_eq!(p.status, 400, "{who}: {}", p.body);
        assert!(p.body.contains("assignee"));
    }
    // A grid outside the leader's community.
    let p = leader.post(
        "/console/tasks",
        &[
            ("title", "越权派发"),
            ("grid", "baotu-01"),
            ("assignee", &zhang),
        ],
    );
    assert_eq!(p.status, 400, "{}", p.body);
}

#[test]
fn every_page_is_cut_to_the_users_scope() {
    let server = Server::start(&[]);
    let w2 = Device::sign_in(&server.url, "worker2");
    w2.sync_ok();
    let baotu = w2.report("baotu-01", "趵突泉东门护栏损坏");
    w2.sync_ok();

    let mut sv = Console::sign_in(&server.url, "supervisor");
    assert!(sv
        .get("/console/reports")
        .row_ids("reports")
        .contains(&baotu));
    let mut leader = Console::sign_in(&server.url, "leader");
    let list = leader.get("/console/reports");
    assert!(
        !list.row_ids("reports").contains(&baotu),
        "another community's report is not listed"
    );
    assert!(
        !list.row_ids("reports").is_empty(),
        "the leader's own reports are"
    );
    assert!(!leader
        .get("/console/dashboard")
        .body
        .contains("趵突泉社区第一网格"));
    assert_eq!(leader.get(&format!("/console/reports/{baotu}")).status, 404);
    assert_eq!(leader.get(&format!("/console/tasks/{baotu}")).status, 404);
    // Even a filter naming the other grid finds nothing.
    assert!(leader
        .get("/console/reports?grid=baotu-01")
        .row_ids("reports")
        .is_empty());
    let p = leader.post(
        &format!("/console/reports/{baotu}/comment"),
        &[("text", "越界评论")],
    );
    assert_eq!(p.status, 404);
    let p = leader.get(&format!("/console/tasks/new?report={baotu}"));
    assert_eq!(p.status, 404);
    let p = leader.get(&format!(
        "/console/photos/{}?record={baotu}",
        "a".repeat(64)
    ));
    assert_eq!(p.status, 404);
    // The record did not change.
    sv.get(&format!("/console/reports/{baotu}"));
    assert!(!sv
        .get(&format!("/console/reports/{baotu}"))
        .body
        .contains("越界评论"));
    // Leaders do not review: no approve form, and a forged approve is refused by the policy.
    let mine = leader
        .get("/console/reports?status=submitted")
        .row_ids("reports");
    let id = mine
        .first()
        .expect("the demo's submitted report in furong-01");
    let page = leader.get(&format!("/console/reports/{id}"));
    assert!(!page.body.contains(r#"id="step-approved""#));
    let p = leader.post(
        &format!("/console/reports/{id}/step"),
        &[("to", "approved")],
    );
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(leader
        .get(&format!("/console/reports/{id}"))
        .body
        .contains(r#"data-status="submitted""#));
    // Admin pages are for admins.
    assert_eq!(leader.get("/console/admin").status, 403);
    assert_eq!(leader.get("/console/admin/access-log").status, 403);
}

#[test]
fn sessions_end_on_sign_out_and_revocation_and_workers_are_refused() {
    let server = Server::start(&[]);
    let mut w = Console::new(&server.url);
    let p = w.try_sign_in("worker", "demo-worker");
    assert_eq!(p.status, 403);
    assert!(p.body.contains("role=\"alert\""));
    assert!(w.session().is_none(), "a worker gets no session");
    let p = Console::new(&server.url).try_sign_in("supervisor", "wrong-password-1");
    assert_eq!(p.status, 401);

    let mut sv = Console::new(&server.url);
    let p = sv.try_sign_in("supervisor", "demo-supervisor");
    let cookie = p.set_cookie_header("gw_session").expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    let token = sv.session().unwrap().to_owned();
    assert_eq!(sv.get("/console/dashboard").status, 200);
    let out = sv.post("/console/sign-out", &[]);
    assert_eq!(out.status, 303);
    assert_eq!(out.set_cookie("gw_session").as_deref(), Some(""));
    // The old cookie, replayed, no longer works.
    let mut replay = Console::new(&server.url);
    replay.cookies.push(("gw_session".into(), token));
    let p = replay.get("/console/dashboard");
    assert_eq!(p.status, 303);
    assert!(p.location.unwrap().starts_with("/console/sign-in"));

    // An admin revokes a console session from the devices page: it ends at once.
    let mut leader = Console::sign_in(&server.url, "leader");
    let mut admin = Console::sign_in(&server.url, "admin");
    let page = admin.get("/console/admin");
    let rows = page.row_ids("devices");
    let leader_dev = rows
        .iter()
        .find(|id| {
            let i = page.body.find(&format!("data-id=\"{id}\"")).unwrap();
            page.body[i..]
                .split("</tr>")
                .next()
                .unwrap()
                .contains("<td>leader</td>")
        })
        .expect("the leader's console session is listed");
    let p = admin.post(&format!("/console/admin/devices/{leader_dev}/revoke"), &[]);
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(leader.get("/console/dashboard").status, 303);

    // A phone's token is not a console cookie.
    let phone = gridwork_tests::attack::Attacker::sign_in(&server.url, "supervisor");
    let mut forged = Console::new(&server.url);
    forged
        .cookies
        .push(("gw_session".into(), phone.token.clone()));
    assert_eq!(forged.get("/console/dashboard").status, 303);
}

#[test]
fn forms_need_this_sessions_csrf_token_and_origin() {
    let server = Server::start(&[]);
    let worker = Device::sign_in(&server.url, "worker");
    worker.sync_ok();
    let id = worker.report("furong-01", "CSRF 测试");
    worker.sync_ok();
    let mut sv = Console::sign_in(&server.url, "supervisor");
    let other = Console::sign_in(&server.url, "admin");
    let path = format!("/console/reports/{id}/step");
    let foreign = other.csrf.clone().unwrap();
    let attempts: Vec<Vec<(&str, &str)>> = vec![
        vec![("to", "approved")],
        vec![("_csrf", "forged"), ("to", "approved")],
        vec![("_csrf", foreign.as_str()), ("to", "approved")],
    ];
    for fields in attempts {
        let p = sv.post_raw(&path, &fields, &[]);
        assert_eq!(p.status, 403, "{fields:?}");
    }
    // The right token from another site's page: refused by its origin.
    let token = sv.csrf.clone().unwrap();
    let p = sv.post_raw(
        &path,
        &[("_csrf", &token), ("to", "approved")],
        &[("origin", "https://evil.example")],
    );
    assert_eq!(p.status, 403);
    assert!(sv
        .get(&format!("/console/reports/{id}"))
        .body
        .contains(r#"data-status="submitted""#));
    // htmx sends the token as a header; that works.
    let p = sv.post_raw(&path, &[("to", "approved")], &[("x-csrf-token", &token)]);
    assert_eq!(p.status, 303, "{}", p.body);
    // The sign-in form has its own token.
    let mut fresh = Console::new(&server.url);
    let p = fresh.post_raw(
        "/console/sign-in",
        &[("username", "supervisor"), ("password", "demo-supervisor")],
        &[],
    );
    assert_eq!(p.status, 403);
    assert!(fresh.session().is_none());
}

#[test]
fn titles_render_as_text_and_pages_carry_a_strict_policy() {
    let server = Server::start(&[]);
    let worker = Device::sign_in(&server.url, "worker");
    worker.sync_ok();
    let title = "<script>alert(1)</script>";
    let id = worker.report("furong-01", title);
    worker.sync_ok();
    let mut sv = Console::sign_in(&server.url, "supervisor");
    for page in [
        sv.get("/console/reports"),
        sv.get(&format!("/console/reports/{id}")),
    ] {
        assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.body.contains(title), "the title is never markup");
        let csp = page
            .headers
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(page.headers.get("x-frame-options").unwrap(), "DENY");
    }
}

#[test]
fn lists_filter_sort_search_and_page_without_gaps() {
    let server = Server::start(&[]);
    let worker = Device::sign_in(&server.url, "worker");
    worker.sync_ok();
    let mut mine = Vec::new();
    for i in 0..120 {
        mine.push(worker.report("furong-01", &format!("巡查记录第{i:03}号 楼道")));
        if i % 60 == 59 {
            worker.sync_ok();
        }
    }
    let mut sv = Console::sign_in(&server.url, "supervisor");
    // Every page by keyset, newest first: each record exactly once.
    let mut seen: Vec<String> = Vec::new();
    let mut url = format!("/console/reports?q={}", enc("巡查记录"));
    loop {
        let p = sv.get(&url);
        assert_eq!(p.status, 200);
        let ids = p.row_ids("reports");
        assert!(ids.len() <= 50);
        seen.extend(ids);
        let marker = r#"rel="next" href=""#;
        let Some(i) = p.body.find(marker) else { break };
        url = p.body[i + marker.len()..]
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&");
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 120, "no duplicates");
    let mut expected = mine.clone();
    expected.sort();
    assert_eq!(sorted, expected, "no gaps");
    assert_eq!(seen.first(), mine.last(), "newest first");
    // Sorted by title ascending.
    let p = sv.get(&format!(
        "/console/reports?q={}&sort=title&dir=asc",
        enc("巡查记录")
    ));
    assert_eq!(p.row_ids("reports").first(), mine.first());
    assert!(p.body.contains(r#"aria-sort="ascending""#));
    // Filters combine: author, status, severity, date.
    let zhang = worker.user_id();
    let p = sv.get(&format!(
        "/console/reports?author={zhang}&status=submitted&severity=2&q={}",
        enc("第007号")
    ));
    assert_eq!(p.row_ids("reports"), vec![mine[7].clone()]);
    let p = sv.get("/console/reports?from=2000-01-01&to=2000-01-02");
    assert!(p.row_ids("reports").is_empty());
    // The dashboard counts them and links to the filtered list.
    let d = sv.get("/console/dashboard");
    assert!(d.body.contains("/console/reports?status=submitted"));
    assert!(
        d.body.contains("121") || d.body.contains("122"),
        "submitted reports are counted"
    );
    // htmx asks for the results alone.
    let frag = sv.get_with(
        "/console/reports?status=submitted",
        &[("hx-request", "true")],
    );
    assert!(
        frag.body.starts_with("<div id=\"results\">"),
        "{}",
        &frag.body[..80.min(frag.body.len())]
    );
    // A bad value is refused by name, never echoed.
    for (q, field) in [
        ("status=王秘密", "status"),
        ("severity=9", "severity"),
        ("sort=1;drop", "sort"),
        ("after=i1~a%20b", "after"),
        ("from=yesterday", "from"),
    ] {
        let p = sv.get(&format!("/console/reports?{q}"));
        assert_eq!(p.status, 400, "{q}");
        assert!(p.body.contains(field), "{q}");
        assert!(!p.body.contains("王秘密"));
    }
}

#[test]
fn households_are_masked_until_a_reason_is_logged() {
    let server = Server::start(&[]);
    let worker = Device::sign_in(&server.url, "worker");
    worker.sync_ok();
    let id = worker
        .store
        .create_household(NewHousehold {
            grid: "furong-01".into(),
            address: "芙蓉街20号1单元101".into(),
            members: vec![Member {
                name: "孙桂兰".into(),
                id_number: Some("370102194105060027".into()),
                phone: Some("13912345678".into()),
                birth_year: Some(1941),
                tags: vec![MemberTag::ElderlyLivingAlone],
            }],
            notes: String::new(),
        })
        .unwrap();
    worker.sync_ok();
    let mut leader = Console::sign_in(&server.url, "leader");
    assert!(leader
        .get("/console/households")
        .row_ids("households")
        .contains(&id));
    let p = leader.get(&format!("/console/households/{id}"));
    assert!(p.body.contains("370102********0027") && p.body.contains("139****5678"));
    assert!(!p.body.contains("370102194105060027") && !p.body.contains("13912345678"));
    let path = format!("/console/households/{id}/reveal");
    assert_eq!(leader.post(&path, &[("reason", "")]).status, 400);
    assert_eq!(leader.post(&path, &[("reason", "ab")]).status, 400);
    let full = leader.post(&path, &[("reason", "核实低保申请材料")]);
    assert_eq!(full.status, 200);
    assert!(full.body.contains("370102194105060027") && full.body.contains("13912345678"));
    assert_eq!(full.headers.get("cache-control").unwrap(), "no-store");
    // Admins read who looked, and why.
    let mut admin = Console::sign_in(&server.url, "admin");
    let log = admin.get("/console/admin/access-log");
    assert!(
        log.body.contains("核实低保申请材料")
            && log.body.contains("王芳")
            && log.body.contains(&id)
    );
}

#[test]
fn the_console_speaks_chinese_first_and_english_on_request() {
    let server = Server::start(&[]);
    let mut c = Console::new(&server.url);
    let p = c.get("/console/sign-in");
    assert!(p.body.contains(r#"<html lang="zh-CN">"#) && p.body.contains("登录"));
    let p = c.get_with("/console/sign-in", &[("accept-language", "en-US,en;q=0.9")]);
    assert!(p.body.contains(r#"<html lang="en">"#) && p.body.contains("Sign in"));
    let mut sv = Console::sign_in(&server.url, "supervisor");
    let p = sv.get("/console/lang/en?back=/console/reports");
    assert_eq!(p.status, 303);
    assert_eq!(p.location.as_deref(), Some("/console/reports"));
    let p = sv.get("/console/reports");
    assert!(p.body.contains(r#"<html lang="en">"#) && p.body.contains("Reports"));
    // The switch never sends anyone off the console.
    let p = sv.get("/console/lang/en?back=https://evil.example/");
    assert_eq!(p.location.as_deref(), Some("/console/dashboard"));
}
