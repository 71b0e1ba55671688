//! Trust-boundary attacks (issue 8), one module per attack class, each through a real
//! `gridwork-server --demo` process on loopback (started per test with an address-space cap, so a
//! regression fails the test instead of exhausting the machine, and stopped at the end).
//!
//! Every attack is what a signed-in worker's own client can send: hand-made Automerge changes,
//! valid at the byte level, with an actor id registered at sign-in and the user's id as the
//! change message, so that the refusals come from the trust-boundary checks, not from the
//! sign-in, actor and author checks (`gridwork_tests::attack`). The expected answers are the
//! refusal contract of issue 8 (code and field per attack; reasons never quote a value).
//!
//! After each attack the server must be alive, answer `/healthz`, and have peaked under
//! `attack::RSS_BOUND` (400 MiB, `VmHWM`); the peaks are written to `target/attack/peak-rss.json`
//! (class → bytes) and `peak-rss-tests.json` (per attack). Tests whose attack made the landed server
//! allocate gigabytes hold a lock file so that only one runs at a time on a shared machine.
//!
//! Run: `cargo nextest run -p gridwork-tests --test attack`.

mod comments;
mod console;
mod directory;
mod encoder;
mod kinds;
mod leaks;
mod memory;
mod nesting;
mod poison;
mod privacy;
mod resources;
mod workflow;
