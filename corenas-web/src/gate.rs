//! The one connection to corenasd's web gate, shared by every request (tarpc multiplexes), and
//! made again when corenasd restarts. corenas-web has no other way to act: everything it shows
//! or changes goes through here, with the user's credential.

use corenas_proto::api::{CorenasRequest, CorenasResponse};
use corenas_proto::web::Credential;
use corenas_proto::web_gate::WebGateClient;
use corenas_proto::wire::{self, Service};
use corenas_proto::{ErrorCode, WireError};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

tokio::task_local! {
    /// Set while serving a request the page made by itself (live.js refreshing a section, marked
    /// with the `X-CoreNAS-Live` header): its reads go through `watch` and `peek`, so an open
    /// tab nobody uses still logs out after the idle time.
    pub static PAGE_OWN_READ: bool;
}

/// Whether the request being served is one the page made by itself.
pub fn page_own_read() -> bool {
    PAGE_OWN_READ.try_with(|w| *w).unwrap_or(false)
}

/// Longest a page waits for corenasd (long polls ask for less).
const CALL_DEADLINE: Duration = Duration::from_secs(30);

pub struct Gate {
    socket: PathBuf,
    client: Mutex<Option<WebGateClient>>,
}

pub fn ctx() -> tarpc::context::Context {
    let mut c = tarpc::context::current();
    c.deadline = Instant::now() + CALL_DEADLINE;
    c
}

fn unavailable(e: impl std::fmt::Display) -> WireError {
    WireError::new(ErrorCode::HelperUnavailable, format!("corenasd is not reachable: {e}"))
}

impl Gate {
    pub fn new(socket: PathBuf) -> Self {
        Self { socket, client: Mutex::new(None) }
    }

    /// The current client, connecting if there is none.
    pub async fn client(&self) -> Result<WebGateClient, WireError> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let stream = wire::connect(&self.socket, Service::WebGate).await?;
        let c = WebGateClient::new(tarpc::client::Config::default(), wire::client_transport(stream)).spawn();
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Forgets a broken connection so the next call makes a new one.
    pub async fn reset(&self) {
        *self.client.lock().await = None;
    }

    /// Runs `f` against the gate. A transport failure drops the connection, so the next
    /// request connects again (corenasd restarted); the failed request is not repeated, since it
    /// may have been a change that reached corenasd.
    pub async fn with<T, F, Fut>(&self, f: F) -> Result<T, WireError>
    where
        F: FnOnce(WebGateClient) -> Fut,
        Fut: std::future::Future<Output = Result<Result<T, WireError>, tarpc::client::RpcError>>,
    {
        let client = self.client().await?;
        match f(client).await {
            Ok(answer) => answer,
            Err(tarpc::client::RpcError::DeadlineExceeded) => {
                Err(WireError::new(ErrorCode::ToolTimeout, "corenasd did not answer in time"))
            }
            Err(e) => {
                tracing::warn!(error = %e, "connection to corenasd lost");
                self.reset().await;
                Err(unavailable(e))
            }
        }
    }

    /// A read the page makes by itself (the event stream): it does not keep the session alive.
    pub async fn watch(&self, cred: &Credential, req: CorenasRequest) -> Result<CorenasResponse, WireError> {
        let cred = cred.clone();
        self.with(|c| async move { c.watch(ctx(), cred, req).await }).await
    }

    /// An ordinary daemon request made as the credential's principal (a `watch` when the page
    /// made the request by itself: corenasd then serves reads only).
    pub async fn call(&self, cred: &Credential, req: CorenasRequest) -> Result<CorenasResponse, WireError> {
        if page_own_read() {
            return self.watch(cred, req).await;
        }
        let cred = cred.clone();
        self.with(|c| async move { c.call(ctx(), cred, req).await }).await
    }
}

/// Calls one `Corenas` method through the gate and unpacks its answer:
/// `daemon!(gate, cred, UserList {})` gives `Result<Vec<UserInfo>, WireError>`.
#[macro_export]
macro_rules! daemon {
    (watch $gate:expr, $cred:expr, $method:ident { $($field:ident $(: $value:expr)?),* $(,)? }) => {{
        use corenas_proto::api::{CorenasRequest, CorenasResponse};
        match $gate.watch($cred, CorenasRequest::$method { $($field $(: $value)?),* }).await {
            Ok(CorenasResponse::$method(answer)) => answer,
            Ok(_) => Err(corenas_proto::WireError::internal("corenasd answered a different request")),
            Err(e) => Err(e),
        }
    }};
    ($gate:expr, $cred:expr, $method:ident { $($field:ident $(: $value:expr)?),* $(,)? }) => {{
        use corenas_proto::api::{CorenasRequest, CorenasResponse};
        match $gate.call($cred, CorenasRequest::$method { $($field $(: $value)?),* }).await {
            Ok(CorenasResponse::$method(answer)) => answer,
            Ok(_) => Err(corenas_proto::WireError::internal("corenasd answered a different request")),
            Err(e) => Err(e),
        }
    }};
}
