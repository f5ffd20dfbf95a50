//! CoreNAS's mounts as systemd sees them: read over D-Bus from the unit-state cache
//! (systemd/units.rs), so this collector never wakes a helper.

use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::monitor::MountSample;
use corenas_proto::mounts::MountInfo;

pub async fn collect(d: &Daemon) -> Result<Vec<MountSample>, WireError> {
    Ok(crate::mounts::list_infos(d).await?.iter().map(sample).collect())
}

pub fn sample(m: &MountInfo) -> MountSample {
    let (active, state_text) = match &m.state {
        Ok(u) => (u.active_state == "active", format!("{} ({})", u.active_state, u.sub_state)),
        Err(why) => (false, why.clone()),
    };
    MountSample { target: m.def.target.to_string(), unit: m.unit.clone(), active, state_text, retries: m.retries }
}
