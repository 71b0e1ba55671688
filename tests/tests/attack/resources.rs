//! Class 6, resources: requests that are each valid but together exhaust the server, and blobs
//! read through a reference the reader wrote themselves.
//!
//! - 200 parallel sign-ins with wrong passwords: each hashes with argon2 (19 MiB); the landed
//!   server ran them all at once (3.8 GB).
//! - one push of 90,000 new reports: the landed server took them all in one request.
//! - partial uploads to hashes nobody will finish: kept on disk forever.
//! - a photo of another grid: the landed server served a blob to anyone whose scope held *a*
//!   record referencing it, including a record the reader had just written.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use gridwork_protocol::gate;
use gridwork_protocol::wire::{encode_request, PushDoc, RejectCode};
use gridwork_tests::attack::*;
use gridwork_tests::{snapshot, Device};

const CLASS: &str = "resources";

#[derive(Debug)]
enum Answer {
    Http {
        status: u16,
        retry_after: Option<u64>,
        body: String,
    },
    Failed(String),
}

fn sign_in_body(username: &str, password: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "username": username,
        "password": password,
        "device_name": "flood",
        "actors": [],
    }))
    .unwrap()
}

fn sign_in(client: &reqwest::blocking::Client, url: &str, body: Vec<u8>) -> Answer {
    match client
        .post(format!("{url}/v1/sign-in"))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
    {
        Ok(r) => {
            let status = r.status().as_u16();
            let retry_after = r
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            Answer::Http {
                status,
                retry_after,
                body: r.text().unwrap_or_default(),
            }
        }
        Err(e) => Answer::Failed(format!("{e:?}")),
    }
}

#[test]
fn a_flood_of_wrong_sign_ins_is_rate_limited_in_bounded_memory() {
    const N: usize = 200;
    let _heavy = heavy_lock();
    let mut g = Guard::start(CLASS, &[]);
    let url = g.url();
    let client = http_client();
    let start = Arc::new(Barrier::new(N + 1));
    let flood: Vec<_> = (0..N)
        .map(|i| {
            let (client, url, start) = (client.clone(), url.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                sign_in(
                    &client,
                    &url,
                    sign_in_body("worker", &format!("wrong-password-{i}")),
                )
            })
        })
        .collect();

    // Meanwhile, another user signs in correctly from another client address (127.0.0.2), as a
    // device retries: after Retry-After on 429/503.
    let honest = {
        let (url, start) = (url.clone(), start.clone());
        std::thread::spawn(move || -> Result<usize, String> {
            let client = reqwest::blocking::Client::builder()
                .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client");
            start.wait();
            std::thread::sleep(Duration::from_millis(50));
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut attempts = 0;
            loop {
                attempts += 1;
                match sign_in(&client, &url, sign_in_body("supervisor", "demo-supervisor")) {
                    Answer::Http { status: 200, .. } => return Ok(attempts),
                    Answer::Http {
                        status: 429 | 503,
                        retry_after,
                        ..
                    } if Instant::now() < deadline => std::thread::sleep(Duration::from_secs(
                        retry_after.unwrap_or(1).clamp(1, 5),
                    )),
                    other => return Err(format!("{other:?}")),
                }
            }
        })
    };

    let answers: Vec<Answer> = flood.into_iter().map(|h| h.join().unwrap()).collect();
    let honest = honest.join().unwrap();

    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    let mut limited = 0;
    for a in &answers {
        match a {
            Answer::Http {
                status,
                retry_after,
                body,
            } => {
                *by_status.entry(*status).or_default() += 1;
                assert_body_quotes_nothing(body, &[]);
                match status {
                    401 => {}
                    429 | 503 => {
                        assert!(
                            retry_after.is_some(),
                            "{status} without a Retry-After in seconds"
                        );
                        let code = if *status == 429 {
                            "rate_limited"
                        } else {
                            "unavailable"
                        };
                        assert!(body.contains(code), "{status}: {body}");
                        limited += 1;
                    }
                    s => panic!("a wrong password answered {s}: {body}"),
                }
            }
            Answer::Failed(e) => {
                g.assert_alive("the sign-in flood");
                panic!("a sign-in got no answer: {e}");
            }
        }
    }
    eprintln!("{N} wrong sign-ins answered: {by_status:?}; honest sign-in: {honest:?}");
    let peak = g.check("sign_in_flood_200");
    eprintln!("peak RSS after the flood: {:.1} MiB", mib(peak));
    assert!(
        limited >= N / 2,
        "only {limited} of {N} wrong sign-ins were rate limited: {by_status:?}"
    );
    let attempts = honest.unwrap_or_else(|e| panic!("the honest sign-in failed: {e}"));
    eprintln!("the honest sign-in succeeded after {attempts} attempt(s)");
}

/// `created_at` of the mass-pushed reports, to count them on a device.
const MASS_CREATED_AT: i64 = 1_700_000_000_123;

/// `n` distinct valid draft reports, one small change each. Committing 90,000 documents with
/// Automerge here takes minutes, so one is committed and copied: the two characters of its title
/// are replaced by others of the same UTF-8 length and the chunk's checksum recomputed (the
/// change hash differs per copy). The first copies are checked with Automerge.
fn many_reports(att: &Attacker, n: usize) -> Vec<PushDoc> {
    let mut rec = draft_report("furong-01", &att.user_id, "一一")
        .to_json()
        .unwrap();
    rec["description"] = serde_json::json!("");
    rec["created_at"] = serde_json::json!(MASS_CREATED_AT);
    let (_, template) = att.create_json(&rec);
    let needle = "一一".as_bytes();
    let at = template
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the title's bytes in the change");
    let docs: Vec<PushDoc> = (0..n)
        .map(|i| {
            let title: String = [0x4e00 + (i / 20_000) as u32, 0x4e00 + (i % 20_000) as u32]
                .iter()
                .map(|&c| char::from_u32(c).unwrap())
                .collect();
            let mut change = template.clone();
            change[at..at + needle.len()].copy_from_slice(title.as_bytes());
            rechecksum(&mut change);
            PushDoc {
                doc_id: new_id(),
                changes: vec![change],
            }
        })
        .collect();
    let mut hashes = std::collections::HashSet::new();
    for d in docs.iter().take(3).chain(docs.last()) {
        let c = automerge::Change::try_from(&d.changes[0][..]).expect("a copy parses");
        assert!(hashes.insert(c.hash()), "copies differ");
        let mut doc = Automerge::new();
        doc.apply_changes([c]).unwrap();
        let json = gridwork_model::doc::read_json(&doc);
        gridwork_model::AnyRecord::from_json(json)
            .expect("a copy is a report")
            .validate()
            .expect("a copy is valid");
    }
    docs
}

#[test]
fn one_push_of_90000_new_reports_is_capped_by_the_new_document_quota() {
    const N: usize = 90_000;
    let _heavy = heavy_lock();
    let mut g = Guard::start(CLASS, &[]);
    let mut att = Attacker::sign_in(&g.url(), "worker");
    att.timeout = Duration::from_secs(120);
    let docs = timed("build 90,000 reports", || many_reports(&att, N));
    let body = encode_request(&push_request(docs));
    let limits = gridwork_protocol::wire::REQUEST_LIMITS;
    let raw = gridwork_protocol::wire::decompress(
        &body,
        gridwork_protocol::wire::Limits {
            max_compressed: usize::MAX,
            max_decompressed: 1 << 30,
        },
    )
    .expect("decompress")
    .len();
    eprintln!(
        "{N} reports: {raw} bytes of request, {} bytes on the wire",
        body.len()
    );
    assert!(
        body.len() <= limits.max_compressed && raw <= limits.max_decompressed,
        "the attack must fit one request ({raw} bytes, limit {})",
        limits.max_decompressed
    );
    let resp = timed("push", || att.post_sync(body));
    let resp = g.must("push 90,000 reports", resp);
    assert_reasons_quote_nothing(&resp, &[]);

    let accepted: std::collections::HashSet<&str> =
        resp.accepted.iter().map(|a| a.doc_id.as_str()).collect();
    let mut quota = 0;
    let mut other = std::collections::BTreeMap::<String, usize>::new();
    for r in &resp.rejected {
        if r.code == RejectCode::Quota && r.field.is_none() {
            quota += 1;
        } else {
            *other
                .entry(format!("{:?} {:?}", r.code, r.field))
                .or_default() += 1;
        }
    }
    eprintln!(
        "accepted {}, refused quota {quota}, other refusals {other:?}",
        accepted.len()
    );
    assert!(
        accepted.len() <= gate::MAX_PUSH_NEW_DOCS,
        "{} new documents accepted in one request (quota {})",
        accepted.len(),
        gate::MAX_PUSH_NEW_DOCS
    );
    assert!(
        other.is_empty(),
        "refused otherwise than by quota: {other:?}"
    );
    assert_eq!(accepted.len() + quota, N, "every pushed report is answered");
    assert!(
        RejectCode::Quota.retryable(),
        "quota refusals are retryable"
    );
    g.check("new_docs_90000");

    let sup = Device::sign_in(&g.url(), "supervisor");
    sup.sync_ok();
    let held = snapshot(&sup.store, None)
        .values()
        .filter(|(_, s)| s.created_at == gridwork_model::Millis(MASS_CREATED_AT))
        .count();
    assert!(
        held <= gate::MAX_PUSH_NEW_DOCS,
        "a supervisor device pulled {held} of them"
    );
    assert_eq!(held, accepted.len());
}

fn random_hash() -> String {
    use rand::Rng as _;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `HEAD /v1/blobs/{hash}`: (status, Upload-Offset).
fn head(att: &Attacker, hash: &str) -> (u16, Option<u64>) {
    let r = att
        .http()
        .head(format!("{}/v1/blobs/{hash}", att.url))
        .bearer_auth(&att.token)
        .send()
        .expect("HEAD answered");
    let offset = r
        .headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (r.status().as_u16(), offset)
}

fn bytes_under(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => bytes_under(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[test]
fn partial_uploads_are_purged_after_their_ttl() {
    let mut g = Guard::start(CLASS, &["--partial-upload-ttl-secs", "1"]);
    let att = Attacker::sign_in(&g.url(), "worker");
    let (hash, thumb) = (random_hash(), random_hash());
    // A record referencing the hash, so that the upload itself is allowed.
    let mut rec = draft_report("furong-01", &att.user_id, "半截上传")
        .to_json()
        .unwrap();
    rec["photos"] = serde_json::json!([{
        "hash": hash, "thumb_hash": thumb, "width": 640, "height": 480, "bytes": 1000,
        "taken_at": null, "caption": null,
    }]);
    let (_, change) = att.create_json(&rec);
    let id = new_id();
    let resp = g.must("push the record", att.push_one(&id, change));
    assert_accepted(&resp, &id);

    let r = att
        .http()
        .put(format!("{}/v1/blobs/{hash}?record={id}", att.url))
        .bearer_auth(&att.token)
        .header(reqwest::header::CONTENT_RANGE, "bytes 0-99/1000")
        .body(vec![7u8; 100])
        .send()
        .expect("PUT answered");
    let status = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    assert_eq!(status, 202, "a partial chunk: {text}");
    assert_eq!(head(&att, &hash), (404, Some(100)), "the chunk is held");

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match head(&att, &hash) {
            (404, Some(0)) => break,
            (404, Some(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(250));
            }
            other => panic!("the partial upload was not purged: HEAD answers {other:?}"),
        }
    }
    assert_eq!(
        bytes_under(&g.server.data_dir().join("blobs-partial")),
        0,
        "the purged bytes are gone from disk"
    );
    g.check("partial_upload_ttl");
}

/// A small photo-like JPEG.
fn jpeg() -> Vec<u8> {
    let mut x: u32 = 2_463_534_242;
    let img = image::RgbImage::from_fn(640, 480, |i, j| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        image::Rgb([
            (i % 256) as u8 ^ (x as u8 & 0x3f),
            (j % 256) as u8,
            (x >> 8) as u8,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode(&img, 640, 480, image::ExtendedColorType::Rgb8)
        .expect("encode");
    out
}

fn get_blob(att: &Attacker, hash: &str) -> (u16, String) {
    let r = att
        .http()
        .get(format!("{}/v1/blobs/{hash}", att.url))
        .bearer_auth(&att.token)
        .send()
        .expect("GET answered");
    let status = r.status().as_u16();
    let body = if status == 200 {
        String::new()
    } else {
        r.text().unwrap_or_default()
    };
    (status, body)
}

#[test]
fn a_photo_of_another_grid_is_not_served_to_a_worker_who_references_its_hash() {
    let mut g = Guard::start(CLASS, &[]);
    let url = g.url();
    let worker = Device::sign_in(&url, "worker");
    let id = worker.report("furong-01", "带照片的上报");
    let photo = worker.store.add_photo(&id, &jpeg(), None).expect("photo");
    let r = worker.sync_ok();
    assert!(r.photos_uploaded >= 1, "{r:?}");
    let sup = Attacker::sign_in(&url, "supervisor");
    assert_eq!(get_blob(&sup, &photo.hash).0, 200, "served in scope");

    // worker2 (baotu-01) writes a record of their own that references the photo's hashes.
    let thief = Attacker::sign_in(&url, "worker2");
    let mut rec = draft_report("baotu-01", &thief.user_id, "借用照片")
        .to_json()
        .unwrap();
    rec["photos"] = serde_json::to_value([&photo]).unwrap();
    let (_, change) = thief.create_json(&rec);
    let their = new_id();
    let resp = g.must(
        "push a record referencing the photo",
        thief.push_one(&their, change),
    );
    assert_reasons_quote_nothing(&resp, &[]);
    eprintln!(
        "the referencing record: accepted {}, refused {:?}",
        resp.accepted.len(),
        resp.rejected
            .iter()
            .map(|r| (r.code, &r.field))
            .collect::<Vec<_>>()
    );
    for h in [&photo.hash, &photo.thumb_hash] {
        let (status, body) = get_blob(&thief, h);
        assert_eq!(status, 404, "another grid's photo was served");
        assert!(
            !body.contains(h.as_str()),
            "the 404 quotes the hash: {body}"
        );
    }
    g.check("foreign_blob_by_reference");
}
