//! What corenas-ctl prints: aligned tables, `key: value` blocks and getfacl-like text for people;
//! exactly one JSON document per run with `--json` (schema in JSON.md).
//!
//! Text from corenasd (names, GECOS, paths, audit arguments) is shown through [`printable`], so a
//! crafted account or file name cannot move the cursor or reorder the line on the admin's terminal.

use crate::cli;
use crate::error::{CtlError, EXIT_FAILED, EXIT_USAGE};
use corenas_proto::WireError;
use corenas_proto::acl::{AclKind, AclListing, ResolvedAclEntry};
use corenas_proto::api::{AuditEntry, AuditVerify, Change, GroupInfo, SystemStatus, UserInfo};
use corenas_proto::devices::{self, SmartReport};
use corenas_proto::helper::{SmbAccountState, Step};
use corenas_proto::imaging::{
    ArchiveInfo, ArchiveList, DeviceInfo, ImagingPolicy, JobInfo, JobKind, JobList, JobState, Medium, Phase, Progress,
};
use corenas_proto::mounts::{MountInfo, MountSource};
use corenas_proto::names::{AccountKind, is_bidi_control};
use corenas_proto::secret::Password;
use corenas_proto::shares::{ShareConfig, ShareDef, ShareInfo, SmbOptions};
use corenas_proto::storage::{
    DatasetInfo, PoolInfo, PoolLayout, PoolSpec, ScheduleInfo, ScrubStatus, SnapshotInfo, StorageJob, ZfsProperty,
};
use serde::Serialize;
use serde_json::json;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::process::ExitCode;

/// The outcome of a command that succeeded as far as corenasd is concerned.
#[derive(Debug)]
pub enum Report {
    /// Human text and the equivalent JSON document; `--json` picks which one is printed.
    Answer { human: String, json: String, exit: u8 },
    /// Bytes printed as they are, `--json` or not (completions, the manual page).
    Raw(Vec<u8>),
    /// Already written while the command ran (an export streamed to stdout).
    Written,
}

impl Report {
    pub fn ok(human: String, json: String) -> Self {
        Self::Answer { human, json, exit: 0 }
    }
}

/// Serializes an answer directly (not through `serde_json::Value`), so fields keep their
/// declared order. The types involved always serialize; a failure is still reported.
pub fn to_json<T: Serialize>(value: &T) -> Result<String, CtlError> {
    serde_json::to_string(value).map_err(|e| {
        CtlError::failed(corenas_proto::ErrorCode::Internal, format!("cannot encode the answer as JSON: {e}"))
    })
}

/// Prints the report or the error and turns the outcome into the process exit code.
pub fn finish(json: bool, outcome: Result<Report, CtlError>) -> ExitCode {
    let (text, exit): (Cow<'_, [u8]>, u8) = match &outcome {
        Ok(Report::Answer { human, json: doc, exit }) => {
            if json {
                (Cow::Owned(format!("{doc}\n").into_bytes()), *exit)
            } else {
                (Cow::Borrowed(human.as_bytes()), *exit)
            }
        }
        Ok(Report::Raw(bytes)) => (Cow::Borrowed(bytes.as_slice()), 0),
        Ok(Report::Written) => (Cow::Borrowed(&[][..]), 0),
        Err(e) => {
            if json {
                (Cow::Owned(format!("{}\n", error_json(&e.wire())).into_bytes()), e.exit_code())
            } else {
                // Multi-line messages (a tool's stderr) keep their lines; other controls are escaped.
                let _ = writeln!(io::stderr(), "error: {}", printable_lines(&e.to_string()));
                return ExitCode::from(e.exit_code());
            }
        }
    };
    let mut stdout = io::stdout().lock();
    match stdout.write_all(&text).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::from(exit),
        // The reader went away (`| head`); what it wanted was printed.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(exit),
        Err(e) => {
            let _ = writeln!(io::stderr(), "error: cannot write to stdout: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// `{"error":{"code":"E_…","message":"…","field":…}}` with the stable code, not the enum name.
pub fn error_json(e: &WireError) -> String {
    #[derive(Serialize)]
    struct Body<'a> {
        code: &'a str,
        message: &'a str,
        field: Option<&'a str>,
    }
    #[derive(Serialize)]
    struct Document<'a> {
        error: Body<'a>,
    }
    let doc = Document { error: Body { code: e.code.as_str(), message: &e.message, field: e.field.as_deref() } };
    // Strings and an option of a string always serialize; the fallback only keeps the shape.
    serde_json::to_string(&doc).unwrap_or_else(|_| json!({ "error": { "code": e.code.as_str() } }).to_string())
}

/// A command line clap refused. Human mode keeps clap's own message and usage hint.
pub fn usage_error(err: &clap::Error, json: bool) -> ExitCode {
    let informational = !err.use_stderr();
    if !json || informational {
        // Help and --version go to stdout; a failure to print them has nowhere to be reported.
        let _ = err.print();
        return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(EXIT_USAGE));
    }
    let wire = match cli::validation_error(err) {
        Some(v) => WireError::from(v.clone()),
        None => WireError::new(corenas_proto::ErrorCode::InvalidInput, clap_message(err)),
    };
    let _ = writeln!(io::stdout(), "{}", error_json(&wire));
    ExitCode::from(EXIT_USAGE)
}

/// clap's message on one line, without the "error: " prefix and the usage and help hints.
fn clap_message(err: &clap::Error) -> String {
    let rendered = err.render().to_string();
    let body = rendered.strip_prefix("error: ").unwrap_or(&rendered);
    let body = body.split("\n\nUsage:").next().unwrap_or(body);
    let body = body.split("\n\nFor more information").next().unwrap_or(body);
    body.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Escapes control and bidi characters; everything else is shown as it is.
pub fn printable(s: &str) -> Cow<'_, str> {
    escape_if(s, |c| c.is_control() || is_bidi_control(c))
}

/// Like [`printable`], but keeps line breaks and tabs, for messages of several lines.
pub fn printable_lines(s: &str) -> Cow<'_, str> {
    escape_if(s, |c| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c))
}

fn escape_if(s: &str, unsafe_char: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Columns aligned to their widest cell, two spaces apart; the last column is not padded.
#[derive(Debug)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Self { headers: headers.to_vec(), rows: Vec::new() }
    }

    /// Adds a row; cells are made printable here. Missing cells are empty, extra ones dropped.
    pub fn row<I: IntoIterator<Item = S>, S: AsRef<str>>(&mut self, cells: I) {
        let mut row: Vec<String> = cells.into_iter().map(|c| printable(c.as_ref()).into_owned()).collect();
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    pub fn render(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        let headers = self.headers.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i + 1 == widths.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell}{:pad$}  ", "", pad = w - width(cell));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `key: value` lines with the values aligned.
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        let _ = writeln!(out, "{:w$}  {}", format!("{k}:"), printable(v), w = w + 1);
    }
    out
}

fn kind(k: Option<AccountKind>) -> &'static str {
    k.map_or("-", AccountKind::as_str)
}

fn smb(s: SmbAccountState) -> &'static str {
    match s {
        SmbAccountState::None => "none",
        SmbAccountState::Enabled => "enabled",
        SmbAccountState::Disabled => "disabled",
        SmbAccountState::Unknown => "unknown",
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn list_or_dash(items: &[String]) -> String {
    if items.is_empty() { "-".to_owned() } else { items.join(",") }
}

pub fn users_table(users: &[UserInfo]) -> String {
    let mut t = Table::new(&["NAME", "UID", "KIND", "GROUPS", "LOCKED", "SMB", "FULL NAME"]);
    for u in users {
        t.row([
            u.name.clone(),
            u.uid.to_string(),
            kind(u.kind).to_owned(),
            list_or_dash(&u.groups),
            yes_no(u.locked).to_owned(),
            smb(u.smb).to_owned(),
            u.full_name.clone(),
        ]);
    }
    t.render()
}

pub fn user_block(u: &UserInfo) -> String {
    key_values(&[
        ("name", u.name.clone()),
        ("uid", u.uid.to_string()),
        ("gid", u.gid.to_string()),
        ("kind", kind(u.kind).to_owned()),
        ("full name", u.full_name.clone()),
        ("home", u.home.clone()),
        ("shell", u.shell.clone()),
        ("locked", yes_no(u.locked).to_owned()),
        ("smb", smb(u.smb).to_owned()),
        ("groups", if u.groups.is_empty() { "-".to_owned() } else { u.groups.join(", ") }),
    ])
}

pub fn groups_table(groups: &[GroupInfo]) -> String {
    let mut t = Table::new(&["NAME", "GID", "KIND", "MEMBERS"]);
    for g in groups {
        t.row([g.name.clone(), g.gid.to_string(), kind(g.kind).to_owned(), list_or_dash(&g.members)]);
    }
    t.render()
}

pub fn group_block(g: &GroupInfo) -> String {
    key_values(&[
        ("name", g.name.clone()),
        ("gid", g.gid.to_string()),
        ("kind", kind(g.kind).to_owned()),
        ("members", if g.members.is_empty() { "-".to_owned() } else { g.members.join(", ") }),
    ])
}

fn acl_line(e: &ResolvedAclEntry) -> String {
    let who = match (&e.name, e.id) {
        (Some(n), _) => printable(n).into_owned(),
        (None, Some(id)) => id.to_string(),
        (None, None) => String::new(),
    };
    match e.kind {
        AclKind::UserObj => format!("user::{}", e.perms),
        AclKind::User => format!("user:{who}:{}", e.perms),
        AclKind::GroupObj => format!("group::{}", e.perms),
        AclKind::Group => format!("group:{who}:{}", e.perms),
        AclKind::Mask => format!("mask::{}", e.perms),
        AclKind::Other => format!("other::{}", e.perms),
    }
}

/// The getfacl layout: a header, the access entries, then the default entries.
pub fn acl_text(a: &AclListing) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# file: {}", printable(&a.path));
    let _ = writeln!(out, "# owner: {}", a.owner);
    let _ = writeln!(out, "# group: {}", a.group);
    for e in &a.access {
        let _ = writeln!(out, "{}", acl_line(e));
    }
    for e in &a.default {
        let _ = writeln!(out, "default:{}", acl_line(e));
    }
    out
}

fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m {s}s"),
        _ => format!("{d}d {h}h {m}m {s}s"),
    }
}

pub fn status_block(s: &SystemStatus) -> String {
    let mut pairs = vec![
        ("version", s.version.clone()),
        ("protocol", s.protocol.to_string()),
        ("daemon pid", s.daemon_pid.to_string()),
        ("daemon uid", s.daemon_uid.to_string()),
        ("root", s.root.clone()),
        ("state db", s.state_db.clone()),
        ("audit entries", s.audit_entries.to_string()),
        ("audit head", s.audit_head.clone()),
    ];
    match &s.helper {
        Ok(h) => pairs.extend([
            ("helper", "running".to_owned()),
            ("helper pid", h.pid.to_string()),
            ("helper version", h.version.clone()),
            ("helper root", h.root.clone()),
            ("helper uptime", duration(h.uptime_secs)),
            ("landlock", h.landlock.clone()),
            ("bounding set", if h.bounding_set.is_empty() { "(empty)".to_owned() } else { h.bounding_set.join(", ") }),
        ]),
        Err(e) => pairs.push(("helper", format!("unavailable: {} ({})", e.message, e.code))),
    }
    key_values(&pairs)
}

pub fn audit_table(entries: &[AuditEntry]) -> String {
    let mut t = Table::new(&["SEQ", "TIME", "PRINCIPAL", "CHANNEL", "ACTION", "RESULT", "ARGS"]);
    for e in entries {
        let result = match &e.error_code {
            Some(code) => format!("{} ({code})", e.result),
            None => e.result.clone(),
        };
        t.row([
            e.seq.to_string(),
            e.time.clone(),
            e.principal.clone(),
            e.channel.clone(),
            e.action.clone(),
            result,
            e.args.clone(),
        ]);
    }
    t.render()
}

pub fn verify_report(v: &AuditVerify) -> Result<Report, CtlError> {
    let mut human = String::new();
    if v.problems.is_empty() {
        let _ = writeln!(human, "audit log intact: {} entries, head {}", v.entries, printable(&v.head));
    } else {
        let _ = writeln!(human, "audit log has {} problem(s) in {} entries:", v.problems.len(), v.entries);
        for p in &v.problems {
            let _ = writeln!(human, "  {}", printable(p));
        }
        let _ = writeln!(human, "head: {}", printable(&v.head));
    }
    let exit = if v.problems.is_empty() { 0 } else { EXIT_FAILED };
    Ok(Report::Answer { human, json: to_json(v)?, exit })
}

/// Sizes in IEC units with one decimal (`512 B`, `1.5 KiB`, `4.4 GiB`).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    // 1023.95 and up would print as "1024.0"; show it in the next unit instead.
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A size with the exact byte count when the unit rounds it.
fn size_exact(bytes: u64) -> String {
    if bytes < 1024 { size(bytes) } else { format!("{} ({bytes} bytes)", size(bytes)) }
}

/// A read rate, always in MiB/s so lines of a follow compare at a glance.
pub fn rate(bps: Option<u64>) -> String {
    match bps {
        Some(b) => format!("{:.1} MiB/s", b as f64 / 1_048_576.0),
        None => "-".to_owned(),
    }
}

/// Time left as h:mm:ss.
pub fn eta(secs: Option<u64>) -> String {
    match secs {
        Some(s) => format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
        None => "-".to_owned(),
    }
}

fn percent(p: f64) -> String {
    if p.is_finite() { format!("{:.1}%", p.clamp(0.0, 100.0)) } else { "-".to_owned() }
}

fn or_dash(v: Option<&str>) -> String {
    v.map_or_else(|| "-".to_owned(), str::to_owned)
}

fn phase(p: Option<Phase>) -> &'static str {
    match p {
        None => "-",
        Some(Phase::Copying) => "copying",
        Some(Phase::Trimming) => "trimming",
        Some(Phase::Scraping) => "scraping",
        Some(Phase::Retrying) => "retrying",
        Some(Phase::Filling) => "filling",
        Some(Phase::Generating) => "generating",
        Some(Phase::Finished) => "finished",
        Some(Phase::Hashing) => "hashing",
        Some(Phase::Verifying) => "verifying",
    }
}

fn job_kind(k: JobKind) -> &'static str {
    match k {
        JobKind::Image => "image",
        JobKind::Verify => "verify",
    }
}

/// The first 16 hex digits of a checksum, enough to tell entries apart in a table.
fn short_hash(h: &str) -> String {
    if h.chars().count() > 16 { format!("{}…", h.chars().take(16).collect::<String>()) } else { h.to_owned() }
}

pub fn jobs_table(list: &JobList) -> String {
    let mut t = Table::new(&["ID", "NAME", "DEVICE", "STATUS", "PROGRESS", "RATE", "ETA", "POSITION"]);
    for j in &list.jobs {
        t.row([
            j.id.clone(),
            j.name.clone(),
            or_dash(j.device.as_deref()),
            j.status.as_str().to_owned(),
            percent(j.progress.percent),
            rate(j.progress.rate_bps),
            eta(j.progress.eta_seconds),
            j.position.map_or_else(|| "-".to_owned(), |p| p.to_string()),
        ]);
    }
    let mut out = t.render();
    out.push_str(&page_note(list.jobs.len(), list.offset, list.total));
    out
}

/// Says when a listing is one page of more.
fn page_note(shown: usize, offset: u32, total: u64) -> String {
    let shown = shown as u64;
    let offset = u64::from(offset);
    if shown == 0 && total > 0 {
        format!("(no entries at offset {offset}; there are {total})\n")
    } else if offset > 0 || offset + shown < total {
        let more =
            if offset + shown < total { format!("; --offset {} for more", offset + shown) } else { String::new() };
        format!("(entries {}-{} of {total}{more})\n", offset + 1, offset + shown)
    } else {
        String::new()
    }
}

fn medium_pairs(pairs: &mut Vec<(&str, String)>, m: &Medium) {
    pairs.extend([
        ("medium format", m.format.clone()),
        ("medium label", or_dash(m.label.as_deref())),
        ("medium size", size_exact(m.size_bytes)),
    ]);
}

fn progress_pairs(pairs: &mut Vec<(&str, String)>, p: &Progress) {
    pairs.extend([
        ("progress", percent(p.percent)),
        ("domain", size(p.domain_bytes)),
        ("rescued", size(p.rescued_bytes)),
        ("bad bytes", size_exact(p.bad_bytes)),
        ("bad areas", p.bad_areas.to_string()),
        ("phase", phase(p.phase).to_owned()),
        ("pass", p.pass.map_or_else(|| "-".to_owned(), |n| n.to_string())),
        ("rate", rate(p.rate_bps)),
        ("eta", eta(p.eta_seconds)),
    ]);
}

/// `image show`: every field of a job; text from the medium is escaped by `key_values`.
pub fn job_block(j: &JobInfo) -> String {
    let o = &j.options;
    let mut pairs = vec![
        ("id", j.id.clone()),
        ("kind", job_kind(j.kind).to_owned()),
        ("name", j.name.clone()),
        ("device", or_dash(j.device.as_deref())),
        ("status", j.status.as_str().to_owned()),
        ("priority", j.priority.as_str().to_owned()),
        ("position", j.position.map_or_else(|| "-".to_owned(), |p| p.to_string())),
        ("created", j.created_at.clone()),
        ("updated", j.updated_at.clone()),
        ("started", or_dash(j.started_at.as_deref())),
        ("finished", or_dash(j.finished_at.as_deref())),
        ("retries", o.retries.get().to_string()),
        ("verify", yes_no(o.verify).to_owned()),
        ("md5", yes_no(o.md5).to_owned()),
        ("keep partial", yes_no(o.keep_partial_on_cancel).to_owned()),
        ("eject", yes_no(o.eject).to_owned()),
        ("max rate", o.max_rate.map_or_else(|| "unlimited".to_owned(), |r| rate(Some(r)))),
    ];
    progress_pairs(&mut pairs, &j.progress);
    match &j.medium {
        Some(m) => medium_pairs(&mut pairs, m),
        None => pairs.push(("medium", "-".to_owned())),
    }
    pairs.extend([
        ("output file", or_dash(j.output_file.as_deref())),
        ("archive id", or_dash(j.archive_id.as_deref())),
        ("error", error_text(j)),
    ]);
    key_values(&pairs)
}

fn error_text(j: &JobInfo) -> String {
    match (&j.error, &j.error_code) {
        (Some(e), Some(code)) => format!("{e} ({code})"),
        (Some(e), None) => e.clone(),
        (None, Some(code)) => code.clone(),
        (None, None) => "-".to_owned(),
    }
}

/// One line about a job, for the result of a change (`image create`, `pause`, ...).
pub fn job_line(j: &JobInfo) -> String {
    let mut line = format!("job {}: {} ({}", printable(&j.id), j.status.as_str(), j.priority.as_str());
    if let Some(p) = j.position {
        let _ = write!(line, " priority, position {p} in the queue)");
    } else {
        line.push_str(" priority)");
    }
    line.push('\n');
    line
}

/// `image follow`: one line per change of the job.
pub fn progress_line(j: &JobInfo) -> String {
    let p = &j.progress;
    let mut line = format!(
        "{:>6}  {} / {}  {}  ETA {}  {}  {}",
        percent(p.percent),
        size(p.rescued_bytes),
        size(p.domain_bytes),
        rate(p.rate_bps),
        eta(p.eta_seconds),
        phase(p.phase),
        j.status.as_str()
    );
    if p.bad_bytes > 0 {
        let _ = write!(line, "  bad {} in {} areas", size(p.bad_bytes), p.bad_areas);
    }
    line.push('\n');
    line
}

/// How a followed job ended, for people.
pub fn follow_end(j: &JobInfo) -> String {
    let id = printable(&j.id);
    let mut out = if j.status == JobState::Paused {
        format!("job {id} is paused; `corenas-ctl image resume {id}` continues it\n")
    } else {
        format!("job {id} {}\n", j.status.as_str())
    };
    if let Some(a) = &j.archive_id {
        let _ = writeln!(out, "archive id: {}", printable(a));
    }
    if let Some(f) = &j.output_file {
        let _ = writeln!(out, "output file: {}", printable(f));
    }
    if j.progress.bad_bytes > 0 {
        let _ = writeln!(out, "bad bytes: {} in {} areas", size(j.progress.bad_bytes), j.progress.bad_areas);
    }
    if j.error.is_some() || j.error_code.is_some() {
        let _ = writeln!(out, "error: {}", printable(&error_text(j)));
    }
    out
}

pub fn archives_table(list: &ArchiveList) -> String {
    let mut t = Table::new(&["ID", "NAME", "SIZE", "CREATED", "SHA256", "LABEL", "TAGS"]);
    for a in &list.archives {
        t.row([
            a.id.clone(),
            a.name.clone(),
            size(a.size_bytes),
            a.created_at.clone(),
            short_hash(&a.checksums.sha256),
            or_dash(a.label.as_deref()),
            list_or_dash(&a.tags),
        ]);
    }
    let mut out = t.render();
    out.push_str(&page_note(list.archives.len(), list.offset, list.total));
    out
}

/// `archive show`: the entry, then its verification history (oldest first, as corenasd sends it).
pub fn archive_block(a: &ArchiveInfo) -> String {
    let mut out = key_values(&[
        ("id", a.id.clone()),
        ("job id", a.job_id.clone()),
        ("name", a.name.clone()),
        ("filename", a.filename.clone()),
        ("path", a.path.clone()),
        ("size", size_exact(a.size_bytes)),
        ("created", a.created_at.clone()),
        ("sha256", a.checksums.sha256.clone()),
        ("md5", or_dash(a.checksums.md5.as_deref())),
        ("bad bytes", size_exact(a.bad_bytes)),
        ("source device", a.source_device.clone()),
        ("source model", or_dash(a.source_model.as_deref())),
        ("source serial", or_dash(a.source_serial.as_deref())),
        ("label", or_dash(a.label.as_deref())),
        ("tags", if a.tags.is_empty() { "-".to_owned() } else { a.tags.join(", ") }),
        ("notes", if a.notes.is_empty() { "-".to_owned() } else { a.notes.clone() }),
    ]);
    if a.verifications.is_empty() {
        out.push_str("verifications: none\n");
    } else {
        out.push_str("verifications:\n");
        let mut t = Table::new(&["TIME", "RESULT", "DETAIL"]);
        for v in &a.verifications {
            t.row([v.time.clone(), v.result.clone(), v.detail.clone()]);
        }
        for line in t.render().lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

fn media(d: &DeviceInfo) -> String {
    match (&d.medium, d.has_media) {
        (Some(m), _) => {
            let label = m.label.as_deref().map_or(String::new(), |l| format!("{l} "));
            format!("{label}({}, {})", m.format, size(m.size_bytes))
        }
        (None, true) => "present".to_owned(),
        (None, false) => "-".to_owned(),
    }
}

pub fn devices_table(devices: &[DeviceInfo]) -> String {
    let mut t = Table::new(&["PATH", "KIND", "MODEL", "SERIAL", "SIZE", "REMOVABLE", "MEDIA", "IN USE", "JOB"]);
    for d in devices {
        t.row([
            d.path.clone(),
            d.kind.clone(),
            or_dash(d.model.as_deref()),
            or_dash(d.serial.as_deref()),
            size(d.size_bytes),
            yes_no(d.removable).to_owned(),
            media(d),
            if d.in_use.is_empty() { "-".to_owned() } else { d.in_use.join("; ") },
            or_dash(d.job.as_deref()),
        ]);
    }
    t.render()
}

pub fn policy_block(p: &ImagingPolicy) -> String {
    key_values(&[
        ("auto start", if p.auto_start { "on" } else { "off" }.to_owned()),
        ("watch", if p.watch.is_empty() { "optical drives only".to_owned() } else { p.watch.join(", ") }),
    ])
}

fn generated_note(p: &Password) -> String {
    format!("generated password (shown once; corenasd keeps no copy): {}\n", p.expose())
}

/// Each line of `text` behind `first` (the first line) or `rest` (the others), with control
/// and bidi characters escaped: line breaks separate lines, they are never passed through.
fn indented(text: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.split('\n').enumerate() {
        let _ = writeln!(out, "{}{}", if i == 0 { first } else { rest }, printable_lines(line));
    }
    out
}

/// One step of a change, two spaces in; a step of several lines (a file and its diff) has its
/// further lines four spaces in.
fn step_text(step: &Step) -> String {
    indented(&step.to_string(), "  ", "    ")
}

/// `warning: …` lines, one per warning, after everything else a change prints.
fn warnings_text(warnings: &[String]) -> String {
    warnings.iter().map(|w| indented(w, "warning: ", "         ")).collect()
}

/// A change as corenasd sent it, plus the generated password in clear, this once.
#[derive(Serialize)]
struct ChangeDocument<'a, T> {
    #[serde(flatten)]
    change: &'a Change<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
}

/// A `Change<T>`: the steps that ran (or would run), then the result rendered by `result`.
/// In JSON a generated password, redacted by its own serializer, is added as `"password"`.
pub fn change_report<T: Serialize>(change: &Change<T>, result: impl Fn(&T) -> String) -> Result<Report, CtlError> {
    let mut human = String::new();
    if change.dry_run {
        human.push_str("dry run: nothing changed; would run:\n");
    } else if change.steps.is_empty() {
        human.push_str("done; nothing needed to change\n");
    } else {
        human.push_str("done; ran:\n");
    }
    for step in &change.steps {
        human.push_str(&step_text(step));
    }
    if change.dry_run && change.steps.is_empty() {
        human.push_str("  (no steps: nothing would change)\n");
    }
    if let (false, Some(r)) = (change.dry_run, &change.result) {
        human.push_str(&result(r));
    }
    if let Some(p) = &change.generated_password {
        human.push_str(&generated_note(p));
    }
    human.push_str(&warnings_text(&change.warnings));
    let doc = to_json(&ChangeDocument { change, password: change.generated_password.as_ref().map(Password::expose) })?;
    Ok(Report::ok(human, doc))
}

/// An imaging change. Most of them are corenasd's own work (the queue, a job's state, archive
/// records) rather than helper steps, so an empty step list does not mean nothing happened:
/// `action` says what was (or would be) done, and the result shows the outcome.
pub fn imaging_change_report<T: Serialize>(
    change: &Change<T>,
    action: &str,
    result: impl Fn(&T) -> String,
) -> Result<Report, CtlError> {
    let mut human = String::new();
    if change.dry_run {
        let _ = write!(human, "dry run: nothing changed; would {}", printable(action));
        human.push_str(if change.steps.is_empty() { "\n" } else { ", running:\n" });
    } else if !change.steps.is_empty() {
        human.push_str("ran:\n");
    }
    for step in &change.steps {
        human.push_str(&step_text(step));
    }
    match (change.dry_run, &change.result) {
        (true, _) => {}
        (false, Some(r)) => human.push_str(&result(r)),
        (false, None) => {
            let _ = writeln!(human, "done: {}", printable(action));
        }
    }
    human.push_str(&warnings_text(&change.warnings));
    Ok(Report::ok(human, to_json(change)?))
}

// ---- shares and mounts ---------------------------------------------------------------------

fn protocols(d: &ShareDef) -> &'static str {
    match (d.smb.is_some(), d.nfs.is_some()) {
        (true, true) => "smb,nfs",
        (true, false) => "smb",
        (false, true) => "nfs",
        (false, false) => "-",
    }
}

/// The settings that differ from a plain writable share, in a few words.
fn share_flags(d: &ShareDef) -> String {
    let mut flags = Vec::new();
    if let Some(o) = &d.smb {
        for (on, flag) in [
            (o.read_only, "ro"),
            (!o.browseable, "hidden"),
            (o.guest_ok, "guest"),
            (o.recycle, "recycle"),
            (o.audit, "audit"),
            (!o.hide_dot_files, "dotfiles"),
        ] {
            if on {
                flags.push(flag.to_owned());
            }
        }
        if let Some(layout) = o.previous_versions {
            flags.push(format!("versions:{}", layout.as_str()));
        }
    }
    if let Some(n) = &d.nfs {
        if !n.rules.is_empty() && n.rules.iter().all(|r| r.read_only) {
            flags.push("nfs-ro".to_owned());
        }
        if n.rules.iter().any(|r| r.no_root_squash) {
            flags.push("no_root_squash".to_owned());
        }
    }
    if flags.is_empty() { "-".to_owned() } else { flags.join(",") }
}

fn access_text(s: &ShareInfo) -> String {
    s.access.as_ref().map_or_else(|| "-".to_owned(), |a| a.describe())
}

pub fn shares_table(shares: &[ShareInfo]) -> String {
    let mut t = Table::new(&["NAME", "PATH", "PROTOCOLS", "FLAGS", "ACCESS"]);
    for s in shares {
        let d = &s.def;
        t.row([d.name.to_string(), d.path.to_string(), protocols(d).to_owned(), share_flags(d), access_text(s)]);
    }
    t.render()
}

fn names<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() { "-".to_owned() } else { items.iter().map(T::to_string).collect::<Vec<_>>().join(", ") }
}

fn smb_pairs(o: &SmbOptions) -> Vec<(&'static str, String)> {
    let everyone = o.valid_users.is_empty() && o.valid_groups.is_empty();
    vec![
        ("read only", yes_no(o.read_only).to_owned()),
        ("browseable", yes_no(o.browseable).to_owned()),
        ("valid users", if everyone { "any authenticated user".to_owned() } else { names(&o.valid_users) }),
        ("valid groups", names(&o.valid_groups)),
        ("admin users", names(&o.admin_users)),
        ("guest access", yes_no(o.guest_ok).to_owned()),
        ("recycle bin", yes_no(o.recycle).to_owned()),
        ("previous versions", o.previous_versions.map_or_else(|| "no".to_owned(), |l| l.as_str().to_owned())),
        ("audit", yes_no(o.audit).to_owned()),
        ("hide dot files", yes_no(o.hide_dot_files).to_owned()),
        ("create mask", o.create_mask.to_string()),
        ("directory mask", o.directory_mask.to_string()),
    ]
}

fn indent_block(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

/// `share show` and the result of a share change: every field, SMB and NFS in their own blocks.
pub fn share_block(s: &ShareInfo) -> String {
    let d = &s.def;
    let mut out = key_values(&[
        ("name", d.name.to_string()),
        ("path", d.path.to_string()),
        ("protocols", protocols(d).replace(',', ", ")),
        ("access", access_text(s)),
        ("created", s.created.clone()),
        ("modified", s.modified.clone()),
    ]);
    match &d.smb {
        None => out.push_str("smb: off\n"),
        Some(o) => {
            out.push_str("smb:\n");
            out.push_str(&indent_block(&key_values(&smb_pairs(o))));
        }
    }
    match &d.nfs {
        None => out.push_str("nfs: off\n"),
        Some(n) => {
            out.push_str("nfs clients:\n");
            let mut t = Table::new(&["CLIENT", "ACCESS", "ROOT"]);
            for r in &n.rules {
                t.row([
                    r.client.as_str(),
                    if r.read_only { "ro" } else { "rw" },
                    if r.no_root_squash { "no_root_squash" } else { "root_squash" },
                ]);
            }
            out.push_str(&indent_block(&t.render()));
        }
    }
    out
}

/// `share homes on|off`.
pub fn homes_line(on: &bool) -> String {
    format!("homes share: {}\n", if *on { "on" } else { "off" })
}

/// `share config`: each file's path, then its text two spaces in; then what NFS exports now.
pub fn share_config_text(c: &ShareConfig) -> String {
    let mut out = String::new();
    for (what, path, text) in
        [("SMB include file", &c.smb_file, &c.smb_text), ("NFS exports file", &c.nfs_file, &c.nfs_text)]
    {
        let _ = writeln!(out, "{what}: {}", printable(path));
        let text = text.trim_end_matches('\n');
        if text.is_empty() {
            out.push_str("  (empty)\n");
        } else {
            out.push_str(&indented(text, "  ", "  "));
        }
    }
    match &c.nfs_exported {
        Ok(lines) if lines.is_empty() => out.push_str("NFS exported now: nothing\n"),
        Ok(lines) => {
            out.push_str("NFS exported now:\n");
            for l in lines {
                out.push_str(&indented(l, "  ", "  "));
            }
        }
        Err(why) => {
            let _ = writeln!(out, "NFS exported now: unknown ({})", printable(why));
        }
    }
    out
}

/// What a mount's source looks like on a command line: a device, a path, HOST:/path, //HOST/SHARE.
pub fn mount_source(s: &MountSource) -> String {
    match s {
        MountSource::Local { device, .. } => device.to_string(),
        MountSource::Bind { source } => source.to_string(),
        MountSource::Nfs { server, export, .. } if server.as_str().contains(':') => format!("[{server}]:{export}"),
        MountSource::Nfs { server, export, .. } => format!("{server}:{export}"),
        MountSource::Cifs { server, share, .. } => format!("//{server}/{share}"),
        MountSource::Zfs { .. } => s.zfs_name().unwrap_or_default(),
    }
}

fn mount_type(s: &MountSource) -> &'static str {
    match s {
        MountSource::Local { fs, .. } => fs.as_str(),
        other => other.kind(),
    }
}

/// Text cut to `max` characters, with `…` when cut.
fn shortened(s: &str, max: usize) -> String {
    if s.chars().count() > max { format!("{}…", s.chars().take(max).collect::<String>()) } else { s.to_owned() }
}

fn unit_state(m: &MountInfo, short: bool) -> String {
    match &m.state {
        Ok(u) => format!("{}/{}", u.active_state, u.sub_state),
        Err(e) if short => shortened(e, 40),
        Err(e) => format!("unknown: {e}"),
    }
}

pub fn mounts_table(mounts: &[MountInfo]) -> String {
    let mut t = Table::new(&["TARGET", "TYPE", "SOURCE", "UNIT", "STATE", "RETRIES"]);
    for m in mounts {
        t.row([
            m.def.target.to_string(),
            mount_type(&m.def.source).to_owned(),
            mount_source(&m.def.source),
            m.unit.clone(),
            unit_state(m, true),
            m.retries.to_string(),
        ]);
    }
    t.render()
}

/// `mount status` and the result of `mount add`: the definition, then what systemd says.
pub fn mount_block(m: &MountInfo) -> String {
    let d = &m.def;
    let mut pairs = vec![
        ("target", d.target.to_string()),
        ("type", mount_type(&d.source).to_owned()),
        ("source", mount_source(&d.source)),
    ];
    match &d.source {
        MountSource::Nfs { version, .. } => {
            pairs.push(("nfs version", version.map_or_else(|| "negotiated".to_owned(), |v| v.as_str().to_owned())));
        }
        MountSource::Cifs { credentials, .. } => pairs.push((
            "login",
            match credentials {
                None => "guest".to_owned(),
                Some(c) => match &c.domain {
                    Some(domain) => format!("{} (domain {domain})", c.user),
                    None => c.user.to_string(),
                },
            },
        )),
        MountSource::Local { .. } | MountSource::Bind { .. } | MountSource::Zfs { .. } => {}
    }
    pairs.extend([
        ("options", names(&d.flags.iter().map(|f| f.as_str()).collect::<Vec<_>>())),
        ("automount", yes_no(d.automount).to_owned()),
        ("temporary", yes_no(d.temporary).to_owned()),
        ("timeout", format!("{} s", d.timeout_secs)),
        ("unit", m.unit.clone()),
        ("unit file", m.unit_file.clone()),
        ("state", unit_state(m, false)),
    ]);
    if let Ok(u) = &m.state {
        pairs.extend([("load state", u.load_state.clone()), ("result", u.result.clone())]);
    }
    pairs.extend([
        ("retries", m.retries.to_string()),
        ("last error", or_dash(m.last_error.as_deref())),
        ("created", m.created.clone()),
    ]);
    key_values(&pairs)
}

// ---- storage and devices -------------------------------------------------------------------

fn size_or_dash(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "-".to_owned(), size)
}

pub fn percent_or_dash(p: Option<f64>) -> String {
    p.map_or_else(|| "-".to_owned(), percent)
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM UTC` (proleptic Gregorian, days to civil).
fn utc_time(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rem / 3600, rem / 60 % 60)
}

fn time_or_dash(secs: Option<i64>) -> String {
    secs.map_or_else(|| "-".to_owned(), utc_time)
}

/// How a pool's devices are combined, in a few words: `mirror`, `data raid1, metadata raid1`, `ext4`.
pub fn layout_text(l: &PoolLayout) -> String {
    match l {
        PoolLayout::Zfs { layout, .. } => layout.as_str().to_owned(),
        PoolLayout::Btrfs { data, metadata, .. } => format!("data {data}, metadata {metadata}"),
        PoolLayout::Single { fs } => fs.as_str().to_owned(),
    }
}

/// A pool definition (what `storage create` sends or a template holds) as `key: value` pairs.
pub fn pool_spec_pairs(s: &PoolSpec) -> Vec<(&'static str, String)> {
    let mut pairs = vec![
        ("name", s.name.to_string()),
        ("type", s.layout.backend().as_str().to_owned()),
        ("layout", layout_text(&s.layout)),
    ];
    match &s.layout {
        PoolLayout::Zfs { ashift, properties, .. } => {
            pairs.push(("ashift", ashift.map_or_else(|| "chosen by ZFS".to_owned(), |a| a.to_string())));
            let props: Vec<String> = properties.iter().map(ZfsProperty::assignment).collect();
            pairs.push(("properties", if props.is_empty() { "-".to_owned() } else { props.join(", ") }));
        }
        PoolLayout::Btrfs { compression, .. } => {
            pairs.push(("compression", compression.map_or_else(|| "off".to_owned(), |c| c.as_str().to_owned())));
        }
        PoolLayout::Single { .. } => {}
    }
    pairs.push(("devices", names(&s.devices)));
    pairs.push(("mountpoint", s.name.mount_target().to_string()));
    if s.force {
        pairs.push(("force", "yes: existing signatures are overwritten".to_owned()));
    }
    pairs
}

pub fn pool_spec_text(s: &PoolSpec) -> String {
    key_values(&pool_spec_pairs(s))
}

pub fn pools_table(pools: &[PoolInfo]) -> String {
    let mut t = Table::new(&["NAME", "TYPE", "HEALTH", "SIZE", "USED", "FREE", "MOUNTPOINT"]);
    for p in pools {
        let mountpoint = if p.mounted { p.mountpoint.clone() } else { format!("{} (not mounted)", p.mountpoint) };
        t.row([
            p.name.clone(),
            p.backend.as_str().to_owned(),
            p.health.clone(),
            size_or_dash(p.size_bytes),
            size_or_dash(p.used_bytes),
            size_or_dash(p.free_bytes),
            mountpoint,
        ]);
    }
    t.render()
}

fn scrub_text(s: Option<&ScrubStatus>) -> String {
    let Some(s) = s else { return "never run".to_owned() };
    let mut parts = Vec::new();
    if s.running {
        parts.push(format!("running, {}", percent_or_dash(s.percent)));
    }
    if let Some(summary) = &s.summary {
        parts.push(summary.clone());
    }
    if let Some(e) = s.errors {
        parts.push(format!("{e} errors"));
    }
    if parts.is_empty() { "-".to_owned() } else { parts.join("; ") }
}

/// `storage show` and the result of `storage create`: the pool, its members, scrub and notes.
pub fn pool_block(p: &PoolInfo) -> String {
    let mut pairs = vec![
        ("name", p.name.clone()),
        ("type", p.backend.as_str().to_owned()),
        ("layout", p.layout.as_ref().map_or_else(|| "- (not created by CoreNAS)".to_owned(), layout_text)),
        ("health", p.health.clone()),
        ("size", size_or_dash(p.size_bytes)),
        ("used", size_or_dash(p.used_bytes)),
        ("free", size_or_dash(p.free_bytes)),
        ("mountpoint", p.mountpoint.clone()),
        ("mounted", yes_no(p.mounted).to_owned()),
        ("scrub", scrub_text(p.scrub.as_ref())),
        ("created", or_dash(p.created.as_deref())),
    ];
    if let Some(PoolLayout::Zfs { properties, .. }) = &p.layout {
        if !properties.is_empty() {
            pairs.push(("properties", properties.iter().map(ZfsProperty::assignment).collect::<Vec<_>>().join(", ")));
        }
    }
    if let Some(PoolLayout::Btrfs { compression: Some(c), .. }) = &p.layout {
        pairs.push(("compression", c.as_str().to_owned()));
    }
    let mut out = key_values(&pairs);
    if p.members.is_empty() {
        out.push_str("members: none reported\n");
    } else {
        out.push_str("members:\n");
        let mut t = Table::new(&["DEVICE", "STATE", "READ", "WRITE", "CKSUM"]);
        for m in &p.members {
            let [r, w, c] =
                m.errors.map_or_else(|| ["-".to_owned(), "-".to_owned(), "-".to_owned()], |e| e.map(|n| n.to_string()));
            t.row([m.device.clone(), m.state.clone(), r, w, c]);
        }
        out.push_str(&indent_block(&t.render()));
    }
    if !p.notes.is_empty() {
        out.push_str("notes:\n");
        for n in &p.notes {
            out.push_str(&indented(n, "  ", "  "));
        }
    }
    out
}

fn properties_text(props: &[(String, String)]) -> String {
    if props.is_empty() {
        "-".to_owned()
    } else {
        props.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
    }
}

pub fn datasets_table(datasets: &[DatasetInfo]) -> String {
    let mut t = Table::new(&["NAME", "USED", "AVAIL", "REFER", "MOUNTPOINT", "PROPERTIES"]);
    for d in datasets {
        t.row([
            d.name.clone(),
            size_or_dash(d.used_bytes),
            size_or_dash(d.available_bytes),
            size_or_dash(d.referenced_bytes),
            d.mountpoint.clone(),
            properties_text(&d.properties),
        ]);
    }
    t.render()
}

/// The result of `storage dataset create` and `set`.
pub fn dataset_block(d: &DatasetInfo) -> String {
    key_values(&[
        ("name", d.name.clone()),
        ("used", size_or_dash(d.used_bytes)),
        ("available", size_or_dash(d.available_bytes)),
        ("referenced", size_or_dash(d.referenced_bytes)),
        ("mountpoint", d.mountpoint.clone()),
        ("properties", properties_text(&d.properties)),
    ])
}

pub fn snapshots_table(snapshots: &[SnapshotInfo]) -> String {
    let mut t = Table::new(&["NAME", "CREATED", "USED"]);
    for s in snapshots {
        t.row([format!("{}@{}", s.dataset, s.name), time_or_dash(s.created), size_or_dash(s.used_bytes)]);
    }
    t.render()
}

/// The result of `storage snapshot create`.
pub fn snapshot_line(s: &SnapshotInfo) -> String {
    format!("snapshot {}@{} ({})\n", printable(&s.dataset), printable(&s.name), time_or_dash(s.created))
}

pub fn schedules_table(schedules: &[ScheduleInfo]) -> String {
    let mut t = Table::new(&["DATASET", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "LAST RUN", "LAST RESULT"]);
    for s in schedules {
        let k = &s.keep;
        t.row([
            s.dataset.clone(),
            k.hourly.to_string(),
            k.daily.to_string(),
            k.weekly.to_string(),
            k.monthly.to_string(),
            or_dash(s.last_run.as_deref()),
            or_dash(s.last_result.as_deref()),
        ]);
    }
    t.render()
}

/// The result of `storage snapshot schedule`.
pub fn schedule_block(s: &ScheduleInfo) -> String {
    let k = &s.keep;
    let keep = if k.is_empty() {
        "nothing (the schedule is removed)".to_owned()
    } else {
        format!("{} hourly, {} daily, {} weekly, {} monthly", k.hourly, k.daily, k.weekly, k.monthly)
    };
    key_values(&[
        ("dataset", s.dataset.clone()),
        ("keep", keep),
        ("last run", or_dash(s.last_run.as_deref())),
        ("last result", or_dash(s.last_result.as_deref())),
    ])
}

/// The result of `storage snapshot run-schedules`: what was done, one line each.
pub fn schedule_run_text(done: &[String]) -> String {
    if done.is_empty() {
        return "no schedule was due\n".to_owned();
    }
    done.iter().map(|d| indented(d, "", "  ")).collect()
}

pub fn storage_jobs_table(jobs: &[StorageJob]) -> String {
    let mut t = Table::new(&["ID", "KIND", "TARGET", "STATE", "PROGRESS", "STARTED", "FINISHED", "MESSAGE"]);
    for j in jobs {
        t.row([
            j.id.clone(),
            j.kind.clone(),
            j.target.clone(),
            j.state.clone(),
            percent_or_dash(j.percent),
            j.started.clone(),
            or_dash(j.finished.as_deref()),
            or_dash(j.message.as_deref()),
        ]);
    }
    t.render()
}

pub fn storage_job_block(j: &StorageJob) -> String {
    key_values(&[
        ("id", j.id.clone()),
        ("kind", j.kind.clone()),
        ("target", j.target.clone()),
        ("state", j.state.clone()),
        ("progress", percent_or_dash(j.percent)),
        ("message", or_dash(j.message.as_deref())),
        ("started", j.started.clone()),
        ("finished", or_dash(j.finished.as_deref())),
    ])
}

/// One line about a job a change started (scrub, self-test, wipe) or cancelled.
pub fn storage_job_line(j: &StorageJob) -> String {
    let id = printable(&j.id);
    let mut out = format!("job {id}: {} of {}, {}\n", printable(&j.kind), printable(&j.target), printable(&j.state));
    if j.state == "running" {
        let _ = writeln!(out, "`corenas-ctl storage job wait {id}` follows it");
    }
    out
}

/// `storage job wait` and `--wait`: one line per change of the job.
pub fn storage_progress_line(j: &StorageJob) -> String {
    let mut line = format!(
        "{:>6}  {} {}  {}",
        percent_or_dash(j.percent),
        printable(&j.kind),
        printable(&j.target),
        printable(&j.state)
    );
    if let Some(m) = &j.message {
        let _ = write!(line, "  {}", printable(m));
    }
    line.push('\n');
    line
}

/// How a followed storage job ended, for people.
pub fn storage_job_end(j: &StorageJob) -> String {
    let mut out = format!(
        "job {} ({} of {}) {}\n",
        printable(&j.id),
        printable(&j.kind),
        printable(&j.target),
        printable(&j.state)
    );
    if let Some(m) = &j.message {
        let _ = writeln!(out, "message: {}", printable(m));
    }
    out
}

/// HDD or SSD by the rotational flag; an optical drive is neither.
fn device_type(d: &devices::DeviceInfo) -> &'static str {
    match (d.kind, d.rotational) {
        (devices::DeviceKind::Optical, _) => "optical",
        (_, true) => "HDD",
        (_, false) => "SSD",
    }
}

fn fs_text(fs_type: Option<&str>, label: Option<&str>) -> String {
    match (fs_type, label) {
        (Some(t), Some(l)) => format!("{t} ({l})"),
        (Some(t), None) => t.to_owned(),
        (None, _) => "-".to_owned(),
    }
}

fn uses_text(uses: &[devices::DeviceUse]) -> String {
    if uses.is_empty() { "-".to_owned() } else { uses.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ") }
}

/// `device erase-options`: what the firmware offers, what `--method secure` uses, and why not.
pub fn erase_support_block(e: &devices::EraseSupport) -> String {
    let mut out = String::new();
    let offered: Vec<&str> = e.offered.iter().map(|f| f.as_str()).collect();
    let _ = writeln!(out, "device:    {}", devices::shown(&e.device));
    let _ = writeln!(out, "offered:   {}", if offered.is_empty() { "none".to_owned() } else { offered.join(", ") });
    let chosen = e.chosen.map_or("a secure discard (blkdiscard --secure)", |c| c.as_str());
    let _ = writeln!(out, "--method secure uses: {chosen}");
    if let Some(m) = e.estimate_minutes {
        let _ = writeln!(out, "the device estimates: {m} min");
    }
    for n in &e.notes {
        let _ = writeln!(out, "note: {}", devices::shown(n));
    }
    out
}

/// `device events`: one row per event, then the number to continue from.
pub fn device_events_table(got: &devices::DeviceEvents) -> String {
    let mut t = Table::new(&["SEQ", "TIME", "DEVICE", "EVENT"]);
    for e in &got.events {
        t.row([e.seq.to_string(), devices::shown(&e.at), devices::shown(&e.device), e.kind.to_string()]);
    }
    let mut out = if got.events.is_empty() { "no device events\n".to_owned() } else { t.render() };
    if got.missed > 0 {
        let _ = writeln!(out, "{} older events are no longer kept: read the inventory again", got.missed);
    }
    let _ = writeln!(out, "next: {} (continue with --after {})", got.next, got.next);
    out
}

/// One event of `device events --follow`.
pub fn device_event_line(e: &devices::DeviceEventEntry) -> String {
    format!("{} {} {} {}", e.seq, devices::shown(&e.at), devices::shown(&e.device), e.kind)
}

/// `device list`: one row per device, its partitions indented below it.
pub fn device_inventory_table(list: &[devices::DeviceInfo]) -> String {
    let mut t = Table::new(&["NAME", "SIZE", "MODEL", "SERIAL", "TYPE", "TRANSPORT", "FS", "USES"]);
    for d in list {
        t.row([
            d.name.clone(),
            size(d.size_bytes),
            or_dash(d.model.as_deref()),
            or_dash(d.serial.as_deref()),
            device_type(d).to_owned(),
            or_dash(d.transport.as_deref()),
            fs_text(d.fs_type.as_deref(), d.fs_label.as_deref()),
            uses_text(&d.uses),
        ]);
        for p in &d.partitions {
            t.row([
                format!("  {}", p.name),
                size(p.size_bytes),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                fs_text(p.fs_type.as_deref(), p.fs_label.as_deref()),
                uses_text(&p.uses),
            ]);
        }
    }
    t.render()
}

/// One line naming a device, e.g. before a wipe: `sdb: WDC WD40EFRX, serial WD-1, 3.6 TiB, HDD`.
pub fn device_line(d: &devices::DeviceInfo) -> String {
    format!(
        "device {}: {}, serial {}, {}, {}\n",
        printable(&d.path),
        printable(d.model.as_deref().unwrap_or("unknown model")),
        printable(d.serial.as_deref().unwrap_or("none")),
        size(d.size_bytes),
        device_type(d)
    )
}

/// `device show`: every field, then the partitions.
pub fn device_block(d: &devices::DeviceInfo) -> String {
    let mut out = key_values(&[
        ("name", d.name.clone()),
        ("path", d.path.clone()),
        ("by-id", if d.by_id.is_empty() { "-".to_owned() } else { d.by_id.join(", ") }),
        ("kind", d.kind.as_str().to_owned()),
        ("type", device_type(d).to_owned()),
        ("model", or_dash(d.model.as_deref())),
        ("vendor", or_dash(d.vendor.as_deref())),
        ("serial", or_dash(d.serial.as_deref())),
        ("size", size_exact(d.size_bytes)),
        ("sectors", format!("{} B logical, {} B physical", d.logical_sector, d.physical_sector)),
        ("transport", or_dash(d.transport.as_deref())),
        ("removable", yes_no(d.removable).to_owned()),
        ("read only", yes_no(d.read_only).to_owned()),
        ("backing file", or_dash(d.backing_file.as_deref())),
        ("filesystem", fs_text(d.fs_type.as_deref(), d.fs_label.as_deref())),
        ("fs uuid", or_dash(d.fs_uuid.as_deref())),
        ("uses", uses_text(&d.uses)),
        ("in use", if d.in_use() { d.all_uses().join("; ") } else { "no".to_owned() }),
    ]);
    if d.partitions.is_empty() {
        out.push_str("partitions: none\n");
    } else {
        out.push_str("partitions:\n");
        let mut t = Table::new(&["#", "NAME", "SIZE", "FS", "UUID", "USES"]);
        for p in &d.partitions {
            t.row([
                p.number.to_string(),
                p.name.clone(),
                size(p.size_bytes),
                fs_text(p.fs_type.as_deref(), p.fs_label.as_deref()),
                or_dash(p.fs_uuid.as_deref()),
                uses_text(&p.uses),
            ]);
        }
        out.push_str(&indent_block(&t.render()));
    }
    out
}

fn health_text(r: &SmartReport) -> String {
    let verdict = match r.health_passed {
        Some(true) => "passed",
        Some(false) => "FAILING (the drive says so)",
        None => "unknown",
    };
    if r.needs_attention() && r.health_passed != Some(false) {
        format!("{verdict}; needs attention")
    } else {
        verdict.to_owned()
    }
}

fn count_or_dash(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |n| n.to_string())
}

/// `device smart`: the verdict and the counters that matter, then the self-test log.
pub fn smart_block(r: &SmartReport) -> String {
    if !r.available {
        return key_values(&[
            ("device", r.device.clone()),
            ("smart", format!("not available: {}", r.message.as_deref().unwrap_or("smartctl could not read it"))),
        ]);
    }
    let mut pairs = vec![
        ("device", r.device.clone()),
        ("health", health_text(r)),
        ("protocol", or_dash(r.protocol.as_deref())),
        ("model", or_dash(r.model.as_deref())),
        ("serial", or_dash(r.serial.as_deref())),
        ("firmware", or_dash(r.firmware.as_deref())),
        ("capacity", size_or_dash(r.capacity_bytes)),
        ("temperature", r.temperature_c.map_or_else(|| "-".to_owned(), |t| format!("{t} °C"))),
        ("power-on hours", count_or_dash(r.power_on_hours)),
        ("reallocated sectors", count_or_dash(r.reallocated_sectors)),
        ("pending sectors", count_or_dash(r.pending_sectors)),
        ("offline uncorrectable", count_or_dash(r.offline_uncorrectable)),
    ];
    if r.protocol.as_deref() == Some("NVMe") || r.nvme_critical_warning.is_some() {
        pairs.extend([
            ("nvme critical warning", count_or_dash(r.nvme_critical_warning)),
            ("nvme percentage used", r.nvme_percentage_used.map_or_else(|| "-".to_owned(), |p| format!("{p}%"))),
            ("nvme media errors", count_or_dash(r.nvme_media_errors)),
        ]);
    }
    let self_test = match &r.self_test {
        None => "-".to_owned(),
        Some(s) if s.in_progress => match s.percent_remaining {
            Some(p) => format!("in progress, {p}% remaining"),
            None => "in progress".to_owned(),
        },
        Some(s) => or_dash(s.last_result.as_deref()),
    };
    pairs.extend([
        ("self-test", self_test),
        ("collected", time_or_dash(r.collected_at)),
        ("smartctl problems", if r.exit_problems.is_empty() { "none".to_owned() } else { r.exit_problems.join("; ") }),
    ]);
    if let Some(m) = &r.message {
        pairs.push(("message", m.clone()));
    }
    let mut out = key_values(&pairs);
    if !r.self_test_log.is_empty() {
        out.push_str("self-test log:\n");
        let mut t = Table::new(&["KIND", "STATUS", "PASSED", "AT HOUR"]);
        for e in &r.self_test_log {
            t.row([e.kind.clone(), e.status.clone(), yes_no(e.passed).to_owned(), count_or_dash(e.lifetime_hours)]);
        }
        out.push_str(&indent_block(&t.render()));
    }
    out
}

/// `device smart --history`: one row per stored report, newest first.
pub fn smart_history_table(reports: &[SmartReport]) -> String {
    let mut t = Table::new(&["COLLECTED", "HEALTH", "TEMP", "HOURS", "REALLOC", "PENDING", "SELF-TEST"]);
    for r in reports {
        let health = if r.available { health_text(r) } else { "not available".to_owned() };
        t.row([
            time_or_dash(r.collected_at),
            health,
            r.temperature_c.map_or_else(|| "-".to_owned(), |c| format!("{c} °C")),
            count_or_dash(r.power_on_hours),
            count_or_dash(r.reallocated_sectors),
            count_or_dash(r.pending_sectors),
            r.self_test_log.first().map_or_else(|| "-".to_owned(), |e| format!("{}: {}", e.kind, e.status)),
        ]);
    }
    t.render()
}

/// `user gen-password`: only the password, so that `$(corenas-ctl user gen-password)` works.
pub fn password_report(p: &Password) -> Report {
    Report::ok(format!("{}\n", p.expose()), json!({ "password": p.expose() }).to_string())
}

/// Nothing to print for `Change<()>` results.
pub fn nothing(_: &()) -> String {
    String::new()
}

/// Where progress lines go while a job is followed: stdout for people; with `--json` stdout
/// carries only the final document, so the lines go to stderr, and only when someone watches it.
pub fn progress_printer<T>(json: bool, line: impl Fn(&T) -> String) -> impl FnMut(&T) {
    use std::io::{IsTerminal, Write};
    let to_stderr = json && std::io::stderr().is_terminal();
    move |job| {
        let text = line(job);
        if !json {
            print_stdout(&text);
        } else if to_stderr {
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(text.as_bytes()).and_then(|()| stderr.flush());
        }
    }
}

/// Live output while a command runs. A reader that went away (`| head`) is not an error here;
/// the final report notices it too.
pub fn print_stdout(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::ErrorCode;
    use corenas_proto::acl::AclPerms;
    use corenas_proto::helper::{StdinPlan, Step};

    fn user(name: &str, groups: &[&str], full_name: &str) -> UserInfo {
        UserInfo {
            name: name.into(),
            uid: 50001,
            gid: 50001,
            kind: Some(AccountKind::ShareUser),
            full_name: full_name.into(),
            home: format!("/home/{name}"),
            shell: "/usr/sbin/nologin".into(),
            locked: false,
            smb: SmbAccountState::Enabled,
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    #[test]
    fn tables_align_columns_and_leave_no_trailing_space() {
        let mut t = Table::new(&["NAME", "ID", "NOTE"]);
        t.row(["alice", "50001", "first user"]);
        t.row(["bo", "7", ""]);
        assert_eq!(t.render(), "NAME   ID     NOTE\nalice  50001  first user\nbo     7\n");
    }

    #[test]
    fn tables_pad_short_rows_and_count_characters_not_bytes() {
        let mut t = Table::new(&["A", "B", "C"]);
        t.row(["é", "x"]);
        t.row(["ab", "y", "z"]);
        assert_eq!(t.render(), "A   B  C\né   x\nab  y  z\n");
    }

    #[test]
    fn tables_escape_terminal_control_characters() {
        let mut t = Table::new(&["NAME", "FULL NAME"]);
        t.row(["eve", "Eve\u{1b}[2J\u{202e}gpj.exe"]);
        let out = t.render();
        assert!(!out.contains('\u{1b}') && !out.contains('\u{202e}'), "{out}");
        assert!(out.contains("Eve\\u{1b}[2J\\u{202e}gpj.exe"), "{out}");
    }

    #[test]
    fn error_messages_keep_lines_but_not_escapes() {
        assert_eq!(printable_lines("useradd: failed\n\tline 2"), "useradd: failed\n\tline 2");
        assert_eq!(printable_lines("a\u{1b}]0;title\u{7}b"), "a\\u{1b}]0;title\\u{7}b");
        assert_eq!(printable("a\nb"), "a\\u{a}b");
    }

    #[test]
    fn the_users_table_has_the_documented_columns() {
        let out = users_table(&[user("alice", &["staff", "media"], "Alice Example"), user("bob", &[], "")]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "NAME   UID    KIND   GROUPS       LOCKED  SMB      FULL NAME");
        assert_eq!(lines[1], "alice  50001  share  staff,media  no      enabled  Alice Example");
        assert_eq!(lines[2], "bob    50001  share  -            no      enabled");
    }

    #[test]
    fn the_groups_table_has_the_documented_columns() {
        let g = GroupInfo {
            name: "staff".into(),
            gid: 10000,
            kind: Some(AccountKind::Admin),
            members: vec!["alice".into()],
        };
        assert_eq!(groups_table(&[g]), "NAME   GID    KIND   MEMBERS\nstaff  10000  admin  alice\n");
    }

    #[test]
    fn key_value_blocks_align() {
        let out = key_values(&[("uid", "1".into()), ("full name", "A".into())]);
        assert_eq!(out, "uid:        1\nfull name:  A\n");
        assert!(user_block(&user("alice", &[], "")).contains("groups:     -\n"));
    }

    #[test]
    fn acl_listing_reads_like_getfacl() {
        let e = |kind, id: Option<u32>, name: Option<&str>, bits| ResolvedAclEntry {
            kind,
            id,
            name: name.map(str::to_owned),
            perms: AclPerms::from_bits(bits),
        };
        let listing = AclListing {
            path: "/storage/projects".into(),
            owner: 50001,
            group: 50000,
            mode: 0o770,
            is_dir: true,
            access: vec![
                e(AclKind::UserObj, Some(50001), Some("alice"), 7),
                e(AclKind::User, Some(50002), Some("bob"), 5),
                e(AclKind::Group, Some(50009), None, 4),
                e(AclKind::GroupObj, None, None, 5),
                e(AclKind::Mask, None, None, 7),
                e(AclKind::Other, None, None, 0),
            ],
            default: vec![e(AclKind::User, Some(50002), Some("bob"), 5)],
        };
        assert_eq!(
            acl_text(&listing),
            "# file: /storage/projects\n# owner: 50001\n# group: 50000\nuser::rwx\nuser:bob:r-x\ngroup:50009:r--\n\
             group::r-x\nmask::rwx\nother::---\ndefault:user:bob:r-x\n"
        );
    }

    fn step() -> Step {
        Step::Exec {
            program: "/usr/sbin/useradd".into(),
            args: vec!["--uid".into(), "50001".into(), "alice".into()],
            stdin: StdinPlan::Nothing,
        }
    }

    #[test]
    fn a_dry_run_lists_the_steps_it_would_run() {
        let change: Change<UserInfo> = Change {
            dry_run: true,
            steps: vec![step()],
            result: Some(user("alice", &[], "")),
            generated_password: None,
            warnings: vec![],
        };
        let Report::Answer { human, json, exit } = change_report(&change, user_block).unwrap() else { panic!() };
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(human, "dry run: nothing changed; would run:\n  /usr/sbin/useradd --uid 50001 alice\n");
        assert_eq!(exit, 0);
        assert_eq!(json["dry_run"], true);
        assert!(json.get("password").is_none());
    }

    #[test]
    fn multi_line_steps_are_indented_and_warnings_follow_everything() {
        let change: Change<()> = Change {
            dry_run: true,
            steps: vec![
                Step::WriteFile {
                    path: "/etc/exports.d/corenas.exports".into(),
                    diff: "-/storage/a 10.0.0.1(rw)\r\n+/storage/a\t10.0.0.2(ro)\u{1b}]0;x\u{7}\u{202e}\n".into(),
                },
                step(),
            ],
            result: None,
            generated_password: None,
            warnings: vec!["guest access is on for share pub".into(), "two\nlines\u{1b}[2J".into()],
        };
        let Report::Answer { human, json, .. } = change_report(&change, nothing).unwrap() else { panic!() };
        assert_eq!(
            human,
            "dry run: nothing changed; would run:\n\
             \x20 (in-process) write /etc/exports.d/corenas.exports\n\
             \x20   -/storage/a 10.0.0.1(rw)\\u{d}\n\
             \x20   +/storage/a\t10.0.0.2(ro)\\u{1b}]0;x\\u{7}\\u{202e}\n\
             \x20 /usr/sbin/useradd --uid 50001 alice\n\
             warning: guest access is on for share pub\n\
             warning: two\n\
             \x20        lines\\u{1b}[2J\n"
        );
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["warnings"][0], "guest access is on for share pub");

        // Imaging changes show them too.
        let Report::Answer { human, .. } = imaging_change_report(&change, "eject /dev/sr0", nothing).unwrap() else {
            panic!()
        };
        assert!(human.contains("\n    -/storage/a 10.0.0.1(rw)\\u{d}\n"), "{human}");
        assert!(human.ends_with("warning: guest access is on for share pub\nwarning: two\n         lines\\u{1b}[2J\n"));
    }

    #[test]
    fn a_generated_password_is_shown_once_in_an_explicit_field() {
        let password = Password::new("Correct-Horse-9".into()).unwrap();
        let change = Change {
            dry_run: false,
            steps: vec![step()],
            result: Some(user("alice", &[], "")),
            generated_password: Some(password),
            warnings: vec![],
        };
        let Report::Answer { human, json, .. } = change_report(&change, user_block).unwrap() else { panic!() };
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(human.starts_with("done; ran:\n  /usr/sbin/useradd --uid 50001 alice\nname:"), "{human}");
        assert!(human.ends_with("generated password (shown once; corenasd keeps no copy): Correct-Horse-9\n"));
        assert_eq!(json["generated_password"], "<redacted>");
        assert_eq!(json["password"], "Correct-Horse-9");
        assert_eq!(json["result"]["name"], "alice");
        assert_eq!(json["steps"][0]["Exec"]["program"], "/usr/sbin/useradd");
    }

    #[test]
    fn errors_carry_the_stable_code() {
        let e = WireError::invalid("user", "user name 'Max!' is invalid");
        assert_eq!(
            error_json(&e),
            r#"{"error":{"code":"E_INVALID_INPUT","message":"user name 'Max!' is invalid","field":"user"}}"#
        );
        let e = WireError::new(ErrorCode::NotFound, "no user bob");
        assert_eq!(error_json(&e), r#"{"error":{"code":"E_NOT_FOUND","message":"no user bob","field":null}}"#);
        assert_eq!(CtlError::from(e).to_string(), "no user bob");
        assert_eq!(CtlError::Failed(WireError::invalid("uid", "bad")).to_string(), "bad (field: uid)");
    }

    #[test]
    fn clap_messages_fit_on_one_line() {
        use clap::Parser;
        let err = cli::Cli::try_parse_from(["corenas-ctl", "user", "add"]).unwrap_err();
        let text = clap_message(&err);
        assert!(text.starts_with("the following required arguments were not provided: "), "{text}");
        assert!(text.contains("--kind <KIND>") && text.contains("<NAME>") && !text.contains('\n'), "{text}");
    }

    #[test]
    fn verify_problems_exit_1() {
        let ok = AuditVerify { entries: 3, head: "abc".into(), problems: vec![] };
        let bad = AuditVerify { entries: 3, head: "abc".into(), problems: vec!["entry 2 was changed".into()] };
        assert!(matches!(verify_report(&ok).unwrap(), Report::Answer { exit: 0, .. }));
        let Report::Answer { human, exit, .. } = verify_report(&bad).unwrap() else { panic!() };
        assert_eq!(exit, 1);
        assert!(human.contains("  entry 2 was changed\n"));
    }

    #[test]
    fn epoch_seconds_read_as_utc_dates() {
        assert_eq!(utc_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_time(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_time(1_709_210_096), "2024-02-29 12:34 UTC");
        assert_eq!(utc_time(1_795_000_000), "2026-11-18 11:06 UTC");
        assert_eq!(utc_time(-1), "1969-12-31 23:59 UTC");
        assert_eq!(time_or_dash(None), "-");
    }

    #[test]
    fn pool_definitions_and_jobs_read_in_a_few_words() {
        use corenas_proto::storage::{BtrfsProfile, Compression, DiskFs, ZfsLayout};
        let spec = PoolSpec {
            name: "tank".parse().unwrap(),
            layout: PoolLayout::Zfs {
                layout: ZfsLayout::Raidz2,
                ashift: Some(12),
                properties: vec![ZfsProperty::Compression(Compression::Lz4), ZfsProperty::Atime(false)],
            },
            devices: vec!["/dev/sdb".parse().unwrap(), "/dev/sdc".parse().unwrap()],
            force: true,
        };
        assert_eq!(
            pool_spec_text(&spec),
            "name:        tank\ntype:        zfs\nlayout:      raidz2\nashift:      12\n\
             properties:  compression=lz4, atime=off\ndevices:     /dev/sdb, /dev/sdc\n\
             mountpoint:  /mnt/corenas/tank\nforce:       yes: existing signatures are overwritten\n"
        );
        let btrfs = PoolLayout::Btrfs { data: BtrfsProfile::Raid1, metadata: BtrfsProfile::Raid1c3, compression: None };
        assert_eq!(layout_text(&btrfs), "data raid1, metadata raid1c3");
        assert_eq!(layout_text(&PoolLayout::Single { fs: DiskFs::Xfs }), "xfs");

        let job = StorageJob {
            id: "s-1".into(),
            kind: "scrub".into(),
            target: "tank".into(),
            state: "running".into(),
            percent: Some(42.0),
            message: Some("scanned 1.2T\u{1b}[2J".into()),
            started: "t".into(),
            finished: None,
            version: 3,
        };
        assert_eq!(storage_progress_line(&job), " 42.0%  scrub tank  running  scanned 1.2T\\u{1b}[2J\n");
        assert_eq!(
            storage_job_line(&job),
            "job s-1: scrub of tank, running\n`corenas-ctl storage job wait s-1` follows it\n"
        );
        assert_eq!(schedule_run_text(&[]), "no schedule was due\n");
    }

    #[test]
    fn uptime_is_readable() {
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(3723), "1h 2m 3s");
        assert_eq!(duration(90_061), "1d 1h 1m 1s");
    }
    #[test]
    fn sizes_rates_and_etas_read_like_people_write_them() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1.0 KiB");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(1_048_575), "1.0 MiB", "rounds up into the next unit, not to 1024.0 KiB");
        assert_eq!(size(4_700_000_000), "4.4 GiB");
        assert_eq!(size(3 << 40), "3.0 TiB");
        assert_eq!(size(u64::MAX), "16.0 EiB");
        assert_eq!(rate(Some(12 << 20)), "12.0 MiB/s");
        assert_eq!(rate(Some(512 << 10)), "0.5 MiB/s");
        assert_eq!(rate(None), "-");
        assert_eq!(eta(Some(0)), "0:00:00");
        assert_eq!(eta(Some(3723)), "1:02:03");
        assert_eq!(eta(Some(100 * 3600 + 59)), "100:00:59");
        assert_eq!(eta(None), "-");
        assert_eq!(percent(f64::NAN), "-");
        assert_eq!(percent(123.0), "100.0%");
        assert_eq!(short_hash(&"0123456789abcdef".repeat(4)), "0123456789abcdef…");
    }

    fn job(label: Option<&str>) -> JobInfo {
        JobInfo {
            id: "j1".into(),
            kind: JobKind::Image,
            name: "movie".into(),
            device: Some("/dev/sr0".into()),
            status: JobState::Running,
            priority: corenas_proto::imaging::Priority::High,
            position: None,
            created_at: "c".into(),
            updated_at: "u".into(),
            started_at: Some("s".into()),
            finished_at: None,
            options: corenas_proto::imaging::JobOptions::default(),
            progress: Progress {
                domain_bytes: 8 << 30,
                rescued_bytes: 2 << 30,
                bad_bytes: 4096,
                bad_areas: 2,
                phase: Some(Phase::Scraping),
                pass: Some(2),
                percent: 25.0,
                rate_bps: Some(3 << 20),
                eta_seconds: Some(61),
                ..Progress::default()
            },
            medium: Some(Medium {
                format: "iso9660".into(),
                label: label.map(str::to_owned),
                size_bytes: 8 << 30,
                fingerprint: "f".into(),
            }),
            output_file: None,
            archive_id: None,
            error: Some("read error\u{1b}[31m".into()),
            error_code: Some("E_TOOL_FAILED".into()),
            version: 4,
        }
    }

    #[test]
    fn the_jobs_table_has_the_documented_columns_and_says_when_there_is_more() {
        let list = JobList { jobs: vec![job(None)], total: 5, limit: 1, offset: 0 };
        assert_eq!(
            jobs_table(&list),
            "ID  NAME   DEVICE    STATUS   PROGRESS  RATE       ETA      POSITION\n\
             j1  movie  /dev/sr0  running  25.0%     3.0 MiB/s  0:01:01  -\n\
             (entries 1-1 of 5; --offset 1 for more)\n"
        );
        let list = JobList { jobs: vec![], total: 0, limit: 50, offset: 0 };
        assert_eq!(jobs_table(&list), "ID  NAME  DEVICE  STATUS  PROGRESS  RATE  ETA  POSITION\n");
        assert_eq!(page_note(0, 10, 3), "(no entries at offset 10; there are 3)\n");
        assert_eq!(page_note(2, 3, 5), "(entries 4-5 of 5)\n");
    }

    #[test]
    fn job_details_escape_the_label_and_the_error() {
        let out = job_block(&job(Some("\u{202e}gpj.exe")));
        assert!(!out.contains('\u{202e}') && !out.contains('\u{1b}'), "{out}");
        assert!(out.contains("medium label:   \\u{202e}gpj.exe\n"), "{out}");
        assert!(out.contains("bad bytes:      4.0 KiB (4096 bytes)\n") && out.contains("bad areas:      2\n"), "{out}");
        assert!(out.contains("phase:          scraping\n") && out.contains("pass:           2\n"), "{out}");
        assert!(out.contains("error:          read error\\u{1b}[31m (E_TOOL_FAILED)\n"), "{out}");
        assert_eq!(
            progress_line(&job(None)),
            " 25.0%  2.0 GiB / 8.0 GiB  3.0 MiB/s  ETA 0:01:01  scraping  running  bad 4.0 KiB in 2 areas\n"
        );
        assert!(!follow_end(&job(None)).contains('\u{1b}'));
    }

    #[test]
    fn the_archive_table_shortens_the_hash_and_escapes_the_label() {
        let a = ArchiveInfo {
            id: "a1".into(),
            job_id: "j1".into(),
            name: "movie".into(),
            filename: "j1.iso".into(),
            path: "/srv/j1.iso".into(),
            size_bytes: 4_700_000_000,
            created_at: "2025-01-02".into(),
            checksums: corenas_proto::imaging::Checksums { sha256: "0123456789abcdef".repeat(4), md5: None },
            bad_bytes: 0,
            source_device: "/dev/sr0".into(),
            source_model: None,
            source_serial: None,
            label: Some("DISC\u{1b}]0;pwned\u{7}".into()),
            tags: vec!["movies".into(), "kids".into()],
            notes: "line 1\nline 2".into(),
            verifications: vec![],
        };
        let list = ArchiveList { archives: vec![a.clone()], total: 1, limit: 50, offset: 0 };
        assert_eq!(
            archives_table(&list),
            "ID  NAME   SIZE     CREATED     SHA256             LABEL                    TAGS\n\
             a1  movie  4.4 GiB  2025-01-02  0123456789abcdef…  DISC\\u{1b}]0;pwned\\u{7}  movies,kids\n"
        );
        let block = archive_block(&a);
        assert!(
            block.contains("notes:          line 1\\u{a}line 2\n") && block.ends_with("verifications: none\n"),
            "{block}"
        );
    }
    #[test]
    fn imaging_changes_say_what_happened_without_helper_steps() {
        let real = Change {
            dry_run: false,
            steps: vec![],
            result: Some(job(None)),
            generated_password: None,
            warnings: vec![],
        };
        let Report::Answer { human, json, .. } = imaging_change_report(&real, "pause job j1", job_line).unwrap() else {
            panic!()
        };
        assert_eq!(human, "job j1: running (high priority)\n");
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!((json["dry_run"].clone(), json["result"]["id"].clone()), (false.into(), "j1".into()));

        let dry: Change<JobInfo> =
            Change { dry_run: true, steps: vec![], result: None, generated_password: None, warnings: vec![] };
        let Report::Answer { human, .. } = imaging_change_report(&dry, "pause job j1", job_line).unwrap() else {
            panic!()
        };
        assert_eq!(human, "dry run: nothing changed; would pause job j1\n");

        let dry = Change {
            dry_run: true,
            steps: vec![step()],
            result: None::<()>,
            generated_password: None,
            warnings: vec![],
        };
        let Report::Answer { human, .. } = imaging_change_report(&dry, "eject /dev/sr0", nothing).unwrap() else {
            panic!()
        };
        assert_eq!(
            human,
            "dry run: nothing changed; would eject /dev/sr0, running:\n  /usr/sbin/useradd --uid 50001 alice\n"
        );

        let done =
            Change { dry_run: false, steps: vec![], result: None::<()>, generated_password: None, warnings: vec![] };
        let Report::Answer { human, .. } = imaging_change_report(&done, "delete archive entry a1", nothing).unwrap()
        else {
            panic!()
        };
        assert_eq!(human, "done: delete archive entry a1\n");
    }
}
