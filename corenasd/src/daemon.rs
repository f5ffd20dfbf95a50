//! The daemon's context: what every part of corenasd shares for its whole life (the state
//! database, the link to the root helper, the in-memory registries and the locks that order
//! changes), plus the audit write and the "could this change be audited now?" check.
//!
//! It sits on the ground floor: domains and the RPC front doors import it; it imports no
//! domain logic and nothing of `rpc/`. Domains that need one part take that part.

use crate::audit::{self, AuditRecord};
use crate::helper_link::HelperLink;
use crate::state::State;
use corenas_proto::WireError;
use corenas_proto::api::AuditEntry;
use corenas_proto::imaging::DeviceInfo;
use corenas_proto::storage::PoolInfo;
use std::sync::{Arc, Mutex};

/// The daemon context (one per process, behind an `Arc`).
pub struct Daemon {
    pub state: Mutex<State>,
    pub helper: HelperLink,
    pub root: String,
    pub state_db: String,
    pub imaging: crate::imaging::registry::Imaging,
    /// Share changes render the whole set: one at a time, so none overwrites another's.
    pub shares_lock: tokio::sync::Mutex<()>,
    pub mounts_lock: tokio::sync::Mutex<()>,
    pub storage_jobs: crate::storage::jobs::Jobs,
    /// Debounced block-device events (added, removed, changed, media changed), numbered, for
    /// any module and for clients that follow the inventory.
    pub device_events: Arc<crate::devices::events::DeviceEventLog>,
    /// Web sessions, login tickets, failed-login counts and the first-run token.
    pub web: crate::web::WebState,
    /// Pool and drive listings run tools through the helper; a burst of callers (dashboards
    /// polled by many browsers) shares one fresh read instead of queueing N (see FreshRead).
    pub pool_reads: crate::helper_link::FreshRead<Vec<PoolInfo>>,
    pub drive_reads: crate::helper_link::FreshRead<Vec<DeviceInfo>>,
    /// Changes under way, each in its own task; corenasd waits for them before it exits.
    pub in_flight: tokio_util::task::TaskTracker,
    /// The health cache the collectors fill (monitor/).
    pub monitor: crate::monitor::cache::Monitor,
    /// The alert engine's in-memory part (alerts/).
    pub alerts: crate::alerts::Alerts,
    /// Unit state from systemd over D-Bus, cached and kept fresh by systemd's signals.
    pub units: crate::systemd::units::Units,
    /// Backups (backups/): corenasd's restic and the lock that orders target and task changes.
    pub backups: crate::backups::Backups,
}

impl Daemon {
    pub fn audit(&self, rec: &AuditRecord<'_>) -> Result<AuditEntry, WireError> {
        let mut state = self.state.lock().map_err(|_| WireError::internal("state lock poisoned"))?;
        audit::append(state.conn_mut(), rec).map_err(|e| {
            tracing::error!(error = %e, "audit append failed");
            WireError::from(e)
        })
    }

    /// Whether a change could be audited now: the state database's filesystem is writable and
    /// has room. Checked before a change runs, so that a full or read-only disk refuses the
    /// change instead of letting it happen unrecorded (the refusal itself cannot be audited
    /// then; it goes to the journal).
    pub fn state_writable(&self) -> Result<(), WireError> {
        use corenas_proto::ErrorCode;
        let db = std::path::Path::new(&self.state_db);
        let dir = match db.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => std::path::Path::new("."),
        };
        let refuse = |code: ErrorCode, why: String| {
            tracing::error!(state = %dir.display(), "refusing a change: {why}");
            Err(WireError::new(code, format!("corenasd refuses the change: {why}; nothing was changed")))
        };
        // statvfs may fail on a failing filesystem: then only the probe write below decides.
        let st = rustix::fs::statvfs(dir).ok();
        if st.as_ref().is_some_and(|st| st.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY)) {
            return refuse(
                ErrorCode::InvalidState,
                format!(
                    "the filesystem of its state database ({}) is read-only, so the change could not be audited",
                    dir.display()
                ),
            );
        }
        let free = st.as_ref().map_or(u64::MAX, |st| st.f_bavail.saturating_mul(st.f_frsize));
        if free < MIN_STATE_FREE {
            return refuse(
                ErrorCode::NoSpace,
                format!(
                    "the filesystem of its state database ({}) has no space left ({} KiB free; the audit log needs at least {} KiB)",
                    dir.display(),
                    free / 1024,
                    MIN_STATE_FREE / 1024
                ),
            );
        }
        // A filesystem that failed under us (ext4 after an error, with errors=remount-ro) can
        // still say it is writable: a small write finds out.
        let probe = dir.join(".corenasd-write-probe");
        match std::fs::write(&probe, b"x") {
            Ok(()) => {
                let _ = std::fs::remove_file(&probe);
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::ROFS.raw_os_error()) => refuse(
                ErrorCode::InvalidState,
                format!(
                    "the filesystem of its state database ({}) has gone read-only, so the change could not be audited",
                    dir.display()
                ),
            ),
            Err(e)
                if [rustix::io::Errno::NOSPC, rustix::io::Errno::DQUOT]
                    .iter()
                    .any(|n| e.raw_os_error() == Some(n.raw_os_error())) =>
            {
                refuse(
                    ErrorCode::NoSpace,
                    format!("the filesystem of its state database ({}) is full ({e})", dir.display()),
                )
            }
            Err(e) => refuse(
                ErrorCode::InvalidState,
                format!("it cannot write to its state database's directory {} ({e})", dir.display()),
            ),
        }
    }

    pub fn with_state<T>(&self, f: impl FnOnce(&State) -> Result<T, crate::state::StateError>) -> Result<T, WireError> {
        let state = self.state.lock().map_err(|_| WireError::internal("state lock poisoned"))?;
        f(&state).map_err(WireError::from)
    }
}

/// Room the audit log needs on the state filesystem before a change may run: an entry is a
/// few KiB, and SQLite's WAL and journal need headroom beyond it.
const MIN_STATE_FREE: u64 = 1 << 20;

/// A daemon context for unit tests: a fresh state database in `dir` and no helper (a request
/// that needs one fails, as without a running helper).
#[cfg(test)]
pub(crate) fn for_tests(dir: &crate::state::test_support::TestDir) -> Arc<Daemon> {
    let db = dir.path().join("state.db");
    Arc::new(Daemon {
        state: Mutex::new(State::open(&db).expect("state")),
        helper: HelperLink::new(dir.path().join("no-helper.sock")),
        root: "/".into(),
        state_db: db.display().to_string(),
        imaging: crate::imaging::registry::Imaging::new(dir.path().join("images"), 1),
        shares_lock: tokio::sync::Mutex::new(()),
        mounts_lock: tokio::sync::Mutex::new(()),
        storage_jobs: crate::storage::jobs::Jobs::default(),
        device_events: Arc::default(),
        web: crate::web::WebState::new(None),
        pool_reads: Default::default(),
        drive_reads: Default::default(),
        in_flight: Default::default(),
        monitor: Default::default(),
        alerts: Default::default(),
        units: crate::systemd::units::Units::new(crate::systemd::units::Bus::Cannot(crate::systemd::units::NOT_PID1)),
        backups: crate::backups::Backups::new(dir.path().join("backup")),
    })
}
