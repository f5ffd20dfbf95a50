//! Configuration backup and restore of CoreNAS itself (issue 21; docs/decisions/0020-backups.md,
//! "Configuration backup"). An archive holds the state database's configuration tables (taken
//! through SQLite's backup API), the managed accounts with their shadow hashes and samba passdb
//! entries, and /etc/corenas, all sealed with a passphrase (age, scrypt): see `archive.rs`.
//!
//! A restore opens and checks the archive, migrates an older database copy with the ordinary
//! migrations, previews what changes, and (unless a dry run) re-creates the accounts through the
//! helper, swaps the configuration tables in one transaction while no other change can run, and
//! re-publishes shares and mounts through their own paths. No reboot, no restart of corenasd.
//!
//! This module must not write /etc/corenas: the root helpers trust that file, and corenasd may
//! not change what they trust. It must not log or audit hashes or the passphrase.

pub mod archive;
pub mod daily;
pub mod store;

use crate::daemon::Daemon;
use crate::state::State;
use corenas_proto::api::Change;
use corenas_proto::config_backup::{
    ArchivePassphrase, AreaChange, ConfigArchive, ConfigExport, EtcFile, ExportedGroup, ExportedUser, Manifest,
    RestorePreview, RestoreUser,
};
use corenas_proto::helper::{HelperOp, Step};
use corenas_proto::mounts::MountSource;
use corenas_proto::names::{GroupName, ManagedGid, UserName};
use corenas_proto::{ErrorCode, WireError};
use std::path::{Path, PathBuf};

const STATE: &str = "state.db";
const ACCOUNTS: &str = "accounts.json";
const ETC: &str = "etc-corenas.json";

/// The accounts section: the helper's export of the managed ranges.
#[derive(serde::Serialize, serde::Deserialize)]
struct AccountsSection {
    users: Vec<ExportedUser>,
    groups: Vec<ExportedGroup>,
}

fn host_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let clean: String =
        raw.trim().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.').take(64).collect();
    if clean.is_empty() { "corenas".into() } else { clean }
}

/// A scratch file beside the state database (same filesystem, corenasd's own directory),
/// removed with its journal files on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(shared: &Daemon, what: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = Path::new(&shared.state_db).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Scratch(dir.join(format!(".config-{what}-{}-{n}.db", std::process::id())))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
}

fn internal(what: &str) -> impl FnOnce(std::io::Error) -> WireError + '_ {
    move |e| WireError::internal(format!("{what}: {e}"))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WireError> + Send + 'static,
) -> Result<T, WireError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| WireError::internal(format!("configuration backup task: {e}")))?
}

/// Builds and seals an archive of this box's configuration now.
pub async fn create(shared: &Daemon, passphrase: &ArchivePassphrase) -> Result<ConfigArchive, WireError> {
    let export = shared.helper.connect().await?.config_export().await?;
    let scratch = Scratch::new(shared, "backup");
    let live = PathBuf::from(&shared.state_db);
    let copy = scratch.0.clone();
    let (db, schema) = blocking(move || {
        store::copy_for_archive(&live, &copy)?;
        let schema = store::user_version(
            &rusqlite::Connection::open(&copy).map_err(|e| WireError::internal(e.to_string()))?,
            "main",
        )?;
        Ok((std::fs::read(&copy).map_err(internal("reading the backup copy"))?, schema))
    })
    .await?;
    drop(scratch);
    let accounts = serde_json::to_vec(&AccountsSection { users: export.users, groups: export.groups })
        .map_err(|e| WireError::internal(format!("encoding the accounts: {e}")))?;
    let etc =
        serde_json::to_vec(&export.etc).map_err(|e| WireError::internal(format!("encoding /etc/corenas: {e}")))?;
    let now = time::OffsetDateTime::now_utc();
    let created = now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let stamp =
        now.format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z")).unwrap_or_default();
    let host = host_name();
    let manifest = Manifest {
        format: archive::FORMAT,
        corenas_version: env!("CARGO_PKG_VERSION").into(),
        schema_version: schema,
        host: host.clone(),
        created,
        sections: Vec::new(),
    };
    let sections = vec![(STATE.to_owned(), db), (ACCOUNTS.to_owned(), accounts), (ETC.to_owned(), etc)];
    let pass = passphrase.clone();
    let (manifest, bytes) = blocking(move || archive::seal(manifest, &sections, &pass)).await?;
    Ok(ConfigArchive { file_name: format!("corenas-config-{host}-{stamp}.cnbak"), bytes, manifest })
}

/// The archive's accounts and what the helper reports here, as areas of the preview, plus the
/// helper operations that bring the archive's accounts back.
struct AccountPlan {
    areas: Vec<AreaChange>,
    groups: Vec<HelperOp>,
    users: Vec<HelperOp>,
    members: Vec<HelperOp>,
    warnings: Vec<String>,
}

fn plan_accounts(archived: &AccountsSection, here: &ConfigExport) -> Result<AccountPlan, WireError> {
    let mut users = AreaChange { area: "accounts".into(), ..Default::default() };
    let mut groups_area = AreaChange { area: "groups".into(), ..Default::default() };
    let mut plan = AccountPlan {
        areas: Vec::new(),
        groups: Vec::new(),
        users: Vec::new(),
        members: Vec::new(),
        warnings: Vec::new(),
    };
    let bad =
        |what: String| WireError::invalid("archive", format!("the archive's accounts section is invalid: {what}"));
    for u in &archived.users {
        let name: UserName = u.name.parse().map_err(|_| bad(format!("user name '{}'", u.name)))?;
        match here.users.iter().find(|h| h.name == u.name) {
            None => users.added.push(u.name.clone()),
            Some(h) => {
                let mut what = Vec::new();
                if h.uid != u.uid {
                    what.push(format!("uid {} here, {} in the archive", h.uid, u.uid));
                }
                if h.hash != u.hash {
                    what.push("password".to_owned());
                }
                if h.smb.as_ref().map(|s| (&s.nt_hash, s.disabled)) != u.smb.as_ref().map(|s| (&s.nt_hash, s.disabled))
                {
                    what.push("SMB password".to_owned());
                }
                if h.shell != u.shell || h.gecos != u.gecos {
                    what.push("details".to_owned());
                }
                if !what.is_empty() {
                    users.changed.push(format!("{} ({})", u.name, what.join(", ")));
                }
            }
        }
        plan.users.push(HelperOp::UserRestore(RestoreUser {
            name,
            uid: u.uid,
            gecos: u.gecos.clone(),
            shell: u.shell.clone(),
            hash: u.hash.clone(),
            smb: u.smb.clone(),
        }));
    }
    for h in &here.users {
        if !archived.users.iter().any(|u| u.name == h.name) {
            plan.warnings.push(format!("user {} is not in the archive; it is kept", h.name));
        }
    }
    let own = |g: &ExportedGroup| archived.users.iter().any(|u| u.name == g.name && u.uid == g.gid);
    for g in &archived.groups {
        let existing = here.groups.iter().find(|h| h.name == g.name);
        if !own(g) {
            match existing {
                None => {
                    groups_area.added.push(g.name.clone());
                    let name: GroupName = g.name.parse().map_err(|_| bad(format!("group name '{}'", g.name)))?;
                    let gid = ManagedGid::try_from(g.gid).map_err(|e| bad(e.message))?;
                    plan.groups.push(HelperOp::GroupCreate { name, gid });
                }
                Some(h) if h.gid != g.gid => {
                    return Err(WireError::new(
                        ErrorCode::AlreadyExists,
                        format!(
                            "group {} exists here with gid {}, the archive has {}; nothing was restored",
                            g.name, h.gid, g.gid
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        for m in &g.members {
            if existing.is_some_and(|h| h.members.contains(m)) {
                continue;
            }
            if existing.is_some() {
                groups_area.changed.push(format!("{} (+{m})", g.name));
            }
            let group: GroupName = g.name.parse().map_err(|_| bad(format!("group name '{}'", g.name)))?;
            let user: UserName = m.parse().map_err(|_| bad(format!("member '{m}'")))?;
            plan.members.push(HelperOp::GroupAddMember { group, user });
        }
    }
    for a in [users, groups_area] {
        if !(a.added.is_empty() && a.changed.is_empty()) {
            plan.areas.push(a);
        }
    }
    Ok(plan)
}

fn etc_area(archived: &[EtcFile], here: &[EtcFile]) -> (Option<AreaChange>, Vec<String>) {
    let mut a = AreaChange { area: "/etc/corenas (not written by a restore)".into(), ..Default::default() };
    for f in archived {
        match here.iter().find(|h| h.path == f.path) {
            None => a.added.push(f.path.clone()),
            Some(h) if h.content != f.content || h.mode != f.mode => a.changed.push(f.path.clone()),
            Some(_) => {}
        }
    }
    let mut warnings = Vec::new();
    if !(a.added.is_empty() && a.changed.is_empty()) {
        let files: Vec<String> = a.added.iter().chain(&a.changed).map(|p| format!("/etc/corenas/{p}")).collect();
        warnings.push(format!(
            "{} differ from the archive and were not restored: the root helpers trust these files, so corenasd does not write them; copy them from the archive by hand (age -d opens it) if you want them",
            files.join(", ")
        ));
        (Some(a), warnings)
    } else {
        (None, warnings)
    }
}

/// Restores (or previews) an archive. The audit entry is the caller's (`DaemonServer::change`).
pub async fn restore(
    shared: &Daemon,
    bytes: Vec<u8>,
    passphrase: &ArchivePassphrase,
    dry_run: bool,
) -> Result<Change<RestorePreview>, WireError> {
    let pass = passphrase.clone();
    let contents = blocking(move || archive::open(&bytes, &pass)).await?;
    let m = contents.manifest.clone();
    let known = crate::schema::schema_version();
    if m.schema_version > known {
        return Err(WireError::new(
            ErrorCode::InvalidState,
            format!(
                "the archive's state database has schema version {} (CoreNAS {}); this CoreNAS ({}) knows schema versions up to {known}: restore it with CoreNAS {} or newer; nothing was restored",
                m.schema_version,
                m.corenas_version,
                env!("CARGO_PKG_VERSION"),
                m.corenas_version
            ),
        ));
    }
    let missing = |s: &str| WireError::invalid("archive", format!("the archive has no {s} section"));
    let db = contents.section(STATE).ok_or_else(|| missing(STATE))?.to_vec();
    let accounts: AccountsSection =
        serde_json::from_slice(contents.section(ACCOUNTS).ok_or_else(|| missing(ACCOUNTS))?)
            .map_err(|e| WireError::invalid("archive", format!("the archive's accounts section is unreadable: {e}")))?;
    let etc: Vec<EtcFile> = serde_json::from_slice(contents.section(ETC).ok_or_else(|| missing(ETC))?)
        .map_err(|e| WireError::invalid("archive", format!("the archive's /etc/corenas section is unreadable: {e}")))?;
    // The whole restore runs alone: no share or mount change starts while the tables move.
    let shares_guard = shared.shares_lock.lock().await;
    let _mounts = shared.mounts_lock.lock().await;

    // The database copy, migrated by the ordinary migrations when it is older.
    let scratch = Scratch::new(shared, "restore");
    let file = scratch.0.clone();
    blocking(move || {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .map_err(internal("writing the restored copy"))?;
        f.write_all(&db).map_err(internal("writing the restored copy"))?;
        drop(f);
        State::open(&file).map_err(|e| {
            WireError::invalid("archive", format!("the archive's state database cannot be opened: {e}"))
        })?;
        Ok(())
    })
    .await?;
    let migrated_to = (m.schema_version < known).then_some(known);
    let here = shared.helper.connect().await?.config_export().await?;
    let plan = plan_accounts(&accounts, &here)?;
    let (etc_change, etc_warnings) = etc_area(&etc, &here.etc);
    let mut areas = plan.areas.clone();
    {
        let state = shared.state.lock().map_err(|_| WireError::internal("state lock poisoned"))?;
        store::attach(state.conn(), &scratch.0)?;
        let d = store::diff(state.conn());
        store::detach(state.conn());
        areas.extend(d?);
    }
    areas.extend(etc_change);
    let mut warnings = plan.warnings.clone();
    warnings.extend(etc_warnings);

    let h = shared.helper.connect().await?;
    let mut steps: Vec<Step> = Vec::new();
    if dry_run {
        // Group and user steps as the helper plans them now; memberships and the republishing
        // of shares and mounts follow from the restored state and are listed by area.
        let (s, w) = h.run_ops_reporting(plan.groups.iter().chain(&plan.users).cloned().collect(), true).await?;
        steps.extend(s);
        warnings.extend(w);
        let preview = RestorePreview { manifest: Some(m), migrated_to, areas };
        return Ok(Change { dry_run, steps, result: Some(preview), generated_password: None, warnings });
    }
    let (s, w) = h.run_ops_reporting(plan.groups.clone(), false).await?;
    steps.extend(s);
    warnings.extend(w);
    let (s, w) = h.run_ops_reporting(plan.users.clone(), false).await?;
    steps.extend(s);
    warnings.extend(w);
    let (s, w) = h.run_ops_reporting(plan.members.clone(), false).await?;
    steps.extend(s);
    warnings.extend(w);
    {
        let mut state = shared.state.lock().map_err(|_| WireError::internal("state lock poisoned"))?;
        store::attach(state.conn(), &scratch.0)?;
        let r = store::swap(state.conn_mut());
        store::detach(state.conn());
        r?;
    }
    drop(scratch);
    // Shares and mounts from the restored state, by the ordinary publish paths (`share apply`
    // takes the share lock itself; nothing else could take it in between that matters, as the
    // restored state is what it publishes).
    drop(shares_guard);
    match crate::shares::apply(shared, false).await {
        Ok(published) => {
            steps.extend(published.steps);
            warnings.extend(published.warnings);
        }
        // The configuration is restored; the data may come later (a pool to import, a data
        // restore). Publishing then is one `share apply`.
        Err(e) if e.code == ErrorCode::NotFound => warnings.push(format!(
            "the shares were restored but not published: {}; restore or import the data, then run `corenas-ctl share apply`",
            e.message
        )),
        Err(e) => return Err(e),
    }
    let rows = shared.with_state(|s| crate::mounts::store::list(s.conn()))?;
    for row in rows.into_iter().filter(|r| !r.def.temporary) {
        if matches!(&row.def.source, MountSource::Cifs { credentials: Some(_), .. }) {
            warnings.push(format!(
                "mount {} needs its CIFS password again (CoreNAS keeps it only in the root helper's credentials file): remove and add it with the password",
                row.def.target
            ));
            continue;
        }
        match h.run_ops_reporting(vec![HelperOp::MountWrite { def: row.def.clone() }], false).await {
            Ok((s, w)) => {
                steps.extend(s);
                warnings.extend(w);
            }
            Err(e) => warnings.push(format!("mount {} was not written again: {}", row.def.target, e.message)),
        }
    }
    let preview = RestorePreview { manifest: Some(m), migrated_to, areas };
    Ok(Change { dry_run, steps, result: Some(preview), generated_password: None, warnings })
}
