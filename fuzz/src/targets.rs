//! The fuzz targets: each takes arbitrary bytes and must return without panicking, hanging or
//! allocating without bound. What they compute is thrown away; a panic (including a failed
//! round-trip assertion below) is a finding.
//!
//! This one file is compiled twice: as the library of the cargo-fuzz crate (`fuzz/`, libFuzzer on
//! nightly, one `fuzz_targets/*.rs` per target) and as a module of the stable harness
//! (`store/tests/fuzz_stable.rs`, `#[path]`-included). It may use only `gridwork_protocol`,
//! `gridwork_photo` and `zstd`, which both builds have.

use gridwork_photo as photo;
use gridwork_protocol::{gate, wire};

/// A fuzz target: arbitrary bytes in, nothing out.
pub type Target = fn(&[u8]);

/// Every target by name, in the order the harnesses run them.
pub const TARGETS: &[(&str, Target)] = &[
    ("wire_request", wire_request),
    ("wire_response", wire_response),
    ("change_gate", change_gate),
    ("photo_header", photo_header),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// The wire targets read their first byte as a mode: even means the rest is a sync body as sent
/// (zstd-compressed); odd means the rest is the *uncompressed* framing, which is compressed here
/// first. Random bytes almost never form a valid zstd frame, so without the odd mode a fuzzer
/// would only exercise the zstd error path and never the framing decoder behind it.
fn wire_body(data: &[u8]) -> Option<Vec<u8>> {
    let (&mode, rest) = data.split_first()?;
    if mode & 1 == 0 {
        Some(rest.to_vec())
    } else {
        zstd::bulk::compress(rest, 1).ok()
    }
}

/// `wire::decode_request` with the server's limits; a decoded request must survive
/// encode → decode unchanged.
pub fn wire_request(data: &[u8]) {
    let Some(body) = wire_body(data) else { return };
    if let Ok(req) = wire::decode_request(&body, wire::REQUEST_LIMITS) {
        let again = wire::decode_request(&wire::encode_request(&req), wire::REQUEST_LIMITS);
        assert!(
            again.as_ref() == Ok(&req),
            "wire_request: a decoded request does not survive encode/decode"
        );
    }
}

/// `wire::decode_response` with the device's limits; a decoded response must survive
/// encode → decode unchanged.
pub fn wire_response(data: &[u8]) {
    let Some(body) = wire_body(data) else { return };
    if let Ok(resp) = wire::decode_response(&body, wire::RESPONSE_LIMITS) {
        let again = wire::decode_response(&wire::encode_response(&resp), wire::RESPONSE_LIMITS);
        assert!(
            again.as_ref() == Ok(&resp),
            "wire_response: a decoded response does not survive encode/decode"
        );
    }
}

/// The change gate on arbitrary bytes: prescan, Automerge parse, apply, schema walk and policy
/// (`gate::fuzz_change_gate` decides how the bytes are used).
pub fn change_gate(data: &[u8]) {
    gate::fuzz_change_gate(data);
}

/// The photo header parser (`photo::probe`). What it accepts must carry the format's magic bytes
/// and sides that the format's header fields can hold (JPEG 16 bits, WebP at most 2^24).
pub fn photo_header(data: &[u8]) {
    let Ok((format, width, height)) = photo::probe(data) else {
        return;
    };
    let (magic_ok, max_side) = match format {
        photo::PhotoFormat::Jpeg => (data.starts_with(&[0xFF, 0xD8, 0xFF]), 0xFFFF),
        photo::PhotoFormat::Png => (data.starts_with(b"\x89PNG\r\n\x1a\n"), u32::MAX),
        photo::PhotoFormat::WebP => (
            data.starts_with(b"RIFF") && data.get(8..12) == Some(b"WEBP"),
            1 << 24,
        ),
    };
    assert!(
        magic_ok,
        "photo_header: {} accepted without its magic bytes",
        format.name()
    );
    assert!(
        width <= max_side && height <= max_side,
        "photo_header: {} sides beyond what its header can hold",
        format.name()
    );
}
