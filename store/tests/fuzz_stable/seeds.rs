//! Seed inputs for the fuzz targets, built from the real code paths: Automerge changes written by
//! a `Store` (what a phone pushes) plus hostile ones made by hand, sync bodies made by
//! `wire::encode_*`, and small photos made by the `image` encoders.
//!
//! `GRIDWORK_FUZZ_WRITE_SEEDS=1 cargo test --workspace --test fuzz_stable seeds` writes them into
//! `fuzz/corpus/<target>/seed-<name>` (see fuzz/README.md). `--workspace` keeps the feature
//! resolution of the main test build, so nothing is rebuilt.

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ScalarValue, ROOT};
use gridwork_model::*;
use gridwork_protocol::wire::{self, PushDoc, SyncRequest, SyncResponse};
use gridwork_store::*;

/// One seed: the target it feeds, a file name (without the `seed-` prefix) and the bytes.
/// `valid` says the input is well-formed, which the seeds test checks: an Automerge change that
/// Automerge parses (whatever the gate's limits then say), a sync body that decodes, a photo
/// whose header `photo::probe` reads.
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
    pub valid: bool,
}

fn seed(target: &'static str, name: impl Into<String>, bytes: Vec<u8>, valid: bool) -> Seed {
    Seed {
        target,
        name: name.into(),
        bytes,
        valid,
    }
}

/// Committed corpus files stay small.
pub const MAX_SEED_BYTES: usize = 64 << 10;

pub fn all() -> Vec<Seed> {
    let dir = tempfile::tempdir().expect("temp dir");
    let changes = store_changes(dir.path());
    let mut out = Vec::new();
    for (name, bytes) in &changes {
        out.push(seed("change_gate", name.clone(), bytes.clone(), true));
    }
    out.extend(hostile_changes());
    out.extend(wire_seeds(&changes));
    out.extend(photo_seeds());
    out
}

// ---------------------------------------------------------------------------------------------
// Automerge changes as the device writes them
// ---------------------------------------------------------------------------------------------

#[allow(clippy::unnecessary_wraps)] // fills the `location: Option<_>` field of records
fn location() -> Option<Location> {
    Some(Location {
        lat: 36.6512,
        lon: 117.1201,
        accuracy_m: 8.0,
        address: Some("历下区文化东路12号".into()),
    })
}

/// A well-formed 18-digit resident ID (made-up digits, valid check digit).
fn resident_id(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .bytes()
        .zip(W)
        .map(|(c, w)| u32::from(c - b'0') * w)
        .sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

/// Every change a worker's, a leader's and a supervisor's store put in their outboxes while
/// creating and editing one record of each kind, named `<kind>-<n>-<what>`.
fn store_changes(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut take = |store: &Store, labels: &[(&str, &str)]| {
        // The outbox holds every change of the store not yet acknowledged, oldest first.
        let docs = store.sync_side().outbox(usize::MAX).expect("outbox");
        let mut all: Vec<OutgoingChange> = docs.into_iter().flat_map(|d| d.changes).collect();
        all.sort_by_key(|c| c.seq);
        assert_eq!(all.len(), labels.len(), "one label per change");
        for (c, (kind, what)) in all.into_iter().zip(labels) {
            out.push((format!("{kind}-{what}"), c.bytes));
        }
    };

    let worker = Store::open(dir.join("w.db"), Identity::new("w1", Role::Worker)).expect("store");
    let report = worker
        .create_report(NewReport {
            grid: "furong-01".into(),
            category: ReportCategory::FireHazard,
            severity: 3,
            title: "楼道堆放杂物".into(),
            description: "三楼楼道堆放纸箱，堵塞消防通道".into(),
            location: location(),
            submit: true,
        })
        .expect("report");
    worker
        .update_report(
            &report,
            ReportPatch {
                title: Some("楼道堆放杂物（已拍照）".into()),
                severity: Some(4),
                location: Some(None),
                ..Default::default()
            },
        )
        .expect("edit report");
    worker.add_comment(&report, "物业已通知").expect("comment");
    let household = worker
        .create_household(NewHousehold {
            grid: "furong-01".into(),
            address: "文化东路12号3单元402".into(),
            members: vec![Member {
                name: "张桂兰".into(),
                id_number: Some(resident_id("37010219450101001")),
                phone: Some("13800000000".into()),
                birth_year: Some(1945),
                tags: vec![MemberTag::ElderlyLivingAlone],
            }],
            notes: "独居老人，子女在外地".into(),
        })
        .expect("household");
    worker
        .update_household(
            &household,
            HouseholdPatch {
                notes: Some("独居老人，子女在外地；每周探访".into()),
                ..Default::default()
            },
        )
        .expect("edit household");
    let visit = worker
        .create_visit(NewVisit {
            grid: "furong-01".into(),
            household_id: household.clone(),
            visit_type: VisitType::ElderlyCare,
            notes: "血压偏高，已提醒按时服药".into(),
            needs: vec![Need {
                tag: NeedTag::Medical,
                note: "需要上门量血压".into(),
                resolved: false,
            }],
            follow_up_due: Some("2030-01-15".into()),
            location: location(),
            visited_at: None,
        })
        .expect("visit");
    worker
        .update_visit(
            &visit,
            VisitPatch {
                needs: Some(vec![]),
                follow_up_due: Some(None),
                ..Default::default()
            },
        )
        .expect("edit visit");
    take(
        &worker,
        &[
            ("report", "create"),
            ("report", "submit"),
            ("report", "edit"),
            ("report", "comment"),
            ("household", "create"),
            ("household", "edit"),
            ("visit", "create"),
            ("visit", "edit"),
        ],
    );

    let leader =
        Store::open(dir.join("l.db"), Identity::new("l1", Role::Leader)).expect("leader store");
    let task = leader
        .create_task(NewTask {
            grid: "furong-01".into(),
            title: "复查消防通道".into(),
            description: "周五前复查三楼楼道".into(),
            assignees: vec!["w1".into()],
            due: Some("2030-01-10".into()),
            priority: Priority::High,
            linked_report: Some(report.clone()),
            linked_household: None,
        })
        .expect("task");
    leader
        .update_task(
            &task,
            TaskPatch {
                priority: Some(Priority::Urgent),
                assignees: Some(vec!["w1".into(), "w2".into()]),
                ..Default::default()
            },
        )
        .expect("edit task");
    leader
        .transition(
            &task,
            TaskStatus::Cancelled.as_str(),
            Some("重复任务".into()),
        )
        .expect("cancel task");
    take(
        &leader,
        &[("task", "create"), ("task", "edit"), ("task", "cancel")],
    );

    // A supervisor reviews the worker's report on their own device.
    let sup = Store::open(dir.join("s.db"), Identity::new("s1", Role::Supervisor))
        .expect("supervisor store");
    let (export, _) = worker.export_changes(0).expect("export");
    sup.import_changes(&export).expect("import");
    sup.transition(
        &report,
        ReportStatus::Returned.as_str(),
        Some("请补充照片".into()),
    )
    .expect("return report");
    take(&sup, &[("report", "review")]);
    out
}

// ---------------------------------------------------------------------------------------------
// Hostile changes, made by hand
// ---------------------------------------------------------------------------------------------

fn actor(n: u8) -> ActorId {
    ActorId::from([n; 16].as_slice())
}

fn last_change(doc: &mut AutoCommit) -> automerge::Change {
    doc.commit();
    let heads = doc.get_heads();
    doc.get_change_by_hash(&heads[0])
        .expect("head change")
        .clone()
}

fn record_root(doc: &mut AutoCommit, kind: &str) {
    doc.put(ROOT, "kind", kind).expect("put");
    doc.put(ROOT, "grid", "furong-01").expect("put");
    doc.put(ROOT, "author", "w1").expect("put");
    doc.put(ROOT, "created_at", 1_700_000_000_000i64)
        .expect("put");
}

fn hostile_changes() -> Vec<Seed> {
    let mut out = Vec::new();
    let mut push = |name: &str, mut change: automerge::Change| {
        let raw = change.raw_bytes().to_vec();
        // Automerge deflates large changes into a compressed chunk: a few hundred bytes that
        // expand to the whole change. Both forms reach the gate.
        let packed = change.bytes().into_owned();
        if packed != raw && packed.len() <= MAX_SEED_BYTES {
            out.push(seed(
                "change_gate",
                format!("{name}-deflated"),
                packed,
                true,
            ));
        }
        if raw.len() <= MAX_SEED_BYTES {
            out.push(seed("change_gate", name.to_owned(), raw, true));
        }
    };

    // Objects nested 64 deep below a report-shaped root.
    let mut doc = AutoCommit::new().with_actor(actor(1));
    record_root(&mut doc, "report");
    let mut obj = ROOT;
    for i in 0..64 {
        obj = if i % 2 == 0 {
            doc.put_object(&obj, "location", ObjType::Map).expect("map")
        } else {
            let list = doc.put_object(&obj, "photos", ObjType::List).expect("list");
            doc.insert_object(&list, 0, ObjType::Map).expect("map")
        };
    }
    push("hostile-deep-nesting", last_change(&mut doc));

    // A 20,000-character description (60 KB of UTF-8).
    let mut doc = AutoCommit::new().with_actor(actor(2));
    record_root(&mut doc, "report");
    let text = doc
        .put_object(ROOT, "description", ObjType::Text)
        .expect("text");
    doc.splice_text(&text, 0, 0, &"消".repeat(20_000))
        .expect("splice");
    push("hostile-long-text", last_change(&mut doc));

    // Many operations: 100,000 one-character inserts, then deleting them all (delete runs
    // encode in a few bytes each, so this change is tiny on the wire).
    let mut doc = AutoCommit::new().with_actor(actor(3));
    record_root(&mut doc, "visit");
    let notes = doc.put_object(ROOT, "notes", ObjType::Text).expect("text");
    doc.splice_text(&notes, 0, 0, &"a".repeat(100_000))
        .expect("splice");
    push("hostile-many-inserts", last_change(&mut doc));
    doc.splice_text(&notes, 0, 100_000, "").expect("delete");
    push("hostile-many-deletes", last_change(&mut doc));

    // Many objects: 3,000 maps in one list.
    let mut doc = AutoCommit::new().with_actor(actor(4));
    record_root(&mut doc, "household");
    let members = doc
        .put_object(ROOT, "members", ObjType::List)
        .expect("list");
    for i in 0..3_000 {
        let m = doc
            .insert_object(&members, i, ObjType::Map)
            .expect("member");
        doc.put(&m, "name", "x").expect("put");
    }
    push("hostile-many-objects", last_change(&mut doc));

    // Wrong types everywhere: status as a counter, grid as text, severity as bytes, a huge
    // timestamp, NaN coordinates, an unknown kind of value.
    let mut doc = AutoCommit::new().with_actor(actor(5));
    doc.put(ROOT, "kind", "report").expect("put");
    doc.put(ROOT, "status", ScalarValue::counter(i64::MAX))
        .expect("put");
    let g = doc.put_object(ROOT, "grid", ObjType::Text).expect("text");
    doc.splice_text(&g, 0, 0, "furong-01").expect("splice");
    doc.put(ROOT, "severity", ScalarValue::Bytes(vec![0xff; 32]))
        .expect("put");
    doc.put(ROOT, "created_at", ScalarValue::Timestamp(i64::MIN))
        .expect("put");
    let loc = doc.put_object(ROOT, "location", ObjType::Map).expect("map");
    doc.put(&loc, "lat", f64::NAN).expect("put");
    doc.put(&loc, "lon", f64::INFINITY).expect("put");
    doc.put(
        ROOT,
        "title",
        ScalarValue::Unknown {
            type_code: 14,
            bytes: vec![1, 2, 3],
        },
    )
    .expect("put");
    doc.put(ROOT, "transitions", ScalarValue::Null)
        .expect("put");
    push("hostile-wrong-types", last_change(&mut doc));

    // A change by a fourth actor that overwrites values written by three others (actor table
    // with several entries, and dependencies on all of them).
    let mut base = AutoCommit::new().with_actor(actor(6));
    record_root(&mut base, "task");
    base.put(ROOT, "status", "assigned").expect("put");
    base.commit();
    let mut merged = base.fork().with_actor(actor(7));
    for n in 8..11 {
        let mut other = base.fork().with_actor(actor(n));
        other.put(ROOT, "status", "accepted").expect("put");
        other.commit();
        merged.merge(&mut other).expect("merge");
    }
    merged.put(ROOT, "status", "verified").expect("put");
    push("hostile-many-actors", last_change(&mut merged));

    // Not a change at all, but close: a whole saved document; and a change with its checksum
    // broken, which `Change::try_from` accepts (it does not verify the checksum, while
    // `load`/`load_incremental` refuse the same bytes).
    let mut doc = AutoCommit::new().with_actor(actor(12));
    record_root(&mut doc, "report");
    out.push(seed(
        "change_gate",
        "hostile-saved-document",
        doc.save(),
        false,
    ));
    let mut broken = last_change(&mut doc).raw_bytes().to_vec();
    if broken.len() > 5 {
        broken[5] ^= 0xff;
    }
    out.push(seed("change_gate", "hostile-bad-checksum", broken, true));
    out
}

// ---------------------------------------------------------------------------------------------
// Sync bodies
// ---------------------------------------------------------------------------------------------

/// Each body twice: as sent (mode byte 0) and as its uncompressed framing (mode byte 1, which
/// the target compresses; see fuzz/src/targets.rs).
fn both_modes(target: &'static str, name: &str, body: &[u8], valid: bool, out: &mut Vec<Seed>) {
    let mut sent = vec![0u8];
    sent.extend_from_slice(body);
    let raw = wire::decompress(body, wire::RESPONSE_LIMITS).expect("own body decompresses");
    let mut framing = vec![1u8];
    framing.extend_from_slice(&raw);
    if sent.len() <= MAX_SEED_BYTES {
        out.push(seed(target, format!("{name}-zstd"), sent, valid));
    }
    if framing.len() <= MAX_SEED_BYTES {
        out.push(seed(target, format!("{name}-framing"), framing, valid));
    }
}

fn wire_seeds(changes: &[(String, Vec<u8>)]) -> Vec<Seed> {
    let mut out = Vec::new();
    let doc_a = "01890a5d-ac96-774b-bcce-b302099a8057";
    let doc_b = "01890a5d-ac96-774b-bcce-b302099a8058";
    let bytes: Vec<Vec<u8>> = changes.iter().map(|(_, b)| b.clone()).collect();
    let (first, rest) = bytes.split_at(bytes.len() / 2);

    let requests = [
        (
            "empty",
            SyncRequest {
                version: wire::PROTOCOL_VERSION,
                ..Default::default()
            },
        ),
        (
            "push",
            SyncRequest {
                version: wire::PROTOCOL_VERSION,
                cursor: Some("v1.42.deadbeef".into()),
                push: vec![
                    PushDoc {
                        doc_id: doc_a.into(),
                        changes: first.to_vec(),
                    },
                    PushDoc {
                        doc_id: doc_b.into(),
                        changes: rest.to_vec(),
                    },
                    // An id that is neither a UUID nor a hash travels as a string.
                    PushDoc {
                        doc_id: "not-a-uuid 网格".into(),
                        changes: vec![vec![]],
                    },
                ],
                pull_limit: Some(500),
                directory: None,
            },
        ),
        (
            "future-version",
            SyncRequest {
                version: wire::PROTOCOL_VERSION + 1,
                ..Default::default()
            },
        ),
        // Version 1 (no directory field) and version 2 with a directory cursor.
        (
            "v1",
            SyncRequest {
                version: 1,
                cursor: Some("v1.42.deadbeef".into()),
                ..Default::default()
            },
        ),
        (
            "directory-cursor",
            SyncRequest {
                version: wire::PROTOCOL_VERSION,
                directory: Some(wire::DirCursor {
                    version: 1 << 40,
                    view: 0x0123_4567_89ab_cdef,
                }),
                ..Default::default()
            },
        ),
    ];
    for (name, req) in &requests {
        both_modes(
            "wire_request",
            &format!("request-{name}"),
            &wire::encode_request(req),
            (wire::MIN_PROTOCOL_VERSION..=wire::PROTOCOL_VERSION).contains(&req.version),
            &mut out,
        );
    }

    let hash = |b: &[u8]| gridwork_photo::content_hash(b);
    let codes = [
        wire::RejectCode::Corrupt,
        wire::RejectCode::ActorNotRegistered,
        wire::RejectCode::WrongAuthor,
        wire::RejectCode::OutOfScope,
        wire::RejectCode::Denied,
        wire::RejectCode::InvalidRecord,
        wire::RejectCode::MissingDeps,
        wire::RejectCode::InvalidId,
        wire::RejectCode::TooLarge,
        wire::RejectCode::Quota,
        wire::RejectCode::Quarantined,
    ];
    let responses = [
        (
            "empty",
            SyncResponse {
                version: wire::PROTOCOL_VERSION,
                cursor: "v1.0.0".into(),
                ..Default::default()
            },
        ),
        (
            "full",
            SyncResponse {
                version: wire::PROTOCOL_VERSION,
                accepted: first
                    .iter()
                    .map(|b| wire::ChangeRef {
                        doc_id: doc_a.into(),
                        hash: hash(b),
                    })
                    .collect(),
                rejected: codes
                    .iter()
                    .map(|&code| wire::Rejected {
                        doc_id: doc_b.into(),
                        hash: "ABC".into(),
                        field: Some("status".into()),
                        reason: "a worker cannot approve a report".into(),
                        code,
                    })
                    .collect(),
                changes: bytes
                    .iter()
                    .enumerate()
                    .map(|(i, b)| wire::PulledChange {
                        doc_id: if i % 3 == 0 { doc_a } else { doc_b }.into(),
                        bytes: b.clone(),
                    })
                    .collect(),
                cursor: "v1.99.deadbeef".into(),
                more: true,
                directory: None,
            },
        ),
        ("directory", directory_response()),
    ];
    for (name, resp) in &responses {
        both_modes(
            "wire_response",
            &format!("response-{name}"),
            &wire::encode_response(resp),
            true,
            &mut out,
        );
    }
    out
}

/// A version 2 answer with a directory: units (a grid with a boundary with a hole) and people.
fn directory_response() -> SyncResponse {
    use gridwork_model::directory::{Boundary, DirUnit, Person, UnitKind};
    let boundary = Boundary::from_geojson(&serde_json::json!({"type": "Polygon", "coordinates": [
        [[117.016, 36.662], [117.024, 36.662], [117.024, 36.668], [117.016, 36.668]],
        [[117.019, 36.664], [117.021, 36.664], [117.021, 36.666]]]}))
    .expect("a valid boundary");
    SyncResponse {
        version: wire::PROTOCOL_VERSION,
        cursor: "v1.7.all".into(),
        directory: Some(wire::DirectoryDelta {
            cursor: wire::DirCursor {
                version: 12,
                view: 99,
            },
            full: true,
            units: vec![
                DirUnit {
                    id: "furong".into(),
                    kind: UnitKind::Community,
                    parent: Some("quancheng".into()),
                    name: "芙蓉社区".into(),
                    boundary: None,
                },
                DirUnit {
                    id: "furong-01".into(),
                    kind: UnitKind::Grid,
                    parent: Some("furong".into()),
                    name: "芙蓉社区第一网格".into(),
                    boundary: Some(boundary),
                },
            ],
            people: vec![Person {
                id: "01a22666-1593-7680-9cb4-18cf288682ab".into(),
                username: "leader".into(),
                display_name: "王芳".into(),
                role: gridwork_model::Role::Leader,
                units: vec!["furong".into()],
                phone: Some("0531-8601-2345".into()),
                in_scope: true,
            }],
        }),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Photos
// ---------------------------------------------------------------------------------------------

fn pixels(w: u32, h: u32, channels: u32) -> Vec<u8> {
    (0..w * h * channels)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn encode(f: impl FnOnce(&mut Vec<u8>) -> image::ImageResult<()>) -> Vec<u8> {
    let mut out = Vec::new();
    f(&mut out).expect("encode");
    out
}

/// A JPEG with an EXIF APP1 segment (orientation 6) right after SOI.
fn with_exif(jpeg: &[u8]) -> Vec<u8> {
    let mut tiff = b"MM\0*\0\0\0\x08\0\x01".to_vec();
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]);
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The 1×1 WebP images browsers use for feature detection (lossy, lossless, lossy with alpha in
/// an extended VP8X container, animated).
const WEBP_PROBES: [(&str, &str); 4] = [
    ("lossy", "UklGRiIAAABXRUJQVlA4IBYAAAAwAQCdASoBAAEADsD+JaQAA3AAAAAA"),
    ("lossless", "UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA=="),
    (
        "alpha",
        "UklGRkoAAABXRUJQVlA4WAoAAAAQAAAAAAAAAAAAQUxQSAwAAAARBxAR/Q9ERP8DAABWUDggGAAAABQBAJ0BKgEAAQAAAP4AAA3AAP7mtQAAAA==",
    ),
    (
        "animated",
        "UklGRlIAAABXRUJQVlA4WAoAAAASAAAAAAAAAAAAQU5JTQYAAAD/////AABBTk1GJgAAAAAAAAAAAAAAAAAAAGQAAABWUDhMDQAAAC8AAAAQBxAREYiI/gcA",
    ),
];

fn base64(s: &str) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = A.iter().position(|&a| a == c).expect("base64 digit") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn photo_seeds() -> Vec<Seed> {
    use image::codecs::jpeg::JpegEncoder;
    use image::codecs::png::PngEncoder;
    use image::codecs::webp::WebPEncoder;
    use image::{ExtendedColorType as C, ImageEncoder};

    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            "jpeg-rgb-17x9".into(),
            encode(|o| {
                JpegEncoder::new_with_quality(o, 80).encode(&pixels(17, 9, 3), 17, 9, C::Rgb8)
            }),
        ),
        (
            "jpeg-gray-8x8".into(),
            encode(|o| JpegEncoder::new_with_quality(o, 50).encode(&pixels(8, 8, 1), 8, 8, C::L8)),
        ),
        (
            "png-rgba-5x7".into(),
            encode(|o| PngEncoder::new(o).write_image(&pixels(5, 7, 4), 5, 7, C::Rgba8)),
        ),
        (
            "png-gray16-3x3".into(),
            encode(|o| PngEncoder::new(o).write_image(&pixels(3, 3, 2), 3, 3, C::L16)),
        ),
        (
            "webp-lossless-6x4".into(),
            encode(|o| WebPEncoder::new_lossless(o).encode(&pixels(6, 4, 3), 6, 4, C::Rgb8)),
        ),
    ];
    let exif = with_exif(&files[0].1);
    files.push(("jpeg-exif-17x9".into(), exif));
    for (name, b64) in WEBP_PROBES {
        files.push((format!("webp-{name}-1x1"), base64(b64)));
    }

    let mut out = Vec::new();
    for (name, bytes) in &files {
        out.push(seed("photo_header", name.clone(), bytes.clone(), true));
        // Truncated halfway, and cut just before the end marker.
        out.push(seed(
            "photo_header",
            format!("{name}-half"),
            bytes[..bytes.len() / 2].to_vec(),
            false,
        ));
    }
    let jpeg = &files[0].1;
    out.push(seed(
        "photo_header",
        "jpeg-no-eoi",
        jpeg[..jpeg.len() - 2].to_vec(),
        false,
    ));
    let png = &files[2].1;
    out.push(seed(
        "photo_header",
        "png-no-iend",
        png[..png.len() - 12].to_vec(),
        false,
    ));
    // Headers that declare huge sides (a pixel bomb is refused by the budget, not the parser).
    let mut huge = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
    huge.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    let n = (huge.len() - 8) as u32;
    huge[4..8].copy_from_slice(&n.to_le_bytes());
    out.push(seed("photo_header", "webp-vp8x-huge", huge, true));
    // Other formats' magic numbers: refused as unsupported.
    for (name, magic) in [
        ("gif", &b"GIF89a\x01\0\x01\0\0\0\0"[..]),
        ("tiff", b"II*\0\x08\0\0\0"),
        ("heic", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"),
    ] {
        out.push(seed(
            "photo_header",
            format!("other-{name}"),
            magic.to_vec(),
            false,
        ));
    }
    out
}
