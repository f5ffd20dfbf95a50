//! The connection to corenasd and the one way a command asks it something: [`call!`].
//!
//! Owns the socket handshake, the call deadline and how transport failures read. Knows nothing
//! of commands or output; command groups use it, never the other way round.

use crate::error::CtlError;
use corenas_proto::api::CorenasClient;
use corenas_proto::wire::{self, Service};
use corenas_proto::{ErrorCode, WireError};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long one call may take before corenas-ctl gives up waiting.
const CALL_DEADLINE: Duration = Duration::from_secs(60);

/// A connection to corenasd.
pub(crate) struct Daemon {
    pub(crate) client: CorenasClient,
}

impl Daemon {
    pub(crate) async fn connect(socket: &Path) -> Result<Self, CtlError> {
        let stream = wire::connect(socket, Service::Daemon).await.map_err(|mut e| {
            if e.code == ErrorCode::HelperUnavailable {
                e.message.push_str("; is corenasd running? (systemctl status corenasd)");
            }
            CtlError::Failed(e)
        })?;
        let transport = wire::client_transport(stream);
        let client = CorenasClient::new(tarpc::client::Config::default(), transport).spawn();
        Ok(Self { client })
    }
}

pub(crate) fn ctx() -> tarpc::context::Context {
    let mut ctx = tarpc::context::current();
    ctx.deadline = Instant::now() + CALL_DEADLINE;
    ctx
}

/// Flattens a call's two layers of failure: the transport's and corenasd's own answer.
pub(crate) fn answer<T>(reply: Result<Result<T, WireError>, tarpc::client::RpcError>) -> Result<T, CtlError> {
    match reply {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(CtlError::Failed(e)),
        Err(tarpc::client::RpcError::DeadlineExceeded) => Err(CtlError::failed(
            ErrorCode::HelperUnavailable,
            format!(
                "corenasd did not answer within {} s; a change may still complete: check `corenas-ctl log view`",
                CALL_DEADLINE.as_secs()
            ),
        )),
        Err(e) => Err(CtlError::failed(
            ErrorCode::HelperUnavailable,
            format!("corenasd closed the connection: {}", chain(&e)),
        )),
    }
}

/// An error with its sources, `outer: inner: innermost`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// One request to corenasd, its two layers of failure flattened into one `Result`.
///
/// `call!(socket => user_list())` connects for this one request;
/// `call!(daemon, user_show(name))` asks again on a connection already open (a command that
/// pages or follows a job). The deadline comes from [`ctx`], so no call can forget it.
macro_rules! call {
    ($socket:expr => $method:ident($($arg:expr),* $(,)?)) => {
        match $crate::client::Daemon::connect($socket).await {
            Ok(daemon) => $crate::client::answer(daemon.client.$method($crate::client::ctx() $(, $arg)*).await),
            Err(e) => Err(e),
        }
    };
    ($daemon:expr, $method:ident($($arg:expr),* $(,)?)) => {
        $crate::client::answer($daemon.client.$method($crate::client::ctx() $(, $arg)*).await)
    };
}
pub(crate) use call;
