//! `device`: block devices (inventory, SMART, self-tests, wipe, events) and the optical drives
//! imaging reads from. Imports only the floor and proto, never another group.

pub(crate) mod args;
pub(crate) mod run;
pub(crate) mod show;
