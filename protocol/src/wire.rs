//! The sync wire protocol shared by the device client and the sync server.
//!
//! `docs/protocol.md` is the written form of this module; keep the two in step.
//!
//! * Sign-in, sign-out and error bodies are small and carry no binary data: plain JSON
//!   (`Content-Type: application/json`, not compressed).
//! * Sync bodies carry raw Automerge change bytes. They use a compact, hand-rolled binary framing
//!   (LEB128 lengths, no base64, document ids and hashes packed to their raw bytes) compressed with
//!   zstd (`Content-Type: application/vnd.gridwork.sync`, `Content-Encoding: zstd`). JSON with
//!   base64 would inflate change bytes by a third before compression; this framing adds a few bytes
//!   per document and per change, so the wire size stays close to the zstd of the raw changes.
//!
//! Decoding untrusted bodies: the compressed size is checked before anything is decompressed, the
//! decompressed size is bounded while decompressing (never `decode_all` without a cap), the zstd
//! window is capped, and every length read from the body is checked against the bytes that remain.

use std::io::Read;

use gridwork_model::directory::{
    self, Boundary, DirUnit, Person, Point, Polygon, UnitKind, MAX_DIRECTORY_ENTRIES,
};
use gridwork_model::{Role, UserId};
use serde::{Deserialize, Serialize};

/// The newest protocol version this build speaks, and the one a device sends. A server answers in
/// the version of the request, so devices of older versions keep syncing; a version outside
/// [`MIN_PROTOCOL_VERSION`]..=[`PROTOCOL_VERSION`] is answered `unsupported_version`.
///
/// - 1: records (push, pull, cursor).
/// - 2: adds the team directory: the request carries a [`DirCursor`], the answer a
///   [`DirectoryDelta`] (`docs/protocol.md`, "Directory").
pub const PROTOCOL_VERSION: u32 = 2;
/// The oldest protocol version this build still reads and answers.
pub const MIN_PROTOCOL_VERSION: u32 = 1;

/// `Content-Type` of sync request and response bodies.
pub const SYNC_CONTENT_TYPE: &str = "application/vnd.gridwork.sync";
/// `Content-Encoding` of sync request and response bodies.
pub const SYNC_CONTENT_ENCODING: &str = "zstd";

/// Default limits for a sync request body (device → server).
pub const REQUEST_LIMITS: Limits = Limits {
    max_compressed: 8 << 20,
    max_decompressed: 32 << 20,
};
/// Default limits for a sync response body (server → device).
pub const RESPONSE_LIMITS: Limits = Limits {
    max_compressed: 32 << 20,
    max_decompressed: 128 << 20,
};

/// zstd level used for sync bodies: fast, and within a few percent of higher levels on change bytes.
const ZSTD_LEVEL: i32 = 3;
/// Largest zstd window a decoder accepts (2^24 = 16 MiB), bounding decoder memory.
const ZSTD_WINDOW_LOG_MAX: u32 = 24;

const REQUEST_MAGIC: &[u8; 4] = b"GWSQ";
const RESPONSE_MAGIC: &[u8; 4] = b"GWSR";

/// Size limits applied when decoding a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted body as sent (compressed), in bytes.
    pub max_compressed: usize,
    /// Largest accepted body after decompression, in bytes.
    pub max_decompressed: usize,
}

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// The body (compressed or decompressed) is larger than the limit.
    #[error("body too large: more than {limit} bytes {what}")]
    TooLarge { what: &'static str, limit: usize },
    /// The body is not a valid zstd stream or not a valid message.
    #[error("corrupt body: {0}")]
    Corrupt(String),
    /// The body is a valid message of a protocol version this build does not speak.
    #[error("unsupported protocol version {got} (this build speaks {PROTOCOL_VERSION})")]
    UnsupportedVersion { got: u32 },
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// `POST /v1/sign-in` body (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInRequest {
    pub username: String,
    pub password: String,
    /// Free text shown to admins ("Li Wei's Pixel 7").
    pub device_name: String,
    /// The Automerge actor ids (hex) this device writes with.
    pub actors: Vec<String>,
}

/// `POST /v1/sign-in` answer (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInResponse {
    /// Bearer token for this device. Shown once; the server keeps only its hash.
    pub token: String,
    pub user_id: String,
    /// `worker`, `leader`, `supervisor` or `admin`.
    pub role: String,
    pub display_name: String,
    /// The grid ids this user may read and write.
    pub scope_grids: Vec<String>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// The local changes of one document that the device pushes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PushDoc {
    pub doc_id: String,
    /// Raw Automerge change bytes (`Change::raw_bytes()`), in causal order.
    pub changes: Vec<Vec<u8>>,
}

/// `POST /v1/sync` body (binary + zstd).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncRequest {
    pub version: u32,
    /// Opaque cursor from the last response; `None` on a first sync.
    pub cursor: Option<String>,
    pub push: Vec<PushDoc>,
    /// At most this many changes in the answer (the server may send fewer).
    pub pull_limit: Option<u32>,
    /// Version 2: where the device's copy of the directory stands (`None`: it has none yet and
    /// wants all of it). Not sent in version 1 (and then no directory is answered).
    pub directory: Option<DirCursor>,
}

/// Where a device's copy of the directory stands: the server's directory `version` it last
/// applied and a digest of the set of units and people it was sent (`view`). The server sends
/// only entries changed after `version` while the set is the same, and the whole directory
/// (`full`) when the set changed (someone left or joined the scope). Opaque to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirCursor {
    pub version: u64,
    pub view: u64,
}

/// The part of the directory a device needs (version 2 answers only).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirectoryDelta {
    /// Store this with the entries (one transaction) and send it next time.
    pub cursor: DirCursor,
    /// `true`: these are all the units and people in scope; every other one the device holds
    /// has left the scope (people are kept by name, marked out of scope). `false`: only entries
    /// changed since the request's cursor.
    pub full: bool,
    pub units: Vec<DirUnit>,
    /// `in_scope` is not sent: every person in an answer is in scope.
    pub people: Vec<Person>,
}

/// A change the server has stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRef {
    pub doc_id: String,
    /// Automerge change hash, hex.
    pub hash: String,
}

/// Why a pushed change was refused. The device quarantines it and shows `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// The bytes are not an Automerge change.
    Corrupt,
    /// The change's actor id was not registered by this device at sign-in.
    ActorNotRegistered,
    /// The change's author (its message, the user id) is not the signed-in user.
    WrongAuthor,
    /// The record's grid is not in the user's scope.
    OutOfScope,
    /// The user's role may not make this change (`field` names what).
    Denied,
    /// The record after the change is not a valid record.
    InvalidRecord,
    /// The change depends on a change the server does not have (for example a rejected one).
    MissingDeps,
    /// The document id does not follow the id rule ([`gridwork_model::record::check_id`]).
    InvalidId,
    /// The change (or the document it would make) is over a size limit: bytes, operations,
    /// objects, text length (see `docs/protocol.md`, "Limits"). Not retryable as it is.
    TooLarge,
    /// A per-device quota (per request or per day) is used up. **Retryable**: the device keeps
    /// the change pending and sends it again later (the next day for a daily quota).
    Quota,
    /// An administrator set this document aside (`gridwork-server admin quarantine-doc`); no
    /// change to it is accepted until it is restored.
    Quarantined,
    /// A code this build does not know (sent by a newer server).
    Unknown,
}

impl RejectCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::Corrupt => "corrupt",
            RejectCode::ActorNotRegistered => "actor_not_registered",
            RejectCode::WrongAuthor => "wrong_author",
            RejectCode::OutOfScope => "out_of_scope",
            RejectCode::Denied => "denied",
            RejectCode::InvalidRecord => "invalid_record",
            RejectCode::MissingDeps => "missing_deps",
            RejectCode::InvalidId => "invalid_id",
            RejectCode::TooLarge => "too_large",
            RejectCode::Quota => "quota",
            RejectCode::Quarantined => "quarantined",
            RejectCode::Unknown => "unknown",
        }
    }

    /// Parses a code; unknown strings map to [`RejectCode::Unknown`].
    /// Whether the device should keep the change pending and send it again later (rather than
    /// quarantining it).
    pub fn retryable(self) -> bool {
        matches!(self, RejectCode::Quota)
    }

    pub fn parse(s: &str) -> RejectCode {
        match s {
            "corrupt" => RejectCode::Corrupt,
            "actor_not_registered" => RejectCode::ActorNotRegistered,
            "wrong_author" => RejectCode::WrongAuthor,
            "out_of_scope" => RejectCode::OutOfScope,
            "denied" => RejectCode::Denied,
            "invalid_record" => RejectCode::InvalidRecord,
            "missing_deps" => RejectCode::MissingDeps,
            "invalid_id" => RejectCode::InvalidId,
            "too_large" => RejectCode::TooLarge,
            "quota" => RejectCode::Quota,
            "quarantined" => RejectCode::Quarantined,
            _ => RejectCode::Unknown,
        }
    }
}

/// A pushed change the server refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub doc_id: String,
    /// Automerge change hash, hex. For bytes that do not parse as a change: the hex SHA-256 of
    /// the raw bytes.
    pub hash: String,
    /// The record field the refusal is about, when there is one (`status`, `grid`, …).
    pub field: Option<String>,
    /// Human-readable, free of resident personal data.
    pub reason: String,
    pub code: RejectCode,
}

/// A change the device should apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledChange {
    pub doc_id: String,
    pub bytes: Vec<u8>,
}

/// `POST /v1/sync` answer (binary + zstd).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncResponse {
    pub version: u32,
    /// Pushed changes the server holds (newly stored or stored by an earlier attempt).
    pub accepted: Vec<ChangeRef>,
    pub rejected: Vec<Rejected>,
    /// Changes in the user's scope after the request's cursor, in server order.
    pub changes: Vec<PulledChange>,
    /// Store this (with the applied changes, in one transaction) and send it next time.
    pub cursor: String,
    /// More changes are waiting: sync again (push nothing) with the new cursor.
    pub more: bool,
    /// Version 2: the directory entries the device lacks; `None` when its copy is current (and
    /// always in a version 1 answer).
    pub directory: Option<DirectoryDelta>,
}

/// Machine-readable error code of an [`ErrorBody`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body is malformed, truncated or not what the endpoint takes.
    BadRequest,
    /// 400: the body speaks a protocol version this server does not.
    UnsupportedVersion,
    /// 413: the body exceeds a size limit.
    TooLarge,
    /// 401: no token, an unknown, expired or revoked token, or a wrong password.
    Unauthorized,
    /// 403: signed in, but not allowed.
    Forbidden,
    /// 404: no such endpoint or object.
    NotFound,
    /// 429: slow down; retry after the `Retry-After` seconds.
    RateLimited,
    /// 503: the server is starting, stopping or overloaded; retry with backoff.
    Unavailable,
    /// 500: a server bug or storage failure; retry with backoff.
    Internal,
    /// A code this build does not know (sent by a newer server).
    #[serde(other)]
    Unknown,
}

/// Every non-2xx answer carries this JSON body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// Whether sending the same request again later may succeed.
    pub retryable: bool,
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Encodes and compresses a sync request.
pub fn encode_request(req: &SyncRequest) -> Vec<u8> {
    let mut w = Writer::with_capacity(
        64 + req
            .push
            .iter()
            .map(|d| 48 + d.changes.iter().map(|c| c.len() + 4).sum::<usize>())
            .sum::<usize>(),
    );
    w.bytes_raw(REQUEST_MAGIC);
    w.varint(u64::from(req.version));
    w.opt_str(req.cursor.as_deref());
    match req.pull_limit {
        None => w.u8(0),
        Some(n) => {
            w.u8(1);
            w.varint(u64::from(n));
        }
    }
    w.varint(req.push.len() as u64);
    for doc in &req.push {
        w.id(&doc.doc_id);
        w.varint(doc.changes.len() as u64);
        for c in &doc.changes {
            w.bytes(c);
        }
    }
    if req.version >= 2 {
        match req.directory {
            None => w.u8(0),
            Some(c) => {
                w.u8(1);
                w.varint(c.version);
                w.buf.extend_from_slice(&c.view.to_le_bytes());
            }
        }
    }
    compress(&w.buf)
}

/// Checks limits, decompresses and decodes a sync request.
pub fn decode_request(body: &[u8], limits: Limits) -> Result<SyncRequest, WireError> {
    let raw = decompress(body, limits)?;
    let mut r = Reader::new(&raw);
    let version = r.header(*REQUEST_MAGIC)?;
    let cursor = r.opt_str()?;
    let pull_limit = match r.u8()? {
        0 => None,
        1 => Some(r.varint_u32()?),
        t => return Err(corrupt(format!("bad option tag {t}"))),
    };
    let n_docs = r.count(2)?;
    let mut push = Vec::with_capacity(n_docs);
    for _ in 0..n_docs {
        let doc_id = r.id()?;
        let n = r.count(1)?;
        let mut changes = Vec::with_capacity(n);
        for _ in 0..n {
            changes.push(r.bytes()?.to_vec());
        }
        push.push(PushDoc { doc_id, changes });
    }
    let directory = if version >= 2 {
        match r.u8()? {
            0 => None,
            1 => Some(r.dir_cursor()?),
            t => return Err(corrupt(format!("bad option tag {t}"))),
        }
    } else {
        None
    };
    r.finish()?;
    Ok(SyncRequest {
        version,
        cursor,
        push,
        pull_limit,
        directory,
    })
}

/// Encodes and compresses a sync response.
pub fn encode_response(resp: &SyncResponse) -> Vec<u8> {
    let mut w = Writer::with_capacity(
        64 + resp.accepted.len() * 56
            + resp.rejected.len() * 128
            + resp
                .changes
                .iter()
                .map(|c| c.bytes.len() + 4)
                .sum::<usize>(),
    );
    w.bytes_raw(RESPONSE_MAGIC);
    w.varint(u64::from(resp.version));
    w.varint(resp.accepted.len() as u64);
    for a in &resp.accepted {
        w.id(&a.doc_id);
        w.id(&a.hash);
    }
    w.varint(resp.rejected.len() as u64);
    for r in &resp.rejected {
        w.id(&r.doc_id);
        w.id(&r.hash);
        w.opt_str(r.field.as_deref());
        w.str(&r.reason);
        w.str(r.code.as_str());
    }
    // Pulled changes arrive in server order, where one document's changes are usually adjacent:
    // runs of the same document share one id.
    let runs = runs_by_doc(&resp.changes);
    w.varint(runs.len() as u64);
    for run in runs {
        w.id(&run[0].doc_id);
        w.varint(run.len() as u64);
        for c in run {
            w.bytes(&c.bytes);
        }
    }
    w.str(&resp.cursor);
    w.u8(u8::from(resp.more));
    if resp.version >= 2 {
        match &resp.directory {
            None => w.u8(0),
            Some(d) => {
                w.u8(1);
                w.directory(d);
            }
        }
    }
    compress(&w.buf)
}

/// Checks limits, decompresses and decodes a sync response.
pub fn decode_response(body: &[u8], limits: Limits) -> Result<SyncResponse, WireError> {
    let raw = decompress(body, limits)?;
    let mut r = Reader::new(&raw);
    let version = r.header(*RESPONSE_MAGIC)?;
    let n = r.count(2)?;
    let mut accepted = Vec::with_capacity(n);
    for _ in 0..n {
        accepted.push(ChangeRef {
            doc_id: r.id()?,
            hash: r.id()?,
        });
    }
    let n = r.count(5)?;
    let mut rejected = Vec::with_capacity(n);
    for _ in 0..n {
        let doc_id = r.id()?;
        let hash = r.id()?;
        let field = r.opt_str()?;
        let reason = r.str()?;
        let code = RejectCode::parse(&r.str()?);
        rejected.push(Rejected {
            doc_id,
            hash,
            field,
            reason,
            code,
        });
    }
    let n_runs = r.count(2)?;
    let mut changes = Vec::new();
    for _ in 0..n_runs {
        let doc_id = r.id()?;
        let n = r.count(1)?;
        changes.reserve(n);
        for _ in 0..n {
            changes.push(PulledChange {
                doc_id: doc_id.clone(),
                bytes: r.bytes()?.to_vec(),
            });
        }
    }
    let cursor = r.str()?;
    let more = match r.u8()? {
        0 => false,
        1 => true,
        t => return Err(corrupt(format!("bad bool {t}"))),
    };
    let directory = if version >= 2 {
        match r.u8()? {
            0 => None,
            1 => Some(r.directory()?),
            t => return Err(corrupt(format!("bad option tag {t}"))),
        }
    } else {
        None
    };
    r.finish()?;
    Ok(SyncResponse {
        version,
        accepted,
        rejected,
        changes,
        cursor,
        more,
        directory,
    })
}

fn runs_by_doc(changes: &[PulledChange]) -> Vec<&[PulledChange]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=changes.len() {
        if i == changes.len() || changes[i].doc_id != changes[start].doc_id {
            runs.push(&changes[start..i]);
            start = i;
        }
    }
    runs
}

// zstd contexts are reused per thread: creating one runs a CPU-feature probe that cost ~16% of
// the server's CPU under load when done per request.
thread_local! {
    static CCTX: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> = const { std::cell::RefCell::new(None) };
    static DCTX: std::cell::RefCell<Option<zstd::zstd_safe::DCtx<'static>>> = const { std::cell::RefCell::new(None) };
}

fn compress(raw: &[u8]) -> Vec<u8> {
    let reused = CCTX.with(|c| {
        let mut c = c.try_borrow_mut().ok()?;
        if c.is_none() {
            *c = zstd::bulk::Compressor::new(ZSTD_LEVEL).ok();
        }
        c.as_mut()?.compress(raw).ok()
    });
    reused.unwrap_or_else(|| {
        // Only allocation failure makes in-memory compression fail; an empty body then fails to
        // decode on the other side as a retryable error instead of a panic here.
        zstd::bulk::compress(raw, ZSTD_LEVEL).unwrap_or_default()
    })
}

/// Decompresses `body`, refusing a compressed body over `limits.max_compressed` before touching
/// it and stopping as soon as the output would exceed `limits.max_decompressed`.
pub fn decompress(body: &[u8], limits: Limits) -> Result<Vec<u8>, WireError> {
    if body.len() > limits.max_compressed {
        return Err(WireError::TooLarge {
            what: "compressed",
            limit: limits.max_compressed,
        });
    }
    let mut out = Vec::with_capacity(body.len().saturating_mul(3).min(limits.max_decompressed));
    let cap = limits.max_decompressed as u64 + 1;
    let reused = DCTX.with(|d| -> Option<Result<(), WireError>> {
        let mut slot = d.try_borrow_mut().ok()?;
        if slot.is_none() {
            *slot = zstd::zstd_safe::DCtx::try_create();
        }
        let ctx = slot.as_mut()?;
        // A session left mid-frame by an earlier error must not leak into this one.
        ctx.reset(zstd::zstd_safe::ResetDirective::SessionOnly)
            .ok()?;
        let mut dec = zstd::stream::read::Decoder::with_context(body, ctx);
        Some((|| {
            dec.window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(|e| corrupt(format!("zstd: {e}")))?;
            dec.take(cap)
                .read_to_end(&mut out)
                .map_err(|e| corrupt(format!("zstd: {e}")))?;
            Ok(())
        })())
    });
    match reused {
        Some(r) => r?,
        None => {
            out.clear();
            let mut dec = zstd::stream::read::Decoder::with_buffer(body)
                .map_err(|e| corrupt(format!("zstd: {e}")))?;
            dec.window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(|e| corrupt(format!("zstd: {e}")))?;
            dec.take(cap)
                .read_to_end(&mut out)
                .map_err(|e| corrupt(format!("zstd: {e}")))?;
        }
    }
    if out.len() > limits.max_decompressed {
        return Err(WireError::TooLarge {
            what: "decompressed",
            limit: limits.max_decompressed,
        });
    }
    Ok(out)
}

fn corrupt(msg: impl Into<String>) -> WireError {
    WireError::Corrupt(msg.into())
}

// ---------------------------------------------------------------------------------------------
// Framing primitives
// ---------------------------------------------------------------------------------------------
//
// varint:  unsigned LEB128, at most 10 bytes.
// bytes:   varint length, then the bytes.
// str:     bytes holding UTF-8.
// opt_str: u8 0 (absent) or u8 1 followed by str.
// id:      u8 tag, then: 0 → str; 1 → 16 bytes of a lowercase hyphenated UUID;
//          2 → 32 bytes of a 64-character lowercase hex string (a change hash).
//          Decoding restores exactly the string that was encoded.

const ID_STR: u8 = 0;
const ID_UUID: u8 = 1;
const ID_HEX32: u8 = 2;

struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn with_capacity(n: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }
    fn u8(&mut self, b: u8) {
        self.buf.push(b);
    }
    fn bytes_raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    fn varint(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf.push(byte);
                return;
            }
            self.buf.push(byte | 0x80);
        }
    }
    fn bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
    fn id(&mut self, s: &str) {
        if let Some(u) = canonical_uuid(s) {
            self.u8(ID_UUID);
            self.buf.extend_from_slice(&u);
        } else if let Some(h) = lower_hex32(s) {
            self.u8(ID_HEX32);
            self.buf.extend_from_slice(&h);
        } else {
            self.u8(ID_STR);
            self.str(s);
        }
    }
}

// directory (version 2):
//   cursor:   varint version, 8 bytes view (little endian)
//   delta:    cursor, u8 full, varint n, n × unit, varint n, n × person
//   unit:     id, u8 kind (0 district … 3 grid), u8 0 | u8 1 + id parent, str name,
//             u8 0 | u8 1 + boundary
//   boundary: varint polygons, each: varint rings, each: varint points, each: zigzag varint
//             Δlat, Δlon in 1e-7 degrees from the previous point of the boundary (from 0, 0)
//   person:   id, str username, str display name, u8 role (0 worker … 3 admin), varint n,
//             n × id unit, opt_str phone
impl Writer {
    fn directory(&mut self, d: &DirectoryDelta) {
        self.varint(d.cursor.version);
        self.buf.extend_from_slice(&d.cursor.view.to_le_bytes());
        self.u8(u8::from(d.full));
        self.varint(d.units.len() as u64);
        for u in &d.units {
            self.id(&u.id);
            self.u8(unit_kind_code(u.kind));
            match &u.parent {
                None => self.u8(0),
                Some(p) => {
                    self.u8(1);
                    self.id(p);
                }
            }
            self.str(&u.name);
            match &u.boundary {
                None => self.u8(0),
                Some(b) => {
                    self.u8(1);
                    self.boundary(b);
                }
            }
        }
        self.varint(d.people.len() as u64);
        for p in &d.people {
            self.id(p.id.as_str());
            self.str(&p.username);
            self.str(&p.display_name);
            self.u8(role_code(p.role));
            self.varint(p.units.len() as u64);
            for u in &p.units {
                self.id(u);
            }
            self.opt_str(p.phone.as_deref());
        }
    }
    fn boundary(&mut self, b: &Boundary) {
        let (mut lat, mut lon) = (0i64, 0i64);
        self.varint(b.polygons.len() as u64);
        for poly in &b.polygons {
            self.varint(poly.rings.len() as u64);
            for ring in &poly.rings {
                self.varint(ring.len() as u64);
                for pt in ring {
                    let (a, o) = (i64::from(pt.lat_e7), i64::from(pt.lon_e7));
                    self.varint(zigzag(a - lat));
                    self.varint(zigzag(o - lon));
                    (lat, lon) = (a, o);
                }
            }
        }
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)).cast_unsigned()
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1).cast_signed() ^ -((v & 1).cast_signed())
}

fn unit_kind_code(k: UnitKind) -> u8 {
    match k {
        UnitKind::District => 0,
        UnitKind::Street => 1,
        UnitKind::Community => 2,
        UnitKind::Grid => 3,
    }
}

fn role_code(r: Role) -> u8 {
    match r {
        Role::Worker => 0,
        Role::Leader => 1,
        Role::Supervisor => 2,
        Role::Admin => 3,
    }
}

impl Reader<'_> {
    fn dir_cursor(&mut self) -> Result<DirCursor, WireError> {
        let version = self.varint()?;
        let view: [u8; 8] = self
            .take(8)?
            .try_into()
            .map_err(|_| corrupt("directory cursor"))?;
        Ok(DirCursor {
            version,
            view: u64::from_le_bytes(view),
        })
    }

    /// Reads a directory answer. Every entry is checked as the model checks it
    /// ([`gridwork_model::directory::check_unit`], `check_person`): a server is trusted to say
    /// who is who, not to send bytes that would break the device.
    fn directory(&mut self) -> Result<DirectoryDelta, WireError> {
        let cursor = self.dir_cursor()?;
        let full = match self.u8()? {
            0 => false,
            1 => true,
            t => return Err(corrupt(format!("bad bool {t}"))),
        };
        let n_units = self.count(4)?;
        if n_units > MAX_DIRECTORY_ENTRIES {
            return Err(corrupt("too many directory entries"));
        }
        let mut units = Vec::with_capacity(n_units);
        for _ in 0..n_units {
            let id = self.id()?;
            let kind = match self.u8()? {
                0 => UnitKind::District,
                1 => UnitKind::Street,
                2 => UnitKind::Community,
                3 => UnitKind::Grid,
                t => return Err(corrupt(format!("bad unit kind {t}"))),
            };
            let parent = match self.u8()? {
                0 => None,
                1 => Some(self.id()?),
                t => return Err(corrupt(format!("bad option tag {t}"))),
            };
            let name = self.str()?;
            let boundary = match self.u8()? {
                0 => None,
                1 => Some(self.boundary()?),
                t => return Err(corrupt(format!("bad option tag {t}"))),
            };
            let u = DirUnit {
                id,
                kind,
                parent,
                name,
                boundary,
            };
            directory::check_unit(&u).map_err(|e| corrupt(format!("directory unit: {e}")))?;
            units.push(u);
        }
        let n_people = self.count(6)?;
        if n_units + n_people > MAX_DIRECTORY_ENTRIES {
            return Err(corrupt("too many directory entries"));
        }
        let mut people = Vec::with_capacity(n_people);
        for _ in 0..n_people {
            let id = UserId::from(self.id()?);
            let username = self.str()?;
            let display_name = self.str()?;
            let role = match self.u8()? {
                0 => Role::Worker,
                1 => Role::Leader,
                2 => Role::Supervisor,
                3 => Role::Admin,
                t => return Err(corrupt(format!("bad role {t}"))),
            };
            let n = self.count(2)?;
            if n > directory::MAX_PERSON_UNITS {
                return Err(corrupt("too many units of a person"));
            }
            let mut p_units = Vec::with_capacity(n);
            for _ in 0..n {
                p_units.push(self.id()?);
            }
            let phone = self.opt_str()?;
            let p = Person {
                id,
                username,
                display_name,
                role,
                units: p_units,
                phone,
                in_scope: true,
            };
            directory::check_person(&p).map_err(|e| corrupt(format!("directory person: {e}")))?;
            people.push(p);
        }
        Ok(DirectoryDelta {
            cursor,
            full,
            units,
            people,
        })
    }

    fn boundary(&mut self) -> Result<Boundary, WireError> {
        let too_many = || corrupt("a boundary over its limits");
        let mut points_left = directory::MAX_BOUNDARY_POINTS;
        let mut rings_left = directory::MAX_BOUNDARY_RINGS;
        let (mut lat, mut lon) = (0i64, 0i64);
        let n_polys = self.count(1)?;
        if n_polys > rings_left {
            return Err(too_many());
        }
        let mut polygons = Vec::with_capacity(n_polys);
        for _ in 0..n_polys {
            let n_rings = self.count(1)?;
            rings_left = rings_left.checked_sub(n_rings).ok_or_else(too_many)?;
            let mut rings = Vec::with_capacity(n_rings);
            for _ in 0..n_rings {
                let n = self.count(2)?;
                points_left = points_left.checked_sub(n).ok_or_else(too_many)?;
                let mut ring = Vec::with_capacity(n);
                for _ in 0..n {
                    lat = lat.saturating_add(unzigzag(self.varint()?));
                    lon = lon.saturating_add(unzigzag(self.varint()?));
                    let lat_e7 = i32::try_from(lat).map_err(|_| too_many())?;
                    let lon_e7 = i32::try_from(lon).map_err(|_| too_many())?;
                    ring.push(Point { lat_e7, lon_e7 });
                }
                rings.push(ring);
            }
            polygons.push(Polygon { rings });
        }
        Ok(Boundary { polygons })
    }
}

/// The 16 bytes of `s` if it is a UUID in lowercase hyphenated form (so it round-trips exactly).
fn canonical_uuid(s: &str) -> Option<[u8; 16]> {
    if s.len() != 36 {
        return None;
    }
    let u = uuid::Uuid::try_parse(s).ok()?;
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    (u.hyphenated().encode_lower(&mut buf) == s).then(|| *u.as_bytes())
}

fn lower_hex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = (lower_hex_digit(pair[0])? << 4) | lower_hex_digit(pair[1])?;
    }
    Some(out)
}

fn lower_hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn to_lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.remaining() {
            return Err(corrupt(format!("truncated at byte {}", self.pos)));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn varint(&mut self) -> Result<u64, WireError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                return Err(corrupt("varint overflow"));
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(corrupt("varint overflow"))
    }
    fn varint_u32(&mut self) -> Result<u32, WireError> {
        u32::try_from(self.varint()?).map_err(|_| corrupt("integer out of range"))
    }
    /// A count of items each taking at least `min_item_bytes`: refused if the rest of the body
    /// cannot hold that many, so a forged count cannot make us allocate.
    fn count(&mut self, min_item_bytes: usize) -> Result<usize, WireError> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| corrupt("count out of range"))?;
        if n.saturating_mul(min_item_bytes) > self.remaining() {
            return Err(corrupt(format!(
                "count {n} exceeds the body at byte {}",
                self.pos
            )));
        }
        Ok(n)
    }
    fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| corrupt("length out of range"))?;
        self.take(n)
    }
    fn str(&mut self) -> Result<String, WireError> {
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| corrupt("invalid UTF-8"))
    }
    fn opt_str(&mut self) -> Result<Option<String>, WireError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.str()?)),
            t => Err(corrupt(format!("bad option tag {t}"))),
        }
    }
    fn id(&mut self) -> Result<String, WireError> {
        match self.u8()? {
            ID_STR => self.str(),
            ID_UUID => {
                let b: [u8; 16] = self.take(16)?.try_into().map_err(|_| corrupt("uuid"))?;
                Ok(uuid::Uuid::from_bytes(b).hyphenated().to_string())
            }
            ID_HEX32 => Ok(to_lower_hex(self.take(32)?)),
            t => Err(corrupt(format!("bad id tag {t}"))),
        }
    }
    /// Magic, then version. The version is checked before anything after it is read: a future
    /// version may change everything that follows.
    fn header(&mut self, magic: [u8; 4]) -> Result<u32, WireError> {
        let m = self.take(4).map_err(|_| corrupt("truncated header"))?;
        if m != magic.as_slice() {
            return Err(corrupt("not a Gridwork sync message (bad magic)"));
        }
        let version = self.varint_u32()?;
        if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&version) {
            return Err(WireError::UnsupportedVersion { got: version });
        }
        Ok(version)
    }
    fn finish(&self) -> Result<(), WireError> {
        if self.remaining() != 0 {
            return Err(corrupt(format!("{} trailing bytes", self.remaining())));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "01890a5d-ac96-774b-bcce-b302099a8057";
    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn sample_request() -> SyncRequest {
        SyncRequest {
            version: PROTOCOL_VERSION,
            cursor: Some("v1.42.deadbeef".into()),
            push: vec![
                PushDoc {
                    doc_id: DOC.into(),
                    changes: vec![vec![1, 2, 3], vec![], vec![0xff; 300]],
                },
                PushDoc {
                    doc_id: "not-a-uuid 网格".into(),
                    changes: vec![],
                },
            ],
            pull_limit: Some(500),
            directory: None,
        }
    }

    fn sample_response() -> SyncResponse {
        SyncResponse {
            version: PROTOCOL_VERSION,
            accepted: vec![ChangeRef {
                doc_id: DOC.into(),
                hash: HASH.into(),
            }],
            rejected: vec![Rejected {
                doc_id: DOC.into(),
                hash: "ABC".into(),
                field: Some("status".into()),
                reason: "a worker cannot approve a report".into(),
                code: RejectCode::Denied,
            }],
            changes: vec![
                PulledChange {
                    doc_id: DOC.into(),
                    bytes: vec![9; 10],
                },
                PulledChange {
                    doc_id: DOC.into(),
                    bytes: vec![8; 10],
                },
                PulledChange {
                    doc_id: "other".into(),
                    bytes: vec![7],
                },
                PulledChange {
                    doc_id: DOC.into(),
                    bytes: vec![],
                },
            ],
            cursor: "v1.99.deadbeef".into(),
            more: true,
            directory: None,
        }
    }

    #[test]
    fn request_round_trips() {
        let req = sample_request();
        let body = encode_request(&req);
        assert_eq!(decode_request(&body, REQUEST_LIMITS).unwrap(), req);
        let empty = SyncRequest {
            version: PROTOCOL_VERSION,
            ..Default::default()
        };
        assert_eq!(
            decode_request(&encode_request(&empty), REQUEST_LIMITS).unwrap(),
            empty
        );
    }

    #[test]
    fn response_round_trips() {
        let resp = sample_response();
        let body = encode_response(&resp);
        assert_eq!(decode_response(&body, RESPONSE_LIMITS).unwrap(), resp);
    }

    #[test]
    fn ids_round_trip_exactly() {
        for s in [
            DOC,
            "01890A5D-AC96-774B-BCCE-B302099A8057", // uppercase: kept as a string
            "01890a5dac96774bbcceb302099a8057",     // simple form: kept as a string
            HASH,
            &HASH.to_uppercase(),
            "",
            "g-001",
        ] {
            let mut w = Writer::with_capacity(0);
            w.id(s);
            let mut r = Reader::new(&w.buf);
            assert_eq!(r.id().unwrap(), s);
            r.finish().unwrap();
        }
        let mut w = Writer::with_capacity(0);
        w.id(DOC);
        assert_eq!(w.buf.len(), 17);
    }

    #[test]
    fn wrong_version_is_reported_as_such() {
        let req = SyncRequest {
            version: 7,
            ..sample_request()
        };
        assert_eq!(
            decode_request(&encode_request(&req), REQUEST_LIMITS),
            Err(WireError::UnsupportedVersion { got: 7 })
        );
        let resp = SyncResponse {
            version: 3,
            ..sample_response()
        };
        assert_eq!(
            decode_response(&encode_response(&resp), RESPONSE_LIMITS),
            Err(WireError::UnsupportedVersion { got: 3 })
        );
    }

    #[test]
    fn truncated_and_garbage_bodies_are_corrupt() {
        let body = encode_request(&sample_request());
        for cut in [0, 1, 4, body.len() / 2, body.len() - 1] {
            assert!(
                matches!(
                    decode_request(&body[..cut], REQUEST_LIMITS),
                    Err(WireError::Corrupt(_))
                ),
                "cut {cut}"
            );
        }
        assert!(matches!(
            decode_request(b"hello world", REQUEST_LIMITS),
            Err(WireError::Corrupt(_))
        ));
        // Valid zstd, but not a message.
        let not_msg = zstd::bulk::compress(b"GWSQ", 3).unwrap();
        assert!(matches!(
            decode_request(&not_msg, REQUEST_LIMITS),
            Err(WireError::Corrupt(_))
        ));
        // A response is not a request.
        let resp = encode_response(&sample_response());
        assert!(matches!(
            decode_request(&resp, REQUEST_LIMITS),
            Err(WireError::Corrupt(_))
        ));
        // Every truncation of the decompressed message is refused, never a panic.
        let raw = decompress(&body, REQUEST_LIMITS).unwrap();
        for cut in 0..raw.len() {
            let rebody = zstd::bulk::compress(&raw[..cut], 3).unwrap();
            assert!(
                decode_request(&rebody, REQUEST_LIMITS).is_err(),
                "cut {cut}"
            );
        }
        // Trailing bytes are refused.
        let mut long = raw.clone();
        long.push(0);
        let rebody = zstd::bulk::compress(&long, 3).unwrap();
        assert!(matches!(
            decode_request(&rebody, REQUEST_LIMITS),
            Err(WireError::Corrupt(_))
        ));
    }

    #[test]
    fn forged_counts_do_not_allocate() {
        let mut w = Writer::with_capacity(0);
        w.bytes_raw(REQUEST_MAGIC);
        w.varint(u64::from(PROTOCOL_VERSION));
        w.u8(0);
        w.u8(0);
        w.varint(u64::MAX >> 1); // number of documents
        let body = zstd::bulk::compress(&w.buf, 3).unwrap();
        assert!(matches!(
            decode_request(&body, REQUEST_LIMITS),
            Err(WireError::Corrupt(_))
        ));
    }

    #[test]
    fn size_limits_are_checked_before_and_while_decompressing() {
        let body = encode_request(&sample_request());
        let tight = Limits {
            max_compressed: body.len() - 1,
            max_decompressed: 1 << 20,
        };
        assert!(matches!(
            decode_request(&body, tight),
            Err(WireError::TooLarge {
                what: "compressed",
                ..
            })
        ));

        // A zstd bomb: 64 MiB of zeros compresses to a few KiB.
        let bomb = zstd::bulk::compress(&vec![0u8; 64 << 20], 3).unwrap();
        assert!(bomb.len() < 64 << 10);
        let limits = Limits {
            max_compressed: 1 << 20,
            max_decompressed: 1 << 20,
        };
        assert!(matches!(
            decode_request(&bomb, limits),
            Err(WireError::TooLarge {
                what: "decompressed",
                ..
            })
        ));
        // Exactly at the limit is fine.
        let exact = zstd::bulk::compress(&vec![0u8; 1 << 20], 3).unwrap();
        assert_eq!(decompress(&exact, limits).unwrap().len(), 1 << 20);
    }

    #[test]
    fn framing_overhead_is_small() {
        // 1,000 pulled changes of 200 random-ish bytes, one per document.
        let mut changes = Vec::new();
        let mut raw_concat = Vec::new();
        let mut x: u32 = 12345;
        for i in 0..1000u32 {
            let bytes: Vec<u8> = (0..200)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (x >> 16) as u8 & 0x3f
                })
                .collect();
            raw_concat.extend_from_slice(&bytes);
            let doc_id = uuid::Uuid::from_u128(u128::from(i) << 80 | 0x7000 << 64)
                .hyphenated()
                .to_string();
            changes.push(PulledChange { doc_id, bytes });
        }
        let resp = SyncResponse {
            version: PROTOCOL_VERSION,
            changes,
            cursor: "v1.1000.0".into(),
            ..Default::default()
        };
        let wire = encode_response(&resp).len() as f64;
        let floor = zstd::bulk::compress(&raw_concat, 3).unwrap().len() as f64;
        assert!(
            wire <= floor * 1.2,
            "wire {wire} vs zstd of raw changes {floor}"
        );
    }

    #[test]
    fn error_body_json() {
        let e = ErrorBody {
            code: ErrorCode::TooLarge,
            message: "too big".into(),
            retryable: false,
        };
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(
            s,
            r#"{"code":"too_large","message":"too big","retryable":false}"#
        );
        let back: ErrorBody =
            serde_json::from_str(r#"{"code":"brand_new","message":"m","retryable":true}"#).unwrap();
        assert_eq!(back.code, ErrorCode::Unknown);
    }

    fn sample_directory() -> DirectoryDelta {
        let square = serde_json::json!({"type": "Polygon", "coordinates": [
            [[117.0, 36.0], [117.01, 36.0], [117.01, 36.01], [117.0, 36.01], [117.0, 36.0]],
            [[117.004, 36.004], [117.006, 36.004], [117.006, 36.006]]]});
        DirectoryDelta {
            cursor: DirCursor {
                version: 77,
                view: 0xdead_beef_0bad_f00d,
            },
            full: true,
            units: vec![
                DirUnit {
                    id: "lixia".into(),
                    kind: UnitKind::District,
                    parent: None,
                    name: "历下区".into(),
                    boundary: None,
                },
                DirUnit {
                    id: "furong-01".into(),
                    kind: UnitKind::Grid,
                    parent: Some("furong".into()),
                    name: "芙蓉社区第一网格".into(),
                    boundary: Some(Boundary::from_geojson(&square).unwrap()),
                },
            ],
            people: vec![Person {
                id: UserId::from("01a22666-1593-7680-9cb4-18cf288682ab"),
                username: "liuyang".into(),
                display_name: "刘洋".into(),
                role: Role::Supervisor,
                units: vec!["quancheng".into()],
                phone: Some("+86 138 0013 8000".into()),
                in_scope: true,
            }],
        }
    }

    #[test]
    fn directory_round_trips_in_version_2() {
        let mut req = sample_request();
        req.directory = Some(DirCursor {
            version: u64::MAX,
            view: 1,
        });
        assert_eq!(
            decode_request(&encode_request(&req), REQUEST_LIMITS).unwrap(),
            req
        );
        let mut resp = sample_response();
        resp.directory = Some(sample_directory());
        assert_eq!(
            decode_response(&encode_response(&resp), RESPONSE_LIMITS).unwrap(),
            resp
        );
        // Unchanged costs one byte in each direction beyond the cursor.
        let mut same = sample_response();
        same.directory = None;
        let v1 = SyncResponse {
            version: 1,
            ..same.clone()
        };
        let raw_len = |b: &[u8]| decompress(b, RESPONSE_LIMITS).unwrap().len();
        assert_eq!(
            raw_len(&encode_response(&same)),
            raw_len(&encode_response(&v1)) + 1
        );
    }

    #[test]
    fn version_1_messages_are_still_read_and_written() {
        // A version 1 device sends no directory cursor; its request decodes, and the answer in
        // its version carries no directory byte (an old decoder would refuse trailing bytes).
        let v1 = SyncRequest {
            version: 1,
            ..sample_request()
        };
        let back = decode_request(&encode_request(&v1), REQUEST_LIMITS).unwrap();
        assert_eq!(back.version, 1);
        assert_eq!(back.directory, None);
        let mut resp = sample_response();
        resp.version = 1;
        resp.directory = Some(sample_directory());
        let back = decode_response(&encode_response(&resp), RESPONSE_LIMITS).unwrap();
        assert_eq!(back.directory, None, "never written in version 1");
        // Byte for byte what a version 1 build wrote: the v2 tail is absent.
        let raw = decompress(&encode_response(&resp), RESPONSE_LIMITS).unwrap();
        assert_eq!(raw.last(), Some(&1u8), "ends with the `more` flag");
        for v in [0u32, 3, 1000] {
            let bad = SyncRequest {
                version: v,
                ..Default::default()
            };
            assert!(matches!(
                decode_request(&encode_request(&bad), REQUEST_LIMITS),
                Err(WireError::UnsupportedVersion { got }) if got == v
            ));
        }
    }

    #[test]
    fn hostile_directories_are_refused() {
        let encode = |d: &DirectoryDelta| {
            let mut w = Writer::with_capacity(64);
            w.directory(d);
            w.buf
        };
        let decode = |b: &[u8]| {
            let mut r = Reader::new(b);
            let d = r.directory();
            d.and_then(|d| r.finish().map(|()| d))
        };
        let good = sample_directory();
        assert_eq!(decode(&encode(&good)).unwrap(), good);
        // Entries the model refuses: a name of control characters, a phone of letters, a
        // boundary on a community, ids with spaces.
        let mut bad = sample_directory();
        bad.units[0].name = "\u{7}".into();
        assert!(decode(&encode(&bad)).is_err());
        let mut bad = sample_directory();
        bad.people[0].phone = Some("call me".into());
        let e = decode(&encode(&bad)).unwrap_err().to_string();
        assert!(e.contains("phone") && !e.contains("call me"), "{e}");
        let mut bad = sample_directory();
        bad.units[0].boundary = bad.units[1].boundary.clone();
        assert!(decode(&encode(&bad)).is_err());
        let mut bad = sample_directory();
        bad.people[0].units = vec!["a b".into()];
        assert!(decode(&encode(&bad)).is_err());
        // Forged counts: a billion units, a boundary of a billion points; refused before any
        // allocation (the body cannot hold them).
        let mut w = Writer::with_capacity(16);
        w.varint(1);
        w.buf.extend_from_slice(&[0; 8]);
        w.u8(1);
        w.varint(1 << 30);
        assert!(decode(&w.buf).is_err());
        let mut w = Writer::with_capacity(16);
        w.varint(1);
        w.buf.extend_from_slice(&[0; 8]);
        w.u8(0);
        w.varint(1);
        w.id("g1");
        w.u8(3);
        w.u8(0);
        w.str("g");
        w.u8(1);
        w.varint(1);
        w.varint(1);
        w.varint(1 << 30);
        assert!(decode(&w.buf).is_err());
        // Point deltas that run off the i32 range.
        let mut w = Writer::with_capacity(16);
        w.varint(1);
        w.varint(1);
        w.varint(3);
        for _ in 0..3 {
            w.varint(zigzag(i64::from(i32::MAX)));
            w.varint(0);
        }
        assert!(Reader::new(&w.buf).boundary().is_err());
    }
}
