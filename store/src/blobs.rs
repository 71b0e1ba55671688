//! Photos on the device: attach to a record (processed by [`gridwork_photo`]), read back, and the
//! hooks the sync client uses to upload and download them by content hash.
//!
//! Each photo is uploaded *for a record* (`blobs.record_id`): the server serves a photo only to
//! readers of a record it was uploaded for (docs/protocol.md, "Photos").

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension, Transaction as SqlTx};

use crate::{now_ms, Store};
use gridwork_model::error::{Error, Result};
use gridwork_model::record::{check_text, AnyRecord, PhotoRef, MAX_SHORT_CHARS};
use gridwork_photo::{content_hash, process_photo, PhotoOptions};

/// The store's error for a photo the pipeline refused: too large, or not an image it accepts.
pub fn photo_error(e: gridwork_photo::PhotoError) -> Error {
    use gridwork_photo::PhotoError as P;
    match e {
        P::TooLarge { .. } | P::TooManyPixels { .. } => Error::TooLarge(e.to_string()),
        P::Empty | P::InvalidImage { .. } | P::UnsupportedFormat(_) => {
            Error::InvalidImage(e.to_string())
        }
    }
}

/// A photo (full image or thumbnail) waiting to go to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingBlob {
    pub hash: String,
    pub size: u64,
    pub thumb: bool,
    /// The record it is uploaded for (`None`: not known yet; the sync client looks for a local
    /// record referencing it).
    pub record_id: Option<String>,
}

fn check_hash(field: &str, h: &str) -> Result<()> {
    if h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            "must be a lowercase sha256 hex digest",
        ))
    }
}

fn insert_blob(
    tx: &SqlTx<'_>,
    hash: &str,
    bytes: &[u8],
    thumb: bool,
    record_id: &str,
) -> Result<()> {
    // The same photo twice is stored once; a placeholder (bytes NULL) gets its bytes. A photo
    // attached to another record than the one it was uploaded for is uploaded again for this
    // one (the server serves it to readers of records it was uploaded for).
    tx.prepare_cached(
        "INSERT INTO blobs(hash, bytes, size, thumb, uploaded, created_at, record_id) VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)
         ON CONFLICT(hash) DO UPDATE SET bytes = coalesce(blobs.bytes, excluded.bytes), size = excluded.size,
             uploaded = CASE WHEN blobs.record_id IS excluded.record_id THEN blobs.uploaded ELSE 0 END,
             record_id = excluded.record_id",
    )?
    .execute(params![hash, bytes, bytes.len() as i64, thumb, now_ms(), record_id])?;
    Ok(())
}

/// Records pulled from elsewhere reference photos this device may not have: note them, with the
/// record that references them (kept in `blobs.record_id` for a photo first seen there), so the
/// sync client fetches thumbnails (and full images on demand).
pub(crate) fn note_remote_photos_of(
    tx: &SqlTx<'_>,
    record_id: Option<&str>,
    photos: &[PhotoRef],
) -> Result<()> {
    for p in photos {
        for (hash, thumb, size) in [(&p.thumb_hash, true, 0u64), (&p.hash, false, p.bytes)] {
            tx.prepare_cached(
                "INSERT INTO blobs(hash, bytes, size, thumb, uploaded, created_at, record_id) VALUES (?1, NULL, ?2, ?3, 1, ?4, ?5)
                 ON CONFLICT(hash) DO UPDATE SET record_id = coalesce(blobs.record_id, excluded.record_id)",
            )?
            .execute(params![hash, size as i64, thumb, now_ms(), record_id])?;
        }
    }
    Ok(())
}

/// `meta` key set once every photo stored before uploads named their record was re-checked.
const RECHECKED_KEY: &str = "photos.upload_records_checked";

impl Store {
    /// Attach a photo (JPEG, PNG or WebP) to a report or visit. It is checked and decoded under
    /// strict limits, oriented upright, resized, stripped of all metadata, stored by content
    /// hash with its thumbnail, and referenced from the record — all in one transaction.
    pub fn add_photo(
        &self,
        record_id: &str,
        bytes: &[u8],
        caption: Option<String>,
    ) -> Result<PhotoRef> {
        self.add_photo_with(record_id, bytes, caption, None, &PhotoOptions::default())
    }

    pub fn add_photo_with(
        &self,
        record_id: &str,
        bytes: &[u8],
        caption: Option<String>,
        taken_at: Option<i64>,
        opts: &PhotoOptions,
    ) -> Result<PhotoRef> {
        if let Some(c) = &caption {
            check_text("caption", c, 0, MAX_SHORT_CHARS)?;
        }
        // Refuse early for records that cannot hold photos, before the expensive decode.
        if !matches!(
            self.get(record_id)?.record,
            AnyRecord::Report(_) | AnyRecord::Visit(_)
        ) {
            return Err(Error::invalid(
                "record_id",
                "only reports and visits have photos",
            ));
        }
        let processed = process_photo(bytes, opts).map_err(photo_error)?;
        let photo = PhotoRef {
            hash: processed.full.hash.clone(),
            thumb_hash: processed.thumb.hash.clone(),
            width: processed.full.width,
            height: processed.full.height,
            bytes: processed.full.bytes.len() as u64,
            taken_at: taken_at.map(gridwork_model::Millis),
            caption,
        };
        let p2 = photo.clone();
        self.update_with(
            record_id,
            move |rec| {
                let photos = rec.photos_mut().ok_or_else(|| {
                    Error::invalid("record_id", "only reports and visits have photos")
                })?;
                if !photos.iter().any(|p| p.hash == p2.hash) {
                    photos.push(p2);
                }
                Ok(())
            },
            |tx| {
                insert_blob(
                    tx,
                    &processed.thumb.hash,
                    &processed.thumb.bytes,
                    true,
                    record_id,
                )?;
                insert_blob(
                    tx,
                    &processed.full.hash,
                    &processed.full.bytes,
                    false,
                    record_id,
                )
            },
        )?;
        Ok(photo)
    }

    /// Remove a photo reference from a record (an ordinary, synced edit).
    pub fn remove_photo(&self, record_id: &str, hash: &str) -> Result<()> {
        check_hash("hash", hash)?;
        self.update(record_id, |rec| {
            let photos = rec.photos_mut().ok_or_else(|| {
                Error::invalid("record_id", "only reports and visits have photos")
            })?;
            let before = photos.len();
            photos.retain(|p| p.hash != hash);
            if photos.len() == before {
                return Err(Error::NotFound {
                    what: "photo",
                    id: hash.to_owned(),
                });
            }
            Ok(())
        })
    }

    /// The JPEG bytes of a stored photo or thumbnail. `NotFound` when it is not on this device
    /// (the sync client can fetch it).
    pub fn photo_bytes(&self, hash: &str) -> Result<Vec<u8>> {
        check_hash("hash", hash)?;
        let conn = self.reader_conn();
        let b: Option<Option<Vec<u8>>> = conn
            .prepare_cached("SELECT bytes FROM blobs WHERE hash = ?1")?
            .query_row(params![hash], |r| r.get(0))
            .optional()?;
        b.flatten().ok_or_else(|| Error::NotFound {
            what: "photo",
            id: hash.to_owned(),
        })
    }

    /// Photos and thumbnails not yet on the server, thumbnails first.
    pub(crate) fn pending_uploads(&self) -> Result<Vec<PendingBlob>> {
        let conn = self.reader_conn();
        let mut st = conn.prepare_cached(
            "SELECT hash, size, thumb, record_id FROM blobs WHERE uploaded = 0 AND bytes IS NOT NULL ORDER BY thumb DESC, created_at",
        )?;
        let rows = st.query_map([], |r| {
            Ok(PendingBlob {
                hash: r.get(0)?,
                size: r.get::<_, i64>(1)? as u64,
                thumb: r.get(2)?,
                record_id: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Photo hash (full image and thumbnail) → a local record referencing it (reports and
    /// visits; the first found). Loads every such record: used only when a photo's record is not
    /// known.
    fn photo_records(&self) -> Result<HashMap<String, String>> {
        let ids: Vec<String> = {
            let conn = self.reader_conn();
            let mut st = conn.prepare_cached(
                "SELECT id FROM records WHERE kind IN ('report', 'visit') ORDER BY created_at, id",
            )?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect::<std::result::Result<_, _>>()?
        };
        let mut map = HashMap::new();
        for id in ids {
            let rec = match self.get(&id) {
                Ok(r) => r.record,
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            for p in rec.photos() {
                map.entry(p.hash.clone()).or_insert_with(|| id.clone());
                map.entry(p.thumb_hash.clone())
                    .or_insert_with(|| id.clone());
            }
        }
        Ok(map)
    }

    /// Whether local record `record_id` references photo `hash` (full image or thumbnail).
    pub(crate) fn record_references_photo(&self, record_id: &str, hash: &str) -> Result<bool> {
        match self.get(record_id) {
            Ok(r) => Ok(r
                .record
                .photos()
                .iter()
                .any(|p| p.hash == hash || p.thumb_hash == hash)),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives every photo waiting for upload the record it is uploaded for: the one it was added
    /// to, or (photos stored before uploads named their record, or whose record no longer holds
    /// them) a local record referencing it. A photo no local record references is not uploaded
    /// (nobody could fetch it): it is marked done. Also, once per store, photos stored before
    /// uploads named their record are queued again, so the server learns which record they
    /// belong to (a `HEAD` each when it already knows).
    /// Sync plumbing (`gridwork_client`): binds every pending upload to a record that references it.
    pub(crate) fn assign_upload_records(&self) -> Result<()> {
        if self.get_meta(RECHECKED_KEY)?.is_none() {
            self.writer_conn(|c| {
                c.execute(
                    "UPDATE blobs SET uploaded = 0 WHERE record_id IS NULL AND bytes IS NOT NULL",
                    [],
                )?;
                Ok(())
            })?;
            self.set_meta(RECHECKED_KEY, "1")?;
        }
        let mut unknown = Vec::new();
        for b in self.pending_uploads()? {
            match &b.record_id {
                Some(r) if self.record_references_photo(r, &b.hash)? => {}
                _ => unknown.push(b.hash),
            }
        }
        if unknown.is_empty() {
            return Ok(());
        }
        let map = self.photo_records()?;
        self.writer_conn(|c| {
            for h in &unknown {
                match map.get(h) {
                    Some(r) => c.execute(
                        "UPDATE blobs SET record_id = ?2 WHERE hash = ?1",
                        params![h, r],
                    )?,
                    None => {
                        c.execute("UPDATE blobs SET uploaded = 1 WHERE hash = ?1", params![h])?
                    }
                };
            }
            Ok(())
        })
    }

    /// Sync plumbing (`gridwork_client`, through `SyncSide`): the server holds the blob `hash`
    /// now; it leaves the upload queue.
    pub(crate) fn mark_uploaded(&self, hash: &str) -> Result<()> {
        check_hash("hash", hash)?;
        self.writer_conn(|c| {
            c.execute(
                "UPDATE blobs SET uploaded = 1 WHERE hash = ?1",
                params![hash],
            )?;
            Ok(())
        })
    }

    /// Thumbnails referenced by records on this device but not downloaded yet.
    pub(crate) fn missing_thumbnails(&self) -> Result<Vec<String>> {
        let conn = self.reader_conn();
        let mut st =
            conn.prepare_cached("SELECT hash FROM blobs WHERE bytes IS NULL AND thumb = 1")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Store bytes downloaded from the server, after checking they hash to `hash`. (The server
    /// already holds them for a record: nothing to upload, whatever `record_id` says.)
    pub(crate) fn put_downloaded_blob(&self, hash: &str, bytes: &[u8]) -> Result<()> {
        check_hash("hash", hash)?;
        if content_hash(bytes) != hash {
            return Err(Error::CorruptChange(
                "downloaded photo does not match its hash".into(),
            ));
        }
        self.writer_conn(|c| {
            c.execute(
                "INSERT INTO blobs(hash, bytes, size, thumb, uploaded, created_at) VALUES (?1, ?2, ?3, 0, 1, ?4)
                 ON CONFLICT(hash) DO UPDATE SET bytes = excluded.bytes, size = excluded.size, uploaded = 1",
                params![hash, bytes, bytes.len() as i64, now_ms()],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;
    use crate::NewReport;
    use gridwork_model::ReportCategory;
    use gridwork_model::Role;

    fn report(s: &Store, title: &str) -> String {
        s.create_report(NewReport {
            grid: "g1".into(),
            category: ReportCategory::ALL[0],
            severity: 1,
            title: title.into(),
            description: String::new(),
            location: None,
            submit: false,
        })
        .unwrap()
    }

    fn h(b: &[u8]) -> String {
        content_hash(b)
    }

    fn reference(s: &Store, id: &str, full: &str, thumb: &str) {
        let p = PhotoRef {
            hash: full.into(),
            thumb_hash: thumb.into(),
            width: 1,
            height: 1,
            bytes: 1,
            taken_at: None,
            caption: None,
        };
        s.update(id, |r| {
            if let Some(ps) = r.photos_mut() {
                ps.push(p);
            }
            Ok(())
        })
        .unwrap();
    }

    fn record_of(s: &Store, hash: &str) -> (Option<String>, bool) {
        s.reader_conn()
            .query_row(
                "SELECT record_id, uploaded FROM blobs WHERE hash = ?1",
                [hash],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    }

    #[test]
    fn uploads_name_their_record() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path().join("d.db"), Identity::new("u1", Role::Worker)).unwrap();
        let a = report(&s, "a");
        let b = report(&s, "b");
        let (fa, ta, orphan, legacy) = (h(b"fa"), h(b"ta"), h(b"orphan"), h(b"legacy"));
        reference(&s, &a, &fa, &ta);
        reference(&s, &b, &legacy, &h(b"legacy-thumb"));
        s.writer_conn(|c| {
            let tx = c.unchecked_transaction()?;
            // Added to record a (what add_photo does).
            insert_blob(&tx, &fa, b"fa", false, &a)?;
            insert_blob(&tx, &ta, b"ta", true, &a)?;
            // Pending without a record (stored by an older version), referenced by nobody.
            tx.execute(
                "INSERT INTO blobs(hash, bytes, size, thumb, uploaded, created_at) VALUES (?1, x'00', 1, 0, 0, 1)",
                [&orphan],
            )?;
            // Uploaded by an older version (no record named): checked once again.
            tx.execute(
                "INSERT INTO blobs(hash, bytes, size, thumb, uploaded, created_at) VALUES (?1, x'00', 1, 0, 1, 1)",
                [&legacy],
            )?;
            tx.commit()?;
            Ok(())
        })
        .unwrap();
        let pending = s.pending_uploads().unwrap();
        assert_eq!(pending[0].hash, ta, "thumbnails first");
        assert_eq!(pending[0].record_id.as_deref(), Some(a.as_str()));

        s.assign_upload_records().unwrap();
        assert_eq!(record_of(&s, &fa), (Some(a.clone()), false));
        assert_eq!(record_of(&s, &legacy), (Some(b.clone()), false));
        assert_eq!(
            record_of(&s, &orphan),
            (None, true),
            "nothing to upload it for"
        );
        // The legacy re-check happens once.
        s.mark_uploaded(&legacy).unwrap();
        s.writer_conn(|c| {
            c.execute(
                "UPDATE blobs SET record_id = NULL WHERE hash = ?1",
                [&legacy],
            )?;
            Ok(())
        })
        .unwrap();
        s.assign_upload_records().unwrap();
        assert_eq!(record_of(&s, &legacy), (None, true));

        // The same photo attached to another record is uploaded again, for that one.
        s.mark_uploaded(&fa).unwrap();
        s.writer_conn(|c| {
            let tx = c.unchecked_transaction()?;
            insert_blob(&tx, &fa, b"fa", false, &a)?;
            tx.commit()?;
            Ok(())
        })
        .unwrap();
        assert_eq!(
            record_of(&s, &fa),
            (Some(a.clone()), true),
            "same record: unchanged"
        );
        s.writer_conn(|c| {
            let tx = c.unchecked_transaction()?;
            insert_blob(&tx, &fa, b"fa", false, &b)?;
            tx.commit()?;
            Ok(())
        })
        .unwrap();
        assert_eq!(record_of(&s, &fa), (Some(b.clone()), false));

        // Its record does not hold it (b never did): a local record that does (a) is found.
        s.assign_upload_records().unwrap();
        assert_eq!(record_of(&s, &fa), (Some(a.clone()), false));
        // Removed from every record: nothing to upload it for.
        s.remove_photo(&a, &fa).unwrap();
        s.assign_upload_records().unwrap();
        assert!(record_of(&s, &fa).1);
        assert!(s.pending_uploads().unwrap().is_empty());
    }
}
