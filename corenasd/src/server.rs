//! The `Corenas` service for one connection. Thin handlers: authorize at one choke point
//! (`guard`), call the module logic, audit every mutating request and every refusal.

use crate::audit::{self, AuditRecord};
use crate::authz::{self, Access, Principal};
use crate::daemon::Daemon;
use crate::iam;
use crate::imaging;
use crate::storage::pools;
use crate::{devices, mounts, shares, storage};
use corenas_proto::acl::AclListing;
use corenas_proto::api::{
    AUDIT_PAGE_MAX, AclRemove, AclSet, AuditEntry, AuditFilter, AuditVerify, Change, Corenas, DeviceWipe, GroupAdd,
    GroupInfo, SmbAction, SystemStatus, UserAdd, UserInfo, UserMod,
};
use corenas_proto::helper::{HelperOp, Step};
use corenas_proto::imaging::{
    ArchiveEdit, ArchiveInfo, ArchiveList, ArchiveQuery, DeviceInfo, ImageCreate, ImagingPolicy, JobInfo, JobList,
    JobQuery, Priority,
};
use corenas_proto::mounts::{MountDef, MountInfo};
use corenas_proto::names::{
    DatasetName, DevicePath, GroupName, ManagedGid, MountTarget, PoolName, ShareName, SharePath, SnapshotName, UserName,
};
use corenas_proto::secret::Password;
use corenas_proto::shares::{ShareConfig, ShareCreate, ShareInfo, ShareModify};
use corenas_proto::storage::{
    DatasetInfo, DatasetSpec, PoolInfo, PoolSpec, Retention, ScheduleInfo, SnapshotInfo, StorageJob, ZfsProperty,
};
use corenas_proto::{ErrorCode, WireError};
use std::sync::Arc;
use tarpc::context::Context;

#[derive(Clone)]
pub struct DaemonServer {
    pub shared: Arc<Daemon>,
    pub principal: Principal,
}

fn result_word(r: &Result<(), &WireError>, dry_run: bool) -> &'static str {
    match r {
        Ok(()) if dry_run => "dry-run",
        Ok(()) => "ok",
        Err(e) if e.code == ErrorCode::NotAllowed => "refused",
        Err(_) => "failed",
    }
}

impl DaemonServer {
    pub(crate) fn guard(&self, method: &str, access: Access) -> Result<(), WireError> {
        let r = authz::check(&self.principal, method, access);
        if let Err(e) = &r {
            let args = serde_json::json!({});
            let _ = self.shared.audit(&self.record(method, &args, "refused", Some(e.code.as_str())));
        }
        r
    }

    fn record<'a>(
        &'a self,
        action: &'a str,
        args: &'a serde_json::Value,
        result: &'a str,
        code: Option<&'a str>,
    ) -> AuditRecord<'a> {
        AuditRecord {
            principal: &self.principal.name,
            channel: self.principal.channel,
            peer_uid: self.principal.peer_uid,
            action,
            args,
            result,
            error_code: code,
        }
    }

    /// Every mutating method goes through here: role check, run, audit (dry runs and failures
    /// too). If the audit entry cannot be written after a real change, the caller is told.
    pub(crate) async fn mutate<T, F>(
        &self,
        action: &str,
        args: serde_json::Value,
        dry_run: bool,
        run: F,
    ) -> Result<Change<T>, WireError>
    where
        F: std::future::Future<Output = Result<Change<T>, WireError>>,
    {
        self.guard(action, Access::Mutate)?;
        if !dry_run {
            self.shared.state_writable()?;
        }
        // A bug that panics mid-request is still audited (as failed), never silently dropped.
        let r = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await.unwrap_or_else(|_| {
            Err(WireError::internal("the request failed unexpectedly (a bug); see the corenasd log"))
        });
        let code = r.as_ref().err().map(|e| e.code.as_str());
        let word = result_word(&r.as_ref().map(|_| ()), dry_run);
        self.shared.audit(&self.record(action, &args, word, code))?;
        r
    }

    /// A request that is exactly one helper operation with nothing to return.
    async fn one_op(
        &self,
        action: &str,
        args: serde_json::Value,
        dry_run: bool,
        op: HelperOp,
    ) -> Result<Change<()>, WireError> {
        self.mutate(action, args, dry_run, async {
            let h = self.shared.helper.connect().await?;
            let steps = h.run_ops(vec![op], dry_run).await?;
            Ok(change(dry_run, steps, None))
        })
        .await
    }

    pub(crate) async fn read<T, F>(&self, method: &str, run: F) -> Result<T, WireError>
    where
        F: std::future::Future<Output = Result<T, WireError>>,
    {
        self.guard(method, Access::Read)?;
        run.await
    }
}

/// Mutating requests under way; corenasd waits for them before it exits.
pub static IN_FLIGHT: std::sync::LazyLock<tokio_util::task::TaskTracker> =
    std::sync::LazyLock::new(tokio_util::task::TaskTracker::new);

/// Runs a mutating request to completion in its own task. tarpc drops a handler when the
/// client goes away or the deadline passes; a change that has started must still finish and be
/// audited, so it must not live in the handler's future.
async fn detach<T: Send + 'static>(
    fut: impl std::future::Future<Output = Result<T, WireError>> + Send + 'static,
) -> Result<T, WireError> {
    IN_FLIGHT.spawn(fut).await.unwrap_or_else(|e| Err(WireError::internal(format!("request task failed: {e}"))))
}

fn change<T>(dry_run: bool, steps: Vec<Step>, result: Option<T>) -> Change<T> {
    Change { dry_run, steps, result, generated_password: None, warnings: vec![] }
}

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

impl Corenas for DaemonServer {
    async fn system_status(self, _: Context) -> Result<SystemStatus, WireError> {
        self.read("system.status", async {
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
        })
        .await
    }

    async fn user_add(self, _: Context, req: UserAdd, dry_run: bool) -> Result<Change<UserInfo>, WireError> {
        detach(async move {
            let args = json(&req);
            self.mutate("user.add", args, dry_run, async {
                if req.password.is_some() && req.generate_password {
                    return Err(WireError::invalid("password", "give a password or ask for a generated one, not both"));
                }
                let generated = if req.generate_password { Some(iam::generate_password()?) } else { None };
                let password = req.password.clone().or_else(|| generated.clone());
                let h = self.shared.helper.connect().await?;
                let acc = h.accounts().await?;
                let retired = self.shared.with_state(|s| s.retired_ids())?;
                let op = iam::user_add_ops(&acc, &req, password, &retired)?;
                let HelperOp::UserCreate(new_user) = &op else {
                    return Err(WireError::internal("user add planned something other than a user creation"));
                };
                let uid = new_user.uid.get();
                let steps = h.run_ops(vec![op], dry_run).await?;
                let result = if dry_run {
                    None
                } else {
                    self.shared.with_state(|s| s.record_account(req.name.as_str(), false, req.kind.as_str(), uid))?;
                    iam::user_info(&h.accounts().await?, req.name.as_str())
                };
                Ok(Change {
                    dry_run,
                    steps,
                    result,
                    generated_password: if dry_run { None } else { generated },
                    warnings: vec![],
                })
            })
            .await
        })
        .await
    }

    async fn user_del(
        self,
        _: Context,
        name: UserName,
        remove_home: bool,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "name": name, "remove_home": remove_home });
            self.mutate("user.del", args, dry_run, async {
                let h = self.shared.helper.connect().await?;
                let ops = iam::user_del_ops(&h.accounts().await?, &name, remove_home)?;
                let steps = h.run_ops(ops, dry_run).await?;
                if !dry_run {
                    self.shared.with_state(|s| s.forget_account(name.as_str(), false).map(|_| ()))?;
                }
                Ok(change(dry_run, steps, None))
            })
            .await
        })
        .await
    }

    async fn user_mod(
        self,
        _: Context,
        name: UserName,
        m: UserMod,
        dry_run: bool,
    ) -> Result<Change<UserInfo>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "name": name, "change": m });
            self.mutate("user.mod", args, dry_run, async {
                let h = self.shared.helper.connect().await?;
                let ops = iam::user_mod_ops(&h.accounts().await?, &name, &m)?;
                let steps = h.run_ops(ops, dry_run).await?;
                let result = if dry_run { None } else { iam::user_info(&h.accounts().await?, name.as_str()) };
                Ok(change(dry_run, steps, result))
            })
            .await
        })
        .await
    }

    async fn user_list(self, _: Context) -> Result<Vec<UserInfo>, WireError> {
        self.read("user.list", async {
            let h = self.shared.helper.connect().await?;
            Ok(iam::users(&h.accounts().await?))
        })
        .await
    }

    async fn user_show(self, _: Context, name: UserName) -> Result<UserInfo, WireError> {
        self.read("user.show", async {
            let h = self.shared.helper.connect().await?;
            let acc = h.accounts().await?;
            iam::user_info(&acc, name.as_str()).ok_or_else(|| iam::unmanaged_user(&acc, name.as_str()))
        })
        .await
    }

    async fn user_set_password(
        self,
        _: Context,
        name: UserName,
        password: Password,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "name": name, "password": password });
            self.one_op("user.set_password", args, dry_run, HelperOp::UserSetPassword { name, password }).await
        })
        .await
    }

    async fn user_set_smb_password(
        self,
        _: Context,
        name: UserName,
        password: Password,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "name": name, "password": password });
            self.one_op("user.set_smb_password", args, dry_run, HelperOp::SmbSetPassword { name, password }).await
        })
        .await
    }

    async fn user_smb(
        self,
        _: Context,
        name: UserName,
        action: SmbAction,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "name": name, "action": action });
            let op = match action {
                SmbAction::Enable => HelperOp::SmbEnable { name },
                SmbAction::Disable => HelperOp::SmbDisable { name },
                SmbAction::Delete => HelperOp::SmbDelete { name },
            };
            self.one_op("user.smb", args, dry_run, op).await
        })
        .await
    }

    async fn password_generate(self, _: Context) -> Result<Password, WireError> {
        self.read("password.generate", async { iam::generate_password() }).await
    }

    async fn group_add(self, _: Context, req: GroupAdd, dry_run: bool) -> Result<Change<GroupInfo>, WireError> {
        detach(async move {
            let args = json(&req);
            self.mutate("group.add", args, dry_run, async {
                let h = self.shared.helper.connect().await?;
                let acc = h.accounts().await?;
                if acc.groups.iter().any(|g| g.name == req.name.as_str()) {
                    return Err(WireError::new(
                        ErrorCode::AlreadyExists,
                        format!("group '{}' already exists", req.name),
                    ));
                }
                let retired = self.shared.with_state(|s| s.retired_ids())?;
                let gid = iam::choose_id(&acc, req.kind, req.gid.map(ManagedGid::get), &retired, "gid")?;
                let gid = ManagedGid::try_from(gid)?;
                let steps = h.run_ops(vec![HelperOp::GroupCreate { name: req.name.clone(), gid }], dry_run).await?;
                let result = if dry_run {
                    None
                } else {
                    self.shared
                        .with_state(|s| s.record_account(req.name.as_str(), true, req.kind.as_str(), gid.get()))?;
                    iam::group_info(&h.accounts().await?, req.name.as_str())
                };
                Ok(change(dry_run, steps, result))
            })
            .await
        })
        .await
    }

    async fn group_del(self, _: Context, name: GroupName, dry_run: bool) -> Result<Change<()>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "name": name });
            self.mutate("group.del", args, dry_run, async {
                let h = self.shared.helper.connect().await?;
                let steps = h.run_ops(vec![HelperOp::GroupDelete { name: name.clone() }], dry_run).await?;
                if !dry_run {
                    self.shared.with_state(|s| s.forget_account(name.as_str(), true).map(|_| ()))?;
                }
                Ok(change(dry_run, steps, None))
            })
            .await
        })
        .await
    }

    async fn group_mod(
        self,
        _: Context,
        name: GroupName,
        add: Vec<UserName>,
        remove: Vec<UserName>,
        dry_run: bool,
    ) -> Result<Change<GroupInfo>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "name": name, "add": add, "remove": remove });
            self.mutate("group.mod", args, dry_run, async {
                let h = self.shared.helper.connect().await?;
                let ops = iam::group_mod_ops(&h.accounts().await?, &name, &add, &remove)?;
                let steps = h.run_ops(ops, dry_run).await?;
                let result = if dry_run { None } else { iam::group_info(&h.accounts().await?, name.as_str()) };
                Ok(change(dry_run, steps, result))
            })
            .await
        })
        .await
    }

    async fn group_list(self, _: Context) -> Result<Vec<GroupInfo>, WireError> {
        self.read("group.list", async {
            let h = self.shared.helper.connect().await?;
            Ok(iam::groups(&h.accounts().await?))
        })
        .await
    }

    async fn acl_get(self, _: Context, path: SharePath) -> Result<AclListing, WireError> {
        self.read("acl.get", async { self.shared.helper.connect().await?.acl_get(path).await }).await
    }

    async fn acl_set(self, _: Context, req: AclSet, dry_run: bool) -> Result<Change<AclListing>, WireError> {
        detach(async move {
            let args = json(&req);
            self.mutate("acl.set", args, dry_run, async {
                let h = self.shared.helper.connect().await?;
                let op =
                    HelperOp::AclSet { path: req.path.clone(), entries: req.entries.clone(), recursive: req.recursive };
                let (steps, result) = h.run_acl_op(op, dry_run).await?;
                Ok(change(dry_run, steps, result))
            })
            .await
        })
        .await
    }

    async fn acl_remove(self, _: Context, req: AclRemove, dry_run: bool) -> Result<Change<AclListing>, WireError> {
        detach(async move {
            let args = json(&req);
            self.mutate("acl.remove", args, dry_run, async {
                let h = self.shared.helper.connect().await?;
                let op = HelperOp::AclRemove {
                    path: req.path.clone(),
                    targets: req.targets.clone(),
                    recursive: req.recursive,
                };
                let (steps, result) = h.run_acl_op(op, dry_run).await?;
                Ok(change(dry_run, steps, result))
            })
            .await
        })
        .await
    }

    async fn log_view(self, _: Context, before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>, WireError> {
        self.read("log.view", async {
            self.shared.with_state(|s| audit::view(s.conn(), before, limit.min(AUDIT_PAGE_MAX)))
        })
        .await
    }

    async fn log_page(self, _: Context, after: i64, limit: u32) -> Result<Vec<AuditEntry>, WireError> {
        self.read("log.export", async {
            self.shared.with_state(|s| audit::page(s.conn(), after, limit.min(AUDIT_PAGE_MAX)))
        })
        .await
    }

    async fn log_search(
        self,
        _: Context,
        filter: AuditFilter,
        before: Option<i64>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, WireError> {
        self.read("log.view", async {
            filter.validate()?;
            self.shared.with_state(|s| audit::search(s.conn(), &filter, before, after, limit.min(AUDIT_PAGE_MAX)))
        })
        .await
    }

    async fn log_verify(self, _: Context) -> Result<AuditVerify, WireError> {
        self.read("log.verify", async { self.shared.with_state(|s| audit::verify(s.conn())) }).await
    }

    async fn image_create(self, _: Context, req: ImageCreate, dry_run: bool) -> Result<Change<JobInfo>, WireError> {
        detach(async move {
            let args = json(&req);
            self.mutate("image.create", args, dry_run, imaging::api::create(&self.shared, &req, dry_run)).await
        })
        .await
    }

    async fn image_list(self, _: Context, query: JobQuery) -> Result<JobList, WireError> {
        self.read("image.list", async { imaging::api::list(&self.shared, &query) }).await
    }

    async fn image_show(self, _: Context, id: String) -> Result<JobInfo, WireError> {
        self.read("image.show", async { imaging::api::show(&self.shared, &id) }).await
    }

    async fn image_wait(self, _: Context, id: String, after_version: u64, wait_ms: u32) -> Result<JobInfo, WireError> {
        self.read("image.wait", imaging::api::wait(&self.shared, &id, after_version, wait_ms)).await
    }

    async fn image_pause(self, _: Context, id: String, dry_run: bool) -> Result<Change<JobInfo>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "job": id });
            self.mutate("image.pause", args, dry_run, imaging::api::pause(&self.shared, &id, dry_run)).await
        })
        .await
    }

    async fn image_resume(self, _: Context, id: String, dry_run: bool) -> Result<Change<JobInfo>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "job": id });
            self.mutate("image.resume", args, dry_run, imaging::api::resume(&self.shared, &id, dry_run)).await
        })
        .await
    }

    async fn image_cancel(
        self,
        _: Context,
        id: String,
        delete_partial: Option<bool>,
        dry_run: bool,
    ) -> Result<Change<JobInfo>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "job": id, "delete_partial": delete_partial });
            self.mutate("image.cancel", args, dry_run, imaging::api::cancel(&self.shared, &id, delete_partial, dry_run))
                .await
        })
        .await
    }

    async fn image_retry(self, _: Context, id: String, dry_run: bool) -> Result<Change<JobInfo>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "job": id });
            self.mutate("image.retry", args, dry_run, imaging::api::retry(&self.shared, &id, dry_run)).await
        })
        .await
    }

    async fn image_priority(
        self,
        _: Context,
        id: String,
        priority: Priority,
        dry_run: bool,
    ) -> Result<Change<JobInfo>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "job": id, "priority": priority });
            self.mutate(
                "image.priority",
                args,
                dry_run,
                imaging::api::set_priority(&self.shared, &id, priority, dry_run),
            )
            .await
        })
        .await
    }

    async fn imaging_policy(
        self,
        _: Context,
        set: Option<(bool, Vec<DevicePath>)>,
        dry_run: bool,
    ) -> Result<Change<ImagingPolicy>, WireError> {
        match set {
            None => self.read("image.policy", async { imaging::api::set_policy(&self.shared, None, dry_run) }).await,
            Some(set) => {
                let args = json(&set);
                self.mutate("image.policy", args, dry_run, async {
                    imaging::api::set_policy(&self.shared, Some(set), dry_run)
                })
                .await
            }
        }
    }

    async fn archive_list(self, _: Context, query: ArchiveQuery) -> Result<ArchiveList, WireError> {
        self.read("archive.list", async { imaging::api::archive_list(&self.shared, &query) }).await
    }

    async fn archive_show(self, _: Context, id: String) -> Result<ArchiveInfo, WireError> {
        self.read("archive.show", async { imaging::api::archive_show(&self.shared, &id) }).await
    }

    async fn archive_read(self, _: Context, id: String, offset: u64, length: u32) -> Result<Vec<u8>, WireError> {
        self.read("archive.read", async {
            let info = imaging::api::archive_show(&self.shared, &id)?;
            tokio::task::spawn_blocking(move || imaging::api::read_image(&info, offset, length))
                .await
                .map_err(|e| WireError::internal(format!("reading the image failed: {e}")))?
        })
        .await
    }

    async fn archive_verify(self, _: Context, id: String, dry_run: bool) -> Result<Change<JobInfo>, WireError> {
        let args = serde_json::json!({ "archive": id });
        self.mutate("archive.verify", args, dry_run, async { imaging::api::archive_verify(&self.shared, &id, dry_run) })
            .await
    }

    async fn archive_delete(self, _: Context, id: String, dry_run: bool) -> Result<Change<()>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "archive": id });
            self.mutate("archive.delete", args, dry_run, async {
                imaging::api::archive_delete(&self.shared, &id, dry_run)
            })
            .await
        })
        .await
    }

    async fn archive_edit(
        self,
        _: Context,
        id: String,
        edit: ArchiveEdit,
        dry_run: bool,
    ) -> Result<Change<ArchiveInfo>, WireError> {
        let args = serde_json::json!({ "archive": id, "edit": edit });
        self.mutate("archive.edit", args, dry_run, async {
            imaging::api::archive_edit(&self.shared, &id, &edit, dry_run)
        })
        .await
    }

    async fn device_list(self, _: Context) -> Result<Vec<DeviceInfo>, WireError> {
        self.read("device.list", self.shared.drive_reads.get(imaging::media::list(&self.shared))).await
    }

    async fn device_eject(self, _: Context, device: DevicePath, dry_run: bool) -> Result<Change<()>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "device": device });
            if let Some(job) = self.shared.imaging.device_busy(device.as_str()) {
                let e = WireError::new(ErrorCode::Busy, format!("device {device} is in use by job {job}"));
                return self.mutate("device.eject", args, dry_run, async { Err(e) }).await;
            }
            self.one_op("device.eject", args, dry_run, HelperOp::DeviceEject { device }).await
        })
        .await
    }

    async fn share_create(self, _: Context, req: ShareCreate, dry_run: bool) -> Result<Change<ShareInfo>, WireError> {
        detach(async move {
            let args = json(&req);
            self.mutate("share.create", args, dry_run, shares::create(&self.shared, &req, dry_run)).await
        })
        .await
    }

    async fn share_modify(
        self,
        _: Context,
        name: ShareName,
        change: ShareModify,
        dry_run: bool,
    ) -> Result<Change<ShareInfo>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "name": name, "change": change });
            self.mutate("share.modify", args, dry_run, shares::modify(&self.shared, &name, &change, dry_run)).await
        })
        .await
    }

    async fn share_delete(self, _: Context, name: ShareName, dry_run: bool) -> Result<Change<()>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "name": name });
            self.mutate("share.delete", args, dry_run, shares::delete(&self.shared, &name, dry_run)).await
        })
        .await
    }

    async fn share_list(self, _: Context) -> Result<Vec<ShareInfo>, WireError> {
        self.read("share.list", async { self.shared.with_state(|s| shares::list(s.conn())) }).await
    }

    async fn share_show(self, _: Context, name: ShareName) -> Result<ShareInfo, WireError> {
        self.read("share.show", async { shares::show(&self.shared, &name) }).await
    }

    async fn share_homes(self, _: Context, enabled: bool, dry_run: bool) -> Result<Change<bool>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "enabled": enabled });
            self.mutate("share.homes", args, dry_run, shares::set_homes(&self.shared, enabled, dry_run)).await
        })
        .await
    }

    async fn share_config(self, _: Context) -> Result<ShareConfig, WireError> {
        self.read("share.config", shares::config(&self.shared)).await
    }

    async fn share_apply(self, _: Context, dry_run: bool) -> Result<Change<()>, WireError> {
        detach(async move {
            self.mutate("share.apply", serde_json::json!({}), dry_run, shares::apply(&self.shared, dry_run)).await
        })
        .await
    }

    async fn mount_add(self, _: Context, def: MountDef, dry_run: bool) -> Result<Change<MountInfo>, WireError> {
        detach(async move {
            let args = json(&def);
            self.mutate("mount.add", args, dry_run, mounts::add(&self.shared, &def, dry_run)).await
        })
        .await
    }

    async fn mount_remove(self, _: Context, target: MountTarget, dry_run: bool) -> Result<Change<()>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "target": target });
            self.mutate("mount.remove", args, dry_run, mounts::remove_mount(&self.shared, &target, dry_run)).await
        })
        .await
    }

    async fn mount_list(self, _: Context) -> Result<Vec<MountInfo>, WireError> {
        self.read("mount.list", mounts::list_infos(&self.shared)).await
    }

    async fn mount_status(self, _: Context, target: MountTarget) -> Result<MountInfo, WireError> {
        self.read("mount.status", mounts::status(&self.shared, &target)).await
    }

    async fn mount_reload(self, _: Context, dry_run: bool) -> Result<Change<Vec<MountInfo>>, WireError> {
        detach(async move {
            self.mutate("mount.reload", serde_json::json!({}), dry_run, mounts::reload(&self.shared, dry_run)).await
        })
        .await
    }

    async fn device_inventory(self, _: Context) -> Result<Vec<corenas_proto::devices::DeviceInfo>, WireError> {
        self.read("device.inventory", devices::service::inventory(&self.shared)).await
    }

    async fn device_show(
        self,
        _: Context,
        device: DevicePath,
    ) -> Result<corenas_proto::devices::DeviceInfo, WireError> {
        self.read("device.show", devices::service::show(&self.shared, &device)).await
    }

    async fn device_events(
        self,
        _: Context,
        after: u64,
        wait_ms: u32,
    ) -> Result<corenas_proto::devices::DeviceEvents, WireError> {
        let log = Arc::clone(&self.shared.device_events);
        let wait = std::time::Duration::from_millis(u64::from(wait_ms.min(devices::events::MAX_WAIT_MS)));
        self.read("device.events", async move {
            Ok(log.wait_since(after, devices::events::MAX_ANSWER, std::time::Instant::now() + wait).await)
        })
        .await
    }

    async fn device_erase_support(
        self,
        _: Context,
        device: DevicePath,
    ) -> Result<corenas_proto::devices::EraseSupport, WireError> {
        self.read("device.erase_support", devices::service::erase_support(&self.shared, &device)).await
    }

    async fn device_smart(
        self,
        _: Context,
        device: DevicePath,
    ) -> Result<corenas_proto::devices::SmartReport, WireError> {
        self.read("device.smart", devices::service::smart(&self.shared, &device)).await
    }

    async fn device_smart_history(
        self,
        _: Context,
        device: DevicePath,
        limit: u32,
    ) -> Result<Vec<corenas_proto::devices::SmartReport>, WireError> {
        self.read("device.smart_history", async { devices::service::smart_history(&self.shared, &device, limit) }).await
    }

    async fn device_selftest(
        self,
        _: Context,
        device: DevicePath,
        long: bool,
        dry_run: bool,
    ) -> Result<Change<StorageJob>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "device": device, "long": long });
            self.mutate(
                "device.selftest",
                args,
                dry_run,
                devices::service::selftest(&self.shared, &device, long, dry_run),
            )
            .await
        })
        .await
    }

    async fn device_wipe(self, _: Context, req: DeviceWipe, dry_run: bool) -> Result<Change<StorageJob>, WireError> {
        detach(async move {
            let args = json(&req);
            self.mutate("device.wipe", args, dry_run, devices::service::wipe(&self.shared, req, dry_run)).await
        })
        .await
    }

    async fn pool_create(self, _: Context, spec: PoolSpec, dry_run: bool) -> Result<Change<PoolInfo>, WireError> {
        detach(async move {
            let args = json(&spec);
            self.mutate("pool.create", args, dry_run, pools::create(&self.shared, &spec, dry_run)).await
        })
        .await
    }

    async fn pool_list(self, _: Context) -> Result<Vec<PoolInfo>, WireError> {
        self.read("pool.list", self.shared.pool_reads.get(pools::list(&self.shared))).await
    }

    async fn pool_show(self, _: Context, name: PoolName) -> Result<PoolInfo, WireError> {
        self.read("pool.show", pools::show(&self.shared, &name)).await
    }

    async fn pool_destroy(
        self,
        _: Context,
        name: PoolName,
        confirm: String,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "name": name });
            self.mutate("pool.destroy", args, dry_run, pools::destroy(&self.shared, &name, &confirm, dry_run)).await
        })
        .await
    }

    async fn pool_import(self, _: Context, name: PoolName, dry_run: bool) -> Result<Change<PoolInfo>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "name": name });
            self.mutate("pool.import", args, dry_run, pools::import(&self.shared, &name, dry_run)).await
        })
        .await
    }

    async fn pool_export(self, _: Context, name: PoolName, dry_run: bool) -> Result<Change<()>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "name": name });
            self.mutate("pool.export", args, dry_run, pools::export(&self.shared, &name, dry_run)).await
        })
        .await
    }

    async fn pool_scrub(self, _: Context, name: PoolName, dry_run: bool) -> Result<Change<StorageJob>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "name": name });
            self.mutate("pool.scrub", args, dry_run, pools::scrub(&self.shared, &name, dry_run)).await
        })
        .await
    }

    async fn pool_scrub_stop(self, _: Context, name: PoolName, dry_run: bool) -> Result<Change<()>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "name": name });
            self.mutate("pool.scrub_stop", args, dry_run, pools::scrub_stop(&self.shared, &name, dry_run)).await
        })
        .await
    }

    async fn dataset_create(
        self,
        _: Context,
        spec: DatasetSpec,
        dry_run: bool,
    ) -> Result<Change<DatasetInfo>, WireError> {
        detach(async move {
            let args = json(&spec);
            self.mutate("dataset.create", args, dry_run, pools::dataset_create(&self.shared, &spec, dry_run)).await
        })
        .await
    }

    async fn dataset_list(self, _: Context, pool: PoolName) -> Result<Vec<DatasetInfo>, WireError> {
        self.read("dataset.list", pools::dataset_list(&self.shared, &pool)).await
    }

    async fn dataset_set(
        self,
        _: Context,
        name: DatasetName,
        properties: Vec<ZfsProperty>,
        dry_run: bool,
    ) -> Result<Change<DatasetInfo>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "name": name, "properties": properties });
            self.mutate("dataset.set", args, dry_run, pools::dataset_set(&self.shared, &name, &properties, dry_run))
                .await
        })
        .await
    }

    async fn dataset_destroy(
        self,
        _: Context,
        name: DatasetName,
        recursive: bool,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "name": name, "recursive": recursive });
            self.mutate(
                "dataset.destroy",
                args,
                dry_run,
                pools::dataset_destroy(&self.shared, &name, recursive, dry_run),
            )
            .await
        })
        .await
    }

    async fn snapshot_create(
        self,
        _: Context,
        dataset: DatasetName,
        name: Option<SnapshotName>,
        dry_run: bool,
    ) -> Result<Change<SnapshotInfo>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "dataset": dataset, "name": name });
            self.mutate("snapshot.create", args, dry_run, pools::snapshot_create(&self.shared, &dataset, name, dry_run))
                .await
        })
        .await
    }

    async fn snapshot_list(self, _: Context, dataset: DatasetName) -> Result<Vec<SnapshotInfo>, WireError> {
        self.read("snapshot.list", pools::snapshot_list(&self.shared, &dataset)).await
    }

    async fn snapshot_destroy(
        self,
        _: Context,
        dataset: DatasetName,
        name: SnapshotName,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "dataset": dataset, "name": name });
            self.mutate(
                "snapshot.destroy",
                args,
                dry_run,
                pools::snapshot_destroy(&self.shared, &dataset, &name, dry_run),
            )
            .await
        })
        .await
    }

    async fn snapshot_rollback(
        self,
        _: Context,
        dataset: DatasetName,
        name: SnapshotName,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "dataset": dataset, "name": name });
            self.mutate(
                "snapshot.rollback",
                args,
                dry_run,
                pools::snapshot_rollback(&self.shared, &dataset, &name, dry_run),
            )
            .await
        })
        .await
    }

    async fn schedule_set(
        self,
        _: Context,
        dataset: DatasetName,
        keep: Retention,
        dry_run: bool,
    ) -> Result<Change<ScheduleInfo>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "dataset": dataset, "keep": keep });
            self.mutate(
                "snapshot.schedule_set",
                args,
                dry_run,
                pools::schedule_set(&self.shared, &dataset, keep, dry_run),
            )
            .await
        })
        .await
    }

    async fn schedule_list(self, _: Context) -> Result<Vec<ScheduleInfo>, WireError> {
        self.read("snapshot.schedule_list", async { pools::schedule_list(&self.shared) }).await
    }

    async fn schedule_run(self, _: Context, dry_run: bool) -> Result<Change<Vec<String>>, WireError> {
        detach(async move {
            self.mutate(
                "snapshot.schedule_run",
                serde_json::json!({}),
                dry_run,
                pools::schedule_run(&self.shared, dry_run),
            )
            .await
        })
        .await
    }

    async fn raid_list(self, _: Context) -> Result<Vec<corenas_proto::raid::MdArrayInfo>, WireError> {
        self.read("raid.list", storage::volumes::md_list(&self.shared)).await
    }

    async fn raid_show(
        self,
        _: Context,
        name: corenas_proto::raid::MdName,
    ) -> Result<corenas_proto::raid::MdArrayInfo, WireError> {
        self.read("raid.show", storage::volumes::md_show(&self.shared, &name)).await
    }

    async fn raid_create(
        self,
        _: Context,
        spec: corenas_proto::raid::MdCreateSpec,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::raid::MdChange>, WireError> {
        detach(async move {
            let args = json(&spec);
            self.mutate("raid.create", args, dry_run, storage::volumes::md_create(&self.shared, &spec, dry_run)).await
        })
        .await
    }

    async fn raid_member(
        self,
        _: Context,
        name: corenas_proto::raid::MdName,
        device: DevicePath,
        op: corenas_proto::raid::MdMemberOp,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::raid::MdChange>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "name": name, "device": device, "op": op });
            let run = storage::volumes::md_member(&self.shared, &name, &device, &op, dry_run);
            self.mutate(&format!("raid.{}", op.verb()), args, dry_run, run).await
        })
        .await
    }

    async fn raid_destroy(
        self,
        _: Context,
        name: corenas_proto::raid::MdName,
        confirm: String,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "name": name });
            let run = storage::volumes::md_destroy(&self.shared, &name, &confirm, dry_run);
            self.mutate("raid.destroy", args, dry_run, run).await
        })
        .await
    }

    async fn lvm_list(self, _: Context) -> Result<corenas_proto::lvm::LvmListing, WireError> {
        self.read("lvm.list", storage::volumes::lvm_list(&self.shared)).await
    }

    async fn vg_create(
        self,
        _: Context,
        spec: corenas_proto::lvm::VgCreateSpec,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::lvm::VgInfo>, WireError> {
        detach(async move {
            let args = json(&spec);
            self.mutate("lvm.vg_create", args, dry_run, storage::volumes::vg_create(&self.shared, &spec, dry_run)).await
        })
        .await
    }

    async fn vg_remove(
        self,
        _: Context,
        vg: corenas_proto::lvm::VgName,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "vg": vg });
            self.mutate("lvm.vg_remove", args, dry_run, storage::volumes::vg_remove(&self.shared, &vg, dry_run)).await
        })
        .await
    }

    async fn lv_create(
        self,
        _: Context,
        spec: corenas_proto::lvm::LvCreateSpec,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::lvm::LvInfo>, WireError> {
        detach(async move {
            let args = json(&spec);
            self.mutate("lvm.lv_create", args, dry_run, storage::volumes::lv_create(&self.shared, &spec, dry_run)).await
        })
        .await
    }

    async fn lv_extend(
        self,
        _: Context,
        spec: corenas_proto::lvm::LvExtendSpec,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::lvm::LvInfo>, WireError> {
        detach(async move {
            let args = json(&spec);
            self.mutate("lvm.lv_extend", args, dry_run, storage::volumes::lv_extend(&self.shared, &spec, dry_run)).await
        })
        .await
    }

    async fn lv_remove(
        self,
        _: Context,
        vg: corenas_proto::lvm::VgName,
        lv: corenas_proto::lvm::LvName,
        confirm: String,
        dry_run: bool,
    ) -> Result<Change<()>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "vg": vg, "lv": lv });
            let run = storage::volumes::lv_remove(&self.shared, &vg, &lv, &confirm, dry_run);
            self.mutate("lvm.lv_remove", args, dry_run, run).await
        })
        .await
    }

    async fn storage_job_list(self, _: Context) -> Result<Vec<StorageJob>, WireError> {
        self.read("storage.job_list", async {
            let mut all = self.shared.storage_jobs.live();
            let stored = self.shared.with_state(|s| storage::jobs::stored(s.conn()))?;
            let live: std::collections::BTreeSet<String> = all.iter().map(|j| j.id.clone()).collect();
            all.extend(stored.into_iter().filter(|j| !live.contains(&j.id)));
            all.sort_by(|a, b| b.started.cmp(&a.started));
            Ok(all)
        })
        .await
    }

    async fn storage_job_show(self, _: Context, id: String) -> Result<StorageJob, WireError> {
        self.read("storage.job_show", async {
            if let Some(j) = self.shared.storage_jobs.get(&id) {
                return Ok(j);
            }
            self.shared
                .with_state(|s| storage::jobs::stored(s.conn()))?
                .into_iter()
                .find(|j| j.id == id)
                .ok_or_else(|| WireError::not_found(format!("no storage job {id}")))
        })
        .await
    }

    async fn storage_job_wait(
        self,
        _: Context,
        id: String,
        after_version: u64,
        wait_ms: u32,
    ) -> Result<StorageJob, WireError> {
        self.read("storage.job_wait", async {
            let wait = std::time::Duration::from_millis(u64::from(wait_ms.min(30_000)));
            match self.shared.storage_jobs.wait(&id, after_version, wait).await {
                Some(j) => Ok(j),
                None => self
                    .shared
                    .with_state(|s| storage::jobs::stored(s.conn()))?
                    .into_iter()
                    .find(|j| j.id == id)
                    .ok_or_else(|| WireError::not_found(format!("no storage job {id}"))),
            }
        })
        .await
    }

    async fn storage_job_cancel(self, _: Context, id: String, dry_run: bool) -> Result<Change<StorageJob>, WireError> {
        detach(async move {
            let args = serde_json::json!({ "id": id });
            self.mutate("storage.job_cancel", args, dry_run, async {
                let j = if dry_run {
                    self.shared
                        .storage_jobs
                        .get(&id)
                        .ok_or_else(|| WireError::not_found(format!("no running storage job {id}")))?
                } else {
                    self.shared.storage_jobs.cancel(&id)?
                };
                Ok(change(dry_run, Vec::new(), Some(j)))
            })
            .await
        })
        .await
    }

    async fn setup_token(self, _: Context) -> Result<Option<corenas_proto::web::SetupToken>, WireError> {
        crate::web::admin::setup_token(&self).await
    }
    async fn web_account_list(self, _: Context) -> Result<Vec<corenas_proto::web::WebAccount>, WireError> {
        crate::web::admin::account_list(&self).await
    }
    async fn web_role_set(
        self,
        _: Context,
        user: UserName,
        role: Option<corenas_proto::web::Role>,
        dry_run: bool,
    ) -> Result<Change<Option<corenas_proto::web::WebAccount>>, WireError> {
        detach(async move { crate::web::admin::role_set(&self, user, role, dry_run).await }).await
    }
    async fn web_totp_reset(self, _: Context, user: UserName, dry_run: bool) -> Result<Change<()>, WireError> {
        detach(async move { crate::web::admin::totp_reset(&self, user, dry_run).await }).await
    }
    async fn api_key_create(
        self,
        _: Context,
        label: corenas_proto::names::FullName,
        role: corenas_proto::web::Role,
        days: u16,
        dry_run: bool,
    ) -> Result<Change<corenas_proto::web::ApiKeyGrant>, WireError> {
        detach(async move { crate::web::admin::api_key_create(&self, label, role, days, dry_run).await }).await
    }
    async fn api_key_list(self, _: Context) -> Result<Vec<corenas_proto::web::ApiKeyInfo>, WireError> {
        crate::web::admin::api_key_list(&self).await
    }
    async fn api_key_revoke(self, _: Context, id: String, dry_run: bool) -> Result<Change<()>, WireError> {
        detach(async move { crate::web::admin::api_key_revoke(&self, id, dry_run).await }).await
    }
}
