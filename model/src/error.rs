//! Error types of the core. One enum, with variants that say what the caller can do about it.
//!
//! Messages never contain personal data of residents: validation errors name the field and the
//! reason, never the offending value.

use std::fmt;

/// Every error the core returns.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Input from the user or the app was rejected; nothing was stored.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: String, reason: String },
    /// The record (or other object) does not exist in this store.
    #[error("{what} not found: {id}")]
    NotFound { what: &'static str, id: String },
    /// The acting user's role or scope does not allow this.
    #[error("not permitted: {reason}")]
    NotPermitted {
        field: Option<String>,
        reason: String,
    },
    /// A status change that the workflow does not allow.
    #[error("illegal transition of {kind} from {from} to {to}")]
    IllegalTransition {
        kind: &'static str,
        from: String,
        to: String,
    },
    /// Change bytes (from an import or the network) could not be decoded or applied.
    #[error("corrupt change data: {0}")]
    CorruptChange(String),
    /// The file is not a Gridwork database (or not a SQLite database at all).
    #[error("not a Gridwork database: {0}")]
    NotADatabase(String),
    /// The store is encrypted and the key given does not open it (or no key was given). Nothing
    /// was read or changed.
    #[error("the store's key is wrong")]
    WrongKey,
    /// The database was written by a newer version of Gridwork.
    #[error("database schema version {found} is newer than this app supports ({supported}); update the app")]
    SchemaTooNew { found: i64, supported: i64 },
    /// The disk is full; the write was rolled back.
    #[error("storage is full")]
    StorageFull,
    /// Any other storage failure; the write was rolled back.
    #[error("storage error: {0}")]
    Storage(String),
    /// The server could not be reached or answered with a transient failure.
    #[error("network error: {message}")]
    Network { message: String, retryable: bool },
    /// The server refused the credentials or the device token.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A photo could not be accepted: not an image, truncated, or an unsupported format.
    #[error("invalid image: {0}")]
    InvalidImage(String),
    /// Input over a size limit (a photo's bytes or pixels, an upload).
    #[error("too large: {0}")]
    TooLarge(String),
    /// Something that should not happen; a bug.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }
    pub fn not_permitted(field: Option<&str>, reason: impl Into<String>) -> Self {
        Error::NotPermitted {
            field: field.map(str::to_owned),
            reason: reason.into(),
        }
    }
}

#[cfg(feature = "sqlite")]
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match &e {
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                ErrorCode::DiskFull => Error::StorageFull,
                ErrorCode::NotADatabase => {
                    Error::NotADatabase("file is not a SQLite database".into())
                }
                ErrorCode::DatabaseCorrupt => {
                    Error::NotADatabase("database file is corrupt".into())
                }
                _ => Error::Storage(sanitize_sql_error(&e)),
            },
            _ => Error::Storage(sanitize_sql_error(&e)),
        }
    }
}

#[cfg(feature = "sqlite")]
/// SQLite error texts can quote values (constraint failures quote column names only, but be safe):
/// keep only the error kind.
fn sanitize_sql_error(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => format!("{:?} ({})", f.code, f.extended_code),
        other => {
            let s = other.to_string();
            s.chars().take(200).collect()
        }
    }
}

impl From<automerge::AutomergeError> for Error {
    fn from(e: automerge::AutomergeError) -> Self {
        Error::CorruptChange(e.to_string().chars().take(200).collect())
    }
}

#[cfg(feature = "sqlite")]
impl From<crate::migrate::MigrateError> for Error {
    fn from(e: crate::migrate::MigrateError) -> Self {
        match e {
            crate::migrate::MigrateError::Sqlite(err) => Error::from(err),
            crate::migrate::MigrateError::TooNew { found, supported } => {
                Error::SchemaTooNew { found, supported }
            }
        }
    }
}

/// Reason a write was refused by the role/scope policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub field: String,
    pub reason: String,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl From<Denied> for Error {
    fn from(d: Denied) -> Self {
        Error::NotPermitted {
            field: Some(d.field),
            reason: d.reason,
        }
    }
}
