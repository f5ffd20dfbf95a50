//! btrfs output, parsed unprivileged: `filesystem show --raw`, `subvolume list`, `scrub status
//! -R`, `device stats`. Fixtures below were captured from btrfs-progs 6.2 (Debian 12) on loop
//! devices on this project's test machine.

use corenas_proto::storage::{BtrfsProfile, PoolMember, ScrubStatus};
use std::collections::BTreeMap;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Show {
    pub fs_bytes_used: Option<u64>,
    /// (device path, size bytes, used bytes)
    pub devices: Vec<(String, u64, u64)>,
    /// "Some devices missing" or a `*** MISSING` device.
    pub missing: bool,
}

pub fn parse_show(text: &str) -> Show {
    let mut s = Show::default();
    for l in text.lines().map(str::trim) {
        if let Some(r) = l.strip_prefix("Total devices ") {
            s.fs_bytes_used = r.split_once("FS bytes used ").and_then(|(_, v)| v.trim().parse().ok());
        } else if l.starts_with("devid ") {
            let f: Vec<&str> = l.split_whitespace().collect();
            let get = |k: &str| f.iter().position(|x| *x == k).and_then(|i| f.get(i + 1));
            if let Some(path) = get("path") {
                let n = |k: &str| get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
                s.devices.push(((*path).to_owned(), n("size"), n("used")));
            }
            if l.contains("MISSING") {
                s.missing = true;
            }
        } else if l.contains("devices missing") {
            s.missing = true;
        }
    }
    s
}

/// `subvolume list`: the paths (relative to the mount point), snapshots under `.snapshots`
/// included.
pub fn parse_subvolumes(text: &str) -> Vec<String> {
    text.lines().filter_map(|l| l.split_once(" path ").map(|(_, p)| p.trim().to_owned())).collect()
}

/// `scrub status -R`: key/value lines.
pub fn parse_scrub(text: &str, bytes_to_scrub: Option<u64>) -> ScrubStatus {
    let kv: BTreeMap<&str, &str> =
        text.lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim(), v.trim())).collect();
    let num = |k: &str| kv.get(k).and_then(|v| v.parse::<u64>().ok());
    let status = kv.get("Status").copied().unwrap_or("");
    let running = status == "running";
    let errors = ["read_errors", "csum_errors", "verify_errors", "super_errors", "uncorrectable_errors"]
        .iter()
        .filter_map(|k| num(k))
        .sum::<u64>();
    let scrubbed = num("data_bytes_scrubbed").unwrap_or(0) + num("tree_bytes_scrubbed").unwrap_or(0);
    #[allow(clippy::cast_precision_loss)]
    let percent = match (running, status, bytes_to_scrub) {
        (true, _, Some(t)) if t > 0 => Some((scrubbed as f64 / t as f64 * 100.0).min(99.9)),
        (false, "finished", _) => Some(100.0),
        _ => None,
    };
    let summary = (!status.is_empty()).then(|| {
        let started = kv.get("Scrub started").copied().unwrap_or("?");
        format!("scrub {status} (started {started}), {errors} errors")
    });
    ScrubStatus { running, percent, summary, errors: (!status.is_empty()).then_some(errors) }
}

/// How many times each byte is stored (what a scrub reads).
pub fn copies(data: BtrfsProfile) -> u64 {
    match data {
        BtrfsProfile::Single | BtrfsProfile::Raid0 => 1,
        BtrfsProfile::Dup | BtrfsProfile::Raid1 | BtrfsProfile::Raid10 => 2,
        BtrfsProfile::Raid1c3 => 3,
    }
}

/// `device stats`: per device, [read, write, corruption+generation] error counters.
pub fn parse_device_stats(text: &str) -> Vec<PoolMember> {
    let mut by_dev: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    for l in text.lines() {
        let Some((left, value)) = l.rsplit_once(char::is_whitespace) else { continue };
        let Some((dev, key)) = left.trim().strip_prefix('[').and_then(|r| r.split_once("].")) else { continue };
        let Ok(v) = value.trim().parse::<u64>() else { continue };
        let e = by_dev.entry(dev.to_owned()).or_default();
        match key {
            "read_io_errs" => e[0] += v,
            "write_io_errs" => e[1] += v,
            "corruption_errs" | "generation_errs" => e[2] += v,
            _ => {}
        }
    }
    by_dev
        .into_iter()
        .map(|(device, errors)| PoolMember {
            state: if errors.iter().any(|e| *e > 0) { "errors".into() } else { "online".into() },
            device,
            errors: Some(errors),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: &str = "Label: 'tb'  uuid: 2fdda0ee-83f6-4797-8d36-0aadb629038a\n\tTotal devices 2 FS bytes used 21184512\n\tdevid    1 size 314572800 used 109051904 path /dev/loop3\n\tdevid    2 size 314572800 used 109051904 path /dev/loop4\n\n";
    const SCRUB: &str = "UUID:             2fdda0ee-83f6-4797-8d36-0aadb629038a\nScrub started:    Tue Nov 24 12:23:55 2026\nStatus:           finished\nDuration:         0:00:00\n\tdata_extents_scrubbed: 640\n\ttree_extents_scrubbed: 26\n\tdata_bytes_scrubbed: 41943040\n\ttree_bytes_scrubbed: 425984\n\tread_errors: 0\n\tcsum_errors: 0\n\tverify_errors: 0\n\tno_csum: 0\n\tcsum_discards: 0\n\tsuper_errors: 0\n\tmalloc_errors: 0\n\tuncorrectable_errors: 0\n\tunverified_errors: 0\n\tcorrected_errors: 0\n\tlast_physical: 88145920\n";
    const STATS: &str = "[/dev/loop3].write_io_errs    0\n[/dev/loop3].read_io_errs     0\n[/dev/loop3].flush_io_errs    0\n[/dev/loop3].corruption_errs  0\n[/dev/loop3].generation_errs  0\n[/dev/loop4].write_io_errs    0\n[/dev/loop4].read_io_errs     2\n[/dev/loop4].flush_io_errs    0\n[/dev/loop4].corruption_errs  5\n[/dev/loop4].generation_errs  0\n";

    #[test]
    fn show() {
        let s = parse_show(SHOW);
        assert_eq!(s.fs_bytes_used, Some(21_184_512));
        assert_eq!(s.devices[1], ("/dev/loop4".to_owned(), 314_572_800, 109_051_904));
        assert!(!s.missing);
    }

    #[test]
    fn subvolumes() {
        let t = "ID 256 gen 8 top level 5 path sub\nID 257 gen 7 top level 256 path sub/.snapshots/s1\n";
        assert_eq!(parse_subvolumes(t), ["sub", "sub/.snapshots/s1"]);
    }

    #[test]
    fn scrub() {
        let s = parse_scrub(SCRUB, Some(42_369_024));
        assert!(!s.running);
        assert_eq!((s.percent, s.errors), (Some(100.0), Some(0)));
        let running = SCRUB.replace("finished", "running");
        let s = parse_scrub(&running, Some(84_738_048));
        assert!(s.running);
        assert_eq!(s.percent, Some(50.0));
    }

    #[test]
    fn device_stats() {
        let m = parse_device_stats(STATS);
        assert_eq!(m[0].errors, Some([0, 0, 0]));
        assert_eq!((m[1].state.as_str(), m[1].errors), ("errors", Some([2, 0, 5])));
    }
}
