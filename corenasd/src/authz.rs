//! Who is calling, decided from the identity the kernel vouches for (SO_PEERCRED), never from
//! anything the peer says; and what each role may do, checked at one choke point for every
//! method. The web path (session tokens for corenas-web's uid) arrives with the web issue.

use corenas_proto::WireError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub channel: &'static str,
    pub peer_uid: u32,
    pub role: Role,
}

/// Admits a connection: uid 0 is the local administrator at the CLI; every other uid is
/// refused until the web session path exists.
pub fn admit(peer_uid: u32) -> Result<Principal, String> {
    if peer_uid == 0 {
        Ok(Principal { name: "root@ctl".into(), channel: "ctl", peer_uid, role: Role::Admin })
    } else {
        Err(format!("corenasd refuses uid {peer_uid}: only root (corenas-ctl) may connect"))
    }
}

/// Whether a method changes anything (and so must be audited and honour dry runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Mutate,
}

/// The role each kind of method needs. Reads are open to viewers; account, SMB and ACL
/// changes are for admins only.
pub fn required_role(access: Access) -> Role {
    match access {
        Access::Read => Role::Viewer,
        Access::Mutate => Role::Admin,
    }
}

pub fn check(principal: &Principal, method: &str, access: Access) -> Result<(), WireError> {
    let needed = required_role(access);
    if principal.role >= needed {
        Ok(())
    } else {
        Err(WireError::not_allowed(format!("{} may not call {method}: it needs the {needed:?} role", principal.name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_is_admitted_for_now() {
        assert_eq!(admit(0).unwrap().role, Role::Admin);
        assert!(admit(1000).is_err());
        assert!(admit(65534).is_err());
    }

    #[test]
    fn viewers_cannot_mutate() {
        let p = Principal { name: "v".into(), channel: "web", peer_uid: 5, role: Role::Viewer };
        assert!(check(&p, "user.add", Access::Mutate).is_err());
        assert!(check(&p, "user.list", Access::Read).is_ok());
    }
}
