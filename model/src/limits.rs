//! Limits of one record's document: what the schema walk ([`crate::shape`]) and the protocol's
//! gate (`gridwork_protocol::gate`) allow. `docs/protocol.md`, "Limits", lists the same numbers.

/// Most operations a document's whole history may hold.
pub const MAX_DOC_OPS: u64 = 1_000_000;
/// Most objects (maps, lists, texts) a document may hold, root included.
pub const MAX_DOC_OBJECTS: usize = 10_000;
/// Most characters of all strings and texts of a document together.
pub const MAX_DOC_CHARS: usize = 400_000;
/// Deepest nesting of objects below the root (the schemas need 3; tolerant reads allow a little
/// more for fields of newer versions).
pub const MAX_DEPTH: usize = 6;
