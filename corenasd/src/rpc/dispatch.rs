//! The `Corenas` API's handlers, one short arm per method: the role check, the detaching and the
//! audit name come from the method table before a handler runs (`CorenasService`); a handler
//! calls domain code, and a change goes through `DaemonServer::change` so it is audited.

use super::{DaemonServer, json, web_admin};
use crate::accounts;
use crate::audit;
use crate::imaging;
use crate::storage::{datasets, pools, scrub, snapshots};
use crate::{alerts, monitor};
use crate::{devices, mounts, shares, storage};
use corenas_proto::acl::AclListing;
use corenas_proto::api::{
    AUDIT_PAGE_MAX, AclRemove, AclSet, AuditEntry, AuditFilter, AuditVerify, Change, Corenas, DeviceWipe, GroupAdd,
    GroupInfo, SmbAction, SystemStatus, UserAdd, UserInfo, UserMod,
};
use corenas_proto::helper::HelperOp;
use corenas_proto::imaging::{
    ArchiveEdit, ArchiveInfo, ArchiveList, ArchiveQuery, DeviceInfo, ImageCreate, ImagingPolicy, JobInfo, JobList,
    JobQuery, Priority,
};
use corenas_proto::monitor::{
    Alert, AlertClass, ChannelInfo, ChannelName, ChannelSpec, ClassPolicy, CollectorStatus, Delivery, DeliveryReport,
    HealthSchedule, HealthScheduleSpec, HistoryRange, MonitorStatus, Series, Silence, SilenceSpec,
};
use corenas_proto::mounts::{MountDef, MountInfo};
use corenas_proto::names::{
    DatasetName, DevicePath, GroupName, MountTarget, PoolName, ShareName, SharePath, SnapshotName, UserName,
};
use corenas_proto::secret::Password;
use corenas_proto::shares::{ShareConfig, ShareCreate, ShareInfo, ShareModify};
use corenas_proto::storage::{
    DatasetInfo, DatasetSpec, PoolInfo, PoolSpec, Retention, ScheduleInfo, SnapshotInfo, StorageJob, ZfsProperty,
};
use corenas_proto::{ErrorCode, WireError};
use std::sync::Arc;
use tarpc::context::Context;

impl Corenas for DaemonServer {
    async fn system_status(self, _: Context) -> Result<SystemStatus, WireError> {
        let (entries, head) = self.shared.with_state(|s| audit::head(s.conn()))?;
        let helper = match self.shared.helper.connect().await {
            Ok(h) => h.status().await,
            Err(e) => Err(e),
        };
        Ok(SystemStatus {
            version: env!("CARGO_PKG_VERSION").into(),
            protocol: corenas_proto::PROTOCOL_VERSION,
            daemon_pid: std::process::id(),
            daemon_uid: rustix::process::getuid().as_raw(),
            root: self.shared.root.clone(),
            state_db: self.shared.state_db.clone(),
            audit_entries: entries,
            audit_head: head,
            helper,
        })
    }

    async fn user_add(self, _: Context, req: UserAdd, dry_run: bool) -> Result<Change<UserInfo>, WireError> {
        let channel = accounts::plan::Channel::of(self.principal.channel);
        self.change(json(&req), dry_run, accounts::add_user(&self.shared, &req, channel, dry_run)).await
    }

    async fn user_del(
        self,
        _: Context,
        name: UserName,
        remove_home: bool,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "name": name, "remove_home": remove_home });
        self.change(args, dry_run, accounts::delete_user(&self.shared, &name, remove_home, dry_run)).await
    }

    async fn user_mod(
        self,
        _: Context,
        name: UserName,
        m: UserMod,
        dry_run: bool,
    ) -> Result<Change<UserInfo>, WireError> {
        let args = serde_json::json!({ "name": name, "change": m });
        let channel = accounts::plan::Channel::of(self.principal.channel);
        self.change(args, dry_run, accounts::modify_user(&self.shared, &name, &m, channel, dry_run)).await
    }

    async fn user_list(self, _: Context) -> Result<Vec<UserInfo>, WireError> {
        accounts::users(&self.shared).await
    }

    async fn user_show(self, _: Context, name: UserName) -> Result<UserInfo, WireError> {
        accounts::user(&self.shared, &name).await
    }

    async fn user_set_password(
        self,
        _: Context,
        name: UserName,
        password: Password,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "name": name, "password": password });
        self.one_op(args, dry_run, HelperOp::UserSetPassword { name, password }).await
    }

    async fn user_set_smb_password(
        self,
        _: Context,
        name: UserName,
        password: Password,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "name": name, "password": password });
        self.one_op(args, dry_run, HelperOp::SmbSetPassword { name, password }).await
    }

    async fn user_smb(
        self,
        _: Context,
        name: UserName,
        action: SmbAction,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "name": name, "action": action });
        let op = match action {
            SmbAction::Enable => HelperOp::SmbEnable { name },
            SmbAction::Disable => HelperOp::SmbDisable { name },
            SmbAction::Delete => HelperOp::SmbDelete { name },
        };
        self.one_op(args, dry_run, op).await
    }

    async fn password_generate(self, _: Context) -> Result<Password, WireError> {
        accounts::plan::generate_password()
    }

    async fn group_add(self, _: Context, req: GroupAdd, dry_run: bool) -> Result<Change<GroupInfo>, WireError> {
        self.change(json(&req), dry_run, accounts::add_group(&self.shared, &req, dry_run)).await
    }

    async fn group_del(self, _: Context, name: GroupName, dry_run: bool) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "name": name });
        self.change(args, dry_run, accounts::delete_group(&self.shared, &name, dry_run)).await
    }

    async fn group_mod(
        self,
        _: Context,
        name: GroupName,
        add: Vec<UserName>,
        remove: Vec<UserName>,
        dry_run: bool,
    ) -> Result<Change<GroupInfo>, WireError> {
        let args = serde_json::json!({ "name": name, "add": add, "remove": remove });
        self.change(args, dry_run, accounts::modify_group(&self.shared, &name, &add, &remove, dry_run)).await
    }

    async fn group_list(self, _: Context) -> Result<Vec<GroupInfo>, WireError> {
        accounts::groups(&self.shared).await
    }

    async fn acl_get(self, _: Context, path: SharePath) -> Result<AclListing, WireError> {
        self.shared.helper.connect().await?.acl_get(path).await
    }

    async fn acl_set(self, _: Context, req: AclSet, dry_run: bool) -> Result<Change<AclListing>, WireError> {
        let args = json(&req);
        self.change(args, dry_run, async {
            let h = self.shared.helper.connect().await?;
            let op =
                HelperOp::AclSet { path: req.path.clone(), entries: req.entries.clone(), recursive: req.recursive };
            let (steps, result) = h.run_acl_op(op, dry_run).await?;
            Ok(Change::planned(dry_run, steps, result))
        })
        .await
    }

    async fn acl_remove(self, _: Context, req: AclRemove, dry_run: bool) -> Result<Change<AclListing>, WireError> {
        let args = json(&req);
        self.change(args, dry_run, async {
            let h = self.shared.helper.connect().await?;
            let op =
                HelperOp::AclRemove { path: req.path.clone(), targets: req.targets.clone(), recursive: req.recursive };
            let (steps, result) = h.run_acl_op(op, dry_run).await?;
            Ok(Change::planned(dry_run, steps, result))
        })
        .await
    }

    async fn log_view(self, _: Context, before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>, WireError> {
        self.shared.with_state(|s| audit::view(s.conn(), before, limit.min(AUDIT_PAGE_MAX)))
    }

    async fn log_page(self, _: Context, after: i64, limit: u32) -> Result<Vec<AuditEntry>, WireError> {
        // One `log.export` entry per export (L4): its first page, or any page that does not
        // continue this principal's previous one.
        self.audit_transfer("audit log", after.into(), serde_json::json!({ "after": after }))?;
        let page = self.shared.with_state(|s| audit::page(s.conn(), after, limit.min(AUDIT_PAGE_MAX)))?;
        self.transfer_moved("audit log", page.last().map_or(after, |e| e.seq).into());
        Ok(page)
    }

    async fn log_search(
        self,
        _: Context,
        filter: AuditFilter,
        before: Option<i64>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, WireError> {
        filter.validate()?;
        self.shared.with_state(|s| audit::search(s.conn(), &filter, before, after, limit.min(AUDIT_PAGE_MAX)))
    }

    async fn log_verify(self, _: Context) -> Result<AuditVerify, WireError> {
        let v = self.shared.with_state(|s| audit::verify(s.conn()))?;
        crate::monitor::collectors::audit::log_broken(&v);
        Ok(v)
    }

    async fn image_create(self, _: Context, req: ImageCreate, dry_run: bool) -> Result<Change<JobInfo>, WireError> {
        let args = json(&req);
        self.change(args, dry_run, imaging::api::create(&self.shared, &req, self.principal.role, dry_run)).await
    }

    async fn image_list(self, _: Context, query: JobQuery) -> Result<JobList, WireError> {
        imaging::api::list(&self.shared, &query)
    }

    async fn image_show(self, _: Context, id: String) -> Result<JobInfo, WireError> {
        imaging::api::show(&self.shared, &id)
    }

    async fn image_wait(self, _: Context, id: String, after_version: u64, wait_ms: u32) -> Result<JobInfo, WireError> {
        imaging::api::wait(&self.shared, &id, after_version, wait_ms).await
    }

    async fn image_pause(self, _: Context, id: String, dry_run: bool) -> Result<Change<JobInfo>, WireError> {
        let args = serde_json::json!({ "job": id });
        self.change(args, dry_run, imaging::api::pause(&self.shared, &id, dry_run)).await
    }

    async fn image_resume(self, _: Context, id: String, dry_run: bool) -> Result<Change<JobInfo>, WireError> {
        let args = serde_json::json!({ "job": id });
        self.change(args, dry_run, imaging::api::resume(&self.shared, &id, dry_run)).await
    }

    async fn image_cancel(
        self,
        _: Context,
        id: String,
        delete_partial: Option<bool>,
        dry_run: bool,
    ) -> Result<Change<JobInfo>, WireError> {
        let args = serde_json::json!({ "job": id, "delete_partial": delete_partial });
        self.change(args, dry_run, imaging::api::cancel(&self.shared, &id, delete_partial, dry_run)).await
    }

    async fn image_retry(self, _: Context, id: String, dry_run: bool) -> Result<Change<JobInfo>, WireError> {
        let args = serde_json::json!({ "job": id });
        self.change(args, dry_run, imaging::api::retry(&self.shared, &id, dry_run)).await
    }

    async fn image_priority(
        self,
        _: Context,
        id: String,
        priority: Priority,
        dry_run: bool,
    ) -> Result<Change<JobInfo>, WireError> {
        let args = serde_json::json!({ "job": id, "priority": priority });
        self.change(args, dry_run, imaging::api::set_priority(&self.shared, &id, priority, dry_run)).await
    }

    async fn imaging_policy(
        self,
        _: Context,
        set: Option<(bool, Vec<DevicePath>)>,
        dry_run: bool,
    ) -> Result<Change<ImagingPolicy>, WireError> {
        match set {
            None => imaging::api::set_policy(&self.shared, None, dry_run),
            Some(set) => {
                let args = json(&set);
                self.change(args, dry_run, async { imaging::api::set_policy(&self.shared, Some(set), dry_run) }).await
            }
        }
    }

    async fn archive_list(self, _: Context, query: ArchiveQuery) -> Result<ArchiveList, WireError> {
        imaging::api::archive_list(&self.shared, &query)
    }

    async fn archive_show(self, _: Context, id: String) -> Result<ArchiveInfo, WireError> {
        imaging::api::archive_show(&self.shared, &id)
    }

    async fn archive_read(self, _: Context, id: String, offset: u64, length: u32) -> Result<Vec<u8>, WireError> {
        let info = imaging::api::archive_show(&self.shared, &id)?;
        // One `archive.read` entry per download (L4), not per chunk: see `audit_transfer`.
        self.audit_transfer(&id, offset.into(), serde_json::json!({ "archive": id, "offset": offset }))?;
        let bytes = tokio::task::spawn_blocking(move || imaging::api::read_image(&info, offset, length))
            .await
            .map_err(|e| WireError::internal(format!("reading the image failed: {e}")))??;
        self.transfer_moved(&id, i128::from(offset) + i128::try_from(bytes.len()).unwrap_or(i128::MAX));
        Ok(bytes)
    }

    async fn archive_verify(self, _: Context, id: String, dry_run: bool) -> Result<Change<JobInfo>, WireError> {
        let args = serde_json::json!({ "archive": id });
        self.change(args, dry_run, async { imaging::api::archive_verify(&self.shared, &id, dry_run) }).await
    }

    async fn archive_delete(self, _: Context, id: String, dry_run: bool) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "archive": id });
        self.change(args, dry_run, async { imaging::api::archive_delete(&self.shared, &id, dry_run) }).await
    }

    async fn archive_edit(
        self,
        _: Context,
        id: String,
        edit: ArchiveEdit,
        dry_run: bool,
    ) -> Result<Change<ArchiveInfo>, WireError> {
        let args = serde_json::json!({ "archive": id, "edit": edit });
        self.change(args, dry_run, async { imaging::api::archive_edit(&self.shared, &id, &edit, dry_run) }).await
    }

    async fn device_list(self, _: Context) -> Result<Vec<DeviceInfo>, WireError> {
        self.shared.drive_reads.get(imaging::media::list(&self.shared)).await
    }

    async fn device_eject(self, _: Context, device: DevicePath, dry_run: bool) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "device": device });
        if let Some(job) = self.shared.imaging.device_busy(device.as_str()) {
            let e = WireError::new(ErrorCode::Busy, format!("device {device} is in use by job {job}"));
            return self.change(args, dry_run, async { Err(e) }).await;
        }
        self.one_op(args, dry_run, HelperOp::DeviceEject { device }).await
    }

    async fn share_create(self, _: Context, req: ShareCreate, dry_run: bool) -> Result<Change<ShareInfo>, WireError> {
        let args = json(&req);
        let from_ctl = self.principal.channel == "ctl";
        self.change(args, dry_run, shares::create(&self.shared, &req, from_ctl, dry_run)).await
    }

    async fn share_modify(
        self,
        _: Context,
        name: ShareName,
        change: ShareModify,
        dry_run: bool,
    ) -> Result<Change<ShareInfo>, WireError> {
        let args = serde_json::json!({ "name": name, "change": change });
        let from_ctl = self.principal.channel == "ctl";
        self.change(args, dry_run, shares::modify(&self.shared, &name, &change, from_ctl, dry_run)).await
    }

    async fn share_delete(self, _: Context, name: ShareName, dry_run: bool) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "name": name });
        self.change(args, dry_run, shares::delete(&self.shared, &name, dry_run)).await
    }

    async fn share_list(self, _: Context) -> Result<Vec<ShareInfo>, WireError> {
        self.shared.with_state(|s| shares::store::list(s.conn()))
    }

    async fn share_show(self, _: Context, name: ShareName) -> Result<ShareInfo, WireError> {
        shares::show(&self.shared, &name)
    }

    async fn share_homes(self, _: Context, enabled: bool, dry_run: bool) -> Result<Change<bool>, WireError> {
        let args = serde_json::json!({ "enabled": enabled });
        self.change(args, dry_run, shares::set_homes(&self.shared, enabled, dry_run)).await
    }

    async fn share_config(self, _: Context) -> Result<ShareConfig, WireError> {
        shares::config(&self.shared).await
    }

    async fn share_apply(self, _: Context, dry_run: bool) -> Result<Change<()>, WireError> {
        self.change(serde_json::json!({}), dry_run, shares::apply(&self.shared, dry_run)).await
    }

    async fn mount_add(self, _: Context, def: MountDef, dry_run: bool) -> Result<Change<MountInfo>, WireError> {
        let args = json(&def);
        self.change(args, dry_run, mounts::add(&self.shared, &def, dry_run)).await
    }

    async fn mount_remove(self, _: Context, target: MountTarget, dry_run: bool) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "target": target });
        self.change(args, dry_run, mounts::remove_mount(&self.shared, &target, dry_run)).await
    }

    async fn mount_list(self, _: Context) -> Result<Vec<MountInfo>, WireError> {
        mounts::list_infos(&self.shared).await
    }

    async fn mount_status(self, _: Context, target: MountTarget) -> Result<MountInfo, WireError> {
        mounts::status(&self.shared, &target).await
    }

    async fn mount_reload(self, _: Context, dry_run: bool) -> Result<Change<Vec<MountInfo>>, WireError> {
        self.change(serde_json::json!({}), dry_run, mounts::reload(&self.shared, dry_run)).await
    }

    async fn device_inventory(self, _: Context) -> Result<Vec<corenas_proto::devices::DeviceInfo>, WireError> {
        devices::service::inventory(&self.shared).await
    }

    async fn device_show(
        self,
        _: Context,
        device: DevicePath,
    ) -> Result<corenas_proto::devices::DeviceInfo, WireError> {
        devices::service::show(&self.shared, &device).await
    }

    async fn device_events(
        self,
        _: Context,
        after: u64,
        wait_ms: u32,
    ) -> Result<corenas_proto::devices::DeviceEvents, WireError> {
        let log = Arc::clone(&self.shared.device_events);
        let wait = std::time::Duration::from_millis(u64::from(wait_ms.min(devices::events::MAX_WAIT_MS)));
        async move { Ok(log.wait_since(after, devices::events::MAX_ANSWER, std::time::Instant::now() + wait).await) }
            .await
    }

    async fn device_erase_support(
        self,
        _: Context,
        device: DevicePath,
    ) -> Result<corenas_proto::devices::EraseSupport, WireError> {
        devices::service::erase_support(&self.shared, &device).await
    }

    async fn device_smart(
        self,
        _: Context,
        device: DevicePath,
    ) -> Result<corenas_proto::devices::SmartReport, WireError> {
        devices::service::smart(&self.shared, &device).await
    }

    async fn device_smart_history(
        self,
        _: Context,
        device: DevicePath,
        limit: u32,
    ) -> Result<Vec<corenas_proto::devices::SmartReport>, WireError> {
        devices::service::smart_history(&self.shared, &device, limit)
    }

    async fn device_selftest(
        self,
        _: Context,
        device: DevicePath,
        long: bool,
        dry_run: bool,
    ) -> Result<Change<StorageJob>, WireError> {
        let args = serde_json::json!({ "device": device, "long": long });
        self.change(args, dry_run, devices::service::selftest(&self.shared, &device, long, dry_run)).await
    }

    async fn device_wipe(self, _: Context, req: DeviceWipe, dry_run: bool) -> Result<Change<StorageJob>, WireError> {
        let args = json(&req);
        self.change(args, dry_run, devices::service::wipe(&self.shared, req, dry_run)).await
    }

    async fn pool_create(self, _: Context, spec: PoolSpec, dry_run: bool) -> Result<Change<PoolInfo>, WireError> {
        let args = json(&spec);
        self.change(args, dry_run, pools::create(&self.shared, &spec, dry_run)).await
    }

    async fn pool_list(self, _: Context) -> Result<Vec<PoolInfo>, WireError> {
        self.shared.pool_reads.get(pools::list(&self.shared)).await
    }

    async fn pool_show(self, _: Context, name: PoolName) -> Result<PoolInfo, WireError> {
        pools::show(&self.shared, &name).await
    }

    async fn pool_destroy(
        self,
        _: Context,
        name: PoolName,
        confirm: String,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "name": name });
        self.change(args, dry_run, pools::destroy(&self.shared, &name, &confirm, dry_run)).await
    }

    async fn pool_import(self, _: Context, name: PoolName, dry_run: bool) -> Result<Change<PoolInfo>, WireError> {
        let args = serde_json::json!({ "name": name });
        self.change(args, dry_run, pools::import(&self.shared, &name, dry_run)).await
    }

    async fn pool_export(self, _: Context, name: PoolName, dry_run: bool) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "name": name });
        self.change(args, dry_run, pools::export(&self.shared, &name, dry_run)).await
    }

    async fn pool_scrub(self, _: Context, name: PoolName, dry_run: bool) -> Result<Change<StorageJob>, WireError> {
        let args = serde_json::json!({ "name": name });
        self.change(args, dry_run, scrub::scrub(&self.shared, &name, dry_run)).await
    }

    async fn pool_scrub_stop(self, _: Context, name: PoolName, dry_run: bool) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "name": name });
        self.change(args, dry_run, scrub::scrub_stop(&self.shared, &name, dry_run)).await
    }

    async fn dataset_create(
        self,
        _: Context,
        spec: DatasetSpec,
        dry_run: bool,
    ) -> Result<Change<DatasetInfo>, WireError> {
        let args = json(&spec);
        self.change(args, dry_run, datasets::dataset_create(&self.shared, &spec, dry_run)).await
    }

    async fn dataset_list(self, _: Context, pool: PoolName) -> Result<Vec<DatasetInfo>, WireError> {
        datasets::dataset_list(&self.shared, &pool).await
    }

    async fn dataset_set(
        self,
        _: Context,
        name: DatasetName,
        properties: Vec<ZfsProperty>,
        dry_run: bool,
    ) -> Result<Change<DatasetInfo>, WireError> {
        let args = serde_json::json!({ "name": name, "properties": properties });
        self.change(args, dry_run, datasets::dataset_set(&self.shared, &name, &properties, dry_run)).await
    }

    async fn dataset_destroy(
        self,
        _: Context,
        name: DatasetName,
        recursive: bool,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "name": name, "recursive": recursive });
        self.change(args, dry_run, datasets::dataset_destroy(&self.shared, &name, recursive, dry_run)).await
    }

    async fn snapshot_create(
        self,
        _: Context,
        dataset: DatasetName,
        name: Option<SnapshotName>,
        dry_run: bool,
    ) -> Result<Change<SnapshotInfo>, WireError> {
        let args = serde_json::json!({ "dataset": dataset, "name": name });
        self.change(args, dry_run, snapshots::snapshot_create(&self.shared, &dataset, name, dry_run)).await
    }

    async fn snapshot_list(self, _: Context, dataset: DatasetName) -> Result<Vec<SnapshotInfo>, WireError> {
        snapshots::snapshot_list(&self.shared, &dataset).await
    }

    async fn snapshot_destroy(
        self,
        _: Context,
        dataset: DatasetName,
        name: SnapshotName,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "dataset": dataset, "name": name });
        self.change(args, dry_run, snapshots::snapshot_destroy(&self.shared, &dataset, &name, dry_run)).await
    }

    async fn snapshot_rollback(
        self,
        _: Context,
        dataset: DatasetName,
        name: SnapshotName,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "dataset": dataset, "name": name });
        self.change(args, dry_run, snapshots::snapshot_rollback(&self.shared, &dataset, &name, dry_run)).await
    }

    async fn schedule_set(
        self,
        _: Context,
        dataset: DatasetName,
        keep: Retention,
        dry_run: bool,
    ) -> Result<Change<ScheduleInfo>, WireError> {
        let args = serde_json::json!({ "dataset": dataset, "keep": keep });
        self.change(args, dry_run, snapshots::schedule_set(&self.shared, &dataset, keep, dry_run)).await
    }

    async fn schedule_list(self, _: Context) -> Result<Vec<ScheduleInfo>, WireError> {
        snapshots::schedule_list(&self.shared)
    }

    async fn schedule_run(self, _: Context, dry_run: bool) -> Result<Change<Vec<String>>, WireError> {
        self.change(serde_json::json!({}), dry_run, snapshots::schedule_run(&self.shared, dry_run)).await
    }

    async fn raid_list(self, _: Context) -> Result<Vec<corenas_proto::raid::MdArrayInfo>, WireError> {
        storage::volumes::md_list(&self.shared).await
    }

    async fn raid_show(
        self,
        _: Context,
        name: corenas_proto::raid::MdName,
    ) -> Result<corenas_proto::raid::MdArrayInfo, WireError> {
        storage::volumes::md_show(&self.shared, &name).await
    }

    async fn raid_create(
        self,
        _: Context,
        spec: corenas_proto::raid::MdCreateSpec,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::raid::MdChange>, WireError> {
        let args = json(&spec);
        self.change(args, dry_run, storage::volumes::md_create(&self.shared, &spec, dry_run)).await
    }

    async fn raid_member(
        self,
        _: Context,
        name: corenas_proto::raid::MdName,
        device: DevicePath,
        op: corenas_proto::raid::MdMemberOp,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::raid::MdChange>, WireError> {
        let args = serde_json::json!({ "name": name, "device": device, "op": op });
        let run = storage::volumes::md_member(&self.shared, &name, &device, &op, dry_run);
        self.change(args, dry_run, run).await
    }

    async fn raid_destroy(
        self,
        _: Context,
        name: corenas_proto::raid::MdName,
        confirm: String,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "name": name });
        let run = storage::volumes::md_destroy(&self.shared, &name, &confirm, dry_run);
        self.change(args, dry_run, run).await
    }

    async fn lvm_list(self, _: Context) -> Result<corenas_proto::lvm::LvmListing, WireError> {
        storage::volumes::lvm_list(&self.shared).await
    }

    async fn vg_create(
        self,
        _: Context,
        spec: corenas_proto::lvm::VgCreateSpec,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::lvm::VgInfo>, WireError> {
        let args = json(&spec);
        self.change(args, dry_run, storage::volumes::vg_create(&self.shared, &spec, dry_run)).await
    }

    async fn vg_remove(
        self,
        _: Context,
        vg: corenas_proto::lvm::VgName,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "vg": vg });
        self.change(args, dry_run, storage::volumes::vg_remove(&self.shared, &vg, dry_run)).await
    }

    async fn lv_create(
        self,
        _: Context,
        spec: corenas_proto::lvm::LvCreateSpec,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::lvm::LvInfo>, WireError> {
        let args = json(&spec);
        self.change(args, dry_run, storage::volumes::lv_create(&self.shared, &spec, dry_run)).await
    }

    async fn lv_extend(
        self,
        _: Context,
        spec: corenas_proto::lvm::LvExtendSpec,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::lvm::LvInfo>, WireError> {
        let args = json(&spec);
        self.change(args, dry_run, storage::volumes::lv_extend(&self.shared, &spec, dry_run)).await
    }

    async fn lv_remove(
        self,
        _: Context,
        vg: corenas_proto::lvm::VgName,
        lv: corenas_proto::lvm::LvName,
        confirm: String,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "vg": vg, "lv": lv });
        let run = storage::volumes::lv_remove(&self.shared, &vg, &lv, &confirm, dry_run);
        self.change(args, dry_run, run).await
    }

    async fn storage_job_list(self, _: Context) -> Result<Vec<StorageJob>, WireError> {
        let mut all = self.shared.storage_jobs.live();
        let stored = self.shared.with_state(|s| storage::jobs::stored(s.conn()))?;
        let live: std::collections::BTreeSet<String> = all.iter().map(|j| j.id.clone()).collect();
        all.extend(stored.into_iter().filter(|j| !live.contains(&j.id)));
        all.sort_by(|a, b| b.started.cmp(&a.started));
        Ok(all)
    }

    async fn storage_job_show(self, _: Context, id: String) -> Result<StorageJob, WireError> {
        if let Some(j) = self.shared.storage_jobs.get(&id) {
            return Ok(j);
        }
        self.shared
            .with_state(|s| storage::jobs::find(s.conn(), &id))?
            .ok_or_else(|| WireError::not_found(format!("no storage job {id}")))
    }

    async fn storage_job_wait(
        self,
        _: Context,
        id: String,
        after_version: u64,
        wait_ms: u32,
    ) -> Result<StorageJob, WireError> {
        let wait = std::time::Duration::from_millis(u64::from(wait_ms.min(30_000)));
        match self.shared.storage_jobs.wait(&id, after_version, wait).await {
            Some(j) => Ok(j),
            None => self
                .shared
                .with_state(|s| storage::jobs::find(s.conn(), &id))?
                .ok_or_else(|| WireError::not_found(format!("no storage job {id}"))),
        }
    }

    async fn storage_job_cancel(self, _: Context, id: String, dry_run: bool) -> Result<Change<StorageJob>, WireError> {
        let args = serde_json::json!({ "id": id });
        self.change(args, dry_run, async {
            let j = if dry_run {
                self.shared
                    .storage_jobs
                    .get(&id)
                    .ok_or_else(|| WireError::not_found(format!("no running storage job {id}")))?
            } else {
                self.shared.storage_jobs.cancel(&id)?
            };
            Ok(Change::planned(dry_run, Vec::new(), Some(j)))
        })
        .await
    }

    async fn setup_token(self, _: Context) -> Result<Option<corenas_proto::web::SetupToken>, WireError> {
        web_admin::setup_token(&self).await
    }
    async fn web_account_list(self, _: Context) -> Result<Vec<corenas_proto::web::WebAccount>, WireError> {
        web_admin::account_list(&self).await
    }
    async fn web_role_set(
        self,
        _: Context,
        user: UserName,
        role: Option<corenas_proto::web::Role>,
        dry_run: bool,
    ) -> Result<Change<Option<corenas_proto::web::WebAccount>>, WireError> {
        web_admin::role_set(&self, user, role, dry_run).await
    }
    async fn web_totp_reset(self, _: Context, user: UserName, dry_run: bool) -> Result<Change<()>, WireError> {
        web_admin::totp_reset(&self, user, dry_run).await
    }
    async fn api_key_create(
        self,
        _: Context,
        label: corenas_proto::names::FullName,
        role: corenas_proto::web::Role,
        days: u16,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::web::ApiKeyGrant>, WireError> {
        web_admin::api_key_create(&self, label, role, days, dry_run).await
    }
    async fn api_key_list(self, _: Context) -> Result<Vec<corenas_proto::web::ApiKeyInfo>, WireError> {
        web_admin::api_key_list(&self).await
    }
    async fn api_key_revoke(self, _: Context, id: String, dry_run: bool) -> Result<Change<()>, WireError> {
        web_admin::api_key_revoke(&self, id, dry_run).await
    }

    async fn monitor_status(self, _: Context) -> Result<MonitorStatus, WireError> {
        monitor::status(&self.shared)
    }
    async fn monitor_run(self, _: Context, dry_run: bool) -> Result<Change<Vec<CollectorStatus>>, WireError> {
        self.change(serde_json::json!({}), dry_run, monitor::run_now(&self.shared, dry_run)).await
    }
    async fn metrics_render(self, _: Context) -> Result<String, WireError> {
        monitor::metrics::render(&self.shared)
    }
    async fn monitor_history(self, _: Context, prefix: String, range: HistoryRange) -> Result<Vec<Series>, WireError> {
        monitor::history::query(&self.shared, &prefix, range)
    }
    async fn alert_list(self, _: Context, include_resolved: bool) -> Result<Vec<Alert>, WireError> {
        alerts::list(&self.shared, include_resolved)
    }
    async fn alert_show(self, _: Context, id: String) -> Result<Alert, WireError> {
        alerts::show(&self.shared, &id)
    }
    async fn alert_dismiss(self, _: Context, id: String, dry_run: bool) -> Result<Change<Alert>, WireError> {
        let args = serde_json::json!({ "id": id });
        let by = self.principal.name.clone();
        self.change(args, dry_run, async { alerts::dismiss(&self.shared, &id, &by, dry_run) }).await
    }
    async fn alert_silence(self, _: Context, spec: SilenceSpec, dry_run: bool) -> Result<Change<Silence>, WireError> {
        let by = self.principal.name.clone();
        self.change(json(&spec), dry_run, async { alerts::silences::add(&self.shared, &spec, &by, dry_run) }).await
    }
    async fn silence_list(self, _: Context) -> Result<Vec<Silence>, WireError> {
        alerts::silences::list(&self.shared)
    }
    async fn silence_remove(self, _: Context, id: String, dry_run: bool) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "id": id });
        self.change(args, dry_run, async { alerts::silences::remove(&self.shared, &id, dry_run) }).await
    }
    async fn alert_policy_list(self, _: Context) -> Result<Vec<ClassPolicy>, WireError> {
        alerts::policy::list(&self.shared)
    }
    async fn alert_policy_set(
        self,
        _: Context,
        class: AlertClass,
        delivery: Delivery,
        dry_run: bool,
    ) -> Result<Change<ClassPolicy>, WireError> {
        let args = serde_json::json!({ "class": class, "delivery": delivery });
        self.change(args, dry_run, async { alerts::policy::set(&self.shared, class, delivery, dry_run) }).await
    }
    async fn channel_add(self, _: Context, spec: ChannelSpec, dry_run: bool) -> Result<Change<ChannelInfo>, WireError> {
        // The spec's password serializes as "<redacted>": it never reaches the audit log.
        self.change(json(&spec), dry_run, async { alerts::channels::add(&self.shared, &spec, dry_run) }).await
    }
    async fn channel_list(self, _: Context) -> Result<Vec<ChannelInfo>, WireError> {
        alerts::channels::list(&self.shared)
    }
    async fn channel_remove(self, _: Context, name: ChannelName, dry_run: bool) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "name": name });
        self.change(args, dry_run, async { alerts::channels::remove(&self.shared, &name, dry_run) }).await
    }
    async fn channel_test(
        self,
        _: Context,
        name: ChannelName,
        dry_run: bool,
    ) -> Result<Change<DeliveryReport>, WireError> {
        let args = serde_json::json!({ "name": name });
        // Boxed: a mail conversation (lettre, rustls) is a large future, and the dispatcher's
        // future is as large as its largest arm.
        self.change(args, dry_run, Box::pin(alerts::channels::test(&self.shared, &name, dry_run))).await
    }
    async fn health_schedule_list(self, _: Context) -> Result<Vec<HealthSchedule>, WireError> {
        monitor::schedule::list(&self.shared)
    }
    async fn health_schedule_set(
        self,
        _: Context,
        spec: HealthScheduleSpec,
        dry_run: bool,
    ) -> Result<Change<HealthSchedule>, WireError> {
        self.change(json(&spec), dry_run, Box::pin(monitor::schedule::set(&self.shared, &spec, dry_run))).await
    }

    async fn backup_target_create(
        self,
        _: Context,
        spec: corenas_proto::backup::TargetSpec,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::backup::TargetInfo>, WireError> {
        // The spec's secrets serialize as "<redacted>": the audit never holds one.
        self.change(json(&spec), dry_run, Box::pin(crate::backups::targets::create(&self.shared, &spec, dry_run))).await
    }

    async fn backup_target_list(self, _: Context) -> Result<Vec<corenas_proto::backup::TargetInfo>, WireError> {
        crate::backups::targets::list(&self.shared)
    }

    async fn backup_target_show(
        self,
        _: Context,
        name: corenas_proto::backup::BackupName,
    ) -> Result<corenas_proto::backup::TargetInfo, WireError> {
        crate::backups::targets::show(&self.shared, &name)
    }

    async fn backup_target_delete(
        self,
        _: Context,
        name: corenas_proto::backup::BackupName,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "name": name });
        self.change(args, dry_run, Box::pin(crate::backups::targets::delete(&self.shared, &name, dry_run))).await
    }

    async fn backup_target_locks(
        self,
        _: Context,
        name: corenas_proto::backup::BackupName,
    ) -> Result<Vec<corenas_proto::backup::RepoLock>, WireError> {
        Box::pin(crate::backups::targets::locks(&self.shared, &name)).await
    }

    async fn backup_task_create(
        self,
        _: Context,
        spec: corenas_proto::backup::TaskSpec,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::backup::TaskChange>, WireError> {
        self.change(json(&spec), dry_run, Box::pin(crate::backups::tasks::create(&self.shared, &spec, dry_run))).await
    }

    async fn backup_task_modify(
        self,
        _: Context,
        name: corenas_proto::backup::BackupName,
        change: corenas_proto::backup::TaskModify,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::backup::TaskChange>, WireError> {
        let args = serde_json::json!({ "name": name, "change": change });
        self.change(args, dry_run, Box::pin(crate::backups::tasks::modify(&self.shared, &name, &change, dry_run))).await
    }

    async fn backup_task_delete(
        self,
        _: Context,
        name: corenas_proto::backup::BackupName,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        let args = serde_json::json!({ "name": name });
        self.change(args, dry_run, Box::pin(crate::backups::tasks::delete(&self.shared, &name, dry_run))).await
    }

    async fn backup_task_list(self, _: Context) -> Result<Vec<corenas_proto::backup::TaskInfo>, WireError> {
        crate::backups::tasks::list(&self.shared)
    }

    async fn backup_task_show(
        self,
        _: Context,
        name: corenas_proto::backup::BackupName,
    ) -> Result<corenas_proto::backup::TaskInfo, WireError> {
        crate::backups::tasks::show(&self.shared, &name)
    }

    async fn backup_task_preview(
        self,
        _: Context,
        name: corenas_proto::backup::BackupName,
        keep: corenas_proto::backup::KeepPolicy,
    ) -> Result<corenas_proto::backup::RetentionPreview, WireError> {
        Box::pin(crate::backups::tasks::preview(&self.shared, &name, &keep)).await
    }

    async fn backup_snapshots(
        self,
        _: Context,
        task: corenas_proto::backup::BackupName,
    ) -> Result<Vec<corenas_proto::backup::SnapshotInfo>, WireError> {
        Box::pin(crate::backups::tasks::snapshots(&self.shared, &task)).await
    }

    async fn backup_ls(
        self,
        _: Context,
        task: corenas_proto::backup::BackupName,
        snapshot: corenas_proto::backup::ResticSnapshotId,
        path: corenas_proto::backup::SnapshotPath,
    ) -> Result<corenas_proto::backup::SnapshotListing, WireError> {
        Box::pin(crate::backups::tasks::ls(&self.shared, &task, &snapshot, &path)).await
    }

    async fn config_backup(
        self,
        _: Context,
        passphrase: corenas_proto::config_backup::ArchivePassphrase,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::config_backup::ConfigArchive>, WireError> {
        let run = async {
            let mut archive = crate::config_backup::create(&self.shared, &passphrase).await?;
            if dry_run {
                archive.bytes.clear();
            }
            Ok(Change::planned(dry_run, Vec::new(), Some(archive)))
        };
        self.change(serde_json::json!({}), dry_run, Box::pin(run)).await
    }

    async fn config_restore(
        self,
        _: Context,
        archive: Vec<u8>,
        passphrase: corenas_proto::config_backup::ArchivePassphrase,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::config_backup::RestorePreview>, WireError> {
        // Which file, not what is in it: the archive holds hashes.
        let args = serde_json::json!({
            "archive_sha256": crate::config_backup::archive::sha256_hex(&archive),
            "archive_bytes": archive.len(),
        });
        self.change(args, dry_run, Box::pin(crate::config_backup::restore(&self.shared, archive, &passphrase, dry_run)))
            .await
    }

    async fn config_backups(self, _: Context) -> Result<Vec<corenas_proto::config_backup::LocalCopy>, WireError> {
        crate::config_backup::daily::list(&self.shared)
    }

    async fn config_restore_local(
        self,
        _: Context,
        name: String,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::config_backup::RestorePreview>, WireError> {
        let args = serde_json::json!({ "local": name });
        let run = async {
            let (bytes, key) = crate::config_backup::daily::read_copy(&self.shared, &name)?;
            crate::config_backup::restore(&self.shared, bytes, &key, dry_run).await
        };
        self.change(args, dry_run, Box::pin(run)).await
    }

    async fn backup_run(
        self,
        _: Context,
        task: corenas_proto::backup::BackupName,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::backup::BackupJobInfo>, WireError> {
        let args = serde_json::json!({ "task": task });
        let run = crate::backups::run::start(&self.shared, &task, dry_run, crate::backups::run::Trigger::Request);
        self.change(args, dry_run, Box::pin(run)).await
    }

    async fn backup_check(
        self,
        _: Context,
        task: corenas_proto::backup::BackupName,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::backup::BackupJobInfo>, WireError> {
        let args = serde_json::json!({ "task": task });
        let run = crate::backups::check::start(&self.shared, &task, dry_run, crate::backups::run::Trigger::Request);
        self.change(args, dry_run, Box::pin(run)).await
    }

    async fn backup_job_list(
        self,
        _: Context,
        task: Option<corenas_proto::backup::BackupName>,
        limit: u32,
    ) -> Result<Vec<corenas_proto::backup::BackupJobInfo>, WireError> {
        crate::backups::run::list(&self.shared, task.as_ref(), limit)
    }

    async fn backup_job_show(
        self,
        _: Context,
        id: corenas_proto::backup::BackupJobId,
    ) -> Result<corenas_proto::backup::BackupJobInfo, WireError> {
        crate::backups::run::show(&self.shared, &id)
    }

    async fn backup_job_wait(
        self,
        _: Context,
        id: corenas_proto::backup::BackupJobId,
        after_version: u64,
        wait_ms: u32,
    ) -> Result<corenas_proto::backup::BackupJobInfo, WireError> {
        crate::backups::run::wait(&self.shared, &id, after_version, wait_ms).await
    }
}
