//! The bounded history behind the charts.

use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::monitor::{HistoryRange, Series};

pub fn query(d: &Daemon, prefix: &str, range: HistoryRange) -> Result<Vec<Series>, WireError> {
    let _ = (d, prefix, range);
    Err(WireError::internal("monitor history: not built yet"))
}
