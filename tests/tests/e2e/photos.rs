//! Photos end to end: upload (resumable, thumbnails first), thumbnails pulled with the record,
//! full images on demand, scope enforced on download.

use std::io::{Read, Write};
use std::net::TcpStream;

use gridwork_client::*;
use gridwork_model::*;
use gridwork_photo as photo;
use gridwork_tests::*;

/// A photo-like JPEG (noise, so it does not compress to nothing) larger than one upload chunk.
fn photo(w: u32, h: u32) -> Vec<u8> {
    let mut x: u32 = 2_463_534_242;
    let img = image::RgbImage::from_fn(w, h, |i, j| {
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
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode(&img, w, h, image::ExtendedColorType::Rgb8)
        .expect("encode");
    out
}

/// Send the first `n` bytes of a blob by hand, as a phone whose signal dropped mid-upload.
fn partial_upload(addr: std::net::SocketAddr, token: &str, hash: &str, bytes: &[u8], n: usize) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let head = format!(
        "PUT /v1/blobs/{hash} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Range: bytes 0-{}/{}\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n",
        n - 1,
        bytes.len()
    );
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(&bytes[..n]).expect("write body");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 202"),
        "partial upload answered: {}",
        answer.lines().next().unwrap_or("")
    );
}

#[test]
fn photos_travel_by_hash_resume_and_stay_in_scope() {
    let server = Server::start(&[]);
    let worker = Device::sign_in(&server.url, "worker");
    let sup = Device::sign_in(&server.url, "supervisor");
    let other = Device::sign_in(&server.url, "worker2");
    let grid = worker.grids()[0].clone();
    let id = worker.report(&grid, "井盖破损");
    let p = worker
        .store
        .add_photo(&id, &photo(2600, 1900), Some("北侧".into()))
        .expect("photo");
    let full = worker.store.photo_bytes(&p.hash).expect("full");
    assert!(
        full.len() > photo_sync_chunk() * 2,
        "the photo spans several upload chunks ({} bytes)",
        full.len()
    );

    // The signal drops after the first chunk of the full image reached the server...
    let token = session_token(&worker);
    partial_upload(server.addr, &token, &p.hash, &full, photo_sync_chunk());
    // ...and the next sync resumes it (the thumbnail goes first).
    let r = worker.sync_ok();
    assert_eq!(r.photos_uploaded, 2);
    assert_eq!(r.photos_pending, 0);
    assert!(worker
        .store
        .sync_side()
        .pending_uploads()
        .expect("pending")
        .is_empty());
    assert_eq!(
        worker.sync_ok().photos_uploaded,
        0,
        "nothing is uploaded twice"
    );

    // The supervisor pulls the record with its thumbnail; the full image comes on demand.
    let r = sup.sync_ok();
    assert!(r.changed_ids.contains(&id));
    assert_eq!(r.photos_downloaded, 1);
    let thumb = sup
        .store
        .photo_bytes(&p.thumb_hash)
        .expect("thumbnail pulled with the record");
    assert_eq!(
        thumb,
        worker.store.photo_bytes(&p.thumb_hash).expect("thumb")
    );
    assert!(matches!(
        sup.store.photo_bytes(&p.hash),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        sup.store.fetch_photo(&p.hash).expect("fetch full"),
        full,
        "the resumed upload arrived whole"
    );

    // A worker of another grid may not fetch it, even knowing the hash.
    other.sync_ok();
    assert!(matches!(
        other.store.fetch_photo(&p.hash),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn photo_uploads_survive_a_faulty_network() {
    let server = Server::start(&[]);
    let proxy = FaultProxy::start(server.addr, 5);
    let worker = Device::sign_in(&proxy.url, "worker");
    let grid = worker.grids()[0].clone();
    let id = worker.report(&grid, "违章搭建");
    let p = worker
        .store
        .add_photo(&id, &photo(2400, 1800), None)
        .expect("photo");
    proxy.set_plan(FaultPlan::all(0.12));
    let mut ok = false;
    for _ in 0..30 {
        if worker.sync().is_ok()
            && worker
                .store
                .sync_side()
                .pending_uploads()
                .expect("pending")
                .is_empty()
        {
            ok = true;
            break;
        }
    }
    proxy.heal();
    if !ok {
        worker.sync_ok();
    }
    assert!(worker
        .store
        .sync_side()
        .pending_uploads()
        .expect("pending")
        .is_empty());
    let sup = Device::sign_in(&server.url, "supervisor");
    sup.sync_ok();
    let full = sup.store.fetch_photo(&p.hash).expect("fetch");
    assert_eq!(
        photo::content_hash(&full),
        p.hash,
        "the server holds exactly the device's bytes"
    );
    assert!(
        proxy.stats().faults() > 0,
        "faults were injected: {}",
        proxy.stats().summary()
    );
}

fn photo_sync_chunk() -> usize {
    gridwork_client::sync_photos::UPLOAD_CHUNK
}

/// The device token, read from the store (tests only).
fn session_token(d: &Device) -> String {
    let raw = d
        .store
        .sync_side()
        .get_meta("session")
        .expect("meta")
        .expect("session");
    let v: serde_json::Value = serde_json::from_str(&raw).expect("json");
    v["token"].as_str().expect("token").to_owned()
}
