//! ZFS output, parsed unprivileged: `zpool list -H -o name,health`, `zpool status`, and
//! `zfs get -H -p -r -o name,property,value`. Both OpenZFS 2.x and zfs-fuse 0.7 (older CLI:
//! no `-p` on list, `scrub:` instead of `scan:` in status) are read.

use corenas_proto::storage::{DatasetInfo, PoolMember, ScrubStatus, SnapshotInfo};
use std::collections::BTreeMap;

/// `zpool list -H -o name,health`: (name, health in lower case).
pub fn parse_list(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((f.next()?.trim().to_owned(), f.next()?.trim().to_ascii_lowercase()))
        })
        .filter(|(n, _)| !n.is_empty())
        .collect()
}

/// One pool's part of `zpool status`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PoolStatus {
    pub name: String,
    pub state: String,
    pub scrub: ScrubStatus,
    pub members: Vec<PoolMember>,
    pub errors: Option<String>,
    /// `status:` and `action:` paragraphs (what ZFS says is wrong and what to do).
    pub notes: Vec<String>,
}

fn counter(s: &str) -> Option<u64> {
    // Counters may be abbreviated ("1.2K") once large; the exact value does not matter then.
    let s = s.trim();
    if let Ok(n) = s.parse() {
        return Some(n);
    }
    let (num, mul) = match s.chars().last()? {
        'K' => (&s[..s.len() - 1], 1e3),
        'M' => (&s[..s.len() - 1], 1e6),
        'G' => (&s[..s.len() - 1], 1e9),
        _ => return None,
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    num.parse::<f64>().ok().map(|n| (n * mul) as u64)
}

fn parse_scan(line: &str, st: &mut ScrubStatus) {
    // OpenZFS: "scan: scrub in progress since ...", "scan: scrub repaired 0B in 00:00:01 with 0
    // errors on ..."; zfs-fuse: "scrub: scrub in progress for 0h0m, 45.12% done, 0h0m to go",
    // "scrub: scrub completed after 0h0m with 0 errors on ...", "scrub: none requested".
    let l = line.trim();
    if l.contains("none requested") {
        return;
    }
    st.summary = Some(l.to_owned());
    if l.contains("in progress") {
        st.running = true;
    }
    if let Some(i) = l.find("% done") {
        let start = l[..i].rfind([' ', ',']).map_or(0, |p| p + 1);
        st.percent = l[start..i].trim().parse().ok();
    }
    if let Some(i) = l.find(" errors") {
        let start = l[..i].rfind(' ').map_or(0, |p| p + 1);
        st.errors = l[start..i].parse().ok();
    }
    if !st.running && (l.contains("completed") || l.contains("repaired")) {
        st.percent = Some(100.0);
    }
}

/// `zpool status [pool]`, possibly listing several pools.
pub fn parse_status(text: &str) -> Vec<PoolStatus> {
    let mut pools: Vec<PoolStatus> = Vec::new();
    let mut in_config = false;
    let mut paragraph: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(name) = line.strip_prefix("pool:") {
            pools.push(PoolStatus { name: name.trim().to_owned(), ..Default::default() });
            in_config = false;
            continue;
        }
        let Some(p) = pools.last_mut() else { continue };
        const KEYS: [&str; 8] = ["state", "scan", "scrub", "config", "errors", "status", "action", "see"];
        let key = line.split_once(':').map(|(k, _)| k).filter(|k| KEYS.contains(k));
        if !raw.starts_with('\t') {
            if let Some(k) = key {
                if let Some(n) = paragraph.take() {
                    p.notes.push(n);
                }
                let value = line[k.len() + 1..].trim();
                match k {
                    "state" => p.state = value.to_ascii_lowercase(),
                    "scan" | "scrub" => parse_scan(value, &mut p.scrub),
                    "config" => in_config = true,
                    "errors" => {
                        in_config = false;
                        p.errors = Some(value.to_owned());
                    }
                    "status" | "action" | "see" => paragraph = Some(value.to_owned()),
                    _ => {}
                }
                continue;
            }
        }
        if let Some(n) = paragraph.as_mut() {
            if raw.starts_with('\t') || raw.starts_with("        ") {
                if !line.is_empty() {
                    n.push(' ');
                    n.push_str(line);
                }
                continue;
            }
        }
        if in_config {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 2 || f[0] == "NAME" || f[0] == p.name {
                continue;
            }
            let vdev_group =
                ["mirror", "raidz", "spare", "log", "cache", "special", "dedup", "draid", "logs", "spares"]
                    .iter()
                    .any(|g| f[0].starts_with(g));
            if vdev_group {
                continue;
            }
            let errors = if f.len() >= 5 {
                match (counter(f[2]), counter(f[3]), counter(f[4])) {
                    (Some(r), Some(w), Some(c)) => Some([r, w, c]),
                    _ => None,
                }
            } else {
                None
            };
            p.members.push(PoolMember { device: f[0].to_owned(), state: f[1].to_ascii_lowercase(), errors });
        }
    }
    if let (Some(n), Some(p)) = (paragraph, pools.last_mut()) {
        p.notes.push(n);
    }
    pools
}

/// `zfs get -H -p -r -o name,property,value ...`: values by name, then property.
pub fn parse_get(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for l in text.lines() {
        let mut f = l.splitn(3, '\t');
        if let (Some(n), Some(k), Some(v)) = (f.next(), f.next(), f.next()) {
            out.entry(n.to_owned()).or_default().insert(k.to_owned(), v.to_owned());
        }
    }
    out
}

fn num(props: &BTreeMap<String, String>, key: &str) -> Option<u64> {
    props.get(key).and_then(|v| v.parse().ok())
}

/// Filesystems (no '@') as datasets, with CoreNAS's properties shown the way `zfs set` takes
/// them (`quota=none` rather than zfs-fuse's `0`).
pub fn datasets(get: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<DatasetInfo> {
    const SHOWN: [&str; 7] = ["compression", "atime", "quota", "reservation", "recordsize", "readonly", "acltype"];
    get.iter()
        .filter(|(n, _)| !n.contains('@'))
        .map(|(name, p)| DatasetInfo {
            name: name.clone(),
            used_bytes: num(p, "used"),
            available_bytes: num(p, "available"),
            referenced_bytes: num(p, "referenced"),
            mountpoint: p.get("mountpoint").cloned().unwrap_or_default(),
            properties: SHOWN
                .iter()
                .filter_map(|k| {
                    let v = p.get(*k)?;
                    let v = if (*k == "quota" || *k == "reservation") && v == "0" { "none" } else { v };
                    Some(((*k).to_owned(), v.to_owned()))
                })
                .collect(),
        })
        .collect()
}

pub fn snapshots(get: &BTreeMap<String, BTreeMap<String, String>>, dataset: &str) -> Vec<SnapshotInfo> {
    let mut out: Vec<SnapshotInfo> = get
        .iter()
        .filter_map(|(n, p)| {
            let (ds, snap) = n.split_once('@')?;
            (ds == dataset).then(|| SnapshotInfo {
                dataset: ds.to_owned(),
                name: snap.to_owned(),
                created: p.get("creation").and_then(|v| v.parse().ok()),
                used_bytes: num(p, "used"),
            })
        })
        .collect();
    out.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from zfs-fuse 0.7.0 on Debian 12 (this project's test machine), 2026-11-24.
    const FUSE_STATUS: &str = "  pool: tpool\n state: ONLINE\n scrub: scrub completed after 0h0m with 0 errors on Tue Nov 24 12:15:18 2026\nconfig:\n\n\tNAME        STATE     READ WRITE CKSUM\n\ttpool       ONLINE       0     0     0\n\t  mirror-0  ONLINE       0     0     0\n\t    loop0   ONLINE       0     0     0\n\t    loop1   ONLINE       0     0     0\n\nerrors: No known data errors\n";

    // The layout of OpenZFS 2.1's `zpool status` for a degraded mirror (zpool-status(8)).
    const OPENZFS_DEGRADED: &str = "  pool: tank\n state: DEGRADED\nstatus: One or more devices could not be used because the label is missing or\n\tinvalid.  Sufficient replicas exist for the pool to continue\n\tfunctioning in a degraded state.\naction: Replace the device using 'zpool replace'.\n   see: https://openzfs.github.io/openzfs-docs/msg/ZFS-8000-4J\n  scan: scrub in progress since Tue Nov 24 12:00:00 2026\n\t1.20G scanned at 100M/s, 600M issued at 50M/s, 2.40G total\n\t0B repaired, 25.00% done, 00:00:36 to go\nconfig:\n\n\tNAME        STATE     READ WRITE CKSUM\n\ttank        DEGRADED     0     0     0\n\t  mirror-0  DEGRADED     0     0     0\n\t    sda     ONLINE       0     0     0\n\t    sdb     UNAVAIL      3   1.2K     0  was /dev/sdb1\n\nerrors: No known data errors\n";

    #[test]
    fn zfs_fuse_status() {
        let p = &parse_status(FUSE_STATUS)[0];
        assert_eq!((p.name.as_str(), p.state.as_str()), ("tpool", "online"));
        assert_eq!(p.members.len(), 2);
        assert_eq!(p.members[0].errors, Some([0, 0, 0]));
        assert!(!p.scrub.running);
        assert_eq!((p.scrub.errors, p.scrub.percent), (Some(0), Some(100.0)));
        assert_eq!(p.errors.as_deref(), Some("No known data errors"));
    }

    #[test]
    fn openzfs_degraded_with_a_running_scrub() {
        let p = &parse_status(OPENZFS_DEGRADED)[0];
        assert_eq!(p.state, "degraded");
        assert_eq!(p.members[1].state, "unavail");
        assert_eq!(p.members[1].errors, Some([3, 1200, 0]));
        assert!(
            p.notes.iter().any(|n| n.contains("label is missing") && n.contains("degraded state")),
            "{:?}",
            p.notes
        );
        assert!(p.notes.iter().any(|n| n.starts_with("Replace the device")));
    }

    #[test]
    fn zfs_fuse_scrub_progress() {
        let mut s = ScrubStatus::default();
        parse_scan("scrub in progress for 0h0m, 45.12% done, 0h0m to go", &mut s);
        assert!(s.running);
        assert_eq!(s.percent, Some(45.12));
    }

    #[test]
    fn datasets_and_snapshots_from_zfs_get() {
        // Captured from zfs-fuse 0.7.0: zfs get -H -p -r -o name,property,value ... zt
        let text = "zt\tused\t116224\nzt\tavailable\t66468352\nzt\tmountpoint\t/tmp/ztm\nzt\tquota\t0\nzt/a\tused\t21504\nzt/a\tcompression\toff\nzt/a@s1\tused\t0\nzt/a@s1\tcreation\t1795522920\n";
        let g = parse_get(text);
        let d = datasets(&g);
        assert_eq!(d.len(), 2);
        assert!(d[0].properties.contains(&("quota".into(), "none".into())));
        let s = snapshots(&g, "zt/a");
        assert_eq!((s[0].name.as_str(), s[0].created), ("s1", Some(1_795_522_920)));
        assert!(snapshots(&g, "zt").is_empty());
    }

    #[test]
    fn garbage_never_panics() {
        for t in [
            "",
            "pool:",
            "pool: x\nconfig:\n\tNAME\n\tx\n",
            "\u{0}\t\t\t",
            "pool: a\n state\n scan: 99999999999999999999% done",
        ] {
            let _ = parse_status(t);
            let _ = parse_get(t);
            let _ = parse_list(t);
        }
    }
}
