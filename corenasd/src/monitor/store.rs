//! The monitor's tables in state.db: `monitor_cache` (one row per collector: its part of the
//! snapshot as JSON and its bookkeeping) and the bounded history behind the charts,
//! `metric_history` (full resolution, 8 days) and `metric_history_hourly` (mean, min and max
//! per hour, 400 days).

use crate::state::{StateError, sql};
use corenas_proto::monitor::CollectorStatus;
use rusqlite::{Connection, OptionalExtension, params};

/// Full-resolution points are kept this long.
pub const FULL_KEEP: i64 = 8 * 86_400;
/// Hourly points are kept this long.
pub const HOURLY_KEEP: i64 = 400 * 86_400;
/// Row caps, whatever the number of series: the oldest rows go first beyond them.
pub const FULL_MAX_ROWS: i64 = 2_000_000;
pub const HOURLY_MAX_ROWS: i64 = 2_000_000;

/// One cached collector as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Cached {
    pub name: String,
    pub data: Option<String>,
    pub last_run: Option<i64>,
    pub last_success: Option<i64>,
    pub last_error: Option<String>,
    pub runs: u64,
    pub failures: u64,
}

pub fn load(conn: &Connection) -> Result<Vec<Cached>, StateError> {
    let mut stmt = conn
        .prepare("SELECT collector, data, last_run, last_success, last_error, runs, failures FROM monitor_cache")
        .map_err(sql("reading the health cache"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Cached {
                name: r.get(0)?,
                data: r.get(1)?,
                last_run: r.get(2)?,
                last_success: r.get(3)?,
                last_error: r.get(4)?,
                runs: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
                failures: u64::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
            })
        })
        .map_err(sql("reading the health cache"))?;
    rows.collect::<Result<_, _>>().map_err(sql("reading the health cache"))
}

/// Stores a collector's bookkeeping and, when it succeeded (`data` is Some), its part; a
/// failed run leaves the last good part in place.
pub fn save(conn: &Connection, st: &CollectorStatus, data: Option<&str>) -> Result<(), StateError> {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    conn.execute(
        "INSERT INTO monitor_cache(collector, data, last_run, last_success, last_error, runs, failures)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(collector) DO UPDATE SET data = COALESCE(excluded.data, monitor_cache.data),
             last_run = excluded.last_run, last_success = excluded.last_success,
             last_error = excluded.last_error, runs = excluded.runs, failures = excluded.failures",
        params![st.name, data, st.last_run, st.last_success, st.last_error, n(st.runs), n(st.failures)],
    )
    .map_err(sql("storing the health cache"))?;
    Ok(())
}

/// Appends points (series, time, value); a second value for the same series and second
/// replaces the first.
pub fn append(conn: &Connection, points: &[(String, i64, f64)]) -> Result<(), StateError> {
    if points.is_empty() {
        return Ok(());
    }
    let tx = conn.unchecked_transaction().map_err(sql("recording history"))?;
    {
        let mut stmt = tx
            .prepare_cached("INSERT OR REPLACE INTO metric_history(series, t, v) VALUES (?1, ?2, ?3)")
            .map_err(sql("recording history"))?;
        for (s, t, v) in points.iter().filter(|p| p.2.is_finite()) {
            stmt.execute(params![s, t, v]).map_err(sql("recording history"))?;
        }
    }
    tx.commit().map_err(sql("recording history"))
}

/// Folds every complete hour not folded yet (and the last folded one again, in case it got
/// points late) into hourly mean, min and max, then drops what is past its keep time and
/// whatever exceeds the row caps.
pub fn fold_and_prune(conn: &Connection, now: i64) -> Result<(), StateError> {
    let hour = now - now.rem_euclid(3600);
    let tx = conn.unchecked_transaction().map_err(sql("folding history"))?;
    let last: Option<i64> = tx
        .query_row("SELECT MAX(t) FROM metric_history_hourly", [], |r| r.get(0))
        .optional()
        .map_err(sql("folding history"))?
        .flatten();
    // Full-resolution points of an hour are kept 8 days, so refolding that hour is exact.
    let from = last.unwrap_or(i64::MIN).max(hour - FULL_KEEP);
    tx.execute(
        "INSERT OR REPLACE INTO metric_history_hourly(series, t, v, vmin, vmax)
         SELECT series, t - (t % 3600), AVG(v), MIN(v), MAX(v) FROM metric_history
         WHERE t >= ?1 AND t < ?2 GROUP BY series, t - (t % 3600)",
        params![from, hour],
    )
    .map_err(sql("folding history"))?;
    tx.execute("DELETE FROM metric_history WHERE t < ?1", params![now - FULL_KEEP]).map_err(sql("pruning history"))?;
    tx.execute("DELETE FROM metric_history_hourly WHERE t < ?1", params![now - HOURLY_KEEP])
        .map_err(sql("pruning history"))?;
    cap(&tx, "metric_history", FULL_MAX_ROWS)?;
    cap(&tx, "metric_history_hourly", HOURLY_MAX_ROWS)?;
    tx.commit().map_err(sql("folding history"))
}

/// Drops the oldest rows of `table` beyond `max` rows.
fn cap(conn: &Connection, table: &'static str, max: i64) -> Result<(), StateError> {
    let rows: i64 =
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).map_err(sql("capping history"))?;
    if rows <= max {
        return Ok(());
    }
    let cut: Option<i64> = conn
        .query_row(&format!("SELECT t FROM {table} ORDER BY t ASC LIMIT 1 OFFSET ?1"), params![rows - max], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sql("capping history"))?;
    if let Some(cut) = cut {
        conn.execute(&format!("DELETE FROM {table} WHERE t < ?1"), params![cut]).map_err(sql("capping history"))?;
    }
    Ok(())
}

/// Points of the series whose names start with `prefix`, since `since`, by series then time:
/// full resolution, or the hourly means.
pub fn points(
    conn: &Connection,
    hourly: bool,
    prefix: &str,
    since: i64,
) -> Result<Vec<(String, i64, f64)>, StateError> {
    let table = if hourly { "metric_history_hourly" } else { "metric_history" };
    // A range on the primary key: every name that starts with the prefix sorts between the
    // prefix and the prefix followed by the highest character.
    let upper = format!("{prefix}\u{10FFFF}");
    let mut stmt = conn
        .prepare(&format!(
            "SELECT series, t, v FROM {table} WHERE series >= ?1 AND series < ?2 AND t >= ?3 ORDER BY series, t"
        ))
        .map_err(sql("reading history"))?;
    let rows = stmt
        .query_map(params![prefix, upper, since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(sql("reading history"))?;
    rows.collect::<Result<_, _>>().map_err(sql("reading history"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempdir::Dir, crate::state::State) {
        let dir = tempdir::Dir::new();
        let s = crate::state::State::open(&dir.0.join("state.db")).unwrap();
        (dir, s)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let p = std::env::temp_dir().join(format!("corenas-monitor-store-{}-{n}", std::process::id()));
                let _ = std::fs::remove_dir_all(&p);
                Self(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn a_failed_run_keeps_the_last_good_part() {
        let (_d, s) = db();
        let mut st = CollectorStatus {
            name: "pools".into(),
            interval_seconds: 300,
            last_run: Some(10),
            last_success: Some(10),
            last_error: None,
            runs: 1,
            failures: 0,
        };
        save(s.conn(), &st, Some("[1]")).unwrap();
        st.last_run = Some(20);
        st.last_error = Some("zpool failed".into());
        st.runs = 2;
        st.failures = 1;
        save(s.conn(), &st, None).unwrap();
        let c = load(s.conn()).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].data.as_deref(), Some("[1]"));
        assert_eq!((c[0].last_run, c[0].last_success, c[0].runs, c[0].failures), (Some(20), Some(10), 2, 1));
        assert_eq!(c[0].last_error.as_deref(), Some("zpool failed"));
    }

    #[test]
    fn history_folds_complete_hours_and_forgets_old_points() {
        let (_d, s) = db();
        let c = s.conn();
        let day = 86_400 * 20_000; // a whole hour
        let mut pts = Vec::new();
        for i in 0..120 {
            pts.push(("cpu_busy_ratio".to_owned(), day + i * 60, f64::from(u32::try_from(i).unwrap())));
        }
        pts.push(("pool_used_ratio:tank".into(), day, 0.5));
        pts.push(("pool_used_ratio:tank2".into(), day, f64::NAN));
        append(c, &pts).unwrap();
        fold_and_prune(c, day + 2 * 3600 + 5).unwrap();
        let h = points(c, true, "cpu", 0).unwrap();
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(h[0], ("cpu_busy_ratio".into(), day, 29.5));
        let mm: (f64, f64) = c
            .query_row(
                "SELECT vmin, vmax FROM metric_history_hourly WHERE t = ?1 AND series = 'cpu_busy_ratio'",
                [day],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(mm, (0.0, 59.0));
        assert_eq!(points(c, false, "pool_used_ratio:", 0).unwrap().len(), 1, "NaN is not stored");
        assert_eq!(points(c, false, "pool_used_ratio:tank2", 0).unwrap().len(), 0);
        // Nine days later the full-resolution points are gone, the hourly ones stay.
        fold_and_prune(c, day + 9 * 86_400).unwrap();
        assert!(points(c, false, "", 0).unwrap().is_empty());
        assert_eq!(points(c, true, "cpu_busy_ratio", 0).unwrap().len(), 2);
        fold_and_prune(c, day + 401 * 86_400).unwrap();
        assert!(points(c, true, "", 0).unwrap().is_empty());
    }

    #[test]
    fn the_row_cap_drops_the_oldest() {
        let (_d, s) = db();
        let c = s.conn();
        let pts: Vec<_> = (0..10).map(|i| ("x".to_owned(), 1000 + i, 1.0)).collect();
        append(c, &pts).unwrap();
        cap(c, "metric_history", 4).unwrap();
        let left: Vec<i64> = points(c, false, "x", 0).unwrap().into_iter().map(|p| p.1).collect();
        assert_eq!(left, vec![1006, 1007, 1008, 1009]);
    }
}
