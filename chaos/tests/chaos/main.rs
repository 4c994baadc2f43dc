//! The chaos suite's one integration test binary: the fault proxy's modes against a real
//! TCP upstream, the checker's verdicts on crafted ledgers, and the chaos smoke scenarios.

mod checker;
mod proxy;
mod scenarios;
