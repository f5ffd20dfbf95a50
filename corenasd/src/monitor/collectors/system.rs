//! The machine as /proc tells it: CPU busy share between two samples, memory, load and the
//! network counters. Read by corenasd itself (nothing here needs privilege or a tool).

use corenas_proto::WireError;
use corenas_proto::monitor::{NetSample, SystemSample};

/// Interfaces reported at most (containers and bridges can make hundreds).
const MAX_INTERFACES: usize = 64;
/// Largest /proc file read (a machine with many CPUs has a long /proc/stat).
const MAX_PROC: u64 = 1 << 20;

/// CPU jiffies from the `cpu` line of /proc/stat: (busy, total).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    pub busy: u64,
    pub total: u64,
}

/// The previous sample, for ratios and rates.
#[derive(Debug, Default)]
pub struct Previous {
    cpu: Option<CpuTimes>,
    net: Option<(i64, Vec<NetSample>)>,
    /// Bytes per second per interface (rx, tx) between the last two samples.
    pub net_rates: Vec<(String, f64, f64)>,
}

fn read(path: &str) -> Result<String, WireError> {
    use std::io::Read;
    let mut s = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PROC).read_to_string(&mut s))
        .map_err(|e| WireError::internal(format!("reading {path}: {e}")))?;
    Ok(s)
}

pub fn collect(prev: &mut Previous, now: i64) -> Result<SystemSample, WireError> {
    let cpu = parse_stat(&read("/proc/stat")?).ok_or_else(|| WireError::internal("/proc/stat has no cpu line"))?;
    let (total, available) =
        parse_meminfo(&read("/proc/meminfo")?).ok_or_else(|| WireError::internal("/proc/meminfo lacks MemTotal"))?;
    let load1 = parse_loadavg(&read("/proc/loadavg")?).ok_or_else(|| WireError::internal("/proc/loadavg is odd"))?;
    let net = parse_net_dev(&read("/proc/net/dev")?);
    let cpu_busy_ratio = prev.cpu.and_then(|p| busy_ratio(p, cpu));
    prev.cpu = Some(cpu);
    prev.net_rates = match &prev.net {
        Some((t, old)) if now > *t => net_rates(old, &net, now - t),
        _ => Vec::new(),
    };
    prev.net = Some((now, net.clone()));
    Ok(SystemSample { cpu_busy_ratio, memory_total_bytes: total, memory_available_bytes: available, load1, net })
}

/// The `cpu` line: user nice system idle iowait irq softirq steal (guest time is already in
/// user and nice). Idle and iowait are not busy.
pub fn parse_stat(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.split_whitespace().next() == Some("cpu"))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).take(8).map(|f| f.parse().ok()).collect::<Option<_>>()?;
    if v.len() < 4 {
        return None;
    }
    let total: u64 = v.iter().fold(0u64, |a, b| a.saturating_add(*b));
    let idle = v[3].saturating_add(v.get(4).copied().unwrap_or(0));
    Some(CpuTimes { busy: total.saturating_sub(idle), total })
}

/// Busy share between two samples; None when no time passed or the counters went back.
pub fn busy_ratio(a: CpuTimes, b: CpuTimes) -> Option<f64> {
    let total = b.total.checked_sub(a.total).filter(|t| *t > 0)?;
    let busy = b.busy.checked_sub(a.busy)?;
    #[allow(clippy::cast_precision_loss)]
    Some((busy as f64 / total as f64).clamp(0.0, 1.0))
}

/// (MemTotal, MemAvailable) in bytes; MemAvailable falls back to MemFree.
pub fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let kib = |key: &str| {
        text.lines().find_map(|l| {
            let rest = l.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok().map(|k| k.saturating_mul(1024))
        })
    };
    let total = kib("MemTotal")?;
    Some((total, kib("MemAvailable").or_else(|| kib("MemFree")).unwrap_or(0)))
}

pub fn parse_loadavg(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
}

/// `/proc/net/dev`: per interface, received and transmitted bytes; loopback left out.
pub fn parse_net_dev(text: &str) -> Vec<NetSample> {
    let mut out: Vec<NetSample> = text
        .lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let name = name.trim();
            if name == "lo" || name.is_empty() {
                return None;
            }
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(NetSample {
                interface: crate::devices::clean_text(name, 32)?,
                rx_bytes: f.first()?.parse().ok()?,
                tx_bytes: f.get(8)?.parse().ok()?,
            })
        })
        .collect();
    out.sort_by(|a, b| a.interface.cmp(&b.interface));
    out.truncate(MAX_INTERFACES);
    out
}

/// Bytes per second per interface over `secs`; an interface whose counters went back (it was
/// recreated) or that is new is left out.
pub fn net_rates(old: &[NetSample], new: &[NetSample], secs: i64) -> Vec<(String, f64, f64)> {
    #[allow(clippy::cast_precision_loss)]
    let secs = secs as f64;
    new.iter()
        .filter_map(|n| {
            let o = old.iter().find(|o| o.interface == n.interface)?;
            let rx = n.rx_bytes.checked_sub(o.rx_bytes)?;
            let tx = n.tx_bytes.checked_sub(o.tx_bytes)?;
            #[allow(clippy::cast_precision_loss)]
            Some((n.interface.clone(), rx as f64 / secs, tx as f64 / secs))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_busy_is_the_share_not_idle_between_samples() {
        let a = parse_stat("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\nintr 5\n").unwrap();
        assert_eq!(a, CpuTimes { busy: 150, total: 1000 });
        let b = parse_stat("cpu  200 0 100 1500 100 0 0 0 0 0\n").unwrap();
        assert_eq!(busy_ratio(a, b), Some(150.0 / 900.0));
        assert_eq!(busy_ratio(a, a), None, "no time passed");
        assert_eq!(busy_ratio(b, a), None, "counters went back");
        assert!(parse_stat("cpu0 1 2 3 4\n").is_none(), "per-CPU lines are not the total");
        assert!(parse_stat("cpu  1 x 3 4\n").is_none());
        assert!(parse_stat("cpu  1 2\n").is_none());
        assert!(parse_stat("").is_none());
    }

    #[test]
    fn meminfo_and_loadavg() {
        let m = "MemTotal:        2048 kB\nMemFree:          512 kB\nMemAvailable:    1024 kB\n";
        assert_eq!(parse_meminfo(m), Some((2048 * 1024, 1024 * 1024)));
        assert_eq!(parse_meminfo("MemTotal: 10 kB\nMemFree: 4 kB\n"), Some((10240, 4096)), "old kernels");
        assert_eq!(parse_meminfo("MemTotalX: 10 kB\n"), None);
        assert_eq!(parse_loadavg("0.52 0.58 0.59 1/467 12345\n"), Some(0.52));
        assert_eq!(parse_loadavg("nan 1 1"), None);
        assert_eq!(parse_loadavg(""), None);
    }

    #[test]
    fn net_dev_counters_and_rates() {
        let t = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0\n  eth0: 5000 50 0 0 0 0 0 0 7000 70 0 0 0 0 0 0\nbroken line\n  eth1: x 1\n";
        let n = parse_net_dev(t);
        assert_eq!(n, vec![NetSample { interface: "eth0".into(), rx_bytes: 5000, tx_bytes: 7000 }]);
        let later = vec![NetSample { interface: "eth0".into(), rx_bytes: 6000, tx_bytes: 7500 }];
        assert_eq!(net_rates(&n, &later, 10), vec![("eth0".into(), 100.0, 50.0)]);
        assert!(net_rates(&later, &n, 10).is_empty(), "a reset counter gives no rate");
    }
}
