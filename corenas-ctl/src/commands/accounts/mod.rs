//! `user` and `group`: managed accounts. Imports only the floor and proto, never another group.

pub(crate) mod args;
pub(crate) mod run;
pub(crate) mod show;
