//! What a share must pass before it is stored, and the directory it gets: the checks against the
//! other shares and the host, and the access templates as owner, mode and ACL entries. Pure
//! decisions plus the helper operation that prepares the directory; no SQL, no helper calls.

use corenas_proto::acl::AclEntry;
use corenas_proto::helper::HelperOp;
use corenas_proto::names::StoragePath;
use corenas_proto::shares::{AccessTemplate, FileMode, ShareDef, ShareInfo};
use corenas_proto::{ErrorCode, WireError};

fn entries(text: &[&str]) -> Result<Vec<AclEntry>, WireError> {
    text.iter()
        .map(|t| t.parse::<AclEntry>().map_err(|e| WireError::internal(format!("template ACL {t}: {}", e.message))))
        .collect()
}

/// The template as one helper operation: owner, group, mode and ACL entries of the directory.
/// Default entries make new files and directories inherit the same rights.
pub fn prepare_dir(path: &StoragePath, access: Option<&AccessTemplate>) -> Result<HelperOp, WireError> {
    let (owner, group, mode, setgid, acl) = match access {
        None => (None, None, 0o755, false, Vec::new()),
        Some(AccessTemplate::Private { user }) => {
            (Some(user.clone()), None, 0o700, false, entries(&["d:u::rwx", "d:g::---", "d:o::---"])?)
        }
        Some(AccessTemplate::GroupReadWrite { group }) => {
            let g = group.as_str();
            (
                None,
                Some(group.clone()),
                0o770,
                true,
                entries(&[&format!("g:{g}:rwx"), "d:u::rwx", "d:g::rwx", &format!("d:g:{g}:rwx"), "d:o::---"])?,
            )
        }
        Some(AccessTemplate::PublicRead { writers }) => match writers {
            Some(group) => {
                let g = group.as_str();
                (
                    None,
                    Some(group.clone()),
                    0o775,
                    true,
                    entries(&[&format!("g:{g}:rwx"), "d:u::rwx", "d:g::rwx", &format!("d:g:{g}:rwx"), "d:o::r-x"])?,
                )
            }
            None => (None, None, 0o755, false, entries(&["d:u::rwx", "d:g::r-x", "d:o::r-x"])?),
        },
    };
    Ok(HelperOp::ShareDirPrepare { path: path.clone(), owner, group, mode: FileMode::new_unchecked(mode), setgid, acl })
}

/// `no_root_squash` makes root on an NFS client root on the share (and, through a forged handle,
/// on whatever else the exported filesystem holds), so only the ctl channel (root on this
/// machine) may ask for it. From the web a rule that already had it (set at the ctl) may stay
/// while other parts of the share change, but none may be added.
pub fn check_root_squash(def: &ShareDef, before: Option<&ShareDef>, from_ctl: bool) -> Result<(), WireError> {
    if from_ctl {
        return Ok(());
    }
    let had = |client: &str| {
        before
            .and_then(|b| b.nfs.as_ref())
            .is_some_and(|n| n.rules.iter().any(|r| r.no_root_squash && r.client.as_str() == client))
    };
    let Some(nfs) = &def.nfs else { return Ok(()) };
    match nfs.rules.iter().find(|r| r.no_root_squash && !had(r.client.as_str())) {
        Some(r) => Err(WireError {
            field: Some("no_root_squash".into()),
            ..WireError::not_allowed(format!(
                "NFS client {} of share {}: no_root_squash can be set only with corenas-ctl on the server \
                 (root on the client would be root on the share); from the web, clients are root-squashed",
                r.client, def.name
            ))
        }),
        None => Ok(()),
    }
}

/// CoreNAS's rules for a share definition against the stored shares (`others`), with the
/// warnings an admin must see.
pub fn check(
    others: &[ShareInfo],
    def: &ShareDef,
    access: Option<&AccessTemplate>,
    force: bool,
) -> Result<Vec<String>, WireError> {
    let mut warnings = Vec::new();
    if def.smb.is_none() && def.nfs.is_none() {
        return Err(WireError::invalid("protocol", "a share needs SMB, NFS or both"));
    }
    if let Some(nfs) = &def.nfs {
        if nfs.rules.is_empty() {
            return Err(WireError::invalid(
                "client",
                "an NFS share needs at least one client (address, network or host)",
            ));
        }
        if nfs.rules.len() > 64 {
            return Err(WireError::invalid("client", "at most 64 NFS clients per share"));
        }
        for r in nfs.rules.iter().filter(|r| r.no_root_squash) {
            warnings.push(format!(
                "NFS client {} of share {} is not root-squashed: root on that machine is root on the share",
                r.client, def.name
            ));
        }
    }
    if let Some(smb) = &def.smb {
        if smb.valid_users.len() + smb.valid_groups.len() + smb.admin_users.len() > 256 {
            return Err(WireError::invalid("user", "at most 256 users and groups per share"));
        }
        if smb.guest_ok {
            let world_writable = !smb.read_only;
            if world_writable && !force {
                return Err(WireError::not_allowed(format!(
                    "share {}: a writable guest share lets anyone on the network fill or wipe it; make it read-only or add --force",
                    def.name
                )));
            }
            warnings.push(format!(
                "guest access is on for share {}: anyone who reaches the server can {} it without a password (samba also needs 'map to guest = bad user' in smb.conf)",
                def.name,
                if world_writable { "read and write" } else { "read" }
            ));
        }
        if let Some(nfs) = &def.nfs {
            // One definition, the same rights both ways: both protocols end in the same POSIX
            // ACLs, so only the protocol-level switches can differ, and they must not.
            if smb.read_only {
                if let Some(r) = nfs.rules.iter().find(|r| !r.read_only) {
                    return Err(WireError::invalid(
                        "read_only",
                        format!(
                            "share {} is read-only over SMB but writable over NFS for {}; make both read-only or both writable",
                            def.name, r.client
                        ),
                    ));
                }
            }
            if !smb.admin_users.is_empty() {
                warnings.push(format!(
                    "share {}: admin users act as root over SMB only; over NFS they have their ordinary rights",
                    def.name
                ));
            }
            if (!smb.valid_users.is_empty() || !smb.valid_groups.is_empty()) && access.is_none() {
                warnings.push(format!(
                    "share {}: valid users limit SMB only; NFS access follows the directory's ACLs (use an access template so both protocols grant the same)",
                    def.name
                ));
            }
        }
    }
    // Two shares on one path must agree on the directory's rights (they are the same ACLs).
    if others.len() >= MAX_SHARES && !others.iter().any(|o| o.def.name == def.name) {
        return Err(WireError::new(ErrorCode::OutOfRange, format!("at most {MAX_SHARES} shares")));
    }
    for o in others.iter().filter(|o| o.def.name != def.name) {
        if o.def.path == def.path && o.access.as_ref() != access {
            return Err(WireError::new(
                ErrorCode::AlreadyExists,
                format!(
                    "share {} already serves {} with different access rules ({}); use the same access template or another path",
                    o.def.name,
                    def.path,
                    o.access.as_ref().map_or_else(|| "none".to_owned(), AccessTemplate::describe)
                ),
            ));
        }
    }
    Ok(warnings)
}

/// More shares than this is a mistake or an attack on the renderer, not a NAS.
pub const MAX_SHARES: usize = 5000;

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::shares::{NfsOptions, NfsRule};

    fn share(rules: &[(&str, bool)]) -> ShareDef {
        ShareDef {
            name: "backup".parse().unwrap(),
            path: "/storage/backup".parse().unwrap(),
            smb: None,
            nfs: Some(NfsOptions {
                rules: rules
                    .iter()
                    .map(|(c, squash_off)| NfsRule {
                        client: c.parse().unwrap(),
                        read_only: false,
                        no_root_squash: *squash_off,
                    })
                    .collect(),
            }),
        }
    }

    #[test]
    fn no_root_squash_only_from_the_ctl() {
        let asked = share(&[("10.0.0.0/8", false), ("10.1.2.3", true)]);
        assert!(check_root_squash(&asked, None, true).is_ok());
        let e = check_root_squash(&asked, None, false).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), (ErrorCode::NotAllowed, Some("no_root_squash")), "{}", e.message);
        assert!(e.message.contains("10.1.2.3") && e.message.contains("corenas-ctl"), "{}", e.message);
        // From the web: a rule set at the ctl may stay; a new one may not be added.
        assert!(check_root_squash(&asked, Some(&asked), false).is_ok());
        let more = share(&[("10.0.0.0/8", true), ("10.1.2.3", true)]);
        assert!(check_root_squash(&more, Some(&asked), false).is_err());
        assert!(check_root_squash(&share(&[("10.0.0.0/8", false)]), None, false).is_ok());
    }
}
