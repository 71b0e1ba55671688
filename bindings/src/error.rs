//! The one public error of the bindings, and the one place core errors are mapped to it.
//!
//! Variants say what the app can do: fix the named field, refresh the record, sign in again,
//! retry later, free space, update the app. Messages come from core and never carry resident data.

use gridwork_model::Error as CoreError;

/// Every error a Gridwork call can raise (Kotlin `GridworkException`, Swift `GridworkError`,
/// Python `GridworkError`).
#[derive(Debug, Clone, PartialEq, thiserror::Error, uniffi::Error)]
pub enum GridworkError {
    /// Input was rejected; nothing was stored. Show `reason` next to `field`. Also raised for
    /// change data (an import file, a server answer) that could not be decoded (`field` says which)
    /// and for photos that are not acceptable images (`field` = "photo").
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: String, reason: String },
    /// The record (or other object) does not exist on this device.
    #[error("{what} not found")]
    NotFound { what: String },
    /// The user's role or scope does not allow this change.
    #[error("not permitted: {reason}")]
    NotPermitted {
        field: Option<String>,
        reason: String,
    },
    /// The record is not (or no longer) in a state that allows this, e.g. a workflow step that
    /// someone else already took: reload the record and let the user decide again.
    #[error("conflict: {reason}")]
    Conflict { reason: String },
    /// The server could not be reached or failed; nothing local was lost. Retry when `retryable`.
    #[error("network error: {reason}")]
    Network { reason: String, retryable: bool },
    /// The server refused the credentials or the device token: sign in again.
    #[error("unauthorized: {reason}")]
    Unauthorized { reason: String },
    /// Input over a size limit (a photo's bytes or pixels): pick or take a smaller one.
    #[error("too large: {reason}")]
    TooLarge { reason: String },
    /// The device storage is full; the write was rolled back.
    #[error("storage is full")]
    StorageFull,
    /// The store is encrypted and the key given does not open it. Nothing was changed: ask the
    /// platform keystore again, never delete the file (it holds unsynced work).
    #[error("the store's key is wrong")]
    WrongKey,
    /// The database file is not a Gridwork database or is damaged.
    #[error("storage is corrupt: {reason}")]
    StorageCorrupt { reason: String },
    /// The database was written by a newer version of the app: update the app (never reset the
    /// database, it holds unsynced work).
    #[error(
        "database schema {found} is newer than this app supports ({supported}); update the app"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    /// A bug or an unexpected storage failure.
    #[error("internal error: {reason}")]
    Internal { reason: String },
}

impl From<CoreError> for GridworkError {
    fn from(e: CoreError) -> Self {
        use GridworkError as G;
        match e {
            CoreError::InvalidInput { field, reason } => G::InvalidInput { field, reason },
            CoreError::NotFound { what, .. } => G::NotFound {
                what: what.to_owned(),
            },
            CoreError::NotPermitted { field, reason } => G::NotPermitted { field, reason },
            e @ CoreError::IllegalTransition { .. } => G::Conflict {
                reason: e.to_string(),
            },
            CoreError::CorruptChange(reason) => G::InvalidInput {
                field: "changes".into(),
                reason,
            },
            CoreError::NotADatabase(reason) => G::StorageCorrupt { reason },
            CoreError::WrongKey => G::WrongKey,
            CoreError::SchemaTooNew { found, supported } => G::SchemaTooNew { found, supported },
            CoreError::StorageFull => G::StorageFull,
            e @ CoreError::Storage(_) => G::Internal {
                reason: e.to_string(),
            },
            CoreError::Network { message, retryable } => G::Network {
                reason: message,
                retryable,
            },
            CoreError::Unauthorized(reason) => G::Unauthorized { reason },
            CoreError::InvalidImage(reason) => G::InvalidInput {
                field: "photo".into(),
                reason,
            },
            CoreError::TooLarge(reason) => G::TooLarge { reason },
            CoreError::Internal(reason) => G::Internal { reason },
        }
    }
}

pub type Result<T, E = GridworkError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use GridworkError as G;

    #[test]
    fn maps_every_core_error_to_an_actionable_variant() {
        let cases = [
            (
                CoreError::invalid("title", "must not be empty"),
                G::InvalidInput {
                    field: "title".into(),
                    reason: "must not be empty".into(),
                },
            ),
            (
                CoreError::NotFound {
                    what: "record",
                    id: "r1".into(),
                },
                G::NotFound {
                    what: "record".into(),
                },
            ),
            (
                CoreError::not_permitted(Some("status"), "workers cannot approve"),
                G::NotPermitted {
                    field: Some("status".into()),
                    reason: "workers cannot approve".into(),
                },
            ),
            (CoreError::StorageFull, G::StorageFull),
            (
                CoreError::Network {
                    message: "connection refused".into(),
                    retryable: true,
                },
                G::Network {
                    reason: "connection refused".into(),
                    retryable: true,
                },
            ),
            (
                CoreError::Unauthorized("bad password".into()),
                G::Unauthorized {
                    reason: "bad password".into(),
                },
            ),
            (
                CoreError::NotADatabase("file is not a SQLite database".into()),
                G::StorageCorrupt {
                    reason: "file is not a SQLite database".into(),
                },
            ),
            (
                CoreError::SchemaTooNew {
                    found: 9,
                    supported: 3,
                },
                G::SchemaTooNew {
                    found: 9,
                    supported: 3,
                },
            ),
            (
                CoreError::InvalidImage("truncated".into()),
                G::InvalidInput {
                    field: "photo".into(),
                    reason: "truncated".into(),
                },
            ),
            (
                CoreError::CorruptChange("bad magic".into()),
                G::InvalidInput {
                    field: "changes".into(),
                    reason: "bad magic".into(),
                },
            ),
            (
                CoreError::TooLarge("12000 x 12000 pixels".into()),
                G::TooLarge {
                    reason: "12000 x 12000 pixels".into(),
                },
            ),
            (
                CoreError::Internal("bug".into()),
                G::Internal {
                    reason: "bug".into(),
                },
            ),
        ];
        for (core, expected) in cases {
            assert_eq!(GridworkError::from(core), expected);
        }
    }

    #[test]
    fn illegal_transition_is_a_conflict_and_storage_failures_are_internal() {
        let e = GridworkError::from(CoreError::IllegalTransition {
            kind: "report",
            from: "approved".into(),
            to: "submitted".into(),
        });
        assert!(
            matches!(&e, G::Conflict { reason } if reason.contains("approved") && reason.contains("submitted")),
            "{e:?}"
        );
        let e = GridworkError::from(CoreError::Storage("IoErr (10)".into()));
        assert!(
            matches!(&e, G::Internal { reason } if reason.contains("IoErr")),
            "{e:?}"
        );
    }
}
