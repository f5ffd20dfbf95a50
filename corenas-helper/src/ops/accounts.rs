//! Users and groups through the shadow tools (`useradd`, `usermod`, `userdel`, `groupadd`,
//! `groupdel`, with `--prefix` outside production), strictly inside the managed id ranges: the
//! helper re-reads the account files and refuses root, system accounts and humans below 10000
//! whatever corenasd asks.

use super::files::{self, GroupLine, PasswdLine};
use super::{Action, Ctx};
use crate::exec::{Invocation, Program};
use corenas_proto::helper::{Accounts as AccountsSnapshot, GroupEntry, HelperOp, PasswdEntry, SmbAccountState};
use corenas_proto::names::AccountKind;
use corenas_proto::secret::Password;
use corenas_proto::{ErrorCode, WireError};

pub struct Accounts {
    pub users: Vec<PasswdLine>,
    pub groups: Vec<GroupLine>,
}

fn outside(what: &str, name: &str, id: u32) -> WireError {
    WireError::not_allowed(format!(
        "{what} '{name}' (id {id}) is outside the managed ranges (admins 10000-20000, share users 50000-100000 except 65534-65535); CoreNAS does not touch it"
    ))
}

impl Accounts {
    pub fn load(ctx: &Ctx) -> Result<Self, WireError> {
        Ok(Self { users: files::passwd(&ctx.paths.passwd())?, groups: files::groups(&ctx.paths.group())? })
    }

    pub fn user(&self, name: &str) -> Option<&PasswdLine> {
        self.users.iter().find(|u| u.name == name)
    }
    pub fn group(&self, name: &str) -> Option<&GroupLine> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// An existing user whose uid lies in a managed range.
    pub fn managed_user(&self, name: &str) -> Result<&PasswdLine, WireError> {
        let u = self.user(name).ok_or_else(|| WireError::not_found(format!("user '{name}' does not exist")))?;
        if AccountKind::of_id(u.uid).is_none() {
            return Err(outside("user", name, u.uid));
        }
        Ok(u)
    }

    /// An existing group whose gid lies in a managed range and which is not the primary group
    /// of any account outside the ranges (joining it would grant that account's files).
    pub fn managed_group(&self, name: &str) -> Result<&GroupLine, WireError> {
        let g = self.group(name).ok_or_else(|| WireError::not_found(format!("group '{name}' does not exist")))?;
        if AccountKind::of_id(g.gid).is_none() {
            return Err(outside("group", name, g.gid));
        }
        if let Some(u) = self.users.iter().find(|u| u.gid == g.gid && AccountKind::of_id(u.uid).is_none()) {
            return Err(WireError::not_allowed(format!(
                "group '{name}' is the primary group of '{}', an account outside the managed ranges; CoreNAS does not touch it",
                u.name
            )));
        }
        Ok(g)
    }

    fn supplementary_groups(&self, user: &str) -> Vec<&str> {
        self.groups.iter().filter(|g| g.members.iter().any(|m| m == user)).map(|g| g.name.as_str()).collect()
    }
}

fn exists(what: &str, name: &str) -> WireError {
    WireError::new(ErrorCode::AlreadyExists, format!("{what} '{name}' already exists"))
}

pub fn plan(ctx: &Ctx, op: &HelperOp) -> Result<Vec<Action>, WireError> {
    let acc = Accounts::load(ctx)?;
    let prefix = ctx.paths.prefix_args();
    let cmd = |p: Program| Invocation::of(p).args(prefix.clone());
    let one = |c: Invocation| Ok(vec![Action::Exec(c)]);
    match op {
        HelperOp::GroupCreate { name, gid } => {
            refuse_privileged_group_name(name.as_str())?;
            if acc.group(name.as_str()).is_some() {
                return Err(exists("group", name.as_str()));
            }
            if let Some(g) = acc.groups.iter().find(|g| g.gid == gid.get()) {
                return Err(exists("gid", &format!("{} (used by {})", gid, g.name)));
            }
            // Never a new id in Debian's reserved band, whatever corenasd chose.
            gid.check_new()?;
            one(cmd(Program::GroupAdd).args(["-g", &gid.to_string(), "--", name.as_str()]))
        }
        HelperOp::GroupDelete { name } => {
            let g = acc.managed_group(name.as_str())?;
            if let Some(u) = acc.users.iter().find(|u| u.gid == g.gid) {
                return Err(WireError::not_allowed(format!(
                    "group '{name}' is the primary group of user '{}'",
                    u.name
                )));
            }
            one(cmd(Program::GroupDel).args(["--", name.as_str()]))
        }
        HelperOp::GroupAddMember { group, user } => {
            acc.managed_group(group.as_str())?;
            acc.managed_user(user.as_str())?;
            one(cmd(Program::UserMod).args(["-a", "-G", group.as_str(), "--", user.as_str()]))
        }
        HelperOp::GroupRemoveMember { group, user } => {
            let g = acc.managed_group(group.as_str())?;
            acc.managed_user(user.as_str())?;
            if !g.members.iter().any(|m| m == user.as_str()) {
                return Err(WireError::not_found(format!("user '{user}' is not a member of group '{group}'")));
            }
            let rest: Vec<&str> =
                acc.supplementary_groups(user.as_str()).into_iter().filter(|n| *n != group.as_str()).collect();
            one(cmd(Program::UserMod).args(["-G", &rest.join(","), "--", user.as_str()]))
        }
        HelperOp::UserCreate(u) => {
            let name = u.name.as_str();
            if acc.user(name).is_some() {
                return Err(exists("user", name));
            }
            if acc.group(name).is_some() {
                return Err(exists("group", name));
            }
            if let Some(other) = acc.users.iter().find(|x| x.uid == u.uid.get()) {
                return Err(exists("uid", &format!("{} (used by {})", u.uid, other.name)));
            }
            if let Some(g) = acc.groups.iter().find(|g| g.gid == u.uid.get()) {
                return Err(exists("gid", &format!("{} (used by group {})", u.uid, g.name)));
            }
            u.uid.check_new()?;
            for g in &u.groups {
                acc.managed_group(g.as_str())?;
            }
            let id = u.uid.to_string();
            let mut actions = vec![Action::Exec(cmd(Program::GroupAdd).args(["-g", &id, "--", name]))];
            let home = format!("/home/{name}");
            let mut c = cmd(Program::UserAdd).args(["-u", &id, "-g", &id, "-s", u.shell.as_str(), "-d", &home]);
            if let Some(full) = &u.full_name {
                c = c.args(["-c", full.as_str()]);
            }
            if !u.groups.is_empty() {
                c = c.args(["-G".to_owned(), u.groups.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(",")]);
            }
            c = c.arg(if u.create_home { "-m" } else { "-M" });
            actions.push(Action::Exec(c.args(["--", name])));
            if let Some(pw) = &u.password {
                actions.extend(set_password(name, pw));
            }
            Ok(actions)
        }
        HelperOp::UserModify(m) => {
            acc.managed_user(m.name.as_str())?;
            let mut c = cmd(Program::UserMod);
            if let Some(full) = &m.full_name {
                c = c.args(["-c", full.as_str()]);
            }
            if let Some(shell) = &m.shell {
                c = c.args(["-s", shell.as_str()]);
            }
            if m.full_name.is_none() && m.shell.is_none() {
                return Ok(Vec::new());
            }
            one(c.args(["--", m.name.as_str()]))
        }
        HelperOp::UserDelete { name, remove_home } => {
            let u = acc.managed_user(name.as_str())?;
            let mut c = cmd(Program::UserDel);
            if *remove_home {
                c = c.arg("-r");
            }
            let mut actions = vec![Action::Exec(c.args(["--", name.as_str()]))];
            // The user's own group goes with the user (userdel removes it only when login.defs
            // says USERGROUPS_ENAB yes), unless somebody else still uses it.
            let own = acc
                .group(name.as_str())
                .filter(|g| g.gid == u.gid && g.members.is_empty() && AccountKind::of_id(g.gid).is_some());
            let shared = acc.users.iter().any(|o| o.gid == u.gid && o.name != u.name);
            if own.is_some() && !shared {
                actions.push(Action::ExecIfGroupExists {
                    group: name.to_string(),
                    cmd: cmd(Program::GroupDel).args(["--", name.as_str()]),
                });
            }
            Ok(actions)
        }
        HelperOp::UserLock { name } => {
            acc.managed_user(name.as_str())?;
            one(cmd(Program::UserMod).args(["-L", "--", name.as_str()]))
        }
        HelperOp::UserUnlock { name } => {
            acc.managed_user(name.as_str())?;
            one(cmd(Program::UserMod).args(["-U", "--", name.as_str()]))
        }
        HelperOp::UserSetPassword { name, password } => {
            acc.managed_user(name.as_str())?;
            Ok(set_password(name.as_str(), password))
        }
        _ => Err(WireError::internal(format!("{} is not an account operation", op.name()))),
    }
}

/// mkpasswd hashes with the system's crypt (yescrypt, Debian's default); the secret goes on
/// stdin and the hash comes back on stdout, never through argv. chpasswd would do both, but it
/// has no `--prefix`.
fn set_password(name: &str, password: &Password) -> Vec<Action> {
    let hash = Invocation::of(Program::MkPasswd)
        .args(["--method=yescrypt", "--stdin"])
        .secret("password", format!("{}\n", password.expose()).into_bytes());
    vec![Action::Exec(hash), Action::ShadowHashFromPrevious { user: name.to_owned() }]
}

/// The accounts corenasd may show: every managed user and group in full, with SMB state.
pub async fn snapshot(ctx: &Ctx) -> Result<AccountsSnapshot, WireError> {
    let acc = Accounts::load(ctx)?;
    let locked = files::locked(&ctx.paths.shadow())?;
    // A broken passdb must not hide every account; the state is reported as unknown instead,
    // and corenasd refuses changes that depend on it.
    let smb =
        super::smb::states(ctx).await.map_err(|e| tracing::warn!(error = %e.message, "cannot read samba's passdb"));
    let users = acc
        .users
        .iter()
        .map(|u| PasswdEntry {
            name: u.name.clone(),
            uid: u.uid,
            gid: u.gid,
            gecos: u.gecos.clone(),
            home: u.home.clone(),
            shell: u.shell.clone(),
            locked: locked.contains(&u.name),
            smb: match &smb {
                Ok(states) => states.get(&u.name).copied().unwrap_or(SmbAccountState::None),
                Err(()) => SmbAccountState::Unknown,
            },
        })
        .collect();
    let groups = acc
        .groups
        .iter()
        .map(|g| GroupEntry { name: g.name.clone(), gid: g.gid, members: g.members.clone() })
        .collect();
    Ok(AccountsSnapshot { users, groups })
}

/// Group names that packages and policies grant root or near-root to by name. Debian packages
/// `addgroup --system` such a group only when the name is free, so a managed group that took the
/// name first (a web admin, or a compromised corenasd) would receive those rights later, when
/// docker.io, libvirt or sudo is installed. The host's own groups of these names already exist
/// and are refused as existing; this covers the ones not installed yet.
const PRIVILEGED_GROUP_NAMES: &[&str] = &[
    "adm",
    "admin",
    "disk",
    "docker",
    "incus",
    "incus-admin",
    "kvm",
    "libvirt",
    "libvirt-qemu",
    "lpadmin",
    "lxd",
    "podman",
    "root",
    "shadow",
    "sudo",
    "systemd-journal",
    "wheel",
];

fn refuse_privileged_group_name(name: &str) -> Result<(), WireError> {
    if PRIVILEGED_GROUP_NAMES.contains(&name) {
        return Err(WireError::invalid(
            "name",
            format!(
                "group name '{name}' is reserved: packages grant privileges to a group of that name; choose another name"
            ),
        ));
    }
    Ok(())
}
