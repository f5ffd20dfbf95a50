//! Privilege reduction, done once in `main()` before any thread exists (capabilities, no_new_privs
//! and landlock are per thread). Order: bounding set → capability sets → ambient → no_new_privs →
//! landlock. The bounding set is what limits the programs the helper runs; landlock is inherited
//! by them too. See docs/decisions/0002-helper-sandbox.md.

use corenas_proto::helper::HelperArea;
use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
    path_beneath_rules,
};
use rustix::thread::{CapabilitySet, CapabilitySets};
use std::path::PathBuf;

/// Exactly what the accounts helper's operations need: create/chown homes and account files
/// (CHOWN, DAC_*, FOWNER, FSETID), write ACL xattrs on files it does not own (FOWNER), and let
/// the shadow tools write their audit records (AUDIT_WRITE).
pub const ACCOUNTS: &[(&str, CapabilitySet)] = &[
    ("cap_chown", CapabilitySet::CHOWN),
    ("cap_dac_override", CapabilitySet::DAC_OVERRIDE),
    ("cap_dac_read_search", CapabilitySet::DAC_READ_SEARCH),
    ("cap_fowner", CapabilitySet::FOWNER),
    ("cap_fsetid", CapabilitySet::FSETID),
    ("cap_audit_write", CapabilitySet::AUDIT_WRITE),
];

/// What the storage helper's tools need: partition-table re-reads, btrfs/ZFS/md/device-mapper
/// ioctls (SYS_ADMIN), SMART pass-through commands (SYS_RAWIO), LVM's locked memory while a
/// volume is suspended (IPC_LOCK), the temporary node mdadm opens a new array through when udev
/// has not made /dev/mdN yet (MKNOD), and root's usual reach over files of other owners (DAC_*,
/// FOWNER).
/// SYS_ADMIN is broad; landlock still forbids mount(2). docs/decisions/0014 says why storage is
/// a helper of its own.
pub const STORAGE: &[(&str, CapabilitySet)] = &[
    ("cap_dac_override", CapabilitySet::DAC_OVERRIDE),
    ("cap_dac_read_search", CapabilitySet::DAC_READ_SEARCH),
    ("cap_fowner", CapabilitySet::FOWNER),
    ("cap_sys_admin", CapabilitySet::SYS_ADMIN),
    ("cap_sys_rawio", CapabilitySet::SYS_RAWIO),
    ("cap_ipc_lock", CapabilitySet::IPC_LOCK),
    ("cap_mknod", CapabilitySet::MKNOD),
];

/// The capabilities a helper serving `area` (None: both, as in the lab) keeps, by name.
pub fn keep_list(area: Option<HelperArea>) -> Vec<(&'static str, CapabilitySet)> {
    let mut out: Vec<(&'static str, CapabilitySet)> = Vec::new();
    let lists: &[&[(&str, CapabilitySet)]] = match area {
        Some(HelperArea::Accounts) => &[ACCOUNTS],
        Some(HelperArea::Storage) => &[STORAGE],
        None => &[ACCOUNTS, STORAGE],
    };
    for (name, cap) in lists.iter().flat_map(|l| l.iter()) {
        if !out.iter().any(|(n, _)| n == name) {
            out.push((name, *cap));
        }
    }
    out
}

pub fn keep_set(area: Option<HelperArea>) -> CapabilitySet {
    keep_list(area).iter().fold(CapabilitySet::empty(), |acc, (_, c)| acc | *c)
}

#[derive(Debug, Clone)]
pub struct SandboxReport {
    pub landlock: String,
    pub bounding_set: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("reducing capabilities failed at {step}: {source}")]
    Capabilities { step: &'static str, source: rustix::io::Errno },
    #[error("setting no_new_privs failed: {0}")]
    NoNewPrivs(rustix::io::Errno),
    #[error("landlock setup failed: {0}")]
    Landlock(#[from] landlock::RulesetError),
    #[error("landlock is not enforced by this kernel; refusing to run (use --allow-unsandboxed only in a lab)")]
    NotEnforced,
}

fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(40)
}

fn reduce_capabilities(area: Option<HelperArea>) -> Result<(), SandboxError> {
    // Keep what the helper's operations need *and* the process has: a unit whose
    // CapabilityBoundingSet= grants less (the shipped one gives no SYS_ADMIN or SYS_RAWIO, and
    // PrivateDevices= removes SYS_RAWIO) must still start the helper; asking capset(2) for a
    // capability not in the permitted set fails with EPERM (found by the VM tier). The
    // operations that need a missing one fail on their own, naming what the kernel refused.
    let have = rustix::thread::capabilities(None)
        .map_err(|e| SandboxError::Capabilities { step: "capget", source: e })?
        .permitted;
    let keep = keep_set(area) & have;
    for bit in 0..=last_cap().min(63) {
        let cap = CapabilitySet::from_bits_retain(1u64 << bit);
        // Under systemd the unit's CapabilityBoundingSet= already removed most capabilities,
        // and without CAP_SETPCAP the kernel refuses even to drop an absent one.
        if keep.contains(cap) || !rustix::thread::capability_is_in_bounding_set(cap).unwrap_or(false) {
            continue;
        }
        match rustix::thread::remove_capability_from_bounding_set(cap) {
            // EINVAL: the kernel does not know this capability; nothing to drop.
            Ok(()) | Err(rustix::io::Errno::INVAL) => {}
            Err(e) => return Err(SandboxError::Capabilities { step: "bounding set", source: e }),
        }
    }
    let sets = CapabilitySets { effective: keep, permitted: keep, inheritable: CapabilitySet::empty() };
    rustix::thread::set_capabilities(None, sets)
        .map_err(|e| SandboxError::Capabilities { step: "capset", source: e })?;
    rustix::thread::clear_ambient_capability_set()
        .map_err(|e| SandboxError::Capabilities { step: "ambient", source: e })?;
    Ok(())
}

/// The bounding set as read back from the kernel, by name.
pub fn bounding_set_names() -> Vec<String> {
    keep_list(None)
        .iter()
        .filter(|(_, c)| rustix::thread::capability_is_in_bounding_set(*c).unwrap_or(false))
        .map(|(n, _)| (*n).to_owned())
        .collect()
}

fn existing(paths: impl IntoIterator<Item = PathBuf>) -> Vec<PathBuf> {
    paths.into_iter().filter(|p| p.exists()).collect()
}

/// Applies the whole sandbox. `writable` are the directories operations may write beneath.
pub fn apply(
    writable: Vec<PathBuf>,
    allow_unsandboxed: bool,
    area: Option<HelperArea>,
) -> Result<SandboxReport, SandboxError> {
    reduce_capabilities(area)?;
    rustix::thread::set_no_new_privs(true).map_err(SandboxError::NoNewPrivs)?;

    // Best effort up to ABI 5 (filesystem rights incl. truncate/ioctl, TCP bind/connect);
    // anything the kernel offers from ABI 1 counts as the floor. The helper needs no TCP at all,
    // so handling the TCP rights with no rule forbids them.
    let abi = ABI::V5;
    let read_exec = AccessFs::from_read(abi);
    let all = AccessFs::from_all(abi);
    // /run/udev: udev's device database, read by libzfs and LVM to know a new partition or
    // volume is ready (without it `zpool create` on a whole disk fails, found in the VM tier).
    let system_ro =
        existing(["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/proc", "/sys", "/run/udev"].map(PathBuf::from));
    // /dev/random too: getrandom polls it before falling back to /dev/urandom where the
    // getrandom(2) wrapper cannot be found (static builds).
    // drop_caches: zfs-fuse's `zfs rollback` writes it (and fails without it).
    let devices = existing(
        ["/dev/null", "/dev/random", "/dev/urandom", "/dev/zero", "/proc/sys/vm/drop_caches"].map(PathBuf::from),
    );
    let writable = existing(writable);
    // Block devices: probed, read (first 34 KiB for the medium's volume descriptor), their ACL
    // changed (setxattr is not a landlock right), ejected (device ioctls, ABI 5), and written
    // by the storage tools and the wipe (which open only nodes resolved as accepted disks).
    let dev_tree = existing([PathBuf::from("/dev")]);
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)?
        .handle_access(AccessNet::from_all(abi))?
        .create()?
        .add_rules(path_beneath_rules(&system_ro, read_exec))?
        .add_rules(path_beneath_rules(&devices, AccessFs::ReadFile | AccessFs::WriteFile))?
        .add_rules(path_beneath_rules(&writable, all))?
        .add_rules(path_beneath_rules(
            &dev_tree,
            AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::ReadDir | AccessFs::IoctlDev,
        ))?
        .restrict_self()?;
    let landlock = match status.ruleset {
        RulesetStatus::FullyEnforced => "fully enforced".to_owned(),
        RulesetStatus::PartiallyEnforced => "partially enforced (kernel offers an older landlock ABI)".to_owned(),
        RulesetStatus::NotEnforced if allow_unsandboxed => "NOT enforced (allowed by --allow-unsandboxed)".to_owned(),
        RulesetStatus::NotEnforced => return Err(SandboxError::NotEnforced),
    };
    Ok(SandboxReport { landlock, bounding_set: bounding_set_names() })
}
