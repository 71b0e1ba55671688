//! `gridwork-server`: run the sync server, or administer its data directory.

// House rule: input from devices, files and the network never aborts us (see Cargo.toml).
#![warn(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use gridwork_model::Role;
use gridwork_server::blob::StagingLimits;
use gridwork_server::limits::{self, SignInLimits};
use gridwork_server::quota::Quotas;
use gridwork_server::store::{NewUser, ServerStore, Unit, UnitKind};
use gridwork_server::{admin, demo, ApiConfig, AppState, SqliteStore};

#[derive(Parser)]
#[command(
    name = "gridwork-server",
    version,
    about = "Gridwork sync server",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Without a subcommand: `serve`.
    #[command(flatten)]
    serve: ServeArgs,
}

// Parsed once at start: the size of the `Serve` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Cmd {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Administer the organisation, users and devices of a data directory.
    Admin(AdminArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Compact,
    Json,
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// Directory holding the database (created if missing).
    #[arg(long, env = "GRIDWORK_DATA_DIR", default_value = "gridwork-data")]
    data_dir: PathBuf,
    /// Address to listen on (port 0: any free port; the chosen address is printed).
    #[arg(long, env = "GRIDWORK_LISTEN", default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Seed a demo organisation, users with known passwords, and a few records.
    #[arg(long, env = "GRIDWORK_DEMO")]
    demo: bool,
    /// Log format (logs go to stderr; `RUST_LOG` filters them).
    #[arg(
        long,
        env = "GRIDWORK_LOG_FORMAT",
        value_enum,
        default_value = "compact"
    )]
    log_format: LogFormat,
    /// Lifetime of a device token, in seconds (default 30 days).
    #[arg(long, env = "GRIDWORK_TOKEN_TTL_SECS", default_value_t = 30 * 24 * 3600)]
    token_ttl_secs: u64,
    /// Requests taking longer are answered 408.
    #[arg(long, env = "GRIDWORK_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    request_timeout_secs: u64,
    /// Largest sync request body as sent (zstd-compressed), in bytes.
    #[arg(long, env = "GRIDWORK_MAX_BODY_BYTES", default_value_t = gridwork_protocol::wire::REQUEST_LIMITS.max_compressed)]
    max_body_bytes: usize,
    /// Largest sync request body after decompression, in bytes.
    #[arg(long, env = "GRIDWORK_MAX_DECOMPRESSED_BYTES", default_value_t = gridwork_protocol::wire::REQUEST_LIMITS.max_decompressed)]
    max_decompressed_bytes: usize,
    /// Changes per pull page when the device does not ask for fewer.
    #[arg(long, env = "GRIDWORK_PULL_LIMIT", default_value_t = 2000)]
    pull_limit: usize,
    /// Change bytes per pull page (before compression).
    #[arg(long, env = "GRIDWORK_PULL_MAX_BYTES", default_value_t = 8 << 20)]
    pull_max_bytes: usize,
    /// Where photo blobs are stored: an object_store URL (`file:///srv/blobs`, `s3://bucket/prefix`
    /// with a server built with `--features s3`, credentials from `AWS_*`). Default: DATA_DIR/blobs.
    #[arg(long, env = "GRIDWORK_BLOB_URL")]
    blob_url: Option<String>,
    /// Largest photo blob, in bytes.
    #[arg(long, env = "GRIDWORK_MAX_BLOB_BYTES", default_value_t = gridwork_server::blob::DEFAULT_MAX_BLOB_BYTES)]
    max_blob_bytes: u64,
    /// SQLite reader connections.
    #[arg(long, env = "GRIDWORK_DB_READERS", default_value_t = 4)]
    db_readers: usize,

    // --- resource bounds ------------------------------------------------------------------------
    /// Password hashes (argon2, ~19 MiB each) computed at once. Default: the machine's cores.
    #[arg(long, env = "GRIDWORK_MAX_CONCURRENT_HASHES")]
    max_concurrent_hashes: Option<usize>,
    /// Sign-ins waiting for a hash slot; more are answered 503 at once. Default: 8 per hash slot.
    #[arg(long, env = "GRIDWORK_MAX_HASH_WAITERS")]
    max_hash_waiters: Option<usize>,
    /// Sync requests doing their (blocking) work at once. Default: 2 per core.
    #[arg(long, env = "GRIDWORK_MAX_CONCURRENT_SYNCS")]
    max_concurrent_syncs: Option<usize>,
    /// Sync requests waiting for a slot; more are answered 503 at once.
    #[arg(long, env = "GRIDWORK_MAX_SYNC_WAITERS", default_value_t = 1024)]
    max_sync_waiters: usize,
    /// Bytes of sync request bodies held in memory at once, over all connections; past it a
    /// request waits (up to the queue wait) and is then answered 503.
    #[arg(long, env = "GRIDWORK_MAX_BODY_BYTES_IN_FLIGHT", default_value_t = 256 << 20)]
    max_body_bytes_in_flight: usize,
    /// Longest wait for a hash or sync slot before answering 503 with Retry-After, in seconds.
    #[arg(long, env = "GRIDWORK_MAX_QUEUE_WAIT_SECS", default_value_t = 10)]
    max_queue_wait_secs: u64,
    /// Sign-in attempts one account may make in a burst (failures only: successes give theirs back).
    #[arg(long, env = "GRIDWORK_SIGN_IN_ACCOUNT_BURST", default_value_t = SignInLimits::default().account_burst)]
    sign_in_account_burst: u32,
    /// Sign-in attempts one account regains per minute.
    #[arg(long, env = "GRIDWORK_SIGN_IN_ACCOUNT_PER_MIN", default_value_t = SignInLimits::default().account_per_min)]
    sign_in_account_per_min: u32,
    /// Sign-in attempts one client address (IPv4, IPv6 /64) may make in a burst.
    #[arg(long, env = "GRIDWORK_SIGN_IN_ADDR_BURST", default_value_t = SignInLimits::default().addr_burst)]
    sign_in_addr_burst: u32,
    /// Sign-in attempts one client address regains per minute.
    #[arg(long, env = "GRIDWORK_SIGN_IN_ADDR_PER_MIN", default_value_t = SignInLimits::default().addr_per_min)]
    sign_in_addr_per_min: u32,
    /// Consecutive wrong passwords of one account before it is locked (0: never).
    #[arg(long, env = "GRIDWORK_SIGN_IN_LOCKOUT_AFTER", default_value_t = SignInLimits::default().lockout_after)]
    sign_in_lockout_after: u32,
    /// First lockout, in seconds; each further failure doubles it.
    #[arg(long, env = "GRIDWORK_SIGN_IN_LOCKOUT_BASE_SECS", default_value_t = SignInLimits::default().lockout_base.as_secs())]
    sign_in_lockout_base_secs: u64,
    /// Longest lockout, in seconds.
    #[arg(long, env = "GRIDWORK_SIGN_IN_LOCKOUT_MAX_SECS", default_value_t = SignInLimits::default().lockout_max.as_secs())]
    sign_in_lockout_max_secs: u64,
    /// Accounts and client addresses the sign-in limiter tracks at most (each).
    #[arg(long, env = "GRIDWORK_SIGN_IN_MAX_TRACKED", default_value_t = SignInLimits::default().max_tracked)]
    sign_in_max_tracked: usize,
    /// Take the client address from the last X-Forwarded-For entry (only behind a reverse proxy
    /// that sets it).
    #[arg(long, env = "GRIDWORK_TRUST_X_FORWARDED_FOR")]
    trust_x_forwarded_for: bool,
    /// Unfinished photo uploads not written to for this long are deleted, in seconds.
    #[arg(long, env = "GRIDWORK_PARTIAL_UPLOAD_TTL_SECS", default_value_t = StagingLimits::default().ttl.as_secs())]
    partial_upload_ttl_secs: u64,
    /// Unfinished photo uploads one device may have at once.
    #[arg(long, env = "GRIDWORK_MAX_PARTIAL_UPLOADS_PER_DEVICE", default_value_t = StagingLimits::default().per_device)]
    max_partial_uploads_per_device: usize,
    /// Declared bytes of all unfinished photo uploads together.
    #[arg(long, env = "GRIDWORK_MAX_STAGING_BYTES", default_value_t = StagingLimits::default().max_bytes)]
    max_staging_bytes: u64,
    /// On SIGTERM / Ctrl-C: how long requests in flight may finish before they are cut off, in
    /// seconds (the process then exits within about 2 s more).
    #[arg(long, env = "GRIDWORK_SHUTDOWN_DRAIN_SECS", default_value_t = 8)]
    shutdown_drain_secs: u64,

    // --- per-device push quotas (refused with the retryable code `quota`) --------------------------
    /// Documents per sync request.
    #[arg(long, env = "GRIDWORK_QUOTA_REQUEST_DOCS", default_value_t = Quotas::default().request_docs)]
    quota_request_docs: usize,
    /// Changes per sync request.
    #[arg(long, env = "GRIDWORK_QUOTA_REQUEST_CHANGES", default_value_t = Quotas::default().request_changes)]
    quota_request_changes: usize,
    /// Operations (decoded) per sync request.
    #[arg(long, env = "GRIDWORK_QUOTA_REQUEST_OPS", default_value_t = Quotas::default().request_ops)]
    quota_request_ops: u64,
    /// New documents per sync request.
    #[arg(long, env = "GRIDWORK_QUOTA_REQUEST_NEW_DOCS", default_value_t = Quotas::default().request_new_docs)]
    quota_request_new_docs: usize,
    /// New documents per device per UTC day.
    #[arg(long, env = "GRIDWORK_QUOTA_DAY_NEW_DOCS", default_value_t = Quotas::default().day_new_docs)]
    quota_day_new_docs: u64,
    /// Accepted changes per device per UTC day.
    #[arg(long, env = "GRIDWORK_QUOTA_DAY_CHANGES", default_value_t = Quotas::default().day_changes)]
    quota_day_changes: u64,
    /// Accepted change bytes per device per UTC day.
    #[arg(long, env = "GRIDWORK_QUOTA_DAY_BYTES", default_value_t = Quotas::default().day_bytes)]
    quota_day_bytes: u64,

    // --- the web console (/console) ---------------------------------------------------------------
    /// Map tile URL template for the console's maps (`https://tiles.example/{z}/{x}/{y}.png`).
    /// Without one, maps draw grid boundaries and points on a plain background and no request
    /// leaves this server.
    #[arg(long, env = "GRIDWORK_MAP_TILES")]
    map_tiles: Option<String>,
    /// A console session ends after this many minutes without a request.
    #[arg(long, env = "GRIDWORK_CONSOLE_IDLE_MINS", default_value_t = 30)]
    console_idle_mins: u64,
    /// A console session ends this many hours after sign-in.
    #[arg(long, env = "GRIDWORK_CONSOLE_SESSION_HOURS", default_value_t = 12)]
    console_session_hours: u64,
    /// Mark the console's cookies Secure (when the console is served over TLS, directly or
    /// behind a proxy).
    #[arg(long, env = "GRIDWORK_CONSOLE_SECURE_COOKIE")]
    console_secure_cookie: bool,
    /// Local time of the console (dashboard days, date filters), minutes east of UTC.
    #[arg(
        long,
        env = "GRIDWORK_UTC_OFFSET_MINUTES",
        default_value_t = 480,
        allow_negative_numbers = true
    )]
    utc_offset_minutes: i32,
}

#[derive(Args)]
struct AdminArgs {
    #[arg(long, env = "GRIDWORK_DATA_DIR", default_value = "gridwork-data")]
    data_dir: PathBuf,
    #[command(subcommand)]
    cmd: AdminCmd,
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Create a user (a random password is printed unless --password is given).
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: Option<String>,
        /// worker, leader, supervisor or admin.
        #[arg(long)]
        role: String,
        /// Unit(s) the user is attached to: grids for a worker, a community for a leader, a
        /// street or district for a supervisor, none for an admin. Repeatable.
        #[arg(long = "unit")]
        units: Vec<String>,
        #[arg(long, env = "GRIDWORK_NEW_PASSWORD")]
        password: Option<String>,
    },
    /// Create or rename a grid in a community.
    CreateGrid {
        #[arg(long)]
        id: String,
        #[arg(long)]
        community: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// Create or rename any unit (district, street, community, grid).
    CreateUnit {
        #[arg(long)]
        kind: String,
        #[arg(long)]
        id: String,
        #[arg(long)]
        parent: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
    /// Set a new password (random unless --password is given). Existing devices stay signed in;
    /// revoke them with revoke-device --username.
    ResetPassword {
        #[arg(long)]
        username: String,
        #[arg(long, env = "GRIDWORK_NEW_PASSWORD")]
        password: Option<String>,
    },
    /// Revoke one device (--device-id) or every device of a user (--username).
    RevokeDevice {
        #[arg(
            long,
            required_unless_present = "username",
            conflicts_with = "username"
        )]
        device_id: Option<String>,
        #[arg(long)]
        username: Option<String>,
    },
    /// List users with their role and units.
    ListUsers,
    /// List devices (of one user with --username).
    ListDevices {
        #[arg(long)]
        username: Option<String>,
    },
    /// List the organisation's units.
    ListUnits,
    /// The access log: who was shown a record's personal data in full (console or device),
    /// when, and why; newest first, tab-separated.
    AccessLog {
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Import an organisation CSV (see docs/protocol.md, "Organisation CSV").
    ImportOrg { file: PathBuf },
    /// Change a user: name, role, units, phone, whether devices may see the phone, or disable
    /// them. Devices see the change in their directory at their next sync.
    UpdateUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: Option<String>,
        /// worker, leader, supervisor or admin.
        #[arg(long)]
        role: Option<String>,
        /// Replaces every unit the user is attached to. Repeatable.
        #[arg(long = "unit")]
        units: Vec<String>,
        #[arg(long, conflicts_with = "clear_phone")]
        phone: Option<String>,
        #[arg(long)]
        clear_phone: bool,
        /// Whether colleagues' devices may see the phone (yes or no).
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
        share_phone: Option<bool>,
        /// Disable (yes) or enable (no): a disabled user cannot sign in and leaves directories.
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
        disabled: Option<bool>,
    },
    /// Import grid boundaries from a GeoJSON FeatureCollection (properties.id = grid id).
    ImportBoundaries { file: PathBuf },
    /// Set a document aside: its changes are left out of every pull (history is kept) and
    /// pushes to it are refused `quarantined`.
    QuarantineDoc {
        /// The document (record) id.
        id: String,
        /// Why (shown by list-quarantined-docs).
        #[arg(long)]
        reason: Option<String>,
    },
    /// List quarantined documents.
    ListQuarantinedDocs,
    /// Lift a quarantine: devices pull the document's changes again.
    RestoreDoc {
        /// The document (record) id.
        id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Some(Cmd::Admin(a)) => run_admin(a),
        Some(Cmd::Serve(s)) => run_serve(s),
        None => run_serve(cli.serve),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gridwork-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Compact => builder.compact().init(),
    }
}

fn api_config(args: &ServeArgs) -> ApiConfig {
    let cores = limits::cores();
    let hashes = args.max_concurrent_hashes.unwrap_or(cores).max(1);
    let syncs = args.max_concurrent_syncs.unwrap_or(2 * cores).max(1);
    ApiConfig {
        token_ttl: Duration::from_secs(args.token_ttl_secs),
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        sync_limits: gridwork_protocol::wire::Limits {
            max_compressed: args.max_body_bytes,
            max_decompressed: args.max_decompressed_bytes,
        },
        pull: gridwork_server::sync::PullConfig {
            default_limit: args.pull_limit.max(1),
            max_limit: args.pull_limit.max(1).max(10_000),
            max_bytes: args.pull_max_bytes,
        },
        quotas: Quotas {
            request_docs: args.quota_request_docs,
            request_changes: args.quota_request_changes,
            request_ops: args.quota_request_ops,
            request_new_docs: args.quota_request_new_docs,
            day_new_docs: args.quota_day_new_docs,
            day_changes: args.quota_day_changes,
            day_bytes: args.quota_day_bytes,
        },
        sign_in: SignInLimits {
            account_burst: args.sign_in_account_burst,
            account_per_min: args.sign_in_account_per_min,
            addr_burst: args.sign_in_addr_burst,
            addr_per_min: args.sign_in_addr_per_min,
            lockout_after: args.sign_in_lockout_after,
            lockout_base: Duration::from_secs(args.sign_in_lockout_base_secs),
            lockout_max: Duration::from_secs(args.sign_in_lockout_max_secs),
            max_tracked: args.sign_in_max_tracked,
        },
        max_concurrent_hashes: hashes,
        max_hash_waiters: args.max_hash_waiters.unwrap_or(8 * hashes),
        max_concurrent_syncs: syncs,
        max_sync_waiters: args.max_sync_waiters,
        max_body_bytes_in_flight: args.max_body_bytes_in_flight,
        max_queue_wait: Duration::from_secs(args.max_queue_wait_secs),
        trust_forwarded_for: args.trust_x_forwarded_for,
        console: gridwork_server::console::ConsoleConfig {
            map_tiles: args.map_tiles.clone().filter(|t| !t.trim().is_empty()),
            idle: Duration::from_secs(args.console_idle_mins.max(1) * 60),
            absolute: Duration::from_secs(args.console_session_hours.clamp(1, 24 * 30) * 3600),
            secure_cookie: args.console_secure_cookie,
            utc_offset_minutes: args.utc_offset_minutes.clamp(-14 * 60, 14 * 60),
        },
    }
}

fn run_serve(args: ServeArgs) -> gridwork_server::Result<()> {
    init_logs(args.log_format);
    let store = Arc::new(SqliteStore::open(&args.data_dir, args.db_readers)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let drain = Duration::from_secs(args.shutdown_drain_secs);
    let result = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        let addr = listener.local_addr()?;
        // First start and demo seed print to stdout (not the log): passwords are not log lines.
        if args.demo {
            let seeded = demo::seed_org(store.as_ref())?;
            let records = demo::seed_records(store.as_ref())?;
            if seeded {
                println!("Seeded the demo organisation ({records} records).");
            }
            print!("{}", demo::banner(&addr.to_string()));
        } else if let Some(password) = admin::ensure_first_admin(store.as_ref())? {
            println!("Created the first admin account on an empty data directory.");
            println!("  username: admin");
            println!("  password: {password}");
            println!("Sign in with: gridwork login --server http://{addr} --username admin");
            println!("Then create the organisation: gridwork-server admin --data-dir {} import-org ORG.csv", args.data_dir.display());
        }

        let config = api_config(&args);
        let staging = StagingLimits {
            ttl: Duration::from_secs(args.partial_upload_ttl_secs),
            per_device: args.max_partial_uploads_per_device,
            max_bytes: args.max_staging_bytes,
        };
        // Opening the blob store purges stale partial uploads (left by an earlier run).
        let blobs = Arc::new(
            gridwork_server::blob::Blobs::open(args.blob_url.as_deref(), &args.data_dir, args.max_blob_bytes)?
                .with_staging_limits(staging)?,
        );
        tokio::spawn(purge_partial_uploads(blobs.clone()));
        let app = gridwork_server::router(AppState { store: store.clone(), config: Arc::new(config), blobs });

        println!("gridwork-server listening on http://{addr}");
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        tracing::info!(%addr, data_dir = %args.data_dir.display(), "serving");
        // Stop: on SIGTERM / Ctrl-C stop accepting, let requests in flight finish for `drain`,
        // then drop them (their cancel guards stop their blocking work between documents).
        let signalled = Arc::new(tokio::sync::Notify::new());
        let notify = signalled.clone();
        let serve = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            notify.notify_one();
        });
        let deadline = async {
            signalled.notified().await;
            tokio::time::sleep(drain).await;
        };
        tokio::select! {
            r = serve => r?,
            () = deadline => tracing::warn!(drain_secs = drain.as_secs(), "requests still in flight after the drain time: stopping them"),
        }
        tracing::info!("stopped");
        Ok(())
    });
    // Blocking work still running (a long push, a password hash) must not hold the process: give
    // it a moment, then exit without it (SQLite rolls an unfinished transaction back).
    rt.shutdown_timeout(Duration::from_secs(2));
    result
}

/// Deletes stale partial uploads periodically (every half TTL, between 1 s and 10 min).
async fn purge_partial_uploads(blobs: Arc<gridwork_server::blob::Blobs>) {
    let every =
        (blobs.staging_limits().ttl / 2).clamp(Duration::from_secs(1), Duration::from_secs(600));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let b = blobs.clone();
        match tokio::task::spawn_blocking(move || b.purge_stale()).await {
            Ok(Ok(p)) if p.files > 0 => {
                tracing::info!(
                    files = p.files,
                    bytes = p.bytes,
                    "purged stale partial uploads"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "purging partial uploads failed"),
            Err(e) => tracing::warn!(error = %e, "purging partial uploads failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

fn parse_role(s: &str) -> gridwork_server::Result<Role> {
    s.parse().map_err(|_| {
        gridwork_server::Error::Invalid("role must be worker, leader, supervisor or admin".into())
    })
}

fn run_admin(args: AdminArgs) -> gridwork_server::Result<()> {
    let store = SqliteStore::open(&args.data_dir, 1)?;
    let store: &dyn ServerStore = &store;
    match args.cmd {
        AdminCmd::CreateUser {
            username,
            display_name,
            role,
            units,
            password,
        } => {
            let role = parse_role(&role)?;
            let new = NewUser {
                display_name: display_name.unwrap_or_else(|| username.clone()),
                username,
                role,
                units,
            };
            let given = password.is_some();
            let (user, password) = admin::create_user(store, &new, password.as_deref())?;
            println!("created {} ({}) id {}", user.username, user.role, user.id);
            if !given {
                println!("password: {password}");
            }
        }
        AdminCmd::CreateGrid {
            id,
            community,
            name,
        } => {
            let unit = Unit {
                name: name.unwrap_or_else(|| id.clone()),
                id,
                kind: UnitKind::Grid,
                parent_id: Some(community),
            };
            store.upsert_unit(&unit)?;
            println!(
                "grid {} in community {}",
                unit.id,
                unit.parent_id.unwrap_or_default()
            );
        }
        AdminCmd::CreateUnit {
            kind,
            id,
            parent,
            name,
        } => {
            let kind = kind.parse::<UnitKind>().ok().ok_or_else(|| {
                gridwork_server::Error::Invalid(
                    "kind must be district, street, community or grid".into(),
                )
            })?;
            let unit = Unit {
                name: name.unwrap_or_else(|| id.clone()),
                id,
                kind,
                parent_id: parent,
            };
            store.upsert_unit(&unit)?;
            println!("{} {}", kind.as_str(), unit.id);
        }
        AdminCmd::ResetPassword { username, password } => {
            let given = password.is_some();
            let password = admin::reset_password(store, &username, password.as_deref())?;
            println!("password of {username} reset");
            if !given {
                println!("password: {password}");
            }
        }
        AdminCmd::RevokeDevice {
            device_id,
            username,
        } => {
            if let Some(id) = device_id {
                if !store.revoke_device(&id)? {
                    return Err(gridwork_server::Error::NotFound(format!("device {id}")));
                }
                println!("revoked device {id}");
            } else if let Some(u) = username {
                let n = store.revoke_user_devices(&u)?;
                println!("revoked {n} device(s) of {u}");
            }
        }
        AdminCmd::ListUsers => {
            println!(
                "{:<16} {:<11} {:<36} {:<24} display name",
                "username", "role", "id", "units"
            );
            for u in store.list_users()? {
                let units = if u.units.is_empty() {
                    "-".to_owned()
                } else {
                    u.units.join(";")
                };
                println!(
                    "{:<16} {:<11} {:<36} {:<24} {}{}",
                    u.username,
                    u.role,
                    u.id,
                    units,
                    u.display_name,
                    if u.disabled { " (disabled)" } else { "" }
                );
            }
        }
        AdminCmd::ListDevices { username } => {
            println!(
                "{:<36} {:<16} {:<8} {:<20} name",
                "device id", "username", "state", "expires"
            );
            for d in store.list_devices(username.as_deref())? {
                let state = if d.revoked {
                    "revoked"
                } else if d.expires_at <= chrono::Utc::now() {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{:<36} {:<16} {:<8} {:<20} {}",
                    d.device_id,
                    d.username,
                    state,
                    d.expires_at.format("%Y-%m-%d %H:%M"),
                    d.name
                );
            }
        }
        AdminCmd::AccessLog { limit } => {
            println!("when (UTC)\tusername\trecord\twhat\treason");
            let names: std::collections::HashMap<String, String> = store
                .list_users()?
                .into_iter()
                .map(|u| (u.id, u.username))
                .collect();
            for e in store.access_log(limit.clamp(1, 100_000))? {
                let when = chrono::DateTime::from_timestamp_millis(e.at_ms)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default();
                let who = names
                    .get(&e.user_id)
                    .map_or(e.user_id.as_str(), String::as_str);
                // Reasons are typed by people: one line each.
                let reason = e.reason.replace(['\t', '\n', '\r'], " ");
                println!("{when}\t{who}\t{}\t{}\t{reason}", e.doc_id, e.what);
            }
        }
        AdminCmd::ListUnits => {
            for u in store.list_units()? {
                println!(
                    "{:<10} {:<20} {:<20} {}",
                    u.kind.as_str(),
                    u.id,
                    u.parent_id.as_deref().unwrap_or("-"),
                    u.name
                );
            }
        }
        AdminCmd::ImportOrg { file } => {
            let f = std::fs::File::open(&file)?;
            let s = admin::import_org(store, f)?;
            println!(
                "imported {} unit(s), created {} user(s)",
                s.units,
                s.created_users.len()
            );
            for (u, p) in &s.created_users {
                println!("  {u:<16} password: {p}");
            }
            if !s.skipped_users.is_empty() {
                println!(
                    "  existing users left unchanged: {}",
                    s.skipped_users.join(", ")
                );
            }
        }
        AdminCmd::UpdateUser {
            username,
            display_name,
            role,
            units,
            phone,
            clear_phone,
            share_phone,
            disabled,
        } => {
            let update = gridwork_server::store::UserUpdate {
                display_name,
                role: role.as_deref().map(parse_role).transpose()?,
                units: (!units.is_empty()).then_some(units),
                phone: if clear_phone {
                    Some(None)
                } else {
                    phone.map(Some)
                },
                phone_shared: share_phone,
                disabled,
            };
            let u = admin::update_user(store, &username, &update)?;
            println!(
                "updated {} ({}) units {}",
                u.username,
                u.role,
                u.units.join(";")
            );
        }
        AdminCmd::ImportBoundaries { file } => {
            let f = std::fs::File::open(&file)?;
            let n = admin::import_boundaries(store, f)?;
            println!("boundaries of {n} grid(s) imported");
        }
        AdminCmd::QuarantineDoc { id, reason } => {
            print!("{}", admin::quarantine_doc(store, &id, reason.as_deref())?);
        }
        AdminCmd::ListQuarantinedDocs => {
            print!("{}", admin::list_quarantined_docs(store)?);
        }
        AdminCmd::RestoreDoc { id } => {
            print!("{}", admin::restore_doc(store, &id)?);
        }
    }
    Ok(())
}
