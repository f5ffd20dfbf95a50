//! The root helper's contract: a fixed list of typed operations. Every operation is a variant of
//! [`HelperOp`] with validated fields; there is no variant that carries free text for argv or a
//! config file. `perform` with `dry_run = true` returns the exact steps without running them.

use crate::acl::{AclEntry, AclListing, AclTarget};
use crate::error::WireError;
use crate::lvm::{LvCreateSpec, LvExtendSpec, LvName, VgCreateSpec, VgName};
use crate::mounts::MountDef;
use crate::names::{
    DatasetName, DevicePath, FullName, GroupName, ManagedGid, ManagedUid, MountTarget, PoolName, SharePath, Shell,
    SnapshotName, StoragePath, UserName,
};
use crate::raid::{MdCreateSpec, MdMemberOp, MdName};
use crate::secret::Password;
use crate::shares::{FileMode, ShareConfig, ShareSet};
use crate::storage::{Backend, DatasetSpec, FirmwareErase, PoolSpec, WipeMethod, ZfsProperty};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: UserName,
    /// Also the gid of the user's own primary group, which is created with the user.
    pub uid: ManagedUid,
    pub full_name: Option<FullName>,
    pub shell: Shell,
    pub create_home: bool,
    /// Supplementary groups; each must exist in a managed range.
    pub groups: Vec<GroupName>,
    /// The login password, hashed by the system tool in the same operation.
    pub password: Option<Password>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    pub name: UserName,
    pub full_name: Option<FullName>,
    pub shell: Option<Shell>,
}

/// What the helper may do as root. Accounts are confined to the managed uid/gid ranges by the
/// helper itself, whatever the caller asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum HelperOp {
    GroupCreate {
        name: GroupName,
        gid: ManagedGid,
    },
    GroupDelete {
        name: GroupName,
    },
    GroupAddMember {
        group: GroupName,
        user: UserName,
    },
    GroupRemoveMember {
        group: GroupName,
        user: UserName,
    },
    UserCreate(NewUser),
    UserModify(UserChange),
    UserDelete {
        name: UserName,
        remove_home: bool,
    },
    UserLock {
        name: UserName,
    },
    UserUnlock {
        name: UserName,
    },
    UserSetPassword {
        name: UserName,
        password: Password,
    },
    SmbSetPassword {
        name: UserName,
        password: Password,
    },
    SmbEnable {
        name: UserName,
    },
    SmbDisable {
        name: UserName,
    },
    SmbDelete {
        name: UserName,
    },
    AclSet {
        path: SharePath,
        entries: Vec<AclEntry>,
        recursive: bool,
    },
    AclRemove {
        path: SharePath,
        targets: Vec<AclTarget>,
        recursive: bool,
    },
    /// Let corenasd's user read the device node (an ACL entry), so that ddrescue can run
    /// unprivileged. Only optical drives, removable media and loop devices, unless `fixed_disk`;
    /// never the system disk or a device in use, whatever corenasd believes.
    DeviceGrantRead {
        device: DevicePath,
        /// An admin allowed imaging a fixed (non-removable) disk; corenasd sets it only for a
        /// job an admin created.
        #[serde(default)]
        fixed_disk: bool,
    },
    /// Remove that ACL entry again (the drive is released).
    DeviceRevokeRead {
        device: DevicePath,
    },
    /// Eject an optical medium; a loop device (the lab's removable "drive") is detached.
    DeviceEject {
        device: DevicePath,
    },
    /// Creates a share's directory if missing (its parent must exist), then sets owner, group,
    /// mode and ACL entries on it, on an fd resolved beneath the share root.
    ShareDirPrepare {
        path: StoragePath,
        /// None: root.
        owner: Option<UserName>,
        /// None: root's group.
        group: Option<GroupName>,
        mode: FileMode,
        setgid: bool,
        acl: Vec<AclEntry>,
    },
    /// Renders the SMB include file and the NFS exports file from the whole set, checks them
    /// (testparm, exportfs), replaces the changed ones atomically and reloads the servers.
    SharesPublish {
        set: ShareSet,
    },
    /// Writes a mount's unit files (and CIFS credentials), checks them with `systemd-analyze
    /// verify`, enables a permanent mount, reloads systemd and starts the mount.
    MountWrite {
        def: MountDef,
    },
    /// Stops a mount and removes its unit files, credentials and enablement.
    MountRemove {
        def: MountDef,
    },
    /// Starts (again) the units of these mounts: `mount reload` and the retry policy.
    MountStart {
        targets: Vec<MountTarget>,
    },
    /// Builds a pool from free devices and mounts it at `/mnt/corenas/<name>`.
    PoolCreate {
        spec: PoolSpec,
    },
    /// ZFS: `zpool destroy`. btrfs and single disks: unmount, remove the mount unit, then erase
    /// the filesystem signatures of `devices` (the pool's members as corenasd recorded them).
    PoolDestroy {
        name: PoolName,
        backend: Backend,
        devices: Vec<DevicePath>,
    },
    /// ZFS only.
    PoolImport {
        name: PoolName,
    },
    /// ZFS only.
    PoolExport {
        name: PoolName,
    },
    ScrubStart {
        name: PoolName,
        backend: Backend,
    },
    ScrubStop {
        name: PoolName,
        backend: Backend,
    },
    DatasetCreate {
        spec: DatasetSpec,
        backend: Backend,
    },
    DatasetDestroy {
        name: DatasetName,
        backend: Backend,
        /// ZFS: also its children and snapshots.
        recursive: bool,
    },
    /// ZFS only.
    DatasetSet {
        name: DatasetName,
        properties: Vec<ZfsProperty>,
    },
    SnapshotCreate {
        dataset: DatasetName,
        snapshot: SnapshotName,
        backend: Backend,
    },
    SnapshotDestroy {
        dataset: DatasetName,
        snapshot: SnapshotName,
        backend: Backend,
    },
    /// ZFS only (`zfs rollback -r`: later snapshots are destroyed).
    SnapshotRollback {
        dataset: DatasetName,
        snapshot: SnapshotName,
    },
    /// Removes every filesystem, RAID and partition-table signature (`wipefs -a`) and zeroes
    /// the first and last MiB. Refused for a device in use, whatever corenasd says.
    WipeSignatures {
        device: DevicePath,
    },
    /// One bounded piece of a long wipe (corenasd's job calls this piece by piece, so progress
    /// and cancellation live in its job table). Offsets and lengths are in bytes, 4 KiB aligned.
    WipeRange {
        device: DevicePath,
        method: WipeMethod,
        offset: u64,
        length: u64,
    },
    SmartSelfTest {
        device: DevicePath,
        long: bool,
    },
    /// The device's own erase (corenasd chose it from what the device advertises). The helper
    /// re-checks that the device is free, of the erase's kind (an NVMe namespace alone on its
    /// controller, a disk on an ATA port) and, for ATA, not frozen. NVMe sanitize returns at
    /// once (progress: `StorageQuery::NvmeSanitizeLog`); the others return when the device is
    /// done, within `minutes` (the device's own estimate, plus margin; at most 24 h).
    FirmwareErase {
        device: DevicePath,
        erase: FirmwareErase,
        minutes: u32,
    },
    /// `mdadm --create /dev/md/<name>` from free devices (metadata 1.2, a write-intent bitmap for
    /// redundant levels). The initial resync runs in the kernel; corenasd follows it as a job.
    MdCreate {
        spec: MdCreateSpec,
    },
    /// Add, fail, remove or replace one member. An added device must be free.
    MdMember {
        name: MdName,
        device: DevicePath,
        op: MdMemberOp,
    },
    /// Stops an array nothing holds or mounts, then erases its members' md superblocks (the helper
    /// reads the members from sysfs itself) so it is not assembled again.
    MdDestroy {
        name: MdName,
    },
    /// `pvcreate` on each free device, then `vgcreate`.
    VgCreate {
        spec: VgCreateSpec,
    },
    /// `vgremove` (refused by LVM while it holds volumes), then `pvremove` on `devices`.
    VgRemove {
        vg: VgName,
        devices: Vec<DevicePath>,
    },
    LvCreate {
        spec: LvCreateSpec,
    },
    LvExtend {
        spec: LvExtendSpec,
    },
    /// Refused while the volume is mounted or held.
    LvRemove {
        vg: VgName,
        lv: LvName,
    },
    /// Starts a backup (decision 0020, "Runner"): the helper resolves the source itself (a
    /// CoreNAS pool or dataset, its backend), snapshots it read-only (ZFS
    /// `<dataset>@corenas-backup-<job>`, btrfs `<pool>/.corenas-backup/<job>`), writes the
    /// repository's secrets into a root-only credentials directory and starts `restic backup`
    /// as corenasd's user with CAP_DAC_READ_SEARCH only: a transient unit
    /// `corenas-backup-<task>-<job>.service`, or where systemd is not PID 1 a detached process.
    /// Returns once the runner has started; restic's `--json` lines go to
    /// `<backup jobs dir>/<job>/status.jsonl`, its stderr to `stderr.log` there.
    BackupRun(crate::backup::BackupRunSpec),
    /// After the runner has ended: destroys the job's source snapshot (named from `job` alone)
    /// and its credentials directory. Idempotent; refused (Busy) while the runner still runs.
    BackupFinish {
        job: crate::backup::BackupJobId,
        source: crate::backup::SnapshotSource,
    },
    /// Restores `paths` of a repository snapshot (paths relative to the backed-up source's root)
    /// as root into a fresh directory the helper creates beneath `destination`: `restore-<job>`
    /// (NewFolder, left there), or (InPlace) a hidden one whose items are then moved into place
    /// with renameat, what was in the way kept as `<name>.before-restore-<job>`. One long
    /// request: it returns when restic has finished and the items are placed.
    BackupRestore {
        job: crate::backup::BackupJobId,
        repo: crate::backup::RepoAccess,
        snapshot: crate::backup::ResticSnapshotId,
        paths: Vec<crate::backup::SnapshotPath>,
        destination: crate::backup::RestoreDestination,
        mode: crate::backup::RestoreMode,
    },
    /// Configuration restore: re-creates a managed user with its archived password hash (and
    /// samba passdb entry), or puts them back on the user of that name and uid.
    UserRestore(crate::config_backup::RestoreUser),
}

/// Which helper performs an operation. Production runs two units of the same binary: the
/// accounts helper (accounts, SMB, ACLs, shares, mounts, imaging grants) and the storage helper
/// (pools, md, LVM, wipes, SMART), which alone holds CAP_SYS_ADMIN and CAP_SYS_RAWIO
/// (docs/decisions/0014-two-helpers.md). The lab runs one helper for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HelperArea {
    Accounts,
    Storage,
}

impl HelperArea {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accounts => "accounts",
            Self::Storage => "storage",
        }
    }
}

impl HelperOp {
    /// A stable name for logs and the audit trail.
    pub fn name(&self) -> &'static str {
        match self {
            Self::GroupCreate { .. } => "group.create",
            Self::GroupDelete { .. } => "group.delete",
            Self::GroupAddMember { .. } => "group.add_member",
            Self::GroupRemoveMember { .. } => "group.remove_member",
            Self::UserCreate(_) => "user.create",
            Self::UserModify(_) => "user.modify",
            Self::UserDelete { .. } => "user.delete",
            Self::UserLock { .. } => "user.lock",
            Self::UserUnlock { .. } => "user.unlock",
            Self::UserSetPassword { .. } => "user.set_password",
            Self::SmbSetPassword { .. } => "smb.set_password",
            Self::SmbEnable { .. } => "smb.enable",
            Self::SmbDisable { .. } => "smb.disable",
            Self::SmbDelete { .. } => "smb.delete",
            Self::AclSet { .. } => "acl.set",
            Self::AclRemove { .. } => "acl.remove",
            Self::DeviceGrantRead { .. } => "device.grant_read",
            Self::DeviceRevokeRead { .. } => "device.revoke_read",
            Self::DeviceEject { .. } => "device.eject",
            Self::ShareDirPrepare { .. } => "share.prepare_dir",
            Self::SharesPublish { .. } => "share.publish",
            Self::MountWrite { .. } => "mount.write",
            Self::MountRemove { .. } => "mount.remove",
            Self::MountStart { .. } => "mount.start",
            Self::PoolCreate { .. } => "pool.create",
            Self::PoolDestroy { .. } => "pool.destroy",
            Self::PoolImport { .. } => "pool.import",
            Self::PoolExport { .. } => "pool.export",
            Self::ScrubStart { .. } => "pool.scrub_start",
            Self::ScrubStop { .. } => "pool.scrub_stop",
            Self::DatasetCreate { .. } => "dataset.create",
            Self::DatasetDestroy { .. } => "dataset.destroy",
            Self::DatasetSet { .. } => "dataset.set",
            Self::SnapshotCreate { .. } => "snapshot.create",
            Self::SnapshotDestroy { .. } => "snapshot.destroy",
            Self::SnapshotRollback { .. } => "snapshot.rollback",
            Self::WipeSignatures { .. } => "device.wipe_signatures",
            Self::WipeRange { .. } => "device.wipe_range",
            Self::FirmwareErase { .. } => "device.firmware_erase",
            Self::SmartSelfTest { .. } => "device.selftest",
            Self::MdCreate { .. } => "raid.create",
            Self::MdMember { .. } => "raid.member",
            Self::MdDestroy { .. } => "raid.destroy",
            Self::VgCreate { .. } => "lvm.vg_create",
            Self::VgRemove { .. } => "lvm.vg_remove",
            Self::LvCreate { .. } => "lvm.lv_create",
            Self::LvExtend { .. } => "lvm.lv_extend",
            Self::LvRemove { .. } => "lvm.lv_remove",
            Self::BackupRun(_) => "backup.run",
            Self::BackupFinish { .. } => "backup.finish",
            Self::BackupRestore { .. } => "backup.restore",
            Self::UserRestore(_) => "user.restore",
        }
    }

    /// The helper that performs it (see [`HelperArea`]).
    pub fn area(&self) -> HelperArea {
        match self {
            Self::PoolCreate { .. }
            | Self::PoolDestroy { .. }
            | Self::PoolImport { .. }
            | Self::PoolExport { .. }
            | Self::ScrubStart { .. }
            | Self::ScrubStop { .. }
            | Self::DatasetCreate { .. }
            | Self::DatasetDestroy { .. }
            | Self::DatasetSet { .. }
            | Self::SnapshotCreate { .. }
            | Self::SnapshotDestroy { .. }
            | Self::SnapshotRollback { .. }
            | Self::WipeSignatures { .. }
            | Self::WipeRange { .. }
            | Self::SmartSelfTest { .. }
            | Self::FirmwareErase { .. }
            | Self::MdCreate { .. }
            | Self::MdMember { .. }
            | Self::MdDestroy { .. }
            | Self::VgCreate { .. }
            | Self::VgRemove { .. }
            | Self::LvCreate { .. }
            | Self::LvExtend { .. }
            | Self::LvRemove { .. }
            | Self::BackupRun(_)
            | Self::BackupFinish { .. }
            | Self::BackupRestore { .. } => HelperArea::Storage,
            Self::GroupCreate { .. }
            | Self::GroupDelete { .. }
            | Self::GroupAddMember { .. }
            | Self::GroupRemoveMember { .. }
            | Self::UserCreate(_)
            | Self::UserModify(_)
            | Self::UserDelete { .. }
            | Self::UserLock { .. }
            | Self::UserUnlock { .. }
            | Self::UserSetPassword { .. }
            | Self::SmbSetPassword { .. }
            | Self::SmbEnable { .. }
            | Self::SmbDisable { .. }
            | Self::SmbDelete { .. }
            | Self::AclSet { .. }
            | Self::AclRemove { .. }
            | Self::DeviceGrantRead { .. }
            | Self::DeviceRevokeRead { .. }
            | Self::DeviceEject { .. }
            | Self::ShareDirPrepare { .. }
            | Self::SharesPublish { .. }
            | Self::MountWrite { .. }
            | Self::MountRemove { .. }
            | Self::MountStart { .. }
            | Self::UserRestore(_) => HelperArea::Accounts,
        }
    }

    /// Canonical arguments as JSON; passwords serialize as `<redacted>` in JSON.
    pub fn canonical_args(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// What a secret on stdin looks like in a plan (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StdinPlan {
    Nothing,
    /// Description of what is written, e.g. "password, twice".
    Secret(String),
}

/// One step of an operation, as planned by the code that performs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// A program from the helper's fixed table, with its exact argv.
    Exec { program: String, args: Vec<String>, stdin: StdinPlan },
    /// A POSIX ACL written by the helper itself on a safely resolved fd (no program runs);
    /// `equivalent` is the setfacl command that would do the same, for reading.
    SetAcl { path: String, recursive: bool, equivalent: Vec<String> },
    /// The helper replaces one user's password hash in the shadow file itself (temp file,
    /// fsync, rename), using the hash produced by the previous step.
    UpdateShadow { file: String, user: String },
    /// The helper replaces a file it owns (temp file, fsync, rename); `diff` is a unified diff
    /// from the current content (secrets are never part of a shown file).
    WriteFile { path: String, diff: String },
    /// The helper removes a file it owns.
    RemoveFile { path: String },
    /// The helper creates a directory (if missing) and sets owner, group and mode on it.
    PrepareDir { path: String, owner: String, group: String, mode: String },
    /// A check the helper makes when the plan runs (a device still free, a node present).
    Check { what: String },
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Exec { program, args, stdin } => {
                write!(f, "{program}")?;
                for a in args {
                    write!(f, " {}", shell_quote(a))?;
                }
                if let StdinPlan::Secret(what) = stdin {
                    write!(f, "  <stdin: {what}>")?;
                }
                Ok(())
            }
            Step::UpdateShadow { file, user } => {
                write!(f, "(in-process) replace the password hash of {user} in {file}")
            }
            Step::WriteFile { path, diff } => {
                write!(f, "(in-process) write {path}")?;
                if !diff.is_empty() {
                    write!(f, "\n{}", diff.trim_end())?;
                }
                Ok(())
            }
            Step::RemoveFile { path } => write!(f, "(in-process) remove {path}"),
            Step::Check { what } => write!(f, "(in-process) {what}"),
            Step::PrepareDir { path, owner, group, mode } => {
                write!(f, "(in-process, fd-based) mkdir -p {path}; chown {owner}:{group}; chmod {mode}")
            }
            Step::SetAcl { equivalent, .. } => {
                write!(f, "(in-process, fd-based)")?;
                for a in equivalent {
                    write!(f, " {}", shell_quote(a))?;
                }
                Ok(())
            }
        }
    }
}

/// Quotes for display only; nothing CoreNAS runs goes through a shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&b)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpReport {
    pub op: String,
    pub dry_run: bool,
    pub steps: Vec<Step>,
    /// For ACL operations that ran: the path's ACL afterwards (saves corenasd a round trip).
    pub acl: Option<crate::acl::AclListing>,
    /// What the admin should know (a server not reloaded, a tool not run).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// A passwd or group entry in the managed ranges, or any entry's name (so corenasd can avoid
/// name clashes with system accounts).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub gecos: String,
    pub home: String,
    pub shell: String,
    pub locked: bool,
    pub smb: SmbAccountState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmbAccountState {
    None,
    Enabled,
    Disabled,
    /// samba's passdb could not be read; changes that depend on it are refused.
    Unknown,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Accounts {
    pub users: Vec<PasswdEntry>,
    pub groups: Vec<GroupEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HelperStatus {
    pub pid: u32,
    pub version: String,
    pub root: String,
    pub landlock: String,
    pub bounding_set: Vec<String>,
    pub uptime_secs: u64,
}

/// Raw facts about a block device, checked by the helper as root. Nothing here is parsed from
/// the medium: `head` is the raw first bytes (up to 34 KiB, enough for the ISO 9660 volume
/// descriptor at 32 KiB), for corenasd to parse unprivileged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceProbe {
    /// The resolved kernel path, e.g. /dev/sr0 for a by-id link.
    pub path: String,
    pub name: String,
    pub major: u32,
    pub minor: u32,
    pub size_bytes: u64,
    pub logical_sector: u32,
    /// Empty when the device is free; otherwise each reason (mounted at, held by, swap...).
    pub in_use: Vec<String>,
    #[serde(with = "serde_bytes_compat")]
    pub head: Vec<u8>,
}

/// Vec<u8> as one byte string in postcard and a list in JSON, without an extra crate.
mod serde_bytes_compat {
    use serde::{Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = a.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_byte_buf(V)
    }
}

/// Read-only questions to storage tools. The helper builds the argv; the raw output goes to
/// corenasd, which parses it unprivileged (rule 6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageQuery {
    /// `zpool status [pool]`
    ZpoolStatus { pool: Option<PoolName> },
    /// `zpool list -H -o name,health`
    ZpoolList,
    /// `zfs get -H -p -r` of CoreNAS's properties for a pool's filesystems.
    ZfsProperties { pool: PoolName },
    /// `zfs get -H -p -r used,creation` under a dataset; the snapshots are the names with '@'.
    ZfsSnapshots { dataset: DatasetName },
    /// `btrfs filesystem show --raw <mount point>`
    BtrfsShow { pool: PoolName },
    /// `btrfs subvolume list -o <mount point>`
    BtrfsSubvolumes { pool: PoolName },
    /// `btrfs scrub status -R <mount point>`
    BtrfsScrubStatus { pool: PoolName },
    /// `systemctl show -p Id,ActiveState,Result,ExecMainStatus,...` of the pool's scrub units
    /// (`corenas-scrub-<pool>-<id>.service`), one block per unit; empty when there is none or
    /// no systemd as PID 1 (then the scrub runs as a detached process; stderr says so).
    ScrubUnit { pool: PoolName },
    /// `btrfs device stats <mount point>`
    BtrfsDeviceStats { pool: PoolName },
    /// `smartctl --json=c -x <device>` (its exit code carries status bits)
    Smart { device: DevicePath },
    /// `smartctl --json=c -x -n standby,3 <device>`: reads nothing and exits 3 when the disk
    /// is in standby or sleep, so a sleeping disk is not spun up (the monitor's collector).
    SmartIfAwake { device: DevicePath },
    /// `blkid -p -o export <device>`
    Blkid { device: DevicePath },
    /// `nvme id-ctrl -o json <controller>` of an NVMe namespace's controller
    NvmeIdCtrl { device: DevicePath },
    /// `nvme sanitize-log -o json <controller>`
    NvmeSanitizeLog { device: DevicePath },
    /// `hdparm -I <device>`: ATA IDENTIFY, with the security feature set
    AtaIdentify { device: DevicePath },
    /// `mdadm --detail --scan`: one ARRAY line per running array.
    MdScan,
    /// `mdadm --detail /dev/md/<name>`
    MdDetail { name: MdName },
    /// `lvm pvs|vgs|lvs --reportformat json` with the fields corenasd parses.
    LvmReport { report: LvmReport },
    /// The backup runner of a job: with systemd as PID 1, `systemctl show -p
    /// Id,ActiveState,Result,ExecMainCode,ExecMainStatus,...` of `corenas-backup-*-<job>.service`
    /// (empty: no unit); without, one line the helper writes from its own record: `running
    /// pid=<pid>`, `exited status=<code>` or `gone` (the helper that started it has exited, so
    /// no status: a missing summary line in status.jsonl means it failed).
    BackupRunner { job: crate::backup::BackupJobId },
    /// For the sample restore (decision 0020, "Proven restorability"): SHA-256 and size of
    /// regular files in the job's own source snapshot (named from `job`, as BackupFinish does),
    /// while it exists, between the runner's end and BackupFinish. Each path is opened beneath
    /// the snapshot (and `subpath`) with `openat2(RESOLVE_BENEATH|NO_SYMLINKS|NO_XDEV)`; at most
    /// [`SAMPLE_FILES_MAX`] paths of at most [`SAMPLE_FILE_BYTES_MAX`] bytes each. One line per
    /// path, in order: `<sha256 hex> <size>`, or `- <why>` (not a regular file, too large, gone).
    /// Only digests leave the helper, never content.
    BackupSampleHashes {
        job: crate::backup::BackupJobId,
        source: crate::backup::SnapshotSource,
        subpath: Option<crate::backup::RemotePath>,
        paths: Vec<crate::backup::SnapshotPath>,
    },
}

/// The most files one `BackupSampleHashes` hashes.
pub const SAMPLE_FILES_MAX: usize = 64;
/// The largest file `BackupSampleHashes` hashes (corenasd samples among smaller ones).
pub const SAMPLE_FILE_BYTES_MAX: u64 = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LvmReport {
    Pvs,
    Vgs,
    Lvs,
}

/// A tool's raw answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolOutput {
    /// None: killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

#[tarpc::service]
pub trait Helper {
    /// Runs (or with `dry_run`, only plans) one operation.
    async fn perform(op: HelperOp, dry_run: bool) -> Result<OpReport, WireError>;
    /// Accounts in the managed ranges, plus every other account's name and id.
    async fn accounts() -> Result<Accounts, WireError>;
    async fn acl_get(path: SharePath) -> Result<AclListing, WireError>;
    /// Resolves and checks a block device and reads its first bytes (see [`DeviceProbe`]).
    async fn device_probe(device: DevicePath) -> Result<DeviceProbe, WireError>;
    /// The rendered share files as they are on disk and what the NFS tools export.
    async fn share_config() -> Result<ShareConfig, WireError>;
    async fn storage_query(query: StorageQuery) -> Result<ToolOutput, WireError>;
    /// For wipe verification: whether each region `(offset, length)` (length up to 1 MiB) of
    /// the device reads back as zeros.
    async fn wipe_check(device: DevicePath, regions: Vec<(u64, u32)>) -> Result<Vec<bool>, WireError>;
    /// The SHA-256 of each region of a free device (4 KiB aligned, 64 KiB to 1 MiB; at most
    /// 4096), to compare the same regions before and after an erase that leaves no zeros.
    async fn region_fingerprints(device: DevicePath, regions: Vec<(u64, u32)>) -> Result<Vec<[u8; 32]>, WireError>;
    /// Checks a login password against the shadow file, for accounts in the admin range only.
    async fn password_check(user: UserName, password: crate::web::LoginPassword) -> Result<PasswordCheck, WireError>;
    async fn status() -> HelperStatus;
    /// For the configuration backup: the managed accounts with their shadow hashes and samba
    /// passdb entries, and the files of /etc/corenas (root only to read).
    async fn config_export() -> Result<crate::config_backup::ConfigExport, WireError>;
}

/// What the system says about a login password. Only `Valid` admits; the others are told apart
/// for the audit log (the web user sees one message for all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PasswordCheck {
    Valid,
    Wrong,
    /// The account is locked (`!` in the shadow file) or has no password.
    Locked,
    /// The account's expiry date has passed.
    Expired,
    /// No such account in the admin range (10000-20000): only administrators log in.
    NotAdmin,
}
