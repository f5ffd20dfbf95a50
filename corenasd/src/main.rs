//! corenasd: wires state, the helper link and the socket together. Logic lives in the library.

mod manual;

use anyhow::{Context as _, bail};
use clap::Parser;
use corenasd::daemon::Daemon;
use corenasd::helper_link::HelperLink;
use corenasd::state::State;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Parser, Debug)]
#[command(version, about = "CoreNAS management daemon (unprivileged): state, policy, audit")]
struct Args {
    /// The configuration file (TOML). Default: /etc/corenas/corenas.conf, whose absence means
    /// the built-in defaults; a file named here must exist. The flags below override it.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Root prefix of the managed system (shown in status; the helper applies it).
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// Directory holding state.db.
    #[arg(long, default_value = "/var/lib/corenas")]
    state_dir: PathBuf,
    /// Bind this unix socket instead of taking one from systemd socket activation.
    #[arg(long)]
    listen: Option<PathBuf>,
    /// Mode of the socket created with --listen, octal.
    #[arg(long, default_value = "660", value_parser = corenas_proto::socket::parse_mode)]
    socket_mode: u32,
    /// The root helper's socket.
    #[arg(long, default_value = "/run/corenas/helper.sock")]
    helper_socket: PathBuf,
    /// The storage helper's socket (pools, md, LVM, wipes, SMART). Unset: the helper at
    /// --helper-socket does storage too, as in the lab.
    #[arg(long)]
    storage_socket: Option<PathBuf>,
    /// Where imaging jobs write their images (one directory per job), owned by corenasd's user.
    /// Default: the configuration's imaging.images_dir.
    #[arg(long)]
    images: Option<PathBuf>,
    /// Imaging and verify jobs that may run at the same time (one per device in any case).
    /// Default: the configuration's imaging.concurrency.
    #[arg(long)]
    imaging_concurrency: Option<usize>,
    /// The user corenas-web runs as: connections from its uid get the web gate (logins, and
    /// calls made with a user's session). Empty: no web tier. Default: the configuration's
    /// web.user.
    #[arg(long)]
    web_user: Option<String>,
    /// Tests only: seconds between two looks at the mounts (the retry policy's backoff scales
    /// with it). Default: the configuration's mounts.watch_interval.
    #[arg(long, hide = true, env = "CORENAS_MOUNT_WATCH_SECS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    mount_watch_secs: Option<u64>,
    /// Seconds between two runs of the snapshot schedules.
    #[arg(long, hide = true, env = "CORENAS_SCHEDULE_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    schedule_secs: u64,
    /// Tests only: every monitoring collector runs this often (seconds) instead of on its own
    /// schedule (SMART every 30 min, pools every 5 min, ...).
    #[arg(long, hide = true, env = "CORENAS_MONITOR_SECS",
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    monitor_secs: Option<u64>,
    /// Tests only: the first retry of an undelivered alert after this many seconds (then
    /// doubling); 60 is the policy.
    #[arg(long, hide = true, env = "CORENAS_OUTBOX_RETRY_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    outbox_retry_secs: u64,
    /// Tests only: the D-Bus address of the systemd that manages --root's units (a lab's private
    /// systemd). Unset: the system bus where --root is / and systemd is PID 1, else none.
    #[arg(long, hide = true, env = "CORENAS_SYSTEMD_BUS")]
    systemd_bus: Option<String>,
    /// Where the backup runners write their status files (decision 0020, "Runner"). Default:
    /// run/corenas-backup under --root.
    #[arg(long, hide = true)]
    backup_runs_dir: Option<PathBuf>,
    /// Packaging: print the manual page (roff, section 8) and exit.
    #[arg(long, hide = true)]
    print_man_page: bool,
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
    // Before anything else: a bad file stops the daemon here, naming the file, line and key.
    let config = corenas_proto::config::load(args.config.as_deref())?.config;
    corenas_proto::logging::init("corenasd", Some(config.log.level.as_str()));
    if rustix::process::geteuid().is_root() {
        bail!(
            "corenasd must not run as root: run it as the unprivileged user 'corenas' (the root helper does the privileged work)"
        );
    }
    let listener = match &args.listen {
        Some(p) => corenas_proto::socket::bind(p, args.socket_mode, None)
            .with_context(|| format!("binding {}", p.display()))?,
        None => corenas_proto::socket::from_systemd().context("no --listen and no socket from systemd (LISTEN_FDS)")?,
    };
    // Absolute, so that the state filesystem checks (daemon.rs, state_writable) look at the right place.
    let db = std::path::absolute(args.state_dir.join("state.db")).context("the state directory")?;
    let web_user = args.web_user.clone().unwrap_or_else(|| config.web.user.as_str().to_owned());
    let web_uid =
        corenasd::web::uid_of(&web_user).with_context(|| format!("looking up the web tier's user '{web_user}'"))?;
    let state = State::open(&db).with_context(|| format!("opening {}", db.display()))?;
    let shared = Arc::new(Daemon {
        state: Mutex::new(state),
        helper: HelperLink::with_storage(args.helper_socket.clone(), args.storage_socket.clone()),
        root: args.root.display().to_string(),
        state_db: db.display().to_string(),
        imaging: corenasd::imaging::registry::Imaging::new(
            args.images.clone().unwrap_or_else(|| config.imaging.images_dir.as_path().to_path_buf()),
            args.imaging_concurrency.unwrap_or_else(|| usize::try_from(config.imaging.concurrency.get()).unwrap_or(1)),
        ),
        shares_lock: tokio::sync::Mutex::new(()),
        mounts_lock: tokio::sync::Mutex::new(()),
        storage_jobs: corenasd::storage::jobs::Jobs::default(),
        device_events: Arc::default(),
        web: corenasd::web::WebState::new(web_uid),
        pool_reads: Default::default(),
        drive_reads: Default::default(),
        in_flight: Default::default(),
        monitor: Default::default(),
        alerts: Default::default(),
        units: corenasd::systemd::units::Units::new(corenasd::systemd::units::Bus::choose(
            &args.root.display().to_string(),
            args.systemd_bus.clone(),
        )),
        backups: corenasd::backups::Backups::new(std::path::absolute(args.state_dir.join("backup"))?)
            .with_runs_dir(args.backup_runs_dir.clone().unwrap_or_else(|| args.root.join("run/corenas-backup")))
            .with_root(args.root.clone()),
    });
    if shared
        .with_state(|s| corenasd::web::setup_needed(s.conn()))
        .map(|needed| shared.web.ensure_setup_token(needed))
        .map_err(|e| anyhow::anyhow!("reading web accounts: {}", e.message))?
        .is_some()
    {
        // Not the token itself: whoever reads the journal (adm, systemd-journal) must not be
        // able to make the first administrator (SECURITY-REVIEW L5). Root asks for it.
        tracing::warn!(
            "CoreNAS has no administrator yet: open the web UI and enter the setup token, which `corenas-ctl system setup-token` prints (as root, on the server)"
        );
    }
    let interrupted = shared
        .with_state(|s| corenasd::storage::jobs::mark_interrupted(s.conn()))
        .map_err(|e| anyhow::anyhow!("closing interrupted storage jobs: {}", e.message))?;
    if interrupted > 0 {
        tracing::warn!(jobs = interrupted, "storage jobs were cut off by the last stop and are recorded as failed");
    }
    corenasd::imaging::engine::recover(&shared).map_err(|e| anyhow::anyhow!("recovering imaging jobs: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready, sd_notify::NotifyState::Status("serving")]);
    tracing::info!(socket = ?args.listen, state = %db.display(), "corenasd ready");
    runtime.block_on(async {
        tokio::spawn(corenasd::imaging::engine::scheduler(Arc::clone(&shared)));
        tokio::spawn(corenasd::imaging::media::watch(Arc::clone(&shared)));
        let interval =
            std::time::Duration::from_secs(args.mount_watch_secs.unwrap_or(config.mounts.watch_interval.get()));
        tokio::spawn(corenasd::mounts::watch::watch(Arc::clone(&shared), interval));
        tokio::spawn(corenasd::devices::hotplug::watch(Arc::clone(&shared.device_events)));
        let schedules = std::time::Duration::from_secs(args.schedule_secs);
        tokio::spawn(corenasd::storage::snapshots::schedule_loop(Arc::clone(&shared), schedules));
        tokio::spawn(corenasd::monitor::schedule::run(Arc::clone(&shared), schedules));
        // Backup jobs the last corenasd left: a runner that outlived it is followed again.
        tokio::spawn(corenasd::backups::run::recover(Arc::clone(&shared)));
        tokio::spawn(corenasd::backups::schedule::run(Arc::clone(&shared), schedules));
        let configured = corenasd::monitor::collectors::Collector::ALL
            .into_iter()
            .filter_map(|c| Some((c.name(), config.monitor.interval(c.name())?)))
            .collect();
        tokio::spawn(corenasd::monitor::run(Arc::clone(&shared), args.monitor_secs, configured));
        let retry = std::time::Duration::from_secs(args.outbox_retry_secs);
        tokio::spawn(corenasd::alerts::outbox::run(Arc::clone(&shared), retry));
        // The daily configuration copy (config_backup/daily.rs), looked for hourly.
        tokio::spawn(corenasd::config_backup::daily::run(Arc::clone(&shared), std::time::Duration::from_secs(3600)));
        // On this runtime, not a thread of its own: pings stop when the runtime is stuck.
        if let Some(every) = corenasd::watchdog::interval() {
            tokio::spawn(corenasd::watchdog::run(Arc::clone(&shared), every));
        }
        corenasd::rpc::listen::serve(listener, shared).await
    })?;
    Ok(())
}
