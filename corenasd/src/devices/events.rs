//! The hotplug event log: the newest coalesced device events, numbered, for any module or
//! client that wants to follow the inventory (the CLI's `device events --follow`, the web UI's
//! event stream). Kept in memory: after a restart a follower reads the inventory again, which is
//! always read live from sysfs.

use corenas_proto::devices::{DeviceEventEntry, DeviceEventKind, DeviceEvents};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

/// One coalesced notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEvent {
    /// Kernel name, e.g. "sdb", "sdb1", "loop3", "sr0".
    pub device: String,
    pub kind: DeviceEventKind,
}

/// Events kept; older ones are counted as missed by a follower that asks for them.
pub const KEPT: usize = 1024;
/// Most events one answer carries.
pub const MAX_ANSWER: usize = 256;
/// Longest a caller may wait for an event.
pub const MAX_WAIT_MS: u32 = corenas_proto::devices::MAX_EVENT_WAIT_MS;

#[derive(Debug)]
pub struct DeviceEventLog {
    /// The number before this log's first event.
    base: u64,
    kept: Mutex<VecDeque<DeviceEventEntry>>,
    /// The newest sequence number; waiters wake when it moves.
    newest: tokio::sync::watch::Sender<u64>,
}

impl Default for DeviceEventLog {
    /// Numbers start at this start's time in microseconds, so a follower holding a number from
    /// before a restart is below every number kept now and is told it missed events.
    fn default() -> Self {
        let base = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2));
        Self::starting_at(base)
    }
}

impl DeviceEventLog {
    /// A log whose first event is numbered `base + 1`.
    pub fn starting_at(base: u64) -> Self {
        Self { base, kept: Mutex::new(VecDeque::with_capacity(KEPT)), newest: tokio::sync::watch::Sender::new(base) }
    }

    /// Numbers the event, keeps it (dropping the oldest past [`KEPT`]) and wakes the waiters.
    pub fn record(&self, ev: DeviceEvent) {
        let at = crate::state::now_rfc3339().unwrap_or_default();
        let Ok(mut kept) = self.kept.lock() else { return };
        let seq = *self.newest.borrow() + 1;
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back(DeviceEventEntry { seq, at, device: ev.device, kind: ev.kind });
        drop(kept);
        self.newest.send_replace(seq);
    }

    /// The kept events after `after` (0: from this log's start), at most `limit` (capped at
    /// [`MAX_ANSWER`]).
    pub fn since(&self, after: u64, limit: usize) -> DeviceEvents {
        let after = if after == 0 { self.base } else { after };
        let newest = *self.newest.borrow();
        let Ok(kept) = self.kept.lock() else { return DeviceEvents { events: Vec::new(), next: newest, missed: 0 } };
        let oldest_kept = kept.front().map_or(newest + 1, |e| e.seq);
        // A number ahead of ours cannot come from this log (numbers only grow across restarts):
        // start the follower from now.
        let after = if after > newest { newest } else { after };
        let missed = oldest_kept.saturating_sub(after + 1).min(newest - after);
        let events: Vec<DeviceEventEntry> =
            kept.iter().filter(|e| e.seq > after).take(limit.min(MAX_ANSWER)).cloned().collect();
        let next = events.last().map_or(after.max(oldest_kept.saturating_sub(1)).min(newest), |e| e.seq);
        DeviceEvents { events, next, missed }
    }

    /// Like [`Self::since`], but waits until `deadline` for an event when there is none yet.
    pub async fn wait_since(&self, after: u64, limit: usize, deadline: Instant) -> DeviceEvents {
        let mut rx = self.newest.subscribe();
        loop {
            let got = self.since(after, limit);
            if !got.events.is_empty() || got.missed > 0 {
                return got;
            }
            let until = tokio::time::Instant::from_std(deadline);
            if tokio::time::timeout_at(until, rx.changed()).await.is_err() {
                return self.since(after, limit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::devices::DeviceEventKind;

    fn ev(device: &str, kind: DeviceEventKind) -> DeviceEvent {
        DeviceEvent { device: device.into(), kind }
    }

    #[test]
    fn numbered_in_order_and_read_after_a_sequence_number() {
        let log = DeviceEventLog::starting_at(0);
        assert_eq!(log.since(0, 10), DeviceEvents { events: vec![], next: 0, missed: 0 });
        log.record(ev("loop3", DeviceEventKind::Added));
        log.record(ev("sr0", DeviceEventKind::MediaChanged));
        let all = log.since(0, 10);
        assert_eq!(
            all.events.iter().map(|e| (e.seq, e.device.as_str())).collect::<Vec<_>>(),
            [(1, "loop3"), (2, "sr0")]
        );
        assert_eq!((all.next, all.missed), (2, 0));
        let rest = log.since(1, 10);
        assert_eq!((rest.events.len(), rest.next), (1, 2));
        assert_eq!(log.since(2, 10), DeviceEvents { events: vec![], next: 2, missed: 0 });
        // Paged: the limit holds, and `next` continues where the page ended.
        let page = log.since(0, 1);
        assert_eq!((page.events.len(), page.next), (1, 1));
    }

    #[test]
    fn overrun_is_counted_as_missed() {
        let log = DeviceEventLog::starting_at(0);
        for i in 0..KEPT + 10 {
            log.record(ev(&format!("loop{}", i % 8), DeviceEventKind::Changed));
        }
        let got = log.since(0, usize::MAX);
        assert_eq!(got.missed, 10);
        assert_eq!(got.events.len(), MAX_ANSWER);
        assert_eq!(got.events[0].seq, 11);
        // Someone who read up to 5 missed 6..=10.
        assert_eq!(log.since(5, 1).missed, 5);
        // Someone up to date missed nothing.
        let newest = u64::try_from(KEPT + 10).unwrap();
        assert_eq!(log.since(newest, 1), DeviceEvents { events: vec![], next: newest, missed: 0 });
    }

    #[test]
    fn a_number_from_before_a_restart_is_told_it_missed_events() {
        let before = DeviceEventLog::starting_at(1_000);
        before.record(ev("loop1", DeviceEventKind::Added));
        let held = before.since(0, 10).next;
        // The next start numbers from a later time: what the follower held is below it.
        let after = DeviceEventLog::starting_at(5_000);
        after.record(ev("loop2", DeviceEventKind::Added));
        let got = after.since(held, 10);
        assert!(got.missed > 0, "{got:?}");
        assert_eq!(got.events.len(), 1);
        // A number from nowhere (ahead of the log) starts from now.
        assert_eq!(after.since(9_999, 10), DeviceEvents { events: vec![], next: 5_001, missed: 0 });
    }

    #[tokio::test]
    async fn a_waiter_wakes_on_the_next_event_and_gives_up_at_its_deadline() {
        let log = std::sync::Arc::new(DeviceEventLog::starting_at(0));
        let none = log.wait_since(0, 10, Instant::now() + std::time::Duration::from_millis(50)).await;
        assert!(none.events.is_empty());
        let recorder = std::sync::Arc::clone(&log);
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            recorder.record(ev("loop2", DeviceEventKind::Removed));
        });
        let got = log.wait_since(0, 10, Instant::now() + std::time::Duration::from_secs(30)).await;
        assert_eq!(got.events.len(), 1);
        assert_eq!(got.events[0].kind, DeviceEventKind::Removed);
    }
}
