//! The system-test fixture: a whole CoreNAS (root helper, unprivileged corenasd) started from
//! the built binaries inside a throwaway directory, with a prefixed root (its own passwd,
//! shadow, group, smb.conf), a tmpfs share root with POSIX ACLs, and sockets of its own. Drop
//! tears everything down, also when a test fails.

pub mod backup_targets;
pub mod media;
pub mod prerequisites;
pub mod systemd_ns;
pub mod web;

pub use prerequisites::{exit_unless_root, require_program, require_root, require_zfs_fuse, skip_or_fail};

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf()
}

/// target/debug (or whichever profile built this program), found from this program's path:
/// test binaries live in `<profile>/deps/`, the bench binary in `<profile>/`.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("exe dir");
    if dir.ends_with("deps") { dir.parent().expect("profile dir").to_path_buf() } else { dir.to_path_buf() }
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn must(cmd: &mut Command) {
    let out = run(cmd);
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// The unprivileged account corenasd runs as; created once, under a lock (tests run in
/// parallel processes). corenas-web's account is made too, before any corenasd starts: corenasd
/// looks its uid up when it starts.
pub fn daemon_account() -> (u32, u32) {
    let ids = account_ids("corenas");
    account_ids(web::WEB_USER);
    ids
}

/// The uid and gid of a host system account, created (no home, no shell) if missing.
/// Held while a test creates host accounts or groups: tests run in parallel processes.
fn host_accounts_lock() -> std::fs::File {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open("/var/tmp/corenas-tests.lock")
        .expect("lock file");
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).expect("flock");
    lock
}

pub fn account_ids(name: &str) -> (u32, u32) {
    let _lock = host_accounts_lock();
    let id = |flag: &str| run(Command::new("id").args([flag, name]));
    if !id("-u").status.success() {
        must(Command::new("useradd").args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name]));
    }
    let num = |flag: &str| String::from_utf8_lossy(&id(flag).stdout).trim().parse::<u32>().expect("numeric id");
    (num("-u"), num("-g"))
}

/// The group corenas-proxy (whose only member is www-data) that reaches corenas-web's socket,
/// made on the host as lab/up and the package make it.
pub fn proxy_group_id() -> u32 {
    let _lock = host_accounts_lock();
    if !run(Command::new("getent").args(["group", "corenas-proxy"])).status.success() {
        must(Command::new("groupadd").args(["--system", "corenas-proxy"]));
    }
    let www = run(Command::new("id").args(["-nG", "www-data"]));
    if www.status.success() && !crate::stdout(&www).split_whitespace().any(|g| g == "corenas-proxy") {
        must(Command::new("usermod").args(["-a", "-G", "corenas-proxy", "www-data"]));
    }
    group_id("corenas-proxy")
}

pub fn group_id(name: &str) -> u32 {
    let out = run(Command::new("getent").args(["group", name]));
    crate::stdout(&out)
        .split(':')
        .nth(2)
        .and_then(|g| g.trim().parse().ok())
        .unwrap_or_else(|| panic!("no group {name}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// The helper binds its own socket (`--listen`).
    Listen,
    /// `lab/activate.py` holds the socket and starts the helper on demand, like systemd.
    OnDemand,
    /// `systemd-socket-activate` passes the socket once (real LISTEN_FDS).
    SystemdOnce,
}

#[derive(Debug, Clone)]
pub struct LabOptions {
    pub activation: Activation,
    pub idle_timeout: u64,
    /// Where smb.conf puts samba's private dir (passdb), as a path inside the prefix or, for
    /// the sandbox test, an absolute host path outside every writable directory.
    pub smb_private_dir: Option<PathBuf>,
    /// Run the helper in its own mount namespace where this directory (holding a test's
    /// datagram socket) is `/run/systemd/journal`, so it logs to "journald" there.
    pub journal_dir: Option<PathBuf>,
    /// Imaging jobs corenasd may run at once.
    pub imaging_concurrency: usize,
    /// Put the image root on a tmpfs of this size (e.g. "4m"), to run out of space on purpose.
    pub images_tmpfs: Option<String>,
    /// Run the helper in a mount namespace where the prefix's /etc/exports.d and /var/lib/nfs
    /// are the real paths, so `exportfs` works on the lab's exports and never the host's.
    pub nfs_namespace: bool,
    /// Run the helper inside a private systemd (PID 1 of its own namespaces) that reads the
    /// prefix's unit directories, so mount units are really started: see [`systemd_ns`].
    pub private_systemd: bool,
    /// Pass `--lab-mounts`: the helper mounts pools through its lab-only servant.
    pub lab_mounts: bool,
    /// Put corenasd's state directory (state.db) on a filesystem of its own, to fill it or
    /// make it fail on purpose.
    pub state_fs: Option<StateFs>,
    /// Programs the helper must not find: see [`hide_programs`].
    pub hide_programs: Vec<&'static str>,
    /// Check login passwords through PAM (`--login-check pam`), as in production: the helper
    /// runs in a mount namespace whose /etc is a copy of the host's with the shipped
    /// `/etc/pam.d/corenas` and the prefix's account files (see [`with_pam_etc`]).
    pub pam: bool,
    /// Run two helpers as production does: `--role accounts` on `helper_sock` and
    /// `--role storage` on `storage_sock`, with corenasd's `--storage-socket` pointing there.
    pub split_helpers: bool,
    /// Pass `--monitor-secs N`: every collector runs every N seconds (the monitoring tests).
    pub monitor_secs: Option<u64>,
    /// Programs replaced for the helper only: `(program, file)` binds the file over the
    /// program's path in a private mount namespace (see [`replace_programs`]).
    pub replace_programs: Vec<(&'static str, PathBuf)>,
}

/// The filesystem under corenasd's state directory (see [`LabOptions::state_fs`]).
#[derive(Debug, Clone)]
pub enum StateFs {
    /// A tmpfs of this size ("16m").
    Tmpfs(String),
    /// This block device, formatted ext4 and mounted with `errors=remount-ro`, so that an error
    /// (`/sys/fs/ext4/<dev>/trigger_fs_error`) turns it read-only under open files.
    Ext4(PathBuf),
}

impl Default for LabOptions {
    fn default() -> Self {
        Self {
            activation: Activation::Listen,
            idle_timeout: 0,
            smb_private_dir: None,
            journal_dir: None,
            imaging_concurrency: 2,
            images_tmpfs: None,
            nfs_namespace: false,
            private_systemd: false,
            lab_mounts: false,
            state_fs: None,
            hide_programs: Vec::new(),
            pam: false,
            split_helpers: false,
            monitor_secs: None,
            replace_programs: Vec::new(),
        }
    }
}

pub struct Lab {
    pub dir: PathBuf,
    pub root: PathBuf,
    pub storage: PathBuf,
    pub helper_sock: PathBuf,
    /// The storage helper's socket when `split_helpers` (else the helper at `helper_sock` does
    /// storage too).
    pub storage_sock: PathBuf,
    pub daemon_sock: PathBuf,
    pub bin: PathBuf,
    pub daemon_uid: u32,
    /// Where corenasd writes images (`--images`), owned by the daemon's user.
    pub images: PathBuf,
    /// The loopback port this lab's smbd listens on (see [`Lab::start_smbd`]).
    pub smb_port: u16,
    imaging_concurrency: usize,
    images_mounted: bool,
    state_mounted: bool,
    opts: LabOptions,
    helper: Option<Child>,
    storage_helper: Option<Child>,
    daemon: Option<Child>,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\nhuman:x:1000:1000:A Human:/home/human:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const GROUP: &str = "root:x:0:\ndaemon:x:1:\nbin:x:2:\nhuman:x:1000:\nnogroup:x:65534:\n";
const SHADOW: &str = "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\nhuman:$y$j9T$abc$def:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n";
const GSHADOW: &str = "root:*::\ndaemon:*::\nbin:*::\nhuman:!::\nnogroup:*::\n";
const LOGIN_DEFS: &str = "UID_MIN 1000\nUID_MAX 100000\nGID_MIN 1000\nGID_MAX 100000\nSYS_UID_MIN 100\nSYS_UID_MAX 999\nSYS_GID_MIN 100\nSYS_GID_MAX 999\nUSERGROUPS_ENAB no\nENCRYPT_METHOD YESCRYPT\nCREATE_HOME no\n";

impl Lab {
    pub fn start(name: &str, opts: LabOptions) -> Lab {
        let (daemon_uid, daemon_gid) = daemon_account();
        let dir = PathBuf::from(format!(
            "/var/tmp/corenas-test-{name}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("root");
        let storage = root.join("storage");
        for d in [
            "etc/samba",
            "etc/skel",
            "home",
            "var/lib/samba/private",
            "var/lib/samba/lock",
            "var/cache/samba",
            "run/samba",
            "var/log/samba",
            "var/lib/nfs",
            "etc/exports.d",
            "etc/systemd/system",
            "run/systemd/system",
            "storage",
            "mnt/corenas",
        ] {
            std::fs::create_dir_all(root.join(d)).expect("prefix dirs");
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let write = |rel: &str, text: &str, mode: u32| {
            let p = root.join(rel);
            std::fs::write(&p, text).expect("write prefix file");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        };
        write("etc/passwd", PASSWD, 0o644);
        write("etc/group", GROUP, 0o644);
        write("etc/shadow", SHADOW, 0o640);
        write("etc/gshadow", GSHADOW, 0o640);
        write("etc/login.defs", LOGIN_DEFS, 0o644);
        let seq = SEQ.load(Ordering::SeqCst);
        let smb_port = u16::try_from(20_000 + (std::process::id() % 2000) * 10 + (seq % 10)).unwrap_or(20_000);
        let private = opts.smb_private_dir.clone().unwrap_or_else(|| root.join("var/lib/samba/private"));
        let r = root.display();
        let smb = format!(
            "[global]\n  private dir = {}\n  lock directory = {r}/var/lib/samba/lock\n  state directory = {r}/var/lib/samba\n  cache directory = {r}/var/cache/samba\n  pid directory = {r}/run/samba\n  ncalrpc dir = {r}/run/samba/ncalrpc\n  log file = {r}/var/log/samba/log.%m\n  passdb backend = tdbsam\n  smb ports = {smb_port}\n  interfaces = lo\n  bind interfaces only = yes\n  disable netbios = yes\n  load printers = no\n  printcap name = /dev/null\n  disable spoolss = yes\n  map to guest = never\n",
            private.display()
        );
        write("etc/samba/smb.conf", &smb, 0o644);
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        for b in ["corenas-helper", "corenasd", "corenas-ctl"] {
            std::fs::copy(target_dir().join(b), bin.join(b))
                .unwrap_or_else(|e| panic!("copy {b}: {e} (build the workspace first)"));
            std::fs::set_permissions(bin.join(b), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        // tmpfs has POSIX ACLs on this kernel and leaves nothing behind. Mounted last, after
        // everything that can fail before `Lab` (whose Drop unmounts) exists.
        must(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=256m,nr_inodes=100k,mode=0755", "corenas-test"])
                .arg(&storage),
        );

        let run_dir = dir.join("run");
        let state = dir.join("state");
        std::fs::create_dir_all(&run_dir).expect("run");
        std::fs::create_dir_all(&state).expect("state");
        std::os::unix::fs::chown(&state, Some(daemon_uid), Some(daemon_gid)).expect("chown state");
        std::os::unix::fs::chown(&run_dir, Some(daemon_uid), Some(daemon_gid)).expect("chown run");
        let images = dir.join("images");
        std::fs::create_dir_all(&images).expect("images");
        for f in ["var/lib/nfs/etab", "var/lib/nfs/rmtab"] {
            write(f, "", 0o644);
        }
        let mut lab = Lab {
            smb_port,
            opts: opts.clone(),
            images: images.clone(),
            imaging_concurrency: opts.imaging_concurrency,
            images_mounted: false,
            state_mounted: false,
            helper_sock: run_dir.join("helper.sock"),
            storage_sock: run_dir.join("storage.sock"),
            daemon_sock: run_dir.join("corenasd.sock"),
            dir,
            root,
            storage,
            bin,
            daemon_uid,
            helper: None,
            storage_helper: None,
            daemon: None,
        };
        if let Some(size) = &opts.images_tmpfs {
            must(
                Command::new("mount")
                    .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0750"), "corenas-images"])
                    .arg(&images),
            );
            lab.images_mounted = true;
        }
        std::os::unix::fs::chown(&images, Some(daemon_uid), Some(daemon_gid)).expect("chown images");
        if let Some(fs) = &opts.state_fs {
            match fs {
                StateFs::Tmpfs(size) => must(
                    Command::new("mount")
                        .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0750"), "corenas-state"])
                        .arg(&state),
                ),
                StateFs::Ext4(dev) => {
                    must(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(dev));
                    must(Command::new("mount").args(["-o", "errors=remount-ro"]).arg(dev).arg(&state));
                }
            }
            lab.state_mounted = true;
            std::os::unix::fs::chown(&state, Some(daemon_uid), Some(daemon_gid)).expect("chown state");
        }
        lab.start_helper(&opts, daemon_uid, daemon_gid);
        lab.start_daemon();
        lab
    }

    pub fn helper_args(&self, daemon_uid: u32, daemon_gid: u32, idle: u64) -> Vec<String> {
        vec![
            "--root".into(),
            self.root.display().to_string(),
            "--daemon-uid".into(),
            daemon_uid.to_string(),
            "--daemon-gid".into(),
            daemon_gid.to_string(),
            "--share-root".into(),
            "/storage".into(),
            "--idle-timeout".into(),
            idle.to_string(),
        ]
    }

    fn log_file(&self, name: &str) -> std::fs::File {
        std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join(name)).expect("log file")
    }

    fn start_helper(&mut self, opts: &LabOptions, uid: u32, gid: u32) {
        let helper = self.bin.join("corenas-helper").display().to_string();
        let mut args = self.helper_args(uid, gid, opts.idle_timeout);
        if opts.lab_mounts {
            args.push("--lab-mounts".into());
        }
        if opts.split_helpers {
            // The storage helper: its own process and socket, as corenas-storage.service.
            let mut st = Command::new(&helper);
            st.args(&args).args(["--role", "storage", "--socket-mode", "666", "--listen"]).arg(&self.storage_sock);
            st.stdout(self.log_file("storage-helper.log"))
                .stderr(self.log_file("storage-helper.log"))
                .stdin(Stdio::null());
            self.storage_helper = Some(st.spawn().expect("start the storage helper"));
            wait_for(|| self.storage_sock.exists(), "storage helper socket");
            args.extend(["--role".into(), "accounts".into()]);
        }
        let mut cmd = match opts.activation {
            Activation::Listen => {
                args.extend([
                    "--listen".into(),
                    self.helper_sock.display().to_string(),
                    "--socket-mode".into(),
                    "666".into(),
                ]);
                let mut c = Command::new(&helper);
                c.args(&args);
                c
            }
            Activation::OnDemand => {
                let mut c = Command::new("python3");
                c.arg(workspace().join("lab/activate.py"))
                    .args([
                        "--socket".into(),
                        self.helper_sock.display().to_string(),
                        "--mode".into(),
                        "666".into(),
                        "--".into(),
                        helper,
                    ])
                    .args(&args);
                c
            }
            Activation::SystemdOnce => {
                let mut c = Command::new("systemd-socket-activate");
                c.args(["-l".into(), self.helper_sock.display().to_string(), "--".into(), helper]).args(&args);
                c
            }
        };
        cmd.stdout(self.log_file("helper.log")).stderr(self.log_file("helper.log")).stdin(Stdio::null());
        if let Some(dir) = &opts.journal_dir {
            with_journal(&mut cmd, dir);
        }
        if opts.nfs_namespace {
            with_nfs_paths(&mut cmd, &self.root);
        }
        if !opts.hide_programs.is_empty() {
            hide_programs(&mut cmd, &opts.hide_programs);
        }
        if !opts.replace_programs.is_empty() {
            replace_programs(&mut cmd, &opts.replace_programs);
        }
        if opts.pam {
            cmd.args(["--login-check", "pam"]);
            with_pam_etc(&mut cmd, &self.dir, &self.root);
        }
        if opts.private_systemd {
            cmd = systemd_ns::helper_command(&self.dir, &self.root, &cmd);
            cmd.stdout(self.log_file("helper.log")).stderr(self.log_file("helper.log")).stdin(Stdio::null());
        }
        self.helper = Some(cmd.spawn().expect("start helper"));
        wait_for(|| self.helper_sock.exists(), "helper socket");
        if opts.activation == Activation::SystemdOnce {
            // systemd-socket-activate creates the socket with its own mode.
            let _ = std::fs::set_permissions(&self.helper_sock, std::fs::Permissions::from_mode(0o666));
        }
    }

    fn start_daemon(&mut self) {
        let mut cmd = self.daemon_command();
        self.daemon = Some(cmd.spawn().expect("start corenasd"));
        wait_for(|| self.daemon_sock.exists(), "corenasd socket");
    }

    /// How the lab starts corenasd: unprivileged (setpriv to `corenas`, no capabilities, no new
    /// privileges) on the lab's state, sockets and prefix, logging to `corenasd.log`.
    pub fn daemon_command(&self) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=corenas",
            "--regid=corenas",
            "--init-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
        ])
        .arg(self.bin.join("corenasd"))
        .args(["--root".as_ref(), self.root.as_os_str()])
        .args(["--state-dir".as_ref(), self.dir.join("state").as_os_str()])
        .args(["--listen".as_ref(), self.daemon_sock.as_os_str()])
        .args(["--socket-mode", "666"])
        .args(["--helper-socket".as_ref(), self.helper_sock.as_os_str()])
        .args(if self.opts.split_helpers {
            vec!["--storage-socket".as_ref(), self.storage_sock.as_os_str()]
        } else {
            Vec::new()
        })
        .args(["--images".as_ref(), self.images.as_os_str()])
        .args(["--imaging-concurrency", &self.imaging_concurrency.to_string()])
        .args(self.opts.monitor_secs.map(|n| ["--monitor-secs".to_owned(), n.to_string()]).into_iter().flatten())
        // corenasd reads unit state over D-Bus: from the lab's private systemd where there is one.
        .args(
            self.opts
                .private_systemd
                .then(|| ["--systemd-bus".to_owned(), systemd_ns::bus_address(&self.dir)])
                .into_iter()
                .flatten(),
        )
        .stdout(self.log_file("corenasd.log"))
        .stderr(self.log_file("corenasd.log"))
        .stdin(Stdio::null());
        cmd
    }

    pub fn helper_pid(&self) -> Option<u32> {
        self.helper.as_ref().map(Child::id)
    }
    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Child::id)
    }

    /// Runs corenas-ctl against this lab's daemon.
    pub fn ctl(&self, args: &[&str]) -> Output {
        self.ctl_stdin(args, None)
    }

    pub fn ctl_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut cmd = Command::new(self.bin.join("corenas-ctl"));
        cmd.arg("--socket")
            .arg(&self.daemon_sock)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("corenas-ctl");
        if let Some(text) = stdin {
            // corenas-ctl may exit before reading (bad arguments): a broken pipe is expected then.
            match child.stdin.as_mut().expect("stdin").write_all(text.as_bytes()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(e) => panic!("write stdin: {e}"),
            }
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("corenas-ctl output")
    }

    /// corenas-ctl with --json; panics unless it succeeded; returns the parsed document.
    pub fn ctl_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ctl(&all);
        assert!(
            out.status.success(),
            "corenas-ctl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap_or_default()
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// The prefixed account files and the SMB accounts, to prove that nothing changed.
    pub fn snapshot(&self) -> Snapshot {
        let mut files = Vec::new();
        for rel in ["etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"] {
            files.push((rel.to_owned(), std::fs::read_to_string(self.root.join(rel)).unwrap_or_default()));
        }
        files.push(("passdb (pdbedit -L -v)".to_owned(), self.pdbedit()));
        Snapshot(files)
    }

    /// Environment that lets samba tools see the prefixed users (as the helper does).
    pub fn nss_env(&self) -> Vec<(String, String)> {
        vec![
            ("LD_PRELOAD".into(), "libnss_wrapper.so".into()),
            ("NSS_WRAPPER_PASSWD".into(), self.root.join("etc/passwd").display().to_string()),
            ("NSS_WRAPPER_GROUP".into(), self.root.join("etc/group").display().to_string()),
        ]
    }

    pub fn pdbedit(&self) -> String {
        let out = run(Command::new("pdbedit")
            .arg("-s")
            .arg(self.root.join("etc/samba/smb.conf"))
            .args(["-L", "-v"])
            .envs(self.nss_env()));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// SIGKILLs corenasd (no chance to clean up) and starts it again on the same state.
    /// kill -9 of corenasd, without a restart (`restart_daemon` starts it again).
    pub fn kill_daemon(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn kill_and_restart_daemon(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.daemon_sock);
        self.start_daemon();
    }

    /// Sends corenasd SIGTERM and waits (up to 30 s) for it to exit; returns its exit status.
    pub fn terminate_daemon(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.daemon.take()?;
        signal(c.id(), rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Starts corenasd again on the same state (after [`Lab::terminate_daemon`]).
    pub fn restart_daemon(&mut self) {
        let _ = std::fs::remove_file(&self.daemon_sock);
        self.start_daemon();
    }

    pub fn stop_helper(&mut self) {
        if let Some(mut c) = self.helper.take() {
            stop(&mut c);
        }
        if let Some(mut c) = self.storage_helper.take() {
            stop(&mut c);
        }
    }

    /// SIGKILL for the helper (mid-operation, on purpose), then a fresh one on the same socket.
    pub fn kill_and_restart_helper(&mut self) {
        if let Some(mut c) = self.helper.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.helper_sock);
        let (uid, gid) = daemon_account();
        let opts = self.opts.clone();
        self.start_helper(&opts, uid, gid);
    }

    /// Starts a real smbd on this lab's smb.conf (loopback, [`Lab::smb_port`]), seeing the
    /// prefix's accounts through nss_wrapper; returns when it accepts connections. The server
    /// stops when the returned guard is dropped, also when a test fails half-way.
    pub fn start_smbd(&self) -> Smbd {
        use std::os::unix::process::CommandExt;
        let conf = self.root.join("etc/samba/smb.conf");
        let mut cmd = Command::new("smbd");
        // Its own process group: smbd signals its group when it shuts down.
        cmd.args(["--foreground", "--no-process-group", "--debug-stdout", "-d", "1", "-s"])
            .process_group(0)
            .arg(&conf)
            .envs(self.nss_env())
            .stdout(self.log_file("smbd.log"))
            .stderr(self.log_file("smbd.log"))
            .stdin(Stdio::null());
        let child = cmd.spawn().expect("start smbd");
        let port = self.smb_port;
        let mut smbd = Smbd(child);
        wait_for(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(), "smbd listening");
        smbd.check_alive();
        smbd
    }

    /// Runs smbclient against this lab's smbd as `user` (None: anonymous) with `commands`.
    pub fn smbclient(&self, share: &str, user: Option<(&str, &str)>, commands: &str, cwd: &Path) -> Output {
        let mut cmd = Command::new("smbclient");
        cmd.arg(format!("//127.0.0.1/{share}"))
            .args(["-p", &self.smb_port.to_string(), "--option=client min protocol=SMB2", "-c", commands])
            .current_dir(cwd);
        match user {
            Some((u, pw)) => {
                cmd.args(["-U", u]).env("PASSWD", pw);
            }
            None => {
                cmd.arg("-N");
            }
        }
        cmd.output().expect("run smbclient")
    }
}

/// The helper's mount namespace for NFS: the prefix's /etc/exports.d and /var/lib/nfs bound
/// over the real ones (which are created empty on the host if missing), propagation from the
/// host kept (slave), so new host mounts stay visible to the helper.
fn with_nfs_paths(cmd: &mut Command, root: &Path) {
    use rustix::mount::MountPropagationFlags;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    for d in ["/etc/exports.d", "/var/lib/nfs"] {
        std::fs::create_dir_all(d).expect("host NFS directory");
    }
    let exports = std::ffi::CString::new(root.join("etc/exports.d").as_os_str().as_bytes()).expect("path");
    let nfs = std::ffi::CString::new(root.join("var/lib/nfs").as_os_str().as_bytes()).expect("path");
    // SAFETY: the closure runs between fork and exec and only makes system calls with
    // pre-built C strings (no allocation, no locks).
    unsafe {
        cmd.pre_exec(move || {
            rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)?;
            rustix::mount::mount_change(c"/", MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC)?;
            rustix::mount::mount_bind(exports.as_c_str(), c"/etc/exports.d")?;
            rustix::mount::mount_bind(nfs.as_c_str(), c"/var/lib/nfs")?;
            Ok(())
        });
    }
}

/// PAM as in production, on the lab's accounts: the child's /etc (in a private mount namespace)
/// is a copy of the host's where passwd, group, shadow and gshadow are symbolic links to the
/// prefix's files (so they follow the renames the account tools make) and pam.d/corenas is the
/// file the package ships. pam_unix then reads the lab's shadow file; the host is untouched.
fn with_pam_etc(cmd: &mut Command, lab_dir: &Path, root: &Path) {
    use rustix::mount::MountPropagationFlags;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    let etc = lab_dir.join("pam-etc");
    must(Command::new("cp").args(["-a", "/etc"]).arg(&etc));
    for f in ["passwd", "group", "shadow", "gshadow"] {
        let _ = std::fs::remove_file(etc.join(f));
        std::os::unix::fs::symlink(root.join("etc").join(f), etc.join(f)).expect("account file link");
    }
    std::fs::copy(workspace().join("packaging/pam/corenas"), etc.join("pam.d/corenas")).expect("pam.d/corenas");
    let source = std::ffi::CString::new(etc.as_os_str().as_bytes()).expect("path");
    // SAFETY: the closure runs between fork and exec and only makes system calls with
    // pre-built C strings (no allocation, no locks).
    unsafe {
        cmd.pre_exec(move || {
            rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)?;
            rustix::mount::mount_change(c"/", MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)?;
            rustix::mount::mount_bind(source.as_c_str(), c"/etc")?;
            Ok(())
        });
    }
}

/// Makes programs look uninstalled to the child only: in a private mount namespace, each path
/// is covered by /dev/null (a character device, not an executable file). The host is untouched.
pub fn hide_programs(cmd: &mut Command, paths: &[&str]) {
    use rustix::mount::MountPropagationFlags;
    use std::os::unix::process::CommandExt;
    // Built before fork: the closure below must not allocate.
    let targets: Vec<std::ffi::CString> = paths.iter().map(|p| std::ffi::CString::new(*p).expect("path")).collect();
    // SAFETY: the closure runs between fork and exec and only makes system calls with
    // pre-built C strings (no allocation, no locks).
    unsafe {
        cmd.pre_exec(move || {
            rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)?;
            rustix::mount::mount_change(c"/", MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)?;
            for t in &targets {
                rustix::mount::mount_bind(c"/dev/null", t.as_c_str())?;
            }
            Ok(())
        });
    }
}

/// Replaces programs for the child only: in a private mount namespace, each `(path, file)`
/// binds `file` (a fixture script, root-owned and not writable by others, as the helper's
/// program check wants) over `path`. The host is untouched.
pub fn replace_programs(cmd: &mut Command, programs: &[(&str, PathBuf)]) {
    use rustix::mount::MountPropagationFlags;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    // Built before fork: the closure below must not allocate.
    let pairs: Vec<(std::ffi::CString, std::ffi::CString)> = programs
        .iter()
        .map(|(p, f)| {
            (std::ffi::CString::new(*p).expect("path"), std::ffi::CString::new(f.as_os_str().as_bytes()).expect("path"))
        })
        .collect();
    // SAFETY: the closure runs between fork and exec and only makes system calls with
    // pre-built C strings (no allocation, no locks).
    unsafe {
        cmd.pre_exec(move || {
            rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)?;
            rustix::mount::mount_change(c"/", MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)?;
            for (target, source) in &pairs {
                rustix::mount::mount_bind(source.as_c_str(), target.as_c_str())?;
            }
            Ok(())
        });
    }
}

/// Makes `dir` appear as `/run/systemd/journal` for the child only: a private mount namespace
/// with a tmpfs on /run (the host's /run is untouched).
fn with_journal(cmd: &mut Command, dir: &Path) {
    use rustix::mount::{MountFlags, MountPropagationFlags};
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    // Built before fork: the closure below must not allocate.
    let source = std::ffi::CString::new(dir.as_os_str().as_bytes()).expect("path");
    let mode = rustix::fs::Mode::from_raw_mode(0o755);
    // SAFETY: the closure runs between fork and exec and only makes system calls with
    // pre-built C strings (no allocation, no locks).
    unsafe {
        cmd.pre_exec(move || {
            rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)?;
            rustix::mount::mount_change(c"/", MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)?;
            rustix::mount::mount(c"tmpfs", c"/run", c"tmpfs", MountFlags::empty(), None)?;
            rustix::fs::mkdir(c"/run/systemd", mode)?;
            rustix::fs::mkdir(c"/run/systemd/journal", mode)?;
            rustix::mount::mount_bind(source.as_c_str(), c"/run/systemd/journal")?;
            Ok(())
        });
    }
}

/// SIGTERM, then SIGKILL if it does not exit within 5 s.
pub fn stop(child: &mut Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap_or(0)) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A running smbd of a lab; stopped on drop.
pub struct Smbd(Child);

impl Smbd {
    fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.0.try_wait() {
            panic!("smbd exited at start with {status} (see its smbd.log in the lab directory)");
        }
    }
}

impl Drop for Smbd {
    fn drop(&mut self) {
        stop(&mut self.0);
    }
}

/// The resident set size of a process in KiB (0 if it is gone), from /proc.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Median, p10 and p90 of timings in milliseconds (nearest rank: index = percent of len - 1),
/// for the benchmarks' tables.
pub fn timing_stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |percent: usize| ms(v[(v.len() - 1) * percent / 100]);
    (at(50), at(10), at(90))
}

/// A client that adds share groups `<prefix>0`, `<prefix>1`, ... through corenas-ctl, one after
/// another, as fast as it can; it returns the names whose addition was acknowledged. For tests
/// that stop corenasd under it.
pub fn spawn_group_writer(lab: &Lab, prefix: &str, count: usize) -> std::thread::JoinHandle<Vec<String>> {
    let (ctl, sock, prefix) = (lab.bin.join("corenas-ctl"), lab.daemon_sock.clone(), prefix.to_owned());
    std::thread::spawn(move || {
        let mut acknowledged = Vec::new();
        for i in 0..count {
            let name = format!("{prefix}{i}");
            let out = Command::new(&ctl)
                .arg("--socket")
                .arg(&sock)
                .args(["group", "add", &name, "--kind", "share"])
                .output()
                .expect("ctl");
            if out.status.success() {
                acknowledged.push(name);
            }
        }
        acknowledged
    })
}

/// Whether an audit export (`log export`, JSON lines) records a successful `group.add` of `name`.
pub fn group_add_audited(export: &str, name: &str) -> bool {
    export
        .lines()
        .any(|l| l.contains("\"group.add\"") && l.contains(&format!("\\\"{name}\\\"")) && l.contains("\"ok\""))
}

/// Waits (up to 30 s) for a condition; a harness wait, not a timing assertion.
/// Asserts that a command a test ran succeeded, with its output in the message.
pub fn ok(o: &std::process::Output, what: &str) {
    assert!(o.status.success(), "{what} failed:\nstdout: {}\nstderr: {}", stdout(o), stderr(o));
}

pub fn wait_for(mut cond: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            stop(&mut c);
        }
        self.stop_helper();
        // Pools a failed test left mounted (deepest first), before the tree is removed.
        let mnt = self.root.join("mnt").display().to_string();
        let mut mounted: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
            .filter(|m| m.starts_with(&mnt))
            .collect();
        mounted.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounted {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
        let _ = Command::new("umount").arg("-l").arg(&self.storage).status();
        if self.images_mounted {
            let _ = Command::new("umount").arg("-l").arg(&self.images).status();
        }
        if self.state_mounted {
            let _ = Command::new("umount").arg("-l").arg(self.dir.join("state")).status();
        }
        if std::env::var_os("CORENAS_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Account state at one moment; `==` compares, and a mismatch names the files that differ.
#[derive(PartialEq, Eq)]
pub struct Snapshot(Vec<(String, String)>);

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|(n, _)| n.as_str()).collect();
        write!(f, "snapshot of {}", names.join(", "))
    }
}

impl Snapshot {
    /// Which parts differ from `other`, with both contents, for a readable failure.
    pub fn diff(&self, other: &Snapshot) -> String {
        self.0
            .iter()
            .zip(&other.0)
            .filter(|(a, b)| a != b)
            .map(|((name, a), (_, b))| format!("{name} changed:\n--- before\n{a}\n--- after\n{b}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Asserts that nothing changed, printing only what did.
#[track_caller]
pub fn assert_unchanged(before: &Snapshot, after: &Snapshot) {
    assert!(before == after, "nothing may change, but:\n{}", before.diff(after));
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

/// A client speaking to the helper directly, bypassing corenasd (as root).
pub async fn helper_client(sock: &Path) -> Result<corenas_proto::helper::HelperClient, corenas_proto::WireError> {
    let stream = corenas_proto::wire::connect(sock, corenas_proto::wire::Service::Helper).await?;
    Ok(corenas_proto::helper::HelperClient::new(
        tarpc::client::Config::default(),
        corenas_proto::wire::client_transport(stream),
    )
    .spawn())
}

pub fn ctx() -> tarpc::context::Context {
    let mut c = tarpc::context::current();
    c.deadline = Instant::now() + Duration::from_secs(60);
    c
}

/// A client of corenasd, as corenas-ctl would be (the test runs as root).
pub async fn daemon_client(sock: &Path) -> Result<corenas_proto::api::CorenasClient, corenas_proto::WireError> {
    let stream = corenas_proto::wire::connect(sock, corenas_proto::wire::Service::Daemon).await?;
    Ok(corenas_proto::api::CorenasClient::new(
        tarpc::client::Config::default(),
        corenas_proto::wire::client_transport(stream),
    )
    .spawn())
}

/// The pid of the helper that currently serves, as the helper itself reports it.
pub async fn live_helper_pid(lab: &Lab) -> u32 {
    let h = helper_client(&lab.helper_sock).await.expect("helper");
    h.status(ctx()).await.expect("status").pid
}

pub fn signal(pid: u32, sig: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).expect("pid")).expect("pid");
    rustix::process::kill_process(pid, sig).expect("kill");
}

pub fn process_alive(pid: u32) -> bool {
    // A zombie still has /proc/PID; its state is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| !s.contains(") Z ")).unwrap_or(false)
}

/// Fills the filesystem holding `dir` with one file, until the kernel says no space is left
/// (the fault tests: a full state filesystem).
pub fn fill_filesystem(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0x5au8; 64 << 10];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(28), "filling the state filesystem: {e}");
                break;
            }
        }
    }
    path
}
