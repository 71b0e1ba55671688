//! The attacker's toolkit for the trust-boundary tests (issue 8).
//!
//! The attacks of issue 8 came from a signed-in worker's account with hand-made Automerge changes
//! that are valid at the byte level and pass the sign-in, actor and scope checks. This module
//! builds exactly that, without `gridwork_store::Store` (which refuses to build them):
//!
//! - [`Attacker`]: a device session made by hand. It signs in as a demo user with its own actor
//!   id (registered at sign-in), commits Automerge changes with that actor and the user's id as
//!   the change message (as the core writes it), and speaks `POST /v1/sync` directly
//!   (`gridwork_protocol::wire`, zstd, bearer token).
//! - [`fill_sequence`]: an encoder for changes too large to build with Automerge in the test
//!   process (20 million inserted characters or nulls, run-length encoded: a few bytes per column).
//!   `tests/attack/encoder.rs` checks it against Automerge's own decoder.
//! - [`peak_rss`] / [`Guard`]: the server process's peak resident memory (`VmHWM`), checked against
//!   a bound after every attack and written to `target/attack/peak-rss.json`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{ActorId, AutomergeError, Change, ObjId, ObjType, ReadDoc, Value, ROOT};
use gridwork_model::record::{AnyRecord, Household, Report, ReportCategory, ReportStatus};
use gridwork_protocol::wire::{
    self, PushDoc, RejectCode, Rejected, SignInRequest, SignInResponse, SyncRequest, SyncResponse,
};

pub use automerge::Automerge;

use crate::Server;

/// Address space the attacked server may map (`RLIMIT_AS`). Generous for a server that bounds its
/// work; an unbounded allocation hits it and aborts the server instead of exhausting this machine.
pub const ADDRESS_SPACE_CAP: u64 = 3 << 30;

/// Peak resident memory (`VmHWM`) the server may reach during any attack: 400 MiB. A fresh debug
/// server with `--demo` peaks around 70 MiB (seeding hashes five passwords with argon2, 19 MiB
/// each). Before the fix, 200 parallel wrong sign-ins reached 3.8 GB (under the cap: aborted on a
/// failed allocation), a 252-byte request for a million-character text 640 MiB, and a 1 KB request
/// for 20 million characters tried to allocate 2.9 GB at once (aborted).
pub const RSS_BOUND: u64 = 400 << 20;

/// Strings the tests send inside refused values. No refusal reason or error message may contain
/// one of them (refusals name the field, never the value).
pub const CANARIES: &[&str] = &[
    "王秘密",
    "aaaaaaaaaaaaaaaaaaaaaaaa",
    "poison/id with space",
    "已篡改",
    "wrong-password-",
];

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A new document id as devices make them (UUIDv7).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A blocking HTTP client for loopback: no automatic decompression (sync bodies are decoded by
/// the wire codec, with limits).
pub fn http_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(120))
        .build()
        .expect("http client")
}

// ------------------------------------------------------------------------------------------------
// The attacker's device session
// ------------------------------------------------------------------------------------------------

/// A signed-in device session made by hand: its own actor id registered at sign-in, raw sync
/// requests.
pub struct Attacker {
    pub url: String,
    pub username: String,
    pub user_id: String,
    pub role: String,
    pub grids: Vec<String>,
    pub token: String,
    pub actor: ActorId,
    /// Whole-request timeout of sync calls: a server that does not answer by then fails the test.
    pub timeout: Duration,
    client: reqwest::blocking::Client,
}

impl Attacker {
    /// Signs in at `url` as the demo user `username` (password `demo-<username>`), registering a
    /// new random actor id for this session.
    pub fn sign_in(url: &str, username: &str) -> Attacker {
        let actor = ActorId::random();
        let client = http_client();
        let body = serde_json::to_vec(&SignInRequest {
            username: username.to_owned(),
            password: format!("demo-{username}"),
            device_name: format!("{username}'s hand-made client"),
            actors: vec![actor.to_hex_string()],
        })
        .expect("sign-in json");
        let r = client
            .post(format!("{url}/v1/sign-in"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .unwrap_or_else(|e| panic!("sign in {username}: {e}"));
        let status = r.status();
        let bytes = r.bytes().expect("sign-in answer");
        assert_eq!(
            status.as_u16(),
            200,
            "sign in {username}: {}",
            String::from_utf8_lossy(&bytes)
        );
        let resp: SignInResponse = serde_json::from_slice(&bytes).expect("sign-in answer decodes");
        Attacker {
            url: url.to_owned(),
            username: username.to_owned(),
            user_id: resp.user_id,
            role: resp.role,
            grids: resp.scope_grids,
            token: resp.token,
            actor,
            timeout: Duration::from_secs(60),
            client,
        }
    }

    pub fn http(&self) -> &reqwest::blocking::Client {
        &self.client
    }

    /// `POST /v1/sync` with an already encoded (zstd) body.
    pub fn post_sync(&self, body: Vec<u8>) -> Result<SyncResponse, String> {
        let r = self
            .client
            .post(format!("{}/v1/sync", self.url))
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, wire::SYNC_CONTENT_TYPE)
            .header(
                reqwest::header::CONTENT_ENCODING,
                wire::SYNC_CONTENT_ENCODING,
            )
            .timeout(self.timeout)
            .body(body)
            .send()
            .map_err(|e| format!("the sync request failed: {e:?}"))?;
        let status = r.status();
        let bytes = r
            .bytes()
            .map_err(|e| format!("the sync answer broke off: {e:?}"))?;
        if status.as_u16() != 200 {
            return Err(format!(
                "sync answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            ));
        }
        wire::decode_response(&bytes, wire::RESPONSE_LIMITS)
            .map_err(|e| format!("the sync answer does not decode: {e}"))
    }

    pub fn sync(&self, req: &SyncRequest) -> Result<SyncResponse, String> {
        self.post_sync(wire::encode_request(req))
    }

    /// Pushes `docs` (and pulls at most one change).
    pub fn push(&self, docs: Vec<PushDoc>) -> Result<SyncResponse, String> {
        self.sync(&push_request(docs))
    }

    /// Pushes one change to one document.
    pub fn push_one(&self, doc_id: &str, change: Vec<u8>) -> Result<SyncResponse, String> {
        self.push(vec![PushDoc {
            doc_id: doc_id.to_owned(),
            changes: vec![change],
        }])
    }

    /// Every change of `doc_id` this session can pull (not those it pushed itself).
    pub fn pull_changes(&self, doc_id: &str) -> Vec<Change> {
        let mut cursor = None;
        let mut out = Vec::new();
        loop {
            let resp = self
                .sync(&SyncRequest {
                    version: wire::PROTOCOL_VERSION,
                    cursor: cursor.take(),
                    push: vec![],
                    pull_limit: None,
                    directory: None,
                })
                .unwrap_or_else(|e| panic!("pull as {}: {e}", self.username));
            for c in resp.changes {
                if c.doc_id == doc_id {
                    out.push(Change::try_from(&c.bytes[..]).expect("a pulled change parses"));
                }
            }
            cursor = Some(resp.cursor);
            if !resp.more {
                return out;
            }
        }
    }

    /// The server's copy of a document made by others, loaded from a pull, with this session's
    /// actor set for the changes to come.
    pub fn fetch_doc(&self, doc_id: &str) -> Automerge {
        let changes = self.pull_changes(doc_id);
        assert!(!changes.is_empty(), "{doc_id} was not pulled");
        let mut doc = Automerge::new();
        doc.apply_changes(changes).expect("pulled changes apply");
        doc.set_actor(self.actor.clone());
        doc
    }

    /// An empty document that this session writes to.
    pub fn new_doc(&self) -> Automerge {
        let mut doc = Automerge::new();
        doc.set_actor(self.actor.clone());
        doc
    }

    /// Commits the operations `f` makes as one change of this session (its actor, the user's id
    /// as the message, as the core commits) and returns the change's raw bytes.
    pub fn change(
        &self,
        doc: &mut Automerge,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<(), AutomergeError>,
    ) -> Vec<u8> {
        doc.set_actor(self.actor.clone());
        let mut tx = doc.transaction();
        f(&mut tx).expect("build the change");
        let (hash, _) = tx.commit_with(
            CommitOptions::default()
                .with_message(self.user_id.clone())
                .with_time(now_ms()),
        );
        assert!(hash.is_some(), "the change has operations");
        doc.get_last_local_change()
            .expect("the change just made")
            .raw_bytes()
            .to_vec()
    }

    /// A new document holding `rec` (written with core's record layout), and its one change.
    pub fn create(&self, rec: &AnyRecord) -> (Automerge, Vec<u8>) {
        let json = rec.to_json().expect("record json");
        self.create_json(&json)
    }

    /// A new document whose root is `json` (text keys as Automerge text), and its one change.
    pub fn create_json(&self, json: &serde_json::Value) -> (Automerge, Vec<u8>) {
        let mut doc = self.new_doc();
        let change = self.change(&mut doc, |tx| {
            gridwork_model::doc::write_new(tx, json).expect("write record");
            Ok(())
        });
        (doc, change)
    }

    /// Creates a valid record and pushes it; panics unless it is accepted.
    pub fn create_accepted(&self, rec: &AnyRecord) -> (String, Automerge) {
        let id = new_id();
        let (doc, change) = self.create(rec);
        let resp = self
            .push_one(&id, change)
            .unwrap_or_else(|e| panic!("push a valid record: {e}"));
        assert_accepted(&resp, &id);
        (id, doc)
    }
}

/// A sync request that pushes `docs` and pulls at most one change.
pub fn push_request(docs: Vec<PushDoc>) -> SyncRequest {
    SyncRequest {
        version: wire::PROTOCOL_VERSION,
        cursor: None,
        push: docs,
        pull_limit: Some(1),
        directory: None,
    }
}

// ------------------------------------------------------------------------------------------------
// Records and their layout
// ------------------------------------------------------------------------------------------------

/// A valid draft report by `author` in `grid`.
pub fn draft_report(grid: &str, author: &str, title: &str) -> AnyRecord {
    AnyRecord::Report(Report {
        grid: grid.into(),
        category: ReportCategory::Other,
        severity: 2,
        title: title.into(),
        description: "楼道堆物".into(),
        location: None,
        photos: vec![],
        status: ReportStatus::Draft,
        transitions: vec![],
        comments: vec![],
        author: author.into(),
        created_at: gridwork_model::Millis(now_ms()),
    })
}

/// A valid household by `author` in `grid`.
pub fn household(grid: &str, author: &str) -> AnyRecord {
    AnyRecord::Household(Household {
        grid: grid.into(),
        address: "芙蓉街1号".into(),
        members: vec![],
        notes: "初次登记".into(),
        author: author.into(),
        created_at: gridwork_model::Millis(now_ms()),
    })
}

/// The object at a root key (a text, list or map).
pub fn obj_at(doc: &Automerge, key: &str) -> ObjId {
    match doc.get(ROOT, key).expect("read the document") {
        Some((Value::Object(_), id)) => id,
        other => panic!("{key} is not an object: {other:?}"),
    }
}

/// The object at `key` of the map `obj`.
pub fn obj_in(doc: &Automerge, obj: &ObjId, key: &str) -> ObjId {
    match doc.get(obj, key).expect("read the document") {
        Some((Value::Object(_), id)) => id,
        other => panic!("{key} is not an object: {other:?}"),
    }
}

/// The map at index `i` of the list `list`.
pub fn item(doc: &Automerge, list: &ObjId, i: usize) -> ObjId {
    match doc.get(list, i).expect("read the document") {
        Some((Value::Object(ObjType::Map), id)) => id,
        other => panic!("item {i} is not a map: {other:?}"),
    }
}

/// Puts `depth` maps nested in one another at `key` of `parent`, each holding the next under the
/// key `a` (built iteratively: a recursive builder is what the attack is about).
pub fn nest_maps(
    tx: &mut Transaction<'_>,
    parent: &ObjId,
    key: &str,
    depth: usize,
) -> Result<(), AutomergeError> {
    let mut obj = tx.put_object(parent, key, ObjType::Map)?;
    for _ in 1..depth {
        obj = tx.put_object(&obj, "a", ObjType::Map)?;
    }
    Ok(())
}

/// Appends a transition map `{from, to, by, role, at, comment: null}` to the list `transitions`.
pub fn append_transition(
    tx: &mut Transaction<'_>,
    transitions: &ObjId,
    from: &str,
    to: &str,
    by: &str,
    role: &str,
) -> Result<(), AutomergeError> {
    let n = tx.length(transitions);
    let t = tx.insert_object(transitions, n, ObjType::Map)?;
    tx.put(&t, "from", from)?;
    tx.put(&t, "to", to)?;
    tx.put(&t, "by", by)?;
    tx.put(&t, "role", role)?;
    tx.put(&t, "at", now_ms())?;
    tx.put(&t, "comment", automerge::ScalarValue::Null)?;
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Refusals
// ------------------------------------------------------------------------------------------------

/// Panics unless every change pushed for `doc_id` was accepted.
pub fn assert_accepted(resp: &SyncResponse, doc_id: &str) {
    let refused: Vec<&Rejected> = resp
        .rejected
        .iter()
        .filter(|r| r.doc_id == doc_id)
        .collect();
    assert!(
        refused.is_empty(),
        "{doc_id}: refused {:?}",
        refused
            .iter()
            .map(|r| (r.code, &r.field, &r.reason))
            .collect::<Vec<_>>()
    );
    assert!(
        resp.accepted.iter().any(|a| a.doc_id == doc_id),
        "{doc_id}: neither accepted nor refused"
    );
}

/// Panics unless the changes pushed for `doc_id` were refused, none accepted, the first refusal
/// with `code` and a field in `fields` (`None`: no field), and no reason quotes a sent value.
pub fn assert_refused(
    resp: &SyncResponse,
    doc_id: &str,
    code: RejectCode,
    fields: Option<&[&str]>,
) {
    assert_reasons_quote_nothing(resp, &[]);
    let accepted: Vec<_> = resp
        .accepted
        .iter()
        .filter(|a| a.doc_id == doc_id)
        .collect();
    let refused: Vec<&Rejected> = resp
        .rejected
        .iter()
        .filter(|r| r.doc_id == doc_id)
        .collect();
    assert!(
        accepted.is_empty(),
        "{}: the attack was accepted ({} change(s)); refused: {:?}",
        short(doc_id),
        accepted.len(),
        refused
            .iter()
            .map(|r| (r.code, &r.field, &r.reason))
            .collect::<Vec<_>>()
    );
    let first = refused
        .first()
        .unwrap_or_else(|| panic!("{}: neither accepted nor refused", short(doc_id)));
    let field_ok = match fields {
        None => first.field.is_none(),
        Some(f) => first.field.as_deref().is_some_and(|x| f.contains(&x)),
    };
    assert!(
        first.code == code && field_ok,
        "{}: refused with code {:?} and field {:?}, expected code {code:?} with field {}; reason: {}",
        short(doc_id),
        first.code,
        first.field,
        match fields {
            None => "none".to_owned(),
            Some(f) => f.join(" or "),
        },
        first.reason
    );
    assert!(!first.reason.trim().is_empty(), "a refusal says why");
}

/// Panics if a refusal reason contains one of [`CANARIES`] or of `sent`.
pub fn assert_reasons_quote_nothing(resp: &SyncResponse, sent: &[&str]) {
    for r in &resp.rejected {
        for s in CANARIES.iter().chain(sent) {
            assert!(
                !r.reason.contains(s),
                "the refusal reason quotes a sent value ({s}): {}",
                r.reason
            );
        }
    }
}

/// Panics if an error body quotes a sent value.
pub fn assert_body_quotes_nothing(body: &str, sent: &[&str]) {
    for s in CANARIES.iter().chain(sent) {
        assert!(
            !body.contains(s),
            "the error message quotes a sent value ({s}): {body}"
        );
    }
}

fn short(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_owned()
    }
}

// ------------------------------------------------------------------------------------------------
// A change encoder for changes too large to build with Automerge here
// ------------------------------------------------------------------------------------------------

/// What [`fill_sequence`] inserts.
#[derive(Debug, Clone, Copy)]
pub enum Fill {
    /// One character per operation (a text).
    Char(char),
    /// `null` list items: no value bytes at all, every column one run.
    Null,
}

fn uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn sleb(out: &mut Vec<u8>, mut v: i64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0);
        if done {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

#[derive(Debug, Clone, Copy)]
enum Cell {
    Null,
    U(u64),
    I(i64),
}

/// Automerge's run-length encoding: `n > 0` then a value repeated `n` times, `-n` then `n` literal
/// values, `0` then a count of nulls.
fn rle(runs: &[(Cell, u64)]) -> Vec<u8> {
    fn flush(out: &mut Vec<u8>, lit: &mut Vec<Cell>) {
        if lit.is_empty() {
            return;
        }
        sleb(out, -(lit.len() as i64));
        for c in lit.drain(..) {
            put(out, c);
        }
    }
    fn put(out: &mut Vec<u8>, c: Cell) {
        match c {
            Cell::U(v) => uleb(out, v),
            Cell::I(v) => sleb(out, v),
            Cell::Null => unreachable!("nulls are runs"),
        }
    }
    let mut out = Vec::new();
    let mut lit = Vec::new();
    for &(c, n) in runs {
        match (c, n) {
            (_, 0) => {}
            (Cell::Null, n) => {
                flush(&mut out, &mut lit);
                sleb(&mut out, 0);
                uleb(&mut out, n);
            }
            (c, 1) => lit.push(c),
            (c, n) => {
                flush(&mut out, &mut lit);
                sleb(&mut out, n as i64);
                put(&mut out, c);
            }
        }
    }
    flush(&mut out, &mut lit);
    out
}

/// One change, by `actor` with the message `user_id`, on top of `doc`'s heads, inserting `n`
/// items (`fill`) at the start of the sequence (text or list) `obj`. Encoded by hand, column by
/// column, in Automerge's change-chunk format: every column is a handful of runs, so 20 million
/// inserted nulls take about a hundred bytes, and 20 million characters 20 MB of value bytes that
/// zstd sends in about a kilobyte.
pub fn fill_sequence(
    doc: &Automerge,
    actor: &ActorId,
    user_id: &str,
    obj: &ObjId,
    n: u64,
    fill: Fill,
) -> Vec<u8> {
    assert!(n >= 3, "the run layout below needs at least 3 items");
    let changes = doc.get_changes(&[]);
    let seq = changes.iter().filter(|c| c.actor_id() == actor).count() as u64 + 1;
    let start_op = changes
        .iter()
        .map(automerge::Change::max_op)
        .max()
        .unwrap_or(0)
        + 1;
    let mut deps = doc.get_heads();
    deps.sort();
    let (obj_ctr, obj_actor) = match obj {
        ObjId::Id(ctr, a, _) => (*ctr, a.clone()),
        ObjId::Root => panic!("the root is a map, not a sequence"),
    };
    let mut others: Vec<ActorId> = Vec::new();
    let obj_actor_idx = if &obj_actor == actor {
        0
    } else {
        others.push(obj_actor);
        1
    };

    // Column specs: (column id << 4) | type; types 0 group, 1 actor, 2 uLEB, 3 delta, 4 boolean,
    // 6 value metadata, 7 value.
    let mut cols: Vec<(u32, Vec<u8>)> = vec![
        (0x01, rle(&[(Cell::U(obj_actor_idx), n)])),
        (0x02, rle(&[(Cell::U(obj_ctr), n)])),
        // key: the first insert goes after HEAD (no actor, counter 0), each next after the one
        // before it (this change's actor, the previous op's counter).
        (0x11, rle(&[(Cell::Null, 1), (Cell::U(0), n - 1)])),
        (
            0x13,
            rle(&[
                (Cell::I(0), 1),
                (Cell::I(start_op as i64), 1),
                (Cell::I(1), n - 2),
            ]),
        ),
        // insert = true for every op: 0 false, then n true.
        (0x34, {
            let mut b = Vec::new();
            uleb(&mut b, 0);
            uleb(&mut b, n);
            b
        }),
        // action 1 = set
        (0x42, rle(&[(Cell::U(1), n)])),
    ];
    match fill {
        Fill::Char(c) => {
            let mut s = [0u8; 4];
            let s = c.encode_utf8(&mut s).as_bytes().to_vec();
            // value metadata: length << 4 | 6 (UTF-8 string)
            cols.push((0x56, rle(&[(Cell::U(((s.len() as u64) << 4) | 6), n)])));
            let mut raw = Vec::with_capacity(s.len() * n as usize);
            for _ in 0..n {
                raw.extend_from_slice(&s);
            }
            cols.push((0x57, raw));
        }
        Fill::Null => cols.push((0x56, rle(&[(Cell::U(0), n)]))),
    }
    // no predecessors
    cols.push((0x70, rle(&[(Cell::U(0), n)])));

    let mut body = Vec::new();
    uleb(&mut body, deps.len() as u64);
    for d in &deps {
        body.extend_from_slice(&d.0);
    }
    let a = actor.to_bytes();
    uleb(&mut body, a.len() as u64);
    body.extend_from_slice(a);
    uleb(&mut body, seq);
    uleb(&mut body, start_op);
    sleb(&mut body, now_ms());
    uleb(&mut body, user_id.len() as u64);
    body.extend_from_slice(user_id.as_bytes());
    uleb(&mut body, others.len() as u64);
    for o in &others {
        let b = o.to_bytes();
        uleb(&mut body, b.len() as u64);
        body.extend_from_slice(b);
    }
    uleb(&mut body, cols.len() as u64);
    for (spec, data) in &cols {
        uleb(&mut body, u64::from(*spec));
        uleb(&mut body, data.len() as u64);
    }
    for (_, data) in &cols {
        body.extend_from_slice(data);
    }
    change_chunk(1, &body)
}

/// Recomputes the checksum of a change chunk whose body was edited in place (same length).
pub fn rechecksum(chunk: &mut [u8]) {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(&chunk[8..]);
    chunk[4..8].copy_from_slice(&hash[..4]);
}

/// A chunk: magic bytes, the first 4 bytes of the SHA-256 of (type, length, body), type, length,
/// body.
fn change_chunk(chunk_type: u8, body: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    let mut head = vec![chunk_type];
    uleb(&mut head, body.len() as u64);
    let mut h = sha2::Sha256::new();
    h.update(&head);
    h.update(body);
    let hash = h.finalize();
    let mut out = Vec::with_capacity(body.len() + 16);
    out.extend_from_slice(&[0x85, 0x6f, 0x4a, 0x83]);
    out.extend_from_slice(&hash[..4]);
    out.extend_from_slice(&head);
    out.extend_from_slice(body);
    out
}

/// The compressed form of a change (Automerge chunk type 2, what `Change::bytes()` gives for a
/// change over 256 bytes): the same header checksum, type 2, and the change's body DEFLATEd.
/// Built here rather than through Automerge, which would first decode every operation of the
/// change (seconds for 20 million); `tests/attack/encoder.rs` checks that both agree.
pub fn compressed_form(raw: &[u8]) -> Vec<u8> {
    assert!(raw.len() > 9 && raw[8] == 1, "a change chunk");
    let mut i = 9;
    let mut len: u64 = 0;
    let mut shift = 0;
    loop {
        let b = raw[i];
        len |= u64::from(b & 0x7f) << shift;
        shift += 7;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    let body = &raw[i..];
    assert_eq!(body.len() as u64, len, "one chunk");
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(body).expect("deflate");
    let deflated = enc.finish().expect("deflate");
    let mut out = Vec::with_capacity(deflated.len() + 16);
    out.extend_from_slice(&raw[..8]); // magic bytes and checksum
    out.push(2);
    uleb(&mut out, deflated.len() as u64);
    out.extend_from_slice(&deflated);
    out
}

// ------------------------------------------------------------------------------------------------
// The server process: alive, healthy, peak memory
// ------------------------------------------------------------------------------------------------

/// Peak resident set size of process `pid` (`VmHWM` of `/proc/<pid>/status`), in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// `target/` of this build (the test executable is `target/<profile>/deps/<name>`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .nth(3)
        .expect("the test executable lives in target/<profile>/deps")
        .to_path_buf()
}

fn attack_dir() -> PathBuf {
    let d = target_dir().join("attack");
    std::fs::create_dir_all(&d).expect("create target/attack");
    d
}

/// A lock held by the tests whose attack may make an unfixed server allocate gigabytes, so that
/// two of them never run at once on this shared machine (nextest runs tests in parallel
/// processes).
pub fn heavy_lock() -> std::fs::File {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(attack_dir().join("heavy.lock"))
        .expect("open the lock file");
    f.lock().expect("take the lock");
    f
}

/// Records the server's peak RSS after the attacks of one test: `target/attack/peak-rss.json`
/// (attack class → the highest peak of its tests, bytes) and `peak-rss-tests.json` (`class/test`
/// → bytes). Prints the table to stderr.
pub fn record_peak_rss(class: &str, test: &str, bytes: u64) {
    let dir = attack_dir();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("peak-rss.lock"))
        .expect("open the lock file");
    lock.lock().expect("lock peak-rss");
    let tests_path = dir.join("peak-rss-tests.json");
    let mut tests: BTreeMap<String, u64> = std::fs::read(&tests_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    tests.insert(format!("{class}/{test}"), bytes);
    let mut classes: BTreeMap<String, u64> = BTreeMap::new();
    for (k, v) in &tests {
        let c = k.split('/').next().unwrap_or(k).to_owned();
        let e = classes.entry(c).or_insert(0);
        *e = (*e).max(*v);
    }
    let write = |name: &str, map: &BTreeMap<String, u64>| {
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec_pretty(map).expect("json")).expect("write");
        std::fs::rename(&tmp, dir.join(name)).expect("rename");
    };
    write("peak-rss-tests.json", &tests);
    write("peak-rss.json", &classes);
    let mut table = String::from("\nserver peak RSS (VmHWM) after each attack:\n");
    for (k, v) in &tests {
        table.push_str(&format!("  {k:<58} {:>8.1} MiB\n", mib(*v)));
    }
    let _ = std::io::stderr().write_all(table.as_bytes());
    let _ = lock.unlock();
}

/// The server under attack, with the checks every attack ends with: the process is alive, it
/// answers `/healthz`, and its peak RSS is under [`RSS_BOUND`].
pub struct Guard {
    pub server: Server,
    pub class: &'static str,
    client: reqwest::blocking::Client,
}

impl Guard {
    /// A `--demo` server with the address-space cap.
    pub fn start(class: &'static str, extra: &[&str]) -> Guard {
        Guard {
            server: Server::start_capped(extra, ADDRESS_SPACE_CAP),
            class,
            client: http_client(),
        }
    }

    pub fn url(&self) -> String {
        self.server.url.clone()
    }

    /// Panics (saying how the process ended) if the server died.
    pub fn assert_alive(&mut self, after: &str) {
        if let Some(status) = self.server.exit_status() {
            panic!("the server died after {after}: {status}");
        }
    }

    /// Turns a failed request into a panic that says whether the server died.
    pub fn must<T>(&mut self, what: &str, r: Result<T, String>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => {
                // Give a dying process a moment to be reaped.
                std::thread::sleep(Duration::from_millis(200));
                match self.server.exit_status() {
                    Some(status) => panic!("{what}: the server died ({status}): {e}"),
                    None => panic!("{what}: {e}"),
                }
            }
        }
    }

    /// Alive, healthy, and under the memory bound; records the peak as `class/test`.
    pub fn check(&mut self, test: &str) -> u64 {
        self.assert_alive(test);
        let r = self
            .client
            .get(format!("{}/healthz", self.server.url))
            .timeout(Duration::from_secs(10))
            .send();
        match r {
            Ok(r) => assert_eq!(r.status().as_u16(), 200, "/healthz after {test}"),
            Err(e) => {
                self.assert_alive(test);
                panic!("/healthz after {test}: {e}");
            }
        }
        let pid = self.server.pid().expect("server running");
        let peak = peak_rss(pid).expect("read VmHWM of the server");
        record_peak_rss(self.class, test, peak);
        assert!(
            peak < RSS_BOUND,
            "{test}: the server's peak RSS reached {:.1} MiB (bound {:.0} MiB)",
            mib(peak),
            mib(RSS_BOUND)
        );
        peak
    }
}

/// Bytes in MiB, for messages.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

/// Times `f` and prints how long it took (to stderr; never asserted: speed is for benchmarks).
pub fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let v = f();
    eprintln!("{what}: {:.2} s", t.elapsed().as_secs_f64());
    v
}
