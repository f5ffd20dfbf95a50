//! Lab-only mount fallback (`--lab-mounts`). Where no systemd runs as PID 1 (the lab, CI), a
//! pool's mount unit is still rendered and verified, but nothing would mount it; and the
//! sandboxed helper cannot mount (landlock forbids mount(2), inherited by every child). So, when
//! asked, the helper starts a copy of itself *before* sandboxing that does exactly two things:
//! mount a block device on a directory beneath `<root>/mnt/corenas/`, and unmount such a
//! directory. It reads one JSON request per line on stdin and exits when stdin closes (the
//! helper is gone). Production never passes `--lab-mounts`; it refuses to run with root `/`.
//!
//! It also starts a backup's runner (decision 0020, "Runner"): the sandboxed helper holds no
//! CAP_SETUID or CAP_SETPCAP, so only this process can start restic as corenasd's user with
//! CAP_DAC_READ_SEARCH alone (what a transient unit does in production). It waits for the runner
//! in a thread and records its exit status, as long as it lives itself.

use corenas_proto::WireError;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout};
use std::sync::Mutex;

#[derive(Debug, Serialize, Deserialize)]
enum Request {
    Mount {
        source: PathBuf,
        target: PathBuf,
        fstype: String,
    },
    Unmount {
        target: PathBuf,
    },
    /// Answers `ok <pid>`.
    StartRunner(LabRunner),
}

/// A backup runner as ops/backup plans it for the lab.
#[derive(Debug, Serialize, Deserialize)]
pub struct LabRunner {
    pub uid: u32,
    pub gid: u32,
    /// The snapshot (restic backs up `.`).
    pub cwd: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// status.jsonl and stderr.log, made by the helper (opened here without following links).
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    /// Written when restic exits: its status, or `signal <n>`.
    pub exit_status: PathBuf,
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
        self.ask_answer(req).map(|_| ())
    }

    fn ask_answer(&self, req: &Request) -> Result<String, WireError> {
        let fail = |e: String| WireError::internal(format!("lab mount fallback: {e}"));
        let mut io = self.io.lock().map_err(|_| fail("poisoned".into()))?;
        let line = serde_json::to_string(req).map_err(|e| fail(e.to_string()))?;
        writeln!(io.0, "{line}").map_err(|e| fail(e.to_string()))?;
        let mut answer = String::new();
        io.1.read_line(&mut answer).map_err(|e| fail(e.to_string()))?;
        match answer.trim() {
            "ok" => Ok(String::new()),
            a if a.starts_with("ok ") => Ok(a[3..].to_owned()),
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

    /// Starts a backup runner; its pid.
    pub fn start_runner(&self, runner: LabRunner) -> Result<u32, WireError> {
        let answer = self.ask_answer(&Request::StartRunner(runner))?;
        answer.parse().map_err(|_| WireError::internal(format!("lab runner: no pid in '{answer}'")))
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

/// `path` is a plain path beneath `<root>/<base>`.
fn beneath(root: &Path, base: &str, path: &Path) -> Result<(), String> {
    let rest = path.strip_prefix(root.join(base)).map_err(|_| format!("{} is not beneath {base}", path.display()))?;
    if rest.components().all(|c| matches!(c, std::path::Component::Normal(_))) {
        Ok(())
    } else {
        Err(format!("{} is not a plain path", path.display()))
    }
}

fn start_runner(root: &Path, r: LabRunner) -> Result<String, String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    for p in [&r.stdout, &r.stderr, &r.exit_status] {
        beneath(root, "run/corenas-backup", p)?;
    }
    beneath(root, "mnt/corenas", &r.cwd)?;
    let open = |p: &Path| {
        std::fs::OpenOptions::new()
            .append(true)
            .custom_flags(libc_o_nofollow())
            .open(p)
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    let mut child =
        crate::exec::spawn_lab_runner(r.uid, r.gid, &r.cwd, &r.args, &r.env, open(&r.stdout)?, open(&r.stderr)?)
            .map_err(|e| format!("setpriv: {e}"))?;
    let pid = child.id();
    let status_file = r.exit_status;
    std::thread::spawn(move || {
        use std::os::unix::process::ExitStatusExt as _;
        let text = match child.wait() {
            Ok(s) => s.code().map_or_else(|| format!("signal {}", s.signal().unwrap_or(0)), |c| c.to_string()),
            Err(e) => format!("unknown ({e})"),
        };
        let tmp = status_file.with_extension("new");
        if std::fs::write(&tmp, format!("{text}\n")).is_ok() {
            let _ = std::fs::rename(&tmp, &status_file);
        }
    });
    Ok(format!("ok {pid}"))
}

fn libc_o_nofollow() -> i32 {
    i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0)
}

fn serve_one(root: &Path, req: Request) -> Result<(), String> {
    use rustix::mount::{MountFlags, UnmountFlags};
    match req {
        Request::StartRunner(_) => Err("internal: a runner is started by start_runner".into()),
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
    // A runner it starts inherits nothing but its stdio: whatever the helper inherited (a test
    // harness's pipes) would otherwise stay open in a process that outlives it.
    for e in std::fs::read_dir("/proc/self/fd").into_iter().flatten().flatten() {
        let Some(fd) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        if fd > 2 {
            // SAFETY: the fd is only borrowed for one fcntl; a stale number (the directory's own
            // fd, closed by now) just fails with EBADF.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            let _ = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC);
        }
    }
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line?;
        let answer = match serde_json::from_str::<Request>(&line) {
            Ok(Request::StartRunner(r)) => start_runner(root, r).unwrap_or_else(|e| e.replace('\n', " ")),
            Ok(req) => serve_one(root, req).map_or_else(|e| e.replace('\n', " "), |()| "ok".to_owned()),
            Err(e) => format!("bad request: {e}"),
        };
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(())
}
