//! How pools, datasets, snapshots, schedules and storage jobs read.

use crate::report::indented;
use crate::text::{
    Table, indent_block, key_values, names, or_dash, percent_or_dash, printable, size_or_dash, time_or_dash, yes_no,
};
use corenas_proto::storage::{
    DatasetInfo, PoolInfo, PoolLayout, PoolSpec, ScheduleInfo, ScrubStatus, SnapshotInfo, StorageJob, ZfsProperty,
};

/// How a pool's devices are combined, in a few words: `mirror`, `data raid1, metadata raid1`, `ext4`.
pub fn layout_text(l: &PoolLayout) -> String {
    match l {
        PoolLayout::Zfs { layout, .. } => layout.as_str().to_owned(),
        PoolLayout::Btrfs { data, metadata, .. } => format!("data {data}, metadata {metadata}"),
        PoolLayout::Single { fs } => fs.as_str().to_owned(),
    }
}

/// A pool definition (what `storage create` sends or a template holds) as `key: value` pairs.
pub fn pool_spec_pairs(s: &PoolSpec) -> Vec<(&'static str, String)> {
    let mut pairs = vec![
        ("name", s.name.to_string()),
        ("type", s.layout.backend().as_str().to_owned()),
        ("layout", layout_text(&s.layout)),
    ];
    match &s.layout {
        PoolLayout::Zfs { ashift, properties, .. } => {
            pairs.push(("ashift", ashift.map_or_else(|| "chosen by ZFS".to_owned(), |a| a.to_string())));
            let props: Vec<String> = properties.iter().map(ZfsProperty::assignment).collect();
            pairs.push(("properties", if props.is_empty() { "-".to_owned() } else { props.join(", ") }));
        }
        PoolLayout::Btrfs { compression, .. } => {
            pairs.push(("compression", compression.map_or_else(|| "off".to_owned(), |c| c.as_str().to_owned())));
        }
        PoolLayout::Single { .. } => {}
    }
    pairs.push(("devices", names(&s.devices)));
    pairs.push(("mountpoint", s.name.mount_target().to_string()));
    if s.force {
        pairs.push(("force", "yes: existing signatures are overwritten".to_owned()));
    }
    pairs
}

pub fn pool_spec_text(s: &PoolSpec) -> String {
    key_values(&pool_spec_pairs(s))
}

pub fn pools_table(pools: &[PoolInfo]) -> String {
    let mut t = Table::new(&["NAME", "TYPE", "HEALTH", "SIZE", "USED", "FREE", "MOUNTPOINT"]);
    for p in pools {
        let mountpoint = if p.mounted { p.mountpoint.clone() } else { format!("{} (not mounted)", p.mountpoint) };
        t.row([
            p.name.clone(),
            p.backend.as_str().to_owned(),
            p.health.clone(),
            size_or_dash(p.size_bytes),
            size_or_dash(p.used_bytes),
            size_or_dash(p.free_bytes),
            mountpoint,
        ]);
    }
    t.render()
}

pub(crate) fn scrub_text(s: Option<&ScrubStatus>) -> String {
    let Some(s) = s else { return "never run".to_owned() };
    let mut parts = Vec::new();
    if s.running {
        parts.push(format!("running, {}", percent_or_dash(s.percent)));
    }
    if let Some(summary) = &s.summary {
        parts.push(summary.clone());
    }
    if let Some(e) = s.errors {
        parts.push(format!("{e} errors"));
    }
    if parts.is_empty() { "-".to_owned() } else { parts.join("; ") }
}

/// `storage show` and the result of `storage create`: the pool, its members, scrub and notes.
pub fn pool_block(p: &PoolInfo) -> String {
    let mut pairs = vec![
        ("name", p.name.clone()),
        ("type", p.backend.as_str().to_owned()),
        ("layout", p.layout.as_ref().map_or_else(|| "- (not created by CoreNAS)".to_owned(), layout_text)),
        ("health", p.health.clone()),
        ("size", size_or_dash(p.size_bytes)),
        ("used", size_or_dash(p.used_bytes)),
        ("free", size_or_dash(p.free_bytes)),
        ("mountpoint", p.mountpoint.clone()),
        ("mounted", yes_no(p.mounted).to_owned()),
        ("scrub", scrub_text(p.scrub.as_ref())),
        ("created", or_dash(p.created.as_deref())),
    ];
    if let Some(PoolLayout::Zfs { properties, .. }) = &p.layout {
        if !properties.is_empty() {
            pairs.push(("properties", properties.iter().map(ZfsProperty::assignment).collect::<Vec<_>>().join(", ")));
        }
    }
    if let Some(PoolLayout::Btrfs { compression: Some(c), .. }) = &p.layout {
        pairs.push(("compression", c.as_str().to_owned()));
    }
    let mut out = key_values(&pairs);
    if p.members.is_empty() {
        out.push_str("members: none reported\n");
    } else {
        out.push_str("members:\n");
        let mut t = Table::new(&["DEVICE", "STATE", "READ", "WRITE", "CKSUM"]);
        for m in &p.members {
            let [r, w, c] =
                m.errors.map_or_else(|| ["-".to_owned(), "-".to_owned(), "-".to_owned()], |e| e.map(|n| n.to_string()));
            t.row([m.device.clone(), m.state.clone(), r, w, c]);
        }
        out.push_str(&indent_block(&t.render()));
    }
    if !p.notes.is_empty() {
        out.push_str("notes:\n");
        for n in &p.notes {
            out.push_str(&indented(n, "  ", "  "));
        }
    }
    out
}

pub(crate) fn properties_text(props: &[(String, String)]) -> String {
    if props.is_empty() {
        "-".to_owned()
    } else {
        props.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
    }
}

pub fn datasets_table(datasets: &[DatasetInfo]) -> String {
    let mut t = Table::new(&["NAME", "USED", "AVAIL", "REFER", "MOUNTPOINT", "PROPERTIES"]);
    for d in datasets {
        t.row([
            d.name.clone(),
            size_or_dash(d.used_bytes),
            size_or_dash(d.available_bytes),
            size_or_dash(d.referenced_bytes),
            d.mountpoint.clone(),
            properties_text(&d.properties),
        ]);
    }
    t.render()
}

/// The result of `storage dataset create` and `set`.
pub fn dataset_block(d: &DatasetInfo) -> String {
    key_values(&[
        ("name", d.name.clone()),
        ("used", size_or_dash(d.used_bytes)),
        ("available", size_or_dash(d.available_bytes)),
        ("referenced", size_or_dash(d.referenced_bytes)),
        ("mountpoint", d.mountpoint.clone()),
        ("properties", properties_text(&d.properties)),
    ])
}

pub fn snapshots_table(snapshots: &[SnapshotInfo]) -> String {
    let mut t = Table::new(&["NAME", "CREATED", "USED"]);
    for s in snapshots {
        t.row([format!("{}@{}", s.dataset, s.name), time_or_dash(s.created), size_or_dash(s.used_bytes)]);
    }
    t.render()
}

/// The result of `storage snapshot create`.
pub fn snapshot_line(s: &SnapshotInfo) -> String {
    format!("snapshot {}@{} ({})\n", printable(&s.dataset), printable(&s.name), time_or_dash(s.created))
}

pub fn schedules_table(schedules: &[ScheduleInfo]) -> String {
    let mut t = Table::new(&["DATASET", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "LAST RUN", "LAST RESULT"]);
    for s in schedules {
        let k = &s.keep;
        t.row([
            s.dataset.clone(),
            k.hourly.to_string(),
            k.daily.to_string(),
            k.weekly.to_string(),
            k.monthly.to_string(),
            or_dash(s.last_run.as_deref()),
            or_dash(s.last_result.as_deref()),
        ]);
    }
    t.render()
}

/// The result of `storage snapshot schedule`.
pub fn schedule_block(s: &ScheduleInfo) -> String {
    let k = &s.keep;
    let keep = if k.is_empty() {
        "nothing (the schedule is removed)".to_owned()
    } else {
        format!("{} hourly, {} daily, {} weekly, {} monthly", k.hourly, k.daily, k.weekly, k.monthly)
    };
    key_values(&[
        ("dataset", s.dataset.clone()),
        ("keep", keep),
        ("last run", or_dash(s.last_run.as_deref())),
        ("last result", or_dash(s.last_result.as_deref())),
    ])
}

/// The result of `storage snapshot run-schedules`: what was done, one line each.
pub fn schedule_run_text(done: &[String]) -> String {
    if done.is_empty() {
        return "no schedule was due\n".to_owned();
    }
    done.iter().map(|d| indented(d, "", "  ")).collect()
}

pub fn storage_jobs_table(jobs: &[StorageJob]) -> String {
    let mut t = Table::new(&["ID", "KIND", "TARGET", "STATE", "PROGRESS", "STARTED", "FINISHED", "MESSAGE"]);
    for j in jobs {
        t.row([
            j.id.clone(),
            j.kind.clone(),
            j.target.clone(),
            j.state.clone(),
            percent_or_dash(j.percent),
            j.started.clone(),
            or_dash(j.finished.as_deref()),
            or_dash(j.message.as_deref()),
        ]);
    }
    t.render()
}

pub fn storage_job_block(j: &StorageJob) -> String {
    key_values(&[
        ("id", j.id.clone()),
        ("kind", j.kind.clone()),
        ("target", j.target.clone()),
        ("state", j.state.clone()),
        ("progress", percent_or_dash(j.percent)),
        ("message", or_dash(j.message.as_deref())),
        ("started", j.started.clone()),
        ("finished", or_dash(j.finished.as_deref())),
    ])
}

/// A health schedule as set: what, how often, and when it runs next (UTC).
pub(crate) fn health_schedule_line(s: &corenas_proto::monitor::HealthSchedule) -> String {
    let next = s.next_run.map_or_else(|| "never".to_owned(), crate::text::local_time);
    format!(
        "{} of {}: {} at {:02}:00 local; next run {next}\n",
        s.work.kind(),
        printable(s.work.target()),
        s.every,
        s.hour
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::follow::storage_job_line;
    use crate::follow::storage_progress_line;

    #[test]
    fn pool_definitions_and_jobs_read_in_a_few_words() {
        use corenas_proto::storage::{BtrfsProfile, Compression, DiskFs, ZfsLayout};
        let spec = PoolSpec {
            name: "tank".parse().unwrap(),
            layout: PoolLayout::Zfs {
                layout: ZfsLayout::Raidz2,
                ashift: Some(12),
                properties: vec![ZfsProperty::Compression(Compression::Lz4), ZfsProperty::Atime(false)],
            },
            devices: vec!["/dev/sdb".parse().unwrap(), "/dev/sdc".parse().unwrap()],
            force: true,
        };
        assert_eq!(
            pool_spec_text(&spec),
            "name:        tank\ntype:        zfs\nlayout:      raidz2\nashift:      12\n\
             properties:  compression=lz4, atime=off\ndevices:     /dev/sdb, /dev/sdc\n\
             mountpoint:  /mnt/corenas/tank\nforce:       yes: existing signatures are overwritten\n"
        );
        let btrfs = PoolLayout::Btrfs { data: BtrfsProfile::Raid1, metadata: BtrfsProfile::Raid1c3, compression: None };
        assert_eq!(layout_text(&btrfs), "data raid1, metadata raid1c3");
        assert_eq!(layout_text(&PoolLayout::Single { fs: DiskFs::Xfs }), "xfs");

        let job = StorageJob {
            id: "s-1".into(),
            kind: "scrub".into(),
            target: "tank".into(),
            state: "running".into(),
            percent: Some(42.0),
            message: Some("scanned 1.2T\u{1b}[2J".into()),
            started: "t".into(),
            finished: None,
            version: 3,
        };
        assert_eq!(storage_progress_line(&job), " 42.0%  scrub tank  running  scanned 1.2T\\u{1b}[2J\n");
        assert_eq!(
            storage_job_line(&job),
            "job s-1: scrub of tank, running\n`corenas-ctl storage job wait s-1` follows it\n"
        );
        assert_eq!(schedule_run_text(&[]), "no schedule was due\n");
    }
}
