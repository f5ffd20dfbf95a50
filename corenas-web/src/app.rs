//! What every request shares: [`AppState`] (the link to corenasd and what the request floor
//! needs from the floors above it) and [`Listener`] (which door a request came through).
//!
//! Ground floor, beside `gate`, `i18n` and `cookies`: it imports only those. It must not import
//! `http`, `pages`, `api` or `routes`; it names the last two only as function types, which
//! `main.rs` fills at start-up, so `http` can use them without importing what stands above it.

use crate::gate::Gate;
use crate::i18n::Lang;
use axum::response::Response;
use corenas_proto::WireError;
use std::net::IpAddr;

/// How far the listener may trust forwarding headers: only nginx, on the unix socket, sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Behind nginx: `X-Real-IP` and `X-Forwarded-Proto` are nginx's.
    Proxy,
    /// Direct on loopback (the lab): the peer address is the source.
    Direct(IpAddr),
}

/// What every handler and the request floor (`http`) share. `http` stands below the pages and
/// the route table, so what it needs from them is handed in here at start-up.
pub struct AppState {
    pub gate: Gate,
    /// Listener kind when a request carries none (never in practice; the safe one).
    pub default_listener: Listener,
    /// Whether a method and exact path name a public route (`routes::is_public`): the CSRF check
    /// skips those.
    pub is_public: fn(&str, &str) -> bool,
    /// A refusal or failure as an HTML page (`pages::error_page`), for requests outside `/api/`.
    pub error_page: fn(Lang, &WireError) -> Response,
}

impl AppState {
    pub async fn setup_needed(&self) -> bool {
        self.gate.with(|g| async move { g.setup_needed(crate::gate::ctx()).await.map(Ok) }).await.unwrap_or(false)
    }
}
