//! The `loyalty-campaigns` binary, run as a person or CI runs it: lint on the repository's
//! examples and on campaigns written here, simulate, and backtest against a real PostgreSQL
//! seeded with COPY. One test binary for the crate.

mod backtest;
mod bad_input;
mod dataset;
mod lint;
mod simulate;
mod support;
