//! The alert classes' rules: a health snapshot, plus what the engine remembers (the level an
//! alert has now, attribute baselines, when a helper error count last rose), in; findings out.
//!
//! Pure functions: no database, no clock. The engine (`mod.rs`) decides what is new, what is
//! sustained long enough, what resolves and what is delivered. Every text that came from a
//! pool, a disk's firmware or a tool is cleaned here (control characters dropped, length capped).

use corenas_proto::monitor::{AlertClass, AlertLevel, Delivery, DiskSample, HealthSnapshot, PoolSample, PoolState};
use corenas_proto::storage::Backend;
use std::collections::HashMap;

/// Longest subject kept (the silence matcher's limit, so every subject can be silenced).
pub const SUBJECT_MAX: usize = 128;
/// Longest summary kept: one line in a mail subject or a table cell.
pub const SUMMARY_MAX: usize = 300;
/// A pool without a finished scrub for this long gets a notice.
pub const SCRUB_OVERDUE_SECS: i64 = 35 * 86_400;
/// A helper operation whose error count rose within this window stays flagged.
pub const HELPER_WINDOW_SECS: i64 = 3_600;

/// The ATA attributes whose rise predicts failure (Backblaze's set, as Scrutiny uses).
pub const RISING_ATTRIBUTES: &[(u16, &str)] = &[
    (5, "Reallocated_Sector_Ct"),
    (187, "Reported_Uncorrect"),
    (188, "Command_Timeout"),
    (197, "Current_Pending_Sector"),
    (198, "Offline_Uncorrectable"),
];
/// The baseline key of NVMe's media error count.
pub const NVME_MEDIA_ERRORS: &str = "nvme_media_errors";

/// The baseline key of an ATA attribute.
pub fn ata_key(id: u16) -> String {
    format!("ata_{id}")
}

/// One thing wrong, as a rule sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub class: AlertClass,
    pub subject: String,
    pub level: AlertLevel,
    pub summary: String,
    pub action: String,
    /// Raised only once seen in two evaluations in a row (temperature, mounts): one bad reading
    /// is not an alert.
    pub sustained: bool,
}

/// What the engine remembers that the rules need.
#[derive(Debug, Default)]
pub struct Memory {
    pub now: i64,
    /// The previous evaluation's time: a job that failed after it is news.
    pub last_eval: i64,
    /// The level of each active alert, by (class, subject): hysteresis needs it.
    pub active: HashMap<(AlertClass, String), AlertLevel>,
    /// Attribute baselines by (subject, attribute): (value, since).
    pub baselines: super::store::Baselines,
}

impl Memory {
    fn baseline(&self, subject: &str, attribute: &str) -> Option<(i64, i64)> {
        self.baselines.get(&(subject.to_owned(), attribute.to_owned())).copied()
    }
    fn level_of(&self, class: AlertClass, subject: &str) -> Option<AlertLevel> {
        self.active.get(&(class, subject.to_owned())).copied()
    }
}

/// Text from outside made safe for a line: control characters dropped, at most `max` bytes
/// (cut on a character boundary, marked with an ellipsis).
pub fn clean(s: &str, max: usize) -> String {
    let kept: String = s.chars().filter(|c| !c.is_control()).collect();
    if kept.len() <= max {
        return kept;
    }
    let budget = max.saturating_sub('…'.len_utf8());
    let mut out = String::with_capacity(max);
    for c in kept.chars() {
        if out.len() + c.len_utf8() > budget {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// The one-line "what to do" of each class.
pub fn action(class: AlertClass) -> &'static str {
    match class {
        AlertClass::PoolDegraded => {
            "Reconnect or replace the failed member (storage pool status names it), then let the pool resilver; until then it has less or no redundancy."
        }
        AlertClass::PoolCapacity => {
            "Free space (old snapshots, large files) or add capacity; pools slow down and fragment when nearly full."
        }
        AlertClass::ScrubErrors => {
            "Check the member disks' SMART data and cables, run a scrub again, and restore any file the pool reports as damaged."
        }
        AlertClass::ScrubOverdue => {
            "Run a scrub now (storage pool scrub) and keep the monthly scrub schedule on, so silent corruption is found while it can be repaired."
        }
        AlertClass::DiskFailing => {
            "Back up its data now and replace the disk: its own SMART verdict says it is failing."
        }
        AlertClass::DiskAttributeRising => {
            "Run a long SMART self-test and plan to replace the disk; dismiss the alert to accept the new values as the baseline."
        }
        AlertClass::DiskTemperature => "Check the fans, airflow and room temperature; heat shortens a disk's life.",
        AlertClass::DiskWear => "Plan to replace the SSD: it is close to the end of its rated endurance.",
        AlertClass::MountDown => {
            "Check the mount's source (device, server, credentials) in mount status; CoreNAS keeps retrying it."
        }
        AlertClass::JobFailed => "Read the job's message (storage job show), fix the cause and run it again.",
        AlertClass::AuditChain => {
            "Treat the audit log as tampered with: keep a copy of the state database and compare it with a backup."
        }
        AlertClass::HelperFailing => {
            "Read corenas-helper's journal (journalctl -u corenas-helper) for the failing operation's errors."
        }
        AlertClass::CheckFailed => {
            "Read corenasd's journal for the check's error; until it runs again, its alerts show old values."
        }
        AlertClass::DeliveryFailed => {
            "Open the channel's settings and run its test: the report shows the server's answer."
        }
        AlertClass::BackupFailed => {
            "Read the job's error (corenas-ctl backup job ID), fix the cause (target reachable, password, space) and run the task again."
        }
        AlertClass::BackupOverdue => {
            "No backup succeeded within the task's schedule: check that corenasd runs and read the task's last jobs."
        }
        AlertClass::BackupCheckFailed => {
            "The repository is damaged or unreadable: keep it as it is, make a new backup to another target and read restic's findings in the job."
        }
        AlertClass::BackupRestoreTestFailed => {
            "Files did not restore as they were backed up: run a full check of the repository and back up to another target."
        }
        AlertClass::BackupUnverified => {
            "Nothing has proven this backup restorable for over 35 days: run a check and a sample restore (corenas-ctl backup check)."
        }
        AlertClass::BackupStaleLock => {
            "A lock no running restic holds blocks checks and pruning: make sure no backup runs, then remove it with restic unlock."
        }
    }
}

fn finding(class: AlertClass, subject: &str, level: AlertLevel, summary: String) -> Finding {
    Finding {
        class,
        subject: clean(subject, SUBJECT_MAX),
        level,
        summary: clean(&summary, SUMMARY_MAX),
        action: action(class).to_owned(),
        sustained: false,
    }
}

/// The most a class's alerts reach (the level its default delivery is chosen by).
pub fn class_level(class: AlertClass) -> AlertLevel {
    match class {
        AlertClass::PoolDegraded | AlertClass::PoolCapacity | AlertClass::DiskFailing | AlertClass::AuditChain => {
            AlertLevel::Critical
        }
        AlertClass::ScrubErrors
        | AlertClass::DiskTemperature
        | AlertClass::DiskWear
        | AlertClass::MountDown
        | AlertClass::DeliveryFailed
        | AlertClass::BackupFailed
        | AlertClass::BackupCheckFailed
        | AlertClass::BackupRestoreTestFailed => AlertLevel::Error,
        AlertClass::DiskAttributeRising
        | AlertClass::HelperFailing
        | AlertClass::CheckFailed
        | AlertClass::BackupOverdue
        | AlertClass::BackupUnverified
        | AlertClass::BackupStaleLock => AlertLevel::Warning,
        AlertClass::ScrubOverdue | AlertClass::JobFailed => AlertLevel::Notice,
    }
}

pub fn default_delivery(class: AlertClass) -> Delivery {
    match class_level(class) {
        AlertLevel::Info => Delivery::Never,
        AlertLevel::Notice => Delivery::Digest,
        AlertLevel::Warning | AlertLevel::Error | AlertLevel::Critical => Delivery::Immediate,
    }
}

/// Every finding in a snapshot.
pub fn findings(s: &HealthSnapshot, m: &Memory) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in &s.pools {
        pool_findings(p, m, &mut out);
    }
    for disk in &s.disks {
        disk_findings(disk, m, &mut out);
    }
    for mount in s.mounts.iter().filter(|mount| !mount.active) {
        let mut f = finding(
            AlertClass::MountDown,
            &mount.target,
            AlertLevel::Error,
            format!(
                "mount {} is down ({}, {} retries)",
                clean(&mount.target, 100),
                clean(&mount.state_text, 80),
                mount.retries
            ),
        );
        f.sustained = true;
        out.push(f);
    }
    job_findings(s, m, &mut out);
    if let Some(a) = s.audit.as_ref().filter(|a| !a.verified) {
        let why = a.problem.as_deref().unwrap_or("no reason given");
        out.push(finding(
            AlertClass::AuditChain,
            "audit",
            AlertLevel::Critical,
            format!("the audit chain failed verification ({} entries): {}", a.entries, clean(why, 150)),
        ));
    }
    helper_findings(s, m, &mut out);
    for b in &s.backups {
        backup_findings(b, m, &mut out);
    }
    for c in &s.collectors {
        let failed_last = c.last_error.is_some() && c.last_run.is_some() && c.last_success < c.last_run;
        if failed_last {
            out.push(finding(
                AlertClass::CheckFailed,
                &c.name,
                AlertLevel::Warning,
                format!(
                    "the {} check itself failed: {}",
                    clean(&c.name, 40),
                    clean(c.last_error.as_deref().unwrap_or_default(), 200)
                ),
            ));
        }
    }
    out
}

/// The capacity level with hysteresis: a level is reached at its threshold and kept until the
/// usage drops 5 points below it (89 % keeps a 90 % error; 84 % ends it).
pub fn capacity_level(percent: f64, previous: Option<AlertLevel>) -> Option<AlertLevel> {
    const LEVELS: [(f64, AlertLevel); 3] =
        [(95.0, AlertLevel::Critical), (90.0, AlertLevel::Error), (85.0, AlertLevel::Warning)];
    LEVELS
        .iter()
        .find(|(threshold, level)| percent >= *threshold || (previous >= Some(*level) && percent >= threshold - 5.0))
        .map(|(_, level)| *level)
}

fn pool_findings(p: &PoolSample, m: &Memory, out: &mut Vec<Finding>) {
    let name = clean(&p.name, 64);
    let level = match p.state {
        PoolState::Degraded => Some(AlertLevel::Error),
        PoolState::Faulted | PoolState::Unavailable => Some(AlertLevel::Critical),
        PoolState::Online | PoolState::Unknown => None,
    };
    if let Some(level) = level {
        let members = if p.bad_members.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = p.bad_members.iter().take(8).map(|b| clean(b, 40)).collect();
            format!("; bad members: {}", names.join(", "))
        };
        out.push(finding(
            AlertClass::PoolDegraded,
            &p.name,
            level,
            format!("pool {name} is {} ({}){members}", p.state, clean(&p.state_text, 60)),
        ));
    }
    if let (Some(size), Some(alloc)) = (p.size_bytes, p.allocated_bytes)
        && size > 0
    {
        #[allow(clippy::cast_precision_loss)] // a percentage needs no more than f64's 52 bits
        let percent = alloc as f64 * 100.0 / size as f64;
        if let Some(level) = capacity_level(percent, m.level_of(AlertClass::PoolCapacity, &p.name)) {
            out.push(finding(
                AlertClass::PoolCapacity,
                &p.name,
                level,
                format!("pool {name} is {percent:.0} % full ({} of {} bytes used)", alloc, size),
            ));
        }
    }
    match (p.scrub_errors.filter(|n| *n > 0), p.member_errors.filter(|n| *n > 0)) {
        (Some(n), _) => out.push(finding(
            AlertClass::ScrubErrors,
            &p.name,
            AlertLevel::Error,
            format!("the last scrub of pool {name} found {n} errors"),
        )),
        (None, Some(n)) => out.push(finding(
            AlertClass::ScrubErrors,
            &p.name,
            AlertLevel::Warning,
            format!("pool {name}'s members report {n} read, write or checksum errors"),
        )),
        (None, None) => {}
    }
    // Only backends that scrub; "around that long" is the first time CoreNAS saw the pool.
    let scrubs = matches!(p.backend, Backend::Zfs | Backend::Btrfs);
    let first_seen = m.baseline(&pool_subject(&p.name), "first_seen").map(|(v, _)| v);
    if scrubs
        && !p.scrub_running
        && let Some(first_seen) = first_seen
    {
        // A scrub older than CoreNAS's first sighting also proves the pool's age.
        let born = p.scrub_last_end.map_or(first_seen, |t| t.min(first_seen));
        let overdue = p.scrub_last_end.is_none_or(|t| m.now - t >= SCRUB_OVERDUE_SECS);
        if m.now - born >= SCRUB_OVERDUE_SECS && overdue {
            let when = match p.scrub_last_end {
                Some(t) => format!("{} days ago", (m.now - t) / 86_400),
                None => "never (since CoreNAS first saw it)".to_owned(),
            };
            out.push(finding(
                AlertClass::ScrubOverdue,
                &p.name,
                AlertLevel::Notice,
                format!("pool {name} was last scrubbed {when}"),
            ));
        }
    }
}

/// The baseline subject under which a pool's first sighting is kept.
pub fn pool_subject(pool: &str) -> String {
    format!("pool:{}", clean(pool, SUBJECT_MAX))
}

/// A disk as a summary names it: its id, plus model and kernel name when known.
fn disk_label(d: &DiskSample) -> String {
    let model = d.model.as_deref().map(|m| format!(" {}", clean(m, 40))).unwrap_or_default();
    format!("disk {}{model} ({})", clean(&d.id, 64), clean(&d.dev, 16))
}

/// The rising-attribute values a disk has now, by baseline key.
pub fn rising_values(d: &DiskSample) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = d
        .attributes
        .iter()
        .filter(|a| RISING_ATTRIBUTES.iter().any(|(id, _)| *id == a.id))
        .map(|a| (ata_key(a.id), i64::try_from(a.raw).unwrap_or(i64::MAX)))
        .collect();
    if let Some(n) = d.nvme_media_errors {
        v.push((NVME_MEDIA_ERRORS.to_owned(), i64::try_from(n).unwrap_or(i64::MAX)));
    }
    v
}

fn attribute_name(key: &str) -> String {
    RISING_ATTRIBUTES
        .iter()
        .find(|(id, _)| ata_key(*id) == key)
        .map_or_else(|| "NVMe media errors".to_owned(), |(id, name)| format!("{id} {name}"))
}

fn disk_findings(d: &DiskSample, m: &Memory, out: &mut Vec<Finding>) {
    let label = disk_label(d);
    if d.smart_healthy == Some(false) {
        out.push(finding(
            AlertClass::DiskFailing,
            &d.id,
            AlertLevel::Critical,
            format!("{label}: SMART overall health check FAILED"),
        ));
    }
    let subject = clean(&d.id, SUBJECT_MAX);
    let rising: Vec<String> = rising_values(d)
        .into_iter()
        .filter_map(|(key, now)| {
            let (base, _) = m.baseline(&subject, &key)?;
            (now > base).then(|| format!("{} {base} → {now}", attribute_name(&key)))
        })
        .collect();
    if !rising.is_empty() {
        out.push(finding(
            AlertClass::DiskAttributeRising,
            &d.id,
            AlertLevel::Warning,
            format!("{label}: {}", rising.join(", ")),
        ));
    }
    if let Some(t) = d.temperature_c {
        // Spinning disks are rated to about 55 °C; SSDs and NVMe run hotter by design.
        let (warn, error) = if d.rotational == Some(false) { (70, 80) } else { (50, 60) };
        let level = if t >= error {
            Some(AlertLevel::Error)
        } else if t >= warn {
            Some(AlertLevel::Warning)
        } else {
            None
        };
        if let Some(level) = level {
            let mut f = finding(AlertClass::DiskTemperature, &d.id, level, format!("{label} is at {t} °C"));
            f.sustained = true;
            out.push(f);
        }
    }
    let used = d.nvme_percentage_used.map(|u| {
        let level = if u >= 95 { AlertLevel::Error } else { AlertLevel::Warning };
        (u >= 80, level, format!("{u} % of rated endurance used"))
    });
    let spare = d.nvme_available_spare.map(|s| (s <= 10, AlertLevel::Warning, format!("available spare {s} %")));
    let wear: Vec<(AlertLevel, String)> =
        [used, spare].into_iter().flatten().filter(|(bad, ..)| *bad).map(|(_, l, t)| (l, t)).collect();
    if let Some(level) = wear.iter().map(|(l, _)| *l).max() {
        let texts: Vec<&str> = wear.iter().map(|(_, t)| t.as_str()).collect();
        out.push(finding(AlertClass::DiskWear, &d.id, level, format!("{label}: {}", texts.join(", "))));
    }
}

fn job_findings(s: &HealthSnapshot, m: &Memory, out: &mut Vec<Finding>) {
    // The newest finished job of each kind+target decides: a later success ends the alert.
    let mut latest: HashMap<(String, String), &corenas_proto::monitor::JobSample> = HashMap::new();
    for j in s.jobs.iter().filter(|j| j.finished.is_some() && j.state != "running") {
        let key = (j.kind.clone(), j.target.clone());
        if latest.get(&key).is_none_or(|old| old.finished < j.finished) {
            latest.insert(key, j);
        }
    }
    let mut keys: Vec<_> = latest.into_iter().collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    for ((kind, target), j) in keys {
        if j.state != "failed" {
            continue;
        }
        let subject = clean(&format!("{kind}:{target}"), SUBJECT_MAX);
        // News is a failure after the last evaluation; an old failure only keeps its alert.
        let news = j.finished.is_some_and(|f| f > m.last_eval);
        if !news && m.level_of(AlertClass::JobFailed, &subject).is_none() {
            continue;
        }
        let why = j.message.as_deref().map(|w| format!(": {}", clean(w, 150))).unwrap_or_default();
        out.push(finding(
            AlertClass::JobFailed,
            &subject,
            AlertLevel::Notice,
            format!("{} job {} on {} failed{why}", clean(&kind, 24), clean(&j.id, 40), clean(&target, 64)),
        ));
    }
}

/// A backup counts as verified when a check or a sample restore passed within this long.
pub const BACKUP_VERIFY_SECS: i64 = 35 * 86_400;
/// How long after its period a scheduled backup may run before it is overdue (a long run, a
/// busy target).
pub const BACKUP_GRACE_SECS: i64 = 6 * 3600;

fn backup_findings(b: &corenas_proto::monitor::BackupSample, m: &Memory, out: &mut Vec<Finding>) {
    use corenas_proto::monitor::Cadence;
    let task = clean(&b.task, 64);
    let failed = |r: &Option<corenas_proto::monitor::RunSample>| {
        r.as_ref().and_then(|r| r.error.as_deref().map(|e| (clean(&r.job, 16), clean(e, 220))))
    };
    if let Some((job, why)) = failed(&b.last_backup) {
        out.push(finding(
            AlertClass::BackupFailed,
            &b.task,
            AlertLevel::Error,
            format!("backup of task {task} failed (job {job}): {why}"),
        ));
    }
    let period = match b.every {
        Cadence::Off => None,
        Cadence::Daily => Some(86_400),
        Cadence::Weekly => Some(7 * 86_400),
        Cadence::Monthly => Some(31 * 86_400),
    };
    if let Some(period) = period {
        let since = b.last_success.unwrap_or(b.created);
        if m.now - since > period + BACKUP_GRACE_SECS {
            let when = match b.last_success {
                Some(t) => format!("last succeeded {} hours ago", (m.now - t) / 3600),
                None => "has never succeeded".to_owned(),
            };
            out.push(finding(
                AlertClass::BackupOverdue,
                &b.task,
                AlertLevel::Warning,
                format!("backup of task {task} {when} (it runs {})", b.every),
            ));
        }
    }
    if let Some((job, why)) = failed(&b.last_check) {
        out.push(finding(
            AlertClass::BackupCheckFailed,
            &b.task,
            AlertLevel::Error,
            format!("the check of task {task}'s repository failed (job {job}): {why}"),
        ));
    }
    if let Some((job, why)) = failed(&b.last_sample_restore) {
        out.push(finding(
            AlertClass::BackupRestoreTestFailed,
            &b.task,
            AlertLevel::Error,
            format!("the sample restore of task {task} failed (job {job}): {why}"),
        ));
    }
    let verified = b.last_verified.unwrap_or(b.created);
    if m.now - verified > BACKUP_VERIFY_SECS {
        let when = match b.last_verified {
            Some(t) => format!("was last verified {} days ago", (m.now - t) / 86_400),
            None => "has never been verified (no check or sample restore passed)".to_owned(),
        };
        out.push(finding(
            AlertClass::BackupUnverified,
            &b.task,
            AlertLevel::Warning,
            format!("task {task}'s backup {when}"),
        ));
    }
    if !b.stale_locks.is_empty() {
        let locks: Vec<String> = b.stale_locks.iter().take(3).map(|l| clean(l, 90)).collect();
        out.push(finding(
            AlertClass::BackupStaleLock,
            &b.task,
            AlertLevel::Warning,
            format!(
                "the repository of task {task} (target {}) has stale locks: {}",
                clean(&b.target, 32),
                locks.join("; ")
            ),
        ));
    }
}

/// Error codes that are the helper refusing a bad or unauthorised request: not a helper failure.
pub fn is_refusal(code: &str) -> bool {
    matches!(
        code,
        "ok" | "E_INVALID_INPUT"
            | "E_NOT_ALLOWED"
            | "E_NOT_FOUND"
            | "E_ALREADY_EXISTS"
            | "E_OUT_OF_RANGE"
            | "E_BUSY"
            | "E_INVALID_STATE"
            | "E_UNAUTHENTICATED"
            | "E_LOCKED_OUT"
    )
}

/// The baseline key of a helper operation's error count.
pub fn helper_key(op: &str, code: &str) -> String {
    clean(&format!("{op}/{code}"), SUBJECT_MAX)
}

pub const HELPER_SUBJECT: &str = "helper";

fn helper_findings(s: &HealthSnapshot, m: &Memory, out: &mut Vec<Finding>) {
    // One alert per operation; its baseline's `since` is when its count last rose.
    let mut by_op: Vec<(String, Vec<String>)> = Vec::new();
    for h in s.helper.iter().filter(|h| !is_refusal(&h.result)) {
        let Some((_, rose)) = m.baseline(HELPER_SUBJECT, &helper_key(&h.op, &h.result)) else { continue };
        if rose <= 0 || m.now - rose >= HELPER_WINDOW_SECS {
            continue;
        }
        let text = format!("{} × {}", h.count, clean(&h.result, 24));
        match by_op.iter_mut().find(|(op, _)| *op == h.op) {
            Some((_, v)) => v.push(text),
            None => by_op.push((h.op.clone(), vec![text])),
        }
    }
    for (op, texts) in by_op {
        out.push(finding(
            AlertClass::HelperFailing,
            &op,
            AlertLevel::Warning,
            format!("corenas-helper's {} keeps failing: {} since corenasd started", clean(&op, 40), texts.join(", ")),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::monitor::{AttributeSample, CollectorStatus, MountSample, PowerState};

    pub(crate) fn pool(name: &str, state: PoolState, used_pct: u64) -> PoolSample {
        PoolSample {
            name: name.into(),
            backend: Backend::Zfs,
            state,
            state_text: state.to_string().to_uppercase(),
            size_bytes: Some(100),
            allocated_bytes: Some(used_pct),
            scrub_running: false,
            scrub_last_end: None,
            scrub_errors: Some(0),
            member_errors: Some(0),
            bad_members: if state == PoolState::Online { vec![] } else { vec!["/dev/loop7".into()] },
        }
    }

    pub(crate) fn disk(id: &str) -> DiskSample {
        DiskSample {
            dev: "sda".into(),
            id: id.into(),
            wwn: Some(id.into()),
            serial: Some("S1".into()),
            model: Some("Disk".into()),
            firmware: None,
            rotational: Some(true),
            power: PowerState::Active,
            smart_healthy: Some(true),
            temperature_c: Some(35),
            power_on_hours: Some(1),
            attributes: vec![AttributeSample { id: 197, raw: 0 }, AttributeSample { id: 9, raw: 100 }],
            nvme_percentage_used: None,
            nvme_available_spare: None,
            nvme_media_errors: None,
            smart_last_success: Some(1),
            last_error: None,
        }
    }

    fn classes(f: &[Finding]) -> Vec<(AlertClass, AlertLevel)> {
        f.iter().map(|f| (f.class, f.level)).collect()
    }

    #[test]
    fn capacity_has_hysteresis_of_five_points() {
        use AlertLevel::*;
        assert_eq!(capacity_level(84.9, None), None);
        assert_eq!(capacity_level(85.0, None), Some(Warning));
        assert_eq!(capacity_level(90.0, None), Some(Error));
        assert_eq!(capacity_level(96.0, None), Some(Critical));
        // Falling: critical holds to 90, error to 85, a warning to 80.
        assert_eq!(capacity_level(91.0, Some(Critical)), Some(Critical));
        assert_eq!(capacity_level(89.0, Some(Critical)), Some(Error));
        assert_eq!(capacity_level(85.0, Some(Error)), Some(Error));
        assert_eq!(capacity_level(84.0, Some(Error)), Some(Warning));
        assert_eq!(capacity_level(84.0, Some(Warning)), Some(Warning));
        assert_eq!(capacity_level(79.9, Some(Warning)), None);
        // Rising never waits for hysteresis.
        assert_eq!(capacity_level(95.0, Some(Warning)), Some(Critical));
    }

    #[test]
    fn pool_states_and_capacity_make_their_findings() {
        let snap = HealthSnapshot {
            pools: vec![
                pool("tank", PoolState::Degraded, 10),
                pool("dead", PoolState::Faulted, 10),
                pool("full", PoolState::Online, 91),
            ],
            ..Default::default()
        };
        let f = findings(&snap, &Memory::default());
        assert_eq!(
            classes(&f),
            vec![
                (AlertClass::PoolDegraded, AlertLevel::Error),
                (AlertClass::PoolDegraded, AlertLevel::Critical),
                (AlertClass::PoolCapacity, AlertLevel::Error),
            ]
        );
        assert!(f[0].summary.contains("/dev/loop7"), "{}", f[0].summary);
        assert!(!f[0].action.is_empty());
    }

    #[test]
    fn attribute_rising_compares_with_the_baseline_and_wear_and_heat_have_levels() {
        let mut d = disk("wwn-1");
        d.attributes[0].raw = 8;
        d.temperature_c = Some(61);
        d.nvme_percentage_used = Some(96);
        let mut m = Memory::default();
        let snap = HealthSnapshot { disks: vec![d], ..Default::default() };
        // No baseline yet: nothing rises (the engine records the first value seen).
        let f = findings(&snap, &m);
        assert!(!f.iter().any(|f| f.class == AlertClass::DiskAttributeRising));
        m.baselines.insert(("wwn-1".into(), ata_key(197)), (0, 1));
        let f = findings(&snap, &m);
        let rising = f.iter().find(|f| f.class == AlertClass::DiskAttributeRising).expect("rising");
        assert!(rising.summary.contains("197 Current_Pending_Sector 0 → 8"), "{}", rising.summary);
        let heat = f.iter().find(|f| f.class == AlertClass::DiskTemperature).expect("heat");
        assert_eq!(heat.level, AlertLevel::Error);
        assert!(heat.sustained);
        let wear = f.iter().find(|f| f.class == AlertClass::DiskWear).expect("wear");
        assert_eq!(wear.level, AlertLevel::Error);
    }

    #[test]
    fn jobs_alert_on_news_and_a_later_success_ends_it() {
        let job = |id: &str, state: &str, finished: i64| corenas_proto::monitor::JobSample {
            id: id.into(),
            kind: "scrub".into(),
            target: "tank".into(),
            state: state.into(),
            finished: Some(finished),
            message: Some("boom".into()),
        };
        let mut m = Memory { now: 100, last_eval: 50, ..Default::default() };
        let snap = HealthSnapshot { jobs: vec![job("a", "failed", 60)], ..Default::default() };
        assert_eq!(findings(&snap, &m)[0].subject, "scrub:tank");
        // An old failure with no alert is not news ...
        m.last_eval = 70;
        assert!(findings(&snap, &m).is_empty());
        // ... but keeps an alert that exists; a later success ends it.
        m.active.insert((AlertClass::JobFailed, "scrub:tank".into()), AlertLevel::Notice);
        assert_eq!(findings(&snap, &m).len(), 1);
        let snap = HealthSnapshot { jobs: vec![job("a", "failed", 60), job("b", "done", 65)], ..Default::default() };
        assert!(findings(&snap, &m).is_empty());
    }

    #[test]
    fn checks_mounts_audit_and_helper() {
        let snap = HealthSnapshot {
            mounts: vec![MountSample {
                target: "/mnt/x".into(),
                unit: "mnt-x.mount".into(),
                active: false,
                state_text: "failed".into(),
                retries: 2,
            }],
            audit: Some(corenas_proto::monitor::AuditSample {
                verified: false,
                checked_at: 1,
                entries: 3,
                problem: None,
            }),
            helper: vec![
                corenas_proto::monitor::HelperCount { op: "zpool".into(), result: "E_TOOL_FAILED".into(), count: 3 },
                corenas_proto::monitor::HelperCount { op: "acl".into(), result: "E_NOT_ALLOWED".into(), count: 9 },
            ],
            collectors: vec![CollectorStatus {
                name: "smart".into(),
                interval_seconds: 60,
                last_run: Some(10),
                last_success: Some(5),
                last_error: Some("smartctl: gone".into()),
                runs: 2,
                failures: 1,
            }],
            ..Default::default()
        };
        let mut m = Memory { now: 1000, ..Default::default() };
        m.baselines.insert((HELPER_SUBJECT.into(), helper_key("zpool", "E_TOOL_FAILED")), (3, 990));
        m.baselines.insert((HELPER_SUBJECT.into(), helper_key("acl", "E_NOT_ALLOWED")), (9, 990));
        let f = findings(&snap, &m);
        assert_eq!(
            classes(&f),
            vec![
                (AlertClass::MountDown, AlertLevel::Error),
                (AlertClass::AuditChain, AlertLevel::Critical),
                (AlertClass::HelperFailing, AlertLevel::Warning),
                (AlertClass::CheckFailed, AlertLevel::Warning),
            ]
        );
        assert!(f[0].sustained);
        assert_eq!(f[2].subject, "zpool");
        assert!(f[3].summary.contains("the smart check itself failed"));
    }

    #[test]
    fn backups_alert_on_failures_missed_windows_old_verification_and_stale_locks() {
        use corenas_proto::monitor::{BackupSample, Cadence, RunSample};
        let day = 86_400;
        let now = 100 * day;
        let ok = |job: &str, t: i64| Some(RunSample { job: job.into(), finished: t, error: None });
        let b = BackupSample {
            task: "docs".into(),
            target: "usb".into(),
            every: Cadence::Daily,
            created: now - 60 * day,
            last_success: Some(now - 3600),
            last_duration_seconds: Some(1.0),
            last_bytes_added: Some(1),
            snapshots: Some(2),
            last_backup: ok("bkp_000009", now - 3600),
            last_check: ok("bkp_000010", now - 3000),
            last_sample_restore: None,
            last_verified: Some(now - 3000),
            verify_coverage: 0.5,
            stale_locks: vec![],
        };
        let m = Memory { now, ..Default::default() };
        let snap = |b: &BackupSample| HealthSnapshot { backups: vec![b.clone()], ..Default::default() };
        assert!(findings(&snap(&b), &m).is_empty(), "{:?}", findings(&snap(&b), &m));

        let mut bad = b.clone();
        bad.last_backup = Some(RunSample {
            job: "bkp_000011".into(),
            finished: now - 60,
            error: Some("the target is unreachable: dial tcp 127.0.0.1:1: connect: connection refused".into()),
        });
        bad.last_success = Some(now - 3 * day);
        bad.last_check =
            Some(RunSample { job: "bkp_000012".into(), finished: now, error: Some("Pack ID does not match".into()) });
        bad.last_verified = Some(now - 40 * day);
        bad.stale_locks = vec!["lock d3a8041e (exclusive, pid 200 on nas, since x)".into()];
        let f = findings(&snap(&bad), &m);
        assert_eq!(
            classes(&f),
            vec![
                (AlertClass::BackupFailed, AlertLevel::Error),
                (AlertClass::BackupOverdue, AlertLevel::Warning),
                (AlertClass::BackupCheckFailed, AlertLevel::Error),
                (AlertClass::BackupUnverified, AlertLevel::Warning),
                (AlertClass::BackupStaleLock, AlertLevel::Warning),
            ]
        );
        assert!(f[0].summary.contains("unreachable") && f[0].subject == "docs", "{:?}", f[0]);
        assert!(f[1].summary.contains("last succeeded 72 hours ago"), "{}", f[1].summary);
        // A task that runs only when asked is never overdue; a new one is judged from its creation.
        let off = BackupSample { every: Cadence::Off, last_success: None, ..b.clone() };
        assert!(!findings(&snap(&off), &m).iter().any(|f| f.class == AlertClass::BackupOverdue));
        let new = BackupSample { created: now - 3600, last_success: None, last_verified: None, ..b };
        assert!(findings(&snap(&new), &m).is_empty());
    }

    #[test]
    fn hostile_names_are_cleaned_and_bounded() {
        let mut d = disk(&format!("evil\u{1b}[2J\r\nBcc: x{}", "A".repeat(500)));
        d.model = Some(format!("M\u{7}\n{}", "é".repeat(400)));
        d.smart_healthy = Some(false);
        let snap = HealthSnapshot { disks: vec![d], ..Default::default() };
        let f = findings(&snap, &Memory::default());
        assert_eq!(f.len(), 1);
        for text in [&f[0].subject, &f[0].summary] {
            assert!(!text.chars().any(char::is_control), "{text:?}");
        }
        assert!(f[0].subject.len() <= SUBJECT_MAX && f[0].summary.len() <= SUMMARY_MAX);
        assert!(f[0].subject.ends_with('…'));
        assert_eq!(clean("short", 10), "short");
        assert_eq!(clean("ab\u{0}c", 10), "abc");
        assert_eq!(clean(&"x".repeat(11), 10).chars().count(), 8);
    }
}
