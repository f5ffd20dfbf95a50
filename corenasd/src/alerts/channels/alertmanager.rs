//! Alertmanager's v2 API: `POST /api/v2/alerts` with a list of alerts. Alertmanager treats an
//! alert whose `endsAt` has passed as resolved, so a firing alert carries an end a few minutes
//! ahead (as Prometheus does) and the outbox re-sends it while it lasts.

use super::outgoing::{AlertView, FIRING_HOLD_SECS, Outgoing, rfc3339};
use serde_json::{Value, json};

pub fn payload(msg: &Outgoing, views: &[AlertView], now: i64) -> Value {
    let alerts: Vec<Value> = views
        .iter()
        .map(|v| {
            let ends = if v.firing { v.ends.unwrap_or(now + FIRING_HOLD_SECS) } else { v.ends.unwrap_or(now) };
            json!({
                "labels": v.labels(&msg.instance),
                "annotations": v.annotations(),
                "startsAt": rfc3339(v.starts),
                "endsAt": rfc3339(ends),
            })
        })
        .collect();
    Value::Array(alerts)
}

#[cfg(test)]
mod tests {
    use super::super::outgoing::{OutgoingKind, views};
    use super::super::tests::{alert, outgoing};
    use super::*;

    #[test]
    fn v2_shape() {
        let msg = outgoing(OutgoingKind::Firing, vec![alert("disk failing")]);
        let p = payload(&msg, &views(&msg, 1_700_000_500), 1_700_000_500);
        let a = &p[0];
        assert_eq!(a["labels"]["alertname"], "disk_failing");
        assert_eq!(a["labels"]["severity"], "critical");
        assert_eq!(a["labels"]["instance"], "nas1");
        assert_eq!(a["annotations"]["summary"], "disk failing");
        assert_eq!(a["annotations"]["description"], "replace the disk");
        assert_eq!(a["startsAt"], "2023-11-14T22:13:20Z");
        // Firing: ends ahead of now, so Alertmanager keeps it until the next re-send.
        assert_eq!(a["endsAt"], "2023-11-14T22:25:40Z");
        // generatorURL must be a URL when present: left out rather than made up.
        assert!(a.get("generatorURL").is_none());
    }

    #[test]
    fn resolved_ends_when_it_resolved() {
        let mut a = alert("disk failing");
        a.resolved_at = Some(1_700_000_300);
        let msg = outgoing(OutgoingKind::Resolved, vec![a]);
        let p = payload(&msg, &views(&msg, 1_700_000_500), 1_700_000_500);
        assert_eq!(p[0]["endsAt"], "2023-11-14T22:18:20Z");
    }
}
