//! A fault-injecting HTTP/1.1 proxy on loopback between devices and the server.
//!
//! Each client connection carries one request (the proxy answers with `connection: close`), which
//! the proxy reads whole, then, by a seeded dice roll per request:
//! drops it unsent; forwards it and drops the answer (the server committed); forwards half of the
//! body and hangs up; forwards it and sends back half of the answer; delays it; or answers 503
//! itself, before or after the server saw the request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Probabilities (0..=1) of each fault per request; the rest pass through.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    pub drop_request: f64,
    pub drop_response: f64,
    pub truncate_request: f64,
    pub truncate_response: f64,
    pub error_5xx_before: f64,
    pub error_5xx_after: f64,
    pub delay: f64,
    pub delay_ms: (u64, u64),
}

impl FaultPlan {
    /// Every kind of fault, `p` each.
    pub fn all(p: f64) -> FaultPlan {
        FaultPlan {
            drop_request: p,
            drop_response: p,
            truncate_request: p,
            truncate_response: p,
            error_5xx_before: p,
            error_5xx_after: p,
            delay: p,
            delay_ms: (20, 300),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Pass,
    DropRequest,
    DropResponse,
    TruncateRequest,
    TruncateResponse,
    Error5xxBefore,
    Error5xxAfter,
    Delay(u64),
}

/// How many requests met each fault.
#[derive(Debug, Default)]
pub struct FaultStats {
    pub requests: AtomicU64,
    pub passed: AtomicU64,
    pub dropped_requests: AtomicU64,
    pub dropped_responses: AtomicU64,
    pub truncated_requests: AtomicU64,
    pub truncated_responses: AtomicU64,
    pub errors_5xx: AtomicU64,
    pub delayed: AtomicU64,
}

impl FaultStats {
    pub fn summary(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "requests={} passed={} dropped_req={} dropped_resp={} trunc_req={} trunc_resp={} 5xx={} delayed={}",
            g(&self.requests),
            g(&self.passed),
            g(&self.dropped_requests),
            g(&self.dropped_responses),
            g(&self.truncated_requests),
            g(&self.truncated_responses),
            g(&self.errors_5xx),
            g(&self.delayed)
        )
    }
    pub fn faults(&self) -> u64 {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        g(&self.requests) - g(&self.passed) - g(&self.delayed)
    }
}

struct Shared {
    plan: Mutex<FaultPlan>,
    upstream: Mutex<SocketAddr>,
    rng: Mutex<StdRng>,
    stats: FaultStats,
}

/// The running proxy; stops when dropped.
pub struct FaultProxy {
    pub url: String,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FaultProxy {
    pub fn start(upstream: SocketAddr, seed: u64) -> FaultProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let shared = Arc::new(Shared {
            plan: Mutex::new(FaultPlan::default()),
            upstream: Mutex::new(upstream),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            stats: FaultStats::default(),
        });
        let sh = shared.clone();
        runtime.spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                let sh = sh.clone();
                tokio::spawn(async move {
                    let _ = Box::pin(handle(conn, sh)).await;
                });
            }
        });
        FaultProxy {
            url: format!("http://{addr}"),
            shared,
            runtime: Some(runtime),
        }
    }

    pub fn set_plan(&self, plan: FaultPlan) {
        *self.shared.plan.lock().unwrap() = plan;
    }

    /// Stop injecting faults: every request passes.
    pub fn heal(&self) {
        self.set_plan(FaultPlan::default());
    }

    pub fn set_upstream(&self, addr: SocketAddr) {
        *self.shared.upstream.lock().unwrap() = addr;
    }

    pub fn stats(&self) -> &FaultStats {
        &self.shared.stats
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn roll(sh: &Shared) -> Fault {
    let plan = sh.plan.lock().unwrap().clone();
    let mut rng = sh.rng.lock().unwrap();
    let x: f64 = rng.random();
    let mut acc = 0.0;
    let mut pick = |p: f64| {
        acc += p;
        x < acc
    };
    if pick(plan.drop_request) {
        Fault::DropRequest
    } else if pick(plan.drop_response) {
        Fault::DropResponse
    } else if pick(plan.truncate_request) {
        Fault::TruncateRequest
    } else if pick(plan.truncate_response) {
        Fault::TruncateResponse
    } else if pick(plan.error_5xx_before) {
        Fault::Error5xxBefore
    } else if pick(plan.error_5xx_after) {
        Fault::Error5xxAfter
    } else if pick(plan.delay) {
        let (a, b) = plan.delay_ms;
        Fault::Delay(if b > a { rng.random_range(a..b) } else { a })
    } else {
        Fault::Pass
    }
}

/// Reads one HTTP/1.1 request: (head without the blank line, body).
async fn read_request(conn: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len = header_value(&head, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some((head, body)))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn header_value(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// The head with any `connection` header replaced by `connection: close`.
fn with_close(head: &str) -> String {
    let mut out: Vec<&str> = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    out.push("connection: close");
    out.join("\r\n") + "\r\n\r\n"
}

/// Sends the request upstream and reads the whole answer (the server closes after it).
async fn forward(sh: &Shared, head: &str, body: &[u8], truncate: bool) -> std::io::Result<Vec<u8>> {
    let upstream = *sh.upstream.lock().unwrap();
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(with_close(head).as_bytes()).await?;
    if truncate {
        up.write_all(&body[..body.len() / 2]).await?;
        up.shutdown().await?;
        // Read whatever the server says to the half body, then give up on it.
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), up.read_to_end(&mut sink)).await;
        return Ok(Vec::new());
    }
    up.write_all(body).await?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp).await?;
    Ok(resp)
}

fn response_with_close(resp: &[u8]) -> Vec<u8> {
    match find(resp, b"\r\n\r\n") {
        Some(i) => {
            let head = String::from_utf8_lossy(&resp[..i]).into_owned();
            let mut out = with_close(&head).into_bytes();
            out.extend_from_slice(&resp[i + 4..]);
            out
        }
        None => resp.to_vec(),
    }
}

fn error_503() -> Vec<u8> {
    let body = br#"{"code":"unavailable","message":"injected fault","retryable":true}"#;
    let mut v = format!("HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len()).into_bytes();
    v.extend_from_slice(body);
    v
}

async fn handle(mut conn: TcpStream, sh: Arc<Shared>) -> std::io::Result<()> {
    let Some((head, body)) = Box::pin(read_request(&mut conn)).await? else {
        return Ok(());
    };
    sh.stats.requests.fetch_add(1, Ordering::Relaxed);
    let fault = roll(&sh);
    let s = &sh.stats;
    match fault {
        Fault::DropRequest => {
            s.dropped_requests.fetch_add(1, Ordering::Relaxed);
        }
        Fault::DropResponse => {
            s.dropped_responses.fetch_add(1, Ordering::Relaxed);
            forward(&sh, &head, &body, false).await?;
        }
        Fault::TruncateRequest => {
            s.truncated_requests.fetch_add(1, Ordering::Relaxed);
            forward(&sh, &head, &body, true).await?;
        }
        Fault::TruncateResponse => {
            s.truncated_responses.fetch_add(1, Ordering::Relaxed);
            let resp = response_with_close(&forward(&sh, &head, &body, false).await?);
            // Keep the head (and its content-length), cut the body.
            let cut = find(&resp, b"\r\n\r\n")
                .map_or(resp.len() / 2, |i| i + 4 + (resp.len() - i - 4) / 2);
            conn.write_all(&resp[..cut]).await?;
        }
        Fault::Error5xxBefore => {
            s.errors_5xx.fetch_add(1, Ordering::Relaxed);
            conn.write_all(&error_503()).await?;
        }
        Fault::Error5xxAfter => {
            s.errors_5xx.fetch_add(1, Ordering::Relaxed);
            forward(&sh, &head, &body, false).await?;
            conn.write_all(&error_503()).await?;
        }
        Fault::Delay(ms) => {
            s.delayed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let resp = forward(&sh, &head, &body, false).await?;
            conn.write_all(&response_with_close(&resp)).await?;
        }
        Fault::Pass => {
            s.passed.fetch_add(1, Ordering::Relaxed);
            let resp = forward(&sh, &head, &body, false).await?;
            conn.write_all(&response_with_close(&resp)).await?;
        }
    }
    let _ = conn.shutdown().await;
    Ok(())
}
