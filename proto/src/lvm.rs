//! LVM as CoreNAS drives it: volume group and logical volume names (LVM's own rules, checked
//! before anything reaches lvm), sizes, the create/extend specs, and the reports corenasd builds
//! from `pvs`/`vgs`/`lvs`. Nothing here runs lvm.

use crate::error::ValidationError;
use crate::names::{DevicePath, shown};
use crate::storage::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;

/// CoreNAS's cap on VG and LV names (LVM's own is 127).
pub const NAME_MAX: usize = 64;
/// The most physical volumes one request names.
pub const MAX_PVS: usize = 64;

/// LV names LVM uses for its own sub-volumes (lvm(8) "VALID NAMES", lib/misc/lvm-string.c); an LV
/// name may not contain them anywhere.
pub const LV_RESERVED_PARTS: &[&str] = &[
    "_cdata", "_cmeta", "_corig", "_cpool", "_cvol", "_imeta", "_iorig", "_mimage", "_mlog", "_pmspare", "_rimage",
    "_rmeta", "_tdata", "_tmeta", "_vdata", "_vorigin", "_wcorig",
];
/// LV names may not start with these (lvm-string.c `apply_lvname_restrictions`).
pub const LV_RESERVED_PREFIXES: &[&str] = &["snapshot", "pvmove"];
/// Names that always exist under /dev on Debian. LVM refuses a VG named like anything in /dev (the
/// helper checks the live /dev too); these are refused before asking.
pub const VG_RESERVED: &[&str] = &[
    "block",
    "bus",
    "char",
    "console",
    "core",
    "cpu",
    "disk",
    "dri",
    "fd",
    "full",
    "hugepages",
    "input",
    "kmsg",
    "log",
    "loop-control",
    "mapper",
    "md",
    "mem",
    "mqueue",
    "net",
    "null",
    "port",
    "ptmx",
    "pts",
    "random",
    "shm",
    "snd",
    "stderr",
    "stdin",
    "stdout",
    "tty",
    "urandom",
    "vfio",
    "zero",
];

/// The character set and shape LVM accepts for both VG and LV names (`validate_name`).
fn lvm_name_shape(what: &str, field: &'static str, s: &str) -> Result<(), ValidationError> {
    let bad = |why: &str| ValidationError::new(field, format!("{what} '{}' is invalid: {why}", shown(s)));
    if s.is_empty() || s.len() > NAME_MAX {
        return Err(bad("use 1-64 of A-Z, a-z, 0-9, '+', '_', '.' and '-', not starting with '-'"));
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+_.-".contains(&b)) {
        return Err(bad("use only A-Z, a-z, 0-9, '+', '_', '.' and '-'"));
    }
    if s.starts_with('-') {
        return Err(bad("it may not start with '-'"));
    }
    if s == "." || s == ".." {
        return Err(bad("'.' and '..' are not names"));
    }
    Ok(())
}

fn check_vg_name(s: &str) -> Result<(), ValidationError> {
    lvm_name_shape("volume group name", "vg", s)?;
    if VG_RESERVED.contains(&s) {
        return Err(ValidationError::new(
            "vg",
            format!("volume group name '{}' is invalid: /dev/{s} already exists; choose another name", shown(s)),
        ));
    }
    Ok(())
}
crate::names::validated_string!(
    /// A volume group: 1-64 of `[A-Za-z0-9+_.-]`, not starting with '-', not `.`/`..`, not a name
    /// that exists in /dev. Its volumes appear as `/dev/<vg>/<lv>`.
    VgName,
    check_vg_name
);

fn check_lv_name(s: &str) -> Result<(), ValidationError> {
    lvm_name_shape("logical volume name", "name", s)?;
    let bad =
        |why: String| ValidationError::new("name", format!("logical volume name '{}' is invalid: {why}", shown(s)));
    if let Some(p) = LV_RESERVED_PREFIXES.iter().find(|p| s.starts_with(**p)) {
        return Err(bad(format!("names starting with '{p}' are reserved by LVM")));
    }
    if let Some(p) = LV_RESERVED_PARTS.iter().find(|p| s.contains(**p)) {
        return Err(bad(format!("names containing '{p}' are reserved by LVM for its sub-volumes")));
    }
    Ok(())
}
crate::names::validated_string!(
    /// A logical volume inside a group: LVM's name rules plus its reserved prefixes (`snapshot`,
    /// `pvmove`) and sub-volume suffixes (`_tdata`, `_rimage`, ...).
    LvName,
    check_lv_name
);

/// The device-mapper name of `vg/lv`: each '-' doubled, joined by '-'.
pub fn dm_name(vg: &VgName, lv: &LvName) -> String {
    format!("{}-{}", vg.as_str().replace('-', "--"), lv.as_str().replace('-', "--"))
}

/// Room the device-mapper name needs for LVM's layer suffixes (`-tpool`, `_tdata`, `_tmeta`).
const DM_SUFFIX_ROOM: usize = 12;
/// device-mapper's name limit (DM_NAME_LEN, including the NUL).
const DM_NAME_LEN: usize = 128;

fn check_dm_room(vg: &VgName, lv: &LvName) -> Result<(), ValidationError> {
    if dm_name(vg, lv).len() + DM_SUFFIX_ROOM < DM_NAME_LEN {
        Ok(())
    } else {
        Err(ValidationError::new(
            "name",
            format!("{vg}/{lv} is too long for a device-mapper name; use shorter names (each '-' counts twice)"),
        ))
    }
}

/// How big a new volume is: bytes, or a share of the group's free or total space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum LvSize {
    /// Rounded up to whole extents by LVM.
    Bytes(u64),
    /// `N%FREE`: N percent of the group's free space.
    PercentFree(u8),
    /// `N%VG`: N percent of the group's total size.
    PercentVg(u8),
}

fn parse_percent(field: &'static str, s: &str, num: &str) -> Result<u8, ValidationError> {
    let ok = !num.is_empty() && num.len() <= 3 && num.bytes().all(|b| b.is_ascii_digit());
    match num.parse::<u8>() {
        Ok(n) if ok && (1..=100).contains(&n) => Ok(n),
        _ => Err(ValidationError::new(field, format!("size '{}' is invalid: the percentage must be 1-100", shown(s)))),
    }
}

fn parse_size(field: &'static str, s: &str) -> Result<LvSize, ValidationError> {
    let upper = s.to_ascii_uppercase();
    if let Some(n) = upper.strip_suffix("%FREE") {
        return Ok(LvSize::PercentFree(parse_percent(field, s, n)?));
    }
    if let Some(n) = upper.strip_suffix("%VG") {
        return Ok(LvSize::PercentVg(parse_percent(field, s, n)?));
    }
    let bytes = s.parse::<Bytes>().map_err(|_| {
        ValidationError::new(
            field,
            format!(
                "size '{}' is invalid: use bytes with an optional K, M, G or T suffix (binary units, e.g. 10G), \
                 or a percentage like 100%FREE or 50%VG",
                shown(s)
            ),
        )
    })?;
    if bytes.0 == 0 {
        return Err(ValidationError::new(field, "a size of 0 is not a volume; give at least one extent's worth"));
    }
    Ok(LvSize::Bytes(bytes.0))
}

impl std::str::FromStr for LvSize {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_size("size", s)
    }
}
impl TryFrom<String> for LvSize {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}
impl From<LvSize> for String {
    fn from(v: LvSize) -> String {
        v.to_string()
    }
}
impl fmt::Display for LvSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(n) => write!(f, "{n}"),
            Self::PercentFree(p) => write!(f, "{p}%FREE"),
            Self::PercentVg(p) => write!(f, "{p}%VG"),
        }
    }
}

/// How much a volume grows: to a size, by a size, or by a share of the group's free space.
/// Written `10G` (to), `+10G` (by), `+100%FREE` (by a share of the free space).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum LvGrow {
    To(u64),
    By(u64),
    ByPercentFree(u8),
}

impl std::str::FromStr for LvGrow {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            ValidationError::new(
                "size",
                format!(
                    "growth '{}' is invalid: use a new size (10G), an increase (+10G) or a share of the free space \
                     (+100%FREE)",
                    shown(s)
                ),
            )
        };
        match s.strip_prefix('+') {
            Some(rest) => match parse_size("size", rest)? {
                LvSize::Bytes(n) => Ok(Self::By(n)),
                LvSize::PercentFree(p) => Ok(Self::ByPercentFree(p)),
                LvSize::PercentVg(_) => Err(bad()),
            },
            None => match parse_size("size", s)? {
                LvSize::Bytes(n) => Ok(Self::To(n)),
                _ => Err(bad()),
            },
        }
    }
}
impl TryFrom<String> for LvGrow {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}
impl From<LvGrow> for String {
    fn from(v: LvGrow) -> String {
        v.to_string()
    }
}
impl fmt::Display for LvGrow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::To(n) => write!(f, "{n}"),
            Self::By(n) => write!(f, "+{n}"),
            Self::ByPercentFree(p) => write!(f, "+{p}%FREE"),
        }
    }
}

/// A volume group to create from devices (each becomes a physical volume first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VgCreateSpec {
    pub name: VgName,
    pub devices: Vec<DevicePath>,
    /// Let pvcreate wipe existing filesystem signatures without asking. A device in use is
    /// refused by the helper whatever this says.
    #[serde(default)]
    pub force: bool,
}

impl VgCreateSpec {
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_pv_list(&self.devices)
    }
}

/// 1-64 devices, none twice.
pub fn check_pv_list(devices: &[DevicePath]) -> Result<(), ValidationError> {
    if devices.is_empty() {
        return Err(ValidationError::new("devices", "name at least one device"));
    }
    if devices.len() > MAX_PVS {
        return Err(ValidationError::new("devices", format!("at most {MAX_PVS} devices at once")));
    }
    let mut seen = std::collections::BTreeSet::new();
    for d in devices {
        if !seen.insert(d.as_str()) {
            return Err(ValidationError::new("devices", format!("device {d} is listed twice")));
        }
    }
    Ok(())
}

/// What kind of volume to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LvKind {
    /// Space allocated up front.
    Linear,
    /// A pool that thin volumes draw from as they are written.
    ThinPool,
    /// A thin volume of `size` bytes (virtual) in an existing pool of the same group.
    Thin { pool: LvName },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LvCreateSpec {
    pub vg: VgName,
    pub name: LvName,
    pub size: LvSize,
    pub kind: LvKind,
}

impl LvCreateSpec {
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_dm_room(&self.vg, &self.name)?;
        if let LvKind::Thin { pool } = &self.kind {
            if !matches!(self.size, LvSize::Bytes(_)) {
                return Err(ValidationError::new(
                    "size",
                    "a thin volume's size is virtual: give it in bytes (e.g. 100G), not as a share of the group",
                ));
            }
            if pool == &self.name {
                return Err(ValidationError::new("pool", format!("thin volume {} cannot be its own pool", self.name)));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LvExtendSpec {
    pub vg: VgName,
    pub name: LvName,
    pub grow: LvGrow,
    /// Grow the filesystem on the volume too (`lvextend --resizefs`).
    #[serde(default)]
    pub resize_fs: bool,
}

/// Everything LVM reports, as `lvm list` and the web show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LvmListing {
    pub pvs: Vec<PvInfo>,
    pub vgs: Vec<VgInfo>,
    pub lvs: Vec<LvInfo>,
}

/// pv_attr, decoded (pvs(8)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PvAttr {
    pub allocatable: bool,
    /// In use (by a VG) but not allocatable.
    pub used: bool,
    /// An unchosen duplicate of another PV.
    pub duplicate: bool,
    pub exported: bool,
    pub missing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PvInfo {
    /// The device as LVM names it (`/dev/sdb`).
    pub device: String,
    pub uuid: String,
    /// The group it belongs to, None for an orphan PV.
    pub vg: Option<String>,
    pub format: String,
    pub attr: PvAttr,
    pub attr_text: String,
    pub size_bytes: u64,
    pub free_bytes: u64,
    pub dev_size_bytes: Option<u64>,
    pub pe_count: Option<u64>,
    pub pe_alloc_count: Option<u64>,
}

/// vg_attr, decoded (vgs(8)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VgAttr {
    pub writable: bool,
    pub resizable: bool,
    pub exported: bool,
    /// One or more PVs are missing.
    pub partial: bool,
    /// (c)ontiguous, c(l)ing, (n)ormal, (a)nywhere.
    pub allocation: Option<char>,
    pub clustered_or_shared: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VgInfo {
    pub name: String,
    pub uuid: String,
    pub attr: VgAttr,
    pub attr_text: String,
    pub size_bytes: u64,
    pub free_bytes: u64,
    pub extent_size_bytes: Option<u64>,
    pub extent_count: Option<u64>,
    pub free_extent_count: Option<u64>,
    pub pv_count: Option<u64>,
    pub lv_count: Option<u64>,
    pub snap_count: Option<u64>,
    pub missing_pv_count: Option<u64>,
}

/// The volume type, first character of lv_attr (lvs(8)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LvType {
    /// `-`: an ordinary (linear or striped) volume.
    Plain,
    Cache,
    Mirrored,
    Origin,
    Raid,
    Snapshot,
    Pvmove,
    Virtual,
    /// A mirror or raid image.
    Image,
    MirrorLog,
    UnderConversion,
    ThinVolume,
    ThinPool,
    ThinPoolData,
    VdoPool,
    VdoPoolData,
    /// raid or pool metadata, or the pool metadata spare.
    Metadata,
    Unknown,
}

impl LvType {
    pub fn from_attr(c: char) -> Self {
        match c {
            '-' => Self::Plain,
            'C' => Self::Cache,
            'm' | 'M' => Self::Mirrored,
            'o' | 'O' => Self::Origin,
            'r' | 'R' => Self::Raid,
            's' | 'S' => Self::Snapshot,
            'p' => Self::Pvmove,
            'v' => Self::Virtual,
            'i' | 'I' => Self::Image,
            'l' => Self::MirrorLog,
            'c' => Self::UnderConversion,
            'V' => Self::ThinVolume,
            't' => Self::ThinPool,
            'T' => Self::ThinPoolData,
            'd' => Self::VdoPool,
            'D' => Self::VdoPoolData,
            'e' => Self::Metadata,
            _ => Self::Unknown,
        }
    }
}

/// The 9th lv_attr character: what is wrong with the volume, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LvHealth {
    Ok,
    /// A PV it uses is missing.
    Partial,
    /// raid: a PV had a write error; refresh or replace it.
    RefreshNeeded,
    /// raid: a check found inconsistent portions.
    Mismatches,
    WriteMostly,
    Reshaping,
    RemoveAfterReshape,
    /// thin pool or thin volume failed; no I/O.
    Failed,
    /// thin pool ran out of data space.
    OutOfDataSpace,
    /// thin pool metadata is read-only.
    MetadataReadOnly,
    /// writecache reported an error.
    Error,
    Unknown,
}

impl LvHealth {
    pub fn from_attr(c: char) -> Self {
        match c {
            '-' => Self::Ok,
            'p' => Self::Partial,
            'r' => Self::RefreshNeeded,
            'm' => Self::Mismatches,
            'w' => Self::WriteMostly,
            's' => Self::Reshaping,
            'R' => Self::RemoveAfterReshape,
            'F' => Self::Failed,
            'D' => Self::OutOfDataSpace,
            'M' => Self::MetadataReadOnly,
            'E' => Self::Error,
            _ => Self::Unknown,
        }
    }
}

/// lv_attr, decoded where CoreNAS uses it (lvs(8)); the raw string is kept beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LvAttr {
    pub lv_type: LvType,
    pub writable: bool,
    /// The 5th character is `a`.
    pub active: bool,
    pub suspended: bool,
    /// The device is open (mounted or otherwise held).
    pub open: bool,
    /// Target type: (C)ache, (m)irror, (r)aid, (s)napshot, (t)hin, (u)nknown, (v)irtual.
    pub target: Option<char>,
    pub zeroes_new_blocks: bool,
    pub health: LvHealth,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LvInfo {
    /// As LVM reports it; internal volumes (listed with `--all`) come in brackets: `[pool_tdata]`.
    pub name: String,
    pub vg: String,
    pub uuid: Option<String>,
    pub attr: LvAttr,
    pub attr_text: String,
    pub size_bytes: u64,
    pub path: Option<String>,
    /// The thin (or cache/vdo) pool a volume uses.
    pub pool: Option<String>,
    pub origin: Option<String>,
    /// Thin pools and volumes, snapshots: how full, when active.
    pub data_percent: Option<f64>,
    pub metadata_percent: Option<f64>,
    pub layout: Vec<String>,
    pub role: Vec<String>,
}

impl LvInfo {
    /// An LVM-internal sub-volume (its name is bracketed).
    pub fn internal(&self) -> bool {
        self.name.starts_with('[')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vg_names_follow_lvm() {
        for good in ["vg0", "data", "corenas_fixture_vg", "A+B", "my-vg", ".hidden", "_x", "+", "a..b", "..x"] {
            assert!(good.parse::<VgName>().is_ok(), "{good}");
        }
        for bad in ["", "-vg", "--help", ".", "..", "a b", "a/b", "vg:1", "vä", "x\n", "disk", "mapper", "md", "null"]
        {
            let e = bad.parse::<VgName>().unwrap_err();
            assert_eq!(e.field, "vg", "{bad:?}");
            assert!(e.message.contains("volume group name"), "{}", e.message);
        }
        assert!("a".repeat(64).parse::<VgName>().is_ok());
        assert!("a".repeat(65).parse::<VgName>().is_err());
    }

    #[test]
    fn lv_names_follow_lvm() {
        for good in ["data", "lv-1", "thin.pool", "+x", "_x", "snap", "pool_data", "tmeta", "mysnapshot", "a_rimag"] {
            assert!(good.parse::<LvName>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "-x",
            ".",
            "..",
            "snapshot",
            "snapshot1",
            "pvmove0",
            "pool_tdata",
            "pool_tmeta",
            "x_rimage_1",
            "x_rmeta_0",
            "x_mlog",
            "x_mimage_0",
            "lvol0_pmspare",
            "a_cdata",
            "a_vorigin",
            "a_wcorig",
            "[hidden]",
            "a/b",
            "a b",
        ] {
            let e = bad.parse::<LvName>().unwrap_err();
            assert_eq!(e.field, "name", "{bad:?}");
        }
        let e = "pool_tdata".parse::<LvName>().unwrap_err();
        assert!(e.message.contains("_tdata"), "{}", e.message);
        assert!("snapshot1".parse::<LvName>().unwrap_err().message.contains("starting with 'snapshot'"));
    }

    #[test]
    fn names_validate_while_decoding() {
        assert!(serde_json::from_str::<VgName>("\"-x\"").is_err());
        assert!(serde_json::from_str::<LvName>("\"a_tmeta\"").is_err());
        assert!(serde_json::from_str::<LvSize>("\"0\"").is_err());
        assert_eq!(serde_json::from_str::<LvSize>("\"100%FREE\"").unwrap(), LvSize::PercentFree(100));
    }

    #[test]
    fn sizes() {
        assert_eq!("10G".parse::<LvSize>().unwrap(), LvSize::Bytes(10 << 30));
        assert_eq!("512M".parse::<LvSize>().unwrap(), LvSize::Bytes(512 << 20));
        assert_eq!("4096".parse::<LvSize>().unwrap(), LvSize::Bytes(4096));
        assert_eq!("100%FREE".parse::<LvSize>().unwrap(), LvSize::PercentFree(100));
        assert_eq!("50%free".parse::<LvSize>().unwrap(), LvSize::PercentFree(50));
        assert_eq!("25%VG".parse::<LvSize>().unwrap(), LvSize::PercentVg(25));
        for bad in ["", "0", "0G", "-1G", "10X", "101%FREE", "0%FREE", "%FREE", "1.5G", "10%", "10%PVS", "1e3", " 1G"] {
            let e = bad.parse::<LvSize>().unwrap_err();
            assert_eq!(e.field, "size", "{bad:?}");
        }
        for s in [LvSize::Bytes(10 << 30), LvSize::PercentFree(100), LvSize::PercentVg(1)] {
            assert_eq!(s.to_string().parse::<LvSize>().unwrap(), s);
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<LvSize>(&json).unwrap(), s);
        }
    }

    #[test]
    fn growth() {
        assert_eq!("20G".parse::<LvGrow>().unwrap(), LvGrow::To(20 << 30));
        assert_eq!("+5G".parse::<LvGrow>().unwrap(), LvGrow::By(5 << 30));
        assert_eq!("+100%FREE".parse::<LvGrow>().unwrap(), LvGrow::ByPercentFree(100));
        for bad in ["100%FREE", "+50%VG", "++1G", "+", "+0", "-1G"] {
            assert_eq!(bad.parse::<LvGrow>().unwrap_err().field, "size", "{bad:?}");
        }
        for g in [LvGrow::To(1), LvGrow::By(1 << 30), LvGrow::ByPercentFree(7)] {
            assert_eq!(g.to_string().parse::<LvGrow>().unwrap(), g);
        }
    }

    fn lv_spec(kind: LvKind, size: &str) -> LvCreateSpec {
        LvCreateSpec { vg: "vg0".parse().unwrap(), name: "data".parse().unwrap(), size: size.parse().unwrap(), kind }
    }

    #[test]
    fn lv_specs() {
        assert!(lv_spec(LvKind::Linear, "100%FREE").validate().is_ok());
        assert!(lv_spec(LvKind::ThinPool, "90%FREE").validate().is_ok());
        let pool: LvName = "pool".parse().unwrap();
        assert!(lv_spec(LvKind::Thin { pool: pool.clone() }, "1T").validate().is_ok());
        assert_eq!(lv_spec(LvKind::Thin { pool }, "100%FREE").validate().unwrap_err().field, "size");
        assert_eq!(lv_spec(LvKind::Thin { pool: "data".parse().unwrap() }, "1G").validate().unwrap_err().field, "pool");
        let long = LvCreateSpec {
            vg: "v-".repeat(32).parse().unwrap(),
            name: "l-".repeat(32).parse().unwrap(),
            ..lv_spec(LvKind::Linear, "1G")
        };
        assert!(long.validate().unwrap_err().message.contains("device-mapper"));
        assert_eq!(dm_name(&"my-vg".parse().unwrap(), &"lv-1".parse().unwrap()), "my--vg-lv--1");

        let json = r#"{"vg":"vg0","name":"t1","size":"10G","kind":{"thin":{"pool":"pool"}}}"#;
        let s: LvCreateSpec = serde_json::from_str(json).unwrap();
        assert!(s.validate().is_ok());
        let json = r#"{"vg":"vg0","name":"p","size":"100%FREE","kind":"thin-pool"}"#;
        assert_eq!(serde_json::from_str::<LvCreateSpec>(json).unwrap().kind, LvKind::ThinPool);
    }

    #[test]
    fn vg_specs() {
        let d = |s: &str| s.parse::<DevicePath>().unwrap();
        let ok =
            VgCreateSpec { name: "vg0".parse().unwrap(), devices: vec![d("/dev/sdb"), d("/dev/sdc")], force: false };
        assert!(ok.validate().is_ok());
        let twice = VgCreateSpec { devices: vec![d("/dev/sdb"), d("/dev/sdb")], ..ok.clone() };
        assert!(twice.validate().unwrap_err().message.contains("twice"));
        let none = VgCreateSpec { devices: vec![], ..ok };
        assert_eq!(none.validate().unwrap_err().field, "devices");
    }

    #[test]
    fn attr_characters() {
        assert_eq!(LvType::from_attr('-'), LvType::Plain);
        assert_eq!(LvType::from_attr('t'), LvType::ThinPool);
        assert_eq!(LvType::from_attr('V'), LvType::ThinVolume);
        assert_eq!(LvType::from_attr('?'), LvType::Unknown);
        assert_eq!(LvHealth::from_attr('-'), LvHealth::Ok);
        assert_eq!(LvHealth::from_attr('D'), LvHealth::OutOfDataSpace);
    }
}
