//! Photo blobs: content-addressed (SHA-256), uploaded resumably for a record, served only to
//! devices whose scope holds a record the blob was uploaded for. Protocol: `docs/protocol.md`,
//! "Photos".
//!
//! Storage is an [`ObjectStore`]: a local directory by default (`DATA_DIR/blobs`), or any
//! object_store URL (`file:///srv/blobs`, `memory://`, `s3://bucket/prefix` with the `s3` feature;
//! credentials from the usual `AWS_*` environment variables). Partial uploads are kept in a staging
//! directory on local disk (`DATA_DIR/blobs-partial`), one file per (device, blob), so resuming
//! works the same with every backend and one device cannot finish (and so claim to hold) bytes
//! another device sent; a blob reaches the object store only once complete and verified against
//! its hash. Staging is bounded: per device, in total bytes, and in age (stale partial uploads
//! are purged at start and periodically, [`Blobs::purge_stale`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};

/// Default largest blob (a resized photo is ~0.3–2 MB; a 60 MB upload is refused).
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 32 << 20;

/// Every partial upload is counted as at least this many bytes against the staging total, so the
/// number of partial uploads is bounded too (total / this).
const MIN_RESERVATION: u64 = 64 << 10;

/// Bounds on unfinished uploads waiting in the staging directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagingLimits {
    /// A partial upload not written to for this long is deleted.
    pub ttl: Duration,
    /// Partial uploads one device may have at once.
    pub per_device: usize,
    /// Declared sizes of all partial uploads together (each counted as at least 64 KiB).
    pub max_bytes: u64,
}

impl Default for StagingLimits {
    fn default() -> Self {
        StagingLimits {
            ttl: Duration::from_secs(24 * 3600),
            per_device: 16,
            max_bytes: 2 << 30,
        }
    }
}

pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    staging: PathBuf,
    pub max_bytes: u64,
    limits: StagingLimits,
    partials: Mutex<Partials>,
    /// Verifying and storing a complete blob reads it into memory: a few at a time.
    finishing: tokio::sync::Semaphore,
}

/// The partial uploads in the staging directory, by file name (`{device key}.{hash}`).
#[derive(Default)]
struct Partials {
    map: HashMap<String, Partial>,
    per_device: HashMap<String, usize>,
    reserved: u64,
}

struct Partial {
    device: String,
    reserved: u64,
    /// A request is writing it (one writer per staging file).
    busy: bool,
}

impl Partials {
    fn remove(&mut self, name: &str) {
        if let Some(p) = self.map.remove(name) {
            self.reserved = self.reserved.saturating_sub(p.reserved);
            if let Some(n) = self.per_device.get_mut(&p.device) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_device.remove(&p.device);
                }
            }
        }
    }
    fn insert(&mut self, name: String, device: String, reserved: u64, busy: bool) {
        self.remove(&name);
        *self.per_device.entry(device.clone()).or_insert(0) += 1;
        self.reserved += reserved;
        self.map.insert(
            name,
            Partial {
                device,
                reserved,
                busy,
            },
        );
    }
}

/// What a `PUT` chunk led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The blob is now complete, verified and stored.
    Stored,
    /// The blob was already stored; this device's bytes are now complete and verified too.
    Verified,
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
    /// Another upload of this blob by this device is in progress.
    Busy,
    /// The device has as many partial uploads as it may: finish one first.
    TooManyPartials(usize),
    /// The staging area is full.
    StagingFull,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A fixed-size, file-name-safe key for a device id.
fn device_key(device_id: &str) -> String {
    hex::encode(&Sha256::digest(device_id.as_bytes())[..8])
}

fn staging_name(device_id: &str, hash: &str) -> String {
    format!("{}.{hash}", device_key(device_id))
}

/// `(device key, hash)` of a staging file name, if it is one.
fn parse_staging_name(name: &str) -> Option<(&str, &str)> {
    let (dev, hash) = name.split_once('.')?;
    (dev.len() == 16 && dev.bytes().all(|b| b.is_ascii_hexdigit()) && is_hash(hash))
        .then_some((dev, hash))
}

/// Releases a staging file's writer slot; forgets the file if nothing was written to it.
struct BusyGuard<'a> {
    blobs: &'a Blobs,
    name: String,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        let path = self.blobs.staging.join(&self.name);
        let empty = std::fs::metadata(&path).map_or(true, |m| m.len() == 0);
        let mut p = lock(&self.blobs.partials);
        if empty {
            let _ = std::fs::remove_file(&path);
            p.remove(&self.name);
        } else if let Some(e) = p.map.get_mut(&self.name) {
            e.busy = false;
        }
    }
}

/// What [`Blobs::purge_stale`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub files: usize,
    pub bytes: u64,
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
        let blobs = Blobs {
            store,
            staging: staging.to_path_buf(),
            max_bytes,
            limits: StagingLimits::default(),
            partials: Mutex::new(Partials::default()),
            finishing: tokio::sync::Semaphore::new(4),
        };
        blobs.scan_staging()?;
        Ok(blobs)
    }

    /// Sets the staging bounds and applies them at once (stale partial uploads are purged).
    pub fn with_staging_limits(mut self, limits: StagingLimits) -> Result<Blobs> {
        self.limits = limits;
        *lock(&self.partials) = Partials::default();
        self.scan_staging()?;
        Ok(self)
    }

    pub fn staging_limits(&self) -> StagingLimits {
        self.limits
    }

    /// (partial uploads, bytes reserved) in the staging area now.
    pub fn staging_usage(&self) -> (usize, u64) {
        let p = lock(&self.partials);
        (p.map.len(), p.reserved)
    }

    /// Registers what the staging directory holds (after a restart), deleting stale partial
    /// uploads and files that are not ones (e.g. the one-file-per-hash layout of older builds,
    /// which cannot be resumed any more).
    fn scan_staging(&self) -> Result<()> {
        let now = SystemTime::now();
        let mut p = lock(&self.partials);
        for entry in std::fs::read_dir(&self.staging)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = entry.metadata()?;
            if !meta.is_file() {
                continue;
            }
            let stale = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age >= self.limits.ttl);
            match parse_staging_name(&name) {
                Some((dev, _)) if !stale && meta.len() > 0 => {
                    p.insert(
                        name.clone(),
                        dev.to_owned(),
                        meta.len().max(MIN_RESERVATION),
                        false,
                    );
                }
                _ => {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }

    /// Deletes partial uploads not written to for `ttl` (not ones being written now). Blocking
    /// file system calls: run it on a blocking thread.
    pub fn purge_stale(&self) -> std::io::Result<Purged> {
        let now = SystemTime::now();
        let mut purged = Purged::default();
        let entries = std::fs::read_dir(&self.staging)?;
        for entry in entries {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(meta) = entry.metadata() else { continue };
            let stale = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age >= self.limits.ttl);
            if !stale || !meta.is_file() {
                continue;
            }
            let mut p = lock(&self.partials);
            if p.map.get(&name).is_some_and(|e| e.busy) {
                continue;
            }
            if std::fs::remove_file(entry.path()).is_ok() {
                purged.files += 1;
                purged.bytes += meta.len();
            }
            p.remove(&name);
        }
        Ok(purged)
    }

    fn staging_path(&self, device_id: &str, hash: &str) -> PathBuf {
        self.staging.join(staging_name(device_id, hash))
    }

    /// The size of a stored (complete) blob.
    pub async fn stored_len(&self, hash: &str) -> Result<Option<u64>> {
        match self.store.head(&key(hash)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(obj_err(e)),
        }
    }

    /// Bytes of `hash` held from an unfinished upload by `device_id` (0 if none).
    pub async fn partial_len(&self, device_id: &str, hash: &str) -> u64 {
        tokio::fs::metadata(self.staging_path(device_id, hash))
            .await
            .map_or(0, |m| m.len())
    }

    pub async fn get(&self, hash: &str) -> Result<Option<Bytes>> {
        match self.store.get(&key(hash)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(obj_err)?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(obj_err(e)),
        }
    }

    /// A stored blob's size and its bytes as a stream (not read into memory at once).
    pub async fn open_read(
        &self,
        hash: &str,
    ) -> Result<
        Option<(
            u64,
            futures_util::stream::BoxStream<'static, object_store::Result<Bytes>>,
        )>,
    > {
        match self.store.get(&key(hash)).await {
            Ok(r) => {
                let size = r.meta.size;
                Ok(Some((size, r.into_stream())))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(obj_err(e)),
        }
    }

    /// Takes the writer slot of `device_id`'s staging file for `hash`, admitting a new partial
    /// upload only within the staging bounds.
    fn admit(&self, device_id: &str, hash: &str, total: u64) -> Result<BusyGuard<'_>, PutError> {
        let name = staging_name(device_id, hash);
        let dev = device_key(device_id);
        let want = total.max(MIN_RESERVATION);
        let mut p = lock(&self.partials);
        let (busy, had) = match p.map.get(&name) {
            Some(e) => (e.busy, Some(e.reserved)),
            None => (false, None),
        };
        if busy {
            return Err(PutError::Busy);
        }
        match had {
            Some(old) => {
                if want > old && p.reserved - old + want > self.limits.max_bytes {
                    return Err(PutError::StagingFull);
                }
                p.insert(name.clone(), dev, want, true);
            }
            None => {
                if p.per_device.get(&dev).copied().unwrap_or(0) >= self.limits.per_device {
                    return Err(PutError::TooManyPartials(self.limits.per_device));
                }
                if p.reserved + want > self.limits.max_bytes {
                    return Err(PutError::StagingFull);
                }
                p.insert(name.clone(), dev, want, true);
            }
        }
        Ok(BusyGuard { blobs: self, name })
    }

    /// Receives bytes `start..` of a blob of `total` bytes from `chunks`, sent by `device_id`,
    /// appending them to what that device's earlier requests delivered. Bytes before what is
    /// held are skipped (a resent chunk is harmless); a chunk starting after it is refused with
    /// the offset to resume from. When all `total` bytes are held, they are checked against
    /// `hash`; a blob not stored yet is moved to the store.
    pub async fn put<S, E>(
        &self,
        device_id: &str,
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
        let _guard = self.admit(device_id, hash, total)?;
        let path = self.staging_path(device_id, hash);
        let held = self.partial_len(device_id, hash).await;
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
        let _finishing = self
            .finishing
            .acquire()
            .await
            .map_err(|e| PutError::Storage(Error::Other(e.to_string())))?;
        let data = tokio::fs::read(&path).await?;
        let actual = hex::encode(Sha256::digest(&data));
        if actual != hash {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(PutError::HashMismatch);
        }
        let outcome = if self
            .stored_len(hash)
            .await
            .map_err(PutError::Storage)?
            .is_some()
        {
            PutOutcome::Verified
        } else {
            self.store
                .put(&key(hash), PutPayload::from(Bytes::from(data)))
                .await
                .map_err(|e| PutError::Storage(obj_err(e)))?;
            PutOutcome::Stored
        };
        let _ = tokio::fs::remove_file(&path).await;
        Ok(outcome)
    }
}

/// Reads a request body to its end and drops it (bounded by the body limit layer), so a client
/// still sending sees the answer rather than a broken pipe.
pub async fn drain<S, E>(mut chunks: S)
where
    S: futures_util::Stream<Item = std::result::Result<Bytes, E>> + Unpin,
{
    use futures_util::StreamExt as _;
    while let Some(chunk) = chunks.next().await {
        if chunk.is_err() {
            break;
        }
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

    const DEV: &str = "0190e0c4-aaaa-7000-8000-000000000001";
    const OTHER_DEV: &str = "0190e0c4-bbbb-7000-8000-000000000002";

    async fn resume_and_verify(blobs: Blobs) {
        let data: &'static [u8] = b"0123456789abcdefghij";
        let hash = hex::encode(Sha256::digest(data));
        // First attempt breaks after 7 bytes.
        let broken = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(&data[..7])),
            Err("connection reset".to_owned()),
        ]);
        assert!(matches!(
            blobs.put(DEV, &hash, 0, 20, broken).await,
            Err(PutError::Interrupted { held: 7 })
        ));
        assert_eq!(blobs.partial_len(DEV, &hash).await, 7);
        assert_eq!(blobs.stored_len(&hash).await.unwrap(), None);
        // Another device holds nothing of it: it cannot finish bytes it never sent.
        assert_eq!(blobs.partial_len(OTHER_DEV, &hash).await, 0);
        assert!(matches!(
            blobs
                .put(OTHER_DEV, &hash, 7, 20, chunks(vec![&data[7..]]))
                .await,
            Err(PutError::Gap { held: 0 })
        ));
        // A chunk after a gap is refused with the offset to resume from.
        assert!(matches!(
            blobs
                .put(DEV, &hash, 10, 20, chunks(vec![&data[10..]]))
                .await,
            Err(PutError::Gap { held: 7 })
        ));
        // Resume with an overlap (bytes 5.., 2 already held).
        assert_eq!(
            blobs
                .put(DEV, &hash, 5, 20, chunks(vec![&data[5..12], &data[12..]]))
                .await
                .unwrap(),
            PutOutcome::Stored
        );
        assert_eq!(blobs.get(&hash).await.unwrap().unwrap().as_ref(), data);
        assert_eq!(blobs.stored_len(&hash).await.unwrap(), Some(20));
        assert_eq!(blobs.staging_usage(), (0, 0), "nothing left in staging");
        // Sending the bytes again verifies them without storing twice.
        assert_eq!(
            blobs
                .put(OTHER_DEV, &hash, 0, 20, chunks(vec![data]))
                .await
                .unwrap(),
            PutOutcome::Verified
        );
        // Wrong content for a hash.
        let other = hex::encode(Sha256::digest(b"something else"));
        assert!(matches!(
            blobs.put(DEV, &other, 0, 20, chunks(vec![data])).await,
            Err(PutError::HashMismatch)
        ));
        assert_eq!(blobs.get(&other).await.unwrap(), None);
        assert_eq!(blobs.partial_len(DEV, &other).await, 0);
        // Over the limit: refused before reading.
        assert!(matches!(
            blobs.put(DEV, &other, 0, 60 << 20, chunks(vec![])).await,
            Err(PutError::TooLarge(_))
        ));
        assert_eq!(blobs.staging_usage(), (0, 0));
    }

    #[tokio::test]
    async fn staging_is_bounded_and_purged() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(Some("memory://"), dir.path(), DEFAULT_MAX_BLOB_BYTES)
            .unwrap()
            .with_staging_limits(StagingLimits {
                ttl: Duration::from_secs(3600),
                per_device: 2,
                max_bytes: 3 << 20,
            })
            .unwrap();
        let h = |i: u8| hex::encode(Sha256::digest([i]));
        let part = |b: &'static [u8]| chunks(vec![b]);
        for i in 0..2 {
            assert_eq!(
                blobs
                    .put(DEV, &h(i), 0, 1 << 20, part(b"abc"))
                    .await
                    .unwrap(),
                PutOutcome::Partial(3)
            );
        }
        // A third partial upload of this device is refused; resuming one of its two is not.
        assert!(matches!(
            blobs.put(DEV, &h(2), 0, 1 << 20, part(b"abc")).await,
            Err(PutError::TooManyPartials(2))
        ));
        assert_eq!(
            blobs
                .put(DEV, &h(0), 3, 1 << 20, part(b"def"))
                .await
                .unwrap(),
            PutOutcome::Partial(6)
        );
        // 2 MiB reserved of 3: another device's 2 MiB upload does not fit, a 1 MiB one does.
        assert!(matches!(
            blobs.put(OTHER_DEV, &h(3), 0, 2 << 20, part(b"abc")).await,
            Err(PutError::StagingFull)
        ));
        assert_eq!(
            blobs
                .put(OTHER_DEV, &h(3), 0, 1 << 20, part(b"abc"))
                .await
                .unwrap(),
            PutOutcome::Partial(3)
        );
        assert_eq!(blobs.staging_usage(), (3, 3 << 20));
        // Nothing is stale yet.
        assert_eq!(blobs.purge_stale().unwrap(), Purged::default());
        // A restart sees the same partial uploads; with a TTL of zero they are purged.
        let blobs = Blobs::open(Some("memory://"), dir.path(), DEFAULT_MAX_BLOB_BYTES).unwrap();
        assert_eq!(blobs.staging_usage().0, 3);
        assert_eq!(blobs.partial_len(DEV, &h(0)).await, 6);
        let blobs = blobs
            .with_staging_limits(StagingLimits {
                ttl: Duration::ZERO,
                ..StagingLimits::default()
            })
            .unwrap();
        assert_eq!(blobs.staging_usage(), (0, 0));
        assert_eq!(blobs.partial_len(DEV, &h(0)).await, 0);
        assert_eq!(
            std::fs::read_dir(dir.path().join("blobs-partial"))
                .unwrap()
                .count(),
            0
        );
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
