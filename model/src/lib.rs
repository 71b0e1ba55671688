//! Gridwork's domain, with no storage and no network: what a record is, who may change what, and
//! how a record is kept as an Automerge document.
//!
//! - [`record`]: the record kinds and their fields, typed ids and times, validation;
//! - [`workflow`]: the status machines and their transitions;
//! - [`policy`]: who may write what (the device's checks and the server's gate use the same);
//! - [`shape`] and [`limits`]: the per-kind document schemas and the bounds of a document;
//! - [`doc`]: records ↔ Automerge documents; [`projection`]: the list columns of a record;
//! - [`idnum`]: resident ID number checks; [`error`]: the one error enum;
//! - `migrate` (feature `sqlite`): numbered SQL migrations, for the device store and the server.

// House rule: input from devices, files and the network never aborts us (see Cargo.toml).
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod directory;
pub mod doc;
pub mod edit;
pub mod error;
pub mod idnum;
pub mod ids;
pub mod kinds;
pub mod limits;
pub mod mask;
#[cfg(feature = "sqlite")]
pub mod migrate;
pub mod policy;
pub mod projection;
pub mod record;
pub mod shape;
pub mod workflow;

pub use error::{Denied, Error, Result};
pub use ids::{GridId, RecordId, UserId};
pub use policy::Principal;
pub use record::*;
