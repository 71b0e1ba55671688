//! Capability parity: everything the CLI (`cli/src/main.rs`, the reference for what a device can
//! do) can do, the apps can do through `GridworkStore`.
//!
//! The test reads the CLI's clap command tree from its source (every `#[derive(Subcommand)]` enum
//! reached from `Cli`, with each leaf command's arguments, flattened `Args` structs expanded) and
//! the methods exported by `#[uniffi::export] impl GridworkStore` in `src/lib.rs`, and checks them
//! against `PARITY`, an explicit table: CLI command -> its arguments -> the FFI methods that do
//! the same. It fails when the CLI gains a command or an argument the table does not map (say
//! which FFI method covers it, exporting one if none does), when a row names a method that is not
//! exported, or when a row is left for a command the CLI no longer has.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One CLI command and what does the same through the bindings.
struct Row {
    /// The command as typed after `gridwork` (`""`: the global options).
    command: &'static str,
    /// Its arguments (clap field names; those of flattened structs included).
    args: &'static [&'static str],
    /// `GridworkStore` methods (or constructors) that give the app the same capability.
    ffi: &'static [&'static str],
}

const fn row(
    command: &'static str,
    args: &'static [&'static str],
    ffi: &'static [&'static str],
) -> Row {
    Row { command, args, ffi }
}

/// Arguments of `ListArgs` (flattened into every `list` command).
const LIST: [&str; 5] = ["grid", "status", "open", "text", "limit"];
/// Arguments of `LocationArgs` (flattened into `report new`, `visit new`).
const LOCATION: [&str; 4] = ["lat", "lon", "accuracy", "address"];

const fn cat<const A: usize, const B: usize, const N: usize>(
    a: [&'static str; A],
    b: [&'static str; B],
) -> [&'static str; N] {
    assert!(A + B == N);
    let mut out = [""; N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

const REPORT_NEW: [&str; 10] = cat(
    [
        "grid",
        "category",
        "severity",
        "title",
        "description",
        "submit",
    ],
    LOCATION,
);
const VISIT_NEW: [&str; 10] = cat(
    [
        "grid",
        "household",
        "visit_type",
        "notes",
        "needs",
        "follow_up",
    ],
    LOCATION,
);
const VISIT_LIST: [&str; 6] = cat(["household"], LIST);
const TASK_LIST: [&str; 6] = cat(["mine"], LIST);

/// CLI command -> FFI. Keep it in the order of `cli/src/main.rs`; the bindings README shows it.
const PARITY: &[Row] = &[
    // --db: the app opens its own file; --json: the FFI returns typed values, never text;
    // --key-file: the app's key comes from the platform keystore (`new_store_key`, `open_device`'s
    // `key`, `rekey_store`).
    row(
        "",
        &["db", "json", "key_file"],
        &["open_device", "open", "path"],
    ),
    row(
        "login",
        &["server", "user", "password", "device_name"],
        &["sign_in"],
    ),
    row("logout", &["force"], &["sign_out"]),
    row(
        "status",
        &[],
        &[
            "path",
            "device_id",
            "session",
            "pending_count",
            "quarantine",
            "quota_hold",
            "set_aside",
            "last_sync_at",
        ],
    ),
    // The report carries the photo counters; the progress observer gets typed phases.
    row("sync", &[], &["sync"]),
    // No --grid: the grid containing the location (`grid_at`).
    row("report new", &REPORT_NEW, &["create_report", "grid_at"]),
    row(
        "report edit",
        &["id", "title", "description", "category", "severity"],
        &["update_report"],
    ),
    row("report list", &LIST, &["list", "search"]),
    row("report show", &["id"], &["get"]),
    row("report submit", &["id"], &["transition_report"]),
    row("report comment", &["id", "text"], &["add_comment"]),
    row(
        "report photo add",
        &["id", "file", "caption"],
        &["add_photo"],
    ),
    // "On device" = `photo_bytes` answers (it raises NotFound otherwise).
    row("report photo list", &["id"], &["get", "photo_bytes"]),
    row(
        "report photo get",
        &["id", "hash", "out", "thumbnail"],
        &["get", "fetch_photo"],
    ),
    row("report photo remove", &["id", "hash"], &["remove_photo"]),
    row("visit new", &VISIT_NEW, &["create_visit"]),
    row("visit list", &VISIT_LIST, &["list"]),
    row("visit show", &["id"], &["get"]),
    row(
        "household add",
        &["grid", "address", "members", "notes"],
        &["create_household"],
    ),
    row("household list", &LIST, &["list"]),
    row(
        "household show",
        &["id", "reason"],
        &["get", "get_full", "access_log"],
    ),
    row(
        "task assign",
        &[
            "grid",
            "title",
            "description",
            "assignees",
            "due",
            "priority",
            "report",
            "household",
        ],
        // --to by name: `find_person` (or pick from `assignable`).
        &["create_task", "find_person", "assignable"],
    ),
    row(
        "team",
        &["grid", "all"],
        &["directory", "assignable", "units", "person", "label"],
    ),
    // --mine = `ListQuery.assignee` set to `session().user_id`.
    row("task list", &TASK_LIST, &["list", "session"]),
    row("task show", &["id"], &["get"]),
    row("task accept", &["id"], &["transition_task"]),
    row("task done", &["id", "comment"], &["transition_task"]),
    row("review approve", &["id", "comment"], &["transition_report"]),
    row("review return", &["id", "comment"], &["transition_report"]),
    row("history", &["id"], &["history"]),
    row("conflicts", &["id"], &["conflicts"]),
    row(
        "quarantine",
        &["discard"],
        &["quarantine", "discard_quarantined"],
    ),
];

// ------------------------------------------------------------------ reading the CLI

fn parse(path: &Path) -> syn::File {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    syn::parse_file(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

fn derives(attrs: &[syn::Attribute], what: &str) -> bool {
    attrs.iter().any(|a| {
        let mut found = false;
        if a.path().is_ident("derive") {
            let _ = a.parse_nested_meta(|m| {
                found |= m.path.segments.last().is_some_and(|s| s.ident == what);
                Ok(())
            });
        }
        found
    })
}

/// `#[<outer>(<key>)]` or `#[<outer>(<key> = "value")]`: `Some(value)` when present.
#[allow(clippy::option_option)] // attribute absent (None) vs present without a value (Some(None))
fn command_attr(attrs: &[syn::Attribute], outer: &str, key: &str) -> Option<Option<String>> {
    use syn::punctuated::Punctuated;
    let mut found = None;
    for a in attrs.iter().filter(|a| a.path().is_ident(outer)) {
        let metas = a
            .parse_args_with(Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated)
            .unwrap_or_else(|e| panic!("cannot read #[{outer}(...)]: {e}"));
        for m in metas {
            if !m.path().is_ident(key) {
                continue;
            }
            found = Some(match m {
                syn::Meta::NameValue(syn::MetaNameValue {
                    value:
                        syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(s),
                            ..
                        }),
                    ..
                }) => Some(s.value()),
                _ => None,
            });
        }
    }
    found
}

fn kebab(ident: &str) -> String {
    let mut out = String::new();
    for (i, c) in ident.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn type_name(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(p) => p
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

struct CliSource {
    enums: BTreeMap<String, syn::ItemEnum>,
    structs: BTreeMap<String, syn::ItemStruct>,
}

impl CliSource {
    fn read(path: &Path) -> Self {
        let file = parse(path);
        let mut enums = BTreeMap::new();
        let mut structs = BTreeMap::new();
        for item in file.items {
            match item {
                syn::Item::Enum(e) if derives(&e.attrs, "Subcommand") => {
                    enums.insert(e.ident.to_string(), e);
                }
                syn::Item::Struct(s)
                    if derives(&s.attrs, "Args") || derives(&s.attrs, "Parser") =>
                {
                    structs.insert(s.ident.to_string(), s);
                }
                _ => {}
            }
        }
        CliSource { enums, structs }
    }

    /// The argument names of named fields; flattened `Args` structs expanded, a subcommand field
    /// returned separately.
    fn args(&self, fields: &syn::Fields, out: &mut Vec<String>) -> Option<String> {
        let mut sub = None;
        for f in fields {
            let name = f
                .ident
                .as_ref()
                .map(std::string::ToString::to_string)
                .unwrap_or_default();
            if command_attr(&f.attrs, "command", "subcommand").is_some() {
                sub = Some(type_name(&f.ty));
            } else if command_attr(&f.attrs, "command", "flatten").is_some() {
                let ty = type_name(&f.ty);
                let s = self
                    .structs
                    .get(&ty)
                    .unwrap_or_else(|| panic!("flattened {ty} is not an Args struct of the CLI"));
                let nested = self.args(&s.fields, out);
                assert!(nested.is_none(), "a subcommand inside flattened {ty}");
            } else {
                out.push(name);
            }
        }
        sub
    }

    /// Every leaf command under `enum_name`, as "a b c" -> its arguments.
    fn commands(&self, prefix: &str, enum_name: &str, out: &mut BTreeMap<String, Vec<String>>) {
        let e = self
            .enums
            .get(enum_name)
            .unwrap_or_else(|| panic!("subcommand enum {enum_name} not found in the CLI"));
        for v in &e.variants {
            let name = command_attr(&v.attrs, "command", "name")
                .flatten()
                .unwrap_or_else(|| kebab(&v.ident.to_string()));
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix} {name}")
            };
            match &v.fields {
                syn::Fields::Unnamed(u) => {
                    let ty = u
                        .unnamed
                        .first()
                        .map(|f| type_name(&f.ty))
                        .unwrap_or_default();
                    if self.enums.contains_key(&ty) {
                        self.commands(&path, &ty, out);
                    } else {
                        let s = self.structs.get(&ty).unwrap_or_else(|| {
                            panic!("`{path}` takes {ty}, neither a Subcommand nor an Args type")
                        });
                        let mut args = Vec::new();
                        match self.args(&s.fields, &mut args) {
                            Some(sub) => self.commands(&path, &sub, out),
                            None => {
                                out.insert(path, args);
                            }
                        }
                    }
                }
                fields => {
                    let mut args = Vec::new();
                    match self.args(fields, &mut args) {
                        Some(sub) => self.commands(&path, &sub, out),
                        None => {
                            out.insert(path, args);
                        }
                    }
                }
            }
        }
    }
}

/// The CLI's leaf commands with their arguments; `""` holds the global options of `Cli`.
fn cli_commands() -> BTreeMap<String, Vec<String>> {
    let src = CliSource::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/src/main.rs"));
    let cli = src
        .structs
        .get("Cli")
        .expect("the CLI's `#[derive(Parser)] struct Cli`");
    let mut globals = Vec::new();
    let root = src
        .args(&cli.fields, &mut globals)
        .expect("`Cli` has a `#[command(subcommand)]` field");
    let mut out = BTreeMap::new();
    out.insert(String::new(), globals);
    src.commands("", &root, &mut out);
    out
}

/// The methods and constructors of `#[uniffi::export] impl GridworkStore` in src/lib.rs.
fn exported_methods() -> BTreeSet<String> {
    let file = parse(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"));
    let mut out = BTreeSet::new();
    for item in file.items {
        let syn::Item::Impl(imp) = item else { continue };
        let exported = imp.attrs.iter().any(|a| {
            let p = a.path();
            p.segments.len() == 2
                && p.segments[0].ident == "uniffi"
                && p.segments[1].ident == "export"
        });
        if !exported || imp.trait_.is_some() || type_name(&imp.self_ty) != "GridworkStore" {
            continue;
        }
        for it in imp.items {
            if let syn::ImplItem::Fn(f) = it {
                if matches!(f.vis, syn::Visibility::Public(_)) {
                    out.insert(f.sig.ident.to_string());
                }
            }
        }
    }
    out
}

// ------------------------------------------------------------------ tests

#[test]
fn the_reader_sees_the_cli_and_the_ffi() {
    // Guards the readers themselves: if they silently found nothing, parity would pass vacuously.
    let cli = cli_commands();
    for known in [
        "login",
        "sync",
        "report photo get",
        "task done",
        "quarantine",
    ] {
        assert!(
            cli.contains_key(known),
            "the CLI reader missed `{known}`: {:?}",
            cli.keys()
        );
    }
    assert_eq!(
        cli["report new"].len(),
        REPORT_NEW.len(),
        "flattened location arguments are expanded"
    );
    let ffi = exported_methods();
    for known in [
        "open",
        "open_device",
        "sync",
        "fetch_photo",
        "discard_quarantined",
    ] {
        assert!(
            ffi.contains(known),
            "the FFI reader missed `{known}`: {ffi:?}"
        );
    }
    assert!(
        !ffi.contains("cancel"),
        "only GridworkStore's methods count, not SubscriptionHandle's"
    );
}

#[test]
fn every_cli_command_has_an_ffi_counterpart() {
    let cli = cli_commands();
    let ffi = exported_methods();
    let mut problems = Vec::new();
    let table: BTreeMap<&str, &Row> = PARITY.iter().map(|r| (r.command, r)).collect();
    assert_eq!(
        table.len(),
        PARITY.len(),
        "a command is listed twice in PARITY"
    );

    for (command, args) in &cli {
        let shown = if command.is_empty() {
            "the global options".to_owned()
        } else {
            format!("`gridwork {command}`")
        };
        let Some(row) = table.get(command.as_str()) else {
            problems.push(format!(
                "{shown} has no FFI counterpart: export a `GridworkStore` method in \
                 bindings/src/lib.rs that does the same (with Kotlin and Python tests) and add \
                 `row(\"{command}\", &{args:?}, &[\"<method>\"])` to PARITY in {}",
                file!()
            ));
            continue;
        };
        let have: BTreeSet<&str> = args.iter().map(String::as_str).collect();
        let mapped: BTreeSet<&str> = row.args.iter().copied().collect();
        let new: Vec<_> = have.difference(&mapped).collect();
        let gone: Vec<_> = mapped.difference(&have).collect();
        if !new.is_empty() {
            problems.push(format!(
                "{shown} gained argument(s) {new:?}: make sure the FFI methods {:?} can do what \
                 they do (export what is missing), then list them in its PARITY row",
                row.ffi
            ));
        }
        if !gone.is_empty() {
            problems.push(format!(
                "{shown} no longer has argument(s) {gone:?}: remove them from its PARITY row"
            ));
        }
        for m in row.ffi {
            if !ffi.contains(*m) {
                problems.push(format!(
                    "PARITY maps {shown} to `{m}`, which `#[uniffi::export] impl GridworkStore` \
                     in bindings/src/lib.rs does not export"
                ));
            }
        }
        if row.ffi.is_empty() {
            problems.push(format!("{shown} maps to no FFI method"));
        }
    }
    for row in PARITY {
        if !cli.contains_key(row.command) {
            problems.push(format!(
                "PARITY lists `gridwork {}`, which the CLI no longer has: remove the row",
                row.command
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "CLI/FFI parity is broken:\n- {}",
        problems.join("\n- ")
    );
}
