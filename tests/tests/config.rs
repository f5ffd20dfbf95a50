//! /etc/corenas/corenas.conf, as root, with the built binaries: corenasd and the helper refuse to
//! start on a bad file (a wrong type, an unknown key, a value out of range), exit non-zero and
//! name the file, the line and the key; the helper refuses a file others could write and a
//! share root that is a symbolic link; a good file takes effect (the monitor's intervals as
//! `monitor status` reports them, the helper's socket group from `daemon.user`), and flags still
//! override it.

use corenas_tests::media::ScratchDir;
use corenas_tests::{Lab, LabOptions, block_on, ctx, daemon_client, require_root, stderr, target_dir, wait_for};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A root-owned 0644 file, as the package installs it.
fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write the configuration");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    p
}

/// Runs `cmd` (which must exit by itself) with a deadline: a daemon that started after all is
/// killed and reported.
fn run_to_exit(mut cmd: Command, what: &str) -> Output {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    panic!("{what} did not exit: it started despite the bad configuration\n{}", String::from_utf8_lossy(&out.stderr));
}

/// corenasd as production runs it (user corenas), on a scratch state directory and socket.
fn corenasd(dir: &Path, config: &Path) -> Command {
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let (uid, gid) = corenas_tests::daemon_account();
    std::os::unix::fs::chown(&state, Some(uid), Some(gid)).expect("chown state");
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=corenas", "--regid=corenas", "--init-groups", "--no-new-privs", "--"])
        .arg(target_dir().join("corenasd"))
        .arg("--config")
        .arg(config)
        .arg("--state-dir")
        .arg(&state)
        .arg("--listen")
        .arg(dir.join("corenasd.sock"))
        .args(["--helper-socket", "/nonexistent/helper.sock"]);
    cmd
}

/// The helper, as root, on an empty root prefix: the configuration is read before anything
/// else, so a bad one stops it there.
fn helper(dir: &Path, config: &Path) -> Command {
    let root = dir.join("root");
    std::fs::create_dir_all(&root).expect("root prefix");
    let mut cmd = Command::new(target_dir().join("corenas-helper"));
    cmd.arg("--config")
        .arg(config)
        .arg("--root")
        .arg(&root)
        .arg("--listen")
        .arg(dir.join("helper.sock"))
        .args(["--idle-timeout", "1"]);
    cmd
}

/// The bad files: each must stop a daemon with an error naming the file, the line and the key,
/// and saying what is accepted.
const BAD: &[(&str, &str, &str)] = &[
    // A wrong type.
    ("[imaging]\nconcurrency = \"two\"\n", "line 2: imaging.concurrency: invalid type", "accepted: an integer"),
    // An unknown key (a typo of images_dir).
    ("[imaging]\nimage_dir = \"/srv/x\"\n", "line 2: imaging.image_dir: unknown key", "`images_dir`"),
    // Out of range.
    ("# tuned\n[monitor]\ndisks = 5\n", "line 3: monitor.disks: 5 is not accepted", "use 10-86400"),
    // A path with "..".
    ("[storage]\nshare_roots = [\"/storage/../etc\"]\n", "line 2: storage.share_roots:", "no '..'"),
];

fn assert_refused(out: &Output, config: &Path, key_text: &str, accepted: &str, what: &str) {
    let err = stderr(out);
    assert!(!out.status.success(), "{what} must not start: {err}");
    assert!(
        err.contains(&format!("{}, {key_text}", config.display())),
        "{what}: the error names the file, the line and the key ({key_text}): {err}"
    );
    assert!(err.contains(accepted), "{what}: the error says what is accepted ({accepted}): {err}");
}

#[test]
fn corenasd_refuses_a_bad_configuration_naming_the_key() {
    if !require_root("corenasd_refuses_a_bad_configuration_naming_the_key") {
        return;
    }
    let dir = ScratchDir::new("config-daemon");
    std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for (i, (text, key_text, accepted)) in BAD.iter().enumerate() {
        let config = write_config(&dir.path, &format!("bad-{i}.conf"), text);
        let out = run_to_exit(corenasd(&dir.path, &config), "corenasd");
        assert_refused(&out, &config, key_text, accepted, "corenasd");
        assert!(!dir.path.join("corenasd.sock").exists(), "nothing was bound before the check");
    }
    // A file named on the command line must exist; only the default path may be absent.
    let missing = dir.path.join("missing.conf");
    let out = run_to_exit(corenasd(&dir.path, &missing), "corenasd");
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&format!("{}: cannot be read", missing.display())), "{}", stderr(&out));
}

#[test]
fn the_helper_refuses_a_bad_or_untrusted_configuration() {
    if !require_root("the_helper_refuses_a_bad_or_untrusted_configuration") {
        return;
    }
    let dir = ScratchDir::new("config-helper");
    std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for (i, (text, key_text, accepted)) in BAD.iter().enumerate() {
        let config = write_config(&dir.path, &format!("bad-{i}.conf"), text);
        let out = run_to_exit(helper(&dir.path, &config), "corenas-helper");
        assert_refused(&out, &config, key_text, accepted, "corenas-helper");
    }
    // A valid file that corenasd's user (or any group member) could have written.
    let config = write_config(&dir.path, "writable.conf", "[log]\nlevel = \"info\"\n");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o664)).expect("chmod");
    let out = run_to_exit(helper(&dir.path, &config), "corenas-helper");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("{}: not trusted: mode 0664", config.display())),
        "names the file and why: {}",
        stderr(&out)
    );
    let (uid, _) = corenas_tests::daemon_account();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::os::unix::fs::chown(&config, Some(uid), None).expect("chown");
    let out = run_to_exit(helper(&dir.path, &config), "corenas-helper");
    assert!(stderr(&out).contains(&format!("owned by uid {uid}")), "{}", stderr(&out));
    // The account corenasd runs as must exist (the helper looks it up instead of being told).
    let config = write_config(&dir.path, "nouser.conf", "[daemon]\nuser = \"corenas-nobody\"\n");
    let out = run_to_exit(helper(&dir.path, &config), "corenas-helper");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("daemon.user: no account 'corenas-nobody'"), "{}", stderr(&out));
    // A share root that is a symbolic link would carry the helper's write rights elsewhere.
    let config = write_config(&dir.path, "link.conf", "[storage]\nshare_roots = [\"/shares\"]\n");
    std::fs::create_dir_all(dir.path.join("root/etc")).expect("etc");
    std::os::unix::fs::symlink("etc", dir.path.join("root/shares")).expect("symlink");
    let out = run_to_exit(helper(&dir.path, &config), "corenas-helper");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("storage.share_roots: '/shares' is not accepted")
            && stderr(&out).contains("symbolic link"),
        "{}",
        stderr(&out)
    );
}

/// A good file takes effect: corenasd's collectors run on the file's intervals (as `monitor
/// status` reports them), the mount watch on its interval; the helper, told no uid, gives its
/// socket the group of the file's `daemon.user`.
#[test]
fn a_good_configuration_takes_effect_and_flags_override_it() {
    if !require_root("a_good_configuration_takes_effect_and_flags_override_it") {
        return;
    }
    let mut lab = Lab::start("config", LabOptions::default());
    let config =
        write_config(&lab.dir, "corenas.conf", "[log]\nlevel = \"warn\"\n\n[monitor]\ndisks = 900\npools = 120\n");
    lab.kill_daemon();
    let _ = std::fs::remove_file(&lab.daemon_sock);
    let mut cmd = lab.daemon_command();
    cmd.arg("--config").arg(&config);
    let mut daemon = cmd.spawn().expect("start corenasd");
    wait_for(|| lab.daemon_sock.exists(), "corenasd socket");
    let intervals = || {
        block_on(async {
            let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
            let s = d.monitor_status(ctx()).await.expect("rpc").expect("monitor status").snapshot;
            s.collectors.iter().map(|c| (c.name.clone(), c.interval_seconds)).collect::<Vec<_>>()
        })
    };
    wait_for(|| intervals().len() == 9, "the first collector round (nine collectors, backups included)");
    let got = intervals();
    let of = |n: &str| got.iter().find(|(name, _)| name == n).map(|(_, s)| *s);
    assert_eq!(of("disks"), Some(900), "the file's monitor.disks: {got:?}");
    assert_eq!(of("pools"), Some(120), "the file's monitor.pools: {got:?}");
    assert_eq!(of("audit"), Some(3600), "a key the file leaves out keeps its default: {got:?}");
    let _ = daemon.kill();
    let _ = daemon.wait();
    // A flag overrides the file: --monitor-secs puts every collector on its interval.
    let _ = std::fs::remove_file(&lab.daemon_sock);
    let mut cmd = lab.daemon_command();
    cmd.arg("--config").arg(&config).args(["--monitor-secs", "7"]);
    let mut daemon = cmd.spawn().expect("start corenasd");
    wait_for(|| lab.daemon_sock.exists(), "corenasd socket");
    wait_for(|| intervals().len() == 9, "a collector round");
    let got = intervals();
    assert!(got.iter().all(|(_, s)| *s == 7), "the flag wins over the file: {got:?}");
    let _ = daemon.kill();
    let _ = daemon.wait();

    // The helper without --daemon-uid: corenasd's ids come from daemon.user (here the default,
    // corenas), as in production; its socket gets that account's group.
    let (_, gid) = corenas_tests::daemon_account();
    let sock = lab.dir.join("run/config-helper.sock");
    let mut args = lab.helper_args(0, 0, 2);
    let at = args.iter().position(|a| a == "--daemon-uid").expect("--daemon-uid in the lab's args");
    args.drain(at..at + 4);
    let mut helper = Command::new(lab.bin.join("corenas-helper"))
        .args(&args)
        .arg("--config")
        .arg(&config)
        .arg("--listen")
        .arg(&sock)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the helper");
    wait_for(|| sock.exists() || helper.try_wait().ok().flatten().is_some(), "the helper's socket");
    let meta = std::fs::metadata(&sock);
    let _ = helper.kill();
    let out = helper.wait_with_output().expect("helper output");
    let meta = meta.unwrap_or_else(|e| panic!("no socket ({e}): {}", stderr(&out)));
    assert_eq!(meta.gid(), gid, "the socket's group is daemon.user's (corenas)");
}

/// `corenas-ctl config check` reads a file as the daemons do: the same errors (with the key as
/// the JSON error's field), and for a good file the settings in force, defaults included.
#[test]
fn config_check_names_the_key_or_prints_the_settings() {
    if !require_root("config_check_names_the_key_or_prints_the_settings") {
        return;
    }
    let dir = ScratchDir::new("config-ctl");
    std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let ctl = |args: &[&str]| Command::new(target_dir().join("corenas-ctl")).args(args).output().expect("corenas-ctl");
    for (i, (text, key_text, accepted)) in BAD.iter().enumerate() {
        let config = write_config(&dir.path, &format!("bad-{i}.conf"), text);
        let path = config.display().to_string();
        let out = ctl(&["config", "check", &path]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_refused(&out, &config, key_text, accepted, "config check");
        let out = ctl(&["--json", "config", "check", &path]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON error");
        let key = key_text.split(": ").nth(1).unwrap_or_default().trim_end_matches(':');
        assert_eq!(v["error"]["field"], key, "the key is the error's field: {v}");
    }
    let config = write_config(&dir.path, "good.conf", "[monitor]\ndisks = 900\n");
    let out = ctl(&["--json", "config", "check", &config.display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["config"]["monitor"]["disks"], 900);
    assert_eq!(v["config"]["monitor"]["pools"], 300, "a key left out shows its default");
    assert_eq!(v["config"]["storage"]["share_roots"][0], "/storage");
}
