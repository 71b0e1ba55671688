//! P10: the web console at a street's scale. 50,000 reports (the demo organisation's four grids,
//! filed over 60 days, a fifth of them closed) in the server's SQLite store, written through the
//! store's push path so the list rows are the ones production writes.
//!
//! - Gridwork: `GET /console/reports?grid=furong-01` as the street's supervisor, through the real
//!   router (session cookie, scope, query checks, the list query, the organisation snapshot,
//!   the page with its layout), timed from request to the last byte of the body: server time,
//!   no socket.
//! - Baseline: the same list query (`ServerStore::list_records`) plus the same results template
//!   (`lists::results` with the reports' spec) called directly: the raw work the page cannot avoid.
//! - Also the dashboard over the 50,000 (`GET /console/dashboard`) against its raw query and
//!   template.
//!
//! Goals (issue 11): the page ≤ 50 ms median and ≤ 1.5× the baseline; the dashboard ≤ 100 ms.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{header, Request};
use gridwork_model::{edit, AnyRecord, Report, ReportCategory, ReportStatus, Role, UserId};
use gridwork_server::console::lists::{results, Cell, REPORTS};
use gridwork_server::console::reports::ListParams;
use gridwork_server::console::{ConsoleConfig, Lang};
use gridwork_server::records::RecordQuery;
use gridwork_server::store::{DocUpdate, Scope, ServerStore};
use gridwork_server::{ApiConfig, AppState, SqliteStore};
use tower::ServiceExt as _;

use crate::{median, Config, Scenario};

const GRIDS: &[&str] = &["furong-01", "furong-02", "baotu-01", "baotu-02"];
const DAY_MS: i64 = 86_400_000;

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

/// Files `n` reports through `ServerStore::push` (as a device's accepted changes), in batches.
fn seed(store: &SqliteStore, n: usize, author: &str) -> Result<(), String> {
    let now = chrono::Utc::now().timestamp_millis();
    let actor = automerge::ActorId::random();
    let categories = ReportCategory::ALL;
    let mut i = 0;
    while i < n {
        let batch: Vec<usize> = (i..(i + 500).min(n)).collect();
        let ids: Vec<String> = batch.iter().map(|k| format!("r{k:08}")).collect();
        let mut next = 0;
        store
            .push("bench-device", &ids, &mut |_doc_id, _stored| {
                let k = batch[next];
                next += 1;
                let at = now - (k as i64 % 60) * DAY_MS - (k as i64 % 1000) * 1000;
                let status = match k % 5 {
                    0 => ReportStatus::Closed,
                    1 => ReportStatus::Approved,
                    2 => ReportStatus::Returned,
                    _ => ReportStatus::Submitted,
                };
                let mut rec = AnyRecord::Report(Report {
                    grid: GRIDS[k % GRIDS.len()].into(),
                    category: categories[k % categories.len()],
                    severity: (k % 4 + 1) as u8,
                    title: format!("第{k}号 芙蓉街{}号楼道堆放杂物", k % 97),
                    description: "三楼楼道堆放纸箱和旧家具，堵塞消防通道。".into(),
                    location: None,
                    photos: vec![],
                    status,
                    transitions: vec![],
                    comments: vec![],
                    author: UserId::default(),
                    created_at: gridwork_model::Millis(0),
                });
                rec.stamp_new(author, at);
                let (doc, _, change) = edit::new_doc(&rec, actor.clone(), author, at)
                    .map_err(|x| gridwork_server::Error::Other(x.to_string()))?;
                let admitted = gridwork_protocol::gate::Admitted::load(doc)
                    .map_err(|x| gridwork_server::Error::Other(x.reason))?;
                Ok(Some(DocUpdate {
                    new_changes: vec![(change.hash().to_string(), change.raw_bytes().to_vec())],
                    snapshot: admitted.doc.save(),
                    grid: admitted.record.grid().to_owned(),
                    kind: "report".into(),
                    blob_refs: vec![],
                    loaded: Some(Arc::new(admitted)),
                }))
            })
            .map_err(e)?;
        i += batch.len();
    }
    Ok(())
}

/// The `Set-Cookie` value of `name` in a response.
fn cookie_of(resp: &axum::http::Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|c| c.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

async fn body_text(resp: axum::http::Response<Body>) -> Result<String, String> {
    let b = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .map_err(e)?;
    String::from_utf8(b.to_vec()).map_err(e)
}

/// Signs in as the demo supervisor through the router; returns the session cookie.
async fn sign_in(app: &axum::Router) -> Result<String, String> {
    let resp = app
        .clone()
        .oneshot(
            Request::get("/console/sign-in")
                .body(Body::empty())
                .map_err(e)?,
        )
        .await
        .map_err(e)?;
    let pre = cookie_of(&resp, "gw_pre").ok_or("no pre-session cookie")?;
    let page = body_text(resp).await?;
    let marker = r#"name="_csrf" value=""#;
    let i = page.find(marker).ok_or("no token")?;
    let csrf = page[i + marker.len()..].split('"').next().unwrap_or("");
    let body = format!("_csrf={csrf}&username=supervisor&password=demo-supervisor");
    let resp = app
        .clone()
        .oneshot(
            Request::post("/console/sign-in")
                .header(header::COOKIE, format!("gw_pre={pre}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .map_err(e)?,
        )
        .await
        .map_err(e)?;
    cookie_of(&resp, "gw_session").ok_or_else(|| "sign-in failed".into())
}

/// One page through the router: ms from request to the last byte, and the body.
async fn page(app: &axum::Router, cookie: &str, path: &str) -> Result<(f64, String), String> {
    let t = Instant::now();
    let resp = app
        .clone()
        .oneshot(
            Request::get(path)
                .header(header::COOKIE, format!("gw_session={cookie}"))
                .body(Body::empty())
                .map_err(e)?,
        )
        .await
        .map_err(e)?;
    let status = resp.status();
    let body = body_text(resp).await?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    if !status.is_success() {
        return Err(format!("{path}: {status}"));
    }
    Ok((ms, body))
}

pub fn run(cfg: &Config, want: &dyn Fn(&str) -> bool) -> Result<Vec<Scenario>, String> {
    if !want("P10") {
        return Ok(Vec::new());
    }
    let (n, repeats) = if cfg.quick { (2_000, 5) } else { (50_000, 41) };
    let dir = cfg.workdir.join("console");
    let store = Arc::new(SqliteStore::open(&dir, 4).map_err(e)?);
    gridwork_server::demo::seed_org(store.as_ref()).map_err(e)?;
    let (worker, _) = store
        .user_by_username("worker")
        .map_err(e)?
        .ok_or("no demo worker")?;
    let t = Instant::now();
    seed(&store, n, &worker.id)?;
    let seed_s = t.elapsed().as_secs_f64();
    let blobs = Arc::new(
        gridwork_server::blob::Blobs::open(
            None,
            &dir,
            gridwork_server::blob::DEFAULT_MAX_BLOB_BYTES,
        )
        .map_err(e)?,
    );
    let console = ConsoleConfig::default();
    let app = gridwork_server::router(AppState {
        store: store.clone(),
        config: Arc::new(ApiConfig {
            console: console.clone(),
            ..ApiConfig::default()
        }),
        blobs,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(e)?;
    let cookie = rt.block_on(sign_in(&app))?;
    let (sv, _) = store
        .user_by_username("supervisor")
        .map_err(e)?
        .ok_or("no demo supervisor")?;
    if sv.role != Role::Supervisor {
        return Err("the demo supervisor is not a supervisor".into());
    }
    let scope: Scope = store.scope(&sv).map_err(e)?;
    let path = "/console/reports?grid=furong-01";
    let params = ListParams {
        grid: Some("furong-01".into()),
        ..ListParams::default()
    };
    // The raw work: the list query and the results template (the organisation for names comes
    // from the store's cache, as the page's does).
    let raw = || -> Result<(f64, usize), String> {
        let t = Instant::now();
        let q: RecordQuery = params
            .to_query(gridwork_model::RecordKind::Report, &console)
            .map_err(|r| format!("{r:?}"))?;
        let rows = store.list_records(&scope, &q).map_err(e)?;
        let org = store.org_snapshot().map_err(e)?;
        let today = gridwork_server::console::pages::fmt_day(
            chrono::Utc::now().timestamp_millis(),
            &console,
        );
        let cell = Cell {
            l: Lang::ZhCn,
            cfg: &console,
            org: &org,
            today: &today,
        };
        let html = results(&REPORTS, &cell, &params, &q, &rows).into_string();
        Ok((t.elapsed().as_secs_f64() * 1000.0, html.len() + rows.len()))
    };
    // Warm both (caches, prepared statements), then alternate.
    let (_, body) = rt.block_on(page(&app, &cookie, path))?;
    let rows_on_page = body.matches("<tr data-id=").count();
    if rows_on_page != 50 {
        return Err(format!("P10: the page shows {rows_on_page} rows, not 50"));
    }
    raw()?;
    let (mut g, mut b) = (Vec::new(), Vec::new());
    for i in 0..repeats {
        if i % 2 == 0 {
            g.push(rt.block_on(page(&app, &cookie, path))?.0);
            b.push(raw()?.0);
        } else {
            b.push(raw()?.0);
            g.push(rt.block_on(page(&app, &cookie, path))?.0);
        }
    }
    let (page_ms, raw_ms) = (median(&mut g), median(&mut b));
    // The dashboard: the page against its raw query and template.
    let today = chrono::Utc::now().timestamp_millis();
    let at = gridwork_server::records::DashboardAt {
        first_day_ms: gridwork_server::console::pages::today_start_ms(&console) - 29 * DAY_MS,
        today: gridwork_server::console::pages::fmt_day(today, &console),
    };
    let (mut dg, mut db) = (Vec::new(), Vec::new());
    rt.block_on(page(&app, &cookie, "/console/dashboard"))?;
    for _ in 0..repeats.min(21) {
        dg.push(rt.block_on(page(&app, &cookie, "/console/dashboard"))?.0);
        let t = Instant::now();
        let d = store.dashboard(&scope, &at).map_err(e)?;
        let org = store.org_snapshot().map_err(e)?;
        let html = gridwork_server::console::pages::dashboard_body(
            Lang::ZhCn,
            &d,
            &org,
            at.first_day_ms,
            &console,
        )
        .into_string();
        db.push(t.elapsed().as_secs_f64() * 1000.0);
        if d.report_status.iter().map(|x| x.1).sum::<u64>() != n as u64 || html.is_empty() {
            return Err("P10: the dashboard does not count every report".into());
        }
    }
    let (dash_ms, dash_raw_ms) = (median(&mut dg), median(&mut db));
    Ok(vec![Scenario::new(
        "P10",
        "console_reports_page",
        "ms",
        page_ms,
        raw_ms,
        "list query + template alone",
    )
    .goal("page <= 50 ms, ratio <= 1.5; dashboard <= 100 ms")
    .extra("reports", n)
    .extra("seed_s", (seed_s * 10.0).round() / 10.0)
    .extra("dashboard_ms", (dash_ms * 100.0).round() / 100.0)
    .extra(
        "dashboard_raw_ms",
        (dash_raw_ms * 100.0).round() / 100.0,
    )])
}
