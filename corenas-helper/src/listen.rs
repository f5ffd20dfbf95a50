//! The helper's accept loop. Each connection is admitted by SO_PEERCRED (root or corenasd's uid),
//! then handshaken, then served. The helper exits after `idle` without any connection.

use crate::server::{HelperServer, IN_FLIGHT, Shared};
use corenas_proto::helper::Helper;
use corenas_proto::wire::{self, Service, Verdict};
use std::os::unix::net::UnixListener as StdListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::UnixListener;

/// Longest a single helper call may run; a peer's larger deadline is cut to this. A firmware
/// erase is one call that lasts as long as the device needs (`MAX_ERASE_MINUTES`, plus a
/// minute); every other call carries corenasd's usual 5-minute deadline.
const MAX_DEADLINE: Duration = Duration::from_secs((crate::ops::storage::wipe::MAX_ERASE_MINUTES as u64 + 1) * 60);

pub struct ListenConfig {
    pub daemon_uid: Option<u32>,
    pub idle: Option<Duration>,
}

/// Serves until idle, SIGTERM or SIGINT.
pub async fn serve(listener: StdListener, shared: Arc<Shared>, cfg: ListenConfig) -> std::io::Result<()> {
    let listener = UnixListener::from_std(listener)?;
    let active = Arc::new(AtomicUsize::new(0));
    let changed = Arc::new(tokio::sync::Notify::new());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    loop {
        let idle = active.load(Ordering::SeqCst) == 0;
        let idle_sleep = async {
            match cfg.idle {
                Some(d) if idle => tokio::time::sleep(d).await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(s) => s,
                    Err(e) => { tracing::warn!(error = %e, "accept failed"); continue; }
                };
                active.fetch_add(1, Ordering::SeqCst);
                let (shared, active, changed, daemon_uid) = (Arc::clone(&shared), Arc::clone(&active), Arc::clone(&changed), cfg.daemon_uid);
                tokio::spawn(async move {
                    let _counted = ConnectionCount { active, changed };
                    connection(stream, shared, daemon_uid).await;
                });
            }
            () = changed.notified() => {}
            () = idle_sleep => {
                if !IN_FLIGHT.is_empty() {
                    continue; // an operation outlived its connection; wait for it
                }
                tracing::info!("idle: no connection for {} s, exiting", cfg.idle.unwrap_or_default().as_secs());
                break;
            }
            _ = term.recv() => { tracing::info!("SIGTERM: exiting"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: exiting"); break; }
        }
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    finish_in_flight().await;
    Ok(())
}

/// Lets detached operations finish (bounded: systemd's stop timeout is 90 s).
async fn finish_in_flight() {
    IN_FLIGHT.close();
    if !IN_FLIGHT.is_empty() {
        tracing::info!(operations = IN_FLIGHT.len(), "waiting for operations under way");
    }
    if tokio::time::timeout(Duration::from_secs(60), IN_FLIGHT.wait()).await.is_err() {
        tracing::warn!(operations = IN_FLIGHT.len(), "operations still under way after 60 s; exiting anyway");
    }
}

/// Counts a connection for the idle timer, also when its task unwinds.
struct ConnectionCount {
    active: Arc<AtomicUsize>,
    changed: Arc<tokio::sync::Notify>,
}

impl Drop for ConnectionCount {
    fn drop(&mut self) {
        self.active.fetch_sub(1, Ordering::SeqCst);
        self.changed.notify_one();
    }
}

async fn connection(mut stream: tokio::net::UnixStream, shared: Arc<Shared>, daemon_uid: Option<u32>) {
    let cred = match stream.peer_cred() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "no peer credentials; connection dropped");
            return;
        }
    };
    let (uid, pid) = (cred.uid(), cred.pid().unwrap_or(-1));
    let verdict = if uid == 0 || Some(uid) == daemon_uid {
        Verdict::Accepted
    } else {
        tracing::warn!(
            message_id = corenas_proto::logging::MSG_HELPER_REFUSED,
            peer_uid = uid,
            peer_pid = pid,
            result = "refused",
            "connection refused: uid is neither root nor corenasd"
        );
        Verdict::Refused(format!("corenas-helper refuses uid {uid}: only root and corenasd may connect"))
    };
    if let Err(e) = wire::server_hello(&mut stream, Service::Helper, &verdict).await {
        if verdict == Verdict::Accepted {
            tracing::warn!(peer_uid = uid, peer_pid = pid, error = %e.message, "handshake failed");
        }
        return;
    }
    let server = HelperServer { shared, peer_uid: uid, peer_pid: pid };
    wire::serve_connection(stream, MAX_DEADLINE, server.serve()).await;
}
