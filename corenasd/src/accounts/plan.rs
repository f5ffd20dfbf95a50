//! Accounts policy: which range an account lives in, which id it gets, what a request turns into
//! as helper operations. The helper enforces the ranges again on its side; here they decide.

use corenas_proto::api::{GroupInfo, UserAdd, UserInfo, UserMod};
use corenas_proto::helper::{Accounts, HelperOp, NewUser, SmbAccountState, UserChange};
use corenas_proto::names::{AccountKind, GroupName, ManagedUid, Shell, UserName};
use corenas_proto::secret::Password;
use corenas_proto::{ErrorCode, WireError};
use std::collections::HashSet;

pub fn user_info(acc: &Accounts, name: &str) -> Option<UserInfo> {
    let u = acc.users.iter().find(|u| u.name == name)?;
    let kind = AccountKind::of_id(u.uid)?;
    Some(UserInfo {
        name: u.name.clone(),
        uid: u.uid,
        gid: u.gid,
        kind: Some(kind),
        full_name: u.gecos.clone(),
        home: u.home.clone(),
        shell: u.shell.clone(),
        locked: u.locked,
        smb: u.smb,
        groups: acc.groups.iter().filter(|g| g.members.iter().any(|m| m == name)).map(|g| g.name.clone()).collect(),
    })
}

/// Why a user name is not a managed user: it does not exist, or it lies outside the ranges
/// (root, system accounts, humans) and CoreNAS refuses to touch it.
pub fn unmanaged_user(acc: &Accounts, name: &str) -> WireError {
    match acc.users.iter().find(|u| u.name == name) {
        Some(u) => WireError::not_allowed(format!(
            "user '{name}' (uid {}) is outside the managed ranges (admins 10000-20000, share users 50000-100000 except 65534-65535); CoreNAS does not touch it",
            u.uid
        )),
        None => WireError::not_found(format!("user '{name}' does not exist")),
    }
}

pub fn unmanaged_group(acc: &Accounts, name: &str) -> WireError {
    match acc.groups.iter().find(|g| g.name == name) {
        Some(g) => WireError::not_allowed(format!(
            "group '{name}' (gid {}) is outside the managed ranges (admins 10000-20000, share users 50000-100000 except 65534-65535); CoreNAS does not touch it",
            g.gid
        )),
        None => WireError::not_found(format!("group '{name}' does not exist")),
    }
}

/// Managed users only: CoreNAS shows and touches nothing outside its ranges.
pub fn users(acc: &Accounts) -> Vec<UserInfo> {
    acc.users.iter().filter_map(|u| user_info(acc, &u.name)).collect()
}

pub fn group_info(acc: &Accounts, name: &str) -> Option<GroupInfo> {
    let g = acc.groups.iter().find(|g| g.name == name)?;
    Some(GroupInfo {
        name: g.name.clone(),
        gid: g.gid,
        kind: Some(AccountKind::of_id(g.gid)?),
        members: g.members.clone(),
    })
}

pub fn groups(acc: &Accounts) -> Vec<GroupInfo> {
    acc.groups.iter().filter_map(|g| group_info(acc, &g.name)).collect()
}

/// Lowest id of the kind's new-id ranges (its range without Debian's reserved band) that no
/// user and no group uses and that CoreNAS never gave to an account before (`retired`: ids of
/// deleted accounts are not reused). A user's own group takes the same number as the user.
pub fn allocate_id(acc: &Accounts, kind: AccountKind, retired: &HashSet<u32>) -> Result<u32, WireError> {
    let used: HashSet<u32> = acc.users.iter().map(|u| u.uid).chain(acc.groups.iter().map(|g| g.gid)).collect();
    let free = |id: &u32| !used.contains(id) && !retired.contains(id) && AccountKind::of_id(*id).is_some();
    kind.new_id_ranges().iter().flat_map(|r| r.clone()).find(free).ok_or_else(|| {
        WireError::new(
            ErrorCode::OutOfRange,
            format!("no free id left in the {kind} ranges {}", kind.new_id_ranges_text()),
        )
    })
}

/// The id for a new account of `kind`: the requested one if it lies in the kind's new-id ranges
/// and was never handed out before, else the lowest free one. `field` ("uid"/"gid") names it in
/// errors.
pub fn choose_id(
    acc: &Accounts,
    kind: AccountKind,
    requested: Option<u32>,
    retired: &HashSet<u32>,
    field: &'static str,
) -> Result<u32, WireError> {
    if let Some(id) = requested {
        kind.check_new_id(field, id)?;
    }
    match requested {
        Some(id) if retired.contains(&id) => Err(WireError::invalid(
            field,
            format!(
                "{field} {id} belonged to a deleted account (its files and ACL entries may remain); choose another or omit --{field}"
            ),
        )),
        Some(id) => Ok(id),
        None => allocate_id(acc, kind, retired),
    }
}

/// A password that satisfies the policy (see [`Password::generate`]).
pub fn generate_password() -> Result<Password, WireError> {
    Password::generate().map_err(WireError::internal)
}

/// Where a request comes from, as far as accounts care: root at the server's console (ctl) may
/// give an account a login shell; the web tier (sessions, API keys, first-run setup) may not,
/// or a web admin (or a stolen session) would be an SSH user without the web's second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Ctl,
    Web,
}

impl Channel {
    /// From a principal's channel name: anything but "ctl" is the web tier.
    pub fn of(principal_channel: &str) -> Self {
        if principal_channel == "ctl" { Self::Ctl } else { Self::Web }
    }
}

/// Shells that give no login; anyone may choose these.
const NO_LOGIN_SHELLS: &[&str] = &["/usr/sbin/nologin", "/bin/false"];

/// Refuses a login shell requested from anywhere but the ctl channel.
fn check_shell_choice(shell: Option<&Shell>, channel: Channel) -> Result<(), WireError> {
    match shell {
        Some(s) if channel != Channel::Ctl && !NO_LOGIN_SHELLS.contains(&s.as_str()) => Err(WireError {
            code: ErrorCode::NotAllowed,
            message: format!(
                "shell '{s}' is a login shell, which only root at the server's console may give (corenas-ctl user add/mod --shell); from the web use {} or leave shell out",
                NO_LOGIN_SHELLS.join(" or ")
            ),
            field: Some("shell".into()),
        }),
        _ => Ok(()),
    }
}

/// The helper operations `user add` performs (one: the helper creates the user's own group,
/// the user, memberships and password together, so a dry run plans all of it).
pub fn user_add_ops(
    acc: &Accounts,
    req: &UserAdd,
    password: Option<Password>,
    retired: &HashSet<u32>,
    channel: Channel,
) -> Result<HelperOp, WireError> {
    check_shell_choice(req.shell.as_ref(), channel)?;
    if acc.users.iter().any(|u| u.name == req.name.as_str()) {
        return Err(WireError::new(ErrorCode::AlreadyExists, format!("user '{}' already exists", req.name)));
    }
    let uid = ManagedUid::try_from(choose_id(acc, req.kind, req.uid.map(ManagedUid::get), retired, "uid")?)?;
    // No login shell unless root chose one at the console: admins work through the web and ctl.
    let shell = req.shell.clone().unwrap_or_else(Shell::nologin);
    Ok(HelperOp::UserCreate(NewUser {
        name: req.name.clone(),
        uid,
        full_name: req.full_name.clone(),
        shell,
        create_home: req.create_home,
        groups: req.groups.clone(),
        password,
    }))
}

/// Locking, unlocking and deleting must act on the SMB account too, so they need its state.
fn require_smb_state(info: &UserInfo) -> Result<(), WireError> {
    if info.smb == SmbAccountState::Unknown {
        return Err(WireError::new(
            ErrorCode::ToolFailed,
            format!(
                "the SMB account state of '{}' cannot be read (samba's passdb is unreadable; see the helper log); refusing to change it half way",
                info.name
            ),
        ));
    }
    Ok(())
}

pub fn user_mod_ops(
    acc: &Accounts,
    name: &UserName,
    m: &UserMod,
    channel: Channel,
) -> Result<Vec<HelperOp>, WireError> {
    check_shell_choice(m.shell.as_ref(), channel)?;
    let info = user_info(acc, name.as_str()).ok_or_else(|| unmanaged_user(acc, name.as_str()))?;
    if m.lock.is_some() {
        require_smb_state(&info)?;
    }
    let mut ops = Vec::new();
    if m.full_name.is_some() || m.shell.is_some() {
        ops.push(HelperOp::UserModify(UserChange {
            name: name.clone(),
            full_name: m.full_name.clone(),
            shell: m.shell.clone(),
        }));
    }
    for g in &m.add_groups {
        if !info.groups.iter().any(|x| x == g.as_str()) {
            ops.push(HelperOp::GroupAddMember { group: g.clone(), user: name.clone() });
        }
    }
    for g in &m.remove_groups {
        ops.push(HelperOp::GroupRemoveMember { group: g.clone(), user: name.clone() });
    }
    match m.lock {
        Some(true) => {
            ops.push(HelperOp::UserLock { name: name.clone() });
            // A locked account must not keep working over SMB either.
            if info.smb == SmbAccountState::Enabled {
                ops.push(HelperOp::SmbDisable { name: name.clone() });
            }
        }
        Some(false) => {
            ops.push(HelperOp::UserUnlock { name: name.clone() });
            if info.smb == SmbAccountState::Disabled {
                ops.push(HelperOp::SmbEnable { name: name.clone() });
            }
        }
        None => {}
    }
    if ops.is_empty() {
        return Err(WireError::invalid(
            "change",
            "nothing to change: give --full-name, --shell, --add-group, --remove-group, --lock or --unlock",
        ));
    }
    Ok(ops)
}

pub fn user_del_ops(acc: &Accounts, name: &UserName, remove_home: bool) -> Result<Vec<HelperOp>, WireError> {
    let info = user_info(acc, name.as_str()).ok_or_else(|| unmanaged_user(acc, name.as_str()))?;
    require_smb_state(&info)?;
    let mut ops = Vec::new();
    if info.smb != SmbAccountState::None {
        ops.push(HelperOp::SmbDelete { name: name.clone() });
    }
    ops.push(HelperOp::UserDelete { name: name.clone(), remove_home });
    Ok(ops)
}

pub fn group_mod_ops(
    acc: &Accounts,
    name: &GroupName,
    add: &[UserName],
    remove: &[UserName],
) -> Result<Vec<HelperOp>, WireError> {
    group_info(acc, name.as_str()).ok_or_else(|| unmanaged_group(acc, name.as_str()))?;
    let mut ops: Vec<HelperOp> =
        add.iter().map(|u| HelperOp::GroupAddMember { group: name.clone(), user: u.clone() }).collect();
    ops.extend(remove.iter().map(|u| HelperOp::GroupRemoveMember { group: name.clone(), user: u.clone() }));
    if ops.is_empty() {
        return Err(WireError::invalid("members", "nothing to change: give --add-member or --remove-member"));
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::helper::{GroupEntry, PasswdEntry};

    fn acc() -> Accounts {
        let user = |name: &str, uid| PasswdEntry {
            name: name.into(),
            uid,
            gid: uid,
            gecos: String::new(),
            home: String::new(),
            shell: String::new(),
            locked: false,
            smb: SmbAccountState::None,
        };
        Accounts {
            users: vec![user("root", 0), user("human", 1000), user("a", 50000)],
            groups: vec![GroupEntry { name: "g".into(), gid: 50001, members: vec!["a".into()] }],
        }
    }

    #[test]
    fn new_share_ids_skip_debians_reserved_band() {
        let none = HashSet::new();
        // Every id below the band taken: the next share user gets 65536, not 60000.
        let mut full = acc();
        let template = full.users[2].clone();
        full.users.extend((50_000..=59_999).map(|uid| PasswdEntry {
            name: format!("u{uid}"),
            uid,
            gid: uid,
            ..template.clone()
        }));
        assert_eq!(allocate_id(&full, AccountKind::ShareUser, &none).unwrap(), 65_536);
        // An explicit id in the band is refused for a new account, naming the field and ranges.
        let e = choose_id(&acc(), AccountKind::ShareUser, Some(61_000), &none, "uid").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("uid"));
        assert!(
            e.message.contains("Debian reserves") && e.message.contains("50000-59999 or 65536-100000"),
            "{}",
            e.message
        );
        let e = choose_id(&acc(), AccountKind::ShareUser, Some(64_999), &none, "gid").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("gid"));
        assert_eq!(choose_id(&acc(), AccountKind::ShareUser, Some(65_536), &none, "uid").unwrap(), 65_536);
        // An existing account in the band stays managed: listed, shown and editable.
        let mut old = acc();
        old.users.push(PasswdEntry { name: "old".into(), uid: 61_000, gid: 61_000, ..old.users[2].clone() });
        assert!(users(&old).iter().any(|u| u.name == "old"));
        assert_eq!(user_info(&old, "old").unwrap().uid, 61_000);
        let edit = UserMod { lock: Some(true), ..Default::default() };
        assert!(user_mod_ops(&old, &"old".parse().unwrap(), &edit, Channel::Ctl).is_ok());
    }

    #[test]
    fn ids_are_allocated_from_the_right_range() {
        let none = HashSet::new();
        assert_eq!(allocate_id(&acc(), AccountKind::ShareUser, &none).unwrap(), 50002);
        assert_eq!(allocate_id(&acc(), AccountKind::Admin, &none).unwrap(), 10000);
        let retired: HashSet<u32> = [50002, 50003].into();
        assert_eq!(
            allocate_id(&acc(), AccountKind::ShareUser, &retired).unwrap(),
            50004,
            "ids of deleted accounts are not reused"
        );
    }

    #[test]
    fn unmanaged_accounts_are_invisible() {
        let names: Vec<String> = users(&acc()).into_iter().map(|u| u.name).collect();
        assert_eq!(names, ["a"]);
        assert_eq!(user_info(&acc(), "a").unwrap().groups, ["g"]);
        assert!(
            user_mod_ops(
                &acc(),
                &"root".parse().unwrap(),
                &UserMod { lock: Some(true), ..Default::default() },
                Channel::Ctl
            )
            .is_err()
        );
    }

    fn admin_add(shell: Option<&str>) -> UserAdd {
        UserAdd {
            name: "boss".parse().unwrap(),
            kind: AccountKind::Admin,
            uid: None,
            full_name: None,
            shell: shell.map(|s| s.parse().unwrap()),
            create_home: false,
            groups: vec![],
            password: None,
            generate_password: false,
        }
    }

    fn planned_shell(op: HelperOp) -> String {
        let HelperOp::UserCreate(u) = op else { panic!("{op:?}") };
        u.shell.to_string()
    }

    /// A web admin must not become an SSH user: no login shell by default, none on request
    /// from the web; root at the console may still give one.
    #[test]
    fn login_shells_only_from_ctl() {
        let none = HashSet::new();
        for channel in [Channel::Web, Channel::Ctl] {
            let op = user_add_ops(&acc(), &admin_add(None), None, &none, channel).unwrap();
            assert_eq!(planned_shell(op), "/usr/sbin/nologin", "{channel:?}");
        }
        for shell in ["/bin/bash", "/bin/sh", "/usr/bin/zsh"] {
            let e = user_add_ops(&acc(), &admin_add(Some(shell)), None, &none, Channel::Web).unwrap_err();
            assert_eq!((e.code, e.field.as_deref()), (ErrorCode::NotAllowed, Some("shell")), "{e:?}");
            assert!(e.message.contains(shell) && e.message.contains("corenas-ctl"), "{}", e.message);
            let m = UserMod { shell: Some(shell.parse().unwrap()), ..Default::default() };
            let e = user_mod_ops(&acc(), &"a".parse().unwrap(), &m, Channel::Web).unwrap_err();
            assert_eq!((e.code, e.field.as_deref()), (ErrorCode::NotAllowed, Some("shell")), "{e:?}");
            assert!(user_mod_ops(&acc(), &"a".parse().unwrap(), &m, Channel::Ctl).is_ok());
        }
        let op = user_add_ops(&acc(), &admin_add(Some("/bin/bash")), None, &none, Channel::Ctl).unwrap();
        assert_eq!(planned_shell(op), "/bin/bash");
        let op = user_add_ops(&acc(), &admin_add(Some("/bin/false")), None, &none, Channel::Web).unwrap();
        assert_eq!(planned_shell(op), "/bin/false", "giving up a login is allowed from anywhere");
        assert_eq!(Channel::of("ctl"), Channel::Ctl);
        for c in ["web", "api", "socket", ""] {
            assert_eq!(Channel::of(c), Channel::Web);
        }
    }

    #[test]
    fn generated_passwords_meet_the_policy() {
        for _ in 0..50 {
            let p = generate_password().unwrap();
            assert_eq!(p.expose().len(), 20);
        }
    }
}
