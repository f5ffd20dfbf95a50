//! What a system test needs from the machine (root, installed programs). The contract (a missing
//! prerequisite fails the test unless `CORENAS_ALLOW_SKIP=1`; an allowed skip is reported on
//! stderr and in `CORENAS_SKIP_REPORT`) is implemented once, in `corenasd::test_prerequisites`,
//! which corenasd's own root-only unit tests use too; this adds what only the system tests need.

use crate::{run, stderr, stdout, workspace};
use std::process::Command;

pub use corenasd::test_prerequisites::{require_program, skip_or_fail};

/// True when running as root. Otherwise the test fails, or with `CORENAS_ALLOW_SKIP=1` the skip
/// is reported and this returns false: the caller returns.
pub fn require_root(test: &str) -> bool {
    corenasd::test_prerequisites::require_root(test, "a system test (useradd --prefix, mounts, setpriv, loop devices)")
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

/// For the benchmark binaries, which are not tests (no skipping): without root they say so and
/// exit with status 1.
pub fn exit_unless_root(program: &str) {
    if !rustix::process::geteuid().is_root() {
        eprintln!("{program}: needs root (useradd --prefix, mounts, setpriv, loop devices): run it as root");
        std::process::exit(1);
    }
}
