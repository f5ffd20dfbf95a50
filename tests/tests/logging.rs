//! Log levels and the watchdog without PID 1 systemd (the VM tier's `journal-levels` check has
//! the real journal): the daemons' stderr shows what the filter lets through, a bad CORENAS_LOG
//! is reported by name, corenas-web writes no colour codes off a terminal, and corenasd pings a
//! NOTIFY_SOCKET only when WATCHDOG_USEC asks it to.

use corenas_tests::*;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Stops corenasd (the lab's, or `previous` started here) and starts it again with `env`; the
/// caller stops the returned child.
fn restart_with(lab: &mut Lab, previous: Option<Child>, env: &[(&str, &str)]) -> Child {
    match previous {
        Some(mut child) => stop(&mut child),
        None => assert!(lab.terminate_daemon().is_some(), "corenasd stops on SIGTERM"),
    }
    let _ = std::fs::remove_file(&lab.daemon_sock);
    let child = lab.daemon_command().envs(env.iter().copied()).spawn().expect("start corenasd");
    wait_for(|| lab.daemon_sock.exists(), "corenasd socket");
    child
}

fn requests(lab: &Lab, n: usize) {
    for _ in 0..n {
        ok(&lab.ctl(&["system", "status"]), "system status");
    }
}

fn debug_lines(log: &str) -> usize {
    log.lines().filter(|l| l.contains(" DEBUG ") || l.contains(" TRACE ")).count()
}

#[test]
fn corenasd_logs_at_info_unless_corenas_log_says_otherwise() {
    if !require_root("corenasd_logs_at_info_unless_corenas_log_says_otherwise") {
        return;
    }
    let mut lab = Lab::start("loglevel", LabOptions::default());
    requests(&lab, 5);
    let default_run = lab.log("corenasd.log");
    assert!(default_run.contains("log level filter=info"), "{default_run}");
    assert_eq!(debug_lines(&default_run), 0, "no DEBUG/TRACE line at the default level:\n{default_run}");
    assert!(!default_run.contains('\u{1b}'), "no colour codes in a log file");

    // tarpc logs several DEBUG records per request: named, it may speak.
    let child = restart_with(&mut lab, None, &[("CORENAS_LOG", "info,tarpc=debug")]);
    requests(&lab, 5);
    let log = lab.log("corenasd.log");
    let raised = &log[default_run.len()..];
    let received = raised.lines().filter(|l| l.contains(" DEBUG ") && l.contains("ReceiveRequest")).count();
    assert!(received >= 5, "CORENAS_LOG=info,tarpc=debug shows tarpc's per-request records:\n{raised}");
    assert!(raised.contains("source=\"CORENAS_LOG\""), "the start-up line names the source:\n{raised}");

    // A misspelt level is reported by name with the accepted form; the default applies.
    let before = lab.log("corenasd.log").len();
    let mut child = restart_with(&mut lab, Some(child), &[("CORENAS_LOG", "debgu")]);
    requests(&lab, 3);
    let log = lab.log("corenasd.log");
    let bad = &log[before..];
    assert!(
        bad.contains("CORENAS_LOG is ignored: 'debgu' is not a log directive") && bad.contains("TARGET=LEVEL"),
        "{bad}"
    );
    assert!(bad.lines().any(|l| l.contains(" WARN ") && l.contains("CORENAS_LOG")), "reported as a warning:\n{bad}");
    assert_eq!(debug_lines(bad), 0, "{bad}");
    stop(&mut child);
}

#[test]
fn corenas_web_logs_plain_text_off_a_terminal_and_reports_a_bad_corenas_log() {
    if !require_root("corenas_web_logs_plain_text_off_a_terminal_and_reports_a_bad_corenas_log") {
        return;
    }
    daemon_account();
    let dir = std::path::PathBuf::from(format!("/var/tmp/corenas-weblog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let bin = dir.join("corenas-web");
    std::fs::copy(target_dir().join("corenas-web"), &bin).expect("copy corenas-web (build the workspace first)");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let log_path = dir.join("web.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let mut web = Command::new("setpriv")
        .args(["--reuid=corenas-web", "--regid=corenas-web", "--init-groups", "--no-new-privs", "--"])
        .arg(&bin)
        .args(["--daemon-socket", "/nonexistent/corenasd.sock", "--listen-tcp", &format!("127.0.0.1:{port}")])
        .env("CORENAS_LOG", "info,corenas_web=loud")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start corenas-web");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&log_path).unwrap_or_default().contains("listening on loopback") {
        assert!(
            Instant::now() < deadline,
            "corenas-web did not start: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        assert!(
            web.try_wait().expect("wait").is_none(),
            "corenas-web exited: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop(&mut web);
    let text = std::fs::read_to_string(&log_path).expect("log");
    assert!(!text.contains('\u{1b}'), "no ANSI colour codes off a terminal:\n{text:?}");
    assert!(
        text.contains("CORENAS_LOG is ignored: 'corenas_web=loud' is not a log directive"),
        "the bad directive is named:\n{text}"
    );
    assert!(text.contains("logging at info"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Datagrams received on `sock` within `window`.
fn notifications(sock: &UnixDatagram, window: Duration) -> Vec<String> {
    let deadline = Instant::now() + window;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
        sock.set_read_timeout(Some(left)).expect("timeout");
        match sock.recv(&mut buf) {
            Ok(n) => got.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => break,
        }
    }
    got
}

#[test]
fn corenasd_pings_the_watchdog_only_when_systemd_asks() {
    if !require_root("corenasd_pings_the_watchdog_only_when_systemd_asks") {
        return;
    }
    let mut lab = Lab::start("watchdog", LabOptions::default());
    let path = lab.dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind the notify socket");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let notify = path.display().to_string();

    // WATCHDOG_USEC=1 s: pings every half second, from the start.
    let child = restart_with(&mut lab, None, &[("NOTIFY_SOCKET", &notify), ("WATCHDOG_USEC", "1000000")]);
    let got = notifications(&sock, Duration::from_secs(3));
    assert!(got.iter().any(|m| m.contains("READY=1")), "{got:?}");
    let pings = got.iter().filter(|m| m.lines().any(|l| l == "WATCHDOG=1")).count();
    assert!((3..=8).contains(&pings), "about 6 pings in 3 s at half of 1 s, got {pings}: {got:?}");
    requests(&lab, 2);

    // Without WATCHDOG_USEC: ready, and no ping.
    let mut child = restart_with(&mut lab, Some(child), &[("NOTIFY_SOCKET", &notify)]);
    // The first one's last pings and STOPPING=1 come before the second one's READY=1.
    let got = notifications(&sock, Duration::from_secs(2));
    let ready = got.iter().rposition(|m| m.contains("READY=1")).unwrap_or_else(|| panic!("no READY=1: {got:?}"));
    assert!(!got[ready..].iter().any(|m| m.contains("WATCHDOG=1")), "no watchdog asked for, none pinged: {got:?}");
    stop(&mut child);
}
