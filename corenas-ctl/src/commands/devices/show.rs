//! How block devices, SMART reports, device events and imaging drives read.

use crate::text::{
    Table, indent_block, key_values, or_dash, printable, size, size_exact, size_or_dash, time_or_dash, yes_no,
};
use corenas_proto::devices::{self, SmartReport};
use corenas_proto::imaging::DeviceInfo;
use std::fmt::Write as _;

pub(crate) fn media(d: &DeviceInfo) -> String {
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

/// HDD or SSD by the rotational flag; an optical drive is neither.
pub(crate) fn device_type(d: &devices::DeviceInfo) -> &'static str {
    match (d.kind, d.rotational) {
        (devices::DeviceKind::Optical, _) => "optical",
        (_, true) => "HDD",
        (_, false) => "SSD",
    }
}

pub(crate) fn fs_text(fs_type: Option<&str>, label: Option<&str>) -> String {
    match (fs_type, label) {
        (Some(t), Some(l)) => format!("{t} ({l})"),
        (Some(t), None) => t.to_owned(),
        (None, _) => "-".to_owned(),
    }
}

pub(crate) fn uses_text(uses: &[devices::DeviceUse]) -> String {
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

pub(crate) fn health_text(r: &SmartReport) -> String {
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

pub(crate) fn count_or_dash(v: Option<u64>) -> String {
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
