//! A web console client for tests: a browser without the browser. It keeps the cookies a real
//! browser would (the pre-session cookie, the session cookie), reads the CSRF token from the
//! pages, follows no redirect on its own (tests assert them), and can forge everything a hostile
//! page or user could: requests without the token, with another session's token, from another
//! origin, with any body.

use std::time::Duration;

use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};

/// One answer: status, `Location` (redirects), body.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    pub headers: HeaderMap,
}

impl Page {
    fn of(r: Response) -> Page {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = r.text().unwrap_or_default();
        Page {
            status,
            location,
            body,
            headers,
        }
    }

    /// The CSRF token the page carries (`<meta name="csrf-token">`, or a form's `_csrf`).
    pub fn csrf(&self) -> Option<String> {
        let b = &self.body;
        for marker in [r#"name="csrf-token" content=""#, r#"name="_csrf" value=""#] {
            if let Some(i) = b.find(marker) {
                let rest = &b[i + marker.len()..];
                return rest.split('"').next().map(str::to_owned);
            }
        }
        None
    }

    /// The `data-id` of every row of the table with `id` (in order).
    pub fn row_ids(&self, table_id: &str) -> Vec<String> {
        let Some(start) = self.body.find(&format!(r#"id="{table_id}""#)) else {
            return vec![];
        };
        let rest = &self.body[start..];
        let end = rest.find("</table>").unwrap_or(rest.len());
        rest[..end]
            .split(r#"<tr data-id=""#)
            .skip(1)
            .filter_map(|p| p.split('"').next().map(str::to_owned))
            .collect()
    }

    /// The value of a `Set-Cookie` for `name` in this answer (`Some("")` for a deletion).
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .filter_map(|c| c.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }

    /// The whole `Set-Cookie` header for `name`, attributes included.
    pub fn set_cookie_header(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }
}

/// A console user's browser.
pub struct Console {
    pub base: String,
    http: Client,
    /// (name, value) cookies sent with every request.
    pub cookies: Vec<(String, String)>,
    /// The CSRF token of the last page that had one.
    pub csrf: Option<String>,
}

impl Console {
    pub fn new(base: &str) -> Console {
        Console {
            base: base.trim_end_matches('/').to_owned(),
            http: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .expect("http client"),
            cookies: Vec::new(),
            csrf: None,
        }
    }

    /// Signs in as a demo user (password `demo-<username>`); panics unless it worked.
    pub fn sign_in(base: &str, username: &str) -> Console {
        let mut c = Console::new(base);
        let p = c.try_sign_in(username, &format!("demo-{username}"));
        assert_eq!(p.status, 303, "{username} signs in: {}", p.body);
        assert!(c.session().is_some(), "{username} has a session cookie");
        c.get("/console/dashboard");
        c
    }

    /// The sign-in form, then a post of it. Returns the post's answer.
    pub fn try_sign_in(&mut self, username: &str, password: &str) -> Page {
        let form = self.get("/console/sign-in");
        let csrf = form.csrf().expect("sign-in form has a token");
        self.post_raw(
            "/console/sign-in",
            &[
                ("_csrf", csrf.as_str()),
                ("username", username),
                ("password", password),
                ("next", "/console/dashboard"),
            ],
            &[],
        )
    }

    pub fn session(&self) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(k, _)| k == "gw_session")
            .map(|(_, v)| v.as_str())
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, p: &Page) {
        for v in &p.headers.get_all(SET_COOKIE) {
            let Some((k, val)) = v
                .to_str()
                .ok()
                .and_then(|v| v.split(';').next())
                .and_then(|c| c.split_once('='))
            else {
                continue;
            };
            self.cookies.retain(|(n, _)| n != k);
            let deleted = v.to_str().is_ok_and(|v| v.contains("Max-Age=0"));
            if !deleted && !val.is_empty() {
                self.cookies.push((k.to_owned(), val.to_owned()));
            }
        }
        if let Some(t) = p.csrf() {
            self.csrf = Some(t);
        }
    }

    /// `GET path` with this browser's cookies.
    pub fn get(&mut self, path: &str) -> Page {
        self.get_with(path, &[])
    }

    pub fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut rb = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header());
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let p = Page::of(rb.send().expect("GET"));
        self.keep_cookies(&p);
        p
    }

    /// A form post with this session's CSRF token added.
    pub fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = self
            .csrf
            .clone()
            .expect("a page with a CSRF token was loaded");
        let mut all: Vec<(&str, &str)> = vec![("_csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all, &[])
    }

    /// A form post exactly as given (no token added), with extra headers.
    pub fn post_raw(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let body = serde_urlencoded_pairs(fields);
        self.post_body(path, body.into_bytes(), headers)
    }

    /// A post of any body as a form.
    pub fn post_body(&mut self, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Page {
        let mut rb = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        match rb.send() {
            Ok(r) => {
                let p = Page::of(r);
                self.keep_cookies(&p);
                p
            }
            // The server may close the connection on a body over its limit.
            Err(e) => Page {
                status: 0,
                location: None,
                body: e.to_string(),
                headers: HeaderMap::new(),
            },
        }
    }
}

/// `a=1&b=2`, percent-encoded.
pub fn serde_urlencoded_pairs(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
