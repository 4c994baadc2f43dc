//! The database's shared vocabulary, in one place for the service (which owns the migrations
//! and writes member data) and the operator (which writes configuration rows and places tables
//! on CockroachDB).
//!
//! - [`catalogue`]: every table the migrations create, with its [`Locality`]: member-owned
//!   tables homed row by row in the member's region, or PII-free tables. A test migrates a
//!   real database and fails when a table is missing here or a table holding member data is
//!   not marked member-owned, so the placement can never silently leave one behind.
//! - [`vocabulary`]: the texts both sides store in shared rows (configuration-set names,
//!   region states), as enums with total conversions.

pub mod catalogue;
pub mod vocabulary;

pub use catalogue::{Locality, TABLES, Table};
pub use vocabulary::{ConfigSet, RegionState, UnknownName};
