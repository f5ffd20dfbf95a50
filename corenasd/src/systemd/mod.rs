//! systemd as corenasd sees it, unprivileged, over the system bus: the state of the units
//! CoreNAS writes (`units.rs`). Reading needs no root, so the root helpers are not woken for it
//! (decision 0018); starting and stopping units stays with the helper.

pub mod units;
