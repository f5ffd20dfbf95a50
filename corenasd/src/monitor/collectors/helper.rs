//! Helper requests by operation and result, as counted by `helper_link` since corenasd started.

use crate::daemon::Daemon;
use corenas_proto::monitor::HelperCount;

pub fn collect(d: &Daemon) -> Vec<HelperCount> {
    d.helper.request_counts()
}
