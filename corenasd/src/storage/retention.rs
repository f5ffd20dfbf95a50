//! Scheduled snapshots: when one is due and which old ones go. Pure functions of the snapshot
//! names and the time, so the policy is tested without a pool.
//!
//! Scheduled snapshots are named `auto-YYYY-MM-DD_HH-MM` (UTC), the name samba's previous
//! versions read; snapshots with any other name are the admin's and are never pruned. A snapshot
//! is kept when it is the newest in one of the last `hourly` hours, `daily` days, `weekly` ISO
//! weeks or `monthly` months (the grandfather-father-son rule of zfs-auto-snapshot and sanoid).

use corenas_proto::storage::Retention;
use std::collections::BTreeSet;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

pub const PREFIX: &str = "auto-";

pub fn name_for(t: OffsetDateTime) -> String {
    format!("{PREFIX}{:04}-{:02}-{:02}_{:02}-{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
}

/// The time in a scheduled snapshot's name; None for any other name.
pub fn parse_name(name: &str) -> Option<OffsetDateTime> {
    let r = name.strip_prefix(PREFIX)?;
    let b = r.as_bytes();
    if b.len() != 16 || b[4] != b'-' || b[7] != b'-' || b[10] != b'_' || b[13] != b'-' {
        return None;
    }
    let n = |a: usize, z: usize| r.get(a..z)?.parse::<u32>().ok();
    let month = Month::try_from(u8::try_from(n(5, 7)?).ok()?).ok()?;
    let date = Date::from_calendar_date(i32::try_from(n(0, 4)?).ok()?, month, u8::try_from(n(8, 10)?).ok()?).ok()?;
    let time = Time::from_hms(u8::try_from(n(11, 13)?).ok()?, u8::try_from(n(14, 16)?).ok()?, 0).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Period {
    Hour,
    Day,
    Week,
    Month,
}

fn bucket(p: Period, t: OffsetDateTime) -> i64 {
    match p {
        Period::Hour => t.unix_timestamp().div_euclid(3600),
        Period::Day => i64::from(t.date().to_julian_day()),
        Period::Week => {
            let (y, w, _) = t.date().to_iso_week_date();
            i64::from(y) * 53 + i64::from(w)
        }
        Period::Month => i64::from(t.year()) * 12 + i64::from(u8::from(t.month())),
    }
}

fn periods(keep: &Retention) -> Vec<(Period, u16)> {
    [(Period::Hour, keep.hourly), (Period::Day, keep.daily), (Period::Week, keep.weekly), (Period::Month, keep.monthly)]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Whether a new scheduled snapshot is due: none exists yet in the current bucket of the
/// shortest period kept.
pub fn due(keep: &Retention, existing: &[String], now: OffsetDateTime) -> bool {
    let Some((shortest, _)) = periods(keep).into_iter().min() else { return false };
    !existing.iter().filter_map(|n| parse_name(n)).any(|t| bucket(shortest, t) == bucket(shortest, now))
}

/// The scheduled snapshots to destroy (never another name), given all snapshot names.
pub fn prune(keep: &Retention, existing: &[String]) -> Vec<String> {
    let mut auto: Vec<(OffsetDateTime, &String)> =
        existing.iter().filter_map(|n| parse_name(n).map(|t| (t, n))).collect();
    auto.sort();
    auto.reverse(); // newest first
    let mut kept: BTreeSet<&String> = BTreeSet::new();
    for (p, n) in periods(keep) {
        let mut seen = BTreeSet::new();
        for (t, name) in &auto {
            if seen.len() >= usize::from(n) {
                break;
            }
            if seen.insert(bucket(p, *t)) {
                kept.insert(name);
            }
        }
    }
    auto.iter().filter(|(_, n)| !kept.contains(n)).map(|(_, n)| (*n).clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn names(ts: &[OffsetDateTime]) -> Vec<String> {
        ts.iter().map(|t| name_for(*t)).collect()
    }

    #[test]
    fn names_round_trip_and_others_are_not_ours() {
        let t = datetime!(2026-11-24 09:05 UTC);
        assert_eq!(name_for(t), "auto-2026-11-24_09-05");
        assert_eq!(parse_name("auto-2026-11-24_09-05"), Some(t));
        for other in ["manual", "auto-2026-13-01_00-00", "auto-2026-11-24_09-5", "auto-2026-11-24T09-05", "auto-"] {
            assert_eq!(parse_name(other), None, "{other}");
        }
    }

    #[test]
    fn due_once_per_shortest_period() {
        let keep = Retention { hourly: 0, daily: 7, weekly: 4, monthly: 0 };
        let now = datetime!(2026-11-24 15:00 UTC);
        assert!(due(&keep, &[], now));
        assert!(!due(&keep, &names(&[datetime!(2026-11-24 00:10 UTC)]), now));
        assert!(due(&keep, &names(&[datetime!(2026-11-23 23:59 UTC)]), now));
        assert!(!due(&Retention::default(), &[], now));
    }

    #[test]
    fn grandfather_father_son() {
        // Hourly snapshots for 3 days.
        let start = datetime!(2026-11-22 00:00 UTC);
        let all: Vec<OffsetDateTime> = (0..72).map(|h| start + time::Duration::hours(h)).collect();
        let mut existing = names(&all);
        existing.push("before-upgrade".into());
        let keep = Retention { hourly: 5, daily: 2, weekly: 0, monthly: 0 };
        let gone = prune(&keep, &existing);
        let left: Vec<&String> = existing.iter().filter(|n| !gone.contains(n)).collect();
        // 5 newest hours; the newest of today is among them; yesterday's newest (23:00) kept.
        assert_eq!(left.len(), 5 + 1 + 1, "{left:?}");
        assert!(left.contains(&&"auto-2026-11-23_23-00".to_owned()));
        assert!(left.contains(&&"before-upgrade".to_owned()), "a manual snapshot is never pruned");
        assert!(gone.contains(&"auto-2026-11-22_23-00".to_owned()));
    }

    #[test]
    fn nothing_kept_means_every_scheduled_one_goes_but_nothing_else() {
        let existing = vec!["auto-2026-01-01_00-00".to_owned(), "mine".to_owned()];
        assert_eq!(prune(&Retention::default(), &existing), ["auto-2026-01-01_00-00"]);
    }
}
