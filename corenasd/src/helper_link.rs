//! corenasd's side of the helper socket, and transport failures turned into clear errors for
//! the caller. A connection is reused while requests keep coming and closed after `LINGER`
//! without use, so the helper (which exits when it has no connection) still goes idle; a
//! connection that failed once is never reused.

use corenas_proto::acl::AclListing;
use corenas_proto::helper::{Accounts, HelperArea, HelperClient, HelperOp, HelperStatus, OpReport};
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

/// corenasd's link to the helpers: the accounts helper's socket and, in production, the storage
/// helper's (docs/decisions/0014-two-helpers.md). A connection routes each request to the helper
/// whose area it is, so a caller never has to know which one does what.
#[derive(Debug, Clone)]
pub struct HelperLink {
    accounts: std::sync::Arc<Channel>,
    /// None: the accounts helper's socket serves storage too (the lab's single helper).
    storage: Option<std::sync::Arc<Channel>>,
    /// Account snapshots are costly (the helper runs pdbedit for the SMB states): concurrent
    /// readers share one, never one older than their own request.
    accounts_read: std::sync::Arc<FreshRead<Accounts>>,
    /// Requests by operation and result, for the monitor's helper collector.
    counts: std::sync::Arc<RequestCounts>,
}

/// Helper requests counted by operation ("user.create", "query.ZpoolStatus") and result ("ok"
/// or the error code). Both are from fixed sets, so the map stays small.
#[derive(Debug, Default)]
struct RequestCounts(std::sync::Mutex<std::collections::BTreeMap<(String, &'static str), u64>>);

impl RequestCounts {
    fn record<T>(&self, op: &str, r: &Result<T, WireError>) {
        let result = match r {
            Ok(_) => "ok",
            Err(e) => e.code.as_str(),
        };
        if let Ok(mut m) = self.0.lock() {
            *m.entry((op.to_owned(), result)).or_default() += 1;
        }
    }
}

/// The variant name of a storage query ("ZpoolStatus"), as its serde form spells it.
fn query_name(q: &corenas_proto::helper::StorageQuery) -> String {
    match serde_json::to_value(q) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(m)) => m.keys().next().cloned().unwrap_or_default(),
        _ => String::new(),
    }
}

/// One helper socket and its cached connection.
#[derive(Debug)]
struct Channel {
    socket: PathBuf,
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

/// A connection to one helper, and the way to the other.
#[derive(Clone)]
struct Conn {
    client: HelperClient,
    broken: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

pub struct HelperConn {
    area: HelperArea,
    conn: Conn,
    link: HelperLink,
}

/// One value read from somewhere slow, shared by concurrent callers without ever handing a
/// caller a result read before it asked: a caller waits for the read under way, then takes its
/// result (a failure too) only if that read began after the caller arrived, else reads again
/// itself. A burst of N callers costs at most two reads, a failing source costs each burst one
/// failure rather than N in a row, and a caller that changed something and then asks always
/// sees its change.
#[derive(Debug)]
pub struct FreshRead<T> {
    last: tokio::sync::Mutex<Option<(Instant, Result<T, WireError>)>>,
}

impl<T> Default for FreshRead<T> {
    fn default() -> Self {
        Self { last: tokio::sync::Mutex::new(None) }
    }
}

impl<T: Clone> FreshRead<T> {
    pub async fn get<F>(&self, read: F) -> Result<T, WireError>
    where
        F: std::future::Future<Output = Result<T, WireError>>,
    {
        let asked = Instant::now();
        let mut last = self.last.lock().await;
        if let Some((began, result)) = last.as_ref() {
            if *began > asked {
                return result.clone();
            }
        }
        let began = Instant::now();
        let result = read.await;
        *last = Some((began, result.clone()));
        result
    }
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
        Self::with_storage(socket, None)
    }

    /// `storage`: the storage helper's socket; None or the same path: one helper does both.
    pub fn with_storage(socket: PathBuf, storage: Option<PathBuf>) -> Self {
        let storage = storage.filter(|s| *s != socket).map(|s| std::sync::Arc::new(Channel::new(s)));
        Self {
            accounts: std::sync::Arc::new(Channel::new(socket)),
            storage,
            accounts_read: std::sync::Arc::default(),
            counts: std::sync::Arc::default(),
        }
    }

    /// Requests made so far (since corenasd started) by operation and result, sorted.
    pub fn request_counts(&self) -> Vec<corenas_proto::monitor::HelperCount> {
        let Ok(m) = self.counts.0.lock() else { return Vec::new() };
        m.iter()
            .map(|((op, result), n)| corenas_proto::monitor::HelperCount {
                op: op.clone(),
                result: (*result).to_owned(),
                count: *n,
            })
            .collect()
    }

    /// The accounts helper's socket (the only one in the lab).
    pub fn socket(&self) -> &std::path::Path {
        &self.accounts.socket
    }

    fn channel(&self, area: HelperArea) -> &Channel {
        match (area, &self.storage) {
            (HelperArea::Storage, Some(s)) => s,
            _ => &self.accounts,
        }
    }

    /// A connection that starts at the accounts helper; storage requests made on it go to the
    /// storage helper.
    pub async fn connect(&self) -> Result<HelperConn, WireError> {
        self.open(HelperArea::Accounts).await
    }

    /// A connection that starts at the storage helper (pools, md, LVM, wipes, SMART), so that
    /// storage work does not wake the accounts helper.
    pub async fn storage(&self) -> Result<HelperConn, WireError> {
        self.open(HelperArea::Storage).await
    }

    async fn open(&self, area: HelperArea) -> Result<HelperConn, WireError> {
        let conn = self.channel(area).connect().await?;
        Ok(HelperConn { area, conn, link: self.clone() })
    }
}

impl Channel {
    fn new(socket: PathBuf) -> Self {
        Self { socket, cached: std::sync::Arc::default(), closer: std::sync::Arc::default() }
    }

    /// The cached connection if it is healthy and recently used, else a new one.
    async fn connect(&self) -> Result<Conn, WireError> {
        if let Some(c) = self.cached.lock().ok().as_mut().and_then(|g| g.as_mut()) {
            let fresh = c.last_used.elapsed() < LINGER;
            if fresh && !c.broken.load(std::sync::atomic::Ordering::SeqCst) {
                c.last_used = Instant::now();
                return Ok(Conn { client: c.client.clone(), broken: std::sync::Arc::clone(&c.broken) });
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
        Ok(Conn { client, broken })
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

impl Conn {
    /// A transport failure marks the connection broken so it is not reused.
    fn check<T>(&self, r: Result<T, RpcError>) -> Result<T, WireError> {
        r.map_err(|e| {
            self.broken.store(true, std::sync::atomic::Ordering::SeqCst);
            rpc_error(e)
        })
    }
}

impl HelperConn {
    /// Counts a request by operation and result (see [`RequestCounts`]).
    async fn counted<T>(
        &self,
        op: &str,
        request: impl std::future::Future<Output = Result<T, WireError>>,
    ) -> Result<T, WireError> {
        let r = request.await;
        self.link.counts.record(op, &r);
        r
    }

    /// The connection to the helper of `area`: this one, or (made now) one to the other helper.
    async fn to(&self, area: HelperArea) -> Result<Conn, WireError> {
        if area == self.area || self.link.storage.is_none() {
            Ok(self.conn.clone())
        } else {
            self.link.channel(area).connect().await
        }
    }

    pub async fn perform(&self, op: HelperOp, dry_run: bool) -> Result<OpReport, WireError> {
        let name = op.name();
        let r = async {
            let c = self.to(op.area()).await?;
            c.check(c.client.perform(ctx(), op, dry_run).await)?
        }
        .await;
        self.link.counts.record(name, &r);
        r
    }
    /// The helper's account snapshot, shared with concurrent callers (see [`FreshRead`]).
    pub async fn accounts(&self) -> Result<Accounts, WireError> {
        self.counted("accounts", async {
            let c = self.to(HelperArea::Accounts).await?;
            self.link.accounts_read.get(async { c.check(c.client.accounts(ctx()).await)? }).await
        })
        .await
    }
    /// The managed accounts with their hashes and /etc/corenas (configuration backup only).
    pub async fn config_export(&self) -> Result<corenas_proto::config_backup::ConfigExport, WireError> {
        self.counted("config_export", async {
            let c = self.to(HelperArea::Accounts).await?;
            c.check(c.client.config_export(ctx()).await)?
        })
        .await
    }
    pub async fn acl_get(&self, path: SharePath) -> Result<AclListing, WireError> {
        self.counted("acl_get", async {
            let c = self.to(HelperArea::Accounts).await?;
            c.check(c.client.acl_get(ctx(), path).await)?
        })
        .await
    }
    pub async fn device_probe(
        &self,
        device: corenas_proto::names::DevicePath,
    ) -> Result<corenas_proto::helper::DeviceProbe, WireError> {
        self.counted("device_probe", async {
            let c = self.to(HelperArea::Accounts).await?;
            c.check(c.client.device_probe(ctx(), device).await)?
        })
        .await
    }
    pub async fn share_config(&self) -> Result<corenas_proto::shares::ShareConfig, WireError> {
        self.counted("share_config", async {
            let c = self.to(HelperArea::Accounts).await?;
            c.check(c.client.share_config(ctx()).await)?
        })
        .await
    }
    pub async fn storage_query(
        &self,
        q: corenas_proto::helper::StorageQuery,
    ) -> Result<corenas_proto::helper::ToolOutput, WireError> {
        let name = format!("query.{}", query_name(&q));
        let r = async {
            let c = self.to(HelperArea::Storage).await?;
            c.check(c.client.storage_query(ctx(), q).await)?
        }
        .await;
        self.link.counts.record(&name, &r);
        r
    }
    pub async fn wipe_check(
        &self,
        device: corenas_proto::names::DevicePath,
        regions: Vec<(u64, u32)>,
    ) -> Result<Vec<bool>, WireError> {
        self.counted("wipe_check", async {
            let c = self.to(HelperArea::Storage).await?;
            c.check(c.client.wipe_check(ctx(), device, regions).await)?
        })
        .await
    }
    pub async fn region_fingerprints(
        &self,
        device: corenas_proto::names::DevicePath,
        regions: Vec<(u64, u32)>,
    ) -> Result<Vec<[u8; 32]>, WireError> {
        self.counted("region_fingerprints", async {
            let c = self.to(HelperArea::Storage).await?;
            c.check(c.client.region_fingerprints(ctx(), device, regions).await)?
        })
        .await
    }
    /// `perform` for an operation that may take up to `limit` (a firmware erase): the call's
    /// deadline is that long, not the usual one.
    pub async fn perform_long(&self, op: HelperOp, limit: Duration) -> Result<OpReport, WireError> {
        let mut cx = tarpc::context::current();
        cx.deadline = Instant::now() + limit.max(CALL_DEADLINE);
        let name = op.name();
        let r = async {
            let c = self.to(op.area()).await?;
            c.check(c.client.perform(cx, op, false).await)?
        }
        .await;
        self.link.counts.record(name, &r);
        r
    }
    pub async fn password_check(
        &self,
        user: corenas_proto::names::UserName,
        password: corenas_proto::web::LoginPassword,
    ) -> Result<corenas_proto::helper::PasswordCheck, WireError> {
        self.counted("password_check", async {
            let c = self.to(HelperArea::Accounts).await?;
            c.check(c.client.password_check(ctx(), user, password).await)?
        })
        .await
    }
    /// The status of the helper this connection started at.
    pub async fn status(&self) -> Result<HelperStatus, WireError> {
        self.conn.check(self.conn.client.status(ctx()).await)
    }
}

/// The generic runner every domain uses to turn planned operations into a change.
impl HelperConn {
    /// Runs operations in order. Before a real run of several operations each is planned first (a
    /// dry run in the helper), so a request that would fail validation changes nothing at all; a
    /// single operation is planned by the helper right before it runs anyway.
    pub async fn run_ops(
        &self,
        ops: Vec<HelperOp>,
        dry_run: bool,
    ) -> Result<Vec<corenas_proto::helper::Step>, WireError> {
        Ok(self.run_ops_reporting(ops, dry_run).await?.0)
    }

    /// [`HelperConn::run_ops`], also returning the helper's warnings (a server not reloaded, a tool not run).
    pub async fn run_ops_reporting(
        &self,
        ops: Vec<HelperOp>,
        dry_run: bool,
    ) -> Result<(Vec<corenas_proto::helper::Step>, Vec<String>), WireError> {
        let mut steps = Vec::new();
        let mut warnings = Vec::new();
        let preflight = dry_run || ops.len() > 1;
        for op in ops.iter().filter(|_| preflight) {
            let report = self.perform(op.clone(), true).await?;
            if dry_run {
                steps.extend(report.steps);
                warnings.extend(report.warnings);
            }
        }
        if !dry_run {
            let mut done: Vec<&'static str> = Vec::new();
            for op in ops {
                let name = op.name();
                match self.perform(op, false).await {
                    Ok(report) => {
                        steps.extend(report.steps);
                        warnings.extend(report.warnings);
                    }
                    // Say what already took effect: the request is not all-or-nothing.
                    Err(mut e) if !done.is_empty() => {
                        e.message = format!("{} (already done before this failure: {})", e.message, done.join(", "));
                        return Err(e);
                    }
                    Err(e) => return Err(e),
                }
                done.push(name);
            }
        }
        Ok((steps, warnings))
    }

    /// One ACL operation; a real run also returns the path's ACL afterwards, as the helper read it.
    pub async fn run_acl_op(
        &self,
        op: HelperOp,
        dry_run: bool,
    ) -> Result<(Vec<corenas_proto::helper::Step>, Option<corenas_proto::acl::AclListing>), WireError> {
        let report = self.perform(op, dry_run).await?;
        Ok((report.steps, report.acl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn concurrent_callers_share_a_read_but_never_an_older_one() {
        let shared = Arc::new(FreshRead::<u32>::default());
        let reads = Arc::new(AtomicU32::new(0));
        let read = |reads: Arc<AtomicU32>| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(reads.fetch_add(1, Ordering::SeqCst) + 1)
        };
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (s, r) = (Arc::clone(&shared), Arc::clone(&reads));
            tasks.push(tokio::spawn(async move { s.get(read(r)).await.unwrap() }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // The first read, then one that began after all the others had asked.
        assert!(reads.load(Ordering::SeqCst) <= 2, "{} reads", reads.load(Ordering::SeqCst));
        // A caller arriving after a read ended gets a new one.
        let before = reads.load(Ordering::SeqCst);
        let v = shared.get(read(Arc::clone(&reads))).await.unwrap();
        assert_eq!(v, before + 1);
        // A failure is shared like a value, but only with those who asked before it began:
        // the next caller reads again.
        let e = shared.get(async { Err::<u32, _>(WireError::internal("x")) }).await;
        assert!(e.is_err());
        assert_eq!(shared.get(read(Arc::clone(&reads))).await.unwrap(), before + 2);
    }
}

#[cfg(test)]
mod count_tests {
    use super::*;
    use corenas_proto::helper::StorageQuery;

    #[test]
    fn requests_are_counted_by_operation_and_result() {
        let link = HelperLink::new("/nonexistent".into());
        link.counts.record("query.ZpoolList", &Ok::<(), WireError>(()));
        link.counts.record("query.ZpoolList", &Ok::<(), WireError>(()));
        link.counts.record("query.ZpoolList", &Err::<(), _>(WireError::new(ErrorCode::Busy, "x")));
        let c = link.request_counts();
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].op.as_str(), c[0].result.as_str(), c[0].count), ("query.ZpoolList", "E_BUSY", 1));
        assert_eq!((c[1].result.as_str(), c[1].count), ("ok", 2));
        assert_eq!(query_name(&StorageQuery::ZpoolList), "ZpoolList");
        let dev: corenas_proto::names::DevicePath = "/dev/sda".parse().unwrap();
        assert_eq!(query_name(&StorageQuery::SmartIfAwake { device: dev }), "SmartIfAwake");
    }
}
