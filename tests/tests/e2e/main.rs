//! Cross-crate end-to-end tests: real `gridwork-server` processes on loopback, devices built on
//! core's sync client, a fault-injecting proxy, SIGKILL. One test binary (faster to build).

mod auth;
mod console;
mod convergence;
mod directory;
mod faults;
mod photos;
mod privacy;
mod scenario;
