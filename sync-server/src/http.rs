//! HTTP layer: routes, authentication, body limits, timeouts. Handlers decode, call the blocking
//! store/sync code through `spawn_blocking`, and encode. Every error answer is a JSON
//! [`gridwork_protocol::wire::ErrorBody`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use chrono::Utc;
use gridwork_protocol::wire::{self, ErrorCode, Limits, SignInRequest, SignInResponse};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth;
use crate::blob::{self, Blobs, PutError, PutOutcome};
use crate::cancel::Cancel;
use crate::error::ApiError;
use crate::store::{DeviceAuth, Scope, ServerStore};
use crate::sync::{handle_sync, PullConfig};

use crate::limits::{self, ByteBudget, Gate, HashPool, SignInLimiter, SignInLimits};

/// Limits and durations of the HTTP API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub token_ttl: Duration,
    pub request_timeout: Duration,
    /// Sync request body limits (compressed / decompressed).
    pub sync_limits: Limits,
    pub pull: PullConfig,
    /// Per-device push quotas (per request, per day).
    pub quotas: crate::quota::Quotas,
    /// Sign-in rate limits (per account, per client address, lockout).
    pub sign_in: SignInLimits,
    /// Password hashes (~19 MiB each) computed at once, and sign-ins waiting for one.
    pub max_concurrent_hashes: usize,
    pub max_hash_waiters: usize,
    /// Sync requests doing their blocking work at once, and sync requests waiting for a slot.
    pub max_concurrent_syncs: usize,
    pub max_sync_waiters: usize,
    /// Bytes of sync request bodies held in memory at once, over all connections.
    pub max_body_bytes_in_flight: usize,
    /// Longest wait for a hash or sync slot before answering `503` with `Retry-After`.
    pub max_queue_wait: Duration,
    /// Take the client address for sign-in limits from the last `X-Forwarded-For` entry (only
    /// behind a reverse proxy that sets it; otherwise clients could pick their own address).
    pub trust_forwarded_for: bool,
    /// The web console under `/console`.
    pub console: crate::console::ConsoleConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        let cores = limits::cores();
        ApiConfig {
            token_ttl: Duration::from_secs(30 * 24 * 3600),
            request_timeout: Duration::from_secs(30),
            sync_limits: wire::REQUEST_LIMITS,
            pull: PullConfig::default(),
            quotas: crate::quota::Quotas::default(),
            sign_in: SignInLimits::default(),
            max_concurrent_hashes: cores,
            max_hash_waiters: 8 * cores,
            max_concurrent_syncs: 2 * cores,
            max_sync_waiters: 1024,
            max_body_bytes_in_flight: 256 << 20,
            max_queue_wait: Duration::from_secs(10),
            trust_forwarded_for: false,
            console: crate::console::ConsoleConfig::default(),
        }
    }
}

/// Shared runtime bounds: the gates around password hashing and sync work, the sign-in limiter.
/// Built by [`router`] from the [`ApiConfig`] and reached by handlers as an extension.
pub struct Guards {
    pub hashes: Gate,
    /// As many threads as `hashes` has permits.
    pub hash_pool: HashPool,
    pub syncs: Gate,
    /// Sync request bodies in memory (reserved before reading, released after decoding).
    pub bodies: ByteBudget,
    pub sign_in: SignInLimiter,
}

impl Guards {
    pub fn new(c: &ApiConfig) -> Guards {
        Guards {
            hash_pool: HashPool::new(c.max_concurrent_hashes.max(1)),
            hashes: Gate::new(
                "password checks",
                c.max_concurrent_hashes,
                c.max_hash_waiters,
                c.max_queue_wait,
            ),
            syncs: Gate::new(
                "sync requests",
                c.max_concurrent_syncs,
                c.max_sync_waiters,
                c.max_queue_wait,
            ),
            bodies: ByteBudget::new(c.max_body_bytes_in_flight, c.max_queue_wait),
            sign_in: SignInLimiter::new(c.sign_in),
        }
    }
}

/// The client's address: the TCP peer (serve with `into_make_service_with_connect_info`), or the
/// last `X-Forwarded-For` entry when [`ApiConfig::trust_forwarded_for`] is set. `None` when
/// neither is known (then only per-account limits apply).
pub struct PeerAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &AppState,
    ) -> Result<Self, std::convert::Infallible> {
        if st.config.trust_forwarded_for {
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|a| a.trim().parse::<IpAddr>().ok())
                .next_back();
            if forwarded.is_some() {
                return Ok(PeerAddr(forwarded));
            }
        }
        Ok(PeerAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// Largest JSON body (sign-in).
const MAX_JSON_BODY: usize = 64 << 10;
/// Most actor ids one device may register.
const MAX_ACTORS: usize = 16;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn ServerStore>,
    pub config: Arc<ApiConfig>,
    /// Photo blobs (`/v1/blobs/{sha256}`).
    pub blobs: Arc<Blobs>,
}

pub fn router(state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    // The outer limit is a safety net above the per-endpoint limits, which answer in JSON.
    let hard_limit = state.config.sync_limits.max_compressed.max(MAX_JSON_BODY) + (1 << 20);
    let blob_limit = usize::try_from(state.blobs.max_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(1 << 20);
    let api = Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/sign-in", post(sign_in))
        .route("/v1/sign-out", post(sign_out))
        .route("/v1/sync", post(sync))
        .route("/v1/access-log", post(access_log))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(hard_limit));
    let blobs = Router::new()
        .route(
            "/v1/blobs/{hash}",
            put(put_blob).get(get_blob).head(head_blob),
        )
        .layer(tower_http::limit::RequestBodyLimitLayer::new(blob_limit));
    let guards = Arc::new(Guards::new(&state.config));
    let console = Arc::new(crate::console::ConsoleState::new(
        state.config.console.clone(),
    ));
    Router::new()
        .merge(api)
        .merge(blobs)
        .merge(crate::console::router().layer(Extension(console)).layer(
            tower_http::limit::RequestBodyLimitLayer::new(
                crate::console::form::MAX_FORM_BYTES + 1024,
            ),
        ))
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such endpoint") })
        .layer(Extension(guards))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        // Spans name the method and the path, never the query string: console searches and
        // filters carry what people typed (a resident's name, say).
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
            }),
        )
        .with_state(state)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "request task failed");
            Err(ApiError::new(ErrorCode::Internal, "internal server error"))
        }
    }
}

/// Reads a body of at most `limit` bytes, answering `too_large` before reading when the declared
/// length is over, and while reading when the sent bytes are.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::TooLarge,
            format!("request body larger than {limit} bytes"),
        )
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
    {
        if len > limit as u64 {
            return Err(too_large());
        }
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let inner = e.into_inner();
        if inner
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
        {
            too_large()
        } else {
            ApiError::bad_request(format!("could not read the request body: {inner}"))
        }
    })
}

async fn healthz(State(st): State<AppState>) -> Response {
    let store = st.store.clone();
    match blocking(move || store.health().map_err(ApiError::from)).await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(_) => ApiError::new(ErrorCode::Unavailable, "database unavailable").into_response(),
    }
}

/// Longest username and password accepted (longer ones cannot exist; refused before hashing).
const MAX_USERNAME_CHARS: usize = 200;
const MAX_PASSWORD_CHARS: usize = 1024;

/// Parses the sign-in JSON. Errors name the field and what is wrong, never quote what was sent
/// (serde's own messages quote values, e.g. a password sent as the wrong type).
fn parse_sign_in(body: &[u8]) -> Result<SignInRequest, ApiError> {
    use serde_json::Value;
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(match e.classify() {
            serde_json::error::Category::Eof => "sign-in body: the JSON ends early".to_owned(),
            _ => format!(
                "sign-in body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        })
    })?;
    let Value::Object(mut obj) = v else {
        return Err(ApiError::bad_request("sign-in body must be a JSON object"));
    };
    let mut string = |field: &str| match obj.remove(field) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(ApiError::bad_request(format!(
            "sign-in body: `{field}` is missing"
        ))),
        Some(_) => Err(ApiError::bad_request(format!(
            "sign-in body: `{field}` must be a string"
        ))),
    };
    let username = string("username")?;
    let password = string("password")?;
    let device_name = string("device_name")?;
    let actors = match obj.remove("actors") {
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|x| match x {
                Value::String(s) => Ok(s),
                _ => Err(ApiError::bad_request(
                    "sign-in body: `actors` must be an array of strings",
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request("sign-in body: `actors` is missing"))
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "sign-in body: `actors` must be an array of strings",
            ))
        }
    };
    Ok(SignInRequest {
        username,
        password,
        device_name,
        actors,
    })
}

fn check_sign_in(req: &SignInRequest) -> Result<(), ApiError> {
    if req.username.is_empty() || req.username.chars().count() > MAX_USERNAME_CHARS {
        return Err(ApiError::bad_request(format!(
            "username must be 1 to {MAX_USERNAME_CHARS} characters"
        )));
    }
    if req.password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ApiError::bad_request(format!(
            "password is longer than {MAX_PASSWORD_CHARS} characters"
        )));
    }
    if req.actors.len() > MAX_ACTORS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_ACTORS} actor ids per device"
        )));
    }
    for a in &req.actors {
        let ok = !a.is_empty()
            && a.len() <= 64
            && a.len() % 2 == 0
            && a.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(ApiError::bad_request(
                "actor ids must be lowercase hex, 2 to 64 characters",
            ));
        }
        if gridwork_model::doc::is_console_actor(a) {
            return Err(ApiError::bad_request(
                "actors: this prefix is reserved for the web console",
            ));
        }
    }
    if req.device_name.chars().count() > 200 {
        return Err(ApiError::bad_request(
            "device_name is longer than 200 characters",
        ));
    }
    Ok(())
}

/// `POST /v1/sign-in`. Order of the costs: body limit and shape; rate limits per client address
/// and per account (and the account's lockout), all in memory; then a slot of the password-hash
/// gate (bounded queue, else `503`); then the hash itself on a blocking thread.
async fn sign_in(
    State(st): State<AppState>,
    Extension(guards): Extension<Arc<Guards>>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<SignInResponse>, ApiError> {
    let body = read_body(&headers, body, MAX_JSON_BODY).await?;
    let req = parse_sign_in(&body)?;
    drop(body);
    check_sign_in(&req)?;
    let user = verify_credentials(&st, &guards, peer, req.username, req.password)
        .await?
        .ok_or_else(|| ApiError::unauthorized("wrong username or password"))?;
    let store = st.store.clone();
    let ttl = st.config.token_ttl;
    let device_name = req.device_name;
    let actors = req.actors;
    blocking(move || {
        let (token, token_hash) = auth::new_token();
        let expires_at =
            Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(30));
        let device_id =
            store.create_device(&user.id, &device_name, &token_hash, expires_at, &actors)?;
        let scope = store.scope(&user)?;
        let scope_grids = store.scope_grid_ids(&scope)?;
        tracing::info!(user_id = %user.id, device_id = %device_id, "signed in");
        Ok(Json(SignInResponse {
            token,
            user_id: user.id,
            role: user.role.as_str().to_owned(),
            display_name: user.display_name,
            scope_grids,
            expires_at,
        }))
    })
    .await
}

/// Checks a username and password within the sign-in limits: rate limits per client address and
/// per account (and the account's lockout), all in memory; then a slot of the password-hash gate
/// (bounded queue, else `503`); then the hash itself on a pool thread. `Ok(None)`: wrong
/// username or password, or a disabled account (counted against the lockout). Shared by device
/// sign-in and the web console.
pub(crate) async fn verify_credentials(
    st: &AppState,
    guards: &Guards,
    peer: Option<IpAddr>,
    username: String,
    password: String,
) -> Result<Option<crate::store::User>, ApiError> {
    let attempt = guards.sign_in.admit(&username, peer).map_err(|r| {
        tracing::info!(retry_after = r.retry_after(), refusal = ?r, "sign-in rate limited");
        r.into_api_error()
    })?;
    let permit = match guards.hashes.acquire().await {
        Ok(p) => p,
        Err(e) => {
            guards.sign_in.abandoned(attempt);
            return Err(e);
        }
    };
    let store = st.store.clone();
    let username_len = username.len();
    let checked = guards
        .hash_pool
        .run(move || {
            // Held while the hash runs: at most `max_concurrent_hashes` hashes at once, each on
            // a pool thread that reuses its ~19 MiB of argon2 memory.
            let _permit = permit;
            let found = store.user_by_username(&username)?;
            let (user, hash) = match found {
                Some((u, h)) => (Some(u), h),
                None => (None, auth::dummy_hash().to_owned()),
            };
            let ok = auth::verify_password_reusing_memory(&password, &hash);
            Ok::<_, ApiError>(match user {
                Some(u) if ok && !u.disabled => Some(u),
                _ => None,
            })
        })
        .await
        .unwrap_or_else(|| Err(ApiError::new(ErrorCode::Internal, "internal server error")));
    match checked {
        Ok(Some(u)) => {
            guards.sign_in.succeeded(attempt);
            Ok(Some(u))
        }
        Ok(None) => {
            let lockout = guards.sign_in.failed(attempt);
            tracing::info!(
                username_len,
                lockout_secs = lockout.map(|d| d.as_secs()),
                "sign-in refused"
            );
            Ok(None)
        }
        Err(e) => {
            guards.sign_in.abandoned(attempt);
            Err(e)
        }
    }
}

/// Most entries in one `POST /v1/access-log`.
const MAX_ACCESS_ENTRIES: usize = 500;
/// Largest `POST /v1/access-log` body: the largest legal batch (500 entries with 500-character
/// Chinese reasons, about 830 KB) fits.
const MAX_ACCESS_BODY: usize = 1 << 20;

/// `POST /v1/access-log`: `{"entries": [{"at_ms", "doc_id", "what", "reason"}]}` — the records a
/// device showed in full, and why. Written under the device's user (never a user named in the
/// body). Every entry is checked before any is stored; a wrong one refuses the request naming
/// `entries[i].field`, never the value. A record the server holds must be in the user's scope.
async fn access_log(
    State(st): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    #[derive(serde::Deserialize)]
    struct Entry {
        at_ms: i64,
        doc_id: String,
        what: String,
        reason: String,
    }
    #[derive(serde::Deserialize)]
    struct Body_ {
        entries: Vec<Entry>,
    }
    let body = read_body(&headers, body, MAX_ACCESS_BODY).await?;
    let parsed: Body_ = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("access log body: not {\"entries\": [...]} JSON"))?;
    if parsed.entries.len() > MAX_ACCESS_ENTRIES {
        return Err(ApiError::bad_request(format!(
            "entries: at most {MAX_ACCESS_ENTRIES} per request"
        )));
    }
    let now = Utc::now().timestamp_millis();
    for (i, e) in parsed.entries.iter().enumerate() {
        let bad =
            |field: &str, why: &str| ApiError::bad_request(format!("entries[{i}].{field}: {why}"));
        if e.at_ms < 1_577_836_800_000 || e.at_ms > now + 86_400_000 {
            return Err(bad("at_ms", "not a plausible time"));
        }
        if gridwork_model::check_id("doc_id", &e.doc_id).is_err() {
            return Err(bad("doc_id", "not a record id"));
        }
        if e.what.parse::<gridwork_model::RecordKind>().is_err() {
            return Err(bad("what", "not a record kind"));
        }
        let n = e.reason.trim().chars().count();
        if !(4..=500).contains(&n) || e.reason.chars().any(|c| c.is_control() && c != '\n') {
            return Err(bad(
                "reason",
                "4 to 500 characters without control characters",
            ));
        }
    }
    let store = st.store.clone();
    let user_id = authed.device.user.id.clone();
    let scope = authed.scope.clone();
    let n = parsed.entries.len();
    blocking(move || {
        // The list row, not the document: a grid is all this needs.
        for (i, e) in parsed.entries.iter().enumerate() {
            if let Some(row) = store.record_row(&e.doc_id)? {
                if !scope.contains(&row.grid) {
                    return Err(ApiError::new(
                        ErrorCode::Forbidden,
                        format!("entries[{i}].doc_id: not a record in your scope"),
                    ));
                }
            }
        }
        for e in &parsed.entries {
            store.log_access(&crate::records::AccessEntry {
                at_ms: e.at_ms,
                user_id: user_id.clone(),
                doc_id: e.doc_id.clone(),
                what: e.what.clone(),
                reason: e.reason.trim().to_owned(),
            })?;
        }
        Ok(())
    })
    .await?;
    tracing::info!(entries = n, "access log received");
    Ok(Json(serde_json::json!({ "accepted": n })))
}

/// The device behind the request's bearer token, with its user's scope.
pub struct Authed {
    pub device: DeviceAuth,
    pub scope: Scope,
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("missing Authorization: Bearer <token> header")
        })?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("Authorization header must be `Bearer <token>`")
            })?;
        let hash = auth::token_hash(token);
        let check = |device: DeviceAuth, scope: Scope| {
            if device.revoked {
                return Err(ApiError::unauthorized(
                    "this device was signed out or revoked: sign in again",
                ));
            }
            if device.expires_at <= Utc::now() {
                return Err(ApiError::unauthorized("token expired: sign in again"));
            }
            if device.user.disabled {
                return Err(ApiError::unauthorized("this account is disabled"));
            }
            Ok(Authed { device, scope })
        };
        // Fast path: a cached lookup that nothing has invalidated (no blocking thread needed).
        if let Some((device, scope)) = st.store.cached_auth(&hash) {
            return check(device, scope);
        }
        let store = st.store.clone();
        let (device, scope) = blocking(move || {
            store
                .auth(&hash)?
                .ok_or_else(|| ApiError::unauthorized("unknown token: sign in again"))
        })
        .await?;
        check(device, scope)
    }
}

async fn sign_out(State(st): State<AppState>, authed: Authed) -> Result<StatusCode, ApiError> {
    let store = st.store.clone();
    blocking(move || {
        store.revoke_device(&authed.device.device_id)?;
        tracing::info!(device_id = %authed.device.device_id, "signed out");
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// Ends a deferral of push durability ([`ServerStore::defer_push_durability`]) on drop, waiting
/// for it; [`FinishDeferred::finish`] does the same and reports a failed sync of the disk.
struct FinishDeferred<'a>(&'a dyn ServerStore);

impl FinishDeferred<'_> {
    fn finish(self) -> Result<(), ApiError> {
        let r = self.0.finish_deferred_pushes();
        std::mem::forget(self);
        r.map_err(ApiError::from)
    }
}

impl Drop for FinishDeferred<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.finish_deferred_pushes() {
            tracing::error!(error = %e, "a deferred push did not become durable");
        }
    }
}

/// `POST /v1/sync`. The blocking work runs under a slot of the sync gate (bounded queue, else
/// `503` + `Retry-After`) and is cancelled at the request deadline or when the client goes away
/// (the handler's future is dropped: its [`crate::cancel::CancelOnDrop`] guard fires).
async fn sync(
    State(st): State<AppState>,
    Extension(guards): Extension<Arc<Guards>>,
    authed: Authed,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let cancel = Cancel::with_deadline(Instant::now() + st.config.request_timeout);
    let guard = cancel.guard();
    match headers
        .get(header::CONTENT_ENCODING)
        .map(HeaderValue::to_str)
    {
        Some(Ok(enc)) if enc.trim().eq_ignore_ascii_case(wire::SYNC_CONTENT_ENCODING) => {}
        _ => {
            return Err(ApiError::bad_request(format!(
                "sync bodies must be sent with Content-Type: {} and Content-Encoding: {}",
                wire::SYNC_CONTENT_TYPE,
                wire::SYNC_CONTENT_ENCODING
            )))
        }
    }
    let limits = st.config.sync_limits;
    // Reserve the body's bytes before reading it, so the bodies of all waiting requests
    // together stay within a fixed budget however many connections arrive.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .map_or(limits.max_compressed, |n| {
            usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(limits.max_compressed)
        });
    let body_bytes = guards.bodies.reserve(declared).await?;
    let body = read_body(&headers, body, limits.max_compressed).await?;
    let permit = guards.syncs.acquire().await?;
    let store = st.store.clone();
    let pull = st.config.pull;
    let quotas = st.config.quotas;
    let started = std::time::Instant::now();
    let work_cancel = cancel.clone();
    let result = blocking(move || {
        if work_cancel.is_cancelled() {
            return Err(ApiError::unavailable(
                "the request ran past its deadline before it could start; nothing was stored",
                1,
            ));
        }
        // The slot covers the work (decode, checks, commit, pull, encode); the wait for the
        // disk to make the push durable comes after it and holds no slot. The guard ends the
        // deferral (and waits) whatever happens, so the next task on this thread pushes as usual.
        store.defer_push_durability();
        let durable = FinishDeferred(store.as_ref());
        let encoded = (|| {
            let req = wire::decode_request(&body, limits)?;
            drop(body);
            drop(body_bytes);
            let pushed: usize = req.push.iter().map(|d| d.changes.len()).sum();
            let resp = handle_sync(
                store.as_ref(),
                &authed.device,
                &authed.scope,
                req,
                pull,
                &quotas,
                &work_cancel,
            )?;
            tracing::info!(
                device_id = %authed.device.device_id,
                pushed,
                accepted = resp.accepted.len(),
                rejected = resp.rejected.len(),
                pulled = resp.changes.len(),
                more = resp.more,
                "sync"
            );
            Ok::<_, ApiError>(wire::encode_response(&resp))
        })();
        drop(permit);
        // Acknowledged changes must be durable before the answer leaves.
        durable.finish()?;
        encoded
    })
    .await;
    // The work is over (done or failed): leaving now cancels nothing.
    guard.disarm();
    let encoded = result?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        bytes = encoded.len(),
        "sync encoded"
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(wire::SYNC_CONTENT_TYPE),
            ),
            (
                header::CONTENT_ENCODING,
                HeaderValue::from_static(wire::SYNC_CONTENT_ENCODING),
            ),
        ],
        encoded,
    )
        .into_response())
}

// ------------------------------------------------------------------------------------------------
// Photo blobs
// ------------------------------------------------------------------------------------------------

/// Response header carrying how many bytes of an unfinished upload the server holds.
pub const UPLOAD_OFFSET: &str = "upload-offset";

fn blob_hash(hash: &str) -> Result<(), ApiError> {
    if blob::is_hash(hash) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "a blob is named by the lowercase hex SHA-256 of its bytes (64 characters)",
        ))
    }
}

fn offset_header(n: u64) -> [(header::HeaderName, HeaderValue); 1] {
    [(
        header::HeaderName::from_static(UPLOAD_OFFSET),
        HeaderValue::from(n),
    )]
}

/// The `record` query parameter of a blob request: the document the photo is uploaded for.
fn record_param(uri: &Uri) -> Result<Option<String>, ApiError> {
    let Some(q) = uri.query() else {
        return Ok(None);
    };
    let mut found = None;
    for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
        if k != "record" {
            continue;
        }
        if found.is_some() {
            return Err(ApiError::bad_request("`record` is given more than once"));
        }
        if gridwork_model::record::check_id("record", &v).is_err() {
            return Err(ApiError::bad_request(
                "`record` must be a document id: 1 to 64 ASCII letters, digits or - _ . : @",
            ));
        }
        found = Some(v.into_owned());
    }
    Ok(found)
}

fn record_not_found() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "the record named by `record` is not in your scope or does not reference this photo",
    )
}

/// Whether `record` is in the caller's scope and references `hash` (the precondition of an
/// upload for it); and whether `hash` was already uploaded for it.
async fn record_for_upload(
    st: &AppState,
    scope: &Scope,
    hash: &str,
    record: &str,
) -> Result<(bool, bool), ApiError> {
    let store = st.store.clone();
    let (h, r) = (hash.to_owned(), record.to_owned());
    let (grid, uploaded) = blocking(move || {
        let grid = store.blob_ref_grid(&h, &r)?;
        let uploaded = grid.is_some() && store.blob_uploaded_for(&h, &r)?;
        Ok::<_, ApiError>((grid, uploaded))
    })
    .await?;
    let in_scope = grid.is_some_and(|g| scope.contains(&g));
    Ok((in_scope, in_scope && uploaded))
}

/// `HEAD /v1/blobs/{hash}?record=R`: `200` with `Content-Length` when the blob was uploaded (and
/// verified) for record `R`, which is in the caller's scope and references it; else `404` with
/// `Upload-Offset`, the bytes of an unfinished upload this device holds (0: none), to resume
/// from. Without `record` the answer is always the `404` with `Upload-Offset`.
async fn head_blob(
    State(st): State<AppState>,
    authed: Authed,
    axum::extract::Path(hash): axum::extract::Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    blob_hash(&hash)?;
    let record = record_param(&uri)?;
    if let Some(r) = &record {
        let (_, uploaded) = record_for_upload(&st, &authed.scope, &hash, r).await?;
        if uploaded {
            if let Some(len) = st.blobs.stored_len(&hash).await? {
                return Ok((
                    StatusCode::OK,
                    [(header::CONTENT_LENGTH, HeaderValue::from(len))],
                    offset_header(len),
                )
                    .into_response());
            }
        }
    }
    let held = st.blobs.partial_len(&authed.device.device_id, &hash).await;
    Ok((StatusCode::NOT_FOUND, offset_header(held)).into_response())
}

/// Parses `Content-Range: bytes START-END/TOTAL`.
fn content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let (a, b, t): (u64, u64, u64) = (
        a.trim().parse().ok()?,
        b.trim().parse().ok()?,
        total.trim().parse().ok()?,
    );
    (a <= b && b < t).then_some((a, b, t))
}

/// `PUT /v1/blobs/{hash}?record=R`: the whole blob, or one chunk with
/// `Content-Range: bytes A-B/TOTAL`. `R` must exist, be in the uploader's scope and reference the
/// hash (checked before the body is read). When this device's bytes are complete and verified,
/// `(hash, R)` is recorded: readers of `R` may then download the blob. Chunks that do not
/// complete the upload may be sent without `record` (e.g. before the record is pushed).
async fn put_blob(
    State(st): State<AppState>,
    authed: Authed,
    axum::extract::Path(hash): axum::extract::Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    blob_hash(&hash)?;
    let record = record_param(&uri)?;
    let max = st.blobs.max_bytes;
    let too_large = || {
        ApiError::new(
            ErrorCode::TooLarge,
            format!("a blob may hold at most {max} bytes"),
        )
    };
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    let (start, end, total) = match headers.get(header::CONTENT_RANGE) {
        Some(v) => {
            let (a, b, t) = v.to_str().ok().and_then(content_range).ok_or_else(|| {
                ApiError::bad_request("Content-Range must be `bytes START-END/TOTAL`")
            })?;
            if t > max {
                return Err(too_large());
            }
            if length.is_some_and(|l| l != b - a + 1) {
                return Err(ApiError::bad_request(
                    "Content-Length does not match Content-Range",
                ));
            }
            (a, b + 1, t)
        }
        None => {
            let l = length.ok_or_else(|| {
                ApiError::bad_request("a blob upload needs Content-Length (or Content-Range)")
            })?;
            if l > max {
                return Err(too_large());
            }
            (0, l, l)
        }
    };
    if length.is_some_and(|l| l > max) {
        return Err(too_large());
    }
    let device_id = authed.device.device_id.clone();
    match &record {
        None if end >= total => {
            return Err(ApiError::bad_request(
                "name the record the photo is uploaded for: PUT /v1/blobs/{sha256}?record=<document id> \
                 (only chunks that leave the upload unfinished may be sent without it)",
            ))
        }
        None => {}
        Some(r) => {
            let (in_scope, uploaded) = record_for_upload(&st, &authed.scope, &hash, r).await?;
            if !in_scope {
                return Err(record_not_found());
            }
            if uploaded && st.blobs.stored_len(&hash).await?.is_some() {
                // Nothing to do; read the body first so a client still sending sees this answer.
                blob::drain(http_body_util::BodyDataStream::new(body)).await;
                return Ok((StatusCode::OK, offset_header(total)).into_response());
            }
        }
    }
    let stream = http_body_util::BodyDataStream::new(body);
    let with_offset = |e: ApiError, status: StatusCode, held: u64| {
        let mut r = e.into_response();
        r.headers_mut().insert(
            header::HeaderName::from_static(UPLOAD_OFFSET),
            HeaderValue::from(held),
        );
        *r.status_mut() = status;
        r
    };
    match st.blobs.put(&device_id, &hash, start, total, stream).await {
        Ok(outcome @ (PutOutcome::Stored | PutOutcome::Verified)) => {
            if let Some(r) = record {
                let store = st.store.clone();
                let (h, d) = (hash.clone(), device_id.clone());
                blocking(move || store.record_blob_upload(&h, &r, &d).map_err(ApiError::from))
                    .await?;
            }
            tracing::info!(hash, bytes = total, ?outcome, "blob upload complete");
            Ok((StatusCode::CREATED, offset_header(total)).into_response())
        }
        Ok(PutOutcome::Partial(held)) => {
            Ok((StatusCode::ACCEPTED, offset_header(held)).into_response())
        }
        Err(PutError::TooLarge(_)) => Err(too_large()),
        Err(PutError::HashMismatch) => Err(ApiError::bad_request(
            "the uploaded bytes do not match the blob's SHA-256: upload discarded",
        )),
        Err(PutError::Gap { held }) => Ok(with_offset(
            ApiError::bad_request(format!(
                "this chunk starts after the {held} bytes held: resume at offset {held}"
            )),
            StatusCode::CONFLICT,
            held,
        )),
        Err(PutError::Busy) => Err(ApiError::unavailable(
            "another upload of this blob from this device is in progress",
            1,
        )),
        Err(PutError::TooManyPartials(n)) => Err(ApiError::rate_limited(
            format!(
                "this device has {n} unfinished photo uploads: finish one before starting another"
            ),
            60,
        )),
        Err(PutError::StagingFull) => Err(ApiError::unavailable(
            "the server has no room for more unfinished uploads now: retry later",
            300,
        )
        .with_status(StatusCode::INSUFFICIENT_STORAGE)),
        Err(PutError::Invalid(m)) => Err(ApiError::bad_request(m)),
        Err(PutError::Interrupted { held }) => Ok(with_offset(
            ApiError::bad_request(format!("the body ended early; {held} bytes held")),
            StatusCode::BAD_REQUEST,
            held,
        )),
        Err(PutError::Storage(e)) => Err(e.into()),
    }
}

/// `GET /v1/blobs/{hash}`: the bytes, streamed, only if the blob was uploaded for a record that
/// is in the caller's scope and still references it (otherwise `404`, the same answer as for a
/// blob that does not exist).
async fn get_blob(
    State(st): State<AppState>,
    authed: Authed,
    axum::extract::Path(hash): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    blob_hash(&hash)?;
    let store = st.store.clone();
    let h = hash.clone();
    let grids = blocking(move || store.blob_read_grids(&h).map_err(ApiError::from)).await?;
    let not_found = || ApiError::new(ErrorCode::NotFound, "no such blob in your scope");
    if !grids.iter().any(|g| authed.scope.contains(g)) {
        return Err(not_found());
    }
    let (size, stream) = st.blobs.open_read(&hash).await?.ok_or_else(not_found)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=31536000, immutable"),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(size)),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
