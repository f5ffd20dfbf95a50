//! corenas-helper: the only CoreNAS code that runs as root. `main` sandboxes the process before
//! any thread exists, then builds the tokio runtime by hand (`#[tokio::main]` would be too late).

mod exec;
mod lab_mounts;
mod listen;
mod manual;
mod ops;
mod paths;
mod sandbox;
mod server;
mod transient;

/// The renderers live in the library (see lib.rs); the property test over hostile input runs
/// them through the helper's own runner, so it stays with the binary.
use corenas_helper::render;
#[cfg(test)]
#[path = "render/property_tests.rs"]
mod render_property_tests;

use anyhow::{Context as _, bail};
use clap::Parser;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(version, about = "CoreNAS root helper: a fixed list of typed operations, sandboxed")]
struct Args {
    /// The configuration file (TOML; root's, not writable by group or others). Default:
    /// /etc/corenas/corenas.conf, whose absence means the built-in defaults; a file named here
    /// must exist. The flags below override it.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Root prefix for every file the helper touches (a throwaway tree in tests and the lab).
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// Bind this unix socket instead of taking one from systemd socket activation.
    #[arg(long)]
    listen: Option<PathBuf>,
    /// corenasd's uid: the only peer besides root that may connect. Default: the uid of the
    /// configuration's daemon.user (from /etc/passwd).
    #[arg(long)]
    daemon_uid: Option<u32>,
    /// Group of the socket created with --listen (corenasd's group). Default: with no
    /// --daemon-uid, the primary group of the configuration's daemon.user.
    #[arg(long)]
    daemon_gid: Option<u32>,
    /// Mode of the socket created with --listen, octal.
    #[arg(long, default_value = "660", value_parser = corenas_proto::socket::parse_mode)]
    socket_mode: u32,
    /// Share roots as the managed system sees them; ACLs may only be set beneath these.
    /// Default: the configuration's storage.share_roots.
    #[arg(long = "share-root")]
    share_roots: Vec<String>,
    /// Exit after this many seconds without a connection (0: never).
    #[arg(long, default_value_t = 60)]
    idle_timeout: u64,
    /// Run even when landlock is not enforced (lab machines with old kernels only).
    #[arg(long)]
    allow_unsandboxed: bool,
    /// Lab/test only: the systemd this helper sees (in its own mount namespace) reads the units
    /// under --root, i.e. its SYSTEMD_UNIT_PATH holds ROOT/etc/systemd/system and
    /// ROOT/run/systemd/system, so mount units are started and their state read as on a real
    /// system. Never set in production, where --root is /.
    #[arg(long)]
    systemd_reads_prefix: bool,
    /// Lab/CI only (refused with --root /): where no systemd runs, mount pools through a small
    /// unsandboxed servant started before the sandbox (see lab_mounts.rs).
    #[arg(long)]
    lab_mounts: bool,
    #[arg(long, hide = true)]
    lab_mount_servant: bool,
    /// How login passwords are checked: `pam` (the `corenas` PAM service, as in production) or
    /// `shadow` (the root prefix's shadow file with the system's crypt, for the lab). Default:
    /// pam with --root /, shadow with any other root.
    #[arg(long, value_parser = ["pam", "shadow"])]
    login_check: Option<String>,
    /// Which operations this helper performs: `accounts` (accounts, SMB, ACLs, shares, mounts,
    /// imaging grants), `storage` (pools, md, LVM, wipes, SMART; it alone keeps CAP_SYS_ADMIN and
    /// CAP_SYS_RAWIO), or `all` (the lab: one helper). Production runs one unit of each.
    #[arg(long, default_value = "all", value_parser = ["all", "accounts", "storage"])]
    role: String,
    /// Packaging: print the manual page (roff, section 8) and exit.
    #[arg(long, hide = true)]
    print_man_page: bool,
}

fn validate_share_roots(roots: &[String]) -> anyhow::Result<()> {
    for r in roots {
        if r.parse::<corenas_proto::names::SharePath>().is_err() || r == "/" {
            bail!("--share-root '{r}' must be an absolute, clean path other than /");
        }
    }
    Ok(())
}

/// A share root (or a directory above it) that is a symbolic link would carry the helper's write
/// rights (landlock binds the resolved directory) somewhere else: refused, naming the key. A
/// root that does not exist yet is fine (nothing is granted there).
fn check_roots_are_real(root: &std::path::Path, roots: &[String], key: &str) -> anyhow::Result<()> {
    for r in roots {
        let mut at = root.to_path_buf();
        for c in r.split('/').filter(|c| !c.is_empty()) {
            at.push(c);
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => {
                    bail!("{key}: '{r}' is not accepted: {} is a symbolic link; name the real directory", at.display())
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.print_man_page {
        use clap::CommandFactory as _;
        let mut page = Vec::new();
        clap_mangen::Man::new(Args::command()).section("8").render(&mut page)?;
        print!("{}", corenas_proto::manpage::with_sections(&String::from_utf8_lossy(&page), manual::SECTIONS));
        return Ok(());
    }
    // The trusted loader: a file corenasd (or anyone but root) could change is refused.
    let config = corenas_proto::config::load_trusted(args.config.as_deref())?.config;
    corenas_proto::logging::init("corenas-helper", Some(config.log.level.as_str()));
    if !rustix::process::geteuid().is_root() {
        bail!("corenas-helper must run as root (it is the privileged half of CoreNAS)");
    }
    let mut args = args;
    let share_roots_key = if args.share_roots.is_empty() {
        args.share_roots = config.storage.share_roots.strings();
        "storage.share_roots"
    } else {
        validate_share_roots(&args.share_roots)?;
        "--share-root"
    };
    let root = args.root.canonicalize().with_context(|| format!("--root {}", args.root.display()))?;
    check_roots_are_real(&root, &args.share_roots, share_roots_key)?;
    if args.lab_mount_servant {
        return lab_mounts::serve(&root);
    }
    if args.daemon_uid.is_none() {
        // corenasd's account by name (the package no longer writes its ids into the unit).
        let (uid, gid) = corenas_proto::config::account_ids(&config.daemon.user, std::path::Path::new("/etc/passwd"))
            .map_err(|e| anyhow::anyhow!("daemon.user: {e}"))?;
        args.daemon_uid = Some(uid);
        args.daemon_gid = args.daemon_gid.or(Some(gid));
    }
    let area = match args.role.as_str() {
        "accounts" => Some(corenas_proto::helper::HelperArea::Accounts),
        "storage" => Some(corenas_proto::helper::HelperArea::Storage),
        _ => None,
    };
    let paths = paths::Paths::new(root).for_area(area);

    exec::check_programs().map_err(|e| anyhow::anyhow!("missing or unsafe tools: {e}"))?;
    let missing = exec::missing_optional();
    if !missing.is_empty() {
        tracing::warn!(missing = %missing.join(", "), "optional tools missing: the operations that need them will fail, naming the package");
    }

    // The socket exists before the sandbox: binding needs rights landlock will take away.
    let listener = match &args.listen {
        Some(p) => corenas_proto::socket::bind(p, args.socket_mode, args.daemon_gid)
            .with_context(|| format!("binding {}", p.display()))?,
        None => corenas_proto::socket::from_systemd().context("no --listen and no socket from systemd (LISTEN_FDS)")?,
    };

    // Landlock rules bind to directories that exist: make CoreNAS's own before the sandbox
    // (the accounts role may not create directories in /etc afterwards).
    for (dir, mode) in paths.made_before_sandbox() {
        use std::os::unix::fs::DirBuilderExt as _;
        if let Err(e) = std::fs::DirBuilder::new().recursive(true).mode(mode).create(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot create; operations writing there will fail");
        }
    }
    let rules = paths.landlock_rules(&args.share_roots, args.systemd_reads_prefix);
    // Started before the sandbox: the servant must be able to mount.
    let lab_mounter = if args.lab_mounts { Some(lab_mounts::LabMounter::start(paths.root())?) } else { None };
    let report = sandbox::apply(&rules, args.allow_unsandboxed, area)?;
    tracing::info!(role = %args.role, landlock = %report.landlock, bounding_set = %report.bounding_set.join(","), root = %paths.root().display(), "sandboxed");

    let shared = Arc::new(server::Shared {
        ops: ops::Ctx {
            paths,
            share_roots: args.share_roots.clone(),
            daemon_uid: args.daemon_uid,
            systemd_reads_prefix: args.systemd_reads_prefix,
            login_check: match args.login_check.as_deref() {
                Some("pam") => ops::login::LoginCheck::Pam,
                Some(_) => ops::login::LoginCheck::Shadow,
                None if args.root == std::path::Path::new("/") => ops::login::LoginCheck::Pam,
                None => ops::login::LoginCheck::Shadow,
            },
            lab_mounter,
            write_lock: tokio::sync::Mutex::new(()),
        },
        sandbox: report,
        area,
        started: Instant::now(),
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().max_blocking_threads(2).build()?;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready, sd_notify::NotifyState::Status("serving")]);
    let idle = (args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout));
    runtime.block_on(listen::serve(listener, shared, listen::ListenConfig { daemon_uid: args.daemon_uid, idle }))?;
    Ok(())
}
