//! SMART without waking a sleeping disk. A rotating disk is asked through the helper's
//! `SmartIfAwake` (`smartctl -n standby,3`): in standby or sleep smartctl reads nothing and
//! exits 3, and the disk keeps its last values with `power: standby` and no further SMART call
//! this round. SSDs and NVMe (not rotational) may misreport standby, and reading them wakes
//! nothing that spins: they are read with the plain `Smart` query. No disk is asked more often
//! than the collector's interval, whatever wakes the collector.

use super::Run;
use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::devices::{DeviceInfo, DeviceKind};
use corenas_proto::helper::StorageQuery;
use corenas_proto::monitor::{AttributeSample, DiskSample, PowerState};
use corenas_proto::names::DevicePath;
use serde_json::Value;

/// The ATA attributes kept (raw values): reallocated sectors, power-on hours, reported
/// uncorrectable, command timeouts, temperature, pending, offline uncorrectable, UDMA CRC
/// errors.
pub const CURATED_ATTRIBUTES: [u16; 8] = [5, 9, 187, 188, 194, 197, 198, 199];
/// smartctl's exit status for "in a low-power mode, nothing read" (the `,3` of `-n standby,3`).
pub const STANDBY_EXIT: i32 = 3;

pub async fn collect(d: &Daemon, run: Run<'_>) -> Result<Vec<DiskSample>, WireError> {
    let inventory = crate::devices::service::inventory(d).await?;
    let mut out = Vec::new();
    let mut helper = None;
    for dev in
        inventory.iter().filter(|x| x.kind == DeviceKind::Disk || (run.loops_as_disks && x.kind == DeviceKind::Loop))
    {
        let wwn = wwn_of(dev);
        let id = wwn.clone().or_else(|| dev.serial.clone()).unwrap_or_else(|| dev.name.clone());
        let mut s = match run.previous.disks.iter().find(|s| s.id == id) {
            Some(prev) => prev.clone(),
            None => new_sample(dev, &id, wwn),
        };
        s.dev.clone_from(&dev.name);
        s.rotational = Some(dev.rotational);
        let due = poll_due(run.memory.disk_polled.get(&id).copied(), run.now, run.interval);
        if !due {
            out.push(s);
            continue;
        }
        run.memory.disk_polled.insert(id.clone(), run.now);
        let device: DevicePath = match dev.path.parse() {
            Ok(p) => p,
            Err(e) => {
                s.last_error = Some(format!("{}: {e}", dev.path));
                out.push(s);
                continue;
            }
        };
        if helper.is_none() {
            helper = Some(d.helper.storage().await?);
        }
        let Some(h) = helper.as_ref() else { continue };
        let q = if dev.rotational {
            StorageQuery::SmartIfAwake { device: device.clone() }
        } else {
            StorageQuery::Smart { device: device.clone() }
        };
        match h.storage_query(q).await {
            Ok(o) => apply(&mut s, dev.rotational, o.code, &o.stdout, run.now),
            Err(e) => {
                s.power = PowerState::Unknown;
                s.last_error = Some(e.message);
            }
        }
        out.push(s);
    }
    Ok(out)
}

/// Whether a disk last asked at `last` may be asked again at `now`: never sooner than
/// `interval` seconds. A time in the future means the clock went back: due, once.
pub fn poll_due(last: Option<i64>, now: i64, interval: u64) -> bool {
    let interval = i64::try_from(interval).unwrap_or(i64::MAX);
    last.is_none_or(|t| t > now || now - t >= interval)
}

fn new_sample(dev: &DeviceInfo, id: &str, wwn: Option<String>) -> DiskSample {
    DiskSample {
        dev: dev.name.clone(),
        id: id.to_owned(),
        wwn,
        serial: dev.serial.clone(),
        model: dev.model.clone(),
        firmware: None,
        rotational: Some(dev.rotational),
        power: PowerState::Unknown,
        smart_healthy: None,
        temperature_c: None,
        power_on_hours: None,
        attributes: Vec::new(),
        nvme_percentage_used: None,
        nvme_available_spare: None,
        nvme_media_errors: None,
        smart_last_success: None,
        last_error: None,
    }
}

/// The WWN from udev's `wwn-0x…` link, else the kernel's `naa.`/`eui.` wwid (a `t10.` wwid
/// is vendor text, not a WWN).
fn wwn_of(dev: &DeviceInfo) -> Option<String> {
    let from_link = dev
        .by_id
        .iter()
        .filter_map(|l| l.rsplit('/').next())
        .find_map(|n| n.strip_prefix("wwn-"))
        .filter(|w| !w.contains("-part"))
        .map(str::to_owned);
    from_link.or_else(|| {
        let w = std::fs::read_to_string(format!("/sys/class/block/{}/device/wwid", dev.name))
            .or_else(|_| std::fs::read_to_string(format!("/sys/class/block/{}/wwid", dev.name)))
            .ok()?;
        let w = w.trim();
        (w.starts_with("naa.") || w.starts_with("eui.")).then(|| crate::devices::clean_text(w, 64)).flatten()
    })
}

/// The power mode smartctl reported. With `-n standby,3` a disk in standby or sleep makes it
/// print "Device is in STANDBY mode, exit(3)" (or SLEEP, or "STANDBY (OS)" when the kernel
/// has the disk suspended) and exit 3; an awake disk is read, and its mode is "ACTIVE or IDLE"
/// (ATA cannot tell the two apart before a command).
pub fn power_state(code: Option<i32>, stdout: &str) -> PowerState {
    let root: Option<Value> = serde_json::from_str(stdout).ok();
    let messages = root
        .as_ref()
        .and_then(|r| r.pointer("/smartctl/messages"))
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(|x| x.get("string").and_then(Value::as_str)).collect::<Vec<_>>())
        .unwrap_or_default();
    for m in messages {
        if let Some(rest) = m.split("Device is in ").nth(1) {
            let mode = rest.split(" mode").next().unwrap_or_default();
            return if mode.starts_with("SLEEP") {
                PowerState::Sleep
            } else if mode.starts_with("STANDBY") {
                PowerState::Standby
            } else if mode.starts_with("IDLE") {
                PowerState::Idle
            } else {
                PowerState::Unknown
            };
        }
    }
    if code == Some(STANDBY_EXIT) {
        // Exit 3 is only ever `-n`'s: a command-line error (bit 0) stops before the device is
        // opened (bit 1), so the two never come together.
        return PowerState::Standby;
    }
    match root.as_ref().and_then(|r| r.get("power_mode")).and_then(Value::as_str) {
        Some(m) if m.starts_with("IDLE") => PowerState::Idle,
        Some(m) if m.starts_with("STANDBY") => PowerState::Standby,
        _ => PowerState::Active,
    }
}

/// What one smartctl answer means for a disk's sample.
pub fn apply(s: &mut DiskSample, rotational: bool, code: Option<i32>, stdout: &str, now: i64) {
    if rotational {
        let p = power_state(code, stdout);
        if matches!(p, PowerState::Standby | PowerState::Sleep) {
            // Asleep is not an error: the values and their time stay as they were.
            s.power = p;
            s.last_error = None;
            return;
        }
        s.power = p;
    }
    let r = crate::devices::smart::parse(&format!("/dev/{}", s.dev), code, stdout);
    if !r.available {
        if !rotational {
            s.power = PowerState::Unknown;
        }
        s.last_error = Some(r.message.clone().unwrap_or_else(|| {
            if r.exit_problems.is_empty() { "smartctl read nothing".to_owned() } else { r.exit_problems.join("; ") }
        }));
        return;
    }
    if !rotational {
        s.power = PowerState::Active;
    }
    let c = curated(stdout);
    s.smart_healthy = r.health_passed;
    s.temperature_c = r.temperature_c;
    s.power_on_hours = r.power_on_hours;
    s.model = s.model.take().or(r.model);
    s.serial = s.serial.take().or(r.serial);
    s.firmware = r.firmware.or(s.firmware.take());
    s.wwn = s.wwn.take().or(c.wwn);
    s.attributes = c.attributes;
    s.nvme_percentage_used = r.nvme_percentage_used;
    s.nvme_media_errors = r.nvme_media_errors;
    s.nvme_available_spare = c.nvme_available_spare;
    s.smart_last_success = Some(now);
    s.last_error = None;
}

/// What `devices::smart` does not keep: the curated ATA raw values, NVMe's available spare and
/// the WWN smartctl read.
#[derive(Debug, Default, PartialEq)]
pub struct Curated {
    pub attributes: Vec<AttributeSample>,
    pub nvme_available_spare: Option<u64>,
    pub wwn: Option<String>,
}

pub fn curated(stdout: &str) -> Curated {
    if stdout.len() > crate::devices::smart::MAX_SMARTCTL_OUTPUT {
        return Curated::default();
    }
    let Ok(root) = serde_json::from_str::<Value>(stdout) else { return Curated::default() };
    let mut attributes: Vec<AttributeSample> = root
        .pointer("/ata_smart_attributes/table")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(|a| {
                    let id = u16::try_from(a.get("id")?.as_u64()?).ok()?;
                    let raw = a.pointer("/raw/value")?.as_u64()?;
                    CURATED_ATTRIBUTES.contains(&id).then_some(AttributeSample { id, raw })
                })
                .collect()
        })
        .unwrap_or_default();
    attributes.sort_by_key(|a| a.id);
    attributes.dedup_by_key(|a| a.id);
    let wwn = root.get("wwn").and_then(|w| {
        let (naa, oui, id) = (w.get("naa")?.as_u64()?, w.get("oui")?.as_u64()?, w.get("id")?.as_u64()?);
        // The 64-bit NAA 5 form udev prints: 4 bits NAA, 24 bits OUI, 36 bits vendor id.
        Some(format!("0x{:x}{:06x}{:09x}", naa & 0xf, oui & 0xff_ffff, id & 0xf_ffff_ffff))
    });
    Curated {
        attributes,
        nvme_available_spare: root
            .pointer("/nvme_smart_health_information_log/available_spare")
            .and_then(Value::as_u64),
        wwn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HDD: &str = include_str!("../../devices/fixtures/smartctl-ata-hdd-wd140edfz.json");
    const SSD: &str = include_str!("../../devices/fixtures/smartctl-ata-ssd-samsung-mz7wd240.json");
    const NVME: &str = include_str!("../../devices/fixtures/smartctl-nvme-samsung-970evo-media-errors.json");
    const LOOP: &str = include_str!("../../devices/fixtures/smartctl-loop-local-x.json");
    /// What smartctl 7.3 prints for `--json=c -x -n standby,3` on a disk in standby
    /// (ataprint.cpp: `jinf("Device is in %s mode, exit(%d)\n", ...)`, severity information).
    const STANDBY: &str = r#"{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":3,"messages":[{"string":"Device is in STANDBY mode, exit(3)","severity":"information"}]},"device":{"name":"/dev/sdb","info_name":"/dev/sdb [SAT]","type":"sat","protocol":"ATA"}}"#;

    fn sample() -> DiskSample {
        let dev = DeviceInfo {
            name: "sdb".into(),
            path: "/dev/sdb".into(),
            by_id: vec![
                "/dev/disk/by-id/wwn-0x5000cca264c5a1b2".into(),
                "/dev/disk/by-id/wwn-0x5000cca264c5a1b2-part1".into(),
            ],
            model: None,
            serial: Some("X1".into()),
            vendor: None,
            size_bytes: 1,
            logical_sector: 512,
            physical_sector: 512,
            rotational: true,
            transport: None,
            removable: false,
            read_only: false,
            kind: DeviceKind::Disk,
            backing_file: None,
            partitions: Vec::new(),
            fs_type: None,
            fs_label: None,
            fs_uuid: None,
            uses: Vec::new(),
        };
        let wwn = wwn_of(&dev);
        assert_eq!(wwn.as_deref(), Some("0x5000cca264c5a1b2"));
        new_sample(&dev, "0x5000cca264c5a1b2", wwn)
    }

    #[test]
    fn power_modes_as_smartctl_reports_them() {
        assert_eq!(power_state(Some(3), STANDBY), PowerState::Standby);
        assert_eq!(power_state(Some(3), &STANDBY.replace("STANDBY mode", "SLEEP mode")), PowerState::Sleep);
        assert_eq!(power_state(Some(3), &STANDBY.replace("STANDBY mode", "STANDBY (OS) mode")), PowerState::Standby);
        assert_eq!(power_state(Some(3), ""), PowerState::Standby, "exit 3 alone is -n's");
        assert_eq!(power_state(Some(0), HDD), PowerState::Active);
        assert_eq!(power_state(Some(1), LOOP), PowerState::Active, "an error is not sleep");
        assert_eq!(power_state(None, "garbage"), PowerState::Active);
    }

    #[test]
    fn a_standby_disk_keeps_its_last_values_and_is_not_an_error() {
        let mut s = sample();
        apply(&mut s, true, Some(0), HDD, 1000);
        assert_eq!((s.power, s.smart_last_success, s.smart_healthy), (PowerState::Active, Some(1000), Some(true)));
        assert_eq!(s.power_on_hours, Some(1730));
        let before = s.clone();
        apply(&mut s, true, Some(3), STANDBY, 2000);
        assert_eq!(s.power, PowerState::Standby);
        assert_eq!(s.smart_last_success, Some(1000), "stale because asleep keeps the last success time");
        assert_eq!(
            (s.temperature_c, &s.attributes, s.last_error.as_ref()),
            (before.temperature_c, &before.attributes, None)
        );
        // A failed read of an awake disk is an error, and still keeps the old values.
        apply(&mut s, true, Some(1), LOOP, 3000);
        assert!(
            s.last_error.as_deref().is_some_and(|e| e.contains("Unable to detect device type")),
            "{:?}",
            s.last_error
        );
        assert_eq!(s.smart_last_success, Some(1000));
    }

    #[test]
    fn an_ssd_reporting_standby_is_read_anyway() {
        // The SSD path never sees -n; if its output claimed standby it would still be parsed.
        let mut s = sample();
        apply(&mut s, false, Some(0), SSD, 500);
        assert_eq!((s.power, s.smart_last_success), (PowerState::Active, Some(500)));
        assert_eq!(s.attributes.iter().map(|a| a.id).collect::<Vec<_>>(), vec![5, 9, 187, 199]);
        let mut n = sample();
        apply(&mut n, false, Some(0), NVME, 500);
        assert_eq!((n.nvme_percentage_used, n.nvme_available_spare, n.nvme_media_errors), (Some(3), Some(99), Some(7)));
    }

    #[test]
    fn a_disk_is_not_asked_again_before_its_interval() {
        assert!(poll_due(None, 100, 1800));
        assert!(!poll_due(Some(100), 100, 1800));
        assert!(!poll_due(Some(100), 1899, 1800));
        assert!(poll_due(Some(100), 1900, 1800));
        assert!(poll_due(Some(5000), 100, 1800), "the clock went back");
        assert!(!poll_due(Some(0), i64::MAX - 1, u64::MAX));
    }

    #[test]
    fn curated_attributes_and_wwn() {
        let c = curated(HDD);
        let ids: Vec<(u16, u64)> = c.attributes.iter().map(|a| (a.id, a.raw)).collect();
        assert_eq!(ids, vec![(5, 0), (9, 1730), (194, 163_210_330_144), (197, 0), (198, 0), (199, 0)]);
        assert_eq!(c.wwn.as_deref(), Some("0x5000cca264eb01d7"));
        assert_eq!(curated("not json"), Curated::default());
        assert_eq!(
            curated(
                r#"{"ata_smart_attributes":{"table":[{"id":70000,"raw":{"value":1}},{"id":5,"raw":{"value":-1}}]}}"#
            ),
            Curated::default()
        );
    }
}
