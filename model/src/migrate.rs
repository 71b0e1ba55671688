//! Numbered SQL migrations, shared by the device store (`gridwork-store`) and the sync server:
//! the schema version lives in SQLite's `PRAGMA user_version`, migration `i` (0-based) brings a
//! database from version `i` to `i + 1`, and a shipped migration is never edited (add one).
//!
//! Every pending step runs in one `BEGIN IMMEDIATE` transaction that also sets the new version:
//! an upgrade that fails (or a process that dies mid-way) leaves the database as it was. A
//! database newer than the program is refused, never touched.

use rusqlite::{Connection, TransactionBehavior};

/// Why a database could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database was written by a newer program: its version is beyond our last migration.
    #[error("database schema version {found} is newer than this program supports ({supported})")]
    TooNew { found: i64, supported: i64 },
    /// SQLite refused a step (or the version could not be read).
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// The schema version of `conn` (0 for a new database).
pub fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// The version a database has after every migration of `migrations`.
pub fn latest(migrations: &[&str]) -> i64 {
    i64::try_from(migrations.len()).unwrap_or(i64::MAX)
}

/// Applies the migrations `conn` lacks among the first `upto` of `migrations` (all of them with
/// `None`; fewer only for tests that build an old database). Returns the version reached.
pub fn migrate(
    conn: &mut Connection,
    migrations: &[&str],
    upto: Option<usize>,
) -> Result<i64, MigrateError> {
    let found = version(conn)?;
    let supported = latest(migrations);
    if found > supported || found < 0 {
        return Err(MigrateError::TooNew { found, supported });
    }
    let target = upto.map_or(migrations.len(), |n| n.min(migrations.len()));
    let start = usize::try_from(found).unwrap_or(usize::MAX);
    if start >= target {
        return Ok(found);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for sql in &migrations[start..target] {
        tx.execute_batch(sql)?;
    }
    let reached = latest(&migrations[..target]);
    tx.pragma_update(None, "user_version", reached)?;
    tx.commit()?;
    Ok(reached)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: &[&str] = &[
        "CREATE TABLE a(x INTEGER);",
        "ALTER TABLE a ADD COLUMN y INTEGER;",
        "CREATE TABLE b(z INTEGER);",
    ];

    fn tables(c: &Connection) -> Vec<String> {
        let mut st = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn applies_pending_steps_in_order_and_only_once() {
        let mut c = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut c, STEPS, Some(1)).unwrap(), 1);
        assert_eq!(tables(&c), ["a"]);
        assert_eq!(migrate(&mut c, STEPS, None).unwrap(), 3);
        assert_eq!(tables(&c), ["a", "b"]);
        c.execute("INSERT INTO a(x, y) VALUES (1, 2)", []).unwrap();
        // Up to date: nothing runs again (a second CREATE TABLE would fail).
        assert_eq!(migrate(&mut c, STEPS, None).unwrap(), 3);
        assert_eq!(version(&c).unwrap(), 3);
    }

    #[test]
    fn a_failing_step_leaves_the_database_as_it_was() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c, STEPS, Some(1)).unwrap();
        let broken = [STEPS[0], STEPS[1], "CREATE TABLE a(x INTEGER);"];
        assert!(matches!(
            migrate(&mut c, &broken, None),
            Err(MigrateError::Sqlite(_))
        ));
        assert_eq!(version(&c).unwrap(), 1);
        // Step 2 was rolled back with step 3: column y is not there.
        assert!(c.execute("INSERT INTO a(x, y) VALUES (1, 2)", []).is_err());
    }

    #[test]
    fn a_newer_database_is_refused_untouched() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "user_version", 7).unwrap();
        let err = migrate(&mut c, STEPS, None).unwrap_err();
        assert!(matches!(
            err,
            MigrateError::TooNew {
                found: 7,
                supported: 3
            }
        ));
        assert!(tables(&c).is_empty());
        assert_eq!(version(&c).unwrap(), 7);
    }
}
