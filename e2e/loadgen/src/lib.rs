//! The measuring instrument of the loyalty service: a load generator, the scenarios it runs,
//! a dataset builder that loads millions of ledger entries with `COPY`, the pgbench scripts
//! that measure what PostgreSQL alone can do with the service's own statements, and the
//! driver that runs it all and writes `docs/benchmarks.md`.
//!
//! - [`http`]: a keep-alive HTTP/1.1 connection (hyper's connection API, no pool);
//! - [`engine`]: closed and open loop, HDR histograms, [`engine::RunResult`];
//! - [`scenario`]: balance read, earn, redeem, hold + capture, hot member, the 100:1 mix;
//! - [`dataset`] and [`chain`]: the `COPY` builder and the ledger's hash chain;
//! - [`pgbench`]: the scripts, the runner and its output parser;
//! - [`hot`]: the hot-member correctness check (no overdraft, audit clean);
//! - [`durability`]: the scenarios with durable commits beside fast ones, on one server;
//! - [`scale_out`] and [`cpu`]: 1, 2 and 4 service instances, and where the CPU went;
//! - [`driver`], [`service`], [`report`], [`plot`]: the full benchmark and its report.

pub mod cpu;
pub mod dataset;
pub mod driver;
pub mod durability;
pub mod engine;
pub mod error;
pub mod hot;
pub mod http;
pub mod pgbench;
pub mod plot;
pub mod report;
pub mod scale_out;
pub mod scenario;
pub mod service;

pub use error::{Error, Result};
