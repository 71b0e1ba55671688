//! The device sync client: sign-in, sign-out, and `sync()`, one HTTPS round trip per sync (a few
//! pages for a large first sync). The wire format is `wire.rs`; the protocol is `docs/protocol.md`.
//!
//! - The session (server URL, device token, who signed in) is kept in the store's `meta` table, so
//!   a device reopens signed in ([`Store::open_device`]). Tokens are never logged.
//! - `sync()` pushes the outbox and pulls everything in scope above the cursor; each answer is
//!   applied with [`SyncSide::apply_sync_page`](gridwork_store::SyncSide::apply_sync_page) in one transaction (acks, quarantine, pulled changes,
//!   cursor), so a sync interrupted at any point resumes harmlessly. No store lock is held while
//!   the network is in use.
//! - Retryable failures (connection errors, timeouts, 408, 429, 5xx, `retryable: true` bodies, a
//!   response that does not decode) are retried with exponential backoff and jitter, a few times,
//!   then reported as `Error::Network { retryable: true }`.
//! - Pushes stay within the server's per-request quotas ([`SyncSide::outbox`](gridwork_store::SyncSide::outbox)). Changes the server
//!   refuses with the retryable `quota` code are held, not quarantined: they stay pending, the
//!   refusal is noted ([`Store::quota_hold`]), nothing more is pushed in this sync (pages are
//!   still pulled) and a later sync sends them. Other refusals are quarantined.
//! - Pulled documents the device cannot store are set aside, not fatal ([`Store::set_aside`]).

use gridwork_model::Millis;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use gridwork_model::error::{Error, Result};
use gridwork_model::record::Role;
use gridwork_protocol::wire::{
    self, ErrorBody, ErrorCode, PushDoc, SignInRequest, SignInResponse, SyncRequest, SyncResponse,
};
use gridwork_store::{Identity, QuotaHold, Rejection, Store, SyncApply};

/// Who is signed in on this device, and where.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Session {
    pub server_url: String,
    pub user_id: String,
    pub role: Role,
    pub display_name: String,
    pub grids: Vec<String>,
    pub expires_at_ms: Millis,
}

/// What a running sync is doing, in the order a sync goes through them (a phase may repeat, once
/// per page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncPhase {
    /// Sending local changes (`done` of `total` pending changes).
    Push,
    /// Receiving changes (`done` = changes received so far; no total).
    Pull,
    /// Uploading this device's photos and downloading missing thumbnails.
    Photos,
}

impl SyncPhase {
    /// Every phase, in the order a sync reports them.
    pub const ALL: [SyncPhase; 3] = [SyncPhase::Push, SyncPhase::Pull, SyncPhase::Photos];

    /// The phase's name for logs and the CLI: `push`, `pull`, `photos`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SyncPhase::Push => "push",
            SyncPhase::Pull => "pull",
            SyncPhase::Photos => "photos",
        }
    }
}

impl std::fmt::Display for SyncPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Progress of a running sync, reported once per phase and page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncProgress {
    pub phase: SyncPhase,
    pub done: u64,
    pub total: Option<u64>,
}

/// What one `sync()` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Local changes sent (a change resent after a lost answer counts again).
    pub pushed: u64,
    /// Changes the server holds now.
    pub accepted: u64,
    /// Changes the server refused; they are in [`Store::quarantine`].
    pub rejected: u64,
    /// Local changes left pending because the server's quota was reached (its retryable
    /// `quota` refusal): pushing stopped for this sync, a later sync sends them again. See
    /// [`Store::quota_hold`].
    pub held_by_quota: u64,
    /// Changes received from the server.
    pub pulled: u64,
    /// Records that changed on this device because of pulled changes.
    pub changed_ids: Vec<String>,
    /// Pulled documents set aside in this sync (not stored: see [`Store::set_aside`]).
    pub set_aside: u64,
    /// Photos and thumbnails uploaded / downloaded in this sync.
    pub photos_uploaded: u64,
    pub photos_downloaded: u64,
    /// Photos still waiting for the server (the next sync resumes them).
    pub photos_pending: u64,
    /// Units and people of the team directory that this sync added or changed on the device (a
    /// full answer counts every entry it carries); 0 when the directory was current.
    pub directory_updated: u64,
}

/// Network behaviour of the sync client. [`Default`] is what apps use; tests shorten it.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub connect_timeout: Duration,
    /// Whole request, upload and download included.
    pub request_timeout: Duration,
    /// Attempts per request (first try included) before giving up with a retryable error.
    pub max_attempts: u32,
    /// First backoff; doubles per attempt, with ±50 % jitter, capped at `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Most raw change bytes pushed in one request (the server accepts 32 MiB decompressed).
    pub max_push_bytes: usize,
    /// Most changes wanted per pulled page (`None`: the server's default).
    pub pull_limit: Option<u32>,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_attempts: 4,
            backoff_base: Duration::from_millis(1000),
            backoff_max: Duration::from_secs(30),
            max_push_bytes: 4 << 20,
            pull_limit: None,
        }
    }
}

/// The session as saved in the store (`meta`, key [`META_SESSION`]). Holds the token: `Debug`
/// hides it.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct SavedSession {
    pub(crate) server_url: String,
    pub(crate) token: String,
    user_id: String,
    role: String,
    display_name: String,
    grids: Vec<String>,
    expires_at_ms: i64,
}

impl std::fmt::Debug for SavedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedSession")
            .field("server_url", &self.server_url)
            .field("token", &"<redacted>")
            .field("user_id", &self.user_id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

const META_SESSION: &str = "session";
/// The user id that signed in last (kept after sign-out): a different user (or another server,
/// whose user ids differ) starts from an empty cursor.
const META_LAST_USER: &str = "session.last_user";
const META_CURSOR: &str = "sync.cursor";

/// The identity of a store nobody is signed in on: it may read what is there but not write
/// (no grid is in its scope).
pub const SIGNED_OUT_USER: &str = "signed-out";

fn signed_out_identity() -> Identity {
    Identity {
        user_id: SIGNED_OUT_USER.into(),
        role: Role::Worker,
        grids: Some(vec![]),
    }
}

fn identity_of(s: &SavedSession) -> Result<Identity> {
    let role: Role = s.role.parse()?;
    // Admins are not limited to a list of grids on the device; the server still checks.
    let grids = if role == Role::Admin {
        None
    } else {
        Some(s.grids.clone())
    };
    Ok(Identity {
        user_id: s.user_id.clone(),
        role,
        grids,
    })
}

/// Largest JSON answer (sign-in, errors) read from the server.
const MAX_JSON_ANSWER: u64 = 64 << 10;

/// What one HTTP attempt came to.
pub(crate) enum Attempt<T> {
    Done(T),
    /// Worth retrying: the message, and the server's `Retry-After` if it sent one.
    Retry(String, Option<Duration>),
    Fatal(Failure),
}

/// A failure that is not retried.
pub(crate) enum Failure {
    /// 413: the caller may push less and try again.
    TooLarge(String),
    /// 400 `unsupported_version`: the server is older than this app; the sync driver asks
    /// again in the oldest version it speaks (without the directory).
    OldServer(String),
    Other(Error),
}

impl Failure {
    pub(crate) fn into_error(self) -> Error {
        match self {
            Failure::TooLarge(m) | Failure::OldServer(m) => Error::Network {
                message: m,
                retryable: false,
            },
            Failure::Other(e) => e,
        }
    }
}

/// The saved session of `store`, if someone is signed in.
pub(crate) fn saved_session(store: &Store) -> Result<Option<SavedSession>> {
    match store.sync_side().get_meta(META_SESSION)? {
        None => Ok(None),
        Some(json) => serde_json::from_str(&json)
            .map(Some)
            .map_err(|_| Error::Storage("the saved session is corrupt; sign in again".into())),
    }
}

/// The device side of sync, on a [`Store`]: sign in and out, sync, fetch a photo from the server.
/// Bring it into scope (`use gridwork_client::DeviceSync`) to call these on a store.
pub trait DeviceSync {
    /// Open a device store for whoever signed in last on it (identity from the saved session), or
    /// for a signed-out placeholder identity that can read but not write.
    fn open_device(path: impl AsRef<Path>) -> Result<Store>
    where
        Self: Sized;
    /// [`DeviceSync::open_device`] with options: the key of an encrypted store above all
    /// (`StoreOptions::key`; a plain store is encrypted in place on first open with a key).
    fn open_device_with(
        path: impl AsRef<Path>,
        opts: gridwork_store::StoreOptions,
    ) -> Result<Store>
    where
        Self: Sized;
    /// Sign in at `server_url` (`https://…`, or `http://` for loopback and tests), registering
    /// this device's actor id. Saves the session and makes the user the store's identity.
    fn sign_in(
        &self,
        server_url: &str,
        username: &str,
        password: &str,
        device_name: &str,
    ) -> Result<Session>;
    /// [`DeviceSync::sign_in`] with explicit timeouts and retry bounds.
    fn sign_in_with(
        &self,
        cfg: &SyncConfig,
        server_url: &str,
        username: &str,
        password: &str,
        device_name: &str,
    ) -> Result<Session>;
    /// Sign out: revoke the token at the server (best effort) and forget it. Refuses while local
    /// changes are not yet synced, unless `force`.
    fn sign_out(&self, force: bool) -> Result<()>;
    /// The saved session, if someone is signed in.
    fn session(&self) -> Result<Option<Session>>;
    /// Push local changes and pull everything new in scope. Blocking; call it off the UI thread.
    fn sync(&self, progress: &dyn Fn(&SyncProgress)) -> Result<SyncReport>;
    /// [`DeviceSync::sync`] with explicit timeouts and retry bounds.
    fn sync_with(&self, cfg: &SyncConfig, progress: &dyn Fn(&SyncProgress)) -> Result<SyncReport>;
    /// A photo's bytes, from this device or (full images of others' photos) from the server.
    fn fetch_photo(&self, hash: &str) -> Result<Vec<u8>>;
}

impl DeviceSync for Store {
    /// Open a device store for whoever signed in last on it (identity from the saved session), or
    /// for a signed-out placeholder identity that can read but not write.
    fn open_device(path: impl AsRef<Path>) -> Result<Store> {
        Self::open_device_with(path, gridwork_store::StoreOptions::default())
    }

    fn open_device_with(
        path: impl AsRef<Path>,
        opts: gridwork_store::StoreOptions,
    ) -> Result<Store> {
        let store = Store::open_with(path, signed_out_identity(), opts)?;
        if let Some(s) = saved_session(&store)? {
            store.set_identity(identity_of(&s)?)?;
        }
        Ok(store)
    }

    /// Sign in at `server_url` (`https://…`, or `http://` for loopback and tests), registering this
    /// device's actor id. Saves the session in the store and makes the user the store's identity.
    fn sign_in(
        &self,
        server_url: &str,
        username: &str,
        password: &str,
        device_name: &str,
    ) -> Result<Session> {
        self.sign_in_with(
            &SyncConfig::default(),
            server_url,
            username,
            password,
            device_name,
        )
    }

    fn sign_in_with(
        &self,
        cfg: &SyncConfig,
        server_url: &str,
        username: &str,
        password: &str,
        device_name: &str,
    ) -> Result<Session> {
        let server_url = normalize_url(server_url)?;
        if username.trim().is_empty() {
            return Err(Error::invalid("username", "must not be empty"));
        }
        if password.is_empty() {
            return Err(Error::invalid("password", "must not be empty"));
        }
        let device_name: String = device_name.chars().take(200).collect();
        let body = serde_json::to_vec(&SignInRequest {
            username: username.trim().to_owned(),
            password: password.to_owned(),
            device_name,
            actors: vec![self.actor_id()],
        })
        .map_err(|e| Error::Internal(e.to_string()))?;
        let client = http_client(cfg)?;
        let url = format!("{server_url}/v1/sign-in");
        let resp: SignInResponse = with_retries(cfg, "sign-in", || {
            let sent = client
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send();
            match sent {
                Err(e) => Attempt::Retry(describe_reqwest(&e), None),
                Ok(r) if r.status().as_u16() == 200 => match read_capped(r, MAX_JSON_ANSWER) {
                    Ok(bytes) => match serde_json::from_slice::<SignInResponse>(&bytes) {
                        Ok(v) => Attempt::Done(v),
                        Err(_) => Attempt::Retry(
                            "the server's sign-in answer did not decode".into(),
                            None,
                        ),
                    },
                    Err(msg) => Attempt::Retry(msg, None),
                },
                Ok(r) => classify_error(r),
            }
        })
        .map_err(Failure::into_error)?;
        let role: Role = resp.role.parse().map_err(|_| Error::Network {
            message: "the server sent an unknown role; update the app".into(),
            retryable: false,
        })?;
        gridwork_model::record::check_id("user_id", &resp.user_id).map_err(|_| Error::Network {
            message: "the server sent a malformed user id".into(),
            retryable: false,
        })?;
        let saved = SavedSession {
            server_url,
            token: resp.token,
            user_id: resp.user_id,
            role: role.as_str().to_owned(),
            display_name: resp.display_name,
            grids: resp.scope_grids,
            expires_at_ms: resp.expires_at.timestamp_millis(),
        };
        if self.sync_side().get_meta(META_LAST_USER)?.as_deref() != Some(saved.user_id.as_str()) {
            // Another user, or another server: what the old cursor skipped may be needed now.
            self.sync_side().delete_meta(META_CURSOR)?;
            // The directory was the old user's view: the next sync sends the whole new one.
            self.sync_side().forget_directory_cursor()?;
        }
        let json = serde_json::to_string(&saved).map_err(|e| Error::Internal(e.to_string()))?;
        self.sync_side().set_meta(META_SESSION, &json)?;
        self.sync_side().set_meta(META_LAST_USER, &saved.user_id)?;
        self.set_identity(identity_of(&saved)?)?;
        tracing::info!(user_id = %saved.user_id, role = %saved.role, "signed in");
        session_of(&saved)
    }

    /// Sign out: revoke the token at the server (best effort; offline is fine) and forget it.
    /// Refuses while local changes are not yet synced, unless `force`; forced, they stay on the
    /// device and are pushed when the same user signs in again.
    fn sign_out(&self, force: bool) -> Result<()> {
        let pending = self.pending_count()?;
        if pending > 0 && !force {
            return Err(Error::invalid(
                "sign_out",
                format!("{pending} unsynced change{} would stay unsent on this device; sync first, or sign out with force", if pending == 1 { "" } else { "s" }),
            ));
        }
        if let Some(s) = saved_session(self)? {
            let cfg = SyncConfig {
                request_timeout: Duration::from_secs(15),
                ..SyncConfig::default()
            };
            match http_client(&cfg).and_then(|c| {
                c.post(format!("{}/v1/sign-out", s.server_url))
                    .bearer_auth(&s.token)
                    .send()
                    .map_err(|e| Error::Network { message: describe_reqwest(&e), retryable: true })
            }) {
                Ok(r) if r.status().is_success() || r.status().as_u16() == 401 => {}
                Ok(r) => tracing::warn!(status = r.status().as_u16(), "sign-out not confirmed by the server; the token stays valid there until it expires"),
                Err(e) => tracing::warn!(error = %e, "sign-out could not reach the server; the token stays valid there until it expires"),
            }
        }
        self.sync_side().delete_meta(META_SESSION)?;
        self.set_identity(signed_out_identity())?;
        tracing::info!("signed out");
        Ok(())
    }

    /// The saved session, if someone is signed in (its token may have expired: see `expires_at_ms`).
    fn session(&self) -> Result<Option<Session>> {
        saved_session(self)?.as_ref().map(session_of).transpose()
    }

    /// Push local changes and pull everything new in scope. Blocking; call it off the UI thread
    /// (and outside an async runtime). See [`Store::sync_with`].
    fn sync(&self, progress: &dyn Fn(&SyncProgress)) -> Result<SyncReport> {
        self.sync_with(&SyncConfig::default(), progress)
    }

    /// [`Store::sync`] with explicit timeouts and retry bounds.
    fn sync_with(&self, cfg: &SyncConfig, progress: &dyn Fn(&SyncProgress)) -> Result<SyncReport> {
        // Two syncs of one store at once would only repeat work, but their cursors could be
        // applied out of order: one at a time per store file.
        let gate = sync_gate(self.path());
        let _one_at_a_time = gate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);

        let session = saved_session(self)?
            .ok_or_else(|| Error::Unauthorized("not signed in on this device".into()))?;
        let client = http_client(cfg)?;
        let url = format!("{}/v1/sync", session.server_url);
        let mut report = SyncReport::default();
        let mut changed_seen = HashSet::new();
        let push_total = self.pending_count()?;
        let mut max_push = cfg.max_push_bytes.max(1);
        progress(&SyncProgress {
            phase: SyncPhase::Push,
            done: 0,
            total: Some(push_total),
        });
        let mut pushed_done = 0u64;
        let mut rounds = 0u32;
        // Protocol version 2 carries the directory; an older server is asked again in version 1.
        let mut version = wire::PROTOCOL_VERSION;
        let mut set_aside_seen = HashSet::new();
        // Set by the server's retryable `quota` refusal: push nothing more in this sync.
        let mut quota: Option<String> = None;
        loop {
            rounds += 1;
            let outbox = if quota.is_some() {
                Vec::new()
            } else {
                self.sync_side().outbox(max_push)?
            };
            let n_push: u64 = outbox.iter().map(|d| d.changes.len() as u64).sum();
            let pushed_refs: HashSet<(String, String)> = outbox
                .iter()
                .flat_map(|d| {
                    d.changes
                        .iter()
                        .map(move |c| (d.doc_id.clone(), c.hash.clone()))
                })
                .collect();
            let req = SyncRequest {
                version,
                cursor: self.sync_cursor()?,
                push: outbox
                    .into_iter()
                    .map(|d| PushDoc {
                        doc_id: d.doc_id,
                        changes: d.changes.into_iter().map(|c| c.bytes).collect(),
                    })
                    .collect(),
                pull_limit: cfg.pull_limit,
                directory: self.sync_side().directory_cursor()?,
            };
            let body = wire::encode_request(&req);
            drop(req);
            let resp = match post_sync(&client, cfg, &url, &session.token, body) {
                Ok(r) => r,
                Err(Failure::TooLarge(msg)) => {
                    if n_push > 1 && max_push > 1 {
                        max_push = (max_push / 4).max(1);
                        tracing::info!(
                            max_push,
                            "sync request too large; pushing less per request"
                        );
                        continue;
                    }
                    return Err(Error::Network {
                        message: format!(
                            "a single change is larger than the server accepts: {msg}"
                        ),
                        retryable: false,
                    });
                }
                Err(Failure::OldServer(msg)) => {
                    if version > wire::MIN_PROTOCOL_VERSION {
                        tracing::info!(
                            "the server speaks an older protocol; syncing without the directory"
                        );
                        version = wire::MIN_PROTOCOL_VERSION;
                        continue;
                    }
                    return Err(Failure::OldServer(msg).into_error());
                }
                Err(Failure::Other(e)) => return Err(e),
            };
            let settled = resp
                .accepted
                .iter()
                .map(|a| (a.doc_id.clone(), a.hash.clone()))
                .chain(
                    resp.rejected
                        .iter()
                        .map(|r| (r.doc_id.clone(), r.hash.clone())),
                )
                .filter(|k| pushed_refs.contains(k))
                .count() as u64;
            // Quota refusals are held, not quarantined: the changes stay pending.
            let (held, refused): (Vec<_>, Vec<_>) =
                resp.rejected.into_iter().partition(|r| r.code.retryable());
            let quota_met_now = quota.is_none() && !held.is_empty();
            if let Some(h) = held.first() {
                quota.get_or_insert_with(|| h.reason.clone());
            }
            let (n_acc, n_rej, n_held, n_pull, more) = (
                resp.accepted.len() as u64,
                refused.len() as u64,
                held.len() as u64,
                resp.changes.len() as u64,
                resp.more,
            );
            let n_dir = resp
                .directory
                .as_ref()
                .map_or(0, |d| (d.units.len() + d.people.len()) as u64);
            let applied = self.sync_side().apply_sync_page(SyncApply {
                acked: resp
                    .accepted
                    .into_iter()
                    .map(|a| (a.doc_id, a.hash))
                    .collect(),
                rejected: refused
                    .into_iter()
                    .map(|r| Rejection {
                        doc_id: r.doc_id,
                        hash: r.hash,
                        field: r.field,
                        reason: r.reason,
                    })
                    .collect(),
                pulled: resp
                    .changes
                    .into_iter()
                    .map(|c| (c.doc_id, c.bytes))
                    .collect(),
                cursor: Some(resp.cursor),
                directory: resp.directory,
            })?;
            report.pushed += n_push;
            report.accepted += n_acc;
            report.rejected += n_rej;
            report.pulled += n_pull;
            report.directory_updated += n_dir;
            if quota_met_now {
                // Noted at once, so a sync that fails later still leaves the note.
                report.held_by_quota = self.pending_count()?;
                self.sync_side().set_quota_hold(&QuotaHold {
                    reason: quota.clone().unwrap_or_default(),
                    at_ms: gridwork_model::Millis(gridwork_store::now_ms()),
                    held: report.held_by_quota,
                })?;
                tracing::info!(
                    held = report.held_by_quota,
                    "the server's quota was reached; the rest of the outbox waits for a later sync"
                );
            }
            for id in applied.changed {
                if changed_seen.insert(id.clone()) {
                    report.changed_ids.push(id);
                }
            }
            for id in applied.set_aside {
                if set_aside_seen.insert(id) {
                    report.set_aside += 1;
                }
            }
            if n_push > 0 {
                pushed_done += n_push;
                progress(&SyncProgress {
                    phase: SyncPhase::Push,
                    done: pushed_done,
                    total: Some(push_total.max(pushed_done)),
                });
            }
            progress(&SyncProgress {
                phase: SyncPhase::Pull,
                done: report.pulled,
                total: None,
            });
            tracing::info!(
                round = rounds,
                pushed = n_push,
                accepted = n_acc,
                rejected = n_rej,
                held_by_quota = n_held,
                pulled = n_pull,
                more,
                "sync round"
            );
            if n_push > 0 && settled == 0 {
                // The server answered but settled none of what we pushed: looping would resend
                // the same bytes forever. Keep them and report.
                return Err(Error::Network { message: "the server did not acknowledge the pushed changes; they are kept and will be sent again".into(), retryable: true });
            }
            if more {
                continue;
            }
            if quota.is_some() || self.pending_count()? == 0 {
                break;
            }
            // More pending changes (the push was cut at max_push, or edits were made meanwhile).
            if rounds >= 10_000 {
                break;
            }
        }
        if quota.is_none() {
            // Pushed without meeting a quota: an earlier hold is over (its note stays).
            if let Some(mut q) = self.quota_hold()?.filter(|q| q.held > 0) {
                q.held = 0;
                self.sync_side().set_quota_hold(&q)?;
            }
        }
        // Photos travel after the records, thumbnails first, resumably (see sync_photos.rs).
        crate::sync_photos::sync_photos(self, cfg, &client, &session, &mut report, progress)?;
        // Then the access log (see sync_access.rs).
        crate::sync_access::send_access_log(self, &client, &session)?;
        Ok(report)
    }

    fn fetch_photo(&self, hash: &str) -> Result<Vec<u8>> {
        crate::sync_photos::fetch_photo(self, hash)
    }
}

fn session_of(s: &SavedSession) -> Result<Session> {
    Ok(Session {
        server_url: s.server_url.clone(),
        user_id: s.user_id.clone(),
        role: s.role.parse()?,
        display_name: s.display_name.clone(),
        grids: s.grids.clone(),
        expires_at_ms: gridwork_model::Millis(s.expires_at_ms),
    })
}

/// `https://host[:port][/prefix]` without a trailing slash. Plain `http://` is accepted (loopback,
/// tests, a TLS-terminating proxy on the same host); the app decides whether to allow it.
fn normalize_url(url: &str) -> Result<String> {
    let u = url.trim().trim_end_matches('/');
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.contains(char::is_whitespace) => Ok(u.to_owned()),
        _ => Err(Error::invalid(
            "server_url",
            "must start with https:// (or http://) followed by a host",
        )),
    }
}

pub(crate) fn http_client(cfg: &SyncConfig) -> Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .connect_timeout(cfg.connect_timeout)
        .timeout(cfg.request_timeout)
        .user_agent(concat!("gridwork/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Internal(format!("could not set up the HTTP client: {e}")))
}

/// One sync per store file at a time (in this process).
fn sync_gate(path: &Path) -> Arc<Mutex<()>> {
    static GATES: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut m = GATES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    m.entry(key).or_default().clone()
}

fn post_sync(
    client: &reqwest::blocking::Client,
    cfg: &SyncConfig,
    url: &str,
    token: &str,
    body: Vec<u8>,
) -> std::result::Result<SyncResponse, Failure> {
    with_retries(cfg, "sync", || {
        let sent = client
            .post(url)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, wire::SYNC_CONTENT_TYPE)
            .header(
                reqwest::header::CONTENT_ENCODING,
                wire::SYNC_CONTENT_ENCODING,
            )
            .header(
                reqwest::header::ACCEPT_ENCODING,
                wire::SYNC_CONTENT_ENCODING,
            )
            .body(body.clone())
            .send();
        let r = match sent {
            Err(e) => return Attempt::Retry(describe_reqwest(&e), None),
            Ok(r) => r,
        };
        if r.status().as_u16() != 200 {
            return classify_error(r);
        }
        let bytes = match read_capped(r, wire::RESPONSE_LIMITS.max_compressed as u64) {
            Ok(b) => b,
            Err(msg) => return Attempt::Retry(msg, None),
        };
        match wire::decode_response(&bytes, wire::RESPONSE_LIMITS) {
            Ok(resp) => Attempt::Done(resp),
            Err(wire::WireError::UnsupportedVersion { got }) => Attempt::Fatal(Failure::Other(Error::Network {
                message: format!("the server answered in protocol version {got}, which this app does not speak; update the app"),
                retryable: false,
            })),
            // A truncated or garbled answer: the exchange is repeated harmlessly.
            Err(e) => Attempt::Retry(format!("the server's answer did not decode ({e})"), None),
        }
    })
}

/// Run `attempt` until it is done, fails for good, or `cfg.max_attempts` retryable failures
/// happened; sleeps with exponential backoff and jitter in between.
pub(crate) fn with_retries<T>(
    cfg: &SyncConfig,
    what: &str,
    mut attempt: impl FnMut() -> Attempt<T>,
) -> std::result::Result<T, Failure> {
    let attempts = cfg.max_attempts.max(1);
    let mut last = String::new();
    for n in 1..=attempts {
        match attempt() {
            Attempt::Done(v) => return Ok(v),
            Attempt::Fatal(f) => return Err(f),
            Attempt::Retry(msg, retry_after) => {
                tracing::warn!(attempt = n, of = attempts, what, error = %msg, "request failed; will retry");
                last = msg;
                if n < attempts {
                    std::thread::sleep(
                        retry_after.map_or_else(|| backoff(cfg, n), |d| d.min(cfg.backoff_max)),
                    );
                }
            }
        }
    }
    Err(Failure::Other(Error::Network {
        message: format!("{what} failed after {attempts} attempts: {last}"),
        retryable: true,
    }))
}

/// Backoff before attempt `n + 1`: base × 2^(n-1), ±50 % jitter, capped.
fn backoff(cfg: &SyncConfig, n: u32) -> Duration {
    use rand::Rng;
    let exp = cfg.backoff_base.saturating_mul(1u32 << (n - 1).min(16));
    let capped = exp.min(cfg.backoff_max);
    let jitter: f64 = rand::rng().random_range(0.5..1.5);
    capped.mul_f64(jitter).min(cfg.backoff_max)
}

/// A non-200 answer: what the protocol says to do with it.
pub(crate) fn classify_error<T>(r: reqwest::blocking::Response) -> Attempt<T> {
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body: Option<ErrorBody> = read_capped(r, MAX_JSON_ANSWER)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let message = body
        .as_ref()
        .map_or_else(|| format!("HTTP {status}"), |b| b.message.clone());
    let code = body.as_ref().map(|b| b.code);
    let retryable_body = body.as_ref().is_some_and(|b| b.retryable);
    match status {
        401 => Attempt::Fatal(Failure::Other(Error::Unauthorized(message))),
        408 | 429 | 500..=599 => {
            Attempt::Retry(format!("server answered {status}: {message}"), retry_after)
        }
        413 => Attempt::Fatal(Failure::TooLarge(message)),
        403 => Attempt::Fatal(Failure::Other(Error::NotPermitted {
            field: None,
            reason: message,
        })),
        _ if retryable_body => {
            Attempt::Retry(format!("server answered {status}: {message}"), retry_after)
        }
        _ => {
            let what = match code {
                Some(ErrorCode::UnsupportedVersion) => {
                    return Attempt::Fatal(Failure::OldServer(
                        "the server does not speak this app's protocol version; update the app"
                            .to_owned(),
                    ));
                }
                Some(c) => format!(
                    "the server refused the request ({}, {status}): {message}",
                    serde_json::to_value(c)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                ),
                None => format!("the server refused the request ({status}): {message}"),
            };
            Attempt::Fatal(Failure::Other(Error::Network {
                message: what,
                retryable: false,
            }))
        }
    }
}

/// Reads a response body of at most `cap` bytes (checked against `Content-Length` first).
pub(crate) fn read_capped(
    r: reqwest::blocking::Response,
    cap: u64,
) -> std::result::Result<Vec<u8>, String> {
    if r.content_length().is_some_and(|n| n > cap) {
        return Err(format!("the server's answer is larger than {cap} bytes"));
    }
    let mut out = Vec::new();
    r.take(cap + 1).read_to_end(&mut out).map_err(|e| {
        format!(
            "the connection broke while reading the answer: {}",
            short(&e.to_string())
        )
    })?;
    if out.len() as u64 > cap {
        return Err(format!("the server's answer is larger than {cap} bytes"));
    }
    Ok(out)
}

/// A reqwest error in words, without anything from the request body.
pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect to the server"
    } else {
        "the connection failed"
    };
    // The source chain names the OS error (connection refused, reset…); the URL carries no token.
    let mut detail = String::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        detail = s.to_string();
        src = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {}", short(&detail))
    }
}

fn short(s: &str) -> String {
    s.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwork_protocol::gate;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    #[test]
    fn sync_phases_keep_their_log_names() {
        let names: Vec<String> = SyncPhase::ALL
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        assert_eq!(names, ["push", "pull", "photos"]);
        for p in SyncPhase::ALL {
            assert_eq!(p.to_string(), p.as_str());
        }
    }

    fn tmp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_device(dir.path().join("d.db")).unwrap();
        (dir, s)
    }

    /// A loopback HTTP server for exactly `n` connections, answering each with `respond(head,
    /// body)`. Returns what it was sent.
    #[allow(clippy::type_complexity)]
    fn serve(
        n: usize,
        mut respond: impl FnMut(&str, &[u8]) -> Vec<u8> + Send + 'static,
    ) -> (String, std::thread::JoinHandle<Vec<(String, Vec<u8>)>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..n {
                let (mut s, _) = l.accept().unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut head = String::new();
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap() == 0 {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    head.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                let resp = respond(&head, &body);
                seen.push((head, body));
                s.write_all(&resp).unwrap();
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            seen
        });
        (url, h)
    }

    /// A one-shot HTTP server answering each connection with the next canned response.
    fn canned(responses: Vec<Vec<u8>>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let n = responses.len();
        let mut next = responses.into_iter();
        let (url, h) = serve(n, move |_, _| next.next().unwrap_or_default());
        let heads = std::thread::spawn(move || {
            h.join()
                .unwrap()
                .into_iter()
                .map(|(head, _)| head)
                .collect()
        });
        (url, heads)
    }

    fn http(status: &str, ctype: &str, body: &[u8]) -> Vec<u8> {
        let mut v = format!("HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len()).into_bytes();
        v.extend_from_slice(body);
        v
    }

    fn fast() -> SyncConfig {
        SyncConfig {
            backoff_base: Duration::from_millis(5),
            backoff_max: Duration::from_millis(20),
            max_attempts: 3,
            ..SyncConfig::default()
        }
    }

    fn sign_in_ok() -> Vec<u8> {
        let body = serde_json::json!({
            "token": "gw1_secret", "user_id": "u-1", "role": "worker", "display_name": "W",
            "scope_grids": ["g1"], "expires_at": "2099-01-01T00:00:00Z"
        });
        http("200 OK", "application/json", body.to_string().as_bytes())
    }

    #[test]
    fn open_device_without_session_is_signed_out_and_cannot_write() {
        let (_d, s) = tmp_store();
        assert_eq!(s.identity().user_id, SIGNED_OUT_USER);
        assert!(s.session().unwrap().is_none());
        let err = s
            .create_report(gridwork_store::NewReport {
                grid: "g1".into(),
                category: gridwork_model::ReportCategory::Other,
                severity: 1,
                title: "t".into(),
                description: String::new(),
                location: None,
                submit: false,
            })
            .unwrap_err();
        assert!(matches!(err, Error::NotPermitted { .. }), "{err:?}");
    }

    #[test]
    fn sign_in_saves_the_session_and_reopens_signed_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let (url, h) = canned(vec![sign_in_ok()]);
        {
            let s = Store::open_device(&path).unwrap();
            let sess = s
                .sign_in_with(&fast(), &format!("{url}/"), "worker", "pw", "laptop")
                .unwrap();
            assert_eq!(sess.user_id, "u-1");
            assert_eq!(sess.server_url, url);
            assert_eq!(s.identity().user_id, "u-1");
            assert_eq!(s.identity().grids, Some(vec!["g1".to_owned()]));
        }
        let seen = h.join().unwrap();
        assert!(seen[0].starts_with("POST /v1/sign-in"));
        let s = Store::open_device(&path).unwrap();
        assert_eq!(s.identity().user_id, "u-1");
        assert_eq!(s.session().unwrap().unwrap().role, Role::Worker);
        // The token is in the store but never in Debug output.
        let saved = saved_session(&s).unwrap().unwrap();
        assert!(!format!("{saved:?}").contains("gw1_secret"));
    }

    #[test]
    fn wrong_password_is_unauthorized_and_5xx_retries_then_network_error() {
        let (_d, s) = tmp_store();
        let body =
            br#"{"code":"unauthorized","message":"wrong username or password","retryable":false}"#;
        let (url, h) = canned(vec![http("401 Unauthorized", "application/json", body)]);
        let e = s
            .sign_in_with(&fast(), &url, "worker", "bad", "x")
            .unwrap_err();
        assert_eq!(e, Error::Unauthorized("wrong username or password".into()));
        h.join().unwrap();

        let body = br#"{"code":"unavailable","message":"busy","retryable":true}"#;
        let r = http("503 Service Unavailable", "application/json", body);
        let (url, h) = canned(vec![r.clone(), r.clone(), r]);
        let e = s
            .sign_in_with(&fast(), &url, "worker", "pw", "x")
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Network {
                    retryable: true,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(h.join().unwrap().len(), 3, "three attempts");
    }

    #[test]
    fn a_retry_after_5xx_succeeds() {
        let (_d, s) = tmp_store();
        let (url, h) = canned(vec![
            http("500 Internal Server Error", "application/json", b"not json"),
            sign_in_ok(),
        ]);
        s.sign_in_with(&fast(), &url, "worker", "pw", "x").unwrap();
        assert_eq!(h.join().unwrap().len(), 2);
    }

    #[test]
    fn server_down_is_a_retryable_network_error() {
        let (_d, s) = tmp_store();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = s
            .sign_in_with(
                &fast(),
                &format!("http://127.0.0.1:{port}"),
                "worker",
                "pw",
                "x",
            )
            .unwrap_err();
        match e {
            Error::Network { retryable, message } => {
                assert!(retryable);
                assert!(message.contains("connect"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sync_without_session_is_unauthorized() {
        let (_d, s) = tmp_store();
        assert!(matches!(
            s.sync(&|_| {}).unwrap_err(),
            Error::Unauthorized(_)
        ));
    }

    #[test]
    fn sign_out_refuses_with_pending_changes_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let (url, h) = canned(vec![
            sign_in_ok(),
            http("204 No Content", "application/json", b""),
        ]);
        let s = Store::open_device(&path).unwrap();
        s.sign_in_with(&fast(), &url, "worker", "pw", "x").unwrap();
        s.create_report(gridwork_store::NewReport {
            grid: "g1".into(),
            category: gridwork_model::ReportCategory::Other,
            severity: 1,
            title: "t".into(),
            description: String::new(),
            location: None,
            submit: false,
        })
        .unwrap();
        match s.sign_out(false).unwrap_err() {
            Error::InvalidInput { field, reason } => {
                assert_eq!(field, "sign_out");
                assert!(reason.contains("1 unsynced change"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(s.session().unwrap().is_some());
        s.sign_out(true).unwrap();
        assert!(s.session().unwrap().is_none());
        assert_eq!(s.identity().user_id, SIGNED_OUT_USER);
        assert_eq!(s.pending_count().unwrap(), 1, "the change stays");
        let seen = h.join().unwrap();
        assert!(seen[1].starts_with("POST /v1/sign-out"));
        assert!(seen[1]
            .to_ascii_lowercase()
            .contains("authorization: bearer gw1_secret"));
    }

    #[test]
    fn urls_are_checked() {
        assert_eq!(
            normalize_url("https://a.example/").unwrap(),
            "https://a.example"
        );
        assert!(normalize_url("ftp://x").is_err());
        assert!(normalize_url("https://").is_err());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let cfg = SyncConfig {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            ..SyncConfig::default()
        };
        assert!(backoff(&cfg, 1) <= Duration::from_millis(150));
        assert!(backoff(&cfg, 1) >= Duration::from_millis(50));
        assert!(backoff(&cfg, 20) <= Duration::from_millis(1000));
    }

    // ------------------------------------------------------------ quotas (issue 8)

    fn report_in_g1(title: &str) -> gridwork_store::NewReport {
        gridwork_store::NewReport {
            grid: "g1".into(),
            category: gridwork_model::ReportCategory::Other,
            severity: 1,
            title: title.into(),
            description: String::new(),
            location: None,
            submit: false,
        }
    }

    fn sync_answer(resp: &SyncResponse) -> Vec<u8> {
        http(
            "200 OK",
            wire::SYNC_CONTENT_TYPE,
            &wire::encode_response(resp),
        )
    }

    fn quota_refusal(doc_id: &str, hash: &str) -> wire::Rejected {
        wire::Rejected {
            doc_id: doc_id.into(),
            hash: hash.into(),
            field: None,
            reason: "this device's daily quota of changes is used up".into(),
            code: wire::RejectCode::Quota,
        }
    }

    fn pushed_refs(req: &SyncRequest) -> Vec<String> {
        req.push.iter().map(|d| d.doc_id.clone()).collect()
    }

    #[test]
    fn an_old_server_is_asked_again_in_version_1_without_the_directory() {
        let (_d, s) = tmp_store();
        let (url, h) = canned(vec![sign_in_ok()]);
        s.sign_in_with(&fast(), &url, "worker", "pw", "x").unwrap();
        h.join().unwrap();
        s.create_report(report_in_g1("r")).unwrap();
        let out = s.sync_side().outbox(usize::MAX).unwrap();
        let (doc_id, hash) = (out[0].doc_id.clone(), out[0].changes[0].hash.clone());
        // A version 1 server: refuses version 2, answers version 1.
        let old = http(
            "400 Bad Request",
            "application/json",
            br#"{"code":"unsupported_version","message":"unsupported protocol version 2 (this build speaks 1)","retryable":false}"#,
        );
        let v1 = sync_answer(&SyncResponse {
            version: 1,
            accepted: vec![wire::ChangeRef { doc_id, hash }],
            cursor: "v1.1.all".into(),
            ..Default::default()
        });
        let mut answers = vec![old, v1].into_iter();
        let (url, h) = serve(2, move |_, _| answers.next().unwrap_or_default());
        point_session_at(&s, &url);
        let r = s.sync_with(&fast(), &|_| {}).unwrap();
        assert_eq!((r.pushed, r.accepted), (1, 1));
        let seen = h.join().unwrap();
        let versions: Vec<u32> = seen
            .iter()
            .map(|(_, body)| {
                wire::decode_request(body, wire::REQUEST_LIMITS)
                    .unwrap()
                    .version
            })
            .collect();
        assert_eq!(versions, [wire::PROTOCOL_VERSION, 1]);
        assert_eq!(s.pending_count().unwrap(), 0);
        assert!(s.directory().unwrap().is_empty());
    }

    #[test]
    fn quota_refusals_are_held_pending_and_sent_again_by_a_later_sync() {
        let (_d, s) = tmp_store();
        let (url, h) = canned(vec![sign_in_ok()]);
        s.sign_in_with(&fast(), &url, "worker", "pw", "x").unwrap();
        h.join().unwrap();
        for i in 0..3 {
            s.create_report(report_in_g1(&format!("r{i}"))).unwrap();
        }
        let out = s.sync_side().outbox(usize::MAX).unwrap();
        let refs: Vec<(String, String)> = out
            .iter()
            .map(|d| (d.doc_id.clone(), d.changes[0].hash.clone()))
            .collect();
        assert_eq!(refs.len(), 3);
        // First sync: the server keeps the first change, holds the other two back (quota).
        // Second sync: it takes them.
        let first = SyncResponse {
            version: wire::PROTOCOL_VERSION,
            accepted: vec![wire::ChangeRef {
                doc_id: refs[0].0.clone(),
                hash: refs[0].1.clone(),
            }],
            rejected: refs[1..].iter().map(|(d, h)| quota_refusal(d, h)).collect(),
            changes: vec![],
            cursor: "v1.1.all".into(),
            more: false,
            directory: None,
        };
        let second = SyncResponse {
            version: wire::PROTOCOL_VERSION,
            accepted: refs[1..]
                .iter()
                .map(|(d, h)| wire::ChangeRef {
                    doc_id: d.clone(),
                    hash: h.clone(),
                })
                .collect(),
            rejected: vec![],
            changes: vec![],
            cursor: "v1.3.all".into(),
            more: false,
            directory: None,
        };
        let answers = [sync_answer(&first)];
        let (url, h) = serve(1, move |_, _| answers[0].clone());
        point_session_at(&s, &url);
        // One connection only: a client that looped on the held changes would fail to connect
        // again and the sync would end in a network error.
        let r = s.sync_with(&fast(), &|_| {}).unwrap();
        let seen = h.join().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(
            (r.pushed, r.accepted, r.rejected, r.held_by_quota),
            (3, 1, 0, 2)
        );
        assert_eq!(s.pending_count().unwrap(), 2, "held changes stay pending");
        assert!(s.quarantine().unwrap().is_empty(), "nothing is quarantined");
        let hold = s
            .quota_hold()
            .unwrap()
            .expect("the quota refusal is recorded");
        assert_eq!(hold.held, 2);
        assert!(hold.reason.contains("quota"), "{}", hold.reason);
        assert!(hold.at_ms > gridwork_model::Millis(0));
        assert_eq!(s.sync_cursor().unwrap().as_deref(), Some("v1.1.all"));

        let answers = [sync_answer(&second)];
        let (url, h) = serve(1, move |_, _| answers[0].clone());
        point_session_at(&s, &url);
        let r = s.sync_with(&fast(), &|_| {}).unwrap();
        let seen = h.join().unwrap();
        let req = wire::decode_request(&seen[0].1, wire::REQUEST_LIMITS).unwrap();
        let mut sent = pushed_refs(&req);
        sent.sort();
        let mut held: Vec<String> = refs[1..].iter().map(|(d, _)| d.clone()).collect();
        held.sort();
        assert_eq!(sent, held, "the held changes are sent again");
        assert_eq!((r.pushed, r.accepted, r.held_by_quota), (2, 2, 0));
        assert_eq!(s.pending_count().unwrap(), 0);
        let hold = s
            .quota_hold()
            .unwrap()
            .expect("the last refusal stays noted");
        assert_eq!(hold.held, 0, "nothing is held any more");
    }

    #[test]
    fn after_a_quota_refusal_the_sync_still_pulls_but_pushes_nothing_more() {
        let (_d, s) = tmp_store();
        let (url, h) = canned(vec![sign_in_ok()]);
        s.sign_in_with(&fast(), &url, "worker", "pw", "x").unwrap();
        h.join().unwrap();
        for i in 0..2 {
            s.create_report(report_in_g1(&format!("r{i}"))).unwrap();
        }
        let refs: Vec<(String, String)> = s
            .sync_side()
            .outbox(usize::MAX)
            .unwrap()
            .iter()
            .map(|d| (d.doc_id.clone(), d.changes[0].hash.clone()))
            .collect();
        let page1 = SyncResponse {
            version: wire::PROTOCOL_VERSION,
            accepted: vec![],
            rejected: refs.iter().map(|(d, h)| quota_refusal(d, h)).collect(),
            changes: vec![],
            cursor: "v1.5.all".into(),
            more: true,
            directory: None,
        };
        let page2 = SyncResponse {
            version: wire::PROTOCOL_VERSION,
            cursor: "v1.9.all".into(),
            more: false,
            ..Default::default()
        };
        let answers = [sync_answer(&page1), sync_answer(&page2)];
        let mut n = 0;
        let (url, h) = serve(2, move |_, _| {
            n += 1;
            answers[n - 1].clone()
        });
        point_session_at(&s, &url);
        let r = s.sync_with(&fast(), &|_| {}).unwrap();
        let seen = h.join().unwrap();
        assert_eq!(seen.len(), 2, "one more page was pulled");
        let second = wire::decode_request(&seen[1].1, wire::REQUEST_LIMITS).unwrap();
        assert!(second.push.is_empty(), "nothing pushed after the quota");
        assert_eq!(second.cursor.as_deref(), Some("v1.5.all"));
        assert_eq!(
            (r.pushed, r.accepted, r.rejected, r.held_by_quota),
            (2, 0, 0, 2)
        );
        assert_eq!(s.pending_count().unwrap(), 2);
        assert!(s.quarantine().unwrap().is_empty());
        assert_eq!(s.sync_cursor().unwrap().as_deref(), Some("v1.9.all"));
    }

    #[test]
    fn a_quota_refusal_is_noted_even_when_the_sync_fails_later() {
        let (_d, s) = tmp_store();
        let (url, h) = canned(vec![sign_in_ok()]);
        s.sign_in_with(&fast(), &url, "worker", "pw", "x").unwrap();
        h.join().unwrap();
        s.create_report(report_in_g1("r")).unwrap();
        let out = s.sync_side().outbox(usize::MAX).unwrap();
        let page1 = SyncResponse {
            version: wire::PROTOCOL_VERSION,
            rejected: vec![quota_refusal(&out[0].doc_id, &out[0].changes[0].hash)],
            cursor: "v1.5.all".into(),
            more: true,
            ..Default::default()
        };
        // The server goes away after the first page: the next page fails.
        let answers = [sync_answer(&page1)];
        let (url, h) = serve(1, move |_, _| answers[0].clone());
        point_session_at(&s, &url);
        let e = s.sync_with(&fast(), &|_| {}).unwrap_err();
        h.join().unwrap();
        assert!(
            matches!(
                e,
                Error::Network {
                    retryable: true,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(s.quota_hold().unwrap().unwrap().held, 1);
        assert_eq!(s.pending_count().unwrap(), 1);
        assert!(s.quarantine().unwrap().is_empty());
    }

    #[test]
    fn other_refusal_codes_are_still_quarantined() {
        let (_d, s) = tmp_store();
        let (url, h) = canned(vec![sign_in_ok()]);
        s.sign_in_with(&fast(), &url, "worker", "pw", "x").unwrap();
        h.join().unwrap();
        s.create_report(report_in_g1("r")).unwrap();
        let out = s.sync_side().outbox(usize::MAX).unwrap();
        let resp = SyncResponse {
            version: wire::PROTOCOL_VERSION,
            rejected: vec![wire::Rejected {
                doc_id: out[0].doc_id.clone(),
                hash: out[0].changes[0].hash.clone(),
                field: Some("title".into()),
                reason: "a text over its limit".into(),
                code: wire::RejectCode::TooLarge,
            }],
            cursor: "v1.1.all".into(),
            ..Default::default()
        };
        let answers = [sync_answer(&resp)];
        let (url, h) = serve(1, move |_, _| answers[0].clone());
        point_session_at(&s, &url);
        let r = s.sync_with(&fast(), &|_| {}).unwrap();
        h.join().unwrap();
        assert_eq!((r.rejected, r.held_by_quota), (1, 0));
        assert_eq!(s.pending_count().unwrap(), 0);
        let q = s.quarantine().unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].field.as_deref(), Some("title"));
        assert!(s.quota_hold().unwrap().is_none());
    }

    /// 5,000 reports made offline: each request stays within the per-request quotas, the
    /// server's daily quota of new documents holds the rest back, and the next day's sync sends
    /// them.
    #[test]
    fn a_large_offline_outbox_goes_over_several_requests_within_the_quotas() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        const REPORTS: usize = 5_000;
        const DAY_NEW_DOCS: usize = 2_000;
        let (_d, s) = tmp_store();
        let (url, h) = canned(vec![sign_in_ok()]);
        s.sign_in_with(&fast(), &url, "worker", "pw", "x").unwrap();
        h.join().unwrap();
        for i in 0..REPORTS {
            s.create_report(report_in_g1(&format!("离线记录 {i}")))
                .unwrap();
        }
        // A fake server that keeps the documents it has seen and refuses new documents over
        // its daily quota with `quota`, the way gridwork-server does.
        let new_today = Arc::new(AtomicUsize::new(0));
        let counter = new_today.clone();
        let mut known = HashSet::new();
        let mut seq = 0u64;
        let respond = move |_: &str, body: &[u8]| {
            let req = wire::decode_request(body, wire::REQUEST_LIMITS).unwrap();
            let mut resp = SyncResponse {
                version: wire::PROTOCOL_VERSION,
                ..Default::default()
            };
            for d in req.push {
                let new = !known.contains(&d.doc_id);
                let over = new && counter.load(Ordering::SeqCst) >= DAY_NEW_DOCS;
                for c in d.changes {
                    let hash = automerge::Change::from_bytes(c).unwrap().hash().to_string();
                    if over {
                        resp.rejected.push(quota_refusal(&d.doc_id, &hash));
                    } else {
                        resp.accepted.push(wire::ChangeRef {
                            doc_id: d.doc_id.clone(),
                            hash,
                        });
                        seq += 1;
                    }
                }
                if new && !over {
                    counter.fetch_add(1, Ordering::SeqCst);
                    known.insert(d.doc_id);
                }
            }
            resp.cursor = format!("v1.{seq}.all");
            sync_answer(&resp)
        };
        // Each day: up to 2,000 accepted in requests of 200 new documents; when the quota is
        // used up, one more request is answered `quota` and the rest waits for the next day.
        let per_request = gate::MAX_PUSH_NEW_DOCS;
        let requests = 2 * (DAY_NEW_DOCS / per_request + 1)
            + (REPORTS - 2 * DAY_NEW_DOCS).div_ceil(per_request);
        let (url, h) = serve(requests, respond);
        point_session_at(&s, &url);
        let mut left = REPORTS as u64;
        for day in 1..=3 {
            new_today.store(0, Ordering::SeqCst);
            let r = s.sync_with(&fast(), &|_| {}).unwrap();
            let expect = left.min(DAY_NEW_DOCS as u64);
            left -= expect;
            assert_eq!(r.accepted, expect, "day {day}");
            assert_eq!(r.held_by_quota, left, "day {day}");
            assert_eq!(r.rejected, 0);
            assert_eq!(s.pending_count().unwrap(), left);
            assert!(s.quarantine().unwrap().is_empty());
            assert_eq!(s.quota_hold().unwrap().unwrap().held, left);
        }
        assert_eq!(left, 0);
        let seen = h.join().unwrap();
        assert_eq!(seen.len(), requests);
        for (_, body) in &seen {
            let req = wire::decode_request(body, wire::REQUEST_LIMITS).unwrap();
            let changes: usize = req.push.iter().map(|d| d.changes.len()).sum();
            assert!(
                req.push.len() <= gate::MAX_PUSH_NEW_DOCS,
                "{} documents",
                req.push.len()
            );
            assert!(req.push.len() <= gate::MAX_PUSH_DOCS);
            assert!(changes <= gate::MAX_PUSH_CHANGES);
            assert!(!req.push.is_empty());
        }
    }

    #[test]
    fn the_outbox_keeps_within_the_per_request_limits() {
        let (_d, s) = tmp_store();
        let (url, h) = canned(vec![sign_in_ok()]);
        s.sign_in_with(&fast(), &url, "worker", "pw", "x").unwrap();
        h.join().unwrap();
        let n = gate::MAX_PUSH_NEW_DOCS + 5;
        let mut ids = Vec::new();
        for i in 0..n {
            ids.push(s.create_report(report_in_g1(&format!("r{i}"))).unwrap());
        }
        let out = s.sync_side().outbox(usize::MAX).unwrap();
        assert_eq!(
            out.len(),
            gate::MAX_PUSH_NEW_DOCS,
            "new documents per request"
        );
        // Acknowledge the creations: edits of known documents are not new documents.
        let acked = out
            .iter()
            .map(|d| (d.doc_id.clone(), d.changes[0].hash.clone()))
            .collect();
        s.sync_side()
            .apply_sync(SyncApply {
                acked,
                ..Default::default()
            })
            .unwrap();
        for id in &ids[..gate::MAX_PUSH_NEW_DOCS] {
            s.update_report(
                id,
                gridwork_store::ReportPatch {
                    severity: Some(3),
                    ..Default::default()
                },
            )
            .unwrap();
        }
        // 5 creations first (oldest), then 200 edits: all fit in one request.
        let out = s.sync_side().outbox(usize::MAX).unwrap();
        assert_eq!(out.len(), n);
        assert_eq!(out.iter().map(|d| d.changes.len()).sum::<usize>(), n);
    }

    /// Points the saved session at another (test) server.
    fn point_session_at(s: &Store, url: &str) {
        let mut saved = saved_session(s).unwrap().unwrap();
        saved.server_url = url.to_owned();
        s.sync_side()
            .set_meta(META_SESSION, &serde_json::to_string(&saved).unwrap())
            .unwrap();
    }
}
