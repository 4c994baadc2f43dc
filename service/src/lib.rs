//! The loyalty service: a stateless axum HTTP API over a serializable points ledger in
//! PostgreSQL or CockroachDB.
//!
//! - [`domain`]: value types parsed at the edge (points, money, references, the earn rule);
//! - [`store`]: all SQL, the serializable retry loop, idempotency, the audit;
//! - [`routes`]: the HTTP API, one module per resource;
//! - [`crypto`]: the keys of personal fields (per-member data keys, blind index) and digests;
//! - [`partners`]: the published partners with their mounted signing secrets;
//! - [`delivery`]: the dispatcher delivering outbox events to partners' webhooks;
//! - [`startup`], [`config`], [`telemetry`], [`metrics`]: wiring.

pub mod api;
pub mod auth;
pub mod config;
pub mod crypto;
pub mod database;
pub mod delivery;
pub mod domain;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod error;
pub mod metrics;
pub mod partners;
pub mod routes;
mod server;
pub mod startup;
pub mod store;
pub mod telemetry;
