//! Lab-only mount fallback (`--lab-mounts`). Where no systemd runs as PID 1 (the lab, CI), a
//! pool's mount unit is still rendered and verified, but nothing would mount it; and the
//! sandboxed helper cannot mount (landlock forbids mount(2), inherited by every child). So, when
//! asked, the helper starts a copy of itself *before* sandboxing that does exactly two things:
//! mount a block device on a directory beneath `<root>/mnt/corenas/`, and unmount such a
//! directory. It reads one JSON request per line on stdin and exits when stdin closes (the
//! helper is gone). Production never passes `--lab-mounts`; it refuses to run with root `/`.

use corenas_proto::WireError;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout};
use std::sync::Mutex;

#[derive(Debug, Serialize, Deserialize)]
enum Request {
    Mount { source: PathBuf, target: PathBuf, fstype: String },
    Unmount { target: PathBuf },
}

/// The helper's end: requests go out one at a time.
pub struct LabMounter {
    io: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    _child: Child,
}

impl LabMounter {
    /// Starts the servant (call before the sandbox is applied).
    pub fn start(root: &Path) -> anyhow::Result<Self> {
        anyhow::ensure!(root != Path::new("/"), "--lab-mounts is for a lab root prefix only, never for /");
        let mut child = crate::exec::spawn_lab_mount_servant(root)?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            anyhow::bail!("lab mount servant has no pipes");
        };
        Ok(Self { io: Mutex::new((stdin, BufReader::new(stdout))), _child: child })
    }

    fn ask(&self, req: &Request) -> Result<(), WireError> {
        let fail = |e: String| WireError::internal(format!("lab mount fallback: {e}"));
        let mut io = self.io.lock().map_err(|_| fail("poisoned".into()))?;
        let line = serde_json::to_string(req).map_err(|e| fail(e.to_string()))?;
        writeln!(io.0, "{line}").map_err(|e| fail(e.to_string()))?;
        let mut answer = String::new();
        io.1.read_line(&mut answer).map_err(|e| fail(e.to_string()))?;
        match answer.trim() {
            "ok" => Ok(()),
            "" => Err(fail("the servant exited".into())),
            e => Err(WireError::new(corenas_proto::ErrorCode::ToolFailed, format!("lab mount: {e}"))),
        }
    }

    pub fn mount(&self, source: &Path, target: &Path, fstype: &str) -> Result<(), WireError> {
        self.ask(&Request::Mount { source: source.into(), target: target.into(), fstype: fstype.into() })
    }

    pub fn unmount(&self, target: &Path) -> Result<(), WireError> {
        self.ask(&Request::Unmount { target: target.into() })
    }
}

const FILESYSTEMS: &[&str] = &["ext4", "xfs", "btrfs", "vfat"];

fn check_target(root: &Path, target: &Path) -> Result<(), String> {
    let base = root.join("mnt/corenas");
    let rest =
        target.strip_prefix(&base).map_err(|_| format!("{} is not beneath {}", target.display(), base.display()))?;
    let plain = rest.components().all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain || rest.as_os_str().is_empty() {
        return Err(format!("{} is not a plain path beneath {}", target.display(), base.display()));
    }
    // No symlink anywhere on the way: what is mounted on is what was asked for.
    let mut p = root.to_path_buf();
    for c in Path::new("mnt/corenas").join(rest).components() {
        p.push(c);
        let m = std::fs::symlink_metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        if !m.is_dir() {
            return Err(format!("{} is not a directory", p.display()));
        }
    }
    Ok(())
}

fn serve_one(root: &Path, req: Request) -> Result<(), String> {
    use rustix::mount::{MountFlags, UnmountFlags};
    match req {
        Request::Mount { source, target, fstype } => {
            check_target(root, &target)?;
            if !FILESYSTEMS.contains(&fstype.as_str()) {
                return Err(format!("filesystem type {fstype} is not accepted"));
            }
            let st = rustix::fs::stat(&source).map_err(|e| format!("{}: {e}", source.display()))?;
            if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::BlockDevice
                || !source.starts_with("/dev/")
            {
                return Err(format!("{} is not a block device under /dev", source.display()));
            }
            let flags = MountFlags::NOSUID | MountFlags::NODEV;
            rustix::mount::mount(&source, &target, fstype.as_str(), flags, None).map_err(|e| e.to_string())
        }
        Request::Unmount { target } => {
            check_target(root, &target)?;
            match rustix::mount::unmount(&target, UnmountFlags::empty()) {
                Ok(()) | Err(rustix::io::Errno::INVAL) => Ok(()), // EINVAL: not a mount point
                Err(e) => Err(e.to_string()),
            }
        }
    }
}

/// The servant's loop (`corenas-helper --lab-mount-servant --root DIR`).
pub fn serve(root: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(root != Path::new("/"), "the lab mount servant refuses root /");
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line?;
        let answer = match serde_json::from_str::<Request>(&line) {
            Ok(req) => serve_one(root, req).map_or_else(|e| e.replace('\n', " "), |()| "ok".to_owned()),
            Err(e) => format!("bad request: {e}"),
        };
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(())
}
