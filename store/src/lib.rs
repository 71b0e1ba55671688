//! The device store: records as Automerge documents in SQLite, with queries, history, conflicts,
//! an outbox for sync, and photos. Domain types come from `gridwork_model`, the sync protocol
//! from `gridwork_protocol`, the photo pipeline from `gridwork_photo`; the network side of sync
//! is `gridwork_client`.
//!
//! Modules: [`store`] (open, write path, queries, history, outbox, sync application), [`api`]
//! (typed create / update per kind), [`blobs`] (photos on the device), [`schema`] (migrations).

// House rule: input from devices, files and the network never aborts us (see Cargo.toml).
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod api;
pub mod blobs;
pub mod schema;
pub mod store;

pub use api::*;
pub use blobs::PendingBlob;
pub use store::*;
