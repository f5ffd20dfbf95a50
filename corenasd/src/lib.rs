//! corenasd: CoreNAS's unprivileged management daemon. It owns state (SQLite), policy and the
//! audit chain, and asks the root helper to act; it runs no privileged program itself.

pub mod accounts;
pub mod alerts;
pub mod audit;
pub mod authz;
pub mod backups;
pub mod config_backup;
pub mod daemon;
pub mod devices;
pub mod helper_link;
pub mod imaging;
pub mod localtime;
pub mod methods;
pub mod monitor;
pub mod mounts;
pub mod rpc;
pub mod schema;
pub mod shares;
pub mod state;
pub mod storage;
pub mod systemd;
/// For tests only (corenasd's and corenas-tests'): what a test needs and when it may skip.
pub mod test_prerequisites;
pub mod watchdog;
pub mod web;
