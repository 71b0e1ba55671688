//! Encryption at rest: a device store is a SQLCipher database under a 256-bit key the app
//! supplies (Android wraps it with the Keystore, iOS keeps it in the Keychain, the CLI in a
//! 0600 key file). Every page of the database and of its WAL is encrypted; temporary tables and
//! indexes stay in memory (`temp_store = MEMORY`), so nothing the store holds reaches the disk in
//! the clear.
//!
//! - A raw key (`PRAGMA key = "x'…'"`): the app's key is random, so no passphrase derivation is
//!   spent on every open.
//! - A wrong key (or none, for an encrypted file) is [`Error::WrongKey`] before anything is read
//!   or written.
//! - A plain store met with a key is encrypted in place ([`encrypt_in_place`]), crash-safely: the
//!   encrypted copy is written beside it, made durable, and renamed over it; a kill at any moment
//!   leaves either the whole plain store or the whole encrypted one (a half-written copy is
//!   removed at the next open).
//! - [`rekey`] writes the same way under a new key.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use gridwork_model::error::{Error, Result};

/// A store's 256-bit key. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct DbKey([u8; 32]);

impl std::fmt::Debug for DbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbKey(…)")
    }
}

impl DbKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<DbKey> {
        let k: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::invalid("key", "must be 32 bytes"))?;
        Ok(DbKey(k))
    }

    /// 64 hex digits.
    pub fn from_hex(hex_key: &str) -> Result<DbKey> {
        let bytes = hex::decode(hex_key.trim())
            .map_err(|_| Error::invalid("key", "must be 64 hex digits"))?;
        DbKey::from_bytes(&bytes)
    }

    /// A new random key (the operating system's generator).
    pub fn random() -> DbKey {
        use rand::RngCore as _;
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        DbKey(k)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The SQL literal SQLCipher reads as a raw key.
    fn literal(&self) -> String {
        format!("\"x'{}'\"", self.to_hex())
    }
}

/// Whether the file at `path` is a plain (unencrypted) SQLite database.
pub(crate) fn is_plain(path: &Path) -> bool {
    let mut head = [0u8; 16];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == b"SQLite format 3\0")
}

/// Whether a file exists and holds anything.
fn has_content(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The copy being written by [`encrypt_in_place`] or [`rekey`].
fn work_file(path: &Path) -> PathBuf {
    side_file(path, ".gw-rewrite")
}

fn io(e: std::io::Error) -> Error {
    match e.raw_os_error() {
        Some(28) => Error::StorageFull,
        _ => Error::Storage(format!("file operation failed: {}", e.kind())),
    }
}

/// Applies `key` to a fresh connection and proves it opens the file: SQLCipher only finds out
/// on the first read, which fails with "not a database" under a wrong key.
pub(crate) fn apply_key(conn: &Connection, key: Option<&DbKey>) -> Result<()> {
    // SQLCipher's own diagnostics go to stderr (logcat, the Apple console) from its first use;
    // errors are ours to report, typed (a wrong key is `WrongKey`, not a log line).
    conn.prepare("PRAGMA cipher_log_level = NONE")?
        .query([])?
        .next()?;
    if let Some(k) = key {
        conn.execute_batch(&format!("PRAGMA key = {};", k.literal()))?;
    }
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => Ok(()),
        // With a key, "not a database" means the key does not decrypt it; without one, the
        // file is a damaged plain database (`prepare` answered WrongKey for anything else).
        Err(rusqlite::Error::SqliteFailure(f, _))
            if key.is_some() && f.code == rusqlite::ffi::ErrorCode::NotADatabase =>
        {
            Err(Error::WrongKey)
        }
        Err(e) => Err(e.into()),
    }
}

/// Makes a finished rewrite durable and puts it in place of `path`: the copy is synced, the old
/// WAL and shared-memory files (empty after the checkpoint) are removed, the copy is renamed over
/// the store, and the directory is synced. Until the rename the old store is whole; after it the
/// new one is.
fn replace(path: &Path, copy: &Path) -> Result<()> {
    fs::File::open(copy)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    for suffix in ["-wal", "-shm"] {
        match fs::remove_file(side_file(path, suffix)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
    }
    fs::rename(copy, path).map_err(io)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

/// Writes the database open on `conn` (WAL checkpointed) into `copy` under `key`, with the same
/// schema version and application id (`sqlcipher_export` copies neither).
fn export(conn: &Connection, copy: &Path, key: &DbKey) -> Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let app_id: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let copy_str = copy
        .to_str()
        .ok_or_else(|| Error::Storage("the store's path is not UTF-8".into()))?
        .replace('\'', "''");
    conn.execute_batch(&format!(
        "ATTACH DATABASE '{copy_str}' AS gw_new KEY {};",
        key.literal()
    ))?;
    let exported = conn
        .query_row("SELECT sqlcipher_export('gw_new')", [], |_| Ok(()))
        .and_then(|()| {
            conn.execute_batch(&format!(
                "PRAGMA gw_new.user_version = {version}; PRAGMA gw_new.application_id = {app_id};"
            ))
        });
    let detached = conn.execute_batch("DETACH DATABASE gw_new");
    exported?;
    detached?;
    Ok(())
}

/// Removes what an interrupted rewrite left beside the store (the store itself is whole).
pub(crate) fn clean_up(path: &Path) -> Result<()> {
    match fs::remove_file(work_file(path)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(e)),
    }
}

/// Encrypts the plain store at `path` under `key`, in place and crash-safely (the connection may
/// create: `ATTACH` makes the copy). Nothing else may
/// have the file open.
pub fn encrypt_in_place(path: &Path, key: &DbKey) -> Result<()> {
    clean_up(path)?;
    let copy = work_file(path);
    {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?;
        apply_key(&conn, None)?;
        export(&conn, &copy, key)?;
    }
    replace(path, &copy)
}

/// Re-encrypts the store at `path` from `old` to `new` (the same way as [`encrypt_in_place`]).
/// Nothing else may have the file open. A wrong `old` key is [`Error::WrongKey`] and changes
/// nothing.
pub fn rekey(path: &Path, old: &DbKey, new: &DbKey) -> Result<()> {
    clean_up(path)?;
    if !has_content(path) {
        return Err(Error::NotFound {
            what: "store",
            id: String::new(),
        });
    }
    let copy = work_file(path);
    {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?;
        apply_key(&conn, Some(old))?;
        export(&conn, &copy, new)?;
    }
    replace(path, &copy)
}

/// What [`crate::Store::open_with`] does before opening: leftovers of an interrupted rewrite are
/// removed, and a plain store met with a key is encrypted. An encrypted store met without a key
/// is [`Error::WrongKey`].
pub(crate) fn prepare(path: &Path, key: Option<&DbKey>) -> Result<()> {
    clean_up(path)?;
    if !has_content(path) {
        return Ok(());
    }
    match (key, is_plain(path)) {
        (Some(k), true) => encrypt_in_place(path, k),
        (None, false) => Err(Error::WrongKey),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_never_print() {
        let k = DbKey::random();
        assert_eq!(DbKey::from_hex(&k.to_hex()).unwrap(), k);
        assert_ne!(DbKey::random(), k);
        assert_eq!(format!("{k:?}"), "DbKey(…)");
        assert!(matches!(
            DbKey::from_hex("abc"),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            DbKey::from_bytes(&[0; 31]),
            Err(Error::InvalidInput { .. })
        ));
    }
}
