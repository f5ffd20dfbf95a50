//! Backup targets for the backup tests, each a real server of its kind: a local directory, a
//! real OpenSSH sshd serving SFTP, rclone's restic REST server (`rclone serve restic`, append-only
//! or not) and moto's S3 server checking request signatures (`tests/fixtures/s3_server.py`).
//! Each lives in a directory of its own under /var/tmp, listens on 127.0.0.1 on a port the OS
//! chose, and is stopped (its directory removed) on drop; nothing of the host's configuration is
//! read or changed (sshd runs from its own config, with its own host key).
//!
//! [`Access`] is what one restic invocation needs: the repository, the secrets in the environment
//! (never argv) and `-o` options. [`restic`] runs stock restic with it.

use crate::{require_program, run, skip_or_fail, stderr, stdout};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// restic 0.14's stderr texts (it has no distinct exit codes for these: those came in 0.17).
/// decision 0020 ("Test targets") lists them with the backend-specific details.
pub const WRONG_PASSWORD: &str = "wrong password or no key found";
pub const NO_REPOSITORY: &str = "Is there a repository at the following location?";
pub const LOCKED: &str = "repository is already locked";

static SEQ: AtomicU32 = AtomicU32::new(0);

/// What one restic invocation needs to reach a repository.
#[derive(Debug, Clone)]
pub struct Access {
    /// The repository as restic takes it. A REST URL carries the login, so this goes to restic
    /// in `RESTIC_REPOSITORY`, never in argv.
    pub repository: String,
    /// Secrets and settings for restic's environment (`AWS_*`).
    pub env: Vec<(String, String)>,
    /// `-o key=value` options (`sftp.command`).
    pub options: Vec<String>,
    /// restic's cache, inside the target's directory (never the host's ~/.cache).
    pub cache: PathBuf,
}

impl Access {
    /// The same target with the given environment variable replaced (a wrong key, say).
    pub fn with_env(&self, key: &str, value: &str) -> Access {
        let mut a = self.clone();
        a.env.retain(|(k, _)| k != key);
        a.env.push((key.to_owned(), value.to_owned()));
        a
    }
}

/// `restic ARGS` against the target with this repository password: the repository and the
/// secrets in the environment, `-o` options before the arguments.
pub fn restic(access: &Access, password: &str) -> Command {
    let mut cmd = Command::new("restic");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into()))
        .env("HOME", &access.cache)
        .env("RESTIC_REPOSITORY", &access.repository)
        .env("RESTIC_PASSWORD", password)
        .env("RESTIC_CACHE_DIR", &access.cache)
        .envs(access.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    for o in &access.options {
        cmd.arg("-o").arg(o);
    }
    cmd
}

/// Runs restic and asserts it succeeded.
pub fn restic_ok(access: &Access, password: &str, args: &[&str]) -> Output {
    let out = run(restic(access, password).args(args));
    assert!(
        out.status.success(),
        "restic {args:?} on {} failed ({}):\nstdout: {}\nstderr: {}",
        access.shown(),
        out.status,
        stdout(&out),
        stderr(&out)
    );
    out
}

impl Access {
    /// The repository with any password in it masked, for messages.
    pub fn shown(&self) -> String {
        match self.repository.split_once("://").and_then(|(s, rest)| Some((s, rest.split_once('@')?))) {
            Some((scheme, (login, host))) => {
                format!("{scheme}://{}:***@{host}", login.split(':').next().unwrap_or(""))
            }
            None => self.repository.clone(),
        }
    }
}

/// The snapshots of a repository, as `restic snapshots --json` lists them.
pub fn snapshots(access: &Access, password: &str) -> Vec<serde_json::Value> {
    let out = restic_ok(access, password, &["snapshots", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("restic snapshots --json ({e}): {}", stdout(&out)))
}

/// Restores a snapshot into `into`. restic 0.14 keeps a backed-up absolute path whole: a backup
/// of /x/src restores as `into/x/src` (see [`restored`]).
pub fn restore(access: &Access, password: &str, snapshot: &str, into: &Path) {
    let target = into.display().to_string();
    restic_ok(access, password, &["restore", snapshot, "--target", &target]);
}

/// Where [`restore`] into `into` puts the backed-up absolute path `source`.
pub fn restored(into: &Path, source: &Path) -> PathBuf {
    into.join(source.strip_prefix("/").unwrap_or(source))
}

/// One entry of a tree, as [`tree`] reads it.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File(Vec<u8>),
    Symlink(PathBuf),
}

/// Every entry under `root` by its relative path: directories, file bytes, symlink targets.
pub fn tree(root: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        for e in entries {
            let e = e.expect("directory entry");
            let path = e.path();
            let rel = path.strip_prefix(root).expect("under root").to_path_buf();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            if meta.file_type().is_symlink() {
                out.insert(rel, Entry::Symlink(std::fs::read_link(&path).expect("readlink")));
            } else if meta.is_dir() {
                out.insert(rel, Entry::Dir);
                walk(root, &path, out);
            } else {
                out.insert(rel, Entry::File(std::fs::read(&path).expect("read file")));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// A small tree to back up: text, random bytes, an empty file, a nested directory, a name with
/// spaces and non-ASCII letters, and a symlink.
pub fn make_sample_tree(root: &Path) {
    std::fs::create_dir_all(root.join("dir/sub")).expect("sample dirs");
    std::fs::write(root.join("a.txt"), "restic round trip\n").expect("a.txt");
    std::fs::write(root.join("dir/random.bin"), random_bytes(300 << 10)).expect("random.bin");
    std::fs::write(root.join("dir/sub/empty"), "").expect("empty");
    std::fs::write(root.join("dir/Grüße und ñ.txt"), "non-ASCII name\n").expect("unicode name");
    std::os::unix::fs::symlink("../a.txt", root.join("dir/link")).expect("symlink");
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).expect("/dev/urandom");
    buf
}

/// A random secret (hex), different for every fixture.
pub fn random_secret() -> String {
    random_bytes(16).iter().map(|b| format!("{b:02x}")).collect()
}

/// A loopback port nothing listens on at the moment (for "unreachable" cases), or a free port to
/// hand to a server that cannot bind port 0 itself.
pub fn unused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("addr").port()
}

/// A directory of a target's own under /var/tmp, removed on drop (kept with
/// `CORENAS_KEEP_TEST_DIRS`).
pub struct TargetDir(pub PathBuf);

impl TargetDir {
    fn new(kind: &str) -> TargetDir {
        let dir = PathBuf::from(format!(
            "/var/tmp/corenas-backup-{kind}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("cache")).expect("target dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod target dir");
        TargetDir(dir)
    }
}

impl Drop for TargetDir {
    fn drop(&mut self) {
        if std::env::var_os("CORENAS_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A server process of a target: stopped on drop (SIGTERM, then SIGKILL).
struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    fn spawn(cmd: &mut Command, log: PathBuf) -> Server {
        let file = std::fs::File::create(&log).expect("server log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        Server { child, log }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for a line of the server's log that contains `marker` and returns it; `None` if
    /// the server exited first. A harness wait (60 s: python's imports are slow under CI load).
    fn wait_for_line(&mut self, marker: &str) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(line) = self.log_text().lines().find(|l| l.contains(marker)) {
                return Some(line.to_owned());
            }
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for '{marker}' from {}:\n{}", self.log.display(), self.log_text());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        crate::stop(&mut self.child);
    }
}

/// The number after `marker` in `line` (a port in a server's "listening" line).
fn port_after(line: &str, marker: &str) -> u16 {
    let (_, rest) = line.split_once(marker).unwrap_or_else(|| panic!("no '{marker}' in {line:?}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("no port after '{marker}' in {line:?}"))
}

// --- local ----------------------------------------------------------------------------------

/// A directory that holds repositories.
pub struct LocalRepo {
    dir: TargetDir,
}

impl LocalRepo {
    pub fn new() -> Option<LocalRepo> {
        require_restic().then(|| LocalRepo { dir: TargetDir::new("local") })
    }

    /// The repository directory `name` (not created: restic init makes it).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.0.join("repos").join(name)
    }

    pub fn access(&self, name: &str) -> Access {
        Access {
            repository: self.path(name).display().to_string(),
            env: Vec::new(),
            options: Vec::new(),
            cache: self.dir.0.join("cache"),
        }
    }

    /// The fixture's own directory (for scratch trees next to the repositories).
    pub fn dir(&self) -> &Path {
        &self.dir.0
    }
}

fn require_restic() -> bool {
    require_program("backup targets", "/usr/bin/restic", "restic")
}

// --- SFTP -----------------------------------------------------------------------------------

/// A real OpenSSH sshd on 127.0.0.1 with its own config, host key and authorized keys; root logs
/// in with a key only (the test runs as root; no host account is made). SFTP is sshd's
/// internal-sftp.
pub struct SftpServer {
    pub port: u16,
    pub user: String,
    /// The client key the fixture made (authorized): `ssh -i`.
    pub client_key: PathBuf,
    /// A known_hosts file holding this server's host key only.
    pub known_hosts: PathBuf,
    /// The host key as known_hosts has it after the host: `ssh-ed25519 AAAA…`.
    pub host_key: String,
    authorized_keys: PathBuf,
    server: Server,
    dir: TargetDir,
}

impl SftpServer {
    pub fn start(test: &str) -> Option<SftpServer> {
        if !crate::require_root(test)
            || !require_restic()
            || !require_program(test, "/usr/sbin/sshd", "openssh-server")
            || !require_program(test, "/usr/bin/ssh", "openssh-client")
        {
            return None;
        }
        let dir = TargetDir::new("sftp");
        let d = &dir.0;
        for (key, comment) in [("host_key", "corenas-test-host"), ("client_key", "corenas-test-client")] {
            let out = run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(d.join(key)));
            assert!(out.status.success(), "ssh-keygen: {}", stderr(&out));
        }
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).expect("host key");
        let host_key = host_pub.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        let authorized_keys = d.join("authorized_keys");
        std::fs::copy(d.join("client_key.pub"), &authorized_keys).expect("authorized_keys");
        std::fs::create_dir_all(d.join("repos")).expect("repos");
        // sshd's privilege-separation directory is compiled in; the package's tmpfiles make it
        // at boot, which a machine that never started sshd has not done.
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        // A port from the OS, handed to sshd (it cannot report one it chose): another test may
        // take it in between, so a bind failure is retried on a new one.
        for _attempt in 0..5 {
            let port = unused_port();
            let config = d.join("sshd_config");
            std::fs::write(&config, sshd_config(d, port)).expect("sshd_config");
            let mut server =
                Server::spawn(Command::new("/usr/sbin/sshd").args(["-D", "-e", "-f"]).arg(&config), d.join("sshd.log"));
            if server.wait_for_line("Server listening on").is_some() {
                let known_hosts = d.join("known_hosts");
                std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_key}\n")).expect("known_hosts");
                return Some(SftpServer {
                    port,
                    user: "root".into(),
                    client_key: d.join("client_key"),
                    known_hosts,
                    host_key,
                    authorized_keys,
                    server,
                    dir,
                });
            }
            let log = server.log_text();
            assert!(log.contains("Address already in use"), "sshd did not start:\n{log}");
        }
        panic!("sshd found no free port in 5 attempts");
    }

    /// A directory on the server (an absolute path) for repository `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.0.join("repos").join(name)
    }

    /// `sftp.command` for restic: this server's key and host key only, never the host's ssh
    /// configuration, and no prompt.
    pub fn ssh_command(&self, known_hosts: &Path) -> String {
        format!(
            "ssh -F /dev/null -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes -p {} {}@127.0.0.1 -s sftp",
            self.client_key.display(),
            known_hosts.display(),
            self.port,
            self.user
        )
    }

    pub fn access(&self, name: &str) -> Access {
        self.access_with_known_hosts(name, &self.known_hosts)
    }

    pub fn access_with_known_hosts(&self, name: &str, known_hosts: &Path) -> Access {
        Access {
            repository: format!("sftp:{}@127.0.0.1:{}", self.user, self.path(name).display()),
            env: Vec::new(),
            options: vec![format!("sftp.command={}", self.ssh_command(known_hosts))],
            cache: self.dir.0.join("cache"),
        }
    }

    /// Lets another key in (`ssh-ed25519 AAAA… comment`): what an admin does with the public
    /// key CoreNAS shows for a target. sshd reads the file at every login.
    pub fn authorize(&self, public_key: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&self.authorized_keys).expect("authorized_keys");
        writeln!(f, "{}", public_key.trim()).expect("append key");
    }

    pub fn log(&self) -> String {
        self.server.log_text()
    }

    pub fn dir(&self) -> &Path {
        &self.dir.0
    }
}

fn sshd_config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    // StrictModes off: the files live under /var/tmp (world-writable), which strict modes
    // refuse for the authorized keys; no PAM: no session of the host's is opened.
    format!(
        "ListenAddress 127.0.0.1:{port}\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\nPidFile none\n\
         StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         PermitRootLogin prohibit-password\nAllowUsers root\nAllowTcpForwarding no\nX11Forwarding no\n\
         PrintMotd no\nSubsystem sftp internal-sftp\n"
    )
}

// --- REST -----------------------------------------------------------------------------------

/// rclone's restic REST server (`rclone serve restic`) with one htpasswd user, append-only or
/// not. Repositories are paths under its root: `rest:http://user:pass@127.0.0.1:PORT/NAME/`.
pub struct RestServer {
    pub port: u16,
    pub user: String,
    pub password: String,
    pub append_only: bool,
    server: Server,
    dir: TargetDir,
}

impl RestServer {
    pub fn start(test: &str, append_only: bool) -> Option<RestServer> {
        if !require_restic() || !require_program(test, "/usr/bin/rclone", "rclone") {
            return None;
        }
        let dir = TargetDir::new("rest");
        let d = &dir.0;
        let (user, password) = ("backup".to_owned(), random_secret());
        // htpasswd's apr1 entry, made by openssl with the password on stdin (no htpasswd tool).
        let mut openssl = Command::new("openssl")
            .args(["passwd", "-apr1", "-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl passwd");
        {
            use std::io::Write;
            let mut stdin = openssl.stdin.take().expect("stdin");
            writeln!(stdin, "{password}").expect("password to openssl");
        }
        let out = openssl.wait_with_output().expect("openssl passwd");
        assert!(out.status.success(), "openssl passwd: {}", stderr(&out));
        std::fs::write(d.join("htpasswd"), format!("{user}:{}\n", stdout(&out).trim())).expect("htpasswd");
        std::fs::create_dir_all(d.join("data")).expect("data");
        let mut cmd = Command::new("rclone");
        cmd.env("RCLONE_CONFIG", d.join("rclone.conf"))
            .args(["serve", "restic", "--addr", "127.0.0.1:0", "--htpasswd"])
            .arg(d.join("htpasswd"));
        if append_only {
            cmd.arg("--append-only");
        }
        cmd.arg(d.join("data"));
        let mut server = Server::spawn(&mut cmd, d.join("rclone.log"));
        let marker = "Serving restic REST API on http://127.0.0.1:";
        let line = server
            .wait_for_line(marker)
            .unwrap_or_else(|| panic!("rclone serve restic did not start:\n{}", server.log_text()));
        let port = port_after(&line, marker);
        Some(RestServer { port, user, password, append_only, server, dir })
    }

    /// The server's URL without a login (what CoreNAS's target takes, with the user apart).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn access(&self, name: &str) -> Access {
        self.access_as(name, &self.user, &self.password)
    }

    /// The repository `name` with another login (a wrong password, say).
    pub fn access_as(&self, name: &str, user: &str, password: &str) -> Access {
        Access {
            repository: format!("rest:http://{user}:{password}@127.0.0.1:{}/{name}/", self.port),
            env: Vec::new(),
            options: Vec::new(),
            cache: self.dir.0.join("cache"),
        }
    }

    /// Where the server keeps repository `name` on disk.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.0.join("data").join(name)
    }

    pub fn log(&self) -> String {
        self.server.log_text()
    }

    pub fn dir(&self) -> &Path {
        &self.dir.0
    }
}

// --- S3 -------------------------------------------------------------------------------------

/// moto's S3 server (tests/fixtures/s3_server.py) with one bucket and one access key; requests
/// signed with another key or secret are refused, as by AWS. Repositories are prefixes:
/// `s3:http://127.0.0.1:PORT/BUCKET/NAME`.
pub struct S3Server {
    pub port: u16,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    server: Server,
    dir: TargetDir,
}

impl S3Server {
    pub fn start(test: &str) -> Option<S3Server> {
        if !require_restic() {
            return None;
        }
        let probe = run(Command::new("python3").args(["-c", "import moto.server, moto.s3, boto3"]));
        if !probe.status.success() {
            skip_or_fail(
                test,
                &format!("moto is missing (./test installs it via lab/deps): {}", stderr(&probe).trim()),
            );
            return None;
        }
        let dir = TargetDir::new("s3");
        let d = &dir.0;
        let bucket = "corenas-backups".to_owned();
        let script = crate::workspace().join("tests/fixtures/s3_server.py");
        let mut server = Server::spawn(Command::new("python3").arg(script).arg(d).arg(&bucket), d.join("s3.log"));
        let line = server
            .wait_for_line("PORT ")
            .unwrap_or_else(|| panic!("the S3 server did not start:\n{}", server.log_text()));
        let port = port_after(&line, "PORT ");
        let creds: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("credentials")).expect("S3 credentials"))
                .expect("S3 credentials JSON");
        let field = |k: &str| creds[k].as_str().unwrap_or_else(|| panic!("no {k} in the S3 credentials")).to_owned();
        Some(S3Server { port, bucket, access_key: field("access_key"), secret_key: field("secret_key"), server, dir })
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn access(&self, name: &str) -> Access {
        Access {
            repository: format!("s3:{}/{}/{name}", self.endpoint(), self.bucket),
            env: vec![
                ("AWS_ACCESS_KEY_ID".into(), self.access_key.clone()),
                ("AWS_SECRET_ACCESS_KEY".into(), self.secret_key.clone()),
            ],
            options: Vec::new(),
            cache: self.dir.0.join("cache"),
        }
    }

    pub fn log(&self) -> String {
        self.server.log_text()
    }

    pub fn dir(&self) -> &Path {
        &self.dir.0
    }
}
