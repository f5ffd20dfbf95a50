//! Per class: deliver at once, in the daily digest, or never (the alert still shows). The
//! defaults keep mail worth reading: classes that reach warning or worse go out at once,
//! notice-level classes wait for the daily digest, informational ones are never sent.

use super::rules::default_delivery;
use super::store;
use crate::daemon::Daemon;
use crate::state::StateError;
use corenas_proto::WireError;
use corenas_proto::api::Change;
use corenas_proto::monitor::{AlertClass, ClassPolicy, Delivery};
use rusqlite::Connection;

fn policies(conn: &Connection, now: i64) -> Result<Vec<ClassPolicy>, StateError> {
    let overrides = store::policy_overrides(conn)?;
    let sent = store::sent_since(conn, now - 7 * 86_400)?;
    Ok(AlertClass::ALL
        .iter()
        .map(|&class| ClassPolicy {
            class,
            delivery: overrides.get(&class).copied().unwrap_or_else(|| default_delivery(class)),
            default: !overrides.contains_key(&class),
            sent_7d: sent.get(class.as_str()).copied().unwrap_or(0),
        })
        .collect())
}

pub fn list(d: &Daemon) -> Result<Vec<ClassPolicy>, WireError> {
    let st = d.state.lock().map_err(|_| WireError::internal("state lock poisoned"))?;
    Ok(policies(st.conn(), super::now())?)
}

/// Sets a class's delivery; setting the default removes the override (so it shows as default).
pub fn set(d: &Daemon, class: AlertClass, delivery: Delivery, dry_run: bool) -> Result<Change<ClassPolicy>, WireError> {
    let st = d.state.lock().map_err(|_| WireError::internal("state lock poisoned"))?;
    let conn = st.conn();
    let is_default = delivery == default_delivery(class);
    if !dry_run {
        store::set_policy(conn, class, (!is_default).then_some(delivery))?;
    }
    let sent_7d = store::sent_since(conn, super::now() - 7 * 86_400)?.get(class.as_str()).copied().unwrap_or(0);
    let p = ClassPolicy { class, delivery, default: is_default, sent_7d };
    Ok(Change::planned(dry_run, vec![], Some(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_send_bad_news_now_notices_in_the_digest() {
        assert_eq!(default_delivery(AlertClass::PoolDegraded), Delivery::Immediate);
        assert_eq!(default_delivery(AlertClass::DiskAttributeRising), Delivery::Immediate);
        assert_eq!(default_delivery(AlertClass::JobFailed), Delivery::Digest);
        assert_eq!(default_delivery(AlertClass::ScrubOverdue), Delivery::Digest);
        for class in AlertClass::ALL {
            assert_ne!(default_delivery(*class), Delivery::Never, "{class}: no class is info-only yet");
        }
    }
}
