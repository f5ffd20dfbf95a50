//! Who is calling, decided from the identity the kernel vouches for (SO_PEERCRED), never from
//! anything the peer says; and what each role may do, checked at one choke point for every
//! method. corenas-web's uid is served the web gate (`web/`), where each call carries a session
//! token or API key that resolves to a principal with the account's role.

use corenas_proto::WireError;

pub use corenas_proto::web::Role;

#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub channel: &'static str,
    pub peer_uid: u32,
    pub role: Role,
}

/// Who a connection is, before any request.
#[derive(Debug, Clone)]
pub enum Admission {
    /// uid 0: the local administrator at the CLI, served the daemon API directly.
    Ctl(Principal),
    /// corenas-web's uid: served the web gate only; it acts with its users' credentials.
    Web,
}

/// Admits a connection by the uid the kernel reported; every other uid is refused.
pub fn admit(peer_uid: u32, web_uid: Option<u32>) -> Result<Admission, String> {
    if peer_uid == 0 {
        Ok(Admission::Ctl(Principal { name: "root@ctl".into(), channel: "ctl", peer_uid, role: Role::Admin }))
    } else if Some(peer_uid) == web_uid {
        Ok(Admission::Web)
    } else {
        Err(format!("corenasd refuses uid {peer_uid}: only root (corenas-ctl) and corenas-web may connect"))
    }
}

/// Whether a method changes anything (and so must be audited and honour dry runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Mutate,
}

/// The role each method needs. Reads are open to viewers; operators run imaging jobs, look
/// after the archive and eject media; every other change (accounts, SMB, ACLs, storage, shares,
/// mounts, wipes, the imaging policy, web access) is for admins only.
pub fn required_role(method: &str, access: Access) -> Role {
    let operator_work = (method.starts_with("image.") && method != "image.policy")
        || method.starts_with("archive.")
        || method == "device.eject";
    match access {
        Access::Read => Role::Viewer,
        Access::Mutate if operator_work => Role::Operator,
        Access::Mutate => Role::Admin,
    }
}

pub fn check(principal: &Principal, method: &str, access: Access) -> Result<(), WireError> {
    let needed = required_role(method, access);
    if principal.role >= needed {
        Ok(())
    } else {
        Err(WireError::not_allowed(format!(
            "{} may not call {method}: it needs the {} role",
            principal.name,
            needed.as_str()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_and_the_web_tier_are_admitted() {
        assert!(matches!(admit(0, Some(990)), Ok(Admission::Ctl(p)) if p.role == Role::Admin));
        assert!(matches!(admit(990, Some(990)), Ok(Admission::Web)));
        assert!(admit(1000, Some(990)).is_err());
        assert!(admit(990, None).is_err());
        assert!(admit(65534, None).is_err());
    }

    #[test]
    fn operators_run_imaging_but_change_nothing_else() {
        let p = Principal { name: "o".into(), channel: "web", peer_uid: 5, role: Role::Operator };
        for m in ["image.create", "image.cancel", "archive.verify", "archive.edit", "device.eject"] {
            assert!(check(&p, m, Access::Mutate).is_ok(), "{m}");
        }
        for m in ["image.policy", "user.add", "share.create", "pool.destroy", "device.wipe", "web.role_set"] {
            assert!(check(&p, m, Access::Mutate).is_err(), "{m}");
        }
    }

    #[test]
    fn viewers_cannot_mutate() {
        let p = Principal { name: "v".into(), channel: "web", peer_uid: 5, role: Role::Viewer };
        assert!(check(&p, "user.add", Access::Mutate).is_err());
        assert!(check(&p, "user.list", Access::Read).is_ok());
    }
}
