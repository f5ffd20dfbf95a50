//! Long tool work as transient systemd units, so that it outlives the storage helper: the helper
//! exits when idle, and systemd's stop of its unit kills every process left in its cgroup (a
//! btrfs scrub's included). `systemd-run` asks PID 1 to run one typed `Invocation` in a unit of
//! its own, `corenas-<kind>-<escaped target>-<id>.service`, with a sandbox of its own (it inherits
//! nothing from the helper: PID 1 starts it). Where systemd is not PID 1 (the lab, CI) the caller
//! keeps the tool's own detached process instead (`systemd_is_pid1`).
//!
//! Must not: take a shell string, a secret, caller environment, or any argument outside a small
//! ASCII allow-list (systemd expands `$VAR` in ExecStart= and `%` specifiers in unit settings);
//! start a second unit for a target whose unit is still active.

use crate::exec::{self, Invocation, Program};
use corenas_proto::backup::{BackupJobId, BackupName};
use corenas_proto::helper::{Step, ToolOutput};
use corenas_proto::names::PoolName;
use corenas_proto::{ErrorCode, WireError};
use std::time::Duration;

const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a unit name may be (systemd's UNIT_NAME_MAX less the terminating NUL).
const UNIT_NAME_MAX: usize = 255;
/// Unit states in which the work is (still or about to be) running.
const BUSY_STATES: [&str; 5] = ["active", "activating", "deactivating", "reloading", "refreshing"];
/// What `unit_status` reads of each unit (corenasd parses it).
pub const STATUS_PROPERTIES: &str =
    "Id,LoadState,ActiveState,SubState,Result,ExecMainCode,ExecMainStatus,ExecMainStartTimestampMonotonic";

/// Whether systemd runs as PID 1 here (sd_booted(3)'s test).
pub fn systemd_is_pid1() -> bool {
    std::path::Path::new("/run/systemd/system").is_dir()
}

/// The kinds of work that run as transient units; the kind is part of the unit name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scrub,
    /// A backup's least-privilege restic runner (ops/backup), one unit per job.
    Backup,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Scrub => "scrub",
            Kind::Backup => "backup",
        }
    }
}

/// What the work acts on: validated names only (proto types), never caller text.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Pool(&'a PoolName),
    /// A backup task (its runs are the units `corenas-backup-<task>-<job>.service`).
    Task(&'a BackupName),
}

impl Target<'_> {
    fn name(&self) -> &str {
        match self {
            Target::Pool(p) => p.as_str(),
            Target::Task(t) => t.as_str(),
        }
    }
    fn describe(&self) -> String {
        match self {
            Target::Pool(p) => format!("pool {}", p.as_str()),
            Target::Task(t) => format!("task {}", t.as_str()),
        }
    }
}

/// systemd's unit-name escaping (`systemd-escape` without `--path`), stricter in one point: '/'
/// is escaped too, not turned into '-'. Only ASCII letters, digits, ':', '_' and '.' (not first)
/// stay; every other byte becomes `\xNN`. So an escaped name never holds '-', and
/// `corenas-<kind>-<escaped>-` names exactly one target's units.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, b) in s.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric() || b == b':' || b == b'_' || (b == b'.' && i > 0);
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// `corenas-<kind>-<escaped target>-`: every unit of this kind for this target starts so.
pub fn unit_prefix(kind: Kind, target: Target<'_>) -> String {
    format!("corenas-{}-{}-", kind.as_str(), escape(target.name()))
}

/// The unit's full name; `id` is `short_id()`'s (8 lowercase hex digits) or a backup job's id
/// (`bkp_` and six digits: '_' needs no escape).
pub fn unit_name(kind: Kind, target: Target<'_>, id: &str) -> Result<String, WireError> {
    let hex = id.len() == 8 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex && id.parse::<BackupJobId>().is_err() {
        return Err(WireError::internal(format!("unit id '{id}' is not 8 lowercase hex digits or a job id")));
    }
    let name = format!("{}{id}.service", unit_prefix(kind, target));
    if name.len() > UNIT_NAME_MAX {
        return Err(WireError::invalid(
            "name",
            format!("the unit name for {} would be longer than {UNIT_NAME_MAX} bytes", target.describe()),
        ));
    }
    Ok(name)
}

/// 8 hex digits from the kernel's random pool: each run gets a unit of its own, so a failed
/// unit kept for its result never blocks the next start.
pub fn short_id() -> Result<String, WireError> {
    use std::io::Read as _;
    let mut b = [0u8; 4];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| WireError::internal(format!("no random id for the unit: {e}")))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// What the unit may touch beyond a read-only system: the properties of corenas-storage.service
/// the tool can live with, narrowed to this tool.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    /// Capability names (`CAP_SYS_ADMIN`), the unit's whole bounding set.
    pub capabilities: Vec<&'static str>,
    /// Absolute paths the tool writes (ReadWritePaths=).
    pub read_write: Vec<String>,
    /// The tool's own directory under /var/lib (StateDirectory=: systemd makes it if missing,
    /// which a read-only /var would not let the tool do).
    pub state_directory: Option<&'static str>,
    /// DeviceAllow= entries (`/dev/x r`); none: no device node at all (DevicePolicy=closed).
    pub devices: Vec<String>,
    /// Runs as this user (a name or uid; User=) instead of root, with `capabilities` as its
    /// ambient set too, so an unprivileged process holds exactly those.
    pub user: Option<String>,
    /// Allows IPv4/IPv6 (a backup to a remote target); otherwise the unit has no network.
    pub network: bool,
    /// LoadCredential=<name>:<path> for each; with an environment variable, it is set to the
    /// credential's path in the unit (`VAR=%d/<name>`). Names are fixed by the caller's code.
    pub credentials: Vec<(&'static str, String, Option<&'static str>)>,
    /// Fixed environment additions (no `$`, `%` or secrets: checked like arguments).
    pub environment: Vec<(&'static str, String)>,
    /// WorkingDirectory=.
    pub working_directory: Option<String>,
    /// StandardOutput=append: and StandardError=append: files (opened by PID 1 as root: only
    /// paths whose every directory is root's).
    pub output: Option<(String, String)>,
    /// CacheDirectory= (made by systemd, owned by `user`).
    pub cache_directory: Option<&'static str>,
    /// Arguments of the work may hold spaces (systemd-run hands argv to PID 1 as an array, so a
    /// space never splits one; restic's `-o sftp.command=ssh ...` needs them).
    pub spaces_in_args: bool,
}

/// A byte allowed in an argument that reaches systemd: no whitespace, quotes, `$` (environment
/// expansion in ExecStart=), `%` (specifiers), `\` (escapes) or `;` (a command separator in
/// ExecStart= lines).
fn safe_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"/_.,:=+@-".contains(&b)
}

fn check_arg(what: &str, s: &str) -> Result<(), WireError> {
    check_arg_with(what, s, false)
}

fn check_arg_with(what: &str, s: &str, spaces: bool) -> Result<(), WireError> {
    if s.is_empty() || s.len() > 4096 || !s.bytes().all(|b| safe_byte(b) || (spaces && b == b' ')) {
        return Err(WireError::new(
            ErrorCode::InvalidInput,
            format!(
                "{what} '{}' cannot go to a transient unit: use 1-4096 of A-Z, a-z, 0-9 and / _ . , : = + @ -",
                s.escape_debug()
            ),
        ));
    }
    Ok(())
}

/// A checked plan: the unit's name and the `systemd-run` invocation that starts it.
pub struct TransientPlan {
    pub unit: String,
    prefix: String,
    what: String,
    pub run: Invocation,
}

/// Plans `work` as a transient unit. Refuses work with stdin or environment (a unit has neither
/// from the caller) and any argument outside the allow-list.
pub fn plan(kind: Kind, target: Target<'_>, work: &Invocation, sandbox: &Sandbox) -> Result<TransientPlan, WireError> {
    let id = short_id()?;
    plan_with_id(kind, target, work, sandbox, &id)
}

/// Plans a backup job's unit: `corenas-backup-<task>-<job>.service` (the job id is its id).
pub fn plan_job(
    kind: Kind,
    target: Target<'_>,
    work: &Invocation,
    sandbox: &Sandbox,
    job: &BackupJobId,
) -> Result<TransientPlan, WireError> {
    plan_with_id(kind, target, work, sandbox, job.as_str())
}

fn plan_with_id(
    kind: Kind,
    target: Target<'_>,
    work: &Invocation,
    sandbox: &Sandbox,
    id: &str,
) -> Result<TransientPlan, WireError> {
    if work.stdin.is_some() || !work.env.is_empty() {
        return Err(WireError::internal("work with stdin or environment cannot run as a transient unit"));
    }
    let unit = unit_name(kind, target, id)?;
    for a in &work.args {
        check_arg_with("argument", a, sandbox.spaces_in_args)?;
    }
    if let Some(u) = &sandbox.user {
        check_arg("user", u)?;
    }
    for (name, path, env) in &sandbox.credentials {
        check_arg("credential", name)?;
        check_arg("credential path", path)?;
        if let Some(e) = env {
            check_arg("variable", e)?;
        }
    }
    for (k, v) in &sandbox.environment {
        check_arg("variable", k)?;
        check_arg("value", v)?;
    }
    for p in sandbox.working_directory.iter().chain(sandbox.output.iter().flat_map(|(o, e)| [o, e])) {
        check_arg("path", p)?;
    }
    if let Some(d) = sandbox.cache_directory {
        check_arg("cache directory", d)?;
    }
    for p in &sandbox.read_write {
        check_arg("path", p)?;
        if !p.starts_with('/') {
            return Err(WireError::internal(format!("ReadWritePaths= needs an absolute path, not {p}")));
        }
    }
    if let Some(d) = sandbox.state_directory {
        check_arg("state directory", d)?;
    }
    for c in &sandbox.capabilities {
        check_arg("capability", c)?;
    }
    for d in &sandbox.devices {
        let (node, access) = d.split_once(' ').unwrap_or((d, ""));
        check_arg("device", node)?;
        if !["r", "rw", "rwm"].contains(&access) {
            return Err(WireError::internal(format!("DeviceAllow= access '{access}' is not r, rw or rwm")));
        }
    }
    let what = format!("{} of {}", kind.as_str(), target.describe());
    let mut args = vec![
        format!("--unit={unit}"),
        format!("--description=CoreNAS {what}"),
        // Exec: systemd-run returns once the tool has started (or says why it could not).
        "--service-type=exec".to_owned(),
        "--quiet".to_owned(),
    ];
    let p = |s: &str| format!("--property={s}");
    let network: &[&str] = if sandbox.network {
        &["RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"]
    } else {
        &["PrivateNetwork=yes", "IPAddressDeny=any", "RestrictAddressFamilies=AF_UNIX"]
    };
    for fixed in network {
        args.push(p(fixed));
    }
    for fixed in [
        "CollectMode=inactive",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "DevicePolicy=closed",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "ProtectProc=invisible",
        "RestrictNamespaces=yes",
        "LockPersonality=yes",
        "MemoryDenyWriteExecute=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallErrorNumber=EPERM",
        "KeyringMode=private",
        "UMask=0077",
        "Environment=LC_ALL=C",
    ] {
        args.push(p(fixed));
    }
    args.push(p(&format!("CapabilityBoundingSet={}", sandbox.capabilities.join(" "))));
    match &sandbox.user {
        Some(u) => {
            args.push(p(&format!("User={u}")));
            args.push(p(&format!("AmbientCapabilities={}", sandbox.capabilities.join(" "))));
        }
        None => args.push(p("AmbientCapabilities=")),
    }
    for (name, path, env) in &sandbox.credentials {
        args.push(p(&format!("LoadCredential={name}:{path}")));
        // %d: the unit's credentials directory; the only specifier CoreNAS writes, by itself.
        args.extend(env.map(|e| p(&format!("Environment={e}=%d/{name}"))));
    }
    args.extend(sandbox.environment.iter().map(|(k, v)| p(&format!("Environment={k}={v}"))));
    args.extend(sandbox.working_directory.iter().map(|d| p(&format!("WorkingDirectory={d}"))));
    if let Some((out, err)) = &sandbox.output {
        args.push(p(&format!("StandardOutput=append:{out}")));
        args.push(p(&format!("StandardError=append:{err}")));
    }
    args.extend(sandbox.cache_directory.map(|d| p(&format!("CacheDirectory={d}"))));
    args.extend(sandbox.read_write.iter().map(|rw| p(&format!("ReadWritePaths={rw}"))));
    args.extend(sandbox.state_directory.map(|d| p(&format!("StateDirectory={d}"))));
    args.extend(sandbox.devices.iter().map(|d| p(&format!("DeviceAllow={d}"))));
    args.push("--".to_owned());
    args.push(work.program.path().to_owned());
    args.extend(work.args.iter().cloned());
    Ok(TransientPlan {
        unit,
        prefix: unit_prefix(kind, target),
        what,
        run: Invocation::of(Program::SystemdRun).args(args),
    })
}

impl TransientPlan {
    pub fn steps(&self) -> Vec<Step> {
        vec![Step::Check { what: format!("refuse if a unit {}* is still active", self.prefix) }, self.run.step()]
    }

    /// Refuses while a unit for the same target is active, clears that target's failed units
    /// (their job is over: the caller starts a new one), then starts the unit.
    pub async fn start(&self) -> Result<(), WireError> {
        let units = list_units(&self.prefix).await?;
        if let Some(busy) = units.iter().find(|u| BUSY_STATES.contains(&u.active.as_str())) {
            return Err(WireError::new(
                ErrorCode::Busy,
                format!("the {} is still running as unit {} ({}); stop it first", self.what, busy.name, busy.active),
            ));
        }
        let failed: Vec<&str> = units.iter().filter(|u| u.active == "failed").map(|u| u.name.as_str()).collect();
        if !failed.is_empty() {
            let reset = Invocation::of(Program::SystemCtl).args(["reset-failed", "--"]).args(failed.iter().copied());
            exec::run_with_timeout(&reset, SYSTEMCTL_TIMEOUT).await?;
        }
        exec::run_with_timeout(&self.run, SYSTEMCTL_TIMEOUT).await?;
        tracing::info!(runner = "transient unit", unit = %self.unit, work = %self.what, "started");
        Ok(())
    }
}

#[derive(Debug, PartialEq, Eq)]
struct ListedUnit {
    name: String,
    active: String,
}

/// `systemctl list-units --plain --no-legend` lines whose unit starts with `prefix`.
fn parse_list_units(text: &str, prefix: &str) -> Vec<ListedUnit> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (name, _load, active) = (f.next()?, f.next()?, f.next()?);
            (name.starts_with(prefix) && name.ends_with(".service"))
                .then(|| ListedUnit { name: name.to_owned(), active: active.to_owned() })
        })
        .collect()
}

/// The glob handed to systemctl: the kind's prefix only. An escaped target holds `\`, which a
/// glob would read as an escape, so the target is matched here, exactly.
fn kind_glob(prefix: &str) -> String {
    let kind_end = prefix.match_indices('-').nth(1).map_or(prefix.len(), |(i, _)| i + 1);
    format!("{}*", &prefix[..kind_end])
}

async fn list_units(prefix: &str) -> Result<Vec<ListedUnit>, WireError> {
    let list = Invocation::of(Program::SystemCtl)
        .args(["list-units", "--all", "--plain", "--no-legend", "--no-pager", "--full", "--type=service", "--"])
        .arg(kind_glob(prefix));
    let out = exec::run_with_timeout(&list, SYSTEMCTL_TIMEOUT).await?;
    Ok(parse_list_units(&String::from_utf8_lossy(&out.stdout), prefix))
}

/// What systemd says of the target's units (`systemctl show -p STATUS_PROPERTIES`, one block
/// per unit), raw, for corenasd to parse. Empty stdout: no unit (a finished unit that succeeded
/// is gone; a failed one stays until the next start). Without systemd as PID 1, empty stdout
/// and a stderr line that says the work ran as a detached process.
pub async fn unit_status(kind: Kind, target: Target<'_>) -> Result<ToolOutput, WireError> {
    if !systemd_is_pid1() {
        return Ok(ToolOutput {
            code: Some(0),
            stdout: String::new(),
            stderr: "no systemd as PID 1: the work runs as a detached process, not a unit".into(),
        });
    }
    let units = list_units(&unit_prefix(kind, target)).await?;
    if units.is_empty() {
        return Ok(ToolOutput { code: Some(0), stdout: String::new(), stderr: String::new() });
    }
    let show = Invocation::of(Program::SystemCtl)
        .args(["show", "--no-pager", "--property", STATUS_PROPERTIES, "--"])
        .args(units.into_iter().map(|u| u.name));
    let (code, out) = exec::run_raw(&show, SYSTEMCTL_TIMEOUT).await?;
    Ok(ToolOutput {
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// `unit_status` of the one unit of a job (`corenas-<kind>-<any target>-<id>.service`): the
/// target is escaped (no '-' in it), so the suffix names exactly one job's unit.
pub async fn job_unit_status(kind: Kind, id: &str) -> Result<ToolOutput, WireError> {
    let glob = format!("corenas-{}-", kind.as_str());
    let suffix = format!("-{id}.service");
    let units: Vec<ListedUnit> = list_units(&glob).await?.into_iter().filter(|u| u.name.ends_with(&suffix)).collect();
    if units.is_empty() {
        return Ok(ToolOutput { code: Some(0), stdout: String::new(), stderr: String::new() });
    }
    let show = Invocation::of(Program::SystemCtl)
        .args(["show", "--no-pager", "--property", STATUS_PROPERTIES, "--"])
        .args(units.into_iter().map(|u| u.name));
    let (code, out) = exec::run_raw(&show, SYSTEMCTL_TIMEOUT).await?;
    Ok(ToolOutput {
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(s: &str) -> PoolName {
        s.parse().unwrap()
    }

    fn scrub_work(p: &PoolName) -> Invocation {
        Invocation::of(Program::Btrfs).args(["scrub", "start", "-B", "--"]).arg(format!("/mnt/corenas/{p}"))
    }

    fn sandbox(p: &PoolName) -> Sandbox {
        Sandbox {
            capabilities: vec!["CAP_SYS_ADMIN"],
            read_write: vec![format!("/mnt/corenas/{p}")],
            state_directory: Some("btrfs"),
            devices: Vec::new(),
            ..Default::default()
        }
    }

    /// What systemd accepts in a unit name (unit_name_is_valid: [A-Za-z0-9:_.\\-@], no leading
    /// '.', at most 255 bytes).
    fn valid_unit_name(n: &str) -> bool {
        n.len() <= 255 && !n.starts_with('.') && n.bytes().all(|b| b.is_ascii_alphanumeric() || b":_.\\-@".contains(&b))
    }

    /// Undoes `escape` (as systemd's unit_name_unescape does).
    fn unescape(s: &str) -> Vec<u8> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\' {
                assert_eq!(b.get(i + 1), Some(&b'x'), "{s}");
                let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 4;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn escaping_matches_systemd_and_keeps_dashes_out() {
        assert_eq!(escape("tank"), "tank");
        assert_eq!(escape("my-pool_2"), "my\\x2dpool_2");
        assert_eq!(escape(".x/y z"), "\\x2ex\\x2fy\\x20z");
        assert_eq!(escape("a.b:c"), "a.b:c");
        assert_eq!(unit_prefix(Kind::Scrub, Target::Pool(&pool("my-pool"))), "corenas-scrub-my\\x2dpool-");
        assert_eq!(
            unit_name(Kind::Scrub, Target::Pool(&pool("tank")), "0a1b2c3d").unwrap(),
            "corenas-scrub-tank-0a1b2c3d.service"
        );
        assert!(unit_name(Kind::Scrub, Target::Pool(&pool("tank")), "0A1B2C3D").is_err(), "id: lowercase hex");
        assert!(unit_name(Kind::Scrub, Target::Pool(&pool("tank")), "0a1b").is_err(), "id: 8 digits");
        let id = short_id().unwrap();
        assert_eq!(id.len(), 8);
        assert!(unit_name(Kind::Scrub, Target::Pool(&pool("tank")), &id).is_ok());
    }

    /// A pool named like another pool's prefix never matches that pool's units.
    #[test]
    fn one_target_never_matches_anothers_units() {
        let a = unit_prefix(Kind::Scrub, Target::Pool(&pool("tank")));
        let b = unit_name(Kind::Scrub, Target::Pool(&pool("tank-2")), "00000000").unwrap();
        assert!(!b.starts_with(&a), "{b} starts with {a}");
        let listed = format!(
            "{b} loaded active running CoreNAS scrub of pool tank-2\n\
             corenas-scrub-tank-0a1b2c3d.service loaded failed failed CoreNAS scrub of pool tank\n\
             corenas-scrub-tank-0a1b2c3d.timer loaded active waiting x\n"
        );
        assert_eq!(
            parse_list_units(&listed, &a),
            [ListedUnit { name: "corenas-scrub-tank-0a1b2c3d.service".into(), active: "failed".into() }]
        );
        assert_eq!(kind_glob(&a), "corenas-scrub-*");
        assert_eq!(kind_glob(&unit_prefix(Kind::Scrub, Target::Pool(&pool("my-pool")))), "corenas-scrub-*");
    }

    #[test]
    fn systemd_run_argv_is_the_typed_work_after_the_sandbox() {
        let p = pool("tank");
        let plan = plan_with_id(Kind::Scrub, Target::Pool(&p), &scrub_work(&p), &sandbox(&p), "0a1b2c3d").unwrap();
        assert_eq!(plan.unit, "corenas-scrub-tank-0a1b2c3d.service");
        assert_eq!(plan.run.program, Program::SystemdRun);
        let a = &plan.run.args;
        assert_eq!(a[0], "--unit=corenas-scrub-tank-0a1b2c3d.service");
        assert_eq!(a[1], "--description=CoreNAS scrub of pool tank");
        let sep = a.iter().position(|x| x == "--").unwrap();
        assert_eq!(a[sep + 1..], ["/usr/bin/btrfs", "scrub", "start", "-B", "--", "/mnt/corenas/tank"]);
        for want in [
            "--property=ProtectSystem=strict",
            "--property=PrivateNetwork=yes",
            "--property=NoNewPrivileges=yes",
            "--property=CapabilityBoundingSet=CAP_SYS_ADMIN",
            "--property=DevicePolicy=closed",
            "--property=StateDirectory=btrfs",
            "--property=ReadWritePaths=/mnt/corenas/tank",
            "--property=ProtectHome=yes",
            "--property=PrivateTmp=yes",
        ] {
            assert!(a[..sep].iter().any(|x| x == want), "{want} missing from {a:?}");
        }
        // Every option before the separator is one of systemd-run's, never the work's.
        assert!(a[..sep].iter().all(|x| x.starts_with("--")), "{a:?}");
        let steps: Vec<String> = plan.steps().iter().map(ToString::to_string).collect();
        assert!(steps[0].contains("corenas-scrub-tank-*"), "{steps:?}");
        assert!(steps[1].starts_with("/usr/bin/systemd-run --unit=corenas-scrub-tank-0a1b2c3d.service"), "{steps:?}");
    }

    #[test]
    fn work_with_a_secret_or_unsafe_arguments_is_refused() {
        let p = pool("tank");
        let sb = sandbox(&p);
        let secret = scrub_work(&p).secret("x", b"pw".to_vec());
        assert!(plan_with_id(Kind::Scrub, Target::Pool(&p), &secret, &sb, "00000000").is_err());
        for bad in ["$HOME", "%n", "a b", "a;b", "a\\b", "", "x\ny", "'q'"] {
            let work = scrub_work(&p).arg(bad);
            let Err(e) = plan_with_id(Kind::Scrub, Target::Pool(&p), &work, &sb, "00000000") else {
                panic!("{bad:?} was accepted");
            };
            assert_eq!(e.code, ErrorCode::InvalidInput, "{bad:?}: {}", e.message);
        }
        let mut relative = sandbox(&p);
        relative.read_write.push("var/lib".into());
        assert!(plan_with_id(Kind::Scrub, Target::Pool(&p), &scrub_work(&p), &relative, "00000000").is_err());
    }

    /// A backup runner's unit: corenasd's user with CAP_DAC_READ_SEARCH as its bounding and
    /// ambient set, the credentials loaded by PID 1 and named to restic by path (`%d`, written by
    /// this code alone), the network open only when asked, a caller `$`/`%` still refused.
    #[test]
    fn backup_unit_runs_unprivileged_with_credentials_by_path() {
        let task: BackupName = "my-task".parse().unwrap();
        let job: BackupJobId = "bkp_000042".parse().unwrap();
        let work =
            Invocation::of(Program::Restic).args(["backup", "--json", "-o", "sftp.command=/usr/bin/ssh -F x", "."]);
        let sb = Sandbox {
            capabilities: vec!["CAP_DAC_READ_SEARCH"],
            read_write: vec!["/mnt/corenas/usb/restic".into()],
            user: Some("999".into()),
            network: true,
            credentials: vec![(
                "password",
                "/run/corenas-backup/bkp_000042/credentials/password".into(),
                Some("RESTIC_PASSWORD_FILE"),
            )],
            environment: vec![("RESTIC_PROGRESS_FPS", "0.5".into())],
            working_directory: Some("/mnt/corenas/tank/.corenas-backup/bkp_000042".into()),
            output: Some((
                "/run/corenas-backup/bkp_000042/status.jsonl".into(),
                "/run/corenas-backup/bkp_000042/stderr.log".into(),
            )),
            cache_directory: Some("corenas/restic"),
            spaces_in_args: true,
            ..Default::default()
        };
        let plan = plan_job(Kind::Backup, Target::Task(&task), &work, &sb, &job).unwrap();
        assert_eq!(plan.unit, "corenas-backup-my\\x2dtask-bkp_000042.service");
        let a = &plan.run.args;
        for want in [
            "--property=User=999",
            "--property=CapabilityBoundingSet=CAP_DAC_READ_SEARCH",
            "--property=AmbientCapabilities=CAP_DAC_READ_SEARCH",
            "--property=NoNewPrivileges=yes",
            "--property=ProtectSystem=strict",
            "--property=LoadCredential=password:/run/corenas-backup/bkp_000042/credentials/password",
            "--property=Environment=RESTIC_PASSWORD_FILE=%d/password",
            "--property=StandardOutput=append:/run/corenas-backup/bkp_000042/status.jsonl",
            "--property=WorkingDirectory=/mnt/corenas/tank/.corenas-backup/bkp_000042",
            "--property=RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        ] {
            assert!(a.iter().any(|x| x == want), "{want} missing from {a:?}");
        }
        assert!(!a.iter().any(|x| x.contains("PrivateNetwork")), "{a:?}");
        assert!(!a.iter().any(|x| x == "--property=AmbientCapabilities="), "{a:?}");
        // Spaces pass for this work; `$` and `%` from anywhere else never do.
        for bad in ["$HOME", "%n"] {
            let w = Invocation::of(Program::Restic).arg(bad);
            assert!(plan_job(Kind::Backup, Target::Task(&task), &w, &sb, &job).is_err(), "{bad}");
            let mut env = sb.clone();
            env.environment = vec![("X", bad.into())];
            assert!(plan_job(Kind::Backup, Target::Task(&task), &work, &env, &job).is_err(), "{bad}");
        }
        // Without network: none, as for a scrub.
        let mut offline = sb.clone();
        offline.network = false;
        let plan = plan_job(Kind::Backup, Target::Task(&task), &work, &offline, &job).unwrap();
        assert!(plan.run.args.iter().any(|x| x == "--property=PrivateNetwork=yes"));
    }

    fn corpus() -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut out = Vec::new();
        for f in [
            root.join("../shared/corpus/bad-inputs.json"),
            root.join("tests/corpus/bad-inputs.json"),
            root.join("tests/corpus/own-bad-inputs.json"),
        ] {
            let Ok(text) = std::fs::read_to_string(&f) else { continue };
            let list: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
            out.extend(list.iter().filter_map(|e| e["input"].as_str().map(str::to_owned)));
        }
        assert!(out.len() >= 20, "the corpus must be found");
        out
    }

    /// Attacker: a hostile name never reaches the unit name unescaped (every escaped name is a
    /// valid unit name that unescapes to the input), and never reaches systemd-run's argv: as a
    /// pool name it is refused by the type, as an argument by the allow-list.
    #[test]
    fn hostile_names_never_reach_the_unit_name_or_argv_unescaped() {
        let p = pool("tank");
        let mut accepted_pools = 0;
        for s in corpus() {
            let e = escape(&s);
            assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b":_.\\".contains(&b)), "{s:?} -> {e}");
            assert_eq!(unescape(&e), s.as_bytes(), "{s:?}");
            let name = format!("corenas-scrub-{e}-00000000.service");
            assert!(name.len() > 255 || valid_unit_name(&name), "{name}");
            if let Ok(hostile) = s.parse::<PoolName>() {
                accepted_pools += 1;
                let plan = plan_with_id(
                    Kind::Scrub,
                    Target::Pool(&hostile),
                    &scrub_work(&hostile),
                    &sandbox(&hostile),
                    "00000000",
                )
                .unwrap();
                assert!(valid_unit_name(&plan.unit), "{}", plan.unit);
                assert!(plan.run.args.iter().all(|a| a.bytes().all(|b| safe_byte(b) || b" \\".contains(&b))));
            }
            let work = scrub_work(&p).arg(s.clone());
            if let Ok(plan) = plan_with_id(Kind::Scrub, Target::Pool(&p), &work, &sandbox(&p), "00000000") {
                // Accepted only when every byte is plain (a path-like name such as "tank").
                assert!(s.bytes().all(safe_byte), "{s:?} reached argv: {:?}", plan.run.args);
            }
        }
        assert!(accepted_pools < 10, "most of the corpus is no pool name ({accepted_pools} accepted)");
    }
}
