//! The README walk-through, run with the real `gridwork` binary against a real server process:
//! the worker files a report offline and syncs; the supervisor returns it; the worker fixes and
//! resubmits it; the supervisor approves; the worker sees it. `--json` output is parsed.

use std::path::Path;
use std::process::{Command, Output};

use gridwork_tests::Server;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gridwork");

fn gw(db: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("GRIDWORK_PASSWORD")
        .env_remove("GRIDWORK_DB")
        .output()
        .expect("run gridwork")
}

/// Runs with `--json`, expects success, parses stdout.
fn ok(db: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = gw(db, &all);
    assert!(
        out.status.success(),
        "gridwork {args:?} failed ({:?}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "gridwork {args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn login(db: &Path, url: &str, user: &str) -> Value {
    let out = Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(["--json", "login", "--server", url, "--user", user])
        .env("GRIDWORK_PASSWORD", format!("demo-{user}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "login {user}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn status_of(db: &Path, id: &str) -> String {
    ok(db, &["report", "show", id])["record"]["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn readme_walkthrough() {
    let mut server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let wdb = dir.path().join("worker.db");
    let sdb = dir.path().join("supervisor.db");

    // Not signed in yet: a clear error, exit code 3.
    let out = gw(&wdb, &["sync"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("gridwork login"));

    // A wrong password: exit 3, no panic.
    let out = gw(
        &wdb,
        &[
            "login",
            "--server",
            &server.url,
            "--user",
            "worker",
            "--password",
            "nope",
        ],
    );
    assert_eq!(out.status.code(), Some(3));

    let me = login(&wdb, &server.url, "worker");
    assert_eq!(me["role"], "worker");
    assert_eq!(me["grids"], serde_json::json!(["furong-01"]));
    let first = ok(&wdb, &["sync"]);
    assert!(
        first["pulled"].as_u64().unwrap() > 0,
        "the demo records of furong-01 arrive"
    );

    // Offline: the server is down while the worker files the report.
    server.kill();
    let id = ok(
        &wdb,
        &[
            "report",
            "new",
            "--category",
            "blocked_fire_lane",
            "--severity",
            "3",
            "--title",
            "芙蓉街8号楼道堆放杂物",
            "--description",
            "二楼楼道纸箱堆积",
            "--lat",
            "36.6653",
            "--lon",
            "117.0205",
            "--submit",
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let st = ok(&wdb, &["status"]);
    assert_eq!(st["pending"], 2, "create + submit pending");
    let out = gw(&wdb, &["sync"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "offline: retryable network error: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ok(&wdb, &["status"])["pending"], 2, "nothing lost");

    // Back online.
    server.restart();
    let r = ok(&wdb, &["sync"]);
    assert_eq!(r["accepted"], 2);
    assert_eq!(
        (&r["held_by_quota"], &r["set_aside"]),
        (&0.into(), &0.into())
    );
    let st = ok(&wdb, &["status"]);
    assert_eq!(st["pending"], 0);
    assert_eq!(
        (&st["held_by_quota"], &st["set_aside"]),
        (&0.into(), &0.into())
    );

    // The supervisor on another device.
    login(&sdb, &server.url, "supervisor");
    ok(&sdb, &["sync"]);
    let listed = ok(&sdb, &["report", "list", "--status", "submitted"]);
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&id.as_str()), "{ids:?}");
    // Returning needs a comment.
    let out = gw(&sdb, &["review", "return", &id]);
    assert_eq!(out.status.code(), Some(2));
    ok(
        &sdb,
        &["review", "return", &id, "--comment", "请补充现场照片"],
    );
    ok(&sdb, &["sync"]);

    // The worker sees it returned, fixes it and resubmits.
    let r = ok(&wdb, &["sync"]);
    assert!(r["changed_ids"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v == &Value::String(id.clone())));
    assert_eq!(status_of(&wdb, &id), "returned");
    let shown = ok(&wdb, &["report", "show", &id]);
    assert!(shown["record"]["comments"]
        .to_string()
        .contains("请补充现场照片"));
    // A worker cannot approve: refused on the device at once.
    let out = gw(&wdb, &["review", "approve", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    ok(
        &wdb,
        &[
            "report",
            "edit",
            &id,
            "--description",
            "二楼楼道纸箱堆积，已拍照",
        ],
    );
    ok(&wdb, &["report", "submit", &id]);
    ok(&wdb, &["sync"]);

    ok(&sdb, &["sync"]);
    ok(&sdb, &["review", "approve", &id]);
    ok(&sdb, &["sync"]);
    ok(&wdb, &["sync"]);
    assert_eq!(status_of(&wdb, &id), "approved");

    // History, conflicts, quarantine.
    let h = ok(&wdb, &["history", &id]);
    let users: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["user_id"].as_str().unwrap())
        .collect();
    assert!(users.len() >= 5 && users.contains(&me["user_id"].as_str().unwrap()));
    assert!(ok(&wdb, &["conflicts", &id]).as_array().unwrap().is_empty());
    assert!(ok(&wdb, &["quarantine"]).as_array().unwrap().is_empty());

    // Households: ID numbers are masked in every output.
    let hh = ok(
        &wdb,
        &[
            "household",
            "add",
            "--address",
            "芙蓉街8号2单元101",
            "--member",
            "王秀兰,id=11010519491231002X,phone=13812345678,born=1949,tags=elderly_living_alone",
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = gw(&wdb, &["household", "show", &hh]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("110105********002X") && !text.contains("11010519491231002X"),
        "{text}"
    );
    assert!(!ok(&wdb, &["household", "show", &hh])
        .to_string()
        .contains("11010519491231002X"));
    let v = ok(
        &wdb,
        &[
            "visit",
            "new",
            "--household",
            &hh,
            "--type",
            "elderly_care",
            "--notes",
            "身体良好",
            "--need",
            "repair:燃气软管老化",
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        ok(&wdb, &["visit", "list", "--household", &hh])["items"][0]["id"],
        Value::String(v)
    );

    // Tasks: the leader assigns, the worker accepts and finishes.
    let ldb = dir.path().join("leader.db");
    login(&ldb, &server.url, "leader");
    let t = ok(
        &ldb,
        &[
            "task",
            "assign",
            "--grid",
            "furong-01",
            "--title",
            "清理楼道",
            "--to",
            me["user_id"].as_str().unwrap(),
            "--priority",
            "high",
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&ldb, &["sync"]);
    ok(&wdb, &["sync"]);

    // After a sync the leader's device knows the team by name: `team` lists it, a task goes to
    // 张伟 by name, and the record shows names instead of ids.
    let team = gw(&ldb, &["team"]);
    let team = String::from_utf8_lossy(&team.stdout);
    assert!(
        team.contains("张伟") && team.contains("刘洋") && !team.contains("李娜"),
        "{team}"
    );
    let by_name = ok(
        &ldb,
        &[
            "task",
            "assign",
            "--grid",
            "furong-01",
            "--title",
            "检查消防通道",
            "--to",
            "张伟",
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = gw(&ldb, &["task", "show", &by_name]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("assignees:    张伟 (worker)")
            && shown.contains("author:       王芳 (leader)"),
        "{shown}"
    );
    let hist = gw(&ldb, &["history", &by_name]);
    assert!(String::from_utf8_lossy(&hist.stdout).contains("王芳 (leader)"));
    assert_eq!(
        ok(&ldb, &["history", &by_name])[0]["user_label"],
        "王芳 (leader)"
    );
    assert!(ok(&ldb, &["status"])["directory_people"].as_u64().unwrap() >= 3);
    // Someone outside the leader's community, or nobody: a clear refusal naming --to.
    for who in ["李娜", "nobody-here"] {
        let out = gw(
            &ldb,
            &[
                "task",
                "assign",
                "--grid",
                "furong-01",
                "--title",
                "x",
                "--to",
                who,
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{who}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("to"), "{err}");
    }
    // Which grid: a point in furong-02 is outside the worker's grids.
    let out = gw(
        &wdb,
        &[
            "report",
            "new",
            "--title",
            "井盖缺失",
            "--lat",
            "36.665",
            "--lon",
            "117.028",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside every grid"));
    let here = ok(
        &wdb,
        &[
            "report",
            "new",
            "--title",
            "井盖缺失",
            "--lat",
            "36.665",
            "--lon",
            "117.020",
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        ok(&wdb, &["report", "show", &here])["record"]["grid"],
        "furong-01"
    );

    let mine = ok(&wdb, &["task", "list", "--mine", "--open"]);
    assert!(mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["id"] == Value::String(t.clone())));
    ok(&wdb, &["task", "accept", &t]);
    ok(&wdb, &["task", "done", &t, "--comment", "已清理"]);
    ok(&wdb, &["sync"]);
    ok(&ldb, &["sync"]);
    assert_eq!(ok(&ldb, &["task", "show", &t])["record"]["status"], "done");

    // Human output: a table with the title; status lines.
    let out = gw(&wdb, &["report", "list"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("芙蓉街8号楼道堆放杂物") && text.contains("TITLE"),
        "{text}"
    );
    let out = gw(&wdb, &["status"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("pending:       0"));

    // Logout with a pending change is refused, then forced; sync then needs a login.
    ok(
        &wdb,
        &["report", "new", "--title", "未同步", "--category", "other"],
    );
    let out = gw(&wdb, &["logout"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 unsynced change"));
    ok(&wdb, &["logout", "--force"]);
    assert_eq!(gw(&wdb, &["sync"]).status.code(), Some(3));
    assert_eq!(
        ok(&wdb, &["status"])["pending"],
        1,
        "kept for the next login"
    );
}
