//! Where alerts go: mail through an SMTP relay, a webhook, Alertmanager's v2 API.

use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::api::Change;
use corenas_proto::monitor::{ChannelInfo, ChannelName, ChannelSpec, DeliveryReport};

pub fn add(d: &Daemon, spec: &ChannelSpec, dry_run: bool) -> Result<Change<ChannelInfo>, WireError> {
    let _ = (d, spec, dry_run);
    Err(WireError::internal("channels: not built yet"))
}

pub fn list(d: &Daemon) -> Result<Vec<ChannelInfo>, WireError> {
    let _ = d;
    Err(WireError::internal("channels: not built yet"))
}

pub fn remove(d: &Daemon, name: &ChannelName, dry_run: bool) -> Result<Change<()>, WireError> {
    let _ = (d, name, dry_run);
    Err(WireError::internal("channels: not built yet"))
}

pub async fn test(d: &Daemon, name: &ChannelName, dry_run: bool) -> Result<Change<DeliveryReport>, WireError> {
    let _ = (d, name, dry_run);
    Err(WireError::internal("channels: not built yet"))
}
