//! Photos through the store: attach, read back, dedupe, remove, bad input, sync hooks.
mod common;
use common::*;
use gridwork_model::*;
use gridwork_store::*;

fn jpeg(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, seed])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode(&img, w, h, image::ExtendedColorType::Rgb8)
        .expect("encode");
    out
}

fn blob_count(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .expect("open")
        .query_row(
            "SELECT count(*) FROM blobs WHERE bytes IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("count")
}

#[test]
fn attach_read_back_dedupe_and_remove() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("a.db");
    let s = Store::open(&path, worker()).expect("open");
    let id = s.create_report(report("G1", "路面塌陷")).expect("create");
    let src = jpeg(3000, 2000, 7);
    let p = s.add_photo(&id, &src, Some("东侧".into())).expect("add");
    assert_eq!((p.width, p.height), (2048, 1365));
    let full = s.photo_bytes(&p.hash).expect("full");
    let thumb = s.photo_bytes(&p.thumb_hash).expect("thumb");
    assert_eq!(&full[..2], &[0xFF, 0xD8]);
    assert_eq!(gridwork_photo::content_hash(&full), p.hash);
    assert!(thumb.len() < full.len());
    assert!(
        !full.windows(4).any(|w| w == b"Exif"),
        "no metadata in the stored file"
    );
    let AnyRecord::Report(r) = s.get(&id).expect("get").record else {
        panic!()
    };
    assert_eq!(r.photos, vec![p.clone()]);
    // the same photo again, even on another record, is stored once
    let id2 = s.create_report(report("G1", "另一处")).expect("create");
    let p2 = s.add_photo(&id2, &src, None).expect("add again");
    assert_eq!(p2.hash, p.hash);
    s.add_photo(&id, &src, None)
        .expect("add to the same record again");
    let AnyRecord::Report(r) = s.get(&id).expect("get").record else {
        panic!()
    };
    assert_eq!(r.photos.len(), 1, "no duplicate reference");
    assert_eq!(blob_count(&path), 2, "one full image and one thumbnail");
    // uploads: thumbnails first
    let up = s.sync_side().pending_uploads().expect("uploads");
    assert_eq!(up.len(), 2);
    assert!(up[0].thumb && !up[1].thumb);
    s.sync_side().mark_uploaded(&up[0].hash).expect("mark");
    assert_eq!(s.sync_side().pending_uploads().expect("uploads").len(), 1);
    // removing is an ordinary synced edit
    let pending = s.pending_count().expect("pending");
    s.remove_photo(&id, &p.hash).expect("remove");
    assert_eq!(s.pending_count().expect("pending"), pending + 1);
    let AnyRecord::Report(r) = s.get(&id).expect("get").record else {
        panic!()
    };
    assert!(r.photos.is_empty());
    assert!(matches!(
        s.remove_photo(&id, &p.hash),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn bad_photos_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("a.db");
    let s = Store::open(&path, worker()).expect("open");
    let id = s.create_report(report("G1", "标题")).expect("create");
    let before = s.get(&id).expect("get");
    let good = jpeg(64, 64, 1);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![], "invalid"),
        (good[..good.len() / 2].to_vec(), "invalid"),
        (
            (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect(),
            "invalid",
        ),
        (vec![0u8; 60 * 1024 * 1024], "large"),
    ];
    for (bytes, kind) in cases {
        let err = s.add_photo(&id, &bytes, None).unwrap_err();
        match kind {
            "large" => assert!(matches!(err, Error::TooLarge(_)), "{err:?}"),
            _ => assert!(matches!(err, Error::InvalidImage(_)), "{err:?}"),
        }
    }
    assert_eq!(s.get(&id).expect("get"), before);
    assert_eq!(blob_count(&path), 0);
    let hh = s
        .create_household(NewHousehold {
            grid: "G1".into(),
            address: "某路1号".into(),
            members: vec![],
            notes: String::new(),
        })
        .expect("household");
    assert!(matches!(
        s.add_photo(&hh, &good, None),
        Err(Error::InvalidInput { .. })
    ));
    assert!(
        matches!(s.add_photo(&id, &good, Some("长".repeat(600))), Err(Error::InvalidInput { ref field, .. }) if field == "caption")
    );
    assert!(matches!(
        s.photo_bytes("../etc/passwd"),
        Err(Error::InvalidInput { .. })
    ));
}

#[test]
fn pulled_records_announce_missing_thumbnails() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = store_in(dir.path(), "a.db", worker());
    let b = store_in(dir.path(), "b.db", Identity::new("s1", Role::Supervisor));
    let id = a.create_report(report("G1", "有照片")).expect("create");
    let p = a.add_photo(&id, &jpeg(400, 300, 3), None).expect("photo");
    let (x, _) = a.export_changes(0).expect("export");
    b.import_changes(&x).expect("import");
    assert_eq!(
        b.sync_side().missing_thumbnails().expect("missing"),
        vec![p.thumb_hash.clone()]
    );
    assert!(matches!(
        b.photo_bytes(&p.thumb_hash),
        Err(Error::NotFound { .. })
    ));
    let thumb = a.photo_bytes(&p.thumb_hash).expect("thumb");
    assert!(matches!(
        b.sync_side().put_downloaded_blob(&p.thumb_hash, b"forged"),
        Err(Error::CorruptChange(_))
    ));
    b.sync_side()
        .put_downloaded_blob(&p.thumb_hash, &thumb)
        .expect("put");
    assert_eq!(b.photo_bytes(&p.thumb_hash).expect("thumb"), thumb);
    assert!(b
        .sync_side()
        .missing_thumbnails()
        .expect("missing")
        .is_empty());
    assert!(
        b.sync_side().pending_uploads().expect("uploads").is_empty(),
        "downloaded photos are not uploaded again"
    );
}
