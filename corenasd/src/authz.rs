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

pub use crate::methods::Access;
use crate::methods::Method;

/// Whether `principal` may call `method`: the role it needs comes from the method table
/// (`methods.rs`), never from the method's name.
pub fn check(principal: &Principal, method: Method) -> Result<(), WireError> {
    let needed = method.role();
    if principal.role >= needed {
        Ok(())
    } else {
        Err(WireError::not_allowed(format!(
            "{} may not call {}: it needs the {} role",
            principal.name,
            method.audit_name(),
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
        use Method as M;
        for m in [M::ImageCreate, M::ImageCancel, M::ArchiveVerify, M::ArchiveEdit, M::DeviceEject] {
            assert!(check(&p, m).is_ok(), "{m:?}");
        }
        for m in [M::ImagingPolicySet, M::UserAdd, M::ShareCreate, M::PoolDestroy, M::DeviceWipe, M::WebRoleSet] {
            assert!(check(&p, m).is_err(), "{m:?}");
        }
    }

    #[test]
    fn viewers_cannot_download_images() {
        let viewer = Principal { name: "v".into(), channel: "web", peer_uid: 5, role: Role::Viewer };
        let operator = Principal { role: Role::Operator, ..viewer.clone() };
        assert!(check(&viewer, Method::ArchiveRead).is_err(), "an image holds a whole disk");
        assert!(check(&viewer, Method::ArchiveShow).is_ok(), "its record is a read like any other");
        assert!(check(&operator, Method::ArchiveRead).is_ok());
    }

    #[test]
    fn viewers_cannot_mutate() {
        let p = Principal { name: "v".into(), channel: "web", peer_uid: 5, role: Role::Viewer };
        assert!(check(&p, Method::UserAdd).is_err());
        assert!(check(&p, Method::UserList).is_ok());
    }
}
