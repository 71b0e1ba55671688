//! Photo ingest benchmark: `gridwork_photo::process_photo` against ImageMagick on a
//! realistic 12 MP camera JPEG carrying EXIF orientation 6.
//!
//! Both sides do the same work per run: read the source file, decode, auto-orient, resize to a
//! 2048 px long side, write it as JPEG q82 without metadata, make a 320 px thumbnail from the
//! resized image and write it too. ImageMagick runs as ONE process that decodes once and writes
//! both files (`-write`), which is the strongest form of the baseline; runs alternate
//! gridwork/ImageMagick so machine noise hits both equally, and medians are reported.
//!
//! Peak memory of the gridwork side is measured in-process: VmHWM is reset through
//! `/proc/self/clear_refs` (Linux ≥ 4.0) right before a run and read right after it, so it is the
//! peak resident size of this process during that run (bench harness included, source file
//! included). If the kernel refuses the reset, `gridwork_peak_mb` is NaN.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use gridwork_photo::{process_photo, PhotoOptions};

#[derive(Clone, Debug, PartialEq)]
pub struct PhotoBench {
    /// Median wall time of one gridwork ingest (read + process + write both files).
    pub gridwork_ms: f64,
    /// Median wall time of one ImageMagick process doing the same.
    pub baseline_ms: f64,
    /// Full + thumbnail output bytes, gridwork.
    pub gridwork_bytes: u64,
    /// Full + thumbnail output bytes, ImageMagick.
    pub baseline_bytes: u64,
    /// Peak resident memory of the benchmark process during a gridwork ingest, MB (NaN if the
    /// kernel does not allow resetting VmHWM).
    pub gridwork_peak_mb: f64,
}

const WIDTH: u32 = 4000;
const HEIGHT: u32 = 3000;

pub fn bench_photo_ingest(repeats: usize, workdir: &Path) -> Result<PhotoBench, String> {
    let repeats = repeats.max(1);
    std::fs::create_dir_all(workdir).map_err(|e| format!("create {}: {e}", workdir.display()))?;
    let magick = find_imagemagick().ok_or(
        "ImageMagick not found (apt-get install -y imagemagick, or set GRIDWORK_IMAGEMAGICK)",
    )?;

    let source = workdir.join("photo-12mp-orient6.jpg");
    std::fs::write(&source, camera_like_jpeg(WIDTH, HEIGHT)?)
        .map_err(|e| format!("write {}: {e}", source.display()))?;
    let ours_full = workdir.join("gridwork-full.jpg");
    let ours_thumb = workdir.join("gridwork-thumb.jpg");
    let im_full = workdir.join("magick-full.jpg");
    let im_thumb = workdir.join("magick-thumb.jpg");
    let opts = PhotoOptions::default();

    let run_ours = || -> Result<f64, String> {
        let start = Instant::now();
        let bytes = std::fs::read(&source).map_err(|e| format!("read source: {e}"))?;
        let out = process_photo(&bytes, &opts).map_err(|e| format!("process_photo: {e}"))?;
        std::fs::write(&ours_full, &out.full.bytes).map_err(|e| format!("write: {e}"))?;
        std::fs::write(&ours_thumb, &out.thumb.bytes).map_err(|e| format!("write: {e}"))?;
        Ok(start.elapsed().as_secs_f64() * 1000.0)
    };
    let run_magick = || -> Result<f64, String> {
        let start = Instant::now();
        let status = Command::new(&magick)
            .arg(&source)
            .args([
                "-auto-orient",
                "-strip",
                "-resize",
                "2048x2048",
                "-quality",
                "82",
                "-write",
            ])
            .arg(&im_full)
            .args(["-thumbnail", "320x320", "-quality", "82"])
            .arg(&im_thumb)
            .status()
            .map_err(|e| format!("run {}: {e}", magick.display()))?;
        if !status.success() {
            return Err(format!("{} failed: {status}", magick.display()));
        }
        Ok(start.elapsed().as_secs_f64() * 1000.0)
    };

    // Warm-up: page cache, lazy binding, allocator arenas.
    run_ours()?;
    run_magick()?;
    let mut ours = Vec::with_capacity(repeats);
    let mut theirs = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        ours.push(run_ours()?);
        theirs.push(run_magick()?);
    }

    let gridwork_peak_mb = if reset_peak_rss() {
        run_ours()?;
        peak_rss_mb().unwrap_or(f64::NAN)
    } else {
        f64::NAN
    };

    let size = |p: &PathBuf| {
        std::fs::metadata(p)
            .map(|m| m.len())
            .map_err(|e| format!("stat {}: {e}", p.display()))
    };
    Ok(PhotoBench {
        gridwork_ms: median(&mut ours),
        baseline_ms: median(&mut theirs),
        gridwork_bytes: size(&ours_full)? + size(&ours_thumb)?,
        baseline_bytes: size(&im_full)? + size(&im_thumb)?,
        gridwork_peak_mb,
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => f64::midpoint(v[n / 2 - 1], v[n / 2]),
    }
}

/// `$GRIDWORK_IMAGEMAGICK`, else `magick`, else `convert` from PATH. Shell-script stand-ins
/// (a `#!` file) are skipped when a real binary is also on PATH, so the baseline is not slowed
/// by a wrapper's interpreter start-up.
fn find_imagemagick() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GRIDWORK_IMAGEMAGICK") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    let mut fallback = None;
    for name in ["magick", "convert"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            let Ok(head) = std::fs::read(&candidate).map(|b| b.get(..2).map(<[u8]>::to_vec)) else {
                continue;
            };
            if head.as_deref() == Some(b"#!") {
                fallback.get_or_insert(candidate);
            } else {
                return Some(candidate);
            }
        }
    }
    fallback
}

fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// A camera-like JPEG: smooth gradients and shapes plus per-pixel sensor noise (so it
/// compresses like a photo, ~3–5 MB at q92), with an EXIF APP1 carrying Orientation = 6.
fn camera_like_jpeg(w: u32, h: u32) -> Result<Vec<u8>, String> {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut rgb = Vec::with_capacity(w as usize * h as usize * 3);
    let (cx, cy, r2) = (
        i64::from(w) * 2 / 3,
        i64::from(h) / 3,
        (i64::from(h) / 4).pow(2),
    );
    for y in 0..h {
        for x in 0..w {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let noise = (rng % 17) as i32 - 8;
            let (xi, yi) = (i64::from(x), i64::from(y));
            let in_disc = (xi - cx).pow(2) + (yi - cy).pow(2) < r2;
            let base = if in_disc {
                [230, 190, 60]
            } else if y > h * 2 / 3 {
                [70 + (x * 60 / w) as i32, 110, 50 + (y % 97) as i32]
            } else {
                [
                    90 + (y * 120 / h) as i32,
                    140 + (y * 80 / h) as i32,
                    230 - (x * 40 / w) as i32,
                ]
            };
            for c in base {
                rgb.push((c + noise).clamp(0, 255) as u8);
            }
        }
    }
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 92)
        .encode(&rgb, w, h, image::ExtendedColorType::Rgb8)
        .map_err(|e| format!("encode source photo: {e}"))?;
    drop(rgb);

    // APP1: "Exif\0\0" + little-endian TIFF with IFD0 { Orientation = 6 }.
    let mut tiff = b"II\x2a\x00\x08\x00\x00\x00\x01\x00".to_vec();
    tiff.extend_from_slice(&[
        0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00,
    ]);
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    let mut out = Vec::with_capacity(jpeg.len() + 64);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&jpeg[2..]);
    Ok(out)
}
