//! Photo blobs: content-addressed (SHA-256), uploaded resumably, served only to devices whose
//! scope holds a record referencing them. Protocol: `docs/protocol.md`, "Photos".
//!
//! Storage is an [`ObjectStore`]: a local directory by default (`DATA_DIR/blobs`), or any
//! object_store URL (`file:///srv/blobs`, `memory://`, `s3://bucket/prefix` with the `s3` feature;
//! credentials from the usual `AWS_*` environment variables). Partial uploads are kept in a staging
//! directory on local disk (`DATA_DIR/blobs-partial`), so resuming works the same with every
//! backend; a blob reaches the object store only once complete and verified against its hash.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};

/// Default largest blob (a resized photo is ~0.3–2 MB; a 60 MB upload is refused).
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 32 << 20;

pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    staging: PathBuf,
    pub max_bytes: u64,
    /// Hashes with an upload in progress (one writer per staging file).
    busy: Mutex<HashSet<String>>,
}

/// What a `PUT` chunk led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The blob was already stored (the body was read and dropped).
    AlreadyStored,
    /// The blob is now complete and verified.
    Stored,
    /// More bytes are expected: this many are held.
    Partial(u64),
}

/// Why a chunk was refused.
#[derive(Debug)]
pub enum PutError {
    /// The declared total is over the limit.
    TooLarge(u64),
    /// The chunk does not start at (or before) the bytes held: resume from `held`.
    Gap {
        held: u64,
    },
    /// The bytes do not match the hash: the upload was discarded.
    HashMismatch,
    /// Another upload of this blob is in progress.
    Busy,
    /// The body is not what the headers said (longer than declared, …).
    Invalid(String),
    /// The connection broke while reading; what arrived is kept (`held`).
    Interrupted {
        held: u64,
    },
    Storage(Error),
}

impl From<std::io::Error> for PutError {
    fn from(e: std::io::Error) -> Self {
        PutError::Storage(Error::Io(e))
    }
}

pub fn is_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn key(hash: &str) -> ObjPath {
    ObjPath::from(format!("{}/{hash}", &hash[..2]))
}

fn obj_err(e: object_store::Error) -> Error {
    Error::Other(format!("blob store: {e}"))
}

struct BusyGuard<'a>(&'a Blobs, String);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0
            .busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.1);
    }
}

impl Blobs {
    /// Blobs in `url` (`None`: `DATA_DIR/blobs`), partial uploads in `DATA_DIR/blobs-partial`.
    pub fn open(url: Option<&str>, data_dir: &Path, max_bytes: u64) -> Result<Blobs> {
        let store: Arc<dyn ObjectStore> = match url {
            None => {
                let dir = data_dir.join("blobs");
                std::fs::create_dir_all(&dir)?;
                Arc::new(
                    object_store::local::LocalFileSystem::new_with_prefix(&dir).map_err(obj_err)?,
                )
            }
            Some(u) if u.starts_with("file://") => {
                let dir = PathBuf::from(&u["file://".len()..]);
                std::fs::create_dir_all(&dir)?;
                Arc::new(
                    object_store::local::LocalFileSystem::new_with_prefix(&dir).map_err(obj_err)?,
                )
            }
            Some("memory://") => Arc::new(object_store::memory::InMemory::new()),
            Some(u) => {
                let url = url_parse(u)?;
                let opts: Vec<(String, String)> = std::env::vars()
                    .filter(|(k, _)| k.starts_with("AWS_"))
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect();
                let (store, prefix) = object_store::parse_url_opts(&url, opts).map_err(|e| {
                    Error::Invalid(format!(
                        "--blob-url {u}: {e} (S3 needs a server built with --features s3)"
                    ))
                })?;
                Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
            }
        };
        Self::with_store(store, &data_dir.join("blobs-partial"), max_bytes)
    }

    pub fn with_store(
        store: Arc<dyn ObjectStore>,
        staging: &Path,
        max_bytes: u64,
    ) -> Result<Blobs> {
        std::fs::create_dir_all(staging)?;
        Ok(Blobs {
            store,
            staging: staging.to_path_buf(),
            max_bytes,
            busy: Mutex::new(HashSet::new()),
        })
    }

    fn staging_path(&self, hash: &str) -> PathBuf {
        self.staging.join(hash)
    }

    /// The size of a stored (complete) blob.
    pub async fn stored_len(&self, hash: &str) -> Result<Option<u64>> {
        match self.store.head(&key(hash)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(obj_err(e)),
        }
    }

    /// Bytes held of an unfinished upload (0 if none).
    pub async fn partial_len(&self, hash: &str) -> u64 {
        tokio::fs::metadata(self.staging_path(hash))
            .await
            .map(|m| m.len())
            .unwrap_or(0)
    }

    pub async fn get(&self, hash: &str) -> Result<Option<Bytes>> {
        match self.store.get(&key(hash)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(obj_err)?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(obj_err(e)),
        }
    }

    /// Receives bytes `start..` of a blob of `total` bytes from `chunks`, appending them to what
    /// is held. Bytes before what is held are skipped (a resent chunk is harmless); a chunk
    /// starting after it is refused with the offset to resume from. When all `total` bytes are
    /// held, they are checked against `hash` and moved to the store.
    pub async fn put<S, E>(
        &self,
        hash: &str,
        start: u64,
        total: u64,
        mut chunks: S,
    ) -> std::result::Result<PutOutcome, PutError>
    where
        S: futures_util::Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        use futures_util::StreamExt as _;
        if total > self.max_bytes {
            return Err(PutError::TooLarge(self.max_bytes));
        }
        if self
            .stored_len(hash)
            .await
            .map_err(PutError::Storage)?
            .is_some()
        {
            // Read (and drop) the body before answering: answering mid-upload makes the server
            // close the connection under a client still writing, which sees a broken pipe
            // instead of this success. The body is already bounded by the size checks.
            while let Some(chunk) = chunks.next().await {
                if chunk.is_err() {
                    break;
                }
            }
            return Ok(PutOutcome::AlreadyStored);
        }
        if !self
            .busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash.to_owned())
        {
            return Err(PutError::Busy);
        }
        let _guard = BusyGuard(self, hash.to_owned());
        let path = self.staging_path(hash);
        let held = self.partial_len(hash).await;
        if held > total {
            // A different total than the earlier attempt: start over.
            let _ = tokio::fs::remove_file(&path).await;
            return Err(PutError::Gap { held: 0 });
        }
        if start > held {
            return Err(PutError::Gap { held });
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await?;
        let mut pos = start;
        let mut held = held;
        while held < total {
            let chunk = match chunks.next().await {
                None => break,
                Some(Ok(c)) => c,
                Some(Err(e)) => {
                    file.flush().await?;
                    tracing::info!(hash, held, error = %e, "blob upload interrupted; kept what arrived");
                    return Err(PutError::Interrupted { held });
                }
            };
            let end = pos + chunk.len() as u64;
            if end > total {
                return Err(PutError::Invalid(format!(
                    "more bytes than the declared total of {total}"
                )));
            }
            if end > held {
                let skip = (held - pos) as usize;
                file.write_all(&chunk[skip..]).await?;
                held = end;
            }
            pos = end;
        }
        file.flush().await?;
        file.sync_data().await?;
        drop(file);
        if held < total {
            return Ok(PutOutcome::Partial(held));
        }
        // Complete: verify, then store.
        let data = tokio::fs::read(&path).await?;
        let actual = hex::encode(Sha256::digest(&data));
        if actual != hash {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(PutError::HashMismatch);
        }
        self.store
            .put(&key(hash), PutPayload::from(Bytes::from(data)))
            .await
            .map_err(|e| PutError::Storage(obj_err(e)))?;
        let _ = tokio::fs::remove_file(&path).await;
        Ok(PutOutcome::Stored)
    }
}

fn url_parse(u: &str) -> Result<url::Url> {
    url::Url::parse(u).map_err(|e| Error::Invalid(format!("--blob-url {u}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(
        parts: Vec<&'static [u8]>,
    ) -> impl futures_util::Stream<Item = std::result::Result<Bytes, String>> + Unpin {
        futures_util::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from_static(p))))
    }

    async fn resume_and_verify(blobs: Blobs) {
        let data: &'static [u8] = b"0123456789abcdefghij";
        let hash = hex::encode(Sha256::digest(data));
        // First attempt breaks after 7 bytes.
        let broken = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(&data[..7])),
            Err("connection reset".to_owned()),
        ]);
        assert!(matches!(
            blobs.put(&hash, 0, 20, broken).await,
            Err(PutError::Interrupted { held: 7 })
        ));
        assert_eq!(blobs.partial_len(&hash).await, 7);
        assert_eq!(blobs.stored_len(&hash).await.unwrap(), None);
        // A chunk after a gap is refused with the offset to resume from.
        assert!(matches!(
            blobs.put(&hash, 10, 20, chunks(vec![&data[10..]])).await,
            Err(PutError::Gap { held: 7 })
        ));
        // Resume with an overlap (bytes 5.., 2 already held).
        assert_eq!(
            blobs
                .put(&hash, 5, 20, chunks(vec![&data[5..12], &data[12..]]))
                .await
                .unwrap(),
            PutOutcome::Stored
        );
        assert_eq!(blobs.get(&hash).await.unwrap().unwrap().as_ref(), data);
        assert_eq!(blobs.stored_len(&hash).await.unwrap(), Some(20));
        // Idempotent.
        assert_eq!(
            blobs.put(&hash, 0, 20, chunks(vec![data])).await.unwrap(),
            PutOutcome::AlreadyStored
        );
        // Wrong content for a hash.
        let other = hex::encode(Sha256::digest(b"something else"));
        assert!(matches!(
            blobs.put(&other, 0, 20, chunks(vec![data])).await,
            Err(PutError::HashMismatch)
        ));
        assert_eq!(blobs.get(&other).await.unwrap(), None);
        assert_eq!(blobs.partial_len(&other).await, 0);
        // Over the limit: refused before reading.
        assert!(matches!(
            blobs.put(&other, 0, 60 << 20, chunks(vec![])).await,
            Err(PutError::TooLarge(_))
        ));
    }

    #[tokio::test]
    async fn in_memory_backend() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(Some("memory://"), dir.path(), DEFAULT_MAX_BLOB_BYTES).unwrap();
        resume_and_verify(blobs).await;
    }

    #[tokio::test]
    async fn directory_backend() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(None, dir.path(), DEFAULT_MAX_BLOB_BYTES).unwrap();
        resume_and_verify(blobs).await;
        let url = format!("file://{}", dir.path().join("elsewhere").display());
        let blobs = Blobs::open(Some(&url), dir.path(), DEFAULT_MAX_BLOB_BYTES).unwrap();
        resume_and_verify(blobs).await;
    }
}
