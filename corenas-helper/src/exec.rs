//! The only place the helper starts a program. Programs come from a fixed table of absolute
//! paths verified at start-up; children get an empty environment plus a fixed PATH and
//! `LC_ALL=C`, no shell, secrets on stdin only, capped output, and are killed at their timeout.

use corenas_proto::helper::{StdinPlan, Step};
use corenas_proto::{ErrorCode, WireError};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Output beyond this is discarded (a runaway tool cannot exhaust the helper's memory).
pub const OUTPUT_CAP: usize = 64 * 1024;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
const FIXED_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Program {
    UserAdd,
    UserMod,
    UserDel,
    GroupAdd,
    GroupDel,
    SmbPasswd,
    PdbEdit,
    MkPasswd,
    TestParm,
    SmbControl,
    ExportFs,
    SystemdAnalyze,
    SystemCtl,
    /// Starts long tool work as a transient unit that outlives the helper (transient.rs).
    SystemdRun,
    Zpool,
    Zfs,
    Btrfs,
    MkfsBtrfs,
    MkfsExt4,
    MkfsXfs,
    Sgdisk,
    Wipefs,
    Partx,
    Blkdiscard,
    Blkid,
    Smartctl,
    Mdadm,
    Lvm,
    /// nvme-cli: NVMe identify, sanitize and format (firmware erases).
    Nvme,
    /// ATA security erase.
    Hdparm,
    /// Login passwords through PAM (the `corenas` service in /etc/pam.d).
    PamTester,
    /// Backups and restores (decision 0020); the backup runs unprivileged (ops/backup).
    Restic,
    /// Test-only programs that exercise the runner itself (timeouts, output caps, stdin).
    #[cfg(test)]
    TestSleep,
    #[cfg(test)]
    TestHead,
    #[cfg(test)]
    TestCat,
}

impl Program {
    pub const ALL: [Program; 8] = [
        Program::UserAdd,
        Program::UserMod,
        Program::UserDel,
        Program::GroupAdd,
        Program::GroupDel,
        Program::SmbPasswd,
        Program::PdbEdit,
        Program::MkPasswd,
    ];

    /// Tools of features a machine may not have (no NFS server, no systemd as PID 1): missing
    /// ones are reported at start-up, and each call that needs one fails naming its package.
    pub const OPTIONAL: [Program; 24] = [
        Program::TestParm,
        Program::SmbControl,
        Program::ExportFs,
        Program::SystemdAnalyze,
        Program::SystemCtl,
        Program::SystemdRun,
        Program::Zpool,
        Program::Zfs,
        Program::Btrfs,
        Program::MkfsBtrfs,
        Program::MkfsExt4,
        Program::MkfsXfs,
        Program::Sgdisk,
        Program::Wipefs,
        Program::Partx,
        Program::Blkdiscard,
        Program::Blkid,
        Program::Smartctl,
        Program::Mdadm,
        Program::Lvm,
        Program::Nvme,
        Program::Hdparm,
        Program::PamTester,
        Program::Restic,
    ];

    pub fn package(self) -> &'static str {
        match self {
            Self::UserAdd | Self::UserMod | Self::UserDel | Self::GroupAdd | Self::GroupDel => "passwd",
            Self::SmbPasswd | Self::PdbEdit | Self::SmbControl => "samba-common-bin or samba",
            Self::TestParm => "samba-common-bin",
            Self::MkPasswd => "whois",
            Self::ExportFs => "nfs-kernel-server",
            Self::SystemdAnalyze | Self::SystemCtl | Self::SystemdRun => "systemd",
            Self::Zpool | Self::Zfs => "zfsutils-linux (contrib) or zfs-fuse",
            Self::Btrfs | Self::MkfsBtrfs => "btrfs-progs",
            Self::MkfsExt4 => "e2fsprogs",
            Self::MkfsXfs => "xfsprogs",
            Self::Sgdisk => "gdisk",
            Self::Wipefs | Self::Partx | Self::Blkdiscard | Self::Blkid => "util-linux",
            Self::Smartctl => "smartmontools",
            Self::Mdadm => "mdadm",
            Self::Lvm => "lvm2",
            Self::Nvme => "nvme-cli",
            Self::Hdparm => "hdparm",
            Self::PamTester => "pamtester",
            Self::Restic => "restic",
            #[cfg(test)]
            _ => "coreutils",
        }
    }

    pub fn is_installed(self) -> bool {
        std::fs::metadata(self.path()).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }

    pub fn path(self) -> &'static str {
        match self {
            Self::UserAdd => "/usr/sbin/useradd",
            Self::UserMod => "/usr/sbin/usermod",
            Self::UserDel => "/usr/sbin/userdel",
            Self::GroupAdd => "/usr/sbin/groupadd",
            Self::GroupDel => "/usr/sbin/groupdel",
            Self::SmbPasswd => "/usr/bin/smbpasswd",
            Self::PdbEdit => "/usr/bin/pdbedit",
            Self::MkPasswd => "/usr/bin/mkpasswd",
            Self::TestParm => "/usr/bin/testparm",
            Self::SmbControl => "/usr/bin/smbcontrol",
            Self::ExportFs => "/usr/sbin/exportfs",
            Self::SystemdAnalyze => "/usr/bin/systemd-analyze",
            Self::SystemCtl => "/usr/bin/systemctl",
            Self::SystemdRun => "/usr/bin/systemd-run",
            Self::Zpool => "/usr/sbin/zpool",
            Self::Zfs => "/usr/sbin/zfs",
            Self::Btrfs => "/usr/bin/btrfs",
            Self::MkfsBtrfs => "/usr/sbin/mkfs.btrfs",
            Self::MkfsExt4 => "/usr/sbin/mkfs.ext4",
            Self::MkfsXfs => "/usr/sbin/mkfs.xfs",
            Self::Sgdisk => "/usr/sbin/sgdisk",
            Self::Wipefs => "/usr/sbin/wipefs",
            Self::Partx => "/usr/bin/partx",
            Self::Blkdiscard => "/usr/sbin/blkdiscard",
            Self::Blkid => "/usr/sbin/blkid",
            Self::Smartctl => "/usr/sbin/smartctl",
            Self::Mdadm => "/usr/sbin/mdadm",
            Self::Lvm => "/usr/sbin/lvm",
            Self::Nvme => "/usr/sbin/nvme",
            Self::Hdparm => "/usr/sbin/hdparm",
            Self::PamTester => "/usr/bin/pamtester",
            Self::Restic => "/usr/bin/restic",
            #[cfg(test)]
            Self::TestSleep => "/usr/bin/sleep",
            #[cfg(test)]
            Self::TestHead => "/usr/bin/head",
            #[cfg(test)]
            Self::TestCat => "/usr/bin/cat",
        }
    }

    pub fn name(self) -> &'static str {
        self.path().rsplit('/').next().unwrap_or("?")
    }
}

/// A secret written to the child's stdin; `describe` is what plans and logs show instead.
pub struct SecretInput {
    pub describe: &'static str,
    pub bytes: Vec<u8>,
}

impl Drop for SecretInput {
    fn drop(&mut self) {
        // Best effort: do not leave the secret in freed heap memory.
        self.bytes.iter_mut().for_each(|b| *b = 0);
    }
}

pub struct Invocation {
    pub program: Program,
    pub args: Vec<String>,
    pub stdin: Option<SecretInput>,
    /// Fixed, non-caller environment additions (the lab's nss_wrapper variables, paths of
    /// credential files).
    pub env: Vec<(&'static str, String)>,
    /// A directory the helper opened safely, given to the tool as its stdin, so the tool names
    /// it `/proc/self/fd/0` and never follows a path a share user could change (a restore).
    pub dir_on_stdin: Option<std::os::fd::OwnedFd>,
}

impl Invocation {
    pub fn of(program: Program) -> Self {
        Self { program, args: Vec::new(), stdin: None, env: Vec::new(), dir_on_stdin: None }
    }
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, a: I) -> Self {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }
    pub fn secret(mut self, describe: &'static str, bytes: Vec<u8>) -> Self {
        self.stdin = Some(SecretInput { describe, bytes });
        self
    }
    pub fn env(mut self, env: Vec<(&'static str, String)>) -> Self {
        self.env = env;
        self
    }

    /// The step as shown in dry runs and logs: exact argv, never the secret.
    pub fn step(&self) -> Step {
        Step::Exec {
            program: self.program.path().to_owned(),
            args: self.args.clone(),
            stdin: match &self.stdin {
                Some(s) => StdinPlan::Secret(s.describe.to_owned()),
                None => StdinPlan::Nothing,
            },
        }
    }
}

#[derive(Debug)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Checkers that exit 0 on what CoreNAS counts as an error (testparm on unknown parameters,
/// systemd-analyze on unknown keys): any stderr line containing one of `needles` (compared in
/// lower case) fails the check, naming `what` and the lines.
pub fn refuse_warnings(out: &Output, needles: &[&str], what: &str) -> Result<(), WireError> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let bad: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            needles.iter().any(|n| l.contains(n))
        })
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(WireError::new(ErrorCode::ToolFailed, format!("{what}: {}", bad.join("; "))))
    }
}

/// Optional tools that are missing, by name and package, for the start-up log.
pub fn missing_optional() -> Vec<String> {
    Program::OPTIONAL
        .iter()
        .filter(|p| !p.is_installed())
        .map(|p| format!("{} (package {})", p.path(), p.package()))
        .collect()
}

/// Checks at start-up that every program in the table is a root-owned executable that nobody
/// else can replace. A missing tool is reported by name before the helper serves anything.
pub fn check_programs() -> Result<(), String> {
    let problems: Vec<String> = Program::ALL.iter().filter_map(|p| trusted(p.path()).err()).collect();
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

/// Whether a program may run as root: a regular, executable file owned by root that no one else
/// can write. Checked at start-up for the required programs and again before every spawn, for
/// every program in the table (optional tools such as zpool, lvm or pamtester included): a tool
/// replaced after start-up, or installed later with loose permissions, never runs as root.
fn trusted(path: &str) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m)
            if m.is_file()
                && m.uid() == 0
                && m.permissions().mode() & 0o022 == 0
                && m.permissions().mode() & 0o111 != 0 =>
        {
            Ok(())
        }
        Ok(_) => Err(format!("{path} is not a root-owned executable that only root can write")),
        Err(e) => Err(format!("{path} is missing ({e}); install its Debian package")),
    }
}

fn tool_error(program: Program, code: ErrorCode, message: String) -> WireError {
    WireError::new(code, format!("{}: {message}", program.name()))
}

async fn read_capped<R: tokio::io::AsyncRead + Unpin>(mut r: R) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = OUTPUT_CAP.saturating_sub(out.len());
                out.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    out
}

/// The lab-only mount servant (`lab_mounts.rs`): this executable again, started before the
/// sandbox, with its stdin and stdout as the request pipe. The only program the helper starts
/// that is not in the table, and only with `--lab-mounts`.
pub fn spawn_lab_mount_servant(root: &std::path::Path) -> std::io::Result<std::process::Child> {
    std::process::Command::new("/proc/self/exe")
        .arg("--lab-mount-servant")
        .arg("--root")
        .arg(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
}

/// The lab-only backup runner (`lab_mounts.rs`, the servant: it alone still may change uid):
/// `setpriv` makes restic run as `uid`:`gid` with CAP_DAC_READ_SEARCH as its only capability
/// (bounding, inheritable, ambient) and no_new_privs; stdout and stderr go to the given files,
/// the working directory is the snapshot. Detached: its own process group, not waited for here.
pub fn spawn_lab_runner(
    uid: u32,
    gid: u32,
    cwd: &std::path::Path,
    args: &[String],
    env: &[(String, String)],
    stdout: std::fs::File,
    stderr: std::fs::File,
) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt as _;
    let caps = "-all,+dac_read_search";
    std::process::Command::new("/usr/bin/setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg("--clear-groups")
        .arg(format!("--inh-caps={caps}"))
        .arg(format!("--ambient-caps={caps}"))
        .arg(format!("--bounding-set={caps}"))
        .arg("--no-new-privs")
        .arg("--")
        .arg(Program::Restic.path())
        .args(args)
        .env_clear()
        .env("PATH", FIXED_PATH)
        .env("LC_ALL", "C")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn()
}

/// Runs a command to completion. Non-zero exit is `ToolFailed` with the (capped) stderr.
pub async fn run(cmd: &Invocation) -> Result<Output, WireError> {
    run_with_timeout(cmd, DEFAULT_TIMEOUT).await
}

pub async fn run_with_timeout(cmd: &Invocation, timeout: Duration) -> Result<Output, WireError> {
    let (status, out) = run_raw(cmd, timeout).await?;
    if status != Some(0) {
        let text = String::from_utf8_lossy(&out.stderr);
        let text = text.trim();
        let code = status.map_or_else(|| "a signal".to_owned(), |c| format!("status {c}"));
        return Err(tool_error(cmd.program, ErrorCode::ToolFailed, format!("exited with {code}: {text}")));
    }
    Ok(out)
}

/// Runs a command and returns its exit code (None: killed by a signal) with its output, for
/// tools whose non-zero exit carries information (smartctl's status bits, a query that finds
/// nothing). Failing to start and timing out are still errors.
pub async fn run_raw(cmd: &Invocation, timeout: Duration) -> Result<(Option<i32>, Output), WireError> {
    tracing::info!(program = cmd.program.path(), argv = %cmd.step(), "exec");
    if !cmd.program.is_installed() {
        return Err(tool_error(
            cmd.program,
            ErrorCode::ToolFailed,
            format!("{} is not installed (Debian package {})", cmd.program.path(), cmd.program.package()),
        ));
    }
    if let Err(why) = trusted(cmd.program.path()) {
        tracing::error!(program = cmd.program.path(), "refusing to run: {why}");
        return Err(tool_error(cmd.program, ErrorCode::NotAllowed, format!("refused to run it as root: {why}")));
    }
    let mut child = tokio::process::Command::new(cmd.program.path())
        .args(&cmd.args)
        .env_clear()
        .env("PATH", FIXED_PATH)
        .env("LC_ALL", "C")
        .envs(cmd.env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(match (&cmd.stdin, &cmd.dir_on_stdin) {
            (Some(_), _) => Stdio::piped(),
            (None, Some(dir)) => dir.try_clone().map(Stdio::from).map_err(|e| {
                tool_error(cmd.program, ErrorCode::ToolFailed, format!("could not pass the directory: {e}"))
            })?,
            (None, None) => Stdio::null(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| tool_error(cmd.program, ErrorCode::ToolFailed, format!("could not start: {e}")))?;

    let stdin_task = match (&cmd.stdin, child.stdin.take()) {
        (Some(secret), Some(mut pipe)) => {
            let bytes = secret.bytes.clone();
            Some(tokio::spawn(async move {
                let mut bytes = bytes;
                // A tool that exits early closes the pipe; its exit status reports the problem.
                let _ = pipe.write_all(&bytes).await;
                bytes.iter_mut().for_each(|b| *b = 0);
            }))
        }
        _ => None,
    };
    let stdout = child.stdout.take().map(|s| tokio::spawn(read_capped(s)));
    let stderr = child.stderr.take().map(|s| tokio::spawn(read_capped(s)));

    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => {
            status.map_err(|e| tool_error(cmd.program, ErrorCode::ToolFailed, format!("wait failed: {e}")))?
        }
        Err(_) => {
            let _ = child.kill().await;
            return Err(tool_error(
                cmd.program,
                ErrorCode::ToolTimeout,
                format!("killed after {} s without finishing", timeout.as_secs()),
            ));
        }
    };
    if let Some(t) = stdin_task {
        let _ = t.await;
    }
    let stdout = match stdout {
        Some(t) => t.await.unwrap_or_default(),
        None => Vec::new(),
    };
    let stderr = match stderr {
        Some(t) => t.await.unwrap_or_default(),
        None => Vec::new(),
    };
    Ok((status.code(), Output { stdout, stderr }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_owned_programs_that_only_root_can_write_are_trusted() {
        assert_eq!(trusted("/usr/bin/cat"), Ok(()), "a package's binary is trusted");
        let dir = std::env::temp_dir().join(format!("corenas-exec-trust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tool = dir.join("tool");
        std::fs::copy("/usr/bin/true", &tool).unwrap();
        let tool_path = tool.to_str().unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        // As root (./test), the copy is root-owned and passes: the control for the refusals below.
        assert_eq!(trusted(tool_path).is_ok(), rustix::process::geteuid().is_root(), "{:?}", trusted(tool_path));
        for loose in [0o775, 0o757, 0o777] {
            std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(loose)).unwrap();
            let e = trusted(tool_path).expect_err("group- or world-writable");
            assert!(e.contains("only root can write"), "{loose:o}: {e}");
        }
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(trusted(tool_path).is_err(), "not executable");
        assert!(trusted(dir.join("missing").to_str().unwrap()).unwrap_err().contains("missing"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    }

    #[test]
    fn a_hanging_tool_is_killed_at_its_timeout() {
        let cmd = Invocation::of(Program::TestSleep).arg("30");
        let started = std::time::Instant::now();
        let e = block_on(run_with_timeout(&cmd, Duration::from_millis(200))).unwrap_err();
        assert_eq!(e.code, ErrorCode::ToolTimeout, "{}", e.message);
        assert!(e.message.contains("killed"), "{}", e.message);
        // Not a timing assertion on the tool: only that we did not wait for sleep's 30 s.
        assert!(started.elapsed() < Duration::from_secs(29));
    }

    #[test]
    fn output_is_capped() {
        let cmd = Invocation::of(Program::TestHead).args(["-c", "1000000", "/dev/zero"]);
        let out = block_on(run(&cmd)).unwrap();
        assert_eq!(out.stdout.len(), OUTPUT_CAP);
    }

    #[test]
    fn secrets_go_to_stdin_and_the_environment_is_clean() {
        let cmd = Invocation::of(Program::TestCat).secret("password", b"Pw-1\n".to_vec());
        let out = block_on(run(&cmd)).unwrap();
        assert_eq!(out.stdout, b"Pw-1\n");
        let env = Invocation::of(Program::TestCat).arg("/proc/self/environ");
        let out = block_on(run(&env)).unwrap();
        let mut vars: Vec<String> = out
            .stdout
            .split(|b| *b == 0)
            .filter(|v| !v.is_empty())
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        vars.sort();
        assert_eq!(vars, ["LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]);
    }

    #[test]
    fn a_failing_tool_reports_its_stderr() {
        let cmd = Invocation::of(Program::TestCat).arg("/nonexistent/file");
        let e = block_on(run(&cmd)).unwrap_err();
        assert_eq!(e.code, ErrorCode::ToolFailed);
        assert!(e.message.contains("status 1") && e.message.contains("No such file"), "{}", e.message);
    }

    #[test]
    fn steps_never_show_the_secret() {
        let c = Invocation::of(Program::SmbPasswd)
            .args(["-s", "-a", "--", "alice"])
            .secret("password, twice", b"Pw-1\nPw-1\n".to_vec());
        let shown = c.step().to_string();
        assert_eq!(shown, "/usr/bin/smbpasswd -s -a -- alice  <stdin: password, twice>");
        assert!(!shown.contains("Pw-1"));
    }
}
