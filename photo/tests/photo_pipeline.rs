//! Photo pipeline: formats, orientation, metadata stripping, hostile inputs and peak memory.
//! All inputs are generated here; nothing is read from disk except what a test writes itself.

use std::sync::atomic::{AtomicUsize, Ordering};

use gridwork_photo::*;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage};

// ---------------------------------------------------------------------------------------------
// Input generators

/// Deterministic xorshift, so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A photo-like RGB picture: smooth gradients plus sensor-like noise.
fn photo_rgb(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    let mut buf = Vec::with_capacity(w as usize * h as usize * 3);
    for y in 0..h {
        for x in 0..w {
            let n = (rng.next() % 24) as u32;
            buf.push(((x * 255 / w.max(1)) + n).min(255) as u8);
            buf.push(((y * 255 / h.max(1)) + n).min(255) as u8);
            buf.push((((x + y) * 127 / (w + h).max(1)) + 64 + n).min(255) as u8);
        }
    }
    buf
}

fn jpeg(rgb: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode(rgb, w, h, ExtendedColorType::Rgb8)
        .expect("encode test jpeg");
    out
}

fn png_rgba(w: u32, h: u32) -> Vec<u8> {
    let mut px = Vec::with_capacity(w as usize * h as usize * 4);
    for y in 0..h {
        for x in 0..w {
            px.extend_from_slice(&[
                (x % 256) as u8,
                (y % 256) as u8,
                90,
                if x < w / 2 { 255 } else { 0 },
            ]);
        }
    }
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(&px, w, h, ExtendedColorType::Rgba8)
        .expect("encode test png");
    out
}

fn webp_lossless(rgb: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out)
        .encode(rgb, w, h, ExtendedColorType::Rgb8)
        .expect("encode test webp");
    out
}

/// Marker strings planted in the EXIF block; none may survive into the output.
const SECRET_DESCRIPTION: &[u8] = b"GRIDWORK-SECRET-DESCRIPTION\0";
/// GPS latitude 52 deg 31 min 12.34 sec as three little-endian RATIONALs.
fn gps_latitude_bytes() -> Vec<u8> {
    let mut v = Vec::new();
    for (n, d) in [(52u32, 1u32), (31, 1), (1234, 100)] {
        v.extend_from_slice(&n.to_le_bytes());
        v.extend_from_slice(&d.to_le_bytes());
    }
    v
}

/// A little-endian TIFF block with IFD0 {ImageDescription, Orientation, GPS IFD pointer} and a
/// GPS IFD {GPSLatitudeRef, GPSLatitude}.
fn exif_tiff(orientation: u16) -> Vec<u8> {
    fn entry(t: &mut Vec<u8>, tag: u16, typ: u16, count: u32, value: [u8; 4]) {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&typ.to_le_bytes());
        t.extend_from_slice(&count.to_le_bytes());
        t.extend_from_slice(&value);
    }
    const ASCII: u16 = 2;
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const RATIONAL: u16 = 5;
    let ifd0 = 8u32;
    let ifd0_len = 2 + 3 * 12 + 4;
    let desc_at = ifd0 + ifd0_len;
    let desc_len = SECRET_DESCRIPTION.len() as u32;
    let gps_ifd = (desc_at + desc_len + 1) & !1;
    let gps_ifd_len = 2 + 2 * 12 + 4;
    let lat_at = gps_ifd + gps_ifd_len;

    let mut t = b"II\x2a\x00".to_vec();
    t.extend_from_slice(&ifd0.to_le_bytes());
    t.extend_from_slice(&3u16.to_le_bytes());
    entry(&mut t, 0x010E, ASCII, desc_len, desc_at.to_le_bytes());
    let o = orientation.to_le_bytes();
    entry(&mut t, 0x0112, SHORT, 1, [o[0], o[1], 0, 0]);
    entry(&mut t, 0x8825, LONG, 1, gps_ifd.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(SECRET_DESCRIPTION);
    while t.len() < gps_ifd as usize {
        t.push(0);
    }
    t.extend_from_slice(&2u16.to_le_bytes());
    entry(&mut t, 0x0001, ASCII, 2, *b"N\0\0\0");
    entry(&mut t, 0x0002, RATIONAL, 3, lat_at.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(&gps_latitude_bytes());
    t
}

/// Inserts an APP1 "Exif" segment right after SOI.
fn with_exif_app1(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    let mut seg = vec![0xFF, 0xE1];
    let len = (2 + 6 + tiff.len()) as u16;
    seg.extend_from_slice(&len.to_be_bytes());
    seg.extend_from_slice(b"Exif\0\0");
    seg.extend_from_slice(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&seg);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(kind: [u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    c.extend_from_slice(&body);
    c.extend_from_slice(&crc32(&body).to_be_bytes());
    c
}

/// Inserts a chunk right after IHDR (signature 8 bytes + IHDR chunk 25 bytes).
fn png_insert_chunk(png: &[u8], kind: [u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = png[..33].to_vec();
    out.extend_from_slice(&png_chunk(kind, data));
    out.extend_from_slice(&png[33..]);
    out
}

/// A 400x200 picture, grey-blue, with a pure red 40x40 block in its stored top-left corner.
fn corner_marked(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        if x < 40 && y < 40 {
            Rgb([255, 0, 0])
        } else {
            Rgb([60, 90, 160])
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Output checks

fn is_red(p: Rgb<u8>) -> bool {
    p[0] > 200 && p[1] < 60 && p[2] < 60
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Asserts a clean baseline JFIF: only APP0/DQT/SOF/DHT/DRI before the scan, no APPn (EXIF,
/// ICC, XMP), no COM, and none of the planted metadata bytes anywhere.
fn assert_clean_jpeg(e: &EncodedImage) {
    let b = &e.bytes;
    assert_eq!(&b[..2], &[0xFF, 0xD8], "starts with SOI");
    assert_eq!(&b[b.len() - 2..], &[0xFF, 0xD9], "ends with EOI");
    let mut pos = 2;
    loop {
        assert_eq!(b[pos], 0xFF, "marker at {pos}");
        let m = b[pos + 1];
        let len = u16::from_be_bytes([b[pos + 2], b[pos + 3]]) as usize;
        match m {
            0xE0 => assert_eq!(&b[pos + 4..pos + 9], b"JFIF\0"),
            0xDB | 0xC0 | 0xC4 | 0xDD => {}
            0xDA => break,
            other => panic!("unexpected marker FF{other:02X} in output"),
        }
        pos += 2 + len;
    }
    assert!(!contains(b, b"Exif"), "no Exif");
    assert!(
        !contains(b, &[0xFF, 0xE1]) || !contains(b, b"http://ns.adobe.com"),
        "no XMP"
    );
    assert!(!contains(b, b"ICC_PROFILE"), "no ICC");
    assert!(!contains(b, &SECRET_DESCRIPTION[..20]), "no description");
    assert!(!contains(b, &gps_latitude_bytes()), "no GPS");
    assert_eq!(e.hash, content_hash(b));
    assert_eq!(e.hash.len(), 64);
    assert!(e
        .hash
        .bytes()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
    let decoded =
        image::load_from_memory_with_format(b, image::ImageFormat::Jpeg).expect("decodes");
    assert_eq!((decoded.width(), decoded.height()), (e.width, e.height));
}

fn decode_rgb(e: &EncodedImage) -> RgbImage {
    image::load_from_memory(&e.bytes)
        .expect("output decodes")
        .to_rgb8()
}

// ---------------------------------------------------------------------------------------------
// Happy paths

#[test]
fn twelve_megapixel_jpeg_is_resized_and_thumbnailed() {
    let input = jpeg(&photo_rgb(4000, 3000, 7), 4000, 3000);
    let out = process_photo(&input, &PhotoOptions::default()).expect("processes");
    assert_eq!(out.source_format, "jpeg");
    assert_eq!((out.full.width, out.full.height), (2048, 1536));
    assert_eq!((out.thumb.width, out.thumb.height), (320, 240));
    assert_clean_jpeg(&out.full);
    assert_clean_jpeg(&out.thumb);
    assert!(out.full.bytes.len() < input.len());
    assert!(
        out.thumb.bytes.len() < 60_000,
        "thumb is {} bytes",
        out.thumb.bytes.len()
    );
}

#[test]
fn same_photo_gives_same_hashes() {
    let input = jpeg(&photo_rgb(900, 700, 3), 900, 700);
    let a = process_photo(&input, &PhotoOptions::default()).expect("first");
    let b = process_photo(&input, &PhotoOptions::default()).expect("second");
    assert_eq!(a, b);
    assert_ne!(a.full.hash, a.thumb.hash);
    assert_eq!(
        content_hash(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn png_with_alpha_is_flattened_and_never_upscaled() {
    let input = png_rgba(640, 480);
    let out = process_photo(&input, &PhotoOptions::default()).expect("processes");
    assert_eq!(out.source_format, "png");
    assert_eq!((out.full.width, out.full.height), (640, 480));
    assert_eq!((out.thumb.width, out.thumb.height), (320, 240));
    assert_clean_jpeg(&out.full);
    assert_clean_jpeg(&out.thumb);
    // The transparent right half is composited on white.
    let px = *decode_rgb(&out.full).get_pixel(600, 240);
    assert!(
        px.0.iter().all(|&c| c > 235),
        "white background, got {px:?}"
    );
}

#[test]
fn webp_lossless_is_accepted() {
    let input = webp_lossless(&photo_rgb(1000, 500, 5), 1000, 500);
    let out = process_photo(&input, &PhotoOptions::default()).expect("processes");
    assert_eq!(out.source_format, "webp");
    assert_eq!((out.full.width, out.full.height), (1000, 500));
    assert_eq!((out.thumb.width, out.thumb.height), (320, 160));
    assert_clean_jpeg(&out.full);
    assert_clean_jpeg(&out.thumb);
}

#[test]
fn grayscale_jpeg_stays_valid() {
    let w = 300;
    let h = 200;
    let gray: Vec<u8> = (0..w * h).map(|i| (i % 251) as u8).collect();
    let mut input = Vec::new();
    JpegEncoder::new(&mut input)
        .encode(&gray, w, h, ExtendedColorType::L8)
        .expect("encode");
    let out = process_photo(&input, &PhotoOptions::default()).expect("processes");
    assert_eq!((out.full.width, out.full.height), (300, 200));
    assert_eq!((out.thumb.width, out.thumb.height), (300, 200));
    assert_clean_jpeg(&out.full);
}

#[test]
fn custom_sizes_and_quality_are_honoured() {
    let input = jpeg(&photo_rgb(1200, 800, 9), 1200, 800);
    let opts = PhotoOptions {
        long_side: 600,
        thumb_long_side: 100,
        jpeg_quality: 40,
        ..Default::default()
    };
    let low = process_photo(&input, &opts).expect("processes");
    assert_eq!((low.full.width, low.full.height), (600, 400));
    assert_eq!((low.thumb.width, low.thumb.height), (100, 67));
    let high = process_photo(
        &input,
        &PhotoOptions {
            jpeg_quality: 95,
            ..opts
        },
    )
    .expect("processes");
    assert!(high.full.bytes.len() > low.full.bytes.len());
}

// ---------------------------------------------------------------------------------------------
// Orientation and metadata

#[test]
fn exif_orientation_6_rotates_and_all_metadata_is_dropped() {
    let src = corner_marked(400, 200);
    let plain = jpeg(src.as_raw(), 400, 200);
    let input = with_exif_app1(&plain, &exif_tiff(6));
    assert!(contains(&input, &gps_latitude_bytes()) && contains(&input, b"Exif\0\0"));

    let out = process_photo(&input, &PhotoOptions::default()).expect("processes");
    assert_eq!(
        (out.full.width, out.full.height),
        (200, 400),
        "dimensions swapped"
    );
    assert_eq!((out.thumb.width, out.thumb.height), (160, 320));
    assert_clean_jpeg(&out.full);
    assert_clean_jpeg(&out.thumb);

    // Orientation 6 = rotate 90 degrees clockwise: stored top-left shows at top-right.
    let full = decode_rgb(&out.full);
    assert!(
        is_red(*full.get_pixel(200 - 20, 20)),
        "red corner at top-right"
    );
    assert!(!is_red(*full.get_pixel(20, 20)));
    assert!(!is_red(*full.get_pixel(20, 400 - 20)));
    assert!(!is_red(*full.get_pixel(200 - 20, 400 - 20)));
    let thumb = decode_rgb(&out.thumb);
    assert!(is_red(*thumb.get_pixel(160 - 10, 10)));
    assert!(!is_red(*thumb.get_pixel(10, 10)));
}

#[test]
fn every_exif_orientation_puts_the_corner_where_expected() {
    // (orientation, output size, where the stored top-left corner must appear)
    let (w, h) = (400u32, 200u32);
    let cases = [
        (1, (w, h), (20, 20)),
        (2, (w, h), (w - 20, 20)),
        (3, (w, h), (w - 20, h - 20)),
        (4, (w, h), (20, h - 20)),
        (5, (h, w), (20, 20)),
        (6, (h, w), (h - 20, 20)),
        (7, (h, w), (h - 20, w - 20)),
        (8, (h, w), (20, w - 20)),
    ];
    let plain = jpeg(corner_marked(w, h).as_raw(), w, h);
    for (orientation, size, (cx, cy)) in cases {
        let input = with_exif_app1(&plain, &exif_tiff(orientation));
        let out = process_photo(&input, &PhotoOptions::default()).expect("processes");
        assert_eq!(
            (out.full.width, out.full.height),
            size,
            "orientation {orientation}"
        );
        let img = decode_rgb(&out.full);
        assert!(
            is_red(*img.get_pixel(cx, cy)),
            "orientation {orientation}: corner at {cx},{cy}"
        );
        let red_count = [
            (20, 20),
            (size.0 - 20, 20),
            (20, size.1 - 20),
            (size.0 - 20, size.1 - 20),
        ]
        .iter()
        .filter(|&&(x, y)| is_red(*img.get_pixel(x, y)))
        .count();
        assert_eq!(
            red_count, 1,
            "orientation {orientation}: exactly one red corner"
        );
    }
}

#[test]
fn png_exif_chunk_orientation_is_applied() {
    let src = corner_marked(400, 200);
    let mut plain = Vec::new();
    PngEncoder::new(&mut plain)
        .write_image(src.as_raw(), 400, 200, ExtendedColorType::Rgb8)
        .expect("encode");
    let input = png_insert_chunk(&plain, *b"eXIf", &exif_tiff(6));
    let out = process_photo(&input, &PhotoOptions::default()).expect("processes");
    assert_eq!((out.full.width, out.full.height), (200, 400));
    assert!(is_red(*decode_rgb(&out.full).get_pixel(180, 20)));
    assert_clean_jpeg(&out.full);
}

#[test]
fn unknown_or_broken_exif_is_ignored() {
    let plain = jpeg(&photo_rgb(100, 80, 1), 100, 80);
    for tiff in [
        exif_tiff(0),
        exif_tiff(9),
        exif_tiff(0xFFFF),
        b"II\x2a\x00\xff\xff\xff\xff".to_vec(),
        vec![1, 2, 3],
    ] {
        let out = process_photo(&with_exif_app1(&plain, &tiff), &PhotoOptions::default())
            .expect("processes");
        assert_eq!((out.full.width, out.full.height), (100, 80));
        assert_clean_jpeg(&out.full);
    }
}

// ---------------------------------------------------------------------------------------------
// Bad and hostile input

/// Result without the (large) encoded bytes, for assertion messages.
fn summary(r: &Result<ProcessedPhoto, PhotoError>) -> String {
    match r {
        Ok(p) => format!("Ok({} {}x{})", p.source_format, p.full.width, p.full.height),
        Err(e) => format!("Err({e:?})"),
    }
}

fn invalid(r: Result<ProcessedPhoto, PhotoError>) -> bool {
    matches!(r, Err(PhotoError::InvalidImage { .. }))
}

#[test]
fn empty_input() {
    assert_eq!(
        process_photo(&[], &PhotoOptions::default()).unwrap_err(),
        PhotoError::Empty
    );
}

#[test]
fn oversized_buffer_is_refused_before_parsing() {
    let mut big = vec![0u8; 60 * 1024 * 1024];
    big[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
    let err = process_photo(&big, &PhotoOptions::default()).unwrap_err();
    assert_eq!(
        err,
        PhotoError::TooLarge {
            bytes: 60 * 1024 * 1024,
            limit: 40 * 1024 * 1024
        }
    );
    assert_eq!(
        err.to_string(),
        "photo is too large: 62914560 bytes, limit 41943040"
    );
}

#[test]
fn truncated_jpeg_is_invalid() {
    let input = jpeg(&photo_rgb(640, 480, 2), 640, 480);
    for cut in [input.len() / 2, input.len() - 2, 200, 20, 4, 3] {
        let r = process_photo(&input[..cut], &PhotoOptions::default());
        assert!(invalid(r.clone()), "cut at {cut}: {}", summary(&r));
    }
}

#[test]
fn truncated_png_and_webp_are_invalid() {
    let png = png_rgba(300, 200);
    let webp = webp_lossless(&photo_rgb(300, 200, 4), 300, 200);
    for input in [png, webp] {
        for cut in [input.len() / 2, input.len() - 1, 30, 13] {
            let r = process_photo(&input[..cut], &PhotoOptions::default());
            assert!(invalid(r.clone()), "cut at {cut}: {}", summary(&r));
        }
    }
}

#[test]
fn random_bytes_are_invalid() {
    let mut rng = Rng(0x1234_5678);
    for len in [1usize, 2, 7, 100, 10_000] {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let r = process_photo(&bytes, &PhotoOptions::default());
        assert!(
            invalid(r.clone()) || matches!(r, Err(PhotoError::UnsupportedFormat(_))),
            "{}",
            summary(&r)
        );
    }
    let text = b"<html><body>not a photo</body></html>";
    assert!(invalid(process_photo(text, &PhotoOptions::default())));
}

#[test]
fn png_declaring_60000_squared_is_refused_from_the_header() {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&60_000u32.to_be_bytes());
    ihdr.extend_from_slice(&60_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&png_chunk(*b"IHDR", &ihdr));
    png.extend_from_slice(&png_chunk(
        *b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    png.extend_from_slice(&png_chunk(*b"IEND", &[]));
    let err = process_photo(&png, &PhotoOptions::default()).unwrap_err();
    assert_eq!(
        err,
        PhotoError::TooManyPixels {
            width: 60_000,
            height: 60_000
        }
    );
    assert_eq!(
        err.to_string(),
        "photo dimensions 60000x60000 exceed the limit"
    );
}

#[test]
fn jpeg_and_webp_declaring_huge_dimensions_are_refused() {
    // SOI, SOF0 65535x65535 3 components, SOS, EOI.
    let mut j = vec![
        0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0x03,
    ];
    j.extend_from_slice(&[1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1]);
    j.extend_from_slice(&[
        0xFF, 0xDA, 0x00, 0x0C, 0x03, 1, 0, 2, 0x11, 3, 0x11, 0, 0x3F, 0,
    ]);
    j.extend_from_slice(&[0x00, 0xFF, 0xD9]);
    assert_eq!(
        process_photo(&j, &PhotoOptions::default()).unwrap_err(),
        PhotoError::TooManyPixels {
            width: 65_535,
            height: 65_535
        }
    );
    // WebP extended header with a 60000x60000 canvas.
    let mut w = b"RIFF\x16\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
    w.extend_from_slice(&[0x5F, 0xEA, 0x00, 0x5F, 0xEA, 0x00]);
    assert_eq!(
        process_photo(&w, &PhotoOptions::default()).unwrap_err(),
        PhotoError::TooManyPixels {
            width: 60_000,
            height: 60_000
        }
    );
}

#[test]
fn pixel_budget_comes_from_the_options() {
    let input = jpeg(&photo_rgb(1000, 800, 6), 1000, 800);
    let opts = PhotoOptions {
        max_pixels: 500_000,
        ..Default::default()
    };
    assert_eq!(
        process_photo(&input, &opts).unwrap_err(),
        PhotoError::TooManyPixels {
            width: 1000,
            height: 800
        }
    );
    let opts = PhotoOptions {
        max_input_bytes: 1000,
        ..Default::default()
    };
    assert!(matches!(
        process_photo(&input, &opts),
        Err(PhotoError::TooLarge { limit: 1000, .. })
    ));
}

#[test]
fn other_formats_are_unsupported_even_with_absurd_headers() {
    // TIFF: IFD with ImageWidth = ImageLength = 1_000_000.
    let mut tiff = b"II\x2a\x00\x08\x00\x00\x00\x02\x00".to_vec();
    for tag in [0x0100u16, 0x0101] {
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&4u16.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&1_000_000u32.to_le_bytes());
    }
    tiff.extend_from_slice(&0u32.to_le_bytes());
    let hdr = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 100000 +X 100000\n".to_vec();
    let gif = b"GIF89a\xff\xff\xff\xff\x00\x00\x00".to_vec();
    let bmp = b"BM\0\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0\xff\xff\xff\x7f\xff\xff\xff\x7f".to_vec();
    let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
    for (bytes, name) in [
        (tiff, "tiff"),
        (hdr, "hdr"),
        (gif, "gif"),
        (bmp, "bmp"),
        (heic, "heif"),
    ] {
        assert_eq!(
            process_photo(&bytes, &PhotoOptions::default()).unwrap_err(),
            PhotoError::UnsupportedFormat(name.to_owned())
        );
    }
}

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Random bytes behind each magic number, truncations and bit flips of valid files: any error is
/// fine, a panic is not (the pipeline's own `catch_unwind` would hide it, so count them).
#[test]
fn fuzzish_inputs_never_panic() {
    let previous = std::panic::take_hook();
    // The hook is process-wide: count only panics on this test's thread.
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current()
            .name()
            .is_some_and(|n| n.contains("fuzzish_inputs_never_panic"))
        {
            PANICS.fetch_add(1, Ordering::SeqCst);
        }
        previous(info);
    }));
    let opts = PhotoOptions::default();
    let mut rng = Rng(0xDEAD_BEEF);
    let rgb = photo_rgb(64, 48, 11);
    let valid = [
        with_exif_app1(&jpeg(&rgb, 64, 48), &exif_tiff(6)),
        png_rgba(64, 48),
        webp_lossless(&rgb, 64, 48),
        {
            let mut lossy = Vec::new();
            JpegEncoder::new_with_quality(&mut lossy, 30)
                .encode(&rgb, 64, 48, ExtendedColorType::Rgb8)
                .expect("jpeg");
            lossy
        },
    ];
    let mut outcomes = [0usize; 2];
    for base in &valid {
        for i in 0..base.len().min(400) {
            let _ = process_photo(&base[..i], &opts);
        }
        for _ in 0..400 {
            let mut m = base.clone();
            for _ in 0..=rng.below(8) {
                let at = rng.below(m.len());
                m[at] = match rng.below(3) {
                    0 => rng.next() as u8,
                    1 => m[at] ^ (1 << rng.below(8)),
                    _ => 0xFF,
                };
            }
            outcomes[usize::from(process_photo(&m, &opts).is_ok())] += 1;
        }
        for _ in 0..100 {
            let mut m = base[..16.min(base.len())].to_vec();
            let extra = rng.below(2000);
            m.extend((0..extra).map(|_| rng.next() as u8));
            let _ = process_photo(&m, &opts);
        }
    }
    let _ = std::panic::take_hook();
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "decoder panicked; outcomes {outcomes:?}"
    );
}

#[test]
fn errors_do_not_leak_input_bytes() {
    let mut input = jpeg(&photo_rgb(200, 100, 8), 200, 100);
    let n = input.len();
    input[n / 2..n - 2].fill(0xAB);
    input.truncate(n - 2);
    for r in [
        process_photo(&input, &PhotoOptions::default()),
        process_photo(b"\x89PNG\r\n\x1a\nSECRET", &PhotoOptions::default()),
    ] {
        let msg = r.unwrap_err().to_string();
        assert!(
            !msg.contains("SECRET") && !msg.to_lowercase().contains("ab ab"),
            "{msg}"
        );
        assert!(msg.len() < 100, "{msg}");
    }
}

// ---------------------------------------------------------------------------------------------
// Peak memory, measured in a child process so other tests do not pollute VmHWM

const RSS_MODE: &str = "GRIDWORK_PHOTO_RSS_MODE";
const RSS_INPUT: &str = "GRIDWORK_PHOTO_RSS_INPUT";

fn vm_hwm_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// Child side: does nothing unless started by `peak_memory_is_bounded`.
#[test]
fn rss_child() {
    let Ok(mode) = std::env::var(RSS_MODE) else {
        return;
    };
    let input = std::fs::read(std::env::var(RSS_INPUT).expect("input path")).expect("read input");
    let before = vm_hwm_kb();
    let r = process_photo(&input, &PhotoOptions::default());
    match mode.as_str() {
        "ok" => assert!(r.is_ok(), "{r:?}"),
        _ => assert!(r.is_err()),
    }
    println!("RSS_RESULT before_kb={before} peak_kb={}", vm_hwm_kb());
}

fn child_peak_mb(mode: &str, input: &[u8]) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("input.bin");
    std::fs::write(&path, input).expect("write input");
    let out = std::process::Command::new(std::env::current_exe().expect("current exe"))
        .args(["--exact", "rss_child", "--nocapture", "--test-threads=1"])
        .env(RSS_MODE, mode)
        .env(RSS_INPUT, &path)
        .output()
        .expect("spawn child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.find("RSS_RESULT").map(|i| &l[i..]))
        .expect("child printed result");
    let field = |name: &str| -> f64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name))
            .and_then(|v| v.parse::<f64>().ok())
            .expect("field")
            / 1024.0
    };
    (field("before_kb="), field("peak_kb="))
}

#[test]
fn peak_memory_is_bounded() {
    let mut hostile = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = 60_000u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&60_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[16, 6, 0, 0, 0]);
    hostile.extend_from_slice(&png_chunk(*b"IHDR", &ihdr));
    hostile.extend_from_slice(&png_chunk(*b"IEND", &[]));
    let (before, peak) = child_peak_mb("err", &hostile);
    eprintln!("hostile header: peak {peak:.1} MB (before {before:.1} MB)");
    assert!(
        peak - before < 5.0,
        "hostile header grew RSS by {:.1} MB",
        peak - before
    );

    let photo = with_exif_app1(&jpeg(&photo_rgb(4000, 3000, 42), 4000, 3000), &exif_tiff(6));
    let (before, peak) = child_peak_mb("ok", &photo);
    eprintln!(
        "12 MP JPEG ({} bytes): peak {peak:.1} MB (before {before:.1} MB)",
        photo.len()
    );
    assert!(peak < 150.0, "12 MP JPEG peak RSS {peak:.1} MB");
}
