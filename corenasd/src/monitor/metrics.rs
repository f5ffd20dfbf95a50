//! `/metrics`: the health cache in the OpenMetrics text format.

use crate::daemon::Daemon;
use corenas_proto::WireError;

pub fn render(d: &Daemon) -> Result<String, WireError> {
    let _ = d;
    Err(WireError::internal("metrics: not built yet"))
}
