//! Storage: one model for every backend. A pool (ZFS pool, btrfs filesystem, single-disk
//! filesystem) is built from devices and mounted at `/mnt/corenas/<name>`; datasets (ZFS) or
//! subvolumes (btrfs) live inside it; snapshots belong to a dataset; scrub checks a pool.
//! Properties are typed: nothing here carries free text to a tool.

use crate::error::ValidationError;
use crate::names::{DatasetName, DevicePath, PoolName, shown};
use serde::{Deserialize, Serialize};
use std::fmt;

fn invalid(field: &'static str, what: &str, s: &str, accepted: &str) -> ValidationError {
    ValidationError::new(field, format!("{what} '{}' is invalid: use {accepted}", shown(s)))
}

/// Declares a fieldless enum with its spelling, `FromStr` naming the accepted values, `Display`.
macro_rules! spelled_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal, $what:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
        impl std::str::FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let accepted: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    invalid($field, $what, s, &accepted.join(", "))
                })
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

spelled_enum!(
    /// The storage backends. LVM and mdadm run for real only in the VM tier (no device-mapper
    /// and no md in the test machines' kernel).
    Backend, "type", "storage type" { Zfs = "zfs", Btrfs = "btrfs", Lvm = "lvm", Mdadm = "mdadm", Single = "single" }
);

spelled_enum!(
    /// How a ZFS pool's devices are combined (one top-level vdev).
    ZfsLayout, "layout", "ZFS layout" {
        Stripe = "stripe", Mirror = "mirror", Raidz1 = "raidz1", Raidz2 = "raidz2", Raidz3 = "raidz3"
    }
);

spelled_enum!(
    /// btrfs data/metadata profiles. raid5/raid6 are not offered: btrfs still documents them as
    /// unsafe for metadata and subject to the write hole.
    BtrfsProfile, "profile", "btrfs profile" {
        Single = "single", Dup = "dup", Raid0 = "raid0", Raid1 = "raid1", Raid1c3 = "raid1c3", Raid10 = "raid10"
    }
);

spelled_enum!(
    /// The filesystem on a single disk (or an md array).
    DiskFs, "fs", "filesystem" { Ext4 = "ext4", Xfs = "xfs" }
);

spelled_enum!(
    /// ZFS `compression` values CoreNAS sets (also btrfs' `compression` property: zstd, lzo, zlib).
    Compression, "compression", "compression" {
        Off = "off", On = "on", Lz4 = "lz4", Gzip = "gzip", Zstd = "zstd", Lzjb = "lzjb", Zle = "zle", Lzo = "lzo", Zlib = "zlib"
    }
);

impl Compression {
    pub fn zfs_ok(self) -> bool {
        !matches!(self, Self::Lzo | Self::Zlib)
    }
    pub fn btrfs_ok(self) -> bool {
        matches!(self, Self::Off | Self::Zstd | Self::Lzo | Self::Zlib)
    }
}

/// What a layout gives: the minimum number of devices, how many may fail, and usable bytes.
pub trait Redundancy {
    fn min_devices(&self) -> usize;
    /// How many devices may fail without losing data.
    fn tolerates(&self, devices: usize) -> usize;
    /// Usable bytes, counting every device as the smallest (the backend does the same).
    fn usable_bytes(&self, devices: usize, smallest: u64) -> u64;
    fn explain(&self) -> &'static str;
}

impl Redundancy for ZfsLayout {
    fn min_devices(&self) -> usize {
        match self {
            Self::Stripe => 1,
            Self::Mirror => 2,
            Self::Raidz1 => 3,
            Self::Raidz2 => 4,
            Self::Raidz3 => 5,
        }
    }
    fn tolerates(&self, devices: usize) -> usize {
        match self {
            Self::Stripe => 0,
            Self::Mirror => devices.saturating_sub(1),
            Self::Raidz1 => 1,
            Self::Raidz2 => 2,
            Self::Raidz3 => 3,
        }
    }
    fn usable_bytes(&self, devices: usize, smallest: u64) -> u64 {
        let n = devices as u64;
        match self {
            Self::Stripe => smallest.saturating_mul(n),
            Self::Mirror => smallest,
            Self::Raidz1 | Self::Raidz2 | Self::Raidz3 => {
                smallest.saturating_mul(n.saturating_sub(self.tolerates(devices) as u64))
            }
        }
    }
    fn explain(&self) -> &'static str {
        match self {
            Self::Stripe => "no redundancy: one failed disk loses the whole pool",
            Self::Mirror => "every disk holds a full copy; all but one may fail",
            Self::Raidz1 => "one disk's worth of parity; one disk may fail",
            Self::Raidz2 => "two disks' worth of parity; two disks may fail",
            Self::Raidz3 => "three disks' worth of parity; three disks may fail",
        }
    }
}

impl Redundancy for BtrfsProfile {
    fn min_devices(&self) -> usize {
        match self {
            Self::Single | Self::Dup => 1,
            Self::Raid0 | Self::Raid1 => 2,
            Self::Raid1c3 => 3,
            Self::Raid10 => 4,
        }
    }
    fn tolerates(&self, _devices: usize) -> usize {
        match self {
            Self::Single | Self::Dup | Self::Raid0 => 0,
            Self::Raid1 | Self::Raid10 => 1,
            Self::Raid1c3 => 2,
        }
    }
    fn usable_bytes(&self, devices: usize, smallest: u64) -> u64 {
        let total = smallest.saturating_mul(devices as u64);
        match self {
            Self::Single | Self::Raid0 => total,
            Self::Dup | Self::Raid1 | Self::Raid10 => total / 2,
            Self::Raid1c3 => total / 3,
        }
    }
    fn explain(&self) -> &'static str {
        match self {
            Self::Single => "one copy: a failed disk loses what was on it",
            Self::Dup => "two copies on the same disk: survives bad sectors, not a failed disk",
            Self::Raid0 => "striped, no redundancy: one failed disk loses everything",
            Self::Raid1 => "two copies on different disks; one disk may fail",
            Self::Raid1c3 => "three copies on different disks; two disks may fail",
            Self::Raid10 => "striped mirrors; one disk may fail",
        }
    }
}

/// A byte count with a unit suffix on input ("10G", "512M", "1T", plain bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bytes(pub u64);

impl std::str::FromStr for Bytes {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            invalid(
                "size",
                "size",
                s,
                "a number of bytes with an optional K, M, G or T suffix (binary units), e.g. 10G",
            )
        };
        if s.is_empty() || s.len() > 20 {
            return Err(bad());
        }
        let (num, mul) = match s.as_bytes()[s.len() - 1].to_ascii_uppercase() {
            b'K' => (&s[..s.len() - 1], 1u64 << 10),
            b'M' => (&s[..s.len() - 1], 1 << 20),
            b'G' => (&s[..s.len() - 1], 1 << 30),
            b'T' => (&s[..s.len() - 1], 1 << 40),
            _ => (s, 1),
        };
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        num.parse::<u64>().ok().and_then(|n| n.checked_mul(mul)).map(Bytes).ok_or_else(bad)
    }
}

/// A ZFS record size: a power of two from 512 bytes to 1 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct RecordSize(u32);

impl RecordSize {
    pub fn get(self) -> u32 {
        self.0
    }
}
impl TryFrom<u32> for RecordSize {
    type Error = ValidationError;
    fn try_from(v: u32) -> Result<Self, Self::Error> {
        if v.is_power_of_two() && (512..=1 << 20).contains(&v) {
            Ok(Self(v))
        } else {
            Err(invalid("recordsize", "record size", &v.to_string(), "a power of two from 512 to 1M (e.g. 128K)"))
        }
    }
}
impl From<RecordSize> for u32 {
    fn from(v: RecordSize) -> u32 {
        v.0
    }
}

/// The ZFS properties CoreNAS sets, typed. `None` for quota/reservation means `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZfsProperty {
    Compression(Compression),
    Atime(bool),
    Quota(Option<u64>),
    Reservation(Option<u64>),
    Recordsize(RecordSize),
    Readonly(bool),
    /// POSIX ACLs (needed for CoreNAS's share ACLs); `false` turns them off.
    Acltype(bool),
}

impl ZfsProperty {
    pub const KEYS: &'static str = "compression, atime, quota, reservation, recordsize, readonly, acltype";

    pub fn key(&self) -> &'static str {
        match self {
            Self::Compression(_) => "compression",
            Self::Atime(_) => "atime",
            Self::Quota(_) => "quota",
            Self::Reservation(_) => "reservation",
            Self::Recordsize(_) => "recordsize",
            Self::Readonly(_) => "readonly",
            Self::Acltype(_) => "acltype",
        }
    }

    pub fn value(&self) -> String {
        let onoff = |b: bool| if b { "on" } else { "off" }.to_owned();
        match self {
            Self::Compression(c) => c.as_str().to_owned(),
            Self::Atime(b) | Self::Readonly(b) => onoff(*b),
            Self::Quota(v) | Self::Reservation(v) => v.map_or_else(|| "none".to_owned(), |n| n.to_string()),
            Self::Recordsize(r) => r.get().to_string(),
            Self::Acltype(b) => if *b { "posixacl" } else { "off" }.to_owned(),
        }
    }

    /// `key=value` as `zfs set` and `-o` take it.
    pub fn assignment(&self) -> String {
        format!("{}={}", self.key(), self.value())
    }
}

impl std::str::FromStr for ZfsProperty {
    type Err = ValidationError;
    /// `key=value`, e.g. `compression=lz4`, `quota=10G`, `quota=none`, `atime=off`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((k, v)) = s.split_once('=') else {
            return Err(invalid("property", "property", s, &format!("key=value with a key of {}", Self::KEYS)));
        };
        let onoff = |v: &str| match v {
            "on" => Ok(true),
            "off" => Ok(false),
            _ => Err(invalid("property", k, v, "on or off")),
        };
        let size = |v: &str| if v == "none" { Ok(None) } else { v.parse::<Bytes>().map(|b| Some(b.0)) };
        Ok(match k {
            "compression" => {
                let c: Compression = v.parse()?;
                if !c.zfs_ok() {
                    return Err(invalid("compression", "ZFS compression", v, "off, on, lz4, gzip, zstd, lzjb or zle"));
                }
                Self::Compression(c)
            }
            "atime" => Self::Atime(onoff(v)?),
            "readonly" => Self::Readonly(onoff(v)?),
            "quota" => Self::Quota(size(v)?),
            "reservation" => Self::Reservation(size(v)?),
            "recordsize" => {
                let b: Bytes = v.parse()?;
                Self::Recordsize(RecordSize::try_from(u32::try_from(b.0).unwrap_or(u32::MAX))?)
            }
            "acltype" => Self::Acltype(match v {
                "posixacl" | "posix" | "on" => true,
                "off" | "noacl" => false,
                _ => return Err(invalid("property", "acltype", v, "posixacl or off")),
            }),
            _ => return Err(invalid("property", "property", k, Self::KEYS)),
        })
    }
}

/// How the pool is built, per backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolLayout {
    Zfs {
        layout: ZfsLayout,
        /// log2 of the sector size ZFS assumes (9 = 512 B, 12 = 4 KiB); None lets ZFS choose.
        ashift: Option<u8>,
        properties: Vec<ZfsProperty>,
    },
    Btrfs {
        data: BtrfsProfile,
        metadata: BtrfsProfile,
        compression: Option<Compression>,
    },
    /// One disk: a GPT with one partition and a filesystem on it.
    Single {
        fs: DiskFs,
    },
}

impl PoolLayout {
    pub fn backend(&self) -> Backend {
        match self {
            Self::Zfs { .. } => Backend::Zfs,
            Self::Btrfs { .. } => Backend::Btrfs,
            Self::Single { .. } => Backend::Single,
        }
    }
}

/// A pool to create. `force` lets the tools overwrite existing filesystem signatures on the
/// devices; a device in use is refused by the helper whatever `force` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    pub name: PoolName,
    pub layout: PoolLayout,
    pub devices: Vec<DevicePath>,
    #[serde(default)]
    pub force: bool,
}

impl PoolSpec {
    /// The checks that need no system: device count for the layout, duplicates, ranges.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let n = self.devices.len();
        let mut seen = std::collections::BTreeSet::new();
        for d in &self.devices {
            if !seen.insert(d.as_str()) {
                return Err(ValidationError::new("devices", format!("device {d} is listed twice")));
            }
        }
        let need = |min: usize, what: String| {
            if n < min {
                Err(ValidationError::new("devices", format!("{what} needs at least {min} devices, {n} given")))
            } else {
                Ok(())
            }
        };
        match &self.layout {
            PoolLayout::Zfs { layout, ashift, properties } => {
                need(layout.min_devices(), format!("ZFS {layout}"))?;
                if let Some(a) = ashift {
                    if !(9..=16).contains(a) {
                        return Err(invalid("ashift", "ashift", &a.to_string(), "9 to 16 (12 for 4K-sector disks)"));
                    }
                }
                let mut keys = std::collections::BTreeSet::new();
                for p in properties {
                    if !keys.insert(p.key()) {
                        return Err(ValidationError::new("property", format!("property {} is given twice", p.key())));
                    }
                }
            }
            PoolLayout::Btrfs { data, metadata, compression } => {
                need(data.min_devices().max(metadata.min_devices()), format!("btrfs {data}/{metadata}"))?;
                if *data == BtrfsProfile::Dup && n > 1 {
                    return Err(ValidationError::new("profile", "the dup data profile is for one device only"));
                }
                if let Some(c) = compression {
                    if !c.btrfs_ok() {
                        return Err(invalid("compression", "btrfs compression", c.as_str(), "off, zstd, lzo or zlib"));
                    }
                }
            }
            PoolLayout::Single { .. } => {
                if n != 1 {
                    return Err(ValidationError::new(
                        "devices",
                        format!("a single-disk pool takes exactly one device, {n} given"),
                    ));
                }
            }
        }
        if n > 64 {
            return Err(ValidationError::new("devices", "at most 64 devices per pool"));
        }
        Ok(())
    }
}

/// What scrub is doing or last did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScrubStatus {
    pub running: bool,
    pub percent: Option<f64>,
    /// The tool's own summary line ("scrub repaired 0 in 0h0m with 0 errors on ...").
    pub summary: Option<String>,
    pub errors: Option<u64>,
}

/// One member device of a pool with its state as the backend reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolMember {
    pub device: String,
    pub state: String,
    /// Read/write/checksum error counters where the backend keeps them.
    pub errors: Option<[u64; 3]>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolInfo {
    pub name: String,
    pub backend: Backend,
    /// The layout as created (None for a pool CoreNAS found but did not create).
    pub layout: Option<PoolLayout>,
    /// "online", "degraded", "faulted", "unavailable", "not mounted", ...
    pub health: String,
    pub size_bytes: Option<u64>,
    pub used_bytes: Option<u64>,
    pub free_bytes: Option<u64>,
    pub mountpoint: String,
    pub mounted: bool,
    pub members: Vec<PoolMember>,
    pub scrub: Option<ScrubStatus>,
    /// What the backend says beyond the counters (`errors:` line of zpool status, ...).
    pub notes: Vec<String>,
    pub created: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    pub name: DatasetName,
    /// ZFS only; btrfs subvolumes take compression only.
    #[serde(default)]
    pub properties: Vec<ZfsProperty>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    pub name: String,
    pub used_bytes: Option<u64>,
    pub available_bytes: Option<u64>,
    pub referenced_bytes: Option<u64>,
    pub mountpoint: String,
    /// Properties as the backend reports them (ZFS: CoreNAS's keys only).
    pub properties: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub dataset: String,
    pub name: String,
    /// Seconds since the epoch, where the backend says.
    pub created: Option<i64>,
    pub used_bytes: Option<u64>,
}

/// How many scheduled snapshots to keep per period (0: none of that kind).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub hourly: u16,
    pub daily: u16,
    pub weekly: u16,
    pub monthly: u16,
}

impl Retention {
    pub fn is_empty(&self) -> bool {
        self.hourly == 0 && self.daily == 0 && self.weekly == 0 && self.monthly == 0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleInfo {
    pub dataset: String,
    pub keep: Retention,
    pub last_run: Option<String>,
    pub last_result: Option<String>,
}

spelled_enum!(
    /// How a device is wiped. `quick` removes signatures and partition tables; `zero` writes
    /// zeros over the whole device; `discard` asks the device to zero (`blkdiscard --zeroout`);
    /// `secure` is the device's own erase, the best it advertises (see [`FirmwareErase`]),
    /// falling back to a secure discard (`blkdiscard --secure`) where it advertises none.
    WipeMethod, "method", "wipe method" { Quick = "quick", Zero = "zero", Discard = "discard", Secure = "secure" }
);

/// An erase the device's firmware performs, best first: NVMe sanitize (crypto erase, block
/// erase) covers the whole controller and its caches; NVMe format with a secure erase setting;
/// ATA SECURITY ERASE UNIT (enhanced also erases reallocated sectors). Crypto erases leave
/// random data, not zeros: the verification compares sampled regions before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FirmwareErase {
    NvmeSanitizeCrypto,
    NvmeSanitizeBlock,
    NvmeFormatCrypto,
    NvmeFormatUserData,
    AtaEnhancedErase,
    AtaErase,
}

/// Longest a firmware erase may run before the helper gives up on it (the helper's cap; corenasd
/// asks for the device's estimate, twice, within it).
pub const MAX_FIRMWARE_ERASE_MINUTES: u32 = 24 * 60;

impl FirmwareErase {
    /// Whether the erase is specified to leave zeros: only ATA's normal SECURITY ERASE UNIT.
    /// Crypto erases leave ciphertext; ATA enhanced erase a vendor pattern; NVMe user-data
    /// format and block sanitize leave what the drive reads for deallocated blocks (zeros,
    /// 0xFF, or unspecified). Those are verified by sampled regions having changed instead.
    pub fn leaves_zeros(self) -> bool {
        matches!(self, Self::AtaErase)
    }

    /// Whether the command returns at once and the device reports progress (NVMe sanitize),
    /// rather than returning when the erase is done.
    pub fn runs_in_background(self) -> bool {
        matches!(self, Self::NvmeSanitizeCrypto | Self::NvmeSanitizeBlock)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NvmeSanitizeCrypto => "nvme-sanitize-crypto",
            Self::NvmeSanitizeBlock => "nvme-sanitize-block",
            Self::NvmeFormatCrypto => "nvme-format-crypto",
            Self::NvmeFormatUserData => "nvme-format-user-data",
            Self::AtaEnhancedErase => "ata-enhanced-erase",
            Self::AtaErase => "ata-erase",
        }
    }
}

impl fmt::Display for FirmwareErase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A storage job (scrub, wipe, SMART self-test).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageJob {
    pub id: String,
    /// "scrub", "wipe", "selftest".
    pub kind: String,
    /// The pool or device.
    pub target: String,
    /// "running", "done", "failed", "cancelled".
    pub state: String,
    pub percent: Option<f64>,
    pub message: Option<String>,
    pub started: String,
    pub finished: Option<String>,
    pub version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::SnapshotName;

    #[test]
    fn names() {
        assert!("tank".parse::<PoolName>().is_ok());
        for bad in ["", "Tank", "mirror", "raidz2", "c0t0d0", "-x", "a b", "a/b", &"x".repeat(33)] {
            assert!(bad.parse::<PoolName>().is_err(), "{bad}");
        }
        let d: DatasetName = "tank/media/photos".parse().unwrap();
        assert_eq!(d.pool().as_str(), "tank");
        assert_eq!(d.relative(), "media/photos");
        for bad in
            ["tank", "tank/", "tank//a", "tank/../x", "tank/.snapshots", "Tank/a", "tank/a b", "tank/-x", "tank/a@b"]
        {
            assert!(bad.parse::<DatasetName>().is_err(), "{bad}");
        }
        assert!("auto-2026-11-24_12-00".parse::<SnapshotName>().is_ok());
        for bad in ["", "a@b", "a/b", "-r", ".x", "a b"] {
            assert!(bad.parse::<SnapshotName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn properties_parse_and_render() {
        let p: ZfsProperty = "quota=10G".parse().unwrap();
        assert_eq!(p.assignment(), "quota=10737418240");
        assert_eq!("quota=none".parse::<ZfsProperty>().unwrap().assignment(), "quota=none");
        assert_eq!("recordsize=128K".parse::<ZfsProperty>().unwrap().assignment(), "recordsize=131072");
        assert_eq!("acltype=posixacl".parse::<ZfsProperty>().unwrap().assignment(), "acltype=posixacl");
        for bad in
            ["mountpoint=/etc", "compression=lzo", "recordsize=3000", "atime=yes", "quota=-1", "sharenfs=on", "x"]
        {
            let e = bad.parse::<ZfsProperty>().unwrap_err();
            assert!(!e.message.is_empty(), "{bad}");
        }
        assert_eq!("7".parse::<Bytes>().unwrap().0, 7);
        assert!("99999999999T".parse::<Bytes>().is_err());
    }

    #[test]
    fn capacity() {
        let g = 1u64 << 30;
        assert_eq!(ZfsLayout::Mirror.usable_bytes(2, 10 * g), 10 * g);
        assert_eq!(ZfsLayout::Raidz2.usable_bytes(6, g), 4 * g);
        assert_eq!(BtrfsProfile::Raid1.usable_bytes(3, 2 * g), 3 * g);
        assert_eq!(ZfsLayout::Raidz1.tolerates(4), 1);
    }

    #[test]
    fn spec_checks() {
        let dev = |s: &str| s.parse::<DevicePath>().unwrap();
        let mut spec = PoolSpec {
            name: "tank".parse().unwrap(),
            layout: PoolLayout::Zfs { layout: ZfsLayout::Mirror, ashift: None, properties: vec![] },
            devices: vec![dev("/dev/loop1")],
            force: false,
        };
        assert!(spec.validate().unwrap_err().message.contains("at least 2"));
        spec.devices.push(dev("/dev/loop1"));
        assert!(spec.validate().unwrap_err().message.contains("twice"));
        spec.devices[1] = dev("/dev/loop2");
        spec.validate().unwrap();
        spec.layout = PoolLayout::Single { fs: DiskFs::Xfs };
        assert!(spec.validate().is_err());
    }
}
