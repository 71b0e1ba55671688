//! Gridwork core: records as Automerge documents in SQLite, with queries, history and conflicts.
//!
//! Layout: `model` (record types and validation), `doc` (records ↔ Automerge), `workflow` and
//! `policy` (who may change what), `schema` (migrations), `projection` (list columns),
//! `store` (the SQLite store and its API), `photo` (image pipeline), `wire` (sync protocol).

pub mod api;
pub mod blobs;
pub mod doc;
pub mod error;
pub mod gate;
pub mod idnum;
pub mod model;
pub mod photo;
pub mod policy;
pub mod projection;
pub mod scan;
pub mod schema;
pub mod shape;
pub mod store;
pub mod sync;
pub mod sync_photos;
pub mod wire;
pub mod workflow;

pub use api::*;
pub use blobs::PendingBlob;
pub use error::{Denied, Error, Result};
pub use model::*;
pub use policy::Principal;
pub use store::*;
pub use sync::*;

/// Compatibility path: `gridwork_core::record::{AnyRecord, RecordKind}`.
pub mod record {
    pub use crate::model::{AnyRecord, RecordKind};
}
