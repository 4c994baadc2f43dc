//! The operator's one integration test binary: request contracts against a mocked API
//! server, the real controllers against the Kubernetes stand-in and PostgreSQL (Partner
//! secrets projected into the region namespace among them), leader election, region failover,
//! the rendered region Deployment, the RBAC manifest against the Secret calls, the schema
//! catalogue against a migrated database, and golden CockroachDB DDL.

mod campaign;
mod catalogue;
mod contract;
mod failover;
mod gate;
mod golden;
mod helpers;
mod leader;
mod partner;
mod partner_secrets;
mod rbac;
mod region;
mod workloads;
