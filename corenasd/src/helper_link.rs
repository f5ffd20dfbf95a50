//! corenasd's side of the helper socket: one connection per daemon request (so the helper can
//! exit when idle), and transport failures turned into clear errors for the caller.

use corenas_proto::acl::AclListing;
use corenas_proto::helper::{Accounts, HelperClient, HelperOp, HelperStatus, OpReport};
use corenas_proto::names::SharePath;
use corenas_proto::wire::{self, Service};
use corenas_proto::{ErrorCode, WireError};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tarpc::client::RpcError;

/// Account and ACL operations finish in seconds; recursive ACLs on big trees may take minutes.
const CALL_DEADLINE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct HelperLink {
    pub socket: PathBuf,
}

pub struct HelperConn {
    client: HelperClient,
}

fn rpc_error(e: RpcError) -> WireError {
    match e {
        RpcError::DeadlineExceeded => {
            WireError::new(ErrorCode::ToolTimeout, "corenas-helper did not answer before the deadline")
        }
        RpcError::Shutdown | RpcError::Send(_) | RpcError::Channel(_) => WireError::new(
            ErrorCode::HelperUnavailable,
            format!(
                "corenas-helper closed the connection mid-request ({e}); it may have been killed. The operation may or may not have taken effect: check its state before retrying"
            ),
        ),
        other => WireError::new(ErrorCode::HelperUnavailable, format!("corenas-helper: {other}")),
    }
}

fn ctx() -> tarpc::context::Context {
    let mut c = tarpc::context::current();
    c.deadline = Instant::now() + CALL_DEADLINE;
    c
}

impl HelperLink {
    pub async fn connect(&self) -> Result<HelperConn, WireError> {
        let stream = wire::connect(&self.socket, Service::Helper).await?;
        let client = HelperClient::new(tarpc::client::Config::default(), wire::client_transport(stream)).spawn();
        Ok(HelperConn { client })
    }
}

impl HelperConn {
    pub async fn perform(&self, op: HelperOp, dry_run: bool) -> Result<OpReport, WireError> {
        self.client.perform(ctx(), op, dry_run).await.map_err(rpc_error)?
    }
    pub async fn accounts(&self) -> Result<Accounts, WireError> {
        self.client.accounts(ctx()).await.map_err(rpc_error)?
    }
    pub async fn acl_get(&self, path: SharePath) -> Result<AclListing, WireError> {
        self.client.acl_get(ctx(), path).await.map_err(rpc_error)?
    }
    pub async fn status(&self) -> Result<HelperStatus, WireError> {
        self.client.status(ctx()).await.map_err(rpc_error)
    }
}
