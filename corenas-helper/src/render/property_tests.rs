//! Two properties of the renderers. (1) testparm accepts every combination of share options the
//! renderer can produce, without warnings. (2) No input can add a line: every string from the
//! hostile-input corpus and thousands of random strings are tried in every validated field;
//! whatever validation lets through renders only lines of the expected grammar, one section per
//! share and one line per export.

use crate::exec::{self, Invocation, Program};
use crate::render::{smb, unit};
use corenas_proto::mounts::{CifsCredentials, LocalFs, MountDef, MountFlag, MountSource, NfsVersion};
use corenas_proto::shares::{FileMode, NfsOptions, NfsRule, ShareDef, ShareSet, SmbOptions, SnapshotLayout};

fn share(i: usize, o: SmbOptions) -> ShareDef {
    ShareDef {
        name: format!("s{i}").parse().unwrap(),
        path: format!("/storage/s{i}").parse().unwrap(),
        smb: Some(o),
        nfs: Some(NfsOptions {
            rules: vec![NfsRule {
                client: "10.0.0.0/8".parse().unwrap(),
                read_only: i % 2 == 0,
                no_root_squash: i % 3 == 0,
            }],
        }),
    }
}

#[test]
fn testparm_accepts_every_combination_of_options() {
    if !std::path::Path::new("/usr/bin/testparm").exists() {
        panic!("testparm is missing: install samba-common-bin (.ci/run does)");
    }
    let mut shares = Vec::new();
    for bits in 0..64u32 {
        for layout in [None, Some(SnapshotLayout::Zfs), Some(SnapshotLayout::Btrfs)] {
            for lists in 0..4u32 {
                let b = |n: u32| bits & (1 << n) != 0;
                let o = SmbOptions {
                    read_only: b(0),
                    browseable: b(1),
                    guest_ok: b(2),
                    recycle: b(3),
                    audit: b(4),
                    hide_dot_files: b(5),
                    previous_versions: layout,
                    valid_users: if lists & 1 != 0 {
                        vec!["alice".parse().unwrap(), "bob".parse().unwrap()]
                    } else {
                        vec![]
                    },
                    valid_groups: if lists & 1 != 0 { vec!["staff".parse().unwrap()] } else { vec![] },
                    admin_users: if lists & 2 != 0 { vec!["carol".parse().unwrap()] } else { vec![] },
                    create_mask: FileMode::new_unchecked(0o640 + (bits % 8)),
                    directory_mask: FileMode::new_unchecked(0o750),
                };
                shares.push(share(shares.len(), o));
            }
        }
    }
    let dir = std::env::temp_dir().join(format!("corenas-testparm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // In files of 96 shares: testparm's dump of each stays under the runner's output cap.
    for (n, chunk) in shares.chunks(96).enumerate() {
        let text = smb::render(&ShareSet { shares: chunk.to_vec(), homes: n == 0 }, |p| format!("/srv/lab{p}"));
        let file = dir.join(format!("corenas-{n}.conf"));
        std::fs::write(&file, &text).unwrap();
        // Through the helper's own runner and check, as a publish runs it.
        let cmd = Invocation::of(Program::TestParm).args([
            "-s".to_owned(),
            "--suppress-prompt".into(),
            file.display().to_string(),
        ]);
        let out = rt.block_on(exec::run(&cmd)).unwrap_or_else(|e| panic!("testparm failed: {}", e.message));
        exec::refuse_warnings(&out, &["unknown parameter", "ignoring", "error", "invalid"], "testparm warned")
            .unwrap_or_else(|e| panic!("{}", e.message));
        // testparm's own dump holds every section, so none was merged or dropped.
        let dump = String::from_utf8_lossy(&out.stdout);
        assert!(out.stdout.len() < 60 * 1024, "the dump may have been cut");
        assert_eq!(dump.lines().filter(|l| l.starts_with("[s")).count(), chunk.len());
        assert_eq!(dump.contains("[homes]"), n == 0);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A small deterministic generator (xorshift64*): no extra crate for a property test.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn string(&mut self) -> String {
        const ALPHABET: &[&str] = &[
            "a",
            "z",
            "0",
            "9",
            "-",
            "_",
            ".",
            "/",
            "[",
            "]",
            "=",
            "%",
            "\n",
            "\r",
            "\0",
            ";",
            " ",
            "\t",
            "\"",
            "'",
            "\\",
            "@",
            "*",
            ":",
            "(",
            ")",
            ",",
            "#",
            "$",
            "S",
            "U",
            "storage",
            "mnt/corenas",
            "/storage/",
            "global",
            "..",
            "é",
            "\u{202e}",
            "include",
            "path",
            "10.0.0.1",
            "::1",
            "/24",
        ];
        let len = self.below(12);
        (0..len).map(|_| ALPHABET[self.below(ALPHABET.len())]).collect()
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap_or(1)).unwrap_or(0)
    }
}

fn corpus() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let files = [
        root.join("../shared/corpus/bad-inputs.json"),
        root.join("tests/corpus/bad-inputs.json"),
        root.join("tests/corpus/own-bad-inputs.json"),
    ];
    let mut out = Vec::new();
    for f in files.iter().filter(|f| f.exists()) {
        let list: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        out.extend(list.iter().filter_map(|e| e["input"].as_str().map(str::to_owned)));
    }
    assert!(out.len() >= 20, "the corpus must be found");
    out
}

fn check_share_outputs(set: &ShareSet) {
    if let Some(problem) = crate::render::share_outputs_problem(set) {
        panic!("{problem}");
    }
}

fn check_mount_outputs(def: &MountDef) {
    if let Some(problem) = crate::render::mount_outputs_problem(def) {
        panic!("{problem}");
    }
}

#[test]
fn no_input_adds_a_line_to_any_rendered_file() {
    let mut inputs = corpus();
    let mut rng = Rng(0x5eed_c0de_1234_5678);
    inputs.extend((0..20_000).map(|_| rng.string()));
    let mut accepted = 0usize;
    for s in &inputs {
        let mut def = ShareDef {
            name: "base".parse().unwrap(),
            path: "/storage/base".parse().unwrap(),
            smb: Some(SmbOptions::default()),
            nfs: Some(NfsOptions {
                rules: vec![NfsRule { client: "10.0.0.1".parse().unwrap(), read_only: false, no_root_squash: false }],
            }),
        };
        let mut any = false;
        if let Ok(n) = s.parse() {
            def.name = n;
            any = true;
        }
        if let Ok(p) = s.parse() {
            def.path = p;
            any = true;
        }
        if let (Ok(u), Some(smb)) = (s.parse(), def.smb.as_mut()) {
            smb.valid_users.push(u);
            smb.admin_users.push(s.parse().unwrap());
            any = true;
        }
        if let (Ok(g), Some(smb)) = (s.parse(), def.smb.as_mut()) {
            smb.valid_groups.push(g);
            any = true;
        }
        if let (Ok(c), Some(nfs)) = (s.parse(), def.nfs.as_mut()) {
            nfs.rules.push(NfsRule { client: c, read_only: true, no_root_squash: true });
            any = true;
        }
        check_share_outputs(&ShareSet { shares: vec![def], homes: true });

        let mut mount = MountDef {
            source: MountSource::Local { device: "/dev/sdb".parse().unwrap(), fs: LocalFs::Xfs },
            target: "/mnt/corenas/base".parse().unwrap(),
            flags: MountFlag::ALL.to_vec(),
            automount: true,
            temporary: false,
            timeout_secs: 30,
        };
        if let Ok(t) = s.parse() {
            mount.target = t;
            any = true;
        }
        if let Ok(d) = s.parse() {
            mount.source = MountSource::Local { device: d, fs: LocalFs::Ext4 };
            any = true;
        }
        check_mount_outputs(&mount);
        if let Ok(b) = s.parse() {
            mount.source = MountSource::Bind { source: b };
            check_mount_outputs(&mount);
            any = true;
        }
        if let Ok(h) = s.parse::<corenas_proto::names::HostName>() {
            mount.source =
                MountSource::Nfs { server: h.clone(), export: "/x".parse().unwrap(), version: Some(NfsVersion::V4) };
            check_mount_outputs(&mount);
            mount.source = MountSource::Cifs { server: h, share: "x".parse().unwrap(), credentials: None };
            check_mount_outputs(&mount);
            any = true;
        }
        if let Ok(e) = s.parse() {
            mount.source = MountSource::Nfs { server: "nas".parse().unwrap(), export: e, version: None };
            check_mount_outputs(&mount);
            any = true;
        }
        if let (Ok(share), Ok(user)) = (s.parse(), s.parse()) {
            let password = corenas_proto::secret::RemoteSecret::new("x".into()).unwrap();
            mount.source = MountSource::Cifs {
                server: "nas".parse().unwrap(),
                share,
                credentials: Some(CifsCredentials { user, domain: s.parse().ok(), password }),
            };
            check_mount_outputs(&mount);
            let cred = unit::credentials(&mount).unwrap();
            assert_eq!(cred.lines().count(), 2 + usize::from(s.parse::<corenas_proto::names::RemoteUser>().is_ok()));
            any = true;
        }
        // A remote password is the one free-form value; it only ever reaches the credentials
        // file, as one line.
        if let Ok(p) = corenas_proto::secret::RemoteSecret::new(s.clone()) {
            mount.source = MountSource::Cifs {
                server: "nas".parse().unwrap(),
                share: "x".parse().unwrap(),
                credentials: Some(CifsCredentials { user: "u".parse().unwrap(), domain: None, password: p }),
            };
            check_mount_outputs(&mount);
            assert_eq!(unit::credentials(&mount).unwrap().lines().count(), 2);
        }
        accepted += usize::from(any);
    }
    // The generator must reach the interesting part: some strings pass validation.
    assert!(accepted > 500, "only {accepted} inputs were accepted by any field");
}
