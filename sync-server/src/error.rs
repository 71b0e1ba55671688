//! Errors: an internal [`Error`] for storage and setup, and [`ApiError`], what a client sees.
//! `From<Error> for ApiError` is the one mapping point.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gridwork_protocol::wire::{ErrorBody, ErrorCode, WireError};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Internal errors. Messages may name ids, never resident personal data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    #[error("password hashing: {0}")]
    PasswordHash(String),
    /// Bad input to an admin command or a sign-in (shown to the caller as is).
    #[error("{0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// An operation the caller may not do (shown to the caller as is).
    #[error("{0}")]
    Forbidden(String),
    #[error("background task failed: {0}")]
    Join(String),
    #[error("{0}")]
    Other(String),
}

/// An error answer: status code plus the JSON [`ErrorBody`].
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    /// Seconds for the `Retry-After` header (`429`, `503`, `507`); `None`: 1 for those codes.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let (status, retryable) = match code {
            ErrorCode::BadRequest | ErrorCode::UnsupportedVersion => {
                (StatusCode::BAD_REQUEST, false)
            }
            ErrorCode::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, false),
            ErrorCode::Unauthorized => (StatusCode::UNAUTHORIZED, false),
            ErrorCode::Forbidden => (StatusCode::FORBIDDEN, false),
            ErrorCode::NotFound => (StatusCode::NOT_FOUND, false),
            ErrorCode::RateLimited => (StatusCode::TOO_MANY_REQUESTS, true),
            ErrorCode::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, true),
            ErrorCode::Internal | ErrorCode::Unknown => (StatusCode::INTERNAL_SERVER_ERROR, true),
        };
        ApiError {
            status,
            body: ErrorBody {
                code,
                message: message.into(),
                retryable,
            },
            retry_after: None,
        }
    }
    /// `429 rate_limited`, retry after `secs` seconds.
    pub fn rate_limited(m: impl Into<String>, secs: u64) -> Self {
        Self::new(ErrorCode::RateLimited, m).retry_after(secs)
    }
    /// `503 unavailable` (overloaded, stopping), retry after `secs` seconds.
    pub fn unavailable(m: impl Into<String>, secs: u64) -> Self {
        Self::new(ErrorCode::Unavailable, m).retry_after(secs)
    }
    /// Sets the `Retry-After` seconds (at least 1).
    #[must_use]
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }
    /// Answers with `status` instead of the code's usual one (e.g. `507` with `unavailable`).
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, m)
    }
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, m)
    }
}

impl From<WireError> for ApiError {
    fn from(e: WireError) -> Self {
        let code = match e {
            WireError::TooLarge { .. } => ErrorCode::TooLarge,
            WireError::Corrupt(_) => ErrorCode::BadRequest,
            WireError::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(m) => ApiError::bad_request(m),
            Error::Forbidden(m) => ApiError::new(ErrorCode::Forbidden, m),
            Error::NotFound(m) => ApiError::new(ErrorCode::NotFound, m),
            Error::Sqlite(rusqlite::Error::SqliteFailure(f, _))
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                ApiError::new(ErrorCode::Unavailable, "database busy, retry")
            }
            other => {
                tracing::error!(error = %other, "internal error");
                ApiError::new(ErrorCode::Internal, "internal server error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = match self.retry_after {
            Some(s) => Some(s),
            None if matches!(
                self.body.code,
                ErrorCode::RateLimited | ErrorCode::Unavailable
            ) =>
            {
                Some(1)
            }
            None => None,
        };
        let mut resp = (self.status, axum::Json(self.body)).into_response();
        if let Some(secs) = retry {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        resp
    }
}
