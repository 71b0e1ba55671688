//! `gridwork`: a Gridwork device on a laptop. Every command opens the device store (`--db`), does
//! one thing through the gridwork-store and gridwork-client crates, and prints a table (people) or JSON (`--json`, scripts).
//!
//! Exit codes: 0 ok, 1 error, 2 usage, 3 not signed in / unauthorized, 4 network (retry later).

// House rule: input from devices, files and the network never aborts us (see Cargo.toml).
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod output;

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use gridwork_client::DeviceSync;
use gridwork_client::SyncProgress;
use gridwork_model::directory::{GridAt, UnitKind};
use gridwork_model::{Error, Location, Member, Need};
use gridwork_model::{MemberTag, NeedTag, Priority, RecordKind, ReportCategory, VisitType};
use gridwork_store::{ListQuery, NewHousehold, NewReport, NewTask, NewVisit, ReportPatch, Store};
use serde_json::{json, Value};

use output::{
    print_json, show_record, stored_json, summaries_table, summary_json, table, time, to_json, who,
};

#[derive(Parser)]
#[command(
    name = "gridwork",
    version,
    about = "A Gridwork device on a laptop: file reports, visits and tasks offline, sync with the server"
)]
struct Cli {
    /// The device's store [default: ~/.gridwork/device.db]
    #[arg(long, global = true, env = "GRIDWORK_DB", value_name = "PATH")]
    db: Option<PathBuf>,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// The store's encryption key file (64 hex digits; created with mode 0600 when missing)
    /// [default: the store's path + `.key`]. $GRIDWORK_DB_KEY (64 hex digits) takes precedence.
    #[arg(long, global = true, env = "GRIDWORK_KEY_FILE", value_name = "PATH")]
    key_file: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Sign in to a server; registers this device.
    Login {
        /// Server URL, e.g. http://127.0.0.1:8787
        #[arg(long, env = "GRIDWORK_SERVER")]
        server: String,
        #[arg(long, alias = "username")]
        user: String,
        /// Password; else $GRIDWORK_PASSWORD, else asked for (or read from stdin).
        #[arg(long, env = "GRIDWORK_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// How the device appears to admins.
        #[arg(long)]
        device_name: Option<String>,
    },
    /// Sign out (refused while changes are unsynced, unless --force).
    Logout {
        #[arg(long)]
        force: bool,
    },
    /// Who is signed in, pending changes, last sync.
    Status,
    /// Push local changes and pull new ones.
    Sync,
    /// Patrol reports.
    #[command(subcommand)]
    Report(ReportCmd),
    /// Resident visits.
    #[command(subcommand)]
    Visit(VisitCmd),
    /// Households and residents.
    #[command(subcommand)]
    Household(HouseholdCmd),
    /// Tasks.
    #[command(subcommand)]
    Task(TaskCmd),
    /// Review submitted reports (supervisors).
    #[command(subcommand)]
    Review(ReviewCmd),
    /// Who changed which fields of a record, when, from which device.
    History { id: String },
    /// Fields of a record that were set concurrently; the winner first.
    Conflicts { id: String },
    /// The people and places in your scope (synced; works offline).
    Team {
        /// Only the people who can be given a task in this grid.
        #[arg(long)]
        grid: Option<String>,
        /// Also people who left your scope (kept by name).
        #[arg(long)]
        all: bool,
    },
    /// Changes the server refused, with the reason (kept on this device).
    Quarantine {
        /// Give up this record's refused changes (and local edits made on top of them).
        #[arg(long, value_name = "RECORD_ID")]
        discard: Option<String>,
    },
}

#[derive(Subcommand)]
enum ReportCmd {
    /// File a new report (a draft unless --submit).
    New {
        /// Grid id [default: the grid containing --lat/--lon, else your only grid]
        #[arg(long)]
        grid: Option<String>,
        /// fire_hazard, blocked_fire_lane, sanitation, road_facility_damage, illegal_construction, dispute, fraud_risk, food_safety, public_security, other
        #[arg(long, default_value = "other")]
        category: String,
        /// 1 (low) to 4 (urgent)
        #[arg(long, default_value_t = 2)]
        severity: u8,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        location: LocationArgs,
        /// Submit at once instead of keeping a draft.
        #[arg(long)]
        submit: bool,
    },
    /// Change fields of a report.
    Edit {
        id: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        severity: Option<u8>,
    },
    /// List reports, newest first.
    List {
        #[command(flatten)]
        filter: ListArgs,
    },
    /// Show one report with its workflow and comments.
    Show { id: String },
    /// Submit a draft (or returned) report for review.
    Submit { id: String },
    /// Add a comment.
    Comment { id: String, text: String },
    /// Photos of a report.
    #[command(subcommand)]
    Photo(PhotoCmd),
}

#[derive(Subcommand)]
enum PhotoCmd {
    /// Attach a photo (JPEG, PNG or WebP): oriented, resized, stripped of metadata, stored by hash.
    Add {
        id: String,
        file: std::path::PathBuf,
        #[arg(long)]
        caption: Option<String>,
    },
    /// List a report's photos.
    List { id: String },
    /// Write a photo (or, with --thumbnail, its thumbnail) to a file, fetching it if needed.
    Get {
        id: String,
        hash: String,
        #[arg(long)]
        out: std::path::PathBuf,
        #[arg(long)]
        thumbnail: bool,
    },
    /// Remove a photo from a report (a synced edit).
    Remove { id: String, hash: String },
}

#[derive(Subcommand)]
enum VisitCmd {
    /// Record a visit to a household.
    New {
        #[arg(long)]
        grid: Option<String>,
        #[arg(long)]
        household: String,
        /// routine, elderly_care, disability, low_income, conflict_follow_up, other
        #[arg(long = "type", default_value = "routine")]
        visit_type: String,
        #[arg(long, default_value = "")]
        notes: String,
        /// A need found: TAG or TAG:note (care, medical, financial, repair, legal_aid, psychological, other). Repeatable.
        #[arg(long = "need")]
        needs: Vec<String>,
        /// YYYY-MM-DD
        #[arg(long)]
        follow_up: Option<String>,
        #[command(flatten)]
        location: LocationArgs,
    },
    List {
        #[arg(long)]
        household: Option<String>,
        #[command(flatten)]
        filter: ListArgs,
    },
    Show {
        id: String,
    },
}

#[derive(Subcommand)]
enum HouseholdCmd {
    /// Add a household.
    Add {
        #[arg(long)]
        grid: Option<String>,
        #[arg(long)]
        address: String,
        // The help text as an attribute, not a doc comment: rustdoc would read `[...]` as links.
        #[arg(
            long = "member",
            help = "name[,id=ID_NUMBER][,phone=PHONE][,born=YEAR][,tags=elderly_living_alone+disabled+low_income+key_care]. Repeatable."
        )]
        members: Vec<String>,
        #[arg(long, default_value = "")]
        notes: String,
    },
    List {
        #[command(flatten)]
        filter: ListArgs,
    },
    /// Show a household (ID and phone numbers masked; in full with --reason, which is written
    /// to the access log and sent to the server).
    Show {
        id: String,
        /// Why you need the full ID and phone numbers (4 to 500 characters).
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Subcommand)]
enum TaskCmd {
    /// Assign a task (leaders, supervisors).
    Assign {
        #[arg(long)]
        grid: Option<String>,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Who: a name (张伟), a username or a user id, from `gridwork team`. Repeatable.
        #[arg(long = "to", alias = "assignee", required = true)]
        assignees: Vec<String>,
        /// YYYY-MM-DD
        #[arg(long)]
        due: Option<String>,
        /// low, normal, high, urgent
        #[arg(long, default_value = "normal")]
        priority: String,
        #[arg(long)]
        report: Option<String>,
        #[arg(long)]
        household: Option<String>,
    },
    List {
        /// Only tasks assigned to me.
        #[arg(long)]
        mine: bool,
        #[command(flatten)]
        filter: ListArgs,
    },
    Show {
        id: String,
    },
    /// Accept an assigned task.
    Accept {
        id: String,
    },
    /// Mark a task done.
    Done {
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
}

#[derive(Subcommand)]
enum ReviewCmd {
    /// Approve a submitted report.
    Approve {
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Return a submitted report to its author, saying why.
    Return {
        id: String,
        #[arg(long)]
        comment: String,
    },
}

#[derive(Args)]
struct LocationArgs {
    #[arg(long, requires = "lon", allow_negative_numbers = true)]
    lat: Option<f64>,
    #[arg(long, requires = "lat", allow_negative_numbers = true)]
    lon: Option<f64>,
    /// metres
    #[arg(long, default_value_t = 10.0)]
    accuracy: f64,
    #[arg(long)]
    address: Option<String>,
}

impl LocationArgs {
    fn location(&self) -> Option<Location> {
        Some(Location {
            lat: self.lat?,
            lon: self.lon?,
            accuracy_m: self.accuracy,
            address: self.address.clone(),
        })
    }
}

#[derive(Args)]
struct ListArgs {
    #[arg(long)]
    grid: Option<String>,
    /// Repeatable.
    #[arg(long)]
    status: Vec<String>,
    /// Only open (unfinished) records.
    #[arg(long)]
    open: bool,
    /// Search titles and texts (substring, Chinese included).
    #[arg(long)]
    text: Option<String>,
    #[arg(long, default_value_t = 50)]
    limit: u32,
}

impl ListArgs {
    fn query(&self, kind: RecordKind) -> ListQuery {
        ListQuery {
            kind: Some(kind),
            grid: self.grid.clone(),
            statuses: self.status.clone(),
            open_only: self.open,
            text: self.text.clone(),
            limit: Some(self.limit),
            ..Default::default()
        }
    }
}

/// An error for the user, with the exit code.
struct Fail {
    message: String,
    kind: &'static str,
    code: u8,
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        let (kind, code) = match &e {
            Error::Unauthorized(_) => ("unauthorized", 3),
            Error::Network {
                retryable: true, ..
            } => ("network", 4),
            Error::Network { .. } => ("network", 1),
            Error::InvalidInput { .. } => ("invalid_input", 1),
            Error::NotFound { .. } => ("not_found", 1),
            Error::NotPermitted { .. } => ("not_permitted", 1),
            Error::IllegalTransition { .. } => ("illegal_transition", 1),
            Error::WrongKey => ("wrong_key", 5),
            _ => ("error", 1),
        };
        let mut message = e.to_string();
        if matches!(e, Error::Unauthorized(_)) {
            message.push_str(" (run `gridwork login`)");
        }
        if matches!(e, Error::WrongKey) {
            message.push_str(
                " (the key file or $GRIDWORK_DB_KEY does not open this store; nothing was changed)",
            );
        }
        if matches!(
            e,
            Error::Network {
                retryable: true,
                ..
            }
        ) {
            message.push_str(" (nothing was lost; sync again later)");
        }
        Fail {
            message,
            kind,
            code,
        }
    }
}

fn fail(message: impl Into<String>) -> Fail {
    Fail {
        message: message.into(),
        kind: "invalid_input",
        code: 1,
    }
}

type R<T = ()> = std::result::Result<T, Fail>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if json {
                print_json(&json!({ "error": { "kind": f.kind, "message": f.message } }));
            }
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn db_path(db: Option<PathBuf>) -> R<PathBuf> {
    let path = match db {
        Some(p) => p,
        None => {
            let home =
                std::env::var_os("HOME").ok_or_else(|| fail("HOME is not set; pass --db PATH"))?;
            PathBuf::from(home).join(".gridwork").join("device.db")
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
    }
    Ok(path)
}

/// The signed-in session, or a clear error.
fn signed_in(store: &Store) -> R<gridwork_client::Session> {
    store.session()?.ok_or_else(|| Fail {
        message: "not signed in on this device (run `gridwork login`)".into(),
        kind: "unauthorized",
        code: 3,
    })
}

/// `--grid`; else the grid whose boundary (on this device) contains the location; else the
/// user's only grid.
fn grid_here(store: &Store, grid: Option<String>, location: Option<&Location>) -> R<String> {
    if grid.is_some() {
        return grid_or_default(store, grid);
    }
    if let Some(l) = location {
        match store.grid_at(l.lat, l.lon)? {
            GridAt::In { grid } => return Ok(grid),
            GridAt::Outside => {
                return Err(fail(
                    "the location is outside every grid of yours; pass --grid",
                ))
            }
            GridAt::NoBoundaries => {}
        }
    }
    grid_or_default(store, grid)
}

/// The user id for `--to`: a name, a username or an id from the directory. Before the first
/// sync (no directory on the device yet) an id is taken as given; the server checks it.
fn assignee(store: &Store, who: &str) -> R<String> {
    match store.find_person("to", who) {
        Ok(p) => Ok(p.id.into_string()),
        Err(e) => {
            if store.directory()?.is_empty() && gridwork_model::record::check_id("to", who).is_ok()
            {
                eprintln!("note: no team directory on this device yet (sync first); using the id as given");
                Ok(who.to_owned())
            } else {
                Err(e.into())
            }
        }
    }
}

/// The store's key: `$GRIDWORK_DB_KEY`, else the key file (`--key-file`, default `<db>.key`),
/// which is created with a new random key, readable by its owner only, when missing. A key file
/// others may read is refused, as ssh refuses such a private key.
fn db_key(db: &std::path::Path, key_file: Option<PathBuf>) -> R<gridwork_store::DbKey> {
    use std::io::Write as _;
    if let Ok(hex_key) = std::env::var("GRIDWORK_DB_KEY") {
        return Ok(gridwork_store::DbKey::from_hex(&hex_key)?);
    }
    let path = key_file.unwrap_or_else(|| {
        let mut p = db.as_os_str().to_owned();
        p.push(".key");
        PathBuf::from(p)
    });
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                let mode = std::fs::metadata(&path)
                    .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(fail(format!(
                        "{} may be read by others (mode {:o}); run: chmod 600 {}",
                        path.display(),
                        mode & 0o777,
                        path.display()
                    )));
                }
            }
            Ok(gridwork_store::DbKey::from_hex(&text)?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = gridwork_store::DbKey::random();
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                opts.mode(0o600);
            }
            let mut f = opts
                .open(&path)
                .map_err(|e| fail(format!("cannot create {}: {e}", path.display())))?;
            f.write_all(key.to_hex().as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
            Ok(key)
        }
        Err(e) => Err(fail(format!("cannot read {}: {e}", path.display()))),
    }
}

/// `--grid`, or the user's only grid.
fn grid_or_default(store: &Store, grid: Option<String>) -> R<String> {
    if let Some(g) = grid {
        return Ok(g);
    }
    let s = signed_in(store)?;
    match s.grids.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(fail("you have no grid; pass --grid")),
        many => Err(fail(format!("pass --grid (one of: {})", many.join(", ")))),
    }
}

fn run(cli: Cli) -> R {
    let json = cli.json;
    let db = db_path(cli.db)?;
    let key = db_key(&db, cli.key_file)?;
    let store = Store::open_device_with(
        &db,
        gridwork_store::StoreOptions {
            key: Some(key),
            ..Default::default()
        },
    )?;
    let done = |id: &str, what: &str| {
        if json {
            print_json(&json!({ "id": id }));
        } else {
            println!("{what} {id}");
        }
    };
    match cli.cmd {
        Cmd::Login {
            server,
            user,
            password,
            device_name,
        } => {
            let password = match password {
                Some(p) => p,
                None => read_password()?,
            };
            let device = device_name.unwrap_or_else(default_device_name);
            let s = store.sign_in(&server, &user, &password, &device)?;
            if json {
                print_json(&json!({
                    "server_url": s.server_url, "user_id": s.user_id, "role": s.role.as_str(),
                    "display_name": s.display_name, "grids": s.grids, "expires_at_ms": s.expires_at_ms,
                }));
            } else {
                println!(
                    "Signed in as {} ({}), grids: {}",
                    s.display_name,
                    s.role,
                    s.grids.join(", ")
                );
                println!(
                    "user id {}; token valid until {}",
                    s.user_id,
                    time(s.expires_at_ms.into())
                );
            }
        }
        Cmd::Logout { force } => {
            store.sign_out(force)?;
            if json {
                print_json(&json!({ "signed_out": true }));
            } else {
                println!("Signed out.");
            }
        }
        Cmd::Status => status(&store, json)?,
        Cmd::Sync => {
            signed_in(&store)?;
            let show = !json && std::io::stderr().is_terminal();
            let progress = |p: &SyncProgress| {
                if show {
                    match p.total {
                        Some(t) => eprint!("\r{} {}/{}   ", p.phase, p.done, t),
                        None => eprint!("\r{} {}   ", p.phase, p.done),
                    }
                }
            };
            let r = store.sync(&progress);
            if show {
                eprintln!();
            }
            let r = r?;
            if json {
                print_json(&json!({
                    "pushed": r.pushed, "accepted": r.accepted, "rejected": r.rejected,
                    "held_by_quota": r.held_by_quota, "set_aside": r.set_aside,
                    "pulled": r.pulled, "changed_ids": r.changed_ids,
                    "photos_uploaded": r.photos_uploaded, "photos_downloaded": r.photos_downloaded, "photos_pending": r.photos_pending,
                }));
            } else {
                println!(
                    "Synced: pushed {} (accepted {}, refused {}), pulled {}; {} record(s) changed; photos: {} up, {} down, {} waiting.",
                    r.pushed,
                    r.accepted,
                    r.rejected,
                    r.pulled,
                    r.changed_ids.len(),
                    r.photos_uploaded,
                    r.photos_downloaded,
                    r.photos_pending
                );
                if r.directory_updated > 0 {
                    println!(
                        "Team directory: {} unit(s) and people updated (gridwork team).",
                        r.directory_updated
                    );
                }
                if r.rejected > 0 {
                    println!(
                        "{} change(s) were refused by the server: see `gridwork quarantine`.",
                        r.rejected
                    );
                }
                if r.held_by_quota > 0 {
                    println!(
                        "{} change(s) wait: the server's quota for this device was reached; they are kept and sent by a later sync (`gridwork status`).",
                        r.held_by_quota
                    );
                }
                if r.set_aside > 0 {
                    println!(
                        "{} document(s) from the server could not be stored on this device and were set aside (`gridwork status`).",
                        r.set_aside
                    );
                }
            }
        }
        Cmd::Report(c) => match c {
            ReportCmd::New {
                grid,
                category,
                severity,
                title,
                description,
                location,
                submit,
            } => {
                let location = location.location();
                let grid = grid_here(&store, grid, location.as_ref())?;
                let id = store.create_report(NewReport {
                    grid,
                    category: category.parse::<ReportCategory>()?,
                    severity,
                    title,
                    description,
                    location,
                    submit,
                })?;
                done(
                    &id,
                    if submit {
                        "Submitted report"
                    } else {
                        "Saved draft report"
                    },
                );
            }
            ReportCmd::Edit {
                id,
                title,
                description,
                category,
                severity,
            } => {
                let category = category.map(|c| c.parse::<ReportCategory>()).transpose()?;
                store.update_report(
                    &id,
                    ReportPatch {
                        category,
                        severity,
                        title,
                        description,
                        location: None,
                    },
                )?;
                done(&id, "Updated report");
            }
            ReportCmd::List { filter } => list(&store, &filter.query(RecordKind::Report), json)?,
            ReportCmd::Show { id } => show(&store, &id, json)?,
            ReportCmd::Submit { id } => {
                store.transition(&id, "submitted", None)?;
                done(&id, "Submitted report");
            }
            ReportCmd::Comment { id, text } => {
                store.add_comment(&id, &text)?;
                done(&id, "Commented on");
            }
            ReportCmd::Photo(PhotoCmd::Add { id, file, caption }) => {
                let meta = std::fs::metadata(&file)
                    .map_err(|e| fail(format!("cannot read {}: {e}", file.display())))?;
                if meta.len() > 64 << 20 {
                    return Err(Error::TooLarge(format!(
                        "{} is larger than 64 MiB",
                        file.display()
                    ))
                    .into());
                }
                let bytes = std::fs::read(&file)
                    .map_err(|e| fail(format!("cannot read {}: {e}", file.display())))?;
                let p = store.add_photo(&id, &bytes, caption)?;
                if json {
                    print_json(
                        &json!({ "record": id, "hash": p.hash, "thumb_hash": p.thumb_hash, "width": p.width, "height": p.height, "bytes": p.bytes }),
                    );
                } else {
                    println!(
                        "Attached photo {} ({}x{}, {} bytes) to {id}",
                        p.hash, p.width, p.height, p.bytes
                    );
                }
            }
            ReportCmd::Photo(PhotoCmd::List { id }) => {
                let photos = store.get(&id)?.record.photos().to_vec();
                if json {
                    print_json(&Value::Array(
                        photos
                            .iter()
                            .map(|p| json!({ "hash": p.hash, "thumb_hash": p.thumb_hash, "width": p.width, "height": p.height, "bytes": p.bytes, "caption": p.caption, "on_device": store.photo_bytes(&p.hash).is_ok() }))
                            .collect(),
                    ));
                } else {
                    let rows: Vec<Vec<String>> = photos
                        .iter()
                        .map(|p| {
                            let here = if store.photo_bytes(&p.hash).is_ok() {
                                "yes"
                            } else {
                                "thumbnail"
                            };
                            vec![
                                p.hash.clone(),
                                format!("{}x{}", p.width, p.height),
                                p.caption.clone().unwrap_or_default(),
                                here.into(),
                            ]
                        })
                        .collect();
                    table(&["HASH", "SIZE", "CAPTION", "ON DEVICE"], &rows);
                }
            }
            ReportCmd::Photo(PhotoCmd::Get {
                id,
                hash,
                out,
                thumbnail,
            }) => {
                let rec = store.get(&id)?.record;
                let p = rec
                    .photos()
                    .iter()
                    .find(|p| p.hash == hash)
                    .ok_or_else(|| fail("that photo is not attached to this report"))?;
                let want = if thumbnail {
                    p.thumb_hash.clone()
                } else {
                    p.hash.clone()
                };
                let bytes = store.fetch_photo(&want)?;
                std::fs::write(&out, &bytes)
                    .map_err(|e| fail(format!("cannot write {}: {e}", out.display())))?;
                if json {
                    print_json(
                        &json!({ "hash": want, "bytes": bytes.len(), "out": out.display().to_string() }),
                    );
                } else {
                    println!("Wrote {} bytes to {}", bytes.len(), out.display());
                }
            }
            ReportCmd::Photo(PhotoCmd::Remove { id, hash }) => {
                store.remove_photo(&id, &hash)?;
                done(&id, "Removed a photo from");
            }
        },
        Cmd::Visit(c) => match c {
            VisitCmd::New {
                grid,
                household,
                visit_type,
                notes,
                needs,
                follow_up,
                location,
            } => {
                let location = location.location();
                let grid = grid_here(&store, grid, location.as_ref())?;
                let needs = needs.iter().map(|n| parse_need(n)).collect::<R<Vec<_>>>()?;
                let id = store.create_visit(NewVisit {
                    grid,
                    household_id: household,
                    visit_type: visit_type.parse::<VisitType>()?,
                    notes,
                    needs,
                    follow_up_due: follow_up,
                    location,
                    visited_at: None,
                })?;
                done(&id, "Recorded visit");
            }
            VisitCmd::List { household, filter } => {
                let mut q = filter.query(RecordKind::Visit);
                q.household_id = household;
                list(&store, &q, json)?;
            }
            VisitCmd::Show { id } => show(&store, &id, json)?,
        },
        Cmd::Household(c) => match c {
            HouseholdCmd::Add {
                grid,
                address,
                members,
                notes,
            } => {
                let grid = grid_or_default(&store, grid)?;
                let members = members
                    .iter()
                    .map(|m| parse_member(m))
                    .collect::<R<Vec<_>>>()?;
                let id = store.create_household(NewHousehold {
                    grid,
                    address,
                    members,
                    notes,
                })?;
                done(&id, "Added household");
            }
            HouseholdCmd::List { filter } => {
                list(&store, &filter.query(RecordKind::Household), json)?;
            }
            HouseholdCmd::Show { id, reason } => match reason {
                Some(reason) => {
                    let r = store.reveal(&id, &reason)?;
                    if json {
                        print_json(&stored_json(&r, true));
                    } else {
                        show_record(&r, &store.labels()?, true);
                    }
                }
                None => show(&store, &id, json)?,
            },
        },
        Cmd::Task(c) => match c {
            TaskCmd::Assign {
                grid,
                title,
                description,
                assignees,
                due,
                priority,
                report,
                household,
            } => {
                let grid = grid_or_default(&store, grid)?;
                let assignees = assignees
                    .iter()
                    .map(|a| assignee(&store, a))
                    .collect::<R<Vec<_>>>()?;
                let id = store.create_task(NewTask {
                    grid,
                    title,
                    description,
                    assignees,
                    due,
                    priority: priority.parse::<Priority>()?,
                    linked_report: report,
                    linked_household: household,
                })?;
                done(&id, "Assigned task");
            }
            TaskCmd::List { mine, filter } => {
                let mut q = filter.query(RecordKind::Task);
                if mine {
                    q.assignee = Some(signed_in(&store)?.user_id);
                }
                list(&store, &q, json)?;
            }
            TaskCmd::Show { id } => show(&store, &id, json)?,
            TaskCmd::Accept { id } => {
                store.transition(&id, "accepted", None)?;
                done(&id, "Accepted task");
            }
            TaskCmd::Done { id, comment } => {
                store.transition(&id, "done", comment)?;
                done(&id, "Finished task");
            }
        },
        Cmd::Review(c) => match c {
            ReviewCmd::Approve { id, comment } => {
                store.transition(&id, "approved", comment)?;
                done(&id, "Approved report");
            }
            ReviewCmd::Return { id, comment } => {
                store.transition(&id, "returned", Some(comment))?;
                done(&id, "Returned report");
            }
        },
        Cmd::Team { grid, all } => team(&store, grid.as_deref(), all, json)?,
        Cmd::History { id } => {
            let h = store.history(&id)?;
            let names = store.labels()?;
            if json {
                // Each entry also says who, by name ("王芳 (leader)"; the id when unknown), and
                // "· web console" for a change made in the server's console.
                let mut v = to_json(&h);
                if let Some(items) = v.as_array_mut() {
                    for (item, e) in items.iter_mut().zip(&h) {
                        let mut label = who(&names, &e.user_id);
                        if e.console {
                            label.push_str(" · web console");
                        }
                        item["user_label"] = json!(label);
                    }
                }
                print_json(&v);
            } else {
                let rows: Vec<Vec<String>> = h
                    .iter()
                    .map(|e| {
                        vec![
                            time(e.at_ms.into()),
                            who(&names, &e.user_id),
                            if e.console {
                                "web console".to_owned()
                            } else {
                                e.actor.chars().take(12).collect()
                            },
                            e.fields.join(", "),
                        ]
                    })
                    .collect();
                table(&["WHEN", "USER", "DEVICE", "FIELDS"], &rows);
            }
        }
        Cmd::Conflicts { id } => {
            let c = store.conflicts(&id)?;
            let names = store.labels()?;
            let names = &names;
            if json {
                let mut v = to_json(&c);
                if let Some(fields) = v.as_array_mut() {
                    for (field, f) in fields.iter_mut().zip(&c) {
                        if let Some(values) = field["values"].as_array_mut() {
                            for (value, cv) in values.iter_mut().zip(&f.values) {
                                value["user_label"] = json!(who(names, &cv.user_id));
                            }
                        }
                    }
                }
                print_json(&v);
            } else if c.is_empty() {
                println!("No conflicting fields.");
            } else {
                let rows: Vec<Vec<String>> = c
                    .iter()
                    .flat_map(|f| {
                        f.values.iter().enumerate().map(move |(i, v)| {
                            vec![
                                if i == 0 {
                                    f.field.clone()
                                } else {
                                    String::new()
                                },
                                if i == 0 {
                                    "shown".into()
                                } else {
                                    "also set".into()
                                },
                                value_text(&v.value),
                                who(names, &v.user_id),
                            ]
                        })
                    })
                    .collect();
                table(&["FIELD", "", "VALUE", "SET BY"], &rows);
            }
        }
        Cmd::Quarantine { discard: Some(id) } => {
            let n = store.discard_quarantined(&id)?;
            if json {
                print_json(&json!({ "record": id, "discarded": n }));
            } else {
                println!("discarded {n} refused change(s) of {id}; the record is back to what the server accepted");
            }
        }
        Cmd::Quarantine { discard: None } => {
            let q = store.quarantine()?;
            if json {
                print_json(&to_json(&q));
            } else {
                let rows: Vec<Vec<String>> = q
                    .iter()
                    .map(|c| {
                        vec![
                            c.doc_id.clone(),
                            c.field.clone().unwrap_or_else(|| "-".into()),
                            c.reason.clone(),
                            time(c.at_ms.into()),
                        ]
                    })
                    .collect();
                table(&["RECORD", "FIELD", "REASON", "WHEN"], &rows);
            }
        }
    }
    Ok(())
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn status(store: &Store, json: bool) -> R {
    let session = store.session()?;
    let pending = store.pending_count()?;
    let quarantined = store.quarantine()?.len();
    let set_aside = store.set_aside()?;
    let quota = store.quota_hold()?;
    let last = store.last_sync_at()?;
    if json {
        print_json(&json!({
            "db": store.path().display().to_string(),
            "device_actor": store.actor_id(),
            "signed_in": session.is_some(),
            "session": to_json(&session),
            "pending": pending,
            "quarantined": quarantined,
            "held_by_quota": quota.as_ref().map_or(0, |q| q.held),
            "last_quota_refusal": to_json(&quota),
            "set_aside": set_aside.len(),
            "set_aside_docs": to_json(&set_aside),
            "last_sync_ms": last,
            "directory_people": store.directory()?.iter().filter(|p| p.in_scope).count(),
        }));
        return Ok(());
    }
    println!("device store:  {}", store.path().display());
    match &session {
        Some(s) => {
            println!(
                "signed in as:  {} ({}, user id {})",
                s.display_name, s.role, s.user_id
            );
            println!("server:        {}", s.server_url);
            println!("grids:         {}", s.grids.join(", "));
            let expired =
                s.expires_at_ms <= gridwork_model::Millis(chrono::Utc::now().timestamp_millis());
            println!(
                "token until:   {}{}",
                time(s.expires_at_ms.into()),
                if expired {
                    " (expired: run gridwork login)"
                } else {
                    ""
                }
            );
        }
        None => println!("signed in as:  nobody (run `gridwork login`)"),
    }
    let people = store.directory()?.iter().filter(|p| p.in_scope).count();
    let units = store.units()?;
    let grids = units.iter().filter(|u| u.kind == UnitKind::Grid).count();
    if people == 0 {
        println!("team:          not synced yet (names show as ids until the first sync)");
    } else {
        println!(
            "team:          {people} people, {grids} grid(s) in your directory (gridwork team)"
        );
    }
    println!("pending:       {pending} change(s) not yet synced");
    if quarantined > 0 {
        println!(
            "refused:       {quarantined} change(s) refused by the server (gridwork quarantine)"
        );
    }
    if let Some(q) = quota.as_ref().filter(|q| q.held > 0) {
        println!(
            "held:          {} change(s) wait for the server's quota (since {}: {}); the next sync sends them",
            q.held,
            time(q.at_ms.into()),
            q.reason
        );
    }
    if !set_aside.is_empty() {
        println!(
            "set aside:     {} document(s) from the server not stored on this device:",
            set_aside.len()
        );
        let rows: Vec<Vec<String>> = set_aside
            .iter()
            .map(|d| {
                vec![
                    d.doc_id.clone(),
                    d.code.as_str().to_owned(),
                    d.field.clone().unwrap_or_else(|| "-".into()),
                    d.reason.clone(),
                    d.changes.to_string(),
                    time(d.last_seen_ms.into()),
                ]
            })
            .collect();
        table(
            &[
                "DOCUMENT",
                "CODE",
                "FIELD",
                "REASON",
                "CHANGES",
                "LAST SEEN",
            ],
            &rows,
        );
    }
    println!(
        "last sync:     {}",
        last.map_or_else(|| "never".into(), time)
    );
    Ok(())
}

fn list(store: &Store, q: &ListQuery, json: bool) -> R {
    let page = store.list(q)?;
    if json {
        print_json(
            &json!({ "items": page.items.iter().map(summary_json).collect::<Vec<_>>(), "next": page.next }),
        );
    } else {
        summaries_table(&page.items);
        if page.next.is_some() {
            println!("(more: raise --limit)");
        }
    }
    Ok(())
}

fn show(store: &Store, id: &str, json: bool) -> R {
    let r = store.get(id)?;
    if json {
        print_json(&stored_json(&r, false));
    } else {
        show_record(&r, &store.labels()?, false);
    }
    Ok(())
}

/// `gridwork team`: the directory (or who can take a task in `grid`).
fn team(store: &Store, grid: Option<&str>, all: bool, json: bool) -> R {
    let people = match grid {
        Some(g) => store.assignable(g)?,
        None => store
            .directory()?
            .into_iter()
            .filter(|p| all || p.in_scope)
            .collect(),
    };
    if json {
        let units = store.units()?;
        print_json(&json!({
            "people": people,
            "units": units.iter().map(|u| json!({
                "id": u.id, "kind": u.kind, "parent": u.parent, "name": u.name,
                "has_boundary": u.boundary.is_some(),
            })).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    if people.is_empty() {
        println!("No one in your directory yet: it arrives with `gridwork sync`.");
        return Ok(());
    }
    let unit_names: std::collections::HashMap<String, String> =
        store.units()?.into_iter().map(|u| (u.id, u.name)).collect();
    let rows: Vec<Vec<String>> = people
        .iter()
        .map(|p| {
            vec![
                p.display_name.clone(),
                p.username.clone(),
                p.role.as_str().to_owned(),
                p.units
                    .iter()
                    .map(|u| unit_names.get(u).cloned().unwrap_or_else(|| u.clone()))
                    .collect::<Vec<_>>()
                    .join(", "),
                p.phone.clone().unwrap_or_else(|| "-".into()),
                if p.in_scope { "" } else { "left your scope" }.into(),
            ]
        })
        .collect();
    table(&["NAME", "USERNAME", "ROLE", "UNITS", "PHONE", ""], &rows);
    Ok(())
}

fn parse_need(s: &str) -> R<Need> {
    let (tag, note) = s.split_once(':').unwrap_or((s, ""));
    Ok(Need {
        tag: tag.trim().parse::<NeedTag>()?,
        note: note.trim().to_owned(),
        resolved: false,
    })
}

/// `name[,id=…][,phone=…][,born=YEAR][,tags=a+b]`
fn parse_member(s: &str) -> R<Member> {
    let mut parts = s.split(',');
    let name = parts.next().unwrap_or("").trim().to_owned();
    let mut m = Member {
        name,
        id_number: None,
        phone: None,
        birth_year: None,
        tags: vec![],
    };
    for p in parts {
        let (k, v) = p.split_once('=').ok_or_else(|| {
            fail("--member: expected name,key=value,… (keys: id, phone, born, tags)")
        })?;
        let v = v.trim();
        match k.trim() {
            "id" => m.id_number = Some(v.to_owned()),
            "phone" => m.phone = Some(v.to_owned()),
            "born" => {
                m.birth_year = Some(
                    v.parse()
                        .map_err(|_| fail("--member born= must be a year"))?,
                );
            }
            "tags" => {
                m.tags = v
                    .split('+')
                    .map(|t| t.trim().parse::<MemberTag>())
                    .collect::<Result<_, _>>()?;
            }
            other => {
                return Err(fail(format!(
                    "--member: unknown key {other} (keys: id, phone, born, tags)"
                )))
            }
        }
    }
    Ok(m)
}

fn read_password() -> R<String> {
    if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ")
            .map_err(|e| fail(format!("could not read the password: {e}")))
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| fail(format!("could not read the password from stdin: {e}")))?;
        let p = line.trim_end_matches(['\r', '\n']).to_owned();
        if p.is_empty() {
            return Err(fail(
                "no password: pass --password, set GRIDWORK_PASSWORD, or type it",
            ));
        }
        Ok(p)
    }
}

fn default_device_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "laptop".into());
    format!("gridwork CLI on {host}")
}
