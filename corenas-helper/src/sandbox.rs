//! Privilege reduction, done once in `main()` before any thread exists (capabilities, no_new_privs
//! and landlock are per thread). Order: bounding set → capability sets → ambient → no_new_privs →
//! landlock. The bounding set is what limits the programs the helper runs; landlock is inherited
//! by them too. See docs/decisions/0002-helper-sandbox.md.

use crate::paths::Grant;
use corenas_proto::helper::HelperArea;
use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, path_beneath_rules,
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

/// The landlock ABI the helper asks for: best effort up to ABI 5 (filesystem rights incl.
/// truncate/ioctl, TCP bind/connect); anything the kernel offers from ABI 1 counts as the floor.
const ABI_WANTED: ABI = ABI::V5;

/// The landlock access rights of a grant (paths.rs says what each grant is for).
pub fn access(grant: Grant) -> BitFlags<AccessFs> {
    let abi = ABI_WANTED;
    let read = AccessFs::from_read(abi);
    match grant {
        Grant::ReadExec => read,
        Grant::ReadWriteFile => AccessFs::ReadFile | AccessFs::WriteFile,
        Grant::RegularFiles => {
            AccessFs::ReadFile
                | AccessFs::ReadDir
                | AccessFs::WriteFile
                | AccessFs::Truncate
                | AccessFs::MakeReg
                | AccessFs::RemoveFile
        }
        Grant::DevicesRead => AccessFs::ReadFile | AccessFs::ReadDir | AccessFs::IoctlDev,
        Grant::DevicesReadWrite => AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::ReadDir | AccessFs::IoctlDev,
        Grant::All => AccessFs::from_all(abi),
    }
}

/// The landlock rule set exactly as `apply` adds it: each path with its access rights (a path
/// named twice, as in the lab's union of both roles, gets the union of its rights).
pub fn rule_set(rules: &[(PathBuf, Grant)]) -> Vec<(PathBuf, BitFlags<AccessFs>)> {
    let mut out: Vec<(PathBuf, BitFlags<AccessFs>)> = Vec::new();
    for (path, grant) in rules {
        match out.iter_mut().find(|(p, _)| p == path) {
            Some((_, a)) => *a |= access(*grant),
            None => out.push((path.clone(), access(*grant))),
        }
    }
    out
}

/// Applies the whole sandbox: capabilities, no_new_privs, then landlock with `rules`
/// (`Paths::landlock_rules`; paths that do not exist are skipped). The helper needs no TCP at
/// all, so handling the TCP rights with no rule forbids them.
pub fn apply(
    rules: &[(PathBuf, Grant)],
    allow_unsandboxed: bool,
    area: Option<HelperArea>,
) -> Result<SandboxReport, SandboxError> {
    reduce_capabilities(area)?;
    rustix::thread::set_no_new_privs(true).map_err(SandboxError::NoNewPrivs)?;

    let abi = ABI_WANTED;
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))?
        .handle_access(AccessNet::from_all(abi))?
        .create()?;
    for (path, access) in rule_set(rules) {
        if path.exists() {
            ruleset = ruleset.add_rules(path_beneath_rules([&path], access))?;
        }
    }
    let status = ruleset.restrict_self()?;
    let landlock = match status.ruleset {
        RulesetStatus::FullyEnforced => "fully enforced".to_owned(),
        RulesetStatus::PartiallyEnforced => "partially enforced (kernel offers an older landlock ABI)".to_owned(),
        RulesetStatus::NotEnforced if allow_unsandboxed => "NOT enforced (allowed by --allow-unsandboxed)".to_owned(),
        RulesetStatus::NotEnforced => return Err(SandboxError::NotEnforced),
    };
    Ok(SandboxReport { landlock, bounding_set: bounding_set_names() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;
    use std::path::Path;

    /// Everything that shapes a tree rather than reading or writing a regular file in place.
    fn tree_rights() -> BitFlags<AccessFs> {
        AccessFs::MakeDir
            | AccessFs::RemoveDir
            | AccessFs::MakeSym
            | AccessFs::MakeChar
            | AccessFs::MakeBlock
            | AccessFs::MakeFifo
            | AccessFs::MakeSock
            | AccessFs::Refer
    }

    fn write_rights() -> BitFlags<AccessFs> {
        AccessFs::from_all(ABI_WANTED) & !(AccessFs::ReadFile | AccessFs::ReadDir | AccessFs::Execute)
    }

    fn rules(area: Option<HelperArea>) -> Vec<(PathBuf, BitFlags<AccessFs>)> {
        let paths = Paths::new(PathBuf::from("/")).for_area(area);
        rule_set(&paths.landlock_rules(&["/storage".to_owned()], false))
    }

    /// The rules that reach `target` (landlock rules apply beneath their path) with any of `rights`.
    fn reaching(
        set: &[(PathBuf, BitFlags<AccessFs>)],
        target: &str,
        rights: BitFlags<AccessFs>,
    ) -> Vec<(PathBuf, BitFlags<AccessFs>)> {
        set.iter().filter(|(p, a)| Path::new(target).starts_with(p) && a.intersects(rights)).cloned().collect()
    }

    /// Issue 18 (L1): the accounts role gets no rule for /etc as a whole (regular files only
    /// there; CoreNAS's own directories named), /home is writable for it and nothing above
    /// /home is, and /dev is read-only (the pseudo-devices, named one by one, aside).
    fn check_accounts(set: &[(PathBuf, BitFlags<AccessFs>)]) {
        let etc_tree = reaching(set, "/etc/cron.d/x", tree_rights());
        assert!(etc_tree.is_empty(), "accounts: /etc as a whole may gain directories, links or nodes: {etc_tree:?}");
        let corenas_dirs =
            ["/etc/samba", "/etc/exports.d", "/etc/corenas", "/etc/corenas/.verify-accounts", "/etc/systemd/system"];
        for (p, a) in set {
            if p.starts_with("/etc") && p != Path::new("/etc") && a.intersects(write_rights()) {
                assert!(
                    corenas_dirs.iter().any(|ok| p == Path::new(ok)),
                    "accounts: {} is writable and not one of CoreNAS's directories",
                    p.display()
                );
            }
        }
        let etc = set.iter().find(|(p, _)| p == Path::new("/etc")).map(|(_, a)| *a).unwrap_or_default();
        assert!(!etc.intersects(tree_rights()), "accounts: /etc gets {etc:?}");
        let home = reaching(set, "/home/alice/.profile", write_rights());
        assert_eq!(
            home.iter().map(|(p, _)| p.as_path()).collect::<Vec<_>>(),
            [Path::new("/home")],
            "accounts: {home:?}"
        );
        let dev = reaching(set, "/dev/sda", write_rights() & !AccessFs::IoctlDev);
        assert!(dev.is_empty(), "accounts: block devices writable through {dev:?}");
        let dev = set.iter().find(|(p, _)| p == Path::new("/dev")).map(|(_, a)| *a).unwrap_or_default();
        assert!(dev.contains(AccessFs::ReadFile | AccessFs::IoctlDev), "accounts: probe and eject need {dev:?}");
        for pseudo in ["/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"] {
            assert!(!reaching(set, pseudo, AccessFs::WriteFile.into()).is_empty(), "{pseudo}");
        }
    }

    #[test]
    fn accounts_role_gets_exact_paths_and_reads_devices() {
        check_accounts(&rules(Some(HelperArea::Accounts)));
    }

    #[test]
    fn storage_role_touches_no_account_files_homes_or_credentials() {
        let set = rules(Some(HelperArea::Storage));
        for target in [
            "/etc/shadow",
            "/etc/passwd",
            "/etc/cron.d/x",
            "/etc/samba/smb.conf",
            "/etc/corenas/credentials/x.cred",
            "/etc/corenas/.verify-accounts/x.mount",
            "/home/alice/.profile",
            "/storage/share/file",
        ] {
            let r = reaching(&set, target, write_rights());
            assert!(r.is_empty(), "storage: {target} writable through {r:?}");
        }
        assert!(!reaching(&set, "/etc/systemd/system/mnt-corenas-tank.mount", AccessFs::WriteFile.into()).is_empty());
        assert!(!reaching(&set, "/etc/corenas/.verify-storage/x.mount", AccessFs::MakeReg.into()).is_empty());
        assert!(!reaching(&set, "/dev/sdb", AccessFs::WriteFile.into()).is_empty(), "storage writes disks");
    }

    /// Issue 20: the storage helper starts transient units with systemd-run, which it must be
    /// able to execute; it then connects to /run/systemd/private, which landlock (ABI <= 5, the
    /// one asked for) does not govern: connecting to a named socket needs no filesystem right.
    #[test]
    fn storage_role_may_run_systemd_run() {
        let set = rules(Some(HelperArea::Storage));
        assert!(!reaching(&set, "/usr/bin/systemd-run", AccessFs::Execute.into()).is_empty());
        assert!(reaching(&set, "/usr/bin/systemd-run", AccessFs::WriteFile.into()).is_empty());
        assert_eq!(ABI_WANTED, ABI::V5, "a newer ABI may govern sockets: check /run/systemd/private");
    }

    #[test]
    fn role_all_is_the_union() {
        let all = rules(None);
        for area in [HelperArea::Accounts, HelperArea::Storage] {
            for (p, a) in rules(Some(area)) {
                if p.ends_with(".verify-accounts") || p.ends_with(".verify-storage") {
                    continue;
                }
                let got = all.iter().find(|(q, _)| *q == p).map(|(_, b)| *b).unwrap_or_default();
                assert!(got.contains(a), "all: {} has {got:?}, {area:?} needs {a:?}", p.display());
            }
        }
        assert!(all.iter().any(|(p, _)| p.ends_with(".verify-all")));
    }
}
