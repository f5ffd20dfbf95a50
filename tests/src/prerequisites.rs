//! What a system test needs from the machine (root, installed programs) and what happens when
//! it is missing. `./test` installs what the tests need, so a missing prerequisite is a failure:
//! the test panics naming what is missing and how to get it. It is a skip only when
//! `CORENAS_ALLOW_SKIP=1` says skipping is intended, and then the skip is reported, never silent:
//! `SKIPPED <test>: <reason>` on stderr, and one line `<test>: <reason>` appended to the file
//! named by `CORENAS_SKIP_REPORT` when that is set.
//!
//! corenasd's own root-only unit tests follow the same contract in
//! `corenasd/src/test_prerequisites.rs` (they cannot depend on this crate).

use crate::{run, stderr, stdout, workspace};
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// Set to `1`, a test whose prerequisites are missing is skipped (and reported) instead of failed.
pub const ALLOW_SKIP: &str = "CORENAS_ALLOW_SKIP";
/// The file every allowed skip appends its line to.
pub const SKIP_REPORT: &str = "CORENAS_SKIP_REPORT";

/// Where a missing package comes from.
const HOW_TO_INSTALL: &str = "./test installs it via lab/deps";

/// True when running as root. Otherwise the test fails, or with `CORENAS_ALLOW_SKIP=1` the skip
/// is reported and this returns false: the caller returns.
pub fn require_root(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    skip_or_fail(test, "system tests need root (useradd --prefix, mounts, setpriv, loop devices): run ./test as root");
    false
}

/// True when the program at `path` is installed. Otherwise the test fails naming the Debian
/// `package` to install, or with `CORENAS_ALLOW_SKIP=1` the skip is reported and this returns
/// false.
pub fn require_program(test: &str, path: &str, package: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    skip_or_fail(test, &format!("{path} is missing: install {package} ({HOW_TO_INSTALL})"));
    false
}

/// True when zfs-fuse is installed and its daemon answers: `lab/zfs-fuse-up` starts it if it does
/// not (it stays for later tests), clearing the pid file a killed daemon leaves behind. A daemon
/// that will not start is a failure, never a skip.
pub fn require_zfs_fuse(test: &str) -> bool {
    if !require_program(test, "/usr/sbin/zfs-fuse", "zfs-fuse") {
        return false;
    }
    let up = run(&mut Command::new(workspace().join("lab/zfs-fuse-up")));
    assert!(up.status.success(), "lab/zfs-fuse-up failed:\n{}\n{}", stdout(&up), stderr(&up));
    true
}

/// A test that cannot run here: panics with `reason` unless `CORENAS_ALLOW_SKIP=1`, in which case
/// the skip is reported (stderr, and `CORENAS_SKIP_REPORT`) and this returns; the caller then
/// skips the test (or the part of it) that needs what is missing.
pub fn skip_or_fail(test: &str, reason: &str) {
    let allowed = std::env::var(ALLOW_SKIP).as_deref() == Ok("1");
    skip_or_fail_with(allowed, std::env::var_os(SKIP_REPORT).as_deref().map(Path::new), test, reason);
}

fn skip_or_fail_with(allowed: bool, report: Option<&Path>, test: &str, reason: &str) {
    if !allowed {
        panic!("{test} cannot run: {reason} (to skip it on purpose instead, set {ALLOW_SKIP}=1)");
    }
    eprintln!("SKIPPED {test}: {reason}");
    if let Some(report) = report {
        // One line, written whole: tests run in parallel processes, and each write to a file
        // opened with O_APPEND lands at its end without interleaving with another's.
        let line = format!("{}\n", format!("{test}: {reason}").replace(['\n', '\r'], " "));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(report)
            .unwrap_or_else(|e| panic!("{SKIP_REPORT}={}: {e}", report.display()));
        let written = file.write(line.as_bytes()).unwrap_or_else(|e| panic!("writing to {SKIP_REPORT}: {e}"));
        assert_eq!(written, line.len(), "{SKIP_REPORT}: the skip's line was written in part");
    }
}

/// For the benchmark binaries, which are not tests (no skipping): without root they say so and
/// exit with status 1.
pub fn exit_unless_root(program: &str) {
    if !rustix::process::geteuid().is_root() {
        eprintln!("{program}: needs root (useradd --prefix, mounts, setpriv, loop devices): run it as root");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(
        expected = "t cannot run: /usr/sbin/x is missing (to skip it on purpose instead, set CORENAS_ALLOW_SKIP=1)"
    )]
    fn a_missing_prerequisite_fails_unless_skipping_is_allowed() {
        skip_or_fail_with(false, None, "t", "/usr/sbin/x is missing");
    }

    #[test]
    fn an_allowed_skip_appends_one_line_each_to_the_report() {
        let dir = std::env::temp_dir().join(format!("corenas-skip-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let report = dir.join("skips.txt");
        let _ = std::fs::remove_file(&report);
        skip_or_fail_with(true, Some(&report), "one", "needs root");
        skip_or_fail_with(true, Some(&report), "two", "x is missing:\ninstall y");
        let text = std::fs::read_to_string(&report).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(text, "one: needs root\ntwo: x is missing: install y\n");
    }
}
