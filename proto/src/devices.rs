//! Devices: the block-device inventory (read unprivileged from sysfs, udev's database and
//! /proc), SMART reports parsed from smartctl's raw JSON, and hotplug events.
//!
//! The types are plain data. Strings that come from devices or media (model, serial, labels,
//! smartctl messages) were sanitized by corenasd (control characters dropped, length capped),
//! but a client must still print them through [`shown`]: a peer may run an older daemon, and a
//! terminal is not the place to find out.

use crate::error::ValidationError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of block device this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A whole disk: sd, vd, xvd, nvme namespaces, mmcblk.
    Disk,
    Partition,
    /// A loop device with a backing file.
    Loop,
    /// A CD/DVD/BD drive (sr); size 0 while no disc is in it.
    Optical,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disk => "disk",
            Self::Partition => "partition",
            Self::Loop => "loop",
            Self::Optical => "optical",
        }
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a device (or partition) is busy. Any use means CoreNAS must not wipe it or add it to a
/// pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceUse {
    /// A filesystem on it is mounted here (from /proc/self/mountinfo, escapes decoded).
    Mounted { at: String },
    /// It holds the running system (the root filesystem, /boot, /usr or /var).
    SystemDisk,
    /// Active swap (/proc/swaps).
    Swap,
    /// Claimed by another block device (md RAID, device-mapper/LVM): sysfs `holders/`.
    HeldBy { holder: String },
    /// A member of a CoreNAS pool, by CoreNAS's own records.
    PoolMember { pool: String, backend: String },
}

impl fmt::Display for DeviceUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mounted { at } => write!(f, "mounted at {}", shown(at)),
            Self::SystemDisk => f.write_str("system disk"),
            Self::Swap => f.write_str("swap"),
            Self::HeldBy { holder } => write!(f, "held by {}", shown(holder)),
            Self::PoolMember { pool, backend } => write!(f, "member of pool {} ({})", shown(pool), shown(backend)),
        }
    }
}

/// One partition of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionInfo {
    /// Kernel name, e.g. "sda1", "nvme0n1p2", "loop3p1".
    pub name: String,
    pub path: String,
    pub size_bytes: u64,
    /// Partition number (sysfs `partition`).
    pub number: u32,
    pub fs_type: Option<String>,
    pub fs_label: Option<String>,
    pub fs_uuid: Option<String>,
    pub uses: Vec<DeviceUse>,
}

impl PartitionInfo {
    pub fn in_use(&self) -> bool {
        !self.uses.is_empty()
    }
}

/// One block device as the daemon sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Kernel name, e.g. "sda", "loop3", "nvme0n1".
    pub name: String,
    /// "/dev/<name>".
    pub path: String,
    /// /dev/disk/by-id/... links that point at this device, sorted.
    pub by_id: Vec<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub vendor: Option<String>,
    pub size_bytes: u64,
    pub logical_sector: u32,
    pub physical_sector: u32,
    pub rotational: bool,
    /// "sata", "nvme", "usb", "virtio", "loop", "scsi", "sas", "mmc", "xen", ...
    pub transport: Option<String>,
    pub removable: bool,
    pub read_only: bool,
    pub kind: DeviceKind,
    /// For loop devices: the backing file.
    pub backing_file: Option<String>,
    pub partitions: Vec<PartitionInfo>,
    /// Filesystem directly on the whole device (no partition table).
    pub fs_type: Option<String>,
    pub fs_label: Option<String>,
    pub fs_uuid: Option<String>,
    /// Uses of the whole device; partitions carry their own.
    pub uses: Vec<DeviceUse>,
}

impl DeviceInfo {
    /// Whether the device or any of its partitions is in use.
    pub fn in_use(&self) -> bool {
        !self.uses.is_empty() || self.partitions.iter().any(PartitionInfo::in_use)
    }

    /// Every use of the device and its partitions, partition uses prefixed with the partition's
    /// name ("sda1: mounted at /"), for one-line displays.
    pub fn all_uses(&self) -> Vec<String> {
        let mut out: Vec<String> = self.uses.iter().map(ToString::to_string).collect();
        for p in &self.partitions {
            out.extend(p.uses.iter().map(|u| format!("{}: {u}", shown(&p.name))));
        }
        out
    }
}

/// What happened to a device, after corenasd coalesced the kernel's burst of uevents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceEventKind {
    /// The device appeared (a loop device: a backing file was attached).
    Added,
    /// The device went away (a loop device: detached).
    Removed,
    /// Something about it changed (size, partition table, attributes).
    Changed,
    /// The kernel saw the medium change: a disc inserted or ejected.
    MediaChanged,
}

impl fmt::Display for DeviceEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Added => "added",
            Self::Removed => "removed",
            Self::Changed => "changed",
            Self::MediaChanged => "media changed",
        })
    }
}

/// One hotplug event as corenasd recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEventEntry {
    /// Increases by one per event for the life of the daemon; ask for events after it.
    pub seq: u64,
    /// When corenasd raised it (RFC 3339, UTC).
    pub at: String,
    /// Kernel name, e.g. "sdb", "loop3", "sr0".
    pub device: String,
    pub kind: DeviceEventKind,
}

/// What a device's firmware offers to erase itself (`device_erase_support`), read by corenasd
/// from `hdparm -I` or `nvme id-ctrl` through the helper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EraseSupport {
    /// "/dev/<name>".
    pub device: String,
    /// The firmware erases the device offers and CoreNAS would use, best first.
    pub offered: Vec<crate::storage::FirmwareErase>,
    /// What `wipe --method secure` does: the first offered; `None`: a secure discard
    /// (`blkdiscard --secure`), which only some devices support.
    pub chosen: Option<crate::storage::FirmwareErase>,
    /// The device's own estimate for the chosen erase, in minutes (ATA reports one).
    pub estimate_minutes: Option<u32>,
    /// Why an erase is not offered (frozen, a shared NVMe controller, not ATA or NVMe, a tool
    /// missing), in words for the admin.
    pub notes: Vec<String>,
}

/// The ATA security feature set as `hdparm -I` prints it. Parsed by corenasd to offer an erase,
/// and by the helper to re-check right before one (a pure parser of a few fixed words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AtaSecurity {
    pub supported: bool,
    pub enabled: bool,
    pub locked: bool,
    /// Frozen by the BIOS at boot: no security command is accepted until a power cycle or a
    /// suspend/resume.
    pub frozen: bool,
    /// Too many failed unlock attempts: no security command until a power cycle.
    pub expired: bool,
    pub enhanced: bool,
    /// The drive's estimates in minutes (`None`: not reported).
    pub erase_minutes: Option<u32>,
    pub enhanced_minutes: Option<u32>,
}

/// The password CoreNAS sets for the seconds of an ATA security erase. It protects nothing and
/// is documented, so that a drive an interrupted erase left locked can be unlocked.
pub const ATA_ERASE_PASSWORD: &str = "CoreNAS";

impl AtaSecurity {
    /// Why the drive cannot take a security erase now, in words for the admin; `None`: it can.
    /// corenasd offers no ATA erase then, and the helper refuses one.
    pub fn refusal(&self) -> Option<String> {
        Some(if !self.supported {
            "the drive does not support the ATA security feature set".to_owned()
        } else if self.frozen {
            "the drive's security is frozen (the firmware or BIOS froze it at power-on): suspend and resume the machine, or re-plug the drive's power, then ask again".to_owned()
        } else if self.locked {
            format!(
                "the drive is locked by a security password (an interrupted erase leaves CoreNAS's: unlock it with hdparm --user-master u --security-unlock {ATA_ERASE_PASSWORD})"
            )
        } else if self.enabled {
            "a security password is set on the drive (not by CoreNAS): disable it first".to_owned()
        } else if self.expired {
            "the drive's security count expired (too many failed attempts): power-cycle it".to_owned()
        } else {
            return None;
        })
    }
}

/// Reads the "Security:" section of `hdparm -I` (the first, if several drives are in the text).
/// `None`: there is no such section (the drive has no security feature set, or is not ATA).
pub fn parse_ata_security(text: &str) -> Option<AtaSecurity> {
    let mut lines = text.lines().skip_while(|l| l.trim() != "Security:").skip(1);
    let mut sec = AtaSecurity::default();
    let mut seen = false;
    for raw in lines.by_ref() {
        // The section's lines are indented; the next section starts at column 0.
        if !raw.starts_with('\t') && !raw.starts_with(' ') {
            break;
        }
        let line = raw.trim();
        let (set, word) = match line.strip_prefix("not") {
            Some(rest) if rest.starts_with(char::is_whitespace) => (false, rest.trim()),
            _ => match line.strip_prefix("(?)") {
                Some(rest) => (false, rest.trim()),
                None => (true, line),
            },
        };
        match word {
            "supported" => sec.supported = set,
            "enabled" => sec.enabled = set,
            "locked" => sec.locked = set,
            "frozen" => sec.frozen = set,
            "expired: security count" => sec.expired = set,
            "supported: enhanced erase" => sec.enhanced = set,
            _ if word.contains("SECURITY ERASE UNIT") => {
                for part in word.split('.').map(str::trim).filter(|p| !p.is_empty()) {
                    let minutes = erase_minutes(part);
                    if part.contains("ENHANCED SECURITY ERASE UNIT") {
                        sec.enhanced_minutes = minutes;
                    } else if part.contains("SECURITY ERASE UNIT") {
                        sec.erase_minutes = minutes;
                    }
                }
            }
            _ => continue,
        }
        seen = true;
    }
    seen.then_some(sec)
}

/// "24min for SECURITY ERASE UNIT" -> 24; "more than 508min for ..." -> 508.
pub fn erase_minutes(part: &str) -> Option<u32> {
    let head = part.split("min for").next()?.trim();
    let digits = head.rsplit(' ').next()?;
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Where an NVMe namespace's erases would go, read from sysfs (`sys` is `/sys`, or a test tree).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvmeTopology {
    /// The one controller the namespace is reached through, e.g. "nvme2".
    pub controller: String,
    /// Namespaces attached to that controller (sanitize, and often format, erase them all).
    pub namespaces: usize,
    /// Controllers in the controller's NVM subsystem (a sanitize acts on the whole subsystem).
    pub subsystem_controllers: usize,
}

/// The controller behind namespace `ns` ("nvme1n1"), from `/sys/block/<ns>/device`, never from
/// the name: with native multipath the number in "nvmeXnY" is the subsystem's, not a
/// controller's. A namespace reached through several paths (multipath) is refused: an erase
/// would have to pick one, and its siblings see the same media.
pub fn nvme_topology(sys: &std::path::Path, ns: &str) -> Result<NvmeTopology, String> {
    let plain = |s: &str| !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if !plain(ns) || !ns.starts_with("nvme") {
        return Err(format!("{ns} is not an NVMe namespace"));
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let block = sys.join("block").join(ns);
    if std::fs::metadata(block.join("multipath")).is_ok() {
        return Err(format!("{ns} is a multipath NVMe namespace: CoreNAS offers no firmware erase for it"));
    }
    let target = std::fs::read_link(block.join("device")).map_err(|e| format!("{ns}: no controller in sysfs ({e})"))?;
    let controller = target.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
    if !controller.strip_prefix("nvme").is_some_and(digits) {
        return Err(format!("{ns} is not reached through a single NVMe controller ({})", target.display()));
    }
    let ctrl = sys.join("class/nvme").join(&controller);
    let is_ns = |n: &str| {
        n.strip_prefix("nvme").and_then(|r| r.rsplit_once('n')).is_some_and(|(head, num)| {
            digits(num) && (digits(head) || head.split_once('c').is_some_and(|(a, b)| digits(a) && digits(b)))
        })
    };
    let namespaces = std::fs::read_dir(&ctrl)
        .map(|rd| rd.flatten().filter(|e| e.file_name().to_str().is_some_and(is_ns)).count())
        .map_err(|e| format!("{controller}: {e}"))?;
    // The controller's NVM subsystem is the nvme-subsystem entry with the same NQN; it lists
    // its controllers as nvmeN links. (A device's own "subsystem" link is its sysfs class.)
    let nqn = std::fs::read_to_string(ctrl.join("subsysnqn")).map(|s| s.trim().to_owned()).unwrap_or_default();
    let subsystem_controllers = std::fs::read_dir(sys.join("class/nvme-subsystem"))
        .ok()
        .and_then(|rd| {
            rd.flatten().map(|e| e.path()).find(|p| {
                !nqn.is_empty() && std::fs::read_to_string(p.join("subsysnqn")).is_ok_and(|s| s.trim() == nqn)
            })
        })
        .and_then(|p| std::fs::read_dir(p).ok())
        .map_or(1, |rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_str().is_some_and(|n| n.strip_prefix("nvme").is_some_and(digits)))
                .count()
        });
    Ok(NvmeTopology { controller, namespaces, subsystem_controllers })
}

/// Longest `device_events` waits for an event, in milliseconds.
pub const MAX_EVENT_WAIT_MS: u32 = 5000;

/// The events after a sequence number, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEvents {
    pub events: Vec<DeviceEventEntry>,
    /// Pass this as `after` to get the next events.
    pub next: u64,
    /// Events after `after` that are no longer kept (the log holds the newest ones only): the
    /// caller should read the inventory again rather than trust its own picture.
    pub missed: u64,
}

/// A SMART self-test to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelfTestKind {
    Short,
    Long,
}

impl SelfTestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Short => "short",
            Self::Long => "long",
        }
    }
}

impl fmt::Display for SelfTestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SelfTestKind {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "short" => Ok(Self::Short),
            "long" => Ok(Self::Long),
            _ => Err(ValidationError::new(
                "test",
                format!("self-test kind '{}' is invalid: use short or long", crate::names::shown(s)),
            )),
        }
    }
}

/// The self-test the drive reports as current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfTestStatus {
    pub in_progress: bool,
    /// While in progress: how much is left (ATA reports this; NVMe reports the part done).
    pub percent_remaining: Option<u8>,
    /// The drive's words for the last or current test ("completed without error").
    pub last_result: Option<String>,
}

/// One entry of the drive's self-test log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfTestEntry {
    /// "Short offline", "Extended offline", "Short", "Extended", ...
    pub kind: String,
    /// "Completed without error", "Completed: read failure", ...
    pub status: String,
    pub passed: bool,
    /// Power-on hours when the test ran.
    pub lifetime_hours: Option<u64>,
}

/// SMART data for one device, parsed from `smartctl --json` by corenasd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmartReport {
    /// The device asked about, e.g. "/dev/sda".
    pub device: String,
    /// False when smartctl could not read SMART data at all (unknown device type, open failed,
    /// SMART unsupported or disabled); `message` then says why.
    pub available: bool,
    pub message: Option<String>,
    /// "ATA", "NVMe" or "SCSI".
    pub protocol: Option<String>,
    /// When smartctl ran (its `local_time.time_t`), seconds since the epoch.
    pub collected_at: Option<i64>,
    /// The drive's overall self-assessment: `Some(false)` means the drive says it is failing.
    pub health_passed: Option<bool>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware: Option<String>,
    pub capacity_bytes: Option<u64>,
    pub temperature_c: Option<i64>,
    pub power_on_hours: Option<u64>,
    /// ATA attribute 5; for SCSI the grown defect list.
    pub reallocated_sectors: Option<u64>,
    /// ATA attribute 197.
    pub pending_sectors: Option<u64>,
    /// ATA attribute 198.
    pub offline_uncorrectable: Option<u64>,
    pub nvme_critical_warning: Option<u64>,
    pub nvme_percentage_used: Option<u64>,
    pub nvme_media_errors: Option<u64>,
    pub self_test: Option<SelfTestStatus>,
    pub self_test_log: Vec<SelfTestEntry>,
    /// smartctl's exit status, a bit mask (man smartctl, EXIT STATUS).
    pub smartctl_exit_bits: u8,
    /// The exit bits in words, one per set bit.
    pub exit_problems: Vec<String>,
}

impl SmartReport {
    /// Whether anything here calls for attention: a failing verdict, reallocated, pending or
    /// uncorrectable sectors, NVMe warnings or media errors, a failed self-test in the log, or
    /// a smartctl bit that reports a disk problem (3 and up).
    pub fn needs_attention(&self) -> bool {
        let nonzero = |v: Option<u64>| v.is_some_and(|n| n > 0);
        self.health_passed == Some(false)
            || nonzero(self.reallocated_sectors)
            || nonzero(self.pending_sectors)
            || nonzero(self.offline_uncorrectable)
            || nonzero(self.nvme_critical_warning)
            || nonzero(self.nvme_media_errors)
            || self.self_test_log.first().is_some_and(|e| !e.passed)
            || self.smartctl_exit_bits & 0b1111_1000 != 0
    }
}

/// A device string made safe for a terminal or a log line: control characters and Unicode
/// bidi controls are escaped (`\u{1b}`), everything else is kept. Unlike
/// [`crate::names::shown`] (for error messages) it does not shorten the value.
pub fn shown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || crate::names::is_bidi_control(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loop_device() -> DeviceInfo {
        DeviceInfo {
            name: "loop3".into(),
            path: "/dev/loop3".into(),
            by_id: vec![],
            model: None,
            serial: None,
            vendor: None,
            size_bytes: 64 << 20,
            logical_sector: 512,
            physical_sector: 512,
            rotational: false,
            transport: Some("loop".into()),
            removable: false,
            read_only: false,
            kind: DeviceKind::Loop,
            backing_file: Some("/tmp/x.img".into()),
            partitions: vec![PartitionInfo {
                name: "loop3p1".into(),
                path: "/dev/loop3p1".into(),
                size_bytes: 32 << 20,
                number: 1,
                fs_type: Some("ext4".into()),
                fs_label: Some("data".into()),
                fs_uuid: None,
                uses: vec![],
            }],
            fs_type: None,
            fs_label: None,
            fs_uuid: None,
            uses: vec![],
        }
    }

    #[test]
    fn in_use_looks_at_partitions() {
        let mut d = loop_device();
        assert!(!d.in_use());
        d.partitions[0].uses.push(DeviceUse::Mounted { at: "/mnt/x".into() });
        assert!(d.in_use());
        assert_eq!(d.all_uses(), vec!["loop3p1: mounted at /mnt/x".to_owned()]);
        d.partitions[0].uses.clear();
        d.uses.push(DeviceUse::Swap);
        assert!(d.in_use());
    }

    #[test]
    fn use_display() {
        let cases = [
            (DeviceUse::Mounted { at: "/srv/a b".into() }, "mounted at /srv/a b"),
            (DeviceUse::SystemDisk, "system disk"),
            (DeviceUse::Swap, "swap"),
            (DeviceUse::HeldBy { holder: "md0".into() }, "held by md0"),
            (DeviceUse::PoolMember { pool: "tank".into(), backend: "zfs".into() }, "member of pool tank (zfs)"),
            (DeviceUse::Mounted { at: "/mnt/\x1b[2Jevil".into() }, "mounted at /mnt/\\u{1b}[2Jevil"),
        ];
        for (u, want) in cases {
            assert_eq!(u.to_string(), want);
        }
    }

    #[test]
    fn nvme_topology_follows_sysfs_not_the_name() {
        use std::os::unix::fs::symlink;
        let sys = std::env::temp_dir().join(format!("corenas-nvme-sys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&sys);
        let mk = |p: &str| std::fs::create_dir_all(sys.join(p)).unwrap();
        // Drive A: subsystem 0 with two controllers (nvme0, nvme1), namespace nvme0n1 via nvme0.
        // Drive B: subsystem 1 with controller nvme2, its namespace named nvme1n1.
        for c in ["nvme0", "nvme1", "nvme2"] {
            mk(&format!("devices/{c}"));
            mk(&format!("class/nvme/{c}"));
        }
        mk("class/nvme/nvme0/nvme0n1");
        mk("class/nvme/nvme2/nvme1n1");
        std::fs::write(sys.join("class/nvme/nvme0/subsysnqn"), "nqn.a\n").unwrap();
        std::fs::write(sys.join("class/nvme/nvme1/subsysnqn"), "nqn.a\n").unwrap();
        std::fs::write(sys.join("class/nvme/nvme2/subsysnqn"), "nqn.b\n").unwrap();
        for (subsys, nqn, ctrls) in
            [("nvme-subsys0", "nqn.a", &["nvme0", "nvme1"][..]), ("nvme-subsys1", "nqn.b", &["nvme2"][..])]
        {
            mk(&format!("class/nvme-subsystem/{subsys}"));
            std::fs::write(sys.join(format!("class/nvme-subsystem/{subsys}/subsysnqn")), nqn).unwrap();
            for c in ctrls {
                symlink(sys.join(format!("devices/{c}")), sys.join(format!("class/nvme-subsystem/{subsys}/{c}")))
                    .unwrap();
            }
        }
        for (ns, ctrl) in [("nvme0n1", "nvme0"), ("nvme1n1", "nvme2")] {
            mk(&format!("block/{ns}"));
            symlink(sys.join(format!("devices/{ctrl}")), sys.join(format!("block/{ns}/device"))).unwrap();
        }
        // B's namespace is named nvme1n1 but lives on nvme2, alone in its subsystem.
        let b = nvme_topology(&sys, "nvme1n1").unwrap();
        assert_eq!(b, NvmeTopology { controller: "nvme2".into(), namespaces: 1, subsystem_controllers: 1 });
        // A's subsystem has two controllers: an erase would reach through both.
        assert_eq!(nvme_topology(&sys, "nvme0n1").unwrap().subsystem_controllers, 2);
        // Multipath namespaces and other names are refused.
        mk("block/nvme0n1/multipath");
        assert!(nvme_topology(&sys, "nvme0n1").unwrap_err().contains("multipath"));
        assert!(nvme_topology(&sys, "sda").is_err());
        assert!(nvme_topology(&sys, "nvme1n1/../x").is_err());
        let _ = std::fs::remove_dir_all(&sys);
    }

    #[test]
    fn shown_escapes_controls_only() {
        assert_eq!(shown("WDC WD140EDFZ-11A0VA0"), "WDC WD140EDFZ-11A0VA0");
        assert_eq!(shown("Max's disk é"), "Max's disk é");
        assert_eq!(shown("a\nb\tc"), "a\\u{a}b\\u{9}c");
        assert_eq!(shown("\u{202e}gpj.exe"), "\\u{202e}gpj.exe");
        let long = "x".repeat(300);
        assert_eq!(shown(&long), long, "not shortened");
    }

    #[test]
    fn self_test_kind_parses() {
        assert_eq!("short".parse::<SelfTestKind>().unwrap(), SelfTestKind::Short);
        assert_eq!("long".parse::<SelfTestKind>().unwrap(), SelfTestKind::Long);
        for bad in ["", "Short", "extended", "long ", "conveyance"] {
            let e = bad.parse::<SelfTestKind>().unwrap_err();
            assert!(e.message.contains("use short or long"), "{}", e.message);
        }
        let e = "\x1b[31m".parse::<SelfTestKind>().unwrap_err();
        assert!(!e.message.contains('\x1b'));
        assert_eq!(SelfTestKind::Long.to_string(), "long");
    }

    #[test]
    fn round_trips_through_postcard_and_json() {
        let mut d = loop_device();
        d.uses = vec![
            DeviceUse::SystemDisk,
            DeviceUse::HeldBy { holder: "dm-0".into() },
            DeviceUse::PoolMember { pool: "tank".into(), backend: "btrfs".into() },
        ];
        let bytes = postcard::to_allocvec(&d).unwrap();
        assert_eq!(postcard::from_bytes::<DeviceInfo>(&bytes).unwrap(), d);
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains(r#""kind":"loop""#), "{json}");
        assert!(json.contains(r#""system_disk""#), "{json}");
        assert_eq!(serde_json::from_str::<DeviceInfo>(&json).unwrap(), d);

        let r = SmartReport {
            device: "/dev/sda".into(),
            available: true,
            message: None,
            protocol: Some("ATA".into()),
            collected_at: Some(1),
            health_passed: Some(true),
            model: None,
            serial: None,
            firmware: None,
            capacity_bytes: None,
            temperature_c: Some(-5),
            power_on_hours: Some(10),
            reallocated_sectors: Some(0),
            pending_sectors: None,
            offline_uncorrectable: None,
            nvme_critical_warning: None,
            nvme_percentage_used: None,
            nvme_media_errors: None,
            self_test: Some(SelfTestStatus { in_progress: true, percent_remaining: Some(90), last_result: None }),
            self_test_log: vec![SelfTestEntry {
                kind: "Short offline".into(),
                status: "Completed without error".into(),
                passed: true,
                lifetime_hours: Some(9),
            }],
            smartctl_exit_bits: 0,
            exit_problems: vec![],
        };
        assert!(!r.needs_attention());
        let bytes = postcard::to_allocvec(&r).unwrap();
        assert_eq!(postcard::from_bytes::<SmartReport>(&bytes).unwrap(), r);
        let mut bad = r.clone();
        bad.pending_sectors = Some(8);
        assert!(bad.needs_attention());
        let mut bad = r;
        bad.smartctl_exit_bits = 1 << 6;
        assert!(bad.needs_attention());
    }
}
