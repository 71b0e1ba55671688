//! The sync protocol, shared by the device and the server (`docs/protocol.md` is its text):
//!
//! - [`wire`]: request and response messages, their binary codec, routes, headers, codes;
//! - [`scan`]: reads an Automerge change's columns without expanding them (bounds first);
//! - [`gate`]: the limits of a change and a push, and the checks every pushed change passes
//!   before it is stored (server) or applied (device, tolerant).

// House rule: input from devices, files and the network never aborts us (see Cargo.toml).
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod gate;
pub mod scan;
pub mod wire;
