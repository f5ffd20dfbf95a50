//! The contracts every CoreNAS process compiles: validated names, wire errors, the byte format,
//! and the two tarpc services (`Helper` for root operations, `Corenas` for the daemon API).
//!
//! Nothing here performs I/O on the system; it must stay small enough to read in one sitting.

pub mod acl;
pub mod api;
pub mod backup;
pub mod config;
pub mod config_backup;
pub mod devices;
pub mod error;
pub mod helper;
pub mod imaging;
#[cfg(feature = "localtime")]
pub mod localtime;
#[cfg(feature = "logging")]
pub mod logging;
pub mod lvm;
pub mod manpage;
pub mod monitor;
pub mod mounts;
pub mod names;
pub mod raid;
pub mod secret;
pub mod shares;
pub mod socket;
pub mod storage;
pub mod web;
pub mod web_gate;
pub mod wire;

pub use error::{ErrorCode, ValidationError, WireError};

/// Bumped whenever a request or response type changes shape. Checked in the connect handshake.
pub const PROTOCOL_VERSION: u32 = 8;
