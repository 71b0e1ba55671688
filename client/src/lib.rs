//! The device side of sync: sign-in and sign-out, the sync driver (one HTTPS round trip per sync,
//! retries with backoff, quota holds), photo upload and download. Brings [`DeviceSync`] to a
//! `gridwork_store::Store`.

// House rule: input from devices, files and the network never aborts us (see Cargo.toml).
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod sync;
pub mod sync_access;
pub mod sync_photos;

pub use sync::*;
