//! The shipped systemd units against the hardening targets (issue #7): `systemd-analyze
//! security --offline=true --threshold=N` scores each service file as shipped (N is the exposure
//! times ten), and `systemd-analyze verify` finds nothing but the binaries a machine without
//! the package lacks. No systemd needs to run for either.

use corenas_tests::{run, stderr, stdout, workspace};
use std::process::Command;

#[test]
fn units_meet_their_exposure_targets_and_verify() {
    let dir = workspace().join("systemd");
    for (unit, threshold) in [
        ("corenasd.service", 15),
        ("corenas-web.service", 15),
        ("corenas-helper.service", 20),
        ("corenas-storage.service", 20),
    ] {
        let path = dir.join(unit);
        let out = run(Command::new("systemd-analyze")
            .args(["security", "--offline=true", &format!("--threshold={threshold}")])
            .arg(&path));
        let report = stdout(&out);
        let overall = report.lines().last().unwrap_or("").to_owned();
        assert!(
            out.status.success(),
            "{unit} is above {}: {overall}\n{report}{}",
            f64::from(threshold) / 10.0,
            stderr(&out)
        );
        eprintln!("{unit}: {overall}");
    }
    for unit in [
        "corenasd.service",
        "corenasd.socket",
        "corenas-web.service",
        "corenas-helper.service",
        "corenas-helper.socket",
        "corenas-storage.service",
        "corenas-storage.socket",
    ] {
        // --man=no: the Documentation=man: pages come with the package (tests/tests/package.rs
        // checks that it ships each one), not with this machine.
        let out = run(Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(dir.join(unit)));
        let problems: Vec<String> = stderr(&out)
            .lines()
            .filter(|l| !l.contains("is not executable: No such file or directory"))
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect();
        assert!(problems.is_empty(), "systemd-analyze verify {unit}:\n{}", problems.join("\n"));
    }
}

/// Every shipped AppArmor profile parses (`apparmor_parser -Q -K`: compile only, no kernel).
/// Loading and enforcing them needs a kernel with AppArmor: the VM tier (issue 7).
#[test]
fn apparmor_profiles_parse() {
    let dir = workspace().join("apparmor");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("apparmor/") {
        let path = entry.expect("entry").path();
        let out = run(Command::new("apparmor_parser").args(["-Q", "-K"]).arg(&path));
        assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
        seen += 1;
    }
    assert_eq!(seen, 5, "one profile per binary (helper, corenasd, corenas-ctl, corenas-web) and the storage helper's");
}
