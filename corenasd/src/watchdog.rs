//! systemd's watchdog (`WatchdogSec=` in corenasd.service): a task on corenasd's own runtime
//! sends WATCHDOG=1 at half the interval, and only after a trivial query on the shared state
//! connection answered. A wedged runtime, a state lock held forever or a poisoned one stop the
//! pings, and systemd restarts corenasd. It must stay a task of the main runtime: a thread of
//! its own would keep pinging while the runtime is stuck.

use crate::daemon::Daemon;
use corenas_proto::WireError;
use std::sync::Arc;
use std::time::Duration;

/// The ping interval: half of WATCHDOG_USEC, or None when systemd asked for no watchdog.
pub fn interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().filter(|d| !d.is_zero()).map(|d| d / 2)
}

/// Whether corenasd can serve: the state lock can be taken and SQLite answers.
pub fn healthy(d: &Daemon) -> Result<(), WireError> {
    d.with_state(|s| {
        s.conn().query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map_err(crate::state::sql("the watchdog's query"))
    })
    .map(|_| ())
}

/// Pings every `every` while healthy; logs each change between healthy and not once.
pub async fn run(d: Arc<Daemon>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_healthy = true;
    loop {
        tick.tick().await;
        match healthy(&d) {
            Ok(()) => {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                if !was_healthy {
                    tracing::info!("healthy again: watchdog pings resumed");
                }
                was_healthy = true;
            }
            Err(e) => {
                if was_healthy {
                    tracing::error!(error = %e.message, "unhealthy: no watchdog ping (systemd restarts corenasd if this lasts)");
                }
                was_healthy = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_state_is_healthy_and_a_poisoned_lock_is_not() {
        let dir = crate::state::test_support::TestDir::new("watchdog-health");
        let d = crate::daemon::for_tests(&dir);
        assert!(healthy(&d).is_ok());
        let poisoner = Arc::clone(&d);
        let _ = std::thread::spawn(move || {
            let _held = poisoner.state.lock();
            panic!("poisoning the state lock on purpose");
        })
        .join();
        let e = healthy(&d).expect_err("a poisoned lock is unhealthy");
        assert!(e.message.contains("poisoned"), "{}", e.message);
    }
}
