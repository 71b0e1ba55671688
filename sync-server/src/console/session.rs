//! Console sessions. Signing in checks the password exactly as device sign-in does (same rate
//! limits, lockout and hash pool) and registers a device named "web console" whose token is the
//! session cookie (`gw_session`: HttpOnly, SameSite=Strict, Path=/console, Secure when
//! configured) and whose one actor id carries the console prefix
//! ([`gridwork_model::doc::CONSOLE_ACTOR_PREFIX`]). So an admin sees and revokes console
//! sessions with the devices, a revocation ends the session at once, and every change the
//! console writes is signed by a device the sync checks already know.
//!
//! A session ends on sign-out (the device is revoked), after [`super::ConsoleConfig::idle`]
//! without a request, or [`super::ConsoleConfig::absolute`] after sign-in (the device's
//! expiry). Every form and htmx request carries a CSRF token derived from the session token
//! (`SHA-256("gridwork-console-csrf" ‖ token)`): a page of another site cannot read it. The
//! sign-in form has its own, derived from a pre-session cookie (`gw_pre`), against login CSRF.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine as _;
use chrono::Utc;
use sha2::{Digest, Sha256};

use gridwork_model::Role;

use super::form::read_form;
use super::i18n::Lang;
use super::pages::{self, see_other};
use super::{refusal_response, ConsoleConfig, Refusal};
use crate::auth;
use crate::http::{AppState, Guards, PeerAddr};
use crate::store::{DeviceAuth, Scope};

pub const SESSION_COOKIE: &str = "gw_session";
const PRE_COOKIE: &str = "gw_pre";
const LANG_COOKIE: &str = "gw_lang";
/// Name of the device row a console session is.
pub const DEVICE_NAME: &str = "web console";
/// Sessions whose last request time is kept in memory before the oldest are dropped.
const MAX_TRACKED_SESSIONS: usize = 100_000;

/// The console's shared state: its configuration and when each session was last used.
pub struct ConsoleState {
    pub config: ConsoleConfig,
    last_seen: Mutex<HashMap<[u8; 32], Instant>>,
}

impl ConsoleState {
    pub fn new(config: ConsoleConfig) -> ConsoleState {
        ConsoleState {
            config,
            last_seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the session was used within the idle limit; marks it used now. A session the
    /// map does not know (the server restarted) starts its idle clock now; its absolute expiry
    /// still holds.
    fn touch(&self, token_hash: &[u8; 32]) -> bool {
        let now = Instant::now();
        let mut m = self
            .last_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(t) = m.get(token_hash) {
            if now.duration_since(*t) > self.config.idle {
                m.remove(token_hash);
                return false;
            }
        }
        if m.len() >= MAX_TRACKED_SESSIONS && !m.contains_key(token_hash) {
            let idle = self.config.idle;
            m.retain(|_, t| now.duration_since(*t) <= idle);
        }
        m.insert(*token_hash, now);
        true
    }

    fn forget(&self, token_hash: &[u8; 32]) {
        self.last_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(token_hash);
    }
}

/// A cookie's value from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() <= 256)
}

fn derive(label: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    h.update([0]);
    h.update(secret.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize())
}

/// The CSRF token of a session (or of a pre-session cookie).
pub fn csrf_token(secret: &str) -> String {
    derive("gridwork-console-csrf", secret)
}

/// Constant-time comparison of two tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The language of a request: the language cookie, else `Accept-Language`, else Chinese.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(Lang::from_tag)
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .filter(|v| v.len() <= 1024)
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or_default()
}

/// Whether htmx made the request (it then wants a fragment, or `HX-Redirect`).
pub fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// A signed-in console user, as every console handler receives them.
pub struct Session {
    pub device: DeviceAuth,
    pub scope: Scope,
    pub lang: Lang,
    /// The CSRF token forms and htmx requests must send back.
    pub csrf: String,
    pub htmx: bool,
    token_hash: [u8; 32],
}

impl Session {
    pub fn role(&self) -> Role {
        self.device.user.role
    }

    pub fn user_id(&self) -> &str {
        &self.device.user.id
    }

    /// A refusal as this user's page.
    pub fn refuse(&self, r: Refusal) -> Response {
        refusal_response(r, self.lang, self.htmx)
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let lang = lang_of(&parts.headers);
        let htmx = is_htmx(&parts.headers);
        let next = parts
            .uri
            .path_and_query()
            .map_or("/console/dashboard", |p| p.as_str())
            .to_owned();
        let sign_in = |next: String| refusal_response(Refusal::SignIn { next }, lang, htmx);
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(sign_in(next));
        };
        let token = token.to_owned();
        let hash = auth::token_hash(&token);
        let found = match st.store.cached_auth(&hash) {
            Some(found) => Some(found),
            None => {
                let store = st.store.clone();
                tokio::task::spawn_blocking(move || store.auth(&hash))
                    .await
                    .map_err(|_| refusal_response(Refusal::Internal, lang, htmx))?
                    .map_err(|e| refusal_response(e.into(), lang, htmx))?
            }
        };
        let Some((device, scope)) = found else {
            return Err(sign_in(next));
        };
        let console = parts
            .extensions
            .get::<Arc<ConsoleState>>()
            .cloned()
            .ok_or_else(|| refusal_response(Refusal::Internal, lang, htmx))?;
        let valid = !device.revoked
            && device.expires_at > Utc::now()
            && !device.user.disabled
            && device.user.role != Role::Worker
            // Only a console session's own token: a phone's token is not a console cookie.
            && device
                .actors
                .iter()
                .any(|a| gridwork_model::doc::is_console_actor(a));
        if !valid || !console.touch(&hash) {
            return Err(sign_in(next));
        }
        Ok(Session {
            device,
            scope,
            lang,
            csrf: csrf_token(&token),
            htmx,
            token_hash: hash,
        })
    }
}

fn set_cookie(resp: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn cookie_attrs(config: &ConsoleConfig, max_age: Option<u64>) -> String {
    let mut a = String::from("; Path=/console; HttpOnly; SameSite=Strict");
    if config.secure_cookie {
        a.push_str("; Secure");
    }
    if let Some(s) = max_age {
        a.push_str(&format!("; Max-Age={s}"));
    }
    a
}

/// Where to go after signing in: a console path given by the sign-in link, else the dashboard.
/// Anything else (another host, `//evil`, a backslash) is ignored.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console/")
                && !n.starts_with("/console/sign-")
                && n.len() <= 2000
                && !n.contains("//")
                && !n.contains('\\')
                && n.chars().all(|c| !c.is_control()) =>
        {
            n.to_owned()
        }
        _ => "/console/dashboard".to_owned(),
    }
}

#[derive(serde::Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /console/sign-in`.
pub async fn sign_in_page(
    Extension(console): Extension<Arc<ConsoleState>>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let lang = lang_of(&headers);
    let next = safe_next(q.next.as_deref());
    sign_in_form(&console, lang, &headers, &next, None, StatusCode::OK)
}

fn sign_in_form(
    console: &ConsoleState,
    lang: Lang,
    headers: &HeaderMap,
    next: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let (pre, fresh) = match cookie(headers, PRE_COOKIE) {
        Some(p) if p.len() >= 32 => (p.to_owned(), false),
        _ => (auth::new_token().0, true),
    };
    let mut resp = (
        status,
        axum::response::Html(
            pages::sign_in_page(lang, &csrf_token(&pre), next, error.as_deref()).into_string(),
        ),
    )
        .into_response();
    if fresh {
        set_cookie(
            &mut resp,
            &format!(
                "{PRE_COOKIE}={pre}{}",
                cookie_attrs(&console.config, Some(3600))
            ),
        );
    }
    super::secure_headers(&mut resp, None);
    resp
}

/// `POST /console/sign-in`: username, password, `_csrf`, next.
pub async fn sign_in(
    State(st): State<AppState>,
    Extension(guards): Extension<Arc<Guards>>,
    Extension(console): Extension<Arc<ConsoleState>>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let lang = lang_of(&headers);
    let fields = match read_form(&headers, body).await {
        Ok(f) => f,
        Err(r) => return refusal_response(r, lang, false),
    };
    let next = safe_next(fields.get("next"));
    let refuse = |key: &'static str, status| {
        sign_in_form(
            &console,
            lang,
            &headers,
            &next,
            Some(lang.t(key).to_owned()),
            status,
        )
    };
    let pre_ok = match (cookie(&headers, PRE_COOKIE), fields.get("_csrf")) {
        (Some(pre), Some(sent)) => same_token(&csrf_token(pre), sent),
        _ => false,
    };
    if !pre_ok {
        return refuse("sign-in-expired", StatusCode::FORBIDDEN);
    }
    let username = fields.get("username").unwrap_or("").trim().to_owned();
    let password = fields.get("password").unwrap_or("").to_owned();
    if username.is_empty()
        || username.chars().count() > 200
        || password.is_empty()
        || password.chars().count() > 1024
    {
        return refuse("sign-in-wrong", StatusCode::UNAUTHORIZED);
    }
    let user = match crate::http::verify_credentials(&st, &guards, peer, username, password).await {
        Ok(Some(u)) => u,
        Ok(None) => return refuse("sign-in-wrong", StatusCode::UNAUTHORIZED),
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => {
            return refuse("sign-in-too-many", StatusCode::TOO_MANY_REQUESTS)
        }
        Err(e) => return refusal_response(e.into(), lang, false),
    };
    if user.role == Role::Worker {
        tracing::info!(user_id = %user.id, "console sign-in refused: worker");
        return refuse("sign-in-worker", StatusCode::FORBIDDEN);
    }
    let store = st.store.clone();
    let absolute = console.config.absolute;
    let created = tokio::task::spawn_blocking(move || {
        let (token, token_hash) = auth::new_token();
        let expires_at = Utc::now()
            + chrono::Duration::from_std(absolute).unwrap_or(chrono::Duration::hours(12));
        let actor = gridwork_model::doc::console_actor().to_hex_string();
        let device_id =
            store.create_device(&user.id, DEVICE_NAME, &token_hash, expires_at, &[actor])?;
        tracing::info!(user_id = %user.id, device_id = %device_id, "console signed in");
        Ok::<_, crate::error::Error>((token, token_hash))
    })
    .await;
    let (token, token_hash) = match created {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return refusal_response(e.into(), lang, false),
        Err(_) => return refusal_response(Refusal::Internal, lang, false),
    };
    console.touch(&token_hash);
    let mut resp = see_other(&next);
    set_cookie(
        &mut resp,
        &format!(
            "{SESSION_COOKIE}={token}{}",
            cookie_attrs(&console.config, Some(console.config.absolute.as_secs()))
        ),
    );
    // The pre-session cookie has served its purpose.
    set_cookie(
        &mut resp,
        &format!("{PRE_COOKIE}={}", cookie_attrs(&console.config, Some(0))),
    );
    resp
}

/// `POST /console/sign-out`: revokes the session's device; the cookie stops working at once.
pub async fn sign_out(
    State(st): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    posted: super::form::Posted,
) -> Response {
    let s = posted.session;
    let store = st.store.clone();
    let device_id = s.device.device_id.clone();
    let revoked = tokio::task::spawn_blocking(move || store.revoke_device(&device_id)).await;
    if !matches!(revoked, Ok(Ok(_))) {
        return s.refuse(Refusal::Internal);
    }
    console.forget(&s.token_hash);
    let mut resp = see_other("/console/sign-in");
    set_cookie(
        &mut resp,
        &format!(
            "{SESSION_COOKIE}={}",
            cookie_attrs(&console.config, Some(0))
        ),
    );
    resp
}

#[derive(serde::Deserialize)]
pub struct BackQuery {
    back: Option<String>,
}

/// `GET /console/lang/{tag}?back=`: remembers the language in a cookie and goes back.
pub async fn set_lang(
    Extension(console): Extension<Arc<ConsoleState>>,
    Path(tag): Path<String>,
    Query(q): Query<BackQuery>,
) -> Response {
    let Some(lang) = Lang::from_tag(&tag) else {
        return refusal_response(Refusal::NotFound, Lang::default(), false);
    };
    let back = match q.back.as_deref() {
        Some("/console/sign-in") => "/console/sign-in".to_owned(),
        other => safe_next(other),
    };
    let mut resp = see_other(&back);
    set_cookie(
        &mut resp,
        &format!(
            "{LANG_COOKIE}={}{}",
            lang.tag(),
            cookie_attrs(&console.config, Some(365 * 24 * 3600))
        ),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_kept_inside_the_console() {
        assert_eq!(
            safe_next(Some("/console/reports?q=1")),
            "/console/reports?q=1"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/console//evil",
            "/console/\\evil",
            "/other",
            "/console/sign-out",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/console/dashboard", "{bad}");
        }
        assert_eq!(safe_next(None), "/console/dashboard");
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_compare_exactly() {
        let a = csrf_token("gw1_a");
        assert_eq!(a, csrf_token("gw1_a"));
        assert_ne!(a, csrf_token("gw1_b"));
        assert!(same_token(&a, &csrf_token("gw1_a")));
        assert!(!same_token(&a, &csrf_token("gw1_b")));
        assert!(!same_token(&a, ""));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; gw_session=tok; gw_lang=en"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&h, "gw_lang"), Some("en"));
        assert_eq!(cookie(&h, "gw"), None);
        assert_eq!(lang_of(&h), Lang::En);
    }

    #[test]
    fn idle_sessions_end() {
        let st = ConsoleState::new(ConsoleConfig {
            idle: std::time::Duration::from_millis(30),
            ..ConsoleConfig::default()
        });
        let h = [7u8; 32];
        assert!(st.touch(&h));
        assert!(st.touch(&h));
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert!(!st.touch(&h), "idle past the limit");
    }
}
