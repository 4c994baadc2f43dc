//! The operator's one integration test binary: request contracts against a mocked API
//! server, the real controllers against the Kubernetes stand-in and PostgreSQL, leader
//! election, and golden CockroachDB DDL.

mod campaign;
mod contract;
mod golden;
mod helpers;
mod leader;
mod partner;
mod region;
