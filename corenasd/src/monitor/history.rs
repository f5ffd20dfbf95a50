//! The bounded history behind the charts: after each collector round, a few numbers of the
//! snapshot become points (`store::append`); complete hours fold into hourly mean, min and max
//! (`store::fold_and_prune`). A day or a week is read at full resolution, a month or a year from
//! the hourly means, and every series is thinned to at most [`MAX_POINTS`] on the way out.

use super::collectors::Collector;
use super::store;
use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::monitor::{HealthSnapshot, HistoryRange, Series};

/// Points per series a chart gets at most.
pub const MAX_POINTS: usize = 500;
/// Series one query returns at most.
pub const MAX_SERIES: usize = 256;

/// The points a round adds: from the collectors that ran in it.
pub fn points(
    s: &HealthSnapshot,
    ran: &[Collector],
    net_rates: &[(String, f64, f64)],
    now: i64,
) -> Vec<(String, i64, f64)> {
    let mut out = Vec::new();
    #[allow(clippy::cast_precision_loss)]
    let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    if ran.contains(&Collector::System) {
        if let Some(sys) = &s.system {
            if let Some(c) = sys.cpu_busy_ratio {
                out.push(("cpu_busy_ratio".to_owned(), now, c));
            }
            let used = sys.memory_total_bytes.saturating_sub(sys.memory_available_bytes);
            if let Some(r) = ratio(used, sys.memory_total_bytes) {
                out.push(("memory_used_ratio".to_owned(), now, r));
            }
            out.push(("load1".to_owned(), now, sys.load1));
            for (i, rx, tx) in net_rates {
                out.push((format!("net_rx_bytes_per_second:{i}"), now, *rx));
                out.push((format!("net_tx_bytes_per_second:{i}"), now, *tx));
            }
        }
    }
    if ran.contains(&Collector::Pools) {
        for p in &s.pools {
            if let Some(r) = p.allocated_bytes.zip(p.size_bytes).and_then(|(a, b)| ratio(a, b)) {
                out.push((format!("pool_used_ratio:{}", p.name), now, r));
            }
        }
    }
    if ran.contains(&Collector::Disks) {
        for d in &s.disks {
            // Only a value read now: a sleeping disk's old temperature is not a new point.
            if let (Some(t), Some(at)) = (d.temperature_c, d.smart_last_success) {
                if at == now {
                    #[allow(clippy::cast_precision_loss)]
                    out.push((format!("disk_temperature_celsius:{}", d.id), now, t as f64));
                }
            }
        }
    }
    out
}

pub fn query(d: &Daemon, prefix: &str, range: HistoryRange) -> Result<Vec<Series>, WireError> {
    if prefix.len() > 200 || prefix.chars().any(char::is_control) {
        return Err(WireError::invalid(
            "prefix",
            "a series prefix is at most 200 printable characters (e.g. \"pool_used_ratio:\" or \"cpu_busy_ratio\")",
        ));
    }
    let now = super::now();
    let (hourly, span) = match range {
        HistoryRange::Day => (false, 86_400),
        HistoryRange::Week => (false, 7 * 86_400),
        HistoryRange::Month => (true, 31 * 86_400),
        HistoryRange::Year => (true, 366 * 86_400),
    };
    let since = now - span;
    let rows = d.with_state(|s| store::points(s.conn(), hourly, prefix, since))?;
    let mut out: Vec<Series> = Vec::new();
    for (name, t, v) in rows {
        if let Some(s) = out.last_mut().filter(|s| s.name == name) {
            s.points.push((t, v));
        } else if out.len() >= MAX_SERIES {
            break;
        } else {
            out.push(Series { name, points: vec![(t, v)] });
        }
    }
    for s in &mut out {
        s.points = downsample(&s.points, since, now, MAX_POINTS);
    }
    Ok(out)
}

/// At most `max` points: the span is cut into `max` equal buckets and each bucket's points
/// become their mean at their mean time. Fewer points than `max` pass unchanged.
pub fn downsample(points: &[(i64, f64)], from: i64, to: i64, max: usize) -> Vec<(i64, f64)> {
    if points.len() <= max || max == 0 || to <= from {
        return points.to_vec();
    }
    let width = ((to - from) / i64::try_from(max).unwrap_or(i64::MAX)).max(1);
    let mut out: Vec<(i64, f64)> = Vec::with_capacity(max);
    let mut bucket: Option<(i64, i128, f64, u32)> = None;
    let flush = |b: (i64, i128, f64, u32), out: &mut Vec<(i64, f64)>| {
        let (_, tsum, vsum, n) = b;
        let t = i64::try_from(tsum / i128::from(n)).unwrap_or(i64::MAX);
        out.push((t, vsum / f64::from(n)));
    };
    for &(t, v) in points {
        let k = (t - from).max(0) / width;
        match bucket.as_mut() {
            Some(b) if b.0 == k => {
                b.1 += i128::from(t);
                b.2 += v;
                b.3 += 1;
            }
            _ => {
                if let Some(b) = bucket.take() {
                    flush(b, &mut out);
                }
                bucket = Some((k, i128::from(t), v, 1));
            }
        }
    }
    if let Some(b) = bucket {
        flush(b, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsampling_keeps_at_most_max_points_and_the_mean() {
        let pts: Vec<(i64, f64)> = (0..10_000).map(|i| (i * 60, 1.0)).collect();
        let d = downsample(&pts, 0, 600_000, 500);
        assert!(d.len() <= 501 && d.len() >= 499, "{}", d.len());
        assert!(d.iter().all(|p| (p.1 - 1.0).abs() < 1e-9));
        let few = vec![(1, 2.0), (2, 4.0)];
        assert_eq!(downsample(&few, 0, 10, 500), few);
        let two = downsample(&[(0, 0.0), (1, 2.0), (100, 10.0)], 0, 200, 2);
        assert_eq!(two, vec![(0, 1.0), (100, 10.0)]);
    }
}
