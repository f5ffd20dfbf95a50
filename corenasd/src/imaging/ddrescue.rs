//! How corenasd runs GNU ddrescue (Debian 12: 1.27): long options only, `--` before the
//! operands, an exact domain, the mapfile saved every second, stdin a pipe (a mapfile write
//! error makes ddrescue ask on stdin; at EOF it would spin forever), and server-generated paths.
//! The argv is built from typed values only; nothing a caller typed reaches it.

use std::path::{Path, PathBuf};
use std::process::Stdio;

pub const DDRESCUE: &str = "/usr/bin/ddrescue";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub device: PathBuf,
    pub image: PathBuf,
    pub mapfile: PathBuf,
    pub sector_size: u32,
    /// Exact bytes to copy from offset 0 (ISO volume size for optical media).
    pub domain: u64,
    pub retry_passes: u8,
    /// Retry pass over bad areas with O_DIRECT on the source (no page cache between us and
    /// the medium).
    pub direct: bool,
    pub max_rate: Option<u64>,
}

impl Run {
    pub fn argv(&self) -> Vec<String> {
        let mut a = vec![
            format!("--sector-size={}", self.sector_size),
            format!("--size={}", self.domain),
            format!("--retry-passes={}", self.retry_passes),
            // Save the mapfile every second (progress), sync it every 30 s.
            "--mapfile-interval=1,30".to_owned(),
        ];
        if self.direct {
            a.push("--idirect".to_owned());
        }
        if let Some(r) = self.max_rate {
            a.push(format!("--max-read-rate={r}"));
        }
        a.push("--".to_owned());
        for p in [&self.device, &self.image, &self.mapfile] {
            a.push(p.display().to_string());
        }
        a
    }

    /// Starts ddrescue as corenasd's own (unprivileged) user. It gets SIGTERM if corenasd dies
    /// (it then saves the mapfile and exits, so a restarted corenasd can resume), and runs in
    /// its own process group so a terminal's Ctrl-C aimed at corenasd does not reach it.
    pub fn spawn(&self, program: &Path) -> std::io::Result<tokio::process::Child> {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(self.argv())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("LC_ALL", "C")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))
                    .map_err(std::io::Error::from)
            });
        }
        cmd.spawn()
    }
}

/// The question ddrescue asks on stdin when it cannot write the mapfile (disk full).
pub const MAPFILE_WRITE_ERROR: &str = "Error writing mapfile";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_is_long_options_then_operands() {
        let r = Run {
            device: "/dev/sr0".into(),
            image: "/srv/corenas/images/job_000001/job_000001.iso".into(),
            mapfile: "/srv/corenas/images/job_000001/job_000001.map".into(),
            sector_size: 2048,
            domain: 1_228_800,
            retry_passes: 2,
            direct: true,
            max_rate: Some(1_000_000),
        };
        assert_eq!(
            r.argv(),
            [
                "--sector-size=2048",
                "--size=1228800",
                "--retry-passes=2",
                "--mapfile-interval=1,30",
                "--idirect",
                "--max-read-rate=1000000",
                "--",
                "/dev/sr0",
                "/srv/corenas/images/job_000001/job_000001.iso",
                "/srv/corenas/images/job_000001/job_000001.map",
            ]
        );
        let dashes = r.argv().iter().position(|a| a == "--").unwrap();
        assert!(r.argv()[..dashes].iter().all(|a| a.starts_with("--")));
    }
}
