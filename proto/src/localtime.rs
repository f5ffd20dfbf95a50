//! The server's local time zone, for corenasd (health schedules at a local hour, the daily digest
//! at 08:00 local) and corenas-ctl (human output in local time with its offset; JSON stays UTC).
//! Read on each call from `TZ` or /etc/localtime (tz-rs: TZif files and POSIX TZ rules), so a zone
//! change applies without a restart; UTC when neither can be read. `time`'s own local offset is
//! not used: it refuses to answer in a process with threads.

/// The UTC offset, in seconds, at `t` (seconds since the epoch).
pub fn offset_at(t: i64) -> i64 {
    zone().and_then(|z| z.find_local_time_type(t).ok().map(|l| i64::from(l.ut_offset()))).unwrap_or(0)
}

/// The zone as the C library picks it: `TZ` when set and not empty (a zone name such as
/// `Europe/Berlin`, `:name`, a path or a POSIX rule; one that does not parse means UTC, as in
/// libc), else /etc/localtime. tz-rs's own `TimeZone::local()` reads only /etc/localtime.
fn zone() -> Option<tz::TimeZone> {
    match std::env::var("TZ") {
        Ok(tz) if !tz.is_empty() => tz::TimeZone::from_posix_tz(&tz).ok(),
        _ => tz::TimeZone::local().ok(),
    }
}

#[cfg(test)]
mod tests {
    /// Europe/Berlin from the system's zone database: CET (+1) in January, CEST (+2) in July.
    #[test]
    fn offsets_follow_the_zone_file() {
        let Ok(b) = std::fs::read("/usr/share/zoneinfo/Europe/Berlin") else {
            eprintln!("SKIP: no /usr/share/zoneinfo/Europe/Berlin (tzdata)");
            return;
        };
        let z = tz::TimeZone::from_tz_data(&b).expect("zone");
        let at = |t| i64::from(z.find_local_time_type(t).expect("type").ut_offset());
        assert_eq!(at(1_767_225_600), 3_600); // 2026-01-01
        assert_eq!(at(1_783_036_800), 7_200); // 2026-07-03
        assert!(tz::TimeZone::from_tz_data(b"not a zone file").is_err());
        let _ = super::offset_at(0); // the host's zone, whatever it is, answers
    }
}
