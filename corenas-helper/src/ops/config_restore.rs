//! The configuration backup's root side: the export of the managed accounts (passwd, group and
//! shadow entries in the managed ranges, samba's passdb entries as `pdbedit -L -w` prints them)
//! and of /etc/corenas, and `UserRestore`, which re-creates one managed user with its archived
//! hashes. The helper re-checks every restore entry itself (range, name/uid clashes, the shape
//! of each hash), whatever corenasd sends: a compromised corenasd must not get a uid outside the
//! managed ranges, a second account on a uid, or an extra shadow field.

use super::accounts::Accounts;
use super::{Action, Ctx};
use crate::exec::{self, Invocation, Program};
use corenas_proto::config_backup::{ConfigExport, EtcFile, ExportedGroup, ExportedUser, RestoreUser, SmbEntry};
use corenas_proto::helper::{StdinPlan, Step};
use corenas_proto::names::{AccountKind, FullName, Shell};
use corenas_proto::{ErrorCode, WireError};
use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Files under /etc/corenas larger than this are not configuration (and would not fit a reply).
const ETC_FILE_MAX: u64 = 256 * 1024;

pub async fn export(ctx: &Ctx) -> Result<ConfigExport, WireError> {
    let acc = Accounts::load(ctx)?;
    let shadow = std::fs::read_to_string(ctx.paths.shadow())
        .map_err(|e| WireError::internal(format!("cannot read {}: {e}", ctx.paths.shadow().display())))?;
    let hashes: HashMap<&str, &str> = shadow
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            Some((f.next()?, f.next()?))
        })
        .collect();
    let smb = passdb(ctx).await?;
    let users = acc
        .users
        .iter()
        .filter(|u| AccountKind::of_id(u.uid).is_some())
        .map(|u| ExportedUser {
            name: u.name.clone(),
            uid: u.uid,
            gid: u.gid,
            gecos: u.gecos.clone(),
            home: u.home.clone(),
            shell: u.shell.clone(),
            hash: hashes.get(u.name.as_str()).copied().unwrap_or("!").to_owned(),
            smb: smb.get(&u.name).cloned(),
        })
        .collect();
    let groups = acc
        .groups
        .iter()
        .filter(|g| AccountKind::of_id(g.gid).is_some())
        .map(|g| ExportedGroup { name: g.name.clone(), gid: g.gid, members: g.members.clone() })
        .collect();
    let etc = tokio::task::spawn_blocking({
        let dir = ctx.paths.inside("/etc/corenas");
        move || etc_files(&dir)
    })
    .await
    .map_err(|e| WireError::internal(format!("reading /etc/corenas failed: {e}")))??;
    Ok(ConfigExport { users, groups, etc })
}

/// samba's passdb as `pdbedit -L -w` prints it: `name:uid:LM:NT:[flags]:LCT-...:`.
async fn passdb(ctx: &Ctx) -> Result<HashMap<String, SmbEntry>, WireError> {
    if !ctx.paths.smb_conf().exists() {
        return Ok(HashMap::new());
    }
    let cmd = Invocation::of(Program::PdbEdit)
        .args(["-s".to_owned(), ctx.paths.smb_conf().display().to_string(), "-L".into(), "-w".into()])
        .env(ctx.paths.nss_env());
    let out = exec::run(&cmd).await?;
    Ok(parse_smbpasswd(&String::from_utf8_lossy(&out.stdout)))
}

pub fn parse_smbpasswd(text: &str) -> HashMap<String, SmbEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let (name, nt, flags) = (f.first()?, f.get(3)?, f.get(4)?);
            check_nt_hash(nt).ok()?;
            Some((
                (*name).to_owned(),
                SmbEntry { nt_hash: nt.to_ascii_uppercase(), disabled: flags.trim_matches(['[', ']']).contains('D') },
            ))
        })
        .collect()
}

/// Regular files beneath /etc/corenas, not following links, skipping dot-names (the helpers'
/// scratch directories for `systemd-analyze verify`).
fn etc_files(dir: &Path) -> Result<Vec<EtcFile>, WireError> {
    let mut out = Vec::new();
    walk(dir, "", &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<EtcFile>) -> Result<(), WireError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(WireError::internal(format!("cannot list {}: {e}", dir.display()))),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "credentials" {
            // CIFS credentials belong to their mounts, which the restore writes again.
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else { continue };
        let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        if meta.is_dir() {
            walk(&entry.path(), &path, out)?;
        } else if meta.is_file() && meta.len() <= ETC_FILE_MAX {
            let content = std::fs::read(entry.path())
                .map_err(|e| WireError::internal(format!("cannot read {}: {e}", entry.path().display())))?;
            out.push(EtcFile { path, mode: meta.mode() & 0o7777, content });
        }
    }
    Ok(())
}

fn refused(field: &str, message: String) -> WireError {
    WireError::invalid(field, message)
}

/// One crypt(3) string as the shadow file holds it: `!` or `*` (no password), optionally `!`
/// (locked) before `$id$...` of the crypt alphabet. Nothing that could end the field (`:`) or
/// the line.
pub fn check_hash(hash: &str) -> Result<(), WireError> {
    let body = hash.strip_prefix('!').unwrap_or(hash);
    let ok = matches!(hash, "!" | "*" | "!*")
        || (body.starts_with('$')
            && (8..=512).contains(&body.len())
            && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"./$=,".contains(&b)));
    if ok {
        Ok(())
    } else {
        Err(refused(
            "hash",
            "the archived password hash is not a crypt(3) string: use '!', '*' or [!]$id$... of a-z, A-Z, 0-9, '.', '/', '$', '=', ','".into(),
        ))
    }
}

pub fn check_nt_hash(nt: &str) -> Result<(), WireError> {
    if nt.len() == 32 && nt.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(refused("smb", "the archived SMB (NT) hash is invalid: use 32 hex digits".into()))
    }
}

/// The plan of `UserRestore`: checks, then groupadd/useradd for a missing user, the hash, and
/// the passdb entry.
pub fn plan(ctx: &Ctx, u: &RestoreUser) -> Result<Vec<Action>, WireError> {
    let name = u.name.as_str();
    if AccountKind::of_id(u.uid).is_none() {
        return Err(WireError {
            code: ErrorCode::OutOfRange,
            message: format!(
                "user '{name}' (uid {}) is outside the managed ranges (admins 10000-20000, share users 50000-100000 except 65534-65535); CoreNAS restores no other account",
                u.uid
            ),
            field: Some("uid".into()),
        });
    }
    check_hash(&u.hash)?;
    if let Some(smb) = &u.smb {
        check_nt_hash(&smb.nt_hash)?;
    }
    let shell: Shell = u.shell.parse().map_err(|e: corenas_proto::ValidationError| refused("shell", e.message))?;
    let gecos: Option<FullName> = if u.gecos.is_empty() {
        None
    } else {
        Some(u.gecos.parse().map_err(|e: corenas_proto::ValidationError| refused("gecos", e.message))?)
    };
    let acc = Accounts::load(ctx)?;
    let prefix = ctx.paths.prefix_args();
    let cmd = |p: Program| Invocation::of(p).args(prefix.clone());
    let mut actions = Vec::new();
    match acc.user(name) {
        Some(existing) if existing.uid == u.uid => {
            // Present with the archived uid (a restore on the same box): the hash is put back.
            acc.managed_user(name)?;
        }
        Some(existing) => {
            return Err(WireError::new(
                ErrorCode::AlreadyExists,
                format!(
                    "user '{name}' exists here with uid {}, the archive has {}; CoreNAS does not renumber an account",
                    existing.uid, u.uid
                ),
            ));
        }
        None => {
            if let Some(other) = acc.users.iter().find(|x| x.uid == u.uid) {
                return Err(WireError::new(
                    ErrorCode::AlreadyExists,
                    format!("uid {} is used by '{}' here; the archive gives it to '{name}'", u.uid, other.name),
                ));
            }
            let id = u.uid.to_string();
            match acc.group(name) {
                Some(g) if g.gid == u.uid => {}
                Some(g) => {
                    return Err(WireError::new(
                        ErrorCode::AlreadyExists,
                        format!(
                            "group '{name}' exists here with gid {}, the archive's user needs gid {}",
                            g.gid, u.uid
                        ),
                    ));
                }
                None => {
                    if let Some(g) = acc.groups.iter().find(|g| g.gid == u.uid) {
                        return Err(WireError::new(
                            ErrorCode::AlreadyExists,
                            format!(
                                "gid {} is used by group '{}' here; the archive gives it to '{name}'",
                                u.uid, g.name
                            ),
                        ));
                    }
                    actions.push(Action::Exec(cmd(Program::GroupAdd).args(["-g", &id, "--", name])));
                }
            }
            let home = format!("/home/{name}");
            let mut c = cmd(Program::UserAdd).args(["-u", &id, "-g", &id, "-s", shell.as_str(), "-d", &home]);
            if let Some(full) = &gecos {
                c = c.args(["-c", full.as_str()]);
            }
            actions.push(Action::Exec(c.args(["-M", "--", name])));
        }
    }
    actions.push(Action::RestoreShadowHash { user: name.to_owned(), hash: u.hash.clone() });
    if let Some(smb) = &u.smb {
        actions.push(Action::RestorePassdb { user: name.to_owned(), uid: u.uid, entry: smb.clone() });
    }
    Ok(actions)
}

pub fn passdb_steps(ctx: &Ctx, user: &str) -> Vec<Step> {
    vec![
        Step::Check { what: format!("write {user}'s archived passdb entry (NT hash) to a private temporary file") },
        Step::Exec {
            program: Program::PdbEdit.path().to_owned(),
            args: vec![
                "-s".into(),
                ctx.paths.smb_conf().display().to_string(),
                "-i".into(),
                "smbpasswd:<temporary file>".into(),
            ],
            stdin: StdinPlan::Nothing,
        },
    ]
}

/// Imports one passdb entry: an smbpasswd-format line in a 0600 file under /tmp (the unit's
/// private /tmp), `pdbedit -i smbpasswd:FILE`, then the file is removed. The NT hash never
/// reaches argv (`pdbedit --set-nt-hash` would put it there).
pub async fn import_passdb(ctx: &Ctx, user: &str, uid: u32, entry: &SmbEntry) -> Result<(), WireError> {
    check_nt_hash(&entry.nt_hash)?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    // create_new (O_EXCL) below: never an existing file or a planted link.
    let path = std::env::temp_dir().join(format!("corenas-passdb-{}-{nanos}", std::process::id()));
    let flags = if entry.disabled { "[DU         ]" } else { "[U          ]" };
    let lct = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let line =
        format!("{user}:{uid}:{}:{}:{flags}:LCT-{lct:08X}:\n", "X".repeat(32), entry.nt_hash.to_ascii_uppercase());
    let io = |e: std::io::Error| WireError::internal(format!("writing the passdb import file: {e}"));
    {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(io)?;
        f.write_all(line.as_bytes()).map_err(io)?;
    }
    let cmd = Invocation::of(Program::PdbEdit)
        .args([
            "-s".to_owned(),
            ctx.paths.smb_conf().display().to_string(),
            "-i".into(),
            format!("smbpasswd:{}", path.display()),
        ])
        .env(ctx.paths.nss_env());
    let r = exec::run(&cmd).await;
    let _ = std::fs::remove_file(&path);
    r.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_shapes() {
        for good in ["!", "*", "!*", "$y$j9T$abcdefgh$ABCDEFGH./0123", "!$6$rounds=5000$salt$hash.hash/"] {
            assert!(check_hash(good).is_ok(), "{good}");
        }
        for bad in ["", "$y$a:0:0", "$y$abc\ndef:x", "plain-text-pass", "!!", "$y$ab cd$efgh", "x$y$abcdefgh"] {
            let e = check_hash(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidInput, "{bad}");
            assert!(!e.message.contains(bad) || bad.is_empty(), "the message must not echo the hash");
        }
        assert!(check_nt_hash("3E9E10EEFDBE2ED69ABCC66FF279DB83").is_ok());
        assert!(check_nt_hash("3E9E10EEFDBE2ED69ABCC66FF279DB8").is_err());
        assert!(check_nt_hash("3E9E10EEFDBE2ED69ABCC66FF279DB8:").is_err());
    }

    #[test]
    fn reads_pdbedit_w() {
        let text = "alice:50001:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:3E9E10EEFDBE2ED69ABCC66FF279DB83:[U          ]:LCT-6B1751DF:\nbob:50002:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:3e9e10eefdbe2ed69abcc66ff279db83:[DU         ]:LCT-6B1751DF:\nbroken:1:x\n";
        let m = parse_smbpasswd(text);
        assert_eq!(m.len(), 2);
        assert!(!m["alice"].disabled);
        assert!(m["bob"].disabled);
        assert_eq!(m["bob"].nt_hash, "3E9E10EEFDBE2ED69ABCC66FF279DB83");
    }
}
