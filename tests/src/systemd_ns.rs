//! A private systemd for system tests: the distribution's systemd running as PID 1 of its own
//! PID, mount, cgroup, UTS, IPC and network namespaces, so that the mount units CoreNAS writes
//! are really started by systemd, without touching the host's systemd (there may be none).
//!
//! Inside the namespaces:
//! - `/` is read-only; the lab directory is bound over itself (with its submounts) and stays
//!   writable; `/run`, `/mnt`, `/tmp` and `/dev/shm` are fresh tmpfs, so the mounts systemd
//!   makes land on the namespace's own `/mnt` and are gone with it (and `/tmp` is private, as
//!   the helper's unit makes it with `PrivateTmp=yes`); `/dev` is the host's (the loop devices
//!   are there), and other mounts below `/` keep their own flags;
//! - a fresh cgroup2 hierarchy rooted at a child cgroup of the host's cgroup2 mount, which this
//!   process moves the launcher into first; `/proc/sys` and `/sys` are read-only (a read-only
//!   `/sys` makes systemd disable device units: without udev no device would ever "appear", so
//!   a mount of a missing device fails at once instead of waiting for it);
//! - `/dev/console` and `/dev/kmsg` are files in this instance's directory, not the host's;
//! - `SYSTEMD_UNIT_PATH` is a directory of stub units (journald, D-Bus when installed, empty
//!   `sysinit`/`sockets`/`basic` targets) followed by the lab root's `etc/systemd/system` and
//!   `run/systemd/system`: exactly the directories the helper writes mount units to.
//!
//! The helper joins the namespaces (except the network one: it needs none) through `nsenter`
//! and is told with `--systemd-reads-prefix` that this systemd reads its prefix. Its socket
//! lives in the lab directory, which is the same directory (same inodes) inside and outside, so
//! corenasd on the host connects to it by path as usual.
//!
//! Teardown ([`PrivateSystemd`]'s Drop): SIGKILL to PID 1 ends every process of the PID
//! namespace (the helper too) and the mount namespace with its mounts; then the cgroup is
//! removed, depth first. Loop devices are left to their owners. Should Drop never run (the test
//! process killed), the launcher dies with the thread that started it (parent-death signal) and
//! takes systemd with it; the empty cgroup left behind is removed by the next start.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Prefix of the cgroups this module creates: `corenas-test-systemd-<test pid>-<seq>`.
const CGROUP_PREFIX: &str = "corenas-test-systemd-";

/// How long systemd may take to reach its target (it takes well under a second here).
const START_TIMEOUT: Duration = Duration::from_secs(30);

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Instances started for labs (by [`helper_command`]) until a test [`take`]s them.
static RUNNING: Mutex<Vec<PrivateSystemd>> = Mutex::new(Vec::new());

/// One private systemd. Dropping it kills it and everything in its PID namespace.
pub struct PrivateSystemd {
    /// PID 1 of the namespaces, as this (host-side) process sees it.
    pub pid: u32,
    /// The lab directory it serves, bound writable inside.
    pub lab_dir: PathBuf,
    /// Its own files: stub units, the script that becomes PID 1, console and kernel log.
    pub dir: PathBuf,
    /// The host-side cgroup that is the root of its cgroup namespace.
    cgroup: PathBuf,
    launcher: Option<Child>,
}

impl std::fmt::Debug for PrivateSystemd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "private systemd pid {} for {}", self.pid, self.lab_dir.display())
    }
}

/// The first of `candidates` that exists.
fn first_existing(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Where the host's cgroup2 hierarchy is mounted (`/sys/fs/cgroup` on a unified host,
/// `/sys/fs/cgroup/unified` on a hybrid one).
fn cgroup2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let point = left.split_whitespace().nth(4)?;
        (right.split_whitespace().next()? == "cgroup2").then(|| PathBuf::from(point))
    })
}

/// Removes a cgroup and its children, deepest first, retrying while the kernel is still
/// releasing exited processes. Returns whether it is gone.
fn remove_cgroup_tree(dir: &Path, deadline: Instant) -> bool {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path(), deadline);
            }
        }
    }
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return true,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => return false,
        }
    }
}

/// Kills what is left in a cgroup tree (`cgroup.kill`, Linux 5.14) and removes it.
fn kill_and_remove_cgroup(dir: &Path, wait: Duration) -> bool {
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(dir.join("cgroup.kill")) {
        let _ = f.write_all(b"1");
    }
    remove_cgroup_tree(dir, Instant::now() + wait)
}

/// Cgroups of earlier test processes that died without their Drop (SIGKILLed by a test runner):
/// only those whose creating process is gone, never a parallel test's.
fn remove_stale_cgroups(cg2: &Path) {
    let Ok(entries) = std::fs::read_dir(cg2) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(CGROUP_PREFIX) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            kill_and_remove_cgroup(&e.path(), Duration::from_secs(2));
        }
    }
}

/// Single-quoted for sh (the paths here come from the harness, but quoting costs nothing).
fn sh_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// The stub units: a target pulling in journald (and D-Bus when installed), and the empty
/// targets the real units order themselves against.
fn write_units(units: &Path) -> Result<(), String> {
    let io = |what: &str, e: std::io::Error| format!("private systemd: {what}: {e}");
    std::fs::create_dir_all(units).map_err(|e| io("creating the unit directory", e))?;
    let system = first_existing(&["/lib/systemd/system", "/usr/lib/systemd/system"])
        .ok_or("private systemd: no /lib/systemd/system (is systemd installed?)")?;
    let mut wanted = vec!["systemd-journald.socket"];
    let mut links = vec!["systemd-journald.socket", "systemd-journald.service"];
    let with_dbus = system.join("dbus.service").exists() && Path::new("/usr/bin/dbus-daemon").exists();
    if with_dbus {
        wanted.push("dbus.socket");
        links.extend(["dbus.socket", "dbus.service"]);
    }
    for l in &links {
        let target = system.join(l);
        if !target.exists() {
            return Err(format!("private systemd: {} is missing", target.display()));
        }
        std::os::unix::fs::symlink(&target, units.join(l)).map_err(|e| io("linking a unit", e))?;
    }
    let wanted = wanted.join(" ");
    let mut files = vec![(
        "corenas-test.target".to_owned(),
        format!("[Unit]\nDescription=CoreNAS test systemd\nWants={wanted}\nAfter={wanted}\n"),
    )];
    // dbus.service has DefaultDependencies (Requires=sysinit.target and so on).
    for t in ["sysinit", "sockets", "basic"] {
        files.push((format!("{t}.target"), format!("[Unit]\nDescription=stub {t}.target (CoreNAS test systemd)\n")));
    }
    for (name, text) in files {
        std::fs::write(units.join(name), text).map_err(|e| io("writing a unit", e))?;
    }
    // The bus also listens in the lab directory, which corenasd on the host reaches (it reads
    // unit state over D-Bus: see `bus_address`); dbus-daemon serves every socket it is passed.
    if let (true, Some(own)) = (with_dbus, units.parent()) {
        let dropin = units.join("dbus.socket.d");
        std::fs::create_dir_all(&dropin).map_err(|e| io("creating dbus.socket.d", e))?;
        let text = format!("[Socket]\nListenStream={}\n", own.join(BUS_SOCKET).display());
        std::fs::write(dropin.join("corenas-lab.conf"), text).map_err(|e| io("writing dbus.socket.d", e))?;
    }
    Ok(())
}

/// The private systemd's system bus socket, in its own directory (`<lab>/systemd`).
const BUS_SOCKET: &str = "system_bus_socket";

/// The D-Bus address of the private system bus of the lab in `lab_dir` (for corenasd's
/// `--systemd-bus`): the same socket inside and outside the namespaces.
pub fn bus_address(lab_dir: &Path) -> String {
    let path = lab_dir.join("systemd").join(BUS_SOCKET).display().to_string();
    // D-Bus addresses escape every byte outside [-0-9A-Za-z_/.*] as %XX.
    let mut out = String::from("unix:path=");
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-_/.*".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

/// The script that becomes PID 1 of the new namespaces, prepares the mounts and execs systemd.
fn inner_script(dir: &Path, lab_dir: &Path, root: &Path, systemd: &Path) -> String {
    let unit_path = format!(
        "{}:{}:{}",
        dir.join("units").display(),
        root.join("etc/systemd/system").display(),
        root.join("run/systemd/system").display()
    );
    format!(
        r#"#!/bin/sh
# PID 1 of the new namespaces until it execs systemd (written by tests/src/systemd_ns.rs).
set -eu
LAB={lab}
OWN={own}
mount --rbind "$LAB" "$LAB"
mount -o remount,bind,ro /
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=755 tmpfs /mnt
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
mount -o remount,bind,ro /sys
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
if [ -e /proc/sysrq-trigger ]; then
  mount --bind /proc/sysrq-trigger /proc/sysrq-trigger
  mount -o remount,bind,ro /proc/sysrq-trigger
fi
: > "$OWN/console.log"; mount --bind "$OWN/console.log" /dev/console
: > "$OWN/kmsg.log"; mount --bind "$OWN/kmsg.log" /dev/kmsg
exec env -i container=corenas-test PATH=/usr/sbin:/usr/bin:/sbin:/bin SYSTEMD_UNIT_PATH={unit_path} \
  {systemd} --system --unit=corenas-test.target --log-target=journal --log-level=info --show-status=no \
  </dev/null >>"$OWN/console.log" 2>&1
"#,
        lab = sh_quote(lab_dir),
        own = sh_quote(dir),
        unit_path = sh_quote(Path::new(&unit_path)),
        systemd = sh_quote(systemd),
    )
}

/// The process whose parent is `parent`, from /proc.
fn child_of(parent: u32) -> Option<u32> {
    let entries = std::fs::read_dir("/proc").ok()?;
    entries.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        let after_comm = &stat[stat.rfind(')')? + 2..];
        let ppid: u32 = after_comm.split_whitespace().nth(1)?.parse().ok()?;
        (ppid == parent).then_some(pid)
    })
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_owned()
}

impl PrivateSystemd {
    /// Starts a private systemd for the lab in `lab_dir` whose root prefix is `root`, and waits
    /// until it has reached its target. On failure nothing is left behind and the error says why,
    /// with systemd's console output.
    pub fn start(lab_dir: &Path, root: &Path) -> Result<PrivateSystemd, String> {
        let started = Instant::now();
        let cg2 = cgroup2_mount().ok_or(
            "private systemd: no cgroup2 hierarchy is mounted on this machine (see /proc/self/mountinfo); \
             systemd as PID 1 of a cgroup namespace needs one",
        )?;
        remove_stale_cgroups(&cg2);
        let systemd = first_existing(&["/lib/systemd/systemd", "/usr/lib/systemd/systemd"])
            .ok_or("private systemd: /lib/systemd/systemd not found (is systemd installed?)")?;
        for tool in ["unshare", "nsenter", "setpriv"] {
            if !Path::new("/usr/bin").join(tool).exists() {
                return Err(format!("private systemd: /usr/bin/{tool} not found (package util-linux)"));
            }
        }
        let name = format!("{CGROUP_PREFIX}{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst));
        let cgroup = cg2.join(&name);
        std::fs::create_dir(&cgroup)
            .map_err(|e| format!("private systemd: creating cgroup {}: {e}", cgroup.display()))?;
        // From here on, an early return drops `sd`, which undoes what was done so far.
        let mut sd = PrivateSystemd {
            pid: 0,
            lab_dir: lab_dir.to_path_buf(),
            dir: lab_dir.join("systemd"),
            cgroup,
            launcher: None,
        };
        let dir = sd.dir.clone();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("private systemd: creating {}: {e}", dir.display()))?;
        write_units(&dir.join("units"))?;
        // The directories on the unit path exist before systemd looks at them (and the helper's
        // sandbox only lets it write beneath directories that exist when it starts).
        for d in ["etc/systemd/system", "run/systemd/system"] {
            std::fs::create_dir_all(root.join(d)).map_err(|e| format!("private systemd: creating {d}: {e}"))?;
        }
        let script = dir.join("inner.sh");
        std::fs::write(&script, inner_script(&dir, lab_dir, root, &systemd))
            .map_err(|e| format!("private systemd: writing {}: {e}", script.display()))?;
        let log = std::fs::File::create(dir.join("launcher.log")).map_err(|e| format!("private systemd: log: {e}"))?;
        let procs = std::fs::OpenOptions::new()
            .write(true)
            .open(sd.cgroup.join("cgroup.procs"))
            .map_err(|e| format!("private systemd: opening {}/cgroup.procs: {e}", sd.cgroup.display()))?;

        let mut cmd = Command::new("/usr/bin/unshare");
        cmd.args([
            "--pid",
            "--fork",
            "--kill-child=SIGKILL",
            "--mount",
            "--cgroup",
            "--uts",
            "--ipc",
            "--net",
            "--propagation",
            "private",
            "--mount-proc",
            "--",
            "/bin/sh",
        ])
        .arg(&script)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| format!("private systemd: log: {e}"))?)
        .stderr(log);
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: runs between fork and exec; it makes two system calls on an open file and
            // a constant, without allocating or taking locks.
            unsafe {
                cmd.pre_exec(move || {
                    // Dies with the thread that starts it; `--kill-child` passes that on to systemd.
                    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
                    // "0" moves the writer itself: the cgroup namespace is rooted here.
                    rustix::io::write(&procs, b"0")?;
                    Ok(())
                });
            }
        }
        let launcher = cmd.spawn().map_err(|e| format!("private systemd: running unshare: {e}"))?;
        let launcher_pid = launcher.id();
        sd.launcher = Some(launcher);

        let deadline = Instant::now() + START_TIMEOUT;
        let mut last_state = String::new();
        loop {
            if let Some(status) = sd.launcher.as_mut().and_then(|l| l.try_wait().ok().flatten()) {
                return Err(sd.failure(&format!("the launcher exited ({status})")));
            }
            if sd.pid == 0 {
                sd.pid = child_of(launcher_pid).unwrap_or(0);
            }
            if sd.pid != 0 && comm(sd.pid) == "systemd" {
                let out = sd.run(&["systemctl", "is-system-running"]);
                last_state = crate::stdout(&out).trim().to_owned();
                if matches!(last_state.as_str(), "running" | "degraded") {
                    break;
                }
            }
            if Instant::now() > deadline {
                return Err(sd.failure(&format!(
                    "not up within {} s (is-system-running: {last_state:?})",
                    START_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "private systemd: pid {} (host view), cgroup {}, up after {} ms",
            sd.pid,
            sd.cgroup.display(),
            started.elapsed().as_millis()
        );
        Ok(sd)
    }

    /// Why it did not start, with everything it printed.
    fn failure(&self, why: &str) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        format!(
            "private systemd did not start: {why}\n--- launcher.log\n{}--- console.log (systemd)\n{}",
            read("launcher.log"),
            read("console.log")
        )
    }

    /// `nsenter` into every namespace but the network one, running `args` there.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("/usr/bin/nsenter");
        c.arg("-t").arg(self.pid.to_string()).args(["-m", "-p", "-u", "-i", "-C", "--"]).args(args);
        c
    }

    /// Runs `args` inside (see [`Self::command`]) and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        crate::run(self.command(args).stdin(Stdio::null()))
    }

    /// The mount at `target` inside the namespaces as `SOURCE FSTYPE`, if there is one.
    pub fn findmnt(&self, target: &str) -> Option<String> {
        let out = self.run(&["findmnt", "-n", "-o", "SOURCE,FSTYPE", "--mountpoint", target]);
        out.status.success().then(|| crate::stdout(&out).split_whitespace().collect::<Vec<_>>().join(" "))
    }

    /// What systemd says about a unit: `systemctl show` properties as `(key, value)` pairs.
    pub fn show(&self, unit: &str, props: &str) -> Vec<(String, String)> {
        let out = self.run(&["systemctl", "show", &format!("--property={props}"), "--", unit]);
        crate::stdout(&out)
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect()
    }

    /// The journal of one unit, for failure messages.
    pub fn journal(&self, unit: &str) -> String {
        let out = self.run(&["journalctl", "--no-pager", "-o", "short-monotonic", "-u", unit]);
        format!("{}{}", crate::stdout(&out), crate::stderr(&out))
    }

    /// The host-side cgroup that is the root of its cgroup namespace (removed on Drop).
    pub fn cgroup(&self) -> &Path {
        &self.cgroup
    }

    /// Whether PID 1 is still this systemd.
    pub fn alive(&self) -> bool {
        self.pid != 0
            && comm(self.pid) == "systemd"
            && std::fs::read_to_string(format!("/proc/{}/cgroup", self.pid))
                .is_ok_and(|c| c.contains(self.cgroup.file_name().and_then(|n| n.to_str()).unwrap_or("?")))
    }
}

impl Drop for PrivateSystemd {
    /// SIGKILL to PID 1 (the kernel then kills the whole PID namespace, the helper too, and the
    /// mount namespace goes with its last process), then to whatever else is in its cgroup (the
    /// script before it became systemd, if it never did), reap the launcher, remove the cgroup.
    /// Never panics.
    fn drop(&mut self) {
        if self.alive() {
            if let Some(pid) = rustix::process::Pid::from_raw(i32::try_from(self.pid).unwrap_or(0)) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(self.cgroup.join("cgroup.kill")) {
            let _ = f.write_all(b"1");
        }
        if let Some(mut l) = self.launcher.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && !matches!(l.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = l.kill();
            let _ = l.wait();
        }
        if !kill_and_remove_cgroup(&self.cgroup, Duration::from_secs(5)) {
            eprintln!("private systemd: could not remove cgroup {}", self.cgroup.display());
        }
        // A killed PID 1 lingers until the kernel has reaped its whole namespace, which takes a
        // while on a loaded machine: wait for that, so that "gone" means gone when drop returns.
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.pid != 0 && crate::process_alive(self.pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The private systemd of the lab in `lab_dir`, started now if it is not running.
fn ensure_running(lab_dir: &Path, root: &Path) -> u32 {
    let mut running = RUNNING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    running.retain(|s| s.lab_dir != lab_dir || s.alive());
    if let Some(s) = running.iter().find(|s| s.lab_dir == lab_dir) {
        return s.pid;
    }
    match PrivateSystemd::start(lab_dir, root) {
        Ok(s) => {
            let pid = s.pid;
            running.push(s);
            pid
        }
        Err(e) => panic!("{e}"),
    }
}

/// For `Lab::start_helper` with `LabOptions::private_systemd`: `helper` (the command that would
/// start the helper, or its activator) run inside the lab's private systemd, which is started
/// first if needed, with `--systemd-reads-prefix` added to the helper's arguments. The helper
/// gets SIGTERM when the returned process (`nsenter`, outside) dies, so stopping it as any lab
/// helper stops the helper. `pre_exec` hooks of `helper` are not carried over (the
/// `journal_dir` and `nfs_namespace` lab options do not combine with a private systemd).
pub fn helper_command(lab_dir: &Path, root: &Path, helper: &Command) -> Command {
    let pid = ensure_running(lab_dir, root);
    let mut c = Command::new("/usr/bin/nsenter");
    c.arg("-t")
        .arg(pid.to_string())
        .args(["-m", "-p", "-u", "-i", "-C", "--", "/usr/bin/setpriv", "--pdeathsig", "TERM", "--"])
        .arg(helper.get_program())
        .args(helper.get_args())
        .arg("--systemd-reads-prefix");
    for (k, v) in helper.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c
}

/// Hands the lab's private systemd to the test, whose binding then decides when it dies: declare
/// it after the `Lab` and after the loop devices it will mount, so that it is dropped before
/// them (the helper dies with it, and a device is no longer mounted when it is detached).
pub fn take(lab: &crate::Lab) -> PrivateSystemd {
    let mut running = RUNNING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let i = running.iter().position(|s| s.lab_dir == lab.dir).unwrap_or_else(|| {
        panic!(
            "no private systemd for {}: start the lab with LabOptions {{ private_systemd: true, .. }}",
            lab.dir.display()
        )
    });
    running.swap_remove(i)
}
