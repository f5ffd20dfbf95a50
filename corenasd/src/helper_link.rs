//! corenasd's side of the helper socket, and transport failures turned into clear errors for
//! the caller. A connection is reused while requests keep coming and closed after `LINGER`
//! without use, so the helper (which exits when it has no connection) still goes idle; a
//! connection that failed once is never reused.

use corenas_proto::acl::AclListing;
use corenas_proto::helper::{Accounts, HelperClient, HelperOp, HelperStatus, OpReport};
use corenas_proto::names::SharePath;
use corenas_proto::wire::{self, Service};
use corenas_proto::{ErrorCode, WireError};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tarpc::client::RpcError;

/// Account and ACL operations finish in seconds; recursive ACLs on big trees may take minutes.
const CALL_DEADLINE: Duration = Duration::from_secs(300);

/// How long an unused helper connection stays open.
const LINGER: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct HelperLink {
    pub socket: PathBuf,
    cached: std::sync::Arc<std::sync::Mutex<Option<Cached>>>,
    /// Whether the task that closes an unused connection is running (one at a time).
    closer: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Debug)]
struct Cached {
    client: HelperClient,
    broken: std::sync::Arc<std::sync::atomic::AtomicBool>,
    last_used: Instant,
}

pub struct HelperConn {
    client: HelperClient,
    broken: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

fn rpc_error(e: RpcError) -> WireError {
    match e {
        RpcError::DeadlineExceeded => {
            WireError::new(ErrorCode::ToolTimeout, "corenas-helper did not answer before the deadline")
        }
        RpcError::Shutdown | RpcError::Send(_) | RpcError::Channel(_) => WireError::new(
            ErrorCode::HelperUnavailable,
            format!(
                "corenas-helper closed the connection mid-request ({e}); it may have been killed. The operation may or may not have taken effect: check its state before retrying"
            ),
        ),
        other => WireError::new(ErrorCode::HelperUnavailable, format!("corenas-helper: {other}")),
    }
}

fn ctx() -> tarpc::context::Context {
    let mut c = tarpc::context::current();
    c.deadline = Instant::now() + CALL_DEADLINE;
    c
}

impl HelperLink {
    pub fn new(socket: PathBuf) -> Self {
        Self { socket, cached: std::sync::Arc::default(), closer: std::sync::Arc::default() }
    }

    /// A connection to the helper: the cached one if it is healthy and recently used, else new.
    pub async fn connect(&self) -> Result<HelperConn, WireError> {
        if let Some(c) = self.cached.lock().ok().as_mut().and_then(|g| g.as_mut()) {
            let fresh = c.last_used.elapsed() < LINGER;
            if fresh && !c.broken.load(std::sync::atomic::Ordering::SeqCst) {
                c.last_used = Instant::now();
                return Ok(HelperConn { client: c.client.clone(), broken: std::sync::Arc::clone(&c.broken) });
            }
        }
        let stream = wire::connect(&self.socket, Service::Helper).await?;
        let tarpc::client::NewClient { client, dispatch } =
            HelperClient::new(tarpc::client::Config::default(), wire::client_transport(stream));
        let broken = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // The dispatch task ends when the connection closes (the helper exited or was killed):
        // from then on the cached connection must not be handed out.
        let closed = std::sync::Arc::clone(&broken);
        tokio::spawn(async move {
            let _ = dispatch.await;
            closed.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        if let Ok(mut slot) = self.cached.lock() {
            *slot = Some(Cached {
                client: client.clone(),
                broken: std::sync::Arc::clone(&broken),
                last_used: Instant::now(),
            });
        }
        self.close_when_unused();
        Ok(HelperConn { client, broken })
    }

    /// Drops the cached connection once it has been unused for `LINGER`, so the helper can
    /// exit when idle.
    fn close_when_unused(&self) {
        if self.closer.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let (cached, closer) = (std::sync::Arc::clone(&self.cached), std::sync::Arc::clone(&self.closer));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(LINGER).await;
                let Ok(mut slot) = cached.lock() else {
                    closer.store(false, std::sync::atomic::Ordering::SeqCst);
                    return;
                };
                if slot.as_ref().is_some_and(|c| c.last_used.elapsed() < LINGER) {
                    continue;
                }
                *slot = None;
                // Cleared under the lock, so a connection cached after this starts a new closer.
                closer.store(false, std::sync::atomic::Ordering::SeqCst);
                return;
            }
        });
    }
}

impl HelperConn {
    /// A transport failure marks the connection broken so it is not reused.
    fn check<T>(&self, r: Result<T, RpcError>) -> Result<T, WireError> {
        r.map_err(|e| {
            self.broken.store(true, std::sync::atomic::Ordering::SeqCst);
            rpc_error(e)
        })
    }

    pub async fn perform(&self, op: HelperOp, dry_run: bool) -> Result<OpReport, WireError> {
        self.check(self.client.perform(ctx(), op, dry_run).await)?
    }
    pub async fn accounts(&self) -> Result<Accounts, WireError> {
        self.check(self.client.accounts(ctx()).await)?
    }
    pub async fn acl_get(&self, path: SharePath) -> Result<AclListing, WireError> {
        self.check(self.client.acl_get(ctx(), path).await)?
    }
    pub async fn device_probe(
        &self,
        device: corenas_proto::names::DevicePath,
    ) -> Result<corenas_proto::helper::DeviceProbe, WireError> {
        self.check(self.client.device_probe(ctx(), device).await)?
    }
    pub async fn share_config(&self) -> Result<corenas_proto::shares::ShareConfig, WireError> {
        self.check(self.client.share_config(ctx()).await)?
    }
    pub async fn mount_states(
        &self,
        targets: Vec<corenas_proto::names::MountTarget>,
    ) -> Result<Vec<Result<corenas_proto::mounts::UnitState, String>>, WireError> {
        self.check(self.client.mount_states(ctx(), targets).await)?
    }
    pub async fn storage_query(
        &self,
        q: corenas_proto::helper::StorageQuery,
    ) -> Result<corenas_proto::helper::ToolOutput, WireError> {
        self.check(self.client.storage_query(ctx(), q).await)?
    }
    pub async fn wipe_check(
        &self,
        device: corenas_proto::names::DevicePath,
        regions: Vec<(u64, u32)>,
    ) -> Result<Vec<bool>, WireError> {
        self.check(self.client.wipe_check(ctx(), device, regions).await)?
    }
    pub async fn region_fingerprints(
        &self,
        device: corenas_proto::names::DevicePath,
        regions: Vec<(u64, u32)>,
    ) -> Result<Vec<u64>, WireError> {
        self.check(self.client.region_fingerprints(ctx(), device, regions).await)?
    }
    /// `perform` for an operation that may take up to `limit` (a firmware erase): the call's
    /// deadline is that long, not the usual one.
    pub async fn perform_long(&self, op: HelperOp, limit: Duration) -> Result<OpReport, WireError> {
        let mut c = tarpc::context::current();
        c.deadline = Instant::now() + limit.max(CALL_DEADLINE);
        self.check(self.client.perform(c, op, false).await)?
    }
    pub async fn status(&self) -> Result<HelperStatus, WireError> {
        self.check(self.client.status(ctx()).await)
    }
}
