//! Photo sync: upload this device's photos (thumbnails first) and fetch thumbnails of pulled
//! records, by content hash, against `/v1/blobs/{sha256}` (docs/protocol.md, "Photos").
//!
//! Every upload names the record the photo belongs to (`?record=<id>`): the server accepts it only
//! for a record it holds, in the user's scope, that references the photo, and serves the photo
//! only to readers of such a record. So a photo is uploaded after its record was pushed.
//!
//! Uploads are resumable: `HEAD` tells how many bytes the server holds, and the rest goes in
//! `Content-Range` chunks, so a signal that drops mid-upload costs at most one chunk. Every step
//! is idempotent; the server verifies the hash before it keeps a blob. Full images of other
//! people's photos are fetched on demand with [`DeviceSync::fetch_photo`](crate::DeviceSync::fetch_photo).

use reqwest::blocking::Client;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE};

use crate::sync::{
    classify_error, describe_reqwest, http_client, read_capped, with_retries, Attempt, Failure,
    SavedSession, SyncConfig, SyncPhase, SyncProgress, SyncReport,
};
use gridwork_model::error::{Error, Result};
use gridwork_store::Store;

/// Bytes per upload request: small enough that a dropped signal loses little.
pub const UPLOAD_CHUNK: usize = 256 << 10;
/// Largest photo accepted from the server.
const MAX_DOWNLOAD: u64 = 48 << 20;
const UPLOAD_OFFSET: &str = "upload-offset";

fn failure(f: Failure) -> Error {
    match f {
        Failure::TooLarge(m) => Error::TooLarge(m),
        other => other.into_error(),
    }
}

fn blob_url(s: &SavedSession, hash: &str) -> String {
    format!("{}/v1/blobs/{hash}", s.server_url)
}

/// `…/v1/blobs/{hash}?record=<record id>` (the id form-encoded).
fn upload_url(s: &SavedSession, hash: &str, record: &str) -> Result<reqwest::Url> {
    let mut url = reqwest::Url::parse(&blob_url(s, hash)).map_err(|e| Error::Network {
        message: format!("bad server address: {e}"),
        retryable: false,
    })?;
    url.query_pairs_mut().append_pair("record", record);
    Ok(url)
}

/// What the server said about an upload for a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Uploaded {
    /// The server holds the photo for the record.
    Done,
    /// The server does not hold the record in this user's scope, or its copy does not reference
    /// the photo (not pushed yet, refused, or the photo was removed): try again later.
    RecordNotThere,
}

fn offset_of(r: &reqwest::blocking::Response) -> Option<u64> {
    r.headers()
        .get(UPLOAD_OFFSET)
        .and_then(|v| v.to_str().ok()?.trim().parse().ok())
}

/// How many bytes of `hash` this device has sent for an unfinished upload (`None`: the server
/// holds the photo for `record`).
fn held(
    client: &Client,
    cfg: &SyncConfig,
    s: &SavedSession,
    hash: &str,
    record: &str,
) -> Result<Option<u64>> {
    let url = upload_url(s, hash, record)?;
    with_retries(cfg, "photo upload check", || {
        match client.head(url.clone()).bearer_auth(&s.token).send() {
            Err(e) => Attempt::Retry(describe_reqwest(&e), None),
            Ok(r) if r.status().as_u16() == 200 => Attempt::Done(None),
            Ok(r) if r.status().as_u16() == 404 => Attempt::Done(Some(offset_of(&r).unwrap_or(0))),
            Ok(r) => classify_error(r),
        }
    })
    .map_err(failure)
}

/// Upload one blob for `record`, resuming from what the server already holds.
pub(crate) fn upload(
    client: &Client,
    cfg: &SyncConfig,
    s: &SavedSession,
    hash: &str,
    bytes: &[u8],
    record: &str,
) -> Result<Uploaded> {
    let total = bytes.len() as u64;
    let url = upload_url(s, hash, record)?;
    let mut offset = match held(client, cfg, s, hash, record)? {
        None => return Ok(Uploaded::Done),
        Some(n) if n <= total => n,
        Some(_) => 0,
    };
    // Each round sends one chunk; the server's Upload-Offset says where the next one starts.
    let mut rounds = 0u32;
    while offset < total {
        rounds += 1;
        if rounds > 4 * (total as u32 / UPLOAD_CHUNK as u32 + 2) + 8 {
            return Err(Error::Network {
                message: "photo upload is not making progress; it will resume at the next sync"
                    .into(),
                retryable: true,
            });
        }
        let end = (offset as usize + UPLOAD_CHUNK).min(bytes.len());
        let chunk = bytes[offset as usize..end].to_vec();
        let range = format!("bytes {}-{}/{}", offset, end.saturating_sub(1), total);
        // Some(Some(n)): continue at n; Some(None): done; None: the record is not there.
        let next: Option<Option<u64>> = with_retries(cfg, "photo upload", || {
            let sent = client
                .put(url.clone())
                .bearer_auth(&s.token)
                .header(CONTENT_RANGE, range.clone())
                .header(CONTENT_LENGTH, chunk.len())
                .body(chunk.clone())
                .send();
            match sent {
                // After a broken connection the server may hold part of the chunk: ask it.
                Err(e) => Attempt::Retry(describe_reqwest(&e), None),
                Ok(r) => match r.status().as_u16() {
                    200 | 201 => Attempt::Done(Some(None)),
                    202 => Attempt::Done(Some(Some(offset_of(&r).unwrap_or(end as u64)))),
                    409 => Attempt::Done(Some(Some(offset_of(&r).unwrap_or(0)))),
                    404 => Attempt::Done(None),
                    _ => classify_error(r),
                },
            }
        })
        .or_else(|f| match f {
            // A retry after a lost answer may find the blob complete, or held further along.
            Failure::Other(Error::Network {
                retryable: true, ..
            }) => held(client, cfg, s, hash, record)
                .map(|h| Some(h.map(|n| n.max(offset))))
                .map_err(Failure::Other),
            other => Err(other),
        })
        .map_err(failure)?;
        match next {
            None => return Ok(Uploaded::RecordNotThere),
            Some(None) => return Ok(Uploaded::Done),
            Some(Some(n)) => offset = n.min(total),
        }
    }
    // Everything sent: the last answer was Partial only if the server lost track; check.
    match held(client, cfg, s, hash, record)? {
        None => Ok(Uploaded::Done),
        Some(_) => Err(Error::Network {
            message: "the server did not keep the photo; it will be sent again".into(),
            retryable: true,
        }),
    }
}

fn download(
    client: &Client,
    cfg: &SyncConfig,
    s: &SavedSession,
    hash: &str,
) -> Result<Option<Vec<u8>>> {
    with_retries(cfg, "photo download", || {
        match client.get(blob_url(s, hash)).bearer_auth(&s.token).send() {
            Err(e) => Attempt::Retry(describe_reqwest(&e), None),
            Ok(r) if r.status().as_u16() == 404 => Attempt::Done(None),
            Ok(r) if r.status().is_success() => match read_capped(r, MAX_DOWNLOAD) {
                Ok(b) => Attempt::Done(Some(b)),
                Err(m) => Attempt::Retry(m, None),
            },
            Ok(r) => classify_error(r),
        }
    })
    .map_err(failure)
}

/// Upload pending photos (thumbnails first), then fetch missing thumbnails.
pub(crate) fn sync_photos(
    store: &Store,
    cfg: &SyncConfig,
    client: &Client,
    session: &SavedSession,
    report: &mut SyncReport,
    progress: &dyn Fn(&SyncProgress),
) -> Result<()> {
    store.sync_side().assign_upload_records()?;
    let pending = store.sync_side().pending_uploads()?;
    let missing = store.sync_side().missing_thumbnails()?;
    let total = (pending.len() + missing.len()) as u64;
    if total == 0 {
        return Ok(());
    }
    let mut done = 0u64;
    progress(&SyncProgress {
        phase: SyncPhase::Photos,
        done,
        total: Some(total),
    });
    for b in &pending {
        // Every pending photo has its record now (assign_upload_records).
        if let Some(record) = &b.record_id {
            let bytes = store.photo_bytes(&b.hash)?;
            match upload(client, cfg, session, &b.hash, &bytes, record)? {
                Uploaded::Done => {
                    store.sync_side().mark_uploaded(&b.hash)?;
                    report.photos_uploaded += 1;
                }
                // Its record is not on the server as this device has it (not accepted yet):
                // the photo stays pending and goes with a later sync.
                Uploaded::RecordNotThere => {
                    tracing::info!(hash = %b.hash, "photo upload waits for its record");
                }
            }
        }
        done += 1;
        progress(&SyncProgress {
            phase: SyncPhase::Photos,
            done,
            total: Some(total),
        });
    }
    for hash in &missing {
        // 404: not uploaded yet by its author, or not in scope; tried again next sync.
        if let Some(bytes) = download(client, cfg, session, hash)? {
            store.sync_side().put_downloaded_blob(hash, &bytes)?;
            report.photos_downloaded += 1;
        }
        done += 1;
        progress(&SyncProgress {
            phase: SyncPhase::Photos,
            done,
            total: Some(total),
        });
    }
    report.photos_pending = store.sync_side().pending_uploads()?.len() as u64;
    Ok(())
}

/// A photo's bytes, from this device or (full images of others' photos) from the server.
pub(crate) fn fetch_photo(store: &Store, hash: &str) -> Result<Vec<u8>> {
    match store.photo_bytes(hash) {
        Err(Error::NotFound { .. }) => {}
        other => return other,
    }
    let session = crate::sync::saved_session(store)?
        .ok_or_else(|| Error::Unauthorized("not signed in on this device".into()))?;
    let cfg = SyncConfig::default();
    let client = http_client(&cfg)?;
    let bytes = download(&client, &cfg, &session, hash)?.ok_or_else(|| Error::NotFound {
        what: "photo",
        id: hash.to_owned(),
    })?;
    store.sync_side().put_downloaded_blob(hash, &bytes)?;
    Ok(bytes)
}
