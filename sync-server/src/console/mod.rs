//! The web console under `/console`: community leaders, supervisors and admins review reports,
//! dispatch tasks and look after households from a desk. Server-rendered HTML (maud templates,
//! escaped by default) with htmx for partial updates; every word from the catalogue
//! ([`i18n`]); front-end files embedded in the binary ([`assets`]).
//!
//! - `session.rs`: sign-in (the same accounts and limits as devices), the session cookie, CSRF;
//! - `write.rs`: every write is an Automerge change made in the user's name by the session's
//!   own device and pushed through the same checks as a phone's ([`crate::sync::handle_sync`]);
//! - `pages.rs` (layout, dashboard, shared widgets), `lists.rs` (one list page for every kind,
//!   from a spec of columns and filters), `reports.rs` (list parameters, detail pages, actions),
//!   `tasks.rs`, `people.rs` (households and visits), `admin.rs`; `form.rs`: bounded form bodies
//!   and their checks.
//!
//! Every page and every row is cut to the user's scope, as sync is: a record outside it is
//! `404`, the same answer as a record that does not exist.

pub mod assets;
pub mod form;
pub mod i18n;
pub mod lists;
pub mod pages;
pub mod session;
pub mod write;

mod admin;
mod people;
pub mod reports;
mod tasks;

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::http::AppState;

pub use i18n::Lang;
pub use session::{ConsoleState, Session};

/// How the console is served.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// A map tile URL template (`https://tile.example/{z}/{x}/{y}.png`); without one, maps
    /// draw grid boundaries and record points on a plain background (no request leaves the
    /// server's own origin).
    pub map_tiles: Option<String>,
    /// A session ends after this long without a request.
    pub idle: Duration,
    /// A session ends this long after sign-in, whatever happens.
    pub absolute: Duration,
    /// Mark the cookie `Secure` (serve the console over TLS, directly or behind a proxy).
    pub secure_cookie: bool,
    /// Minutes east of UTC of the local time (days of the dashboard, date filters). China: 480.
    pub utc_offset_minutes: i32,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            map_tiles: None,
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
            secure_cookie: false,
            utc_offset_minutes: 480,
        }
    }
}

/// The console's routes (merged into the server's router, under its limits and timeouts).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(pages::root))
        .route("/console/", get(pages::root))
        .route(
            "/console/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/console/sign-out", post(session::sign_out))
        .route("/console/lang/{tag}", get(session::set_lang))
        .route("/console/static/{file}", get(assets::serve))
        .route("/console/static/images/{file}", get(assets::serve_image))
        .route("/console/dashboard", get(pages::dashboard))
        .route("/console/reports", get(reports::list))
        .route("/console/reports/{id}", get(reports::detail))
        .route("/console/reports/{id}/step", post(reports::step))
        .route("/console/reports/{id}/comment", post(reports::comment))
        .route("/console/photos/{hash}", get(reports::photo))
        .route("/console/tasks", get(tasks::list).post(tasks::create))
        .route("/console/tasks/new", get(tasks::new_form))
        .route("/console/tasks/{id}", get(tasks::detail))
        .route("/console/tasks/{id}/step", post(tasks::step))
        .route("/console/tasks/{id}/comment", post(tasks::comment))
        .route("/console/households", get(people::households))
        .route("/console/households/{id}", get(people::household))
        .route("/console/households/{id}/reveal", post(people::reveal))
        .route("/console/visits", get(people::visits))
        .route("/console/visits/{id}", get(people::visit))
        .route("/console/admin", get(admin::overview))
        .route("/console/admin/access-log", get(admin::access_log))
        .route(
            "/console/admin/devices/{id}/revoke",
            post(admin::revoke_device),
        )
        .route("/console/{*rest}", get(pages::not_found_page))
}

/// Headers every console answer carries: no framing, no sniffing, no referrer leaving the
/// origin, scripts and styles from the server itself only, and nothing cached.
pub fn secure_headers(resp: &mut Response, map_tiles: Option<&str>) {
    let h = resp.headers_mut();
    let img = match map_tiles.and_then(tile_origin) {
        Some(origin) => format!("img-src 'self' data: {origin}"),
        None => "img-src 'self' data:".to_owned(),
    };
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; {img}; connect-src 'self'; \
         frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// `scheme://host[:port]` of a tile URL template, for the content security policy.
fn tile_origin(template: &str) -> Option<String> {
    let (scheme, rest) = template.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let host = rest.split('/').next()?;
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '{' | '}'));
    ok.then(|| format!("{scheme}://{}", host.replace("{s}", "*")))
}

/// An answer the console gives instead of a page.
#[derive(Debug)]
pub enum Refusal {
    /// Not signed in (or the session ended): to the sign-in page.
    SignIn { next: String },
    /// `404`: no such record, or not in the user's scope (the same answer).
    NotFound,
    /// `403`: the role may not do this, or the form's CSRF token is wrong.
    Forbidden(&'static str),
    /// `400`: a form field is wrong (the field named, never its value).
    Invalid { field: String, reason: String },
    /// The server failed.
    Internal,
    /// Busy or rate-limited: try again later.
    Busy(String),
}

impl From<crate::error::Error> for Refusal {
    fn from(e: crate::error::Error) -> Self {
        match e {
            crate::error::Error::NotFound(_) => Refusal::NotFound,
            other => {
                tracing::error!(error = %other, "console request failed");
                Refusal::Internal
            }
        }
    }
}

impl From<crate::error::ApiError> for Refusal {
    fn from(e: crate::error::ApiError) -> Self {
        match e.status {
            StatusCode::NOT_FOUND => Refusal::NotFound,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                Refusal::Busy(e.body.message)
            }
            StatusCode::UNAUTHORIZED => Refusal::SignIn {
                next: "/console/dashboard".into(),
            },
            _ => {
                tracing::error!(status = %e.status, "console request failed");
                Refusal::Internal
            }
        }
    }
}

/// A refusal as a page in the user's language (or a redirect to sign in).
pub fn refusal_response(r: Refusal, lang: Lang, htmx: bool) -> Response {
    let (status, title, detail) = match r {
        Refusal::SignIn { next } => {
            let to = format!("/console/sign-in?next={}", pages::url_encode(&next));
            if htmx {
                // htmx follows this header with a full page load.
                let mut resp = StatusCode::UNAUTHORIZED.into_response();
                if let Ok(v) = HeaderValue::from_str(&to) {
                    resp.headers_mut().insert("HX-Redirect", v);
                }
                return resp;
            }
            return pages::see_other(&to);
        }
        Refusal::NotFound => (
            StatusCode::NOT_FOUND,
            lang.t("error-not-found"),
            lang.t("error-not-found-detail").to_owned(),
        ),
        Refusal::Forbidden(why) => (
            StatusCode::FORBIDDEN,
            lang.t("error-forbidden"),
            lang.t(why).to_owned(),
        ),
        Refusal::Invalid { field, reason } => {
            // The console's own reasons are catalogue keys (`why-…`); the model's are its
            // English text, shown as they are.
            let reason = lang.lookup(&reason).map_or(reason, str::to_owned);
            // The field by its label and its name: "严重程度 (severity)".
            let field = match lang.lookup(&format!("field-{field}")) {
                Some(label) => format!("{label} ({field})"),
                None => field,
            };
            (
                StatusCode::BAD_REQUEST,
                lang.t("error-invalid"),
                lang.tf(
                    "error-invalid-detail",
                    &[("field", &field), ("reason", &reason)],
                ),
            )
        }
        Refusal::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            lang.t("error-internal"),
            lang.t("error-internal-detail").to_owned(),
        ),
        Refusal::Busy(msg) => (StatusCode::SERVICE_UNAVAILABLE, lang.t("error-busy"), msg),
    };
    let mut resp = (
        status,
        axum::response::Html(pages::bare_page(lang, title, &detail).into_string()),
    )
        .into_response();
    secure_headers(&mut resp, None);
    resp
}
