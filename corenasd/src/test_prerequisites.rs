//! What tests that act on the real system need (root, installed programs), and what happens when
//! it is missing: the one implementation of that contract, used by corenasd's own unit tests and
//! by the system tests (`corenas-tests`, which depends on this crate). `./test` installs what the
//! tests need, so a missing prerequisite fails the test, naming it and how to get it. It is a skip
//! only when `CORENAS_ALLOW_SKIP=1` says skipping is intended, and then it is reported, never
//! silent: `SKIPPED <test>: <reason>` on stderr and one line `<test>: <reason>` appended to the
//! file named by `CORENAS_SKIP_REPORT` when that is set (./test lists that file at the end).
//! Nothing in the daemon calls it.

use std::io::Write;
use std::path::Path;

/// Set to `1`, a test whose prerequisites are missing is skipped (and reported) instead of failed.
pub const ALLOW_SKIP: &str = "CORENAS_ALLOW_SKIP";
/// The file every allowed skip appends its line to.
pub const SKIP_REPORT: &str = "CORENAS_SKIP_REPORT";

/// True when running as root. Otherwise the test fails, or with `CORENAS_ALLOW_SKIP=1` the skip
/// is reported and this returns false: the caller returns. `needs` says what needs root
/// ("attaching a loop device").
pub fn require_root(test: &str, needs: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    skip_or_fail(test, &format!("{needs} needs root: run the tests as root (./test as root)"));
    false
}

/// True when the program at `path` is installed. Otherwise the test fails naming the Debian
/// `package` to install, or with `CORENAS_ALLOW_SKIP=1` the skip is reported and this returns
/// false.
pub fn require_program(test: &str, path: &str, package: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    skip_or_fail(test, &format!("{path} is missing: install {package} (./test installs it via lab/deps)"));
    false
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
