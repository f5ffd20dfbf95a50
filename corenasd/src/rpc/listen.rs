//! corenasd's accept loop: admit by SO_PEERCRED (refusals are audited and logged), handshake,
//! then serve the `Corenas` API on the connection.

use super::CorenasService;
use crate::audit::AuditRecord;
use crate::authz;
use crate::daemon::Daemon;
use corenas_proto::web_gate::WebGate;
use corenas_proto::wire::{self, Service, Verdict};
use std::os::unix::net::UnixListener as StdListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixListener;

/// Longest a single daemon call may run; a peer's larger deadline is cut to this.
const MAX_DEADLINE: Duration = Duration::from_secs(900);

pub async fn serve(listener: StdListener, shared: Arc<Daemon>) -> std::io::Result<()> {
    let listener = UnixListener::from_std(listener)?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => { tokio::spawn(connection(stream, Arc::clone(&shared))); }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("stopping");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    // Changes under way finish and are audited before the process exits.
    shared.in_flight.close();
    if tokio::time::timeout(Duration::from_secs(60), shared.in_flight.wait()).await.is_err() {
        tracing::warn!("requests still under way after 60 s; exiting anyway");
    }
    Ok(())
}

async fn connection(mut stream: tokio::net::UnixStream, shared: Arc<Daemon>) {
    let Ok(cred) = stream.peer_cred() else {
        tracing::warn!("no peer credentials; connection dropped");
        return;
    };
    let (uid, pid) = (cred.uid(), cred.pid().unwrap_or(-1));
    let admission = match authz::admit(uid, shared.web.web_uid) {
        Ok(a) => a,
        Err(why) => {
            tracing::warn!(peer_uid = uid, peer_pid = pid, result = "refused", "{why}");
            let args = serde_json::json!({ "peer_pid": pid });
            let rec = AuditRecord {
                principal: "unknown",
                channel: "socket",
                peer_uid: uid,
                action: "connect",
                args: &args,
                result: "refused",
                error_code: Some(corenas_proto::ErrorCode::NotAllowed.as_str()),
            };
            let _ = shared.audit(&rec);
            let _ = wire::server_hello(&mut stream, Service::Daemon, &Verdict::Refused(why)).await;
            return;
        }
    };
    let service = match admission {
        authz::Admission::Ctl(_) => Service::Daemon,
        authz::Admission::Web => Service::WebGate,
    };
    if let Err(e) = wire::server_hello(&mut stream, service, &Verdict::Accepted).await {
        tracing::warn!(peer_uid = uid, peer_pid = pid, error = %e.message, "handshake failed");
        return;
    }
    match admission {
        authz::Admission::Ctl(principal) => {
            let service = CorenasService { shared, principal };
            wire::serve_connection(stream, MAX_DEADLINE, service).await;
        }
        authz::Admission::Web => {
            let server = super::web_gate::WebGateServer { shared, peer_uid: uid };
            wire::serve_connection(stream, MAX_DEADLINE, server.serve()).await;
        }
    }
}
