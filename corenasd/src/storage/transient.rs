//! The transient units the storage helper starts for long tool work (`corenas-scrub-<pool>-<id>`,
//! docs/decisions/0011-storage.md): parses what the helper's `StorageQuery::ScrubUnit` returns
//! (`systemctl show` blocks) and says whether the work still runs or how its unit ended.
//! Must not: decide a job's end by itself; the tool's own status is read first (scrub.rs).

/// One unit as `systemctl show -p Id,LoadState,ActiveState,SubState,Result,ExecMainCode,
/// ExecMainStatus,ExecMainStartTimestampMonotonic` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitEnd {
    pub id: String,
    pub active: String,
    pub sub: String,
    pub result: String,
    /// `ExecMainCode`: 1 exited, 2 killed, 3 dumped (siginfo's CLD_*).
    pub code: u32,
    /// Exit status, or the signal number when killed.
    pub status: i64,
    pub started: u64,
}

impl UnitEnd {
    /// The work is (still or about to be) running.
    pub fn is_running(&self) -> bool {
        matches!(self.active.as_str(), "active" | "activating" | "deactivating" | "reloading" | "refreshing")
    }

    pub fn failed(&self) -> bool {
        self.active == "failed"
    }

    /// "unit X failed (result exit-code, exit status 3)", for a job's message.
    pub fn describe(&self) -> String {
        let how = match self.code {
            2 | 3 => format!("killed by signal {}", self.status),
            _ => format!("exit status {}", self.status),
        };
        format!("unit {} {} (result {}, {how})", self.id, self.active, self.result)
    }
}

/// The newest unit (by start time) in `systemctl show`'s blank-line separated blocks; None when
/// there is none (no unit now, or no systemd).
pub fn parse_newest(text: &str) -> Option<UnitEnd> {
    let mut units: Vec<UnitEnd> = Vec::new();
    for block in text.split("\n\n") {
        let mut u = UnitEnd::default();
        for (k, v) in block.lines().filter_map(|l| l.split_once('=')) {
            match k {
                "Id" => u.id = v.to_owned(),
                "ActiveState" => u.active = v.to_owned(),
                "SubState" => u.sub = v.to_owned(),
                "Result" => u.result = v.to_owned(),
                "ExecMainCode" => u.code = v.parse().unwrap_or(0),
                "ExecMainStatus" => u.status = v.parse().unwrap_or(0),
                "ExecMainStartTimestampMonotonic" => u.started = v.parse().unwrap_or(0),
                "LoadState" if v == "not-found" => u.id.clear(),
                _ => {}
            }
        }
        if !u.id.is_empty() {
            units.push(u);
        }
    }
    units.into_iter().max_by_key(|u| u.started)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// systemd 252's output for a running and a failed scrub unit (VM tier, Debian 12).
    const SHOW: &str = "Id=corenas-scrub-tank-0a1b2c3d.service\nLoadState=loaded\nActiveState=failed\n\
        SubState=failed\nResult=exit-code\nExecMainCode=1\nExecMainStatus=3\n\
        ExecMainStartTimestampMonotonic=1000\n\n\
        Id=corenas-scrub-tank-99aa00ff.service\nLoadState=loaded\nActiveState=active\nSubState=running\n\
        Result=success\nExecMainCode=0\nExecMainStatus=0\nExecMainStartTimestampMonotonic=2000\n";

    #[test]
    fn the_newest_unit_counts() {
        let u = parse_newest(SHOW).unwrap();
        assert_eq!(u.id, "corenas-scrub-tank-99aa00ff.service");
        assert!(u.is_running() && !u.failed());
    }

    #[test]
    fn a_failed_unit_says_how() {
        let u = parse_newest(SHOW.split("\n\n").next().unwrap()).unwrap();
        assert!(u.failed() && !u.is_running());
        assert_eq!(u.describe(), "unit corenas-scrub-tank-0a1b2c3d.service failed (result exit-code, exit status 3)");
        let first = SHOW.split("\n\n").next().unwrap();
        let killed = parse_newest(&first.replace("ExecMainCode=1", "ExecMainCode=2").replace("Status=3", "Status=9"));
        assert!(killed.unwrap().describe().ends_with("(result exit-code, killed by signal 9)"));
    }

    #[test]
    fn no_unit_is_none() {
        assert_eq!(parse_newest(""), None);
        assert_eq!(parse_newest("Id=x.service\nLoadState=not-found\nActiveState=inactive\n"), None);
    }
}
