//! The generic webhook: Alertmanager's webhook payload (version "4"), so any receiver written
//! for Alertmanager (ntfy and Gotify bridges, chat relays) takes CoreNAS's alerts unchanged.

use super::outgoing::{AlertView, Outgoing, rfc3339};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn common<'a>(views: &'a [AlertView], pick: impl Fn(&'a AlertView) -> BTreeMap<&'static str, String>) -> Value {
    let mut maps = views.iter().map(pick);
    let Some(mut first) = maps.next() else { return json!({}) };
    for m in maps {
        first.retain(|k, v| m.get(k) == Some(v));
    }
    json!(first)
}

pub fn payload(channel: &str, msg: &Outgoing, views: &[AlertView]) -> Value {
    let firing = views.iter().any(|v| v.firing);
    let alerts: Vec<Value> = views
        .iter()
        .map(|v| {
            json!({
                "status": if v.firing { "firing" } else { "resolved" },
                "labels": v.labels(&msg.instance),
                "annotations": v.annotations(),
                "startsAt": rfc3339(v.starts),
                // Alertmanager's zero time for "not ended".
                "endsAt": v.ends.filter(|_| !v.firing).map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), rfc3339),
                "generatorURL": "",
                "fingerprint": v.fingerprint(&msg.instance),
            })
        })
        .collect();
    let group_labels = json!({ "instance": msg.instance });
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{instance=\"{}\"}}", msg.instance.escape_default()),
        "truncatedAlerts": 0,
        "status": if firing { "firing" } else { "resolved" },
        "receiver": channel,
        "groupLabels": group_labels,
        "commonLabels": common(views, |v| v.labels(&msg.instance)),
        "commonAnnotations": common(views, |v| v.annotations()),
        "externalURL": "",
        "alerts": alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::super::outgoing::{OutgoingKind, views};
    use super::super::tests::{alert, outgoing};
    use super::*;

    #[test]
    fn version_4_shape() {
        let mut b = alert("pool tank degraded");
        b.subject = "tank".into();
        let msg = outgoing(OutgoingKind::Digest, vec![alert("disk failing"), b]);
        let p = payload("hook", &msg, &views(&msg, 1_700_000_500));
        assert_eq!(p["version"], "4");
        assert_eq!(p["receiver"], "hook");
        assert_eq!(p["status"], "firing");
        assert_eq!(p["truncatedAlerts"], 0);
        let a = &p["alerts"][0];
        assert_eq!(a["status"], "firing");
        assert_eq!(a["labels"]["alertname"], "disk_failing");
        assert_eq!(a["labels"]["severity"], "critical");
        assert_eq!(a["labels"]["subject"], "wwn-0x5000");
        assert_eq!(a["labels"]["instance"], "nas1");
        assert_eq!(a["annotations"]["summary"], "disk failing");
        assert_eq!(a["annotations"]["description"], "replace the disk");
        assert_eq!(a["startsAt"], "2023-11-14T22:13:20Z");
        assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(a["fingerprint"].as_str().unwrap().len(), 16);
        assert_ne!(a["fingerprint"], p["alerts"][1]["fingerprint"]);
        // Common labels are those every alert shares.
        assert_eq!(p["commonLabels"]["alertname"], "disk_failing");
        assert!(p["commonLabels"].get("subject").is_none());
        for k in ["groupLabels", "commonAnnotations", "externalURL", "groupKey"] {
            assert!(p.get(k).is_some(), "{k}");
        }
    }

    #[test]
    fn resolved_has_an_end() {
        let mut a = alert("disk failing");
        a.resolved_at = Some(1_700_000_900);
        let msg = outgoing(OutgoingKind::Resolved, vec![a]);
        let p = payload("hook", &msg, &views(&msg, 1_700_001_000));
        assert_eq!(p["status"], "resolved");
        assert_eq!(p["alerts"][0]["status"], "resolved");
        assert_eq!(p["alerts"][0]["endsAt"], "2023-11-14T22:28:20Z");
    }
}
