//! Photos on the device: attach to a record (processed by [`crate::photo`]), read back, and the
//! hooks the sync client uses to upload and download them by content hash.

use rusqlite::{params, OptionalExtension, Transaction as SqlTx};

use crate::error::{Error, Result};
use crate::model::{check_text, AnyRecord, PhotoRef, MAX_SHORT_CHARS};
use crate::photo::{content_hash, process_photo, PhotoOptions};
use crate::store::{now_ms, Store};

/// A photo (full image or thumbnail) waiting to go to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingBlob {
    pub hash: String,
    pub size: u64,
    pub thumb: bool,
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

fn insert_blob(tx: &SqlTx<'_>, hash: &str, bytes: &[u8], thumb: bool) -> Result<()> {
    // The same photo twice is stored once; a placeholder (bytes NULL) gets its bytes.
    tx.prepare_cached(
        "INSERT INTO blobs(hash, bytes, size, thumb, uploaded, created_at) VALUES (?1, ?2, ?3, ?4, 0, ?5)
         ON CONFLICT(hash) DO UPDATE SET bytes = coalesce(blobs.bytes, excluded.bytes), size = excluded.size",
    )?
    .execute(params![hash, bytes, bytes.len() as i64, thumb, now_ms()])?;
    Ok(())
}

/// Records pulled from elsewhere reference photos this device may not have: note them so the
/// sync client fetches thumbnails (and full images on demand).
pub(crate) fn note_remote_photos(tx: &SqlTx<'_>, photos: &[PhotoRef]) -> Result<()> {
    for p in photos {
        for (hash, thumb, size) in [(&p.thumb_hash, true, 0u64), (&p.hash, false, p.bytes)] {
            tx.prepare_cached(
                "INSERT INTO blobs(hash, bytes, size, thumb, uploaded, created_at) VALUES (?1, NULL, ?2, ?3, 1, ?4) ON CONFLICT(hash) DO NOTHING",
            )?
            .execute(params![hash, size as i64, thumb, now_ms()])?;
        }
    }
    Ok(())
}

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
        let processed = process_photo(bytes, opts)?;
        let photo = PhotoRef {
            hash: processed.full.hash.clone(),
            thumb_hash: processed.thumb.hash.clone(),
            width: processed.full.width,
            height: processed.full.height,
            bytes: processed.full.bytes.len() as u64,
            taken_at,
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
                insert_blob(tx, &processed.thumb.hash, &processed.thumb.bytes, true)?;
                insert_blob(tx, &processed.full.hash, &processed.full.bytes, false)
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
    pub fn pending_uploads(&self) -> Result<Vec<PendingBlob>> {
        let conn = self.reader_conn();
        let mut st = conn.prepare_cached(
            "SELECT hash, size, thumb FROM blobs WHERE uploaded = 0 AND bytes IS NOT NULL ORDER BY thumb DESC, created_at",
        )?;
        let rows = st.query_map([], |r| {
            Ok(PendingBlob {
                hash: r.get(0)?,
                size: r.get::<_, i64>(1)? as u64,
                thumb: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn mark_uploaded(&self, hash: &str) -> Result<()> {
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
    pub fn missing_thumbnails(&self) -> Result<Vec<String>> {
        let conn = self.reader_conn();
        let mut st =
            conn.prepare_cached("SELECT hash FROM blobs WHERE bytes IS NULL AND thumb = 1")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Store bytes downloaded from the server, after checking they hash to `hash`.
    pub fn put_downloaded_blob(&self, hash: &str, bytes: &[u8]) -> Result<()> {
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
