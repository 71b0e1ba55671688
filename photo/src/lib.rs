//! Photo pipeline: validate, decode with strict limits, apply EXIF orientation, downscale,
//! re-encode as metadata-free JPEG and make a thumbnail. Pure: no database, no network.
//!
//! Order of defences against hostile input:
//! 1. byte size is checked before anything is parsed;
//! 2. the format is sniffed from magic bytes (JPEG, PNG and WebP only);
//! 3. the dimensions are read from the header by a small parser of our own and checked against
//!    the pixel budget before any decoder allocates;
//! 4. the decoder runs with `image::Limits` (width, height, allocation);
//! 5. a JPEG must contain an end-of-image marker after its first scan, so truncated uploads are
//!    refused instead of being decoded into a half-grey picture.
//!
//! Output files are written by the `image` crate's baseline JPEG encoder, which writes a plain
//! JFIF header: no EXIF (and so no GPS), no ICC profile, no XMP, no comments.
//!
//! Errors never carry image contents; their messages are fixed strings chosen here.

// House rule: input from devices, files and the network never aborts us (see Cargo.toml).
#![warn(clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;

use fast_image_resize as fir;
use image::codecs::jpeg::{JpegDecoder, JpegEncoder};
use image::codecs::png::PngDecoder;
use image::codecs::webp::WebPDecoder;
use image::metadata::Orientation;
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageError, Limits};
use sha2::{Digest, Sha256};

/// Largest width or height accepted, whatever the pixel budget.
const MAX_SIDE: u32 = 32_768;

/// Limits and output settings of [`process_photo`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhotoOptions {
    /// Largest accepted input file, checked before parsing. Default 40 MiB.
    pub max_input_bytes: usize,
    /// Largest accepted `width * height` of the source. Default 50 MP.
    pub max_pixels: u64,
    /// Memory the decoder may allocate (output buffer included). Default 256 MiB.
    pub max_alloc: u64,
    /// Long side of the full-size output; never upscaled. Default 2048.
    pub long_side: u32,
    /// Long side of the thumbnail; never upscaled. Default 320.
    pub thumb_long_side: u32,
    /// JPEG quality, 1–100. Default 82.
    pub jpeg_quality: u8,
}

impl Default for PhotoOptions {
    fn default() -> Self {
        PhotoOptions {
            max_input_bytes: 40 * 1024 * 1024,
            max_pixels: 50_000_000,
            max_alloc: 256 * 1024 * 1024,
            long_side: 2048,
            thumb_long_side: 320,
            jpeg_quality: 82,
        }
    }
}

/// An encoded JPEG with its content hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedImage {
    /// Lowercase hex SHA-256 of `bytes`.
    pub hash: String,
    /// A baseline JFIF JPEG without metadata.
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Result of [`process_photo`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessedPhoto {
    pub full: EncodedImage,
    pub thumb: EncodedImage,
    /// `"jpeg"`, `"png"` or `"webp"`.
    pub source_format: &'static str,
}

#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum PhotoError {
    #[error("photo is empty")]
    Empty,
    #[error("photo is too large: {bytes} bytes, limit {limit}")]
    TooLarge { bytes: usize, limit: usize },
    #[error("photo dimensions {width}x{height} exceed the limit")]
    TooManyPixels { width: u32, height: u32 },
    #[error("invalid image: {reason}")]
    InvalidImage { reason: String },
    #[error("unsupported image format: {0}")]
    UnsupportedFormat(String),
}

fn invalid(reason: &str) -> PhotoError {
    PhotoError::InvalidImage {
        reason: reason.to_owned(),
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Validates, decodes, orients, downscales and re-encodes a photo; see the module docs.
pub fn process_photo(bytes: &[u8], opts: &PhotoOptions) -> Result<ProcessedPhoto, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    if bytes.len() > opts.max_input_bytes {
        return Err(PhotoError::TooLarge {
            bytes: bytes.len(),
            limit: opts.max_input_bytes,
        });
    }
    let (format, width, height) = probe(bytes)?;
    check_dimensions(width, height, opts)?;

    // Decoders are well fuzzed, but a panic on a user's file must not take the app down where
    // unwinding is available. `panic = "abort"` builds rely on the checks above.
    let decoded = std::panic::catch_unwind(|| decode(bytes, format, width, height, opts))
        .unwrap_or_else(|_| Err(invalid("decoder failed on malformed data")))?;

    let quality = opts.jpeg_quality.clamp(1, 100);
    let (full_pixels, orientation) = decoded;
    // Orientation is applied after the resize: rotating 3 MP is cheaper than rotating 12 MP, and
    // the long side does not change under rotation.
    let mut full_pixels = downscale(full_pixels, opts.long_side)?;
    full_pixels.apply_orientation(orientation);
    let thumb_pixels = resized(&full_pixels, opts.thumb_long_side)?;

    // Encode both on two threads: the full image dominates, the thumbnail is nearly free.
    let (full, thumb) = std::thread::scope(|s| {
        let thumb = s.spawn(|| encode_jpeg(&thumb_pixels, quality));
        let full = encode_jpeg(&full_pixels, quality);
        let thumb = thumb
            .join()
            .unwrap_or_else(|_| Err(invalid("encoder failed")));
        (full, thumb)
    });
    Ok(ProcessedPhoto {
        full: full?,
        thumb: thumb?,
        source_format: format.name(),
    })
}

/// An accepted source format, as recognised by [`probe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhotoFormat {
    Jpeg,
    Png,
    WebP,
}

use PhotoFormat as Format;

impl PhotoFormat {
    /// `"jpeg"`, `"png"` or `"webp"`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::WebP => "webp",
        }
    }
}

/// Reads what a photo claims to be without decoding it: the format from its magic bytes and the
/// width and height from its header (steps 2 and 3 of the module docs; the pixel budget of
/// [`PhotoOptions`] is not applied here). Cheap (nothing is allocated but an error message) and
/// total: every malformed, truncated or unsupported file is an error, never a panic.
pub fn probe(bytes: &[u8]) -> Result<(PhotoFormat, u32, u32), PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    let format = sniff_format(bytes)?;
    let (width, height) = header_dimensions(bytes, format)?;
    Ok((format, width, height))
}

fn sniff_format(b: &[u8]) -> Result<Format, PhotoError> {
    let unsupported = |name: &str| Err(PhotoError::UnsupportedFormat(name.to_owned()));
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Format::Jpeg);
    }
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(Format::Png);
    }
    if b.len() >= 12 && b.starts_with(b"RIFF") && &b[8..12] == b"WEBP" {
        return Ok(Format::WebP);
    }
    if b.starts_with(b"II*\0") || b.starts_with(b"MM\0*") || b.starts_with(b"II+\0") {
        return unsupported("tiff");
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return unsupported("gif");
    }
    if b.starts_with(b"BM") && b.len() >= 14 {
        return unsupported("bmp");
    }
    if b.starts_with(b"#?RADIANCE") || b.starts_with(b"#?RGBE") {
        return unsupported("hdr");
    }
    if b.starts_with(b"8BPS") {
        return unsupported("psd");
    }
    if b.starts_with(&[0x76, 0x2F, 0x31, 0x01]) {
        return unsupported("openexr");
    }
    if b.starts_with(b"qoif") {
        return unsupported("qoi");
    }
    if b.starts_with(&[0x00, 0x00, 0x01, 0x00]) {
        return unsupported("ico");
    }
    if b.starts_with(&[0x00, 0x00, 0x00, 0x0C, b'j', b'P', b' ', b' '])
        || b.starts_with(&[0xFF, 0x4F, 0xFF, 0x51])
    {
        return unsupported("jpeg2000");
    }
    if b.starts_with(&[0xFF, 0x0A]) || b.starts_with(&[0x00, 0x00, 0x00, 0x0C, b'J', b'X', b'L']) {
        return unsupported("jpegxl");
    }
    if b.len() >= 12 && &b[4..8] == b"ftyp" {
        let brand = &b[8..12];
        let name = match brand {
            b"avif" | b"avis" => "avif",
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"mif1" | b"msf1" => "heif",
            _ => "iso media",
        };
        return unsupported(name);
    }
    Err(invalid("not a recognised image"))
}

fn check_dimensions(width: u32, height: u32, opts: &PhotoOptions) -> Result<(), PhotoError> {
    if width == 0 || height == 0 {
        return Err(invalid("image has zero width or height"));
    }
    if width > MAX_SIDE
        || height > MAX_SIDE
        || u64::from(width) * u64::from(height) > opts.max_pixels
    {
        return Err(PhotoError::TooManyPixels { width, height });
    }
    Ok(())
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u32::from(u16::from_be_bytes([s[0], s[1]])))
}

fn le16(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u32::from(u16::from_le_bytes([s[0], s[1]])))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(3)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], 0]))
}

/// Width and height as declared by the header, read without decoding anything.
fn header_dimensions(b: &[u8], format: Format) -> Result<(u32, u32), PhotoError> {
    match format {
        Format::Png => {
            if b.get(12..16) != Some(b"IHDR") {
                return Err(invalid("png without IHDR header"));
            }
            let w = be32(b, 16).ok_or_else(|| invalid("truncated png header"))?;
            let h = be32(b, 20).ok_or_else(|| invalid("truncated png header"))?;
            // The IEND chunk (always the same 8 bytes with its CRC) must be present near the end.
            let tail = &b[b.len().saturating_sub(4096)..];
            if !tail.windows(8).any(|w| w == b"IEND\xAE\x42\x60\x82") {
                return Err(invalid("truncated png"));
            }
            Ok((w, h))
        }
        Format::Jpeg => jpeg_dimensions(b),
        Format::WebP => {
            let riff_len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
            if b.len() < riff_len.saturating_add(8) {
                return Err(invalid("truncated webp"));
            }
            webp_dimensions(b).ok_or_else(|| invalid("malformed webp header"))
        }
    }
}

/// Walks the JPEG markers up to the first scan. Returns the frame size and insists on an
/// end-of-image marker after the scan: inside entropy-coded data 0xFF is always followed by 0x00
/// or a restart marker, so `FF D9` can only be the real end.
fn jpeg_dimensions(b: &[u8]) -> Result<(u32, u32), PhotoError> {
    let truncated = || invalid("truncated jpeg");
    let mut pos = 2usize;
    let mut frame: Option<(u32, u32)> = None;
    loop {
        if *b.get(pos).ok_or_else(truncated)? != 0xFF {
            return Err(invalid("malformed jpeg marker"));
        }
        // Any number of 0xFF fill bytes may precede a marker.
        while b.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let marker = *b.get(pos).ok_or_else(truncated)?;
        pos += 1;
        match marker {
            0xD8 | 0x01 | 0xD0..=0xD7 => continue,
            0xD9 => return Err(truncated()),
            _ => {}
        }
        let len = be16(b, pos).ok_or_else(truncated)? as usize;
        if len < 2 {
            return Err(invalid("malformed jpeg segment"));
        }
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            if frame.is_some() {
                return Err(invalid("jpeg with more than one frame"));
            }
            let h = be16(b, pos + 3).ok_or_else(truncated)?;
            let w = be16(b, pos + 5).ok_or_else(truncated)?;
            frame = Some((w, h));
        }
        pos = pos.checked_add(len).ok_or_else(truncated)?;
        if marker == 0xDA {
            let frame = frame.ok_or_else(|| invalid("jpeg scan before frame header"))?;
            let rest = b.get(pos..).ok_or_else(truncated)?;
            if !contains_eoi(rest) {
                return Err(truncated());
            }
            return Ok(frame);
        }
    }
}

fn contains_eoi(data: &[u8]) -> bool {
    // Scan from the end: valid files usually end with the marker (or have a short trailer).
    data.windows(2).rev().any(|w| w == [0xFF, 0xD9])
}

fn webp_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let chunk = b.get(12..16)?;
    match chunk {
        b"VP8 " => {
            // Frame tag (3 bytes), start code 9D 01 2A, then 14-bit width and height.
            if b.get(23..26)? != [0x9D, 0x01, 0x2A] {
                return None;
            }
            Some((le16(b, 26)? & 0x3FFF, le16(b, 28)? & 0x3FFF))
        }
        b"VP8L" => {
            if *b.get(20)? != 0x2F {
                return None;
            }
            let s = b.get(21..25)?;
            let bits = u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8X" => Some((le24(b, 24)? + 1, le24(b, 27)? + 1)),
        _ => None,
    }
}

fn limits(width: u32, height: u32, opts: &PhotoOptions) -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(width.min(MAX_SIDE));
    limits.max_image_height = Some(height.min(MAX_SIDE));
    limits.max_alloc = Some(opts.max_alloc);
    limits
}

fn map_decode_error(e: ImageError, format: Format, width: u32, height: u32) -> PhotoError {
    match e {
        ImageError::Limits(_) => PhotoError::TooManyPixels { width, height },
        ImageError::Unsupported(_) => {
            PhotoError::UnsupportedFormat(format!("this {} variant", format.name()))
        }
        ImageError::IoError(_) => invalid(match format {
            Format::Jpeg => "truncated jpeg",
            Format::Png => "truncated png",
            Format::WebP => "truncated webp",
        }),
        _ => invalid(match format {
            Format::Jpeg => "corrupt jpeg data",
            Format::Png => "corrupt png data",
            Format::WebP => "corrupt webp data",
        }),
    }
}

/// Decodes into 8-bit RGB (or gray) and returns the EXIF orientation to apply.
fn decode(
    bytes: &[u8],
    format: Format,
    width: u32,
    height: u32,
    opts: &PhotoOptions,
) -> Result<(DynamicImage, Orientation), PhotoError> {
    let err = |e| map_decode_error(e, format, width, height);
    let limits = limits(width, height, opts);
    let (image, orientation) = match format {
        Format::Jpeg => {
            let mut d = JpegDecoder::new(Cursor::new(bytes)).map_err(err)?;
            from_decoder(&mut d, limits, width, height).map_err(err)?;
            let o = d.orientation().unwrap_or(Orientation::NoTransforms);
            (DynamicImage::from_decoder(d).map_err(err)?, o)
        }
        Format::Png => {
            let mut d = PngDecoder::with_limits(Cursor::new(bytes), limits.clone()).map_err(err)?;
            from_decoder(&mut d, limits, width, height).map_err(err)?;
            let o = d.orientation().unwrap_or(Orientation::NoTransforms);
            (DynamicImage::from_decoder(d).map_err(err)?, o)
        }
        Format::WebP => {
            let mut d = WebPDecoder::new(Cursor::new(bytes)).map_err(err)?;
            from_decoder(&mut d, limits, width, height).map_err(err)?;
            let o = d.orientation().unwrap_or(Orientation::NoTransforms);
            (DynamicImage::from_decoder(d).map_err(err)?, o)
        }
    };
    Ok((to_8bit_opaque(image), orientation))
}

/// Applies limits and checks the decoder agrees with our header parser.
fn from_decoder(
    d: &mut impl ImageDecoder,
    limits: Limits,
    width: u32,
    height: u32,
) -> Result<(), ImageError> {
    if d.dimensions() != (width, height) {
        return Err(ImageError::Decoding(
            image::error::DecodingError::from_format_hint(image::error::ImageFormatHint::Unknown),
        ));
    }
    d.set_limits(limits)
}

/// Converts to `Rgb8` or `L8`; transparent pixels are composited on white.
fn to_8bit_opaque(image: DynamicImage) -> DynamicImage {
    match image {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageLuma8(_) => image,
        DynamicImage::ImageLuma16(_) => DynamicImage::ImageLuma8(image.to_luma8()),
        other if !other.color().has_alpha() => DynamicImage::ImageRgb8(other.to_rgb8()),
        other => {
            let rgba = other.to_rgba8();
            let (w, h) = rgba.dimensions();
            let mut rgb = Vec::with_capacity(w as usize * h as usize * 3);
            for px in rgba.as_raw().chunks_exact(4) {
                let a = u32::from(px[3]);
                for &c in &px[..3] {
                    // c*a + 255*(255-a), rounded, divided by 255.
                    let v = u32::from(c) * a + 255 * (255 - a);
                    rgb.push(((v + 127) / 255) as u8);
                }
            }
            match image::RgbImage::from_raw(w, h, rgb) {
                Some(img) => DynamicImage::ImageRgb8(img),
                None => DynamicImage::ImageRgb8(other.to_rgb8()),
            }
        }
    }
}

/// Target size fitting `long_side`, keeping the aspect ratio, never upscaling.
fn fit(width: u32, height: u32, long_side: u32) -> (u32, u32) {
    let long_side = long_side.max(1);
    let long = width.max(height);
    if long <= long_side {
        return (width, height);
    }
    let scale = |v: u32| {
        let s = (u64::from(v) * u64::from(long_side) + u64::from(long) / 2) / u64::from(long);
        (s as u32).max(1)
    };
    (scale(width), scale(height))
}

/// Downscales `image` (Rgb8 or L8) so its long side is at most `long_side`.
fn downscale(image: DynamicImage, long_side: u32) -> Result<DynamicImage, PhotoError> {
    if fit(image.width(), image.height(), long_side) == (image.width(), image.height()) {
        return Ok(image);
    }
    resized(&image, long_side)
}

/// A copy of `image` (Rgb8 or L8) with its long side at most `long_side`.
fn resized(image: &DynamicImage, long_side: u32) -> Result<DynamicImage, PhotoError> {
    let (w, h) = (image.width(), image.height());
    let (tw, th) = fit(w, h, long_side);
    if (tw, th) == (w, h) {
        return Ok(image.clone());
    }
    let failed = |_| invalid("resize failed");
    let pixel_type = match image {
        DynamicImage::ImageLuma8(_) => fir::PixelType::U8,
        _ => fir::PixelType::U8x3,
    };
    let src = fir::images::ImageRef::new(w, h, image.as_bytes(), pixel_type).map_err(failed)?;
    let mut dst = fir::images::Image::new(tw, th, pixel_type);
    let options = fir::ResizeOptions::new()
        .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Lanczos3));
    fir::Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|_| invalid("resize failed"))?;
    let raw = dst.into_vec();
    let out = match pixel_type {
        fir::PixelType::U8 => image::GrayImage::from_raw(tw, th, raw).map(DynamicImage::ImageLuma8),
        _ => image::RgbImage::from_raw(tw, th, raw).map(DynamicImage::ImageRgb8),
    };
    out.ok_or_else(|| invalid("resize failed"))
}

fn encode_jpeg(image: &DynamicImage, quality: u8) -> Result<EncodedImage, PhotoError> {
    let (width, height) = (image.width(), image.height());
    let color = match image {
        DynamicImage::ImageLuma8(_) => ExtendedColorType::L8,
        _ => ExtendedColorType::Rgb8,
    };
    let mut bytes = Vec::with_capacity(width as usize * height as usize / 4 + 1024);
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode(image.as_bytes(), width, height, color)
        .map_err(|_| invalid("jpeg encoding failed"))?;
    Ok(EncodedImage {
        hash: content_hash(&bytes),
        bytes,
        width,
        height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_never_upscales_and_keeps_ratio() {
        assert_eq!(fit(100, 50, 2048), (100, 50));
        assert_eq!(fit(4000, 3000, 2048), (2048, 1536));
        assert_eq!(fit(3000, 4000, 320), (240, 320));
        assert_eq!(fit(10_000, 1, 320), (320, 1));
    }

    #[test]
    fn webp_vp8x_header() {
        let mut b = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        b.extend_from_slice(&[0x5F, 0xEA, 0x00, 0x5F, 0xEA, 0x00]); // 60000 - 1
        assert_eq!(webp_dimensions(&b), Some((60_000, 60_000)));
    }
}
