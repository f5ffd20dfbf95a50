//! Linux software RAID (md) as CoreNAS drives it: array names and UUIDs, levels and what each
//! gives, the create spec, member operations, and the report corenasd builds from `/proc/mdstat`
//! and `mdadm --detail`. Nothing here runs mdadm; argv is built in the helper, output is parsed in
//! corenasd.

use crate::error::ValidationError;
use crate::names::{DevicePath, shown};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The most members (data plus spares) CoreNAS puts in one array.
pub const MAX_MEMBERS: usize = 64;

fn check_md_name(s: &str) -> Result<(), ValidationError> {
    let bad = |why: &str| ValidationError::new("name", format!("array name '{}' is invalid: {why}", shown(s)));
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !ok {
        return Err(bad("use 1-32 of a-z, 0-9, '_' and '-', starting with a letter"));
    }
    // mdadm reads /dev/md/md0 and /dev/md/md_d0 as the kernel's own device names.
    let kernel_like = |rest: &str| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit());
    if s.strip_prefix("md_d").is_some_and(kernel_like) || s.strip_prefix("md").is_some_and(kernel_like) {
        return Err(bad("names like md0 or md_d0 are the kernel's device names; choose another name"));
    }
    Ok(())
}
crate::names::validated_string!(
    /// An md array's name: `[a-z][a-z0-9_-]{0,31}`, not a kernel name like `md0`. The array is
    /// `/dev/md/<name>`.
    MdName,
    check_md_name
);

impl MdName {
    /// `/dev/md/<name>`: the path mdadm and udev give the array.
    pub fn dev_path(&self) -> String {
        format!("/dev/md/{}", self.0)
    }
}

fn check_md_uuid(s: &str) -> Result<(), ValidationError> {
    let ok = s.len() == 35
        && s.split(':').count() == 4
        && s.split(':').all(|g| g.len() == 8 && g.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "uuid",
            format!(
                "array UUID '{}' is invalid: use mdadm's form, four groups of 8 lower-case hex digits joined by ':' \
                 (e.g. 3dc613d5:9c8f7ad0:26ae4b4f:48533886)",
                shown(s)
            ),
        ))
    }
}
crate::names::validated_string!(
    /// An md array UUID as mdadm prints it: `xxxxxxxx:xxxxxxxx:xxxxxxxx:xxxxxxxx`, lower-case hex.
    MdUuid,
    check_md_uuid
);

/// The md levels CoreNAS creates. raid4 and linear exist in md but are not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RaidLevel {
    Raid0,
    Raid1,
    Raid5,
    Raid6,
    Raid10,
}

impl RaidLevel {
    pub const ALL: [RaidLevel; 5] = [Self::Raid0, Self::Raid1, Self::Raid5, Self::Raid6, Self::Raid10];

    /// The spelling mdadm prints and takes (`--level=raid5`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raid0 => "raid0",
            Self::Raid1 => "raid1",
            Self::Raid5 => "raid5",
            Self::Raid6 => "raid6",
            Self::Raid10 => "raid10",
        }
    }

    /// Fewest data members. md can run raid0 on one device and raid10 on two or three; CoreNAS
    /// asks for the counts people mean by these names.
    pub fn min_devices(self) -> usize {
        match self {
            Self::Raid0 | Self::Raid1 => 2,
            Self::Raid5 => 3,
            Self::Raid6 | Self::Raid10 => 4,
        }
    }

    /// How many members may fail, whatever the member count, without losing data.
    pub fn redundancy(self) -> u32 {
        match self {
            Self::Raid0 => 0,
            Self::Raid1 | Self::Raid5 | Self::Raid10 => 1,
            Self::Raid6 => 2,
        }
    }

    /// How many of `member_count` data members may fail: a raid1 of three survives two failures.
    /// raid10 (near=2) is counted at its guaranteed one; it may survive more if they fall in
    /// different mirror pairs.
    pub fn tolerates(self, member_count: usize) -> u32 {
        match self {
            Self::Raid1 => u32::try_from(member_count.saturating_sub(1)).unwrap_or(u32::MAX),
            other => other.redundancy(),
        }
    }

    /// Bytes the array offers when every member counts as `smallest_member` bytes (md does the
    /// same). An upper bound: md keeps a little of each member for its superblock and bitmap.
    pub fn usable_bytes(self, member_count: usize, smallest_member: u64) -> u64 {
        let n = u64::try_from(member_count).unwrap_or(u64::MAX);
        match self {
            Self::Raid0 => smallest_member.saturating_mul(n),
            Self::Raid1 => {
                if n == 0 {
                    0
                } else {
                    smallest_member
                }
            }
            Self::Raid5 => smallest_member.saturating_mul(n.saturating_sub(1)),
            Self::Raid6 => smallest_member.saturating_mul(n.saturating_sub(2)),
            // near=2: every block is stored twice.
            Self::Raid10 => smallest_member.saturating_mul(n) / 2,
        }
    }

    /// One line for a person choosing a level.
    pub fn explain(self) -> &'static str {
        match self {
            Self::Raid0 => "striping without redundancy: one failed disk loses the whole array",
            Self::Raid1 => "every disk holds a full copy; all but one may fail",
            Self::Raid5 => "one disk's worth of parity; one disk may fail",
            Self::Raid6 => "two disks' worth of parity; any two disks may fail",
            Self::Raid10 => "striped mirror pairs, half the raw space; one disk may fail, more if in different pairs",
        }
    }

    /// Whether the level stripes data in chunks (and so takes `--chunk`).
    pub fn has_chunks(self) -> bool {
        !matches!(self, Self::Raid1)
    }

    /// Whether the level can keep hot spares.
    pub fn takes_spares(self) -> bool {
        !matches!(self, Self::Raid0)
    }
}

impl std::str::FromStr for RaidLevel {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let level = match s.strip_prefix("raid").unwrap_or(s) {
            "0" | "stripe" => Self::Raid0,
            "1" | "mirror" => Self::Raid1,
            "5" => Self::Raid5,
            "6" => Self::Raid6,
            "10" => Self::Raid10,
            _ => {
                return Err(ValidationError::new(
                    "level",
                    format!(
                        "RAID level '{}' is invalid: use 0, 1, 5, 6 or 10 (or raid0, raid1, raid5, raid6, raid10)",
                        shown(s)
                    ),
                ));
            }
        };
        Ok(level)
    }
}

impl fmt::Display for RaidLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Accepted chunk sizes in KiB: a power of two from 4 to 1024.
pub const CHUNK_KIB_RANGE: std::ops::RangeInclusive<u32> = 4..=1024;

/// An array to create: `/dev/md/<name>`, metadata 1.2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdCreateSpec {
    pub name: MdName,
    pub level: RaidLevel,
    /// Data members, in slot order.
    pub devices: Vec<DevicePath>,
    /// Hot spares.
    #[serde(default)]
    pub spares: Vec<DevicePath>,
    /// Chunk size in KiB for striped levels; None lets mdadm choose (512 KiB).
    #[serde(default)]
    pub chunk_kib: Option<u32>,
}

impl MdCreateSpec {
    /// The checks that need no system: member counts for the level, duplicates, chunk size.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let n = self.devices.len();
        let min = self.level.min_devices();
        if n < min {
            return Err(ValidationError::new(
                "devices",
                format!("{} needs at least {min} devices, {n} given ({})", self.level, self.level.explain()),
            ));
        }
        if n + self.spares.len() > MAX_MEMBERS {
            return Err(ValidationError::new(
                "devices",
                format!("at most {MAX_MEMBERS} devices and spares in one array"),
            ));
        }
        if !self.spares.is_empty() && !self.level.takes_spares() {
            return Err(ValidationError::new(
                "spares",
                format!("{} cannot keep spares: it has no redundancy", self.level),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for d in self.devices.iter().chain(&self.spares) {
            if !seen.insert(d.as_str()) {
                return Err(ValidationError::new("devices", format!("device {d} is listed twice")));
            }
        }
        if let Some(k) = self.chunk_kib {
            if !self.level.has_chunks() {
                return Err(ValidationError::new(
                    "chunk_kib",
                    format!("{} has no chunk size; leave it out", self.level),
                ));
            }
            if !k.is_power_of_two() || !CHUNK_KIB_RANGE.contains(&k) {
                return Err(ValidationError::new(
                    "chunk_kib",
                    format!("chunk size {k} KiB is invalid: use a power of two from 4 to 1024 (KiB)"),
                ));
            }
        }
        Ok(())
    }
}

/// A change to one member of an array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MdMemberOp {
    /// Add the device; it becomes a spare, or is rebuilt into a missing slot at once.
    Add,
    /// Remove a failed or spare device.
    Remove,
    /// Mark the device faulty (it stays listed until removed).
    Fail,
    /// Rebuild the device's content onto a spare while it stays in service, then fail it.
    /// `with` names the spare to use (it must already be a spare of the array); None takes any.
    Replace { with: Option<DevicePath> },
}

impl MdMemberOp {
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Remove => "remove",
            Self::Fail => "fail",
            Self::Replace { .. } => "replace",
        }
    }

    /// `device` is the member the operation acts on.
    pub fn validate(&self, device: &DevicePath) -> Result<(), ValidationError> {
        match self {
            Self::Replace { with: Some(w) } if w == device => {
                Err(ValidationError::new("with", format!("cannot replace {device} with itself")))
            }
            _ => Ok(()),
        }
    }
}

/// Whether the array runs, from `/proc/mdstat` (or `State :` of `mdadm --detail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MdState {
    Active,
    /// Started read-only (`active (read-only)`).
    ReadOnly,
    /// Read-only until the first write (`active (auto-read-only)`); normal after boot.
    AutoReadOnly,
    /// Assembled but not started (members missing, or a container).
    Inactive,
    Unknown,
}

/// What a member is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MdRole {
    /// Holds data in `slot` (None when the source does not say which slot).
    Data,
    Spare,
    Journal,
    /// Being rebuilt to take over another member's slot (`--replace`).
    Replacement,
    Unknown,
}

/// How a member is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MdMemberState {
    InSync,
    /// Its slot is being (or waits to be) rebuilt.
    Rebuilding,
    Faulty,
    /// A spare waiting for work.
    Idle,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MdMember {
    /// `/dev/sdb` (as mdadm prints it) or `sdb` (as the kernel does, from mdstat).
    pub device: String,
    pub role: MdRole,
    pub slot: Option<u32>,
    pub state: MdMemberState,
    pub write_mostly: bool,
}

/// The background operation md runs over the array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MdSyncAction {
    /// Making a new or unclean array consistent.
    Resync,
    /// Rebuilding a replaced or re-added member.
    Recovery,
    /// Changing level, member count, chunk or layout.
    Reshape,
    /// Reading everything and counting mismatches (scrub).
    Check,
    Repair,
}

impl MdSyncAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resync => "resync",
            Self::Recovery => "recovery",
            Self::Reshape => "reshape",
            Self::Check => "check",
            Self::Repair => "repair",
        }
    }
}

/// Progress of a running sync action, from `/proc/mdstat`: sizes in KiB as the kernel counts them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MdSyncProgress {
    /// 0.0 to 100.0, one decimal (the kernel's resolution).
    pub percent: f64,
    pub done_kib: u64,
    pub total_kib: u64,
    pub speed_kib_s: Option<u64>,
    /// The kernel's estimate of the time left.
    pub finish_secs: Option<u64>,
}

/// A sync action that runs, or waits (`resync=DELAYED` behind another array on the same disks,
/// `resync=PENDING` until the array is first written).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MdSync {
    pub action: MdSyncAction,
    /// Whole percent from `mdadm --detail` when no mdstat progress is at hand.
    pub percent: Option<f64>,
    pub progress: Option<MdSyncProgress>,
    /// `DELAYED`, `PENDING` or another word the kernel printed instead of progress.
    pub waiting: Option<String>,
}

/// What corenasd reports about one array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MdArrayInfo {
    /// The array's name without the homehost (`data` for `nas:data`); None if it has none.
    pub name: Option<String>,
    pub homehost: Option<String>,
    /// The device the information was read for (`/dev/md127`, `/dev/md/data`) or the kernel name.
    pub device: String,
    /// The level when it is one CoreNAS manages.
    pub level: Option<RaidLevel>,
    /// The level as reported (`raid1`, `linear`, empty for containers).
    pub level_text: String,
    pub state: MdState,
    /// The state words of `mdadm --detail` (`clean, degraded, recovering`), when read from there.
    pub state_text: Option<String>,
    pub size_bytes: Option<u64>,
    /// Data slots the array has (not counting spares).
    pub raid_devices: Option<u32>,
    pub members: Vec<MdMember>,
    pub degraded: bool,
    pub sync: Option<MdSync>,
    pub uuid: Option<MdUuid>,
}

impl MdArrayInfo {
    /// Members in the given state.
    pub fn count(&self, state: MdMemberState) -> usize {
        self.members.iter().filter(|m| m.state == state).count()
    }
}

/// An array after a change, and the job that follows the sync the change started (a new
/// redundant array's initial resync, a rebuild onto an added member), if one runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MdChange {
    pub array: MdArrayInfo,
    pub job: Option<crate::storage::StorageJob>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(s: &str) -> DevicePath {
        s.parse().unwrap()
    }

    #[test]
    fn md_names() {
        for good in ["data", "a", "media-2026", "x_y", "a2345678901234567890123456789012", "mdata", "md"] {
            assert!(good.parse::<MdName>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "Data",
            "1data",
            "-data",
            "_x",
            "a b",
            "a/b",
            "../x",
            "a:b",
            "x\n",
            "md0",
            "md127",
            "md_d0",
            "--run",
            "a23456789012345678901234567890123",
            "dätä",
        ] {
            let e = bad.parse::<MdName>().unwrap_err();
            assert_eq!(e.field, "name", "{bad:?}");
            assert!(e.message.contains("array name"), "{}", e.message);
        }
        assert_eq!("data".parse::<MdName>().unwrap().dev_path(), "/dev/md/data");
    }

    #[test]
    fn md_uuids() {
        assert!("3dc613d5:9c8f7ad0:26ae4b4f:48533886".parse::<MdUuid>().is_ok());
        for bad in [
            "",
            "3DC613D5:9c8f7ad0:26ae4b4f:48533886",
            "3dc613d5-9c8f-7ad0-26ae-4b4f48533886",
            "3dc613d5:9c8f7ad0:26ae4b4f",
            "3dc613d5:9c8f7ad0:26ae4b4f:4853388g",
            "3dc613d5:9c8f7ad0:26ae4b4f:48533886 ",
            "3dc613d5:9c8f7ad0:26ae4b4f::8533886",
        ] {
            assert_eq!(bad.parse::<MdUuid>().unwrap_err().field, "uuid", "{bad:?}");
        }
    }

    #[test]
    fn names_validate_while_decoding() {
        assert!(serde_json::from_str::<MdName>("\"md0\"").is_err());
        assert!(serde_json::from_str::<MdName>("\"data\"").is_ok());
        assert!(serde_json::from_str::<MdUuid>("\"nope\"").is_err());
        let bad = postcard::to_stdvec(&"a b".to_string()).unwrap();
        assert!(postcard::from_bytes::<MdName>(&bad).is_err());
    }

    #[test]
    fn levels_parse_in_every_spelling() {
        for (s, l) in [
            ("0", RaidLevel::Raid0),
            ("raid0", RaidLevel::Raid0),
            ("stripe", RaidLevel::Raid0),
            ("1", RaidLevel::Raid1),
            ("raid1", RaidLevel::Raid1),
            ("mirror", RaidLevel::Raid1),
            ("5", RaidLevel::Raid5),
            ("raid5", RaidLevel::Raid5),
            ("6", RaidLevel::Raid6),
            ("raid6", RaidLevel::Raid6),
            ("10", RaidLevel::Raid10),
            ("raid10", RaidLevel::Raid10),
        ] {
            assert_eq!(s.parse::<RaidLevel>().unwrap(), l, "{s}");
        }
        for bad in ["", "4", "raid4", "linear", "raid", "RAID1", " 1", "01", "raid1 "] {
            let e = bad.parse::<RaidLevel>().unwrap_err();
            assert_eq!(e.field, "level");
            assert!(e.message.contains("use 0, 1, 5, 6 or 10"), "{}", e.message);
        }
        for l in RaidLevel::ALL {
            assert_eq!(l.as_str().parse::<RaidLevel>().unwrap(), l);
            assert_eq!(serde_json::to_string(&l).unwrap(), format!("\"{}\"", l.as_str()));
        }
    }

    #[test]
    fn what_each_level_gives() {
        const T: u64 = 1 << 40;
        assert_eq!(RaidLevel::Raid0.usable_bytes(3, T), 3 * T);
        assert_eq!(RaidLevel::Raid1.usable_bytes(3, T), T);
        assert_eq!(RaidLevel::Raid1.usable_bytes(0, T), 0);
        assert_eq!(RaidLevel::Raid5.usable_bytes(4, T), 3 * T);
        assert_eq!(RaidLevel::Raid6.usable_bytes(6, T), 4 * T);
        assert_eq!(RaidLevel::Raid10.usable_bytes(4, T), 2 * T);
        assert_eq!(RaidLevel::Raid10.usable_bytes(5, 3), 7);
        // No overflow on absurd input.
        assert_eq!(RaidLevel::Raid0.usable_bytes(usize::MAX, u64::MAX), u64::MAX);
        assert_eq!(RaidLevel::Raid5.usable_bytes(0, T), 0);

        assert_eq!(RaidLevel::Raid0.redundancy(), 0);
        assert_eq!(RaidLevel::Raid6.redundancy(), 2);
        assert_eq!(RaidLevel::Raid1.tolerates(3), 2);
        assert_eq!(RaidLevel::Raid5.tolerates(8), 1);
        assert_eq!(RaidLevel::Raid10.tolerates(8), 1);
        for l in RaidLevel::ALL {
            assert!(!l.explain().is_empty() && !l.explain().contains('\n'));
            assert!(l.min_devices() >= 2);
        }
    }

    fn spec(level: RaidLevel, n: usize) -> MdCreateSpec {
        MdCreateSpec {
            name: "data".parse().unwrap(),
            level,
            devices: (0..n).map(|i| dev(&format!("/dev/sd{}", char::from(b'b' + u8::try_from(i).unwrap())))).collect(),
            spares: vec![],
            chunk_kib: None,
        }
    }

    #[test]
    fn create_spec_checks() {
        for l in RaidLevel::ALL {
            assert!(spec(l, l.min_devices()).validate().is_ok(), "{l}");
            let e = spec(l, l.min_devices() - 1).validate().unwrap_err();
            assert_eq!(e.field, "devices");
            assert!(e.message.contains(&format!("at least {}", l.min_devices())), "{}", e.message);
        }
        let mut s = spec(RaidLevel::Raid1, 2);
        s.spares = vec![dev("/dev/sdb")];
        assert!(s.validate().unwrap_err().message.contains("listed twice"));
        s.spares = vec![dev("/dev/sdz")];
        assert!(s.validate().is_ok());

        let mut s = spec(RaidLevel::Raid0, 2);
        s.spares = vec![dev("/dev/sdz")];
        assert_eq!(s.validate().unwrap_err().field, "spares");

        let mut s = spec(RaidLevel::Raid5, 3);
        for good in [4, 64, 512, 1024] {
            s.chunk_kib = Some(good);
            assert!(s.validate().is_ok(), "{good}");
        }
        for bad in [0, 2, 3, 100, 2048] {
            s.chunk_kib = Some(bad);
            assert_eq!(s.validate().unwrap_err().field, "chunk_kib", "{bad}");
        }
        let mut s = spec(RaidLevel::Raid1, 2);
        s.chunk_kib = Some(64);
        assert_eq!(s.validate().unwrap_err().field, "chunk_kib");

        let s = MdCreateSpec {
            devices: (0..65).map(|i| dev(&format!("/dev/loop{i}"))).collect(),
            ..spec(RaidLevel::Raid6, 4)
        };
        assert!(s.validate().unwrap_err().message.contains("at most 64"));
    }

    #[test]
    fn create_spec_decodes_strictly() {
        let json = r#"{"name":"data","level":"raid5","devices":["/dev/sdb","/dev/sdc","/dev/sdd"]}"#;
        let s: MdCreateSpec = serde_json::from_str(json).unwrap();
        assert!(s.validate().is_ok());
        assert!(s.spares.is_empty() && s.chunk_kib.is_none());
        let hostile = r#"{"name":"data","level":"raid5","devices":["/dev/sdb --assume-clean","/dev/sdc","/dev/sdd"]}"#;
        assert!(serde_json::from_str::<MdCreateSpec>(hostile).is_err());
        let extra = r#"{"name":"data","level":"raid1","devices":["/dev/sdb","/dev/sdc"],"force":true}"#;
        assert!(serde_json::from_str::<MdCreateSpec>(extra).is_err());
    }

    #[test]
    fn member_ops() {
        let d = dev("/dev/sdb");
        assert!(MdMemberOp::Replace { with: Some(dev("/dev/sdb")) }.validate(&d).is_err());
        assert!(MdMemberOp::Replace { with: Some(dev("/dev/sdc")) }.validate(&d).is_ok());
        assert!(MdMemberOp::Replace { with: None }.validate(&d).is_ok());
        let op: MdMemberOp = serde_json::from_str(r#"{"replace":{"with":"/dev/sdc"}}"#).unwrap();
        assert_eq!(op.verb(), "replace");
        assert_eq!(serde_json::to_string(&MdMemberOp::Add).unwrap(), "\"add\"");
    }
}
