//! The method table: for every request of the `Corenas` API, its audit name, whether it changes
//! anything, the role it needs and whether an open web page may make it by itself. The rest of
//! corenasd reads this table: the role check (`authz::check`), the audit
//! (`DaemonServer::change`), which requests run detached (`CorenasService`) and what the web
//! gate's `watch` serves. A new API method needs one row here and one short handler in
//! `rpc/dispatch.rs`.
//!
//! The audit names are the strings in every audit log written so far and what `log search
//! --action` matches, so they never change (a test pins each one). Where they differ from the
//! RPC name (`log_page` is audited as `log.export`, `vg_create` as `lvm.vg_create`), the log wins.

use corenas_proto::WireError;
use corenas_proto::api::{CorenasRequest, CorenasResponse};
use corenas_proto::raid::MdMemberOp;
use corenas_proto::web::Role;

/// Whether a method changes anything (and so must be audited and honour dry runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Mutate,
}

/// Declares `Method` and its table in one place, so a method cannot have a name but no role.
macro_rules! methods {
    ($($method:ident, $audit:literal, $access:ident, $role:ident, $page:tt;)*) => {
        /// One method of the `Corenas` API as authorization and the audit see it. A request that
        /// either reads or changes (`imaging_policy`), or acts in several ways (`raid_member`),
        /// is one method per way.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Method { $($method),* }

        impl Method {
            /// Every method, in table order.
            pub const ALL: &[Method] = &[$(Method::$method),*];

            /// The action written to the audit log (and matched by `log search --action`).
            pub fn audit_name(self) -> &'static str {
                match self { $(Method::$method => $audit),* }
            }

            /// Whether it changes anything: a change is audited, honours dry runs and runs
            /// detached from the connection that asked for it.
            pub fn access(self) -> Access {
                match self { $(Method::$method => Access::$access),* }
            }

            /// The least role that may call it.
            pub fn role(self) -> Role {
                match self { $(Method::$method => Role::$role),* }
            }

            /// Whether an open page may make it by itself (its event stream, a live refresh)
            /// through the web gate's `watch`, without that renewing the user's session.
            pub fn page_may_watch(self) -> bool {
                match self { $(Method::$method => methods!(@page $page)),* }
            }
        }
    };
    (@page page) => { true };
    (@page -) => { false };
}

// Reads are open to viewers, except the archive's raw bytes: an image holds a whole disc or
// disk, file permissions included, so downloading one is operator work like making it.
// Operators run imaging jobs, look after the archive and eject media; every other change (accounts, SMB, ACLs, storage, shares, mounts, wipes, the imaging
// policy, web access) is for admins only.
methods! {
    // method, audit name, access, role, whether a page may watch it
    SystemStatus,       "system.status",          Read,   Viewer,   -;
    UserAdd,            "user.add",               Mutate, Admin,    -;
    UserDel,            "user.del",               Mutate, Admin,    -;
    UserMod,            "user.mod",               Mutate, Admin,    -;
    UserList,           "user.list",              Read,   Viewer,   -;
    UserShow,           "user.show",              Read,   Viewer,   -;
    UserSetPassword,    "user.set_password",      Mutate, Admin,    -;
    UserSetSmbPassword, "user.set_smb_password",  Mutate, Admin,    -;
    UserSmb,            "user.smb",               Mutate, Admin,    -;
    PasswordGenerate,   "password.generate",      Read,   Viewer,   -;
    GroupAdd,           "group.add",              Mutate, Admin,    -;
    GroupDel,           "group.del",              Mutate, Admin,    -;
    GroupMod,           "group.mod",              Mutate, Admin,    -;
    GroupList,          "group.list",             Read,   Viewer,   -;
    AclGet,             "acl.get",                Read,   Viewer,   -;
    AclSet,             "acl.set",                Mutate, Admin,    -;
    AclRemove,          "acl.remove",             Mutate, Admin,    -;
    LogView,            "log.view",               Read,   Viewer,   -;
    LogPage,            "log.export",             Read,   Viewer,   -;
    LogSearch,          "log.view",               Read,   Viewer,   page;
    LogVerify,          "log.verify",             Read,   Viewer,   -;
    ImageCreate,        "image.create",           Mutate, Operator, -;
    ImageList,          "image.list",             Read,   Viewer,   page;
    ImageShow,          "image.show",             Read,   Viewer,   page;
    ImageWait,          "image.wait",             Read,   Viewer,   -;
    ImagePause,         "image.pause",            Mutate, Operator, -;
    ImageResume,        "image.resume",           Mutate, Operator, -;
    ImageCancel,        "image.cancel",           Mutate, Operator, -;
    ImageRetry,         "image.retry",            Mutate, Operator, -;
    ImagePriority,      "image.priority",         Mutate, Operator, -;
    ImagingPolicyRead,  "image.policy",           Read,   Viewer,   -;
    ImagingPolicySet,   "image.policy",           Mutate, Admin,    -;
    ArchiveList,        "archive.list",           Read,   Viewer,   -;
    ArchiveShow,        "archive.show",           Read,   Viewer,   page;
    ArchiveRead,        "archive.read",           Read,   Operator, -;
    ArchiveVerify,      "archive.verify",         Mutate, Operator, -;
    ArchiveDelete,      "archive.delete",         Mutate, Operator, -;
    ArchiveEdit,        "archive.edit",           Mutate, Operator, -;
    DeviceList,         "device.list",            Read,   Viewer,   page;
    DeviceEject,        "device.eject",           Mutate, Operator, -;
    ShareCreate,        "share.create",           Mutate, Admin,    -;
    ShareModify,        "share.modify",           Mutate, Admin,    -;
    ShareDelete,        "share.delete",           Mutate, Admin,    -;
    ShareList,          "share.list",             Read,   Viewer,   -;
    ShareShow,          "share.show",             Read,   Viewer,   -;
    ShareHomes,         "share.homes",            Mutate, Admin,    -;
    ShareConfig,        "share.config",           Read,   Viewer,   -;
    ShareApply,         "share.apply",            Mutate, Admin,    -;
    MountAdd,           "mount.add",              Mutate, Admin,    -;
    MountRemove,        "mount.remove",           Mutate, Admin,    -;
    MountList,          "mount.list",             Read,   Viewer,   -;
    MountStatus,        "mount.status",           Read,   Viewer,   -;
    MountReload,        "mount.reload",           Mutate, Admin,    -;
    DeviceInventory,    "device.inventory",       Read,   Viewer,   page;
    DeviceShow,         "device.show",            Read,   Viewer,   -;
    DeviceEvents,       "device.events",          Read,   Viewer,   page;
    DeviceEraseSupport, "device.erase_support",   Read,   Viewer,   -;
    DeviceSmart,        "device.smart",           Read,   Viewer,   -;
    DeviceSmartHistory, "device.smart_history",   Read,   Viewer,   page;
    DeviceSelftest,     "device.selftest",        Mutate, Admin,    -;
    DeviceWipe,         "device.wipe",            Mutate, Admin,    -;
    PoolCreate,         "pool.create",            Mutate, Admin,    -;
    PoolList,           "pool.list",              Read,   Viewer,   page;
    PoolShow,           "pool.show",              Read,   Viewer,   -;
    PoolDestroy,        "pool.destroy",           Mutate, Admin,    -;
    PoolImport,         "pool.import",            Mutate, Admin,    -;
    PoolExport,         "pool.export",            Mutate, Admin,    -;
    PoolScrub,          "pool.scrub",             Mutate, Admin,    -;
    PoolScrubStop,      "pool.scrub_stop",        Mutate, Admin,    -;
    DatasetCreate,      "dataset.create",         Mutate, Admin,    -;
    DatasetList,        "dataset.list",           Read,   Viewer,   -;
    DatasetSet,         "dataset.set",            Mutate, Admin,    -;
    DatasetDestroy,     "dataset.destroy",        Mutate, Admin,    -;
    SnapshotCreate,     "snapshot.create",        Mutate, Admin,    -;
    SnapshotList,       "snapshot.list",          Read,   Viewer,   -;
    SnapshotDestroy,    "snapshot.destroy",       Mutate, Admin,    -;
    SnapshotRollback,   "snapshot.rollback",      Mutate, Admin,    -;
    ScheduleSet,        "snapshot.schedule_set",  Mutate, Admin,    -;
    ScheduleList,       "snapshot.schedule_list", Read,   Viewer,   -;
    ScheduleRun,        "snapshot.schedule_run",  Mutate, Admin,    -;
    RaidList,           "raid.list",              Read,   Viewer,   -;
    RaidShow,           "raid.show",              Read,   Viewer,   -;
    RaidCreate,         "raid.create",            Mutate, Admin,    -;
    RaidAdd,            "raid.add",               Mutate, Admin,    -;
    RaidRemove,         "raid.remove",            Mutate, Admin,    -;
    RaidFail,           "raid.fail",              Mutate, Admin,    -;
    RaidReplace,        "raid.replace",           Mutate, Admin,    -;
    RaidDestroy,        "raid.destroy",           Mutate, Admin,    -;
    LvmList,            "lvm.list",               Read,   Viewer,   -;
    VgCreate,           "lvm.vg_create",          Mutate, Admin,    -;
    VgRemove,           "lvm.vg_remove",          Mutate, Admin,    -;
    LvCreate,           "lvm.lv_create",          Mutate, Admin,    -;
    LvExtend,           "lvm.lv_extend",          Mutate, Admin,    -;
    LvRemove,           "lvm.lv_remove",          Mutate, Admin,    -;
    StorageJobList,     "storage.job_list",       Read,   Viewer,   -;
    StorageJobShow,     "storage.job_show",       Read,   Viewer,   -;
    StorageJobWait,     "storage.job_wait",       Read,   Viewer,   -;
    StorageJobCancel,   "storage.job_cancel",     Mutate, Admin,    -;
    SetupToken,         "system.setup_token",     Mutate, Admin,    -;
    WebAccountList,     "web.account_list",       Read,   Viewer,   -;
    WebRoleSet,         "web.role_set",           Mutate, Admin,    -;
    WebTotpReset,       "web.totp_reset",         Mutate, Admin,    -;
    ApiKeyCreate,       "web.api_key_create",     Mutate, Admin,    -;
    ApiKeyList,         "web.api_key_list",       Read,   Viewer,   -;
    ApiKeyRevoke,       "web.api_key_revoke",     Mutate, Admin,    -;
    MonitorStatus,      "monitor.status",         Read,   Viewer,   page;
    MonitorRun,         "monitor.run",            Mutate, Operator, -;
    MetricsRender,      "monitor.metrics",        Read,   Metrics,  -;
    MonitorHistory,     "monitor.history",        Read,   Viewer,   page;
    AlertList,          "alert.list",             Read,   Viewer,   page;
    AlertShow,          "alert.show",             Read,   Viewer,   -;
    AlertDismiss,       "alert.dismiss",          Mutate, Operator, -;
    AlertSilence,       "alert.silence",          Mutate, Admin,    -;
    SilenceList,        "alert.silence_list",     Read,   Viewer,   -;
    SilenceRemove,      "alert.silence_remove",   Mutate, Admin,    -;
    AlertPolicyList,    "alert.policy_list",      Read,   Viewer,   -;
    AlertPolicySet,     "alert.policy_set",       Mutate, Admin,    -;
    ChannelAdd,         "alert.channel_add",      Mutate, Admin,    -;
    ChannelList,        "alert.channel_list",     Read,   Viewer,   -;
    ChannelRemove,      "alert.channel_remove",   Mutate, Admin,    -;
    ChannelTest,        "alert.channel_test",     Mutate, Admin,    -;
    HealthScheduleList, "health.schedule_list",   Read,   Viewer,   -;
    HealthScheduleSet,  "health.schedule_set",    Mutate, Admin,    -;
    // Backups read every file of their source: running one is admin work.
    BackupRun,          "backup.task.run",        Mutate, Admin,    -;
    BackupCheck,        "backup.task.check",      Mutate, Admin,    -;
    BackupJobList,      "backup.job_list",        Read,   Viewer,   page;
    BackupJobShow,      "backup.job_show",        Read,   Viewer,   page;
    BackupJobWait,      "backup.job_wait",        Read,   Viewer,   -;
    // An archive carries every password hash and secret: making or restoring one is admin
    // work, audited; the list of daily copies (names, sizes, times) is a read.
    ConfigBackup,       "config.backup",          Mutate, Admin,    -;
    ConfigRestore,      "config.restore",         Mutate, Admin,    -;
    ConfigBackups,      "config.backups",         Read,   Viewer,   -;
    ConfigRestoreLocal, "config.restore",         Mutate, Admin,    -;
    // Backup targets and tasks: changes are admin work; browsing a snapshot shows every
    // user's file names, so it is operator work like reading an image.
    BackupTargetCreate, "backup.target.create",   Mutate, Admin,    -;
    BackupTargetList,   "backup.target.list",     Read,   Viewer,   -;
    BackupTargetShow,   "backup.target.show",     Read,   Viewer,   -;
    BackupTargetDelete, "backup.target.delete",   Mutate, Admin,    -;
    BackupTargetLocks,  "backup.target.locks",    Read,   Viewer,   -;
    BackupTaskCreate,   "backup.task.create",     Mutate, Admin,    -;
    BackupTaskModify,   "backup.task.modify",     Mutate, Admin,    -;
    BackupTaskDelete,   "backup.task.delete",     Mutate, Admin,    -;
    BackupTaskList,     "backup.task.list",       Read,   Viewer,   -;
    BackupTaskShow,     "backup.task.show",       Read,   Viewer,   -;
    BackupTaskPreview,  "backup.task.preview",    Read,   Viewer,   -;
    BackupSnapshots,    "backup.snapshots",       Read,   Viewer,   -;
    BackupLs,           "backup.ls",              Read,   Operator, -;
}

impl Method {
    /// The method of a request. Exhaustive: a new API method does not compile until it has a
    /// row here.
    pub fn of(request: &CorenasRequest) -> Method {
        use CorenasRequest as R;
        use Method as M;
        match request {
            R::SystemStatus { .. } => M::SystemStatus,
            R::UserAdd { .. } => M::UserAdd,
            R::UserDel { .. } => M::UserDel,
            R::UserMod { .. } => M::UserMod,
            R::UserList { .. } => M::UserList,
            R::UserShow { .. } => M::UserShow,
            R::UserSetPassword { .. } => M::UserSetPassword,
            R::UserSetSmbPassword { .. } => M::UserSetSmbPassword,
            R::UserSmb { .. } => M::UserSmb,
            R::PasswordGenerate { .. } => M::PasswordGenerate,
            R::GroupAdd { .. } => M::GroupAdd,
            R::GroupDel { .. } => M::GroupDel,
            R::GroupMod { .. } => M::GroupMod,
            R::GroupList { .. } => M::GroupList,
            R::AclGet { .. } => M::AclGet,
            R::AclSet { .. } => M::AclSet,
            R::AclRemove { .. } => M::AclRemove,
            R::LogView { .. } => M::LogView,
            R::LogPage { .. } => M::LogPage,
            R::LogSearch { .. } => M::LogSearch,
            R::LogVerify { .. } => M::LogVerify,
            R::ImageCreate { .. } => M::ImageCreate,
            R::ImageList { .. } => M::ImageList,
            R::ImageShow { .. } => M::ImageShow,
            R::ImageWait { .. } => M::ImageWait,
            R::ImagePause { .. } => M::ImagePause,
            R::ImageResume { .. } => M::ImageResume,
            R::ImageCancel { .. } => M::ImageCancel,
            R::ImageRetry { .. } => M::ImageRetry,
            R::ImagePriority { .. } => M::ImagePriority,
            R::ImagingPolicy { set: None, .. } => M::ImagingPolicyRead,
            R::ImagingPolicy { set: Some(_), .. } => M::ImagingPolicySet,
            R::ArchiveList { .. } => M::ArchiveList,
            R::ArchiveShow { .. } => M::ArchiveShow,
            R::ArchiveRead { .. } => M::ArchiveRead,
            R::ArchiveVerify { .. } => M::ArchiveVerify,
            R::ArchiveDelete { .. } => M::ArchiveDelete,
            R::ArchiveEdit { .. } => M::ArchiveEdit,
            R::DeviceList { .. } => M::DeviceList,
            R::DeviceEject { .. } => M::DeviceEject,
            R::ShareCreate { .. } => M::ShareCreate,
            R::ShareModify { .. } => M::ShareModify,
            R::ShareDelete { .. } => M::ShareDelete,
            R::ShareList { .. } => M::ShareList,
            R::ShareShow { .. } => M::ShareShow,
            R::ShareHomes { .. } => M::ShareHomes,
            R::ShareConfig { .. } => M::ShareConfig,
            R::ShareApply { .. } => M::ShareApply,
            R::MountAdd { .. } => M::MountAdd,
            R::MountRemove { .. } => M::MountRemove,
            R::MountList { .. } => M::MountList,
            R::MountStatus { .. } => M::MountStatus,
            R::MountReload { .. } => M::MountReload,
            R::DeviceInventory { .. } => M::DeviceInventory,
            R::DeviceShow { .. } => M::DeviceShow,
            R::DeviceEvents { .. } => M::DeviceEvents,
            R::DeviceEraseSupport { .. } => M::DeviceEraseSupport,
            R::DeviceSmart { .. } => M::DeviceSmart,
            R::DeviceSmartHistory { .. } => M::DeviceSmartHistory,
            R::DeviceSelftest { .. } => M::DeviceSelftest,
            R::DeviceWipe { .. } => M::DeviceWipe,
            R::PoolCreate { .. } => M::PoolCreate,
            R::PoolList { .. } => M::PoolList,
            R::PoolShow { .. } => M::PoolShow,
            R::PoolDestroy { .. } => M::PoolDestroy,
            R::PoolImport { .. } => M::PoolImport,
            R::PoolExport { .. } => M::PoolExport,
            R::PoolScrub { .. } => M::PoolScrub,
            R::PoolScrubStop { .. } => M::PoolScrubStop,
            R::DatasetCreate { .. } => M::DatasetCreate,
            R::DatasetList { .. } => M::DatasetList,
            R::DatasetSet { .. } => M::DatasetSet,
            R::DatasetDestroy { .. } => M::DatasetDestroy,
            R::SnapshotCreate { .. } => M::SnapshotCreate,
            R::SnapshotList { .. } => M::SnapshotList,
            R::SnapshotDestroy { .. } => M::SnapshotDestroy,
            R::SnapshotRollback { .. } => M::SnapshotRollback,
            R::ScheduleSet { .. } => M::ScheduleSet,
            R::ScheduleList { .. } => M::ScheduleList,
            R::ScheduleRun { .. } => M::ScheduleRun,
            R::RaidList { .. } => M::RaidList,
            R::RaidShow { .. } => M::RaidShow,
            R::RaidCreate { .. } => M::RaidCreate,
            R::RaidMember { op, .. } => match op {
                MdMemberOp::Add => M::RaidAdd,
                MdMemberOp::Remove => M::RaidRemove,
                MdMemberOp::Fail => M::RaidFail,
                MdMemberOp::Replace { .. } => M::RaidReplace,
            },
            R::RaidDestroy { .. } => M::RaidDestroy,
            R::LvmList { .. } => M::LvmList,
            R::VgCreate { .. } => M::VgCreate,
            R::VgRemove { .. } => M::VgRemove,
            R::LvCreate { .. } => M::LvCreate,
            R::LvExtend { .. } => M::LvExtend,
            R::LvRemove { .. } => M::LvRemove,
            R::StorageJobList { .. } => M::StorageJobList,
            R::StorageJobShow { .. } => M::StorageJobShow,
            R::StorageJobWait { .. } => M::StorageJobWait,
            R::StorageJobCancel { .. } => M::StorageJobCancel,
            R::SetupToken { .. } => M::SetupToken,
            R::WebAccountList { .. } => M::WebAccountList,
            R::WebRoleSet { .. } => M::WebRoleSet,
            R::WebTotpReset { .. } => M::WebTotpReset,
            R::ApiKeyCreate { .. } => M::ApiKeyCreate,
            R::ApiKeyList { .. } => M::ApiKeyList,
            R::ApiKeyRevoke { .. } => M::ApiKeyRevoke,
            R::MonitorStatus { .. } => M::MonitorStatus,
            R::MonitorRun { .. } => M::MonitorRun,
            R::MetricsRender { .. } => M::MetricsRender,
            R::MonitorHistory { .. } => M::MonitorHistory,
            R::AlertList { .. } => M::AlertList,
            R::AlertShow { .. } => M::AlertShow,
            R::AlertDismiss { .. } => M::AlertDismiss,
            R::AlertSilence { .. } => M::AlertSilence,
            R::SilenceList { .. } => M::SilenceList,
            R::SilenceRemove { .. } => M::SilenceRemove,
            R::AlertPolicyList { .. } => M::AlertPolicyList,
            R::AlertPolicySet { .. } => M::AlertPolicySet,
            R::ChannelAdd { .. } => M::ChannelAdd,
            R::ChannelList { .. } => M::ChannelList,
            R::ChannelRemove { .. } => M::ChannelRemove,
            R::ChannelTest { .. } => M::ChannelTest,
            R::HealthScheduleList { .. } => M::HealthScheduleList,
            R::HealthScheduleSet { .. } => M::HealthScheduleSet,
            R::BackupRun { .. } => M::BackupRun,
            R::BackupCheck { .. } => M::BackupCheck,
            R::BackupJobList { .. } => M::BackupJobList,
            R::BackupJobShow { .. } => M::BackupJobShow,
            R::BackupJobWait { .. } => M::BackupJobWait,
            R::ConfigBackup { .. } => M::ConfigBackup,
            R::ConfigRestore { .. } => M::ConfigRestore,
            R::ConfigBackups { .. } => M::ConfigBackups,
            R::ConfigRestoreLocal { .. } => M::ConfigRestoreLocal,
            R::BackupTargetCreate { .. } => M::BackupTargetCreate,
            R::BackupTargetList { .. } => M::BackupTargetList,
            R::BackupTargetShow { .. } => M::BackupTargetShow,
            R::BackupTargetDelete { .. } => M::BackupTargetDelete,
            R::BackupTargetLocks { .. } => M::BackupTargetLocks,
            R::BackupTaskCreate { .. } => M::BackupTaskCreate,
            R::BackupTaskModify { .. } => M::BackupTaskModify,
            R::BackupTaskDelete { .. } => M::BackupTaskDelete,
            R::BackupTaskList { .. } => M::BackupTaskList,
            R::BackupTaskShow { .. } => M::BackupTaskShow,
            R::BackupTaskPreview { .. } => M::BackupTaskPreview,
            R::BackupSnapshots { .. } => M::BackupSnapshots,
            R::BackupLs { .. } => M::BackupLs,
        }
    }

    pub fn mutates(self) -> bool {
        self.access() == Access::Mutate
    }
}

/// The answer to a request refused before it runs (the caller's role is too low).
pub fn refusal(request: &CorenasRequest, e: WireError) -> CorenasResponse {
    use CorenasRequest as R;
    use CorenasResponse as P;
    match request {
        R::SystemStatus { .. } => P::SystemStatus(Err(e)),
        R::UserAdd { .. } => P::UserAdd(Err(e)),
        R::UserDel { .. } => P::UserDel(Err(e)),
        R::UserMod { .. } => P::UserMod(Err(e)),
        R::UserList { .. } => P::UserList(Err(e)),
        R::UserShow { .. } => P::UserShow(Err(e)),
        R::UserSetPassword { .. } => P::UserSetPassword(Err(e)),
        R::UserSetSmbPassword { .. } => P::UserSetSmbPassword(Err(e)),
        R::UserSmb { .. } => P::UserSmb(Err(e)),
        R::PasswordGenerate { .. } => P::PasswordGenerate(Err(e)),
        R::GroupAdd { .. } => P::GroupAdd(Err(e)),
        R::GroupDel { .. } => P::GroupDel(Err(e)),
        R::GroupMod { .. } => P::GroupMod(Err(e)),
        R::GroupList { .. } => P::GroupList(Err(e)),
        R::AclGet { .. } => P::AclGet(Err(e)),
        R::AclSet { .. } => P::AclSet(Err(e)),
        R::AclRemove { .. } => P::AclRemove(Err(e)),
        R::LogView { .. } => P::LogView(Err(e)),
        R::LogPage { .. } => P::LogPage(Err(e)),
        R::LogSearch { .. } => P::LogSearch(Err(e)),
        R::LogVerify { .. } => P::LogVerify(Err(e)),
        R::ImageCreate { .. } => P::ImageCreate(Err(e)),
        R::ImageList { .. } => P::ImageList(Err(e)),
        R::ImageShow { .. } => P::ImageShow(Err(e)),
        R::ImageWait { .. } => P::ImageWait(Err(e)),
        R::ImagePause { .. } => P::ImagePause(Err(e)),
        R::ImageResume { .. } => P::ImageResume(Err(e)),
        R::ImageCancel { .. } => P::ImageCancel(Err(e)),
        R::ImageRetry { .. } => P::ImageRetry(Err(e)),
        R::ImagePriority { .. } => P::ImagePriority(Err(e)),
        R::ImagingPolicy { .. } => P::ImagingPolicy(Err(e)),
        R::ArchiveList { .. } => P::ArchiveList(Err(e)),
        R::ArchiveShow { .. } => P::ArchiveShow(Err(e)),
        R::ArchiveRead { .. } => P::ArchiveRead(Err(e)),
        R::ArchiveVerify { .. } => P::ArchiveVerify(Err(e)),
        R::ArchiveDelete { .. } => P::ArchiveDelete(Err(e)),
        R::ArchiveEdit { .. } => P::ArchiveEdit(Err(e)),
        R::DeviceList { .. } => P::DeviceList(Err(e)),
        R::DeviceEject { .. } => P::DeviceEject(Err(e)),
        R::ShareCreate { .. } => P::ShareCreate(Err(e)),
        R::ShareModify { .. } => P::ShareModify(Err(e)),
        R::ShareDelete { .. } => P::ShareDelete(Err(e)),
        R::ShareList { .. } => P::ShareList(Err(e)),
        R::ShareShow { .. } => P::ShareShow(Err(e)),
        R::ShareHomes { .. } => P::ShareHomes(Err(e)),
        R::ShareConfig { .. } => P::ShareConfig(Err(e)),
        R::ShareApply { .. } => P::ShareApply(Err(e)),
        R::MountAdd { .. } => P::MountAdd(Err(e)),
        R::MountRemove { .. } => P::MountRemove(Err(e)),
        R::MountList { .. } => P::MountList(Err(e)),
        R::MountStatus { .. } => P::MountStatus(Err(e)),
        R::MountReload { .. } => P::MountReload(Err(e)),
        R::DeviceInventory { .. } => P::DeviceInventory(Err(e)),
        R::DeviceShow { .. } => P::DeviceShow(Err(e)),
        R::DeviceEvents { .. } => P::DeviceEvents(Err(e)),
        R::DeviceEraseSupport { .. } => P::DeviceEraseSupport(Err(e)),
        R::DeviceSmart { .. } => P::DeviceSmart(Err(e)),
        R::DeviceSmartHistory { .. } => P::DeviceSmartHistory(Err(e)),
        R::DeviceSelftest { .. } => P::DeviceSelftest(Err(e)),
        R::DeviceWipe { .. } => P::DeviceWipe(Err(e)),
        R::PoolCreate { .. } => P::PoolCreate(Err(e)),
        R::PoolList { .. } => P::PoolList(Err(e)),
        R::PoolShow { .. } => P::PoolShow(Err(e)),
        R::PoolDestroy { .. } => P::PoolDestroy(Err(e)),
        R::PoolImport { .. } => P::PoolImport(Err(e)),
        R::PoolExport { .. } => P::PoolExport(Err(e)),
        R::PoolScrub { .. } => P::PoolScrub(Err(e)),
        R::PoolScrubStop { .. } => P::PoolScrubStop(Err(e)),
        R::DatasetCreate { .. } => P::DatasetCreate(Err(e)),
        R::DatasetList { .. } => P::DatasetList(Err(e)),
        R::DatasetSet { .. } => P::DatasetSet(Err(e)),
        R::DatasetDestroy { .. } => P::DatasetDestroy(Err(e)),
        R::SnapshotCreate { .. } => P::SnapshotCreate(Err(e)),
        R::SnapshotList { .. } => P::SnapshotList(Err(e)),
        R::SnapshotDestroy { .. } => P::SnapshotDestroy(Err(e)),
        R::SnapshotRollback { .. } => P::SnapshotRollback(Err(e)),
        R::ScheduleSet { .. } => P::ScheduleSet(Err(e)),
        R::ScheduleList { .. } => P::ScheduleList(Err(e)),
        R::ScheduleRun { .. } => P::ScheduleRun(Err(e)),
        R::RaidList { .. } => P::RaidList(Err(e)),
        R::RaidShow { .. } => P::RaidShow(Err(e)),
        R::RaidCreate { .. } => P::RaidCreate(Err(e)),
        R::RaidMember { .. } => P::RaidMember(Err(e)),
        R::RaidDestroy { .. } => P::RaidDestroy(Err(e)),
        R::LvmList { .. } => P::LvmList(Err(e)),
        R::VgCreate { .. } => P::VgCreate(Err(e)),
        R::VgRemove { .. } => P::VgRemove(Err(e)),
        R::LvCreate { .. } => P::LvCreate(Err(e)),
        R::LvExtend { .. } => P::LvExtend(Err(e)),
        R::LvRemove { .. } => P::LvRemove(Err(e)),
        R::StorageJobList { .. } => P::StorageJobList(Err(e)),
        R::StorageJobShow { .. } => P::StorageJobShow(Err(e)),
        R::StorageJobWait { .. } => P::StorageJobWait(Err(e)),
        R::StorageJobCancel { .. } => P::StorageJobCancel(Err(e)),
        R::SetupToken { .. } => P::SetupToken(Err(e)),
        R::WebAccountList { .. } => P::WebAccountList(Err(e)),
        R::WebRoleSet { .. } => P::WebRoleSet(Err(e)),
        R::WebTotpReset { .. } => P::WebTotpReset(Err(e)),
        R::ApiKeyCreate { .. } => P::ApiKeyCreate(Err(e)),
        R::ApiKeyList { .. } => P::ApiKeyList(Err(e)),
        R::ApiKeyRevoke { .. } => P::ApiKeyRevoke(Err(e)),
        R::MonitorStatus { .. } => P::MonitorStatus(Err(e)),
        R::MonitorRun { .. } => P::MonitorRun(Err(e)),
        R::MetricsRender { .. } => P::MetricsRender(Err(e)),
        R::MonitorHistory { .. } => P::MonitorHistory(Err(e)),
        R::AlertList { .. } => P::AlertList(Err(e)),
        R::AlertShow { .. } => P::AlertShow(Err(e)),
        R::AlertDismiss { .. } => P::AlertDismiss(Err(e)),
        R::AlertSilence { .. } => P::AlertSilence(Err(e)),
        R::SilenceList { .. } => P::SilenceList(Err(e)),
        R::SilenceRemove { .. } => P::SilenceRemove(Err(e)),
        R::AlertPolicyList { .. } => P::AlertPolicyList(Err(e)),
        R::AlertPolicySet { .. } => P::AlertPolicySet(Err(e)),
        R::ChannelAdd { .. } => P::ChannelAdd(Err(e)),
        R::ChannelList { .. } => P::ChannelList(Err(e)),
        R::ChannelRemove { .. } => P::ChannelRemove(Err(e)),
        R::ChannelTest { .. } => P::ChannelTest(Err(e)),
        R::HealthScheduleList { .. } => P::HealthScheduleList(Err(e)),
        R::HealthScheduleSet { .. } => P::HealthScheduleSet(Err(e)),
        R::BackupRun { .. } => P::BackupRun(Err(e)),
        R::BackupCheck { .. } => P::BackupCheck(Err(e)),
        R::BackupJobList { .. } => P::BackupJobList(Err(e)),
        R::BackupJobShow { .. } => P::BackupJobShow(Err(e)),
        R::BackupJobWait { .. } => P::BackupJobWait(Err(e)),
        R::ConfigBackup { .. } => P::ConfigBackup(Err(e)),
        R::ConfigRestore { .. } => P::ConfigRestore(Err(e)),
        R::ConfigBackups { .. } => P::ConfigBackups(Err(e)),
        R::ConfigRestoreLocal { .. } => P::ConfigRestoreLocal(Err(e)),
        R::BackupTargetCreate { .. } => P::BackupTargetCreate(Err(e)),
        R::BackupTargetList { .. } => P::BackupTargetList(Err(e)),
        R::BackupTargetShow { .. } => P::BackupTargetShow(Err(e)),
        R::BackupTargetDelete { .. } => P::BackupTargetDelete(Err(e)),
        R::BackupTargetLocks { .. } => P::BackupTargetLocks(Err(e)),
        R::BackupTaskCreate { .. } => P::BackupTaskCreate(Err(e)),
        R::BackupTaskModify { .. } => P::BackupTaskModify(Err(e)),
        R::BackupTaskDelete { .. } => P::BackupTaskDelete(Err(e)),
        R::BackupTaskList { .. } => P::BackupTaskList(Err(e)),
        R::BackupTaskShow { .. } => P::BackupTaskShow(Err(e)),
        R::BackupTaskPreview { .. } => P::BackupTaskPreview(Err(e)),
        R::BackupSnapshots { .. } => P::BackupSnapshots(Err(e)),
        R::BackupLs { .. } => P::BackupLs(Err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Today's audit names, roles and page reads, written out: the table may be reordered or
    /// reformatted, but no audit string, role or page permission changes by accident.
    #[test]
    fn every_method_keeps_its_audit_name_role_and_page_permission() {
        use Access as A;
        use Method as M;
        use Role as R;
        let pinned: &[(Method, &str, Access, Role, bool)] = &[
            (M::SystemStatus, "system.status", A::Read, R::Viewer, false),
            (M::UserAdd, "user.add", A::Mutate, R::Admin, false),
            (M::UserDel, "user.del", A::Mutate, R::Admin, false),
            (M::UserMod, "user.mod", A::Mutate, R::Admin, false),
            (M::UserList, "user.list", A::Read, R::Viewer, false),
            (M::UserShow, "user.show", A::Read, R::Viewer, false),
            (M::UserSetPassword, "user.set_password", A::Mutate, R::Admin, false),
            (M::UserSetSmbPassword, "user.set_smb_password", A::Mutate, R::Admin, false),
            (M::UserSmb, "user.smb", A::Mutate, R::Admin, false),
            (M::PasswordGenerate, "password.generate", A::Read, R::Viewer, false),
            (M::GroupAdd, "group.add", A::Mutate, R::Admin, false),
            (M::GroupDel, "group.del", A::Mutate, R::Admin, false),
            (M::GroupMod, "group.mod", A::Mutate, R::Admin, false),
            (M::GroupList, "group.list", A::Read, R::Viewer, false),
            (M::AclGet, "acl.get", A::Read, R::Viewer, false),
            (M::AclSet, "acl.set", A::Mutate, R::Admin, false),
            (M::AclRemove, "acl.remove", A::Mutate, R::Admin, false),
            (M::LogView, "log.view", A::Read, R::Viewer, false),
            (M::LogPage, "log.export", A::Read, R::Viewer, false),
            (M::LogSearch, "log.view", A::Read, R::Viewer, true),
            (M::LogVerify, "log.verify", A::Read, R::Viewer, false),
            (M::ImageCreate, "image.create", A::Mutate, R::Operator, false),
            (M::ImageList, "image.list", A::Read, R::Viewer, true),
            (M::ImageShow, "image.show", A::Read, R::Viewer, true),
            (M::ImageWait, "image.wait", A::Read, R::Viewer, false),
            (M::ImagePause, "image.pause", A::Mutate, R::Operator, false),
            (M::ImageResume, "image.resume", A::Mutate, R::Operator, false),
            (M::ImageCancel, "image.cancel", A::Mutate, R::Operator, false),
            (M::ImageRetry, "image.retry", A::Mutate, R::Operator, false),
            (M::ImagePriority, "image.priority", A::Mutate, R::Operator, false),
            (M::ImagingPolicyRead, "image.policy", A::Read, R::Viewer, false),
            (M::ImagingPolicySet, "image.policy", A::Mutate, R::Admin, false),
            (M::ArchiveList, "archive.list", A::Read, R::Viewer, false),
            (M::ArchiveShow, "archive.show", A::Read, R::Viewer, true),
            (M::ArchiveRead, "archive.read", A::Read, R::Operator, false),
            (M::ArchiveVerify, "archive.verify", A::Mutate, R::Operator, false),
            (M::ArchiveDelete, "archive.delete", A::Mutate, R::Operator, false),
            (M::ArchiveEdit, "archive.edit", A::Mutate, R::Operator, false),
            (M::DeviceList, "device.list", A::Read, R::Viewer, true),
            (M::DeviceEject, "device.eject", A::Mutate, R::Operator, false),
            (M::ShareCreate, "share.create", A::Mutate, R::Admin, false),
            (M::ShareModify, "share.modify", A::Mutate, R::Admin, false),
            (M::ShareDelete, "share.delete", A::Mutate, R::Admin, false),
            (M::ShareList, "share.list", A::Read, R::Viewer, false),
            (M::ShareShow, "share.show", A::Read, R::Viewer, false),
            (M::ShareHomes, "share.homes", A::Mutate, R::Admin, false),
            (M::ShareConfig, "share.config", A::Read, R::Viewer, false),
            (M::ShareApply, "share.apply", A::Mutate, R::Admin, false),
            (M::MountAdd, "mount.add", A::Mutate, R::Admin, false),
            (M::MountRemove, "mount.remove", A::Mutate, R::Admin, false),
            (M::MountList, "mount.list", A::Read, R::Viewer, false),
            (M::MountStatus, "mount.status", A::Read, R::Viewer, false),
            (M::MountReload, "mount.reload", A::Mutate, R::Admin, false),
            (M::DeviceInventory, "device.inventory", A::Read, R::Viewer, true),
            (M::DeviceShow, "device.show", A::Read, R::Viewer, false),
            (M::DeviceEvents, "device.events", A::Read, R::Viewer, true),
            (M::DeviceEraseSupport, "device.erase_support", A::Read, R::Viewer, false),
            (M::DeviceSmart, "device.smart", A::Read, R::Viewer, false),
            (M::DeviceSmartHistory, "device.smart_history", A::Read, R::Viewer, true),
            (M::DeviceSelftest, "device.selftest", A::Mutate, R::Admin, false),
            (M::DeviceWipe, "device.wipe", A::Mutate, R::Admin, false),
            (M::PoolCreate, "pool.create", A::Mutate, R::Admin, false),
            (M::PoolList, "pool.list", A::Read, R::Viewer, true),
            (M::PoolShow, "pool.show", A::Read, R::Viewer, false),
            (M::PoolDestroy, "pool.destroy", A::Mutate, R::Admin, false),
            (M::PoolImport, "pool.import", A::Mutate, R::Admin, false),
            (M::PoolExport, "pool.export", A::Mutate, R::Admin, false),
            (M::PoolScrub, "pool.scrub", A::Mutate, R::Admin, false),
            (M::PoolScrubStop, "pool.scrub_stop", A::Mutate, R::Admin, false),
            (M::DatasetCreate, "dataset.create", A::Mutate, R::Admin, false),
            (M::DatasetList, "dataset.list", A::Read, R::Viewer, false),
            (M::DatasetSet, "dataset.set", A::Mutate, R::Admin, false),
            (M::DatasetDestroy, "dataset.destroy", A::Mutate, R::Admin, false),
            (M::SnapshotCreate, "snapshot.create", A::Mutate, R::Admin, false),
            (M::SnapshotList, "snapshot.list", A::Read, R::Viewer, false),
            (M::SnapshotDestroy, "snapshot.destroy", A::Mutate, R::Admin, false),
            (M::SnapshotRollback, "snapshot.rollback", A::Mutate, R::Admin, false),
            (M::ScheduleSet, "snapshot.schedule_set", A::Mutate, R::Admin, false),
            (M::ScheduleList, "snapshot.schedule_list", A::Read, R::Viewer, false),
            (M::ScheduleRun, "snapshot.schedule_run", A::Mutate, R::Admin, false),
            (M::RaidList, "raid.list", A::Read, R::Viewer, false),
            (M::RaidShow, "raid.show", A::Read, R::Viewer, false),
            (M::RaidCreate, "raid.create", A::Mutate, R::Admin, false),
            (M::RaidAdd, "raid.add", A::Mutate, R::Admin, false),
            (M::RaidRemove, "raid.remove", A::Mutate, R::Admin, false),
            (M::RaidFail, "raid.fail", A::Mutate, R::Admin, false),
            (M::RaidReplace, "raid.replace", A::Mutate, R::Admin, false),
            (M::RaidDestroy, "raid.destroy", A::Mutate, R::Admin, false),
            (M::LvmList, "lvm.list", A::Read, R::Viewer, false),
            (M::VgCreate, "lvm.vg_create", A::Mutate, R::Admin, false),
            (M::VgRemove, "lvm.vg_remove", A::Mutate, R::Admin, false),
            (M::LvCreate, "lvm.lv_create", A::Mutate, R::Admin, false),
            (M::LvExtend, "lvm.lv_extend", A::Mutate, R::Admin, false),
            (M::LvRemove, "lvm.lv_remove", A::Mutate, R::Admin, false),
            (M::StorageJobList, "storage.job_list", A::Read, R::Viewer, false),
            (M::StorageJobShow, "storage.job_show", A::Read, R::Viewer, false),
            (M::StorageJobWait, "storage.job_wait", A::Read, R::Viewer, false),
            (M::StorageJobCancel, "storage.job_cancel", A::Mutate, R::Admin, false),
            (M::SetupToken, "system.setup_token", A::Mutate, R::Admin, false),
            (M::WebAccountList, "web.account_list", A::Read, R::Viewer, false),
            (M::WebRoleSet, "web.role_set", A::Mutate, R::Admin, false),
            (M::WebTotpReset, "web.totp_reset", A::Mutate, R::Admin, false),
            (M::ApiKeyCreate, "web.api_key_create", A::Mutate, R::Admin, false),
            (M::ApiKeyList, "web.api_key_list", A::Read, R::Viewer, false),
            (M::ApiKeyRevoke, "web.api_key_revoke", A::Mutate, R::Admin, false),
            (M::MonitorStatus, "monitor.status", A::Read, R::Viewer, true),
            (M::MonitorRun, "monitor.run", A::Mutate, R::Operator, false),
            (M::MetricsRender, "monitor.metrics", A::Read, R::Metrics, false),
            (M::MonitorHistory, "monitor.history", A::Read, R::Viewer, true),
            (M::AlertList, "alert.list", A::Read, R::Viewer, true),
            (M::AlertShow, "alert.show", A::Read, R::Viewer, false),
            (M::AlertDismiss, "alert.dismiss", A::Mutate, R::Operator, false),
            (M::AlertSilence, "alert.silence", A::Mutate, R::Admin, false),
            (M::SilenceList, "alert.silence_list", A::Read, R::Viewer, false),
            (M::SilenceRemove, "alert.silence_remove", A::Mutate, R::Admin, false),
            (M::AlertPolicyList, "alert.policy_list", A::Read, R::Viewer, false),
            (M::AlertPolicySet, "alert.policy_set", A::Mutate, R::Admin, false),
            (M::ChannelAdd, "alert.channel_add", A::Mutate, R::Admin, false),
            (M::ChannelList, "alert.channel_list", A::Read, R::Viewer, false),
            (M::ChannelRemove, "alert.channel_remove", A::Mutate, R::Admin, false),
            (M::ChannelTest, "alert.channel_test", A::Mutate, R::Admin, false),
            (M::HealthScheduleList, "health.schedule_list", A::Read, R::Viewer, false),
            (M::HealthScheduleSet, "health.schedule_set", A::Mutate, R::Admin, false),
            (M::BackupRun, "backup.task.run", A::Mutate, R::Admin, false),
            (M::BackupCheck, "backup.task.check", A::Mutate, R::Admin, false),
            (M::BackupJobList, "backup.job_list", A::Read, R::Viewer, true),
            (M::BackupJobShow, "backup.job_show", A::Read, R::Viewer, true),
            (M::BackupJobWait, "backup.job_wait", A::Read, R::Viewer, false),
            (M::ConfigBackup, "config.backup", A::Mutate, R::Admin, false),
            (M::ConfigRestore, "config.restore", A::Mutate, R::Admin, false),
            (M::ConfigBackups, "config.backups", A::Read, R::Viewer, false),
            (M::ConfigRestoreLocal, "config.restore", A::Mutate, R::Admin, false),
            (M::BackupTargetCreate, "backup.target.create", A::Mutate, R::Admin, false),
            (M::BackupTargetList, "backup.target.list", A::Read, R::Viewer, false),
            (M::BackupTargetShow, "backup.target.show", A::Read, R::Viewer, false),
            (M::BackupTargetDelete, "backup.target.delete", A::Mutate, R::Admin, false),
            (M::BackupTargetLocks, "backup.target.locks", A::Read, R::Viewer, false),
            (M::BackupTaskCreate, "backup.task.create", A::Mutate, R::Admin, false),
            (M::BackupTaskModify, "backup.task.modify", A::Mutate, R::Admin, false),
            (M::BackupTaskDelete, "backup.task.delete", A::Mutate, R::Admin, false),
            (M::BackupTaskList, "backup.task.list", A::Read, R::Viewer, false),
            (M::BackupTaskShow, "backup.task.show", A::Read, R::Viewer, false),
            (M::BackupTaskPreview, "backup.task.preview", A::Read, R::Viewer, false),
            (M::BackupSnapshots, "backup.snapshots", A::Read, R::Viewer, false),
            (M::BackupLs, "backup.ls", A::Read, R::Operator, false),
        ];
        assert_eq!(pinned.len(), Method::ALL.len(), "every method is pinned");
        for &(m, name, access, role, page) in pinned {
            assert_eq!((m.audit_name(), m.access(), m.role(), m.page_may_watch()), (name, access, role, page), "{m:?}");
        }
    }

    #[test]
    fn only_reads_may_be_watched_and_viewers_change_nothing() {
        for m in Method::ALL {
            assert!(!(m.page_may_watch() && m.mutates()), "{m:?}: a page's own reads must not change anything");
            assert!(!(m.mutates() && m.role() == Role::Viewer), "{m:?}: a viewer changes nothing");
            // Reads above a viewer: an image's raw bytes, a backup's file names.
            let above_viewer = [Method::ArchiveRead, Method::BackupLs];
            assert_eq!(m.role() <= Role::Viewer, m.access() == Access::Read && !above_viewer.contains(m), "{m:?}");
            // A Prometheus server's key reads the metrics and nothing else.
            assert_eq!(m.role() == Role::Metrics, *m == Method::MetricsRender, "{m:?}");
        }
    }

    #[test]
    fn a_request_maps_to_its_method_by_value_where_it_matters() {
        let get = CorenasRequest::ImagingPolicy { set: None, dry_run: false };
        let set = CorenasRequest::ImagingPolicy { set: Some((true, vec![])), dry_run: true };
        assert_eq!(Method::of(&get), Method::ImagingPolicyRead);
        assert_eq!(Method::of(&set), Method::ImagingPolicySet);
        assert!(!Method::of(&get).mutates() && Method::of(&set).mutates());
        let e = WireError::not_allowed("no");
        assert!(matches!(refusal(&set, e), CorenasResponse::ImagingPolicy(Err(w)) if w.message == "no"));
    }
}
