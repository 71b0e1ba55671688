//! Encryption at rest (issue 12): a device store under a key holds no personal value in the
//! clear in any file, refuses a wrong key without changing anything, is encrypted in place from
//! a plain store crash-safely (a child killed with SIGKILL mid-migration leaves a store that
//! opens whole), and can be rekeyed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use gridwork_model::*;
use gridwork_store::*;
use rand::Rng;

const ID_NUMBER: &str = "370102194105060027";
const PHONE: &str = "13912345678";
const NAME: &str = "孙桂兰";
const CHILD_ENV: &str = "GRIDWORK_ENCRYPT_CHILD_DB";
const CHILD_KEY_ENV: &str = "GRIDWORK_ENCRYPT_CHILD_KEY";

fn worker() -> Identity {
    Identity::new("w1", Role::Worker)
}

fn keyed(key: &DbKey) -> StoreOptions {
    StoreOptions {
        key: Some(key.clone()),
        ..StoreOptions::default()
    }
}

fn household(store: &Store) -> String {
    store
        .create_household(NewHousehold {
            grid: "G1".into(),
            address: "芙蓉街20号1单元101".into(),
            members: vec![Member {
                name: NAME.into(),
                id_number: Some(ID_NUMBER.into()),
                phone: Some(PHONE.into()),
                birth_year: Some(1941),
                tags: vec![MemberTag::ElderlyLivingAlone],
            }],
            notes: "独居老人，患有高血压".into(),
        })
        .expect("household")
}

/// Every file in `dir` (the database, its WAL and shared memory, anything temporary) that holds
/// one of `needles`, by name.
fn files_holding(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        for n in needles {
            if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                hits.push(format!("{} holds {n}", entry.file_name().to_string_lossy()));
            }
        }
    }
    hits
}

fn digest(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[test]
fn no_personal_value_reaches_any_file_in_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let key = DbKey::random();
    let store = Store::open_with(&path, worker(), keyed(&key)).unwrap();
    let hid = household(&store);
    // Edits, an index rebuild and a compaction: every write path, with the store still open
    // (WAL not checkpointed).
    for i in 0..30 {
        store
            .update_household(
                &hid,
                HouseholdPatch {
                    notes: Some(format!("第{i}次走访：{NAME} 身体状况良好")),
                    ..HouseholdPatch::default()
                },
            )
            .unwrap();
    }
    store.search("身体", None, 10).unwrap();
    store.compact().unwrap();
    let hits = files_holding(dir.path(), &[ID_NUMBER, PHONE, NAME, "高血压"]);
    assert!(hits.is_empty(), "open store: {hits:?}");
    drop(store);
    let hits = files_holding(dir.path(), &[ID_NUMBER, PHONE, NAME, "高血压"]);
    assert!(hits.is_empty(), "closed store: {hits:?}");
    // The same writes without a key do reach the file: the check above can see them.
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = Store::open(plain_dir.path().join("device.db"), worker()).unwrap();
    household(&plain);
    drop(plain);
    assert!(!files_holding(plain_dir.path(), &[ID_NUMBER]).is_empty());
}

#[test]
fn a_wrong_key_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let key = DbKey::random();
    let hid = {
        let store = Store::open_with(&path, worker(), keyed(&key)).unwrap();
        household(&store)
    };
    let before = (digest(&path), digest(&dir.path().join("device.db-wal")));
    for opts in [keyed(&DbKey::random()), StoreOptions::default()] {
        match Store::open_with(&path, worker(), opts) {
            Err(Error::WrongKey) => {}
            Err(other) => panic!("expected WrongKey, got {other:?}"),
            Ok(_) => panic!("a wrong key opened the store"),
        }
    }
    let after = (digest(&path), digest(&dir.path().join("device.db-wal")));
    assert!(before == after, "the files are unchanged");
    let store = Store::open_with(&path, worker(), keyed(&key)).unwrap();
    assert_eq!(store.get(&hid).unwrap().id, hid);
}

#[test]
fn a_plain_store_is_encrypted_in_place_with_everything_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let (hid, pending, history) = {
        let store = Store::open(&path, worker()).unwrap();
        let hid = household(&store);
        store
            .update_household(
                &hid,
                HouseholdPatch {
                    address: Some("芙蓉街22号".into()),
                    ..HouseholdPatch::default()
                },
            )
            .unwrap();
        (
            hid.clone(),
            store.pending_count().unwrap(),
            store.history(&hid).unwrap(),
        )
    };
    assert!(!files_holding(dir.path(), &[ID_NUMBER]).is_empty());
    let key = DbKey::random();
    let store = Store::open_with(&path, worker(), keyed(&key)).unwrap();
    assert_eq!(
        store.pending_count().unwrap(),
        pending,
        "the outbox is whole"
    );
    assert_eq!(
        store.history(&hid).unwrap(),
        history,
        "the history is whole"
    );
    let AnyRecord::Household(h) = store.get(&hid).unwrap().record else {
        panic!("a household")
    };
    assert_eq!(h.members[0].id_number.as_deref(), Some(ID_NUMBER));
    assert!(store.integrity_check().unwrap());
    drop(store);
    let hits = files_holding(dir.path(), &[ID_NUMBER, NAME]);
    assert!(hits.is_empty(), "{hits:?}");
    assert!(!crypt_is_plain(&path));
}

fn crypt_is_plain(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.starts_with(b"SQLite format 3\0"))
}

#[test]
fn rekey_moves_the_store_to_a_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let (old, new) = (DbKey::random(), DbKey::random());
    let hid = {
        let store = Store::open_with(&path, worker(), keyed(&old)).unwrap();
        household(&store)
    };
    assert!(matches!(
        crypt::rekey(&path, &DbKey::random(), &new),
        Err(Error::WrongKey)
    ));
    crypt::rekey(&path, &old, &new).unwrap();
    assert!(matches!(
        Store::open_with(&path, worker(), keyed(&old)),
        Err(Error::WrongKey)
    ));
    let store = Store::open_with(&path, worker(), keyed(&new)).unwrap();
    assert_eq!(store.get(&hid).unwrap().id, hid);
    assert!(files_holding(dir.path(), &[ID_NUMBER]).is_empty());
}

/// In the child: open the plain store with the key (the migration), then say so.
fn child_migrate(path: &str, key_hex: &str) {
    let key = DbKey::from_hex(key_hex).expect("key");
    let store = Store::open_with(path, worker(), keyed(&key)).expect("child open");
    println!("migrated {}", store.pending_count().expect("count"));
}

#[test]
fn a_migration_killed_at_any_moment_leaves_a_whole_store() {
    if let (Ok(path), Ok(key)) = (std::env::var(CHILD_ENV), std::env::var(CHILD_KEY_ENV)) {
        child_migrate(&path, &key);
        return;
    }
    let exe = std::env::current_exe().expect("exe");
    let mut rng = rand::rng();
    let key = DbKey::random();
    let mut outcomes = (0, 0);
    for round in 0..8 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let ids: Vec<String> = {
            let store = Store::open(&path, worker()).unwrap();
            (0..300)
                .map(|i| {
                    store
                        .create_report(NewReport {
                            grid: "G1".into(),
                            category: ReportCategory::Other,
                            severity: 1,
                            title: format!("迁移测试 {i}"),
                            description: "楼道堆放杂物，".repeat(40),
                            location: None,
                            submit: false,
                        })
                        .unwrap()
                })
                .collect()
        };
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "a_migration_killed_at_any_moment_leaves_a_whole_store",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .env(CHILD_KEY_ENV, key.to_hex())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        // Kill at a random moment of the migration (the first rounds early, the last late).
        let wait_us = rng.random_range(0..2_000) + round * 15_000;
        std::thread::sleep(std::time::Duration::from_micros(wait_us));
        let _ = child.kill();
        let _ = child.wait();
        let finished = child.stdout.take().is_some_and(|o| {
            BufReader::new(o)
                .lines()
                .map_while(Result::ok)
                .any(|l| l.starts_with("migrated"))
        });
        if crypt_is_plain(&path) {
            outcomes.0 += 1;
            assert!(!finished, "a finished migration left a plain store");
        } else {
            outcomes.1 += 1;
        }
        // Whatever the moment: the store opens with the key, whole.
        let store = Store::open_with(&path, worker(), keyed(&key)).expect("reopen after kill");
        assert!(store.integrity_check().unwrap(), "integrity after a kill");
        for id in &ids {
            store.get(id).expect("every report survived");
        }
        assert!(!crypt_is_plain(&path));
        let leftovers: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("gw-rewrite"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    eprintln!(
        "killed before the swap: {}, after: {}",
        outcomes.0, outcomes.1
    );
}
