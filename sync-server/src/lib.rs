//! Gridwork sync server: organisation, authentication, per-user scope, and the change log that
//! devices push to and pull from in one round trip. The protocol is in `docs/protocol.md`.
//!
//! - `http.rs`: routes, auth extractor, limits; `sync.rs`: the push checks and pull;
//! - `store.rs`: the storage trait; `sqlite.rs`: its SQLite implementation;
//! - `auth.rs`: passwords and tokens; `admin.rs`: organisation admin and CSV import;
//! - `blob.rs`: photo blobs (directory or object store), resumable uploads;
//! - `console/`: the web console (`/console`), server-rendered, writing through the sync checks;
//! - `records.rs`, `sqlite_records.rs`: the list rows the console filters and counts;
//! - `demo.rs`: the `--demo` seed; `error.rs`: errors and their HTTP mapping.

// House rule: input from devices, files and the network never aborts us (see Cargo.toml).
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod admin;
pub mod auth;
pub mod blob;
pub mod cancel;
pub mod console;
pub mod demo;
pub mod directory;
pub mod error;
pub mod http;
pub mod limits;
pub mod quota;
pub mod records;
pub mod sqlite;
mod sqlite_records;
pub mod store;
pub mod sync;

pub use error::{ApiError, Error, Result};
pub use http::{router, ApiConfig, AppState};
pub use sqlite::SqliteStore;
pub use store::ServerStore;
