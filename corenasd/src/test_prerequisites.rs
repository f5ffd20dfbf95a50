//! What corenasd's unit tests that act on the real system need (root, installed programs), with
//! the system tests' contract (`tests/src/prerequisites.rs`, which this crate cannot depend on):
//! a missing prerequisite fails the test, naming it and how to get it, unless
//! `CORENAS_ALLOW_SKIP=1` says skipping is intended; then the skip is reported as
//! `SKIPPED <test>: <reason>` on stderr and one line `<test>: <reason>` appended to the file
//! named by `CORENAS_SKIP_REPORT` when that is set.

use std::io::Write;

/// True when running as root. Otherwise the test fails, or with `CORENAS_ALLOW_SKIP=1` the skip
/// is reported and this returns false: the caller returns. `needs` says what needs root
/// ("attaching a loop device").
pub(crate) fn require_root(test: &str, needs: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    skip_or_fail(test, &format!("{needs} needs root: run the tests as root (./test as root)"));
    false
}

/// True when the program at `path` is installed. Otherwise the test fails naming the Debian
/// `package` to install, or with `CORENAS_ALLOW_SKIP=1` the skip is reported and this returns
/// false.
pub(crate) fn require_program(test: &str, path: &str, package: &str) -> bool {
    if std::path::Path::new(path).exists() {
        return true;
    }
    skip_or_fail(test, &format!("{path} is missing: install {package} (./test installs it via lab/deps)"));
    false
}

fn skip_or_fail(test: &str, reason: &str) {
    if std::env::var("CORENAS_ALLOW_SKIP").as_deref() != Ok("1") {
        panic!("{test} cannot run: {reason} (to skip it on purpose instead, set CORENAS_ALLOW_SKIP=1)");
    }
    eprintln!("SKIPPED {test}: {reason}");
    if let Some(report) = std::env::var_os("CORENAS_SKIP_REPORT") {
        // One line, written whole: tests run in parallel processes, and each write to a file
        // opened with O_APPEND lands at its end without interleaving with another's.
        let line = format!("{}\n", format!("{test}: {reason}").replace(['\n', '\r'], " "));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&report)
            .unwrap_or_else(|e| panic!("CORENAS_SKIP_REPORT={}: {e}", report.to_string_lossy()));
        let written = file.write(line.as_bytes()).unwrap_or_else(|e| panic!("writing to CORENAS_SKIP_REPORT: {e}"));
        assert_eq!(written, line.len(), "CORENAS_SKIP_REPORT: the skip's line was written in part");
    }
}
