//! The Debian package as Debian's tools see it (issue 20): packaging/build-deb builds it with
//! debhelper from the binaries under test, lintian finds no error or warning (each override in
//! debian/corenas.lintian-overrides says why), and it carries what a good citizen's package
//! does: md5sums, a changelog, a DEP-5 copyright naming every linked crate and SQLite,
//! Built-Using/Static-Built-Using, corenas-ctl in /usr/sbin, the manual page each unit's
//! Documentation= names, with EXIT STATUS, ENVIRONMENT and FILES. Installing it needs systemd as
//! PID 1: the VM tier's deb-install and deb-citizen checks.

use corenas_tests::{require_program, run, stderr, stdout, target_dir, workspace};
use std::path::Path;
use std::process::Command;

const TEST: &str = "package::the_package_is_lintian_clean_and_complete";

#[test]
fn the_package_is_lintian_clean_and_complete() {
    for (path, package) in
        [("/usr/bin/dpkg-buildpackage", "dpkg-dev"), ("/usr/bin/dh", "debhelper"), ("/usr/bin/lintian", "lintian")]
    {
        if !require_program(TEST, path, package) {
            return;
        }
    }
    let work = std::env::temp_dir().join(format!("corenas-package-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    // gzip: bookworm's lintian reads no zstd (build-deb's default for debug builds).
    let built = run(Command::new(workspace().join("packaging/build-deb"))
        .arg("debug")
        .arg(work.join("out"))
        .env("CORENAS_BIN_DIR", target_dir())
        .env("CORENAS_DEB_COMPRESS", "gzip"));
    assert!(built.status.success(), "packaging/build-deb failed:\n{}{}", stdout(&built), stderr(&built));
    let deb = stdout(&built).lines().last().unwrap_or_default().to_owned();
    assert!(deb.ends_with("_amd64.deb") && Path::new(&deb).is_file(), "build-deb printed no package: {deb}");

    let lintian = run(Command::new("lintian").args(["--fail-on", "error,warning", "--no-tag-display-limit"]).arg(&deb));
    let findings = stdout(&lintian);
    eprintln!("lintian:\n{findings}");
    assert!(lintian.status.success(), "lintian found errors or warnings:\n{findings}{}", stderr(&lintian));

    let root = work.join("root");
    let unpacked = run(Command::new("dpkg-deb").arg("-R").arg(&deb).arg(&root));
    assert!(unpacked.status.success(), "dpkg-deb -R: {}", stderr(&unpacked));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("the package's {p}: {e}"));

    let md5sums = read("DEBIAN/md5sums");
    for f in ["usr/sbin/corenasd", "usr/sbin/corenas-ctl", "usr/libexec/corenas/corenas-helper"] {
        assert!(md5sums.lines().any(|l| l.ends_with(&format!("  {f}"))), "md5sums lacks {f}");
    }
    assert!(root.join("usr/share/doc/corenas/changelog.gz").is_file(), "no Debian changelog");
    assert!(!root.join("usr/bin/corenas-ctl").exists(), "corenas-ctl is root's command: /usr/sbin");
    let conffiles = read("DEBIAN/conffiles");
    assert!(conffiles.contains("/etc/apparmor.d/usr.sbin.corenas-ctl\n"), "{conffiles}");
    assert!(
        read("DEBIAN/preinst").contains("rm_conffile /etc/apparmor.d/usr.bin.corenas-ctl"),
        "the old profile stays"
    );

    // Every linked crate has its copyright paragraph and its Static-Built-Using entry; SQLite
    // (bundled) and glibc (static) are named.
    let control = read("DEBIAN/control");
    let field =
        |name: &str| control.lines().find_map(|l| l.strip_prefix(&format!("{name}: "))).unwrap_or_default().to_owned();
    let copyright = read("usr/share/doc/corenas/copyright");
    let crates: Vec<&str> = copyright.lines().filter_map(|l| l.strip_prefix("Files: vendor/")).collect();
    let static_built = field("Static-Built-Using");
    assert!(crates.len() > 100, "only {} crates in the copyright file", crates.len());
    for c in ["rusqlite-", "libsqlite3-sys-", "tokio-", "clap-"] {
        assert!(crates.iter().any(|f| f.starts_with(c)), "copyright lacks {c}*: {crates:?}");
    }
    for rust in static_built.split(", ") {
        let (name, version) = rust
            .strip_prefix("rust-")
            .and_then(|r| r.strip_suffix(')'))
            .and_then(|r| r.split_once(" (= "))
            .unwrap_or_else(|| panic!("Static-Built-Using entry '{rust}' is not rust-NAME (= VERSION)"));
        let listed = crates.iter().any(|f| f.replace('_', "-").starts_with(&format!("{name}-{version}/")));
        assert!(listed, "{name} {version} is in Static-Built-Using but has no copyright paragraph");
    }
    assert!(static_built.contains("rust-rusqlite (= "), "{static_built}");
    assert!(copyright.contains("License: public-domain-sqlite") && copyright.contains("SQLite 3."), "no SQLite");
    assert!(field("Built-Using").starts_with("glibc (= "), "Built-Using: {}", field("Built-Using"));

    // Each unit's manual page is in the package, and the pages have the sections clap lacks.
    for unit in std::fs::read_dir(root.join("lib/systemd/system")).expect("units").map(|e| e.expect("unit").path()) {
        let text = std::fs::read_to_string(&unit).expect("unit file");
        let docs = text.lines().find_map(|l| l.strip_prefix("Documentation=")).unwrap_or_default();
        let page = docs.split_whitespace().find_map(|d| d.strip_prefix("man:")).unwrap_or_else(|| {
            panic!("{} has no Documentation=man: link", unit.display());
        });
        let (name, section) = page.trim_end_matches(')').split_once('(').expect("man:NAME(SECTION)");
        let gz = root.join(format!("usr/share/man/man{section}/{name}.{section}.gz"));
        let zcat = run(Command::new("zcat").arg(&gz));
        assert!(zcat.status.success(), "{}: {page} is not in the package", unit.display());
        let roff = stdout(&zcat);
        for s in ["EXIT STATUS", "ENVIRONMENT", "FILES"] {
            assert!(roff.contains(&format!(".SH \"{s}\"")), "{page} has no {s} section");
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}
