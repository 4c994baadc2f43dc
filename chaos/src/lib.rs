//! The chaos suite: a local multi-region topology of the loyalty platform, faults injected
//! into it, a workload whose every operation is recorded, and a checker that judges the
//! database against that history.
//!
//! - [`topology`]: PostgreSQL, the Kubernetes API stand-in with LoyaltyRegions, the operator
//!   and one service process per region, each behind [`proxy`] fault proxies;
//! - [`proxy`]: the TCP fault proxy (pass, delay, drop, black hole, reset, half-open);
//!   [`signals`]: SIGKILL, SIGSTOP, SIGCONT;
//! - [`workload`]: clients that follow 421 answers as a router would, and the [`workload::History`];
//! - [`checker`]: every acknowledged write present exactly once, refusals absent, the audit
//!   clean, residency kept, nothing committed by a fenced region;
//! - [`fence`]: reading the fence rows and transitions the operator writes;
//! - [`identity`]: the run's token issuer;
//! - [`database`], [`members`], [`process`], [`binaries`], [`error`].

pub mod binaries;
pub mod checker;
pub mod control;
pub mod database;
pub mod error;
pub mod fence;
pub mod identity;
pub mod members;
pub mod process;
pub mod proxy;
pub mod remote;
pub mod report;
pub mod scenario;
pub mod signals;
pub mod topology;
pub mod workload;

pub use error::{Error, Result};
