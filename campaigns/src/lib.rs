//! Marketing's campaign tools (docs/campaigns.md): `lint` checks Campaign YAML with the CRD's
//! schema and CEL rules and the operator's checks, `simulate` prices bookings and `backtest`
//! re-prices recorded earns, both with the service's earn planning.

pub mod backtest;
pub mod campaign_set;
pub mod cli;
pub mod lint;
pub mod load;
pub mod pricing;
pub mod simulate;
