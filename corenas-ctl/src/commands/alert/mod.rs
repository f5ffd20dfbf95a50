//! `alert`: alerts (list, show, dismiss), silences, per-class delivery and the channels alerts
//! are delivered through. Imports only the floor and proto, never another group.

pub(crate) mod args;
pub(crate) mod run;
pub(crate) mod show;
