//! Pools of every backend: ZFS, btrfs and single disks from `storage::pools::list`, md arrays
//! and LVM volume groups from `storage::volumes` (where those tools are installed), each reduced
//! to a [`PoolSample`].

use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::lvm::VgInfo;
use corenas_proto::monitor::{PoolSample, PoolState};
use corenas_proto::raid::{MdArrayInfo, MdMemberState, MdState, MdSyncAction};
use corenas_proto::storage::{Backend, PoolInfo};
use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

pub async fn collect(d: &Daemon) -> Result<Vec<PoolSample>, WireError> {
    let mut out: Vec<PoolSample> = crate::storage::pools::list(d).await?.iter().map(from_pool).collect();
    // md and LVM are asked only where the kernel has an array or an LVM volume: elsewhere the
    // tools may not even be installed, and a failing query every round would count as helper
    // failures of the monitor's own making.
    if has_md_arrays() {
        out.extend(crate::storage::volumes::md_list(d).await?.iter().map(from_md));
    }
    if has_lvm_volumes() {
        out.extend(crate::storage::volumes::lvm_list(d).await?.vgs.iter().map(from_vg));
    }
    Ok(out)
}

/// Whether /proc/mdstat lists an array ("md127 : active raid1 ...").
fn has_md_arrays() -> bool {
    std::fs::read_to_string("/proc/mdstat").is_ok_and(|t| t.lines().any(|l| l.starts_with("md")))
}

/// Whether a device-mapper device is an LVM volume (its dm uuid starts with "LVM-").
fn has_lvm_volumes() -> bool {
    let Ok(dir) = std::fs::read_dir("/sys/class/block") else { return false };
    dir.flatten().any(|e| {
        e.file_name().to_string_lossy().starts_with("dm-")
            && std::fs::read_to_string(e.path().join("dm/uuid")).is_ok_and(|u| u.starts_with("LVM-"))
    })
}

/// The backend's word for a pool's health, reduced to what every backend can say.
pub fn state_of(health: &str) -> PoolState {
    match health.trim().to_ascii_lowercase().as_str() {
        "online" => PoolState::Online,
        // btrfs "errors": mounted, but a member counts read, write or checksum errors.
        "degraded" | "errors" => PoolState::Degraded,
        "faulted" | "suspended" => PoolState::Faulted,
        "unavailable" | "unavail" | "not mounted" | "removed" | "offline" => PoolState::Unavailable,
        _ => PoolState::Unknown,
    }
}

pub fn from_pool(p: &PoolInfo) -> PoolSample {
    let scrub = p.scrub.as_ref();
    let counted: Vec<u64> = p.members.iter().filter_map(|m| m.errors.map(|e| e.iter().sum())).collect();
    let bad_members: Vec<String> = p
        .members
        .iter()
        // Spares waiting ("avail") or standing in ("inuse") are not the problem.
        .filter(|m| !matches!(m.state.as_str(), "online" | "avail" | "inuse"))
        .map(|m| format!("{} {}", m.device, m.state.to_ascii_uppercase()))
        .collect();
    // zfs-fuse keeps saying ONLINE for a mirror whose member is UNAVAIL ("corrupted data"):
    // a pool running without a member has lost redundancy, whatever its own word.
    let state = match state_of(&p.health) {
        PoolState::Online if !bad_members.is_empty() => PoolState::Degraded,
        s => s,
    };
    PoolSample {
        name: p.name.clone(),
        backend: p.backend,
        state,
        state_text: p.health.clone(),
        size_bytes: p.size_bytes,
        allocated_bytes: p.used_bytes,
        scrub_running: scrub.is_some_and(|s| s.running),
        scrub_last_end: scrub
            .filter(|s| !s.running)
            .and_then(|s| s.summary.as_deref())
            .and_then(|s| scrub_end(s, local_offset)),
        scrub_errors: scrub.and_then(|s| s.errors),
        member_errors: (!counted.is_empty()).then(|| counted.iter().sum()),
        bad_members,
    }
}

pub fn from_md(a: &MdArrayInfo) -> PoolSample {
    let state = match (a.state, a.degraded) {
        (MdState::Inactive, _) => PoolState::Unavailable,
        (MdState::Unknown, false) => PoolState::Unknown,
        (_, true) => PoolState::Degraded,
        _ => PoolState::Online,
    };
    let running = a.sync.as_ref().is_some_and(|s| matches!(s.action, MdSyncAction::Check | MdSyncAction::Repair));
    PoolSample {
        name: a.name.clone().unwrap_or_else(|| a.device.clone()),
        backend: Backend::Mdadm,
        state,
        state_text: a.state_text.clone().unwrap_or_else(|| format!("{:?}", a.state).to_ascii_lowercase()),
        size_bytes: a.size_bytes,
        allocated_bytes: None,
        scrub_running: running,
        scrub_last_end: None,
        scrub_errors: None,
        member_errors: None,
        bad_members: a
            .members
            .iter()
            .filter(|m| m.state == MdMemberState::Faulty)
            .map(|m| format!("{} FAULTY", m.device))
            .collect(),
    }
}

pub fn from_vg(g: &VgInfo) -> PoolSample {
    PoolSample {
        name: g.name.clone(),
        backend: Backend::Lvm,
        // A partial group has lost one or more physical volumes.
        state: if g.attr.partial { PoolState::Degraded } else { PoolState::Online },
        state_text: g.attr_text.clone(),
        size_bytes: Some(g.size_bytes),
        allocated_bytes: Some(g.size_bytes.saturating_sub(g.free_bytes)),
        scrub_running: false,
        scrub_last_end: None,
        scrub_errors: None,
        member_errors: None,
        bad_members: if g.attr.partial { vec!["a physical volume is missing".into()] } else { Vec::new() },
    }
}

/// The server's UTC offset: zpool and btrfs print local times.
fn local_offset(t: PrimitiveDateTime) -> UtcOffset {
    crate::monitor::schedule::local_offset(t.assume_utc())
}

/// When a finished scrub ended, from the tool's summary (seconds since the epoch): ZFS says
/// "... with 0 errors on Mon Dec  7 18:00:45 2026"; btrfs gives only the start ("scrub finished
/// (started Mon Dec  7 18:00:45 2026), 0 errors"), which is used for it, a scrub being much
/// shorter than the month between two.
pub fn scrub_end(summary: &str, offset: impl Fn(PrimitiveDateTime) -> UtcOffset) -> Option<i64> {
    let date = if let Some(i) = summary.find("(started ") {
        if !summary.contains("finished") {
            return None;
        }
        summary[i + "(started ".len()..].split(')').next()?
    } else {
        if !(summary.contains("completed") || summary.contains("repaired")) {
            return None;
        }
        let (_, d) = summary.rsplit_once(" on ")?;
        d
    };
    let t = parse_ctime(date)?;
    Some(t.assume_offset(offset(t)).unix_timestamp())
}

/// `ctime(3)`'s form, "Mon Dec  7 18:00:45 2026" (the weekday is not checked).
pub fn parse_ctime(s: &str) -> Option<PrimitiveDateTime> {
    let f: Vec<&str> = s.split_whitespace().collect();
    let [_, month, day, hms, year] = f.as_slice() else { return None };
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let m = MONTHS.iter().position(|n| n == month)?;
    let month = Month::try_from(u8::try_from(m + 1).ok()?).ok()?;
    let mut t = hms.split(':').map(|x| x.parse::<u8>().ok());
    let (h, mi, sec) = (t.next()??, t.next()??, t.next()??);
    let date = Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()?;
    Some(PrimitiveDateTime::new(date, Time::from_hms(h, mi, sec).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::storage::{PoolMember, ScrubStatus};

    fn utc(_: PrimitiveDateTime) -> UtcOffset {
        UtcOffset::UTC
    }

    #[test]
    fn scrub_end_from_zfs_and_btrfs_summaries() {
        // 2026-12-07 18:00:45 UTC
        let t = 1_796_666_445;
        assert_eq!(scrub_end("scrub completed after 0h0m with 0 errors on Mon Dec  7 18:00:45 2026", utc), Some(t));
        assert_eq!(scrub_end("scrub repaired 0B in 00:00:01 with 2 errors on Mon Dec 7 18:00:45 2026", utc), Some(t));
        assert_eq!(scrub_end("scrub finished (started Mon Dec  7 18:00:45 2026), 0 errors", utc), Some(t));
        let two_hours = |_| UtcOffset::from_hms(2, 0, 0).unwrap();
        assert_eq!(
            scrub_end("scrub completed after 0h0m with 0 errors on Mon Dec 7 18:00:45 2026", two_hours),
            Some(t - 7200)
        );
        assert_eq!(scrub_end("scrub in progress since Mon Dec  7 18:00:45 2026", utc), None);
        assert_eq!(scrub_end("scrub canceled on Mon Dec  7 18:00:45 2026", utc), None);
        assert_eq!(scrub_end("scrub running (started Mon Dec  7 18:00:45 2026), 0 errors", utc), None);
        assert_eq!(scrub_end("scrub completed with 0 errors on Mon Foo 7 18:00:45 2026", utc), None);
        assert_eq!(scrub_end("scrub completed with 0 errors on Mon Dec 32 18:00:45 2026", utc), None);
        assert_eq!(scrub_end("scrub completed with 0 errors on Mon Dec 7 25:00:45 2026", utc), None);
        assert_eq!(scrub_end("scrub completed with 0 errors on", utc), None);
    }

    #[test]
    fn a_degraded_zfs_pool_names_its_bad_member() {
        let p = PoolInfo {
            name: "tank".into(),
            backend: Backend::Zfs,
            layout: None,
            health: "degraded".into(),
            size_bytes: Some(100),
            used_bytes: Some(40),
            free_bytes: Some(60),
            mountpoint: "/mnt/corenas/tank".into(),
            mounted: true,
            members: vec![
                PoolMember { device: "loop3".into(), state: "online".into(), errors: Some([0, 0, 0]) },
                PoolMember { device: "loop4".into(), state: "unavail".into(), errors: Some([1, 2, 3]) },
                PoolMember { device: "loop5".into(), state: "avail".into(), errors: None },
            ],
            scrub: Some(ScrubStatus {
                running: false,
                percent: Some(100.0),
                summary: Some("scrub completed after 0h0m with 5 errors on Mon Dec  7 18:00:45 2026".into()),
                errors: Some(5),
            }),
            notes: Vec::new(),
            created: None,
        };
        let s = from_pool(&p);
        assert_eq!(s.state, PoolState::Degraded);
        // zfs-fuse's own word for such a pool stays "online": a missing member still degrades it.
        let fuse = from_pool(&PoolInfo { health: "online".into(), ..p.clone() });
        assert_eq!((fuse.state, fuse.state_text.as_str()), (PoolState::Degraded, "online"));
        let healthy = PoolInfo { health: "online".into(), members: p.members[..1].to_vec(), ..p.clone() };
        assert_eq!(from_pool(&healthy).state, PoolState::Online);
        assert_eq!(s.bad_members, vec!["loop4 UNAVAIL".to_owned()]);
        assert_eq!((s.member_errors, s.scrub_errors, s.allocated_bytes), (Some(6), Some(5), Some(40)));
        assert!(s.scrub_last_end.is_some() && !s.scrub_running);
        for (h, st) in [
            ("online", PoolState::Online),
            ("not mounted", PoolState::Unavailable),
            ("FAULTED", PoolState::Faulted),
            ("weird", PoolState::Unknown),
            ("errors", PoolState::Degraded),
        ] {
            assert_eq!(state_of(h), st, "{h}");
        }
    }
}
