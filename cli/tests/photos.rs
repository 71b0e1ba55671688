//! `gridwork report photo add/list/get/remove` with the real binary: the worker attaches a photo
//! offline, syncs; the supervisor lists it and fetches the full image.

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

fn ok(db: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = gw(db, &all);
    assert!(
        out.status.success(),
        "gridwork {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn login(db: &Path, url: &str, user: &str) {
    let out = Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(["login", "--server", url, "--user", user])
        .env("GRIDWORK_PASSWORD", format!("demo-{user}"))
        .output()
        .expect("login");
    assert!(
        out.status.success(),
        "login {user}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn attach_list_fetch_and_refuse_bad_photos() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().expect("tmp");
    let (wdb, sdb) = (dir.path().join("w.db"), dir.path().join("s.db"));
    login(&wdb, &server.url, "worker");
    login(&sdb, &server.url, "supervisor");
    let id = ok(&wdb, &["report", "new", "--title", "路灯倒伏", "--submit"])["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let img = image::RgbImage::from_fn(1200, 900, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let src = dir.path().join("photo.jpg");
    img.save(&src).expect("save jpeg");
    let added = ok(
        &wdb,
        &[
            "report",
            "photo",
            "add",
            &id,
            src.to_str().expect("path"),
            "--caption",
            "路口东侧",
        ],
    );
    let hash = added["hash"].as_str().expect("hash").to_owned();
    assert_eq!(
        (added["width"].as_u64(), added["height"].as_u64()),
        (Some(1200), Some(900))
    );

    // junk is refused with a clear error and a non-zero exit
    let junk = dir.path().join("junk.jpg");
    std::fs::write(&junk, b"\xff\xd8\xff\xe0 not really a jpeg").expect("write");
    let out = gw(
        &wdb,
        &["report", "photo", "add", &id, junk.to_str().expect("path")],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .to_lowercase()
            .contains("image"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let synced = ok(&wdb, &["sync"]);
    assert_eq!(synced["photos_uploaded"], 2, "{synced}");

    ok(&sdb, &["sync"]);
    let list = ok(&sdb, &["report", "photo", "list", &id]);
    assert_eq!(list[0]["hash"], hash.as_str());
    assert_eq!(
        list[0]["on_device"], false,
        "only the thumbnail came with the record"
    );
    let out_file = dir.path().join("full.jpg");
    ok(
        &sdb,
        &[
            "report",
            "photo",
            "get",
            &id,
            &hash,
            "--out",
            out_file.to_str().expect("path"),
        ],
    );
    let got = std::fs::read(&out_file).expect("read");
    assert_eq!(gridwork_photo::content_hash(&got), hash);

    ok(&wdb, &["report", "photo", "remove", &id, &hash]);
    assert_eq!(
        ok(&wdb, &["report", "photo", "list", &id])
            .as_array()
            .map(Vec::len),
        Some(0)
    );
}
