//! A child process writes in a loop and is killed with SIGKILL at random moments; after each kill
//! the store must reopen, pass `PRAGMA integrity_check`, and hold every write the child reported.
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use gridwork_model::*;
use gridwork_store::*;
use rand::Rng;

const CHILD_ENV: &str = "GRIDWORK_CRASH_CHILD_DB";

fn identity() -> Identity {
    Identity::new("w1", Role::Worker)
}

/// In the child: create reports and comment on them forever, reporting each finished write.
fn child_loop(path: &str) {
    let store = Store::open(path, identity()).expect("child open");
    let out = std::io::stdout();
    let mut out = out.lock();
    let mut ids: Vec<String> = Vec::new();
    let mut n: u64 = u64::from(std::process::id()) * 1_000_000;
    loop {
        n += 1;
        if ids.is_empty() || n.is_multiple_of(3) {
            let id = store
                .create_report(NewReport {
                    grid: "G1".into(),
                    category: ReportCategory::Other,
                    severity: 1,
                    title: format!("c{n}"),
                    description: "崩溃测试".into(),
                    location: None,
                    submit: false,
                })
                .expect("create");
            writeln!(out, "create {id} c{n}").expect("stdout");
            ids.push(id);
        } else {
            let id = &ids[(n as usize) % ids.len()];
            store.add_comment(id, &format!("m{n}")).expect("comment");
            writeln!(out, "comment {id} m{n}").expect("stdout");
        }
        out.flush().expect("flush");
    }
}

#[test]
fn killed_writer_loses_nothing_it_reported() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child_loop(&path);
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("crash.db");
    let exe = std::env::current_exe().expect("exe");
    let mut rng = rand::rng();
    let mut reported: Vec<(String, String, String)> = Vec::new();
    for _round in 0..6 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "killed_writer_loses_nothing_it_reported",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let kill_after = rng.random_range(5..120);
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = 0;
        while seen < kill_after {
            match lines.next() {
                Some(Ok(line)) => {
                    let parts: Vec<&str> = line.split_whitespace().collect();
                    if parts.len() == 3 && (parts[0] == "create" || parts[0] == "comment") {
                        reported.push((
                            parts[0].to_owned(),
                            parts[1].to_owned(),
                            parts[2].to_owned(),
                        ));
                        seen += 1;
                    }
                }
                _ => break,
            }
        }
        // Kill mid-write: a random extra moment after the last reported write.
        std::thread::sleep(std::time::Duration::from_micros(rng.random_range(0..3000)));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        // Lines written before the kill but not yet read are also promises: read the rest.
        for line in lines.map_while(Result::ok) {
            let parts: Vec<&str> = line.split_whitespace().collect();
            if parts.len() == 3 {
                reported.push((
                    parts[0].to_owned(),
                    parts[1].to_owned(),
                    parts[2].to_owned(),
                ));
            }
        }
    }
    assert!(
        reported.len() >= 30,
        "the child made progress: {}",
        reported.len()
    );
    let store = Store::open(&db, identity()).expect("reopen after kill");
    assert!(
        store.integrity_check().expect("integrity"),
        "PRAGMA integrity_check is ok"
    );
    for (op, id, marker) in &reported {
        let rec = store
            .get(id)
            .unwrap_or_else(|e| panic!("record {id} reported as created is missing: {e}"));
        let AnyRecord::Report(r) = rec.record else {
            panic!("kind")
        };
        match op.as_str() {
            "create" => assert_eq!(&r.title, marker),
            _ => assert!(
                r.comments.iter().any(|c| &c.text == marker),
                "comment {marker} on {id} lost"
            ),
        }
    }
    // and the outbox still holds every change for the server
    let pending = store.pending_count().expect("pending");
    assert!(
        pending >= reported.len() as u64,
        "pending {pending} < reported {}",
        reported.len()
    );
}
