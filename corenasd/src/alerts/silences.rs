//! Time-boxed silences: deliveries held back for a class, a subject or both. A silence never
//! hides an alert from the list (it shows `silenced_by`); it only keeps it from the channels.

use super::store;
use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::api::Change;
use corenas_proto::monitor::{SILENCE_MAX_MINUTES, Silence, SilenceSpec};

/// Checks a spec the wire types cannot: the duration and a non-empty matcher.
pub fn validate(spec: &SilenceSpec) -> Result<(), WireError> {
    if spec.class.is_none() && spec.subject.is_none() {
        return Err(WireError::invalid(
            "class",
            "a silence needs a class, a subject or both: an empty matcher would silence everything",
        ));
    }
    if !(1..=SILENCE_MAX_MINUTES).contains(&spec.minutes) {
        return Err(WireError::invalid(
            "minutes",
            format!("a silence lasts 1 to {SILENCE_MAX_MINUTES} minutes (90 days), not {}", spec.minutes),
        ));
    }
    Ok(())
}

pub fn add(d: &Daemon, spec: &SilenceSpec, by: &str, dry_run: bool) -> Result<Change<Silence>, WireError> {
    validate(spec)?;
    let now = super::now();
    let s = Silence {
        id: store::new_id("si"),
        class: spec.class,
        subject: spec.subject.as_ref().map(|s| s.as_str().to_owned()),
        until: now + i64::from(spec.minutes) * 60,
        reason: spec.reason.as_ref().map(|r| r.as_str().to_owned()).unwrap_or_default(),
        created_by: by.to_owned(),
        created_at: now,
    };
    if !dry_run {
        let st = d.state.lock().map_err(|_| WireError::internal("state lock poisoned"))?;
        store::insert_silence(st.conn(), &s)?;
    }
    Ok(Change::planned(dry_run, vec![], Some(s)))
}

/// The silences in force now.
pub fn list(d: &Daemon) -> Result<Vec<Silence>, WireError> {
    let st = d.state.lock().map_err(|_| WireError::internal("state lock poisoned"))?;
    Ok(store::active_silences(st.conn(), super::now())?)
}

pub fn remove(d: &Daemon, id: &str, dry_run: bool) -> Result<Change<()>, WireError> {
    let st = d.state.lock().map_err(|_| WireError::internal("state lock poisoned"))?;
    let exists = store::active_silences(st.conn(), i64::MIN)?.iter().any(|s| s.id == id);
    if !exists {
        return Err(WireError::not_found(format!("no silence '{}'", corenas_proto::names::shown(id))));
    }
    if !dry_run {
        store::delete_silence(st.conn(), id)?;
    }
    Ok(Change::planned(dry_run, vec![], Some(())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::monitor::{Alert, AlertClass, AlertLevel, AlertState, AlertSubject};

    fn spec(class: Option<AlertClass>, subject: Option<&str>, minutes: u32) -> SilenceSpec {
        SilenceSpec {
            class,
            subject: subject.map(|s| s.parse::<AlertSubject>().expect("subject")),
            minutes,
            reason: None,
        }
    }

    #[test]
    fn specs_need_a_matcher_and_a_sane_duration() {
        assert_eq!(validate(&spec(None, None, 60)).unwrap_err().field.as_deref(), Some("class"));
        assert_eq!(
            validate(&spec(Some(AlertClass::MountDown), None, 0)).unwrap_err().field.as_deref(),
            Some("minutes")
        );
        let too_long = SILENCE_MAX_MINUTES + 1;
        assert_eq!(validate(&spec(None, Some("tank"), too_long)).unwrap_err().field.as_deref(), Some("minutes"));
        assert!(validate(&spec(None, Some("tank"), SILENCE_MAX_MINUTES)).is_ok());
        assert!(validate(&spec(Some(AlertClass::MountDown), None, 1)).is_ok());
        // The wire type refuses hostile subjects before this runs.
        for bad in [String::new(), "a\nb".to_owned(), "x".repeat(129), "\u{1b}[2J".to_owned()] {
            let e = serde_json::from_value::<SilenceSpec>(serde_json::json!({
                "class": null, "subject": bad, "minutes": 5, "reason": null
            }))
            .unwrap_err();
            assert!(e.to_string().contains("subject"), "{e}");
        }
    }

    #[test]
    fn a_silence_matches_by_class_subject_or_both() {
        let alert = |class, subject: &str| Alert {
            id: "a".into(),
            class,
            subject: subject.into(),
            level: AlertLevel::Error,
            state: AlertState::Active,
            summary: String::new(),
            action: String::new(),
            first_seen: 0,
            last_seen: 0,
            resolved_at: None,
            dismissed_by: None,
            dismissed_at: None,
            silenced_by: None,
        };
        let silence = |class, subject: Option<&str>| Silence {
            id: "s".into(),
            class,
            subject: subject.map(str::to_owned),
            until: 10,
            reason: String::new(),
            created_by: "root".into(),
            created_at: 0,
        };
        let tank = alert(AlertClass::PoolDegraded, "tank");
        let by_class = [silence(Some(AlertClass::PoolDegraded), None)];
        let by_subject = [silence(None, Some("tank"))];
        let both_other = [silence(Some(AlertClass::PoolCapacity), Some("tank"))];
        let empty = [silence(None, None)];
        assert!(store::silence_for(&by_class, &tank).is_some());
        assert!(store::silence_for(&by_subject, &tank).is_some());
        assert!(store::silence_for(&both_other, &tank).is_none());
        assert!(store::silence_for(&by_subject, &alert(AlertClass::PoolDegraded, "tank2")).is_none());
        // An empty matcher (never stored) matches nothing rather than everything.
        assert!(store::silence_for(&empty, &tank).is_none());
    }
}
