//! The daemon API (`corenasd`), used by corenas-ctl and later corenas-web. Who is calling is never
//! part of a request: corenasd takes it from the kernel (SO_PEERCRED) when the connection opens.
//! Every mutating method takes `dry_run`; the answer then lists the helper steps that would run.

use crate::acl::{AclEntry, AclListing, AclTarget};
use crate::error::WireError;
use crate::helper::{SmbAccountState, Step};
use crate::imaging::{
    ArchiveEdit, ArchiveInfo, ArchiveList, ArchiveQuery, DeviceInfo, ImageCreate, ImagingPolicy, JobInfo, JobList,
    JobQuery, Priority,
};
use crate::mounts::{MountDef, MountInfo};
use crate::names::{AccountKind, DevicePath, FullName, GroupName, ManagedGid, ManagedUid, SharePath, Shell, UserName};
use crate::names::{DatasetName, MountTarget, PoolName, ShareName, SnapshotName};
use crate::secret::Password;
use crate::shares::{ShareConfig, ShareCreate, ShareInfo, ShareModify};
use crate::storage::{
    DatasetInfo, DatasetSpec, PoolInfo, PoolSpec, Retention, ScheduleInfo, SnapshotInfo, StorageJob, WipeMethod,
    ZfsProperty,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserAdd {
    pub name: UserName,
    pub kind: AccountKind,
    /// Chosen from the kind's range when absent.
    pub uid: Option<ManagedUid>,
    pub full_name: Option<FullName>,
    /// Defaults to /usr/sbin/nologin; a login shell only from the ctl channel (root at the console).
    pub shell: Option<Shell>,
    pub create_home: bool,
    pub groups: Vec<GroupName>,
    pub password: Option<Password>,
    /// Generate a policy-conforming password and return it once.
    pub generate_password: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserMod {
    pub full_name: Option<FullName>,
    pub shell: Option<Shell>,
    pub add_groups: Vec<GroupName>,
    pub remove_groups: Vec<GroupName>,
    /// Some(true) locks the login (and disables SMB), Some(false) unlocks.
    pub lock: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmbAction {
    Enable,
    Disable,
    Delete,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub kind: Option<AccountKind>,
    pub full_name: String,
    pub home: String,
    pub shell: String,
    pub locked: bool,
    pub smb: SmbAccountState,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupInfo {
    pub name: String,
    pub gid: u32,
    pub kind: Option<AccountKind>,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupAdd {
    pub name: GroupName,
    pub kind: AccountKind,
    pub gid: Option<ManagedGid>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclSet {
    pub path: SharePath,
    pub entries: Vec<AclEntry>,
    pub recursive: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclRemove {
    pub path: SharePath,
    pub targets: Vec<AclTarget>,
    pub recursive: bool,
}

/// The answer to every mutating call: what ran (or would run) and the result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change<T> {
    pub dry_run: bool,
    pub steps: Vec<Step>,
    pub result: Option<T>,
    /// A generated password, shown once; never stored by corenasd.
    pub generated_password: Option<Password>,
    /// Things the admin should know about what was done (guest access on, root not squashed).
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl<T> Change<T> {
    /// The usual answer: the steps that ran (or, in a dry run, would run) and the result.
    pub fn planned(dry_run: bool, steps: Vec<Step>, result: Option<T>) -> Self {
        Change { dry_run, steps, result, generated_password: None, warnings: vec![] }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub time: String,
    pub principal: String,
    pub channel: String,
    pub peer_uid: u32,
    pub action: String,
    pub args: String,
    pub result: String,
    pub error_code: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditVerify {
    pub entries: u64,
    pub head: String,
    /// Empty when the chain is intact; otherwise one line per problem, naming the entry.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SystemStatus {
    pub version: String,
    pub protocol: u32,
    pub daemon_pid: u32,
    pub daemon_uid: u32,
    pub root: String,
    pub state_db: String,
    pub audit_entries: u64,
    pub audit_head: String,
    pub helper: Result<crate::helper::HelperStatus, WireError>,
}

/// A wipe request. `confirm` must repeat the device's serial number (or its kernel name, e.g.
/// `loop3`, when it has none): a typed confirmation of exactly which disk is erased.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceWipe {
    pub device: DevicePath,
    pub method: WipeMethod,
    pub confirm: String,
    /// Read back this many sampled regions afterwards (plus the first and last MiB).
    #[serde(default = "default_samples")]
    pub samples: u16,
}

fn default_samples() -> u16 {
    64
}

/// Largest piece of an image one `archive_read` answers (well under the frame cap).
pub const ARCHIVE_READ_MAX: u32 = 512 * 1024;

/// Pages of the audit log; a page stays well under the frame cap.
pub const AUDIT_PAGE_MAX: u32 = 500;

/// The results an audit entry can have.
pub const AUDIT_RESULTS: [&str; 4] = ["ok", "refused", "failed", "dry-run"];

/// Which audit entries to show; every field left empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    /// Actions starting with this, such as `user.` or `web.login`.
    pub action: Option<String>,
    /// Exactly this principal, such as `alice@web` or `root@ctl`.
    pub principal: Option<String>,
    /// Any of these results (empty: any).
    pub results: Vec<String>,
    /// Entries at or after this UTC time: `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS`.
    pub since: Option<String>,
    /// Entries at or before this UTC time, same forms (a day includes the whole day).
    pub until: Option<String>,
    /// Entries whose arguments contain this text, such as a job's id in quotes.
    #[serde(default)]
    pub mentions: Option<String>,
}

impl AuditFilter {
    /// Refuses what cannot match a stored entry, naming the field.
    pub fn validate(&self) -> Result<(), WireError> {
        if let Some(a) = &self.action
            && (a.len() > 64 || !a.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)))
        {
            return Err(WireError::invalid("action", "action is invalid: up to 64 of a-z, 0-9, '.', '_' and '-'"));
        }
        if let Some(p) = &self.principal
            && (p.len() > 160 || !p.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(WireError::invalid(
                "principal",
                "principal is invalid: up to 160 printable characters, no spaces",
            ));
        }
        if let Some(m) = &self.mentions
            && (m.is_empty() || m.len() > 64 || !m.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(WireError::invalid("mentions", "mentions is invalid: 1-64 printable characters, no spaces"));
        }
        if let Some(r) = self.results.iter().find(|r| !AUDIT_RESULTS.contains(&r.as_str())) {
            return Err(WireError::invalid(
                "result",
                format!("result '{}' is invalid: use {}", crate::names::shown(r), AUDIT_RESULTS.join(", ")),
            ));
        }
        for (field, value) in [("since", &self.since), ("until", &self.until)] {
            if let Some(v) = value
                && !is_utc_bound(v)
            {
                return Err(WireError::invalid(
                    field,
                    format!("{field} is invalid: use a UTC date YYYY-MM-DD or time YYYY-MM-DDTHH:MM:SS"),
                ));
            }
        }
        Ok(())
    }
}

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS`: digits where digits belong, the separators in place.
fn is_utc_bound(v: &str) -> bool {
    const DATE: &[u8] = b"0000-00-00";
    const TIME: &[u8] = b"0000-00-00T00:00:00";
    let shape = match v.len() {
        10 => DATE,
        19 => TIME,
        _ => return false,
    };
    if !v.bytes().zip(shape).all(|(b, s)| if *s == b'0' { b.is_ascii_digit() } else { b == *s }) {
        return false;
    }
    let num = |r: std::ops::Range<usize>| v.get(r).and_then(|d| d.parse::<u32>().ok()).unwrap_or(99);
    let date_ok = (1..=12).contains(&num(5..7)) && (1..=31).contains(&num(8..10));
    date_ok && (v.len() == 10 || (num(11..13) < 24 && num(14..16) < 60 && num(17..19) < 60))
}

#[tarpc::service]
pub trait Corenas {
    async fn system_status() -> Result<SystemStatus, WireError>;

    async fn user_add(req: UserAdd, dry_run: bool) -> Result<Change<UserInfo>, WireError>;
    async fn user_del(name: UserName, remove_home: bool, dry_run: bool) -> Result<Change<()>, WireError>;
    async fn user_mod(name: UserName, change: UserMod, dry_run: bool) -> Result<Change<UserInfo>, WireError>;
    async fn user_list() -> Result<Vec<UserInfo>, WireError>;
    async fn user_show(name: UserName) -> Result<UserInfo, WireError>;
    async fn user_set_password(name: UserName, password: Password, dry_run: bool) -> Result<Change<()>, WireError>;
    async fn user_set_smb_password(name: UserName, password: Password, dry_run: bool) -> Result<Change<()>, WireError>;
    async fn user_smb(name: UserName, action: SmbAction, dry_run: bool) -> Result<Change<()>, WireError>;
    async fn password_generate() -> Result<Password, WireError>;

    async fn group_add(req: GroupAdd, dry_run: bool) -> Result<Change<GroupInfo>, WireError>;
    async fn group_del(name: GroupName, dry_run: bool) -> Result<Change<()>, WireError>;
    async fn group_mod(
        name: GroupName,
        add: Vec<UserName>,
        remove: Vec<UserName>,
        dry_run: bool,
    ) -> Result<Change<GroupInfo>, WireError>;
    async fn group_list() -> Result<Vec<GroupInfo>, WireError>;

    async fn acl_get(path: SharePath) -> Result<AclListing, WireError>;
    async fn acl_set(req: AclSet, dry_run: bool) -> Result<Change<AclListing>, WireError>;
    async fn acl_remove(req: AclRemove, dry_run: bool) -> Result<Change<AclListing>, WireError>;

    /// Newest first when `before` is None; `limit` is capped at AUDIT_PAGE_MAX.
    async fn log_view(before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>, WireError>;
    /// Oldest first from `after`, for export in pages.
    async fn log_page(after: i64, limit: u32) -> Result<Vec<AuditEntry>, WireError>;
    /// The entries matching `filter` over the whole log: oldest first after `after` when it is
    /// given, else newest first before `before` (None: from the newest). `limit` is capped at
    /// AUDIT_PAGE_MAX.
    async fn log_search(
        filter: AuditFilter,
        before: Option<i64>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, WireError>;
    async fn log_verify() -> Result<AuditVerify, WireError>;

    /// Queues an imaging job; the answer carries the job (status `queued`).
    async fn image_create(req: ImageCreate, dry_run: bool) -> Result<Change<JobInfo>, WireError>;
    async fn image_list(query: JobQuery) -> Result<JobList, WireError>;
    async fn image_show(id: String) -> Result<JobInfo, WireError>;
    /// Long poll: answers when the job's `version` exceeds `after_version`, or after
    /// `wait_ms` (capped at 5000) with the job as it is.
    async fn image_wait(id: String, after_version: u64, wait_ms: u32) -> Result<JobInfo, WireError>;
    async fn image_pause(id: String, dry_run: bool) -> Result<Change<JobInfo>, WireError>;
    async fn image_resume(id: String, dry_run: bool) -> Result<Change<JobInfo>, WireError>;
    async fn image_cancel(
        id: String,
        delete_partial: Option<bool>,
        dry_run: bool,
    ) -> Result<Change<JobInfo>, WireError>;
    /// Another pass over the bad areas (direct I/O) of a job that ended with errors or failed.
    async fn image_retry(id: String, dry_run: bool) -> Result<Change<JobInfo>, WireError>;
    async fn image_priority(id: String, priority: Priority, dry_run: bool) -> Result<Change<JobInfo>, WireError>;
    async fn imaging_policy(
        set: Option<(bool, Vec<DevicePath>)>,
        dry_run: bool,
    ) -> Result<Change<ImagingPolicy>, WireError>;

    async fn archive_list(query: ArchiveQuery) -> Result<ArchiveList, WireError>;
    async fn archive_show(id: String) -> Result<ArchiveInfo, WireError>;
    /// Starts a verify job (re-hash against the stored checksums).
    /// Bytes of an archived image from `offset` (at most [`ARCHIVE_READ_MAX`]), for downloads;
    /// fewer (or none) at the end of the file.
    async fn archive_read(id: String, offset: u64, length: u32) -> Result<Vec<u8>, WireError>;
    async fn archive_verify(id: String, dry_run: bool) -> Result<Change<JobInfo>, WireError>;
    async fn archive_delete(id: String, dry_run: bool) -> Result<Change<()>, WireError>;
    async fn archive_edit(id: String, edit: ArchiveEdit, dry_run: bool) -> Result<Change<ArchiveInfo>, WireError>;

    async fn device_list() -> Result<Vec<DeviceInfo>, WireError>;
    async fn device_eject(device: DevicePath, dry_run: bool) -> Result<Change<()>, WireError>;

    /// Creates the directory (owner, mode, ACL template) and publishes the share, in one step.
    async fn share_create(req: ShareCreate, dry_run: bool) -> Result<Change<ShareInfo>, WireError>;
    async fn share_modify(name: ShareName, change: ShareModify, dry_run: bool) -> Result<Change<ShareInfo>, WireError>;
    /// Stops serving the share; its directory and data stay.
    async fn share_delete(name: ShareName, dry_run: bool) -> Result<Change<()>, WireError>;
    async fn share_list() -> Result<Vec<ShareInfo>, WireError>;
    async fn share_show(name: ShareName) -> Result<ShareInfo, WireError>;
    /// Turns the `[homes]` share for share users on or off.
    async fn share_homes(enabled: bool, dry_run: bool) -> Result<Change<bool>, WireError>;
    /// The rendered files on disk and what NFS exports.
    async fn share_config() -> Result<ShareConfig, WireError>;
    /// Renders and publishes the stored shares again (after a crash or a hand edit).
    async fn share_apply(dry_run: bool) -> Result<Change<()>, WireError>;

    async fn mount_add(def: MountDef, dry_run: bool) -> Result<Change<MountInfo>, WireError>;
    async fn mount_remove(target: MountTarget, dry_run: bool) -> Result<Change<()>, WireError>;
    async fn mount_list() -> Result<Vec<MountInfo>, WireError>;
    async fn mount_status(target: MountTarget) -> Result<MountInfo, WireError>;
    /// Starts every permanent mount that is not mounted (and resets the retry counters).
    async fn mount_reload(dry_run: bool) -> Result<Change<Vec<MountInfo>>, WireError>;

    /// Every block device with what uses it (read unprivileged from sysfs and /proc).
    async fn device_inventory() -> Result<Vec<crate::devices::DeviceInfo>, WireError>;
    async fn device_show(device: DevicePath) -> Result<crate::devices::DeviceInfo, WireError>;
    /// SMART data now (the raw smartctl output is parsed in corenasd); stored for history.
    async fn device_smart(device: DevicePath) -> Result<crate::devices::SmartReport, WireError>;
    /// Earlier SMART reports of a device, newest first.
    async fn device_smart_history(
        device: DevicePath,
        limit: u32,
    ) -> Result<Vec<crate::devices::SmartReport>, WireError>;
    /// Hotplug events (debounced) after `after` (0: every event kept since corenasd started);
    /// waits up to `wait_ms` (at most 5000) for one when there is none yet. `next` is the
    /// number to ask after next time; `missed` counts events no longer kept.
    async fn device_events(after: u64, wait_ms: u32) -> Result<crate::devices::DeviceEvents, WireError>;
    /// The firmware erases the device offers (NVMe sanitize/format, ATA security erase) and
    /// which one `wipe --method secure` would use.
    async fn device_erase_support(device: DevicePath) -> Result<crate::devices::EraseSupport, WireError>;
    /// Starts a SMART self-test; a job follows it to the end.
    async fn device_selftest(device: DevicePath, long: bool, dry_run: bool) -> Result<Change<StorageJob>, WireError>;
    /// Wipes a free device as a job, then verifies by reading sampled regions back.
    async fn device_wipe(req: DeviceWipe, dry_run: bool) -> Result<Change<StorageJob>, WireError>;

    async fn pool_create(spec: PoolSpec, dry_run: bool) -> Result<Change<PoolInfo>, WireError>;
    async fn pool_list() -> Result<Vec<PoolInfo>, WireError>;
    async fn pool_show(name: PoolName) -> Result<PoolInfo, WireError>;
    /// `confirm` must repeat the pool's name.
    async fn pool_destroy(name: PoolName, confirm: String, dry_run: bool) -> Result<Change<()>, WireError>;
    /// ZFS: imports an exported pool (found on the system's disks) and mounts it again.
    async fn pool_import(name: PoolName, dry_run: bool) -> Result<Change<PoolInfo>, WireError>;
    /// ZFS: unmounts and exports a pool so its disks can move to another system.
    async fn pool_export(name: PoolName, dry_run: bool) -> Result<Change<()>, WireError>;
    async fn pool_scrub(name: PoolName, dry_run: bool) -> Result<Change<StorageJob>, WireError>;
    async fn pool_scrub_stop(name: PoolName, dry_run: bool) -> Result<Change<()>, WireError>;

    async fn dataset_create(spec: DatasetSpec, dry_run: bool) -> Result<Change<DatasetInfo>, WireError>;
    async fn dataset_list(pool: PoolName) -> Result<Vec<DatasetInfo>, WireError>;
    async fn dataset_set(
        name: DatasetName,
        properties: Vec<ZfsProperty>,
        dry_run: bool,
    ) -> Result<Change<DatasetInfo>, WireError>;
    async fn dataset_destroy(name: DatasetName, recursive: bool, dry_run: bool) -> Result<Change<()>, WireError>;

    /// `name` None: `auto-YYYY-MM-DD_HH-MM` (UTC), the name SMB previous versions read.
    async fn snapshot_create(
        dataset: DatasetName,
        name: Option<SnapshotName>,
        dry_run: bool,
    ) -> Result<Change<SnapshotInfo>, WireError>;
    async fn snapshot_list(dataset: DatasetName) -> Result<Vec<SnapshotInfo>, WireError>;
    async fn snapshot_destroy(dataset: DatasetName, name: SnapshotName, dry_run: bool)
    -> Result<Change<()>, WireError>;
    /// ZFS: later snapshots are destroyed.
    async fn snapshot_rollback(
        dataset: DatasetName,
        name: SnapshotName,
        dry_run: bool,
    ) -> Result<Change<()>, WireError>;
    /// Sets (or with an empty retention, removes) a dataset's snapshot schedule.
    async fn schedule_set(
        dataset: DatasetName,
        keep: Retention,
        dry_run: bool,
    ) -> Result<Change<ScheduleInfo>, WireError>;
    async fn schedule_list() -> Result<Vec<ScheduleInfo>, WireError>;
    /// Runs every schedule now (take a snapshot where one is due, prune by retention).
    async fn schedule_run(dry_run: bool) -> Result<Change<Vec<String>>, WireError>;

    /// md arrays (those with a `/dev/md/<name>`), from `mdadm --detail`.
    async fn raid_list() -> Result<Vec<crate::raid::MdArrayInfo>, WireError>;
    async fn raid_show(name: crate::raid::MdName) -> Result<crate::raid::MdArrayInfo, WireError>;
    /// Creates an array from free devices; a job follows the initial resync.
    async fn raid_create(
        spec: crate::raid::MdCreateSpec,
        dry_run: bool,
    ) -> Result<Change<crate::raid::MdChange>, WireError>;
    /// Adds, fails, removes or replaces a member; a job follows the rebuild an add starts.
    async fn raid_member(
        name: crate::raid::MdName,
        device: DevicePath,
        op: crate::raid::MdMemberOp,
        dry_run: bool,
    ) -> Result<Change<crate::raid::MdChange>, WireError>;
    /// `confirm` must repeat the array's name: its members' md superblocks are erased.
    async fn raid_destroy(name: crate::raid::MdName, confirm: String, dry_run: bool) -> Result<Change<()>, WireError>;

    async fn lvm_list() -> Result<crate::lvm::LvmListing, WireError>;
    async fn vg_create(spec: crate::lvm::VgCreateSpec, dry_run: bool) -> Result<Change<crate::lvm::VgInfo>, WireError>;
    /// Refused while the group holds volumes; its devices lose their PV labels.
    async fn vg_remove(vg: crate::lvm::VgName, dry_run: bool) -> Result<Change<()>, WireError>;
    async fn lv_create(spec: crate::lvm::LvCreateSpec, dry_run: bool) -> Result<Change<crate::lvm::LvInfo>, WireError>;
    async fn lv_extend(spec: crate::lvm::LvExtendSpec, dry_run: bool) -> Result<Change<crate::lvm::LvInfo>, WireError>;
    /// `confirm` must repeat `vg/lv`: the volume's data is gone.
    async fn lv_remove(
        vg: crate::lvm::VgName,
        lv: crate::lvm::LvName,
        confirm: String,
        dry_run: bool,
    ) -> Result<Change<()>, WireError>;

    async fn storage_job_list() -> Result<Vec<StorageJob>, WireError>;
    async fn storage_job_show(id: String) -> Result<StorageJob, WireError>;
    /// Returns when the job's version passes `after_version` or after `wait_ms` (at most 30 s).
    async fn storage_job_wait(id: String, after_version: u64, wait_ms: u32) -> Result<StorageJob, WireError>;
    async fn storage_job_cancel(id: String, dry_run: bool) -> Result<Change<StorageJob>, WireError>;

    /// First-run setup's one-time token (root at the CLI only); None once an administrator
    /// with a second factor exists.
    async fn setup_token() -> Result<Option<crate::web::SetupToken>, WireError>;
    async fn web_account_list() -> Result<Vec<crate::web::WebAccount>, WireError>;
    /// Lets an account of the admin range log in to the web UI with `role`, or (None) takes web
    /// access away; open sessions follow at once.
    async fn web_role_set(
        user: UserName,
        role: Option<crate::web::Role>,
        dry_run: bool,
    ) -> Result<Change<Option<crate::web::WebAccount>>, WireError>;
    /// Forgets an account's authenticator and recovery codes (a lost phone): it enrolls again at
    /// its next login; its sessions end.
    async fn web_totp_reset(user: UserName, dry_run: bool) -> Result<Change<()>, WireError>;
    /// A key for automation with at most the caller's role, valid for `days` (1-366).
    async fn api_key_create(
        label: FullName,
        role: crate::web::Role,
        days: u16,
        dry_run: bool,
    ) -> Result<Change<crate::web::ApiKeyGrant>, WireError>;
    async fn api_key_list() -> Result<Vec<crate::web::ApiKeyInfo>, WireError>;
    async fn api_key_revoke(id: String, dry_run: bool) -> Result<Change<()>, WireError>;

    // Monitoring and alerts (crate::monitor).
    /// The health cache, the active alerts and the health schedules.
    async fn monitor_status() -> Result<crate::monitor::MonitorStatus, WireError>;
    /// Runs every collector now (SMART still skips sleeping disks) and evaluates the alerts.
    async fn monitor_run(dry_run: bool) -> Result<Change<Vec<crate::monitor::CollectorStatus>>, WireError>;
    /// The cache in the OpenMetrics text format; never runs a tool.
    async fn metrics_render() -> Result<String, WireError>;
    /// Series whose name starts with `prefix` ("" for all), over `range`.
    async fn monitor_history(
        prefix: String,
        range: crate::monitor::HistoryRange,
    ) -> Result<Vec<crate::monitor::Series>, WireError>;
    async fn alert_list(include_resolved: bool) -> Result<Vec<crate::monitor::Alert>, WireError>;
    async fn alert_show(id: String) -> Result<crate::monitor::Alert, WireError>;
    async fn alert_dismiss(id: String, dry_run: bool) -> Result<Change<crate::monitor::Alert>, WireError>;
    async fn alert_silence(
        spec: crate::monitor::SilenceSpec,
        dry_run: bool,
    ) -> Result<Change<crate::monitor::Silence>, WireError>;
    async fn silence_list() -> Result<Vec<crate::monitor::Silence>, WireError>;
    async fn silence_remove(id: String, dry_run: bool) -> Result<Change<()>, WireError>;
    async fn alert_policy_list() -> Result<Vec<crate::monitor::ClassPolicy>, WireError>;
    async fn alert_policy_set(
        class: crate::monitor::AlertClass,
        delivery: crate::monitor::Delivery,
        dry_run: bool,
    ) -> Result<Change<crate::monitor::ClassPolicy>, WireError>;
    async fn channel_add(
        spec: crate::monitor::ChannelSpec,
        dry_run: bool,
    ) -> Result<Change<crate::monitor::ChannelInfo>, WireError>;
    async fn channel_list() -> Result<Vec<crate::monitor::ChannelInfo>, WireError>;
    async fn channel_remove(name: crate::monitor::ChannelName, dry_run: bool) -> Result<Change<()>, WireError>;
    /// Sends a test message now, outside the outbox, and reports the conversation.
    async fn channel_test(
        name: crate::monitor::ChannelName,
        dry_run: bool,
    ) -> Result<Change<crate::monitor::DeliveryReport>, WireError>;
    async fn health_schedule_list() -> Result<Vec<crate::monitor::HealthSchedule>, WireError>;
    async fn health_schedule_set(
        spec: crate::monitor::HealthScheduleSpec,
        dry_run: bool,
    ) -> Result<Change<crate::monitor::HealthSchedule>, WireError>;

    // Backup targets and tasks (issue 21; corenasd/src/backups/{targets,tasks}.rs). Secrets go in
    // once (create) and never come back; reads that open a repository run restic as corenasd.
    /// Checks the location, makes a local directory or an SFTP key pair, and opens the repository
    /// there with the password, or creates it (`restic init`) when there is none.
    async fn backup_target_create(
        spec: crate::backup::TargetSpec,
        dry_run: bool,
    ) -> Result<Change<crate::backup::TargetInfo>, WireError>;
    async fn backup_target_list() -> Result<Vec<crate::backup::TargetInfo>, WireError>;
    async fn backup_target_show(name: crate::backup::BackupName) -> Result<crate::backup::TargetInfo, WireError>;
    /// Refused while a task uses it; the repository is left in place.
    async fn backup_target_delete(name: crate::backup::BackupName, dry_run: bool) -> Result<Change<()>, WireError>;
    /// The repository's locks (`restic list locks`), reported, never removed.
    async fn backup_target_locks(name: crate::backup::BackupName) -> Result<Vec<crate::backup::RepoLock>, WireError>;
    /// Saves a task after its retention preview was computed (a dry run: the preview only).
    async fn backup_task_create(
        spec: crate::backup::TaskSpec,
        dry_run: bool,
    ) -> Result<Change<crate::backup::TaskChange>, WireError>;
    async fn backup_task_modify(
        name: crate::backup::BackupName,
        change: crate::backup::TaskModify,
        dry_run: bool,
    ) -> Result<Change<crate::backup::TaskChange>, WireError>;
    /// The task's snapshots stay in the repository.
    async fn backup_task_delete(name: crate::backup::BackupName, dry_run: bool) -> Result<Change<()>, WireError>;
    async fn backup_task_list() -> Result<Vec<crate::backup::TaskInfo>, WireError>;
    async fn backup_task_show(name: crate::backup::BackupName) -> Result<crate::backup::TaskInfo, WireError>;
    /// What `keep` would do to the task's snapshots now (`forget --dry-run`); nothing is saved.
    async fn backup_task_preview(
        name: crate::backup::BackupName,
        keep: crate::backup::KeepPolicy,
    ) -> Result<crate::backup::RetentionPreview, WireError>;
    /// The task's snapshots in its target's repository, oldest first.
    async fn backup_snapshots(task: crate::backup::BackupName) -> Result<Vec<crate::backup::SnapshotInfo>, WireError>;
    /// One directory of one of the task's snapshots (`/`: its top).
    async fn backup_ls(
        task: crate::backup::BackupName,
        snapshot: crate::backup::ResticSnapshotId,
        path: crate::backup::SnapshotPath,
    ) -> Result<crate::backup::SnapshotListing, WireError>;

    // Configuration backup of CoreNAS itself (issue 21; proto/src/config_backup.rs).
    /// A sealed archive of this box's configuration (the state database's configuration tables,
    /// the managed accounts with their hashes, /etc/corenas). A dry run returns the manifest only.
    async fn config_backup(
        passphrase: crate::config_backup::ArchivePassphrase,
        dry_run: bool,
    ) -> Result<Change<crate::config_backup::ConfigArchive>, WireError>;
    /// Restores an archive, or (dry run) previews what it would change.
    async fn config_restore(
        archive: Vec<u8>,
        passphrase: crate::config_backup::ArchivePassphrase,
        dry_run: bool,
    ) -> Result<Change<crate::config_backup::RestorePreview>, WireError>;
    /// The daily copies corenasd keeps on the box.
    async fn config_backups() -> Result<Vec<crate::config_backup::LocalCopy>, WireError>;
    /// Restores (or previews) one of the daily copies, by its file name, with the key corenasd
    /// keeps for them.
    async fn config_restore_local(
        name: String,
        dry_run: bool,
    ) -> Result<Change<crate::config_backup::RestorePreview>, WireError>;

    // Backup jobs (issue 21; corenasd/src/backups/{run,check}.rs). One job per task at a time;
    // the jobs of one target run one after another (queued until then).
    /// Backs a task up now: the helper snapshots the source and starts the runner; the job
    /// ends with the snapshot id, the helper's cleanup and the retention step.
    async fn backup_run(
        task: crate::backup::BackupName,
        dry_run: bool,
    ) -> Result<Change<crate::backup::BackupJobInfo>, WireError>;
    /// The task's rolling check now (`check --read-data-subset=k/N`, k advancing per run).
    async fn backup_check(
        task: crate::backup::BackupName,
        dry_run: bool,
    ) -> Result<Change<crate::backup::BackupJobInfo>, WireError>;
    /// Newest first, at most `limit` (1-500); one task's or all.
    async fn backup_job_list(
        task: Option<crate::backup::BackupName>,
        limit: u32,
    ) -> Result<Vec<crate::backup::BackupJobInfo>, WireError>;
    async fn backup_job_show(id: crate::backup::BackupJobId) -> Result<crate::backup::BackupJobInfo, WireError>;
    /// Returns when the job's version passes `after_version`, it ends, or after `wait_ms` (at
    /// most 30 s).
    async fn backup_job_wait(
        id: crate::backup::BackupJobId,
        after_version: u64,
        wait_ms: u32,
    ) -> Result<crate::backup::BackupJobInfo, WireError>;
}
