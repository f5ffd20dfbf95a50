//! Time-boxed silences: deliveries held back for a class, a subject or both.

use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::api::Change;
use corenas_proto::monitor::{Silence, SilenceSpec};

pub fn add(d: &Daemon, spec: &SilenceSpec, by: &str, dry_run: bool) -> Result<Change<Silence>, WireError> {
    let _ = (d, spec, by, dry_run);
    Err(WireError::internal("silences: not built yet"))
}

pub fn list(d: &Daemon) -> Result<Vec<Silence>, WireError> {
    let _ = d;
    Err(WireError::internal("silences: not built yet"))
}

pub fn remove(d: &Daemon, id: &str, dry_run: bool) -> Result<Change<()>, WireError> {
    let _ = (d, id, dry_run);
    Err(WireError::internal("silences: not built yet"))
}
