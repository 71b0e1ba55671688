//! Sync scenarios P5–P7: one edit through the server, a first sync, and server throughput.
//!
//! The server runs in this process (`gridwork_server::router` on its own multi-threaded tokio
//! runtime, SQLite in a temp data directory, same defaults as the binary: WAL, synchronous=FULL)
//! and is reached over loopback HTTP. Devices are real core `Store`s; the device side of the
//! protocol is driven here with `gridwork_protocol::wire` + `Store::outbox` / `Store::apply_sync`,
//! the same steps as `Store::sync`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gridwork_model::*;
use gridwork_protocol::wire::{self, PushDoc, SyncRequest, SyncResponse, PROTOCOL_VERSION};
use gridwork_server::store::{NewUser, ServerStore, Unit, UnitKind};
use gridwork_server::{ApiConfig, AppState, SqliteStore};
use gridwork_store::*;
use rand::{Rng, SeedableRng};

use crate::{median, Config, Scenario};

fn e<E: std::fmt::Display>(x: E) -> String {
    x.to_string()
}

pub fn run(cfg: &Config, want: &dyn Fn(&str) -> bool) -> Result<Vec<Scenario>, String> {
    let mut out = Vec::new();
    if want("P5") || want("P6") {
        out.extend(sync_scenarios(cfg, want)?);
    }
    if want("P7") {
        out.push(server_throughput(cfg)?);
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------------------
// In-process server
// ------------------------------------------------------------------------------------------------

/// A server on its own runtime, on a free loopback port. Dropping it stops it.
pub struct TestServer {
    pub url: String,
    rt: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    /// The real router over a `SqliteStore` in `data_dir`, with `workers` runtime threads.
    pub fn gridwork(data_dir: &Path, workers: usize) -> Result<TestServer, String> {
        let store = Arc::new(SqliteStore::open(data_dir, 4).map_err(e)?);
        let blobs = Arc::new(
            gridwork_server::blob::Blobs::open(
                None,
                data_dir,
                gridwork_server::blob::DEFAULT_MAX_BLOB_BYTES,
            )
            .map_err(e)?,
        );
        let app = gridwork_server::router(AppState {
            store,
            // One benchmark device files the 10,000 reports of a grid's year: daily quotas
            // are off here (the per-request ones stay), throughput is what is measured.
            config: Arc::new(ApiConfig {
                quotas: gridwork_server::quota::Quotas {
                    day_new_docs: u64::MAX,
                    day_changes: u64::MAX,
                    day_bytes: u64::MAX,
                    ..Default::default()
                },
                ..ApiConfig::default()
            }),
            blobs,
        });
        Self::serve(app, workers)
    }

    /// A trivial handler: reads the body and answers a constant, empty sync response.
    pub fn trivial(workers: usize) -> Result<TestServer, String> {
        use axum::routing::post;
        let resp = wire::encode_response(&SyncResponse {
            version: PROTOCOL_VERSION,
            cursor: "v1.0.all".into(),
            ..Default::default()
        });
        let resp = axum::body::Bytes::from(resp);
        let app = axum::Router::new().route(
            "/v1/sync",
            post(move |_body: axum::body::Bytes| {
                let resp = resp.clone();
                async move {
                    (
                        [
                            (axum::http::header::CONTENT_TYPE, wire::SYNC_CONTENT_TYPE),
                            (
                                axum::http::header::CONTENT_ENCODING,
                                wire::SYNC_CONTENT_ENCODING,
                            ),
                        ],
                        resp,
                    )
                }
            }),
        );
        Self::serve(app, workers)
    }

    fn serve(app: axum::Router, workers: usize) -> Result<TestServer, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .map_err(e)?;
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .map_err(e)?;
        let addr = listener.local_addr().map_err(e)?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(TestServer {
            url: format!("http://{addr}"),
            rt: Some(rt),
            stop: Some(tx),
        })
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

/// Copies a closed SQLite data directory (the WAL is checkpointed on close).
fn copy_data_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(e)?;
    for entry in std::fs::read_dir(from).map_err(e)? {
        let entry = entry.map_err(e)?;
        std::fs::copy(entry.path(), to.join(entry.file_name())).map_err(e)?;
    }
    Ok(())
}

const PHRASES: &[&str] = &[
    "楼道堆放杂物",
    "消防通道被车辆占用",
    "电动车在楼道违规充电",
    "垃圾桶满溢未及时清运",
    "窨井盖破损下陷",
    "路灯夜间不亮",
    "屋顶违章搭建彩钢房",
    "邻里因漏水发生纠纷",
    "夜间施工噪音扰民",
    "燃气管道老化锈蚀",
    "墙面小广告乱贴",
    "下水道堵塞污水外溢",
    "商户占道经营",
    "高空抛物隐患",
    "独居老人需要定期关照",
    "绿化带被毁种菜",
    "共享单车乱停放",
    "外墙瓷砖松动脱落",
];

/// A realistic report: a title and ~150 characters of description from common phrases.
fn report_for(rng: &mut impl Rng, grid: &str) -> NewReport {
    let mut description = String::new();
    while description.chars().count() < 150 {
        if !description.is_empty() {
            description.push('，');
        }
        description.push_str(PHRASES[rng.random_range(0..PHRASES.len())]);
    }
    NewReport {
        grid: grid.into(),
        category: ReportCategory::ALL[rng.random_range(0..ReportCategory::ALL.len())],
        severity: rng.random_range(1..=4),
        title: PHRASES[rng.random_range(0..PHRASES.len())].into(),
        description: description.chars().take(150).collect(),
        location: Some(Location {
            lat: 36.65 + rng.random::<f64>() / 100.0,
            lon: 117.12 + rng.random::<f64>() / 100.0,
            accuracy_m: 8.0,
            address: None,
        }),
        submit: false,
    }
}

/// One small edit of a report: severity, title or description.
fn edit_report(store: &Store, id: &str, i: usize) -> Result<(), String> {
    store
        .update(id, |r| {
            if let AnyRecord::Report(r) = r {
                match i % 3 {
                    0 => r.severity = (r.severity % 4) + 1,
                    1 => r.title = format!("楼道堆放杂物 第{i}次复查"),
                    _ => r.description.push('。'),
                }
            }
            Ok(())
        })
        .map_err(e)
}

/// The demo-like organisation: one district, one street, one community, `grids` grids.
fn seed_org(store: &dyn ServerStore, grids: usize) -> Result<Vec<String>, String> {
    let unit = |id: &str, kind, parent: Option<&str>| Unit {
        id: id.into(),
        kind,
        parent_id: parent.map(Into::into),
        name: id.into(),
    };
    store
        .upsert_unit(&unit("d", UnitKind::District, None))
        .map_err(e)?;
    store
        .upsert_unit(&unit("s", UnitKind::Street, Some("d")))
        .map_err(e)?;
    store
        .upsert_unit(&unit("c", UnitKind::Community, Some("s")))
        .map_err(e)?;
    let ids: Vec<String> = (0..grids).map(|g| format!("g{g:04}")).collect();
    for g in &ids {
        store
            .upsert_unit(&unit(g, UnitKind::Grid, Some("c")))
            .map_err(e)?;
    }
    Ok(ids)
}

// ------------------------------------------------------------------------------------------------
// HTTP device client (the steps of `Store::sync`)
// ------------------------------------------------------------------------------------------------

fn encode_push(
    cursor: Option<String>,
    directory: Option<wire::DirCursor>,
    push: Vec<PushDoc>,
    pull_limit: Option<u32>,
) -> Vec<u8> {
    wire::encode_request(&SyncRequest {
        version: PROTOCOL_VERSION,
        cursor,
        push,
        pull_limit,
        directory,
    })
}

async fn post_sync(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: Vec<u8>,
) -> Result<(SyncResponse, usize), String> {
    let resp = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", wire::SYNC_CONTENT_TYPE)
        .header("content-encoding", wire::SYNC_CONTENT_ENCODING)
        .body(body)
        .send()
        .await
        .map_err(e)?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(e)?;
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
    }
    let n = bytes.len();
    Ok((
        wire::decode_response(&bytes, wire::RESPONSE_LIMITS).map_err(e)?,
        n,
    ))
}

// ------------------------------------------------------------------------------------------------
// P7 server_throughput
// ------------------------------------------------------------------------------------------------

struct SimDevice {
    token: String,
    doc_id: String,
    /// Pregenerated change bytes of the device's report, in order.
    changes: Vec<Vec<u8>>,
}

struct Fleet {
    seed_dir: PathBuf,
    devices: Vec<SimDevice>,
}

/// Creates `n` workers (10 per grid), each with a signed-in device (its own token and actor)
/// and a report edited `edits` times by a real core store; the change bytes are kept for the
/// load generator. Returns the server data directory to copy per run.
fn build_fleet(dir: &Path, n: usize, edits: usize) -> Result<Fleet, String> {
    let seed_dir = dir.join("seed");
    let store = SqliteStore::open(&seed_dir, 1).map_err(e)?;
    let grids = seed_org(&store, n.div_ceil(10))?;
    let pw = gridwork_server::auth::hash_password("bench-password").map_err(e)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut devices = Vec::with_capacity(n);
    let dev_dir = dir.join("devices");
    std::fs::create_dir_all(&dev_dir).map_err(e)?;
    for i in 0..n {
        let grid = &grids[i / 10];
        let user = store
            .create_user(
                &NewUser {
                    username: format!("w{i:05}"),
                    display_name: format!("worker {i}"),
                    role: Role::Worker,
                    units: vec![grid.clone()],
                },
                &pw,
            )
            .map_err(e)?;
        let path = dev_dir.join(format!("d{i}.db"));
        let dev = Store::open(
            &path,
            Identity {
                user_id: user.id.clone(),
                role: Role::Worker,
                grids: Some(vec![grid.clone()]),
            },
        )
        .map_err(e)?;
        let doc_id = dev.create_report(report_for(&mut rng, grid)).map_err(e)?;
        for k in 0..edits {
            edit_report(&dev, &doc_id, k)?;
        }
        let changes: Vec<Vec<u8>> = dev
            .sync_side()
            .outbox(usize::MAX)
            .map_err(e)?
            .into_iter()
            .flat_map(|d| d.changes.into_iter().map(|c| c.bytes))
            .collect();
        let (token, hash) = gridwork_server::auth::new_token();
        let expires = chrono::Utc::now() + chrono::Duration::days(1);
        store
            .create_device(&user.id, "bench device", &hash, expires, &[dev.actor_id()])
            .map_err(e)?;
        drop(dev);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        devices.push(SimDevice {
            token,
            doc_id,
            changes,
        });
    }
    drop(store);
    Ok(Fleet { seed_dir, devices })
}

#[derive(Debug, Default, Clone)]
struct LoadResult {
    requests: usize,
    errors: usize,
    first_error: Option<String>,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    changes_pushed: usize,
    changes_pulled: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct DevState {
    cursor: Option<String>,
    /// The directory cursor, kept as a device keeps it (the first sync fetches the directory).
    directory: Option<wire::DirCursor>,
    next_change: usize,
}

/// Load generator. `period`: `Some(p)` = each device sends one request every `p` (open loop,
/// latency measured from the scheduled send time, so a slow server cannot hide its queue);
/// `None` = closed loop, each device sends its next request as soon as the last one answers.
/// Stops by itself after `dur` (in-flight requests finish, bounded by the client timeout).
#[allow(clippy::too_many_arguments)] // one call site; each knob is a scenario parameter
async fn load(
    client: reqwest::Client,
    url: Arc<str>,
    fleet: Arc<Vec<SimDevice>>,
    states: Vec<DevState>,
    period: Option<Duration>,
    dur: Duration,
    seed: u64,
    check: bool,
) -> (LoadResult, Vec<DevState>) {
    let start = tokio::time::Instant::now();
    let end = start + dur;
    let mut tasks = Vec::with_capacity(fleet.len());
    for (i, mut st) in states.into_iter().enumerate() {
        let client = client.clone();
        let url = url.clone();
        let fleet = fleet.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ (i as u64) << 8);
            let dev = &fleet[i];
            let mut lat = Vec::new();
            let (mut errors, mut pushed, mut pulled) = (0usize, 0usize, 0usize);
            let mut first_error = None;
            let mut next = match period {
                Some(p) => start + p.mul_f64(rng.random::<f64>()),
                None => start,
            };
            while next < end {
                if period.is_some() {
                    tokio::time::sleep_until(next).await;
                }
                let take = rng
                    .random_range(1..=2usize)
                    .min(dev.changes.len() - st.next_change);
                let push = if take == 0 {
                    vec![]
                } else {
                    vec![PushDoc {
                        doc_id: dev.doc_id.clone(),
                        changes: dev.changes[st.next_change..st.next_change + take].to_vec(),
                    }]
                };
                let body = encode_push(st.cursor.clone(), st.directory, push, None);
                let sent = tokio::time::Instant::now();
                let from = if period.is_some() { next } else { sent };
                match post_sync(&client, &url, &dev.token, body).await {
                    Ok((resp, _))
                        if !check || (resp.accepted.len() == take && resp.rejected.is_empty()) =>
                    {
                        st.next_change += take;
                        pushed += take;
                        pulled += resp.changes.len();
                        st.cursor = Some(resp.cursor);
                        if let Some(d) = resp.directory {
                            st.directory = Some(d.cursor);
                        }
                    }
                    Ok((resp, _)) => {
                        errors += 1;
                        first_error.get_or_insert(format!(
                            "accepted {} of {take}, rejected {:?}",
                            resp.accepted.len(),
                            resp.rejected.first()
                        ));
                    }
                    Err(x) => {
                        errors += 1;
                        first_error.get_or_insert(x);
                    }
                }
                lat.push(from.elapsed().as_secs_f64() * 1000.0);
                next = match period {
                    Some(p) => next + p,
                    None => tokio::time::Instant::now(),
                };
            }
            (lat, errors, pushed, pulled, first_error, st)
        }));
    }
    let mut all = Vec::new();
    let mut res = LoadResult::default();
    let mut states = Vec::with_capacity(tasks.len());
    for t in tasks {
        let (lat, errors, pushed, pulled, fe, st) = t.await.expect("load task");
        all.extend(lat);
        res.errors += errors;
        res.changes_pushed += pushed;
        res.changes_pulled += pulled;
        if res.first_error.is_none() {
            res.first_error = fe;
        }
        states.push(st);
    }
    res.secs = start.elapsed().as_secs_f64();
    res.requests = all.len();
    all.sort_by(f64::total_cmp);
    res.p50_ms = percentile(&all, 0.50);
    res.p99_ms = percentile(&all, 0.99);
    (res, states)
}

struct P7Run {
    paced: LoadResult,
    saturated: LoadResult,
}

/// One run against `url`: warm-up (every device syncs once: connection, first push, first
/// pull), then the paced phase, then the saturation phase.
fn p7_run(
    url: &str,
    fleet: &Arc<Vec<SimDevice>>,
    rate: f64,
    dur: Duration,
    seed: u64,
    check: bool,
) -> Result<P7Run, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(e)?;
    let url: Arc<str> = Arc::from(format!("{url}/v1/sync"));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(e)?;
    rt.block_on(async {
        let n = fleet.len();
        let states: Vec<DevState> = (0..n)
            .map(|_| DevState {
                cursor: None,
                directory: None,
                next_change: 0,
            })
            .collect();
        // Warm-up: spread over ~1 s.
        let (w, states) = load(
            client.clone(),
            url.clone(),
            fleet.clone(),
            states,
            Some(Duration::from_secs(1)),
            Duration::from_secs(1),
            seed,
            check,
        )
        .await;
        if w.errors > 0 {
            return Err(format!(
                "warm-up: {} errors, first: {:?}",
                w.errors, w.first_error
            ));
        }
        let period = Duration::from_secs_f64(n as f64 / rate);
        let (paced, states) = load(
            client.clone(),
            url.clone(),
            fleet.clone(),
            states,
            Some(period),
            dur,
            seed + 1,
            check,
        )
        .await;
        let (saturated, _) = load(
            client.clone(),
            url.clone(),
            fleet.clone(),
            states,
            None,
            dur,
            seed + 2,
            check,
        )
        .await;
        for (what, r) in [("paced", &paced), ("saturation", &saturated)] {
            if r.errors > 0 {
                return Err(format!(
                    "{what}: {} of {} requests failed, first: {:?}",
                    r.errors, r.requests, r.first_error
                ));
            }
        }
        Ok(P7Run { paced, saturated })
    })
}

fn server_throughput(cfg: &Config) -> Result<Scenario, String> {
    let n = if cfg.quick { 200 } else { 1000 };
    let rate = 2000.0;
    let dur = Duration::from_secs_f64(if cfg.quick { 1.5 } else { 5.0 });
    // P7_REPEATS overrides the number of runs (each takes ~25 s at full size).
    let repeats = if cfg.quick {
        1
    } else {
        std::env::var("P7_REPEATS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(cfg.repeats.clamp(1, 5))
    };
    let dir = cfg.workdir.join("p7");
    let t0 = Instant::now();
    // Changes per device: warm-up + both phases at up to ~2 requests/s/device for the paced and
    // whatever the server sustains for saturation, 1.5 changes per request on average.
    let edits = if cfg.quick { 20 } else { 40 };
    let fleet = build_fleet(&dir, n, edits)?;
    eprintln!(
        "P7: {n} devices with {edits} edits each prepared in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let seed_dir = fleet.seed_dir.clone();
    let devices = Arc::new(fleet.devices);
    let workers = 2;

    let mut g_runs = Vec::new();
    let mut b_runs = Vec::new();
    for r in 0..repeats {
        let data = dir.join(format!("run{r}"));
        copy_data_dir(&seed_dir, &data)?;
        let g = {
            let server = TestServer::gridwork(&data, workers)?;
            p7_run(&server.url, &devices, rate, dur, 100 + r as u64, true)?
        };
        let _ = std::fs::remove_dir_all(&data);
        let b = {
            let server = TestServer::trivial(workers)?;
            p7_run(&server.url, &devices, rate, dur, 100 + r as u64, false)?
        };
        eprintln!(
            "P7 run {r}: gridwork paced {:.0} req/s p50 {:.1} p99 {:.1} ms; saturated {:.0} req/s p50 {:.1} p99 {:.1} ms | trivial saturated {:.0} req/s p99 {:.1} ms",
            g.paced.requests as f64 / g.paced.secs,
            g.paced.p50_ms,
            g.paced.p99_ms,
            g.saturated.requests as f64 / g.saturated.secs,
            g.saturated.p50_ms,
            g.saturated.p99_ms,
            b.saturated.requests as f64 / b.saturated.secs,
            b.saturated.p99_ms
        );
        g_runs.push(g);
        b_runs.push(b);
    }
    let med = |runs: &[P7Run], f: &dyn Fn(&P7Run) -> f64| {
        median(&mut runs.iter().map(f).collect::<Vec<_>>())
    };
    let paced_rps = |r: &P7Run| r.paced.requests as f64 / r.paced.secs;
    let sat_rps = |r: &P7Run| r.saturated.requests as f64 / r.saturated.secs;
    let g_paced = med(&g_runs, &paced_rps);
    let b_paced = med(&b_runs, &paced_rps);
    Ok(Scenario::new(
        "P7",
        "server_throughput",
        "req/s",
        g_paced,
        b_paced,
        "same load against a trivial axum handler (constant answer)",
    )
    .goal(">= 2000 req/s with p99 <= 50 ms")
    .extra("devices", n as u64)
    .extra("offered_req_s", rate)
    .extra("phase_secs", dur.as_secs_f64())
    .extra("runs", repeats as u64)
    .extra("p50_ms", med(&g_runs, &|r| r.paced.p50_ms))
    .extra("p99_ms", med(&g_runs, &|r| r.paced.p99_ms))
    .extra("baseline_p50_ms", med(&b_runs, &|r| r.paced.p50_ms))
    .extra("baseline_p99_ms", med(&b_runs, &|r| r.paced.p99_ms))
    .extra("saturated_req_s", med(&g_runs, &sat_rps))
    .extra("saturated_p50_ms", med(&g_runs, &|r| r.saturated.p50_ms))
    .extra("saturated_p99_ms", med(&g_runs, &|r| r.saturated.p99_ms))
    .extra("baseline_saturated_req_s", med(&b_runs, &sat_rps))
    .extra(
        "changes_pushed_per_run",
        med(&g_runs, &|r| {
            (r.paced.changes_pushed + r.saturated.changes_pushed) as f64
        }),
    )
    .extra(
        "changes_pulled_per_run",
        med(&g_runs, &|r| {
            (r.paced.changes_pulled + r.saturated.changes_pulled) as f64
        }),
    ))
}

// ------------------------------------------------------------------------------------------------
// P5 / P6
// ------------------------------------------------------------------------------------------------

/// Bytes on the wire of one round trip, and whether more pages wait.
struct Trip {
    up: usize,
    down: usize,
    /// Bytes the directory added (compressed): this trip minus the same messages in version 1.
    dir_bytes: usize,
    more: bool,
    pulled: Vec<(String, Vec<u8>)>,
}

/// One sync round trip of a device, the steps of `Store::sync`: push the outbox, pull after the
/// cursor, apply acknowledgements, refusals, pulled changes and the cursor in one transaction.
fn sync_once(
    client: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    store: &Store,
    keep_pulled: bool,
) -> Result<Trip, String> {
    let outbox = store.sync_side().outbox(4 << 20).map_err(e)?;
    let req = SyncRequest {
        version: PROTOCOL_VERSION,
        cursor: store.sync_cursor().map_err(e)?,
        push: outbox
            .into_iter()
            .map(|d| PushDoc {
                doc_id: d.doc_id,
                changes: d.changes.into_iter().map(|c| c.bytes).collect(),
            })
            .collect(),
        pull_limit: Some(10_000),
        directory: store.sync_side().directory_cursor().map_err(e)?,
    };
    let body = wire::encode_request(&req);
    let up = body.len();
    let up_v1 = wire::encode_request(&SyncRequest {
        version: 1,
        ..req.clone()
    })
    .len();
    let resp = client
        .post(format!("{url}/v1/sync"))
        .bearer_auth(token)
        .header("content-type", wire::SYNC_CONTENT_TYPE)
        .header("content-encoding", wire::SYNC_CONTENT_ENCODING)
        .body(body)
        .send()
        .map_err(e)?;
    let status = resp.status();
    let bytes = resp.bytes().map_err(e)?;
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
    }
    let r = wire::decode_response(&bytes, wire::RESPONSE_LIMITS).map_err(e)?;
    if !r.rejected.is_empty() {
        return Err(format!("rejected: {:?}", r.rejected[0]));
    }
    let down_v1 = wire::encode_response(&wire::SyncResponse {
        version: 1,
        ..r.clone()
    })
    .len();
    let dir_bytes = (up + bytes.len()).saturating_sub(up_v1 + down_v1);
    let pulled: Vec<(String, Vec<u8>)> =
        r.changes.into_iter().map(|c| (c.doc_id, c.bytes)).collect();
    let kept = if keep_pulled {
        pulled.clone()
    } else {
        Vec::new()
    };
    store
        .sync_side()
        .apply_sync(SyncApply {
            acked: r.accepted.into_iter().map(|a| (a.doc_id, a.hash)).collect(),
            rejected: vec![],
            pulled,
            cursor: Some(r.cursor),
            directory: r.directory,
        })
        .map_err(e)?;
    Ok(Trip {
        up,
        down: bytes.len(),
        dir_bytes,
        more: r.more,
        pulled: kept,
    })
}

/// Syncs until nothing more waits. Returns (round trips, bytes up, bytes down, pulled changes).
/// What [`sync_all`] did: round trips, changes up, changes down, and the documents pulled.
type SyncTotals = (usize, usize, usize, Vec<(String, Vec<u8>)>);

fn sync_all(
    client: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    store: &Store,
    keep: bool,
) -> Result<SyncTotals, String> {
    let (mut trips, mut up, mut down, mut pulled) = (0, 0, 0, Vec::new());
    loop {
        let t = sync_once(client, url, token, store, keep)?;
        trips += 1;
        up += t.up;
        down += t.down;
        pulled.extend(t.pulled);
        if !t.more && store.pending_count().map_err(e)? == 0 {
            return Ok((trips, up, down, pulled));
        }
        if trips > 1000 {
            return Err("sync did not finish in 1000 round trips".into());
        }
    }
}

/// Automerge's own sync protocol between two copies of one document, fresh sync states.
/// Returns (messages, bytes).
fn automerge_sync_pair(
    a: &mut automerge::Automerge,
    b: &mut automerge::Automerge,
) -> Result<(usize, usize), String> {
    use automerge::sync::{State, SyncDoc};
    let (mut sa, mut sb) = (State::new(), State::new());
    let (mut msgs, mut bytes) = (0, 0);
    for _ in 0..64 {
        let mut progressed = false;
        if let Some(m) = a.generate_sync_message(&mut sa) {
            let enc = m.encode();
            msgs += 1;
            bytes += enc.len();
            b.receive_sync_message(&mut sb, automerge::sync::Message::decode(&enc).map_err(e)?)
                .map_err(e)?;
            progressed = true;
        }
        if let Some(m) = b.generate_sync_message(&mut sb) {
            let enc = m.encode();
            msgs += 1;
            bytes += enc.len();
            a.receive_sync_message(&mut sa, automerge::sync::Message::decode(&enc).map_err(e)?)
                .map_err(e)?;
            progressed = true;
        }
        if !progressed {
            return Ok((msgs, bytes));
        }
    }
    Err("automerge sync did not converge".into())
}

fn sync_scenarios(cfg: &Config, want: &dyn Fn(&str) -> bool) -> Result<Vec<Scenario>, String> {
    let n = if cfg.quick { 500 } else { 10_000 };
    let repeats = if cfg.quick {
        3
    } else {
        cfg.repeats.clamp(3, 7)
    };
    let dir = cfg.workdir.join("p56");
    let data = dir.join("server");
    // Organisation, one worker, devices with tokens: A (files the reports), B (the other
    // device of P5), and one fresh device per P6 run.
    let user = {
        let store = SqliteStore::open(&data, 1).map_err(e)?;
        seed_org(&store, 1)?;
        let pw = gridwork_server::auth::hash_password("bench-password").map_err(e)?;
        store
            .create_user(
                &NewUser {
                    username: "w".into(),
                    display_name: "worker".into(),
                    role: Role::Worker,
                    units: vec!["g0000".into()],
                },
                &pw,
            )
            .map_err(e)?
    };
    let identity = Identity {
        user_id: user.id.clone(),
        role: Role::Worker,
        grids: Some(vec!["g0000".into()]),
    };
    let dev_a = Store::open(dir.join("a.db"), identity.clone()).map_err(e)?;
    let dev_b = Store::open(dir.join("b.db"), identity.clone()).map_err(e)?;
    let mut toks = Vec::new();
    {
        let store = SqliteStore::open(&data, 1).map_err(e)?;
        let expires = chrono::Utc::now() + chrono::Duration::days(1);
        for actor in [dev_a.actor_id(), dev_b.actor_id()]
            .into_iter()
            .map(Some)
            .chain((0..repeats).map(|_| None))
        {
            let (token, hash) = gridwork_server::auth::new_token();
            let actors: Vec<String> = actor.into_iter().collect();
            store
                .create_device(&user.id, "bench", &hash, expires, &actors)
                .map_err(e)?;
            toks.push(token);
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let t0 = Instant::now();
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(
            dev_a
                .create_report(report_for(&mut rng, "g0000"))
                .map_err(e)?,
        );
    }
    let server = TestServer::gridwork(&data, 2)?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(e)?;
    let (trips_a, _, _, _) = sync_all(&client, &server.url, &toks[0], &dev_a, false)?;
    eprintln!(
        "P5/P6: {n} reports filed and pushed in {trips_a} round trips, {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let mut out = Vec::new();

    // ---------------------------------------------------------------- P6 initial_sync
    let mut raw: Vec<(String, Vec<u8>)> = Vec::new();
    let (mut g_ms, mut b_ms, mut g_bytes, mut g_trips) = (Vec::new(), Vec::new(), 0usize, 0usize);
    for r in 0..repeats {
        let path = dir.join(format!("new{r}.db"));
        let fresh = Store::open(&path, identity.clone()).map_err(e)?;
        let t = Instant::now();
        let (trips, up, down, pulled) =
            sync_all(&client, &server.url, &toks[2 + r], &fresh, r == 0)?;
        g_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if r == 0 {
            raw = pulled;
            g_bytes = up + down;
            g_trips = trips;
            let got = fresh
                .list(&ListQuery {
                    limit: Some(1),
                    ..Default::default()
                })
                .map_err(e)?;
            if got.items.is_empty() || raw.len() != n {
                return Err(format!(
                    "P6: the new device got {} changes, expected {n}",
                    raw.len()
                ));
            }
        }
        drop(fresh);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        // The floor: the same change bytes into fresh documents.
        let t = Instant::now();
        let mut docs = Vec::with_capacity(raw.len());
        for (_, bytes) in &raw {
            let mut d = automerge::Automerge::new();
            d.load_incremental(bytes).map_err(e)?;
            docs.push(d);
        }
        b_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        drop(docs);
    }
    let raw_bytes: Vec<u8> = raw.iter().flat_map(|(_, b)| b.iter().copied()).collect();
    let zstd_raw = zstd::encode_all(&raw_bytes[..], 3).map_err(e)?.len();
    if want("P6") {
        out.push(
            Scenario::new(
                "P6",
                "initial_sync",
                "ms",
                median(&mut g_ms),
                median(&mut b_ms),
                "load_incremental of the same change bytes into fresh documents (no storage)",
            )
            .goal("ratio <= 1.5; wire bytes <= 1.2x zstd(raw changes)")
            .extra("reports", n as u64)
            .extra("round_trips", g_trips as u64)
            .extra("wire_bytes", g_bytes as u64)
            .extra("raw_change_bytes", raw_bytes.len() as u64)
            .extra("zstd_raw_change_bytes", zstd_raw as u64)
            .extra("wire_over_zstd_raw", g_bytes as f64 / zstd_raw as f64),
        );
    }

    // ---------------------------------------------------------------- P5 sync_one_edit
    if want("P5") {
        // B holds everything first.
        sync_all(&client, &server.url, &toks[1], &dev_b, false)?;
        // Baseline documents: two in-memory copies of every report.
        let mut am_a: Vec<automerge::Automerge> = Vec::with_capacity(raw.len());
        for (_, bytes) in &raw {
            let mut d = automerge::Automerge::new();
            d.load_incremental(bytes).map_err(e)?;
            am_a.push(d);
        }
        let mut am_b: Vec<automerge::Automerge> =
            am_a.iter().map(automerge::Automerge::fork).collect();
        let (mut g, mut b) = (Vec::new(), Vec::new());
        let (mut g_trip_total, mut g_bytes_one, mut b_msgs, mut b_bytes, mut dir_bytes) =
            (0usize, 0usize, 0usize, 0usize, 0usize);
        for r in 0..repeats {
            let id = &ids[(r * 7919) % ids.len()];
            // Gridwork: A edits one field and syncs; B syncs.
            let t = Instant::now();
            dev_a
                .update(id, |rec| {
                    if let AnyRecord::Report(x) = rec {
                        x.severity = (x.severity % 4) + 1;
                    }
                    Ok(())
                })
                .map_err(e)?;
            let ta = sync_once(&client, &server.url, &toks[0], &dev_a, false)?;
            let tb = sync_once(&client, &server.url, &toks[1], &dev_b, false)?;
            g.push(t.elapsed().as_secs_f64() * 1000.0);
            let sev = |s: &Store| match s.get(id).map(|x| x.record) {
                Ok(AnyRecord::Report(x)) => Some(x.severity),
                _ => None,
            };
            if sev(&dev_a) != sev(&dev_b) || ta.more || tb.more {
                return Err("P5: the edit did not reach device B in one round trip".into());
            }
            if r == 0 {
                g_trip_total = 2;
                g_bytes_one = ta.up + ta.down + tb.up + tb.down;
                dir_bytes = ta.dir_bytes + tb.dir_bytes;
            }
            // Baseline: the same one-field edit, then Automerge's sync protocol per document.
            let k = (r * 7919) % am_a.len();
            let t = Instant::now();
            {
                use automerge::transaction::Transactable;
                let mut tx = am_a[k].transaction();
                tx.put(automerge::ROOT, "severity", (r % 4 + 1) as i64)
                    .map_err(e)?;
                tx.commit();
            }
            let (mut msgs, mut bytes) = (0, 0);
            for (x, y) in am_a.iter_mut().zip(am_b.iter_mut()) {
                let (m, by) = automerge_sync_pair(x, y)?;
                msgs += m;
                bytes += by;
            }
            b.push(t.elapsed().as_secs_f64() * 1000.0);
            if r == 0 {
                b_msgs = msgs;
                b_bytes = bytes;
            }
        }
        out.push(
            Scenario::new(
                "P5",
                "sync_one_edit",
                "ms",
                median(&mut g),
                median(&mut b),
                "Automerge sync protocol per document (fresh sync::State each)",
            )
            .goal("1 round trip per device; bytes <= 1/1000 of the baseline")
            .extra("reports", n as u64)
            .extra("round_trips", g_trip_total as u64)
            .extra("bytes", g_bytes_one as u64)
            // What the team directory (protocol v2) adds when nothing in it changed.
            .extra("directory_bytes", dir_bytes as u64)
            .extra(
                "directory_share",
                dir_bytes as f64 / g_bytes_one.max(1) as f64,
            )
            .extra("baseline_messages", b_msgs as u64)
            .extra("baseline_bytes", b_bytes as u64)
            .extra("bytes_ratio", g_bytes_one as f64 / b_bytes.max(1) as f64),
        );
    }
    drop(server);
    Ok(out)
}
