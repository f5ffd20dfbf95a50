//! Requests sent straight to the root helper, bypassing corenasd: the helper must enforce the
//! managed ranges and its path rules by itself.

use corenas_proto::ErrorCode;
use corenas_proto::helper::{HelperOp, NewUser, UserChange};
use corenas_proto::names::Shell;
use corenas_tests::{Lab, LabOptions, assert_unchanged, block_on, ctx, helper_client, require_root};

#[test]
fn helper_gives_no_new_id_in_debians_reserved_band() {
    if !require_root("helper_gives_no_new_id_in_debians_reserved_band") {
        return;
    }
    let lab = Lab::start("debianids", LabOptions::default());
    let before = lab.snapshot();
    block_on(async {
        let h = helper_client(&lab.helper_sock).await.expect("connect as root");
        // What a compromised corenasd might ask: ids that Debian or systemd's dynamic users own.
        for id in ["60000", "61184", "65533"] {
            let user = HelperOp::UserCreate(NewUser {
                name: "intruder".parse().unwrap(),
                uid: id.parse().unwrap(),
                full_name: None,
                shell: Shell::nologin(),
                create_home: false,
                groups: vec![],
                password: None,
            });
            let group = HelperOp::GroupCreate { name: "intruders".parse().unwrap(), gid: id.parse().unwrap() };
            for (op, field) in [(user, "uid"), (group, "gid")] {
                for dry_run in [true, false] {
                    let e = h.perform(ctx(), op.clone(), dry_run).await.expect("rpc").expect_err("must be refused");
                    assert_eq!(
                        (e.code, e.field.as_deref()),
                        (ErrorCode::InvalidInput, Some(field)),
                        "{id}: {}",
                        e.message
                    );
                    assert!(e.message.contains("50000-59999 or 65536-100000"), "{}", e.message);
                }
            }
        }
    });
    assert_unchanged(&before, &lab.snapshot());
    assert!(!lab.log("helper.log").contains("/usr/sbin/useradd"), "no program may have run");
    assert!(!lab.log("helper.log").contains("/usr/sbin/groupadd"), "no program may have run");
}

#[test]
fn helper_refuses_accounts_outside_the_managed_ranges() {
    if !require_root("helper_refuses_accounts_outside_the_managed_ranges") {
        return;
    }
    let lab = Lab::start("ranges", LabOptions::default());
    let before = lab.snapshot();
    block_on(async {
        let h = helper_client(&lab.helper_sock).await.expect("connect as root");
        for name in ["root", "daemon", "human", "nobody"] {
            let ops = [
                HelperOp::UserLock { name: name.parse().unwrap() },
                HelperOp::UserDelete { name: name.parse().unwrap(), remove_home: true },
                HelperOp::UserModify(UserChange {
                    name: name.parse().unwrap(),
                    full_name: None,
                    shell: Some("/bin/bash".parse().unwrap()),
                }),
                HelperOp::UserSetPassword {
                    name: name.parse().unwrap(),
                    password: "Correct-Horse-9x".parse().unwrap(),
                },
                HelperOp::SmbSetPassword { name: name.parse().unwrap(), password: "Correct-Horse-9x".parse().unwrap() },
            ];
            for op in ops {
                for dry_run in [true, false] {
                    let e = h.perform(ctx(), op.clone(), dry_run).await.expect("rpc").expect_err("must be refused");
                    assert_eq!(e.code, ErrorCode::NotAllowed, "{name} {}: {}", op.name(), e.message);
                    assert!(e.message.contains("outside the managed ranges"), "{}", e.message);
                }
            }
        }
        for group in ["root", "human"] {
            let op = HelperOp::GroupDelete { name: group.parse().unwrap() };
            let e = h.perform(ctx(), op, false).await.expect("rpc").expect_err("refused");
            assert_eq!(e.code, ErrorCode::NotAllowed, "{}", e.message);
        }
    });
    assert_unchanged(&before, &lab.snapshot());
    assert!(!lab.log("helper.log").contains("/usr/sbin/usermod"), "no program may have run");
}

/// A compromised corenasd (or a web admin) must not pre-create a group that a package installed
/// later grants root to by name (`docker`, `libvirt`, `sudo`, ...); a plain name is accepted, so
/// the refusal is about the name.
#[test]
fn helper_refuses_privilege_bearing_group_names() {
    if !require_root("helper_refuses_privilege_bearing_group_names") {
        return;
    }
    let lab = Lab::start("groupnames", LabOptions::default());
    let before = lab.snapshot();
    block_on(async {
        let h = helper_client(&lab.helper_sock).await.expect("connect as root");
        for name in ["docker", "libvirt", "lxd", "incus-admin", "wheel", "admin", "lpadmin"] {
            let op = HelperOp::GroupCreate { name: name.parse().unwrap(), gid: "50500".parse().unwrap() };
            for dry_run in [true, false] {
                let e = h.perform(ctx(), op.clone(), dry_run).await.expect("rpc").expect_err("must be refused");
                assert_eq!(
                    (e.code, e.field.as_deref()),
                    (ErrorCode::InvalidInput, Some("name")),
                    "{name}: {}",
                    e.message
                );
                assert!(e.message.contains("reserved"), "{}", e.message);
            }
        }
    });
    assert_unchanged(&before, &lab.snapshot());
    assert!(!lab.log("helper.log").contains("/usr/sbin/groupadd"), "no program may have run");
    block_on(async {
        let h = helper_client(&lab.helper_sock).await.expect("connect as root");
        let op = HelperOp::GroupCreate { name: "dockerusers".parse().unwrap(), gid: "50500".parse().unwrap() };
        h.perform(ctx(), op, true).await.expect("rpc").expect("a plain name is planned");
    });
}
