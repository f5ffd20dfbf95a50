//! The `Helper` service for one connection. Every operation (`perform`) is logged with the peer's
//! kernel-vouched identity, the operation, its canonical arguments (secrets redacted), result and
//! duration; every program it runs is logged by `exec`.

use crate::ops::{self, Ctx};
use crate::sandbox::SandboxReport;
use corenas_proto::acl::AclListing;
use corenas_proto::helper::PasswordCheck;
use corenas_proto::helper::{
    Accounts, DeviceProbe, Helper, HelperArea, HelperOp, HelperStatus, OpReport, StorageQuery, ToolOutput,
};
use corenas_proto::logging::MSG_HELPER_REFUSED;
use corenas_proto::names::{DevicePath, SharePath, UserName};
use corenas_proto::shares::ShareConfig;
use corenas_proto::web::LoginPassword;
use corenas_proto::{ErrorCode, WireError};
use std::sync::Arc;
use std::time::Instant;
use tarpc::context::Context;

/// Operations under way, detached from their requests: the helper neither idles out nor exits on
/// SIGTERM before they have finished (and been logged).
pub static IN_FLIGHT: std::sync::LazyLock<tokio_util::task::TaskTracker> =
    std::sync::LazyLock::new(tokio_util::task::TaskTracker::new);

pub struct Shared {
    pub ops: Ctx,
    pub sandbox: SandboxReport,
    /// The operations this helper performs (`--role`); None: all of them (the lab).
    pub area: Option<HelperArea>,
    pub started: Instant,
}

impl Shared {
    /// Refuses a request that belongs to the other helper: its capabilities and unit are not
    /// this one's, so it would fail half-way or, worse, work with more than it should.
    fn serves(&self, wanted: HelperArea, what: &str) -> Result<(), WireError> {
        match self.area {
            Some(a) if a != wanted => Err(WireError::not_allowed(format!(
                "this is the {} helper; {what} belongs to the {} helper (corenasd sends it there: --{}-socket)",
                a.as_str(),
                wanted.as_str(),
                if wanted == HelperArea::Storage { "storage" } else { "helper" }
            ))),
            _ => Ok(()),
        }
    }
}

#[derive(Clone)]
pub struct HelperServer {
    pub shared: Arc<Shared>,
    pub peer_uid: u32,
    pub peer_pid: i32,
}

impl HelperServer {
    fn log(&self, op: &str, args: &serde_json::Value, result: &Result<(), &WireError>, started: Instant) {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        match result {
            Ok(()) => {
                tracing::info!(peer_uid = self.peer_uid, peer_pid = self.peer_pid, operation = op, args = %args, result = "ok", duration_us = micros, "operation")
            }
            Err(e) if refusal(e.code) => {
                tracing::warn!(message_id = MSG_HELPER_REFUSED, peer_uid = self.peer_uid, peer_pid = self.peer_pid, operation = op, args = %args, result = "failed", error_code = e.code.as_str(), error = %e.message, duration_us = micros, "operation refused")
            }
            Err(e) => {
                tracing::warn!(peer_uid = self.peer_uid, peer_pid = self.peer_pid, operation = op, args = %args, result = "failed", error_code = e.code.as_str(), error = %e.message, duration_us = micros, "operation")
            }
        }
    }
}

/// Errors that are the helper's own checks saying no (not a tool failing): the journal tags
/// them with MSG_HELPER_REFUSED.
fn refusal(code: ErrorCode) -> bool {
    matches!(code, ErrorCode::NotAllowed | ErrorCode::InvalidInput | ErrorCode::OutOfRange)
}

impl Helper for HelperServer {
    async fn perform(self, _: Context, op: HelperOp, dry_run: bool) -> Result<OpReport, WireError> {
        if let Err(e) = self.shared.serves(op.area(), op.name()) {
            self.log(op.name(), &op.canonical_args(), &Err(&e), Instant::now());
            return Err(e);
        }
        // Detached: an operation that has started finishes and is logged even if the caller
        // disconnects or its deadline passes (tarpc drops the handler's future then).
        let task = IN_FLIGHT.spawn(async move {
            let started = Instant::now();
            let r = ops::perform(&self.shared.ops, &op, dry_run).await;
            let name = if dry_run { format!("{} (dry run)", op.name()) } else { op.name().to_owned() };
            self.log(&name, &op.canonical_args(), &r.as_ref().map(|_| ()), started);
            r
        });
        task.await.unwrap_or_else(|e| Err(WireError::internal(format!("operation task failed: {e}"))))
    }

    async fn accounts(self, _: Context) -> Result<Accounts, WireError> {
        self.shared.serves(HelperArea::Accounts, "the account list")?;
        ops::accounts::snapshot(&self.shared.ops).await
    }

    async fn acl_get(self, _: Context, path: SharePath) -> Result<AclListing, WireError> {
        self.shared.serves(HelperArea::Accounts, "reading ACLs")?;
        let ctx = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || ops::acl::get(&ctx.ops, &path))
            .await
            .map_err(|e| WireError::internal(format!("ACL read failed: {e}")))?
    }

    async fn device_probe(self, _: Context, device: DevicePath) -> Result<DeviceProbe, WireError> {
        self.shared.serves(HelperArea::Accounts, "probing a medium")?;
        let started = Instant::now();
        let r = tokio::task::spawn_blocking(move || ops::device::probe(&device))
            .await
            .map_err(|e| WireError::internal(format!("device probe failed: {e}")))?;
        let args = serde_json::json!({ "device": r.as_ref().map(|p| p.path.clone()).unwrap_or_default() });
        self.log("device.probe", &args, &r.as_ref().map(|_| ()), started);
        r
    }

    async fn share_config(self, _: Context) -> Result<ShareConfig, WireError> {
        self.shared.serves(HelperArea::Accounts, "the share configuration")?;
        ops::shares::config(&self.shared.ops).await
    }

    async fn storage_query(self, _: Context, query: StorageQuery) -> Result<ToolOutput, WireError> {
        self.shared.serves(HelperArea::Storage, "a storage query")?;
        ops::storage::query::run(&self.shared.ops, &query).await
    }

    async fn wipe_check(
        self,
        _: Context,
        device: DevicePath,
        regions: Vec<(u64, u32)>,
    ) -> Result<Vec<bool>, WireError> {
        self.shared.serves(HelperArea::Storage, "a wipe check")?;
        tokio::task::spawn_blocking(move || ops::storage::wipe::check(&device, &regions))
            .await
            .map_err(|e| WireError::internal(format!("wipe check failed: {e}")))?
    }

    async fn region_fingerprints(
        self,
        _: Context,
        device: DevicePath,
        regions: Vec<(u64, u32)>,
    ) -> Result<Vec<[u8; 32]>, WireError> {
        self.shared.serves(HelperArea::Storage, "reading regions")?;
        tokio::task::spawn_blocking(move || ops::storage::wipe::fingerprints(&device, &regions))
            .await
            .map_err(|e| WireError::internal(format!("reading regions failed: {e}")))?
    }

    async fn password_check(
        self,
        _: Context,
        user: UserName,
        password: LoginPassword,
    ) -> Result<PasswordCheck, WireError> {
        self.shared.serves(HelperArea::Accounts, "a password check")?;
        let started = Instant::now();
        let shared = Arc::clone(&self.shared);
        let name = user.clone();
        // Held until the check has answered: a bounded number of checks run at once.
        let _slot = match ops::login::check_slot().await {
            Ok(slot) => slot,
            Err(e) => {
                self.log("password.check", &serde_json::json!({ "user": user, "outcome": "busy" }), &Err(&e), started);
                return Err(e);
            }
        };
        let r = match shared.ops.login_check {
            ops::login::LoginCheck::Pam => ops::login::check_pam(&shared.ops, &name, &password).await,
            // yescrypt takes tens of milliseconds and 16 MiB: off the async threads.
            ops::login::LoginCheck::Shadow => {
                tokio::task::spawn_blocking(move || ops::login::check(&shared.ops, &name, &password))
                    .await
                    .map_err(|e| WireError::internal(format!("password check failed: {e}")))?
            }
        };
        let outcome = r.as_ref().map(|c| format!("{c:?}")).unwrap_or_default();
        self.log(
            "password.check",
            &serde_json::json!({ "user": user, "outcome": outcome }),
            &r.as_ref().map(|_| ()),
            started,
        );
        r
    }

    async fn config_export(self, _: Context) -> Result<corenas_proto::config_backup::ConfigExport, WireError> {
        self.shared.serves(HelperArea::Accounts, "the configuration export")?;
        let started = Instant::now();
        let r = ops::config_restore::export(&self.shared.ops).await;
        // Names and counts only: the answer carries hashes and the TLS key.
        let args = match &r {
            Ok(x) => serde_json::json!({ "users": x.users.len(), "groups": x.groups.len(), "etc_files": x.etc.len() }),
            Err(_) => serde_json::json!({}),
        };
        self.log("config.export", &args, &r.as_ref().map(|_| ()), started);
        r
    }

    async fn status(self, _: Context) -> HelperStatus {
        HelperStatus {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            root: self.shared.ops.paths.root().display().to_string(),
            landlock: self.shared.sandbox.landlock.clone(),
            bounding_set: self.shared.sandbox.bounding_set.clone(),
            uptime_secs: self.shared.started.elapsed().as_secs(),
        }
    }
}
