//! corenasd's front doors: the `Corenas` service that corenas-ctl calls (`dispatch.rs`), the
//! web gate that corenas-web calls with its users' credentials (`web_gate.rs`, `web_admin.rs`)
//! and the accept loop that admits a connection to one or the other (`listen.rs`).
//!
//! Every request passes `CorenasService::serve` first: it looks the request up in the method
//! table (`methods.rs`), checks the caller's role (a refusal is audited), and runs a change in
//! its own task so that a client that goes away cannot drop it half-way. Handlers then only call
//! domain code; a change goes through `DaemonServer::change`, which audits it under the table's
//! name.
//!
//! Nothing below this folder imports it: domains take the daemon context (`daemon.rs`) or the
//! part of it they use, never a `DaemonServer`.

mod dispatch;
pub mod listen;
mod web_admin;
pub mod web_gate;

use crate::audit::AuditRecord;
use crate::authz::{self, Principal};
use crate::daemon::Daemon;
use crate::methods::{self, Method};
use corenas_proto::api::{Change, Corenas, CorenasRequest, CorenasResponse};
use corenas_proto::helper::HelperOp;
use corenas_proto::{ErrorCode, WireError};
use std::sync::Arc;
use tarpc::server::Serve;

/// The `Corenas` service for one caller (root at the CLI, or a web user through the gate).
#[derive(Clone)]
pub struct CorenasService {
    pub shared: Arc<Daemon>,
    pub principal: Principal,
}

impl Serve for CorenasService {
    type Req = CorenasRequest;
    type Resp = CorenasResponse;

    async fn serve(
        self,
        ctx: tarpc::context::Context,
        req: CorenasRequest,
    ) -> Result<CorenasResponse, tarpc::ServerError> {
        let method = Method::of(&req);
        let server = DaemonServer { shared: self.shared, principal: self.principal, method };
        if let Err(e) = authz::check(&server.principal, method) {
            let args = serde_json::json!({});
            let _ = server.shared.audit(&server.record(&args, "refused", Some(e.code.as_str())));
            return Ok(methods::refusal(&req, e));
        }
        if !method.mutates() {
            return server.serve().serve(ctx, req).await;
        }
        // tarpc drops a handler when the client goes away or the deadline passes; a change that
        // has started must still finish and be audited, so it runs in its own task, tracked so
        // that corenasd waits for it before it exits.
        let in_flight = server.shared.in_flight.clone();
        in_flight.spawn(server.serve().serve(ctx, req)).await.unwrap_or_else(|e| {
            Err(tarpc::ServerError::new(std::io::ErrorKind::Other, format!("request task failed: {e}")))
        })
    }
}

/// One request's handler: who asked, for which method of the table, with the daemon context.
#[derive(Clone)]
pub struct DaemonServer {
    pub shared: Arc<Daemon>,
    pub principal: Principal,
    pub method: Method,
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
    fn record<'a>(&'a self, args: &'a serde_json::Value, result: &'a str, code: Option<&'a str>) -> AuditRecord<'a> {
        AuditRecord {
            principal: &self.principal.name,
            channel: self.principal.channel,
            peer_uid: self.principal.peer_uid,
            action: self.method.audit_name(),
            args,
            result,
            error_code: code,
        }
    }

    /// Every change goes through here: the state filesystem check, run, audit (dry runs and
    /// failures too). If the audit entry cannot be written after a real change, the caller is
    /// told.
    pub(crate) async fn change<T, F>(
        &self,
        args: serde_json::Value,
        dry_run: bool,
        run: F,
    ) -> Result<Change<T>, WireError>
    where
        F: std::future::Future<Output = Result<Change<T>, WireError>>,
    {
        debug_assert!(self.method.mutates(), "{:?} is a read in the method table", self.method);
        if !dry_run {
            self.shared.state_writable()?;
        }
        // A bug that panics mid-request is still audited (as failed), never silently dropped.
        let r = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await.unwrap_or_else(|_| {
            Err(WireError::internal("the request failed unexpectedly (a bug); see the corenasd log"))
        });
        let code = r.as_ref().err().map(|e| e.code.as_str());
        let word = result_word(&r.as_ref().map(|_| ()), dry_run);
        self.shared.audit(&self.record(&args, word, code))?;
        r
    }

    /// Audits a read that carries data out (an image download, an audit export; L4) once per
    /// transfer, not once per chunk: a transfer is a run of reads by one principal of one
    /// object, each starting where the previous one ended (`at`, and `next` for the read after
    /// this one). A read that starts anywhere else (offset 0, a range, a second download running
    /// beside the first) begins a new transfer and is audited; so a transfer may be counted
    /// twice, never missed. The entry is written before the data is read, and if it cannot be
    /// written the read is refused: nothing leaves unrecorded.
    pub(crate) fn audit_transfer(&self, object: &str, at: i128, args: serde_json::Value) -> Result<(), WireError> {
        let key = (self.principal.name.clone(), self.method.audit_name(), object.to_owned());
        let continues = transfers().get(&key) == Some(&at);
        if !continues {
            self.shared.audit(&self.record(&args, "ok", None))?;
        }
        Ok(())
    }

    /// Where the next read of the transfer `audit_transfer` saw will start.
    pub(crate) fn transfer_moved(&self, object: &str, next: i128) {
        let mut t = transfers();
        // A bound on what abandoned transfers leave behind; forgetting one costs at most one
        // more audit entry.
        if t.len() >= MAX_TRANSFERS {
            t.clear();
        }
        t.insert((self.principal.name.clone(), self.method.audit_name(), object.to_owned()), next);
    }

    /// A change that is exactly one helper operation with nothing to return.
    async fn one_op(&self, args: serde_json::Value, dry_run: bool, op: HelperOp) -> Result<Change<()>, WireError> {
        self.change(args, dry_run, async {
            let h = self.shared.helper.connect().await?;
            let steps = h.run_ops(vec![op], dry_run).await?;
            Ok(Change::planned(dry_run, steps, None))
        })
        .await
    }
}

/// Open transfers (see `DaemonServer::audit_transfer`): (principal, audited method, object) to
/// where the next read continues. Process-wide, in memory: after a restart every read starts a
/// new transfer.
type Transfers = std::collections::HashMap<(String, &'static str, String), i128>;
const MAX_TRANSFERS: usize = 1024;

fn transfers() -> std::sync::MutexGuard<'static, Transfers> {
    static TRANSFERS: std::sync::LazyLock<std::sync::Mutex<Transfers>> = std::sync::LazyLock::new(Default::default);
    // A map of positions holds no invariant a panic could break.
    TRANSFERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_support::TestDir;
    use corenas_proto::imaging::ArchiveEdit;
    use corenas_proto::web::Role;

    fn daemon(dir: &TestDir) -> Arc<Daemon> {
        crate::daemon::for_tests(dir)
    }

    fn root(shared: &Arc<Daemon>) -> CorenasService {
        let principal = Principal { name: "root@ctl".into(), channel: "ctl", peer_uid: 0, role: Role::Admin };
        CorenasService { shared: Arc::clone(shared), principal }
    }

    /// Runs a test body on a stack the size of corenasd's main thread (8 MiB, the default
    /// `ulimit -s`), where its current-thread runtime polls every request. A debug build's frame
    /// for the dispatcher's `match` (one arm per method) is over 2 MiB since the backup methods,
    /// more than a test thread has; a release build's is a fraction of it.
    fn on_main_stack(body: impl FnOnce() + Send) {
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .stack_size(8 << 20)
                .spawn_scoped(s, body)
                .expect("test thread")
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
        });
    }

    fn actions(shared: &Daemon) -> Vec<(String, String)> {
        let entries = shared.with_state(|s| crate::audit::view(s.conn(), None, 100)).expect("audit");
        entries.into_iter().map(|e| (e.action, e.result)).collect()
    }

    /// A change must outlive a client that hangs up: the first poll of its request only starts
    /// it (in its own task), and after the request's future is dropped the change still runs to
    /// its audit entry. These three were once run inside the handler's future.
    #[test]
    fn a_change_finishes_and_is_audited_when_its_client_goes_away() {
        on_main_stack(|| {
            let edit = ArchiveEdit { add_tags: vec![], remove_tags: vec![], notes: None };
            let changes = [
                (CorenasRequest::ImagingPolicy { set: Some((false, vec![])), dry_run: false }, "image.policy", "ok"),
                (CorenasRequest::ArchiveVerify { id: "A-missing".into(), dry_run: false }, "archive.verify", "failed"),
                (
                    CorenasRequest::ArchiveEdit { id: "A-missing".into(), edit, dry_run: false },
                    "archive.edit",
                    "failed",
                ),
            ];
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            for (request, action, result) in changes {
                let dir = TestDir::new("detach");
                let shared = daemon(&dir);
                rt.block_on(async {
                    let mut answer = Box::pin(root(&shared).serve(tarpc::context::current(), request));
                    assert!(futures::poll!(&mut answer).is_pending(), "{action} ran inside the request's future");
                    drop(answer);
                    shared.in_flight.close();
                    shared.in_flight.wait().await;
                });
                assert_eq!(actions(&shared), vec![(action.to_owned(), result.to_owned())], "{action}");
            }
        });
    }

    /// The control for the test above: a read is answered inline, on its first poll, so that
    /// test's "pending after one poll" tells a detached change from an inline one.
    #[test]
    fn a_read_is_answered_inline() {
        on_main_stack(|| {
            let dir = TestDir::new("inline");
            let shared = daemon(&dir);
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                let request = CorenasRequest::ImagingPolicy { set: None, dry_run: false };
                let mut answer = Box::pin(root(&shared).serve(tarpc::context::current(), request));
                let polled = futures::poll!(&mut answer);
                assert!(
                    matches!(polled, std::task::Poll::Ready(Ok(CorenasResponse::ImagingPolicy(Ok(_))))),
                    "{polled:?}"
                );
            });
            assert!(actions(&shared).is_empty(), "a read is not audited");
        });
    }

    /// Reads that carry data out are audited once per transfer (L4): an export's first page,
    /// not the pages that continue it; a page that starts anywhere else is a new export.
    #[test]
    fn an_export_is_audited_once_not_per_page() {
        on_main_stack(|| {
            let dir = TestDir::new("export");
            let shared = daemon(&dir);
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            let page = |after: i64| {
                let answer = rt.block_on(Box::pin(
                    root(&shared).serve(tarpc::context::current(), CorenasRequest::LogPage { after, limit: 1 }),
                ));
                match answer {
                    Ok(CorenasResponse::LogPage(Ok(entries))) => entries,
                    other => panic!("{other:?}"),
                }
            };
            let first = page(i64::MIN);
            assert_eq!(first.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["log.export"], "its own entry");
            assert!(page(first[0].seq).is_empty(), "the export goes on to its end");
            assert_eq!(actions(&shared).len(), 1, "one export, one entry: {:?}", actions(&shared));
            page(i64::MIN);
            page(0);
            assert_eq!(
                actions(&shared),
                vec![("log.export".to_owned(), "ok".to_owned()); 3],
                "each new start is audited"
            );
        });
    }

    /// The role check happens before any handler runs, and the refusal is audited under the
    /// table's name.
    #[test]
    fn a_viewer_is_refused_a_change_before_it_runs() {
        on_main_stack(|| {
            let dir = TestDir::new("refuse");
            let shared = daemon(&dir);
            let mut service = root(&shared);
            service.principal.role = Role::Viewer;
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            // Boxed, as tarpc's server does: the dispatcher's future (one arm per method) is tens of
            // KiB, and a debug build's frames around it would not fit a test thread's 2 MiB stack.
            let answer = rt.block_on(Box::pin(service.serve(
                tarpc::context::current(),
                CorenasRequest::ImagingPolicy { set: Some((true, vec![])), dry_run: false },
            )));
            assert!(
                matches!(&answer, Ok(CorenasResponse::ImagingPolicy(Err(e))) if e.code == ErrorCode::NotAllowed),
                "{answer:?}"
            );
            assert_eq!(actions(&shared), vec![("image.policy".to_owned(), "refused".to_owned())]);
            let policy = rt.block_on(Box::pin(
                root(&shared)
                    .serve(tarpc::context::current(), CorenasRequest::ImagingPolicy { set: None, dry_run: false }),
            ));
            assert!(
                matches!(&policy, Ok(CorenasResponse::ImagingPolicy(Ok(c))) if c.result.as_ref().is_some_and(|p| !p.auto_start)),
                "the refused change did not run: {policy:?}"
            );
        });
    }
}
