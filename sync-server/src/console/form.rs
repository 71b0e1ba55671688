//! Form bodies: bounded before they are read, parsed once, and checked field by field. A wrong
//! field is refused by name ([`Refusal::Invalid`]); its value is never echoed.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderMap};
use axum::response::Response;

use super::session::{same_token, Session};
use super::Refusal;
use crate::http::AppState;

/// Largest form body (a task with a long description is a few KiB).
pub const MAX_FORM_BYTES: usize = 64 << 10;
/// Most fields in one form.
pub const MAX_FIELDS: usize = 64;

/// The fields of a submitted form.
#[derive(Debug, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `name` trimmed, `None` when missing or blank; refused when longer than `max` characters
    /// or holding control characters other than line breaks and tabs.
    pub fn text(&self, name: &str, max: usize) -> Result<Option<String>, Refusal> {
        let Some(v) = self.get(name).map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        if v.chars().count() > max {
            return Err(Refusal::Invalid {
                field: name.into(),
                reason: "why-too-long".into(),
            });
        }
        if v.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(Refusal::Invalid {
                field: name.into(),
                reason: "why-control-chars".into(),
            });
        }
        Ok(Some(v.replace("\r\n", "\n")))
    }

    /// Like [`Fields::text`], but the field must be there.
    pub fn required(&self, name: &str, max: usize) -> Result<String, Refusal> {
        self.text(name, max)?.ok_or_else(|| Refusal::Invalid {
            field: name.into(),
            reason: "why-required".into(),
        })
    }
}

/// Reads an `application/x-www-form-urlencoded` body of at most [`MAX_FORM_BYTES`].
pub async fn read_form(headers: &HeaderMap, body: Body) -> Result<Fields, Refusal> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ctype.starts_with("application/x-www-form-urlencoded") {
        return Err(Refusal::Invalid {
            field: "Content-Type".into(),
            reason: "why-not-a-form".into(),
        });
    }
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| Refusal::Invalid {
            field: "body".into(),
            reason: "why-form-too-large".into(),
        })?;
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&bytes).map_err(|_| Refusal::Invalid {
            field: "body".into(),
            reason: "why-not-a-form".into(),
        })?;
    if pairs.len() > MAX_FIELDS {
        return Err(Refusal::Invalid {
            field: "body".into(),
            reason: "why-too-many-fields".into(),
        });
    }
    Ok(Fields(pairs))
}

/// Whether the request's `Origin` (when a browser sent one) is this server. Browsers send it on
/// every cross-site POST, so a forged form from another site fails here even before its
/// missing CSRF token does.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, h)| !host.is_empty() && h == host)
}

/// A form posted by a signed-in user, its CSRF token checked (the `_csrf` field or the
/// `X-CSRF-Token` header htmx sends) and its origin this server.
pub struct Posted {
    pub session: Session,
    pub fields: Fields,
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, st).await?;
        if !same_origin(&parts.headers) {
            return Err(session.refuse(Refusal::Forbidden("error-csrf")));
        }
        let fields = match read_form(&parts.headers, body).await {
            Ok(f) => f,
            Err(r) => return Err(session.refuse(r)),
        };
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .or_else(|| fields.get("_csrf"));
        if !sent.is_some_and(|t| same_token(t, &session.csrf)) {
            tracing::info!(user_id = %session.user_id(), "console form refused: CSRF token");
            return Err(session.refuse(Refusal::Forbidden("error-csrf")));
        }
        Ok(Posted { session, fields })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn fields_are_bounded_and_named() {
        let f = Fields(vec![
            ("a".into(), "  hi \r\n there ".into()),
            ("b".into(), "x".repeat(11)),
            ("c".into(), "bad\u{0}".into()),
            ("d".into(), "   ".into()),
        ]);
        assert_eq!(f.text("a", 20).unwrap().as_deref(), Some("hi \n there"));
        match f.text("b", 10) {
            Err(Refusal::Invalid { field, .. }) => assert_eq!(field, "b"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(f.text("c", 10), Err(Refusal::Invalid { .. })));
        assert_eq!(f.text("d", 10).unwrap(), None);
        assert!(matches!(f.required("d", 10), Err(Refusal::Invalid { .. })));
        assert!(matches!(f.required("zz", 10), Err(Refusal::Invalid { .. })));
    }

    #[test]
    fn origin_must_be_this_server() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8787"));
        assert!(same_origin(&h), "no Origin: not a cross-site browser post");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8787"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
    }
}
