//! Bounds on what requests may cost the server: gates around expensive blocking work (password
//! hashes, sync handling) with a bounded queue, and sign-in rate limits per account and per client
//! address with a growing lockout. Every structure here has a fixed memory bound.
//!
//! Why: one argon2 hash takes about 19 MiB and tens of milliseconds of a core. Before these
//! bounds, 200 parallel wrong sign-ins ran 200 hashes at once (RSS 187 MB → 3.8 GB).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The machine's cores (1 if unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

// ------------------------------------------------------------------------------------------------
// Gate: a semaphore with a bounded queue
// ------------------------------------------------------------------------------------------------

/// At most `permits` holders at once; at most `max_waiting` requests wait for a permit, each at
/// most `max_wait`. A request that finds the queue full, or waits too long, is answered at once
/// `503 unavailable` with `Retry-After`, instead of piling up memory and latency.
pub struct Gate {
    what: &'static str,
    sem: Arc<Semaphore>,
    permits: usize,
    waiting: AtomicUsize,
    max_waiting: usize,
    max_wait: Duration,
    /// Most permits held at once since start (for tests and logs).
    peak: Arc<AtomicUsize>,
    held: Arc<AtomicUsize>,
}

/// A held permit of a [`Gate`]; released when dropped (move it into the blocking closure so it is
/// held exactly as long as the work runs).
pub struct GatePermit {
    _permit: OwnedSemaphorePermit,
    held: Arc<AtomicUsize>,
}

impl Drop for GatePermit {
    fn drop(&mut self) {
        self.held.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gate {
    pub fn new(what: &'static str, permits: usize, max_waiting: usize, max_wait: Duration) -> Gate {
        let permits = permits.max(1);
        Gate {
            what,
            sem: Arc::new(Semaphore::new(permits)),
            permits,
            waiting: AtomicUsize::new(0),
            max_waiting,
            max_wait,
            peak: Arc::new(AtomicUsize::new(0)),
            held: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn permits(&self) -> usize {
        self.permits
    }

    /// Most permits held at once so far.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Acquire)
    }

    fn busy(&self) -> ApiError {
        let secs = self.max_wait.as_secs().clamp(1, 5);
        ApiError::unavailable(
            format!("the server is busy ({}); retry shortly", self.what),
            secs,
        )
    }

    fn granted(&self, p: OwnedSemaphorePermit) -> GatePermit {
        let n = self.held.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(n, Ordering::AcqRel);
        GatePermit {
            _permit: p,
            held: self.held.clone(),
        }
    }

    /// A permit, waiting in a bounded queue for at most `max_wait`; else `503` + `Retry-After`.
    pub async fn acquire(&self) -> Result<GatePermit, ApiError> {
        if let Ok(p) = self.sem.clone().try_acquire_owned() {
            return Ok(self.granted(p));
        }
        let before = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _w = Waiting(&self.waiting);
        if before >= self.max_waiting {
            return Err(self.busy());
        }
        match tokio::time::timeout(self.max_wait, self.sem.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(self.granted(p)),
            _ => Err(self.busy()),
        }
    }
}

// ------------------------------------------------------------------------------------------------
// ByteBudget: bytes of request bodies held in memory at once
// ------------------------------------------------------------------------------------------------

/// Bytes of request bodies the server holds at once, across all connections. A body reserves
/// its declared `Content-Length` (or the per-request limit when it has none) before a byte is
/// read, so a thousand connections each announcing 8 MiB cannot hold 8 GB: past the budget a
/// request waits at most `max_wait`, then gets `503` + `Retry-After`. Reserved in KiB units.
pub struct ByteBudget {
    sem: Arc<Semaphore>,
    total_kib: u32,
    max_wait: Duration,
}

/// Reserved body bytes; released when dropped (after the body is decoded).
pub struct BytePermit(#[allow(dead_code)] OwnedSemaphorePermit);

impl ByteBudget {
    pub fn new(total_bytes: usize, max_wait: Duration) -> ByteBudget {
        let total_kib = u32::try_from(total_bytes.div_ceil(1024))
            .unwrap_or(u32::MAX >> 4)
            .clamp(1, Semaphore::MAX_PERMITS as u32 >> 1);
        ByteBudget {
            sem: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
            max_wait,
        }
    }

    /// Reserves `bytes` (at most the whole budget). Waits up to `max_wait`, else `503`.
    pub async fn reserve(&self, bytes: usize) -> Result<BytePermit, ApiError> {
        let kib = u32::try_from(bytes.div_ceil(1024).max(1))
            .unwrap_or(u32::MAX)
            .min(self.total_kib);
        if let Ok(p) = self.sem.clone().try_acquire_many_owned(kib) {
            return Ok(BytePermit(p));
        }
        match tokio::time::timeout(self.max_wait, self.sem.clone().acquire_many_owned(kib)).await {
            Ok(Ok(p)) => Ok(BytePermit(p)),
            _ => Err(ApiError::unavailable(
                "the server is busy (request bodies in memory); retry shortly",
                self.max_wait.as_secs().clamp(1, 5),
            )),
        }
    }
}

// ------------------------------------------------------------------------------------------------
// A fixed pool of threads for password checks
// ------------------------------------------------------------------------------------------------

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A few dedicated threads for password checks. Run behind a [`Gate`] with as many permits as
/// threads: then nothing queues here. Dedicated threads keep their argon2 working memory
/// (`auth::verify_password_reusing_memory`), so peak memory is `threads × ~19 MiB` however many
/// sign-ins arrive (on tokio's blocking pool every hash could land on a new thread, each
/// leaving its freed 19 MiB in its own allocator arena).
pub struct HashPool {
    /// `None` when no thread could be started: jobs then run on tokio's blocking pool.
    tx: Option<Mutex<std::sync::mpsc::Sender<Job>>>,
}

impl HashPool {
    pub fn new(threads: usize) -> HashPool {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut started = 0;
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("gridwork-hash-{i}"))
                .spawn(move || loop {
                    let job = lock(&rx).recv();
                    match job {
                        Ok(job) => {
                            // A panic in one check must not take the thread (and its slot) down.
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(_) => break,
                    }
                });
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(error = %e, "could not start a password-check thread"),
            }
        }
        HashPool {
            tx: (started > 0).then(|| Mutex::new(tx)),
        }
    }

    /// Runs `f` on a pool thread; `None` if it could not run (`f` panicked).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let Some(tx) = &self.tx else {
            return tokio::task::spawn_blocking(f).await.ok();
        };
        let (otx, orx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = otx.send(f());
        });
        lock(tx).send(job).ok()?;
        orx.await.ok()
    }
}

// ------------------------------------------------------------------------------------------------
// Sign-in rate limits
// ------------------------------------------------------------------------------------------------

/// Sign-in limits. Attempts are counted before the password is hashed (that is the cost being
/// limited) and given back when the sign-in succeeds, so only failures use up the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInLimits {
    /// Attempts one account may have in a burst, and refilled per minute.
    pub account_burst: u32,
    pub account_per_min: u32,
    /// Attempts one client address (IPv4 address, IPv6 /64) may have in a burst, and per minute.
    pub addr_burst: u32,
    pub addr_per_min: u32,
    /// Consecutive failures of one account before it is locked out; each further failure doubles
    /// the lockout, from `lockout_base` up to `lockout_max`. A success resets it.
    pub lockout_after: u32,
    pub lockout_base: Duration,
    pub lockout_max: Duration,
    /// Accounts and addresses tracked at most, each (memory bound; idle entries are evicted
    /// first, then the least recently seen).
    pub max_tracked: usize,
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits {
            account_burst: 10,
            account_per_min: 5,
            addr_burst: 30,
            addr_per_min: 30,
            lockout_after: 5,
            lockout_base: Duration::from_secs(1),
            lockout_max: Duration::from_secs(15 * 60),
            max_tracked: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: u32, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(burst),
            at: now,
        }
    }
    fn refill(&mut self, burst: u32, per_min: u32, now: Instant) {
        let rate = f64::from(per_min) / 60.0;
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * rate).min(f64::from(burst));
        self.at = now;
    }
    /// Takes one token, or says how many seconds until one is there.
    fn take(&mut self, burst: u32, per_min: u32, now: Instant) -> Result<(), u64> {
        self.refill(burst, per_min, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        if per_min == 0 {
            return Err(3600);
        }
        let rate = f64::from(per_min) / 60.0;
        Err(((1.0 - self.tokens) / rate).ceil().max(1.0) as u64)
    }
    fn give_back(&mut self, burst: u32) {
        self.tokens = (self.tokens + 1.0).min(f64::from(burst));
    }
    fn is_full(&self, burst: u32, per_min: u32, now: Instant) -> bool {
        let mut b = *self;
        b.refill(burst, per_min, now);
        b.tokens >= f64::from(burst)
    }
}

#[derive(Debug, Clone, Copy)]
struct AccountEntry {
    bucket: Bucket,
    failures: u32,
    locked_until: Option<Instant>,
    seen: Instant,
}

#[derive(Debug, Clone, Copy)]
struct AddrEntry {
    bucket: Bucket,
    seen: Instant,
}

/// Accounts are tracked by a digest of the username (fixed size, whatever was sent).
type AccountKey = [u8; 16];

fn account_key(username: &str) -> AccountKey {
    let d = Sha256::digest(username.as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

/// IPv4: the address; IPv6: its /64 (one subscriber's prefix), so rotating addresses inside a
/// prefix does not escape the limit.
fn addr_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Keeps `map` under `cap` entries before an insert: drops entries that carry no state (`idle`),
/// then, if still full, a quarter of the entries, lowest `rank` first (unprotected before
/// protected, then least recently seen).
fn make_room<K: Clone + Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    cap: usize,
    idle: impl Fn(&V) -> bool,
    rank: impl Fn(&V) -> (bool, Instant),
) {
    let cap = cap.max(1);
    if map.len() < cap {
        return;
    }
    map.retain(|_, v| !idle(v));
    if map.len() < cap {
        return;
    }
    let mut ranked: Vec<((bool, Instant), K)> =
        map.iter().map(|(k, v)| (rank(v), k.clone())).collect();
    let drop_n = (map.len() / 4).max(map.len() + 1 - cap).min(ranked.len());
    if drop_n < ranked.len() {
        ranked.select_nth_unstable_by_key(drop_n, |(r, _)| *r);
    }
    for (_, k) in ranked.into_iter().take(drop_n) {
        map.remove(&k);
    }
}

/// Why a sign-in attempt may not proceed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many attempts from this client address: retry after this many seconds.
    Address(u64),
    /// Too many attempts for this account: retry after this many seconds.
    Account(u64),
    /// The account is locked out after repeated failures: retry after this many seconds.
    Locked(u64),
}

impl Refusal {
    pub fn retry_after(self) -> u64 {
        match self {
            Refusal::Address(s) | Refusal::Account(s) | Refusal::Locked(s) => s.max(1),
        }
    }
    pub fn into_api_error(self) -> ApiError {
        let secs = self.retry_after();
        let m = match self {
            Refusal::Address(_) => {
                format!("too many sign-in attempts from this address: retry in {secs} s")
            }
            Refusal::Account(_) => {
                format!("too many sign-in attempts for this account: retry in {secs} s")
            }
            Refusal::Locked(_) => format!(
                "sign-in for this account is locked after repeated wrong passwords: retry in {secs} s"
            ),
        };
        ApiError::rate_limited(m, secs)
    }
}

/// An admitted attempt: report its outcome with [`SignInLimiter::succeeded`] or
/// [`SignInLimiter::failed`].
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    account: AccountKey,
    addr: Option<IpAddr>,
}

/// Sign-in rate limits by account and by client address, with a growing lockout per account.
pub struct SignInLimiter {
    limits: SignInLimits,
    accounts: Mutex<HashMap<AccountKey, AccountEntry>>,
    addrs: Mutex<HashMap<IpAddr, AddrEntry>>,
}

impl SignInLimiter {
    pub fn new(limits: SignInLimits) -> Self {
        SignInLimiter {
            limits,
            accounts: Mutex::new(HashMap::new()),
            addrs: Mutex::new(HashMap::new()),
        }
    }

    /// Entries tracked now (accounts, addresses).
    pub fn tracked(&self) -> (usize, usize) {
        (lock(&self.accounts).len(), lock(&self.addrs).len())
    }

    /// Checks and charges an attempt for `username` from `addr` (`None`: address unknown, only
    /// the account is limited).
    pub fn admit(&self, username: &str, addr: Option<IpAddr>) -> Result<Attempt, Refusal> {
        self.admit_at(username, addr, Instant::now())
    }

    fn admit_at(
        &self,
        username: &str,
        addr: Option<IpAddr>,
        now: Instant,
    ) -> Result<Attempt, Refusal> {
        let l = self.limits;
        let account = account_key(username);
        let addr = addr.map(addr_key);
        // The address first: a flood over many usernames from one place stops here.
        if let Some(a) = addr {
            let mut addrs = lock(&self.addrs);
            if !addrs.contains_key(&a) {
                make_room(
                    &mut addrs,
                    l.max_tracked,
                    |e| e.bucket.is_full(l.addr_burst, l.addr_per_min, now),
                    |e| (false, e.seen),
                );
            }
            let e = addrs.entry(a).or_insert(AddrEntry {
                bucket: Bucket::full(l.addr_burst, now),
                seen: now,
            });
            e.seen = now;
            e.bucket
                .take(l.addr_burst, l.addr_per_min, now)
                .map_err(Refusal::Address)?;
        }
        let refused = {
            let mut accounts = lock(&self.accounts);
            if !accounts.contains_key(&account) {
                make_room(
                    &mut accounts,
                    l.max_tracked,
                    |e| {
                        e.failures == 0
                            && e.locked_until.is_none_or(|t| t <= now)
                            && e.bucket.is_full(l.account_burst, l.account_per_min, now)
                    },
                    // A locked account is evicted last: a flood of new names must not free it.
                    |e| (e.locked_until.is_some_and(|t| t > now), e.seen),
                );
            }
            let e = accounts.entry(account).or_insert(AccountEntry {
                bucket: Bucket::full(l.account_burst, now),
                failures: 0,
                locked_until: None,
                seen: now,
            });
            e.seen = now;
            match e.locked_until {
                Some(t) if t > now => Some(Refusal::Locked(
                    t.saturating_duration_since(now).as_secs_f64().ceil() as u64,
                )),
                _ => e
                    .bucket
                    .take(l.account_burst, l.account_per_min, now)
                    .err()
                    .map(Refusal::Account),
            }
        };
        if let Some(r) = refused {
            // The address's token is not spent on an attempt that did not happen.
            if let Some(a) = addr {
                if let Some(e) = lock(&self.addrs).get_mut(&a) {
                    e.bucket.give_back(l.addr_burst);
                }
            }
            return Err(r);
        }
        Ok(Attempt { account, addr })
    }

    /// The password was right: the attempt's tokens come back and the account's failures reset.
    pub fn succeeded(&self, a: Attempt) {
        let l = self.limits;
        if let Some(e) = lock(&self.accounts).get_mut(&a.account) {
            e.bucket.give_back(l.account_burst);
            e.failures = 0;
            e.locked_until = None;
        }
        if let Some(ip) = a.addr {
            if let Some(e) = lock(&self.addrs).get_mut(&ip) {
                e.bucket.give_back(l.addr_burst);
            }
        }
    }

    /// The attempt did not get to check the password (server busy, storage error): its tokens
    /// come back, nothing else changes.
    pub fn abandoned(&self, a: Attempt) {
        let l = self.limits;
        if let Some(e) = lock(&self.accounts).get_mut(&a.account) {
            e.bucket.give_back(l.account_burst);
        }
        if let Some(ip) = a.addr {
            if let Some(e) = lock(&self.addrs).get_mut(&ip) {
                e.bucket.give_back(l.addr_burst);
            }
        }
    }

    /// The password (or username) was wrong: count a failure; from `lockout_after` on, lock the
    /// account for a doubling time. Returns the lockout started, if any.
    pub fn failed(&self, a: Attempt) -> Option<Duration> {
        self.failed_at(a, Instant::now())
    }

    fn failed_at(&self, a: Attempt, now: Instant) -> Option<Duration> {
        let l = self.limits;
        let mut accounts = lock(&self.accounts);
        let e = accounts.entry(a.account).or_insert(AccountEntry {
            bucket: Bucket::full(l.account_burst, now),
            failures: 0,
            locked_until: None,
            seen: now,
        });
        e.failures = e.failures.saturating_add(1);
        e.seen = now;
        if l.lockout_after == 0 || e.failures < l.lockout_after {
            return None;
        }
        let doublings = (e.failures - l.lockout_after).min(30);
        let d = l
            .lockout_base
            .saturating_mul(1u32 << doublings)
            .min(l.lockout_max);
        e.locked_until = Some(now + d);
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::unnecessary_wraps)] // the limiter takes the peer address as an Option
    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn account_lockout_grows_and_resets_on_success() {
        let lim = SignInLimiter::new(SignInLimits {
            account_burst: 100,
            account_per_min: 100,
            addr_burst: 100,
            addr_per_min: 100,
            lockout_after: 3,
            lockout_base: Duration::from_secs(2),
            lockout_max: Duration::from_secs(5),
            max_tracked: 10,
        });
        let t0 = Instant::now();
        for _ in 0..2 {
            let a = lim.admit_at("zhang", ip("10.0.0.1"), t0).unwrap();
            assert_eq!(lim.failed_at(a, t0), None);
        }
        let a = lim.admit_at("zhang", ip("10.0.0.1"), t0).unwrap();
        assert_eq!(lim.failed_at(a, t0), Some(Duration::from_secs(2)));
        assert_eq!(
            lim.admit_at("zhang", ip("10.0.0.2"), t0).unwrap_err(),
            Refusal::Locked(2)
        );
        // Another account is not affected.
        lim.admit_at("li", ip("10.0.0.1"), t0).unwrap();
        let t1 = t0 + Duration::from_secs(3);
        let a = lim.admit_at("zhang", ip("10.0.0.1"), t1).unwrap();
        assert_eq!(lim.failed_at(a, t1), Some(Duration::from_secs(4)));
        let t2 = t1 + Duration::from_secs(5);
        let a = lim.admit_at("zhang", ip("10.0.0.1"), t2).unwrap();
        // Capped at lockout_max.
        assert_eq!(lim.failed_at(a, t2), Some(Duration::from_secs(5)));
        let t3 = t2 + Duration::from_secs(6);
        let a = lim.admit_at("zhang", ip("10.0.0.1"), t3).unwrap();
        lim.succeeded(a);
        let a = lim.admit_at("zhang", ip("10.0.0.1"), t3).unwrap();
        assert_eq!(lim.failed_at(a, t3), None, "a success resets the count");
    }

    #[test]
    fn buckets_limit_per_account_and_per_address() {
        let lim = SignInLimiter::new(SignInLimits {
            account_burst: 3,
            account_per_min: 60,
            addr_burst: 5,
            addr_per_min: 6,
            lockout_after: 0,
            ..SignInLimits::default()
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            let a = lim.admit_at("wang", ip("10.0.0.1"), t0).unwrap();
            lim.failed_at(a, t0);
        }
        assert_eq!(
            lim.admit_at("wang", ip("10.0.0.1"), t0).unwrap_err(),
            Refusal::Account(1)
        );
        // The refused attempt did not spend the address's budget: 2 left of 5.
        lim.admit_at("a", ip("10.0.0.1"), t0).unwrap();
        lim.admit_at("b", ip("10.0.0.1"), t0).unwrap();
        assert_eq!(
            lim.admit_at("c", ip("10.0.0.1"), t0).unwrap_err(),
            Refusal::Address(10)
        );
        // Successes give their tokens back.
        let a = lim.admit_at("d", ip("10.0.0.9"), t0).unwrap();
        lim.succeeded(a);
        // IPv6: one /64 is one address.
        for i in 0..5 {
            lim.admit_at(&format!("u{i}"), ip(&format!("2001:db8::{i}")), t0)
                .unwrap();
        }
        assert!(matches!(
            lim.admit_at("u9", ip("2001:db8::ffff"), t0),
            Err(Refusal::Address(_))
        ));
        lim.admit_at("u9", ip("2001:db8:0:1::1"), t0).unwrap();
        // Refilled after a while.
        lim.admit_at("c", ip("10.0.0.1"), t0 + Duration::from_secs(10))
            .unwrap();
    }

    #[test]
    fn memory_is_bounded() {
        let lim = SignInLimiter::new(SignInLimits {
            max_tracked: 1000,
            addr_burst: 1_000_000,
            lockout_base: Duration::from_secs(3600),
            ..SignInLimits::default()
        });
        let t0 = Instant::now();
        // A locked account survives a flood of new names (it carries state; idle ones go first).
        for _ in 0..5 {
            let a = lim.admit_at("target", ip("10.0.0.1"), t0).unwrap();
            lim.failed_at(a, t0);
        }
        for i in 0..20_000u32 {
            let t = t0 + Duration::from_millis(u64::from(i));
            let a = lim
                .admit_at(
                    &format!("user{i}"),
                    ip(&format!("10.1.{}.{}", i / 256 % 256, i % 256)),
                    t,
                )
                .unwrap();
            if i % 2 == 0 {
                lim.succeeded(a);
            }
            let (acc, addrs) = lim.tracked();
            assert!(acc <= 1000 && addrs <= 1000, "{acc} {addrs}");
        }
        assert!(matches!(
            lim.admit_at("target", ip("10.0.0.1"), t0 + Duration::from_millis(1)),
            Err(Refusal::Locked(_))
        ));
    }

    #[tokio::test]
    async fn hash_pool_runs_jobs_and_survives_a_panic() {
        let pool = HashPool::new(2);
        assert_eq!(pool.run(|| 6 * 7).await, Some(42));
        let boom: Option<()> = pool.run(|| panic!("boom")).await;
        assert_eq!(boom, None);
        let names: Vec<_> = futures_util::future::join_all(
            (0..8).map(|_| pool.run(|| std::thread::current().name().map(str::to_owned))),
        )
        .await;
        for n in names {
            assert!(n.flatten().is_some_and(|n| n.starts_with("gridwork-hash-")));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn gate_bounds_holders_and_the_queue() {
        let gate = Arc::new(Gate::new("test", 2, 3, Duration::from_secs(5)));
        let running = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (g, r, m) = (gate.clone(), running.clone(), max_seen.clone());
            tasks.push(tokio::spawn(async move {
                let p = g.acquire().await?;
                tokio::task::spawn_blocking(move || {
                    let _p = p;
                    let n = r.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(100));
                    r.fetch_sub(1, Ordering::SeqCst);
                })
                .await
                .map_err(|_| ApiError::unavailable("join", 1))
            }));
        }
        let mut ok = 0;
        let mut busy = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => ok += 1,
                Err(e) => {
                    assert_eq!(e.status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
                    assert!(e.retry_after.is_some());
                    busy += 1;
                }
            }
        }
        assert!(max_seen.load(Ordering::SeqCst) <= 2);
        assert_eq!(gate.peak(), 2);
        // 2 run, 3 wait; the other 15 are turned away at once.
        assert_eq!(ok, 5, "busy: {busy}");
        assert_eq!(busy, 15);
    }
}
