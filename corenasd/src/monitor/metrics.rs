//! `/metrics`: the health cache in the OpenMetrics text format, encoded by the official
//! Prometheus client (`prometheus-client`).
//!
//! A scrape only reads: it clones the cache under a brief read lock and encodes the copy. It
//! never runs a tool and never asks the helper; what it shows is as old as the collectors' last
//! runs, which `corenas_collector_last_success_timestamp_seconds` tells.
//!
//! Disks are labelled by their stable identity (`id`: WWN, else serial); the kernel name `dev`
//! appears only on `corenas_disk_info`, for joins with node_exporter. Label values that come from
//! disks (model, firmware, serial) are firmware text: the encoder escapes them, and they are
//! also cut to [`LABEL_MAX`] bytes with control characters replaced first.

use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::monitor::{Alert, AlertState, HealthSnapshot, PoolState, PowerState};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

/// Longest label value written, in bytes.
pub const LABEL_MAX: usize = 128;

/// The curated SMART attributes (ATA ids) and the names they are exported under.
const ATTRIBUTES: &[(u16, &str)] = &[
    (5, "reallocated_sector_count"),
    (9, "power_on_hours"),
    (187, "reported_uncorrectable"),
    (188, "command_timeout"),
    (194, "temperature_celsius"),
    (197, "current_pending_sector"),
    (198, "offline_uncorrectable"),
    (199, "udma_crc_error_count"),
];

pub fn render(d: &Daemon) -> Result<String, WireError> {
    // Clone under the lock, encode without it: a slow client never holds up the collectors.
    // A poisoned lock still holds the last complete snapshot (writers replace whole records).
    let snapshot = d.monitor.snapshot.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    // The alert engine may be unable to answer (its state unreadable): then no alert series,
    // rather than no metrics at all; `corenas_alerts_listed` says which.
    let alerts = match crate::alerts::list(d, false) {
        Ok(a) => Some(a),
        Err(e) => {
            tracing::debug!(error = %e.message, "metrics: the active alerts could not be listed");
            None
        }
    };
    encode_snapshot(&snapshot, alerts.as_deref(), env!("CARGO_PKG_VERSION"))
}

/// A label value as written: control characters replaced, at most [`LABEL_MAX`] bytes (cut on a
/// character boundary). Escaping quotes, backslashes and newlines is the encoder's job.
pub fn label(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(LABEL_MAX));
    for c in s.chars() {
        let c = if c.is_control() { '\u{FFFD}' } else { c };
        if out.len() + c.len_utf8() > LABEL_MAX {
            break;
        }
        out.push(c);
    }
    out
}

type Labels = Vec<(&'static str, String)>;
type IntFamily = Family<Labels, Gauge>;
type FloatFamily = Family<Labels, Gauge<f64, AtomicU64>>;
type CounterFamily = Family<Labels, Counter>;

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The registry of one scrape: built, filled and encoded per request (the values are the
/// cache's, so nothing is kept between scrapes).
struct Scrape {
    reg: Registry,
}

impl Scrape {
    fn gauge(&mut self, name: &str, help: &str, unit: Option<Unit>) -> IntFamily {
        let f = IntFamily::default();
        match unit {
            Some(u) => self.reg.register_with_unit(name, help, u, f.clone()),
            None => self.reg.register(name, help, f.clone()),
        }
        f
    }
    fn float(&mut self, name: &str, help: &str, unit: Option<Unit>) -> FloatFamily {
        let f = FloatFamily::default();
        match unit {
            Some(u) => self.reg.register_with_unit(name, help, u, f.clone()),
            None => self.reg.register(name, help, f.clone()),
        }
        f
    }
    /// A counter (the encoder adds `_total`).
    fn counter(&mut self, name: &str, help: &str, unit: Option<Unit>) -> CounterFamily {
        let f = CounterFamily::default();
        match unit {
            Some(u) => self.reg.register_with_unit(name, help, u, f.clone()),
            None => self.reg.register(name, help, f.clone()),
        }
        f
    }
}

fn set(f: &IntFamily, labels: Labels, v: i64) {
    f.get_or_create(&labels).set(v);
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// The OpenMetrics text of a snapshot; `alerts` is `None` when they could not be listed.
pub fn encode_snapshot(s: &HealthSnapshot, alerts: Option<&[Alert]>, version: &str) -> Result<String, WireError> {
    let mut m = Scrape { reg: Registry::with_prefix("corenas") };
    let build = m.gauge("build_info", "The running CoreNAS version (always 1)", None);
    set(&build, vec![("version", label(version))], 1);

    pools(&mut m, s);
    disks(&mut m, s);
    rest(&mut m, s, alerts);
    backups(&mut m, s);

    let mut out = String::with_capacity(64 * 1024);
    encode(&mut out, &m.reg).map_err(|_| WireError::internal("metrics: the encoder failed"))?;
    Ok(out)
}

fn pools(m: &mut Scrape, s: &HealthSnapshot) {
    let state = m.gauge("pool_state", "Pool state as a set: 1 for the current state, 0 for the others", None);
    let size = m.gauge("pool_size", "Pool size", Some(Unit::Bytes));
    let alloc = m.gauge("pool_allocated", "Space allocated in the pool", Some(Unit::Bytes));
    let scrub_end = m.gauge("pool_scrub_last_end_timestamp", "When the last finished scrub ended", Some(Unit::Seconds));
    let scrub_errors = m.gauge("pool_scrub_errors", "Errors the last scrub found (repaired or not)", None);
    let scrub_running = m.gauge("pool_scrub_running", "Whether a scrub is running (1) or not (0)", None);
    let member_errors = m.gauge("pool_member_errors", "Read, write and checksum errors over the pool's members", None);
    let bad_members = m.gauge("pool_bad_members", "Members the backend reports as not online", None);
    for p in &s.pools {
        let pool = label(&p.name);
        let kind = p.backend.as_str().to_owned();
        for st in PoolState::ALL {
            let labels = vec![("pool", pool.clone()), ("kind", kind.clone()), ("state", st.as_str().to_owned())];
            set(&state, labels, flag(*st == p.state));
        }
        let l = || vec![("pool", pool.clone())];
        if let Some(v) = p.size_bytes {
            set(&size, l(), int(v));
        }
        if let Some(v) = p.allocated_bytes {
            set(&alloc, l(), int(v));
        }
        if let Some(v) = p.scrub_last_end {
            set(&scrub_end, l(), v);
        }
        if let Some(v) = p.scrub_errors {
            set(&scrub_errors, l(), int(v));
        }
        set(&scrub_running, l(), flag(p.scrub_running));
        if let Some(v) = p.member_errors {
            set(&member_errors, l(), int(v));
        }
        set(&bad_members, l(), int(p.bad_members.len() as u64));
    }
    let used = m.gauge("dataset_used", "Space the dataset uses", Some(Unit::Bytes));
    let avail = m.gauge("dataset_available", "Space still available to the dataset", Some(Unit::Bytes));
    for d in &s.datasets {
        let l = || vec![("pool", label(&d.pool)), ("dataset", label(&d.name))];
        if let Some(v) = d.used_bytes {
            set(&used, l(), int(v));
        }
        if let Some(v) = d.available_bytes {
            set(&avail, l(), int(v));
        }
    }
}

fn disks(m: &mut Scrape, s: &HealthSnapshot) {
    let info = m.gauge("disk_info", "A disk's identity (always 1); dev is the kernel name now, not stable", None);
    let power = m.gauge("disk_power_state", "Power mode as a set: 1 for the current mode, 0 for the others", None);
    let healthy = m.gauge("disk_smart_healthy", "smartctl's overall verdict at the last successful read", None);
    let temp = m.gauge("disk_temperature", "Disk temperature", Some(Unit::Celsius));
    let on = m.gauge("disk_power_on", "Time the disk has been powered on", Some(Unit::Seconds));
    let attr = m.gauge("disk_smart_attribute_raw", "Raw value of a curated SMART attribute", None);
    let used = m.gauge("disk_nvme_percentage_used", "NVMe endurance used, in percent (may exceed 100)", None);
    let spare = m.gauge("disk_nvme_available_spare_percentage", "NVMe spare capacity left, in percent", None);
    let media = m.gauge("disk_nvme_media_errors", "NVMe media and data integrity errors", None);
    let last =
        m.gauge("disk_smart_last_success_timestamp", "When SMART was last read successfully", Some(Unit::Seconds));
    for d in &s.disks {
        let id = label(&d.id);
        let opt = |v: &Option<String>| v.as_deref().map(label).unwrap_or_default();
        set(
            &info,
            vec![
                ("id", id.clone()),
                ("wwn", opt(&d.wwn)),
                ("serial", opt(&d.serial)),
                ("model", opt(&d.model)),
                ("firmware", opt(&d.firmware)),
                ("dev", label(&d.dev)),
            ],
            1,
        );
        for st in PowerState::ALL {
            set(&power, vec![("id", id.clone()), ("state", st.as_str().to_owned())], flag(*st == d.power));
        }
        let l = || vec![("id", id.clone())];
        if let Some(v) = d.smart_healthy {
            set(&healthy, l(), flag(v));
        }
        if let Some(v) = d.temperature_c {
            set(&temp, l(), v);
        }
        if let Some(v) = d.power_on_hours {
            set(&on, l(), int(v.saturating_mul(3600)));
        }
        for a in &d.attributes {
            if let Some((_, name)) = ATTRIBUTES.iter().find(|(n, _)| *n == a.id) {
                set(&attr, vec![("id", id.clone()), ("attribute", (*name).to_owned())], int(a.raw));
            }
        }
        if let Some(v) = d.nvme_percentage_used {
            set(&used, l(), int(v));
        }
        if let Some(v) = d.nvme_available_spare {
            set(&spare, l(), int(v));
        }
        if let Some(v) = d.nvme_media_errors {
            set(&media, l(), int(v));
        }
        if let Some(v) = d.smart_last_success {
            set(&last, l(), v);
        }
    }
}

/// Per backup task, from its jobs' records (decision 0020, "Proven restorability").
fn backups(m: &mut Scrape, s: &HealthSnapshot) {
    let success = m.gauge(
        "backup_last_success_timestamp",
        "When the task's newest backup that made a snapshot ended",
        Some(Unit::Seconds),
    );
    let duration = m.float("backup_last_duration", "How long restic took for that backup", Some(Unit::Seconds));
    let added = m.gauge("backup_bytes_added", "Bytes that backup added to the repository (after deduplication)", None);
    let snapshots = m.gauge("backup_snapshots", "The task's snapshots in its repository after its last backup", None);
    let verified = m.gauge(
        "backup_last_verified_timestamp",
        "When a check or sample restore of the task last passed",
        Some(Unit::Seconds),
    );
    let coverage = m.float(
        "backup_verify_coverage_ratio",
        "Share of the repository's data the rolling checks read since the last failure (0 to 1)",
        None,
    );
    for b in &s.backups {
        let l = || vec![("task", label(&b.task))];
        if let Some(v) = b.last_success {
            set(&success, l(), v);
        }
        if let Some(v) = b.last_duration_seconds {
            duration.get_or_create(&l()).set(v);
        }
        if let Some(v) = b.last_bytes_added {
            set(&added, l(), int(v));
        }
        if let Some(v) = b.snapshots {
            set(&snapshots, l(), int(v));
        }
        if let Some(v) = b.last_verified {
            set(&verified, l(), v);
        }
        coverage.get_or_create(&l()).set(b.verify_coverage);
    }
}

fn rest(m: &mut Scrape, s: &HealthSnapshot, alerts: Option<&[Alert]>) {
    let mount = m.gauge("mount_up", "Whether a CoreNAS mount is active (1) or not (0)", None);
    for mt in &s.mounts {
        set(&mount, vec![("target", label(&mt.target))], flag(mt.active));
    }

    // Failed jobs among the recent ones, by kind; every kind seen is listed, 0 included, so an
    // alert rule can tell "none failed" from "never ran".
    let failed = m.gauge("job_failed", "Recent jobs that failed, by kind", None);
    let mut by_kind: BTreeMap<String, i64> = BTreeMap::new();
    for j in &s.jobs {
        *by_kind.entry(label(&j.kind)).or_default() += flag(j.state == "failed");
    }
    for (kind, n) in by_kind {
        set(&failed, vec![("kind", kind)], n);
    }

    let listed = m.gauge("alerts_listed", "Whether the active alerts could be read (1) or not (0)", None);
    set(&listed, vec![], flag(alerts.is_some()));
    let active = m.gauge("alerts_active", "Active alerts by level and class", None);
    let mut counts: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for a in alerts.unwrap_or_default().iter().filter(|a| a.state == AlertState::Active) {
        *counts.entry((a.level.as_str(), a.class.as_str())).or_default() += 1;
    }
    for ((level, class), n) in counts {
        set(&active, vec![("level", level.to_owned()), ("class", class.to_owned())], n);
    }

    let verified = m.gauge("audit_chain_verified", "Whether the audit log's hash chain verified (1) or not (0)", None);
    let checked =
        m.gauge("audit_chain_last_check_timestamp", "When the audit chain was last checked", Some(Unit::Seconds));
    let entries = m.gauge("audit_entries", "Entries in the audit log at the last check", None);
    if let Some(a) = &s.audit {
        set(&verified, vec![], flag(a.verified));
        set(&checked, vec![], a.checked_at);
        set(&entries, vec![], int(a.entries));
    }

    let helper = m.counter("helper_requests", "Requests corenasd made to the privileged helper", None);
    for h in &s.helper {
        helper.get_or_create(&vec![("op", label(&h.op)), ("result", label(&h.result))]).inc_by(h.count);
    }

    let success =
        m.gauge("collector_last_success_timestamp", "When a collector last ran without error", Some(Unit::Seconds));
    let up = m.gauge("collector_up", "Whether a collector's last run succeeded (1) or not (0)", None);
    let runs = m.counter("collector_runs", "Runs of a collector", None);
    let failures = m.counter("collector_failures", "Failed runs of a collector", None);
    for c in &s.collectors {
        let l = || vec![("collector", label(&c.name))];
        if let Some(v) = c.last_success {
            set(&success, l(), v);
        }
        set(&up, l(), flag(c.last_success.is_some() && c.last_error.is_none()));
        runs.get_or_create(&l()).inc_by(c.runs);
        failures.get_or_create(&l()).inc_by(c.failures);
    }

    let cpu = m.float("cpu_busy_ratio", "Share of CPU time not idle since the previous sample (0 to 1)", None);
    let mem_total = m.gauge("memory_total", "Memory installed", Some(Unit::Bytes));
    let mem_avail = m.gauge("memory_available", "Memory available without swapping", Some(Unit::Bytes));
    let load1 = m.float("load1", "Load average over one minute", None);
    let rx = m.counter("network_receive", "Bytes received by an interface", Some(Unit::Bytes));
    let tx = m.counter("network_transmit", "Bytes sent by an interface", Some(Unit::Bytes));
    if let Some(sys) = &s.system {
        if let Some(v) = sys.cpu_busy_ratio {
            cpu.get_or_create(&vec![]).set(v);
        }
        set(&mem_total, vec![], int(sys.memory_total_bytes));
        set(&mem_avail, vec![], int(sys.memory_available_bytes));
        load1.get_or_create(&vec![]).set(sys.load1);
        for n in &sys.net {
            rx.get_or_create(&vec![("interface", label(&n.interface))]).inc_by(n.rx_bytes);
            tx.get_or_create(&vec![("interface", label(&n.interface))]).inc_by(n.tx_bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::monitor::{
        AlertClass, AlertLevel, AttributeSample, AuditSample, CollectorStatus, DiskSample, PoolSample,
    };
    use corenas_proto::storage::Backend;

    fn disk(id: &str, model: &str) -> DiskSample {
        DiskSample {
            dev: "sda".into(),
            id: id.into(),
            wwn: Some(id.into()),
            serial: Some("S1".into()),
            model: Some(model.into()),
            firmware: Some("FW1".into()),
            rotational: Some(true),
            power: PowerState::Standby,
            smart_healthy: Some(true),
            temperature_c: Some(38),
            power_on_hours: Some(2),
            attributes: vec![AttributeSample { id: 5, raw: 3 }, AttributeSample { id: 1, raw: 99 }],
            nvme_percentage_used: None,
            nvme_available_spare: None,
            nvme_media_errors: None,
            smart_last_success: Some(1_700_000_000),
            last_error: None,
        }
    }

    fn snapshot() -> HealthSnapshot {
        HealthSnapshot {
            pools: vec![PoolSample {
                name: "tank".into(),
                backend: Backend::Zfs,
                state: PoolState::Degraded,
                state_text: "DEGRADED".into(),
                size_bytes: Some(1 << 30),
                allocated_bytes: Some(1 << 20),
                scrub_running: false,
                scrub_last_end: Some(1_700_000_000),
                scrub_errors: Some(0),
                member_errors: None,
                bad_members: vec!["loop3".into()],
            }],
            disks: vec![disk("0x5000c500a1b2c3d4", "WDC WD40")],
            audit: Some(AuditSample { verified: true, checked_at: 1_700_000_001, entries: 12, problem: None }),
            collectors: vec![CollectorStatus {
                name: "pools".into(),
                interval_seconds: 60,
                last_run: Some(5),
                last_success: Some(5),
                last_error: None,
                runs: 3,
                failures: 1,
            }],
            ..Default::default()
        }
    }

    /// The sample lines (not comments) of a metric, exactly by name.
    fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines().filter(|l| !l.starts_with('#')).filter(|l| l.split(['{', ' ']).next() == Some(name)).collect()
    }

    #[test]
    fn names_states_and_units() {
        let text = encode_snapshot(&snapshot(), Some(&[]), "1.2.3").unwrap();
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(samples(&text, "corenas_build_info"), ["corenas_build_info{version=\"1.2.3\"} 1"]);
        let states = samples(&text, "corenas_pool_state");
        assert_eq!(states.len(), PoolState::ALL.len());
        assert!(states.contains(&"corenas_pool_state{pool=\"tank\",kind=\"zfs\",state=\"degraded\"} 1"), "{states:?}");
        assert!(states.contains(&"corenas_pool_state{pool=\"tank\",kind=\"zfs\",state=\"online\"} 0"), "{states:?}");
        assert_eq!(samples(&text, "corenas_pool_size_bytes"), ["corenas_pool_size_bytes{pool=\"tank\"} 1073741824"]);
        assert!(text.contains("# UNIT corenas_pool_size_bytes bytes"), "{text}");
        assert_eq!(samples(&text, "corenas_pool_bad_members"), ["corenas_pool_bad_members{pool=\"tank\"} 1"]);
        assert_eq!(
            samples(&text, "corenas_disk_power_state").into_iter().filter(|l| l.ends_with(" 1")).collect::<Vec<_>>(),
            ["corenas_disk_power_state{id=\"0x5000c500a1b2c3d4\",state=\"standby\"} 1"]
        );
        // Only the curated attributes: id 1 (raw read error rate, vendor-specific) is not exported.
        assert_eq!(
            samples(&text, "corenas_disk_smart_attribute_raw"),
            ["corenas_disk_smart_attribute_raw{id=\"0x5000c500a1b2c3d4\",attribute=\"reallocated_sector_count\"} 3"]
        );
        assert_eq!(
            samples(&text, "corenas_disk_power_on_seconds"),
            ["corenas_disk_power_on_seconds{id=\"0x5000c500a1b2c3d4\"} 7200"]
        );
        assert_eq!(samples(&text, "corenas_collector_up"), ["corenas_collector_up{collector=\"pools\"} 1"]);
        assert_eq!(
            samples(&text, "corenas_collector_failures_total"),
            ["corenas_collector_failures_total{collector=\"pools\"} 1"]
        );
        assert_eq!(samples(&text, "corenas_audit_chain_verified"), ["corenas_audit_chain_verified 1"]);
        assert_eq!(samples(&text, "corenas_alerts_listed"), ["corenas_alerts_listed 1"]);
    }

    #[test]
    fn alerts_are_counted_by_level_and_class_and_absent_when_unreadable() {
        let a = Alert {
            id: "a1".into(),
            class: AlertClass::PoolDegraded,
            subject: "tank".into(),
            level: AlertLevel::Critical,
            state: AlertState::Active,
            summary: String::new(),
            action: String::new(),
            first_seen: 1,
            last_seen: 1,
            resolved_at: None,
            dismissed_by: None,
            dismissed_at: None,
            silenced_by: None,
        };
        let resolved = Alert { id: "a2".into(), state: AlertState::Resolved, ..a.clone() };
        let text = encode_snapshot(&snapshot(), Some(&[a.clone(), a, resolved]), "1").unwrap();
        assert_eq!(
            samples(&text, "corenas_alerts_active"),
            ["corenas_alerts_active{level=\"critical\",class=\"pool_degraded\"} 2"]
        );
        let text = encode_snapshot(&snapshot(), None, "1").unwrap();
        assert!(samples(&text, "corenas_alerts_active").is_empty());
        assert_eq!(samples(&text, "corenas_alerts_listed"), ["corenas_alerts_listed 0"]);
    }

    /// The attacker writes the disk's model string (firmware text, or a USB bridge that makes
    /// one up): it must not end the label, end the line, or add a series of its own.
    #[test]
    fn a_hostile_model_string_cannot_forge_a_series() {
        let evil = "x\"} 1\ncorenas_fake 1\n\\\"\r\u{0}corenas_pool_state{pool=\"tank\"} 1 \\";
        let mut s = snapshot();
        s.disks = vec![disk("0x5000c500a1b2c3d4", evil)];
        s.disks[0].serial = Some(evil.repeat(20));
        let text = encode_snapshot(&s, Some(&[]), "1").unwrap();
        assert!(samples(&text, "corenas_fake").is_empty(), "{text}");
        assert!(!text.lines().any(|l| l.starts_with("corenas_fake")), "{text}");
        assert_eq!(samples(&text, "corenas_pool_state").len(), PoolState::ALL.len(), "{text}");
        let info = samples(&text, "corenas_disk_info");
        assert_eq!(info.len(), 1, "{text}");
        // Every quote inside a label value is escaped: outside the escapes, the line has
        // exactly the quotes of its six labels.
        let unescaped = info[0].replace("\\\\", "").replace("\\\"", "");
        assert_eq!(unescaped.matches('"').count(), 12, "{}", info[0]);
        assert!(unescaped.ends_with("} 1"), "{}", info[0]);
        // The serial, 20 times the hostile text, is cut to LABEL_MAX bytes.
        let serial = unescaped.split("serial=\"").nth(1).and_then(|r| r.split('"').next()).unwrap();
        assert!(serial.len() <= LABEL_MAX, "{serial}");
    }

    #[test]
    fn labels_are_bounded_on_character_boundaries() {
        assert_eq!(label("ok"), "ok");
        assert_eq!(label("a\nb"), "a\u{FFFD}b");
        let long = "é".repeat(100);
        let l = label(&long);
        assert!(l.len() <= LABEL_MAX && l.len() >= LABEL_MAX - 1);
        assert!(l.chars().all(|c| c == 'é'));
    }

    #[test]
    fn backups_are_exported_per_task() {
        let mut s = HealthSnapshot::default();
        s.backups.push(corenas_proto::monitor::BackupSample {
            task: "docs".into(),
            target: "usb".into(),
            every: corenas_proto::monitor::Cadence::Daily,
            created: 1,
            last_success: Some(1_700_000_000),
            last_duration_seconds: Some(2.5),
            last_bytes_added: Some(4096),
            snapshots: Some(3),
            last_backup: None,
            last_check: None,
            last_sample_restore: None,
            last_verified: Some(1_700_000_100),
            verify_coverage: 0.25,
            stale_locks: vec![],
        });
        let text = encode_snapshot(&s, Some(&[]), "1").unwrap();
        assert_eq!(
            samples(&text, "corenas_backup_last_success_timestamp_seconds"),
            ["corenas_backup_last_success_timestamp_seconds{task=\"docs\"} 1700000000"]
        );
        assert_eq!(
            samples(&text, "corenas_backup_last_duration_seconds"),
            ["corenas_backup_last_duration_seconds{task=\"docs\"} 2.5"]
        );
        assert_eq!(samples(&text, "corenas_backup_bytes_added"), ["corenas_backup_bytes_added{task=\"docs\"} 4096"]);
        assert_eq!(samples(&text, "corenas_backup_snapshots"), ["corenas_backup_snapshots{task=\"docs\"} 3"]);
        assert_eq!(
            samples(&text, "corenas_backup_last_verified_timestamp_seconds"),
            ["corenas_backup_last_verified_timestamp_seconds{task=\"docs\"} 1700000100"]
        );
        assert_eq!(
            samples(&text, "corenas_backup_verify_coverage_ratio"),
            ["corenas_backup_verify_coverage_ratio{task=\"docs\"} 0.25"]
        );
    }

    #[test]
    fn an_empty_cache_still_encodes() {
        let text = encode_snapshot(&HealthSnapshot::default(), None, "1").unwrap();
        assert_eq!(samples(&text, "corenas_build_info").len(), 1);
        assert!(text.ends_with("# EOF\n"));
    }
}
