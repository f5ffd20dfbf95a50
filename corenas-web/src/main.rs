//! corenas-web: the web UI and REST API. It runs as its own unprivileged user, listens on a unix
//! socket for nginx (and on loopback TCP in the lab), and has no authority: every call to
//! corenasd carries the end user's session token or API key (see `gate.rs`, `http.rs`).
//!
//! Floors, bottom up: `gate`, `i18n`, `cookies`, `app`; then `http` (what every request goes
//! through); then `pages` and `api`; then `routes` (the one table); then this file, the wiring,
//! which hands `http` what it needs from above (`routes::is_public`, `pages::error_page`) in
//! `AppState`. A module imports only floors below its own.

mod api;
mod app;
mod cookies;
mod gate;
mod http;
mod i18n;
mod manual;
mod pages;
mod routes;

use anyhow::Context as _;
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(version, about = "CoreNAS web UI and REST API (unprivileged; acts only with its users' sessions)")]
struct Args {
    /// The configuration file (TOML). Default: /etc/corenas/corenas.conf, whose absence means
    /// the built-in defaults; a file named here must exist.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// corenasd's socket.
    #[arg(long, default_value = "/run/corenas/corenasd.sock", env = "CORENAS_SOCKET")]
    daemon_socket: PathBuf,
    /// The unix socket nginx proxies to (created with mode 0660; nginx's group needs access).
    /// With neither --listen-unix nor --listen-tcp: the configuration's web.socket and
    /// web.listen_tcp; with either, only what the flags name.
    #[arg(long)]
    listen_unix: Option<PathBuf>,
    /// Also listen on this TCP address (loopback only; the lab and tests).
    #[arg(long)]
    listen_tcp: Option<SocketAddr>,
    /// Print the routes (method, path, public or not) as JSON and exit; tests enumerate them.
    #[arg(long)]
    list_routes: bool,
    /// Packaging: print the manual page (roff, section 8) and exit.
    #[arg(long, hide = true)]
    print_man_page: bool,
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.print_man_page {
        use clap::CommandFactory as _;
        let mut page = Vec::new();
        clap_mangen::Man::new(Args::command()).section("8").render(&mut page)?;
        print!("{}", corenas_proto::manpage::with_sections(&String::from_utf8_lossy(&page), manual::SECTIONS));
        return Ok(());
    }
    if args.list_routes {
        println!("{}", serde_json::to_string_pretty(&routes::table())?);
        return Ok(());
    }
    let config = corenas_proto::config::load(args.config.as_deref())?.config;
    corenas_proto::logging::init("corenas-web", Some(config.log.level.as_str()));
    if args.listen_unix.is_none() && args.listen_tcp.is_none() {
        args.listen_unix = Some(config.web.socket.as_path().to_path_buf());
        args.listen_tcp = config.web.listen_tcp.map(corenas_proto::config::LoopbackAddr::get);
    }
    if rustix::process::geteuid().is_root() {
        anyhow::bail!("corenas-web must not run as root: run it as the unprivileged user 'corenas-web'");
    }
    if args.listen_unix.is_none() && args.listen_tcp.is_none() {
        anyhow::bail!("nothing to listen on: give --listen-unix PATH (for nginx) and/or --listen-tcp 127.0.0.1:PORT");
    }
    if let Some(addr) = args.listen_tcp.filter(|a| !a.ip().is_loopback()) {
        anyhow::bail!("--listen-tcp {addr}: only loopback addresses; the network side is nginx's (TLS, limits)");
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let app = Arc::new(app::AppState {
        gate: gate::Gate::new(args.daemon_socket.clone()),
        default_listener: app::Listener::Proxy,
        is_public: routes::is_public,
        error_page: pages::error_page,
    });
    let router = routes::router(Arc::clone(&app));
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(path) = &args.listen_unix {
        let listener = corenas_proto::socket::bind(path, 0o660, None)
            .and_then(tokio::net::UnixListener::from_std)
            .with_context(|| format!("binding {}", path.display()))?;
        let r = router.clone().layer(axum::Extension(app::Listener::Proxy));
        tracing::info!(socket = %path.display(), "listening for nginx");
        tasks.spawn(async move { axum::serve(listener, r).await });
    }
    if let Some(addr) = args.listen_tcp {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        let r = router.clone().layer(axum::Extension(app::Listener::Direct(addr.ip())));
        tracing::info!(%addr, "listening on loopback");
        tasks.spawn(async move { axum::serve(listener, r).await });
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        Some(done) = tasks.join_next() => { done??; }
        _ = term.recv() => tracing::info!("stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("stopping"),
    }
    Ok(())
}
