//! Storage jobs (scrubs, wipes, self-tests) and imaging jobs: the running ones and those that
//! ended in the last week, newest first, so the alert engine sees failures and `/metrics` the
//! last result per kind.

use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::imaging::{JobKind, JobQuery, JobSort, JobState, LIST_MAX};
use corenas_proto::monitor::JobSample;

/// How far back ended jobs are reported.
const RECENT: i64 = 7 * 86_400;
/// Jobs reported at most.
const MAX_JOBS: usize = 200;

/// Seconds since the epoch of an RFC 3339 time as corenasd writes them
/// ("2026-12-07T18:00:45.123456789Z", or with an offset "+01:00").
pub fn epoch(s: &str) -> Option<i64> {
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i32>().ok());
    let sep = |i: usize, c: u8| s.as_bytes().get(i) == Some(&c);
    if !(sep(4, b'-')
        && sep(7, b'-')
        && (sep(10, b'T') || sep(10, b't') || sep(10, b' '))
        && sep(13, b':')
        && sep(16, b':'))
    {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(n(5..7)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(n(0..4)?, month, u8::try_from(n(8..10)?).ok()?).ok()?;
    let hms = |r| n(r).and_then(|v| u8::try_from(v).ok());
    let t = time::Time::from_hms(hms(11..13)?, hms(14..16)?, hms(17..19)?).ok()?;
    let rest = s.get(19..)?;
    let rest = rest.strip_prefix('.').map_or(rest, |f| f.trim_start_matches(|c: char| c.is_ascii_digit()));
    let offset = match rest {
        "Z" | "z" => time::UtcOffset::UTC,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && o.as_bytes()[3] == b':' => {
            let sign: i8 = if o.starts_with('-') { -1 } else { 1 };
            let h = o[1..3].parse::<i8>().ok()?;
            let m = o[4..6].parse::<i8>().ok()?;
            time::UtcOffset::from_hms(sign * h, sign * m, 0).ok()?
        }
        _ => return None,
    };
    Some(time::PrimitiveDateTime::new(date, t).assume_offset(offset).unix_timestamp())
}

pub fn collect(d: &Daemon, now: i64) -> Result<Vec<JobSample>, WireError> {
    let recent = |finished: Option<i64>, running: bool| running || finished.is_some_and(|f| now - f <= RECENT);
    let mut out: Vec<JobSample> = Vec::new();
    // Live jobs first: they are newer than their stored copies.
    let mut storage = d.storage_jobs.live();
    let live: std::collections::HashSet<String> = storage.iter().map(|j| j.id.clone()).collect();
    let stored = d.with_state(|s| crate::storage::jobs::stored(s.conn()))?;
    storage.extend(stored.into_iter().filter(|j| !live.contains(&j.id)));
    for j in storage {
        let finished = j.finished.as_deref().and_then(epoch);
        if recent(finished, j.state == "running") {
            out.push(JobSample {
                id: j.id,
                kind: j.kind,
                target: j.target,
                state: j.state,
                finished,
                message: j.message,
            });
        }
    }
    let q = JobQuery { status: None, sort: JobSort::Updated, limit: LIST_MAX, offset: 0 };
    for j in crate::imaging::api::list(d, &q)?.jobs {
        let finished = j.finished_at.as_deref().and_then(epoch);
        let state = match j.status {
            JobState::Queued | JobState::Paused => continue,
            JobState::Running | JobState::Hashing => "running",
            JobState::Completed => "done",
            // A finished image with unreadable sectors is a result the user must look at.
            JobState::CompletedWithErrors | JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        };
        if recent(finished, state == "running") {
            out.push(JobSample {
                id: j.id,
                kind: match j.kind {
                    JobKind::Image => "image",
                    JobKind::Verify => "verify",
                }
                .into(),
                target: j.device.unwrap_or(j.name),
                state: state.into(),
                finished,
                message: j.error,
            });
        }
    }
    out.sort_by(|a, b| b.finished.unwrap_or(i64::MAX).cmp(&a.finished.unwrap_or(i64::MAX)).then(a.id.cmp(&b.id)));
    out.truncate(MAX_JOBS);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_as_written() {
        assert_eq!(epoch("2026-12-07T18:00:45Z"), Some(1_796_666_445));
        assert_eq!(epoch("2026-12-07T18:00:45.123456789Z"), Some(1_796_666_445));
        assert_eq!(epoch("2026-12-07T19:00:45+01:00"), Some(1_796_666_445));
        assert_eq!(epoch("2026-12-07T17:30:45-00:30"), Some(1_796_666_445));
        for bad in [
            "",
            "2026-12-07",
            "2026-13-07T18:00:45Z",
            "2026-12-07T18:00:45",
            "2026-12-07T18:00:45+1",
            "2026-12-07T18:00:45ZZ",
            "2026-12-07T18:00:61Z",
            "2026-12-07T18:00:45\u{e9}",
        ] {
            assert_eq!(epoch(bad), None, "{bad}");
        }
    }
}
