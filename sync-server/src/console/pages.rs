//! The console's frame (layout, navigation, sign-in page, error pages), its shared widgets
//! (times, names, status badges, maps, the 30-day chart) and the dashboard.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup, PreEscaped, DOCTYPE};

use gridwork_model::directory::Boundary;
use gridwork_model::Role;

use super::i18n::Lang;
use super::session::{ConsoleState, Session};
use super::{secure_headers, ConsoleConfig, Refusal};
use crate::directory::OrgSnapshot;
use crate::http::AppState;
use crate::records::{Dashboard, DashboardAt};

const DAY_MS: i64 = 86_400_000;

/// A page as an HTML answer.
pub fn html_response(m: Markup) -> Response {
    axum::response::Html(m.into_string()).into_response()
}

/// A `303 See Other` to a console path.
pub fn see_other(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    secure_headers(&mut resp, None);
    resp
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A query string from (name, value) pairs, leaving out empty values.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = String::new();
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        q.push(if q.is_empty() { '?' } else { '&' });
        q.push_str(k);
        q.push('=');
        q.push_str(&url_encode(v));
    }
    q
}

/// A time in the console's local time: `2026-12-04 16:41`.
pub fn fmt_time(ms: i64, cfg: &ConsoleConfig) -> String {
    let local = ms + i64::from(cfg.utc_offset_minutes) * 60_000;
    chrono::DateTime::from_timestamp_millis(local)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// A local day: `2026-12-04`.
pub fn fmt_day(ms: i64, cfg: &ConsoleConfig) -> String {
    let local = ms + i64::from(cfg.utc_offset_minutes) * 60_000;
    chrono::DateTime::from_timestamp_millis(local)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The start (ms, UTC) of a local day `YYYY-MM-DD`.
pub fn day_start_ms(day: &str, cfg: &ConsoleConfig) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    let t = d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
    Some(t - i64::from(cfg.utc_offset_minutes) * 60_000)
}

/// Local midnight (ms, UTC) of today.
pub fn today_start_ms(cfg: &ConsoleConfig) -> i64 {
    let off = i64::from(cfg.utc_offset_minutes) * 60_000;
    let now = chrono::Utc::now().timestamp_millis();
    (now + off).div_euclid(DAY_MS) * DAY_MS - off
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Dashboard,
    Reports,
    Tasks,
    Households,
    Visits,
    Admin,
    None,
}

fn nav_items(role: Role) -> Vec<(Nav, &'static str, &'static str)> {
    let mut v = vec![
        (Nav::Dashboard, "/console/dashboard", "nav-dashboard"),
        (Nav::Reports, "/console/reports", "nav-reports"),
        (Nav::Tasks, "/console/tasks", "nav-tasks"),
        (Nav::Households, "/console/households", "nav-households"),
        (Nav::Visits, "/console/visits", "nav-visits"),
    ];
    if role == Role::Admin {
        v.push((Nav::Admin, "/console/admin", "nav-admin"));
    }
    v
}

fn head(lang: Lang, title: &str, csrf: Option<&str>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · " (lang.t("app-name")) }
            @if let Some(c) = csrf { meta name="csrf-token" content=(c); }
            meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}"#;
            link rel="stylesheet" href="/console/static/console.css";
            link rel="stylesheet" href="/console/static/leaflet.css";
            script src="/console/static/htmx.min.js" defer {}
            script src="/console/static/leaflet.js" defer {}
            script src="/console/static/console.js" defer {}
        }
    }
}

fn lang_links(lang: Lang, back: &str) -> Markup {
    html! {
        span.lang {
            a #lang-zh href={ "/console/lang/zh-CN?back=" (url_encode(back)) } lang="zh-CN"
                aria-current=[(lang == Lang::ZhCn).then_some("true")] { "中文" }
            " · "
            a #lang-en href={ "/console/lang/en?back=" (url_encode(back)) } lang="en"
                aria-current=[(lang == Lang::En).then_some("true")] { "English" }
        }
    }
}

/// A whole page for a signed-in user.
pub fn layout(
    s: &Session,
    cfg: &ConsoleConfig,
    nav: Nav,
    title: &str,
    back: &str,
    body: Markup,
) -> Response {
    let l = s.lang;
    let user = &s.device.user;
    let hx_headers = serde_json::json!({ "X-CSRF-Token": s.csrf }).to_string();
    let page = html! {
        (DOCTYPE)
        html lang=(l.tag()) {
            (head(l, title, Some(&s.csrf)))
            body hx-headers=(hx_headers) {
                a.skip href="#main" { (l.t("skip-to-content")) }
                header.top {
                    a.brand href="/console/dashboard" { (l.t("app-name")) }
                    nav aria-label=(l.t("nav-label")) {
                        ul {
                            @for (n, href, key) in nav_items(user.role) {
                                li { a href=(href) aria-current=[(n == nav).then_some("page")] { (l.t(key)) } }
                            }
                        }
                    }
                    div.who {
                        span { (user.display_name) " · " (l.t_dyn("role", user.role.as_str())) }
                        (lang_links(l, back))
                        form #sign-out method="post" action="/console/sign-out" {
                            input type="hidden" name="_csrf" value=(s.csrf);
                            button type="submit" { (l.t("sign-out")) }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                @if let Some(t) = &cfg.map_tiles { div #map-tiles hidden data-url=(t) {} }
            }
        }
    };
    let mut resp = html_response(page);
    secure_headers(&mut resp, cfg.map_tiles.as_deref());
    resp
}

/// A fragment for htmx (no frame).
pub fn fragment(m: Markup, cfg: &ConsoleConfig) -> Response {
    let mut resp = html_response(m);
    secure_headers(&mut resp, cfg.map_tiles.as_deref());
    resp
}

/// A page without a session (errors).
pub fn bare_page(lang: Lang, title: &str, detail: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            (head(lang, title, None))
            body {
                main #main {
                    h1 { (title) }
                    p role="alert" { (detail) }
                    p { a href="/console/dashboard" { (lang.t("back-to-dashboard")) } }
                }
            }
        }
    }
}

/// The sign-in page.
pub fn sign_in_page(lang: Lang, csrf: &str, next: &str, error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            (head(lang, lang.t("sign-in-title"), None))
            body.sign-in {
                main #main {
                    h1 { (lang.t("app-name")) }
                    p { (lang.t("sign-in-intro")) }
                    @if let Some(e) = error { p.error role="alert" { (e) } }
                    form #sign-in method="post" action="/console/sign-in" {
                        input type="hidden" name="_csrf" value=(csrf);
                        input type="hidden" name="next" value=(next);
                        label for="username" { (lang.t("sign-in-username")) }
                        input #username name="username" type="text" autocomplete="username" required maxlength="200";
                        label for="password" { (lang.t("sign-in-password")) }
                        input #password name="password" type="password" autocomplete="current-password" required maxlength="1024";
                        button type="submit" { (lang.t("sign-in")) }
                    }
                    p.note { (lang.t("sign-in-workers")) }
                    (lang_links(lang, "/console/sign-in"))
                }
            }
        }
    }
}

/// `GET /console`: the dashboard (signing in first if needed).
pub async fn root() -> Response {
    see_other("/console/dashboard")
}

/// Any other console path: 404 in the console's own page.
pub async fn not_found_page(s: Session) -> Response {
    s.refuse(Refusal::NotFound)
}

/// A status as a badge (`data-status` carries the code).
pub fn status_badge(l: Lang, status: Option<&str>) -> Markup {
    let s = status.unwrap_or("");
    html! { span.status data-status=(s) { (l.t_dyn("status", s)) } }
}

/// A person's display name (the id when unknown).
pub fn person(org: &OrgSnapshot, id: &str) -> Markup {
    html! { span.person { (org.name_of(id)) } }
}

/// A map of grid boundaries and points: drawn by `console.js` with Leaflet, on the configured
/// tiles or a plain background. The data travels in a `data-map` attribute (escaped JSON), and
/// the list of points is also given as text for readers without the map.
pub fn map(l: Lang, boundaries: &[(&str, &Boundary)], points: &[(f64, f64, String)]) -> Markup {
    if boundaries.is_empty() && points.is_empty() {
        return html! {};
    }
    let data = serde_json::json!({
        "grids": boundaries.iter().map(|(name, b)| serde_json::json!({
            "name": name,
            "rings": b.polygons.iter().flat_map(|p| &p.rings).map(|r|
                r.iter().map(|pt| [pt.lat(), pt.lon()]).collect::<Vec<_>>()
            ).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "points": points.iter().map(|(lat, lon, label)| serde_json::json!({
            "lat": lat, "lon": lon, "label": label,
        })).collect::<Vec<_>>(),
    })
    .to_string();
    html! {
        figure.map-box {
            div.map data-map=(data) role="region" aria-label=(l.t("map-label")) {}
            figcaption {
                @for (lat, lon, label) in points {
                    span.point { (label) " (" (format!("{lat:.5}, {lon:.5}")) ") " }
                }
            }
        }
    }
}

/// The 30-day chart of reports filed and closed, as SVG bars; every day links to its reports.
fn chart(l: Lang, d: &Dashboard, first_day: i64, cfg: &ConsoleConfig) -> Markup {
    let max = d
        .days
        .iter()
        .map(|(a, b)| (*a).max(*b))
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, bar) = (24u32, 120u32, 10u32);
    let height = |n: u64| -> u32 { ((n as f64 / max as f64) * f64::from(h)).round() as u32 };
    let total_filed: u64 = d.days.iter().map(|x| x.0).sum();
    let total_closed: u64 = d.days.iter().map(|x| x.1).sum();
    let label = l.tf(
        "chart-label",
        &[("filed", &total_filed), ("closed", &total_closed)],
    );
    html! {
        figure.chart {
            svg viewBox={ "0 0 " (w * 30) " " (h + 20) } role="group" aria-label=(label) {
                @for (i, (filed, closed)) in d.days.iter().enumerate() {
                    @let day = fmt_day(first_day + i as i64 * DAY_MS, cfg);
                    @let x = i as u32 * w;
                    a href={ "/console/reports" (query(&[("from", &day), ("to", &day)])) } {
                        title { (day) ": " (l.tf("chart-day", &[("filed", filed), ("closed", closed)])) }
                        rect.filed x=(x + 2) y=(h - height(*filed)) width=(bar) height=(height(*filed)) {}
                        rect.closed x=(x + 2 + bar) y=(h - height(*closed)) width=(bar) height=(height(*closed)) {}
                    }
                }
                text x="0" y=(h + 16) { (fmt_day(first_day, cfg)) }
                text x=(w * 30) y=(h + 16) text-anchor="end" { (fmt_day(first_day + 29 * DAY_MS, cfg)) }
            }
            figcaption {
                span.key.filed { (l.t("chart-filed")) } " " span.key.closed { (l.t("chart-closed")) }
            }
        }
    }
}

/// `GET /console/dashboard`.
pub async fn dashboard(
    State(st): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    s: Session,
) -> Response {
    let cfg = console.config.clone();
    let first_day = today_start_ms(&cfg) - 29 * DAY_MS;
    let at = DashboardAt {
        first_day_ms: first_day,
        today: fmt_day(chrono::Utc::now().timestamp_millis(), &cfg),
    };
    let store = st.store.clone();
    let scope = s.scope.clone();
    let got = tokio::task::spawn_blocking(move || {
        Ok::<_, crate::error::Error>((store.dashboard(&scope, &at)?, store.org_snapshot()?))
    })
    .await;
    let (d, org) = match got {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return s.refuse(e.into()),
        Err(_) => return s.refuse(Refusal::Internal),
    };
    let body = dashboard_body(s.lang, &d, &org, first_day, &cfg);
    layout(
        &s,
        &cfg,
        Nav::Dashboard,
        s.lang.t("dashboard-title"),
        "/console/dashboard",
        body,
    )
}

/// The dashboard's markup (also measured alone by the benchmark).
pub fn dashboard_body(
    l: Lang,
    d: &Dashboard,
    org: &OrgSnapshot,
    first_day: i64,
    cfg: &ConsoleConfig,
) -> Markup {
    html! {
        section.cards aria-label=(l.t("dashboard-attention")) {
            a.card href="/console/reports?status=submitted" {
                span.n { (d.report_status.iter().find(|(s, _)| s == "submitted").map_or(0, |x| x.1)) }
                span { (l.t("dashboard-to-review")) }
            }
            a.card href="/console/reports?status=returned" {
                span.n { (d.returned_reports) } span { (l.t("dashboard-returned")) }
            }
            a.card href="/console/tasks?overdue=1" {
                span.n { (d.overdue_tasks) } span { (l.t("dashboard-overdue-tasks")) }
            }
            a.card href="/console/visits?overdue=1" {
                span.n { (d.overdue_visits) } span { (l.t("dashboard-overdue-visits")) }
            }
        }
        section {
            h2 { (l.t("dashboard-chart")) }
            (chart(l, d, first_day, cfg))
        }
        div.columns {
            section {
                h2 { (l.t("dashboard-by-status")) }
                table.counts {
                    thead { tr { th scope="col" { (l.t("col-status")) } th scope="col" { (l.t("col-count")) } } }
                    tbody {
                        @for (status, n) in &d.report_status {
                            tr { td { a href={ "/console/reports" (query(&[("status", status)])) } { (l.t_dyn("status", status)) } } td { (n) } }
                        }
                    }
                }
                h2 { (l.t("dashboard-tasks-by-status")) }
                table.counts {
                    thead { tr { th scope="col" { (l.t("col-status")) } th scope="col" { (l.t("col-count")) } } }
                    tbody {
                        @for (status, n) in &d.task_status {
                            tr { td { a href={ "/console/tasks" (query(&[("status", status)])) } { (l.t_dyn("status", status)) } } td { (n) } }
                        }
                    }
                }
            }
            section {
                h2 { (l.t("dashboard-by-category")) }
                table.counts {
                    thead { tr { th scope="col" { (l.t("col-category")) } th scope="col" { (l.t("col-open")) } } }
                    tbody {
                        @for (c, n) in &d.report_category {
                            tr { td { a href={ "/console/reports" (query(&[("category", c), ("open", "1")])) } { (l.t_dyn("category", c)) } } td { (n) } }
                        }
                    }
                }
            }
            section {
                h2 { (l.t("dashboard-by-grid")) }
                table.counts {
                    thead { tr {
                        th scope="col" { (l.t("col-grid")) }
                        th scope="col" { (l.t("col-open-reports")) }
                        th scope="col" { (l.t("col-open-tasks")) }
                    } }
                    tbody {
                        @for (g, r, t) in &d.grids {
                            tr {
                                th scope="row" { (org.unit_name(g)) }
                                td { a href={ "/console/reports" (query(&[("grid", g), ("open", "1")])) } { (r) } }
                                td { a href={ "/console/tasks" (query(&[("grid", g), ("open", "1")])) } { (t) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `<option>`s of an enum's values, the current one selected, with an "any" option first.
pub fn options(
    l: Lang,
    prefix: &str,
    values: &[&str],
    current: Option<&str>,
    any_key: &'static str,
) -> Markup {
    html! {
        option value="" { (l.t(any_key)) }
        @for v in values {
            option value=(v) selected[current == Some(*v)] { (l.t_dyn(prefix, v)) }
        }
    }
}

/// The grids a session may see, as (id, name), by name.
pub fn grids_in_scope(org: &OrgSnapshot, s: &Session) -> Vec<(String, String)> {
    let mut g: Vec<(String, String)> = org
        .units()
        .iter()
        .filter(|u| u.kind == crate::store::UnitKind::Grid && s.scope.contains(&u.id))
        .map(|u| (u.id.clone(), u.name.clone()))
        .collect();
    g.sort_by(|a, b| a.1.cmp(&b.1));
    g
}

/// Literal HTML the templates need (a non-breaking space).
pub const NBSP: PreEscaped<&str> = PreEscaped("&nbsp;");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_and_queries_skip_empty_values() {
        assert_eq!(url_encode("a b&c/é"), "a%20b%26c/%C3%A9");
        assert_eq!(
            query(&[("a", "1"), ("b", ""), ("c", "x y")]),
            "?a=1&c=x%20y"
        );
        assert_eq!(query(&[]), "");
    }

    #[test]
    fn local_days_use_the_offset() {
        let cfg = ConsoleConfig::default();
        // 2026-12-04 20:00 UTC is 2026-12-05 04:00 in China.
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-04T20:00:00Z")
            .unwrap()
            .timestamp_millis();
        assert_eq!(fmt_day(t, &cfg), "2026-12-05");
        assert_eq!(fmt_time(t, &cfg), "2026-12-05 04:00");
        let start = day_start_ms("2026-12-05", &cfg).unwrap();
        assert!(start <= t && t < start + DAY_MS);
        assert_eq!(day_start_ms("2026-13-01", &cfg), None);
    }
}
