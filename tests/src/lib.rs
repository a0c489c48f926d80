//! Helpers for herd's kind end-to-end suite and chart checks: tool detection, commands, load, cluster waits.

pub mod cluster;
pub mod cmd;
pub mod herd;
pub mod load;
pub mod prereq;
pub mod service;
