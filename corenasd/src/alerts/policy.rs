//! Per class: deliver at once, in the daily digest, or never.

use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::api::Change;
use corenas_proto::monitor::{AlertClass, ClassPolicy, Delivery};

pub fn list(d: &Daemon) -> Result<Vec<ClassPolicy>, WireError> {
    let _ = d;
    Err(WireError::internal("alert policies: not built yet"))
}

pub fn set(d: &Daemon, class: AlertClass, delivery: Delivery, dry_run: bool) -> Result<Change<ClassPolicy>, WireError> {
    let _ = (d, class, delivery, dry_run);
    Err(WireError::internal("alert policies: not built yet"))
}
