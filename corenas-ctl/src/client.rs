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
pub(crate) const CALL_DEADLINE: Duration = Duration::from_secs(60);

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
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    use corenas_proto::wire::{self, Service};

    use crate::error::CtlError;
    use crate::testing::{block_on, temp_socket};

    #[test]
    fn transport_failures_become_clear_messages() {
        let r: Result<(), CtlError> = answer(Err(tarpc::client::RpcError::Shutdown));
        let Err(CtlError::Failed(e)) = r else { panic!() };
        assert_eq!(e.code, ErrorCode::HelperUnavailable);
        assert!(e.message.starts_with("corenasd closed the connection: "), "{}", e.message);

        let r: Result<(), CtlError> = answer(Err(tarpc::client::RpcError::DeadlineExceeded));
        assert!(matches!(r, Err(CtlError::Failed(e)) if e.message.contains("within 60 s")));

        let r: Result<(), CtlError> = answer(Ok(Err(WireError::not_found("no user bob"))));
        assert!(matches!(r, Err(CtlError::Failed(e)) if e.code == ErrorCode::NotFound));
    }

    #[test]
    fn a_missing_daemon_is_reported_with_a_hint() {
        let socket = temp_socket("missing");
        let r = block_on(Daemon::connect(&socket));
        let Err(CtlError::Failed(e)) = r else { panic!("connected to nothing") };
        assert_eq!(e.code, ErrorCode::HelperUnavailable);
        assert!(e.message.contains("is corenasd running?"), "{}", e.message);
    }

    #[test]
    fn a_daemon_that_hangs_up_after_the_handshake_is_reported() {
        let socket = temp_socket("hangup");
        let _ = std::fs::remove_file(&socket);
        let r = block_on(async {
            let listener = tokio::net::UnixListener::bind(&socket).unwrap();
            let server = tokio::spawn(async move {
                let (mut stream, _) = listener.accept().await.unwrap();
                wire::server_hello(&mut stream, Service::Daemon, &wire::Verdict::Accepted).await.unwrap();
                drop(stream);
            });
            let d = Daemon::connect(&socket).await?;
            server.await.unwrap();
            call!(d, user_list())
        });
        let _ = std::fs::remove_file(&socket);
        let Err(CtlError::Failed(e)) = r else { panic!("expected a failure, got {r:?}") };
        assert_eq!(e.code, ErrorCode::HelperUnavailable);
        assert!(e.message.starts_with("corenasd closed the connection"), "{}", e.message);
    }

    #[test]
    fn a_refused_handshake_keeps_the_daemons_reason() {
        let socket = temp_socket("refused");
        let _ = std::fs::remove_file(&socket);
        let r = block_on(async {
            let listener = tokio::net::UnixListener::bind(&socket).unwrap();
            tokio::spawn(async move {
                let (mut stream, _) = listener.accept().await.unwrap();
                let verdict = wire::Verdict::Refused("uid 1000 may not use corenasd".into());
                let _ = wire::server_hello(&mut stream, Service::Daemon, &verdict).await;
            });
            Daemon::connect(&socket).await.map(|_| ())
        });
        let _ = std::fs::remove_file(&socket);
        let Err(CtlError::Failed(e)) = r else { panic!("expected a refusal") };
        assert_eq!(e.code, ErrorCode::NotAllowed);
        assert_eq!(e.message, "uid 1000 may not use corenasd");
    }
}
