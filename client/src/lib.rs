//! The device side of sync: sign-in and sign-out, the sync driver (one HTTPS round trip per sync,
//! retries with backoff, quota holds), photo upload and download. Brings [`DeviceSync`] to a
//! `gridwork_store::Store`.

pub mod sync;
pub mod sync_photos;

pub use sync::*;
