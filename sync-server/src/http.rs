//! HTTP layer: routes, authentication, body limits, timeouts. Handlers decode, call the blocking
//! store/sync code through `spawn_blocking`, and encode. Every error answer is a JSON
//! [`gridwork_core::wire::ErrorBody`].

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use gridwork_core::wire::{self, ErrorCode, Limits, SignInRequest, SignInResponse};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth;
use crate::blob::{self, Blobs, PutError, PutOutcome};
use crate::error::ApiError;
use crate::store::{DeviceAuth, Scope, ServerStore};
use crate::sync::{handle_sync, PullConfig};

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
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            token_ttl: Duration::from_secs(30 * 24 * 3600),
            request_timeout: Duration::from_secs(30),
            sync_limits: wire::REQUEST_LIMITS,
            pull: PullConfig::default(),
            quotas: crate::quota::Quotas::default(),
        }
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
        .layer(tower_http::limit::RequestBodyLimitLayer::new(hard_limit));
    let blobs = Router::new()
        .route(
            "/v1/blobs/{hash}",
            put(put_blob).get(get_blob).head(head_blob),
        )
        .layer(tower_http::limit::RequestBodyLimitLayer::new(blob_limit));
    Router::new()
        .merge(api)
        .merge(blobs)
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such endpoint") })
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(TraceLayer::new_for_http())
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

async fn sign_in(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<SignInResponse>, ApiError> {
    let body = read_body(&headers, body, MAX_JSON_BODY).await?;
    let req: SignInRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "sign-in body is not valid JSON of the expected shape: {e}"
        ))
    })?;
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
    }
    if req.device_name.chars().count() > 200 {
        return Err(ApiError::bad_request(
            "device_name is longer than 200 characters",
        ));
    }
    let store = st.store.clone();
    let ttl = st.config.token_ttl;
    blocking(move || {
        let found = store.user_by_username(&req.username)?;
        let (user, hash) = match found {
            Some((u, h)) => (Some(u), h),
            None => (None, auth::dummy_hash().to_owned()),
        };
        let ok = auth::verify_password(&req.password, &hash);
        let user = match user {
            Some(u) if ok && !u.disabled => u,
            _ => {
                tracing::info!(username_len = req.username.len(), "sign-in refused");
                return Err(ApiError::unauthorized("wrong username or password"));
            }
        };
        let (token, token_hash) = auth::new_token();
        let expires_at =
            Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(30));
        let device_id = store.create_device(
            &user.id,
            &req.device_name,
            &token_hash,
            expires_at,
            &req.actors,
        )?;
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

async fn sync(
    State(st): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
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
    let body = read_body(&headers, body, limits.max_compressed).await?;
    let store = st.store.clone();
    let pull = st.config.pull;
    let quotas = st.config.quotas;
    let started = std::time::Instant::now();
    let encoded = blocking(move || {
        let req = wire::decode_request(&body, limits)?;
        let pushed: usize = req.push.iter().map(|d| d.changes.len()).sum();
        let resp = handle_sync(
            store.as_ref(),
            &authed.device,
            &authed.scope,
            req,
            pull,
            &quotas,
            &crate::cancel::Cancel::never(),
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
    })
    .await?;
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

/// `HEAD /v1/blobs/{hash}`: `200` with `Content-Length` when stored; else `404` with
/// `Upload-Offset`, the bytes held of an unfinished upload (0: none), to resume from.
async fn head_blob(
    State(st): State<AppState>,
    _authed: Authed,
    axum::extract::Path(hash): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    blob_hash(&hash)?;
    match st.blobs.stored_len(&hash).await? {
        Some(len) => Ok((
            StatusCode::OK,
            [(header::CONTENT_LENGTH, HeaderValue::from(len))],
            offset_header(len),
        )
            .into_response()),
        None => {
            let held = st.blobs.partial_len(&hash).await;
            Ok((StatusCode::NOT_FOUND, offset_header(held)).into_response())
        }
    }
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

/// `PUT /v1/blobs/{hash}`: the whole blob, or one chunk with `Content-Range: bytes A-B/TOTAL`.
async fn put_blob(
    State(st): State<AppState>,
    _authed: Authed,
    axum::extract::Path(hash): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    blob_hash(&hash)?;
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
    let (start, total) = match headers.get(header::CONTENT_RANGE) {
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
            (a, t)
        }
        None => {
            let l = length.ok_or_else(|| {
                ApiError::bad_request("a blob upload needs Content-Length (or Content-Range)")
            })?;
            if l > max {
                return Err(too_large());
            }
            (0, l)
        }
    };
    if length.is_some_and(|l| l > max) {
        return Err(too_large());
    }
    let stream = http_body_util::BodyDataStream::new(body);
    match st.blobs.put(&hash, start, total, stream).await {
        Ok(PutOutcome::AlreadyStored) => Ok((StatusCode::OK, offset_header(total)).into_response()),
        Ok(PutOutcome::Stored) => {
            tracing::info!(hash, bytes = total, "blob stored");
            Ok((StatusCode::CREATED, offset_header(total)).into_response())
        }
        Ok(PutOutcome::Partial(held)) => {
            Ok((StatusCode::ACCEPTED, offset_header(held)).into_response())
        }
        Err(PutError::TooLarge(_)) => Err(too_large()),
        Err(PutError::HashMismatch) => Err(ApiError::bad_request(
            "the uploaded bytes do not match the blob's SHA-256: upload discarded",
        )),
        Err(PutError::Gap { held }) => {
            let mut e = ApiError::bad_request(format!(
                "this chunk starts after the {held} bytes held: resume at offset {held}"
            ))
            .into_response();
            e.headers_mut().insert(
                header::HeaderName::from_static(UPLOAD_OFFSET),
                HeaderValue::from(held),
            );
            *e.status_mut() = StatusCode::CONFLICT;
            Ok(e)
        }
        Err(PutError::Busy) => Err(ApiError::new(
            ErrorCode::Unavailable,
            "another upload of this blob is in progress",
        )),
        Err(PutError::Invalid(m)) => Err(ApiError::bad_request(m)),
        Err(PutError::Interrupted { held }) => {
            let mut e = ApiError::bad_request(format!("the body ended early; {held} bytes held"))
                .into_response();
            e.headers_mut().insert(
                header::HeaderName::from_static(UPLOAD_OFFSET),
                HeaderValue::from(held),
            );
            Ok(e)
        }
        Err(PutError::Storage(e)) => Err(e.into()),
    }
}

/// `GET /v1/blobs/{hash}`: the bytes, only if a record in the caller's scope references the blob
/// (otherwise `404`, the same answer as for a blob that does not exist).
async fn get_blob(
    State(st): State<AppState>,
    authed: Authed,
    axum::extract::Path(hash): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    blob_hash(&hash)?;
    let store = st.store.clone();
    let h = hash.clone();
    let grids = blocking(move || store.blob_grids(&h).map_err(ApiError::from)).await?;
    let not_found = || ApiError::new(ErrorCode::NotFound, "no such blob in your scope");
    if !grids.iter().any(|g| authed.scope.contains(g)) {
        return Err(not_found());
    }
    let bytes = st.blobs.get(&hash).await?.ok_or_else(not_found)?;
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
        ],
        bytes,
    )
        .into_response())
}
